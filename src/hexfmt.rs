//! Lower-case hex encoding for digests, mask keys and payload previews.

use std::fmt;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Writes bytes as a lower-case hex string (`#[serde(serialize_with)]`).
pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(bytes))
}

/// Writes optional bytes as a lower-case hex string, or null.
pub fn serialize_opt<B: AsRef<[u8]>, S: serde::Serializer>(
    bytes: &Option<B>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&hex(b.as_ref())),
        None => s.serialize_none(),
    }
}

/// A fixed-size binary value (a digest, a masking key) that reports show
/// as lower-case hex.
///
/// Kept as bytes rather than as a hex `String`: every message has a digest
/// and every client frame a key, and building those strings (two
/// allocations per message) was a measurable share of the analysis of a
/// capture of small messages (`docs/performance.md`). The hex is made
/// when a report writes it, on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hex<const N: usize>(pub [u8; N]);

impl<const N: usize> Hex<N> {
    /// Largest `N` (the hex is built in a 64-byte stack buffer).
    const FITS: () = assert!(N <= 32, "Hex holds at most 32 bytes");

    /// Writes the hex into `buf` and returns it as text.
    fn encode<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        let () = Self::FITS;
        for (pair, &b) in buf.chunks_exact_mut(2).zip(&self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        let used = buf.get(..2 * N).unwrap_or_default();
        std::str::from_utf8(used).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode(&mut [0; 64]))
    }
}

impl<const N: usize> fmt::Debug for Hex<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl<const N: usize> serde::Serialize for Hex<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.encode(&mut [0; 64]))
    }
}

impl<const N: usize> PartialEq<str> for Hex<N> {
    fn eq(&self, other: &str) -> bool {
        self.encode(&mut [0; 64]) == other
    }
}

impl<const N: usize> PartialEq<&str> for Hex<N> {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

#[cfg(test)]
mod tests {
    use super::Hex;

    #[test]
    fn encodes() {
        assert_eq!(super::hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn fixed_size_values_show_as_the_same_hex() {
        let key = Hex([0x33, 0x35, 0xdd, 0x2f]);
        assert_eq!(key.to_string(), "3335dd2f");
        assert_eq!(
            serde_json::to_string(&key).ok().as_deref(),
            Some("\"3335dd2f\"")
        );
        assert!(key == "3335dd2f" && key != "3335dd2e" && key != "3335dd");
        let digest = Hex([0xff; 32]);
        assert_eq!(digest.to_string(), "ff".repeat(32));
        assert_eq!(format!("{:?}", Hex([1u8])), "\"01\"");
    }
}
