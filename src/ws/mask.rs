//! Client-to-server masking (RFC 6455 §5.3): XOR with a 4-byte key.

/// A frame's masking key (RFC 6455 §5.3), shown in hex.
pub type MaskKey = crate::hexfmt::Hex<4>;

/// Unmasks `out` in place; `phase` is the payload offset of `out[0]` modulo
/// 4, so that a payload can be unmasked in pieces. Returns the next phase.
pub fn unmask(out: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    let k = [
        key[phase],
        key[(phase + 1) & 3],
        key[(phase + 2) & 3],
        key[(phase + 3) & 3],
    ];
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = out.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    let rem = chunks.into_remainder();
    for (i, b) in rem.iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
    (phase + out.len()) & 3
}

/// Byte-at-a-time reference implementation, for tests.
pub fn unmask_reference(out: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    for (i, b) in out.iter_mut().enumerate() {
        *b ^= key[(phase + i) & 3];
    }
    (phase + out.len()) & 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_equals_reference_at_every_phase_and_length() {
        let key = [0x3a, 0x9f, 0x02, 0xc4];
        let data: Vec<u8> = (0..70u8).collect();
        for phase in 0..4 {
            for len in 0..data.len() {
                let mut a = data[..len].to_vec();
                let mut b = a.clone();
                assert_eq!(
                    unmask(&mut a, key, phase),
                    unmask_reference(&mut b, key, phase)
                );
                assert_eq!(a, b, "phase {phase} len {len}");
            }
        }
    }

    #[test]
    fn pieces_equal_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..33u8).collect();
        let mut whole = data.clone();
        unmask(&mut whole, key, 0);
        let mut parts = data.clone();
        let (a, b) = parts.split_at_mut(7);
        let p = unmask(a, key, 0);
        unmask(b, key, p);
        assert_eq!(parts, whole);
    }
}
