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
}

/// Analyses the whole capture first (the UI shows the finished model),
/// then runs the UI.
pub fn view(args: ViewArgs) -> Result<ExitCode> {
    let path = args.input.path();
    let analysis = crate::progress::analyze_path(&path, &args.analysis.options()?, &mut NullSink)?;
    tui::run(&analysis, tui::Config::from_env())?;
    Ok(ExitCode::SUCCESS)
}
