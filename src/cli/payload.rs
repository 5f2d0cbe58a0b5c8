//! `wsinspect export`, `wsinspect stats` and `wsinspect payload`: the
//! command-line edge of the payload, export and statistics modules.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use wsinspect::export;
use wsinspect::flow::Direction;
use wsinspect::payload::{FlvCollector, FlvStream, Selection, message_context};
use wsinspect::query::Subject;
use wsinspect::stats;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirArg {
    C2s,
    S2c,
}

impl From<DirArg> for Direction {
    fn from(d: DirArg) -> Self {
        match d {
            DirArg::C2s => Direction::ClientToServer,
            DirArg::S2c => Direction::ServerToClient,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct Choose {
    /// Connection id (as in the report), or one RFC 8441 session as ID/STREAM (`3/5`); repeat for several. Default: all.
    #[arg(long = "conn", value_name = "N[/STREAM]")]
    conns: Vec<wsinspect::payload::ConnChoice>,
    /// Only messages sent in this direction.
    #[arg(long, value_enum)]
    dir: Option<DirArg>,
}

impl Choose {
    fn selection(&self) -> Selection {
        Selection {
            conns: self.conns.clone(),
            dir: self.dir.map(Direction::from),
        }
    }
}

/// Arguments of `wsinspect export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    analysis: crate::cli::AnalysisArgs,
    /// The capture (`-` reads standard input, not with --pcapng).
    #[command(flatten)]
    input: crate::cli::CaptureArg,
    #[command(flatten)]
    choose: Choose,
    /// With --files/--ndjson: only the messages the filter selects.
    #[command(flatten)]
    filter: crate::cli::FilterArgs,
    /// Write each message's decoded payload to its own file in DIR
    /// (`conn<N>_<index>_<dir>.txt|bin`).
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// Write the messages as NDJSON (`text` or `base64` payload); `-` is
    /// standard output.
    #[arg(long, value_name = "OUT")]
    ndjson: Option<PathBuf>,
    /// Write the chosen connections' packets to a new pcapng (original
    /// timestamps and link types); `-` is standard output (not a terminal).
    #[arg(long, value_name = "OUT")]
    pcapng: Option<PathBuf>,
    /// With --pcapng: leave out the TLS secrets (by default the exported
    /// wss connections' key log lines go into the file as a Decryption
    /// Secrets Block, so it decrypts without the key log).
    #[arg(long, requires = "pcapng")]
    no_secrets: bool,
    /// Write the FLV stream carried by the chosen connections to a playable
    /// .flv; `-` is standard output (not a terminal; one stream only).
    #[arg(long, value_name = "OUT")]
    flv: Option<PathBuf>,
    /// Write the analysis as Parquet tables into DIR (DIR/<table>/<capture
    /// stem>.parquet; all connections); `wsinspect export-parquet` takes many
    /// captures at once.
    #[arg(long, value_name = "DIR")]
    parquet: Option<PathBuf>,
    #[command(flatten)]
    parquet_opts: crate::cli::parquet::ParquetArgs,
}

/// Arguments of `wsinspect stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    analysis: crate::cli::AnalysisArgs,
    #[command(flatten)]
    input: crate::cli::CaptureArg,
    /// Output format.
    #[arg(short = 'T', long, value_enum, default_value_t = OutFormat::Text)]
    format: OutFormat,
    #[command(flatten)]
    old_f: crate::cli::OldFormatShort,
    /// Statistics over the messages the filter selects only.
    #[command(flatten)]
    filter: crate::cli::FilterArgs,
}

/// Arguments of `wsinspect payload`.
///
/// Filters (-Y, Wireshark's language): JSON paths `json.a.b[0]`,
/// `json["odd key"]`, and every display-filter field, e.g.
/// -Y 'json.type == "chat" && ws.dir == "s2c"' (docs/display-filter.md).
#[derive(Debug, Args)]
pub struct PayloadArgs {
    #[command(flatten)]
    analysis: crate::cli::AnalysisArgs,
    #[command(flatten)]
    input: crate::cli::CaptureArg,
    #[command(flatten)]
    choose: Choose,
    /// Only the messages the filter selects (default: the JSON ones).
    #[command(flatten)]
    filter: crate::cli::FilterArgs,
    /// Output format.
    #[arg(short = 'T', long, value_enum, default_value_t = OutFormat::Text)]
    format: OutFormat,
    #[command(flatten)]
    old_f: crate::cli::OldFormatShort,
    /// Messages shown in the text view (all are counted).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// FLV tags listed per stream in the text view.
    #[arg(long, default_value_t = 40)]
    max_tags: usize,
}

/// `wsinspect export`.
pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let capture = args.input.path();
    let (_bar, opts) = crate::cli::progress::with_bar(&capture, &args.analysis.options()?);
    let sel = args.choose.selection();
    let filter = args.filter.predicate()?;
    if args.files.is_none()
        && args.ndjson.is_none()
        && args.pcapng.is_none()
        && args.flv.is_none()
        && args.parquet.is_none()
    {
        bail!(
            "nothing to write: give --files DIR, --ndjson OUT, --pcapng OUT, --flv OUT and/or --parquet DIR"
        );
    }
    if capture == "-"
        && args.parquet.is_some()
        && (args.files.is_some()
            || args.ndjson.is_some()
            || args.pcapng.is_some()
            || args.flv.is_some())
    {
        bail!(
            "standard input can be read once: --parquet takes it alone (export-parquet writes from a file); the other outputs share one pass"
        );
    }
    for (flag, dir) in [("--files", &args.files), ("--parquet", &args.parquet)] {
        if dir.as_deref().is_some_and(crate::cli::is_stdout) {
            bail!(
                "{flag} takes a directory; `-` (standard output) is for --ndjson, --pcapng and --flv"
            );
        }
    }
    let to_stdout = [&args.ndjson, &args.pcapng, &args.flv]
        .iter()
        .filter(|o| o.as_deref().is_some_and(crate::cli::is_stdout))
        .count();
    if to_stdout > 1 {
        bail!("only one output can go to standard output (`-`)");
    }
    if args.pcapng.as_deref().is_some_and(crate::cli::is_stdout) {
        crate::cli::refuse_binary_to_tty("pcapng", "--pcapng")?;
    }
    if args.flv.as_deref().is_some_and(crate::cli::is_stdout) {
        crate::cli::refuse_binary_to_tty("FLV", "--flv")?;
    }
    // One analysis for every output (standard input is read once).
    let empty = wsinspect::tls::KeyLog::default();
    let secrets = match (&opts.keylog, args.no_secrets) {
        (_, true) => None,
        (Some(k), false) => Some(k.as_ref()),
        (None, false) => Some(&empty),
    };
    let mut ndjson_out: Option<Box<dyn Write>> = match &args.ndjson {
        Some(out) if out.as_os_str() == "-" => Some(Box::new(BufWriter::new(std::io::stdout()))),
        Some(out) => {
            let f = std::fs::File::create(out)
                .with_context(|| format!("creating {}", out.display()))?;
            Some(Box::new(BufWriter::new(f)))
        }
        None => None,
    };
    let wants_export = args.files.is_some()
        || args.ndjson.is_some()
        || args.flv.is_some()
        || args.pcapng.is_some();
    if wants_export {
        let plan = export::Plan {
            sel: sel.clone(),
            filter: filter.as_ref(),
            files: args.files.clone(),
            ndjson: ndjson_out.as_deref_mut().map(|w| w as &mut dyn Write),
            flv: args.flv.clone(),
            pcapng: args
                .pcapng
                .clone()
                .map(|out| export::PcapngOut { out, secrets }),
        };
        let done = export::run(&capture, &opts, plan).map_err(|e| match &args.ndjson {
            Some(out)
                if matches!(e, export::ExportError::Write { .. }) && out.as_os_str() != "-" =>
            {
                anyhow::Error::new(e).context(format!("writing {}", out.display()))
            }
            _ => anyhow::Error::new(e),
        })?;
        if let Some(w) = ndjson_out.as_mut() {
            w.flush().context("writing the NDJSON output")?;
        }
        if let (Some(dir), Some(s)) = (&args.files, &done.files) {
            eprintln!(
                "wsinspect: wrote {} ({}) to {}",
                wsinspect::report::count(s.items, "message"),
                wsinspect::report::count(s.bytes, "byte"),
                dir.display()
            );
        }
        if let Some(s) = &done.ndjson {
            eprintln!(
                "wsinspect: wrote {} as NDJSON",
                wsinspect::report::count(s.items, "message")
            );
        }
        if let Some((streams, s)) = &done.flv {
            for st in streams {
                for p in &st.problems {
                    eprintln!("wsinspect: conn {} {}: {p}", st.conn, st.dir.as_str());
                }
            }
            eprintln!(
                "wsinspect: wrote {} ({}) to {}",
                wsinspect::report::count(s.items, "FLV tag"),
                wsinspect::report::count(s.bytes, "byte"),
                s.files
                    .iter()
                    .map(|f| crate::cli::out_name(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let (Some(out), Some((s, conns))) = (&args.pcapng, &done.pcapng) {
            eprintln!(
                "wsinspect: wrote {} of {} to {}{}",
                wsinspect::report::count(s.items, "packet"),
                wsinspect::report::count(*conns as u64, "connection"),
                crate::cli::out_name(out),
                match s.secrets {
                    0 => String::new(),
                    n => format!(
                        " with the TLS secrets of {}",
                        wsinspect::report::count(n, "session")
                    ),
                }
            );
        }
    }
    if let Some(dir) = &args.parquet {
        let code = crate::cli::parquet::write_parquet(
            dir,
            std::slice::from_ref(&capture),
            &args.parquet_opts,
            &opts,
        )?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wsinspect stats`.
pub fn stats(args: StatsArgs) -> Result<ExitCode> {
    args.old_f.check()?;
    let capture = args.input.path();
    let (bar, opts) = crate::cli::progress::with_bar(&capture, &args.analysis.options()?);
    let filter = args.filter.predicate()?;
    let mut analysis = export::analyze(&capture, &opts)?;
    drop(bar);
    if let Some(f) = &filter {
        f.apply(&mut analysis);
    }
    let report = stats::capture_stats(&analysis);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        OutFormat::Json => stats::write_json(&report, &mut out)?,
        OutFormat::Text => stats::write_text(&report, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `wsinspect payload`: FLV streams and JSON messages.
pub fn payload(args: PayloadArgs) -> Result<ExitCode> {
    args.old_f.check()?;
    let sel = args.choose.selection();
    let filter = args.filter.predicate()?;
    let mut flv = FlvCollector::new(sel.clone(), false);
    let analysis = crate::cli::progress::analyze_path(
        &args.input.path(),
        &args.analysis.options()?,
        &mut flv,
    )?;
    let streams = flv.finish();
    let mut matched = Vec::new();
    let mut json_messages = 0u64;
    for c in &analysis.connections {
        for (i, m) in c.messages.iter().enumerate() {
            if !sel.wants(c.key(), m.dir) {
                continue;
            }
            let ctx = message_context(c.id, i, m, true);
            let is_json = !ctx["json"].is_null();
            json_messages += u64::from(is_json);
            let keep = match &filter {
                Some(f) => f.matches(&Subject::message(c, i, m, Some(analysis.start_ts))),
                None => is_json,
            };
            if keep {
                matched.push(ctx);
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        OutFormat::Json => {
            let doc = wsinspect::payload::PayloadDocument {
                capture: &analysis.capture,
                flv_streams: &streams,
                json_messages,
                filter: args.filter.text(),
                matched: matched.len(),
                messages: &matched,
            };
            wsinspect::payload::write_json(doc, &mut out)?;
        }
        OutFormat::Text => {
            for s in &streams {
                write_flv_text(&mut out, s, args.max_tags)?;
            }
            writeln!(
                out,
                "{} JSON text messages; {} {}",
                json_messages,
                matched.len(),
                match args.filter.text() {
                    Some(f) => format!("match `{f}`"),
                    None => "shown below".into(),
                }
            )?;
            for m in matched.iter().take(args.limit) {
                writeln!(
                    out,
                    "\nconn {} #{} {} {} ({} bytes)",
                    m["conn"],
                    m["index"],
                    m["dir"].as_str().unwrap_or(""),
                    m["opcode"].as_str().unwrap_or(""),
                    m["len"]
                )?;
                if m["json"].is_null() {
                    if let Some(t) = m["text"].as_str() {
                        writeln!(out, "{t}")?;
                    }
                } else {
                    writeln!(out, "{}", serde_json::to_string_pretty(&m["json"])?)?;
                }
            }
            if matched.len() > args.limit {
                writeln!(out, "\n… {} more (--limit)", matched.len() - args.limit)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_flv_text(out: &mut dyn Write, s: &FlvStream, max_tags: usize) -> std::io::Result<()> {
    writeln!(
        out,
        "FLV stream: conn {} {} — {} messages, {} bytes, {} tags",
        s.conn,
        s.dir.as_str(),
        s.messages,
        s.bytes,
        s.tags.len()
    )?;
    match &s.header {
        Some(h) => writeln!(
            out,
            "  header: version {}, audio {}, video {}, header size {}",
            h.version, h.has_audio, h.has_video, h.header_size
        )?,
        None => writeln!(out, "  header: not captured (stream joined mid-way)")?,
    }
    if let Some(m) = &s.metadata {
        writeln!(out, "  onMetaData: {m}")?;
    }
    let st = &s.stats;
    let f = |v: Option<f64>, u: &str| v.map_or_else(|| "-".into(), |x| format!("{x:.1} {u}"));
    writeln!(
        out,
        "  tags: {} video ({} key frames), {} audio, {} script; {} sequence headers",
        st.video_tags, st.keyframes, st.audio_tags, st.script_tags, st.sequence_headers
    )?;
    writeln!(
        out,
        "  media {} ms in {:.3} s wall; video {} at {}, audio {}; max A/V drift {} ms; {} stalls (longest {}); {} timestamp regressions",
        st.duration_ms,
        st.wall_duration_s,
        f(st.video_fps, "fps"),
        f(st.video_bitrate_bps.map(|b| b / 1000.0), "kbit/s"),
        f(st.audio_bitrate_bps.map(|b| b / 1000.0), "kbit/s"),
        st.max_av_drift_ms.map_or("-".into(), |d| d.to_string()),
        st.stalls,
        f(st.longest_stall_ms, "ms"),
        st.timestamp_regressions
    )?;
    for p in &s.problems {
        writeln!(out, "  problem: {p}")?;
    }
    for t in s.tags.iter().take(max_tags) {
        let what = if let Some(v) = &t.video {
            format!(
                "{}{}{}{}",
                v.codec,
                if v.keyframe { " key" } else { "" },
                if v.sequence_header {
                    " sequence-header"
                } else {
                    ""
                },
                v.composition_time
                    .map_or(String::new(), |c| format!(" cts {c}"))
            )
        } else if let Some(a) = &t.audio {
            match (a.aac_sample_rate, a.aac_channels) {
                // The AudioSpecificConfig is authoritative for AAC (the
                // tag's own rate/type bits are fixed at 44 kHz stereo).
                (Some(rate), Some(ch)) => format!(
                    "{} sequence-header (object type {}, {rate} Hz, {ch} ch)",
                    a.codec,
                    a.aac_object_type.unwrap_or(0)
                ),
                _ if a.codec == "AAC" => "AAC".to_string(),
                _ => format!(
                    "{} {} Hz {}-bit {}",
                    a.codec,
                    a.rate,
                    a.sample_bits,
                    if a.stereo { "stereo" } else { "mono" }
                ),
            }
        } else if let Some(sv) = &t.script {
            sv.first()
                .and_then(|v| v.as_str())
                .unwrap_or("script")
                .to_string()
        } else {
            String::new()
        };
        writeln!(
            out,
            "  @{:<7} {:>7} ms {:<6} {:>6} B  {what}",
            t.offset,
            t.timestamp_ms,
            match t.kind {
                wsinspect::payload::flv::TagKind::Audio => "audio",
                wsinspect::payload::flv::TagKind::Video => "video",
                wsinspect::payload::flv::TagKind::Script => "script",
                wsinspect::payload::flv::TagKind::Other(_) => "other",
            },
            t.data_size
        )?;
    }
    if s.tags.len() > max_tags {
        writeln!(
            out,
            "  … {} more tags (--max-tags)",
            s.tags.len() - max_tags
        )?;
    }
    Ok(())
}
