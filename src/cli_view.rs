//! `wsinspect view`: analyse a capture, then explore it in the terminal UI.

use crate::cli::AnalysisArgs;
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use wsinspect::analysis::NullSink;
use wsinspect::tui;

/// Arguments of `view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Capture file (pcap or pcapng); `-` reads standard input (keys are
    /// then read from the terminal).
    #[arg(value_name = "CAPTURE", required_unless_present = "read")]
    capture: Option<String>,
    /// Capture file, as tshark's -r.
    #[arg(
        short = 'r',
        long = "read",
        value_name = "CAPTURE",
        conflicts_with = "capture"
    )]
    read: Option<String>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// Analyses the whole capture first (the UI shows the finished model),
/// then runs the UI.
pub fn view(args: ViewArgs) -> Result<ExitCode> {
    let path = args.capture.or(args.read).unwrap_or_else(|| "-".into());
    let analysis = crate::progress::analyze_path(&path, &args.analysis.options()?, &mut NullSink)?;
    tui::run(&analysis, tui::Config::from_env())?;
    Ok(ExitCode::SUCCESS)
}
