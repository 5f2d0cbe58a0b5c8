//! Command-line interface (clap derive) and the wiring of each subcommand.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline;
use wsinspect::report::{self, ndjson::NdjsonSink};
use wsinspect::ws::message::WsLimits;

mod check;
mod live;
mod meta;
mod parquet;
mod payload;
mod progress;
mod view;

/// WebSocket traffic inspector for pcap/pcapng captures.
#[derive(Debug, Parser)]
#[command(name = "wsinspect", version, about, long_about = None, after_help = TOP_HELP)]
pub struct Cli {
    /// When to colour the output (the TUI, `check`'s pass/FAIL): `auto`
    /// colours a terminal unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    color: ColorArg,
    #[command(subcommand)]
    command: Command,
}

/// `--color`, as ripgrep, bat and hyperfine take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

/// The `--color` given, for [`color_enabled`].
static COLOR: std::sync::OnceLock<ColorArg> = std::sync::OnceLock::new();

/// Whether to colour output going to a stream that is (`tty`) or is not a
/// terminal: `--color always|never` decide; `auto` follows
/// <https://no-color.org> (NO_COLOR non-empty: never), then
/// CLICOLOR_FORCE (set and not `0`: always), then the terminal.
pub(crate) fn color_enabled(tty: bool) -> bool {
    let nonempty = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
    match COLOR.get().copied().unwrap_or(ColorArg::Auto) {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => false,
        ColorArg::Auto => nonempty("CLICOLOR_FORCE") || tty,
    }
}

const TOP_HELP: &str = "\
Exit status:
  0  the command ran (also when a reader such as `| head` went away early)
  1  `wsinspect check`: a rule failed or a baseline differs
  2  error: bad usage, an unreadable capture, a failed write

Examples:
  wsinspect report captures/seed_echo.pcapng
  wsinspect report -r capture.pcap -T json > report.json
  wsinspect view -Y 'websocket.opcode == 1' capture.pcap
  wsinspect check --deny violations captures/*.pcap
  sudo wsinspect live -i lo -f 'tcp port 9002'
  wsinspect live -D";

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse a capture and print a report (text, JSON or NDJSON).
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Write messages (files, NDJSON), an FLV stream (.flv) or the chosen
    /// connections' packets (pcapng).
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(crate::cli::payload::ExportArgs),
    /// Message rates, size histograms, ping→pong RTT and handshake timings.
    #[command(after_help = STATS_EXAMPLES)]
    Stats(crate::cli::payload::StatsArgs),
    /// What the payloads carry: FLV streams (tags, codecs, onMetaData,
    /// bitrate, frame rate, drift, stalls) and JSON messages (--where).
    #[command(after_help = PAYLOAD_EXAMPLES)]
    Payload(crate::cli::payload::PayloadArgs),
    /// Check captures against rules and baselines (CI mode).
    ///
    /// Exit status: 0 all is well, 1 a rule failed or a baseline differs,
    /// 2 usage error or unreadable input.
    Check(crate::cli::check::CheckArgs),
    /// Explore a capture interactively: connections, timeline, frame detail.
    #[command(after_help = VIEW_EXAMPLES)]
    View(crate::cli::view::ViewArgs),
    /// Capture from a network interface and report as it happens (Linux; root or CAP_NET_RAW).
    ///
    /// On a terminal the timeline of `view` updates in place (q stops);
    /// piped, events are printed as text lines.
    #[command(after_help = LIVE_EXAMPLES)]
    Live(live::LiveArgs),
    /// Export captures as Parquet tables (connections, messages,
    /// control_frames, violations, anomalies, tls, captures) for DuckDB or
    /// Spark; see docs/columnar.md.
    #[command(after_help = EXPORT_PARQUET_EXAMPLES)]
    ExportParquet(crate::cli::parquet::ExportParquetArgs),
    /// Print a shell completion script (bash, zsh or fish) to standard output.
    #[command(after_help = crate::cli::meta::COMPLETIONS_EXAMPLES)]
    Completions(crate::cli::meta::CompletionsArgs),
    /// Print the man page (roff) to standard output.
    #[command(after_help = crate::cli::meta::MAN_EXAMPLES)]
    Man(crate::cli::meta::ManArgs),
    /// Print the JSON Schema of a JSON or NDJSON output (report, ndjson,
    /// stats, check, baseline, payload, messages; the files in docs/schema/).
    #[command(after_help = crate::cli::meta::SCHEMA_EXAMPLES)]
    Schema(crate::cli::meta::SchemaArgs),
}

const REPORT_EXAMPLES: &str = "\
Examples:
  wsinspect report captures/seed_echo.pcapng
  wsinspect report -r capture.pcap -T json > report.json
  wsinspect report --keylog captures/wss_tls13.keylog captures/wss_tls13.pcapng
  wsinspect report -Y 'websocket.opcode == 1 && websocket.payload.text contains \"error\"' capture.pcap
  tcpdump -i lo -w - port 9002 | wsinspect report --format ndjson -";

const VIEW_EXAMPLES: &str = "\
Examples:
  wsinspect view captures/seed_echo.pcapng
  NO_COLOR=1 wsinspect view -r capture.pcap
  wsinspect view -Y 'tcp.stream == 3 && ws.dir == \"s2c\"' capture.pcap";

const LIVE_EXAMPLES: &str = "\
Examples:
  sudo wsinspect live -i lo -f \"tcp port 9002\"
  wsinspect live -D
  sudo wsinspect live -i lo -T text tcp port 9002 | tee events.txt
  sudo wsinspect live -i any -T ndjson -w session.pcapng tcp port 443
  sudo wsinspect live -i eth0 -p -w - 'tcp portrange 9000-9010' | wireshark -k -i -
  sudo wsinspect live -i lo -Y 'websocket.payload.close.status_code != 1000' tcp port 9002";

const EXPORT_PARQUET_EXAMPLES: &str = "\
Examples:
  wsinspect export-parquet out/ captures/*.pcap* --keylog-beside

Then, for instance:
  duckdb -c \"select count(*) from 'out/messages/*.parquet'\"";

const EXPORT_EXAMPLES: &str = "\
Examples:
  wsinspect export --conn 1 --dir s2c --flv out.flv captures/flv_stream.pcap
  wsinspect export --conn 3 --ndjson - capture.pcap
  wsinspect export --conn 2 --pcapng repro.pcapng capture.pcapng
  wsinspect export --conn 2 --pcapng - -r capture.pcapng | wireshark -k -i -
  wsinspect export -Y 'json.type == \"chat\"' --ndjson chat.ndjson capture.pcap";

const STATS_EXAMPLES: &str = "\
Examples:
  wsinspect stats captures/ping_pong.pcap
  wsinspect stats -T json -r captures/many_conns.pcap > stats.json
  wsinspect stats -Y 'ip.addr == 10.0.0.0/8' capture.pcap";

const PAYLOAD_EXAMPLES: &str = "\
Examples:
  wsinspect payload captures/flv_stream.pcap
  wsinspect payload -Y 'json.type == \"chat\" && ws.dir == \"s2c\"' capture.pcap";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Ndjson,
}

#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
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
    /// Nested encapsulation layers (tunnels, VLAN tags, MPLS labels) followed per packet; deeper packets are counted as unsupported.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_tunnel_depth)]
    max_tunnel_depth: usize,
    /// Application protocol in the WebSocket messages: `auto` (from the subprotocol, the request target, then the content), `none`, or one of socket.io, mqtt, stomp, graphql-transport-ws, graphql-ws, json-rpc, ocpp, signalr, phoenix, wamp, action-cable.
    #[arg(long, value_name = "PROTOCOL", default_value = "auto", value_parser = parse_app)]
    app: wsinspect::app::AppChoice,
}

/// `--app`: `auto`, `none` or a protocol's name.
fn parse_app(s: &str) -> Result<wsinspect::app::AppChoice, String> {
    use wsinspect::app::{AppChoice, AppProtocol};
    match s {
        "auto" => Ok(AppChoice::Auto),
        "none" => Ok(AppChoice::None),
        _ => AppProtocol::from_name(s)
            .map(AppChoice::Forced)
            .ok_or_else(|| {
                let names: Vec<&str> = AppProtocol::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown application protocol `{s}`; give auto, none or one of {}",
                    names.join(", ")
                )
            }),
    }
}

/// The capture to read, as a positional argument or tshark's `-r`.
#[derive(Debug, Args)]
pub(crate) struct CaptureArg {
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
}

impl CaptureArg {
    /// The path given either way (`-` when neither: standard input).
    pub(crate) fn path(&self) -> String {
        self.capture
            .clone()
            .or_else(|| self.read.clone())
            .unwrap_or_else(|| "-".into())
    }
}

/// Options shared by every subcommand that analyses a capture.
#[derive(Debug, Args)]
pub(crate) struct AnalysisArgs {
    /// TLS key log (NSS format, as SSLKEYLOGFILE writes) to decrypt wss
    /// connections; repeat to merge several. Defaults to $SSLKEYLOGFILE when
    /// set. Keys in pcapng Decryption Secrets Blocks are used too.
    #[arg(long, value_name = "FILE")]
    keylog: Vec<std::path::PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

impl AnalysisArgs {
    /// Validated options; bad key log lines are warned about (with their
    /// line numbers) and kept as capture anomalies.
    pub fn options(&self) -> Result<pipeline::Options> {
        let mut opts = pipeline::Options::with_limits(self.limits.limits());
        let mut paths = self.keylog.clone();
        if paths.is_empty() {
            paths.extend(std::env::var_os("SSLKEYLOGFILE").map(std::path::PathBuf::from));
        }
        if !paths.is_empty() {
            let (keylog, notes) = pipeline::load_keylogs(&paths)?;
            for note in notes {
                eprintln!("wsinspect: warning: {note}");
                opts.notes.push(note);
            }
            opts.keylog = Some(Arc::new(keylog));
        }
        Ok(opts)
    }
}

impl LimitArgs {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_ooo_bytes_per_dir: self.max_ooo_bytes,
            max_header_bytes: self.max_header_bytes,
            max_live_flows: self.max_flows.max(1),
            ws: WsLimits {
                max_text_bytes: self.max_text_bytes,
                max_inflated_bytes: self.max_inflated,
                max_inflate_ratio: self.max_inflate_ratio,
                ..WsLimits::default()
            },
            max_buffered_total: self.max_buffered_total,
            max_model_bytes: self.max_model_bytes,
            max_tunnel_depth: self.max_tunnel_depth,
            app: self.app,
        }
    }
}

#[derive(Debug, Args)]
struct ReportArgs {
    #[command(flatten)]
    input: CaptureArg,
    /// Output format.
    #[arg(short = 'T', long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    #[command(flatten)]
    old_f: OldFormatShort,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    filter: FilterArgs,
}

/// `-Y/--display-filter` (and its alias `--where`), shared by every
/// subcommand that shows or writes messages.
#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// Display filter, in Wireshark's language: keep only the messages and
    /// control frames it selects, e.g. -Y 'websocket.opcode == 1 &&
    /// websocket.payload.text contains "error"' (fields and operators:
    /// docs/display-filter.md).
    #[arg(short = 'Y', long = "display-filter", value_name = "EXPR")]
    display_filter: Option<String>,
    /// Alias of -Y that also takes the old --where language
    /// ('dir == "s2c" and len > 10').
    #[arg(long = "where", value_name = "EXPR", conflicts_with = "display_filter")]
    where_: Option<String>,
}

impl FilterArgs {
    /// The filter given, compiled; the error shows a caret under the
    /// offending characters.
    pub(crate) fn predicate(&self) -> Result<Option<wsinspect::query::Predicate>> {
        use wsinspect::query::Predicate;
        if let Some(src) = &self.display_filter {
            return Predicate::display(src)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("-Y: {e}"));
        }
        let Some(src) = &self.where_ else {
            return Ok(None);
        };
        let p = Predicate::display_or_where(src).map_err(|e| anyhow::anyhow!("--where: {e}"))?;
        if p.is_old_where() {
            eprintln!(
                "wsinspect: note: --where {src:?} is read in the old --where language; -Y takes Wireshark's (docs/display-filter.md)"
            );
        }
        Ok(Some(p))
    }

    /// The expression as given, if any.
    pub(crate) fn text(&self) -> Option<&str> {
        self.display_filter.as_deref().or(self.where_.as_deref())
    }
}

/// `-f`, which meant `--format` before `-T` did: refused with a pointer
/// rather than silently taking a new meaning (in tcpdump, dumpcap and tshark
/// `-f` is the capture filter, which only `live` has).
#[derive(Debug, Args)]
pub(crate) struct OldFormatShort {
    #[arg(short = 'f', hide = true, value_name = "FORMAT")]
    old_f: Option<String>,
}

impl OldFormatShort {
    pub(crate) fn check(&self) -> Result<()> {
        match &self.old_f {
            Some(v) => anyhow::bail!(
                "-f is the capture filter (of `wsinspect live`, as in tcpdump and tshark); the output format is -T/--format: use -T {v}"
            ),
            None => Ok(()),
        }
    }
}

/// Where a file output goes: a path, or standard output for `-`.
pub(crate) fn is_stdout(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// A file output for messages: its path, or "standard output" for `-`.
pub(crate) fn out_name(path: &std::path::Path) -> String {
    if is_stdout(path) {
        "standard output".into()
    } else {
        path.display().to_string()
    }
}

/// Refuses binary output (`pcapng`, `flv`) to standard output when it is a
/// terminal, where it would only garble the screen.
pub(crate) fn refuse_binary_to_tty(what: &str, flag: &str) -> Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        anyhow::bail!(
            "refusing to write {what} to a terminal ({flag} -); redirect or pipe standard output, e.g. `| wireshark -k -i -` or `> out`"
        );
    }
    Ok(())
}

/// Opens a file output: standard output for `-` (binary: not on a
/// terminal), otherwise a new file.
pub(crate) fn create_output(
    path: &std::path::Path,
    binary: Option<(&str, &str)>,
) -> Result<Box<dyn Write + Send>> {
    if is_stdout(path) {
        if let Some((what, flag)) = binary {
            refuse_binary_to_tty(what, flag)?;
        }
        return Ok(Box::new(std::io::stdout()));
    }
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(f))
}

/// Parses the arguments and runs the subcommand.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let _ = COLOR.set(cli.color);
    match cli.command {
        Command::Report(args) => report(args),
        Command::Export(args) => crate::cli::payload::export(args),
        Command::Stats(args) => crate::cli::payload::stats(args),
        Command::Payload(args) => crate::cli::payload::payload(args),
        Command::Check(args) => crate::cli::check::run(args),
        Command::View(args) => crate::cli::view::view(args),
        Command::Live(args) => live::run(args),
        Command::ExportParquet(args) => crate::cli::parquet::export_parquet(args),
        Command::Completions(args) => crate::cli::meta::completions(args),
        Command::Man(args) => crate::cli::meta::man(args),
        Command::Schema(args) => crate::cli::meta::schema(args),
    }
}

fn report(args: ReportArgs) -> Result<ExitCode> {
    args.old_f.check()?;
    let path = args.input.path();
    let opts = args.analysis.options()?;
    let filter = args.filter.predicate()?;
    // Locked per format: the NDJSON writer thread takes standard output
    // itself, and would wait forever on a lock held here.
    let locked_stdout = || BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match args.format {
        FormatArg::Ndjson => {
            // Lines are serialized and written on a second thread; each
            // connection is written when it ends, and then let go.
            let mut sink = NdjsonSink::threaded(std::io::stdout());
            let mut opts = pipeline::Options {
                drop_finished: true,
                ..opts
            };
            // The writer thread hashes when it keeps up; a filter may test
            // digests first.
            opts.limits.ws.defer_digest = filter.is_none();
            let analysis = match filter {
                Some(f) => {
                    let mut w = wsinspect::query::WhereSink::new(&mut sink, f);
                    crate::cli::progress::analyze_path(&path, &opts, &mut w)?
                }
                None => crate::cli::progress::analyze_path(&path, &opts, &mut sink)?,
            };
            sink.finish(&analysis);
            if let Some(e) = sink.error.take() {
                return Err(e).context("writing the report");
            }
        }
        FormatArg::Json if filter.is_none() => {
            // Messages are parked on disk as they complete (bounded memory).
            let mut spill = report::spill::MessageSpill::new();
            let mut opts = opts;
            // Hashed by the spill thread when it keeps up (or at the end,
            // with no spill file).
            opts.limits.ws.defer_digest = true;
            // Finished connections are parked too: memory does not grow
            // with their number.
            opts.drop_finished = spill.is_active();
            let analysis = pipeline::analyze_path_with(&path, &opts, &mut spill)?;
            let mut out = locked_stdout();
            report::spill::write_spilled(analysis, spill, &mut out)?;
            out.flush()?;
        }
        FormatArg::Json | FormatArg::Text => {
            let mut analysis = crate::cli::progress::analyze_path(&path, &opts, &mut NullSink)?;
            if let Some(f) = &filter {
                f.apply(&mut analysis);
            }
            let mut out = locked_stdout();
            if matches!(args.format, FormatArg::Json) {
                report::json::write(&analysis, &mut out)?;
            } else {
                report::text::write(&analysis, &mut out)?;
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
