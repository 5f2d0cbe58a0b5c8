//! Bounded JSON for the text protocols.
//!
//! `serde_json` builds a tree no larger than a constant times its input
//! (JSON carries no counts to trust, so a "huge count" is only as large as
//! the bytes that spell it), and stops at 128 levels. Before parsing, the
//! size is checked against [`AppLimits::max_json_bytes`] and the nesting is
//! measured by a linear scan against [`AppLimits::max_json_depth`]: a
//! document past either is not parsed at all, so the transient tree of one
//! message is bounded by the size cap and nothing is retained from it but
//! the few fields a record keeps.

use super::{AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol, clip};
pub use serde_json::Value;

/// Why a document was not parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonFail {
    /// Larger than the size cap.
    #[error("JSON of {0} bytes is larger than the cap ({1} bytes)")]
    TooLarge(usize, usize),
    /// Nested deeper than the depth cap.
    #[error("JSON nested deeper than the cap ({0} levels)")]
    TooDeep(usize),
    /// Not JSON.
    #[error("not JSON: {0}")]
    Invalid(String),
}

impl JsonFail {
    /// A cap was reached (as opposed to bad input).
    pub fn is_cap(&self) -> bool {
        !matches!(self, JsonFail::Invalid(_))
    }
}

/// The deepest nesting of arrays and objects in `b`, stopping as soon as it
/// passes `max` (strings and escapes are skipped).
pub fn depth_exceeds(b: &[u8], max: usize) -> bool {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &c in b {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses `b` within the limits.
pub fn parse(b: &[u8], limits: &AppLimits) -> Result<Value, JsonFail> {
    if b.len() > limits.max_json_bytes {
        return Err(JsonFail::TooLarge(b.len(), limits.max_json_bytes));
    }
    let max_depth = limits.max_json_depth.min(127);
    if depth_exceeds(b, max_depth) {
        return Err(JsonFail::TooDeep(max_depth));
    }
    serde_json::from_slice(b).map_err(|e| JsonFail::Invalid(clip(&e.to_string(), 120)))
}

/// A string field, clipped.
pub fn str_of(v: &Value, key: &str, max: usize) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(|s| clip(s, max))
}

/// An id as people read it: a string as is, anything else as JSON.
pub fn id_text(v: &Value, max: usize) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(clip(s, max)),
        other => Some(clip(&other.to_string(), max)),
    }
}

/// An id as it must match: `"1"` and `1` differ (JSON-RPC 2.0 §4).
pub fn id_key(v: &Value, max: usize) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(clip(&other.to_string(), max)),
    }
}

/// A short text of any value, for error messages.
pub fn text_of(v: &Value, max: usize) -> String {
    match v {
        Value::String(s) => clip(s, max),
        other => clip(&other.to_string(), max),
    }
}

/// The JSON of a whole text message, or the finding that says why not:
/// `undecodable` for a message not all known, `cap_reached` past a cap,
/// `malformed` (citing `section`) for anything else.
pub(crate) fn message(
    protocol: AppProtocol,
    input: &AppInput<'_>,
    limits: &AppLimits,
    section: &'static str,
    out: &mut AppOutput,
) -> Option<Value> {
    if !input.complete {
        out.incomplete(protocol, input);
        return None;
    }
    match parse(input.payload, limits) {
        Ok(v) => Some(v),
        Err(e) if e.is_cap() => {
            out.finding(
                protocol,
                input,
                AppFindingKind::CapReached,
                None,
                e.to_string(),
            );
            None
        }
        Err(e) => {
            out.malformed(protocol, input, section, e.to_string());
            None
        }
    }
}
