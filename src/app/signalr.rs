//! ASP.NET Core SignalR, JSON hub protocol (aspnetcore
//! `src/SignalR/docs/specs/HubProtocol.md`).
//!
//! Records are JSON objects each ended by the Record Separator `0x1E`; a
//! message may hold several. The first record of each side is the
//! handshake: `{"protocol":"json","version":1}` from the client, `{}` or
//! `{"error":…}` from the server. Then `type` 1 Invocation, 2 StreamItem,
//! 3 Completion, 4 StreamInvocation, 5 CancelInvocation, 6 Ping, 7 Close,
//! 8 Ack, 9 Sequence. An Invocation with an `invocationId` is answered by
//! the Completion with that id; a StreamInvocation by StreamItems ended by
//! a Completion.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord,
    Closing, PairKey, clip,
};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;

const P: AppProtocol = AppProtocol::SignalR;
const SEC: &str = "SignalR HubProtocol.md §Message Types";
const RS: u8 = 0x1e;

const KINDS: [&str; 10] = [
    "",
    "Invocation",
    "StreamItem",
    "Completion",
    "StreamInvocation",
    "CancelInvocation",
    "Ping",
    "Close",
    "Ack",
    "Sequence",
];

#[derive(Debug, Default)]
struct Side {
    buf: Vec<u8>,
    /// Where the record in `buf` started.
    start: Option<(u64, PacketNo, Timestamp)>,
    handshaken: bool,
    /// Dropping bytes up to the next separator (a record past the cap).
    skipping: bool,
}

/// Decoder state for one session.
#[derive(Debug)]
pub struct SignalRDecoder {
    limits: AppLimits,
    sides: [Side; 2],
    /// The handshake chose a protocol other than JSON (MessagePack).
    other_protocol: Option<String>,
}

fn slot(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

impl SignalRDecoder {
    /// A decoder.
    pub fn new(limits: AppLimits) -> Self {
        SignalRDecoder {
            limits,
            sides: Default::default(),
            other_protocol: None,
        }
    }

    fn record(&mut self, rec: &[u8], at: &AppInput<'_>, out: &mut AppOutput) {
        let max = self.limits.max_text;
        let side = slot(at.dir);
        let v = match json::parse(rec, &self.limits) {
            Ok(v) => v,
            Err(e) if e.is_cap() => {
                out.finding(P, at, AppFindingKind::CapReached, None, e.to_string());
                self.sides[side].handshaken = true;
                return;
            }
            Err(e) => {
                out.malformed(P, at, SEC, e.to_string());
                return;
            }
        };
        if !self.sides[side].handshaken {
            self.sides[side].handshaken = true;
            if at.dir == Direction::ClientToServer {
                let mut r = AppRecord::new(P, at, "Handshake");
                r.name = json::str_of(&v, "protocol", max);
                r.detail.version = v.get("version").map(|x| json::text_of(x, max));
                if r.name.as_deref().is_some_and(|n| n != "json") {
                    self.other_protocol = r.name.clone();
                }
                r.pairing.opens = Some(PairKey::fifo("handshake"));
                out.records.push(r);
                return;
            }
            if v.get("type").is_none() {
                let mut r = AppRecord::new(P, at, "HandshakeResponse");
                r.error = json::str_of(&v, "error", max).map(|m| AppError {
                    code: None,
                    message: Some(m),
                });
                r.pairing.closes = Some((PairKey::fifo("handshake"), Closing::Final));
                out.records.push(r);
                return;
            }
        }
        let Some(kind) = v
            .get("type")
            .and_then(Value::as_u64)
            .and_then(|t| KINDS.get(t as usize))
            .filter(|k| !k.is_empty())
        else {
            out.malformed(P, at, SEC, "record without a known numeric \"type\"");
            return;
        };
        let mut r = AppRecord::new(P, at, kind);
        r.id = json::str_of(&v, "invocationId", max);
        r.name = json::str_of(&v, "target", max);
        let key = r.id.clone().map(|id| PairKey::id("invocation", id));
        match *kind {
            "Invocation" | "StreamInvocation" => {
                if r.name.is_none() {
                    out.malformed(P, at, SEC, format!("{kind} without a target"));
                }
                r.pairing.opens = key;
            }
            "StreamItem" => r.pairing.closes = key.map(|k| (k, Closing::Item)),
            "Completion" => {
                r.error = json::str_of(&v, "error", max).map(|m| AppError {
                    code: None,
                    message: Some(m),
                });
                r.pairing.closes = key.map(|k| (k, Closing::End));
            }
            "CancelInvocation" => r.pairing.closes = key.map(|k| (k, Closing::Cancel)),
            "Close" => {
                r.error = json::str_of(&v, "error", max).map(|m| AppError {
                    code: None,
                    message: Some(m),
                })
            }
            _ => {}
        }
        out.records.push(r);
    }
}

impl AppDecoder for SignalRDecoder {
    fn held_bytes(&self) -> usize {
        self.sides.iter().map(|x| x.buf.len()).sum()
    }

    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let s = slot(input.dir);
        if !input.complete {
            let side = &mut self.sides[s];
            side.buf.clear();
            side.start = None;
            side.skipping = true;
            out.incomplete(P, input);
            return;
        }
        if let Some(p) = &self.other_protocol
            && self.sides[s].handshaken
            && !input.payload.contains(&RS)
        {
            let p = clip(p, 32);
            out.finding(
                P,
                input,
                AppFindingKind::Undecodable,
                None,
                format!("SignalR hub protocol {p:?} is not decoded"),
            );
            return;
        }
        let max = self.limits.max_buffered.max(16);
        let mut data = input.payload;
        while !data.is_empty() {
            let end = memchr::memchr(RS, data);
            let piece = &data[..end.unwrap_or(data.len())];
            let side = &mut self.sides[s];
            if side.skipping {
                if end.is_some() {
                    side.skipping = false;
                }
            } else {
                if side.start.is_none() {
                    side.start = Some((input.index, input.first_packet, input.ts));
                }
                if side.buf.len() + piece.len() > max {
                    side.buf.clear();
                    side.start = None;
                    side.skipping = end.is_none();
                    out.finding(
                        P,
                        input,
                        AppFindingKind::CapReached,
                        None,
                        format!("record longer than {max} bytes: skipped"),
                    );
                } else if end.is_some() {
                    // Reported on the message that completes the record.
                    let (first, _, _) =
                        side.start
                            .take()
                            .unwrap_or((input.index, input.first_packet, input.ts));
                    let mut rec = std::mem::take(&mut side.buf);
                    rec.extend_from_slice(piece);
                    let before = out.records.len();
                    self.record(&rec, input, out);
                    if first != input.index
                        && let Some(r) = out.records.get_mut(before)
                    {
                        r.messages.insert(0, first);
                    }
                } else {
                    side.buf.extend_from_slice(piece);
                }
            }
            data = match end {
                Some(e) => &data[e + 1..],
                None => &[],
            };
        }
    }
}
