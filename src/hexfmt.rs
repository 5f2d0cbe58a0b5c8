//! Lower-case hex encoding for digests, mask keys and payload previews.

/// Encodes bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes() {
        assert_eq!(super::hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
