//! Application-layer records (issue 21): the messages and findings the
//! decoders under `app/` name in WebSocket messages and long-polling
//! bodies, and how a session's protocol was chosen. Plain data with serde
//! derives; the decoders build them (`app::AppRecord::new` takes an
//! `app::AppInput`) and every output reads them from here.

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use serde::Serialize;
use std::fmt;

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

/// An application-level error carried by a message (the peer said
/// something failed; not a fault of the protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AppError {
    /// The protocol's code: MQTT reason code (`0x87`), JSON-RPC code,
    /// OCPP error code, WAMP error URI …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The protocol's message, cut at `AppLimits::max_text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a record takes part in request ↔ answer pairing (filled by the
/// decoders, read by the [`crate::app::Correlator`]).
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
    /// packet across messages); capped at `AppLimits::max_items`.
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

/// What an application-layer finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppFindingKind {
    /// The peer broke the protocol's framing or a MUST (with its section).
    Malformed,
    /// The bytes were not all known (an incomplete message, lost sync):
    /// nothing was decoded from them.
    Undecodable,
    /// A cap of `AppLimits` was reached.
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

/// How the protocol was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DetectedBy {
    /// The negotiated `Sec-WebSocket-Protocol`.
    Subprotocol,
    /// The request target of the upgrade request.
    RequestTarget,
    /// A signature in the first messages.
    Content,
    /// `--app PROTOCOL`.
    Forced,
}

/// A protocol and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Detection {
    /// The protocol.
    pub protocol: AppProtocol,
    /// The evidence.
    pub by: DetectedBy,
}
