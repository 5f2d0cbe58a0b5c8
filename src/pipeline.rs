//! Wires the layers for a capture file or stream: the one entry point that
//! the CLI, the tests and the TUI use to get an [`Analysis`].

use crate::analysis::model::Analysis;
use crate::analysis::{Analyzer, CaptureInfo, EventSink, Limits};
use crate::capture::{CaptureReader, ReadError};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Why a capture could not be analysed at all.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The input is not a readable capture.
    #[error("{path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// What is wrong.
        source: ReadError,
    },
}

/// Analyses the capture at `path` (`-` reads standard input).
pub fn analyze_path(
    path: &str,
    limits: Limits,
    sink: &mut dyn EventSink,
) -> Result<Analysis, PipelineError> {
    if path == "-" {
        return analyze_reader("-", std::io::stdin(), limits, sink);
    }
    let file = File::open(path).map_err(|source| PipelineError::Open {
        path: path.to_string(),
        source,
    })?;
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    analyze_reader(&name, BufReader::with_capacity(1 << 16, file), limits, sink).map_err(
        |e| match e {
            PipelineError::Read { source, .. } => PipelineError::Read {
                path: path.to_string(),
                source,
            },
            other => other,
        },
    )
}

/// Analyses a capture read from any byte stream.
pub fn analyze_reader<R: Read + Send>(
    name: &str,
    source: R,
    limits: Limits,
    sink: &mut dyn EventSink,
) -> Result<Analysis, PipelineError> {
    let mut reader = CaptureReader::new(source).map_err(|source| PipelineError::Read {
        path: name.to_string(),
        source,
    })?;
    let mut analyzer = Analyzer::new(limits, sink);
    loop {
        match reader.next_packet() {
            Ok(Some(pkt)) => analyzer.push(&pkt),
            Ok(None) => break,
            Err(source) => {
                let at = crate::capture::PacketNo(reader.packets_read());
                analyzer.capture_anomaly(at, format!("reading stopped: {source}"));
                break;
            }
        }
    }
    for a in reader.anomalies() {
        analyzer.capture_anomaly(a.after_packet, a.detail.clone());
    }
    let link = reader.link_type();
    let info = CaptureInfo {
        name: name.to_string(),
        format: reader.format().name().to_string(),
        link_type: link.map(|l| l.wireshark_name()).unwrap_or_default(),
        link_type_dlt: link.map(|l| l.dlt()).unwrap_or(0),
    };
    Ok(analyzer.finish(info))
}
