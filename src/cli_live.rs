//! `wsinspect live`: capture from an interface and report as it happens.

use super::{AnalysisArgs, FormatArg};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wsinspect::analysis::model::{Analysis, Connection};
use wsinspect::analysis::{EventSink, NullSink, SinkEvent};
use wsinspect::capture::filter::Filter;
use wsinspect::live::{
    self, DEFAULT_SNAPLEN, Drops, FilterMode, LiveConfig, LiveSession, LiveSource, RunControl,
    SessionOptions, StopReason,
};
use wsinspect::report::{self, live_text::TextSink, ndjson::NdjsonSink};

/// Arguments of `wsinspect live`.
#[derive(Debug, Args)]
pub(super) struct LiveArgs {
    /// Interface to capture on: a name such as `eth0` or `lo`, or `any`.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    iface: String,
    /// Capture filter, a subset of pcap-filter(7): `host`, `net`, `port`
    /// with `src`/`dst` and `ip`/`ip6`/`tcp`/`udp`, joined by
    /// `and`/`or`/`not` and parentheses (e.g. "tcp port 9002").
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    filter: Option<String>,
    /// The filter may also follow the options, as with tcpdump.
    #[arg(
        value_name = "FILTER",
        conflicts_with = "filter",
        trailing_var_arg = true
    )]
    filter_words: Vec<String>,
    /// Output: text lines as events happen, NDJSON events as they happen,
    /// or one JSON document when the capture stops.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Also save every captured packet to FILE (pcapng), readable with
    /// `wsinspect report` and Wireshark.
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
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// Sets `stop` when the wrapped sink's output fails (e.g. `| head` closed
/// the pipe), so the capture ends instead of running on unseen.
struct StopOnError<'a, S> {
    inner: S,
    failed: fn(&S) -> bool,
    stop: &'a AtomicBool,
}

impl<S: EventSink> EventSink for StopOnError<'_, S> {
    fn event(&mut self, conn: &Connection, ev: SinkEvent<'_>) {
        self.inner.event(conn, ev);
        if (self.failed)(&self.inner) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs a live capture.
pub(super) fn run(args: LiveArgs) -> Result<ExitCode> {
    let expr = match (&args.filter, args.filter_words.is_empty()) {
        (Some(f), _) => Some(f.clone()),
        (None, false) => Some(args.filter_words.join(" ")),
        (None, true) => None,
    };
    let filter = expr.as_deref().map(Filter::parse).transpose()?;
    let duration = match args.duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--duration must be a positive number of seconds, not {s}"),
        None => None,
    };
    let mut cfg = LiveConfig::new(&args.iface);
    cfg.filter = filter;
    cfg.snaplen = args.snaplen;
    cfg.kernel_buffer = args.buffer_kib.saturating_mul(1024);

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C exits at once; the first stops cleanly.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .context("installing the signal handler")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing the signal handler")?;
    }

    let save: Option<Box<dyn Write>> = match &args.write {
        Some(p) => {
            let f = File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
            Some(Box::new(BufWriter::with_capacity(1 << 16, f)))
        }
        None => None,
    };
    let mut source = LiveSource::start(&cfg)?;
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
        "wsinspect: listening on {} ({}), snapshot length {} bytes{filter_note}; Ctrl-C stops",
        args.iface,
        source.link_type(),
        source.snaplen()
    );

    let analysis = args.analysis.options()?;
    let opts = SessionOptions {
        limits: analysis.limits,
        keylog: analysis.keylog,
        // JSON prints the whole model at the end, so it keeps everything.
        evict_finished: !matches!(args.format, FormatArg::Json),
        ..SessionOptions::default()
    };
    let ctl = RunControl {
        stop: stop.clone(),
        count: args.count,
        duration,
    };
    let link = source.link_type();
    let snaplen = source.snaplen();
    let loopback = args.iface == "lo" || args.iface == "any";
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
    let (reason, analysis) = match args.format {
        FormatArg::Ndjson => {
            let mut sink = StopOnError {
                inner: NdjsonSink::new(stdout.lock()),
                failed: |s: &NdjsonSink<_>| s.error.is_some(),
                stop: &stop,
            };
            let (reason, analysis) = {
                let mut session =
                    LiveSession::new(&args.iface, link, snaplen, opts, save, &mut sink)?;
                let reason = live::run(&mut source, &mut session, &ctl, &mut on_tick);
                finish(reason, source, session, loopback)?
            };
            sink.inner.finish(&analysis);
            if let Some(e) = sink.inner.error.take() {
                return Err(e).context("writing the events");
            }
            (reason, analysis)
        }
        FormatArg::Text => {
            let mut sink = StopOnError {
                inner: TextSink::new(stdout.lock(), live::now()),
                failed: |s: &TextSink<_>| s.error.is_some(),
                stop: &stop,
            };
            let (reason, analysis) = {
                let mut session =
                    LiveSession::new(&args.iface, link, snaplen, opts, save, &mut sink)?;
                let reason = live::run(&mut source, &mut session, &ctl, &mut on_tick);
                finish(reason, source, session, loopback)?
            };
            if let Some(e) = sink.inner.error.take() {
                return Err(e).context("writing the events");
            }
            let mut out = stdout.lock();
            headline(&analysis, &mut out)?;
            out.flush()?;
            (reason, analysis)
        }
        FormatArg::Json => {
            let mut sink = NullSink;
            let (reason, analysis) = {
                let mut session =
                    LiveSession::new(&args.iface, link, snaplen, opts, save, &mut sink)?;
                let reason = live::run(&mut source, &mut session, &ctl, &mut on_tick);
                finish(reason, source, session, loopback)?
            };
            let mut out = BufWriter::new(stdout.lock());
            report::json::write(&analysis, &mut out)?;
            out.flush()?;
            (reason, analysis)
        }
    };
    let why = match reason {
        StopReason::Count => "packet count reached",
        StopReason::Duration => "duration reached",
        StopReason::Interrupted => "interrupted",
        StopReason::SourceEnded => "capture ended",
    };
    eprintln!(
        "wsinspect: stopped ({why}): {} packets captured{}",
        analysis.packet_count,
        match &args.write {
            Some(p) => format!(", saved to {}", p.display()),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Stops the source, records the final drop counts and ends the session.
fn finish(
    reason: std::io::Result<StopReason>,
    source: LiveSource,
    mut session: LiveSession<'_>,
    loopback: bool,
) -> Result<(StopReason, Analysis)> {
    let drops = source.stop().context("capture failed")?;
    let reason = reason.context("live capture failed")?;
    session.set_drops(drops);
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
    let analysis = session.finish().context("finishing the capture")?;
    Ok((reason, analysis))
}

fn headline(a: &Analysis, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} (live, {}): {} packets, {} connection(s) with HTTP/WebSocket, {} WebSocket, {} messages, {} violations",
        a.capture,
        a.link_type,
        a.packet_count,
        a.connections.len(),
        a.stats.websocket_connections,
        a.stats.messages,
        a.stats.violations
    )?;
    for an in &a.capture_anomalies {
        writeln!(out, "  ! capture: {} (packet {})", an.detail, an.packet)?;
    }
    Ok(())
}
