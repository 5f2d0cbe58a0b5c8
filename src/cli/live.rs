//! `wsinspect live`: capture from an interface and report as it happens.

use super::AnalysisArgs;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use std::io::{BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wsinspect::analysis::{Consumer, Event, NullSink, Wants};
use wsinspect::index::{IndexLimits, IndexWriter};
use wsinspect::live::bpf::Filter;
use wsinspect::live::{
    self, DEFAULT_SNAPLEN, Drops, FilterMode, LiveConfig, LiveSession, LiveSource, RunControl,
    SessionOptions, StopReason,
};
use wsinspect::model::Analysis;
use wsinspect::report::{self, live_text::TextSink, ndjson::NdjsonSink};
use wsinspect::tui::{self, LiveUpdate};

/// Output of `wsinspect live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LiveFormat {
    /// The interactive timeline of `wsinspect view`, updating in place.
    Tui,
    /// One line per event, as it happens.
    Text,
    /// NDJSON events, as they happen.
    Ndjson,
    /// One JSON document when the capture stops.
    Json,
}

/// Arguments of `wsinspect live`.
#[derive(Debug, Args)]
pub(super) struct LiveArgs {
    /// Interface to capture on: a name such as `eth0` or `lo`, or `any`
    /// (`-D` lists them).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        required_unless_present = "list_interfaces"
    )]
    iface: Option<String>,
    /// List the interfaces a capture can open (index, name, up or down,
    /// link type) and exit, as `tcpdump -D`.
    #[arg(short = 'D', long = "list-interfaces")]
    list_interfaces: bool,
    /// Do not put the interface in promiscuous mode (by default it is,
    /// as with tcpdump; `any` never is).
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    no_promiscuous: bool,
    /// Capture filter, a subset of pcap-filter(7): `host`, `net`, `port`,
    /// `portrange` (service names such as `http` too) with `src`/`dst` and
    /// `ip`/`ip6`/`tcp`/`udp`, `vlan [ID]`, joined by `and`/`or`/`not` and
    /// parentheses (e.g. "tcp port 9002"; docs/live.md).
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    filter: Option<String>,
    /// The filter may also follow the options, as with tcpdump.
    #[arg(
        value_name = "FILTER",
        conflicts_with = "filter",
        trailing_var_arg = true
    )]
    filter_words: Vec<String>,
    /// Display filter (Wireshark's language, as in `report -Y`): only the
    /// messages and control frames it selects are shown; -w still saves
    /// every packet.
    #[command(flatten)]
    display: crate::cli::FilterArgs,
    /// Output: the interactive timeline updating in place (the default
    /// when standard output is a terminal), text lines as events happen
    /// (the default otherwise), NDJSON events as they happen, or one JSON
    /// document when the capture stops.
    #[arg(short = 'T', long, value_enum)]
    format: Option<LiveFormat>,
    /// Also save every captured packet to FILE (pcapng), readable with
    /// `wsinspect report` and Wireshark. `-` is standard output (not a
    /// terminal); the events then go to standard error.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    /// Stop after N packets.
    #[arg(short = 'c', long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Bytes kept of each packet.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = DEFAULT_SNAPLEN)]
    snaplen: u32,
    /// Kernel receive buffer, in KiB (larger means fewer drops in bursts).
    #[arg(
        short = 'B',
        long = "buffer-size",
        value_name = "KIB",
        default_value_t = 4096
    )]
    buffer_kib: usize,
    /// Once the capture socket is open, switch to this user (when run as
    /// root) and give up every capability, as `tcpdump -Z` does: the
    /// parsing of untrusted traffic never runs privileged. The `-w` file
    /// and the key log are opened before.
    #[arg(
        short = 'Z',
        long = "user",
        value_name = "USER",
        default_value = "nobody"
    )]
    user: String,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// Sets `stop` when the wrapped sink breaks (its output failed, e.g.
/// `| head` closed the pipe), so the capture ends instead of running on
/// unseen.
struct StopOnError<'a, S> {
    inner: S,
    stop: &'a AtomicBool,
}

impl<S: Consumer> Consumer for StopOnError<'_, S> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        let flow = self.inner.event(ev);
        if flow.is_break() {
            self.stop.store(true, Ordering::Relaxed);
        }
        flow
    }

    fn wants(&self) -> Wants {
        self.inner.wants()
    }

    fn idle(&mut self) {
        self.inner.idle()
    }
}

/// Runs a live capture.
pub(super) fn run(args: LiveArgs) -> Result<ExitCode> {
    if args.list_interfaces {
        return list_interfaces();
    }
    let iface = args.iface.clone().unwrap_or_default();
    let write_stdout = args.write.as_deref().is_some_and(super::is_stdout);
    // With `-w -` the packets own standard output; the events go to
    // standard error (and never to the TUI).
    let tty = !write_stdout && std::io::stdout().is_terminal();
    let format = match args.format {
        Some(LiveFormat::Tui) if !tty => {
            bail!("--format tui needs a terminal; use --format text or ndjson to pipe the output")
        }
        Some(f) => f,
        None if tty => LiveFormat::Tui,
        None => LiveFormat::Text,
    };
    let expr = match (&args.filter, args.filter_words.is_empty()) {
        (Some(f), _) => Some(f.clone()),
        (None, false) => Some(args.filter_words.join(" ")),
        (None, true) => None,
    };
    // With libpcap, libpcap's own compiler reads the expression (the whole
    // tcpdump language) when the interface opens.
    let filter = if cfg!(feature = "libpcap") {
        None
    } else {
        expr.as_deref().map(Filter::parse).transpose()?
    };
    let display = args.display.predicate()?;
    if format == LiveFormat::Tui && display.as_ref().is_some_and(|p| p.is_old_where()) {
        bail!(
            "the TUI takes display filters (-Y, docs/display-filter.md), not the old --where language"
        );
    }
    let duration = match args.duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--duration must be a positive number of seconds, not {s}"),
        None => None,
    };
    let mut cfg = LiveConfig::new(&iface);
    cfg.promiscuous = !args.no_promiscuous;
    cfg.filter = filter;
    cfg.expression = expr.clone();
    cfg.snaplen = args.snaplen;
    cfg.kernel_buffer = args.buffer_kib.saturating_mul(1024);
    cfg.drop_to = Some(args.user.clone());

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C exits at once; the first stops cleanly.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .context("installing the signal handler")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing the signal handler")?;
    }

    let save: Option<Box<dyn Write + Send>> = match &args.write {
        Some(p) => {
            let f = super::create_output(p, Some(("pcapng", "-w")))?;
            Some(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
        None => None,
    };
    // Files are opened while still privileged (the key log may be root's).
    let analysis = args.analysis.options()?;
    let mut source = LiveSource::start(&cfg)?;
    if let Some(dropped) = source.privileges() {
        eprintln!("wsinspect: {dropped}");
    }
    let filter_note = match (source.filter_mode(), &expr) {
        (FilterMode::Kernel { instructions }, Some(e)) => {
            format!(", filter {e:?} in the kernel ({instructions} BPF instructions)")
        }
        (FilterMode::UserSpace { reason }, Some(e)) => {
            format!(", filter {e:?} in user space ({reason})")
        }
        _ => String::new(),
    };
    eprintln!(
        "wsinspect: listening on {iface} ({}{}), snapshot length {} bytes{filter_note}; {} stops",
        source.link_type(),
        if source.promiscuous() {
            ", promiscuous"
        } else {
            ""
        },
        source.snaplen(),
        if format == LiveFormat::Tui {
            "q"
        } else {
            "Ctrl-C"
        }
    );

    let opts = SessionOptions {
        limits: analysis.limits,
        keylog: analysis.keylog,
        // JSON prints the whole model at the end, so it keeps everything;
        // the TUI reads the index its events fill, and keeps only
        // summaries of finished connections (for the closing headline).
        evict_finished: format != LiveFormat::Json,
        ..SessionOptions::default()
    };
    let ctl = RunControl {
        stop: stop.clone(),
        count: args.count,
        duration,
    };
    let link = source.link_type();
    let snaplen = source.snaplen();
    let loopback = iface == "lo" || iface == "any";
    let mut warned = Drops::default();
    let mut on_tick = |s: &LiveSession<'_>| {
        let d = s.drops();
        if d.kernel > warned.kernel || d.own > warned.own {
            eprintln!(
                "wsinspect: packets dropped so far: {} by the kernel, {} by wsinspect",
                d.kernel, d.own
            );
            warned = d;
        }
    };
    let stdout = std::io::stdout();
    let (reason, analysis) = match format {
        LiveFormat::Tui => {
            let (tx, rx) = mpsc::channel();
            let iface = iface.as_str();
            // The view's index, filled by the capture thread's analyzer:
            // rows and records as they happen, no model copies (issue 18).
            let (mut writer, index) = IndexWriter::new(IndexLimits::default())?;
            let (reason, analysis, drops) = std::thread::scope(|scope| -> Result<_> {
                let capture = scope.spawn(|| -> Result<(StopReason, Analysis, Drops)> {
                    let tx = tx;
                    let save = save.map(|w| w as Box<dyn Write>);
                    let mut session =
                        LiveSession::new(iface, link, snaplen, opts, save, &mut writer)?;
                    let _ = tx.send(LiveUpdate::Totals(session.totals(), Drops::default()));
                    let mut sent = (0, Drops::default(), Instant::now());
                    let reason = live::run(&mut source, &mut session, &ctl, &mut |s| {
                        // Totals when something changed, or every second
                        // (connections finish on ticks, without new
                        // packets); the rows go through the index.
                        if (s.packets(), s.drops()) != (sent.0, sent.1)
                            || sent.2.elapsed() >= Duration::from_secs(1)
                        {
                            let _ = tx.send(LiveUpdate::Totals(s.totals(), s.drops()));
                            sent = (s.packets(), s.drops(), Instant::now());
                        }
                    });
                    let (reason, analysis, drops) = finish(reason, source, session)?;
                    writer.finish();
                    let _ = tx.send(LiveUpdate::Stopped(
                        wsinspect::model::Analysis {
                            connections: Vec::new(),
                            ..analysis.clone()
                        },
                        drops,
                        why(reason).to_string(),
                    ));
                    Ok((reason, analysis, drops))
                });
                let config = tui::Config {
                    filter: args.display.text().map(str::to_string),
                    ..tui::Config::with_color(crate::cli::color_enabled(true))
                };
                let ui = tui::run_live(index, rx, &stop, config);
                // However the UI ended, the capture stops (and flushes -w).
                stop.store(true, Ordering::Relaxed);
                let captured = capture
                    .join()
                    .map_err(|_| anyhow!("the capture thread panicked"))?;
                ui.context("terminal UI")?;
                captured
            })?;
            print_drops(drops, loopback);
            let mut out = stdout.lock();
            wsinspect::report::text::headline(&analysis, "live", &mut out)?;
            out.flush()?;
            (reason, analysis)
        }
        headless => {
            // The formats that write as the capture goes (or at its end)
            // run the session on this thread, with their own sink.
            let capture = |sink: &mut dyn Consumer| -> Result<(StopReason, Analysis)> {
                let mut filtered;
                let sink: &mut dyn Consumer = match &display {
                    Some(f) => {
                        filtered = wsinspect::query::WhereSink::new(sink, f.clone());
                        &mut filtered
                    }
                    None => sink,
                };
                let save = save.map(|w| w as Box<dyn Write>);
                let mut session = LiveSession::new(&iface, link, snaplen, opts, save, sink)?;
                let reason = live::run(&mut source, &mut session, &ctl, &mut on_tick);
                let (reason, analysis, drops) = finish(reason, source, session)?;
                print_drops(drops, loopback);
                Ok((reason, analysis))
            };
            match headless {
                LiveFormat::Ndjson => {
                    let mut sink = StopOnError {
                        inner: NdjsonSink::new(events_out(write_stdout)),
                        stop: &stop,
                    };
                    let (reason, analysis) = capture(&mut sink)?;
                    sink.inner.finish(&analysis);
                    if let Some(e) = sink.inner.error.take() {
                        return Err(e).context("writing the events");
                    }
                    (reason, analysis)
                }
                LiveFormat::Text => {
                    let mut sink = StopOnError {
                        inner: TextSink::new(events_out(write_stdout), live::now()),
                        stop: &stop,
                    };
                    let (reason, analysis) = capture(&mut sink)?;
                    if let Some(e) = sink.inner.error.take() {
                        return Err(e).context("writing the events");
                    }
                    let mut out = events_out(write_stdout);
                    wsinspect::report::text::headline(&analysis, "live", &mut out)?;
                    out.flush()?;
                    (reason, analysis)
                }
                // JSON (the TUI is the arm above): the whole model at the end.
                _ => {
                    let (reason, mut analysis) = capture(&mut NullSink)?;
                    if let Some(f) = &display {
                        f.apply(&mut analysis);
                    }
                    let mut out = BufWriter::new(events_out(write_stdout));
                    report::json::write(&analysis, &mut out)?;
                    out.flush()?;
                    (reason, analysis)
                }
            }
        }
    };
    eprintln!(
        "wsinspect: stopped ({}): {} captured{}",
        why(reason),
        wsinspect::report::count(analysis.packet_count, "packet"),
        match &args.write {
            Some(p) => format!(", saved to {}", p.display()),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Where the events go: standard output, or standard error when `-w -`
/// writes the packets there.
fn events_out(write_stdout: bool) -> Box<dyn Write> {
    if write_stdout {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    }
}

/// `live -D`: one line per interface, as `tcpdump -D` (`index.name`), then
/// its state and the link type the capture stores.
fn list_interfaces() -> Result<ExitCode> {
    let list = wsinspect::live::interfaces();
    if list.is_empty() {
        bail!("no capture interfaces found ({})", wsinspect::live::BACKEND);
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in list {
        let state = match i.up {
            Some(true) => "up",
            Some(false) => "down",
            None => "state unknown",
        };
        let link = i.link.map(|l| format!(", {l}")).unwrap_or_default();
        writeln!(out, "{}. {} [{state}{link}]", i.index, i.name)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Why the capture stopped, for people.
fn why(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Count => "packet count reached",
        StopReason::Duration => "duration reached",
        StopReason::Interrupted => "interrupted",
        StopReason::SourceEnded => "capture ended",
    }
}

/// Stops the source, records the final drop counts and ends the session.
fn finish(
    reason: std::io::Result<StopReason>,
    source: LiveSource,
    mut session: LiveSession<'_>,
) -> Result<(StopReason, Analysis, Drops)> {
    let drops = source.stop().context("capture failed")?;
    let reason = reason.context("live capture failed")?;
    session.set_drops(drops);
    let analysis = session.finish().context("finishing the capture")?;
    Ok((reason, analysis, drops))
}

/// The kernel's counters, on standard error (as tcpdump prints them).
fn print_drops(drops: Drops, loopback: bool) {
    eprintln!(
        "wsinspect: {} packets matched in the kernel{}, {} dropped by the kernel, {} dropped by wsinspect",
        drops.kernel_received,
        if loopback {
            " (loopback packets count twice: sent and received)"
        } else {
            ""
        },
        drops.kernel,
        drops.own
    );
}
