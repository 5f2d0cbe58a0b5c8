//! JSON-RPC 2.0 (jsonrpc.org/specification).
//!
//! A message holds one object or a batch (an array, §6). An object with
//! `method` is a request (§4) or, without an `id` member, a notification
//! (§4.1); one with `result` or `error` is a response (§5), paired with its
//! request by `id` (`1` and `"1"` differ). Each member of a batch is its
//! own record; the batch's answer may come in any order.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord,
    Closing, PairKey, clip,
};
use crate::ws::frame::Opcode;

const P: AppProtocol = AppProtocol::JsonRpc;

/// Decoder state for one session (JSON-RPC has none beyond pairing).
#[derive(Debug)]
pub struct JsonRpcDecoder {
    limits: AppLimits,
}

impl JsonRpcDecoder {
    /// A decoder.
    pub fn new(limits: AppLimits) -> Self {
        JsonRpcDecoder { limits }
    }

    fn one(&self, v: &Value, input: &AppInput<'_>, out: &mut AppOutput) {
        let max = self.limits.max_text;
        let Some(o) = v.as_object() else {
            out.malformed(
                P,
                input,
                "JSON-RPC 2.0 §4",
                "a member that is not an object",
            );
            return;
        };
        let id = o.get("id");
        let key = id
            .and_then(|i| json::id_key(i, max))
            .map(|k| PairKey::id("rpc", k));
        let mut r;
        if let Some(m) = o.get("method") {
            r = AppRecord::new(
                P,
                input,
                if id.is_some() {
                    "request"
                } else {
                    "notification"
                },
            );
            match m.as_str() {
                Some(s) => r.name = Some(clip(s, max)),
                None => out.malformed(P, input, "JSON-RPC 2.0 §4", "\"method\" must be a string"),
            }
            r.pairing.opens = key;
        } else if o.contains_key("result") || o.contains_key("error") {
            r = AppRecord::new(P, input, "response");
            if o.contains_key("result") && o.contains_key("error") {
                out.malformed(
                    P,
                    input,
                    "JSON-RPC 2.0 §5",
                    "a response with both \"result\" and \"error\"",
                );
            }
            if id.is_none() {
                out.malformed(P, input, "JSON-RPC 2.0 §5", "a response without \"id\"");
            }
            if let Some(e) = o.get("error") {
                r.error = Some(AppError {
                    code: e.get("code").map(|c| json::text_of(c, max)),
                    message: e.get("message").map(|m| json::text_of(m, max)),
                });
            }
            r.pairing.closes = key.map(|k| (k, Closing::Final));
        } else {
            out.malformed(
                P,
                input,
                "JSON-RPC 2.0 §4",
                "neither a request (\"method\") nor a response (\"result\"/\"error\")",
            );
            return;
        }
        if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            out.malformed(
                P,
                input,
                "JSON-RPC 2.0 §4",
                "\"jsonrpc\" must be exactly \"2.0\"",
            );
        }
        r.id = id.and_then(|i| json::id_text(i, max));
        out.records.push(r);
    }
}

impl AppDecoder for JsonRpcDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        if input.opcode != Opcode::Text && input.opcode != Opcode::Binary {
            return;
        }
        let Some(v) = json::message(P, input, &self.limits, "JSON-RPC 2.0 §4", out) else {
            return;
        };
        match &v {
            Value::Array(a) if a.is_empty() => {
                out.malformed(P, input, "JSON-RPC 2.0 §6", "an empty batch")
            }
            Value::Array(a) => {
                let cap = self.limits.max_records_per_message;
                for m in a.iter().take(cap) {
                    self.one(m, input, out);
                }
                if a.len() > cap {
                    out.finding(
                        P,
                        input,
                        AppFindingKind::CapReached,
                        None,
                        format!("batch of {} calls: the first {cap} decoded", a.len()),
                    );
                }
            }
            o => self.one(o, input, out),
        }
    }
}
