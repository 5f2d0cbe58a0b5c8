//! The analysis model: what reports, the TUI and `check` consume.
//!
//! Plain data with serde derives. Field names follow the sample captures'
//! truth files (`shared/captures/README.md`), so the JSON report is a
//! superset of them. Nothing here parses anything.

use crate::capture::{PacketNo, Timestamp};
use crate::decode::Encap;
use crate::flow::{Direction, Role};
pub use crate::tls::AlpnState;
pub use handshake::Handshake;
pub mod app;
pub mod finding;
pub mod handshake;
pub mod message;

pub use finding::{Anomaly, AnomalyKind, Violation, ViolationKind};
pub use message::{ControlFrame, FrameInfo, Message, PayloadDigest};
use serde::Serialize;
use std::net::SocketAddr;

/// How the TCP connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TcpEnd {
    /// Either side sent a RST.
    Rst,
    /// A FIN was sent (and no RST).
    Fin,
    /// Neither: still open when the capture ended.
    Open,
}

/// Which side sent FIN / RST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct TcpDetail {
    /// The client sent a FIN.
    pub fin_c2s: bool,
    /// The server sent a FIN.
    pub fin_s2c: bool,
    /// The client sent a RST.
    pub rst_from_client: bool,
    /// The server sent a RST.
    pub rst_from_server: bool,
    /// Who sent the first FIN.
    pub first_fin_from: Option<Role>,
}

/// A TCP-level event on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TcpEventKind {
    /// Connection opened (SYN).
    Syn,
    /// Connection accepted (SYN+ACK).
    SynAck,
    /// No more data from this side.
    Fin,
    /// Aborted.
    Rst,
}

/// A SYN / FIN / RST with its packet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TcpEvent {
    /// What.
    pub kind: TcpEventKind,
    /// Sent in this direction.
    pub dir: Direction,
    /// Packet number.
    pub packet: PacketNo,
    /// When.
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
}

/// One HTTP request/response pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HttpExchange {
    /// Request method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// The request asked for `Upgrade: websocket`.
    pub upgrade: bool,
    /// Response status, if a response was seen.
    pub status: Option<u16>,
    /// Packet that carried the start of the request.
    pub request_packet: PacketNo,
    /// Packet that carried the start of the response.
    pub response_packet: Option<PacketNo>,
    /// The request's header block was captured whole.
    pub request_complete: bool,
    /// The response's header block was captured whole.
    pub response_complete: bool,
    /// When the request's header block was complete (or cut).
    #[serde(
        flatten,
        serialize_with = "crate::report::contract::request_ts::serialize"
    )]
    #[schemars(with = "crate::report::contract::request_ts::Pair")]
    pub request_ts: Timestamp,
    /// When the response's header block was complete (or cut).
    #[serde(
        flatten,
        serialize_with = "crate::report::contract::response_ts::option"
    )]
    #[schemars(with = "crate::report::contract::response_ts::OptionPair")]
    pub response_ts: Option<Timestamp>,
    /// Engine.IO long-polling (issue 21): the application records of the
    /// request body (a `POST`'s packets), in order; `index` counts the
    /// connection's polling packets, both directions. Absent when the body
    /// carried none or was not one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_app: Vec<crate::model::app::AppRecord>,
    /// The same for the response body (a `GET`'s packets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_app: Vec<crate::model::app::AppRecord>,
}

/// Per-direction counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct DirStats {
    /// Data messages.
    pub messages: u64,
    /// Control frames.
    pub control_frames: u64,
    /// WebSocket frames.
    pub frames: u64,
    /// Payload bytes of data messages after decompression.
    pub payload_bytes: u64,
    /// Payload bytes of data messages on the wire.
    pub wire_payload_bytes: u64,
    /// TCP payload bytes delivered in order.
    pub tcp_bytes: u64,
    /// TCP segments that only repeated bytes already seen (keep-alive
    /// probes are not retransmissions: see `keep_alives`).
    pub retransmissions: u64,
    /// TCP keep-alive probes sent (RFC 9293 §3.8.4; Wireshark's
    /// `tcp.analysis.keep_alive`).
    pub keep_alives: u64,
    /// ACKs sent in answer to the other side's keep-alive probes
    /// (Wireshark's `tcp.analysis.keep_alive_ack`, without its window test).
    pub keep_alive_acks: u64,
    /// TCP segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// TCP bytes never captured (loss or snaplen).
    pub missing_bytes: u64,
    /// Bytes sent after a `101` switched the connection to a protocol other
    /// than WebSocket (`Upgrade: tcp`, `h2c`, ...), not interpreted.
    #[serde(skip_serializing_if = "is_zero")]
    pub upgraded_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counters for both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct ConnStats {
    /// Client to server.
    pub c2s: DirStats,
    /// Server to client.
    pub s2c: DirStats,
}

impl ConnStats {
    /// The counters of one direction.
    pub fn dir_mut(&mut self, d: Direction) -> &mut DirStats {
        match d {
            Direction::ClientToServer => &mut self.c2s,
            Direction::ServerToClient => &mut self.s2c,
        }
    }
}

/// What the connection carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// WebSocket frames (after an upgrade, or recognised mid-stream).
    Websocket,
    /// HTTP/1.x without a successful upgrade.
    Http,
    /// TLS that was not decrypted.
    Tls,
    /// HTTP/1.x that a `101` switched to a protocol other than WebSocket
    /// (RFC 9110 §7.8), named in [`Connection::upgraded_to`].
    Upgraded,
    /// HTTP/2 (RFC 9113): its WebSocket sessions (RFC 8441) are records of
    /// their own ([`Connection::stream_id`]); its other streams are its
    /// `http_exchanges`.
    Http2,
    /// Nothing recognised.
    Unknown,
}

/// TLS facts about a wss connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct TlsSummary {
    /// Negotiated version (`1.2` / `1.3`).
    pub version: Option<String>,
    /// IANA cipher suite name.
    pub cipher_suite: Option<String>,
    /// Every record was decrypted.
    pub decrypted: bool,
    /// ClientHello server_name.
    pub sni: Option<String>,
    /// Protocol selected by ALPN (when `alpn_state` is `selected`).
    pub alpn: Option<String>,
    /// Whether the server's ALPN choice is known: `selected`,
    /// `not_negotiated`, `encrypted` (TLS 1.3 without keys) or
    /// `not_captured`; `alpn: null` alone does not tell these apart.
    pub alpn_state: AlpnState,
    /// Protocols the client offered by ALPN (`null`: ClientHello not
    /// captured; empty: it offered none).
    pub alpn_offered: Option<Vec<String>>,
    /// Why it was not decrypted.
    #[schemars(with = "Option<String>")]
    pub reason: Option<NotDecrypted>,
    /// TLS records seen: client, server.
    pub records: [u64; 2],
    /// Alerts and decryption problems, with their packets.
    pub notes: Vec<TlsNote>,
}

/// Why a TLS connection's records were not all decrypted: the first cause
/// met. Written in reports as its sentence (the JSON is a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDecrypted {
    /// No key log was given (`--keylog`), or it was empty.
    NoKeyLog,
    /// The key log has no secret for this connection's client random.
    NoKey,
    /// The handshake was not captured: keys cannot be derived.
    HandshakeNotCaptured,
    /// A resumed session (PSK or TLS 1.2 session ID/ticket) whose secrets
    /// are not in the key log.
    ResumptionWithoutKeys,
    /// A record failed authentication (wrong keys, or altered bytes).
    BadRecordMac,
    /// Bytes of the TLS stream are missing from the capture: record
    /// boundaries and sequence numbers are lost from there.
    BytesMissing,
    /// A renegotiation (TLS 1.2), which the decryptor does not follow.
    Renegotiation,
    /// 0-RTT early data (RFC 8446 §2.3), not decrypted.
    EarlyData,
    /// Application data came before the handshake completed.
    DataBeforeHandshake,
    /// The key log's secret does not fit the negotiated cipher suite.
    SecretSuiteMismatch,
    /// The record layer could not be read (what was wrong).
    Record(String),
    /// A handshake message could not be read or is not supported (what).
    Handshake(String),
}

impl std::fmt::Display for NotDecrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotDecrypted::NoKeyLog => "no key log given",
            NotDecrypted::NoKey => "no key for this client random",
            NotDecrypted::HandshakeNotCaptured => "handshake not captured",
            NotDecrypted::ResumptionWithoutKeys => "session resumption without keys",
            NotDecrypted::BadRecordMac => "bad record MAC (wrong keys?)",
            NotDecrypted::BytesMissing => "bytes missing from the capture",
            NotDecrypted::Renegotiation => "renegotiation not supported",
            NotDecrypted::EarlyData => "0-RTT early data not decrypted",
            NotDecrypted::DataBeforeHandshake => "application data before the handshake completed",
            NotDecrypted::SecretSuiteMismatch => "key log secret does not match the cipher suite",
            NotDecrypted::Record(what) | NotDecrypted::Handshake(what) => what,
        })
    }
}

impl Serialize for NotDecrypted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Something the TLS layer saw (an alert, a bad record MAC ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TlsNote {
    /// Direction of the record.
    pub dir: Direction,
    /// Packet of the record.
    pub packet: PacketNo,
    /// What happened.
    pub detail: String,
}

/// One TCP connection that carried HTTP, WebSocket or TLS.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Connection {
    /// 1-based, in order of first packet.
    pub id: u32,
    /// Client endpoint, `ip:port` or `[v6]:port`.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// What it carried.
    pub protocol: Protocol,
    /// The opening handshake.
    pub handshake: Handshake,
    /// Data messages in order of completion per direction.
    pub messages: Vec<Message>,
    /// Control frames in order.
    pub control: Vec<ControlFrame>,
    /// Who sent the first close frame.
    pub close_initiator: Option<Role>,
    /// How TCP ended.
    pub tcp_end: TcpEnd,
    /// FIN/RST per side.
    pub tcp_detail: TcpDetail,
    /// Upgraded (101 with a valid accept) or carries frames.
    pub is_websocket: bool,
    /// TCP packets of the connection.
    pub packets: u64,
    /// First packet.
    pub first_packet: PacketNo,
    /// Last packet.
    pub last_packet: PacketNo,
    /// Time of the first packet.
    #[serde(
        flatten,
        serialize_with = "crate::report::contract::start_ts::serialize"
    )]
    #[schemars(with = "crate::report::contract::start_ts::Pair")]
    pub start_ts: Timestamp,
    /// Time of the last packet.
    #[serde(flatten, serialize_with = "crate::report::contract::end_ts::serialize")]
    #[schemars(with = "crate::report::contract::end_ts::Pair")]
    pub end_ts: Timestamp,
    /// Violations, as sentences.
    pub violations: Vec<String>,
    /// Violations with rule, direction and packet.
    pub violation_details: Vec<Violation>,
    /// What limited the analysis (loss, snaplen, caps).
    pub anomalies: Vec<Anomaly>,
    /// HTTP request/response pairs.
    pub http_exchanges: Vec<HttpExchange>,
    /// TCP SYN/FIN/RST events.
    pub tcp_events: Vec<TcpEvent>,
    /// TLS facts (wss only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
    /// The tunnels its packets rode, per direction; absent for plain
    /// traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encapsulation: Vec<EncapRoute>,
    /// The `Upgrade` header of a `101` that switched to something other
    /// than WebSocket, as sent (a token list, e.g. `tcp`, `h2c`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgraded_to: Option<String>,
    /// The HTTP/2 stream that carries this WebSocket session (RFC 8441 §4):
    /// such a session is a record of its own, with the `id` of its TCP
    /// connection. Absent over HTTP/1.1, where the connection is the
    /// session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// How the session rides its connection; absent for HTTP/1.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// How an RFC 8441 session's stream ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_end: Option<StreamEnd>,
    /// The facts of an HTTP/2 connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2: Option<H2Summary>,
    /// The application protocol its messages carry, and how it was
    /// recognised (subprotocol, request target, content, `--app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<crate::model::app::Detection>,
    /// Application messages, in order; `index` is the data message each
    /// sits on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub app_messages: Vec<crate::model::app::AppRecord>,
    /// Application-layer findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub app_findings: Vec<crate::model::app::AppFinding>,
    /// Counters.
    pub stats: ConnStats,
}

/// Which record: a connection, or one of the sessions its HTTP/2 streams
/// carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The TCP connection's id.
    pub conn: u32,
    /// The stream, for an RFC 8441 session.
    pub stream: Option<u32>,
}

impl std::fmt::Display for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stream {
            Some(s) => write!(f, "{}/{s}", self.conn),
            None => write!(f, "{}", self.conn),
        }
    }
}

/// The transport under a WebSocket session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Transport {
    /// An extended CONNECT stream of HTTP/2 (RFC 8441).
    #[serde(rename = "h2")]
    H2,
}

/// How the HTTP/2 stream of a session ended, per direction and by reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StreamEnd {
    /// The client sent END_STREAM, at this packet.
    pub client_end_stream: Option<PacketNo>,
    /// The server sent END_STREAM, at this packet.
    pub server_end_stream: Option<PacketNo>,
    /// A RST_STREAM (RFC 9113 §6.4): who sent it, its error code, its packet.
    pub reset: Option<StreamReset>,
    /// A GOAWAY that left the stream out (its id above the last stream
    /// the sender processed), or that came while it was open.
    pub goaway: Option<PacketNo>,
    /// The stream was still open when the connection (or the capture)
    /// ended.
    pub open_at_end: bool,
}

/// A RST_STREAM frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StreamReset {
    /// Who sent it.
    pub by: Role,
    /// Its error code's name (RFC 9113 §7), or the number.
    pub code: String,
    /// Its packet.
    pub packet: PacketNo,
}

/// Facts of an HTTP/2 connection (RFC 9113).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct H2Summary {
    /// How HTTP/2 started: `tls` (ALPN h2), `prior_knowledge` (cleartext
    /// preface) or `h2c_upgrade` (HTTP/1.1 `Upgrade: h2c`).
    pub mode: String,
    /// The server's SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3), when
    /// its SETTINGS were seen.
    pub enable_connect_protocol: Option<u32>,
    /// Streams opened (HEADERS from the client).
    pub streams: u64,
    /// WebSocket sessions (extended CONNECT).
    pub websocket_sessions: u64,
    /// Frames per direction: client to server, server to client.
    pub frames: [u64; 2],
    /// GOAWAY frames: who, last stream id, error code, packet.
    pub goaway: Vec<GoAway>,
}

/// A GOAWAY frame (RFC 9113 §6.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GoAway {
    /// Who sent it.
    pub by: Role,
    /// The last stream it processed.
    pub last_stream: u32,
    /// Its error code's name.
    pub code: String,
    /// Its packet.
    pub packet: PacketNo,
}

/// One distinct stack of encapsulation layers that packets of a connection
/// rode in one direction (GTP-U, for one, uses a different TEID each way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EncapRoute {
    /// Direction of the packets.
    pub dir: Direction,
    /// Layers, outermost first; empty for packets that rode none.
    pub layers: Vec<Encap>,
    /// First packet that rode it.
    pub first_packet: PacketNo,
    /// Packets that rode it.
    pub packets: u64,
}

/// Packets of one kind of tunnel that was recognised but not decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UnsupportedTunnel {
    /// What it was (`gre(protocol=0x880b)`, `l2tp` ...).
    pub kind: String,
    /// Packets.
    pub packets: u64,
    /// The first of them.
    pub first_packet: PacketNo,
}

impl Connection {
    /// The application records carried in HTTP bodies (Engine.IO
    /// long-polling), with their exchange's position, in exchange order
    /// (request body first).
    pub fn polling_records(&self) -> impl Iterator<Item = (usize, &crate::model::app::AppRecord)> {
        self.http_exchanges.iter().enumerate().flat_map(|(i, x)| {
            x.request_app
                .iter()
                .chain(&x.response_app)
                .map(move |r| (i, r))
        })
    }

    /// Which record this is.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            conn: self.id,
            stream: self.stream_id,
        }
    }

    /// The application records that sit on data message `m` (found by its
    /// first packet and sender, which a display filter's gaps in the
    /// message list do not change).
    pub fn app_records_on<'a>(
        &'a self,
        m: &'a Message,
    ) -> impl Iterator<Item = &'a crate::model::app::AppRecord> + 'a {
        self.app_messages
            .iter()
            .filter(move |r| r.first_packet == m.first_packet && r.dir == m.dir)
    }

    /// Method of the request that carried the WebSocket upgrade (the
    /// handshake does not keep it; the exchange does).
    pub fn upgrade_method(&self) -> Option<&str> {
        if self.transport == Some(Transport::H2) {
            // RFC 8441 §4: the extended CONNECT.
            return Some("CONNECT");
        }
        let packet = self.handshake.request_packet?;
        self.http_exchanges
            .iter()
            .find(|x| x.request_packet == packet)
            .map(|x| x.method.as_str())
    }

    /// It carried something wsinspect understands (HTTP, WebSocket, TLS):
    /// only such connections are reported.
    pub fn reported(&self) -> bool {
        self.protocol != Protocol::Unknown
    }

    /// WebSocket on the evidence so far: a `101` whose
    /// `Sec-WebSocket-Accept` is valid (RFC 6455 §4.2.2), or frames.
    pub fn is_websocket_so_far(&self) -> bool {
        let hs = &self.handshake;
        let frames = self.stats.c2s.frames + self.stats.s2c.frames;
        (hs.status == Some(101) && hs.accept_valid == Some(true)) || frames > 0
    }
}

/// Whole-capture counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
pub struct CaptureStats {
    /// Bytes of packet data read.
    pub bytes: u64,
    /// Packets that were TCP.
    pub tcp_packets: u64,
    /// Packets that were not TCP.
    pub other_packets: u64,
    /// Packets that could not be decoded.
    pub malformed_packets: u64,
    /// TCP connections seen (reported or not).
    pub tcp_connections: u64,
    /// WebSocket connections.
    pub websocket_connections: u64,
    /// Data messages.
    pub messages: u64,
    /// Control frames.
    pub control_frames: u64,
    /// Violations.
    pub violations: u64,
}

/// A problem with the capture itself (not with one connection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CaptureAnomaly {
    /// Packet where it was noticed (0: before the first packet).
    pub packet: PacketNo,
    /// What happened.
    pub detail: String,
}

/// The result of analysing one capture.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Analysis {
    /// File name (or `-` for stdin).
    pub capture: String,
    /// `pcap` / `pcapng`.
    pub format: String,
    /// Wireshark's name of the (first) link type.
    pub link_type: String,
    /// LINKTYPE number.
    pub link_type_dlt: u32,
    /// Packets in the capture.
    pub packet_count: u64,
    /// Time of the first packet.
    #[serde(
        flatten,
        serialize_with = "crate::report::contract::start_ts::serialize"
    )]
    #[schemars(with = "crate::report::contract::start_ts::Pair")]
    pub start_ts: Timestamp,
    /// Time of the last packet.
    #[serde(flatten, serialize_with = "crate::report::contract::end_ts::serialize")]
    #[schemars(with = "crate::report::contract::end_ts::Pair")]
    pub end_ts: Timestamp,
    /// Connections that carried HTTP, WebSocket or TLS, by first packet.
    pub connections: Vec<Connection>,
    /// Problems with the capture file or its packets.
    pub capture_anomalies: Vec<CaptureAnomaly>,
    /// Packets in tunnels that were recognised but not decoded, by kind
    /// (also counted in `stats.other_packets`); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsupported_tunnels: Vec<UnsupportedTunnel>,
    /// Counters.
    pub stats: CaptureStats,
}
