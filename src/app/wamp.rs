//! WAMP v2, JSON serialization (`wamp.2.json`; the WAMP specification,
//! §Messages and §Message Codes and Direction).
//!
//! Every message is a JSON array `[Code, …]`. Requests carry a request id
//! in their second member (SUBSCRIBE, UNSUBSCRIBE, PUBLISH with
//! `acknowledge`, CALL, REGISTER, UNREGISTER, INVOCATION) and are answered
//! by the matching reply (SUBSCRIBED … YIELD) or by `ERROR` naming the
//! request's type and id. HELLO is answered by WELCOME or ABORT.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord, Closing, PairKey,
    clip,
};
use crate::ws::frame::Opcode;
use std::collections::HashMap;

const P: AppProtocol = AppProtocol::Wamp;
const SEC: &str = "WAMP §Message Codes and Direction";

/// The name of a message code.
pub fn kind(code: u64) -> Option<&'static str> {
    Some(match code {
        1 => "HELLO",
        2 => "WELCOME",
        3 => "ABORT",
        4 => "CHALLENGE",
        5 => "AUTHENTICATE",
        6 => "GOODBYE",
        8 => "ERROR",
        16 => "PUBLISH",
        17 => "PUBLISHED",
        32 => "SUBSCRIBE",
        33 => "SUBSCRIBED",
        34 => "UNSUBSCRIBE",
        35 => "UNSUBSCRIBED",
        36 => "EVENT",
        48 => "CALL",
        49 => "CANCEL",
        50 => "RESULT",
        64 => "REGISTER",
        65 => "REGISTERED",
        66 => "UNREGISTER",
        67 => "UNREGISTERED",
        68 => "INVOCATION",
        69 => "INTERRUPT",
        70 => "YIELD",
        _ => return None,
    })
}

/// Decoder state for one session.
#[derive(Debug)]
pub struct WampDecoder {
    limits: AppLimits,
    /// SUBSCRIBE request id → topic, until SUBSCRIBED (bounded).
    asked: HashMap<u64, String>,
    /// Subscription id → topic, so that EVENTs are named (bounded).
    topics: HashMap<u64, String>,
}

impl WampDecoder {
    /// A decoder.
    pub fn new(limits: AppLimits) -> Self {
        WampDecoder {
            limits,
            asked: HashMap::new(),
            topics: HashMap::new(),
        }
    }

    fn remember(map: &mut HashMap<u64, String>, cap: usize, k: Option<u64>, v: Option<String>) {
        if let (Some(k), Some(v)) = (k, v)
            && (map.len() < cap || map.contains_key(&k))
        {
            map.insert(k, v);
        }
    }
}

impl AppDecoder for WampDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let max = self.limits.max_text;
        if input.opcode != Opcode::Text {
            out.malformed(
                P,
                input,
                "WAMP §Serializations",
                "binary message under wamp.2.json",
            );
            return;
        }
        let Some(v) = json::message(P, input, &self.limits, SEC, out) else {
            return;
        };
        let Some(a) = v.as_array() else {
            out.malformed(P, input, SEC, "not a JSON array");
            return;
        };
        let Some((code, k)) = a
            .first()
            .and_then(Value::as_u64)
            .and_then(|c| Some((c, kind(c)?)))
        else {
            out.malformed(P, input, SEC, "no known message code");
            return;
        };
        let mut r = AppRecord::new(P, input, k);
        let s = |i: usize| a.get(i).and_then(Value::as_str).map(|x| clip(x, max));
        let id = |i: usize| a.get(i).and_then(Value::as_u64).map(|n| n.to_string());
        let key = |fam: &'static str, i: usize| id(i).map(|x| PairKey::id(fam, x));
        match code {
            1 => {
                r.name = s(1);
                r.pairing.opens = Some(PairKey::fifo("HELLO"));
            }
            2 => {
                r.detail.session = id(1);
                r.pairing.closes = Some((PairKey::fifo("HELLO"), Closing::Final));
            }
            3 => {
                r.error = Some(AppError {
                    code: s(2),
                    message: a.get(1).and_then(|d| json::str_of(d, "message", max)),
                });
                r.pairing.closes = Some((PairKey::fifo("HELLO"), Closing::Final));
            }
            4 => {
                r.name = s(1);
                r.pairing.opens = Some(PairKey::fifo("CHALLENGE"));
            }
            5 => r.pairing.closes = Some((PairKey::fifo("CHALLENGE"), Closing::Final)),
            6 => r.name = s(2),
            8 => {
                r.id = id(2);
                r.error = Some(AppError {
                    code: s(4),
                    message: a
                        .get(5)
                        .and_then(|x| x.get(0))
                        .map(|m| json::text_of(m, max)),
                });
                match a.get(1).and_then(Value::as_u64).and_then(kind) {
                    Some(fam) => r.pairing.closes = key(fam, 2).map(|k| (k, Closing::Final)),
                    None => out.malformed(P, input, SEC, "ERROR names no known request type"),
                }
            }
            16 | 32 | 48 | 64 => {
                r.id = id(1);
                r.name = s(3);
                if code == 32 {
                    let n = a.get(1).and_then(Value::as_u64);
                    Self::remember(&mut self.asked, self.limits.max_pending, n, r.name.clone());
                }
                let ack = code != 16
                    || a.get(2)
                        .and_then(|o| o.get("acknowledge"))
                        .and_then(Value::as_bool)
                        == Some(true);
                if ack {
                    r.pairing.opens = key(k, 1);
                }
            }
            34 | 66 | 68 => {
                r.id = id(1);
                r.pairing.opens = key(k, 1);
            }
            17 | 33 | 35 | 50 | 65 | 67 | 70 => {
                r.id = id(1);
                if code == 33 {
                    let topic = a
                        .get(1)
                        .and_then(Value::as_u64)
                        .and_then(|q| self.asked.remove(&q));
                    let sub = a.get(2).and_then(Value::as_u64);
                    Self::remember(&mut self.topics, self.limits.max_pending, sub, topic);
                }
                let fam = match code {
                    17 => "PUBLISH",
                    33 => "SUBSCRIBE",
                    35 => "UNSUBSCRIBE",
                    50 => "CALL",
                    65 => "REGISTER",
                    67 => "UNREGISTER",
                    _ => "INVOCATION",
                };
                let progress = matches!(code, 50 | 70)
                    && a.get(2)
                        .and_then(|d| d.get("progress"))
                        .and_then(Value::as_bool)
                        == Some(true);
                r.pairing.closes = key(fam, 1).map(|k| {
                    (
                        k,
                        if progress {
                            Closing::Item
                        } else {
                            Closing::End
                        },
                    )
                });
            }
            49 => {
                r.id = id(1);
                r.pairing.closes = key("CALL", 1).map(|k| (k, Closing::Cancel));
            }
            69 => {
                r.id = id(1);
                r.pairing.closes = key("INVOCATION", 1).map(|k| (k, Closing::Cancel));
            }
            36 => {
                r.id = id(2);
                r.name = a
                    .get(1)
                    .and_then(Value::as_u64)
                    .and_then(|n| self.topics.get(&n).cloned());
            }
            _ => {}
        }
        if code != 8
            && code != 1
            && code != 36
            && r.id.is_none()
            && matches!(code, 16 | 17 | 32..=35 | 48..=50 | 64..=70)
        {
            out.malformed(P, input, SEC, format!("{k} without a numeric request id"));
        }
        out.records.push(r);
    }
}
