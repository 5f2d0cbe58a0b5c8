//! An HTTP/2 connection and the WebSocket sessions its streams carry
//! (RFC 8441): the glue between [`crate::h2::Connection`] (frames, HPACK)
//! and the WebSocket decoder, which runs on each extended CONNECT stream's
//! DATA bytes exactly as it runs on a TCP stream.
//!
//! Each session is a record of its own ([`Connection::stream_id`], the
//! parent's id); its events are about that record, so every consumer sees
//! it as it sees an HTTP/1.1 WebSocket connection. Other streams become
//! the parent's HTTP exchanges. The sessions' records are handed back
//! when the TCP connection ends ([`H2Sessions::take_sessions`]), when the
//! TCP facts they share with it are known.

use super::appglue::AppGlue;
use super::polling::Polling;
use super::session::{At, fan_out};
use super::{Consumer, Event, Limits};
use crate::app::eiopoll::PollRegistry;
use crate::capture::{PacketNo, Timestamp};
use crate::flow::{Direction, Role};
use crate::h2::connect::{
    ConnectProblem, connect_accepted, extended_connect, is_interim, request_summary,
    response_status,
};
use crate::h2::hpack::Field;
use crate::h2::{H2AnomalyKind, H2Event, H2EventKind, H2Limits, HeaderBlock};
use crate::http::handshake::Header;
use crate::http::{BodyEnd, CapturedBody};
use crate::model::{
    Anomaly, AnomalyKind, ConnStats, Connection, GoAway, H2Summary, HttpExchange, Protocol,
    StreamEnd, StreamReset, Transport, Violation, ViolationKind,
};
use crate::ws::WsStream;
use crate::ws::deflate::DeflateParams;
use crate::ws::message::{WsContext, WsEvent};
use crate::ws::pingwatch::PingWatch;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How HTTP/2 began on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Mode {
    /// TLS with ALPN `h2` (RFC 9113 §3.2).
    Tls,
    /// Cleartext, the client preface first (RFC 9113 §3.3).
    PriorKnowledge,
    /// HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2): stream 1 is the request
    /// that asked for it.
    Upgrade,
    /// Picked up after its start, without the preface: frames found by
    /// evidence, HPACK tables and streams opened before unknown.
    PickedUp,
    /// The client preface was seen but not the connection's start: prior
    /// knowledge, or an h2c upgrade whose HTTP/1.1 request and 101 were
    /// not captured (whose stream 1 the capture then never saw opened).
    StartNotCaptured,
}

impl H2Mode {
    fn name(self) -> &'static str {
        match self {
            H2Mode::Tls => "tls",
            H2Mode::PriorKnowledge => "prior_knowledge",
            H2Mode::Upgrade => "h2c_upgrade",
            H2Mode::StartNotCaptured => "start_not_captured",
            H2Mode::PickedUp => "picked_up_mid_stream",
        }
    }
}

/// Streams tracked per connection; beyond it a new stream is counted and
/// not followed (an anomaly says so once).
const MAX_STREAMS: usize = 4096;
/// Client DATA held per session until the server's answer decides whether
/// it is WebSocket (RFC 8441 §5 lets the client send right after its
/// CONNECT).
const MAX_HELD: usize = 256 << 10;
/// Header text kept per handshake.
const MAX_HEADER_TEXT: usize = 16 << 10;

/// A WebSocket session on one stream.
#[derive(Debug)]
struct WsSession {
    record: Connection,
    /// Per direction (c2s, s2c), once the server accepted.
    ws: [Option<WsStream>; 2],
    pings: PingWatch,
    /// Client DATA before the answer: bytes, first and last packet, time.
    held: Vec<(Vec<u8>, PacketNo, PacketNo, Timestamp)>,
    held_bytes: usize,
    /// The answer was a final status other than 2xx.
    refused: bool,
    /// Last packet counted in `record.packets`.
    last_counted: Option<PacketNo>,
    scratch: Vec<WsEvent>,
    app: Option<Box<AppGlue>>,
}

/// What a stream is.
#[derive(Debug)]
enum Stream {
    /// An ordinary request: its exchange in the parent's list.
    Http(usize),
    /// An RFC 8441 session.
    Ws(Box<WsSession>),
}

/// The HTTP/2 state of one TCP connection.
#[derive(Debug)]
pub struct H2Sessions {
    h2: crate::h2::Connection,
    mode: H2Mode,
    streams: HashMap<u32, Stream>,
    /// Sessions whose records wait for the connection's end, in order of
    /// stream id.
    summary: H2Summary,
    limits: Limits,
    /// The HTTP/1.1 request that asked for `h2c` (stream 1).
    upgrade_request: Option<(String, String, PacketNo, Timestamp)>,
    cap_reported: bool,
    /// Engine.IO long-polling bodies of the HTTP exchanges (see
    /// `analysis::polling`), made at the first polling exchange.
    polling: Option<Box<Polling>>,
    poll_registry: Option<Arc<Mutex<PollRegistry>>>,
    /// Polling bodies in progress, by direction and stream.
    bodies: HashMap<(Direction, u32), H2Body>,
}

/// A long-polling body in progress on a stream: its DATA, up to the cap.
#[derive(Debug, Default)]
struct H2Body {
    buf: Vec<u8>,
    len: u64,
    first_packet: u64,
    /// Let go under the memory cap across connections.
    shed: bool,
}

/// A header list's regular fields as HTTP/1.1-style headers (for the
/// content coding of a body).
fn plain_headers(fields: &[Field]) -> Vec<Header> {
    fields
        .iter()
        .filter(|f| !f.name.starts_with(b":"))
        .map(|f| Header {
            name: String::from_utf8_lossy(&f.name).into_owned(),
            value: String::from_utf8_lossy(&f.value).into_owned(),
        })
        .collect()
}

impl H2Sessions {
    /// HTTP/2 starting in `mode`; `http2_settings` is the `HTTP2-Settings`
    /// header of an h2c upgrade request.
    pub fn new(mode: H2Mode, limits: Limits, http2_settings: Option<&[u8]>) -> Self {
        let h2_limits = H2Limits::default();
        let h2 = match mode {
            H2Mode::Upgrade => crate::h2::Connection::h2c_upgrade(h2_limits, http2_settings),
            H2Mode::PickedUp => crate::h2::Connection::mid_stream(h2_limits),
            _ => crate::h2::Connection::new(h2_limits),
        };
        H2Sessions {
            h2,
            mode,
            streams: HashMap::new(),
            summary: H2Summary {
                mode: mode.name().into(),
                ..H2Summary::default()
            },
            limits,
            upgrade_request: None,
            cap_reported: false,
            polling: None,
            poll_registry: None,
            bodies: HashMap::new(),
        }
    }

    /// The HTTP/1.1 request that asked for the upgrade (method, target,
    /// its packet and time): stream 1's request (RFC 7540 §3.2).
    pub fn set_upgrade_request(
        &mut self,
        method: String,
        target: String,
        p: PacketNo,
        ts: Timestamp,
    ) {
        self.upgrade_request = Some((method, target, p, ts));
    }

    /// Bytes of one direction, in order.
    pub fn push(
        &mut self,
        dir: Direction,
        data: &[u8],
        at: At,
        parent: &mut Connection,
        sink: &mut dyn Consumer,
    ) {
        let mut evs = Vec::new();
        self.h2.push(dir, data, at.src, at.ts, &mut |e| evs.push(e));
        for e in evs {
            self.on_event(e, parent, sink);
        }
    }

    /// `len` bytes of `dir` were not captured.
    pub fn gap(
        &mut self,
        dir: Direction,
        len: u64,
        at: At,
        parent: &mut Connection,
        sink: &mut dyn Consumer,
    ) {
        let mut evs = Vec::new();
        self.h2.gap(dir, len, at.now, at.ts, &mut |e| evs.push(e));
        for e in evs {
            self.on_event(e, parent, sink);
        }
    }

    /// The analysis's Engine.IO sessions, for long-polling over HTTP/2.
    pub fn share_polling(&mut self, registry: Arc<Mutex<PollRegistry>>) {
        self.poll_registry = Some(registry);
    }

    /// Keeps the body `dir` sends on `stream` (exchange `idx`) when it is
    /// an Engine.IO long-polling payload; a HEADERS with END_STREAM has
    /// none (an empty body).
    #[allow(clippy::too_many_arguments)]
    fn poll_start(
        &mut self,
        dir: Direction,
        stream: u32,
        idx: usize,
        fields: &[Field],
        end_stream: bool,
        first_packet: PacketNo,
        ts: Timestamp,
        parent: &mut Connection,
        sink: &mut dyn Consumer,
    ) {
        let Some(x) = parent.http_exchanges.get(idx) else {
            return;
        };
        if crate::app::detect::polling_eio(&x.target).is_none() {
            return;
        }
        if self.polling.is_none() {
            let registry = self.poll_registry.clone().unwrap_or_else(|| {
                Arc::new(Mutex::new(PollRegistry::new(
                    crate::app::AppLimits::default(),
                    crate::app::eiopoll::MAX_POLL_SESSIONS,
                )))
            });
            self.polling =
                Polling::new(self.limits.app, crate::app::AppLimits::default(), registry)
                    .map(Box::new);
        }
        let Some(poll) = self.polling.as_mut() else {
            return;
        };
        let headers = plain_headers(fields);
        if !poll.wants((dir, stream), idx, x, &headers) {
            return;
        }
        if end_stream {
            let body = CapturedBody {
                bytes: Vec::new(),
                len: 0,
                end: BodyEnd::Complete,
                first_packet: first_packet.0,
            };
            poll.body(parent, (dir, stream), body, first_packet, ts, sink);
        } else {
            self.bodies.insert((dir, stream), H2Body::default());
        }
    }

    /// A polling body on `stream` ended (`end`: how); `packet`/`ts` of its
    /// last frame.
    #[allow(clippy::too_many_arguments)]
    fn poll_end(
        &mut self,
        dir: Direction,
        stream: u32,
        end: BodyEnd,
        packet: PacketNo,
        ts: Timestamp,
        parent: &mut Connection,
        sink: &mut dyn Consumer,
    ) {
        let (Some(b), Some(poll)) = (self.bodies.remove(&(dir, stream)), self.polling.as_mut())
        else {
            return;
        };
        let over = b.len > poll.max_body() as u64;
        let end = match end {
            BodyEnd::Complete if over => BodyEnd::OverCap,
            BodyEnd::Complete if b.shed => BodyEnd::Shed,
            e => e,
        };
        let body = CapturedBody {
            bytes: if end == BodyEnd::Complete {
                b.buf
            } else {
                Vec::new()
            },
            len: b.len,
            end,
            first_packet: b.first_packet,
        };
        poll.body(parent, (dir, stream), body, packet, ts, sink);
    }

    /// Bytes of long-polling bodies held now.
    pub fn kept_bytes(&self) -> usize {
        self.bodies.values().map(|b| b.buf.capacity()).sum()
    }

    /// Lets the long-polling bodies in progress go (a memory cap): each
    /// ends as [`BodyEnd::Shed`].
    pub fn shed_kept(&mut self) {
        for b in self.bodies.values_mut() {
            b.shed = true;
            b.buf = Vec::new();
        }
    }

    /// DATA of a stream whose polling body is kept.
    fn poll_data(&mut self, dir: Direction, stream: u32, bytes: &[u8], first_packet: PacketNo) {
        let (Some(b), Some(poll)) = (self.bodies.get_mut(&(dir, stream)), self.polling.as_ref())
        else {
            return;
        };
        if b.len == 0 {
            b.first_packet = first_packet.0;
        }
        b.len = b.len.saturating_add(bytes.len() as u64);
        if b.len <= poll.max_body() as u64 && !b.shed {
            b.buf.extend_from_slice(bytes);
        } else {
            b.buf = Vec::new();
        }
    }

    /// The connection ended: what is held is reported, the sessions end.
    pub fn finish(
        &mut self,
        now: PacketNo,
        ts: Timestamp,
        parent: &mut Connection,
        sink: &mut dyn Consumer,
    ) {
        let mut evs = Vec::new();
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            self.h2.finish(dir, now, ts, &mut |e| evs.push(e));
        }
        for e in evs {
            self.on_event(e, parent, sink);
        }
        // Polling bodies the capture did not see end.
        let mut open: Vec<(Direction, u32)> = self.bodies.keys().copied().collect();
        open.sort_by_key(|&(d, st)| (st, d == Direction::ServerToClient));
        for (d, st) in open {
            self.poll_end(d, st, BodyEnd::Unfinished, now, ts, parent, sink);
        }
        for s in self.streams.values_mut() {
            if let Stream::Ws(w) = s {
                if let Some(app) = w.app.as_mut() {
                    app.finish(&mut w.record, sink);
                }
                let e = w.record.stream_end.get_or_insert_with(StreamEnd::default);
                let closed_both = e.client_end_stream.is_some() && e.server_end_stream.is_some();
                if !closed_both && e.reset.is_none() {
                    e.open_at_end = true;
                }
            }
        }
        self.summary.frames = [
            self.h2.frame_counts(Direction::ClientToServer).0,
            self.h2.frame_counts(Direction::ServerToClient).0,
        ];
        parent.h2 = Some(self.summary.clone());
        parent.protocol = Protocol::Http2;
    }

    /// The sessions' records, in stream order, given the TCP facts of
    /// their connection.
    pub fn take_sessions(&mut self, parent: &Connection) -> Vec<Connection> {
        let mut ids: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| matches!(s, Stream::Ws(_)))
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| match self.streams.remove(&id) {
                Some(Stream::Ws(w)) => Some(w.record),
                _ => None,
            })
            .map(|mut r| {
                r.tcp_end = parent.tcp_end;
                r.tcp_detail = parent.tcp_detail.clone();
                r.client = parent.client;
                r.server = parent.server;
                r.tls = None;
                r.encapsulation = parent.encapsulation.clone();
                let hs = &r.handshake;
                let accepted = hs.status.is_some_and(connect_accepted);
                r.is_websocket = accepted || r.stats.c2s.frames + r.stats.s2c.frames > 0;
                r.protocol = if r.is_websocket {
                    Protocol::Websocket
                } else {
                    Protocol::Http
                };
                r
            })
            .collect()
    }

    fn on_event(&mut self, e: H2Event, parent: &mut Connection, sink: &mut dyn Consumer) {
        let H2Event {
            dir,
            first_packet,
            packet,
            ts,
            kind,
        } = e;
        match kind {
            H2EventKind::Settings { ack: false, .. } if dir == Direction::ServerToClient => {
                self.summary.enable_connect_protocol = self.h2.server_connect_protocol();
            }
            H2EventKind::Headers {
                stream,
                end_stream,
                block,
                ..
            } => {
                self.headers(
                    dir,
                    stream.0,
                    end_stream,
                    &block,
                    first_packet,
                    packet,
                    ts,
                    parent,
                    sink,
                );
            }
            H2EventKind::Data {
                stream,
                bytes,
                end_stream,
                ..
            } => {
                if let Some(Stream::Ws(w)) = self.streams.get_mut(&stream.0) {
                    let at = At {
                        src: first_packet,
                        now: packet,
                        ts,
                    };
                    w.data(dir, &bytes, at, sink);
                    if end_stream {
                        w.end_stream(dir, packet);
                    }
                } else if self.bodies.contains_key(&(dir, stream.0)) {
                    self.poll_data(dir, stream.0, &bytes, first_packet);
                    if end_stream {
                        self.poll_end(dir, stream.0, BodyEnd::Complete, packet, ts, parent, sink);
                    }
                }
            }
            H2EventKind::DataGap { stream, len } => {
                if let Some(Stream::Ws(w)) = self.streams.get_mut(&stream.0) {
                    w.gap(dir, len, packet, ts, sink);
                }
                self.poll_end(dir, stream.0, BodyEnd::Gap, packet, ts, parent, sink);
            }
            H2EventKind::RstStream { stream, code } => {
                for d in [Direction::ClientToServer, Direction::ServerToClient] {
                    self.poll_end(d, stream.0, BodyEnd::Unfinished, packet, ts, parent, sink);
                }
                if let Some(Stream::Ws(w)) = self.streams.get_mut(&stream.0) {
                    w.count(packet, ts);
                    let end = w.record.stream_end.get_or_insert_with(StreamEnd::default);
                    if end.reset.is_none() {
                        end.reset = Some(StreamReset {
                            by: dir.sender(),
                            code: code.to_string(),
                            packet,
                        });
                    }
                }
            }
            H2EventKind::GoAway {
                last_stream, code, ..
            } => {
                self.summary.goaway.push(GoAway {
                    by: dir.sender(),
                    last_stream: last_stream.0,
                    code: code.to_string(),
                    packet,
                });
                for (&id, s) in &mut self.streams {
                    if let Stream::Ws(w) = s
                        && id > last_stream.0
                    {
                        let end = w.record.stream_end.get_or_insert_with(StreamEnd::default);
                        end.goaway.get_or_insert(packet);
                    }
                }
            }
            H2EventKind::PushPromise { .. }
            | H2EventKind::Preface
            | H2EventKind::Settings { .. }
            | H2EventKind::Ping { .. }
            | H2EventKind::WindowUpdate { .. }
            | H2EventKind::Priority { .. }
            | H2EventKind::UnknownFrame { .. } => {}
            // Without the connection's start, a stream the server answers
            // may have been opened before the capture (RFC 7540 §3.2:
            // the h2c upgrade's request is stream 1): not a peer's fault.
            H2EventKind::Violation(v)
                if matches!(self.mode, H2Mode::StartNotCaptured | H2Mode::PickedUp)
                    && v.kind == crate::h2::H2ViolationKind::FrameOnIdleStream => {}
            H2EventKind::Violation(v) => {
                let kind = match v.kind {
                    crate::h2::H2ViolationKind::Hpack(_) => ViolationKind::Hpack,
                    _ => ViolationKind::Http2,
                };
                let violation = Violation {
                    kind,
                    dir: Some(dir),
                    packet,
                    ts,
                    detail: format!("{}: {}", v.kind.rfc(), v.detail),
                };
                let _ = sink.event(Event::Violation {
                    conn: parent,
                    violation: Cow::Owned(violation),
                });
            }
            H2EventKind::Anomaly(a) => {
                let kind = match a.kind {
                    H2AnomalyKind::LostSync => AnomalyKind::LostSync,
                    H2AnomalyKind::Loss => AnomalyKind::Loss,
                    H2AnomalyKind::Undecodable => AnomalyKind::Undecodable,
                    H2AnomalyKind::CapReached => AnomalyKind::CapReached,
                };
                let anomaly = Anomaly {
                    kind,
                    dir: Some(dir),
                    packet,
                    ts,
                    detail: format!("HTTP/2: {}", a.detail),
                };
                let _ = sink.event(Event::Anomaly {
                    conn: parent,
                    anomaly: Cow::Owned(anomaly),
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn headers(
        &mut self,
        dir: Direction,
        stream: u32,
        end_stream: bool,
        block: &HeaderBlock,
        first_packet: PacketNo,
        packet: PacketNo,
        ts: Timestamp,
        parent: &mut Connection,
        sink: &mut dyn Consumer,
    ) {
        let fields = &block.decoded.fields;
        if end_stream && self.bodies.contains_key(&(dir, stream)) {
            // Trailers end a kept body (RFC 9113 §8.1).
            self.poll_end(dir, stream, BodyEnd::Complete, packet, ts, parent, sink);
        }
        if dir == Direction::ClientToServer {
            if self.streams.contains_key(&stream) {
                // Trailers, or a second block: the end of the request.
                if end_stream && let Some(Stream::Ws(w)) = self.streams.get_mut(&stream) {
                    w.end_stream(dir, packet);
                }
                return;
            }
            self.summary.streams += 1;
            if self.streams.len() >= MAX_STREAMS {
                if !self.cap_reported {
                    self.cap_reported = true;
                    let anomaly = Anomaly {
                        kind: AnomalyKind::CapReached,
                        dir: Some(dir),
                        packet,
                        ts,
                        detail: format!(
                            "more than {MAX_STREAMS} HTTP/2 streams: later streams are counted, not followed"
                        ),
                    };
                    let _ = sink.event(Event::Anomaly {
                        conn: parent,
                        anomaly: Cow::Owned(anomaly),
                    });
                }
                return;
            }
            let server_enabled = self.h2.server_connect_protocol();
            let entry = match extended_connect(fields, server_enabled) {
                Some(ec) if ec.protocol.eq_ignore_ascii_case(b"websocket") => {
                    self.summary.websocket_sessions += 1;
                    let w = WsSession::open(
                        parent,
                        stream,
                        fields,
                        &ec,
                        first_packet,
                        packet,
                        ts,
                        block.complete(),
                    );
                    let mut w = Box::new(w);
                    for p in &ec.problems {
                        let (kind, detail) = match p {
                            ConnectProblem::ProtocolNotEnabled => (
                                ViolationKind::ConnectProtocolNotEnabled,
                                format!(
                                    "stream {stream}: extended CONNECT (:protocol websocket) though the server's SETTINGS_ENABLE_CONNECT_PROTOCOL is {}",
                                    server_enabled.unwrap_or(0)
                                ),
                            ),
                            ConnectProblem::MissingSchemeOrPath => (
                                ViolationKind::BadExtendedConnect,
                                format!(
                                    "stream {stream}: extended CONNECT without :scheme or :path"
                                ),
                            ),
                            ConnectProblem::SecWebSocketKey => (
                                ViolationKind::WebSocketKeyOverHttp2,
                                format!("stream {stream}: Sec-WebSocket-Key sent over HTTP/2"),
                            ),
                            ConnectProblem::ConnectionSpecific(name) => (
                                ViolationKind::ConnectionSpecificField,
                                format!(
                                    "stream {stream}: connection-specific field `{}` in an HTTP/2 request",
                                    String::from_utf8_lossy(name)
                                ),
                            ),
                        };
                        w.violation(kind, Some(dir), packet, ts, detail, sink);
                    }
                    if end_stream {
                        w.end_stream(dir, packet);
                    }
                    Stream::Ws(w)
                }
                _ => {
                    let r = request_summary(fields);
                    let text = |v: Option<Vec<u8>>| {
                        v.map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default()
                    };
                    parent.http_exchanges.push(HttpExchange {
                        method: text(r.method),
                        target: text(r.path),
                        upgrade: false,
                        status: None,
                        request_packet: first_packet,
                        response_packet: None,
                        request_complete: block.complete(),
                        response_complete: false,
                        request_ts: ts,
                        response_ts: None,
                        request_app: Vec::new(),
                        response_app: Vec::new(),
                    });
                    Stream::Http(parent.http_exchanges.len() - 1)
                }
            };
            let http = match entry {
                Stream::Http(i) => Some(i),
                _ => None,
            };
            self.streams.insert(stream, entry);
            if let Some(i) = http {
                self.poll_start(
                    dir,
                    stream,
                    i,
                    fields,
                    end_stream,
                    first_packet,
                    ts,
                    parent,
                    sink,
                );
            }
            return;
        }
        // The server's answer.
        if !self.streams.contains_key(&stream)
            && stream == 1
            && self.mode == H2Mode::Upgrade
            && let Some((method, target, p, t)) = self.upgrade_request.take()
        {
            parent.http_exchanges.push(HttpExchange {
                method,
                target,
                upgrade: false,
                status: None,
                request_packet: p,
                response_packet: None,
                request_complete: true,
                response_complete: false,
                request_ts: t,
                response_ts: None,
                request_app: Vec::new(),
                response_app: Vec::new(),
            });
            self.streams
                .insert(1, Stream::Http(parent.http_exchanges.len() - 1));
        }
        let status = response_status(fields);
        match self.streams.get_mut(&stream) {
            Some(Stream::Http(i)) => {
                let i = *i;
                if let Some(x) = parent.http_exchanges.get_mut(i)
                    && let Some(s) = status
                    && (x.status.is_none() || x.status.is_some_and(is_interim))
                {
                    x.status = Some(s);
                    x.response_packet = Some(first_packet);
                    x.response_complete = block.complete();
                    x.response_ts = Some(ts);
                    if !is_interim(s) {
                        self.poll_start(
                            dir,
                            stream,
                            i,
                            fields,
                            end_stream,
                            first_packet,
                            ts,
                            parent,
                            sink,
                        );
                    }
                }
            }
            Some(Stream::Ws(w)) => {
                if let Some(s) = status
                    && w.record.handshake.status.is_none_or(is_interim)
                {
                    w.answer(
                        s,
                        fields,
                        first_packet,
                        packet,
                        ts,
                        block.complete(),
                        &self.limits,
                        sink,
                    );
                }
                if end_stream {
                    w.end_stream(dir, packet);
                }
            }
            _ => {}
        }
    }
}

/// Joins header text for the handshake record, bounded.
fn headers_of(fields: &[Field]) -> Vec<Header> {
    let mut left = MAX_HEADER_TEXT;
    let mut out = Vec::new();
    for f in fields {
        let n = f.name.len() + f.value.len();
        if n > left {
            break;
        }
        left -= n;
        out.push(Header {
            name: String::from_utf8_lossy(&f.name).into_owned(),
            value: String::from_utf8_lossy(&f.value).into_owned(),
        });
    }
    out
}

fn text(v: &Option<Vec<u8>>) -> Option<String> {
    v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
}

fn field(fields: &[Field], name: &[u8]) -> Option<String> {
    let values: Vec<String> = fields
        .iter()
        .filter(|f| f.name == name)
        .map(|f| String::from_utf8_lossy(&f.value).trim().to_string())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

impl WsSession {
    #[allow(clippy::too_many_arguments)]
    fn open(
        parent: &Connection,
        stream: u32,
        fields: &[Field],
        ec: &crate::h2::connect::ExtendedConnect,
        first_packet: PacketNo,
        packet: PacketNo,
        ts: Timestamp,
        complete: bool,
    ) -> Self {
        let mut record = parent.clone();
        record.stream_id = Some(stream);
        record.transport = Some(Transport::H2);
        record.protocol = Protocol::Websocket;
        record.messages = Vec::new();
        record.control = Vec::new();
        record.violations = Vec::new();
        record.violation_details = Vec::new();
        record.anomalies = Vec::new();
        record.http_exchanges = Vec::new();
        record.tcp_events = Vec::new();
        record.tls = None;
        record.h2 = None;
        record.upgraded_to = None;
        record.app_protocol = None;
        record.app_messages = Vec::new();
        record.app_findings = Vec::new();
        record.close_initiator = None;
        record.is_websocket = false;
        record.stats = ConnStats::default();
        record.first_packet = first_packet;
        record.last_packet = packet;
        record.start_ts = ts;
        record.end_ts = ts;
        record.packets = 0;
        let hs = &mut record.handshake;
        *hs = Default::default();
        hs.seen = true;
        hs.request_target = text(&ec.path);
        hs.sec_websocket_key = field(fields, b"sec-websocket-key");
        hs.sec_websocket_version = text(&ec.ws_version);
        hs.offered_subprotocols = text(&ec.ws_protocol);
        hs.offered_extensions = text(&ec.ws_extensions);
        hs.request_complete = complete;
        hs.request_packet = Some(first_packet);
        hs.request_headers = headers_of(fields);
        let mut w = WsSession {
            record,
            ws: [None, None],
            pings: PingWatch::default(),
            held: Vec::new(),
            held_bytes: 0,
            refused: false,
            last_counted: None,
            scratch: Vec::new(),
            app: None,
        };
        w.count(first_packet, ts);
        w.count(packet, ts);
        w
    }

    /// Counts a packet that carried bytes of the session.
    fn count(&mut self, p: PacketNo, ts: Timestamp) {
        if self.last_counted != Some(p) {
            self.last_counted = Some(p);
            self.record.packets += 1;
        }
        if p > self.record.last_packet {
            self.record.last_packet = p;
        }
        if ts > self.record.end_ts {
            self.record.end_ts = ts;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        status: u16,
        fields: &[Field],
        first_packet: PacketNo,
        packet: PacketNo,
        ts: Timestamp,
        complete: bool,
        limits: &Limits,
        sink: &mut dyn Consumer,
    ) {
        self.count(first_packet, ts);
        self.count(packet, ts);
        let hs = &mut self.record.handshake;
        hs.status = Some(status);
        hs.response_packet = Some(first_packet);
        hs.response_complete = complete;
        hs.subprotocol = field(fields, b"sec-websocket-protocol");
        hs.extensions = field(fields, b"sec-websocket-extensions");
        hs.response_headers = headers_of(fields);
        if is_interim(status) {
            return;
        }
        let _ = sink.event(Event::Handshake(&self.record));
        if !connect_accepted(status) {
            self.refused = true;
            self.held.clear();
            self.held_bytes = 0;
            return;
        }
        let ctx = WsContext {
            handshake_seen: complete,
            deflate: self
                .record
                .handshake
                .extensions
                .as_deref()
                .and_then(DeflateParams::from_extensions),
        };
        self.app = AppGlue::new(&self.record, limits.app).map(Box::new);
        let mut ws_limits = limits.ws;
        ws_limits.emit_payload |= self.app.as_ref().is_some_and(|a| a.wants_payloads());
        self.ws = [
            Some(WsStream::new(Direction::ClientToServer, ctx, ws_limits)),
            Some(WsStream::new(Direction::ServerToClient, ctx, ws_limits)),
        ];
        for (bytes, src, now, ts) in std::mem::take(&mut self.held) {
            self.held_bytes = 0;
            let at = At { src, now, ts };
            self.feed(Direction::ClientToServer, &bytes, at, sink);
        }
    }

    fn data(&mut self, dir: Direction, bytes: &[u8], at: At, sink: &mut dyn Consumer) {
        self.count(at.src, at.ts);
        self.count(at.now, at.ts);
        if bytes.is_empty() {
            return;
        }
        if self.ws[0].is_some() {
            return self.feed(dir, bytes, at, sink);
        }
        if self.refused || dir == Direction::ServerToClient {
            let detail = format!(
                "stream {}: {} bytes of data {} on a stream the server did not accept with a 2xx",
                self.record.stream_id.unwrap_or(0),
                bytes.len(),
                dir.arrow()
            );
            self.violation(
                ViolationKind::DataWithoutAcceptance,
                Some(dir),
                at.now,
                at.ts,
                detail,
                sink,
            );
            return;
        }
        if self.held_bytes + bytes.len() <= MAX_HELD {
            self.held_bytes += bytes.len();
            self.held.push((bytes.to_vec(), at.src, at.now, at.ts));
        }
    }

    fn feed(&mut self, dir: Direction, bytes: &[u8], at: At, sink: &mut dyn Consumer) {
        let i = usize::from(dir == Direction::ServerToClient);
        let Some(ws) = self.ws[i].as_mut() else {
            return;
        };
        let mut evs = std::mem::take(&mut self.scratch);
        ws.data(bytes, at.src, at.now, at.ts, &mut |e| evs.push(e));
        fan_out(
            &mut self.record,
            &mut self.pings,
            self.app.as_deref_mut(),
            at.ts,
            &mut evs,
            sink,
        );
        self.scratch = evs;
    }

    fn gap(
        &mut self,
        dir: Direction,
        len: u64,
        now: PacketNo,
        ts: Timestamp,
        sink: &mut dyn Consumer,
    ) {
        self.count(now, ts);
        self.record.stats.dir_mut(dir).missing_bytes += len;
        let i = usize::from(dir == Direction::ServerToClient);
        let Some(ws) = self.ws[i].as_mut() else {
            return;
        };
        let mut evs = std::mem::take(&mut self.scratch);
        ws.gap(len, now, ts, &mut |e| evs.push(e));
        fan_out(
            &mut self.record,
            &mut self.pings,
            self.app.as_deref_mut(),
            ts,
            &mut evs,
            sink,
        );
        self.scratch = evs;
    }

    fn end_stream(&mut self, dir: Direction, packet: PacketNo) {
        let end = self
            .record
            .stream_end
            .get_or_insert_with(StreamEnd::default);
        let slot = match dir.sender() {
            Role::Client => &mut end.client_end_stream,
            Role::Server => &mut end.server_end_stream,
        };
        slot.get_or_insert(packet);
    }

    fn violation(
        &mut self,
        kind: ViolationKind,
        dir: Option<Direction>,
        packet: PacketNo,
        ts: Timestamp,
        detail: String,
        sink: &mut dyn Consumer,
    ) {
        let violation = Violation {
            kind,
            dir,
            packet,
            ts,
            detail,
        };
        let _ = sink.event(Event::Violation {
            conn: &self.record,
            violation: Cow::Owned(violation),
        });
    }
}
