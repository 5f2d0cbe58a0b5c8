//! The TCP reassembler against an oracle (smoltcp's `test_random` shape).
//!
//! A random stream is cut into random segments that overlap, repeat, come
//! in any order, carry different bytes on a repeat, lose their tail to the
//! snapshot length or never arrive at all; the sequence numbers start
//! anywhere, across the 2³² wrap too. The oracle is a byte array that
//! applies the reassembler's documented policy by brute force: the first
//! copy of every byte in capture order wins, for its content, for its
//! packet number and for being cut (`missing`); a stream picked up without
//! its SYN starts at the first segment's first byte. Whatever order the
//! segments come in, what the reassembler delivers (data with the packet
//! that first carried it, and gaps) must be exactly the oracle's stream.

use proptest::prelude::*;
use wsinspect::capture::PacketNo;
use wsinspect::tcp::{Piece, Reassembler};

/// One byte of the expected stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Byte {
    /// Captured, with the packet that first carried it.
    Data(u8, u64),
    /// In the stream, but not in the capture (cut, or never seen).
    Gap,
}

#[derive(Debug, Clone)]
struct Segment {
    start: u64,
    len: u64,
    /// Bytes at the end cut by the snapshot length.
    cut: u64,
    /// A repeat that carries other bytes than the first copy.
    altered: bool,
}

fn segments(stream_len: u64) -> impl Strategy<Value = Vec<Segment>> {
    let seg = (
        0..stream_len,
        1..64u64,
        0..12u64,
        proptest::bool::weighted(0.2),
    )
        .prop_map(move |(start, len, cut, altered)| {
            let len = len.min(stream_len - start);
            Segment {
                start,
                len,
                cut: if cut >= 8 { (cut - 7).min(len) } else { 0 },
                altered,
            }
        });
    proptest::collection::vec(seg, 1..40)
}

fn content(stream: &[u8], s: &Segment, i: u64) -> u8 {
    let b = stream[i as usize];
    if s.altered { b ^ 0x5a } else { b }
}

/// The oracle: the expected delivered stream, from the first deliverable
/// byte to the end of the furthest byte seen.
fn oracle(stream: &[u8], segs: &[Segment], syn: bool) -> Vec<Byte> {
    let base = if syn { 0 } else { segs[0].start };
    let mut bytes: Vec<Option<Byte>> = vec![None; stream.len()];
    for (n, s) in segs.iter().enumerate() {
        let packet = n as u64 + 1;
        for i in s.start.max(base)..s.start + s.len {
            let slot = &mut bytes[i as usize];
            if slot.is_none() {
                let captured = i < s.start + s.len - s.cut;
                *slot = Some(if captured {
                    Byte::Data(content(stream, s, i), packet)
                } else {
                    Byte::Gap
                });
            }
        }
    }
    let end = segs.iter().map(|s| s.start + s.len).max().unwrap_or(0);
    (base..end.max(base))
        .map(|i| bytes[i as usize].unwrap_or(Byte::Gap))
        .collect()
}

fn reassemble(stream: &[u8], segs: &[Segment], syn: bool, isn: u32) -> Vec<Byte> {
    let mut r = Reassembler::new(u64::MAX);
    if syn {
        r.syn(isn);
    }
    let mut out = Vec::new();
    let mut sink = |p: Piece<'_>, src: PacketNo, _| match p {
        Piece::Data(d) => out.extend(d.iter().map(|&b| Byte::Data(b, src.0))),
        Piece::Gap(n) => out.extend(std::iter::repeat_n(Byte::Gap, n as usize)),
    };
    for (n, s) in segs.iter().enumerate() {
        let seq = isn.wrapping_add(1).wrapping_add(s.start as u32);
        let data: Vec<u8> = (s.start..s.start + s.len - s.cut)
            .map(|i| content(stream, s, i))
            .collect();
        r.push(seq, &data, s.cut as u32, PacketNo(n as u64 + 1), &mut sink);
    }
    r.finish(&mut sink);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn delivers_exactly_the_first_copy_of_every_byte(
        (stream, segs) in (1..300u64).prop_flat_map(|n| {
            (proptest::collection::vec(any::<u8>(), n as usize), segments(n))
        }),
        syn in any::<bool>(),
        isn in prop_oneof![any::<u32>(), (u32::MAX - 200)..=u32::MAX],
    ) {
        prop_assert_eq!(reassemble(&stream, &segs, syn, isn), oracle(&stream, &segs, syn));
    }
}

/// The oracle itself on a case worked by hand: a repeat with other bytes
/// loses to the first copy, a cut tail stays a gap although a later copy
/// carries it, and a hole nobody filled is a gap.
#[test]
fn oracle_applies_first_copy_wins() {
    let stream = b"abcdefghij";
    let segs = [
        Segment {
            start: 2,
            len: 3,
            cut: 1,
            altered: false,
        },
        Segment {
            start: 0,
            len: 5,
            cut: 0,
            altered: true,
        },
        Segment {
            start: 7,
            len: 3,
            cut: 0,
            altered: false,
        },
    ];
    let a = |c: u8, p| Byte::Data(c, p);
    let expected = vec![
        a(b'a' ^ 0x5a, 2),
        a(b'b' ^ 0x5a, 2),
        a(b'c', 1),
        a(b'd', 1),
        Byte::Gap,
        Byte::Gap,
        Byte::Gap,
        a(b'h', 3),
        a(b'i', 3),
        a(b'j', 3),
    ];
    assert_eq!(oracle(stream, &segs, true), expected);
    assert_eq!(reassemble(stream, &segs, true, 7), expected);
}
