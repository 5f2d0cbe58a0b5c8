//! TCP reassembly with arbitrary segment orders, overlaps, SYNs, snaplen
//! holes and sequence wrap. Checks: no panic; the delivered stream never
//! goes backwards; buffered bytes stay under the cap (plus one segment).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::capture::PacketNo;
use wsinspect::tcp::{Piece, Reassembler};

fuzz_target!(|data: &[u8]| {
    let Some((&cap, mut rest)) = data.split_first() else {
        return;
    };
    let cap = u64::from(cap) * 16;
    let mut r = Reassembler::new(cap);
    let mut delivered = 0u64;
    let mut pkt = 0u64;
    // Record: [op][seq: u32 LE][len: u8][missing: u8]
    while let [op, s0, s1, s2, s3, len, miss, tail @ ..] = rest {
        rest = tail;
        pkt += 1;
        let seq = u32::from_le_bytes([*s0, *s1, *s2, *s3]);
        if op & 1 == 1 {
            r.syn(seq);
        }
        let len = usize::from(*len).min(rest.len());
        let (payload, more) = rest.split_at(len);
        rest = more;
        let missing = if op & 2 == 2 { u32::from(*miss) * 1000 } else { 0 };
        r.push(seq, payload, missing, PacketNo(pkt), &mut |p: Piece<'_>, _: PacketNo, _| {
            delivered += match p {
                Piece::Data(d) => d.len() as u64,
                Piece::Gap(n) => n,
            }
        });
        assert_eq!(delivered, r.offset());
        assert!(r.pending_bytes() <= cap + 256);
    }
    r.finish(&mut |p: Piece<'_>, _: PacketNo, _| {
        delivered += match p {
            Piece::Data(d) => d.len() as u64,
            Piece::Gap(n) => n,
        }
    });
    assert_eq!(delivered, r.offset());
    assert_eq!(r.pending_bytes(), 0);
});
