//! NDJSON: one JSON object per line, written as events happen, so a capture
//! of any length (or a live interface) streams with bounded memory.
//!
//! Every line has `event` and `conn` (the connection id) plus `client` and
//! `server`. Events: `handshake`, `message`, `control`, `violation`,
//! `anomaly`, `connection_end` (the connection summary without its
//! messages), and a final `capture` line with the capture summary.

use crate::analysis::model::{Analysis, Connection};
use crate::analysis::{EventSink, SinkEvent};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::ws::frame::{LengthFormat, Opcode};
use crate::ws::message::{FrameInfo, Message};
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

    fn message_line(&mut self, conn: &Connection, m: &Message) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, &MessageLine::new(conn, m))
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
        // From the counters: a live capture may have dropped old messages.
        let s = &conn.stats;
        map.insert(
            "message_count".into(),
            json!(s.c2s.messages + s.s2c.messages),
        );
        map.insert(
            "control_count".into(),
            json!(s.c2s.control_frames + s.s2c.control_frames),
        );
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
            SinkEvent::Message(m) => {
                // The hot event: written directly, without a `Value` tree.
                self.message_line(conn, m);
                return;
            }
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

/// A `message` line with the keys in the order a `Value` object (a sorted
/// map) writes them, so the bytes equal [`with_conn`]'s; the test
/// `direct_message_lines_equal_value_lines` keeps the two in step when
/// [`Message`] gains a field.
#[derive(Serialize)]
struct MessageLine<'a> {
    client: &'a str,
    conn: u32,
    event: &'static str,
    message: SortedMessage<'a>,
    server: &'a str,
}

impl<'a> MessageLine<'a> {
    fn new(conn: &'a Connection, m: &'a Message) -> Self {
        MessageLine {
            client: &conn.client,
            conn: conn.id,
            event: "message",
            message: SortedMessage {
                captured_prefix_hex: m.captured_prefix_hex.as_deref(),
                complete: m.complete,
                compressed: m.compressed,
                dir: m.dir,
                end_ts: m.end_ts,
                first_packet: m.first_packet,
                frame_headers: SortedFrames(&m.frame_headers),
                frames: m.frames,
                last_packet: m.last_packet,
                opcode: m.opcode,
                payload_len: m.payload_len,
                preview_hex: m.preview_hex.as_deref(),
                sha256: m.sha256.as_deref(),
                text: m.text.as_deref(),
                text_truncated: m.text_truncated,
                ts: m.ts,
                utf8_valid: m.utf8_valid,
                wire_payload_len: m.wire_payload_len,
            },
            server: &conn.server,
        }
    }
}

/// [`Message`]'s serialized fields, sorted by name.
#[derive(Serialize)]
struct SortedMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    captured_prefix_hex: Option<&'a str>,
    complete: bool,
    compressed: bool,
    dir: Direction,
    end_ts: Timestamp,
    first_packet: PacketNo,
    frame_headers: SortedFrames<'a>,
    frames: u32,
    last_packet: PacketNo,
    opcode: Opcode,
    payload_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview_hex: Option<&'a str>,
    sha256: Option<&'a str>,
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    text_truncated: bool,
    ts: Timestamp,
    utf8_valid: Option<bool>,
    wire_payload_len: u64,
}

struct SortedFrames<'a>(&'a [FrameInfo]);

impl Serialize for SortedFrames<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| SortedFrame {
            end_packet: f.end_packet,
            fin: f.fin,
            header_packet: f.header_packet,
            length_format: f.length_format,
            mask_key: f.mask_key.as_deref(),
            opcode: f.opcode,
            payload_len: f.payload_len,
            rsv: f.rsv,
        }))
    }
}

/// [`FrameInfo`]'s fields, sorted by name.
#[derive(Serialize)]
struct SortedFrame<'a> {
    end_packet: PacketNo,
    fin: bool,
    header_packet: PacketNo,
    length_format: LengthFormat,
    mask_key: Option<&'a str>,
    opcode: Opcode,
    payload_len: u64,
    rsv: u8,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Limits, NullSink};

    /// Every message of every sample capture gives the same line both ways.
    #[test]
    fn direct_message_lines_equal_value_lines() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("captures dir") {
            let path = entry.expect("entry").path().to_string_lossy().into_owned();
            if !(path.ends_with(".pcap") || path.ends_with(".pcapng")) {
                continue;
            }
            let Ok(a) = crate::pipeline::analyze_path(&path, Limits::default(), &mut NullSink)
            else {
                continue;
            };
            for c in &a.connections {
                for m in &c.messages {
                    let want = serde_json::to_string(&with_conn("message", c, "message", m))
                        .expect("value line");
                    let got = serde_json::to_string(&MessageLine::new(c, m)).expect("line");
                    assert_eq!(got, want, "{path}");
                    // And with every optional field flipped.
                    let mut m2 = m.clone();
                    m2.text_truncated = !m.text_truncated;
                    m2.captured_prefix_hex = m.captured_prefix_hex.clone().xor(Some("ab".into()));
                    m2.preview_hex = m.preview_hex.clone().xor(Some("cd".into()));
                    m2.sha256 = m.sha256.clone().xor(Some("ef".into()));
                    m2.text = m.text.clone().xor(Some("t".into()));
                    m2.payload_len = m.payload_len.xor(Some(1));
                    m2.utf8_valid = m.utf8_valid.xor(Some(true));
                    let want = serde_json::to_string(&with_conn("message", c, "message", &m2))
                        .expect("value line");
                    let got = serde_json::to_string(&MessageLine::new(c, &m2)).expect("line");
                    assert_eq!(got, want, "{path}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} messages checked");
    }
}
