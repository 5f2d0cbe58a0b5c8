//! Phoenix channels, serializer v2 (`vsn=2.0.0`; phoenix `Phoenix.Socket.V2.JSONSerializer`).
//!
//! A text message is `[join_ref, ref, topic, event, payload]`. A client
//! push carries a `ref`; the server answers it with `phx_reply` carrying
//! the same `ref` and topic, `payload` `{"status": "ok"|"error",
//! "response": …}`. Server broadcasts have a null `ref`. `heartbeat` goes
//! on the topic `phoenix`. Binary messages use the v2 binary layout: a
//! kind byte (0 push, 1 reply, 2 broadcast), the sizes of the strings, the
//! strings, then the payload.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord, Closing, PairKey,
    clip, clip_bytes,
};
use crate::flow::Direction;
use crate::ws::frame::Opcode;

const P: AppProtocol = AppProtocol::Phoenix;
const SEC: &str = "Phoenix V2.JSONSerializer";

/// Decoder state for one session.
#[derive(Debug)]
pub struct PhoenixDecoder {
    limits: AppLimits,
}

fn kind_of(event: &str, dir: Direction) -> &'static str {
    match event {
        "phx_join" => "phx_join",
        "phx_leave" => "phx_leave",
        "phx_reply" => "phx_reply",
        "phx_error" => "phx_error",
        "phx_close" => "phx_close",
        "heartbeat" => "heartbeat",
        _ if dir == Direction::ClientToServer => "push",
        _ => "broadcast",
    }
}

impl PhoenixDecoder {
    /// A decoder.
    pub fn new(limits: AppLimits) -> Self {
        PhoenixDecoder { limits }
    }

    /// Fills a record from the five fields, whatever the encoding.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        input: &AppInput<'_>,
        ref_: Option<String>,
        topic: String,
        event: String,
        status: Option<String>,
        reason: Option<String>,
        out: &mut AppOutput,
    ) {
        let kind = kind_of(&event, input.dir);
        let mut r = AppRecord::new(P, input, kind);
        r.id = ref_;
        r.channel = Some(topic.clone());
        if matches!(kind, "push" | "broadcast") {
            r.name = Some(event);
        }
        let key = r.id.clone().map(|id| PairKey {
            family: "ref",
            scope: Some(topic),
            id: Some(id),
        });
        if kind == "phx_reply" {
            if status.as_deref().is_some_and(|s| s != "ok") {
                r.error = Some(AppError {
                    code: status,
                    message: reason,
                });
            }
            r.pairing.closes = key.map(|k| (k, Closing::Final));
        } else if input.dir == Direction::ClientToServer {
            r.pairing.opens = key;
        }
        out.records.push(r);
    }

    fn binary(&self, input: &AppInput<'_>, out: &mut AppOutput) {
        let b = input.payload;
        let max = self.limits.max_text;
        let s = |x: &[u8]| clip_bytes(x, max);
        let (sizes, kind) = match b.first() {
            Some(0) | Some(1) => (4, b[0]),
            Some(2) => (2, 2),
            _ => {
                out.malformed(
                    P,
                    input,
                    "Phoenix V2.JSONSerializer binary",
                    "unknown binary message kind",
                );
                return;
            }
        };
        let Some(lens) = b.get(1..1 + sizes) else {
            out.malformed(
                P,
                input,
                "Phoenix V2.JSONSerializer binary",
                "binary header cut short",
            );
            return;
        };
        let mut at = 1 + sizes;
        let mut parts = Vec::with_capacity(4);
        for &l in lens {
            let Some(x) = b.get(at..at + usize::from(l)) else {
                out.malformed(
                    P,
                    input,
                    "Phoenix V2.JSONSerializer binary",
                    "binary strings cut short",
                );
                return;
            };
            parts.push(x);
            at += usize::from(l);
        }
        let nonempty = |x: &[u8]| (!x.is_empty()).then(|| s(x));
        match kind {
            0 => self.fill(
                input,
                nonempty(parts[1]),
                s(parts[2]),
                s(parts[3]),
                None,
                None,
                out,
            ),
            1 => self.fill(
                input,
                nonempty(parts[1]),
                s(parts[2]),
                "phx_reply".into(),
                Some(s(parts[3])),
                None,
                out,
            ),
            _ => self.fill(input, None, s(parts[0]), s(parts[1]), None, None, out),
        }
        if let Some(r) = out.records.last_mut() {
            r.detail.payload_len = Some((b.len() - at) as u64);
        }
    }
}

impl AppDecoder for PhoenixDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let max = self.limits.max_text;
        if input.opcode == Opcode::Binary {
            if !input.complete {
                out.incomplete(P, input);
                return;
            }
            return self.binary(input, out);
        }
        let Some(v) = json::message(P, input, &self.limits, SEC, out) else {
            return;
        };
        let Some(a) = v.as_array().filter(|a| a.len() == 5) else {
            out.malformed(
                P,
                input,
                SEC,
                "not a five-member array [join_ref, ref, topic, event, payload]",
            );
            return;
        };
        let (Some(topic), Some(event)) = (a[2].as_str(), a[3].as_str()) else {
            out.malformed(P, input, SEC, "topic and event must be strings");
            return;
        };
        let status = a[4]
            .get("status")
            .and_then(Value::as_str)
            .map(|s| clip(s, max));
        let reason = a[4].get("response").map(|r| match r.get("reason") {
            Some(x) => json::text_of(x, max),
            None => json::text_of(r, max),
        });
        self.fill(
            input,
            json::id_text(&a[1], max),
            clip(topic, max),
            clip(event, max),
            status,
            reason,
            out,
        );
    }
}
