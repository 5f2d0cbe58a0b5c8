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
//! it also keeps the old `--where` language working.

pub mod check;
pub mod error;
pub mod eval;
pub mod fields;
pub mod lexer;
pub mod parser;
pub mod predicate;
pub mod subject;

pub use error::FilterError;
pub use predicate::{Kept, Predicate};
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
