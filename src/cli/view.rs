//! `wsinspect view`: analyse a capture, then explore it in the terminal UI.

use crate::cli::{AnalysisArgs, CaptureArg};
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use wsinspect::analysis::NullSink;
use wsinspect::tui;

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
}

/// Analyses the whole capture first (the UI shows the finished model),
/// then runs the UI.
pub fn view(args: ViewArgs) -> Result<ExitCode> {
    let path = args.input.path();
    // Checked before the capture is read: a typo fails at once.
    if args.filter.predicate()?.is_some_and(|p| p.is_old_where()) {
        anyhow::bail!(
            "the TUI takes display filters (-Y, docs/display-filter.md), not the old --where language"
        );
    }
    let analysis =
        crate::cli::progress::analyze_path(&path, &args.analysis.options()?, &mut NullSink)?;
    let config = tui::Config {
        filter: args.filter.text().map(str::to_string),
        ..tui::Config::with_color(crate::cli::color_enabled(true))
    };
    tui::run(&analysis, config)?;
    Ok(ExitCode::SUCCESS)
}
