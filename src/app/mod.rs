//! Application protocols carried in WebSocket messages (issue 21).
//!
//! Sans-IO like every other layer: an [`AppSession`] is fed each complete
//! data message of one WebSocket session as an [`AppInput`], in capture
//! order and in both directions, and returns owned [`AppRecord`]s (one per
//! application message: a Socket.IO `EVENT`, an MQTT `PUBLISH`, a STOMP
//! `SEND`, a JSON-RPC `request` …) and [`AppFinding`]s (malformed packets
//! with the section of the specification they break, caps, undecodable
//! input, unanswered requests). It knows nothing of frames, TCP or
//! captures: only the message bytes, their direction, position and time.
//!
//! - [`detect`] chooses the protocol from the negotiated subprotocol, the
//!   request target or a decisive signature in the first messages, never
//!   from "it is JSON".
//! - One module per protocol decodes; binary protocols (MQTT) and framed
//!   text protocols (STOMP, SignalR) keep a bounded buffer per direction,
//!   since a packet may span messages and a message may hold several.
//! - [`correlate::Correlator`] pairs requests with their answers (from the
//!   other direction) and measures the latency in exact nanoseconds.
//!
//! Everything is bounded by [`AppLimits`]; every cap reached is a finding.

pub mod actioncable;
pub mod correlate;
pub mod detect;
pub mod eiopoll;
pub mod graphql;
pub mod json;
pub mod jsonrpc;
pub mod mqtt;
pub mod ocpp;
pub mod phoenix;
pub mod signalr;
pub mod socketio;
pub mod stomp;
pub mod wamp;

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::ws::frame::Opcode;
use serde::Serialize;
use std::fmt;

pub use correlate::Correlator;
pub use detect::{AppChoice, DetectedBy, Detection, HandshakeHints};

/// An application protocol wsinspect decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppProtocol {
    /// Socket.IO v4/v5 over Engine.IO v3/v4.
    #[serde(rename = "socket.io")]
    SocketIo,
    /// MQTT 3.1, 3.1.1 and 5.0 (binary).
    Mqtt,
    /// STOMP 1.0–1.2.
    Stomp,
    /// GraphQL over WebSocket, subprotocol `graphql-transport-ws` (npm `graphql-ws`).
    GraphqlTransportWs,
    /// The legacy subprotocol `graphql-ws` (npm `subscriptions-transport-ws`).
    GraphqlWs,
    /// JSON-RPC 2.0.
    JsonRpc,
    /// OCPP-J (1.6J, 2.0.1): the RPC framework's CALL / CALLRESULT / CALLERROR.
    Ocpp,
    /// ASP.NET Core SignalR, JSON hub protocol.
    #[serde(rename = "signalr")]
    SignalR,
    /// Phoenix channels, serializer v2 (`vsn=2.0.0`).
    Phoenix,
    /// WAMP v2, JSON serialization.
    Wamp,
    /// Rails Action Cable (`actioncable-v1-json`).
    ActionCable,
}

impl AppProtocol {
    /// Every protocol, in a stable order.
    pub const ALL: [AppProtocol; 11] = [
        AppProtocol::SocketIo,
        AppProtocol::Mqtt,
        AppProtocol::Stomp,
        AppProtocol::GraphqlTransportWs,
        AppProtocol::GraphqlWs,
        AppProtocol::JsonRpc,
        AppProtocol::Ocpp,
        AppProtocol::SignalR,
        AppProtocol::Phoenix,
        AppProtocol::Wamp,
        AppProtocol::ActionCable,
    ];

    /// The name used in reports and accepted by `--app`.
    pub fn name(self) -> &'static str {
        match self {
            AppProtocol::SocketIo => "socket.io",
            AppProtocol::Mqtt => "mqtt",
            AppProtocol::Stomp => "stomp",
            AppProtocol::GraphqlTransportWs => "graphql_transport_ws",
            AppProtocol::GraphqlWs => "graphql_ws",
            AppProtocol::JsonRpc => "json_rpc",
            AppProtocol::Ocpp => "ocpp",
            AppProtocol::SignalR => "signalr",
            AppProtocol::Phoenix => "phoenix",
            AppProtocol::Wamp => "wamp",
            AppProtocol::ActionCable => "action_cable",
        }
    }

    /// Parses a name as [`AppProtocol::name`] writes it (also `-` for `_`
    /// and a few common spellings).
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        let p = match s.as_str() {
            "socket.io" | "socketio" | "engine.io" => AppProtocol::SocketIo,
            "mqtt" => AppProtocol::Mqtt,
            "stomp" => AppProtocol::Stomp,
            "graphql_transport_ws" | "graphql" => AppProtocol::GraphqlTransportWs,
            "graphql_ws" | "subscriptions_transport_ws" => AppProtocol::GraphqlWs,
            "json_rpc" | "jsonrpc" => AppProtocol::JsonRpc,
            "ocpp" | "ocpp1.6" | "ocpp2.0.1" => AppProtocol::Ocpp,
            "signalr" => AppProtocol::SignalR,
            "phoenix" => AppProtocol::Phoenix,
            "wamp" => AppProtocol::Wamp,
            "action_cable" | "actioncable" => AppProtocol::ActionCable,
            _ => return None,
        };
        Some(p)
    }
}

impl fmt::Display for AppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One WebSocket data message, as the application layer sees it.
#[derive(Debug, Clone, Copy)]
pub struct AppInput<'a> {
    /// Who sent it.
    pub dir: Direction,
    /// Text or binary (other opcodes are ignored).
    pub opcode: Opcode,
    /// The decoded (unmasked, inflated) payload, or its known prefix.
    pub payload: &'a [u8],
    /// False when only a prefix of the payload is known (a gap, a cap, an
    /// undecodable compressed message): nothing is guessed from it.
    pub complete: bool,
    /// The message's position in the session (0-based, both directions).
    pub index: u64,
    /// The packet that carried its first byte.
    pub first_packet: PacketNo,
    /// The time of its first frame.
    pub ts: Timestamp,
}

/// Memory and work bounds of the application layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLimits {
    /// Bytes a stream protocol (MQTT, STOMP, SignalR) buffers per direction
    /// for a packet in progress; a larger packet is decoded from its first
    /// bytes and the rest is skipped (finding `cap_reached`).
    pub max_buffered: usize,
    /// Largest JSON document parsed; larger ones are named from their
    /// first bytes where the protocol allows, and reported.
    pub max_json_bytes: usize,
    /// Deepest JSON nesting parsed (at most 128, serde_json's own limit).
    pub max_json_depth: usize,
    /// Requests awaiting an answer, per session; more are counted only.
    pub max_pending: usize,
    /// Socket.IO binary attachments announced by one packet.
    pub max_attachments: u32,
    /// Findings kept per session; more are counted in one last finding.
    pub max_findings: usize,
    /// Messages held while the protocol is not known from the handshake.
    pub max_detect_messages: usize,
    /// Items kept in a list field (MQTT topic filters, STOMP headers,
    /// MQTT v5 properties read per packet).
    pub max_items: usize,
    /// Characters kept in a name, id or error text.
    pub max_text: usize,
    /// Records made from one message (JSON-RPC batches) or one Engine.IO
    /// long-polling body; the rest is counted in a finding.
    pub max_records_per_message: usize,
    /// Engine.IO long-polling: the largest HTTP body kept to be decoded
    /// (before and after its content coding is undone).
    pub max_polling_body: usize,
    /// Engine.IO long-polling: records kept in one connection's HTTP
    /// exchanges; later ones are still events (NDJSON), not kept.
    pub max_polling_records: usize,
}

impl Default for AppLimits {
    fn default() -> Self {
        AppLimits {
            max_buffered: 1 << 20,
            max_json_bytes: 1 << 20,
            max_json_depth: 64,
            max_pending: 10_000,
            max_attachments: 256,
            max_findings: 1000,
            max_detect_messages: 8,
            max_items: 64,
            max_text: 256,
            max_records_per_message: 1000,
            max_polling_body: 1 << 20,
            max_polling_records: 10_000,
        }
    }
}

/// An application-level error carried by a message (the peer said
/// something failed; not a fault of the protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AppError {
    /// The protocol's code: MQTT reason code (`0x87`), JSON-RPC code,
    /// OCPP error code, WAMP error URI …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The protocol's message, cut at [`AppLimits::max_text`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a record takes part in request ↔ answer pairing (filled by the
/// decoders, read by the [`Correlator`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pairing {
    /// This record asks; an answer from the other direction is awaited.
    pub opens: Option<PairKey>,
    /// This record answers (or ends) a request of the other direction.
    pub closes: Option<(PairKey, Closing)>,
}

/// What pairs a request with its answer: a family of request (so an MQTT
/// SUBACK never answers a PUBLISH) and the protocol's id within a scope
/// (a Socket.IO namespace, a Phoenix topic). No id: first in, first out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairKey {
    /// The request family (`"publish1"`, `"call"`, `"receipt"` …).
    pub family: &'static str,
    /// Scope of the id, when the protocol has one.
    pub scope: Option<String>,
    /// The correlation id; None pairs in order.
    pub id: Option<String>,
}

impl PairKey {
    /// A key with an id and no scope.
    pub fn id(family: &'static str, id: impl Into<String>) -> Self {
        PairKey {
            family,
            scope: None,
            id: Some(id.into()),
        }
    }
    /// A key paired in order.
    pub fn fifo(family: &'static str) -> Self {
        PairKey {
            family,
            scope: None,
            id: None,
        }
    }
}

/// How an answer relates to its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The one answer: the request is done.
    Final,
    /// An item of a stream (GraphQL `next`, SignalR `StreamItem`): the
    /// first one is the answer; the request stays open for its end.
    Item,
    /// The end of a stream (GraphQL `complete`/`error`, SignalR
    /// `Completion` of a stream): the answer if no item came first.
    End,
    /// The requester itself withdrew the request (GraphQL `complete` from
    /// the client, SignalR `CancelInvocation`): no answer, no latency.
    Cancel,
}

/// One application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AppRecord {
    /// The protocol.
    pub protocol: AppProtocol,
    /// Who sent it.
    pub dir: Direction,
    /// The protocol's own name for the message type (`EVENT`, `PUBLISH`,
    /// `SEND`, `next`, `CALL`, `request` …).
    pub kind: &'static str,
    /// Event, topic, destination, method, action or operation name. An
    /// answer that names nothing itself gets its request's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Correlation id (ack id, packet id, receipt, operation id,
    /// JSON-RPC id, OCPP unique id, invocation id, ref …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Socket.IO namespace, Phoenix topic, Action Cable channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// An application-level error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AppError>,
    /// Protocol-specific details (small; never the payload).
    #[serde(flatten)]
    pub detail: AppDetail,
    /// The index of the message it is reported on: the one that completed
    /// it (an MQTT packet or STOMP frame across messages ends in its last
    /// message), the packet's own text message for Socket.IO binary
    /// packets (their attachments follow).
    pub index: u64,
    /// The indexes of every WebSocket message it came from, in order
    /// (more than one: a Socket.IO packet and its attachments, an MQTT
    /// packet across messages); capped at [`AppLimits::max_items`].
    pub messages: Vec<u64>,
    /// The packet that carried the first byte of the message at `index`.
    pub first_packet: PacketNo,
    /// The time of the message at `index`.
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// For an answer: the `index` of the request's record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<u64>,
    /// For an answer: its time minus the request's, in nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ns: Option<i64>,
    /// Not the first answer to its request: a later item of a stream
    /// (GraphQL `next`, SignalR `StreamItem`, a progressive WAMP `RESULT`)
    /// or its end. The request's own latency is the first answer's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub later_answer: bool,
    /// This answer ends a stream whose first item came earlier.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream_end: bool,
    /// How the record pairs (not in reports).
    #[serde(skip)]
    #[schemars(skip)]
    pub pairing: Pairing,
}

/// Protocol-specific fields of a record, each where the protocol has it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
pub struct AppDetail {
    /// MQTT QoS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    /// MQTT retain flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain: Option<bool>,
    /// MQTT DUP flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup: Option<bool>,
    /// Length of the application payload (MQTT PUBLISH payload, STOMP body,
    /// Socket.IO attachments), not the payload itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_len: Option<u64>,
    /// Socket.IO binary attachments received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<u32>,
    /// Socket.IO `attachment`: the index of its BINARY_EVENT/BINARY_ACK message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_of: Option<u64>,
    /// Socket.IO `attachment`: its position among the packet's attachments (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_index: Option<u32>,
    /// MQTT keep-alive (CONNECT), STOMP heart-beat …, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive_s: Option<u32>,
    /// Protocol version spoken (MQTT protocol level, STOMP version,
    /// Engine.IO version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Session id the protocol assigns (Engine.IO `open` sid, WAMP
    /// WELCOME session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// More names (MQTT topic filters after the first), capped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_names: Vec<String>,
    /// The record was decoded from the first bytes only (a cap).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl AppRecord {
    /// A record of `kind` from one message.
    pub fn new(protocol: AppProtocol, input: &AppInput<'_>, kind: &'static str) -> Self {
        AppRecord {
            protocol,
            dir: input.dir,
            kind,
            name: None,
            id: None,
            channel: None,
            error: None,
            detail: AppDetail::default(),
            index: input.index,
            messages: vec![input.index],
            first_packet: input.first_packet,
            ts: input.ts,
            answers: None,
            latency_ns: None,
            later_answer: false,
            stream_end: false,
            pairing: Pairing::default(),
        }
    }
}

/// What an application-layer finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppFindingKind {
    /// The peer broke the protocol's framing or a MUST (with its section).
    Malformed,
    /// The bytes were not all known (an incomplete message, lost sync):
    /// nothing was decoded from them.
    Undecodable,
    /// A cap of [`AppLimits`] was reached.
    CapReached,
    /// Announced parts never came (Socket.IO attachments).
    Incomplete,
    /// A request got no answer before the capture ended.
    Unanswered,
    /// MQTT: the client sent nothing for longer than 1.5 × its keep-alive.
    KeepAliveLate,
}

/// One application-layer finding. Data, never an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AppFinding {
    /// What.
    pub kind: AppFindingKind,
    /// The protocol it concerns.
    pub protocol: AppProtocol,
    /// Who, when it concerns one side.
    pub dir: Option<Direction>,
    /// The message it became visible in.
    pub index: Option<u64>,
    /// The packet it became visible in.
    pub packet: PacketNo,
    /// The time of that packet's message.
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// The specification section broken, for `malformed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<&'static str>,
    /// A sentence for people.
    pub detail: String,
}

/// What feeding one message produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppOutput {
    /// Application messages, in order.
    pub records: Vec<AppRecord>,
    /// Findings, in order.
    pub findings: Vec<AppFinding>,
}

impl AppOutput {
    fn finding(
        &mut self,
        protocol: AppProtocol,
        input: &AppInput<'_>,
        kind: AppFindingKind,
        section: Option<&'static str>,
        detail: impl Into<String>,
    ) {
        self.findings.push(AppFinding {
            kind,
            protocol,
            dir: Some(input.dir),
            index: Some(input.index),
            packet: input.first_packet,
            ts: input.ts,
            section,
            detail: detail.into(),
        });
    }

    /// The message's bytes are not all known: one finding, nothing decoded.
    fn incomplete(&mut self, protocol: AppProtocol, input: &AppInput<'_>) {
        self.finding(
            protocol,
            input,
            AppFindingKind::Undecodable,
            None,
            format!(
                "message {} undecodable: incomplete ({} bytes known)",
                input.index,
                input.payload.len()
            ),
        );
    }

    fn malformed(
        &mut self,
        protocol: AppProtocol,
        input: &AppInput<'_>,
        section: &'static str,
        detail: impl Into<String>,
    ) {
        self.finding(
            protocol,
            input,
            AppFindingKind::Malformed,
            Some(section),
            detail,
        );
    }
}

/// A protocol decoder: one per session, fed both directions in order.
pub trait AppDecoder: Send {
    /// Decodes one message.
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput);
    /// The capture ended: report what was left waiting.
    fn finish(&mut self, _out: &mut AppOutput) {}
    /// Payload bytes held for packets in progress (what the caps bound).
    fn held_bytes(&self) -> usize {
        0
    }
}

/// The decoder of `protocol`.
pub fn decoder(
    protocol: AppProtocol,
    limits: AppLimits,
    hints: &HandshakeHints<'_>,
) -> Box<dyn AppDecoder> {
    match protocol {
        AppProtocol::SocketIo => Box::new(socketio::SocketIoDecoder::new(
            limits,
            detect::eio_version(hints.target),
        )),
        AppProtocol::Mqtt => Box::new(mqtt::MqttDecoder::new(limits)),
        AppProtocol::Stomp => Box::new(stomp::StompDecoder::new(
            limits,
            detect::stomp_version(hints.subprotocol),
        )),
        AppProtocol::GraphqlTransportWs => Box::new(graphql::GraphqlDecoder::new(limits, false)),
        AppProtocol::GraphqlWs => Box::new(graphql::GraphqlDecoder::new(limits, true)),
        AppProtocol::JsonRpc => Box::new(jsonrpc::JsonRpcDecoder::new(limits)),
        AppProtocol::Ocpp => Box::new(ocpp::OcppDecoder::new(limits)),
        AppProtocol::SignalR => Box::new(signalr::SignalRDecoder::new(limits)),
        AppProtocol::Phoenix => Box::new(phoenix::PhoenixDecoder::new(limits)),
        AppProtocol::Wamp => Box::new(wamp::WampDecoder::new(limits)),
        AppProtocol::ActionCable => Box::new(actioncable::ActionCableDecoder::new(limits)),
    }
}

/// A held message, while detection waits for evidence.
#[derive(Debug)]
struct Held {
    dir: Direction,
    opcode: Opcode,
    payload: Vec<u8>,
    complete: bool,
    index: u64,
    first_packet: PacketNo,
    ts: Timestamp,
}

impl Held {
    fn input(&self) -> AppInput<'_> {
        AppInput {
            dir: self.dir,
            opcode: self.opcode,
            payload: &self.payload,
            complete: self.complete,
            index: self.index,
            first_packet: self.first_packet,
            ts: self.ts,
        }
    }
}

enum State {
    /// Waiting for content evidence, holding the first messages.
    Detecting {
        held: Vec<Held>,
        held_bytes: usize,
        seen: usize,
    },
    /// Decoding.
    Decoding {
        decoder: Box<dyn AppDecoder>,
        correlator: Correlator,
    },
    /// No application protocol (forced off, or no evidence).
    Off,
}

/// The application layer of one WebSocket session: detection, decoding,
/// pairing, and the finding cap.
pub struct AppSession {
    limits: AppLimits,
    detection: Option<Detection>,
    state: State,
    target: Option<String>,
    subprotocol: Option<String>,
    findings: usize,
    findings_dropped: u64,
    last: Option<(PacketNo, Timestamp)>,
}

impl fmt::Debug for AppSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSession")
            .field("detection", &self.detection)
            .finish_non_exhaustive()
    }
}

impl AppSession {
    /// A session whose handshake said `hints`; `choice` may force a
    /// protocol or none.
    pub fn new(hints: &HandshakeHints<'_>, choice: AppChoice, limits: AppLimits) -> Self {
        let detection = detect::by_handshake(hints, choice);
        let mut s = AppSession {
            limits,
            detection,
            state: State::Off,
            target: hints.target.map(str::to_owned),
            subprotocol: hints.subprotocol.map(str::to_owned),
            findings: 0,
            findings_dropped: 0,
            last: None,
        };
        s.state = match (choice, detection) {
            (AppChoice::None, _) => State::Off,
            (_, Some(d)) => s.decoding(d.protocol),
            (_, None) => State::Detecting {
                held: Vec::new(),
                held_bytes: 0,
                seen: 0,
            },
        };
        s
    }

    fn decoding(&self, protocol: AppProtocol) -> State {
        let hints = HandshakeHints {
            subprotocol: self.subprotocol.as_deref(),
            target: self.target.as_deref(),
        };
        State::Decoding {
            decoder: decoder(protocol, self.limits, &hints),
            correlator: Correlator::new(self.limits),
        }
    }

    /// The protocol and how it was chosen; None while undecided or when
    /// there is no evidence.
    pub fn detection(&self) -> Option<Detection> {
        self.detection
    }

    /// Payload bytes held now: messages awaiting detection and packets in
    /// progress. Bounded by [`AppLimits::max_buffered`] per direction (and
    /// once more while detecting).
    pub fn held_bytes(&self) -> usize {
        match &self.state {
            State::Detecting { held_bytes, .. } => *held_bytes,
            State::Decoding { decoder, .. } => decoder.held_bytes(),
            State::Off => 0,
        }
    }

    /// Requests awaiting an answer now.
    pub fn pending(&self) -> usize {
        match &self.state {
            State::Decoding { correlator, .. } => correlator.pending(),
            _ => 0,
        }
    }

    /// Decodes one data message (other opcodes are ignored).
    pub fn feed(&mut self, input: &AppInput<'_>) -> AppOutput {
        let mut out = AppOutput::default();
        if !matches!(input.opcode, Opcode::Text | Opcode::Binary) {
            return out;
        }
        self.last = Some((input.first_packet, input.ts));
        match &mut self.state {
            State::Off => {}
            State::Decoding {
                decoder,
                correlator,
            } => {
                decoder.feed(input, &mut out);
                correlator.observe(&mut out);
            }
            State::Detecting {
                held,
                held_bytes,
                seen,
            } => {
                *seen += 1;
                let keep = input.payload.len().min(self.limits.max_buffered);
                held.push(Held {
                    dir: input.dir,
                    opcode: input.opcode,
                    payload: input.payload[..keep].to_vec(),
                    complete: input.complete && keep == input.payload.len(),
                    index: input.index,
                    first_packet: input.first_packet,
                    ts: input.ts,
                });
                *held_bytes += keep;
                let inputs: Vec<AppInput<'_>> = held.iter().map(Held::input).collect();
                if let Some(p) = detect::by_content(&inputs, self.limits) {
                    let held = std::mem::take(held);
                    self.detection = Some(Detection {
                        protocol: p,
                        by: DetectedBy::Content,
                    });
                    self.state = self.decoding(p);
                    if let State::Decoding {
                        decoder,
                        correlator,
                    } = &mut self.state
                    {
                        for h in &held {
                            decoder.feed(&h.input(), &mut out);
                        }
                        correlator.observe(&mut out);
                    }
                } else if *seen >= self.limits.max_detect_messages
                    || *held_bytes >= self.limits.max_buffered
                {
                    self.state = State::Off;
                }
            }
        }
        self.cap_findings(&mut out);
        out
    }

    /// The session ended: attachments that never came, unanswered
    /// requests.
    pub fn finish(&mut self) -> AppOutput {
        let mut out = AppOutput::default();
        if let State::Decoding {
            decoder,
            correlator,
        } = &mut self.state
        {
            decoder.finish(&mut out);
            correlator.observe(&mut out);
            let (p, ts) = self.last.unwrap_or((PacketNo(0), Timestamp(0)));
            correlator.finish(self.detection.map(|d| d.protocol), p, ts, &mut out);
        }
        self.cap_findings(&mut out);
        if self.findings_dropped > 0 {
            if let Some(d) = self.detection {
                let (packet, ts) = self.last.unwrap_or((PacketNo(0), Timestamp(0)));
                out.findings.push(AppFinding {
                    kind: AppFindingKind::CapReached,
                    protocol: d.protocol,
                    dir: None,
                    index: None,
                    packet,
                    ts,
                    section: None,
                    detail: format!(
                        "{} more application findings not kept (cap {})",
                        self.findings_dropped, self.limits.max_findings
                    ),
                });
            }
            self.findings_dropped = 0;
        }
        out
    }

    fn cap_findings(&mut self, out: &mut AppOutput) {
        let room = self.limits.max_findings.saturating_sub(self.findings);
        if out.findings.len() > room {
            self.findings_dropped += (out.findings.len() - room) as u64;
            out.findings.truncate(room);
        }
        self.findings += out.findings.len();
    }
}

/// `s` cut at `max` characters (on a char boundary), marked with `…`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// Lossy UTF-8 of `b`, clipped.
pub(crate) fn clip_bytes(b: &[u8], max: usize) -> String {
    let end = b.len().min(max.saturating_mul(4));
    clip(&String::from_utf8_lossy(&b[..end]), max)
}
