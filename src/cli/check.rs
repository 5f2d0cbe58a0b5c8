//! `wsinspect check`: arguments and the I/O edge of the CI mode (reading
//! captures and baselines, writing baselines and reports, the environment,
//! the clock). Everything it decides on comes from `wsinspect::check`.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use wsinspect::analysis::NullSink;
use wsinspect::check::baseline::{self, DiffOptions};
use wsinspect::check::output::{self, BaselineOutcome, CaptureResult, ConnInfo};
use wsinspect::check::{Rule, Rules, evaluate};
use wsinspect::model::Analysis;
use wsinspect::pipeline;

const AFTER_HELP: &str = "\
Rules (repeat --deny to combine them):
  violations               any RFC 6455 / RFC 7692 violation
  violation=KIND[,KIND]    only these kinds (invalid_utf8, bad_close_code, masked_server_frame, ...)
  rejected-upgrade         an upgrade request answered with a status other than 101
  bad-accept               a Sec-WebSocket-Accept that does not match the key
  abnormal-close           TCP RST, or TCP closed without any close frame (1006)
  close-code=LIST          a close frame with one of these codes, e.g. close-code=1011,4000-4999
  loss                     bytes never captured (reassembly gaps, snaplen cuts)
  no-websocket             the capture holds no WebSocket connection
Without any rule and without --baseline, --deny violations is implied.

Baselines: --baseline DIR compares each capture with DIR/<capture file name>.json;
--update writes them. Ports, timestamps, mask keys and Sec-WebSocket-Key/Accept
are ignored unless --strict; --ignore packets also ignores packet numbers.

Exit status:
  0  every rule held and every baseline matched
  1  a rule failed or a baseline differs
  2  usage error, or a capture or baseline could not be read

With GITHUB_ACTIONS=true, failures are also printed as ::error annotations
(on standard error when standard output carries --format json/junit).

Examples:
  wsinspect check --deny violations --deny abnormal-close captures/*.pcap
  wsinspect check --baseline captures/expected captures/seed_echo.pcapng
  wsinspect check --baseline captures/expected --update captures/seed_echo.pcapng
  wsinspect check --deny violations --format junit --output junit.xml app.pcapng
  wsinspect check --deny violations -Y 'tcp.port == 8080' app.pcapng";

/// Arguments of `wsinspect check`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct CheckArgs {
    #[command(flatten)]
    analysis: crate::cli::AnalysisArgs,
    /// Rules and baselines see only the messages and control frames the
    /// filter selects.
    #[command(flatten)]
    filter: crate::cli::FilterArgs,
    /// Capture files (pcap or pcapng).
    #[arg(value_name = "CAPTURE", required = true)]
    captures: Vec<String>,
    /// Fail when this rule is broken (repeatable; see the list below).
    #[arg(long, value_name = "RULE")]
    deny: Vec<Rule>,
    /// Fail on a data message longer than this many bytes (after decompression).
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<u64>,
    /// Fail on an application answer later than this after its request (`500ms`, `2s`, `750us`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_latency: Option<u64>,
    /// Fail on a WebSocket connection that did not negotiate this subprotocol.
    #[arg(long, value_name = "NAME")]
    require_subprotocol: Option<String>,
    /// Fail on a WebSocket connection that did not negotiate this extension (repeatable).
    #[arg(long, value_name = "NAME")]
    require_extension: Vec<String>,
    /// Compare each capture with DIR/<capture file name>.json.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// Write (or refresh) the baselines instead of comparing.
    #[arg(long, requires = "baseline")]
    update: bool,
    /// Also compare volatile fields (ports, timestamps, mask keys, Sec-WebSocket-Key/Accept).
    #[arg(long)]
    strict: bool,
    /// Baseline fields to ignore, by name (`packets` = every packet number), comma-separated.
    #[arg(long, value_name = "FIELD", value_delimiter = ',')]
    ignore: Vec<String>,
    /// Report format on standard output (or in --output).
    #[arg(short = 'T', long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    #[command(flatten)]
    old_f: crate::cli::OldFormatShort,
    /// Write the report to this file; a text summary still goes to standard
    /// output (to standard error when FILE is `-`, standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
    Junit,
}

impl CheckArgs {
    fn rules(&self) -> Rules {
        let mut rules = self.deny.clone();
        if let Some(n) = self.max_message_size {
            rules.push(Rule::MaxMessageSize(n));
        }
        if let Some(ns) = self.max_latency {
            rules.push(Rule::MaxLatency(ns));
        }
        if let Some(s) = &self.require_subprotocol {
            rules.push(Rule::RequireSubprotocol(s.clone()));
        }
        for e in &self.require_extension {
            rules.push(Rule::RequireExtension(e.clone()));
        }
        if rules.is_empty() && self.baseline.is_none() {
            rules.push(Rule::Violations);
        }
        Rules::new(rules)
    }
}

fn connections(a: &Analysis) -> Vec<ConnInfo> {
    a.connections
        .iter()
        .map(|c| {
            let proto = serde_json::to_value(c.protocol)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let target = c
                .handshake
                .request_target
                .as_deref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            ConnInfo {
                id: c.id,
                label: format!("{} → {} ({proto}{target})", c.client, c.server),
            }
        })
        .collect()
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

fn baseline_step(a: &Analysis, file: &Path, args: &CheckArgs) -> BaselineOutcome {
    let shown = file.display().to_string();
    let err = |message: String| BaselineOutcome::Error {
        file: shown.clone(),
        message,
    };
    let actual = baseline::baseline(a);
    let opts = DiffOptions {
        strict: args.strict,
        ignore: args.ignore.clone(),
    };
    if args.update {
        let previous = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| baseline::parse(&t).ok());
        let text = baseline::to_pretty(&actual);
        if let Some(dir) = file.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return err(format!("cannot create {}: {e}", dir.display()));
        }
        if let Err(e) = std::fs::write(file, text) {
            return err(format!("cannot write: {e}"));
        }
        let changes = previous
            .as_ref()
            .map(|p| {
                baseline::diff(
                    p,
                    &actual,
                    &DiffOptions {
                        strict: true,
                        ignore: vec![],
                    },
                )
                .len()
            })
            .unwrap_or(0);
        return BaselineOutcome::Written {
            file: shown,
            created: previous.is_none(),
            changes,
        };
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return err("no baseline; create it with --update".into());
        }
        Err(e) => return err(format!("cannot read: {e}")),
    };
    let expected = match baseline::parse(&text) {
        Ok(v) => v,
        Err(e) => return err(e.to_string()),
    };
    let lines = baseline::diff(&expected, &actual, &opts);
    if lines.is_empty() {
        BaselineOutcome::Matches { file: shown }
    } else {
        BaselineOutcome::Differs { file: shown, lines }
    }
}

fn check_one(
    path: &str,
    rules: &Rules,
    args: &CheckArgs,
    filter: Option<&wsinspect::query::Predicate>,
) -> CaptureResult {
    let started = Instant::now();
    let name = file_name(path);
    let mut result = CaptureResult {
        path: path.to_string(),
        name: name.clone(),
        error: None,
        connections: vec![],
        findings: vec![],
        baseline: BaselineOutcome::NotChecked,
        seconds: 0.0,
    };
    let opts = match args.analysis.options() {
        Ok(o) => o,
        Err(e) => {
            result.error = Some(format!("{e:#}"));
            return result;
        }
    };
    let (bar, opts) = crate::cli::progress::with_bar(path, &opts);
    let analysed = pipeline::analyze_path_with(path, &opts, &mut NullSink);
    drop(bar);
    match analysed {
        Err(e) => result.error = Some(e.to_string()),
        Ok(mut a) => {
            if let Some(f) = filter {
                f.apply(&mut a);
            }
            result.connections = connections(&a);
            result.findings = evaluate(&a, rules);
            if let Some(dir) = &args.baseline {
                result.baseline = baseline_step(&a, &dir.join(format!("{name}.json")), args);
            }
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// ISO 8601 UTC without a zone (`2026-11-25T14:46:00`), as JUnit wants it.
fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn write_report(
    format: CheckFormat,
    results: &[CaptureResult],
    rules: &[Rule],
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut out = out;
    match format {
        CheckFormat::Text => output::write_text_styled(results, rules, color, &mut out),
        CheckFormat::Json => output::write_json(results, rules, &mut out),
        CheckFormat::Junit => output::write_junit(results, &now_iso(), &mut out),
    }
}

/// Runs `wsinspect check` and maps the results to the exit status.
pub fn run(args: CheckArgs) -> Result<ExitCode> {
    if let Err(e) = args.old_f.check() {
        eprintln!("wsinspect check: error: {e:#}");
        return Ok(ExitCode::from(output::EXIT_ERROR));
    }
    let rules = args.rules();
    let filter = match args.filter.predicate() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("wsinspect check: error: {e:#}");
            return Ok(ExitCode::from(output::EXIT_ERROR));
        }
    };
    if let Some(bad) = args.ignore.iter().find(|f| !baseline::is_known_field(f)) {
        eprintln!(
            "wsinspect check: error: --ignore {bad}: no such baseline field (known: packets, {})",
            baseline::known_fields().join(", ")
        );
        return Ok(ExitCode::from(output::EXIT_ERROR));
    }
    if args.baseline.is_some() {
        // Baselines are keyed by file name: two captures with one name
        // would share (and overwrite) one baseline.
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for p in &args.captures {
            if p == "-" {
                eprintln!(
                    "wsinspect check: error: --baseline needs capture files, not standard input"
                );
                return Ok(ExitCode::from(output::EXIT_ERROR));
            }
            if let Some(first) = seen.insert(file_name(p), p) {
                eprintln!(
                    "wsinspect check: error: {first} and {p} have the same file name and would share one baseline"
                );
                return Ok(ExitCode::from(output::EXIT_ERROR));
            }
        }
    }
    let results: Vec<CaptureResult> = args
        .captures
        .iter()
        .map(|p| check_one(p, &rules, &args, filter.as_ref()))
        .collect();

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let stdout_is_document = args.output.is_none() && args.format != CheckFormat::Text;
    let stdout_color = crate::cli::color_enabled(std::io::stdout().is_terminal());
    match &args.output {
        Some(path) if crate::cli::is_stdout(path) => {
            write_report(args.format, &results, &rules.rules, false, &mut out)?;
            let color = crate::cli::color_enabled(std::io::stderr().is_terminal());
            let mut err = std::io::stderr().lock();
            output::write_text_styled(&results, &rules.rules, color, &mut err)?;
        }
        Some(path) => {
            let mut f = BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            );
            write_report(args.format, &results, &rules.rules, false, &mut f)?;
            f.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            output::write_text_styled(&results, &rules.rules, stdout_color, &mut out)?;
        }
        None => write_report(args.format, &results, &rules.rules, stdout_color, &mut out)?,
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        if stdout_is_document {
            output::write_github(&results, &mut std::io::stderr().lock())?;
        } else {
            output::write_github(&results, &mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::from(output::exit_code(&results)))
}

/// `--max-latency`: a number with `ns`, `us`, `ms` (the default) or `s`, in
/// nanoseconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "ms"),
    };
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}`: use ns, us, ms or s"
            ));
        }
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 500ms"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("`{s}` is not a duration like 500ms"));
    }
    Ok((v * scale).round() as u64)
}
