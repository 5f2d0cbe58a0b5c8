//! Reports over the analysis model: text for people, JSON and NDJSON for
//! machines. Pure functions of the model (NDJSON: of the event stream).

pub mod contract;
mod handoff;
pub mod json;
pub mod live_text;
pub mod ndjson;
mod spill_file;
pub mod text;

use std::fmt;

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
