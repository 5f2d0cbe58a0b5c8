//! HTTP/2 framing + HPACK (`h2::Connection`) over arbitrary bytes, split
//! into two directions and chunks at fuzzer-chosen cuts, with gaps; from
//! the start, mid-stream, or after an h2c upgrade.
//!
//! Layout: `[ctl]` then records `[op][len][len bytes]`: `op & 1` is the
//! direction, `op & 2` makes the record a gap of `len * 97` bytes (no
//! bytes follow). `ctl & 3`: 0 prior knowledge, 1 mid-stream, 2 h2c.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::capture::{PacketNo, Timestamp};
use wsinspect::flow::Direction;
use wsinspect::h2::{Connection, H2EventKind, H2Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    // Small caps, so that the fuzzer reaches them.
    let limits = H2Limits {
        max_header_list_bytes: 4096,
        max_header_block_bytes: 8192,
        max_table_bytes: 4096,
        max_streams: 64,
        max_goaway_debug: 64,
        max_settings_per_frame: 8,
        max_resync_bytes: 4096,
    };
    let mut c = match ctl & 3 {
        1 => Connection::mid_stream(limits),
        2 => Connection::h2c_upgrade(limits, Some(&[0, 1, 0, 0, 0, 0x40])),
        _ => Connection::new(limits),
    };
    // Per direction: the hunt buffer (cap + 40 bytes of bookkeeping per
    // push), the header block, the HPACK table, small frame buffers; plus
    // the stream tables.
    let per_side = 4096 * 41 + 8192 + 4096 + 256 + 8 * 8;
    let bound = 2 * per_side + 64 * 48 + 1024 * 16;
    let mut events = 0u64;
    let mut data_bytes = 0u64;
    let mut pkt = 0;
    while rest.len() >= 2 {
        pkt += 1;
        let (op, len) = (rest[0], usize::from(rest[1]));
        rest = &rest[2..];
        let dir = if op & 1 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        let mut sink = |e: wsinspect::h2::H2Event| {
            events += 1;
            if let H2EventKind::Data { bytes, .. } = &e.kind {
                data_bytes += bytes.len() as u64;
            }
        };
        if op & 2 != 0 {
            c.gap(dir, len as u64 * 97, PacketNo(pkt), Timestamp(0), &mut sink);
        } else {
            let n = len.min(rest.len());
            let (piece, more) = rest.split_at(n);
            rest = more;
            c.push(dir, piece, PacketNo(pkt), Timestamp(0), &mut sink);
        }
        assert!(c.retained_bytes() <= bound, "{} > {bound}", c.retained_bytes());
    }
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        c.finish(dir, PacketNo(pkt + 1), Timestamp(0), &mut |_| events += 1);
    }
    // No payload byte is delivered twice, and no runaway event loops.
    assert!(data_bytes <= data.len() as u64);
    assert!(events <= 4 * data.len() as u64 + 8, "{events} events for {} bytes", data.len());
});
