//! The timeline as an index over the model.
//!
//! A [`Row`] names one event of a connection by its position in the model
//! (`tcp_events[i]`, `messages[i]`, …); nothing is copied out of the
//! [`Analysis`]. Rows are built once per selected connection (or once for
//! all connections) and sorted by packet number, so rendering a frame only
//! touches the rows on screen.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::hexfmt::hex;
use crate::model::{Analysis, Connection, TcpEventKind};
use crate::ws::frame::{CloseCode, Opcode};
use crate::ws::message::{ControlFrame, Message};

/// Which element of a connection a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventRef {
    /// `tcp_events[i]`: SYN, SYN+ACK, FIN, RST.
    Tcp(usize),
    /// `http_exchanges[i]`, the request.
    HttpRequest(usize),
    /// `http_exchanges[i]`, the response.
    HttpResponse(usize),
    /// `messages[i]`.
    Message(usize),
    /// `control[i]`.
    Control(usize),
    /// `violation_details[i]`.
    Violation(usize),
    /// `anomalies[i]`.
    Anomaly(usize),
}

/// One line of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Index into `Analysis::connections`.
    pub conn: usize,
    /// What it shows.
    pub event: EventRef,
    /// Packet number used for ordering (completion packet for messages).
    pub packet: u64,
    /// When it happened. An HTTP response whose time the model lacks takes
    /// the time of the previous timed event of the connection (a lower
    /// bound) and `ts_exact` is false.
    pub ts: Timestamp,
    /// Whether `ts` was recorded for this event.
    pub ts_exact: bool,
}

/// Coarse kind of a row, for filters and colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text message.
    Text,
    /// Binary message (or a reserved data opcode).
    Binary,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
    /// Close.
    Close,
    /// Reserved control opcode.
    OtherControl,
    /// HTTP request or response.
    Http,
    /// TCP SYN/FIN/RST.
    Tcp,
    /// A protocol violation.
    Violation,
    /// Loss, snaplen cut, cap reached…
    Anomaly,
}

impl Kind {
    /// Control frames (RFC 6455 §5.5), which `c` hides.
    pub fn is_control(self) -> bool {
        matches!(
            self,
            Kind::Ping | Kind::Pong | Kind::Close | Kind::OtherControl
        )
    }
}

fn order(e: EventRef) -> u8 {
    match e {
        EventRef::Tcp(_) => 0,
        EventRef::HttpRequest(_) | EventRef::HttpResponse(_) => 1,
        EventRef::Message(_) | EventRef::Control(_) => 2,
        EventRef::Violation(_) | EventRef::Anomaly(_) => 3,
    }
}

/// The rows of one connection, unsorted, without times filled in.
fn push_rows(ci: usize, c: &Connection, out: &mut Vec<Row>) {
    let row = |event, packet: u64, ts: Option<Timestamp>| Row {
        conn: ci,
        event,
        packet,
        ts: ts.unwrap_or(c.start_ts),
        ts_exact: ts.is_some(),
    };
    for (i, e) in c.tcp_events.iter().enumerate() {
        out.push(row(EventRef::Tcp(i), e.packet.0, Some(e.ts)));
    }
    for (i, x) in c.http_exchanges.iter().enumerate() {
        out.push(row(
            EventRef::HttpRequest(i),
            x.request_packet.0,
            Some(x.request_ts),
        ));
        if let Some(p) = x.response_packet {
            out.push(row(EventRef::HttpResponse(i), p.0, x.response_ts));
        }
    }
    for (i, m) in c.messages.iter().enumerate() {
        out.push(row(EventRef::Message(i), m.last_packet.0, Some(m.end_ts)));
    }
    for (i, f) in c.control.iter().enumerate() {
        out.push(row(EventRef::Control(i), f.packet.0, Some(f.ts)));
    }
    for (i, v) in c.violation_details.iter().enumerate() {
        out.push(row(EventRef::Violation(i), v.packet.0, Some(v.ts)));
    }
    for (i, a) in c.anomalies.iter().enumerate() {
        out.push(row(EventRef::Anomaly(i), a.packet.0, Some(a.ts)));
    }
}

/// Sorts rows into capture order and gives untimed rows the time of the
/// previous timed row of the same connection.
fn finish(rows: &mut [Row], conns: usize) {
    rows.sort_by_key(|r| (r.packet, order(r.event), r.conn, r.event));
    let mut last: Vec<Option<Timestamp>> = vec![None; conns];
    for r in rows.iter_mut() {
        let Some(slot) = last.get_mut(r.conn) else {
            continue;
        };
        if r.ts_exact {
            *slot = Some(r.ts);
        } else if let Some(t) = *slot {
            r.ts = t;
        }
    }
}

/// The timeline of connection `ci`.
pub fn connection_rows(a: &Analysis, ci: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(c) = a.connections.get(ci) {
        push_rows(ci, c, &mut rows);
    }
    finish(&mut rows, a.connections.len());
    rows
}

/// The timelines of every connection, interleaved by packet number.
pub fn all_rows(a: &Analysis) -> Vec<Row> {
    let mut rows = Vec::new();
    for (ci, c) in a.connections.iter().enumerate() {
        push_rows(ci, c, &mut rows);
    }
    finish(&mut rows, a.connections.len());
    rows
}

/// The model element a row points at, resolved.
#[derive(Debug, Clone, Copy)]
pub enum Resolved<'a> {
    /// A TCP event.
    Tcp(&'a crate::model::TcpEvent),
    /// An HTTP request.
    HttpRequest(&'a crate::model::HttpExchange),
    /// An HTTP response.
    HttpResponse(&'a crate::model::HttpExchange),
    /// A data message.
    Message(&'a Message),
    /// A control frame.
    Control(&'a ControlFrame),
    /// A violation.
    Violation(&'a crate::model::finding::Violation),
    /// An anomaly.
    Anomaly(&'a crate::model::finding::Anomaly),
}

impl Row {
    /// The connection of the row.
    pub fn connection<'a>(&self, a: &'a Analysis) -> Option<&'a Connection> {
        a.connections.get(self.conn)
    }

    /// Looks the row's element up in the model (None if the model does not
    /// have it, which cannot happen for rows built from the same model).
    pub fn resolve<'a>(&self, a: &'a Analysis) -> Option<Resolved<'a>> {
        let c = self.connection(a)?;
        Some(match self.event {
            EventRef::Tcp(i) => Resolved::Tcp(c.tcp_events.get(i)?),
            EventRef::HttpRequest(i) => Resolved::HttpRequest(c.http_exchanges.get(i)?),
            EventRef::HttpResponse(i) => Resolved::HttpResponse(c.http_exchanges.get(i)?),
            EventRef::Message(i) => Resolved::Message(c.messages.get(i)?),
            EventRef::Control(i) => Resolved::Control(c.control.get(i)?),
            EventRef::Violation(i) => Resolved::Violation(c.violation_details.get(i)?),
            EventRef::Anomaly(i) => Resolved::Anomaly(c.anomalies.get(i)?),
        })
    }

    /// Direction of the event, when it has one.
    pub fn dir(&self, a: &Analysis) -> Option<Direction> {
        match self.resolve(a)? {
            Resolved::Tcp(e) => Some(e.dir),
            Resolved::HttpRequest(_) => Some(Direction::ClientToServer),
            Resolved::HttpResponse(_) => Some(Direction::ServerToClient),
            Resolved::Message(m) => Some(m.dir),
            Resolved::Control(f) => Some(f.dir),
            Resolved::Violation(v) => v.dir,
            Resolved::Anomaly(an) => an.dir,
        }
    }

    /// Coarse kind, for filters and colours.
    pub fn kind(&self, a: &Analysis) -> Kind {
        match self.resolve(a) {
            Some(Resolved::Tcp(_)) | None => Kind::Tcp,
            Some(Resolved::HttpRequest(_) | Resolved::HttpResponse(_)) => Kind::Http,
            Some(Resolved::Message(m)) => match m.opcode {
                Opcode::Text => Kind::Text,
                _ => Kind::Binary,
            },
            Some(Resolved::Control(f)) => match f.opcode {
                Opcode::Ping => Kind::Ping,
                Opcode::Pong => Kind::Pong,
                Opcode::Close => Kind::Close,
                _ => Kind::OtherControl,
            },
            Some(Resolved::Violation(_)) => Kind::Violation,
            Some(Resolved::Anomaly(_)) => Kind::Anomaly,
        }
    }

    /// Whether the lower-cased `needle` occurs in what the row carries:
    /// payload text, payload bytes as hex and as printable ASCII, close
    /// reasons, HTTP request lines and headers, violation sentences.
    pub fn contains(&self, a: &Analysis, needle: &str) -> bool {
        if needle.is_empty() {
            return true;
        }
        let hit = |s: &str| contains_ci(s, needle);
        let Some(c) = self.connection(a) else {
            return false;
        };
        match self.resolve(a) {
            None => false,
            Some(Resolved::Tcp(e)) => hit(tcp_name(e.kind)),
            Some(Resolved::HttpRequest(x)) => {
                hit(&x.method)
                    || hit(&x.target)
                    || (c.handshake.request_packet == Some(x.request_packet)
                        && c.handshake
                            .request_headers
                            .iter()
                            .any(|h| hit(&h.name) || hit(&h.value)))
            }
            Some(Resolved::HttpResponse(x)) => {
                x.status.is_some_and(|s| hit(&s.to_string()))
                    || (c.handshake.response_packet == x.response_packet
                        && (c.handshake.reason.as_deref().is_some_and(hit)
                            || c.handshake
                                .response_headers
                                .iter()
                                .any(|h| hit(&h.name) || hit(&h.value))))
            }
            Some(Resolved::Message(m)) => {
                m.text.as_deref().is_some_and(hit) || hit(&hex(&m.head)) || hit(&printable(&m.head))
            }
            Some(Resolved::Control(f)) => {
                f.close_reason.as_deref().is_some_and(hit)
                    || f.close_code.is_some_and(|k| hit(&CloseCode(k).to_string()))
                    || hit(&f.payload_hex)
            }
            Some(Resolved::Violation(v)) => hit(&v.detail) || hit(v.kind.rfc()),
            Some(Resolved::Anomaly(an)) => hit(&an.detail),
        }
    }
}

/// Case-insensitive substring test; `needle` must already be lower case.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle)
}

/// Printable ASCII of bytes, other bytes as `.` (the right column of a hex dump).
pub fn printable(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                char::from(c)
            } else {
                '.'
            }
        })
        .collect()
}

/// The name of a TCP event.
pub fn tcp_name(k: TcpEventKind) -> &'static str {
    match k {
        TcpEventKind::Syn => "SYN",
        TcpEventKind::SynAck => "SYN+ACK",
        TcpEventKind::Fin => "FIN",
        TcpEventKind::Rst => "RST",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_search() {
        assert!(contains_ci("Hello World", "world"));
        assert!(contains_ci("Café", "café"));
        assert!(!contains_ci("abc", "abcd"));
    }

    #[test]
    fn printable_masks_control_bytes() {
        assert_eq!(printable(b"a\x00b "), "a.b ");
    }
}
