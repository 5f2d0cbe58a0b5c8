//! The records file's encoding: the model's records as compact bytes and
//! back, exactly (every field the outputs show; a decoded record equals
//! the one the analyzer delivered).
//!
//! Little-endian integers, strings and byte strings with a `u32` length.
//! Decoding never trusts the bytes: a short or inconsistent record is
//! `None`, never a panic (the files are ours, but a full disk or a cap
//! may leave one cut).

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::hexfmt::Hex;
use crate::model::finding::{Anomaly, AnomalyKind, Violation, ViolationKind};
use crate::model::message::{ControlFrame, FrameInfo, Message};
use crate::ws::frame::{LengthFormat, Opcode};

/// Appends fields to a byte buffer.
#[derive(Debug, Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i128(&mut self, v: i128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        // Records are bounded by the model's caps (text, head), far below 4 GiB.
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        let n = b.len().min(u32::MAX as usize);
        self.0.extend_from_slice(&b[..n]);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn opt_str(&mut self, s: Option<&str>) {
        self.opt_bytes(s.map(str::as_bytes));
    }
    pub fn opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }
    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
        }
    }
    pub fn dir(&mut self, d: Option<Direction>) {
        self.u8(dir_code(d));
    }
}

/// Reads fields back; every read is checked.
#[derive(Debug)]
pub struct Dec<'a>(pub &'a [u8]);

impl<'a> Dec<'a> {
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (h, t) = self.0.split_at_checked(n)?;
        self.0 = t;
        Some(h)
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn i128(&mut self) -> Option<i128> {
        Some(i128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    pub fn opt_string(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.string()?)),
            _ => None,
        }
    }
    pub fn opt_bytes(&mut self) -> Option<Option<Vec<u8>>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.bytes()?.to_vec())),
            _ => None,
        }
    }
    pub fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }
    pub fn dir(&mut self) -> Option<Option<Direction>> {
        dir_from(self.u8()?)
    }
}

/// 0: none, 1: client to server, 2: server to client.
pub fn dir_code(d: Option<Direction>) -> u8 {
    match d {
        None => 0,
        Some(Direction::ClientToServer) => 1,
        Some(Direction::ServerToClient) => 2,
    }
}

/// The inverse of [`dir_code`]; `None` for a code that is none of them.
pub fn dir_from(c: u8) -> Option<Option<Direction>> {
    match c {
        0 => Some(None),
        1 => Some(Some(Direction::ClientToServer)),
        2 => Some(Some(Direction::ServerToClient)),
        _ => None,
    }
}

/// An opcode as its wire value (`Opcode::from` maps it back, reserved
/// values included).
fn opcode_code(o: Opcode) -> u8 {
    o.value() & 0x0f
}

fn put_frame(e: &mut Enc, f: &FrameInfo) {
    e.u8(u8::from(f.fin));
    e.u8(f.rsv);
    e.u8(opcode_code(f.opcode));
    match f.mask_key {
        None => e.u8(0),
        Some(Hex(k)) => {
            e.u8(1);
            e.0.extend_from_slice(&k);
        }
    }
    e.u64(f.payload_len);
    e.u8(match f.length_format {
        LengthFormat::Short => 0,
        LengthFormat::Medium => 1,
        LengthFormat::Long => 2,
    });
    e.u64(f.header_packet.0);
    e.u64(f.end_packet.0);
}

fn get_frame(d: &mut Dec<'_>) -> Option<FrameInfo> {
    let fin = d.u8()? != 0;
    let rsv = d.u8()?;
    let opcode = Opcode::from(d.u8()?);
    let mask_key = match d.u8()? {
        0 => None,
        1 => Some(Hex(d.take(4)?.try_into().ok()?)),
        _ => return None,
    };
    let payload_len = d.u64()?;
    let length_format = match d.u8()? {
        0 => LengthFormat::Short,
        1 => LengthFormat::Medium,
        2 => LengthFormat::Long,
        _ => return None,
    };
    Some(FrameInfo {
        fin,
        rsv,
        opcode,
        mask_key,
        payload_len,
        length_format,
        header_packet: PacketNo(d.u64()?),
        end_packet: PacketNo(d.u64()?),
    })
}

/// Writes a data message (its settled digest; `pending_digest` is the
/// writer thread's business and is not kept).
pub fn put_message(e: &mut Enc, m: &Message) {
    e.dir(Some(m.dir));
    e.u8(opcode_code(m.opcode));
    e.u32(m.frames);
    let flags = u8::from(m.compressed)
        | u8::from(m.text_truncated) << 1
        | u8::from(m.complete) << 2
        | match m.utf8_valid {
            None => 0,
            Some(false) => 1 << 3,
            Some(true) => 1 << 4,
        };
    e.u8(flags);
    e.opt_u64(m.payload_len);
    e.u64(m.wire_payload_len);
    match &m.sha256 {
        None => e.u8(0),
        Some(Hex(h)) => {
            e.u8(1);
            e.0.extend_from_slice(h);
        }
    }
    e.opt_str(m.text.as_deref());
    e.opt_str(m.undecodable.as_deref());
    e.u64(m.first_packet.0);
    e.u64(m.last_packet.0);
    e.i128(m.ts.0);
    e.i128(m.end_ts.0);
    e.opt_bytes(m.captured_prefix.as_deref());
    e.opt_bytes(m.preview.as_deref());
    e.u32(u32::try_from(m.frame_headers.len()).unwrap_or(u32::MAX));
    for f in m.frame_headers.iter().take(u32::MAX as usize) {
        put_frame(e, f);
    }
    e.bytes(&m.head);
}

/// Reads a data message written by [`put_message`].
pub fn get_message(d: &mut Dec<'_>) -> Option<Message> {
    let dir = d.dir()??;
    let opcode = Opcode::from(d.u8()?);
    let frames = d.u32()?;
    let flags = d.u8()?;
    let payload_len = d.opt_u64()?;
    let wire_payload_len = d.u64()?;
    let sha256 = match d.u8()? {
        0 => None,
        1 => Some(Hex(d.take(32)?.try_into().ok()?)),
        _ => return None,
    };
    let text = d.opt_string()?;
    let undecodable = d.opt_string()?;
    let first_packet = PacketNo(d.u64()?);
    let last_packet = PacketNo(d.u64()?);
    let ts = Timestamp(d.i128()?);
    let end_ts = Timestamp(d.i128()?);
    let captured_prefix = d.opt_bytes()?;
    let preview = d.opt_bytes()?;
    let n = d.u32()? as usize;
    // Each frame takes at least 29 bytes: a count larger than what is left
    // is a cut record, not a reason to allocate.
    if n > d.0.len() / 29 {
        return None;
    }
    let mut frame_headers = Vec::with_capacity(n);
    for _ in 0..n {
        frame_headers.push(get_frame(d)?);
    }
    let head = d.bytes()?.to_vec();
    Some(Message {
        dir,
        opcode,
        frames,
        compressed: flags & 1 != 0,
        payload_len,
        wire_payload_len,
        sha256,
        text,
        text_truncated: flags & 2 != 0,
        utf8_valid: match flags & 0x18 {
            0 => None,
            0x08 => Some(false),
            0x10 => Some(true),
            _ => return None,
        },
        complete: flags & 4 != 0,
        undecodable,
        first_packet,
        last_packet,
        ts,
        end_ts,
        captured_prefix,
        preview,
        frame_headers,
        head,
    })
}

/// Writes a control frame.
pub fn put_control(e: &mut Enc, f: &ControlFrame) {
    e.dir(Some(f.dir));
    e.u8(opcode_code(f.opcode));
    e.u64(f.payload_len);
    match f.close_code {
        None => e.u8(0),
        Some(c) => {
            e.u8(1);
            e.u16(c);
        }
    }
    e.opt_str(f.close_reason.as_deref());
    e.u64(f.packet.0);
    e.i128(f.ts.0);
    e.bytes(&f.payload);
    put_frame(e, &f.frame);
}

/// Reads a control frame written by [`put_control`].
pub fn get_control(d: &mut Dec<'_>) -> Option<ControlFrame> {
    let dir = d.dir()??;
    let opcode = Opcode::from(d.u8()?);
    let payload_len = d.u64()?;
    let close_code = match d.u8()? {
        0 => None,
        1 => Some(d.u16()?),
        _ => return None,
    };
    Some(ControlFrame {
        dir,
        opcode,
        payload_len,
        close_code,
        close_reason: d.opt_string()?,
        packet: PacketNo(d.u64()?),
        ts: Timestamp(d.i128()?),
        payload: d.bytes()?.to_vec(),
        frame: get_frame(d)?,
    })
}

/// A finding's kind is written by its stable serde name (the name every
/// JSON output uses), so the encoding does not depend on variant order.
fn kind_name<T: serde::Serialize>(k: &T) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn kind_from<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Writes a violation.
pub fn put_violation(e: &mut Enc, v: &Violation) {
    e.str(&kind_name(&v.kind));
    e.dir(v.dir);
    e.u64(v.packet.0);
    e.i128(v.ts.0);
    e.str(&v.detail);
}

/// Reads a violation written by [`put_violation`].
pub fn get_violation(d: &mut Dec<'_>) -> Option<Violation> {
    let kind: ViolationKind = kind_from(&d.string()?)?;
    Some(Violation {
        kind,
        dir: d.dir()?,
        packet: PacketNo(d.u64()?),
        ts: Timestamp(d.i128()?),
        detail: d.string()?,
    })
}

/// Writes an anomaly.
pub fn put_anomaly(e: &mut Enc, a: &Anomaly) {
    e.str(&kind_name(&a.kind));
    e.dir(a.dir);
    e.u64(a.packet.0);
    e.i128(a.ts.0);
    e.str(&a.detail);
}

/// Reads an anomaly written by [`put_anomaly`].
pub fn get_anomaly(d: &mut Dec<'_>) -> Option<Anomaly> {
    let kind: AnomalyKind = kind_from(&d.string()?)?;
    Some(Anomaly {
        kind,
        dir: d.dir()?,
        packet: PacketNo(d.u64()?),
        ts: Timestamp(d.i128()?),
        detail: d.string()?,
    })
}
