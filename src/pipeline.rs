//! Wires the layers for a capture file or stream: the one entry point that
//! the CLI, the tests and the TUI use to get an [`Analysis`].

use crate::analysis::{Analyzer, CaptureInfo, Consumer, Limits};
use crate::capture::{CaptureReader, PacketNo, ReadError};
use crate::model::Analysis;
use crate::tls::KeyLog;
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a capture could not be analysed at all.
///
/// The messages are complete sentences for a person at a terminal: what went
/// wrong and what to do about it. The underlying error is part of the
/// message rather than a `source()`, so that `{:#}` chains do not print it
/// twice.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The file could not be opened.
    #[error("cannot open {path}: {error}{}", open_hint(error))]
    Open {
        /// The path given.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The path names a directory, not a capture file.
    #[error("{path} is a directory; give one capture file in it (pcap or pcapng)")]
    Directory {
        /// The path given.
        path: String,
    },
    /// The input is not a readable capture.
    #[error("{path}: {error}")]
    Read {
        /// The path given.
        path: String,
        /// What is wrong.
        error: ReadError,
    },
}

/// What to do about an open failure, by its kind.
fn open_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "; check the path (relative paths start from the current directory), or give `-` to read the capture from standard input"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; the file is not readable by this user (tcpdump run as root writes mode 0600 files): fix its permissions or run as its owner"
        }
        _ => "",
    }
}

/// Bytes read so far from a capture source, shared with an observer such as
/// a progress bar on another thread. Cloning shares the same counter.
#[derive(Debug, Clone, Default)]
pub struct ReadCounter(Arc<AtomicU64>);

impl ReadCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes read so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A [`Read`] wrapper that adds every byte read to a [`ReadCounter`]. One
/// relaxed atomic add per `read` call (the reader asks for 64 KiB at a
/// time), so counting costs nothing measurable.
#[derive(Debug)]
pub struct CountingRead<R> {
    inner: R,
    counter: ReadCounter,
}

impl<R> CountingRead<R> {
    /// Wraps `inner`, counting into `counter`.
    pub fn new(inner: R, counter: ReadCounter) -> Self {
        CountingRead { inner, counter }
    }
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(n);
        Ok(n)
    }
}

/// Everything an analysis can be given besides the capture.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Bounds on memory and work.
    pub limits: Limits,
    /// TLS secrets for wss connections (`--keylog`, `SSLKEYLOGFILE`).
    pub keylog: Option<Arc<KeyLog>>,
    /// Problems found before reading (e.g. bad key log lines), reported
    /// with the capture's anomalies.
    pub notes: Vec<String>,
    /// Counts the bytes read from the file or standard input, for the
    /// CLI's progress bar. The library itself never writes to a terminal.
    pub progress: Option<ReadCounter>,
    /// The sink takes every connection as it ends (the NDJSON report writes
    /// it, the JSON report parks it in its spill file): the returned
    /// model keeps only the capture's totals, not the connections
    /// ([`Analyzer::set_drop_finished`]), so memory stays flat however
    /// many connections the capture holds.
    pub drop_finished: bool,
}

impl Options {
    /// Options with these limits and nothing else.
    pub fn with_limits(limits: Limits) -> Self {
        Options {
            limits,
            ..Options::default()
        }
    }
}

/// Analyses the capture at `path` (`-` reads standard input).
pub fn analyze_path(
    path: &str,
    limits: Limits,
    sink: &mut dyn Consumer,
) -> Result<Analysis, PipelineError> {
    analyze_path_with(path, &Options::with_limits(limits), sink)
}

/// Analyses the capture at `path` with all options.
pub fn analyze_path_with(
    path: &str,
    opts: &Options,
    sink: &mut dyn Consumer,
) -> Result<Analysis, PipelineError> {
    let counter = opts.progress.clone().unwrap_or_default();
    if path == "-" {
        let stdin = CountingRead::new(std::io::stdin(), counter);
        return analyze_reader_with("-", stdin, opts, sink);
    }
    let file = File::open(path).map_err(|error| PipelineError::Open {
        path: path.to_string(),
        error,
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(PipelineError::Directory {
            path: path.to_string(),
        });
    }
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let source = BufReader::with_capacity(1 << 16, CountingRead::new(file, counter));
    analyze_reader_with(&name, source, opts, sink).map_err(|e| match e {
        PipelineError::Read { error, .. } => PipelineError::Read {
            path: path.to_string(),
            error,
        },
        other => other,
    })
}

/// Analyses a capture read from any byte stream.
pub fn analyze_reader<R: Read + Send>(
    name: &str,
    source: R,
    limits: Limits,
    sink: &mut dyn Consumer,
) -> Result<Analysis, PipelineError> {
    analyze_reader_with(name, source, &Options::with_limits(limits), sink)
}

/// Analyses a capture read from any byte stream, with all options.
pub fn analyze_reader_with<R: Read + Send>(
    name: &str,
    source: R,
    opts: &Options,
    sink: &mut dyn Consumer,
) -> Result<Analysis, PipelineError> {
    let reader = CaptureReader::new(source).map_err(|error| PipelineError::Read {
        path: name.to_string(),
        error,
    })?;
    let mut analyzer = Analyzer::new(opts.limits, sink);
    analyzer.set_drop_finished(opts.drop_finished);
    for note in &opts.notes {
        analyzer.capture_anomaly(PacketNo(0), note.clone());
    }
    let mut keys = KeyRing {
        keylog: opts.keylog.clone(),
        secrets_seen: 0,
    };
    analyzer.set_keylog(keys.keylog.clone());
    // Read ahead on a second thread; packets arrive here in capture order.
    let end = crate::capture::prefetch::for_each_packet(reader, |pkt, secrets| {
        keys.absorb_secrets(secrets, pkt.number, &mut analyzer);
        analyzer.push(pkt);
        if analyzer.sink_stopped() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Some((source, at)) = end.error {
        analyzer.capture_anomaly(at, format!("reading stopped: {source}"));
    }
    for a in &end.anomalies {
        analyzer.capture_anomaly(a.after_packet, a.detail.clone());
    }
    let link = end.link_type;
    let info = CaptureInfo {
        name: name.to_string(),
        format: end.format.name().to_string(),
        link_type: link.map(|l| l.wireshark_name()).unwrap_or_default(),
        link_type_dlt: link.map(|l| l.dlt()).unwrap_or(0),
    };
    Ok(analyzer.finish(info))
}

/// A key log file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the key log {}; give a readable NSS key log file", path.display())]
pub struct KeyLogFileError {
    /// The file.
    pub path: std::path::PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Reads the key log files (NSS format, as `SSLKEYLOGFILE` writes) and
/// merges them in order, later files winning on conflicts. Bad lines are
/// kept out and returned as notes naming their file and line; a file that
/// cannot be read is an error. The one place key log files are read.
pub fn load_keylogs(
    paths: &[std::path::PathBuf],
) -> Result<(KeyLog, Vec<String>), KeyLogFileError> {
    let mut keylog = KeyLog::default();
    let mut notes = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|source| KeyLogFileError {
            path: path.clone(),
            source,
        })?;
        notes.extend(
            keylog
                .absorb(&bytes)
                .into_iter()
                .map(|e| format!("{}: {e}", path.display())),
        );
    }
    Ok((keylog, notes))
}

/// The key log in force, grown by pcapng Decryption Secrets Blocks as they
/// appear in the capture (what `editcap --inject-secrets` writes).
struct KeyRing {
    keylog: Option<Arc<KeyLog>>,
    secrets_seen: usize,
}

impl KeyRing {
    fn absorb_secrets(&mut self, secrets: &[Vec<u8>], at: PacketNo, analyzer: &mut Analyzer<'_>) {
        if secrets.len() == self.secrets_seen {
            return;
        }
        let mut merged = self.keylog.as_deref().cloned().unwrap_or_default();
        for block in &secrets[self.secrets_seen..] {
            for e in merged.absorb(block) {
                analyzer.capture_anomaly(
                    at,
                    format!("decryption secrets block before packet {at}: {e}"),
                );
            }
        }
        self.secrets_seen = secrets.len();
        self.keylog = Some(Arc::new(merged));
        analyzer.set_keylog(self.keylog.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files are merged in order, bad lines become notes naming their file
    /// and line, and an unreadable file is an error naming it.
    #[test]
    fn key_log_files_load_in_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let random = "ab".repeat(32);
        std::fs::write(&a, format!("CLIENT_RANDOM {random} {}\n", "01".repeat(48))).unwrap();
        std::fs::write(
            &b,
            format!(
                "# comment\nCLIENT_RANDOM {random} {}\nCLIENT_RANDOM zz\n",
                "02".repeat(48)
            ),
        )
        .unwrap();
        let (keys, notes) = load_keylogs(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(keys.sessions(), 1);
        let lines = keys.lines_for(&[0xab; 32]);
        assert!(
            lines.contains(&"02".repeat(48)),
            "the later file wins: {lines}"
        );
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].starts_with(&format!("{}: key log line 3", b.display())),
            "{notes:?}"
        );
        let missing = dir.path().join("missing.log");
        let e = load_keylogs(&[a, missing.clone()]).unwrap_err();
        assert_eq!(e.path, missing);
        assert!(e.to_string().contains("give a readable NSS key log file"));
    }
}
