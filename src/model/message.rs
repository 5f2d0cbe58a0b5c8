//! WebSocket records: data messages, control frames and frame headers, as
//! every output shows them (RFC 6455 §5). Built by `ws::message`'s
//! assembler; plain data with serde derives.

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::hexfmt::Hex;
use crate::ws::frame::{FrameHeader, LengthFormat, Opcode};
use crate::ws::mask::MaskKey;
use serde::Serialize;

/// The SHA-256 of a message's decoded payload, shown in hex.
pub type PayloadDigest = Hex<32>;

/// One frame's header, as the detail views show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FrameInfo {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as a 3-bit value.
    pub rsv: u8,
    /// Opcode.
    pub opcode: Opcode,
    /// Masking key, when masked.
    pub mask_key: Option<MaskKey>,
    /// Payload length on the wire.
    pub payload_len: u64,
    /// Length encoding.
    pub length_format: LengthFormat,
    /// Packet that carried the header's first byte.
    pub header_packet: PacketNo,
    /// Packet that completed the frame.
    pub end_packet: PacketNo,
}

impl FrameInfo {
    /// The record of a frame whose header `h` began in `header_packet`.
    pub fn new(h: &FrameHeader, header_packet: PacketNo) -> Self {
        FrameInfo {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode,
            mask_key: h.mask.map(Hex),
            payload_len: h.payload_len,
            length_format: h.length_format,
            header_packet,
            end_packet: header_packet,
        }
    }
}

/// A complete data message (text or binary, possibly fragmented).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Message {
    /// Direction.
    pub dir: Direction,
    /// Opcode of the first frame.
    pub opcode: Opcode,
    /// Number of frames (1 + continuation frames).
    pub frames: u32,
    /// RSV1 set on the first frame (permessage-deflate).
    pub compressed: bool,
    /// Payload length after decompression; None when unknowable.
    pub payload_len: Option<u64>,
    /// Sum of the frame payload lengths on the wire.
    pub wire_payload_len: u64,
    /// SHA-256 of the unmasked, decompressed payload; None if incomplete.
    pub sha256: Option<PayloadDigest>,
    /// The text of a complete, valid text message (up to the text cap).
    pub text: Option<String>,
    /// True when `text` was cut at the configured cap.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub text_truncated: bool,
    /// UTF-8 validity of a text message (None for binary or incomplete).
    pub utf8_valid: Option<bool>,
    /// Every byte of the message was captured and decoded.
    pub complete: bool,
    /// Why a compressed message whose bytes were all captured cannot be
    /// shown: it copies bytes (LZ77, RFC 7692 §7.2.3) from compression
    /// history that was not captured or not decoded. Such a message has no
    /// `text` and no `sha256`; `payload_len` is still exact when it was
    /// inflated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undecodable: Option<String>,
    /// Packet that first carried the first header byte.
    pub first_packet: PacketNo,
    /// Packet that completed in-order delivery of the last frame.
    pub last_packet: PacketNo,
    /// Time of the first frame.
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// Time of completion.
    #[serde(flatten, serialize_with = "crate::report::contract::end_ts::serialize")]
    #[schemars(with = "crate::report::contract::end_ts::Pair")]
    pub end_ts: Timestamp,
    /// The visible bytes of an incomplete message (until the first gap),
    /// or the exact first bytes of an undecodable one; reports write them
    /// as hex (`captured_prefix_hex`).
    #[serde(
        rename = "captured_prefix_hex",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::hexfmt::serialize_opt"
    )]
    #[schemars(rename = "captured_prefix_hex", with = "Option<String>")]
    pub captured_prefix: Option<Vec<u8>>,
    /// First bytes of a binary payload (up to
    /// 32 bytes); reports write them as hex
    /// (`preview_hex`).
    #[serde(
        rename = "preview_hex",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::hexfmt::serialize_opt"
    )]
    #[schemars(rename = "preview_hex", with = "Option<String>")]
    pub preview: Option<Vec<u8>>,
    /// Header of every frame.
    pub frame_headers: Vec<FrameInfo>,
    /// The payload's first bytes (up to `ws::message::HEAD_BYTES`): what
    /// previews, the FLV tag reader and application detection read. Not in
    /// reports, which show it as `preview_hex` or `captured_prefix_hex`.
    #[serde(skip)]
    pub head: Vec<u8>,
}

impl Message {
    /// Payload bytes this record holds (its text and its head): what it
    /// weighs when handed between threads.
    pub fn held_bytes(&self) -> usize {
        self.text.as_ref().map_or(0, String::len) + self.head.len()
    }
}

/// A control frame (close, ping, pong, or a reserved control opcode).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ControlFrame {
    /// Direction.
    pub dir: Direction,
    /// Opcode.
    pub opcode: Opcode,
    /// Payload length.
    pub payload_len: u64,
    /// Close status code (close frames with a payload).
    pub close_code: Option<u16>,
    /// Close reason (close frames with a payload).
    pub close_reason: Option<String>,
    /// Packet that completed the frame.
    pub packet: PacketNo,
    /// Time it completed.
    #[serde(flatten, serialize_with = "crate::report::contract::ts::serialize")]
    #[schemars(with = "crate::report::contract::ts::Pair")]
    pub ts: Timestamp,
    /// The payload (ping/pong/close), at most 125 bytes (the most a
    /// control frame may carry, RFC 6455 §5.5); the reason of a longer
    /// close frame is whole in `close_reason`. Reports write it as hex
    /// (`payload_hex`).
    #[serde(rename = "payload_hex", serialize_with = "crate::hexfmt::serialize")]
    #[schemars(rename = "payload_hex", with = "String")]
    pub payload: Vec<u8>,
    /// The frame header.
    pub frame: FrameInfo,
}
