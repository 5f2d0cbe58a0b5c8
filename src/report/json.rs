//! The JSON report: the whole [`Analysis`], a superset of the truth files'
//! fields with the same names and meanings.

use crate::analysis::model::Analysis;
use std::io::{self, Write};

/// Writes the analysis as one pretty-printed JSON document.
pub fn write(analysis: &Analysis, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, analysis).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
