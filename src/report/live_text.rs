//! Streaming text: one line per event as it happens, for live captures
//! (the whole-capture narrative of [`super::text`] needs the end first).
//! Lines use the same wording as the text report.

use super::text::{control_line, ending, message_line};
use crate::analysis::{Consumer, Event};
use crate::capture::{PacketNo, Timestamp};
use crate::model::Connection;
use std::io::Write;
use std::ops::ControlFlow;

/// A [`Consumer`] that writes a line per event.
pub struct TextSink<W: Write> {
    out: W,
    t0: Timestamp,
    last_ts: Timestamp,
    /// The first write error (e.g. a closed pipe); later events are dropped.
    pub error: Option<std::io::Error>,
}

impl<W: Write> TextSink<W> {
    /// Writes to `out`; times are shown relative to `t0` (capture start).
    pub fn new(out: W, t0: Timestamp) -> Self {
        TextSink {
            out,
            t0,
            last_ts: t0,
            error: None,
        }
    }

    fn line(&mut self, packet: PacketNo, ts: Option<Timestamp>, conn: u32, text: &str) {
        if self.error.is_some() {
            return;
        }
        if let Some(t) = ts {
            self.last_ts = self.last_ts.max(t);
        }
        let rel = ts.unwrap_or(self.last_ts).secs_since(self.t0).max(0.0);
        let mut r = Ok(());
        for (i, l) in text.lines().enumerate() {
            r = r.and_then(|()| {
                if i == 0 {
                    writeln!(self.out, "#{:<6} +{rel:>10.6}s  conn {conn}  {l}", packet.0)
                } else {
                    writeln!(self.out, "{:29}{l}", "")
                }
            });
        }
        if let Err(e) = r.and_then(|()| self.out.flush()) {
            self.error = Some(e);
        }
    }
}

fn handshake_text(c: &Connection) -> String {
    let h = &c.handshake;
    let accept = match h.accept_valid {
        Some(true) => "accept ✓",
        Some(false) => "accept ✗ WRONG",
        None => "accept not checked",
    };
    format!(
        "{} → {}  {} {} → {} {}, {accept}, subprotocol: {}, extensions: {}",
        c.client,
        c.server,
        c.upgrade_method().unwrap_or("?"),
        h.request_target.as_deref().unwrap_or("?"),
        h.status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "?".into()),
        h.reason.as_deref().unwrap_or(""),
        h.subprotocol.as_deref().unwrap_or("none"),
        h.extensions.as_deref().unwrap_or("none"),
    )
}

impl<W: Write> Consumer for TextSink<W> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        let Some(conn) = ev.conn() else {
            return ControlFlow::Continue(());
        };
        let id = conn.id;
        match &ev {
            Event::Handshake(_) => {
                let h = &conn.handshake;
                let p = h.response_packet.unwrap_or(conn.first_packet);
                // The time of the 101 is its exchange's; without one (the
                // response came before its request was whole) the line
                // takes the time of the line before it.
                let ts = conn
                    .http_exchanges
                    .iter()
                    .rev()
                    .find(|x| x.response_packet == Some(p))
                    .and_then(|x| x.response_ts);
                self.line(p, ts, id, &handshake_text(conn));
            }
            Event::Message { message: m, .. } => {
                self.line(m.last_packet, Some(m.end_ts), id, &message_line(m));
            }
            Event::Control { frame: f, .. } => {
                self.line(f.packet, Some(f.ts), id, &control_line(f))
            }
            Event::Violation { violation: v, .. } => {
                let dir = v.dir.map(|d| format!("{} ", d.arrow())).unwrap_or_default();
                let text = format!("{dir}VIOLATION ({}): {}", v.kind.rfc(), v.detail);
                self.line(v.packet, Some(v.ts), id, &text);
            }
            Event::Anomaly { anomaly: a, .. } => {
                self.line(a.packet, Some(a.ts), id, &format!("! {}", a.detail))
            }
            Event::End(_) => {
                if !conn.reported() {
                    return ControlFlow::Continue(());
                }
                let kind = if conn.is_websocket {
                    "WebSocket"
                } else {
                    "HTTP"
                };
                let mut text = format!(
                    "{} → {} ({kind}) ended, packets {}–{}\n",
                    conn.client, conn.server, conn.first_packet, conn.last_packet
                );
                let mut buf = Vec::new();
                if ending(conn, &mut buf).is_ok() {
                    text.push_str(String::from_utf8_lossy(&buf).trim_start());
                }
                self.line(conn.last_packet, Some(conn.end_ts), id, &text);
            }
            _ => {}
        }
        if self.error.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}
