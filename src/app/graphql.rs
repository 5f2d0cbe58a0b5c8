//! GraphQL over WebSocket, both subprotocols.
//!
//! `graphql-transport-ws` (npm `graphql-ws`, its PROTOCOL.md):
//! `connection_init` → `connection_ack`, `ping`/`pong`, `subscribe` with an
//! operation `id`, answered by `next`… then `complete` or `error`; a client
//! `complete` cancels. The legacy `graphql-ws` subprotocol (npm
//! `subscriptions-transport-ws`, its PROTOCOL.md): `connection_init` →
//! `connection_ack` / `connection_error`, `ka`, `start` → `data`… →
//! `complete` / `error`, `stop`, `connection_terminate`.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord, Closing, PairKey,
    clip,
};
use crate::flow::Direction;
use crate::ws::frame::Opcode;

const SEC_NEW: &str = "graphql-ws PROTOCOL.md §Message types";
const SEC_OLD: &str = "subscriptions-transport-ws PROTOCOL.md §Protocol messages";

const NEW: [&str; 8] = [
    "connection_init",
    "connection_ack",
    "ping",
    "pong",
    "subscribe",
    "next",
    "error",
    "complete",
];
const OLD: [&str; 10] = [
    "connection_init",
    "connection_ack",
    "connection_error",
    "ka",
    "start",
    "data",
    "error",
    "complete",
    "stop",
    "connection_terminate",
];

/// Decoder state for one session.
#[derive(Debug)]
pub struct GraphqlDecoder {
    limits: AppLimits,
    legacy: bool,
}

/// The name of the first operation in a GraphQL document: `query Name`,
/// `mutation Name`, `subscription Name` (GraphQL spec §2.3).
pub fn operation_name(query: &str) -> Option<&str> {
    let mut rest = query;
    loop {
        let start = rest.find(|c: char| c.is_ascii_alphabetic())?;
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if matches!(word, "query" | "mutation" | "subscription") {
            let r = rest.trim_start();
            let n = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            return (n > 0 && !r.starts_with(|c: char| c.is_ascii_digit())).then(|| &r[..n]);
        }
        if word == "fragment" {
            continue;
        }
        return None;
    }
}

fn first_error(v: &Value, max: usize) -> Option<AppError> {
    let e = match v {
        Value::Array(a) => a.first()?,
        o => o,
    };
    let message = match e.get("message") {
        Some(m) => json::text_of(m, max),
        None => json::text_of(e, max),
    };
    let code = e.pointer("/extensions/code").map(|c| json::text_of(c, max));
    Some(AppError {
        code,
        message: Some(message),
    })
}

impl GraphqlDecoder {
    /// A decoder; `legacy` for subscriptions-transport-ws.
    pub fn new(limits: AppLimits, legacy: bool) -> Self {
        GraphqlDecoder { limits, legacy }
    }

    fn protocol(&self) -> AppProtocol {
        if self.legacy {
            AppProtocol::GraphqlWs
        } else {
            AppProtocol::GraphqlTransportWs
        }
    }
}

impl AppDecoder for GraphqlDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let p = self.protocol();
        let sec = if self.legacy { SEC_OLD } else { SEC_NEW };
        let max = self.limits.max_text;
        if input.opcode != Opcode::Text {
            out.malformed(
                p,
                input,
                sec,
                "binary message: every message is a JSON text",
            );
            return;
        }
        let Some(v) = json::message(p, input, &self.limits, sec, out) else {
            return;
        };
        let Some(t) = v.get("type").and_then(Value::as_str) else {
            out.malformed(p, input, sec, "message without a string \"type\"");
            return;
        };
        let table: &[&'static str] = if self.legacy { &OLD } else { &NEW };
        let Some(&kind) = table.iter().find(|k| **k == t) else {
            out.malformed(
                p,
                input,
                sec,
                format!("unknown message type {:?}", clip(t, max)),
            );
            return;
        };
        let mut r = AppRecord::new(p, input, kind);
        r.id = v.get("id").and_then(|i| json::id_text(i, max));
        let payload = v.get("payload");
        let op = |r: &AppRecord| r.id.clone().map(|id| PairKey::id("operation", id));
        let from_client = input.dir == Direction::ClientToServer;
        match kind {
            "connection_init" => r.pairing.opens = Some(PairKey::fifo("init")),
            "connection_ack" => r.pairing.closes = Some((PairKey::fifo("init"), Closing::Final)),
            "connection_error" => {
                r.error = payload.and_then(|e| first_error(e, max)).or(Some(AppError {
                    code: None,
                    message: None,
                }));
                r.pairing.closes = Some((PairKey::fifo("init"), Closing::Final));
            }
            "ping" => r.pairing.opens = Some(PairKey::fifo("ping")),
            "pong" => r.pairing.closes = Some((PairKey::fifo("ping"), Closing::Final)),
            "subscribe" | "start" => {
                r.name = payload.and_then(|p| {
                    json::str_of(p, "operationName", max)
                        .filter(|n| !n.is_empty())
                        .or_else(|| {
                            p.get("query")
                                .and_then(Value::as_str)
                                .and_then(operation_name)
                                .map(|n| clip(n, max))
                        })
                });
                if r.id.is_none() {
                    out.malformed(p, input, sec, format!("{kind} without an id"));
                }
                r.pairing.opens = op(&r);
            }
            "next" | "data" => {
                r.error = payload
                    .and_then(|p| p.get("errors"))
                    .and_then(|e| first_error(e, max));
                r.pairing.closes = op(&r).map(|k| (k, Closing::Item));
            }
            "error" => {
                r.error = payload.and_then(|e| first_error(e, max)).or(Some(AppError {
                    code: None,
                    message: None,
                }));
                r.pairing.closes = op(&r).map(|k| (k, Closing::End));
            }
            "complete" => {
                r.pairing.closes = op(&r).map(|k| {
                    (
                        k,
                        if from_client {
                            Closing::Cancel
                        } else {
                            Closing::End
                        },
                    )
                });
            }
            "stop" => r.pairing.closes = op(&r).map(|k| (k, Closing::Cancel)),
            _ => {}
        }
        out.records.push(r);
    }
}
