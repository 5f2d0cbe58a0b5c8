//! Incremental UTF-8 validation across frames and TCP segments (RFC 6455
//! §8.1: validity applies to the whole message, so a code point split over
//! two fragments is valid).

/// Validates a byte stream given in pieces.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// Bytes of an incomplete code point at the end of the last piece.
    tail: [u8; 4],
    tail_len: usize,
    invalid: bool,
}

impl Utf8Validator {
    /// Feeds the next piece.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.invalid {
            return;
        }
        while self.tail_len > 0 && !data.is_empty() {
            self.tail[self.tail_len] = data[0];
            self.tail_len += 1;
            data = &data[1..];
            match std::str::from_utf8(&self.tail[..self.tail_len]) {
                Ok(_) => self.tail_len = 0,
                Err(e) if e.error_len().is_some() => {
                    self.invalid = true;
                    return;
                }
                Err(_) if self.tail_len == 4 => {
                    self.invalid = true;
                    return;
                }
                Err(_) => {}
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => {}
            Err(e) if e.error_len().is_some() => self.invalid = true,
            Err(e) => {
                let rest = &data[e.valid_up_to()..];
                self.tail[..rest.len()].copy_from_slice(rest);
                self.tail_len = rest.len();
            }
        }
    }

    /// True when everything fed so far is valid and ends on a code point.
    pub fn finish(&self) -> bool {
        !self.invalid && self.tail_len == 0
    }

    /// True once an invalid sequence was seen.
    pub fn is_invalid(&self) -> bool {
        self.invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_code_points_are_valid_at_every_cut() {
        let s = "a€b😀c".as_bytes();
        for cut in 0..=s.len() {
            for cut2 in cut..=s.len() {
                let mut v = Utf8Validator::default();
                v.push(&s[..cut]);
                v.push(&s[cut..cut2]);
                v.push(&s[cut2..]);
                assert!(v.finish(), "{cut} {cut2}");
            }
        }
    }

    #[test]
    fn invalid_and_truncated() {
        let mut v = Utf8Validator::default();
        v.push(&[0xc3, 0x28]);
        assert!(!v.finish());
        let mut v = Utf8Validator::default();
        v.push(&[0xe2, 0x82]);
        assert!(!v.finish());
        assert!(!v.is_invalid());
        let mut v = Utf8Validator::default();
        v.push(&[0xff]);
        assert!(v.is_invalid());
    }
}
