//! HTTP/1.1 header-block parser over arbitrary bytes cut at arbitrary points,
//! and the detection of start lines and mid-stream frames on the same bytes.
//! First byte: request/response and chunk size; the rest is the stream.
//! Bodies are kept (capped at 64 bytes) on every other run (`ctl & 0x40`):
//! a kept body is whole only when its framing ended within the cap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::analysis::detect::{Detected, FrameProbe, classify};
use wsinspect::http::{BodyEnd, HttpEvent, HttpParser, LineMatch, request_line, status_line};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    // Start-line detection is consistent across cuts: a prefix that is
    // not a start line never becomes one with more bytes, and a whole line
    // stays whole.
    let half = &rest[..rest.len() / 2];
    for f in [request_line, status_line] {
        match f(half) {
            LineMatch::No | LineMatch::Yes => assert_eq!(f(half), f(rest)),
            LineMatch::Partial => {}
        }
    }
    // (A TLS record header is judged on its first bytes: not monotone.)
    if !matches!(classify(half), Detected::NeedMore | Detected::Tls) {
        assert_eq!(classify(half), classify(rest));
    }
    // Mid-stream frame following gives the same answer however the bytes
    // are cut.
    let mut whole = FrameProbe::default();
    whole.push(rest);
    let mut cut = FrameProbe::default();
    cut.push(half);
    cut.push(&rest[half.len()..]);
    assert_eq!(
        (whole.frames, whole.fin_frames, whole.masked, whole.failed),
        (cut.frames, cut.fin_frames, cut.masked, cut.failed)
    );
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
            match &ev {
                Some(HttpEvent::Head(h, first)) => {
                    p.expect_body(h, Some("GET"));
                    if ctl & 0x40 != 0
                        && let Some(b) = p.capture_body(64, *first)
                    {
                        assert!(b.bytes.is_empty() && b.end == BodyEnd::Complete);
                    }
                }
                Some(HttpEvent::Body(b)) => {
                    assert!(b.bytes.len() <= 64 && b.bytes.len() as u64 <= b.len);
                    assert!(b.end == BodyEnd::Complete || b.bytes.is_empty());
                    if b.end == BodyEnd::Complete {
                        assert_eq!(b.bytes.len() as u64, b.len);
                    }
                }
                _ => {}
            }
            if used == 0 && ev.is_none() {
                break;
            }
            piece = &piece[used..];
        }
    }
    if let Some(HttpEvent::Body(b)) = p.end_of_stream(ctl & 0x20 != 0) {
        assert!(b.end == BodyEnd::Complete || b.bytes.is_empty());
    }
});
