//! `wsinspect view`: explore a capture in the terminal UI while it is
//! indexed.

use crate::cli::{AnalysisArgs, CaptureArg};
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;
use wsinspect::index::{IndexLimits, IndexWriter};
use wsinspect::pipeline::ReadCounter;
use wsinspect::tui::{self, source::Source};

/// The model budget of `view` (`--max-model-bytes` lowers it further).
const VIEW_MODEL_BYTES: u64 = 64 << 20;

/// Arguments of `view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The capture; with `-` (standard input) keys are read from the terminal.
    #[command(flatten)]
    input: CaptureArg,
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// The TUI starts with this filter in its prompt (`f` edits it).
    #[command(flatten)]
    filter: crate::cli::FilterArgs,
    /// Payload bytes the view keeps in its private temporary spill file
    /// (whole messages for the detail pane and `s`); past it, messages are
    /// listed without their payload, and the view says so.
    #[arg(long, value_name = "BYTES", default_value_t = IndexLimits::default().max_spill_bytes)]
    max_spill_bytes: u64,
}

/// Starts the analysis on a thread that writes the view's index, and runs
/// the UI over the index at once: rows appear as they are indexed. A
/// capture that cannot be opened or read fails before the UI starts.
pub fn view(args: ViewArgs) -> Result<ExitCode> {
    let path = args.input.path();
    // Checked before the capture is read: a typo fails at once.
    if args.filter.predicate()?.is_some_and(|p| p.is_old_where()) {
        anyhow::bail!(
            "the TUI takes display filters (-Y, docs/display-filter.md), not the old --where language"
        );
    }
    let mut options = args.analysis.options()?;
    // The index keeps every connection's summary; the model keeps only
    // the capture's totals, and, while connections are open, their
    // control frames and findings (the index has them too): 64 MiB of them
    // at most, so that memory does not follow the capture.
    options.drop_finished = true;
    options.limits.max_model_bytes = options.limits.max_model_bytes.min(VIEW_MODEL_BYTES);
    let counter = ReadCounter::new();
    options.progress = Some(counter.clone());
    let size = (path != "-")
        .then(|| std::fs::metadata(&path).ok().map(|m| m.len()))
        .flatten();
    let (mut writer, index) = IndexWriter::new(IndexLimits {
        max_spill_bytes: args.max_spill_bytes,
        ..IndexLimits::default()
    })?;
    let (tx, rx) = mpsc::channel();
    let thread_path = path.clone();
    std::thread::Builder::new()
        .name("view-index".into())
        .spawn(move || {
            let r = wsinspect::pipeline::analyze_path_with(&thread_path, &options, &mut writer);
            writer.finish();
            let _ = tx.send(r);
        })?;
    // Until the capture's first packet (or its end), errors are the
    // command's: a file that is no capture fails as before.
    let mut early = None;
    while index.start().is_none() {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(r) => {
                early = Some(r?);
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the analysis stopped unexpectedly")
            }
        }
    }
    let config = tui::Config {
        filter: args.filter.text().map(str::to_string),
        ..tui::Config::with_color(crate::cli::color_enabled(true))
    };
    let name = std::path::Path::new(&path)
        .file_name()
        .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
    let (source, progress) = match early {
        Some(totals) => (Source::new(index, totals), None),
        None => {
            // Totals come when the analysis ends.
            let placeholder = wsinspect::model::Analysis {
                capture: name,
                format: String::new(),
                link_type: String::new(),
                link_type_dlt: 0,
                packet_count: 0,
                start_ts: Default::default(),
                end_ts: Default::default(),
                connections: Vec::new(),
                capture_anomalies: Vec::new(),
                unsupported_tunnels: Vec::new(),
                stats: Default::default(),
            };
            (
                Source::new(index, placeholder),
                Some(tui::Progress {
                    read: (counter, size),
                    done: rx,
                }),
            )
        }
    };
    tui::run(source, progress, config)?;
    Ok(ExitCode::SUCCESS)
}
