//! RFC 7541 §5.2 Huffman decoding with the Appendix B code.
//!
//! The code is canonical, so a symbol is found by growing a code one bit at
//! a time and checking it against the range of codes of that length: no
//! tree, no table of 2^30 entries. Errors are the three §5.2 rules: the EOS
//! symbol decoded, padding longer than 7 bits, padding that is not the
//! most significant bits of EOS (all ones).

use super::huffman_table::{BY_LEN, CODES, SYMBOLS};

/// Why a Huffman string was rejected (RFC 7541 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HuffmanError {
    /// The EOS symbol appeared in the string.
    Eos,
    /// More than 7 bits of padding, or a code that never completed.
    LongPadding,
    /// Padding bits not all ones.
    BadPadding,
}

/// Decodes `src`, appending at most `room` bytes to `out`; the rest of
/// the string is still checked. Returns the decoded length (possibly more
/// than what was appended).
pub fn decode(src: &[u8], out: &mut Vec<u8>, room: usize) -> Result<usize, HuffmanError> {
    let mut code: u32 = 0;
    let mut len: usize = 0;
    let mut n = 0usize;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            if len < 5 {
                continue;
            }
            let Some(&(first, index, count)) = BY_LEN.get(len) else {
                // Longer than the longest code (30 bits): cannot be valid.
                return Err(HuffmanError::LongPadding);
            };
            if count > 0 && code >= first && code - first < u32::from(count) {
                let sym = SYMBOLS[usize::from(index) + (code - first) as usize];
                if sym == 256 {
                    return Err(HuffmanError::Eos);
                }
                if n < room {
                    out.push(sym as u8);
                }
                n += 1;
                code = 0;
                len = 0;
            }
        }
    }
    if len > 7 {
        return Err(HuffmanError::LongPadding);
    }
    if code != (1u32 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(n)
}

/// Encodes `src` (for tests and seeds: wsinspect only decodes).
pub fn encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(src: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let mut out = Vec::new();
        decode(src, &mut out, usize::MAX).map(|_| out)
    }

    #[test]
    fn rfc7541_c4_strings() {
        // C.4.1: "www.example.com"
        let e = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(dec(&e).unwrap(), b"www.example.com");
        assert_eq!(encode(b"www.example.com"), e);
        // C.4.2: "no-cache"
        assert_eq!(
            dec(&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]).unwrap(),
            b"no-cache"
        );
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(dec(&encode(&all)).unwrap(), all);
        for b in 0..=255u8 {
            assert_eq!(dec(&encode(&[b, b, b])).unwrap(), [b, b, b]);
        }
    }

    #[test]
    fn section_5_2_errors() {
        // EOS is 30 ones: 4 bytes of 0xff hold it.
        assert_eq!(dec(&[0xff, 0xff, 0xff, 0xff]), Err(HuffmanError::Eos));
        // 'a' is 00011 (5 bits); one byte 0x18 = 00011 000: zero padding.
        assert_eq!(dec(&[0x18]), Err(HuffmanError::BadPadding));
        assert_eq!(dec(&[0x1f]).unwrap(), b"a");
        // A whole byte of ones after 'a' is 11 bits of padding.
        assert_eq!(dec(&[0x1f, 0xff]), Err(HuffmanError::LongPadding));
        assert_eq!(dec(&[]).unwrap(), b"");
    }

    #[test]
    fn room_bounds_output_not_checking() {
        let mut out = Vec::new();
        assert_eq!(decode(&encode(b"abcdef"), &mut out, 2), Ok(6));
        assert_eq!(out, b"ab");
    }
}
