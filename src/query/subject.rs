//! What a display filter is evaluated on: one message, one control frame or
//! (in the TUI's timeline) one other event of a connection, with the
//! connection it belongs to. Field values are read from here, never copied
//! into a context object first.

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::model::Connection;
use crate::model::app::AppRecord;
use crate::model::finding::ViolationKind;
use crate::ws::message::{ControlFrame, FrameInfo, Message};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The thing a filter selects or not.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A data message and its index in the connection's messages.
    Message {
        /// Index among the connection's data messages (0-based).
        index: usize,
        /// The message.
        msg: &'a Message,
    },
    /// A control frame (ping, pong, close).
    Control(&'a ControlFrame),
    /// Any other event of the connection (an HTTP head, a TCP SYN/FIN/RST,
    /// a violation, an anomaly): only the TUI's timeline filters these.
    Event {
        /// The packet it happened in.
        packet: PacketNo,
        /// When, if known.
        ts: Option<Timestamp>,
        /// Who sent it, if anyone.
        dir: Option<Direction>,
        /// The rule it broke, for a violation.
        violation: Option<ViolationKind>,
    },
}

/// One item and its connection.
#[derive(Debug)]
pub struct Subject<'a> {
    /// The connection (all its fields so far).
    pub conn: &'a Connection,
    /// The item.
    pub item: Item<'a>,
    /// Time of the capture's first packet: `frame.time_relative` counts
    /// from it. `None` leaves that field absent.
    pub capture_start: Option<Timestamp>,
    /// A streamed message's application records (the connection's
    /// `app_messages` are not filled while it streams); `None`: read them
    /// from the connection.
    pub app: Option<&'a [AppRecord]>,
    json: OnceCell<Option<Value>>,
}

/// One value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'s> {
    /// An unsigned integer.
    U(u64),
    /// A number of seconds.
    F(f64),
    /// A boolean.
    B(bool),
    /// Text.
    S(Cow<'s, str>),
    /// Bytes.
    By(Cow<'s, [u8]>),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address.
    V6(Ipv6Addr),
    /// A JSON value (from `json.<path>`).
    J(&'s Value),
    /// A protocol is present.
    Present,
}

impl<'a> Subject<'a> {
    /// The subject for `item` of `conn`.
    pub fn new(conn: &'a Connection, item: Item<'a>, capture_start: Option<Timestamp>) -> Self {
        Subject {
            conn,
            item,
            capture_start,
            app: None,
            json: OnceCell::new(),
        }
    }

    /// The data message `msg`, the `index`-th of `conn`.
    pub fn message(
        conn: &'a Connection,
        index: usize,
        msg: &'a Message,
        capture_start: Option<Timestamp>,
    ) -> Self {
        Subject::new(conn, Item::Message { index, msg }, capture_start)
    }

    /// The data message `msg` as it streams, with the application records
    /// it completed (`Event::Message`'s `app`).
    pub fn streamed_message(
        conn: &'a Connection,
        index: usize,
        msg: &'a Message,
        app: &'a [AppRecord],
        capture_start: Option<Timestamp>,
    ) -> Self {
        Subject {
            app: Some(app),
            ..Subject::message(conn, index, msg, capture_start)
        }
    }

    /// The sender of the item.
    pub fn dir(&self) -> Option<Direction> {
        match self.item {
            Item::Message { msg, .. } => Some(msg.dir),
            Item::Control(c) => Some(c.dir),
            Item::Event { dir, .. } => dir,
        }
    }

    /// Headers of the WebSocket frames of the item, in order.
    pub fn frames(&self) -> &'a [FrameInfo] {
        match self.item {
            Item::Message { msg, .. } => &msg.frame_headers,
            Item::Control(c) => std::slice::from_ref(&c.frame),
            Item::Event { .. } => &[],
        }
    }

    /// The packets of the item that wsinspect knows: for a message, the
    /// packet of its first and last byte and, for every frame, the packet
    /// of the header's first byte and the one that completed the frame
    /// (where Wireshark dissects it). Packets in the middle of a long
    /// frame are not recorded.
    pub fn packets(&self) -> Vec<u64> {
        let mut v: Vec<u64> = match self.item {
            Item::Message { msg, .. } => [msg.first_packet.0, msg.last_packet.0]
                .into_iter()
                .chain(
                    msg.frame_headers
                        .iter()
                        .flat_map(|f| [f.header_packet.0, f.end_packet.0]),
                )
                .collect(),
            Item::Control(c) => vec![c.packet.0, c.frame.header_packet.0, c.frame.end_packet.0],
            Item::Event { packet, .. } => vec![packet.0],
        };
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Times of the item: a message's first frame and its completion.
    pub fn times(&self) -> Vec<Timestamp> {
        match self.item {
            Item::Message { msg, .. } => {
                if msg.ts == msg.end_ts {
                    vec![msg.ts]
                } else {
                    vec![msg.ts, msg.end_ts]
                }
            }
            Item::Control(c) => vec![c.ts],
            Item::Event { ts, .. } => ts.into_iter().collect(),
        }
    }

    /// Client and server socket addresses.
    pub fn ends(&self) -> Option<(SocketAddr, SocketAddr)> {
        Some((self.conn.client, self.conn.server))
    }

    /// Source and destination (the sender first) when the item has a sender.
    pub fn src_dst(&self) -> Option<(SocketAddr, SocketAddr)> {
        let (c, s) = self.ends()?;
        match self.dir()? {
            Direction::ClientToServer => Some((c, s)),
            Direction::ServerToClient => Some((s, c)),
        }
    }

    /// The IP version of the connection.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ends().map(|(c, _)| c.ip())
    }

    /// The text payload parsed as JSON (parsed once, on first use). None
    /// for binary, incomplete, cut (`--max-text-bytes`) or non-JSON text.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| match self.item {
                Item::Message { msg, .. } if !msg.text_truncated => msg
                    .text
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok()),
                _ => None,
            })
            .as_ref()
    }

    /// Kinds of the violations recorded on the item: for a message or a
    /// control frame, those its sender caused in the packets it spans.
    pub fn violations(&self) -> Vec<ViolationKind> {
        let (lo, hi, dir) = match self.item {
            Item::Event { violation, .. } => return violation.into_iter().collect(),
            Item::Message { msg, .. } => (msg.first_packet, msg.last_packet, msg.dir),
            Item::Control(c) => (c.frame.header_packet.min(c.packet), c.packet, c.dir),
        };
        self.conn
            .violation_details
            .iter()
            .filter(|v| v.dir == Some(dir) && (lo..=hi).contains(&v.packet))
            .map(|v| v.kind)
            .collect()
    }
}

/// The snake_case name of a violation kind, as the JSON report writes it.
pub fn violation_name(k: ViolationKind) -> String {
    match serde_json::to_value(k) {
        Ok(Value::String(s)) => s,
        _ => format!("{k:?}"),
    }
}
