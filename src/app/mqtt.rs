//! MQTT 3.1, 3.1.1 (OASIS 2014) and 5.0 (OASIS 2019) over WebSocket.
//!
//! MQTT over WebSocket (3.1.1 §6, 5.0 §6): control packets travel in
//! binary messages, and a message may hold several packets or part of one,
//! so each direction is a byte stream with a bounded buffer for the packet
//! in progress. A packet larger than [`AppLimits::max_buffered`] is decoded
//! from its first bytes (topic, ids) and the rest is skipped, never held.
//! The fixed header (3.1.1 §2.2, 5.0 §2.1) gives the type, the flags and
//! the Remaining Length (at most four bytes, 268 435 455).

use super::{
    AppDecoder, AppError, AppFinding, AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol,
    AppRecord, Closing, PairKey, clip_bytes,
};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::ws::frame::Opcode;
use std::collections::HashMap;

const P: AppProtocol = AppProtocol::Mqtt;

/// Control packet type names (3.1.1 §2.2.1, 5.0 §2.1.2), by type number.
pub const KINDS: [&str; 16] = [
    "RESERVED",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
];

/// Topic aliases remembered per direction (5.0 §3.3.2.3.4); the Topic
/// Alias Maximum may be 65 535, so the map is capped.
const MAX_ALIASES: usize = 1024;

/// Where the packet in progress started.
#[derive(Debug, Clone)]
struct Start {
    index: u64,
    packet: PacketNo,
    ts: Timestamp,
    messages: Vec<u64>,
}

#[derive(Debug, Default)]
struct Stream {
    buf: Vec<u8>,
    /// Bytes of an oversized packet still to skip.
    skip: u64,
    start: Option<Start>,
    aliases: HashMap<u16, String>,
}

/// Decoder state for one session.
#[derive(Debug)]
pub struct MqttDecoder {
    limits: AppLimits,
    /// Protocol level from CONNECT: 3 (3.1), 4 (3.1.1), 5 (5.0).
    level: Option<u8>,
    streams: [Stream; 2],
    /// Keep-alive in seconds (CONNECT, or CONNACK's Server Keep Alive).
    keep_alive: Option<u16>,
    /// Time of the client's last control packet.
    last_client: Option<Timestamp>,
}

fn slot(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// What the fixed header at the start of `buf` says.
enum Need {
    /// More header bytes.
    Header,
    /// The whole packet is this long (fixed header included).
    Total(u64),
    /// The Remaining Length has a fifth byte (3.1.1 §2.2.3, 5.0 §1.5.5).
    Bad,
}

fn need(buf: &[u8]) -> Need {
    let mut value = 0u64;
    for i in 1..=4 {
        let Some(&b) = buf.get(i) else {
            return Need::Header;
        };
        value |= u64::from(b & 0x7f) << (7 * (i - 1));
        if b & 0x80 == 0 {
            return Need::Total(i as u64 + 1 + value);
        }
    }
    Need::Bad
}

/// A bounded reader over a packet's bytes.
struct Rd<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Rd<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.b.get(self.i..self.i + 2)?;
        self.i += 2;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let s = self.b.get(self.i..self.i + 4)?;
        self.i += 4;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn bin(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        let s = self.b.get(self.i..self.i + n)?;
        self.i += n;
        Some(s)
    }
    fn varint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for k in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f) << (7 * k);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn left(&self) -> usize {
        self.b.len().saturating_sub(self.i)
    }
}

/// The v5 properties this decoder keeps.
#[derive(Debug, Default)]
struct Props {
    reason: Option<String>,
    topic_alias: Option<u16>,
    server_keep_alive: Option<u16>,
}

/// A 3.1.1 CONNACK return code (§3.2.2.3).
fn connack_311(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "reserved return code",
    }
}

/// A 5.0 reason code ≥ 0x80 (§2.4).
fn reason_5(code: u8) -> &'static str {
    match code {
        0x80 => "Unspecified error",
        0x81 => "Malformed Packet",
        0x82 => "Protocol Error",
        0x83 => "Implementation specific error",
        0x84 => "Unsupported Protocol Version",
        0x85 => "Client Identifier not valid",
        0x86 => "Bad User Name or Password",
        0x87 => "Not authorized",
        0x88 => "Server unavailable",
        0x89 => "Server busy",
        0x8A => "Banned",
        0x8B => "Server shutting down",
        0x8C => "Bad authentication method",
        0x8D => "Keep Alive timeout",
        0x8E => "Session taken over",
        0x8F => "Topic Filter invalid",
        0x90 => "Topic Name invalid",
        0x91 => "Packet Identifier in use",
        0x92 => "Packet Identifier not found",
        0x93 => "Receive Maximum exceeded",
        0x94 => "Topic Alias invalid",
        0x95 => "Packet too large",
        0x96 => "Message rate too high",
        0x97 => "Quota exceeded",
        0x98 => "Administrative action",
        0x99 => "Payload format invalid",
        0x9A => "Retain not supported",
        0x9B => "QoS not supported",
        0x9C => "Use another server",
        0x9D => "Server moved",
        0x9E => "Shared Subscriptions not supported",
        0x9F => "Connection rate exceeded",
        0xA0 => "Maximum connect time",
        0xA1 => "Subscription Identifiers not supported",
        0xA2 => "Wildcard Subscriptions not supported",
        _ => "reserved reason code",
    }
}

/// One malformation found while decoding a packet.
struct Bad {
    section: &'static str,
    detail: String,
}

impl MqttDecoder {
    /// A decoder; the protocol level is learned from CONNECT (3.1.1 until then).
    pub fn new(limits: AppLimits) -> Self {
        MqttDecoder {
            limits,
            level: None,
            streams: Default::default(),
            keep_alive: None,
            last_client: None,
        }
    }

    fn v5(&self) -> bool {
        self.level == Some(5)
    }

    /// The section in the 3.1.1 or the 5.0 text.
    fn sec(&self, s311: &'static str, s5: &'static str) -> &'static str {
        if self.v5() { s5 } else { s311 }
    }

    fn props(&self, rd: &mut Rd<'_>, bad: &mut Vec<Bad>) -> Option<Props> {
        let mut p = Props::default();
        let len = rd.varint()? as usize;
        let end = rd.i.checked_add(len)?;
        if end > rd.b.len() {
            return None;
        }
        let mut r = Rd {
            b: &rd.b[..end],
            i: rd.i,
        };
        while r.i < end {
            let id = r.varint()?;
            match id {
                0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                    r.u8()?;
                }
                0x02 | 0x11 | 0x18 | 0x27 => {
                    r.u32()?;
                }
                0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C => {
                    r.bin()?;
                }
                0x1F => p.reason = Some(clip_bytes(r.bin()?, self.limits.max_text)),
                0x09 | 0x16 => {
                    r.bin()?;
                }
                0x0B => {
                    r.varint()?;
                }
                0x13 => p.server_keep_alive = Some(r.u16()?),
                0x21 | 0x22 => {
                    r.u16()?;
                }
                0x23 => p.topic_alias = Some(r.u16()?),
                0x26 => {
                    r.bin()?;
                    r.bin()?;
                }
                other => {
                    bad.push(Bad {
                        section: "MQTT 5.0 §2.2.2.2",
                        detail: format!("unknown property identifier 0x{other:02X}"),
                    });
                    rd.i = end;
                    return Some(p);
                }
            }
        }
        rd.i = end;
        Some(p)
    }

    fn error_5(code: u8, reason: Option<String>) -> AppError {
        AppError {
            code: Some(format!("0x{code:02X}")),
            message: Some(reason.unwrap_or_else(|| reason_5(code).into())),
        }
    }

    /// Decodes one packet (or the first bytes of an oversized one).
    /// Returns None when the bytes end before the packet's fields do.
    #[allow(clippy::too_many_lines)]
    fn packet(
        &mut self,
        dir: Direction,
        b: &[u8],
        total: u64,
        truncated: bool,
        r: &mut AppRecord,
        bad: &mut Vec<Bad>,
    ) -> Option<()> {
        let t = b[0] >> 4;
        let flags = b[0] & 0x0f;
        let hdr = match need(b) {
            Need::Total(_) => b[1..].iter().take_while(|&&c| c & 0x80 != 0).count() + 2,
            _ => return None,
        };
        let rem = total - hdr as u64;
        let mut rd = Rd { b, i: hdr };
        r.kind = KINDS[usize::from(t)];
        let expect_flags = match t {
            3 => None,
            6 | 8 | 10 => Some(2),
            _ => Some(0),
        };
        if let Some(f) = expect_flags
            && f != flags
        {
            bad.push(Bad {
                section: self.sec("MQTT 3.1.1 §2.2.2", "MQTT 5.0 §2.1.3"),
                detail: format!(
                    "{} with fixed-header flags {flags:#06b}, must be {f:#06b}",
                    r.kind
                ),
            });
        }
        // No CONNECT seen (the capture began later): 3.1.1 gives CONNACK,
        // the publish acknowledgements and UNSUBACK exactly 2 bytes and
        // DISCONNECT none (§3.2, §3.4–§3.7, §3.11, §3.14), so more is
        // 5.0's reason code and properties.
        if self.level.is_none() && matches!((t, rem), (2 | 4..=7 | 11, 3..) | (14, 1..)) {
            self.level = Some(5);
        }
        let v5 = self.v5();
        match t {
            0 => {
                bad.push(Bad {
                    section: self.sec("MQTT 3.1.1 §2.2.1", "MQTT 5.0 §2.1.2"),
                    detail: "reserved packet type 0".into(),
                });
            }
            1 => {
                let name = rd.bin()?.to_vec();
                let level = rd.u8()?;
                let cflags = rd.u8()?;
                let ka = rd.u16()?;
                self.level = Some(level);
                r.detail.version = Some(match level {
                    3 => "3.1".into(),
                    4 => "3.1.1".into(),
                    5 => "5.0".into(),
                    n => format!("level {n}"),
                });
                r.detail.keep_alive_s = Some(u32::from(ka));
                self.keep_alive = Some(ka);
                let name_ok = match level {
                    3 => name == b"MQIsdp",
                    _ => name == b"MQTT",
                };
                if !name_ok {
                    bad.push(Bad {
                        section: self.sec("MQTT 3.1.1 §3.1.2.1", "MQTT 5.0 §3.1.2.1"),
                        detail: format!(
                            "protocol name {:?} with level {level}",
                            String::from_utf8_lossy(&name)
                        ),
                    });
                }
                if cflags & 1 != 0 {
                    bad.push(Bad {
                        section: self.sec("MQTT 3.1.1 §3.1.2.3", "MQTT 5.0 §3.1.2.3"),
                        detail: "CONNECT reserved flag set".into(),
                    });
                }
                if self.v5() {
                    self.props(&mut rd, bad)?;
                }
                let client_id = rd.bin()?;
                r.name =
                    Some(clip_bytes(client_id, self.limits.max_text)).filter(|s| !s.is_empty());
                r.pairing.opens = Some(PairKey::fifo("connect"));
            }
            2 => {
                let ack = rd.u8()?;
                let code = rd.u8()?;
                if ack & 0xfe != 0 {
                    bad.push(Bad {
                        section: self.sec("MQTT 3.1.1 §3.2.2.1", "MQTT 5.0 §3.2.2.1"),
                        detail: "CONNACK reserved flags set".into(),
                    });
                }
                let props = if v5 && rd.left() > 0 {
                    self.props(&mut rd, bad)?
                } else {
                    Props::default()
                };
                if let Some(k) = props.server_keep_alive {
                    self.keep_alive = Some(k);
                    r.detail.keep_alive_s = Some(u32::from(k));
                }
                if v5 && code >= 0x80 {
                    r.error = Some(Self::error_5(code, props.reason));
                } else if !v5 && code != 0 {
                    r.error = Some(AppError {
                        code: Some(format!("0x{code:02X}")),
                        message: Some(connack_311(code).into()),
                    });
                }
                r.pairing.closes = Some((PairKey::fifo("connect"), Closing::Final));
            }
            3 => {
                let qos = (flags >> 1) & 3;
                r.detail.qos = Some(qos);
                r.detail.dup = Some(flags & 8 != 0);
                r.detail.retain = Some(flags & 1 != 0);
                if qos == 3 {
                    bad.push(Bad {
                        section: self.sec("MQTT 3.1.1 §3.3.1.2", "MQTT 5.0 §3.3.1.2"),
                        detail: "PUBLISH with QoS 3".into(),
                    });
                }
                if qos == 0 && flags & 8 != 0 {
                    bad.push(Bad {
                        section: self.sec("MQTT 3.1.1 §3.3.1.1", "MQTT 5.0 §3.3.1.1"),
                        detail: "PUBLISH with DUP set and QoS 0".into(),
                    });
                }
                let topic = clip_bytes(rd.bin()?, self.limits.max_text);
                if topic.contains(['+', '#']) {
                    bad.push(Bad {
                        section: self.sec("MQTT 3.1.1 §3.3.2.1", "MQTT 5.0 §3.3.2.1"),
                        detail: format!("PUBLISH topic {topic:?} has a wildcard"),
                    });
                }
                if qos > 0 {
                    let id = rd.u16()?;
                    r.id = Some(id.to_string());
                    if id == 0 {
                        bad.push(Bad {
                            section: self.sec("MQTT 3.1.1 §2.3.1", "MQTT 5.0 §2.2.1"),
                            detail: "packet identifier 0".into(),
                        });
                    }
                }
                let mut name = Some(topic.clone()).filter(|t| !t.is_empty());
                if v5 {
                    let props = self.props(&mut rd, bad)?;
                    if let Some(alias) = props.topic_alias {
                        let aliases = &mut self.streams[slot(dir)].aliases;
                        if topic.is_empty() {
                            name = aliases.get(&alias).cloned();
                            if name.is_none() {
                                bad.push(Bad {
                                    section: "MQTT 5.0 §3.3.2.3.4",
                                    detail: format!("topic alias {alias} used before it was set"),
                                });
                            }
                        } else if aliases.len() < MAX_ALIASES || aliases.contains_key(&alias) {
                            aliases.insert(alias, topic);
                        }
                    }
                }
                r.name = name;
                r.detail.payload_len = Some(rem.saturating_sub((rd.i - hdr) as u64));
                match (qos, r.id.clone()) {
                    (1, Some(id)) => r.pairing.opens = Some(PairKey::id("puback", id)),
                    (2, Some(id)) => r.pairing.opens = Some(PairKey::id("pubrec", id)),
                    _ => {}
                }
            }
            4..=7 => {
                let id = rd.u16()?.to_string();
                r.id = Some(id.clone());
                let mut code = 0;
                if v5 && rd.left() > 0 {
                    code = rd.u8()?;
                    let props = if rd.left() > 0 {
                        self.props(&mut rd, bad)?
                    } else {
                        Props::default()
                    };
                    if code >= 0x80 {
                        r.error = Some(Self::error_5(code, props.reason));
                    }
                }
                let (answers, next) = match t {
                    4 => ("puback", None),
                    5 => ("pubrec", Some("pubrel")),
                    6 => ("pubrel", Some("pubcomp")),
                    _ => ("pubcomp", None),
                };
                r.pairing.closes = Some((PairKey::id(answers, id.clone()), Closing::Final));
                if let Some(n) = next
                    && code < 0x80
                {
                    r.pairing.opens = Some(PairKey::id(n, id));
                }
            }
            8 | 10 => {
                let id = rd.u16()?.to_string();
                r.id = Some(id.clone());
                if v5 {
                    self.props(&mut rd, bad)?;
                }
                let mut n = 0usize;
                while rd.left() > 0 {
                    let f = clip_bytes(rd.bin()?, self.limits.max_text);
                    if t == 8 {
                        let opts = rd.u8()?;
                        if n == 0 {
                            r.detail.qos = Some(opts & 3);
                        }
                    }
                    if n == 0 {
                        r.name = Some(f);
                    } else if r.detail.more_names.len() < self.limits.max_items {
                        r.detail.more_names.push(f);
                    }
                    n += 1;
                }
                if n == 0 && !truncated {
                    bad.push(Bad {
                        section: if t == 8 {
                            self.sec("MQTT 3.1.1 §3.8.3", "MQTT 5.0 §3.8.3")
                        } else {
                            self.sec("MQTT 3.1.1 §3.10.3", "MQTT 5.0 §3.10.3")
                        },
                        detail: format!("{} with no topic filter", r.kind),
                    });
                }
                r.pairing.opens = Some(PairKey::id(if t == 8 { "suback" } else { "unsuback" }, id));
            }
            9 | 11 => {
                let id = rd.u16()?.to_string();
                r.id = Some(id.clone());
                let props = if v5 {
                    self.props(&mut rd, bad)?
                } else {
                    Props::default()
                };
                let codes = &rd.b[rd.i..];
                if let Some(&c) = codes.iter().find(|&&c| c >= 0x80) {
                    r.error = Some(if v5 {
                        Self::error_5(c, props.reason)
                    } else {
                        AppError {
                            code: Some(format!("0x{c:02X}")),
                            message: Some("Failure".into()),
                        }
                    });
                }
                r.pairing.closes = Some((
                    PairKey::id(if t == 9 { "suback" } else { "unsuback" }, id),
                    Closing::Final,
                ));
            }
            12 => r.pairing.opens = Some(PairKey::fifo("ping")),
            13 => r.pairing.closes = Some((PairKey::fifo("ping"), Closing::Final)),
            14 | 15 => {
                if t == 15 && !v5 {
                    bad.push(Bad {
                        section: "MQTT 3.1.1 §2.2.1",
                        detail: "reserved packet type 15".into(),
                    });
                }
                if v5 && rd.left() > 0 {
                    let code = rd.u8()?;
                    let props = if rd.left() > 0 {
                        self.props(&mut rd, bad)?
                    } else {
                        Props::default()
                    };
                    if code >= 0x80 {
                        r.error = Some(Self::error_5(code, props.reason));
                    }
                }
            }
            _ => unreachable!("a 4-bit type"),
        }
        Some(())
    }

    /// Decodes a packet that ends (or, oversized, whose kept bytes end)
    /// in the message `at`, which the record is reported on.
    fn emit(
        &mut self,
        at: &AppInput<'_>,
        b: &[u8],
        total: u64,
        truncated: bool,
        out: &mut AppOutput,
    ) {
        let dir = at.dir;
        let st = self.streams[slot(dir)].start.take();
        let Some(st) = st else { return };
        let input = AppInput {
            payload: &[],
            ..*at
        };
        let mut r = AppRecord::new(P, &input, "");
        r.messages = st.messages;
        r.detail.truncated = truncated;
        let mut bad = Vec::new();
        let whole = self
            .packet(dir, b, total, truncated, &mut r, &mut bad)
            .is_some();
        for x in bad {
            out.malformed(P, &input, x.section, x.detail);
        }
        if !whole {
            if truncated {
                out.finding(
                    P,
                    &input,
                    AppFindingKind::CapReached,
                    None,
                    format!(
                        "{} of {total} bytes: its fields go past the first {} bytes kept",
                        r.kind,
                        b.len()
                    ),
                );
            } else {
                out.malformed(
                    P,
                    &input,
                    self.sec("MQTT 3.1.1 §2.2.3", "MQTT 5.0 §1.2"),
                    format!("{} of {total} bytes ends before its fields do", r.kind),
                );
            }
        }
        if dir == Direction::ClientToServer {
            if let (Some(k), Some(last)) = (self.keep_alive, self.last_client)
                && k > 0
                && input.ts.0 - last.0 > i128::from(k) * 1_500_000_000
            {
                out.finding(
                    P,
                    &input,
                    AppFindingKind::KeepAliveLate,
                    Some(self.sec("MQTT 3.1.1 §3.1.2.10", "MQTT 5.0 §3.1.2.10")),
                    format!(
                        "client silent for {:.3} s, more than 1.5 × its keep-alive of {k} s",
                        (input.ts.0 - last.0) as f64 / 1e9
                    ),
                );
            }
            self.last_client = Some(input.ts);
        }
        out.records.push(r);
    }

    fn bytes(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let s = slot(input.dir);
        let mut data = input.payload;
        let max = self.limits.max_buffered.max(16);
        let mut touched = false;
        loop {
            let st = &mut self.streams[s];
            if st.skip > 0 {
                if data.is_empty() {
                    break;
                }
                let n = usize::try_from(st.skip)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                st.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            if st.buf.is_empty() && data.is_empty() {
                break;
            }
            if st.start.is_none() {
                st.start = Some(Start {
                    index: input.index,
                    packet: input.first_packet,
                    ts: input.ts,
                    messages: vec![input.index],
                });
                touched = true;
            } else if !touched {
                touched = true;
                if let Some(start) = &mut st.start
                    && start.messages.len() < self.limits.max_items
                {
                    start.messages.push(input.index);
                }
            }
            match need(&st.buf) {
                Need::Header => {
                    if data.is_empty() {
                        break;
                    }
                    st.buf.push(data[0]);
                    data = &data[1..];
                }
                Need::Bad => {
                    st.buf.clear();
                    st.start = None;
                    out.malformed(
                        P,
                        input,
                        self.sec("MQTT 3.1.1 §2.2.3", "MQTT 5.0 §1.5.5"),
                        "Remaining Length longer than four bytes; the rest of the message is not decoded",
                    );
                    return;
                }
                Need::Total(total) => {
                    let keep = usize::try_from(total).unwrap_or(usize::MAX).min(max);
                    let n = (keep - st.buf.len()).min(data.len());
                    st.buf.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if st.buf.len() == keep {
                        let buf = std::mem::take(&mut st.buf);
                        let truncated = (keep as u64) < total;
                        if truncated {
                            st.skip = total - keep as u64;
                            out.finding(
                                P,
                                input,
                                AppFindingKind::CapReached,
                                None,
                                format!("{}-byte {} packet: decoded from its first {keep} bytes, the rest skipped", total, KINDS[usize::from(buf[0] >> 4)]),
                            );
                        }
                        self.emit(input, &buf, total, truncated, out);
                        let st = &mut self.streams[s];
                        st.buf = buf;
                        st.buf.clear();
                        if st.buf.capacity() > 64 << 10 {
                            st.buf = Vec::new();
                        }
                        touched = false;
                    } else if data.is_empty() {
                        break;
                    }
                }
            }
        }
    }
}

impl AppDecoder for MqttDecoder {
    fn held_bytes(&self) -> usize {
        self.streams.iter().map(|x| x.buf.len()).sum()
    }

    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        if input.opcode == Opcode::Text {
            out.malformed(
                P,
                input,
                self.sec("MQTT 3.1.1 §6", "MQTT 5.0 §6"),
                "MQTT in a text message: control packets must be sent in binary messages",
            );
            return;
        }
        if !input.complete {
            // Where the next packet starts is unknown: start again at the
            // next message (clients send whole packets per message).
            let st = &mut self.streams[slot(input.dir)];
            st.buf.clear();
            st.skip = 0;
            st.start = None;
            out.incomplete(P, input);
            return;
        }
        self.bytes(input, out);
    }

    fn finish(&mut self, out: &mut AppOutput) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let st = &mut self.streams[slot(dir)];
            if let Some(start) = st.start.take() {
                let missing = match need(&st.buf) {
                    Need::Total(t) => format!("{} of {t} bytes", st.buf.len()),
                    _ => format!("{} bytes of a fixed header", st.buf.len()),
                };
                out.findings.push(AppFinding {
                    kind: AppFindingKind::Incomplete,
                    protocol: P,
                    dir: Some(dir),
                    index: Some(start.index),
                    packet: start.packet,
                    ts: start.ts,
                    section: None,
                    detail: format!("the capture ends inside a packet ({missing} seen)"),
                });
            }
            st.buf = Vec::new();
        }
    }
}
