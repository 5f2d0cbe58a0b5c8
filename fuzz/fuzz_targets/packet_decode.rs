//! Link/IP/TCP decoding (with IPv4 fragment reassembly and tunnels) of
//! arbitrary packets. Input: a sequence of `[link: u8][len: u16 LE][bytes]`
//! records; the first byte also sets the tunnel depth cap (4 to 19).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::capture::{LinkType, PacketNo, RawPacket, Timestamp};
use wsinspect::decode::{Decoder, TunnelScope};

const LINKS: [u32; 9] = [0, 1, 101, 108, 113, 228, 229, 276, 147];

fuzz_target!(|data: &[u8]| {
    let depth = 4 + usize::from(data.first().copied().unwrap_or(0) % 16);
    let mut d = Decoder::with_max_depth(depth);
    let mut rest = data;
    let mut n = 0;
    while let [l, a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        let (pkt, more) = tail.split_at(len);
        rest = more;
        n += 1;
        let raw = RawPacket {
            number: PacketNo(n),
            ts: Timestamp(i128::from(n)),
            link: LinkType::from(LINKS[usize::from(*l) % LINKS.len()]),
            orig_len: u32::from(*l) * 97,
            data: pkt,
        };
        if let Ok(seg) = d.decode(&raw) {
            assert!(seg.payload.len() <= 65535 + 65535);
            assert!(seg.encap.len() <= depth);
            assert_eq!(seg.scope, TunnelScope::of(&seg.encap));
            d.recycle(seg.encap);
        }
    }
});
