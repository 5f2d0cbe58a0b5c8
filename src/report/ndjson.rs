//! NDJSON: one JSON object per line, written as events happen, so a capture
//! of any length (or a live interface) streams with bounded memory.
//!
//! Every line has `event` and `conn` (the connection id) plus `client` and
//! `server`. Events: `handshake`, `message`, `control`, `violation`,
//! `anomaly`, `connection_end` (the connection summary without its
//! messages), and a final `capture` line with the capture summary.

use crate::analysis::model::{Analysis, Connection};
use crate::analysis::{EventSink, SinkEvent};
use crate::ws::message::Message;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;

/// An [`EventSink`] that writes NDJSON lines.
pub struct NdjsonSink<W: Write> {
    out: W,
    /// The first write error (e.g. a closed pipe); later events are dropped.
    pub error: Option<std::io::Error>,
}

impl<W: Write> NdjsonSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        NdjsonSink { out, error: None }
    }

    fn line(&mut self, v: &Value) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, v)
            .map_err(std::io::Error::other)
            .and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// Writes the closing `capture` line.
    pub fn finish(&mut self, analysis: &Analysis) {
        let v = json!({
            "event": "capture",
            "capture": analysis.capture,
            "format": analysis.format,
            "link_type": analysis.link_type,
            "link_type_dlt": analysis.link_type_dlt,
            "packet_count": analysis.packet_count,
            "stats": analysis.stats,
            "capture_anomalies": analysis.capture_anomalies,
        });
        self.line(&v);
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
    }
}

fn with_conn(event: &str, conn: &Connection, key: &str, body: impl Serialize) -> Value {
    json!({
        "event": event,
        "conn": conn.id,
        "client": conn.client,
        "server": conn.server,
        key: body,
    })
}

/// The connection record without its per-message lists.
fn summary(conn: &Connection) -> Value {
    let mut v = serde_json::to_value(conn).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.remove("messages");
        map.remove("control");
        map.insert(
            "message_count".into(),
            json!(conn.stats.c2s.messages + conn.stats.s2c.messages),
        );
        map.insert("control_count".into(), json!(conn.control.len()));
    }
    v
}

impl<W: Write> EventSink for NdjsonSink<W> {
    /// Every message was already written as a `message` line: the model
    /// need not keep them (bounded memory on long captures).
    fn take_messages(&mut self, _conn: u32, messages: &mut Vec<Message>) {
        messages.clear();
    }

    fn event(&mut self, conn: &Connection, ev: SinkEvent<'_>) {
        let v = match ev {
            SinkEvent::Handshake(h) => with_conn("handshake", conn, "handshake", h),
            SinkEvent::Message(m) => with_conn("message", conn, "message", m),
            SinkEvent::Control(c) => with_conn("control", conn, "control", c),
            SinkEvent::Violation(v) => with_conn("violation", conn, "violation", v),
            SinkEvent::Anomaly(a) => with_conn("anomaly", conn, "anomaly", a),
            SinkEvent::End => {
                if conn.protocol == crate::analysis::model::Protocol::Unknown {
                    return;
                }
                with_conn("connection_end", conn, "connection", summary(conn))
            }
        };
        self.line(&v);
    }
}
