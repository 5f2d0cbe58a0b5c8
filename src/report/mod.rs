//! Reports over the analysis model: text for people, JSON and NDJSON for
//! machines. Pure functions of the model (NDJSON: of the event stream).

pub mod contract;
mod handoff;
pub mod json;
pub mod live_text;
pub mod ndjson;
pub mod spill;
pub mod text;

use std::fmt;

/// `n` and the noun, singular for exactly one ("1 message", "2 messages",
/// "0 anomalies"): the one place text outputs make plurals. The plural is
/// regular English: `-ies` after a consonant + `y`, `-es` after s, x, ch
/// and sh, `-s` otherwise; a hyphenated noun ("keep-alive") takes it at
/// the end.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    format!("{n} {}", plural(noun))
}

/// The plural of `noun` by the rules of [`count`].
pub fn plural(noun: &str) -> String {
    let b = noun.as_bytes();
    let vowel = |c: u8| b"aeiou".contains(&c.to_ascii_lowercase());
    match b {
        [.., c, b'y'] if !vowel(*c) => format!("{}ies", &noun[..noun.len() - 1]),
        [.., b's' | b'x'] | [.., b'c' | b's', b'h'] => format!("{noun}es"),
        _ => format!("{noun}s"),
    }
}

/// Output format of `wsinspect report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A readable per-connection narrative.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// One JSON event per line, streamed as the capture is read.
    Ndjson,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_only_for_one() {
        assert_eq!(count(0, "message"), "0 messages");
        assert_eq!(count(1, "message"), "1 message");
        assert_eq!(count(2, "connection"), "2 connections");
        assert_eq!(count(1, "anomaly"), "1 anomaly");
        assert_eq!(count(3, "anomaly"), "3 anomalies");
        assert_eq!(count(2, "keep-alive"), "2 keep-alives");
        assert_eq!(count(2, "day"), "2 days");
        assert_eq!(count(2, "match"), "2 matches");
        assert_eq!(count(2, "pass"), "2 passes");
        assert_eq!(count(2, "box"), "2 boxes");
    }
}
