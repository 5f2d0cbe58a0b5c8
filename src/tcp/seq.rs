//! TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4), never panicking.

/// Signed distance from `from` to `to` in sequence space: positive when `to`
/// is after `from`. Valid while the two are less than 2^31 apart, which the
/// TCP window guarantees for live traffic.
pub fn distance(from: u32, to: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        assert_eq!(distance(u32::MAX - 1, 3), 5);
        assert_eq!(distance(3, u32::MAX - 1), -5);
        assert_eq!(distance(10, 10), 0);
    }
}
