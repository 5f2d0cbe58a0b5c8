//! The timeline as rows of the index.
//!
//! A [`Row`] is an index row ([`crate::index::Row`]) with its connection's
//! place in the view; timelines are the index's (every connection's rows,
//! or one connection's chain), read by position, so rendering a frame only
//! reads the rows on screen and nothing is held per row.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::hexfmt::hex;
use crate::index::{Index, Record, Row as IxRow, RowKind, flags};
use crate::model::{Connection, TcpEventKind};
use crate::tui::source::Source;
use crate::ws::frame::{CloseCode, Opcode};
use crate::ws::message::{ControlFrame, Message};
use std::sync::Arc;

/// Which element of a connection a row shows (its index among the
/// connection's elements of that sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventRef {
    /// `tcp_events[i]`: SYN, SYN+ACK, FIN, RST.
    Tcp(usize),
    /// `http_exchanges[i]`, the request.
    HttpRequest(usize),
    /// `http_exchanges[i]`, the response.
    HttpResponse(usize),
    /// The connection's `i`-th data message.
    Message(usize),
    /// The connection's `i`-th control frame.
    Control(usize),
    /// The connection's `i`-th violation.
    Violation(usize),
    /// The connection's `i`-th anomaly.
    Anomaly(usize),
}

/// One line of the timeline: an index row, and where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Index into the source's `connections` (`usize::MAX` for a
    /// connection that is not reported).
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
    /// The index row.
    pub ix: IxRow,
}

impl Row {
    /// The timeline row of index row `ix`.
    pub fn of(s: &Source, ix: IxRow) -> Row {
        Row::with_positions(s.positions(), ix)
    }

    fn with_positions(positions: &[u32], ix: IxRow) -> Row {
        let seq = usize::try_from(ix.seq).unwrap_or(usize::MAX);
        Row {
            conn: positions
                .get(ix.slot as usize)
                .filter(|&&p| p != u32::MAX)
                .map_or(usize::MAX, |&p| p as usize),
            event: match ix.kind {
                RowKind::Tcp => EventRef::Tcp(seq),
                RowKind::HttpRequest => EventRef::HttpRequest(seq),
                RowKind::HttpResponse => EventRef::HttpResponse(seq),
                RowKind::Message => EventRef::Message(seq),
                RowKind::Control => EventRef::Control(seq),
                RowKind::Violation => EventRef::Violation(seq),
                RowKind::Anomaly => EventRef::Anomaly(seq),
            },
            packet: ix.packet.0,
            ts: ix.ts,
            ts_exact: ix.flags & flags::TS_INEXACT == 0,
            ix,
        }
    }
}

/// A timeline: every connection's rows, or one connection's, as far as
/// the index had published them when it was made. Cheap to clone; reads
/// rows by position through the index's cache.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    index: Option<Index>,
    positions: Arc<Vec<u32>>,
    /// The connection's slot; `None`: every connection.
    slot: Option<u32>,
    len: usize,
}

impl Timeline {
    /// The timeline of every connection (`all`) or of connection `conn`.
    pub fn new(s: &Source, all: bool, conn: usize) -> Timeline {
        let slot = if all { None } else { s.slot(conn) };
        let len = match (all, slot) {
            (true, _) => s.all_len(),
            (false, Some(_)) => s.conn_len(conn),
            (false, None) => 0,
        };
        Timeline {
            index: Some(s.index.clone()),
            positions: s.positions_arc(),
            slot,
            len,
        }
    }

    /// Rows in it.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it reads `index`.
    pub fn reads(&self, index: &Index) -> bool {
        self.index.as_ref().is_some_and(|i| i.same(index))
    }

    /// Row `i`.
    pub fn get(&self, i: usize) -> Option<Row> {
        if i >= self.len {
            return None;
        }
        let index = self.index.as_ref()?;
        let ix = match self.slot {
            None => index.row(i as u64)?,
            Some(s) => index.conn_row(s, i as u64)?,
        };
        Some(Row::with_positions(&self.positions, ix))
    }
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

/// The element a row points at, resolved: TCP and HTTP rows from the
/// connection's summary (copied out of it), the others read from the
/// index (shared with its cache).
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A TCP event.
    Tcp(crate::model::TcpEvent),
    /// An HTTP request.
    HttpRequest(crate::model::HttpExchange),
    /// An HTTP response.
    HttpResponse(crate::model::HttpExchange),
    /// A data message.
    Message(Arc<Message>),
    /// A control frame.
    Control(Arc<ControlFrame>),
    /// A violation.
    Violation(Arc<crate::model::finding::Violation>),
    /// An anomaly.
    Anomaly(Arc<crate::model::finding::Anomaly>),
}

impl Row {
    /// The connection of the row (its summary), if it is listed.
    pub fn connection(&self, a: &Source) -> Option<Arc<Connection>> {
        a.connection(self.conn)
    }

    /// Looks the row's element up: in the connection's summary or in the
    /// index (None if neither has it).
    pub fn resolve(&self, a: &Source) -> Option<Resolved> {
        self.resolve_in(a, self.connection(a)?.as_ref())
    }

    /// The same, with the row's connection at hand.
    pub fn resolve_in(&self, a: &Source, c: &Connection) -> Option<Resolved> {
        let rec = || a.record(&self.ix);
        Some(match self.event {
            EventRef::Tcp(i) => Resolved::Tcp(*c.tcp_events.get(i)?),
            EventRef::HttpRequest(i) => Resolved::HttpRequest(c.http_exchanges.get(i)?.clone()),
            EventRef::HttpResponse(i) => Resolved::HttpResponse(c.http_exchanges.get(i)?.clone()),
            EventRef::Message(_) => match rec()? {
                Record::Message(m) => Resolved::Message(m),
                _ => return None,
            },
            EventRef::Control(_) => match rec()? {
                Record::Control(f) => Resolved::Control(f),
                _ => return None,
            },
            EventRef::Violation(_) => match rec()? {
                Record::Violation(v) => Resolved::Violation(v),
                _ => return None,
            },
            EventRef::Anomaly(_) => match rec()? {
                Record::Anomaly(an) => Resolved::Anomaly(an),
                _ => return None,
            },
        })
    }

    /// Direction of the event, when it has one (from the row alone).
    pub fn dir(&self, _: &Source) -> Option<Direction> {
        self.ix.dir
    }

    /// Coarse kind, for filters and colours (from the row alone).
    pub fn kind(&self, _: &Source) -> Kind {
        match self.ix.kind {
            RowKind::Tcp => Kind::Tcp,
            RowKind::HttpRequest | RowKind::HttpResponse => Kind::Http,
            RowKind::Message => match self.ix.opcode {
                Some(Opcode::Text) => Kind::Text,
                _ => Kind::Binary,
            },
            RowKind::Control => match self.ix.opcode {
                Some(Opcode::Ping) => Kind::Ping,
                Some(Opcode::Pong) => Kind::Pong,
                Some(Opcode::Close) => Kind::Close,
                _ => Kind::OtherControl,
            },
            RowKind::Violation => Kind::Violation,
            RowKind::Anomaly => Kind::Anomaly,
        }
    }

    /// Whether the lower-cased `needle` occurs in what the row carries:
    /// payload text, payload bytes as hex and as printable ASCII, close
    /// reasons, HTTP request lines and headers, violation sentences.
    pub fn contains(&self, a: &Source, needle: &str) -> bool {
        if needle.is_empty() {
            return true;
        }
        let hit = |s: &str| contains_ci(s, needle);
        let Some(c) = self.connection(a) else {
            return false;
        };
        match self.resolve_in(a, &c) {
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
                m.text.as_deref().is_some_and(hit)
                    || hit(&hex(&m.head))
                    || hit(&printable(&m.head))
                    || self.whole_payload_contains(a, m.head.len(), needle)
            }
            Some(Resolved::Control(f)) => {
                f.close_reason.as_deref().is_some_and(hit)
                    || f.close_code.is_some_and(|k| hit(&CloseCode(k).to_string()))
                    || hit(&crate::hexfmt::hex(&f.payload))
            }
            Some(Resolved::Violation(v)) => hit(&v.detail) || hit(v.kind.rfc()),
            Some(Resolved::Anomaly(an)) => hit(&an.detail),
        }
    }
}

/// Bytes of a whole payload searched as text.
const MAX_SEARCHED: usize = 16 << 20;

impl Row {
    /// Whether the whole payload in the index's spill, read as text
    /// (lossy UTF-8), contains `needle`; only past what the model's head
    /// already showed.
    fn whole_payload_contains(&self, a: &Source, head: usize, needle: &str) -> bool {
        if self.ix.flags & flags::SPILLED == 0 || self.ix.pay_len <= head as u64 {
            return false;
        }
        a.index
            .payload(&self.ix, 0, MAX_SEARCHED)
            .is_ok_and(|b| contains_ci(&String::from_utf8_lossy(&b), needle))
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
