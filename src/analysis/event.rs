//! The analyzer's one outward contract: a stream of events, in the order the
//! capture shows them, to one [`Consumer`].
//!
//! One method, one stream (ripgrep's `Sink` shape): a consumer sees every
//! fact once, as it becomes known, and answers [`ControlFlow::Break`] when
//! it can take nothing more (its output is gone). Decorators (a filter in
//! front of a consumer) and tees forward one method, so nothing can be
//! bypassed. The model ([`super::builder::ModelBuilder`]) is built from the
//! same events, so every record a report shows was an event first,
//! including what settling at the end of a connection finds.
//!
//! Ownership: records travel as [`Cow`], owned as far as they can. The
//! model builder, first in line, lends them on and keeps them. The one consumer that keeps or ships them elsewhere (the NDJSON
//! writer thread, the JSON spill) says so with [`Wants::takes_messages`] and
//! receives them owned, so that nothing is copied on the hot path; the
//! others borrow.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::model::app::{AppFinding, AppRecord};
use crate::model::finding::{Anomaly, Violation};
use crate::model::{CaptureAnomaly, Connection};
use crate::ws::message::{ControlFrame, Message, PendingDigest};
use std::borrow::Cow;
use std::ops::ControlFlow;

/// One fact, as it happens. `conn` is the connection's record so far
/// (endpoints, handshake, counters); its message and finding lists are
/// built by the model from these events, not carried here.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The time of the capture's first packet, before any other event
    /// (`frame.time_relative` counts from it).
    CaptureStart(Timestamp),
    /// A finding about the capture rather than a connection (a malformed
    /// packet, a cap).
    CaptureAnomaly(&'a CaptureAnomaly),
    /// The opening handshake got its response.
    Handshake(&'a Connection),
    /// The next decoded (unmasked, inflated) bytes of the data message in
    /// progress in `dir`; only for consumers that [`Wants::payloads`].
    /// Chunks stop at the first capture gap (the message is then
    /// `complete: false`); the message's [`Event::Message`] follows its
    /// last chunk.
    Payload {
        /// The connection.
        conn: &'a Connection,
        /// Its direction.
        dir: Direction,
        /// The bytes.
        chunk: &'a [u8],
    },
    /// A data message completed; `index` is its position among the
    /// connection's messages (both directions, in order of completion).
    Message {
        /// The connection.
        conn: &'a Connection,
        /// Position among the connection's messages.
        index: usize,
        /// The record.
        message: Cow<'a, Message>,
        /// Where its payload is when its SHA-256 was left to the consumer
        /// ([`crate::ws::message::WsLimits::defer_digest`]): whoever keeps
        /// or writes the record settles it first.
        deferred: Option<Cow<'a, PendingDigest>>,
        /// The application records this message completed (issue 21), also
        /// sent as [`Event::App`] right after it: given here so that a
        /// filter on `app.*` can select the message as it streams.
        app: &'a [crate::model::app::AppRecord],
    },
    /// A control frame completed.
    Control {
        /// The connection.
        conn: &'a Connection,
        /// The frame.
        frame: Cow<'a, ControlFrame>,
    },
    /// A broken rule of the protocol.
    Violation {
        /// The connection.
        conn: &'a Connection,
        /// The finding.
        violation: Cow<'a, Violation>,
    },
    /// A limit of the capture or of the analysis (loss, snaplen, a cap).
    Anomaly {
        /// The connection.
        conn: &'a Connection,
        /// The finding.
        anomaly: Cow<'a, Anomaly>,
    },
    /// An application message (Socket.IO, MQTT, STOMP, GraphQL, JSON-RPC,
    /// OCPP …) named in the session's data messages; it follows the
    /// message that completed it.
    App {
        /// The session.
        conn: &'a Connection,
        /// The record (borrowed: the model copies what it keeps; records
        /// are few next to messages, and large).
        record: &'a AppRecord,
    },
    /// An application message carried in the body of an HTTP exchange
    /// (Engine.IO long-polling); it follows the body's last packet. The
    /// record is also in the exchange's `request_app` or `response_app`.
    HttpApp {
        /// The connection.
        conn: &'a Connection,
        /// The exchange's position in `conn.http_exchanges`.
        exchange: usize,
        /// The record.
        record: &'a AppRecord,
    },
    /// An application-layer finding (malformed, unanswered, incomplete …).
    AppFinding {
        /// The session.
        conn: &'a Connection,
        /// The finding.
        finding: &'a AppFinding,
    },
    /// The connection is finished: its record is whole (with the lists the
    /// model kept for it when the model built it).
    End(Ended<'a>),
}

/// A finished connection's record, lent or given (boxed: it is large, and
/// events are moved on every message).
#[derive(Debug, Clone)]
pub enum Ended<'a> {
    /// Borrowed: the model keeps it.
    Lent(&'a Connection),
    /// Given: nobody before kept it.
    Given(Box<Connection>),
}

impl Ended<'_> {
    /// The record, copied only when it was lent.
    pub fn into_owned(self) -> Connection {
        match self {
            Ended::Lent(c) => c.clone(),
            Ended::Given(c) => *c,
        }
    }
}

impl AsRef<Connection> for Ended<'_> {
    fn as_ref(&self) -> &Connection {
        match self {
            Ended::Lent(c) => c,
            Ended::Given(c) => c,
        }
    }
}

impl std::ops::Deref for Ended<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.as_ref()
    }
}

/// What a consumer asks of the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    /// [`Event::Payload`] chunks (costs a copy of every decoded byte; off
    /// unless asked).
    pub payloads: bool,
    /// The consumer keeps or ships data messages itself: it receives them
    /// owned, and the model does not keep them.
    pub takes_messages: bool,
}

impl Wants {
    /// What two consumers fed the same stream ask together.
    pub fn and(self, other: Wants) -> Wants {
        Wants {
            payloads: self.payloads || other.payloads,
            takes_messages: self.takes_messages || other.takes_messages,
        }
    }
}

/// Receives the events of one analysis.
pub trait Consumer {
    /// One event; [`ControlFlow::Break`] when the consumer can take
    /// nothing more (reading the capture may then stop).
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()>;

    /// What this consumer asks of the stream; asked once, before the first
    /// event.
    fn wants(&self) -> Wants {
        Wants::default()
    }

    /// No event for a while (a live capture's quiet moments): a consumer
    /// that batches its output makes what it holds visible now.
    fn idle(&mut self) {}
}

impl<C: Consumer + ?Sized> Consumer for &mut C {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        (**self).event(ev)
    }
    fn wants(&self) -> Wants {
        (**self).wants()
    }
    fn idle(&mut self) {
        (**self).idle()
    }
}

/// An optional consumer: `None` takes nothing and asks for nothing (a
/// plan's outputs that were not asked for).
impl<C: Consumer> Consumer for Option<C> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        match self {
            Some(c) => c.event(ev),
            None => ControlFlow::Continue(()),
        }
    }
    fn wants(&self) -> Wants {
        self.as_ref().map(Consumer::wants).unwrap_or_default()
    }
    fn idle(&mut self) {
        if let Some(c) = self {
            c.idle()
        }
    }
}

/// Discards events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Consumer for NullSink {
    fn event(&mut self, _: Event<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Two consumers fed one stream: `first` borrows every event, `second`
/// receives it as it came (owned when it came owned), so that one taker of
/// messages put second costs no copy. Breaks when both have broken;
/// a consumer that broke gets nothing more.
#[derive(Debug)]
pub struct Tee<A, B> {
    first: A,
    second: B,
    stopped: [bool; 2],
}

impl<A: Consumer, B: Consumer> Tee<A, B> {
    /// `first` and then `second` see every event.
    pub fn new(first: A, second: B) -> Self {
        Tee {
            first,
            second,
            stopped: [false; 2],
        }
    }

    /// The two consumers back.
    pub fn into_inner(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: Consumer, B: Consumer> Consumer for Tee<A, B> {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        if !self.stopped[0] {
            self.stopped[0] = self.first.event(ev.borrowed()).is_break();
        }
        if !self.stopped[1] {
            self.stopped[1] = self.second.event(ev).is_break();
        }
        if self.stopped.iter().all(|&s| s) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn wants(&self) -> Wants {
        self.first.wants().and(self.second.wants())
    }

    fn idle(&mut self) {
        self.first.idle();
        self.second.idle();
    }
}

impl<'a> Event<'a> {
    /// The same event, borrowing what this one owns.
    pub fn borrowed(&self) -> Event<'_> {
        match self {
            Event::CaptureStart(ts) => Event::CaptureStart(*ts),
            Event::CaptureAnomaly(a) => Event::CaptureAnomaly(a),
            Event::Handshake(c) => Event::Handshake(c),
            Event::Payload { conn, dir, chunk } => Event::Payload {
                conn,
                dir: *dir,
                chunk,
            },
            Event::Message {
                conn,
                index,
                message,
                deferred,
                app,
            } => Event::Message {
                conn,
                index: *index,
                message: Cow::Borrowed(message.as_ref()),
                deferred: deferred.as_deref().map(Cow::Borrowed),
                app,
            },
            Event::Control { conn, frame } => Event::Control {
                conn,
                frame: Cow::Borrowed(frame.as_ref()),
            },
            Event::Violation { conn, violation } => Event::Violation {
                conn,
                violation: Cow::Borrowed(violation.as_ref()),
            },
            Event::Anomaly { conn, anomaly } => Event::Anomaly {
                conn,
                anomaly: Cow::Borrowed(anomaly.as_ref()),
            },
            Event::App { conn, record } => Event::App { conn, record },
            Event::HttpApp {
                conn,
                exchange,
                record,
            } => Event::HttpApp {
                conn,
                exchange: *exchange,
                record,
            },
            Event::AppFinding { conn, finding } => Event::AppFinding { conn, finding },
            Event::End(c) => Event::End(Ended::Lent(c.as_ref())),
        }
    }

    /// The connection the event is about, if any.
    pub fn conn(&self) -> Option<&Connection> {
        match self {
            Event::CaptureStart(_) | Event::CaptureAnomaly(_) => None,
            Event::Handshake(conn)
            | Event::Payload { conn, .. }
            | Event::Message { conn, .. }
            | Event::Control { conn, .. }
            | Event::Violation { conn, .. }
            | Event::Anomaly { conn, .. }
            | Event::App { conn, .. }
            | Event::HttpApp { conn, .. }
            | Event::AppFinding { conn, .. } => Some(conn),
            Event::End(c) => Some(c.as_ref()),
        }
    }
}
