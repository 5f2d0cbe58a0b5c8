//! Exports: messages as files or NDJSON, FLV streams as `.flv`, and the
//! packets of chosen connections as a new pcapng.
//!
//! Message exports need whole payloads, which the model does not keep: they
//! run the pipeline with a [`PayloadCollector`] (the analysis's payload
//! hook) and write each message as it completes, so memory stays bounded by
//! the largest message. The pcapng export is a second pass over the capture
//! that keeps the packets whose address/port pair and packet range match a
//! chosen connection.

#[cfg(feature = "parquet")]
pub mod columnar;

use crate::analysis::{NullSink, Tee};
use crate::capture::Timestamp;
use crate::capture::writer::{Endian, PcapngWriter};
use crate::capture::{CaptureReader, LinkType, PacketNo};
use crate::decode::Decoder;
use crate::flow::Direction;
use crate::model::Connection;
use crate::payload::{
    FlvCollector, FlvStream, MessageFilter, PayloadCollector, Selection, WholeMessage,
};
use crate::pipeline::Options;
use crate::pipeline::{self, PipelineError};
use crate::query::Subject;
use crate::report::contract::{MESSAGES_SCHEMA_VERSION, ndjson_header};
use crate::tls::KeyLog;
use crate::ws::frame::Opcode;
use crate::ws::message::PayloadDigest;
use base64::Engine;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The capture could not be analysed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Writing the output failed.
    #[error("writing {path}: {source}")]
    Write {
        /// Output path.
        path: String,
        /// OS error.
        source: io::Error,
    },
    /// Nothing to export.
    #[error("{0}")]
    Nothing(String),
}

/// A file output; `-` is standard output (the CLI refuses a terminal).
fn create_out(out: &Path) -> io::Result<Box<dyn Write>> {
    if out.as_os_str() == "-" {
        return Ok(Box::new(io::stdout()));
    }
    Ok(Box::new(File::create(out)?))
}

fn werr(path: &Path) -> impl Fn(io::Error) -> ExportError + '_ {
    move |source| ExportError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Messages (or packets, or FLV tags) written.
    pub items: u64,
    /// Bytes of payload written.
    pub bytes: u64,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// TLS sessions whose secrets were written (pcapng Decryption Secrets
    /// Blocks).
    pub secrets: u64,
}

/// File name of one exported message: `conn<N>_<index>_<dir>.<txt|bin>`,
/// zero-padded so a directory listing is in message order.
pub fn message_file_name(m: &WholeMessage<'_>) -> String {
    let ext = if m.msg.opcode == Opcode::Text {
        "txt"
    } else {
        "bin"
    };
    let stream = m.stream_id.map(|s| format!("s{s}")).unwrap_or_default();
    format!(
        "conn{}{stream}_{:06}_{}.{ext}",
        m.conn_id,
        m.index,
        m.msg.dir.as_str()
    )
}

/// Writes each selected message's decoded payload to its own file in `dir`
/// (created if needed). Incomplete messages are written with the bytes
/// captured, and counted as such.
pub fn messages_to_files(
    capture: &str,
    opts: &Options,
    sel: Selection,
    filter: Option<&MessageFilter>,
    dir: &Path,
) -> Result<ExportSummary, ExportError> {
    let plan = Plan {
        sel,
        filter,
        files: Some(dir.to_path_buf()),
        ..Plan::default()
    };
    Ok(run(capture, opts, plan)?.files.unwrap_or_default())
}

fn subject<'a>(conn: &'a Connection, m: &WholeMessage<'a>) -> Subject<'a> {
    Subject::streamed_message(conn, m.index, m.msg, m.app, m.capture_start)
}

/// One line of the message NDJSON (`export --ndjson`, `payload --ndjson`),
/// after its header line: one message with its whole payload, in exactly
/// one of `text` and `base64`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(extend("oneOf" = [{"required": ["text"]}, {"required": ["base64"]}]))]
pub struct MessageLine<'a> {
    /// Always `message`.
    #[schemars(extend("const" = "message"))]
    pub event: &'static str,
    /// Connection id (as in the JSON report).
    pub conn: u32,
    /// The HTTP/2 stream of an RFC 8441 session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// Index of the message in its connection (0-based).
    pub index: usize,
    /// Direction.
    pub dir: Direction,
    /// Opcode of its first frame.
    pub opcode: Opcode,
    /// Arrival of its first frame (`ts`, float seconds; `ts_ns`, exact).
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// Arrival of its last frame (`end_ts`, `end_ts_ns`).
    #[serde(flatten, serialize_with = "crate::report::contract::end_ts::serialize")]
    #[schemars(with = "crate::report::contract::end_ts::Pair")]
    pub end_ts: Timestamp,
    /// Packet of its first byte.
    pub first_packet: PacketNo,
    /// Packet of its last byte.
    pub last_packet: PacketNo,
    /// Bytes of payload written (the decoded payload captured).
    pub payload_len: usize,
    /// Every byte of it was captured.
    pub complete: bool,
    /// SHA-256 of the decoded payload, when it is known whole.
    pub sha256: Option<PayloadDigest>,
    /// The payload of a text message that is whole valid UTF-8 (RFC 6455
    /// §5.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    /// The payload otherwise (binary, or text that is not valid UTF-8 or
    /// incomplete): the bytes captured, base64 (RFC 4648 §4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

/// One NDJSON line for a message: text payloads as `text`, anything else
/// (binary, or text that is not valid UTF-8 or incomplete) as `base64`.
pub fn message_json<'a>(m: &WholeMessage<'a>) -> MessageLine<'a> {
    let text = (m.msg.opcode == Opcode::Text)
        .then(|| std::str::from_utf8(m.payload).ok())
        .flatten();
    MessageLine {
        event: "message",
        conn: m.conn_id,
        stream_id: m.stream_id,
        index: m.index,
        dir: m.msg.dir,
        opcode: m.msg.opcode,
        ts: m.msg.ts,
        end_ts: m.msg.end_ts,
        first_packet: m.msg.first_packet,
        last_packet: m.msg.last_packet,
        payload_len: m.payload.len(),
        complete: m.msg.complete,
        sha256: m.msg.sha256,
        text,
        base64: text
            .is_none()
            .then(|| base64::engine::general_purpose::STANDARD.encode(m.payload)),
    }
}

/// Writes the selected messages as NDJSON to `out`: a `header` line with
/// the contract's version ([`MESSAGES_SCHEMA_VERSION`]), then one line per
/// message ([`message_json`]; `docs/schema/messages.schema.json`).
pub fn messages_to_ndjson(
    capture: &str,
    opts: &Options,
    sel: Selection,
    filter: Option<&MessageFilter>,
    out: &mut dyn Write,
) -> Result<ExportSummary, io::Error> {
    let plan = Plan {
        sel,
        filter,
        ndjson: Some(out),
        ..Plan::default()
    };
    match run(capture, opts, plan) {
        Ok(done) => Ok(done.ndjson.unwrap_or_default()),
        Err(ExportError::Write { source, .. }) => Err(source),
        Err(e) => Err(io::Error::other(e)),
    }
}

/// Decodes the FLV streams in the selected directions, keeping their bytes.
pub fn flv_streams(
    capture: &str,
    opts: &Options,
    sel: Selection,
) -> Result<Vec<FlvStream>, PipelineError> {
    let mut c = FlvCollector::new(sel, true);
    pipeline::analyze_path_with(capture, opts, &mut c)?;
    Ok(c.finish())
}

/// Writes the FLV streams found in the selection: one stream goes to `out`;
/// with several, each goes to `out` with `.conn<N>.<dir>` before the
/// extension. The file holds the header and every complete tag byte for
/// byte as sent (a header is synthesised when the capture started
/// mid-stream).
pub fn flv_to_file(
    capture: &str,
    opts: &Options,
    sel: Selection,
    out: &Path,
) -> Result<(Vec<FlvStream>, ExportSummary), ExportError> {
    let streams = flv_streams(capture, opts, sel)?;
    let summary = write_flv(&streams, out)?;
    Ok((streams, summary))
}

/// Writes FLV streams found by a [`FlvCollector`] as [`flv_to_file`] does.
pub fn write_flv(streams: &[FlvStream], out: &Path) -> Result<ExportSummary, ExportError> {
    if streams.is_empty() {
        return Err(ExportError::Nothing(
            "no FLV stream in the chosen connections".into(),
        ));
    }
    let mut summary = ExportSummary::default();
    let several = streams.len() > 1;
    for s in streams {
        let path = if several {
            let stem = out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ext = out
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| "flv".into());
            out.with_file_name(format!("{stem}.conn{}.{}.{ext}", s.conn, s.dir.as_str()))
        } else {
            out.to_path_buf()
        };
        let raw = s.raw.as_deref().unwrap_or_default();
        if several && out.as_os_str() == "-" {
            return Err(ExportError::Nothing(format!(
                "{} FLV streams cannot share standard output; choose one with --conn and --dir",
                streams.len()
            )));
        }
        create_out(&path)
            .and_then(|mut f| f.write_all(raw).and_then(|()| f.flush()))
            .map_err(werr(&path))?;
        summary.items += s.tags.len() as u64;
        summary.bytes += raw.len() as u64;
        summary.files.push(path);
    }
    Ok(summary)
}

/// Which packets belong to a connection: its address/port pair (either
/// way) within its packet range.
#[derive(Debug, Clone)]
struct ConnMatch {
    a: SocketAddr,
    b: SocketAddr,
    first: PacketNo,
    last: PacketNo,
}

/// The client random of a TLS ClientHello that starts `payload` (RFC 8446
/// §4.1.2, RFC 5246 §7.4.1.2): record header (5 bytes: type 22), handshake
/// header (4 bytes: type 1), legacy_version (2), then the 32-byte random.
/// Those 43 bytes are always in the first segment (any TCP MSS is larger).
fn client_hello_random(payload: &[u8]) -> Option<[u8; 32]> {
    if payload.first() != Some(&22) || payload.get(5) != Some(&1) {
        return None;
    }
    payload.get(11..43)?.try_into().ok()
}

/// The index in `matches` of the connection packet `n` from `src` to
/// `dst` belongs to.
fn which(matches: &[ConnMatch], n: PacketNo, src: SocketAddr, dst: SocketAddr) -> Option<usize> {
    matches.iter().position(|m| {
        n >= m.first && n <= m.last && ((src == m.a && dst == m.b) || (src == m.b && dst == m.a))
    })
}

/// The key log lines of the TLS sessions of `matches` (and how many
/// sessions), from `keys` and the capture's own Decryption Secrets Blocks:
/// reads `capture` until every connection's first client payload was seen.
fn session_keys(
    capture: &str,
    matches: &[ConnMatch],
    keys: &KeyLog,
) -> Result<(String, u64), ExportError> {
    let file = File::open(capture).map_err(|error| PipelineError::Open {
        path: capture.to_string(),
        error,
    })?;
    let mut reader =
        CaptureReader::new(io::BufReader::with_capacity(1 << 16, file)).map_err(|error| {
            PipelineError::Read {
                path: capture.to_string(),
                error,
            }
        })?;
    let mut decoder = Decoder::new();
    let mut pending = matches.len();
    let mut seen = vec![false; matches.len()];
    let mut randoms: Vec<[u8; 32]> = Vec::new();
    let mut secrets_read = 0;
    let mut keys = keys.clone();
    while pending > 0
        && let Ok(Some((pkt, dsbs))) = reader.next_packet_with_secrets()
    {
        for dsb in &dsbs[secrets_read..] {
            // Bad lines were reported when the capture was analysed.
            let _ = keys.absorb(dsb);
        }
        secrets_read = dsbs.len();
        let Ok(seg) = decoder.decode(&pkt) else {
            continue;
        };
        let Some(i) = which(matches, pkt.number, seg.src, seg.dst) else {
            continue;
        };
        if seen[i] || seg.src != matches[i].a || seg.payload.is_empty() {
            continue;
        }
        seen[i] = true;
        pending -= 1;
        if let Some(r) = client_hello_random(&seg.payload)
            && !randoms.contains(&r)
        {
            randoms.push(r);
        }
    }
    let mut text = String::new();
    let mut sessions = 0;
    for r in &randoms {
        let lines = keys.lines_for(r);
        if !lines.is_empty() {
            text.push_str(&lines);
            sessions += 1;
        }
    }
    Ok((text, sessions))
}

/// Writes the packets of `conns` (from an analysis of `capture`) to a new
/// pcapng at `out`, with their original timestamps (nanosecond resolution)
/// and link types (one interface per link type). Reads `capture` again.
///
/// With `secrets` (`None` is `--no-secrets`), the exported TLS
/// connections' key log lines are written as one Decryption Secrets Block
/// (pcapng §4.7, secrets type `TLSK`) before the first packet, as
/// Wireshark's `editcap --inject-secrets` does: the file decrypts alone,
/// in Wireshark, tshark and wsinspect. Only the sessions of the exported
/// connections (matched by ClientHello random) are written; the keys come
/// from `secrets` and from the capture's own Decryption Secrets Blocks.
/// Finding the ClientHellos costs one more read of the capture, which
/// stops at the last exported connection's first client payload.
pub fn packets_to_pcapng(
    capture: &str,
    conns: &[&Connection],
    out: &Path,
    secrets: Option<&KeyLog>,
) -> Result<ExportSummary, ExportError> {
    if conns.is_empty() {
        return Err(ExportError::Nothing("no connection chosen".into()));
    }
    if capture == "-" {
        return Err(ExportError::Nothing(
            "--pcapng needs a capture file (standard input cannot be read twice)".into(),
        ));
    }
    let matches: Vec<ConnMatch> = conns
        .iter()
        .map(|c| ConnMatch {
            a: c.client,
            b: c.server,
            first: c.first_packet,
            last: c.last_packet,
        })
        .collect();
    let open = |error| PipelineError::Open {
        path: capture.to_string(),
        error,
    };
    let file = File::open(capture).map_err(open)?;
    let mut reader =
        CaptureReader::new(io::BufReader::with_capacity(1 << 16, file)).map_err(|error| {
            PipelineError::Read {
                path: capture.to_string(),
                error,
            }
        })?;
    let w = create_out(out).map_err(werr(out))?;
    let mut writer = PcapngWriter::new(BufWriter::new(w), Endian::Little).map_err(werr(out))?;
    let mut ifaces: HashMap<LinkType, u32> = HashMap::new();
    let mut decoder = Decoder::new();
    let mut summary = ExportSummary::default();
    let (mut keys, sessions) = match secrets {
        Some(k) => session_keys(capture, &matches, k)?,
        None => (String::new(), 0),
    };
    // Reading errors end the export like they end an analysis: what was
    // read is kept.
    while let Ok(Some(pkt)) = reader.next_packet() {
        let Ok(seg) = decoder.decode(&pkt) else {
            continue;
        };
        if which(&matches, pkt.number, seg.src, seg.dst).is_none() {
            continue;
        }
        let iface = match ifaces.get(&pkt.link) {
            Some(&i) => i,
            None => {
                let i = writer
                    .add_interface(pkt.link, 262_144, true)
                    .map_err(werr(out))?;
                ifaces.insert(pkt.link, i);
                i
            }
        };
        if !keys.is_empty() {
            // Before the first packet: readers that take keys only for
            // connections that start after them (wsinspect, tshark in one
            // pass) have them all.
            writer
                .write_tls_keylog(std::mem::take(&mut keys).as_bytes())
                .map_err(werr(out))?;
            summary.secrets = sessions;
        }
        writer
            .write_packet(iface, pkt.ts, pkt.data, pkt.orig_len)
            .map_err(werr(out))?;
        summary.items += 1;
        summary.bytes += pkt.data.len() as u64;
    }
    writer
        .finish()
        .map_err(werr(out))?
        .flush()
        .map_err(werr(out))?;
    summary.files.push(out.to_path_buf());
    Ok(summary)
}

/// Analyses `capture` without payload consumers (for choosing connections).
pub fn analyze(capture: &str, opts: &Options) -> Result<crate::model::Analysis, PipelineError> {
    pipeline::analyze_path_with(capture, opts, &mut NullSink)
}

/// Where the packets of the chosen connections go (`export --pcapng`).
#[derive(Debug)]
pub struct PcapngOut<'o> {
    /// The file (`-`: standard output).
    pub out: PathBuf,
    /// TLS secrets written into it as a Decryption Secrets Block; `None`
    /// leaves them out.
    pub secrets: Option<&'o KeyLog>,
}

/// Every export asked of one capture. The analysis runs once, whatever the
/// number of outputs, so standard input is read once: message files,
/// message NDJSON and FLV streams are consumers of the one event stream,
/// and the packets for a pcapng come from a private copy of what was read
/// when the capture is standard input (the file itself otherwise).
#[derive(Default)]
pub struct Plan<'o> {
    /// Which connections and directions.
    pub sel: Selection,
    /// Which messages (message files and NDJSON).
    pub filter: Option<&'o MessageFilter>,
    /// One file per message in this directory.
    pub files: Option<PathBuf>,
    /// The messages as NDJSON.
    pub ndjson: Option<&'o mut dyn Write>,
    /// FLV streams to this file.
    pub flv: Option<PathBuf>,
    /// Packets of the chosen connections.
    pub pcapng: Option<PcapngOut<'o>>,
}

/// What [`run`] wrote.
#[derive(Debug)]
pub struct Done {
    /// Message files.
    pub files: Option<ExportSummary>,
    /// Message NDJSON lines.
    pub ndjson: Option<ExportSummary>,
    /// FLV streams and their files.
    pub flv: Option<(Vec<FlvStream>, ExportSummary)>,
    /// Packets, and the number of connections they belong to.
    pub pcapng: Option<(ExportSummary, usize)>,
    /// The analysis.
    pub analysis: crate::model::Analysis,
}

/// Copies what it reads into a private file, so that standard input can be
/// read again (for packets) without being read twice.
struct CopyRead<R> {
    inner: R,
    copy: BufWriter<File>,
    failed: Option<io::Error>,
}

impl<R: io::Read> io::Read for CopyRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.failed.is_none()
            && let Err(e) = self.copy.write_all(&buf[..n])
        {
            self.failed = Some(e);
        }
        Ok(n)
    }
}

/// Runs every export of `plan` over one analysis of `capture` (`-` is
/// standard input).
pub fn run(capture: &str, opts: &Options, plan: Plan<'_>) -> Result<Done, ExportError> {
    let Plan {
        sel,
        filter,
        files,
        ndjson,
        flv,
        pcapng,
    } = plan;
    if let Some(dir) = &files {
        std::fs::create_dir_all(dir).map_err(werr(dir))?;
    }
    let mut ndjson = ndjson;
    let wants_ndjson = ndjson.is_some();
    if let Some(out) = ndjson.as_deref_mut() {
        serde_json::to_writer(&mut *out, &ndjson_header(MESSAGES_SCHEMA_VERSION))
            .map_err(io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(werr(Path::new("-")))?;
    }
    let mut files_done = ExportSummary::default();
    let mut files_error: Option<ExportError> = None;
    let mut ndjson_done = ExportSummary::default();
    let mut ndjson_error: Option<io::Error> = None;
    // Standard input read once: a private copy for the packets.
    let copy = match (&pcapng, capture) {
        (Some(_), "-") => {
            Some(tempfile::NamedTempFile::new().map_err(werr(Path::new("a temporary file")))?)
        }
        _ => None,
    };
    let (analysis, flv_streams) = {
        let files_c = files.as_deref().map(|dir| {
            let (done, error) = (&mut files_done, &mut files_error);
            PayloadCollector::new(
                sel.clone(),
                move |conn: &Connection, m: WholeMessage<'_>| {
                    if error.is_some() || filter.is_some_and(|f| !f.matches(&subject(conn, &m))) {
                        return;
                    }
                    let path = dir.join(message_file_name(&m));
                    match std::fs::write(&path, m.payload) {
                        Ok(()) => {
                            done.items += 1;
                            done.bytes += m.payload.len() as u64;
                            done.files.push(path);
                        }
                        Err(e) => *error = Some(werr(&path)(e)),
                    }
                },
            )
        });
        let ndjson_c = ndjson.map(|out| {
            let (done, error) = (&mut ndjson_done, &mut ndjson_error);
            PayloadCollector::new(
                sel.clone(),
                move |conn: &Connection, m: WholeMessage<'_>| {
                    if error.is_some() || filter.is_some_and(|f| !f.matches(&subject(conn, &m))) {
                        return;
                    }
                    let r = serde_json::to_writer(&mut *out, &message_json(&m))
                        .map_err(io::Error::other)
                        .and_then(|_| out.write_all(b"\n"));
                    match r {
                        Ok(()) => {
                            done.items += 1;
                            done.bytes += m.payload.len() as u64;
                        }
                        Err(e) => *error = Some(e),
                    }
                },
            )
        });
        let flv_c = flv.as_ref().map(|_| FlvCollector::new(sel.clone(), true));
        let mut tee = Tee::new(Tee::new(files_c, ndjson_c), flv_c);
        let analysis = match &copy {
            Some(tmp) => {
                let file = tmp.reopen().map_err(werr(tmp.path()))?;
                let counter = opts.progress.clone().unwrap_or_default();
                let mut source = CopyRead {
                    inner: pipeline::CountingRead::new(io::stdin(), counter),
                    copy: BufWriter::with_capacity(1 << 20, file),
                    failed: None,
                };
                let a = pipeline::analyze_reader_with("-", &mut source, opts, &mut tee)?;
                if let Some(e) = source.failed.take() {
                    return Err(werr(tmp.path())(e));
                }
                source.copy.flush().map_err(werr(tmp.path()))?;
                a
            }
            None => pipeline::analyze_path_with(capture, opts, &mut tee)?,
        };
        let (_, flv_c) = tee.into_inner();
        (analysis, flv_c.map(FlvCollector::finish))
    };
    if let Some(e) = files_error {
        return Err(e);
    }
    if let Some(e) = ndjson_error {
        return Err(werr(Path::new("the NDJSON output"))(e));
    }
    let flv = match (flv, flv_streams) {
        (Some(out), Some(streams)) => {
            let summary = write_flv(&streams, &out)?;
            Some((streams, summary))
        }
        _ => None,
    };
    let pcapng = match pcapng {
        Some(p) => {
            let chosen: Vec<&Connection> = analysis
                .connections
                .iter()
                .filter(|c| sel.chooses(c.key()))
                .collect();
            if chosen.is_empty() {
                return Err(ExportError::Nothing(
                    "no connection with the ids given to --conn".into(),
                ));
            }
            let source = match &copy {
                Some(tmp) => tmp.path().to_string_lossy().into_owned(),
                None => capture.to_string(),
            };
            let s = packets_to_pcapng(&source, &chosen, &p.out, p.secrets)?;
            Some((s, chosen.len()))
        }
        None => None,
    };
    Ok(Done {
        files: files.map(|_| files_done),
        ndjson: wants_ndjson.then_some(ndjson_done),
        flv,
        pcapng,
        analysis,
    })
}
