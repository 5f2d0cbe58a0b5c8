//! HTTP/2 (RFC 9113) framing and HPACK (RFC 7541), as a sans-IO layer.
//!
//! [`Connection`] is pushed the reassembled bytes of each direction (and
//! the gaps the capture left) and calls back with owned [`H2Event`]s:
//! the preface, every frame decoded (HEADERS + CONTINUATION as one decoded
//! header list, DATA payload chunks as they arrive, with padding removed),
//! and findings: [`H2Violation`]s (a peer broke a MUST of RFC 9113/7541,
//! with its section) and [`H2Anomaly`]s (what the capture or a cap kept us
//! from knowing). It knows nothing of WebSocket or of the analysis model;
//! [`connect`] classifies decoded header lists (RFC 8441 extended CONNECT,
//! ordinary requests and responses) as pure functions.
//!
//! Everything is bounded by [`H2Limits`]; a cap hit is an anomaly, never a
//! panic. See docs/h2.md.

pub mod connect;
mod connection;
pub mod frame;
pub mod hpack;

pub use connection::{Connection, frames_at_start};
pub use frame::{ErrorCode, FrameType, Priority, Setting, SettingId, StreamId};
pub use hpack::{DecodedBlock, Field, HpackError};

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;

/// Every bound of the layer (per connection unless said otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Limits {
    /// Decoded header list kept per block (RFC 9113 §6.5.2 sizes: name +
    /// value + 32 per field); fields past it are counted, not kept.
    pub max_header_list_bytes: usize,
    /// Encoded bytes of one header block (HEADERS or PUSH_PROMISE and its
    /// CONTINUATIONs); a longer block is skipped and the HPACK state of
    /// its direction is lost.
    pub max_header_block_bytes: usize,
    /// HPACK dynamic table kept per direction, whatever the peer announced.
    pub max_table_bytes: usize,
    /// Open streams tracked; past it the lowest is forgotten.
    pub max_streams: usize,
    /// GOAWAY debug data kept.
    pub max_goaway_debug: usize,
    /// SETTINGS parameters kept per frame (all are applied).
    pub max_settings_per_frame: usize,
    /// Bytes held per direction while looking for frame boundaries after
    /// a gap (or at a mid-stream start).
    pub max_resync_bytes: usize,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_header_list_bytes: 256 * 1024,
            max_header_block_bytes: 256 * 1024,
            max_table_bytes: 64 * 1024,
            max_streams: 4096,
            max_goaway_debug: 1024,
            max_settings_per_frame: 64,
            max_resync_bytes: 64 * 1024,
        }
    }
}

/// One thing the layer found, with where and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Event {
    /// Who sent it.
    pub dir: Direction,
    /// The packet that carried the first byte (of the frame, the header
    /// block, or the DATA chunk).
    pub first_packet: PacketNo,
    /// The packet that completed it.
    pub packet: PacketNo,
    /// The time of `packet`.
    pub ts: Timestamp,
    /// What.
    pub kind: H2EventKind,
}

/// What an [`H2Event`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2EventKind {
    /// The client connection preface (RFC 9113 §3.4).
    Preface,
    /// A SETTINGS frame (§6.5).
    Settings {
        /// An acknowledgement (no parameters).
        ack: bool,
        /// The parameters, in order, up to `max_settings_per_frame`.
        params: Vec<Setting>,
        /// Parameters past the cap (applied, not kept).
        dropped: u32,
    },
    /// A header block: HEADERS and its CONTINUATIONs (§6.2, §6.10).
    Headers {
        /// The stream.
        stream: StreamId,
        /// END_STREAM was set on the HEADERS frame.
        end_stream: bool,
        /// The PRIORITY flag's fields.
        priority: Option<Priority>,
        /// What the block decoded to.
        block: HeaderBlock,
    },
    /// A PUSH_PROMISE and its CONTINUATIONs (§6.6).
    PushPromise {
        /// The stream it is associated with.
        stream: StreamId,
        /// The stream it reserves.
        promised: StreamId,
        /// The promised request.
        block: HeaderBlock,
    },
    /// DATA payload bytes (§6.1), padding removed, as they arrived: a
    /// frame gives one event per captured piece, the last one with
    /// `frame_end`.
    Data {
        /// The stream.
        stream: StreamId,
        /// Payload bytes of this piece (may be empty on the last one).
        bytes: Vec<u8>,
        /// The frame's last piece.
        frame_end: bool,
        /// On the last piece: the frame had END_STREAM.
        end_stream: bool,
    },
    /// DATA payload bytes the capture lost, in a frame whose length is
    /// known: framing continues after them.
    DataGap {
        /// The stream.
        stream: StreamId,
        /// How many bytes (padding included when the pad length itself was
        /// lost).
        len: u64,
    },
    /// RST_STREAM (§6.4).
    RstStream {
        /// The stream.
        stream: StreamId,
        /// Why.
        code: ErrorCode,
    },
    /// GOAWAY (§6.8).
    GoAway {
        /// The last stream the sender may have processed.
        last_stream: StreamId,
        /// Why.
        code: ErrorCode,
        /// Debug data, up to `max_goaway_debug` bytes.
        debug: Vec<u8>,
        /// Debug data length as sent.
        debug_len: u32,
    },
    /// PING (§6.7).
    Ping {
        /// An acknowledgement.
        ack: bool,
        /// The opaque data.
        data: [u8; 8],
    },
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate {
        /// The stream (0: the connection).
        stream: StreamId,
        /// The increment.
        increment: u32,
    },
    /// PRIORITY (§6.3).
    Priority {
        /// The stream.
        stream: StreamId,
        /// Dependency and weight.
        priority: Priority,
    },
    /// A frame of a type this layer does not know, skipped (§5.5).
    UnknownFrame {
        /// The type byte.
        frame_type: u8,
        /// The stream.
        stream: StreamId,
        /// Its payload length.
        len: u32,
    },
    /// A peer broke a rule.
    Violation(H2Violation),
    /// The capture or a cap limited what is known.
    Anomaly(H2Anomaly),
}

/// What a header block decoded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBlock {
    /// The HPACK decoding (empty when the block was unavailable).
    pub decoded: DecodedBlock,
    /// Encoded bytes of the block (all fragments, as sent).
    pub encoded_len: u64,
    /// Why the block could not be decoded at all.
    pub unavailable: Option<Unavailable>,
}

impl HeaderBlock {
    /// Every field is known.
    pub fn complete(&self) -> bool {
        self.unavailable.is_none() && self.decoded.complete()
    }

    /// The value of the first field named `name` (lowercase, as HTTP/2
    /// sends names), if decoded.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.decoded
            .fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_slice())
    }
}

/// Why a header block was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Bytes of the block were not captured.
    Gap,
    /// The block was longer than `max_header_block_bytes`.
    TooLarge,
    /// The block never ended: another frame came where a CONTINUATION
    /// was due.
    Interrupted,
}

/// A broken MUST of RFC 9113 / RFC 7541 / RFC 8441.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Violation {
    /// The rule.
    pub kind: H2ViolationKind,
    /// The stream concerned (None: the connection).
    pub stream: Option<StreamId>,
    /// A sentence for people.
    pub detail: String,
}

/// Which rule was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H2ViolationKind {
    /// §3.4: the client preface is not `PRI * HTTP/2.0…`.
    BadPreface,
    /// §3.4: the first frame of each side must be SETTINGS.
    FirstFrameNotSettings,
    /// §4.2: a frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE.
    FrameTooLarge,
    /// §4.1: the reserved bit of the stream identifier set.
    ReservedBit,
    /// §6: a stream frame on stream 0, or a connection frame on a stream.
    WrongStream,
    /// §6.1, §6.2, §6.6: padding as long as the payload or longer.
    BadPadding,
    /// §6.1: padding octets must be zero.
    NonZeroPadding,
    /// §6.3–§6.9: a frame whose length its type does not allow.
    BadFrameSize,
    /// §6.5.2 (RFC 8441 §3 for ENABLE_CONNECT_PROTOCOL): a SETTINGS value
    /// out of range.
    BadSettingValue,
    /// §6.9: a WINDOW_UPDATE increment of 0.
    ZeroWindowIncrement,
    /// §6.10: a header block not followed by its CONTINUATION.
    ExpectedContinuation,
    /// §6.10: a CONTINUATION with no header block in progress.
    UnexpectedContinuation,
    /// §5.3.1: a stream depending on itself.
    SelfDependency,
    /// §5.1.1: a new stream id not above the sender's earlier ones, or of
    /// the wrong parity.
    BadStreamId,
    /// §5.1: a frame other than HEADERS or PRIORITY on an idle stream.
    FrameOnIdleStream,
    /// §5.1: DATA or HEADERS after the sender ended or reset the stream.
    FrameOnClosedStream,
    /// §8.4 / §6.6: PUSH_PROMISE from a client, or after the client
    /// disabled push.
    BadPush,
    /// §4.3: a header block HPACK cannot decode (RFC 7541 section in the
    /// error).
    Hpack(HpackError),
}

impl H2ViolationKind {
    /// Where the rule is written.
    pub fn rfc(self) -> &'static str {
        use H2ViolationKind::*;
        match self {
            BadPreface | FirstFrameNotSettings => "RFC 9113 §3.4",
            FrameTooLarge => "RFC 9113 §4.2",
            ReservedBit => "RFC 9113 §4.1",
            WrongStream => "RFC 9113 §6",
            BadPadding | NonZeroPadding => "RFC 9113 §6.1",
            BadFrameSize => "RFC 9113 §6",
            BadSettingValue => "RFC 9113 §6.5.2",
            ZeroWindowIncrement => "RFC 9113 §6.9",
            ExpectedContinuation | UnexpectedContinuation => "RFC 9113 §6.10",
            SelfDependency => "RFC 9113 §5.3.1",
            BadStreamId => "RFC 9113 §5.1.1",
            FrameOnIdleStream | FrameOnClosedStream => "RFC 9113 §5.1",
            BadPush => "RFC 9113 §8.4",
            Hpack(e) => e.rfc(),
        }
    }
}

/// What limited the analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Anomaly {
    /// What kind.
    pub kind: H2AnomalyKind,
    /// A sentence for people.
    pub detail: String,
}

/// Kinds of [`H2Anomaly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H2AnomalyKind {
    /// Frame boundaries were lost (a gap outside a DATA payload, or a
    /// mid-stream start); bytes were skipped until frames were found again.
    LostSync,
    /// A frame other than DATA lost bytes to the capture.
    Loss,
    /// A header block referred to HPACK table entries never seen.
    Undecodable,
    /// A configured cap was reached.
    CapReached,
}
