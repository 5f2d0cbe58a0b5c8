//! Baselines: a saved expectation of what a capture contains, and a readable
//! diff against it.
//!
//! A baseline is plain JSON (`"baseline_version": 1`) built by [`baseline`]
//! from an [`Analysis`]: per connection the handshake results, how it ended,
//! violations and anomalies, counters, and one line per message (direction,
//! opcode, frames, sizes, SHA-256, a short preview, packets) and per control
//! frame (close codes and reasons). [`to_pretty`] writes it with sorted-by-
//! meaning keys, two-space indentation and one line per message, so a
//! version-control diff of a baseline file names the message that changed.
//!
//! Volatile fields change from one recording of the same scenario to the
//! next: ports, timestamps, mask keys, Sec-WebSocket-Key/Accept
//! ([`VOLATILE`]). They are stored, and [`diff`] skips them unless
//! [`DiffOptions::strict`] is set. Packet numbers are compared by default
//! (a capture file is a fixed artifact); `--ignore packets` drops them
//! ([`PACKET_FIELDS`]) for captures recorded afresh on every CI run.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::flow::Role;
use crate::hexfmt::hex;
use crate::model::finding::{AnomalyKind, ViolationKind};
use crate::model::{Analysis, Connection, DirStats, Protocol, TcpEnd};
use crate::report::contract::{BASELINE_SCHEMA_VERSION, Stamped};
use crate::ws::frame::Opcode;
use crate::ws::mask::MaskKey;
use crate::ws::message::{ControlFrame, Message, PayloadDigest};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use similar::DiffOp;
use similar::algorithms::{Capture, myers};
use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

/// The format version written as `baseline_version`; [`check_version`]
/// refuses any other.
pub const BASELINE_VERSION: u64 = 1;

/// Fields that differ between two recordings of the same traffic: compared
/// only with `--strict`.
pub const VOLATILE: &[&str] = &[
    "client_port",
    "server_port",
    "start_ts",
    "end_ts",
    "mask_keys",
    "sec_websocket_key",
    "sec_websocket_accept",
];

/// The version stamp of the file ([`Stamped`]): who wrote it, not what the
/// capture holds, so never compared.
pub const STAMP: &[&str] = &["schema_version", "wsinspect_version"];

/// The fields `--ignore packets` stands for.
pub const PACKET_FIELDS: &[&str] = &[
    "packet",
    "packets",
    "first_packet",
    "last_packet",
    "request_packet",
    "response_packet",
    "packet_count",
];

/// Characters of text (or bytes of binary, in hex) kept as a message preview.
const PREVIEW_CHARS: usize = 32;
const PREVIEW_BYTES: usize = 12;

/// A timestamp as `"<seconds>.<nanoseconds, 9 digits>"`: exact, and
/// stable across float printers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactSecs(pub Timestamp);

impl Serialize for ExactSecs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = self.0.0.div_euclid(1_000_000_000);
        let nanos = self.0.0.rem_euclid(1_000_000_000);
        s.collect_str(&format_args!("{secs}.{nanos:09}"))
    }
}

impl JsonSchema for ExactSecs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExactSeconds".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Seconds since the Unix epoch, exact to the nanosecond, as a decimal string with nine fractional digits.",
            "type": "string",
            "pattern": "^-?[0-9]+\\.[0-9]{9}$"
        })
    }
}

/// Counters of one direction of a connection.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DirCounts {
    /// Data messages.
    pub messages: u64,
    /// Text messages kept in the model.
    pub text: usize,
    /// Binary messages kept in the model.
    pub binary: usize,
    /// Control frames.
    pub control_frames: u64,
    /// Frames.
    pub frames: u64,
    /// Decoded payload bytes.
    pub payload_bytes: u64,
    /// Payload bytes on the wire.
    pub wire_payload_bytes: u64,
    /// Bytes of the TCP stream never captured.
    pub missing_bytes: u64,
}

fn dir_counts(d: &DirStats, msgs: &[&Message]) -> DirCounts {
    let count = |op: Opcode| msgs.iter().filter(|m| m.opcode == op).count();
    DirCounts {
        messages: d.messages,
        text: count(Opcode::Text),
        binary: count(Opcode::Binary),
        control_frames: d.control_frames,
        frames: d.frames,
        payload_bytes: d.payload_bytes,
        wire_payload_bytes: d.wire_payload_bytes,
        missing_bytes: d.missing_bytes,
    }
}

fn preview(m: &Message) -> Option<String> {
    match (&m.text, m.opcode) {
        (Some(t), _) => {
            let mut p: String = t.chars().take(PREVIEW_CHARS).collect();
            if t.chars().nth(PREVIEW_CHARS).is_some() {
                p.push('…');
            }
            Some(p)
        }
        (None, Opcode::Text) => None,
        (None, _) if m.head.is_empty() => None,
        (None, _) => {
            let n = m.head.len().min(PREVIEW_BYTES);
            let mut p = hex(m.head.get(..n).unwrap_or_default());
            if m.payload_len.unwrap_or(0) > n as u64 {
                p.push('…');
            }
            Some(p)
        }
    }
}

/// One data message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineMessage {
    /// Direction.
    pub dir: Direction,
    /// Opcode of its first frame.
    pub opcode: Opcode,
    /// Frames it took.
    pub frames: u32,
    /// Compressed with permessage-deflate (RFC 7692).
    pub compressed: bool,
    /// Decoded payload length, when known.
    pub payload_len: Option<u64>,
    /// Payload length on the wire.
    pub wire_payload_len: u64,
    /// Every byte of it was captured.
    pub complete: bool,
    /// SHA-256 of the decoded payload, when it is known whole.
    pub sha256: Option<PayloadDigest>,
    /// The first characters of text (or bytes of binary, in hex), `…`
    /// when cut.
    pub preview: Option<String>,
    /// Packet of its first byte.
    pub first_packet: u64,
    /// Packet of its last byte.
    pub last_packet: u64,
    /// Masking keys of its frames (client messages only; volatile).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mask_keys: Vec<MaskKey>,
}

fn message(m: &Message) -> BaselineMessage {
    BaselineMessage {
        dir: m.dir,
        opcode: m.opcode,
        frames: m.frames,
        compressed: m.compressed,
        payload_len: m.payload_len,
        wire_payload_len: m.wire_payload_len,
        complete: m.complete,
        sha256: m.sha256,
        preview: preview(m),
        first_packet: m.first_packet.0,
        last_packet: m.last_packet.0,
        mask_keys: m.frame_headers.iter().filter_map(|f| f.mask_key).collect(),
    }
}

/// One control frame.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineControl {
    /// Direction.
    pub dir: Direction,
    /// `close`, `ping` or `pong`.
    pub opcode: Opcode,
    /// Payload length.
    pub payload_len: u64,
    /// Close frames only: the status code (null when the frame has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_code: Option<Option<u16>>,
    /// Close frames only: the reason (null when the frame has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<Option<String>>,
    /// Packet that carried it.
    pub packet: u64,
    /// Its masking key (client frames only; volatile).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mask_keys: Vec<MaskKey>,
}

fn control(f: &ControlFrame) -> BaselineControl {
    let close = f.opcode == Opcode::Close;
    BaselineControl {
        dir: f.dir,
        opcode: f.opcode,
        payload_len: f.payload_len,
        close_code: close.then_some(f.close_code),
        close_reason: close.then(|| f.close_reason.clone()),
        packet: f.packet.0,
        mask_keys: f.frame.mask_key.into_iter().collect(),
    }
}

/// What the opening handshake established.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineHandshake {
    /// An upgrade request was seen.
    pub seen: bool,
    /// The request target.
    pub request_target: Option<String>,
    /// The response status.
    pub status: Option<u16>,
    /// Sec-WebSocket-Accept matches the key (RFC 6455 §4.2.2).
    pub accept_valid: Option<bool>,
    /// The negotiated subprotocol.
    pub subprotocol: Option<String>,
    /// The negotiated extensions.
    pub extensions: Option<String>,
    /// The subprotocols the client offered.
    pub offered_subprotocols: Option<String>,
    /// The extensions the client offered.
    pub offered_extensions: Option<String>,
    /// The whole request was captured.
    pub request_complete: bool,
    /// The whole response was captured.
    pub response_complete: bool,
    /// Sec-WebSocket-Key (volatile).
    pub sec_websocket_key: Option<String>,
    /// Sec-WebSocket-Accept (volatile).
    pub sec_websocket_accept: Option<String>,
}

/// One HTTP request/response exchange on the connection.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineExchange {
    /// Request method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// The request asked for an upgrade.
    pub upgrade: bool,
    /// Response status, when answered.
    pub status: Option<u16>,
    /// Packet of the request.
    pub request_packet: u64,
    /// Packet of the response.
    pub response_packet: Option<u64>,
}

/// A violation or an anomaly: kind, side and packet (the sentences may be
/// reworded freely, so they are not kept).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineEvent<K> {
    /// What kind.
    pub kind: K,
    /// Which side sent it, when known.
    pub dir: Option<Direction>,
    /// Where.
    pub packet: u64,
}

/// The counters of both directions.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineCounts {
    /// Client to server.
    pub c2s: DirCounts,
    /// Server to client.
    pub s2c: DirCounts,
}

/// One connection.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineConnection {
    /// Connection id (1-based).
    pub id: u32,
    /// Client address.
    pub client: String,
    /// Client port (volatile).
    pub client_port: Option<u16>,
    /// Server address.
    pub server: String,
    /// Server port (volatile).
    pub server_port: Option<u16>,
    /// Protocol, as in the JSON report.
    pub protocol: Protocol,
    /// A WebSocket connection.
    pub is_websocket: bool,
    /// The opening handshake.
    pub handshake: BaselineHandshake,
    /// HTTP exchanges.
    pub http_exchanges: Vec<BaselineExchange>,
    /// Which side sent the first close frame.
    pub close_initiator: Option<Role>,
    /// How TCP ended.
    pub tcp_end: TcpEnd,
    /// Counters per direction.
    pub counts: BaselineCounts,
    /// RFC 6455 / RFC 7692 violations.
    pub violations: Vec<BaselineEvent<ViolationKind>>,
    /// Anomalies.
    pub anomalies: Vec<BaselineEvent<AnomalyKind>>,
    /// Data messages.
    pub messages: Vec<BaselineMessage>,
    /// Control frames.
    pub control: Vec<BaselineControl>,
    /// Packets of the connection.
    pub packets: u64,
    /// Its first packet.
    pub first_packet: u64,
    /// Its last packet.
    pub last_packet: u64,
    /// Time of its first packet (volatile).
    pub start_ts: ExactSecs,
    /// Time of its last packet (volatile).
    pub end_ts: ExactSecs,
}

fn connection(c: &Connection) -> BaselineConnection {
    let (client, client_port) = (c.client.ip().to_string(), Some(c.client.port()));
    let (server, server_port) = (c.server.ip().to_string(), Some(c.server.port()));
    let h = &c.handshake;
    let c2s: Vec<&Message> = c
        .messages
        .iter()
        .filter(|m| m.dir == Direction::ClientToServer)
        .collect();
    let s2c: Vec<&Message> = c
        .messages
        .iter()
        .filter(|m| m.dir == Direction::ServerToClient)
        .collect();
    BaselineConnection {
        id: c.id,
        client,
        client_port,
        server,
        server_port,
        protocol: c.protocol,
        is_websocket: c.is_websocket,
        handshake: BaselineHandshake {
            seen: h.seen,
            request_target: h.request_target.clone(),
            status: h.status,
            accept_valid: h.accept_valid,
            subprotocol: h.subprotocol.clone(),
            extensions: h.extensions.clone(),
            offered_subprotocols: h.offered_subprotocols.clone(),
            offered_extensions: h.offered_extensions.clone(),
            request_complete: h.request_complete,
            response_complete: h.response_complete,
            sec_websocket_key: h.sec_websocket_key.clone(),
            sec_websocket_accept: h.sec_websocket_accept.clone(),
        },
        http_exchanges: c
            .http_exchanges
            .iter()
            .map(|x| BaselineExchange {
                method: x.method.clone(),
                target: x.target.clone(),
                upgrade: x.upgrade,
                status: x.status,
                request_packet: x.request_packet.0,
                response_packet: x.response_packet.map(|p| p.0),
            })
            .collect(),
        close_initiator: c.close_initiator,
        tcp_end: c.tcp_end,
        counts: BaselineCounts {
            c2s: dir_counts(&c.stats.c2s, &c2s),
            s2c: dir_counts(&c.stats.s2c, &s2c),
        },
        violations: c
            .violation_details
            .iter()
            .map(|v| BaselineEvent {
                kind: v.kind,
                dir: v.dir,
                packet: v.packet.0,
            })
            .collect(),
        anomalies: c
            .anomalies
            .iter()
            .map(|x| BaselineEvent {
                kind: x.kind,
                dir: x.dir,
                packet: x.packet.0,
            })
            .collect(),
        messages: c.messages.iter().map(message).collect(),
        control: c.control.iter().map(control).collect(),
        packets: c.packets,
        first_packet: c.first_packet.0,
        last_packet: c.last_packet.0,
        start_ts: ExactSecs(c.start_ts),
        end_ts: ExactSecs(c.end_ts),
    }
}

/// The capture's counters a baseline keeps.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineStats {
    /// TCP connections.
    pub tcp_connections: u64,
    /// WebSocket connections.
    pub websocket_connections: u64,
    /// Data messages.
    pub messages: u64,
    /// Control frames.
    pub control_frames: u64,
    /// Violations.
    pub violations: u64,
    /// Packets that could not be decoded.
    pub malformed_packets: u64,
}

/// An anomaly of the capture as a whole.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineCaptureAnomaly {
    /// Where.
    pub packet: u64,
    /// What.
    pub detail: String,
}

/// A baseline file, without its version stamp (see [`baseline`]).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BaselineDocument {
    /// The comparison format: always 1 (what [`check_version`] reads).
    #[schemars(extend("const" = 1))]
    pub baseline_version: u64,
    /// Capture name.
    pub capture: String,
    /// File format.
    pub format: String,
    /// Link type.
    pub link_type: String,
    /// Link type (DLT number).
    pub link_type_dlt: u32,
    /// Packets in the capture.
    pub packet_count: u64,
    /// Time of the first packet (volatile).
    pub start_ts: ExactSecs,
    /// Time of the last packet (volatile).
    pub end_ts: ExactSecs,
    /// Counters.
    pub stats: BaselineStats,
    /// Anomalies of the capture as a whole.
    pub capture_anomalies: Vec<BaselineCaptureAnomaly>,
    /// Connections.
    pub connections: Vec<BaselineConnection>,
}

/// The baseline of one analysis: everything `check --baseline` compares,
/// volatile fields included (the diff decides what to skip), stamped with
/// its contract's version (`docs/schema/baseline.schema.json`). The stamp
/// itself is never compared ([`STAMP`]).
pub fn baseline(a: &Analysis) -> Value {
    serde_json::to_value(Stamped::new(BASELINE_SCHEMA_VERSION, document(a))).unwrap_or(Value::Null)
}

/// The baseline's content, unstamped.
pub fn document(a: &Analysis) -> BaselineDocument {
    BaselineDocument {
        baseline_version: BASELINE_VERSION,
        capture: a.capture.clone(),
        format: a.format.clone(),
        link_type: a.link_type.clone(),
        link_type_dlt: a.link_type_dlt,
        packet_count: a.packet_count,
        start_ts: ExactSecs(a.start_ts),
        end_ts: ExactSecs(a.end_ts),
        stats: BaselineStats {
            tcp_connections: a.stats.tcp_connections,
            websocket_connections: a.stats.websocket_connections,
            messages: a.stats.messages,
            control_frames: a.stats.control_frames,
            violations: a.stats.violations,
            malformed_packets: a.stats.malformed_packets,
        },
        capture_anomalies: a
            .capture_anomalies
            .iter()
            .map(|x| BaselineCaptureAnomaly {
                packet: x.packet.0,
                detail: x.detail.clone(),
            })
            .collect(),
        connections: a.connections.iter().map(connection).collect(),
    }
}

/// Why a stored baseline cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    /// Not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// No or another `baseline_version`.
    #[error(
        "unsupported baseline_version {found} (this wsinspect reads version {BASELINE_VERSION}); rewrite it with --update"
    )]
    Version {
        /// What the file says (`missing` when absent).
        found: String,
    },
}

/// Parses a stored baseline and checks its version.
pub fn parse(text: &str) -> Result<Value, BaselineError> {
    let v: Value = serde_json::from_str(text).map_err(|e| BaselineError::Json(e.to_string()))?;
    check_version(&v)?;
    Ok(v)
}

/// Accepts only `"baseline_version": 1`.
pub fn check_version(v: &Value) -> Result<(), BaselineError> {
    match v.get("baseline_version") {
        Some(Value::Number(n)) if n.as_u64() == Some(BASELINE_VERSION) => Ok(()),
        Some(other) => Err(BaselineError::Version {
            found: other.to_string(),
        }),
        None => Err(BaselineError::Version {
            found: "missing".into(),
        }),
    }
}

// ---------------------------------------------------------------- writing

/// Key order in written files: by meaning, then alphabetical.
const KEY_ORDER: &[&str] = &[
    "baseline_version",
    "schema_version",
    "wsinspect_version",
    "capture",
    "format",
    "link_type",
    "link_type_dlt",
    "packet_count",
    "id",
    "client",
    "client_port",
    "server",
    "server_port",
    "protocol",
    "is_websocket",
    "seen",
    "method",
    "target",
    "upgrade",
    "request_target",
    "kind",
    "dir",
    "opcode",
    "frames",
    "compressed",
    "status",
    "accept_valid",
    "subprotocol",
    "extensions",
    "offered_subprotocols",
    "offered_extensions",
    "request_complete",
    "response_complete",
    "handshake",
    "http_exchanges",
    "close_initiator",
    "tcp_end",
    "counts",
    "c2s",
    "s2c",
    "violations",
    "anomalies",
    "messages",
    "text",
    "binary",
    "control_frames",
    "payload_len",
    "wire_payload_len",
    "payload_bytes",
    "wire_payload_bytes",
    "missing_bytes",
    "complete",
    "sha256",
    "preview",
    "close_code",
    "close_reason",
    "detail",
    "control",
    "tcp_connections",
    "websocket_connections",
    "malformed_packets",
    "stats",
    "capture_anomalies",
    "connections",
    "packets",
    "packet",
    "first_packet",
    "last_packet",
    "request_packet",
    "response_packet",
    "start_ts",
    "end_ts",
    "mask_keys",
    "sec_websocket_key",
    "sec_websocket_accept",
];

/// True for a field name that baselines contain (or `packets`, the group of
/// packet-number fields): what `--ignore` accepts.
pub fn is_known_field(name: &str) -> bool {
    name == "packets" || KEY_ORDER.contains(&name)
}

/// Every field name baselines contain, for error messages.
pub fn known_fields() -> &'static [&'static str] {
    KEY_ORDER
}

/// Arrays whose elements are written one per line.
const ONE_PER_LINE: &[&str] = &[
    "messages",
    "control",
    "violations",
    "anomalies",
    "http_exchanges",
    "capture_anomalies",
];

fn ordered(o: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = o.iter().collect();
    v.sort_by_key(|(k, _)| {
        (
            KEY_ORDER
                .iter()
                .position(|x| x == k)
                .unwrap_or(KEY_ORDER.len()),
            k.as_str(),
        )
    });
    v
}

fn compact(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            out.push('{');
            for (i, (k, v)) in ordered(o).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                compact(v, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                compact(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn pretty(v: &Value, indent: usize, one_per_line: bool, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let end_pad = "  ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            out.push_str("{\n");
            let items = ordered(o);
            let n = items.len();
            for (i, (k, v)) in items.into_iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                pretty(v, indent + 1, ONE_PER_LINE.contains(&k.as_str()), out);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&end_pad);
            out.push('}');
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, v) in a.iter().enumerate() {
                out.push_str(&pad);
                if one_per_line {
                    compact(v, out);
                } else {
                    pretty(v, indent + 1, false, out);
                }
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end_pad);
            out.push(']');
        }
        other => compact(other, out),
    }
}

/// The text of a baseline file: stable (same analysis, same bytes), keys in
/// a fixed order, one message or control frame per line, final newline.
pub fn to_pretty(v: &Value) -> String {
    let mut out = String::new();
    pretty(v, 0, false, &mut out);
    out.push('\n');
    out
}

// ---------------------------------------------------------------- diffing

/// What a diff compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Compare the [`VOLATILE`] fields too.
    pub strict: bool,
    /// Field names to skip wherever they appear (`packets` stands for
    /// [`PACKET_FIELDS`]).
    pub ignore: Vec<String>,
}

impl DiffOptions {
    fn skipped(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = STAMP.iter().map(|k| k.to_string()).collect();
        if !self.strict {
            s.extend(VOLATILE.iter().map(|k| k.to_string()));
        }
        for i in &self.ignore {
            if i == "packets" {
                s.extend(PACKET_FIELDS.iter().map(|k| k.to_string()));
            } else {
                s.insert(i.clone());
            }
        }
        s
    }
}

/// How a value differs.
#[derive(Debug, Clone, PartialEq)]
pub enum DiffKind {
    /// Present on both sides with different values.
    Changed {
        /// The baseline's value.
        expected: Value,
        /// The capture's value.
        actual: Value,
    },
    /// In the baseline, not in the capture.
    Missing(Value),
    /// In the capture, not in the baseline.
    Unexpected(Value),
}

/// One difference, located by a readable path such as
/// `connection 1 (/echo) › message 2 (s2c text, packets 9–9) › sha256`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffLine {
    /// Where, for people.
    pub path: String,
    /// What.
    pub kind: DiffKind,
}

/// Compact JSON of a value, cut to `max` characters.
fn short(v: &Value, max: usize) -> String {
    let mut s = String::new();
    compact(v, &mut s);
    if s.chars().count() > max {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    } else {
        s
    }
}

impl fmt::Display for DiffLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DiffKind::Changed { expected, actual } => write!(
                f,
                "{}: expected {}, got {}",
                self.path,
                short(expected, 120),
                short(actual, 120)
            ),
            DiffKind::Missing(v) => write!(f, "{}: missing, expected {}", self.path, short(v, 160)),
            DiffKind::Unexpected(v) => write!(f, "{}: unexpected {}", self.path, short(v, 160)),
        }
    }
}

fn strip(v: &Value, skip: &BTreeSet<String>) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !skip.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), strip(v, skip)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| strip(v, skip)).collect()),
        other => other.clone(),
    }
}

/// Compares a stored baseline with the baseline of a fresh analysis.
/// Arrays are aligned (common prefix and suffix, then a longest common
/// subsequence when small enough), so one lost or changed message is one
/// line, not a cascade.
pub fn diff(expected: &Value, actual: &Value, opts: &DiffOptions) -> Vec<DiffLine> {
    let skip = opts.skipped();
    let (e, a) = (strip(expected, &skip), strip(actual, &skip));
    let mut out = Vec::new();
    diff_value(&[], "", &e, &a, &mut out);
    out
}

fn join(path: &[String], last: &str) -> String {
    let mut p = path.join(" › ");
    if !last.is_empty() {
        if !p.is_empty() {
            p.push_str(" › ");
        }
        p.push_str(last);
    }
    if p.is_empty() { "(top)".into() } else { p }
}

fn diff_value(path: &[String], key: &str, e: &Value, a: &Value, out: &mut Vec<DiffLine>) {
    if e == a {
        return;
    }
    match (e, a) {
        (Value::Object(eo), Value::Object(ao)) => {
            let mut sub = path.to_vec();
            if !key.is_empty() {
                sub.push(key.to_string());
            }
            let keys: BTreeSet<&String> = eo.keys().chain(ao.keys()).collect();
            let mut keys: Vec<&String> = keys.into_iter().collect();
            keys.sort_by_key(|k| {
                (
                    KEY_ORDER
                        .iter()
                        .position(|x| x == k)
                        .unwrap_or(KEY_ORDER.len()),
                    k.as_str(),
                )
            });
            for k in keys {
                match (eo.get(k), ao.get(k)) {
                    (Some(ev), Some(av)) => diff_value(&sub, k, ev, av, out),
                    (Some(ev), None) => out.push(DiffLine {
                        path: join(&sub, k),
                        kind: DiffKind::Missing(ev.clone()),
                    }),
                    (None, Some(av)) => out.push(DiffLine {
                        path: join(&sub, k),
                        kind: DiffKind::Unexpected(av.clone()),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) => diff_array(path, key, ea, aa, out),
        _ => out.push(DiffLine {
            path: join(path, key),
            kind: DiffKind::Changed {
                expected: e.clone(),
                actual: a.clone(),
            },
        }),
    }
}

/// A name for element `i` of the array under `key`, from its own fields.
fn label(key: &str, i: usize, v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let n = i + 1;
    match key {
        "connections" => {
            let id = v
                .get("id")
                .map(|x| x.to_string())
                .unwrap_or_else(|| n.to_string());
            match v
                .pointer("/handshake/request_target")
                .and_then(Value::as_str)
            {
                Some(t) => format!("connection {id} ({t})"),
                None => format!("connection {id}"),
            }
        }
        "messages" => {
            let packets = match (
                v.get("first_packet").and_then(Value::as_u64),
                v.get("last_packet").and_then(Value::as_u64),
            ) {
                (Some(f), Some(l)) if f == l => format!(", packet {f}"),
                (Some(f), Some(l)) => format!(", packets {f}–{l}"),
                _ => String::new(),
            };
            format!("message {n} ({} {}{packets})", s("dir"), s("opcode"))
        }
        "control" => {
            let packet = v
                .get("packet")
                .and_then(Value::as_u64)
                .map(|p| format!(", packet {p}"))
                .unwrap_or_default();
            format!("control frame {n} ({} {}{packet})", s("dir"), s("opcode"))
        }
        "violations" => format!("violation {n}"),
        "anomalies" => format!("anomaly {n}"),
        "capture_anomalies" => format!("capture anomaly {n}"),
        "http_exchanges" => format!("HTTP exchange {n}"),
        _ => format!("{key}[{i}]"),
    }
}

/// Time given to aligning one array; past it `similar` finishes with a
/// coarser (still correct) script, so two unrelated arrays of a million
/// messages cannot stall `check`.
const ALIGN_TIME: Duration = Duration::from_secs(2);

enum Op {
    Same,
    Del(usize),
    Ins(usize),
}

/// Edit script for the middle part (indices relative to the slices), by
/// Myers' O((N+M)·D) diff (`similar`): its cost grows with the number of
/// differences, not with the product of the lengths, so a few changes
/// among any number of messages are a few lines.
fn align(e: &[Value], a: &[Value]) -> Vec<Op> {
    let mut capture = Capture::new();
    let deadline = Instant::now() + ALIGN_TIME;
    let Ok(()) = myers::diff_deadline(&mut capture, e, 0..e.len(), a, 0..a.len(), Some(deadline));
    let mut ops = Vec::with_capacity(e.len().max(a.len()));
    for op in capture.into_ops() {
        match op {
            DiffOp::Equal { len, .. } => ops.extend((0..len).map(|_| Op::Same)),
            DiffOp::Delete {
                old_index, old_len, ..
            } => ops.extend((old_index..old_index + old_len).map(Op::Del)),
            DiffOp::Insert {
                new_index, new_len, ..
            } => ops.extend((new_index..new_index + new_len).map(Op::Ins)),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                ops.extend((old_index..old_index + old_len).map(Op::Del));
                ops.extend((new_index..new_index + new_len).map(Op::Ins));
            }
        }
    }
    ops
}

fn diff_array(path: &[String], key: &str, e: &[Value], a: &[Value], out: &mut Vec<DiffLine>) {
    let prefix = e.iter().zip(a).take_while(|(x, y)| x == y).count();
    let (e_rest, a_rest) = (&e[prefix..], &a[prefix..]);
    let suffix = e_rest
        .iter()
        .rev()
        .zip(a_rest.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mid_e = &e_rest[..e_rest.len() - suffix];
    let mid_a = &a_rest[..a_rest.len() - suffix];
    let ops = align(mid_e, mid_a);
    // Between two matches, pair deletions with insertions as changes.
    let mut dels: Vec<usize> = Vec::new();
    let mut inss: Vec<usize> = Vec::new();
    let flush = |dels: &mut Vec<usize>, inss: &mut Vec<usize>, out: &mut Vec<DiffLine>| {
        let paired = dels.len().min(inss.len());
        for k in 0..paired {
            let (ei, ai) = (prefix + dels[k], prefix + inss[k]);
            let mut sub = path.to_vec();
            sub.push(label(key, ei, &e[ei]));
            diff_value(&sub, "", &e[ei], &a[ai], out);
        }
        for &d in dels.iter().skip(paired) {
            let ei = prefix + d;
            out.push(DiffLine {
                path: join(path, &label(key, ei, &e[ei])),
                kind: DiffKind::Missing(e[ei].clone()),
            });
        }
        for &d in inss.iter().skip(paired) {
            let ai = prefix + d;
            out.push(DiffLine {
                path: join(path, &label(key, ai, &a[ai])),
                kind: DiffKind::Unexpected(a[ai].clone()),
            });
        }
        dels.clear();
        inss.clear();
    };
    for op in ops {
        match op {
            Op::Same => flush(&mut dels, &mut inss, out),
            Op::Del(i) => dels.push(i),
            Op::Ins(j) => inss.push(j),
        }
    }
    flush(&mut dels, &mut inss, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::NullSink;
    use crate::pipeline::analyze_path;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
        baseline(&analyze_path(&path, Default::default(), &mut NullSink).unwrap())
    }

    #[test]
    fn baseline_of_a_capture_matches_itself_and_survives_a_round_trip() {
        let b = sample("close_codes.pcapng");
        assert_eq!(b["baseline_version"], json!(1));
        assert_eq!(b["connections"].as_array().unwrap().len(), 9);
        let text = to_pretty(&b);
        let back = parse(&text).unwrap();
        assert_eq!(back, b);
        assert!(diff(&back, &b, &DiffOptions::default()).is_empty());
        // Same analysis, same bytes.
        assert_eq!(to_pretty(&sample("close_codes.pcapng")), text);
    }

    #[test]
    fn pretty_writes_one_message_per_line() {
        let text = to_pretty(&sample("seed_echo.pcapng"));
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("\"sha256\"")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0]
                .trim_start()
                .starts_with("{\"dir\": \"c2s\", \"opcode\": \"text\"")
        );
        assert!(text.starts_with("{\n  \"baseline_version\": 1,\n  \"schema_version\": \""));
        assert!(text.contains("\n  \"wsinspect_version\": \""));
        assert!(text.contains("\n  \"capture\": \"seed_echo.pcapng\""));
    }

    #[test]
    fn volatile_fields_are_ignored_unless_strict() {
        let e = sample("seed_echo.pcapng");
        let mut a = e.clone();
        a["connections"][0]["client_port"] = json!(1);
        a["connections"][0]["handshake"]["sec_websocket_key"] = json!("x");
        a["connections"][0]["messages"][0]["mask_keys"] = json!(["00000000"]);
        a["start_ts"] = json!("1.000000000");
        assert!(diff(&e, &a, &DiffOptions::default()).is_empty());
        let strict = diff(
            &e,
            &a,
            &DiffOptions {
                strict: true,
                ignore: vec![],
            },
        );
        let paths: Vec<&str> = strict.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(strict.len(), 4, "{paths:?}");
        assert!(paths.iter().any(|p| p.ends_with("client_port")));
        assert!(
            paths
                .iter()
                .any(|p| p.contains("message 1 (c2s text, packet 8) › mask_keys"))
        );
    }

    #[test]
    fn a_changed_message_is_named() {
        let e = sample("seed_echo.pcapng");
        let mut a = e.clone();
        a["connections"][0]["messages"][1]["sha256"] = json!("00");
        let d = diff(&e, &a, &DiffOptions::default());
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].path,
            "connection 1 (/) › message 2 (s2c text, packet 9) › sha256"
        );
        assert!(d[0].to_string().contains("expected \""));
    }

    #[test]
    fn a_lost_message_is_one_line_not_a_cascade() {
        let e = sample("fragmented_node.pcapng");
        let mut a = e.clone();
        let msgs = a["connections"][0]["messages"].as_array_mut().unwrap();
        let n = msgs.len();
        assert!(n >= 4);
        let gone = msgs.remove(1);
        let d = diff(&e, &a, &DiffOptions::default());
        let missing: Vec<_> = d
            .iter()
            .filter(|l| matches!(l.kind, DiffKind::Missing(_)))
            .collect();
        assert_eq!(missing.len(), 1, "{d:#?}");
        assert!(missing[0].path.contains("message 2 ("));
        match &missing[0].kind {
            DiffKind::Missing(v) => assert_eq!(v["sha256"], gone["sha256"]),
            other => panic!("{other:?}"),
        }
        // Only the message line itself differs (counts are not touched here).
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn ignore_packets_drops_packet_numbers() {
        let e = sample("seed_echo.pcapng");
        let mut a = e.clone();
        a["connections"][0]["messages"][0]["first_packet"] = json!(999);
        a["connections"][0]["packets"] = json!(999);
        assert_eq!(diff(&e, &a, &DiffOptions::default()).len(), 2);
        let opts = DiffOptions {
            strict: false,
            ignore: vec!["packets".into()],
        };
        assert!(diff(&e, &a, &opts).is_empty());
    }

    #[test]
    fn versions_other_than_1_are_refused() {
        assert!(matches!(
            parse("{\"baseline_version\": 2}"),
            Err(BaselineError::Version { .. })
        ));
        assert!(matches!(parse("{}"), Err(BaselineError::Version { .. })));
        assert!(matches!(parse("not json"), Err(BaselineError::Json(_))));
        assert!(parse("{\"baseline_version\": 1}").is_ok());
    }

    fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    out.insert(k.clone());
                    collect_keys(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect_keys(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_written_key_has_a_fixed_place() {
        let mut keys = BTreeSet::new();
        for c in [
            "close_codes.pcapng",
            "upgrade_rejected.pcap",
            "truncated_snaplen.pcap",
        ] {
            collect_keys(&sample(c), &mut keys);
        }
        for k in &keys {
            assert!(is_known_field(k), "{k} is not in KEY_ORDER");
        }
        for k in VOLATILE.iter().chain(PACKET_FIELDS) {
            assert!(keys.contains(*k), "{k} never appears in a baseline");
        }
    }

    #[test]
    fn changes_at_both_ends_of_a_large_array() {
        let e: Vec<Value> = (0..2000).map(|i| json!(i)).collect();
        let mut a = e.clone();
        a[0] = json!(-1);
        a[1999] = json!(-2);
        let mut out = Vec::new();
        diff_array(&[], "xs", &e, &a, &mut out);
        assert_eq!(out.len(), 2);
    }

    fn msg(i: usize) -> Value {
        json!({"dir": "c2s", "opcode": "text", "len": i % 7, "sha256": format!("{i:064x}"),
               "first_packet": i + 10, "last_packet": i + 10})
    }

    /// The capped table of before paired 5 000 messages by position once
    /// they held several changes, and every message after the first
    /// shift was reported.
    #[test]
    fn three_changes_among_5000_messages_are_three_lines() {
        let e: Vec<Value> = (0..5000).map(msg).collect();
        let mut a = e.clone();
        a[700]["len"] = json!(99);
        a.remove(2500); // a lost message shifts every later one
        a.insert(4000, msg(99_999)); // an unexpected one shifts them back
        let mut out = Vec::new();
        diff_array(&[], "messages", &e, &a, &mut out);
        let paths: Vec<String> = out.iter().map(|d| d.path.clone()).collect();
        assert_eq!(out.len(), 3, "{paths:#?}");
        assert!(paths[0].starts_with("message 701 "), "{paths:?}");
        assert!(matches!(out[1].kind, DiffKind::Missing(_)), "{paths:?}");
        assert!(paths[1].starts_with("message 2501 "), "{paths:?}");
        assert!(matches!(out[2].kind, DiffKind::Unexpected(_)), "{paths:?}");
    }
}
