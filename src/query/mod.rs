//! Wireshark's display-filter language, over wsinspect's messages.
//!
//! `websocket.opcode == 1 && websocket.payload.text contains "error"`,
//! `tcp.stream == 3`, `ip.addr == 10.0.0.0/8`, `frame.number >= 100`: the
//! filters users type into Wireshark, tshark (`-Y`) and termshark select
//! the same WebSocket traffic here, in every subcommand (`-Y`) and in the
//! TUI's filter prompt. `docs/display-filter.md` is the user's reference:
//! the fields, the operators, and what differs from Wireshark.
//!
//! The unit is the **message** (a data message, whatever its number of
//! frames) and the **control frame**: a filter is evaluated once per item,
//! on a [`Subject`]. Fields that have several values on an item (one per
//! frame, per packet, per address) follow Wireshark's rules for fields that
//! occur several times in a packet (see [`eval`]).
//!
//! Stages, one file each: [`lexer`] (text → tokens), [`parser`] (tokens →
//! syntax tree, bounded nesting), [`check`] (names resolved in the field
//! table [`fields`], literals parsed and operators checked per field type,
//! regular expressions compiled within size limits), [`eval`] (typed tree ×
//! subject → bool). [`Predicate`] is the one filter type every output uses;
//! it also keeps the old `--where` language working ([`json_filter`]).
//! [`WhereSink`] puts a filter in front of a streamed output.

pub mod check;
pub mod error;
pub mod eval;
pub mod fields;
pub mod json_filter;
pub mod lexer;
pub mod parser;
pub mod predicate;
pub mod sink;
pub mod subject;

pub use error::FilterError;
pub use predicate::{Kept, Predicate};
pub use sink::WhereSink;
pub use subject::{Item, Subject};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 64 * 1024;

/// A compiled display filter.
#[derive(Debug, Clone)]
pub struct DisplayFilter {
    text: String,
    expr: check::Expr,
}

impl DisplayFilter {
    /// Parses and type-checks `src`.
    pub fn parse(src: &str) -> Result<Self, FilterError> {
        Self::compile(src).map_err(|e| e.with_expr(src))
    }

    fn compile(src: &str) -> Result<Self, FilterError> {
        if src.len() > MAX_FILTER_LEN {
            return Err(FilterError::new(
                format!("the filter is longer than {MAX_FILTER_LEN} bytes"),
                0..src.len(),
            ));
        }
        let toks = lexer::lex(src)?;
        let syntax = parser::parse(&toks, src.len())?;
        let expr = check::check(&syntax)?;
        Ok(DisplayFilter {
            text: src.to_string(),
            expr,
        })
    }

    /// The filter as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True if the filter selects `s`.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        eval::eval(&self.expr, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Limits, NullSink};
    use crate::model::Analysis;

    fn load(name: &str) -> Analysis {
        let p = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::pipeline::analyze_path(&p, Limits::default(), &mut NullSink).expect("capture")
    }

    /// (selected, total) items of `a`.
    fn count(a: &Analysis, expr: &str) -> (usize, usize) {
        let f = DisplayFilter::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        let start = Some(a.start_ts);
        let (mut n, mut total) = (0, 0);
        for c in &a.connections {
            for (i, m) in c.messages.iter().enumerate() {
                total += 1;
                n += usize::from(f.matches(&Subject::message(c, i, m, start)));
            }
            for k in &c.control {
                total += 1;
                n += usize::from(f.matches(&Subject::new(c, Item::Control(k), start)));
            }
        }
        (n, total)
    }

    #[test]
    fn multi_valued_fields_follow_wireshark() {
        let a = load("ping_pong.pcap");
        let all = count(&a, "websocket").1;
        assert_eq!(count(&a, "ip.addr == 127.0.0.1").0, all);
        assert_eq!(count(&a, "ip.addr == 127.0.0.0/8").0, all);
        // Both addresses are 127.0.0.1: none differs.
        assert_eq!(count(&a, "ip.addr != 127.0.0.1").0, 0);
        assert_eq!(count(&a, "ip.addr ~= 127.0.0.1").0, 0);
        // One port is 9005, the other is not.
        assert_eq!(count(&a, "tcp.port != 9005").0, 0);
        assert_eq!(count(&a, "tcp.port ~= 9005").0, all);
        assert_eq!(count(&a, "tcp.port === 9005").0, 0);
        assert_eq!(count(&a, "tcp.srcport == tcp.dstport").0, 0);
        assert_eq!(count(&a, "tcp.srcport != tcp.dstport").0, all);
        assert_eq!(count(&a, "ipv6 or ipv6.addr == ::1").0, 0);
        assert_eq!(
            count(&a, "frame.time_relative >= 0 && !(frame.time_relative < 0)").0,
            all
        );
    }

    #[test]
    fn absent_fields_make_every_comparison_false() {
        let a = load("ping_pong.pcap");
        let closes = count(&a, "ws.type == \"close\"").0;
        assert!(closes > 0);
        assert_eq!(count(&a, "websocket.payload.close.status_code").0, closes);
        assert_eq!(
            count(&a, "websocket.payload.close.status_code != 1").0,
            closes
        );
        let all = count(&a, "websocket").1;
        assert_eq!(
            count(&a, "!(websocket.payload.close.status_code == 1)").0,
            all
        );
        assert_eq!(
            count(&a, "websocket.payload.close.status_code not in {1}").0,
            closes
        );
    }

    #[test]
    fn opcodes_names_and_sets() {
        let a = load("ping_pong.pcap");
        let pings = count(&a, "ws.type == \"ping\"").0;
        assert!(pings > 0);
        assert_eq!(count(&a, "websocket.opcode == ping").0, pings);
        assert_eq!(count(&a, "websocket.opcode == 9").0, pings);
        assert_eq!(count(&a, "websocket.opcode in {9, 0x9}").0, pings);
        let control = count(&a, "websocket.opcode in {8..10}").0;
        assert_eq!(count(&a, "websocket.opcode >= 8").0, control);
        assert_eq!(
            count(&a, "websocket.opcode == 9 xor websocket.opcode >= 8").0,
            control - pings
        );
        assert_eq!(
            count(&a, "websocket.payload.text matches \"(?i)^ECHO:\"").0,
            count(&a, "websocket.payload.text contains \"echo:\"").0
        );
    }

    #[test]
    fn json_paths_arrays_and_objects() {
        let a = load("deflate_takeover.pcap");
        let all = count(&a, "json").0;
        assert_eq!(all, count(&a, "ws.type == \"text\"").0);
        let quotes = count(&a, "json.type == \"quote\"").0;
        assert!(quotes > 0 && quotes < all);
        assert_eq!(count(&a, "json.flags contains \"lot\"").0, quotes);
        let odd = count(&a, "json.flags == \"odd-lot\"").0;
        assert!(odd > 0 && odd < quotes);
        assert_eq!(count(&a, "json.flags[1] == \"odd-lot\"").0, odd);
        assert_eq!(count(&a, "json.detail contains \"queued\"").0, all - quotes);
        assert_eq!(count(&a, "json.nope").0, 0);
        assert_eq!(count(&a, "json.seq >= 0 && json.seq < 1000").0, all);
        assert_eq!(count(&a, "ws.compressed == 1 && websocket.rsv == 4").0, all);
    }

    #[test]
    fn ipv6_fields() {
        let a = load("ipv6_sll.pcapng");
        let all = count(&a, "websocket").1;
        assert!(all > 0);
        assert_eq!(count(&a, "ipv6 && !ip").0, all);
        assert_eq!(
            count(&a, "ipv6.addr == ::/0 && ipv6.src == ipv6.dst").0,
            all
        );
        assert_eq!(count(&a, "ip.addr == 0.0.0.0/0").0, 0);
    }

    #[test]
    fn long_filters_are_refused() {
        let long = "websocket || ".repeat(MAX_FILTER_LEN / 10) + "websocket";
        assert!(
            DisplayFilter::parse(&long)
                .unwrap_err()
                .message
                .contains("longer")
        );
    }
}
