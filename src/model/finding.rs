//! Protocol violations and anomalies, recorded as data (never raised).
//!
//! A *violation* breaks a MUST of RFC 6455 / RFC 7692 by one of the peers.
//! An *anomaly* is something about the capture itself (loss, snaplen cut,
//! a cap reached) that limits what can be known.

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use serde::Serialize;

/// What rule was broken.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// RFC 6455 §4.2.2: Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)).
    BadAccept,
    /// §4.1: a 101 response must carry `Upgrade: websocket` and `Connection: Upgrade`.
    BadUpgradeResponse,
    /// §4.1: the request must carry Sec-WebSocket-Key, version 13 ...
    BadUpgradeRequest,
    /// §5.1: a client must mask every frame.
    UnmaskedClientFrame,
    /// §5.1: a server must not mask frames.
    MaskedServerFrame,
    /// §5.2: RSV bits set without an extension that defines them.
    ReservedBits,
    /// §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
    ReservedOpcode,
    /// §5.2: the length must use the minimal encoding; 64-bit MSB must be 0.
    BadLength,
    /// §5.5: control frames must not be fragmented.
    FragmentedControl,
    /// §5.5: control frame payloads are at most 125 bytes.
    ControlTooLong,
    /// §5.4: a continuation frame with no message in progress.
    UnexpectedContinuation,
    /// §5.4: a new data frame while a fragmented message is in progress.
    InterleavedMessage,
    /// §5.5.1 / §7.4: a close code that must not appear on the wire.
    BadCloseCode,
    /// §5.5.1: a close payload of 1 byte.
    BadClosePayload,
    /// §8.1: text messages (and close reasons) must be valid UTF-8.
    InvalidUtf8,
    /// §5.5.1: no data frames may follow a close frame.
    DataAfterClose,
    /// RFC 7692 §7.2.2: the compressed payload could not be inflated.
    InflateError,
    /// RFC 7692 §6.1: RSV1 on a continuation frame or a control frame.
    CompressedBitMisplaced,
    /// §5.5.2: a ping the peer read (it answered a close sent after it)
    /// got no pong.
    UnansweredPing,
    /// RFC 9113: a rule of HTTP/2 framing or streams (the section is in
    /// the detail).
    Http2,
    /// RFC 7541: a header block that is not valid HPACK.
    Hpack,
    /// RFC 8441 §4: `:protocol` though the server did not send
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
    ConnectProtocolNotEnabled,
    /// RFC 8441 §4: an extended CONNECT must carry `:scheme` and `:path`.
    BadExtendedConnect,
    /// RFC 8441 §5: no `Sec-WebSocket-Key` over HTTP/2.
    WebSocketKeyOverHttp2,
    /// RFC 9113 §8.2.2: connection-specific header fields are not sent
    /// over HTTP/2.
    ConnectionSpecificField,
    /// RFC 8441 §5: WebSocket data on a stream the server did not accept
    /// with a 2xx.
    DataWithoutAcceptance,
}

impl ViolationKind {
    /// Where the rule is written.
    pub fn rfc(self) -> &'static str {
        use ViolationKind::*;
        match self {
            BadAccept => "RFC 6455 §4.2.2",
            BadUpgradeResponse | BadUpgradeRequest => "RFC 6455 §4.1",
            UnmaskedClientFrame | MaskedServerFrame => "RFC 6455 §5.1",
            ReservedBits | ReservedOpcode | BadLength => "RFC 6455 §5.2",
            FragmentedControl | ControlTooLong => "RFC 6455 §5.5",
            UnexpectedContinuation | InterleavedMessage => "RFC 6455 §5.4",
            BadCloseCode => "RFC 6455 §7.4",
            BadClosePayload | DataAfterClose => "RFC 6455 §5.5.1",
            InvalidUtf8 => "RFC 6455 §8.1",
            InflateError => "RFC 7692 §7.2.2",
            CompressedBitMisplaced => "RFC 7692 §6.1",
            UnansweredPing => "RFC 6455 §5.5.2",
            Http2 => "RFC 9113",
            Hpack => "RFC 7541",
            ConnectProtocolNotEnabled | BadExtendedConnect => "RFC 8441 §4",
            WebSocketKeyOverHttp2 | DataWithoutAcceptance => "RFC 8441 §5",
            ConnectionSpecificField => "RFC 9113 §8.2.2",
        }
    }
}

/// One recorded violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// Who broke it (None for handshake-level findings).
    pub dir: Option<Direction>,
    /// The packet where it became visible.
    pub packet: PacketNo,
    /// The time of the packet that made it visible (for a header block
    /// split across packets, the one that completed it, as
    /// `HttpExchange::request_ts`): reports print this, never the time of
    /// an earlier event.
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// A sentence for people.
    pub detail: String,
}

/// What limited the analysis.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Bytes of the stream were never captured (loss before the capture point).
    Loss,
    /// Packets were cut by the snapshot length.
    Snaplen,
    /// A configured cap was reached (buffer, message or decompressed size).
    CapReached,
    /// Compressed data could not be inflated because earlier bytes are missing.
    Undecodable,
    /// The HTTP header block was malformed or too large.
    BadHttp,
    /// Frames could not be followed any more (garbage or a gap in a header).
    LostSync,
}

/// One recorded anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// Which direction, when it concerns one.
    pub dir: Option<Direction>,
    /// Where it became visible.
    pub packet: PacketNo,
    /// The time of the packet that made it visible (see [`Violation::ts`]).
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// A sentence for people.
    pub detail: String,
}
