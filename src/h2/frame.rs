//! RFC 9113 §4.1 frame header, frame types, flags, settings and error
//! codes, as open enums: a value nobody registered is kept, not refused.

use std::fmt;

/// Length of the frame header (§4.1).
pub const HEADER_LEN: usize = 9;

/// The connection preface a client sends first (§3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// `SETTINGS_MAX_FRAME_SIZE` initial value and lower bound (§6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// Upper bound of `SETTINGS_MAX_FRAME_SIZE` (§6.5.2): 2^24 − 1.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// A stream identifier (31 bits, §5.1.1); 0 is the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(pub u32);

impl StreamId {
    /// Stream 0: frames about the connection.
    pub const CONNECTION: StreamId = StreamId(0);

    /// Opened by the client (odd) rather than the server (even, pushes).
    pub fn client_initiated(self) -> bool {
        self.0 % 2 == 1
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Frame type (§6; §11.2 registry), open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 0x0
    Data,
    /// 0x1
    Headers,
    /// 0x2
    Priority,
    /// 0x3
    RstStream,
    /// 0x4
    Settings,
    /// 0x5
    PushPromise,
    /// 0x6
    Ping,
    /// 0x7
    GoAway,
    /// 0x8
    WindowUpdate,
    /// 0x9
    Continuation,
    /// Any other type: ignored and discarded by receivers (§4.1, §5.5).
    Unknown(u8),
}

impl FrameType {
    /// From the wire byte.
    pub fn from_u8(b: u8) -> Self {
        match b {
            0 => FrameType::Data,
            1 => FrameType::Headers,
            2 => FrameType::Priority,
            3 => FrameType::RstStream,
            4 => FrameType::Settings,
            5 => FrameType::PushPromise,
            6 => FrameType::Ping,
            7 => FrameType::GoAway,
            8 => FrameType::WindowUpdate,
            9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    /// The wire byte.
    pub fn value(self) -> u8 {
        match self {
            FrameType::Data => 0,
            FrameType::Headers => 1,
            FrameType::Priority => 2,
            FrameType::RstStream => 3,
            FrameType::Settings => 4,
            FrameType::PushPromise => 5,
            FrameType::Ping => 6,
            FrameType::GoAway => 7,
            FrameType::WindowUpdate => 8,
            FrameType::Continuation => 9,
            FrameType::Unknown(b) => b,
        }
    }

    /// The flags this type defines (§6); others must be sent as 0.
    pub fn defined_flags(self) -> u8 {
        match self {
            FrameType::Data => flags::END_STREAM | flags::PADDED,
            FrameType::Headers => {
                flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY
            }
            FrameType::PushPromise => flags::END_HEADERS | flags::PADDED,
            FrameType::Continuation => flags::END_HEADERS,
            FrameType::Settings | FrameType::Ping => flags::ACK,
            _ => 0,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameType::Data => f.write_str("DATA"),
            FrameType::Headers => f.write_str("HEADERS"),
            FrameType::Priority => f.write_str("PRIORITY"),
            FrameType::RstStream => f.write_str("RST_STREAM"),
            FrameType::Settings => f.write_str("SETTINGS"),
            FrameType::PushPromise => f.write_str("PUSH_PROMISE"),
            FrameType::Ping => f.write_str("PING"),
            FrameType::GoAway => f.write_str("GOAWAY"),
            FrameType::WindowUpdate => f.write_str("WINDOW_UPDATE"),
            FrameType::Continuation => f.write_str("CONTINUATION"),
            FrameType::Unknown(b) => write!(f, "type 0x{b:02x}"),
        }
    }
}

/// Frame flags (§6).
pub mod flags {
    /// DATA, HEADERS: the sender's last frame on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad length byte and padding.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: stream dependency and weight follow.
    pub const PRIORITY: u8 = 0x20;
}

/// A parsed frame header (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub len: u32,
    /// Type.
    pub kind: FrameType,
    /// Flags byte as sent.
    pub flags: u8,
    /// The reserved bit (must be sent as 0, ignored on receipt).
    pub reserved: bool,
    /// Stream.
    pub stream: StreamId,
}

impl FrameHeader {
    /// Parses the 9 header bytes.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Self {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: FrameType::from_u8(b[3]),
            flags: b[4],
            reserved: b[5] & 0x80 != 0,
            stream: StreamId(u32::from_be_bytes([b[5] & 0x7f, b[6], b[7], b[8]])),
        }
    }

    /// The 9 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let l = self.len.to_be_bytes();
        let s = (self.stream.0 | if self.reserved { 1 << 31 } else { 0 }).to_be_bytes();
        [
            l[1],
            l[2],
            l[3],
            self.kind.value(),
            self.flags,
            s[0],
            s[1],
            s[2],
            s[3],
        ]
    }

    /// `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Builds a whole frame (for tests and seeds).
pub fn encode_frame(kind: FrameType, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        len: payload.len() as u32,
        kind,
        flags,
        reserved: false,
        stream: StreamId(stream),
    };
    let mut out = h.encode().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A SETTINGS parameter identifier (§6.5.2; RFC 8441 §3), open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingId {
    /// 0x1
    HeaderTableSize,
    /// 0x2
    EnablePush,
    /// 0x3
    MaxConcurrentStreams,
    /// 0x4
    InitialWindowSize,
    /// 0x5
    MaxFrameSize,
    /// 0x6
    MaxHeaderListSize,
    /// 0x8 (RFC 8441 §3): the sender accepts extended CONNECT.
    EnableConnectProtocol,
    /// 0x9 (RFC 9218 §2.1).
    NoRfc7540Priorities,
    /// Unknown identifiers must be ignored (§6.5.2).
    Unknown(u16),
}

impl SettingId {
    /// From the wire value.
    pub fn from_u16(v: u16) -> Self {
        match v {
            1 => SettingId::HeaderTableSize,
            2 => SettingId::EnablePush,
            3 => SettingId::MaxConcurrentStreams,
            4 => SettingId::InitialWindowSize,
            5 => SettingId::MaxFrameSize,
            6 => SettingId::MaxHeaderListSize,
            8 => SettingId::EnableConnectProtocol,
            9 => SettingId::NoRfc7540Priorities,
            other => SettingId::Unknown(other),
        }
    }

    /// The wire value.
    pub fn value(self) -> u16 {
        match self {
            SettingId::HeaderTableSize => 1,
            SettingId::EnablePush => 2,
            SettingId::MaxConcurrentStreams => 3,
            SettingId::InitialWindowSize => 4,
            SettingId::MaxFrameSize => 5,
            SettingId::MaxHeaderListSize => 6,
            SettingId::EnableConnectProtocol => 8,
            SettingId::NoRfc7540Priorities => 9,
            SettingId::Unknown(v) => v,
        }
    }
}

/// One SETTINGS parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Which.
    pub id: SettingId,
    /// Its value.
    pub value: u32,
}

/// An error code (§7; the registry is open), for RST_STREAM and GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x0: graceful shutdown.
    NoError,
    /// 0x1
    ProtocolError,
    /// 0x2
    InternalError,
    /// 0x3
    FlowControlError,
    /// 0x4
    SettingsTimeout,
    /// 0x5
    StreamClosed,
    /// 0x6
    FrameSizeError,
    /// 0x7
    RefusedStream,
    /// 0x8
    Cancel,
    /// 0x9
    CompressionError,
    /// 0xa
    ConnectError,
    /// 0xb
    EnhanceYourCalm,
    /// 0xc
    InadequateSecurity,
    /// 0xd
    Http11Required,
    /// Any other code (to be treated as INTERNAL_ERROR, §7, but kept).
    Unknown(u32),
}

impl ErrorCode {
    /// From the wire value.
    pub fn from_u32(v: u32) -> Self {
        use ErrorCode::*;
        match v {
            0x0 => NoError,
            0x1 => ProtocolError,
            0x2 => InternalError,
            0x3 => FlowControlError,
            0x4 => SettingsTimeout,
            0x5 => StreamClosed,
            0x6 => FrameSizeError,
            0x7 => RefusedStream,
            0x8 => Cancel,
            0x9 => CompressionError,
            0xa => ConnectError,
            0xb => EnhanceYourCalm,
            0xc => InadequateSecurity,
            0xd => Http11Required,
            other => Unknown(other),
        }
    }

    /// The wire value.
    pub fn value(self) -> u32 {
        use ErrorCode::*;
        match self {
            NoError => 0x0,
            ProtocolError => 0x1,
            InternalError => 0x2,
            FlowControlError => 0x3,
            SettingsTimeout => 0x4,
            StreamClosed => 0x5,
            FrameSizeError => 0x6,
            RefusedStream => 0x7,
            Cancel => 0x8,
            CompressionError => 0x9,
            ConnectError => 0xa,
            EnhanceYourCalm => 0xb,
            InadequateSecurity => 0xc,
            Http11Required => 0xd,
            Unknown(v) => v,
        }
    }

    /// The registry name (`CANCEL`), or the number in hex.
    pub fn name(self) -> String {
        use ErrorCode::*;
        let s = match self {
            NoError => "NO_ERROR",
            ProtocolError => "PROTOCOL_ERROR",
            InternalError => "INTERNAL_ERROR",
            FlowControlError => "FLOW_CONTROL_ERROR",
            SettingsTimeout => "SETTINGS_TIMEOUT",
            StreamClosed => "STREAM_CLOSED",
            FrameSizeError => "FRAME_SIZE_ERROR",
            RefusedStream => "REFUSED_STREAM",
            Cancel => "CANCEL",
            CompressionError => "COMPRESSION_ERROR",
            ConnectError => "CONNECT_ERROR",
            EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            InadequateSecurity => "INADEQUATE_SECURITY",
            Http11Required => "HTTP_1_1_REQUIRED",
            Unknown(v) => return format!("0x{v:x}"),
        };
        s.to_string()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Stream dependency and weight (§5.3.2 of RFC 7540, deprecated by RFC
/// 9113 §5.3.2 but still sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// Exclusive dependency.
    pub exclusive: bool,
    /// The stream depended on.
    pub depends_on: StreamId,
    /// Weight as sent (1–256 is `weight + 1`).
    pub weight: u8,
}

impl Priority {
    /// Parses the 5 bytes.
    pub fn parse(b: &[u8; 5]) -> Self {
        Priority {
            exclusive: b[0] & 0x80 != 0,
            depends_on: StreamId(u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]])),
            weight: b[4],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_keeps_the_reserved_bit() {
        let h = FrameHeader {
            len: 0x12_3456,
            kind: FrameType::Unknown(0xfa),
            flags: 0xff,
            reserved: true,
            stream: StreamId(0x7fff_ffff),
        };
        assert_eq!(FrameHeader::parse(&h.encode()), h);
        let b = encode_frame(FrameType::Data, flags::END_STREAM, 3, b"abc");
        assert_eq!(b, [0, 0, 3, 0, 1, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn open_enums_keep_unknown_values() {
        for v in 0..=20u32 {
            assert_eq!(ErrorCode::from_u32(v).value(), v);
        }
        assert_eq!(ErrorCode::from_u32(8).name(), "CANCEL");
        assert_eq!(ErrorCode::from_u32(0x77).name(), "0x77");
        for v in 0..=20u16 {
            assert_eq!(SettingId::from_u16(v).value(), v);
        }
        for v in 0..=255u8 {
            assert_eq!(FrameType::from_u8(v).value(), v);
        }
    }
}
