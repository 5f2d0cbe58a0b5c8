//! The JSON report: the whole [`Analysis`], a superset of the truth files'
//! fields with the same names and meanings.

use crate::analysis::model::Analysis;
use std::io::{self, Write};

/// Writes the analysis as one pretty-printed JSON document.
pub fn write(analysis: &Analysis, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, analysis).map_err(into_io)?;
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
