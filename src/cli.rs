//! Command-line interface (clap derive) and the wiring of each subcommand.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline;
use wsinspect::report::{self, ndjson::NdjsonSink};
use wsinspect::ws::message::WsLimits;

/// WebSocket traffic inspector for pcap/pcapng captures.
#[derive(Debug, Parser)]
#[command(name = "wsinspect", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse a capture and print a report (text, JSON or NDJSON).
    ///
    /// Examples:
    ///   wsinspect report captures/seed_echo.pcapng
    ///   wsinspect report --format json capture.pcap > report.json
    ///   tcpdump -w - -i lo port 9002 | wsinspect report --format ndjson -
    Report(ReportArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Ndjson,
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// Out-of-order bytes buffered per TCP direction before a hole is declared lost.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_ooo_bytes_per_dir)]
    max_ooo_bytes: u64,
    /// Largest HTTP header block accepted.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Text kept per message in the report.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().ws.max_text_bytes)]
    max_text_bytes: usize,
    /// Decompressed bytes per message before inflating stops (deflate-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().ws.max_inflated_bytes)]
    max_inflated: u64,
    /// TCP connections tracked at once; the idlest is finished early beyond it.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_live_flows)]
    max_flows: usize,
    /// Out-of-order bytes buffered across all connections together.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_buffered_total)]
    max_buffered_total: u64,
    /// Decompressed:compressed ratio past 1 MiB that stops inflating a message (0 = off).
    #[arg(long, value_name = "N", default_value_t = Limits::default().ws.max_inflate_ratio)]
    max_inflate_ratio: u64,
    /// Approximate memory for the records kept in the report (a quarter per connection); later ones are counted only.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_model_bytes)]
    max_model_bytes: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_ooo_bytes_per_dir: self.max_ooo_bytes,
            max_header_bytes: self.max_header_bytes,
            max_live_flows: self.max_flows.max(1),
            ws: WsLimits {
                max_text_bytes: self.max_text_bytes,
                max_inflated_bytes: self.max_inflated,
                max_inflate_ratio: self.max_inflate_ratio,
            },
            max_buffered_total: self.max_buffered_total,
            max_model_bytes: self.max_model_bytes,
        }
    }
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Capture file (pcap or pcapng); `-` reads standard input.
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
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Parses the arguments and runs the subcommand.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Report(args) => report(args),
    }
}

fn report(args: ReportArgs) -> Result<ExitCode> {
    let path = args.capture.or(args.read).unwrap_or_else(|| "-".into());
    let limits = args.limits.limits();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        FormatArg::Ndjson => {
            let mut sink = NdjsonSink::new(&mut out);
            let analysis = pipeline::analyze_path(&path, limits, &mut sink)?;
            sink.finish(&analysis);
            if let Some(e) = sink.error.take() {
                return Err(e).context("writing the report");
            }
        }
        FormatArg::Json | FormatArg::Text => {
            let analysis = pipeline::analyze_path(&path, limits, &mut NullSink)?;
            if matches!(args.format, FormatArg::Json) {
                report::json::write(&analysis, &mut out)?;
            } else {
                report::text::write(&analysis, &mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
