//! Rails Action Cable, `actioncable-v1-json` (actioncable's
//! `ActionCable::INTERNAL` and `Connection::Subscriptions`).
//!
//! The client sends `{"command": "subscribe"|"unsubscribe"|"message",
//! "identifier": "<JSON text naming the channel>", "data": "<JSON text
//! with an action>"}`; the server sends `{"type": "welcome"|"ping"|
//! "disconnect"|"confirm_subscription"|"reject_subscription", …}` or a
//! broadcast `{"identifier": …, "message": …}`. A subscribe is answered by
//! a confirmation or a rejection for the same identifier.

use super::json::{self, Value};
use super::{
    AppDecoder, AppError, AppInput, AppLimits, AppOutput, AppProtocol, AppRecord, Closing, PairKey,
    clip,
};

const P: AppProtocol = AppProtocol::ActionCable;
const SEC: &str = "Action Cable protocol (actioncable-v1-json)";

/// Decoder state for one session.
#[derive(Debug)]
pub struct ActionCableDecoder {
    limits: AppLimits,
}

impl ActionCableDecoder {
    /// A decoder.
    pub fn new(limits: AppLimits) -> Self {
        ActionCableDecoder { limits }
    }

    /// The channel an identifier names (its `channel` member), else the
    /// identifier itself.
    fn channel(&self, identifier: &str) -> String {
        let max = self.limits.max_text;
        json::parse(identifier.as_bytes(), &self.limits)
            .ok()
            .and_then(|v| json::str_of(&v, "channel", max))
            .unwrap_or_else(|| clip(identifier, max))
    }
}

impl AppDecoder for ActionCableDecoder {
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let max = self.limits.max_text;
        let Some(v) = json::message(P, input, &self.limits, SEC, out) else {
            return;
        };
        let identifier = v.get("identifier").and_then(Value::as_str);
        let key = identifier.map(|i| PairKey::id("subscribe", clip(i, 4 * max)));
        let kind = match (
            v.get("command").and_then(Value::as_str),
            v.get("type").and_then(Value::as_str),
        ) {
            (Some("subscribe"), _) => "subscribe",
            (Some("unsubscribe"), _) => "unsubscribe",
            (Some("message"), _) => "message",
            (_, Some("welcome")) => "welcome",
            (_, Some("ping")) => "ping",
            (_, Some("disconnect")) => "disconnect",
            (_, Some("confirm_subscription")) => "confirm_subscription",
            (_, Some("reject_subscription")) => "reject_subscription",
            (None, None) if v.get("message").is_some() && identifier.is_some() => "broadcast",
            _ => {
                out.malformed(P, input, SEC, "neither a known command nor a known type");
                return;
            }
        };
        let mut r = AppRecord::new(P, input, kind);
        r.channel = identifier.map(|i| self.channel(i));
        match kind {
            "subscribe" => r.pairing.opens = key,
            "confirm_subscription" => r.pairing.closes = key.map(|k| (k, Closing::Final)),
            "reject_subscription" => {
                r.error = Some(AppError {
                    code: Some("reject_subscription".into()),
                    message: None,
                });
                r.pairing.closes = key.map(|k| (k, Closing::Final));
            }
            "message" => {
                r.name = v
                    .get("data")
                    .and_then(Value::as_str)
                    .and_then(|d| json::parse(d.as_bytes(), &self.limits).ok())
                    .and_then(|d| json::str_of(&d, "action", max));
            }
            "disconnect" => {
                let reason = json::str_of(&v, "reason", max);
                if matches!(reason.as_deref(), Some("unauthorized" | "invalid_request")) {
                    r.error = Some(AppError {
                        code: reason.clone(),
                        message: None,
                    });
                }
                r.name = reason;
            }
            _ => {}
        }
        out.records.push(r);
    }
}
