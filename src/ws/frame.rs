//! RFC 6455 §5.2 base framing: opcodes, close codes and the frame header.

use serde::Serialize;
use std::fmt;

/// A frame opcode (RFC 6455 §5.2, §11.8). Total: reserved values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: UTF-8 text.
    Text,
    /// 0x2: binary data.
    Binary,
    /// 0x8: connection close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
    /// 0x3–0x7: reserved for further non-control frames.
    ReservedData(u8),
    /// 0xB–0xF: reserved for further control frames.
    ReservedControl(u8),
}

impl From<u8> for Opcode {
    fn from(b: u8) -> Self {
        match b & 0x0f {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            n @ 0x3..=0x7 => Opcode::ReservedData(n),
            n => Opcode::ReservedControl(n),
        }
    }
}

impl Opcode {
    /// The 4-bit value on the wire.
    pub fn value(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
            Opcode::ReservedData(n) | Opcode::ReservedControl(n) => n,
        }
    }

    /// Control frames have the high bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        self.value() & 0x8 != 0
    }

    /// Name used in reports.
    pub fn name(self) -> String {
        match self {
            Opcode::Continuation => "continuation".into(),
            Opcode::Text => "text".into(),
            Opcode::Binary => "binary".into(),
            Opcode::Close => "close".into(),
            Opcode::Ping => "ping".into(),
            Opcode::Pong => "pong".into(),
            Opcode::ReservedData(n) | Opcode::ReservedControl(n) => format!("reserved-0x{n:x}"),
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Opcode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A close status code (RFC 6455 §7.4). Total over `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// Whether the code may appear in a close frame on the wire (§7.4.1,
    /// §7.4.2): 1000–1003, 1007–1011 (1012–1014 are IANA-registered since),
    /// and 3000–4999. 1005, 1006 and 1015 are for reporting only.
    pub fn valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The meaning of the code, as RFC 6455 §7.4.1 and the IANA registry say.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received (must not be sent)",
            1006 => "abnormal closure (must not be sent)",
            1007 => "invalid frame payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure (must not be sent)",
            3000..=3999 => "registered for libraries and frameworks",
            4000..=4999 => "private use",
            _ => "reserved / invalid",
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.meaning())
    }
}

/// How the payload length was encoded (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum LengthFormat {
    /// 7-bit length in the second byte (0–125).
    #[serde(rename = "7-bit")]
    Short,
    /// 126 then a 16-bit length.
    #[serde(rename = "16-bit")]
    Medium,
    /// 127 then a 64-bit length.
    #[serde(rename = "64-bit")]
    Long,
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit value (RSV1 = 0b100).
    pub rsv: u8,
    /// Opcode.
    pub opcode: Opcode,
    /// Masking key, present when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub payload_len: u64,
    /// Encoding of the length.
    pub length_format: LengthFormat,
    /// Bytes of header (2 to 14).
    pub header_len: u8,
}

/// Largest possible header: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

impl FrameHeader {
    /// RSV1 is the per-message-compressed bit of permessage-deflate (RFC 7692 §6).
    pub fn rsv1(&self) -> bool {
        self.rsv & 0b100 != 0
    }

    /// Parses a header from the start of `buf`. Returns `None` when more
    /// bytes are needed; never fails (reserved values are reported by the
    /// caller as violations) and never consumes anything itself.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let (&b0, &b1) = (buf.first()?, buf.get(1)?);
        let masked = b1 & 0x80 != 0;
        let (payload_len, length_format, mut pos) = match b1 & 0x7f {
            126 => (
                u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
                LengthFormat::Medium,
                4,
            ),
            127 => {
                let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
                (u64::from_be_bytes(b), LengthFormat::Long, 10)
            }
            n => (u64::from(n), LengthFormat::Short, 2),
        };
        let mask = if masked {
            let m: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
            pos += 4;
            Some(m)
        } else {
            None
        };
        Some(FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: Opcode::from(b0),
            mask,
            payload_len,
            length_format,
            header_len: pos as u8,
        })
    }

    /// §5.2: "the minimal number of bytes MUST be used to encode the length"
    /// and the most significant bit of a 64-bit length MUST be 0.
    pub fn length_encoding_problem(&self) -> Option<&'static str> {
        match self.length_format {
            LengthFormat::Medium if self.payload_len < 126 => {
                Some("16-bit length used for a payload under 126 bytes")
            }
            LengthFormat::Long if self.payload_len >> 63 != 0 => {
                Some("64-bit length with its most significant bit set")
            }
            LengthFormat::Long if self.payload_len <= 0xffff => {
                Some("64-bit length used for a payload under 65536 bytes")
            }
            _ => None,
        }
    }

    /// Encodes a header (used by tests and the synthetic capture builder).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            (u8::from(self.fin) << 7) | (self.rsv << 4) | self.opcode.value(),
            u8::from(self.mask.is_some()) << 7,
        ];
        match self.length_format {
            LengthFormat::Short => out[1] |= self.payload_len as u8,
            LengthFormat::Medium => {
                out[1] |= 126;
                out.extend_from_slice(&(self.payload_len as u16).to_be_bytes());
            }
            LengthFormat::Long => {
                out[1] |= 127;
                out.extend_from_slice(&self.payload_len.to_be_bytes());
            }
        }
        if let Some(m) = self.mask {
            out.extend_from_slice(&m);
        }
        out
    }
}

/// A whole frame: the header for first byte `b0` (FIN, RSV and opcode as
/// on the wire, reserved values included), the minimal length encoding,
/// then the payload, masked with `mask` when given (RFC 6455 §5.2, §5.3).
///
/// The inverse of [`FrameHeader::parse`] and the unmasking, for whatever
/// generates traffic: the benchmark and hostile-capture generators, the
/// criterion benches, the tests.
pub fn encode_frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u64;
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x07,
        opcode: Opcode::from(b0),
        mask,
        payload_len: len,
        length_format: length_format_for(len),
        header_len: 0,
    };
    let mut out = header.encode();
    out.reserve(payload.len());
    let start = out.len();
    out.extend_from_slice(payload);
    if let (Some(k), Some(body)) = (mask, out.get_mut(start..)) {
        super::mask::unmask(body, k, 0);
    }
    out
}

/// The minimal length format for a payload length.
pub fn length_format_for(len: u64) -> LengthFormat {
    match len {
        0..=125 => LengthFormat::Short,
        126..=0xffff => LengthFormat::Medium,
        _ => LengthFormat::Long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_frames_parse_back_with_their_payload() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        for (b0, mask) in [
            (0x81, None),
            (0x82, Some([1, 2, 3, 4])),
            (0x4f, Some([9; 4])),
        ] {
            for len in [0usize, 125, 126, 0xffff, 0x10000] {
                let f = encode_frame(b0, mask, &payload[..len]);
                let h = FrameHeader::parse(&f).expect("a header");
                assert_eq!(h.fin, b0 & 0x80 != 0);
                assert_eq!(h.rsv, (b0 >> 4) & 7);
                assert_eq!(h.opcode.value(), b0 & 0x0f);
                assert_eq!((h.mask, h.payload_len), (mask, len as u64));
                assert_eq!(h.length_format, length_format_for(len as u64));
                let mut body = f[usize::from(h.header_len)..].to_vec();
                if let Some(k) = mask {
                    crate::ws::mask::unmask_reference(&mut body, k, 0);
                }
                assert_eq!(body, &payload[..len]);
            }
        }
    }

    #[test]
    fn parses_all_length_forms_and_needs_more_on_every_prefix() {
        for (len, hl) in [(3u64, 6usize), (300, 8), (70_000, 14)] {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: Opcode::Binary,
                mask: Some([1, 2, 3, 4]),
                payload_len: len,
                length_format: length_format_for(len),
                header_len: hl as u8,
            };
            let bytes = h.encode();
            assert_eq!(bytes.len(), hl);
            assert_eq!(FrameHeader::parse(&bytes), Some(h));
            for cut in 0..hl {
                assert_eq!(FrameHeader::parse(&bytes[..cut]), None, "prefix {cut}");
            }
        }
    }

    #[test]
    fn reserved_opcodes_are_kept() {
        assert_eq!(Opcode::from(0x3), Opcode::ReservedData(3));
        assert_eq!(Opcode::from(0xb), Opcode::ReservedControl(0xb));
        assert!(Opcode::from(0xb).is_control());
        let h = FrameHeader::parse(&[0x83, 0x00]).unwrap();
        assert_eq!(h.opcode.name(), "reserved-0x3");
    }

    #[test]
    fn huge_length_is_flagged() {
        let mut b = vec![0x82, 127];
        b.extend_from_slice(&(1u64 << 63).to_be_bytes());
        let h = FrameHeader::parse(&b).unwrap();
        assert!(h.length_encoding_problem().is_some());
        assert!(
            FrameHeader::parse(&[0x82, 126, 0, 5])
                .unwrap()
                .length_encoding_problem()
                .is_some()
        );
    }

    #[test]
    fn close_codes() {
        assert!(CloseCode(1000).valid_on_wire());
        assert!(!CloseCode(1005).valid_on_wire());
        assert!(!CloseCode(999).valid_on_wire());
        assert!(CloseCode(4000).valid_on_wire());
        assert!(!CloseCode(5000).valid_on_wire());
    }
}
