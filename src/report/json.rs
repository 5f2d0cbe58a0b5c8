//! The JSON report: the whole [`Analysis`], a superset of the truth files'
//! fields with the same names and meanings.
//!
//! Two ways to write the same bytes: [`write()`] serializes an [`Analysis`]
//! that holds every message; [`super::spill`] parks each message as it
//! completes and splices them back in (memory that does not grow with the
//! number of messages).

use super::contract::Report;
use crate::model::Analysis;
use std::io::{self, Write};
/// Writes the analysis as one pretty-printed JSON document.
/// The document is a [`Report`]: the contract's versions, then the analysis.
pub fn write(analysis: &Analysis, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Report::new(analysis)).map_err(into_io)?;
    out.write_all(b"\n")
}

/// Keeps the kind of an I/O error that serde_json wrapped (a closed pipe
/// must stay recognisable as `BrokenPipe`).
pub fn into_io(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::from(kind),
        None => io::Error::other(e),
    }
}
