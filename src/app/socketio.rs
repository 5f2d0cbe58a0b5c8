//! Socket.IO (protocol v4 and v5) over Engine.IO (v3 and v4), WebSocket
//! transport.
//!
//! Engine.IO protocol (github.com/socketio/engine.io-protocol): a text
//! message is one packet, its first character the type (`0` open, `1`
//! close, `2` ping, `3` pong, `4` message, `5` upgrade, `6` noop); `2probe`
//! / `3probe` are the upgrade probe. A binary message is a binary
//! `message` packet (v3 prefixes it with the byte `4`).
//!
//! Socket.IO protocol (github.com/socketio/socket.io-protocol, §Packet
//! encoding): an Engine.IO message holds
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]` with the types
//! `0` CONNECT, `1` DISCONNECT, `2` EVENT, `3` ACK, `4` CONNECT_ERROR (v4
//! called it ERROR), `5` BINARY_EVENT, `6` BINARY_ACK. A binary packet is
//! followed by its attachments, one binary message each; they are counted
//! into the packet's record (not kept).

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord,
    Closing, PairKey, clip,
};
use crate::flow::Direction;
use crate::ws::frame::Opcode;

const P: AppProtocol = AppProtocol::SocketIo;
const SEC_EIO: &str = "Engine.IO protocol §Packet encoding";
const SEC_SIO: &str = "Socket.IO protocol §Packet encoding";
const SEC_ATT: &str = "Socket.IO protocol §BINARY_EVENT";

/// Socket.IO packet type names, by type digit.
const SIO_KINDS: [&str; 7] = [
    "CONNECT",
    "DISCONNECT",
    "EVENT",
    "ACK",
    "CONNECT_ERROR",
    "BINARY_EVENT",
    "BINARY_ACK",
];

#[derive(Debug)]
struct Awaiting {
    record: AppRecord,
    announced: u64,
    wanted: u32,
    got: u32,
}

/// Decoder state for one session.
#[derive(Debug)]
pub struct SocketIoDecoder {
    limits: AppLimits,
    eio: Option<u8>,
    /// Per direction, a binary packet waiting for its attachments.
    awaiting: [Option<Awaiting>; 2],
    /// Attachments past the cap still to come, per direction (skipped).
    skip: [u64; 2],
}

fn slot(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// The event name at the start of an EVENT array too large to parse:
/// `["name", …`.
fn leading_name(data: &[u8], max: usize) -> Option<String> {
    let rest = data.strip_prefix(b"[")?;
    let rest = rest.trim_ascii_start();
    if rest.first() != Some(&b'"') {
        return None;
    }
    let mut esc = false;
    let end = rest.iter().enumerate().skip(1).find_map(|(i, &c)| {
        if esc {
            esc = false;
        } else if c == b'\\' {
            esc = true;
        } else if c == b'"' {
            return Some(i);
        }
        None
    })?;
    if end > 4 * max + 2 {
        return None;
    }
    serde_json::from_slice::<String>(&rest[..=end])
        .ok()
        .map(|s| clip(&s, max))
}

impl SocketIoDecoder {
    /// A decoder; `eio` is the Engine.IO version from the request target.
    pub fn new(limits: AppLimits, eio: Option<u8>) -> Self {
        SocketIoDecoder {
            limits,
            eio,
            awaiting: [None, None],
            skip: [0, 0],
        }
    }

    fn flush_awaiting(
        &mut self,
        dir: Direction,
        input: &AppInput<'_>,
        out: &mut AppOutput,
        why: &str,
    ) {
        if let Some(a) = self.awaiting[slot(dir)].take() {
            out.finding(
                P,
                input,
                AppFindingKind::Incomplete,
                Some(SEC_ATT),
                format!(
                    "{} (message {}) announced {} attachments, {} came before {why}",
                    a.record.kind, a.record.messages[0], a.announced, a.got
                ),
            );
            let mut r = a.record;
            r.detail.attachments = Some(a.got);
            r.detail.truncated = true;
            out.records.push(r);
        }
    }

    fn binary(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let s = slot(input.dir);
        let mut len = input.payload.len() as u64;
        if self.eio == Some(3) && input.payload.first() == Some(&4) {
            len -= 1;
        }
        if let Some(a) = &mut self.awaiting[s] {
            // The message's own record; the packet's counts it.
            let mut att = AppRecord::new(P, input, "attachment");
            att.detail.attachment_of = Some(a.record.index);
            att.detail.attachment_index = Some(a.got);
            att.detail.payload_len = Some(len);
            att.channel.clone_from(&a.record.channel);
            out.records.push(att);
            a.got += 1;
            a.record.messages.push(input.index);
            *a.record.detail.payload_len.get_or_insert(0) += len;
            if a.got >= a.wanted {
                let a = self.awaiting[s].take().expect("checked");
                let mut r = a.record;
                r.detail.attachments = Some(a.got);
                if a.announced > u64::from(a.got) {
                    r.detail.truncated = true;
                    self.skip[s] = a.announced - u64::from(a.got);
                    out.finding(
                        P,
                        input,
                        AppFindingKind::CapReached,
                        None,
                        format!(
                            "{} announced {} attachments; {} counted (cap), the rest skipped",
                            r.kind, a.announced, a.got
                        ),
                    );
                }
                out.records.push(r);
            }
        } else if self.skip[s] > 0 {
            self.skip[s] -= 1;
        } else {
            out.malformed(
                P,
                input,
                SEC_ATT,
                "binary message with no BINARY_EVENT/BINARY_ACK awaiting attachments",
            );
        }
    }

    fn text(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let b = input.payload;
        let Some((&t, rest)) = b.split_first() else {
            out.malformed(P, input, SEC_EIO, "empty Engine.IO packet");
            return;
        };
        let mut r = AppRecord::new(P, input, "");
        r.detail.version = self.eio.map(|v| v.to_string());
        r.kind = match t {
            b'0' => {
                match json::parse(rest, &self.limits) {
                    Ok(v) => r.detail.session = json::str_of(&v, "sid", self.limits.max_text),
                    Err(e) => out.malformed(P, input, SEC_EIO, format!("open packet: {e}")),
                }
                "open"
            }
            b'1' => "close",
            b'2' | b'3' => {
                let probe = rest == b"probe";
                if probe {
                    r.name = Some("probe".into());
                }
                let key = PairKey::fifo(if probe { "probe" } else { "ping" });
                if t == b'2' {
                    r.pairing.opens = Some(key);
                    "ping"
                } else {
                    r.pairing.closes = Some((key, Closing::Final));
                    "pong"
                }
            }
            b'4' => return self.socketio(input, rest, r, out),
            b'5' => "upgrade",
            b'6' => "noop",
            _ => {
                out.malformed(
                    P,
                    input,
                    SEC_EIO,
                    format!("unknown Engine.IO packet type {:?}", char::from(t)),
                );
                return;
            }
        };
        out.records.push(r);
    }

    fn socketio(&mut self, input: &AppInput<'_>, b: &[u8], mut r: AppRecord, out: &mut AppOutput) {
        let max = self.limits.max_text;
        let Some((&t, mut rest)) = b.split_first() else {
            r.kind = "message";
            out.records.push(r);
            return;
        };
        let Some(&kind) = t
            .checked_sub(b'0')
            .and_then(|i| SIO_KINDS.get(usize::from(i)))
        else {
            out.malformed(
                P,
                input,
                SEC_SIO,
                format!("unknown Socket.IO packet type {:?}", char::from(t)),
            );
            return;
        };
        // Socket.IO protocol v4 (Engine.IO v3) named type 4 ERROR.
        r.kind = if t == b'4' && self.eio == Some(3) {
            "ERROR"
        } else {
            kind
        };
        let kind = r.kind;
        let binary = t == b'5' || t == b'6';
        let mut announced = 0u64;
        if binary {
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let n = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            match (n, rest.get(digits)) {
                (Some(n), Some(b'-')) => {
                    announced = n;
                    rest = &rest[digits + 1..];
                }
                _ => {
                    out.malformed(
                        P,
                        input,
                        SEC_SIO,
                        format!("{kind} without its attachment count"),
                    );
                    return;
                }
            }
        }
        let mut nsp = "/".to_string();
        if rest.first() == Some(&b'/') {
            let end = rest.iter().position(|&c| c == b',').unwrap_or(rest.len());
            // Socket.IO v2 clients append the query to CONNECT's namespace
            // (`0/admin?token=1,`); the server answers for `/admin`.
            let name = &rest[..end];
            let name = &name[..name.iter().position(|&c| c == b'?').unwrap_or(name.len())];
            nsp = clip(&String::from_utf8_lossy(name), max);
            rest = rest.get(end + 1..).unwrap_or_default();
        }
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            r.id = Some(clip(&String::from_utf8_lossy(&rest[..digits]), max));
            rest = &rest[digits..];
        }
        r.channel = Some(nsp.clone());
        let data = if rest.is_empty() {
            None
        } else {
            match json::parse(rest, &self.limits) {
                Ok(v) => Some(v),
                Err(e) if e.is_cap() => {
                    out.finding(
                        P,
                        input,
                        AppFindingKind::CapReached,
                        None,
                        format!("{kind} data: {e}"),
                    );
                    r.detail.truncated = true;
                    if matches!(t, b'2' | b'5') {
                        r.name = leading_name(rest, max);
                    }
                    None
                }
                Err(e) => {
                    out.malformed(P, input, SEC_SIO, format!("{kind} data: {e}"));
                    return;
                }
            }
        };
        match (t, &data) {
            (b'2' | b'5', Some(Value::Array(a))) => match a.first() {
                Some(Value::String(s)) => r.name = Some(clip(s, max)),
                Some(Value::Number(n)) => r.name = Some(n.to_string()),
                _ => out.malformed(
                    P,
                    input,
                    SEC_SIO,
                    format!("{kind} data must start with the event name"),
                ),
            },
            (b'2' | b'5', Some(_)) => {
                out.malformed(P, input, SEC_SIO, format!("{kind} data must be an array"))
            }
            (b'2' | b'5', None) if !r.detail.truncated => {
                out.malformed(P, input, SEC_SIO, format!("{kind} without data"))
            }
            (b'3' | b'6', Some(v)) if !v.is_array() => {
                out.malformed(P, input, SEC_SIO, format!("{kind} data must be an array"))
            }
            (b'4', Some(v)) => {
                r.error = Some(AppError {
                    code: None,
                    message: Some(match v.get("message") {
                        Some(m) => json::text_of(m, max),
                        None => json::text_of(v, max),
                    }),
                })
            }
            (b'4', None) => {
                r.error = Some(AppError {
                    code: None,
                    message: None,
                })
            }
            _ => {}
        }
        match t {
            b'0' if input.dir == Direction::ClientToServer => {
                r.pairing.opens = Some(PairKey {
                    family: "connect",
                    scope: Some(nsp),
                    id: None,
                })
            }
            b'0' | b'4' if input.dir == Direction::ServerToClient => {
                r.pairing.closes = Some((
                    PairKey {
                        family: "connect",
                        scope: Some(nsp),
                        id: None,
                    },
                    Closing::Final,
                ))
            }
            b'2' | b'5' if r.id.is_some() => {
                r.pairing.opens = Some(PairKey {
                    family: "ack",
                    scope: Some(nsp),
                    id: r.id.clone(),
                })
            }
            b'3' | b'6' => {
                r.pairing.closes = Some((
                    PairKey {
                        family: "ack",
                        scope: Some(nsp),
                        id: r.id.clone(),
                    },
                    Closing::Final,
                ))
            }
            _ => {}
        }
        if binary && announced > 0 {
            let wanted = u32::try_from(announced.min(u64::from(self.limits.max_attachments)))
                .unwrap_or(u32::MAX);
            if wanted == 0 {
                r.detail.truncated = true;
                r.detail.attachments = Some(0);
                self.skip[slot(input.dir)] = announced;
                out.finding(
                    P,
                    input,
                    AppFindingKind::CapReached,
                    None,
                    format!("{kind} announced {announced} attachments; none counted (cap 0)"),
                );
                out.records.push(r);
            } else {
                self.awaiting[slot(input.dir)] = Some(Awaiting {
                    record: r,
                    announced,
                    wanted,
                    got: 0,
                });
            }
        } else {
            if binary {
                r.detail.attachments = Some(0);
            }
            out.records.push(r);
        }
    }
}

impl AppDecoder for SocketIoDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        if !input.complete
            && input.opcode == Opcode::Binary
            && self.awaiting[slot(input.dir)].is_some()
        {
            // Still one attachment, whatever its bytes: counted, its length unknown.
            if let Some(a) = &mut self.awaiting[slot(input.dir)] {
                a.record.detail.truncated = true;
            }
            out.incomplete(P, input);
            self.binary(
                &AppInput {
                    payload: &[],
                    ..*input
                },
                out,
            );
            return;
        }
        if !input.complete {
            self.flush_awaiting(input.dir, input, out, "an incomplete message");
            out.incomplete(P, input);
            return;
        }
        match input.opcode {
            Opcode::Binary => self.binary(input, out),
            Opcode::Text => {
                self.flush_awaiting(input.dir, input, out, "the next text packet");
                self.skip[slot(input.dir)] = 0;
                self.text(input, out);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut AppOutput) {
        for s in 0..2 {
            if let Some(a) = self.awaiting[s].take() {
                let r = &a.record;
                out.findings.push(super::AppFinding {
                    kind: AppFindingKind::Incomplete,
                    protocol: P,
                    dir: Some(r.dir),
                    index: Some(r.messages[0]),
                    packet: r.first_packet,
                    ts: r.ts,
                    section: Some(SEC_ATT),
                    detail: format!(
                        "{} (message {}) announced {} attachments, {} came before the end",
                        r.kind, r.messages[0], a.announced, a.got
                    ),
                });
                let mut r = a.record;
                r.detail.attachments = Some(a.got);
                r.detail.truncated = true;
                out.records.push(r);
            }
        }
    }
}
