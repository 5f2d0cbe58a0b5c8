//! NDJSON: one JSON object per line, written as events happen, so a capture
//! of any length (or a live interface) streams with bounded memory.
//!
//! The first line is a `header` event with `schema_version` and
//! `wsinspect_version` (see [`super::contract`]). Every other line but the
//! last has `event` and `conn` (the connection id) plus `client` and
//! `server`. Events: `handshake`, `message`, `control`, `violation`,
//! `anomaly`, `connection_end` (the connection summary without its
//! messages), and a final `capture` line with the capture summary.

use super::contract::NdjsonHeader;
use super::handoff::{Handoff, Inbox, handoff};
use crate::analysis::{Consumer, Event, Wants};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::model::{Analysis, Connection, RecordKey};
use crate::ws::frame::{LengthFormat, Opcode};
use crate::ws::mask::MaskKey;
use crate::ws::message::{FrameInfo, Message, PayloadDigest, PendingDigest, Unsettled};
use serde::Serialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Rendered lines held before they are handed over without waiting for a
/// message (a capture of many connections and no messages).
const PENDING_BYTES: usize = 64 << 10;

/// A [`Consumer`] that writes NDJSON lines.
pub struct NdjsonSink<W: Write> {
    out: Output<W>,
    /// The start and end of the `message` lines of each live connection.
    frames: HashMap<RecordKey, Arc<LineFrame>>,
    /// The first write error (e.g. a closed pipe); later events are dropped.
    /// With [`NdjsonSink::threaded`] it is known after
    /// [`NdjsonSink::finish`].
    pub error: Option<io::Error>,
}

enum Output<W> {
    Inline(W),
    Threaded(Worker),
}

/// The writer thread of [`NdjsonSink::threaded`] and the batch being
/// filled for it. Lines keep the order in which events happened.
struct Worker {
    queue: Handoff<Item>,
    handle: Option<JoinHandle<io::Result<()>>>,
    /// Lines rendered since the last message of the batch.
    pending: Vec<u8>,
    /// Set by the writer at its first error (e.g. `| head` closed the pipe).
    failed: Arc<AtomicBool>,
}

/// What a connection record counts for in the writer's queue (its
/// handshake headers, events and counters).
const END_BYTES: usize = 2048;

/// One piece of output, in event order. Nearly every item is a message,
/// so the size of the rare `Lines` variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Item {
    /// Lines already rendered (the rare events).
    Lines(Vec<u8>),
    /// A `message` line, serialized by the writer thread.
    Message(Arc<LineFrame>, Unsettled),
    /// A `connection_end` line, rendered by the writer thread.
    End(Box<Connection>),
}

/// What surrounds the message object in a connection's `message` lines:
/// the keys before `message` and after it, in a sorted map's order (the
/// order of a [`Value`] object, as every other line).
#[derive(Debug, PartialEq)]
struct LineFrame {
    client: SocketAddr,
    server: SocketAddr,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl LineFrame {
    fn new(conn: &Connection) -> Self {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        LineFrame {
            client: conn.client,
            server: conn.server,
            prefix: format!(
                r#"{{"client":{},"conn":{},"event":"message","message":"#,
                quoted(&conn.client.to_string()),
                conn.id
            )
            .into_bytes(),
            suffix: match conn.stream_id {
                Some(s) => format!(
                    ",\"server\":{},\"stream_id\":{s}}}\n",
                    quoted(&conn.server.to_string())
                ),
                None => format!(",\"server\":{}}}\n", quoted(&conn.server.to_string())),
            }
            .into_bytes(),
        }
    }

    fn fits(&self, conn: &Connection) -> bool {
        self.client == conn.client && self.server == conn.server
    }

    /// Writes the whole `message` line of `m`.
    fn write(&self, out: &mut impl Write, m: &Message) -> io::Result<()> {
        out.write_all(&self.prefix)?;
        serde_json::to_writer(&mut *out, &SortedMessage::new(m)).map_err(super::json::into_io)?;
        out.write_all(&self.suffix)
    }
}

impl<W: Write> NdjsonSink<W> {
    /// Writes to `out` as events happen (live output: every line is
    /// written when its event happens).
    pub fn new(out: W) -> Self {
        NdjsonSink {
            out: Output::Inline(out),
            frames: HashMap::new(),
            error: None,
        }
        .with_header()
    }

    /// Writes the first line, the [`NdjsonHeader`]: a consumer knows the
    /// contract before the first event.
    fn with_header(mut self) -> Self {
        let header = serde_json::to_value(NdjsonHeader::default()).unwrap_or(Value::Null);
        self.line(&header);
        self
    }

    /// Serializes and writes on a worker thread, in batches (`report`: the
    /// analysis and the JSON encoding of the messages run on two cores).
    /// Lines come out in the same order and with the same bytes as with
    /// [`NdjsonSink::new`]; write errors are known after
    /// [`NdjsonSink::finish`]. Falls back to writing inline when no thread
    /// can be started.
    pub fn threaded(out: W) -> Self
    where
        W: Send + 'static,
    {
        let (queue, inbox) = handoff::<Item>();
        // The writer goes to the thread only once it runs, so that a failed
        // spawn leaves it here to write inline.
        let (handed, take) = std::sync::mpsc::channel::<W>();
        let failed = Arc::new(AtomicBool::new(false));
        let writer_failed = Arc::clone(&failed);
        let spawned = std::thread::Builder::new()
            .name("ndjson-writer".into())
            .spawn(move || match take.recv() {
                Ok(out) => write_batches(out, inbox, &writer_failed),
                Err(_) => Ok(()),
            });
        let out = match spawned {
            Ok(handle) => match handed.send(out) {
                Ok(()) => Output::Threaded(Worker {
                    queue,
                    handle: Some(handle),
                    pending: Vec::new(),
                    failed,
                }),
                Err(std::sync::mpsc::SendError(out)) => Output::Inline(out),
            },
            Err(_) => Output::Inline(out),
        };
        NdjsonSink {
            out,
            frames: HashMap::new(),
            error: None,
        }
        .with_header()
    }

    fn frame(&mut self, conn: &Connection) -> Arc<LineFrame> {
        let f = self
            .frames
            .entry(conn.key())
            .or_insert_with(|| Arc::new(LineFrame::new(conn)));
        if !f.fits(conn) {
            *f = Arc::new(LineFrame::new(conn));
        }
        Arc::clone(f)
    }

    fn line(&mut self, v: &Value) {
        if self.error.is_some() {
            return;
        }
        let mut r = Ok(());
        match &mut self.out {
            Output::Inline(out) => {
                r = serde_json::to_writer(&mut *out, v)
                    .map_err(super::json::into_io)
                    .and_then(|_| out.write_all(b"\n"));
            }
            Output::Threaded(w) => {
                // Serializing a `Value` into memory cannot fail.
                let _ = serde_json::to_writer(&mut w.pending, v);
                w.pending.push(b'\n');
                if w.pending.len() >= PENDING_BYTES {
                    w.send();
                }
            }
        }
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// Writes `m`'s line, or queues it for the writer thread.
    fn message_line(
        &mut self,
        conn: &Connection,
        mut m: Cow<'_, Message>,
        deferred: Option<Cow<'_, PendingDigest>>,
    ) {
        if self.error.is_some() {
            return;
        }
        let frame = self.frame(conn);
        match &mut self.out {
            Output::Inline(out) => {
                if let Some(d) = deferred {
                    d.settle(m.to_mut());
                }
                if let Err(e) = frame.write(out, &m) {
                    self.error = Some(e);
                }
            }
            Output::Threaded(w) => w.push_message(
                frame,
                Unsettled {
                    message: m.into_owned(),
                    digest: deferred.map(Cow::into_owned),
                },
            ),
        }
    }

    /// Writes the closing `capture` line, and waits for the writer thread.
    pub fn finish(&mut self, analysis: &Analysis) {
        let mut v = json!({
            "event": "capture",
            "capture": analysis.capture,
            "format": analysis.format,
            "link_type": analysis.link_type,
            "link_type_dlt": analysis.link_type_dlt,
            "packet_count": analysis.packet_count,
            "stats": analysis.stats,
            "capture_anomalies": analysis.capture_anomalies,
        });
        if !analysis.unsupported_tunnels.is_empty() {
            v["unsupported_tunnels"] = json!(analysis.unsupported_tunnels);
        }
        self.line(&v);
        let r = match &mut self.out {
            Output::Inline(out) => out.flush(),
            Output::Threaded(w) => w.close(),
        };
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }
}

impl<W> Drop for NdjsonSink<W>
where
    W: Write,
{
    fn drop(&mut self) {
        if let Output::Threaded(w) = &mut self.out {
            let _ = w.close();
        }
    }
}

impl Worker {
    fn push_message(&mut self, frame: Arc<LineFrame>, mut m: Unsettled) {
        self.take_pending();
        // A deferred digest is the writer's work unless it lags behind.
        if self.queue.writer_is_behind() {
            m.settle_now();
        }
        let bytes = m.held_bytes();
        self.queue.push(Item::Message(frame, m), bytes);
    }

    /// Moves the lines rendered since the last message into the batch.
    fn take_pending(&mut self) {
        if !self.pending.is_empty() {
            let lines = std::mem::take(&mut self.pending);
            let bytes = lines.len();
            self.queue.push(Item::Lines(lines), bytes);
        }
    }

    fn send(&mut self) {
        self.take_pending();
        self.queue.send();
    }

    /// Sends what is left, ends the thread and returns its first error.
    fn close(&mut self) -> io::Result<()> {
        self.take_pending();
        self.queue.close();
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the NDJSON writer thread failed"))),
            None => Ok(()),
        }
    }
}

/// The writer thread: writes every batch in order; after the first error it
/// raises `failed` and only drains the queue (so the analysis never blocks
/// on a dead pipe, and can stop).
fn write_batches<W: Write>(out: W, inbox: Inbox<Item>, failed: &AtomicBool) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut result = Ok(());
    inbox.each_batch(|batch| {
        for item in batch {
            if result.is_err() {
                return;
            }
            result = match item {
                Item::Lines(b) => out.write_all(b),
                Item::Message(frame, m) => {
                    m.settle_now();
                    frame.write(&mut out, &m.message)
                }
                Item::End(conn) => match end_line(conn) {
                    Some(v) => serde_json::to_writer(&mut out, &v)
                        .map_err(super::json::into_io)
                        .and_then(|_| out.write_all(b"\n")),
                    None => Ok(()),
                },
            };
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
        }
    });
    result?;
    out.flush()
}

/// A line about `conn`; an RFC 8441 session's lines add its `stream_id`.
fn with_conn(event: &str, conn: &Connection, key: &str, body: impl Serialize) -> Value {
    let mut v = json!({
        "event": event,
        "conn": conn.id,
        "client": conn.client,
        "server": conn.server,
        key: body,
    });
    if let (Some(s), Value::Object(map)) = (conn.stream_id, &mut v) {
        map.insert("stream_id".into(), json!(s));
    }
    v
}

/// The connection record without its per-message lists.
/// The `connection_end` line of a reported connection.
fn end_line(conn: &Connection) -> Option<Value> {
    conn.reported()
        .then(|| with_conn("connection_end", conn, "connection", summary(conn)))
}

fn summary(conn: &Connection) -> Value {
    let mut v = serde_json::to_value(conn).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.remove("messages");
        map.remove("control");
        // From the counters: a live capture may have dropped old messages.
        let s = &conn.stats;
        map.insert(
            "message_count".into(),
            json!(s.c2s.messages + s.s2c.messages),
        );
        map.insert(
            "control_count".into(),
            json!(s.c2s.control_frames + s.s2c.control_frames),
        );
    }
    v
}

impl<W: Write> NdjsonSink<W> {
    /// The output failed (e.g. `| head` closed the pipe): nothing more
    /// can be written, so the capture need not be read on.
    fn stopped(&self) -> bool {
        self.error.is_some()
            || matches!(&self.out, Output::Threaded(w) if w.failed.load(Ordering::Relaxed))
    }

    /// With the writer thread, the record goes to it to be rendered (the
    /// summary of a connection is a tree of every field: on a capture of
    /// many short connections that was most of the analysis thread's work).
    fn end(&mut self, conn: crate::analysis::Ended<'_>) {
        self.frames.remove(&conn.key());
        if let Output::Threaded(w) = &mut self.out {
            if self.error.is_some() || !conn.reported() {
                return;
            }
            w.take_pending();
            w.queue
                .push(Item::End(Box::new(conn.into_owned())), END_BYTES);
            return;
        }
        if let Some(v) = end_line(&conn) {
            self.line(&v);
        }
    }
}

impl<W: Write> Consumer for NdjsonSink<W> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        let v = match ev {
            Event::Handshake(conn) => with_conn("handshake", conn, "handshake", &conn.handshake),
            // The hot event: written (or queued for the writer thread) as
            // it completes, directly, without a `Value` tree.
            Event::Message {
                conn,
                message,
                deferred,
                ..
            } => {
                self.message_line(conn, message, deferred);
                return self.flow();
            }
            Event::Control { conn, frame } => with_conn("control", conn, "control", &*frame),
            Event::Violation { conn, violation } => {
                with_conn("violation", conn, "violation", &*violation)
            }
            Event::Anomaly { conn, anomaly } => with_conn("anomaly", conn, "anomaly", &*anomaly),
            Event::App { conn, record } => with_conn("app", conn, "app", record),
            Event::HttpApp {
                conn,
                exchange,
                record,
            } => {
                let mut v = with_conn("app", conn, "app", record);
                if let Value::Object(map) = &mut v {
                    map.insert("http_exchange".into(), json!(exchange));
                }
                v
            }
            Event::AppFinding { conn, finding } => {
                with_conn("app_finding", conn, "app_finding", finding)
            }
            Event::End(conn) => {
                self.end(conn);
                return self.flow();
            }
            Event::CaptureStart(_) | Event::CaptureAnomaly(_) | Event::Payload { .. } => {
                return self.flow();
            }
        };
        self.line(&v);
        self.flow()
    }

    /// Every message is written as a `message` line: the model need not
    /// keep them (bounded memory on long captures).
    fn wants(&self) -> Wants {
        Wants {
            takes_messages: true,
            ..Wants::default()
        }
    }
}

impl<W: Write> NdjsonSink<W> {
    fn flow(&self) -> ControlFlow<()> {
        if self.stopped() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// [`Message`]'s serialized fields, sorted by name, so that a `message`
/// line has the bytes [`with_conn`] would give it through a `Value`; the
/// test `direct_message_lines_equal_value_lines` keeps the two in step when
/// [`Message`] gains a field.
#[derive(Serialize)]
struct SortedMessage<'a> {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::hexfmt::serialize_opt"
    )]
    captured_prefix_hex: Option<&'a [u8]>,
    complete: bool,
    compressed: bool,
    dir: Direction,
    #[serde(flatten, serialize_with = "super::contract::end_ts::serialize")]
    end_ts: Timestamp,
    first_packet: PacketNo,
    frame_headers: SortedFrames<'a>,
    frames: u32,
    last_packet: PacketNo,
    opcode: Opcode,
    payload_len: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::hexfmt::serialize_opt"
    )]
    preview_hex: Option<&'a [u8]>,
    sha256: Option<&'a PayloadDigest>,
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    text_truncated: bool,
    #[serde(flatten, serialize_with = "super::contract::ts::serialize")]
    ts: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    undecodable: Option<&'a str>,
    utf8_valid: Option<bool>,
    wire_payload_len: u64,
}

impl<'a> SortedMessage<'a> {
    fn new(m: &'a Message) -> Self {
        SortedMessage {
            captured_prefix_hex: m.captured_prefix.as_deref(),
            complete: m.complete,
            compressed: m.compressed,
            dir: m.dir,
            end_ts: m.end_ts,
            first_packet: m.first_packet,
            frame_headers: SortedFrames(&m.frame_headers),
            frames: m.frames,
            last_packet: m.last_packet,
            opcode: m.opcode,
            payload_len: m.payload_len,
            preview_hex: m.preview.as_deref(),
            sha256: m.sha256.as_ref(),
            text: m.text.as_deref(),
            text_truncated: m.text_truncated,
            ts: m.ts,
            undecodable: m.undecodable.as_deref(),
            utf8_valid: m.utf8_valid,
            wire_payload_len: m.wire_payload_len,
        }
    }
}

struct SortedFrames<'a>(&'a [FrameInfo]);

impl Serialize for SortedFrames<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| SortedFrame {
            end_packet: f.end_packet,
            fin: f.fin,
            header_packet: f.header_packet,
            length_format: f.length_format,
            mask_key: f.mask_key.as_ref(),
            opcode: f.opcode,
            payload_len: f.payload_len,
            rsv: f.rsv,
        }))
    }
}

/// [`FrameInfo`]'s fields, sorted by name.
#[derive(Serialize)]
struct SortedFrame<'a> {
    end_packet: PacketNo,
    fin: bool,
    header_packet: PacketNo,
    length_format: LengthFormat,
    mask_key: Option<&'a MaskKey>,
    opcode: Opcode,
    payload_len: u64,
    rsv: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Limits, NullSink};

    fn direct_line(c: &Connection, m: &Message) -> String {
        let mut out = Vec::new();
        LineFrame::new(c).write(&mut out, m).expect("line");
        assert_eq!(out.pop(), Some(b'\n'));
        String::from_utf8(out).expect("utf-8")
    }

    /// The sample captures' NDJSON, written inline keeping every
    /// connection in the model, and by the writer thread dropping finished
    /// connections (as `report` does); the totals must agree.
    fn both_ways(path: &str, filter: Option<&str>) -> (Vec<u8>, Vec<u8>) {
        let mut stats = Vec::new();
        let mut run = |threaded: bool| {
            let shared = SharedBuf::default();
            let mut sink = if threaded {
                NdjsonSink::threaded(shared.clone())
            } else {
                NdjsonSink::new(shared.clone())
            };
            let mut opts = crate::pipeline::Options {
                drop_finished: threaded,
                ..Default::default()
            };
            // As `report` runs it: the writer thread hashes.
            opts.limits.ws.defer_digest = threaded && filter.is_none();
            let a = match filter {
                Some(f) => {
                    let f = crate::payload::MessageFilter::parse(f).expect("filter");
                    let mut w = crate::query::WhereSink::new(&mut sink, f);
                    crate::pipeline::analyze_path_with(path, &opts, &mut w)
                }
                None => crate::pipeline::analyze_path_with(path, &opts, &mut sink),
            };
            if let Ok(a) = a {
                sink.finish(&a);
                assert!(!threaded || a.connections.is_empty(), "{path}: kept");
                stats.push(a.stats);
            }
            assert!(sink.error.is_none());
            drop(sink);
            shared.0.lock().map(|b| b.clone()).unwrap_or_default()
        };
        let both = (run(false), run(true));
        if let [kept, dropped] = stats[..] {
            assert_eq!(kept, dropped, "{path}: totals differ");
        }
        both
    }

    #[derive(Clone, Default)]
    struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn sample_captures() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .expect("captures dir")
            .filter_map(|e| Some(e.ok()?.path().to_string_lossy().into_owned()))
            .filter(|p| p.ends_with(".pcap") || p.ends_with(".pcapng"))
            .collect();
        v.sort();
        v
    }

    /// The writer thread changes nothing in the output, filtered or not.
    #[test]
    fn threaded_output_equals_inline_output() {
        let mut lines = 0;
        for path in sample_captures() {
            let (inline, threaded) = both_ways(&path, None);
            assert!(inline == threaded, "{path}: threaded NDJSON differs");
            lines += inline.iter().filter(|&&b| b == b'\n').count();
            let (inline, threaded) = both_ways(&path, Some("opcode == \"text\""));
            assert!(
                inline == threaded,
                "{path}: threaded NDJSON with --where differs"
            );
        }
        assert!(lines > 1000, "only {lines} lines compared");
    }

    /// Lines without messages between them (many connections, no data)
    /// are handed over in bounded pieces, all of them and in order.
    #[test]
    fn rendered_lines_are_handed_over_in_bounded_pieces() {
        let shared = SharedBuf::default();
        let mut sink = NdjsonSink::threaded(shared.clone());
        for i in 0..2000 {
            sink.line(&json!({"event": "anomaly", "n": i, "pad": "x".repeat(100)}));
            let Output::Threaded(w) = &sink.out else {
                panic!("no writer thread");
            };
            assert!(w.pending.len() < PENDING_BYTES);
        }
        drop(sink);
        let out = shared.0.lock().map(|b| b.clone()).unwrap_or_default();
        let ns: Vec<u64> = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["n"].as_u64())
            .collect();
        assert_eq!(ns, (0..2000).collect::<Vec<_>>());
    }

    /// `--where` numbers messages as the JSON report's filter does, though
    /// the NDJSON sink takes every message out of the model.
    #[test]
    fn where_index_picks_the_same_messages_as_the_json_filter() {
        for expr in ["index == 1 || index == 3", "ws.message.index in {1, 3}"] {
            same_messages_streamed_and_applied(expr);
        }
    }

    fn same_messages_streamed_and_applied(expr: &str) {
        let mut picked = 0;
        for path in sample_captures() {
            let (_, threaded) = both_ways(&path, Some(expr));
            let got: Vec<(u64, u64)> = String::from_utf8_lossy(&threaded)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["event"] == "message")
                .map(|v| {
                    (
                        v["conn"].as_u64().unwrap_or(0),
                        v["message"]["first_packet"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            let Ok(mut a) = crate::pipeline::analyze_path(&path, Limits::default(), &mut NullSink)
            else {
                continue;
            };
            crate::payload::MessageFilter::parse(expr)
                .expect("filter")
                .apply(&mut a);
            let want: Vec<(u64, u64)> = a
                .connections
                .iter()
                .flat_map(|c| {
                    c.messages
                        .iter()
                        .map(|m| (u64::from(c.id), m.first_packet.0))
                })
                .collect();
            let (mut got, mut want) = (got, want);
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{path}");
            picked += got.len();
        }
        assert!(picked > 10, "{picked}");
    }

    /// A writer that fails is reported after `finish`, not lost.
    #[test]
    fn threaded_write_error_is_reported_and_stops_the_analysis() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let path = sample_captures().into_iter().next().expect("a capture");
        let mut sink = NdjsonSink::threaded(Broken);
        let a = crate::pipeline::analyze_path(&path, Limits::default(), &mut sink).expect("ok");
        sink.finish(&a);
        assert!(sink.stopped());
        let e = sink.error.take().expect("the error");
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    /// Accepts `n` bytes, then fails as a pipe closed by `| head` does.
    struct FailAfter(usize);

    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// `report --format ndjson | head`: once the output is gone the
    /// capture is not read on (it used to be read to its end).
    #[test]
    fn a_closed_output_stops_reading_the_capture() {
        let path = format!("{}/captures/many_conns.pcap", env!("CARGO_MANIFEST_DIR"));
        let whole = crate::pipeline::analyze_path(&path, Limits::default(), &mut NullSink)
            .expect("analysed");
        let mut sink = NdjsonSink::new(FailAfter(2000));
        let cut =
            crate::pipeline::analyze_path(&path, Limits::default(), &mut sink).expect("analysed");
        assert!(sink.stopped());
        assert!(
            cut.packet_count < whole.packet_count / 2,
            "{} of {} packets read",
            cut.packet_count,
            whole.packet_count
        );
        assert!(
            cut.capture_anomalies.is_empty(),
            "{:?}",
            cut.capture_anomalies
        );
    }

    /// A closed pipe in the middle of a message stays a closed pipe (the
    /// binary exits quietly on it, as with `| head`), not "other".
    #[test]
    fn broken_pipe_inside_a_message_keeps_its_kind() {
        let path = sample_captures().into_iter().next().expect("a capture");
        let a = crate::pipeline::analyze_path(&path, Limits::default(), &mut NullSink)
            .expect("analysed");
        let c = a.connections.iter().find(|c| !c.messages.is_empty());
        let (c, m) = c.map(|c| (c, &c.messages[0])).expect("a message");
        let frame = LineFrame::new(c);
        let e = frame
            .write(&mut FailAfter(frame.prefix.len() + 5), m)
            .expect_err("fails");
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    /// Every message of every sample capture gives the same line both ways.
    #[test]
    fn direct_message_lines_equal_value_lines() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("captures dir") {
            let path = entry.expect("entry").path().to_string_lossy().into_owned();
            if !(path.ends_with(".pcap") || path.ends_with(".pcapng")) {
                continue;
            }
            let Ok(a) = crate::pipeline::analyze_path(&path, Limits::default(), &mut NullSink)
            else {
                continue;
            };
            for c in &a.connections {
                for m in &c.messages {
                    let want = serde_json::to_string(&with_conn("message", c, "message", m))
                        .expect("value line");
                    let got = direct_line(c, m);
                    assert_eq!(got, want, "{path}");
                    // And with every optional field flipped.
                    let mut m2 = m.clone();
                    m2.text_truncated = !m.text_truncated;
                    m2.captured_prefix = m.captured_prefix.clone().xor(Some(vec![0xab]));
                    m2.preview = m.preview.clone().xor(Some(vec![0xcd]));
                    m2.sha256 = m.sha256.xor(Some(crate::hexfmt::Hex([0xef; 32])));
                    m2.text = m.text.clone().xor(Some("t".into()));
                    m2.payload_len = m.payload_len.xor(Some(1));
                    m2.utf8_valid = m.utf8_valid.xor(Some(true));
                    m2.undecodable = m.undecodable.clone().xor(Some("u".into()));
                    let want = serde_json::to_string(&with_conn("message", c, "message", &m2))
                        .expect("value line");
                    let got = direct_line(c, &m2);
                    assert_eq!(got, want, "{path}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} messages checked");
    }
}
