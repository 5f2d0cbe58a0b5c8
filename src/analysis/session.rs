//! The per-connection application state machine: HTTP → WebSocket.
//!
//! ```text
//!   each side:  Detect ──"GET …"/"HTTP/1."──► Http ──upgrade request──► AwaitResponse
//!                 │                           ▲  │                        │   │
//!                 │ plausible frame header     │  └──101 (server side)──┐ │   │ non-101: replay held bytes
//!                 ▼ (mid-stream pickup)        └───────────────────────┼─┼───┘
//!                 Ws ◄──────────────────────────────────────────────────┴─┘ 101: replay held bytes
//!                 (anything else) ──► Unknown(n): detection retried on the next
//!                                     pieces (a capture may start inside a frame
//!                                     or a body), then given up
//! ```
//!
//! A side whose first bytes are just `H` (the start of `HEAD ` and of
//! `HTTP/1.`) is held in `Sniff` until its next bytes decide.
//!
//! A connection whose first bytes are a TLS record goes through
//! [`TlsConnection`] first: the same machine then runs on the decrypted
//! application data, with each record's first and last packet as the
//! bytes' provenance.
//!
//! Bytes after the 101 response in the same segment belong to the frame
//! decoder (the "tail" of the handshake). Client bytes sent after an
//! upgrade request are held (bounded) until the response says whether they
//! are frames or another HTTP request.

use super::model::{Connection, HttpExchange, Protocol, TlsNote, TlsSummary};
use super::{EventSink, Limits, SinkEvent};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::{Direction, Role, Side};
use crate::http::handshake::has_token;
use crate::http::{Head, HttpEvent, HttpParser, looks_like_request, looks_like_response};
use crate::tcp::Piece;
use crate::tls::{KeyLog, TlsConnection, TlsOutput};
use crate::violation::{Anomaly, AnomalyKind, Violation, ViolationKind};
use crate::ws::WsStream;
use crate::ws::deflate::DeflateParams;
use crate::ws::frame::{FrameHeader, Opcode};
use crate::ws::message::{ControlFrame, FrameInfo, Message, WsContext, WsEvent};
use crate::ws::pingwatch::PingWatch;
use std::collections::VecDeque;
use std::mem::size_of;
use std::net::SocketAddr;
use std::sync::Arc;

/// Events per piece whose vector is kept for the next piece.
const SCRATCH_EVENTS: usize = 16;

/// Bytes held on the client side while the upgrade response is awaited.
const MAX_HELD: usize = 1 << 20;

#[derive(Debug)]
enum Held {
    Data(Vec<u8>, PacketNo, PacketNo, Timestamp),
    Gap(u64, PacketNo, Timestamp),
}

#[derive(Debug)]
enum Phase {
    Detect,
    Http(HttpParser),
    AwaitResponse(HttpParser, Vec<Held>, usize),
    Ws(Box<WsStream>),
    /// The first bytes are a prefix of both a request and a status line
    /// (`H`: `HEAD ` or `HTTP/1.`); they are held with their provenance
    /// until the next bytes tell which.
    Sniff(Vec<u8>, At),
    /// Nothing recognised yet in this many pieces; detection is retried at
    /// the next pieces (a capture may start in the middle of a frame or a
    /// body), up to [`DETECT_ATTEMPTS`].
    Unknown(u8),
    Opaque,
}

/// Pieces of an unrecognised stream on which detection is tried.
const DETECT_ATTEMPTS: u8 = 16;

/// Where the bytes of one packet piece came from and when they completed.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// Packet that first carried the bytes.
    pub src: PacketNo,
    /// Packet that completed their in-order delivery.
    pub now: PacketNo,
    /// Its timestamp.
    pub ts: Timestamp,
}

/// Application-layer state of one connection.
#[derive(Debug)]
pub struct Session {
    /// TLS layer, when the connection starts with a TLS record (wss).
    tls: Option<Box<TlsConnection>>,
    keylog: Option<Arc<KeyLog>>,
    /// The client side, once known.
    pub client: Option<Side>,
    endpoints: [SocketAddr; 2],
    phases: [Phase; 2],
    /// The model record being filled.
    pub conn: Connection,
    /// Indexes of exchanges awaiting their response.
    pending: VecDeque<usize>,
    /// Exchange index of the upgrade request awaiting its response.
    upgrade_exchange: Option<usize>,
    ws_ctx: WsContext,
    limits: Limits,
    /// The last request head, to fill the handshake when a 101 answers a
    /// request whose Upgrade header was not captured.
    last_request: Option<(Head, PacketNo)>,
    tls_notes: Vec<TlsNote>,
    /// A 101 was delivered before the client's request head was complete in
    /// stream order (the capture saw the response first: cross-direction
    /// reordering or a retransmitted request). The client side stays HTTP
    /// until its request head ends, then switches to WebSocket.
    ws_after_request: bool,
    /// The WebSocket events of the piece being handled (reused).
    ws_scratch: Vec<WsEvent>,
    /// Pings awaiting their pong, across both directions.
    pings: PingWatch,
    /// Model memory this session may still fill (bytes, estimated); set by
    /// the analyzer before each call, which reads back what was spent.
    /// Records that do not fit are streamed to the sink but not kept.
    pub budget: u64,
    /// Records not kept for want of budget: messages, control frames,
    /// violations and anomalies.
    pub dropped: [u64; 3],
    /// Budget charged for the messages now in `conn.messages`, refunded
    /// when a sink takes them ([`super::EventSink::take_messages`]).
    pub kept_message_cost: u64,
}

/// Estimated memory of a kept message: the record and what it owns.
fn message_cost(m: &Message) -> u64 {
    let hex = [&m.captured_prefix_hex, &m.preview_hex]
        .iter()
        .map(|s| s.as_ref().map_or(0, String::len))
        .sum::<usize>();
    let frames = m.frame_headers.len() * (size_of::<FrameInfo>() + 16);
    (size_of::<Message>() + m.held_bytes() + hex + frames) as u64
}

/// A frame header that could start a WebSocket stream picked up mid-way.
fn plausible_frame(data: &[u8]) -> Option<bool> {
    let h = FrameHeader::parse(data).or_else(|| {
        // Too few bytes for the whole header: judge the first two.
        let (&b0, &b1) = (data.first()?, data.get(1)?);
        Some(FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: Opcode::from(b0),
            mask: (b1 & 0x80 != 0).then_some([0; 4]),
            payload_len: u64::from(b1 & 0x7f),
            length_format: crate::ws::frame::LengthFormat::Short,
            header_len: 2,
        })
    })?;
    let known = matches!(
        h.opcode,
        Opcode::Text
            | Opcode::Binary
            | Opcode::Continuation
            | Opcode::Close
            | Opcode::Ping
            | Opcode::Pong
    );
    let control_ok = !h.opcode.is_control() || (h.fin && h.payload_len <= 125);
    // An empty non-final fragment is legal but no library sends one; zero
    // bytes (common in binary protocols) would otherwise look like frames.
    let empty_fragment = !h.fin && h.payload_len == 0;
    (known
        && control_ok
        && !empty_fragment
        && h.rsv & 0b011 == 0
        && h.length_encoding_problem().is_none())
    .then_some(h.mask.is_some())
}

/// Bytes that could start a request as well as a response: detection
/// waits for more. Only a strict prefix of both `HEAD ` and `HTTP/1.`
/// qualifies, so at most one byte is ever held.
fn ambiguous_start(data: &[u8]) -> bool {
    looks_like_request(data) && looks_like_response(data)
}

/// The piece starts a run of plausible frames with one masking (client or
/// server); returns whether they are masked. Every frame that ends inside
/// the piece must be followed by another plausible header.
fn plausible_stream(data: &[u8]) -> Option<bool> {
    let mut rest = data;
    let mut masked = None;
    loop {
        let m = plausible_frame(rest)?;
        if *masked.get_or_insert(m) != m {
            return None;
        }
        let Some(h) = FrameHeader::parse(rest) else {
            return masked;
        };
        let total = u64::from(h.header_len).saturating_add(h.payload_len);
        if total >= rest.len() as u64 {
            return masked;
        }
        rest = &rest[total as usize..];
    }
}

impl Session {
    /// A session for a connection record.
    pub fn new(
        conn: Connection,
        endpoints: [SocketAddr; 2],
        client: Option<Side>,
        limits: Limits,
        keylog: Option<Arc<KeyLog>>,
    ) -> Self {
        let mut s = Session {
            tls: None,
            keylog,
            client: None,
            endpoints,
            phases: [Phase::Detect, Phase::Detect],
            conn,
            pending: VecDeque::new(),
            upgrade_exchange: None,
            ws_ctx: WsContext::default(),
            limits,
            last_request: None,
            tls_notes: Vec::new(),
            ws_after_request: false,
            ws_scratch: Vec::new(),
            pings: PingWatch::default(),
            budget: u64::MAX,
            dropped: [0; 3],
            kept_message_cost: 0,
        };
        if let Some(c) = client {
            s.set_client(c);
        }
        s
    }

    /// Direction in which `side` sends (client unknown: side 0 is taken as client).
    pub fn dir_of(&self, side: Side) -> Direction {
        match self.client {
            Some(c) if c == side => Direction::ClientToServer,
            Some(_) => Direction::ServerToClient,
            None if side.0 == 0 => Direction::ClientToServer,
            None => Direction::ServerToClient,
        }
    }

    fn set_client(&mut self, side: Side) {
        if self.client.is_none() {
            self.client = Some(side);
            self.conn.client = self.endpoints[side.idx()].to_string();
            self.conn.server = self.endpoints[side.other().idx()].to_string();
        }
    }

    /// True once HTTP or WebSocket was recognised.
    pub fn recognised(&self) -> bool {
        self.frames_seen_any() || self.conn.handshake.seen || !self.conn.http_exchanges.is_empty()
    }

    /// Feeds one in-order piece of `side`'s TCP stream.
    pub fn piece(&mut self, side: Side, piece: Piece<'_>, at: At, sink: &mut dyn EventSink) {
        if self.tls.is_none()
            && matches!(self.phases[side.idx()], Phase::Detect)
            && let Piece::Data(d) = &piece
            && TlsConnection::looks_like_tls(d)
        {
            self.start_tls(side, d);
        }
        if self.tls.is_some() {
            self.tls_piece(side, piece, at, sink);
        } else {
            self.app_piece(side, piece, at, sink);
        }
    }

    /// The connection is TLS: a ClientHello (handshake type 1) names the
    /// client, a ServerHello (2) the server.
    fn start_tls(&mut self, side: Side, first: &[u8]) {
        match first.get(5) {
            Some(1) => self.set_client(side),
            Some(2) => self.set_client(side.other()),
            _ => {}
        }
        self.tls = Some(Box::new(TlsConnection::new(self.keylog.clone())));
        self.conn.protocol = Protocol::Tls;
    }

    /// Decrypts and hands application data to the HTTP/WebSocket layers.
    /// Provenance is per TLS record: its first and last packet.
    fn tls_piece(&mut self, side: Side, piece: Piece<'_>, at: At, sink: &mut dyn EventSink) {
        let from_client = self.dir_of(side) == Direction::ClientToServer;
        let Some(tls) = self.tls.as_mut() else { return };
        let mut plain: Vec<(Vec<u8>, PacketNo, PacketNo)> = Vec::new();
        let notes = &mut self.tls_notes;
        match piece {
            Piece::Data(d) => tls.push(from_client, d, at.src, &mut |o| match o {
                TlsOutput::AppData {
                    data,
                    first_packet,
                    last_packet,
                    ..
                } => plain.push((data.to_vec(), first_packet, last_packet)),
                TlsOutput::Note {
                    from_client,
                    packet,
                    detail,
                } => notes.push(TlsNote {
                    dir: if from_client {
                        Direction::ClientToServer
                    } else {
                        Direction::ServerToClient
                    },
                    packet,
                    detail,
                }),
            }),
            Piece::Gap(n) => tls.gap(from_client, n),
        }
        for (data, first, last) in plain {
            self.app_piece(
                side,
                Piece::Data(&data),
                At {
                    src: first,
                    now: last,
                    ts: at.ts,
                },
                sink,
            );
        }
    }

    /// Feeds one in-order piece of the application stream (clear text, or
    /// decrypted TLS).
    fn app_piece(&mut self, side: Side, piece: Piece<'_>, at: At, sink: &mut dyn EventSink) {
        match piece {
            Piece::Data(d) => self.data(side, d, at, sink),
            Piece::Gap(n) => self.gap(side, n, at, sink),
        }
    }

    fn data(&mut self, side: Side, data: &[u8], at: At, sink: &mut dyn EventSink) {
        if data.is_empty() {
            return;
        }
        match self.phases[side.idx()] {
            Phase::Detect if ambiguous_start(data) => {
                self.phases[side.idx()] = Phase::Sniff(data.to_vec(), at);
                return;
            }
            Phase::Sniff(..) => return self.sniffed(side, data, at, sink),
            Phase::Detect => self.detect(side, data, 0),
            Phase::Unknown(n) if n < DETECT_ATTEMPTS => self.detect(side, data, n),
            _ => {}
        }
        if !looks_like_request(data) {
            self.ws_without_request(side);
        }
        let i = side.idx();
        match &mut self.phases[i] {
            Phase::Detect | Phase::Sniff(..) | Phase::Unknown(_) | Phase::Opaque => {}
            Phase::Ws(ws) => {
                let mut evs = std::mem::take(&mut self.ws_scratch);
                ws.data(data, at.src, at.now, at.ts, &mut |e| evs.push(e));
                self.ws_events(evs, sink);
            }
            Phase::AwaitResponse(_, held, bytes) => {
                if *bytes + data.len() <= MAX_HELD {
                    *bytes += data.len();
                    held.push(Held::Data(data.to_vec(), at.src, at.now, at.ts));
                }
            }
            Phase::Http(_) => self.http_data(side, data, at, sink),
        }
    }

    fn gap(&mut self, side: Side, len: u64, at: At, sink: &mut dyn EventSink) {
        self.ws_without_request(side);
        let dir = self.dir_of(side);
        self.conn.stats.dir_mut(dir).missing_bytes += len;
        let i = side.idx();
        match &mut self.phases[i] {
            // The held prefix cannot be completed: detection starts again.
            Phase::Sniff(..) => self.phases[i] = Phase::Detect,
            Phase::Detect | Phase::Unknown(_) | Phase::Opaque => {}
            Phase::Ws(ws) => {
                self.pings.gap(dir);
                let mut evs = std::mem::take(&mut self.ws_scratch);
                ws.gap(len, at.now, at.ts, &mut |e| evs.push(e));
                self.ws_events(evs, sink);
            }
            Phase::AwaitResponse(_, held, _) => held.push(Held::Gap(len, at.now, at.ts)),
            Phase::Http(p) => {
                if let Some(HttpEvent::Head(head, first)) = p.gap(len) {
                    self.on_head(side, head, PacketNo(first), at, sink);
                }
            }
        }
    }

    /// After an early 101 (see `ws_after_request`): when the client's next
    /// bytes do not start a request (its request was never captured), they
    /// are frames.
    fn ws_without_request(&mut self, side: Side) {
        if !self.ws_after_request || self.client != Some(side) {
            return;
        }
        if let Phase::Http(p) = &self.phases[side.idx()]
            && p.idle()
        {
            self.ws_after_request = false;
            self.phases[side.idx()] = Phase::Ws(Box::new(self.new_ws(side)));
        }
    }

    /// More bytes after an ambiguous start: the phase is chosen on both,
    /// then each is fed with its own provenance (the head's first packet is
    /// the one that carried the held bytes).
    fn sniffed(&mut self, side: Side, data: &[u8], at: At, sink: &mut dyn EventSink) {
        let i = side.idx();
        let Phase::Sniff(mut held, held_at) = std::mem::replace(&mut self.phases[i], Phase::Detect)
        else {
            return;
        };
        let probe_len = data.len().min(16);
        held.extend_from_slice(&data[..probe_len]);
        if ambiguous_start(&held) {
            held.truncate(held.len() - probe_len);
            held.extend_from_slice(data);
            self.phases[i] = Phase::Sniff(held, held_at);
            return;
        }
        self.detect(side, &held, 0);
        held.truncate(held.len() - probe_len);
        if matches!(self.phases[i], Phase::Unknown(_)) {
            return;
        }
        self.data(side, &held, held_at, sink);
        self.data(side, data, at, sink);
    }

    /// Chooses the phase of a side from its first bytes.
    fn detect(&mut self, side: Side, data: &[u8], attempts: u8) {
        let i = side.idx();
        let other = side.other().idx();
        let max = self.limits.max_header_bytes;
        if looks_like_request(data) {
            self.set_client(side);
            self.phases[i] = Phase::Http(HttpParser::new(true, max));
            if matches!(self.phases[other], Phase::Detect | Phase::Unknown(_)) {
                self.phases[other] = Phase::Http(HttpParser::new(false, max));
            }
        } else if looks_like_response(data) {
            self.set_client(side.other());
            self.phases[i] = Phase::Http(HttpParser::new(false, max));
            if matches!(self.phases[other], Phase::Detect | Phase::Unknown(_)) {
                self.phases[other] = Phase::Http(HttpParser::new(true, max));
            }
        } else if let Some(masked) = plausible_stream(data) {
            if masked {
                self.set_client(side);
            } else {
                self.set_client(side.other());
            }
            self.phases[i] = Phase::Ws(Box::new(self.new_ws(side)));
            if matches!(self.phases[other], Phase::Detect | Phase::Unknown(_)) {
                self.phases[other] = Phase::Ws(Box::new(self.new_ws(side.other())));
            }
        } else {
            self.phases[i] = Phase::Unknown(attempts + 1);
        }
    }

    fn new_ws(&self, side: Side) -> WsStream {
        WsStream::new(self.dir_of(side), self.ws_ctx, self.limits.ws)
    }

    fn http_data(&mut self, side: Side, mut data: &[u8], at: At, sink: &mut dyn EventSink) {
        while !data.is_empty() {
            let Phase::Http(p) = &mut self.phases[side.idx()] else {
                // The phase changed (upgrade): the rest goes to the new phase.
                self.data(side, data, at, sink);
                return;
            };
            let (used, ev) = p.push(data, at.src.0);
            data = &data[used.min(data.len())..];
            match ev {
                Some(HttpEvent::Head(head, first)) => {
                    self.on_head(side, head, PacketNo(first), at, sink)
                }
                Some(HttpEvent::Invalid(why)) => {
                    let dir = self.dir_of(side);
                    self.anomaly(AnomalyKind::BadHttp, Some(dir), at.now, why, sink);
                }
                None => {}
            }
            if used == 0 {
                break;
            }
        }
    }

    fn on_head(
        &mut self,
        side: Side,
        head: Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn EventSink,
    ) {
        if head.status.is_none() {
            self.on_request(side, head, first, at, sink);
        } else {
            self.on_response(side, head, first, at, sink);
        }
    }

    fn on_request(
        &mut self,
        side: Side,
        head: Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn EventSink,
    ) {
        let upgrade = has_token(&head.headers, "upgrade", "websocket");
        let idx = self.conn.http_exchanges.len();
        // Charged but always kept: exchanges are referred to by index.
        let cost = size_of::<HttpExchange>() + head.method.len() + head.target.len();
        self.budget = self.budget.saturating_sub(cost as u64);
        self.conn.http_exchanges.push(HttpExchange {
            method: head.method.clone(),
            target: head.target.clone(),
            upgrade,
            status: None,
            request_packet: first,
            request_ts: at.ts,
            response_ts: None,
            response_packet: None,
            request_complete: head.complete,
            response_complete: false,
        });
        self.pending.push_back(idx);
        if upgrade {
            self.conn
                .handshake
                .set_request(&head.target, &head.headers, head.complete, first.0);
            self.check_request(&head, first, sink);
        }
        let i = side.idx();
        if upgrade || !head.complete {
            // Wait for the response: the next bytes are frames after a 101
            // and HTTP otherwise.
            self.upgrade_exchange = Some(idx);
            if let Phase::Http(p) = std::mem::replace(&mut self.phases[i], Phase::Opaque) {
                self.phases[i] = Phase::AwaitResponse(p, Vec::new(), 0);
            }
        } else if let Phase::Http(p) = &mut self.phases[i] {
            p.expect_body(&head, None);
        }
        self.last_request = Some((head, first));
        if self.ws_after_request && self.client == Some(side) {
            self.late_request_completes_upgrade(side, idx, first, sink);
        }
    }

    /// RFC 6455 §4.2.2: the accept must be base64(SHA-1(key + GUID)); a
    /// wrong one is the server's violation (checked once both are known).
    fn check_accept(&mut self, first: PacketNo, sink: &mut dyn EventSink) {
        if self.conn.handshake.accept_valid == Some(false) {
            let detail = "Sec-WebSocket-Accept does not match Sec-WebSocket-Key".to_string();
            self.violation(
                ViolationKind::BadAccept,
                Some(Direction::ServerToClient),
                first,
                detail,
                sink,
            );
        }
    }

    /// The request whose 101 was already seen has ended: its exchange gets
    /// the response, the accept key is checked now, and the client's next
    /// bytes are frames.
    fn late_request_completes_upgrade(
        &mut self,
        side: Side,
        idx: usize,
        first: PacketNo,
        sink: &mut dyn EventSink,
    ) {
        self.ws_after_request = false;
        let hs = &self.conn.handshake;
        let (status, response) = (hs.status, hs.response_packet);
        if let Some(x) = self.conn.http_exchanges.get_mut(idx) {
            x.status = status;
            x.response_packet = response.map(PacketNo);
            x.response_complete = hs.response_complete;
        }
        self.pending.retain(|&p| p != idx);
        if self.upgrade_exchange == Some(idx) {
            self.upgrade_exchange = None;
        }
        self.check_accept(first, sink);
        self.phases[side.idx()] = Phase::Ws(Box::new(self.new_ws(side)));
    }

    fn check_request(&mut self, head: &Head, first: PacketNo, sink: &mut dyn EventSink) {
        if !head.complete {
            return;
        }
        let mut missing = Vec::new();
        if self.conn.handshake.sec_websocket_key.is_none() {
            missing.push("Sec-WebSocket-Key");
        }
        if !has_token(&head.headers, "connection", "upgrade") {
            missing.push("Connection: Upgrade");
        }
        if self
            .conn
            .handshake
            .sec_websocket_version
            .as_deref()
            .map(str::trim)
            != Some("13")
        {
            missing.push("Sec-WebSocket-Version: 13");
        }
        if !missing.is_empty() {
            let detail = format!("upgrade request lacks {}", missing.join(", "));
            self.violation(
                ViolationKind::BadUpgradeRequest,
                Some(Direction::ClientToServer),
                first,
                detail,
                sink,
            );
        }
    }

    fn on_response(
        &mut self,
        side: Side,
        head: Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn EventSink,
    ) {
        let status = head.status.unwrap_or(0);
        let idx = self.pending.pop_front();
        let method = idx
            .and_then(|i| self.conn.http_exchanges.get(i))
            .map(|x| x.method.clone());
        if let Some(x) = idx.and_then(|i| self.conn.http_exchanges.get_mut(i)) {
            x.status = Some(status);
            x.response_packet = Some(first);
            x.response_ts = Some(at.ts);
            x.response_complete = head.complete;
        }
        let answers_upgrade = idx.is_some() && idx == self.upgrade_exchange;
        let is_upgrade = answers_upgrade && self.conn.handshake.seen;
        if status == 101 || is_upgrade {
            if !self.conn.handshake.seen
                && let Some((req, req_first)) = self.last_request.clone()
            {
                self.conn.handshake.set_request(
                    &req.target,
                    &req.headers,
                    req.complete,
                    req_first.0,
                );
            }
            self.conn.handshake.set_response(
                status,
                &head.reason,
                &head.headers,
                head.complete,
                first.0,
            );
            sink.event(&self.conn, SinkEvent::Handshake(&self.conn.handshake));
        }
        if answers_upgrade {
            self.upgrade_exchange = None;
        }
        if status == 101 {
            // No HTTP follows on this connection: the request's copy goes.
            self.last_request = None;
            self.switch_to_ws(side, &head, first, sink);
            return;
        }
        if let Phase::Http(p) = &mut self.phases[side.idx()] {
            p.expect_body(&head, method.as_deref());
        }
        if answers_upgrade {
            self.release_held(side.other(), false, sink);
        }
    }

    fn switch_to_ws(
        &mut self,
        server: Side,
        head: &Head,
        first: PacketNo,
        sink: &mut dyn EventSink,
    ) {
        self.check_accept(first, sink);
        if head.complete
            && !(has_token(&head.headers, "upgrade", "websocket")
                && has_token(&head.headers, "connection", "upgrade"))
        {
            let detail =
                "101 response without Upgrade: websocket and Connection: Upgrade".to_string();
            self.violation(
                ViolationKind::BadUpgradeResponse,
                Some(Direction::ServerToClient),
                first,
                detail,
                sink,
            );
        }
        self.set_client(server.other());
        self.ws_ctx = WsContext {
            handshake_seen: head.complete,
            deflate: self
                .conn
                .handshake
                .extensions
                .as_deref()
                .and_then(DeflateParams::from_extensions),
        };
        self.phases[server.idx()] = Phase::Ws(Box::new(self.new_ws(server)));
        self.release_held(server.other(), true, sink);
    }

    /// Replays the client bytes held during the upgrade, as frames (`ws`)
    /// or as HTTP.
    fn release_held(&mut self, client: Side, ws: bool, sink: &mut dyn EventSink) {
        let i = client.idx();
        let phase = std::mem::replace(&mut self.phases[i], Phase::Opaque);
        let (parser, held) = match phase {
            Phase::AwaitResponse(p, held, _) => (p, held),
            // The request head is unfinished or not seen yet: wait for it.
            Phase::Http(p) if ws && (!p.idle() || self.conn.http_exchanges.is_empty()) => {
                self.phases[i] = Phase::Http(p);
                self.ws_after_request = true;
                return;
            }
            Phase::Http(p) if ws => (p, Vec::new()),
            other => {
                self.phases[i] = other;
                return;
            }
        };
        self.phases[i] = if ws {
            Phase::Ws(Box::new(self.new_ws(client)))
        } else {
            Phase::Http(parser)
        };
        for h in held {
            match h {
                Held::Data(d, src, now, ts) => self.data(client, &d, At { src, now, ts }, sink),
                Held::Gap(n, now, ts) => self.gap(client, n, At { src: now, now, ts }, sink),
            }
        }
    }

    /// Handles the events of one piece; `evs` is then kept, emptied, for
    /// the next piece (one allocation less per packet).
    fn ws_events(&mut self, mut evs: Vec<WsEvent>, sink: &mut dyn EventSink) {
        for e in evs.drain(..) {
            match e {
                WsEvent::Message(m) => {
                    let st = self.conn.stats.dir_mut(m.dir);
                    st.messages += 1;
                    st.frames += u64::from(m.frames);
                    st.payload_bytes += m.payload_len.unwrap_or(0);
                    st.wire_payload_bytes += m.wire_payload_len;
                    if let Some(p) = sink.payloads() {
                        p.message_end(self.conn.id, self.conn.messages.len(), &m);
                    }
                    let Some(m) = sink.message(&self.conn, m) else {
                        continue;
                    };
                    let cost = message_cost(&m);
                    if self.charge(cost, 0) {
                        self.kept_message_cost += cost.saturating_mul(2);
                        self.conn.messages.push(m);
                    }
                }
                WsEvent::Control(c) => {
                    let st = self.conn.stats.dir_mut(c.dir);
                    st.control_frames += 1;
                    st.frames += 1;
                    if c.opcode == Opcode::Close && self.conn.close_initiator.is_none() {
                        self.conn.close_initiator = Some(c.dir.sender());
                    }
                    let unanswered = self.pings.control(&c);
                    sink.event(&self.conn, SinkEvent::Control(&c));
                    let reason = c.close_reason.as_ref().map_or(0, String::len);
                    let cost = size_of::<ControlFrame>() + c.payload_hex.len() + reason + 16;
                    if self.charge(cost as u64, 1) {
                        self.conn.control.push(c);
                    }
                    if let Some(v) = unanswered {
                        let kind = ViolationKind::UnansweredPing;
                        self.violation(kind, Some(v.dir), v.packet, v.detail, sink);
                    }
                }
                WsEvent::Violation(v) => self.push_violation(v, sink),
                WsEvent::Anomaly(a) => self.push_anomaly(a, sink),
                WsEvent::Payload { dir, bytes } => {
                    if let Some(p) = sink.payloads() {
                        p.payload(self.conn.id, dir, &bytes);
                    }
                }
            }
        }
        // Not kept after a burst (a piece of thousands of tiny frames).
        if evs.capacity() <= SCRATCH_EVENTS {
            self.ws_scratch = evs;
        }
    }

    fn violation(
        &mut self,
        kind: ViolationKind,
        dir: Option<Direction>,
        packet: PacketNo,
        detail: String,
        sink: &mut dyn EventSink,
    ) {
        self.push_violation(
            Violation {
                kind,
                dir,
                packet,
                detail,
            },
            sink,
        );
    }

    fn push_violation(&mut self, v: Violation, sink: &mut dyn EventSink) {
        sink.event(&self.conn, SinkEvent::Violation(&v));
        let cost = size_of::<Violation>() + size_of::<String>() + 2 * v.detail.len();
        if self.charge(cost as u64, 2) {
            self.conn.violations.push(v.detail.clone());
            self.conn.violation_details.push(v);
        }
    }

    fn anomaly(
        &mut self,
        kind: AnomalyKind,
        dir: Option<Direction>,
        packet: PacketNo,
        detail: String,
        sink: &mut dyn EventSink,
    ) {
        self.push_anomaly(
            Anomaly {
                kind,
                dir,
                packet,
                detail,
            },
            sink,
        );
    }

    /// Records an anomaly (also used by the analyzer for TCP-level ones).
    pub fn push_anomaly(&mut self, a: Anomaly, sink: &mut dyn EventSink) {
        sink.event(&self.conn, SinkEvent::Anomaly(&a));
        if self.charge((size_of::<Anomaly>() + a.detail.len()) as u64, 2) {
            self.conn.anomalies.push(a);
        }
    }

    /// Settles what is still pending at the end of the connection: held
    /// client bytes are replayed as HTTP, and the protocol is decided.
    pub fn finish(&mut self, sink: &mut dyn EventSink) {
        for i in 0..2 {
            if matches!(self.phases[i], Phase::AwaitResponse(..)) {
                self.release_held(Side(i as u8), false, sink);
            }
        }
        let hs = &self.conn.handshake;
        let upgraded = hs.status == Some(101) && hs.accept_valid == Some(true);
        self.conn.is_websocket = upgraded || self.frames_seen_any();
        self.conn.protocol = if self.conn.is_websocket {
            Protocol::Websocket
        } else if self.recognised() {
            Protocol::Http
        } else {
            self.conn.protocol
        };
        if let Some(tls) = &self.tls {
            let info = tls.info();
            self.conn.tls = Some(TlsSummary {
                version: info.version,
                cipher_suite: info.cipher_suite,
                decrypted: info.decrypted,
                sni: info.sni,
                alpn: info.alpn,
                reason: info.reason,
                records: info.records,
                notes: std::mem::take(&mut self.tls_notes),
            });
        }
    }

    fn frames_seen_any(&self) -> bool {
        self.phases
            .iter()
            .any(|p| matches!(p, Phase::Ws(ws) if ws.frames() > 0))
    }

    /// Takes `cost` from the budget; false (and one more record of kind
    /// `kind` dropped) when it does not fit.
    fn charge(&mut self, cost: u64, kind: usize) -> bool {
        // Twice the parts: record vectors grow by doubling and every small
        // allocation carries allocator overhead (measured: 3 M empty
        // messages take about 2.1x their summed sizes).
        match self.budget.checked_sub(cost.saturating_mul(2)) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => {
                if let Some(d) = self.dropped.get_mut(kind) {
                    *d += 1;
                }
                false
            }
        }
    }

    /// Role of a side, when known.
    pub fn role_of(&self, side: Side) -> Role {
        self.dir_of(side).sender()
    }
}
