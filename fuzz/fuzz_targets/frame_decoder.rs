//! WebSocket frame decoder + message assembler (+ permessage-deflate) over
//! arbitrary bytes, cut at arbitrary points, with gaps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::capture::{PacketNo, Timestamp};
use wsinspect::flow::Direction;
use wsinspect::ws::WsStream;
use wsinspect::ws::deflate::DeflateParams;
use wsinspect::ws::message::{WsContext, WsLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    let dir = if ctl & 1 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
    let deflate = (ctl & 2 != 0).then(|| DeflateParams {
        server_no_context_takeover: ctl & 4 != 0,
        client_no_context_takeover: ctl & 4 != 0,
        ..DeflateParams::default()
    });
    let limits = WsLimits { max_text_bytes: 4096, max_inflated_bytes: 1 << 20, ..WsLimits::default() };
    let mut s = WsStream::new(dir, WsContext { handshake_seen: ctl & 8 != 0, deflate }, limits);
    let chunk = usize::from(ctl >> 4).max(1) * 3;
    let mut pkt = 0;
    let mut events = 0u64;
    while !rest.is_empty() {
        pkt += 1;
        let n = chunk.min(rest.len());
        let (piece, more) = rest.split_at(n);
        rest = more;
        if piece[0] == 0xee {
            s.gap(u64::from(piece.len() as u32), PacketNo(pkt), Timestamp(0), &mut |_| events += 1);
        } else {
            s.data(piece, PacketNo(pkt), PacketNo(pkt), Timestamp(0), &mut |_| events += 1);
        }
    }
    // At most a handful of events per input byte (no runaway loops).
    assert!(events <= 4 * data.len() as u64 + 8);
});
