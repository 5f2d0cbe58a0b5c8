//! OCPP-J: the JSON RPC framework of OCPP 1.6J (OCPP-J 1.6 §4) and 2.0.1
//! (OCPP 2.0.1 Part 4 §4).
//!
//! Every message is a JSON array whose first member is the MessageTypeId:
//! `[2, UniqueId, Action, Payload]` CALL, `[3, UniqueId, Payload]`
//! CALLRESULT, `[4, UniqueId, ErrorCode, ErrorDescription, ErrorDetails]`
//! CALLERROR (and, from OCPP 2.1, `5` CALLRESULTERROR and `6` SEND). Both
//! sides call; a CALLRESULT or CALLERROR answers the other side's CALL with
//! the same UniqueId.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord, Closing, PairKey,
    clip,
};
use crate::ws::frame::Opcode;

const P: AppProtocol = AppProtocol::Ocpp;
const SEC: &str = "OCPP-J 1.6 §4.1.3";

/// Decoder state for one session.
#[derive(Debug)]
pub struct OcppDecoder {
    limits: AppLimits,
}

impl OcppDecoder {
    /// A decoder.
    pub fn new(limits: AppLimits) -> Self {
        OcppDecoder { limits }
    }
}

impl AppDecoder for OcppDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let max = self.limits.max_text;
        if input.opcode != Opcode::Text {
            out.malformed(
                P,
                input,
                "OCPP-J 1.6 §3.3",
                "binary message: OCPP-J messages are JSON text",
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
        let Some(t) = a.first().and_then(Value::as_u64) else {
            out.malformed(P, input, SEC, "no numeric MessageTypeId");
            return;
        };
        let (kind, len) = match t {
            2 => ("CALL", 4),
            3 => ("CALLRESULT", 3),
            4 => ("CALLERROR", 5),
            5 => ("CALLRESULTERROR", 5),
            6 => ("SEND", 4),
            n => {
                out.malformed(P, input, SEC, format!("unknown MessageTypeId {n}"));
                return;
            }
        };
        let mut r = AppRecord::new(P, input, kind);
        if a.len() != len {
            out.malformed(
                P,
                input,
                SEC,
                format!("{kind} with {} members instead of {len}", a.len()),
            );
        }
        match a.get(1).and_then(Value::as_str) {
            Some(id) => {
                if id.len() > 36 {
                    out.malformed(
                        P,
                        input,
                        "OCPP-J 1.6 §4.1.4",
                        format!("UniqueId of {} characters (at most 36)", id.len()),
                    );
                }
                r.id = Some(clip(id, max));
            }
            None => out.malformed(P, input, SEC, format!("{kind} without a string UniqueId")),
        }
        let key = r.id.clone().map(|id| PairKey::id("call", id));
        match t {
            2 | 6 => {
                r.name = a.get(2).and_then(Value::as_str).map(|s| clip(s, max));
                if r.name.is_none() {
                    out.malformed(P, input, SEC, format!("{kind} without a string Action"));
                }
                if t == 2 {
                    r.pairing.opens = key;
                }
            }
            3 => r.pairing.closes = key.map(|k| (k, Closing::Final)),
            _ => {
                r.error = Some(AppError {
                    code: a.get(2).map(|c| json::text_of(c, max)),
                    message: a
                        .get(3)
                        .map(|m| json::text_of(m, max))
                        .filter(|m| !m.is_empty()),
                });
                r.pairing.closes = key.map(|k| (k, Closing::Final));
            }
        }
        out.records.push(r);
    }
}
