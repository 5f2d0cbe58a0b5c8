//! HTTP/1.1 header-block parser over arbitrary bytes cut at arbitrary points.
//! First byte: request/response and chunk size; the rest is the stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::http::{HttpEvent, HttpParser};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    let mut p = HttpParser::new(ctl & 1 == 0, 4096);
    let chunk = usize::from(ctl >> 1).max(1);
    let mut pkt = 0;
    while !rest.is_empty() {
        pkt += 1;
        let n = chunk.min(rest.len());
        let (mut piece, more) = rest.split_at(n);
        rest = more;
        if ctl & 0x80 != 0 && pkt % 7 == 0 {
            let _ = p.gap(u64::from(ctl));
        }
        // Call again while it consumes something, as the session does.
        // Every call consumes bytes or reports an event: at most two calls
        // per byte of the piece (a harness bug here once compared with the
        // shrinking remainder instead).
        let limit = 2 * piece.len() + 2;
        let mut rounds = 0;
        while !piece.is_empty() {
            rounds += 1;
            assert!(rounds <= limit, "parser does not make progress");
            let (used, ev) = p.push(piece, pkt);
            assert!(used <= piece.len());
            if let Some(HttpEvent::Head(h, _)) = &ev {
                p.expect_body(h, Some("GET"));
            }
            if used == 0 && ev.is_none() {
                break;
            }
            piece = &piece[used..];
        }
    }
});
