//! Payload insight: what the messages carry, beyond the model's bounded
//! head and text.
//!
//! - [`PayloadCollector`]: a [`Consumer`] that rebuilds
//!   the whole decoded payload of each selected message and hands it to a
//!   callback (export, FLV). Only the message in progress per direction is
//!   buffered.
//! - [`flv`] / [`amf0`]: FLV streams (HTTP-FLV over WebSocket) and their
//!   `onMetaData`; [`FlvCollector`] recognises and decodes them.
//! - [`message_context`]: a message as the old `--where` language
//!   ([`crate::query::json_filter`]) sees it.
//!
//! Nothing here changes the model: the analysis is the same with or
//! without these consumers (see `docs/architecture-notes-payload.md`).

pub mod amf0;
pub mod flv;

use crate::analysis::{Consumer, Event, Wants};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::model::{Connection, RecordKey};
use crate::ws::frame::Opcode;
use crate::ws::message::Message;
use flv::{FlvEvent, FlvHeader, FlvParser, FlvStats, FlvTag};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Which connections and directions a consumer wants.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Connections (and RFC 8441 sessions); empty means all.
    pub conns: Vec<ConnChoice>,
    /// One direction, or both.
    pub dir: Option<Direction>,
}

/// One `--conn` value: a connection id (`3`: the connection and every
/// RFC 8441 session it carries), or one session (`3/5`: stream 5 of
/// connection 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnChoice {
    /// The connection id.
    pub id: u32,
    /// The HTTP/2 stream, for one session only.
    pub stream: Option<u32>,
}

impl std::str::FromStr for ConnChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not a connection id (3) or a session (3/5: stream 5 of connection 3)")
        };
        let (id, stream) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.trim().parse().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        Ok(ConnChoice {
            id: id.trim().parse().map_err(|_| bad())?,
            stream,
        })
    }
}

impl From<u32> for ConnChoice {
    fn from(id: u32) -> Self {
        ConnChoice { id, stream: None }
    }
}

impl Selection {
    /// True if the record `key` is chosen.
    pub fn chooses(&self, key: RecordKey) -> bool {
        self.conns.is_empty()
            || self
                .conns
                .iter()
                .any(|c| c.id == key.conn && c.stream.is_none_or(|s| key.stream == Some(s)))
    }

    /// True if messages of the record `key` in `dir` are wanted.
    pub fn wants(&self, key: RecordKey, dir: Direction) -> bool {
        self.chooses(key) && self.dir.is_none_or(|d| d == dir)
    }
}

/// A message with its whole decoded payload.
#[derive(Debug, Clone, Copy)]
pub struct WholeMessage<'a> {
    /// Connection id.
    pub conn_id: u32,
    /// The HTTP/2 stream of an RFC 8441 session.
    pub stream_id: Option<u32>,
    /// Index in the connection's `messages`.
    pub index: usize,
    /// The model's record.
    pub msg: &'a Message,
    /// Every decoded byte captured (up to the first gap when the message is
    /// incomplete).
    pub payload: &'a [u8],
    /// Time of the capture's first packet, when known (for filters).
    pub capture_start: Option<Timestamp>,
    /// The application records the message completed (for filters).
    pub app: &'a [crate::model::app::AppRecord],
}

/// Rebuilds whole payloads of the selected messages.
pub struct PayloadCollector<F: FnMut(&Connection, WholeMessage<'_>)> {
    sel: Selection,
    /// The message in progress per connection and direction.
    current: HashMap<(RecordKey, Direction), Vec<u8>>,
    start: Option<Timestamp>,
    on_message: F,
}

impl<F: FnMut(&Connection, WholeMessage<'_>)> PayloadCollector<F> {
    /// Calls `on_message` with its connection for each completed message
    /// that `sel` wants.
    pub fn new(sel: Selection, on_message: F) -> Self {
        PayloadCollector {
            sel,
            current: HashMap::new(),
            start: None,
            on_message,
        }
    }
}

impl<F: FnMut(&Connection, WholeMessage<'_>)> Consumer for PayloadCollector<F> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        match ev {
            Event::CaptureStart(ts) => self.start = Some(ts),
            Event::Payload { conn, dir, chunk } if self.sel.wants(conn.key(), dir) => {
                self.current
                    .entry((conn.key(), dir))
                    .or_default()
                    .extend_from_slice(chunk);
            }
            Event::Message {
                conn,
                index,
                message,
                app,
                ..
            } if self.sel.wants(conn.key(), message.dir) => {
                let buf = self
                    .current
                    .remove(&(conn.key(), message.dir))
                    .unwrap_or_default();
                (self.on_message)(
                    conn,
                    WholeMessage {
                        conn_id: conn.id,
                        stream_id: conn.stream_id,
                        index,
                        msg: &message,
                        payload: &buf,
                        capture_start: self.start,
                        app,
                    },
                );
            }
            Event::End(conn) => {
                // A message still unfinished when its connection ends has
                // no record: its bytes go.
                let key = conn.key();
                self.current.retain(|&(k, _), _| k != key);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn wants(&self) -> Wants {
        Wants {
            payloads: true,
            ..Wants::default()
        }
    }
}

/// One message as `payload -T json` lists it, and the object an
/// old-syntax `--where` expression is evaluated against.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PayloadMessage {
    /// Connection id.
    pub conn: u32,
    /// Index of the message in its connection (0-based).
    pub index: usize,
    /// Direction.
    pub dir: Direction,
    /// Opcode of its first frame.
    pub opcode: Opcode,
    /// Decoded payload length, when known.
    pub len: Option<u64>,
    /// Every byte of it was captured.
    pub complete: bool,
    /// The text, when it is a text message whose text was kept.
    pub text: Option<String>,
    /// The text parsed as JSON; null when it is not JSON, was cut at the
    /// text cap, or the message is binary.
    pub json: Value,
}

/// The object an old-syntax `--where` expression is evaluated against for
/// a message ([`PayloadMessage`]). `json` is parsed from the text only when `with_json` (see
/// [`crate::query::json_filter::Expr::uses_root`]); it is `null` when the text is not JSON, was cut at
/// the text cap, or the message is binary.
pub fn message_context(conn_id: u32, index: usize, msg: &Message, with_json: bool) -> Value {
    let parsed = if with_json && !msg.text_truncated {
        msg.text
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    serde_json::to_value(PayloadMessage {
        conn: conn_id,
        index,
        dir: msg.dir,
        opcode: msg.opcode,
        len: msg.payload_len,
        complete: msg.complete,
        text: msg.text.clone(),
        json: parsed,
    })
    .unwrap_or(Value::Null)
}

/// `payload -T json` (without its version stamp, see [`write_json`]).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PayloadDocument<'a> {
    /// Capture name.
    pub capture: &'a str,
    /// The FLV streams found (RTMP-over-WebSocket, FLV over WebSocket).
    pub flv_streams: &'a [FlvStream],
    /// Text messages whose text is JSON.
    pub json_messages: u64,
    /// The filter given (`-Y` / `--where`), null without one.
    #[serde(rename = "where")]
    pub filter: Option<&'a str>,
    /// Messages listed below.
    pub matched: usize,
    /// The messages the filter selects (without one: the JSON messages).
    #[schemars(with = "Vec<PayloadMessage>")]
    pub messages: &'a [Value],
}

/// Writes `doc` stamped with its contract's version
/// (`docs/schema/payload.schema.json`), pretty, with a final newline.
pub fn write_json(doc: PayloadDocument<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use crate::report::contract::{PAYLOAD_SCHEMA_VERSION, Stamped};
    serde_json::to_writer_pretty(&mut *out, &Stamped::new(PAYLOAD_SCHEMA_VERSION, doc))
        .map_err(std::io::Error::other)?;
    writeln!(out)
}

/// The filter of every subcommand: a display filter (`-Y`), or the old
/// `--where` language (see [`crate::query::Predicate`]).
pub type MessageFilter = crate::query::Predicate;

/// One FLV stream found in one direction of a connection.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FlvStream {
    /// Connection id.
    pub conn: u32,
    /// Direction that carried it.
    pub dir: Direction,
    /// The file header (None when the capture started mid-stream).
    pub header: Option<FlvHeader>,
    /// The stream started with tags, without a header.
    pub header_missing: bool,
    /// Every complete tag.
    pub tags: Vec<FlvTag>,
    /// What did not parse, and messages that were incomplete.
    pub problems: Vec<String>,
    /// Messages fed.
    pub messages: u64,
    /// Payload bytes fed.
    pub bytes: u64,
    /// Bytes of an unfinished tag at the end.
    pub trailing_bytes: u64,
    /// Statistics over the tags.
    pub stats: FlvStats,
    /// The `onMetaData` object of the first script tag, if any.
    pub metadata: Option<Value>,
    #[serde(skip)]
    parser: FlvParser,
    /// Header + complete tags, byte for byte (kept only for export).
    #[serde(skip)]
    pub raw: Option<Vec<u8>>,
}

impl FlvStream {
    fn new(conn: u32, dir: Direction, keep_raw: bool) -> Self {
        FlvStream {
            conn,
            dir,
            header: None,
            header_missing: false,
            tags: Vec::new(),
            problems: Vec::new(),
            messages: 0,
            bytes: 0,
            trailing_bytes: 0,
            stats: FlvStats::default(),
            metadata: None,
            parser: FlvParser::new(),
            raw: keep_raw.then(Vec::new),
        }
    }

    fn feed(&mut self, m: WholeMessage<'_>) {
        self.messages += 1;
        self.bytes += m.payload.len() as u64;
        if !m.msg.complete {
            self.problems.push(format!(
                "message {} (packet {}) incomplete: its unfinished tag is dropped",
                m.index, m.msg.first_packet
            ));
            self.parser.gap();
            return;
        }
        self.parser.message_boundary(m.payload);
        let (tags, problems, raw, header) = (
            &mut self.tags,
            &mut self.problems,
            &mut self.raw,
            &mut self.header,
        );
        self.parser.push(m.payload, m.msg.end_ts, &mut |e| match e {
            FlvEvent::Header(h, r) => {
                if let Some(raw) = raw.as_mut() {
                    raw.extend_from_slice(r);
                }
                *header = Some(h);
            }
            FlvEvent::Tag(t, r) => {
                if let Some(raw) = raw.as_mut() {
                    raw.extend_from_slice(r);
                }
                tags.push(t);
            }
            FlvEvent::Problem(p) => problems.push(p),
        });
    }

    fn finish(&mut self) {
        self.header_missing = self.parser.header_missing;
        self.trailing_bytes = self.parser.pending() as u64;
        self.stats = FlvStats::of(&self.tags);
        self.metadata = self
            .tags
            .iter()
            .filter_map(|t| t.script.as_ref())
            .find(|v| v.first().and_then(Value::as_str) == Some("onMetaData"))
            .and_then(|v| v.get(1).cloned());
        if self.header_missing
            && let Some(raw) = self.raw.as_mut()
        {
            {
                // A playable file needs the header: synthesise one from the
                // tag kinds seen (FLV spec annex E.2, version 1, size 9).
                let audio = self.stats.audio_tags > 0;
                let video = self.stats.video_tags > 0;
                let flags = (u8::from(audio) << 2) | u8::from(video);
                let mut h = vec![b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0];
                h.append(raw);
                *raw = h;
            }
        }
    }
}

/// Finds and decodes FLV streams: the first message of a (connection,
/// direction) that is binary and starts with an FLV header (or, mid-stream,
/// with a plausible tag) makes that direction an FLV stream, and every later
/// message of it is parsed as the continuation of the byte stream.
pub struct FlvCollector {
    sel: Selection,
    keep_raw: bool,
    current: HashMap<(RecordKey, Direction), Vec<u8>>,
    /// None: not FLV.
    streams: HashMap<(RecordKey, Direction), Option<FlvStream>>,
}

impl FlvCollector {
    /// Looks at the selected directions; `keep_raw` keeps the bytes for export.
    pub fn new(sel: Selection, keep_raw: bool) -> Self {
        FlvCollector {
            sel,
            keep_raw,
            current: HashMap::new(),
            streams: HashMap::new(),
        }
    }

    /// The FLV streams found, by connection then direction.
    pub fn finish(self) -> Vec<FlvStream> {
        let mut v: Vec<FlvStream> = self.streams.into_values().flatten().collect();
        for s in &mut v {
            s.finish();
        }
        v.sort_by_key(|s| (s.conn, s.dir));
        v
    }
}

impl Consumer for FlvCollector {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        match ev {
            Event::Payload { conn, dir, chunk } => self.payload(conn, dir, chunk),
            Event::Message {
                conn,
                index,
                message,
                ..
            } => self.message_end(conn, index, &message),
            Event::End(conn) => {
                let key = conn.key();
                self.current.retain(|&(k, _), _| k != key);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn wants(&self) -> Wants {
        Wants {
            payloads: true,
            ..Wants::default()
        }
    }
}

impl FlvCollector {
    fn payload(&mut self, conn: &Connection, dir: Direction, chunk: &[u8]) {
        let key = (conn.key(), dir);
        if !self.sel.wants(conn.key(), dir) || matches!(self.streams.get(&key), Some(None)) {
            return;
        }
        self.current
            .entry(key)
            .or_default()
            .extend_from_slice(chunk);
    }

    fn message_end(&mut self, conn: &Connection, msg_index: usize, msg: &Message) {
        let key = (conn.key(), msg.dir);
        if !self.sel.wants(conn.key(), msg.dir) {
            return;
        }
        let buf = self.current.remove(&key).unwrap_or_default();
        let keep_raw = self.keep_raw;
        let slot = self.streams.entry(key).or_insert_with(|| {
            let is_flv = msg.opcode == Opcode::Binary
                && (flv::looks_like_header(&buf) || flv::looks_like_tag(&buf));
            is_flv.then(|| FlvStream::new(conn.id, msg.dir, keep_raw))
        });
        if let Some(s) = slot {
            s.feed(WholeMessage {
                conn_id: conn.id,
                stream_id: conn.stream_id,
                index: msg_index,
                msg,
                payload: &buf,
                capture_start: None,
                app: &[],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        let k = |conn, stream| RecordKey { conn, stream };
        let all = Selection::default();
        assert!(all.wants(k(3, None), Direction::ClientToServer));
        let s = Selection {
            conns: vec![2.into()],
            dir: Some(Direction::ServerToClient),
        };
        assert!(s.wants(k(2, None), Direction::ServerToClient));
        assert!(s.wants(k(2, Some(5)), Direction::ServerToClient));
        assert!(!s.wants(k(2, None), Direction::ClientToServer));
        assert!(!s.wants(k(1, None), Direction::ServerToClient));
        let one: ConnChoice = "2/5".parse().unwrap();
        let s = Selection {
            conns: vec![one],
            dir: None,
        };
        assert!(s.wants(k(2, Some(5)), Direction::ClientToServer));
        assert!(!s.wants(k(2, Some(3)), Direction::ClientToServer));
        assert!(!s.wants(k(2, None), Direction::ClientToServer));
        assert!("2/x".parse::<ConnChoice>().is_err() && "x".parse::<ConnChoice>().is_err());
    }
}
