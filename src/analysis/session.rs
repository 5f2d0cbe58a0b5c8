//! The per-connection application state machine: HTTP → WebSocket (or
//! another upgrade).
//!
//! ```text
//!   each side:  Detect ──first bytes──► Probe (held, with provenance)
//!                                         │ classify(): request / status line ──► Http
//!                                         │ still a prefix of one ─────────────► (stay, hold more)
//!                                         │ other bytes, SYN captured ──────────► Unknown(n)
//!                                         │ other bytes, picked up later: frames
//!                                         │   followed (FrameProbe), both sides
//!                                         │   judged together ── judge() ──────► Ws (held replayed)
//!                                         ▼                        No ─────────► Unknown(n)
//!   Http ──upgrade request (any Upgrade)──► AwaitResponse
//!     ▲  │                                   │   │
//!     │  └──101 Upgrade: websocket (server)──┼──►│ Ws ◄── held client bytes replayed as frames
//!     │     101 Upgrade: other ──────────────┼──►│ Upgraded (bytes counted, never framed)
//!     └──── non-101 final: held bytes replayed as HTTP ◄┘
//!   1xx interim responses (100, 103) leave the exchange waiting for its final one.
//!   Unknown(n): detection retried on the next pieces (a capture may start
//!   inside a frame or a body), up to DETECT_ATTEMPTS, then given up.
//!   HTTP/2 (a preface, frames picked up mid-stream, or a 101 to h2c) ──► H2
//!   2xx to CONNECT (RFC 9110 §9.3.6): both sides ──► Detect (the tunnel's bytes)
//! ```
//!
//! The arrows are one exhaustive match, `Stage::next`. Every move goes
//! through `Session::take`/`put`/`replace`, which check it against that
//! table in debug builds, so tests and fuzzing fail on a move the diagram
//! does not draw.
//!
//! Evidence rules (issue 17, `analysis/detect.rs`): a side whose SYN was
//! captured and whose first bytes were not an upgrade is never WebSocket;
//! without SYN, frames must tile the stream from a piece boundary with
//! valid headers and opposite masking on the two sides, several of them
//! ([`super::detect::judge`]). A side of a connection already judged
//! WebSocket joins it when its first bytes start like a frame of its role.
//!
//! A connection whose first bytes are a TLS record goes through
//! [`TlsConnection`] first: the same machine then runs on the decrypted
//! application data, with each record's first and last packet as the
//! bytes' provenance.
//!
//! The machine is one file per concern: `probe` decides what undecided
//! bytes are (start lines, mid-stream frames) and reports what it drops;
//! `http1` pairs HTTP/1.1 exchanges, checks and performs upgrades, holds
//! and replays the client's bytes while an upgrade is answered; `tls` is
//! the wss front end; `h2` enters HTTP/2; this file holds the phases and
//! their dispatch, the session's held-memory accounting, the settling at
//! the end, and the WebSocket fan-out. A concern's state is its own
//! struct in its file (`http1::Http1`, `tls::TlsFront`,
//! `probe::Midstream`), one field of [`Session`].
//!
//! Bytes after the 101 response in the same segment belong to the frame
//! decoder (the "tail" of the handshake). Client bytes sent after an
//! upgrade request are held (bounded) until the response says whether they
//! are frames, another protocol's bytes, or another HTTP request.

mod h2;
mod http1;
mod probe;
mod tls;

use probe::{Probe, cut_start_line};

use super::appglue::{self, AppGlue};
use super::detect::{Detected, classify};
use super::h2session::{H2Mode, H2Sessions};
use super::polling::Polling;
use super::{Consumer, Event, Limits};
use crate::app::eiopoll::{MAX_POLL_SESSIONS, PollRegistry};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::{Direction, Role, Side};
use crate::http::{HttpEvent, HttpParser, looks_like_request};
use crate::model::finding::{Anomaly, AnomalyKind, Violation, ViolationKind};
use crate::model::{Connection, Protocol, TlsSummary};
use crate::tcp::Piece;
use crate::tls::{KeyLog, TlsConnection};
use crate::ws::WsStream;
use crate::ws::frame::Opcode;
use crate::ws::message::{WsContext, WsEvent};
use crate::ws::pingwatch::PingWatch;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;

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
    /// Undecided: the bytes so far are held with their provenance while
    /// they are a prefix of a start line, or while they run as frames
    /// without enough evidence yet (see [`super::detect`]).
    Probe(Box<Probe>),
    /// After a `101` to something other than WebSocket: bytes are counted,
    /// never interpreted.
    Upgraded,
    /// Nothing recognised yet in this many pieces; detection is retried at
    /// the next pieces (a capture may start in the middle of a frame or a
    /// body), up to [`DETECT_ATTEMPTS`].
    Unknown(u8),
    /// Taken out by a move in progress ([`Session::take`]), to be consumed;
    /// never the phase of a side between two pieces.
    Opaque,
    /// HTTP/2: both sides' bytes go to [`Session::h2`].
    H2,
}

/// A phase without its state: a box of the diagram in the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Detect,
    Probe,
    Unknown,
    Http,
    AwaitResponse,
    Ws,
    Upgraded,
    H2,
    Opaque,
}

impl Phase {
    fn stage(&self) -> Stage {
        match self {
            Phase::Detect => Stage::Detect,
            Phase::Probe(_) => Stage::Probe,
            Phase::Unknown(_) => Stage::Unknown,
            Phase::Http(_) => Stage::Http,
            Phase::AwaitResponse(..) => Stage::AwaitResponse,
            Phase::Ws(_) => Stage::Ws,
            Phase::Upgraded => Stage::Upgraded,
            Phase::H2 => Stage::H2,
            Phase::Opaque => Stage::Opaque,
        }
    }
}

impl Stage {
    /// The diagram's arrows: where a side may move from `self`, in one
    /// exhaustive match (a new phase must say where it leads). Staying is
    /// always allowed. The session files decide and perform the moves,
    /// every one through [`Session::put`] or [`Session::replace`], which
    /// check it against this table in debug builds (tests, fuzzing).
    fn next(self) -> &'static [Stage] {
        use Stage::*;
        match self {
            // First bytes: held undecided (Probe), not recognised
            // (Unknown), a start line (Http), HTTP/2 (H2), or a side
            // joining a connection already judged WebSocket (Ws).
            Detect => &[Probe, Unknown, Http, Ws, H2],
            // A start line (Http), frames judged on both sides (Ws), an
            // HTTP/2 preface or frames (H2), or too little evidence
            // (Unknown: detection retried at the next piece).
            Probe => &[Unknown, Http, Ws, H2],
            // Detection retried on a later piece, up to DETECT_ATTEMPTS.
            Unknown => &[Probe, Http, Ws, H2],
            // An upgrade request waits for its answer (AwaitResponse); the
            // server's side on a 101 websocket (Ws), another upgrade
            // (Upgraded), h2c (H2) or a 2xx to CONNECT (Detect); the
            // client's side when a 101 came before its request was whole
            // (Ws).
            Http => &[AwaitResponse, Ws, Upgraded, H2, Detect],
            // The answer: 101 websocket (Ws), 101 other (Upgraded), h2c
            // (H2), 2xx to CONNECT (Detect), any other final (Http).
            AwaitResponse => &[Http, Ws, Upgraded, H2, Detect],
            // Final: frames, counted bytes or HTTP/2 until the end.
            Ws | Upgraded | H2 => &[],
            // Taken out: checked from the stage it was taken from.
            Opaque => &[],
        }
    }
}

/// Whether a side's stream was seen from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// No SYN seen (yet) and no bytes: not known.
    Unknown,
    /// Its SYN was captured and no byte delivered yet.
    Syn,
    /// Its SYN was captured and the first piece was data: seen whole.
    Whole,
    /// Picked up later (no SYN, or bytes missing before the first piece).
    Joined,
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
    /// The wss front end.
    tls: tls::TlsFront,
    /// HTTP/2 and the RFC 8441 sessions on its streams.
    h2: Option<Box<H2Sessions>>,
    /// The application protocol of the WebSocket session, once frames
    /// are decoded (created with the first WebSocket stream).
    app: Option<Box<AppGlue>>,
    /// Engine.IO long-polling in the HTTP exchanges, once one is seen.
    polling: Option<Box<Polling>>,
    /// The analysis's Engine.IO sessions, shared by its connections.
    poll_registry: Option<Arc<Mutex<PollRegistry>>>,
    /// A FIN was captured from each side (a body read until close is
    /// then whole).
    fins: [bool; 2],
    /// The client side, once known.
    pub client: Option<Side>,
    endpoints: [SocketAddr; 2],
    phases: [Phase; 2],
    /// Per side: the stage a move in progress took the phase from.
    taken: [Option<Stage>; 2],
    /// The model record being filled.
    pub conn: Connection,
    /// The HTTP/1.1 exchanges in progress.
    http: http1::Http1,
    ws_ctx: WsContext,
    limits: Limits,
    /// The WebSocket events of the piece being handled (reused).
    ws_scratch: Vec<WsEvent>,
    /// Per side: seen from its first byte or not.
    start: [Start; 2],
    /// The mid-stream WebSocket question and what it dropped.
    mid: probe::Midstream,
    /// A `101` switched to a protocol other than WebSocket.
    upgraded: bool,
    /// [`Self::finish`] is running: no more bytes will come.
    finishing: bool,
    /// Pings awaiting their pong, across both directions.
    pings: PingWatch,
    /// Time of the packet whose bytes are being handled: the time of the
    /// findings they raise.
    now_ts: Timestamp,
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
            tls: tls::TlsFront {
                conn: None,
                keylog,
                notes: Vec::new(),
            },
            h2: None,
            app: None,
            polling: None,
            poll_registry: None,
            fins: [false; 2],
            client: None,
            endpoints,
            phases: [Phase::Detect, Phase::Detect],
            taken: [None, None],
            conn,
            http: http1::Http1::default(),
            ws_ctx: WsContext::default(),
            limits,
            ws_scratch: Vec::new(),
            start: [Start::Unknown; 2],
            mid: probe::Midstream::default(),
            upgraded: false,
            finishing: false,
            pings: PingWatch::default(),
            now_ts: Timestamp::default(),
        };
        if let Some(c) = client {
            s.set_client(c);
        }
        s
    }

    /// Takes `side`'s phase out to consume it; the move ends with
    /// [`Self::put`].
    fn take(&mut self, side: Side) -> Phase {
        let i = side.idx();
        let p = std::mem::replace(&mut self.phases[i], Phase::Opaque);
        if p.stage() != Stage::Opaque {
            self.taken[i] = Some(p.stage());
        }
        p
    }

    /// Moves `side` to `to`: from the phase [`Self::take`] took, or from
    /// its current one.
    fn put(&mut self, side: Side, to: Phase) {
        let i = side.idx();
        let from = self.taken[i].take().unwrap_or(self.phases[i].stage());
        check_move(from, to.stage());
        self.phases[i] = to;
    }

    /// Moves `side` to `to` and returns the phase it leaves.
    fn replace(&mut self, side: Side, to: Phase) -> Phase {
        let i = side.idx();
        check_move(self.phases[i].stage(), to.stage());
        std::mem::replace(&mut self.phases[i], to)
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
            self.conn.client = self.endpoints[side.idx()];
            self.conn.server = self.endpoints[side.other().idx()];
        }
    }

    /// True once HTTP or WebSocket was recognised.
    pub fn recognised(&self) -> bool {
        self.frames_seen_any()
            || self.conn.handshake.seen
            || !self.conn.http_exchanges.is_empty()
            || self.h2.is_some()
    }

    /// A SYN from `side` was captured: its stream is seen from the start
    /// unless bytes are found missing before its first piece.
    pub fn syn(&mut self, side: Side) {
        if self.start[side.idx()] == Start::Unknown {
            self.start[side.idx()] = Start::Syn;
        }
    }

    /// The Engine.IO sessions of the analysis, so that long-polling bodies
    /// of one session on several connections are decoded as one.
    pub fn share_polling(&mut self, registry: Arc<Mutex<PollRegistry>>) {
        self.poll_registry = Some(registry);
    }

    /// HTTP/2 on this connection, sharing the Engine.IO sessions.
    fn new_h2(&self, mode: H2Mode, settings: Option<&[u8]>) -> H2Sessions {
        let mut h2 = H2Sessions::new(mode, self.limits, settings);
        h2.share_polling(self.poll_registry());
        h2
    }

    /// The analysis's Engine.IO sessions (a private registry when the
    /// session was made alone).
    fn poll_registry(&self) -> Arc<Mutex<PollRegistry>> {
        self.poll_registry.clone().unwrap_or_else(|| {
            Arc::new(Mutex::new(PollRegistry::new(
                crate::app::AppLimits::default(),
                MAX_POLL_SESSIONS,
            )))
        })
    }

    /// Which sides sent a FIN, told before [`Self::finish`].
    pub fn fins(&mut self, fin: [bool; 2]) {
        self.fins = fin;
    }

    /// Feeds one in-order piece of `side`'s TCP stream.
    pub fn piece(&mut self, side: Side, piece: Piece<'_>, at: At, sink: &mut dyn Consumer) {
        let st = &mut self.start[side.idx()];
        match (*st, &piece) {
            (Start::Syn, Piece::Data(d)) if !d.is_empty() => *st = Start::Whole,
            (Start::Syn, Piece::Gap(_)) | (Start::Unknown, _) => *st = Start::Joined,
            _ => {}
        }
        if self.tls.conn.is_none()
            && matches!(self.phases[side.idx()], Phase::Detect)
            && let Piece::Data(d) = &piece
            && TlsConnection::looks_like_tls(d)
        {
            self.start_tls(side, d);
        }
        if self.tls.conn.is_some() {
            self.tls_piece(side, piece, at, sink);
        } else {
            self.app_piece(side, piece, at, sink);
        }
    }

    /// Feeds one in-order piece of the application stream (clear text, or
    /// decrypted TLS).
    fn app_piece(&mut self, side: Side, piece: Piece<'_>, at: At, sink: &mut dyn Consumer) {
        match piece {
            Piece::Data(d) => self.data(side, d, at, sink),
            Piece::Gap(n) => self.gap(side, n, at, sink),
        }
    }

    fn data(&mut self, side: Side, data: &[u8], at: At, sink: &mut dyn Consumer) {
        self.now_ts = at.ts;
        if data.is_empty() {
            return;
        }
        if matches!(self.phases[side.idx()], Phase::Detect | Phase::Probe(_))
            || matches!(self.phases[side.idx()], Phase::Unknown(n) if n < DETECT_ATTEMPTS)
        {
            return self.probe_data(side, data, at, sink);
        }
        if !looks_like_request(data) {
            self.ws_without_request(side);
        }
        let i = side.idx();
        match &mut self.phases[i] {
            Phase::Unknown(_) => self.skip(side, data.len() as u64, Some(at.now)),
            Phase::Detect | Phase::Probe(_) | Phase::Opaque => {}
            Phase::Upgraded => {
                let dir = self.dir_of(side);
                self.conn.stats.dir_mut(dir).upgraded_bytes += data.len() as u64;
            }
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
            Phase::H2 => {
                let dir = self.dir_of(side);
                if let Some(h2) = self.h2.as_mut() {
                    h2.push(dir, data, at, &mut self.conn, sink);
                }
            }
        }
    }

    fn gap(&mut self, side: Side, len: u64, at: At, sink: &mut dyn Consumer) {
        let dir = self.dir_of(side);
        self.conn.stats.dir_mut(dir).missing_bytes += len;
        self.counted_gap(side, len, at, sink);
    }

    /// A gap already counted in `missing_bytes` (also when replayed).
    fn counted_gap(&mut self, side: Side, len: u64, at: At, sink: &mut dyn Consumer) {
        self.now_ts = at.ts;
        self.ws_without_request(side);
        let dir = self.dir_of(side);
        let i = side.idx();
        if let Phase::Probe(p) = &self.phases[i]
            && !p.framing
            && let Some(request) = cut_start_line(&p.prefix)
        {
            // A start line cut by the gap (snaplen, loss): HTTP, with the
            // head kept as far as it was captured.
            self.start_http(side, request, sink);
        }
        match &mut self.phases[i] {
            // The held bytes cannot be continued: detection starts again
            // after the hole, without them.
            Phase::Probe(p) => {
                let (bytes, last) = Probe::held_bytes(&p.held);
                let attempts = p.attempts.saturating_add(1);
                self.put(side, Phase::Unknown(attempts));
                self.skip(side, bytes, last);
            }
            Phase::Detect | Phase::Unknown(_) | Phase::Opaque | Phase::Upgraded => {}
            Phase::Ws(ws) => {
                self.pings.gap(dir);
                let mut evs = std::mem::take(&mut self.ws_scratch);
                ws.gap(len, at.now, at.ts, &mut |e| evs.push(e));
                self.ws_events(evs, sink);
            }
            Phase::AwaitResponse(_, held, _) => held.push(Held::Gap(len, at.now, at.ts)),
            Phase::Http(p) => match p.gap(len) {
                Some(HttpEvent::Head(head, first)) => {
                    self.on_head(side, head, PacketNo(first), at, sink)
                }
                Some(HttpEvent::Body(body)) => self.on_body(side, body, at, sink),
                _ => {}
            },
            Phase::H2 => {
                if let Some(h2) = self.h2.as_mut() {
                    h2.gap(dir, len, at, &mut self.conn, sink);
                }
            }
        }
    }

    /// After an early 101 (see `ws_after_request`): when the client's next
    /// bytes do not start a request (its request was never captured), they
    /// are frames.
    fn ws_without_request(&mut self, side: Side) {
        if !self.http.ws_after_request || self.client != Some(side) {
            return;
        }
        if let Phase::Http(p) = &self.phases[side.idx()]
            && p.idle()
        {
            self.http.ws_after_request = false;
            let ws = Phase::Ws(Box::new(self.new_ws(side)));
            self.put(side, ws);
        }
    }

    fn replay(&mut self, side: Side, held: Vec<Held>, sink: &mut dyn Consumer) {
        for h in held {
            match h {
                Held::Data(d, src, now, ts) => self.data(side, &d, At { src, now, ts }, sink),
                Held::Gap(n, now, ts) => self.counted_gap(side, n, At { src: now, now, ts }, sink),
            }
        }
    }

    /// Bytes held undecided (probes, and client bytes awaiting an upgrade's
    /// answer), counted by the analyzer against `max_buffered_total`.
    pub fn held_cost(&self) -> u64 {
        let h2 = self.h2.as_ref().map_or(0, |h| h.kept_bytes());
        self.phases
            .iter()
            .map(|p| match p {
                Phase::Probe(pr) => pr.bytes as u64,
                Phase::AwaitResponse(_, _, n) => *n as u64,
                // A long-polling body kept to be decoded.
                Phase::Http(hp) => hp.kept_bytes() as u64,
                _ => 0,
            })
            .sum::<u64>()
            + h2 as u64
    }

    /// The memory cap across connections was reached: undecided sides
    /// decide on what they hold, or drop it and start again at their next
    /// piece (reported like any skipped bytes).
    pub fn shed_held(&mut self, sink: &mut dyn Consumer) {
        // Long-polling bodies in progress are let go (said at their end).
        for p in &mut self.phases {
            if let Phase::Http(hp) = p {
                hp.shed_kept();
            }
        }
        if let Some(h2) = self.h2.as_mut() {
            h2.shed_kept();
        }
        self.judge_midstream(true, sink);
        for i in 0..2 {
            if let Phase::Probe(p) = &self.phases[i] {
                let (bytes, last) = Probe::held_bytes(&p.held);
                self.put(Side(i as u8), Phase::Unknown(p.attempts.saturating_add(1)));
                self.skip(Side(i as u8), bytes, last);
            }
        }
    }

    /// A WebSocket stream for `side`; the first one also starts the
    /// application layer (the handshake, when seen, is known by then).
    fn new_ws(&mut self, side: Side) -> WsStream {
        if self.app.is_none() {
            self.app = AppGlue::new(&self.conn, self.limits.app).map(Box::new);
        }
        let mut limits = self.limits.ws;
        limits.emit_payload |= self.app.as_ref().is_some_and(|a| a.wants_payloads());
        WsStream::new(self.dir_of(side), self.ws_ctx, limits)
    }

    /// Handles the events of one piece; `evs` is then kept, emptied, for
    /// the next piece (one allocation less per packet).
    fn ws_events(&mut self, mut evs: Vec<WsEvent>, sink: &mut dyn Consumer) {
        fan_out(
            &mut self.conn,
            &mut self.pings,
            self.app.as_deref_mut(),
            self.now_ts,
            &mut evs,
            sink,
        );
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
        sink: &mut dyn Consumer,
    ) {
        self.push_violation(
            Violation {
                kind,
                dir,
                packet,
                ts: self.now_ts,
                detail,
            },
            sink,
        );
    }

    fn push_violation(&mut self, v: Violation, sink: &mut dyn Consumer) {
        let _ = sink.event(Event::Violation {
            conn: &self.conn,
            violation: Cow::Owned(v),
        });
    }

    fn anomaly(
        &mut self,
        kind: AnomalyKind,
        dir: Option<Direction>,
        packet: PacketNo,
        detail: String,
        sink: &mut dyn Consumer,
    ) {
        self.push_anomaly(
            Anomaly {
                kind,
                dir,
                packet,
                ts: self.now_ts,
                detail,
            },
            sink,
        );
    }

    /// Records an anomaly (also used by the analyzer for TCP-level ones).
    pub fn push_anomaly(&mut self, a: Anomaly, sink: &mut dyn Consumer) {
        let _ = sink.event(Event::Anomaly {
            conn: &self.conn,
            anomaly: Cow::Owned(a),
        });
    }

    /// Settles what is still pending at the end of the connection: held
    /// client bytes are replayed as HTTP, and the protocol is decided.
    pub fn finish(&mut self, now: PacketNo, sink: &mut dyn Consumer) {
        for i in 0..2 {
            if matches!(self.phases[i], Phase::AwaitResponse(..)) {
                self.release_held(Side(i as u8), false, sink);
            }
        }
        for i in 0..2 {
            // Bytes held as a possible server preface of HTTP/2 that never
            // came: detection decides on them now.
            if self.h2.is_none()
                && let Phase::Probe(p) = &self.phases[i]
                && !p.framing
                && classify(&p.prefix) == Detected::H2Settings
            {
                let (bytes, last) = Probe::held_bytes(&p.held);
                self.put(Side(i as u8), Phase::Unknown(p.attempts.saturating_add(1)));
                self.skip(Side(i as u8), bytes, last);
            }
        }
        for i in 0..2 {
            // A kept body still in progress ends with the stream.
            if let Phase::Http(p) = &mut self.phases[i]
                && let Some(HttpEvent::Body(body)) = p.end_of_stream(self.fins[i])
            {
                let at = At {
                    src: now,
                    now,
                    ts: self.now_ts,
                };
                self.on_body(Side(i as u8), body, at, sink);
            }
        }
        if let Some(poll) = self.polling.as_mut() {
            poll.finish(&mut self.conn, sink);
        }
        self.finishing = true;
        self.judge_midstream(true, sink);
        self.report_skipped(sink);
        let ts = self.now_ts;
        let hs = &self.conn.handshake;
        let upgraded = hs.status == Some(101) && hs.accept_valid == Some(true);
        self.conn.is_websocket = upgraded || self.frames_seen_any();
        self.conn.protocol = if self.conn.is_websocket {
            Protocol::Websocket
        } else if self.upgraded {
            Protocol::Upgraded
        } else if self.recognised() {
            Protocol::Http
        } else {
            self.conn.protocol
        };
        if let Some(tls) = &self.tls.conn {
            let info = tls.info();
            self.conn.tls = Some(TlsSummary {
                version: info.version,
                cipher_suite: info.cipher_suite,
                decrypted: info.decrypted,
                sni: info.sni,
                alpn: info.alpn,
                alpn_state: info.alpn_state,
                alpn_offered: info.alpn_offered,
                reason: info.reason,
                records: info.records,
                notes: std::mem::take(&mut self.tls.notes),
            });
        }
        if let Some(h2) = self.h2.as_mut() {
            h2.finish(now, ts, &mut self.conn, sink);
        }
        if let Some(app) = self.app.as_mut() {
            app.finish(&mut self.conn, sink);
        }
    }

    /// The RFC 8441 sessions of an HTTP/2 connection, once this
    /// connection's record is whole (its TCP fields filled).
    pub fn take_sessions(&mut self) -> Vec<Connection> {
        match self.h2.as_mut() {
            Some(h2) => h2.take_sessions(&self.conn),
            None => Vec::new(),
        }
    }

    fn frames_seen_any(&self) -> bool {
        self.phases
            .iter()
            .any(|p| matches!(p, Phase::Ws(ws) if ws.frames() > 0))
    }

    /// Role of a side, when known.
    pub fn role_of(&self, side: Side) -> Role {
        self.dir_of(side).sender()
    }
}

/// Debug builds (tests, fuzzing): a move the diagram does not draw is a
/// bug in the session files.
fn check_move(from: Stage, to: Stage) {
    debug_assert!(
        to != Stage::Opaque && (from == to || from.next().contains(&to)),
        "a side moved from {from:?} to {to:?}, which the phase diagram does not draw"
    );
}

/// Hands the events of a WebSocket stream to the consumer as events about
/// `conn` (a connection, or an RFC 8441 session), counting them in its
/// record; `evs` is left empty.
pub(super) fn fan_out(
    conn: &mut Connection,
    pings: &mut PingWatch,
    mut app: Option<&mut AppGlue>,
    now_ts: Timestamp,
    evs: &mut Vec<WsEvent>,
    sink: &mut dyn Consumer,
) {
    for e in evs.drain(..) {
        match e {
            WsEvent::Message(m, deferred) => {
                let st = conn.stats.dir_mut(m.dir);
                st.messages += 1;
                st.frames += u64::from(m.frames);
                st.payload_bytes += m.payload_len.unwrap_or(0);
                st.wire_payload_bytes += m.wire_payload_len;
                let done = conn.stats.c2s.messages + conn.stats.s2c.messages;
                let index = usize::try_from(done - 1).unwrap_or(usize::MAX);
                let named = app.as_deref_mut().map(|a| a.message(index, &m));
                let _ = sink.event(Event::Message {
                    conn,
                    index,
                    message: Cow::Owned(m),
                    deferred: deferred.map(Cow::Owned),
                    app: named.as_ref().map_or(&[], |o| o.records.as_slice()),
                });
                if let Some(out) = named {
                    appglue::emit(conn, out, sink);
                }
            }
            WsEvent::Control(c) => {
                let st = conn.stats.dir_mut(c.dir);
                st.control_frames += 1;
                st.frames += 1;
                if c.opcode == Opcode::Close && conn.close_initiator.is_none() {
                    conn.close_initiator = Some(c.dir.sender());
                }
                let unanswered = pings.control(&c);
                let _ = sink.event(Event::Control {
                    conn,
                    frame: Cow::Owned(c),
                });
                if let Some(v) = unanswered {
                    let violation = Violation {
                        kind: ViolationKind::UnansweredPing,
                        dir: Some(v.dir),
                        packet: v.packet,
                        ts: now_ts,
                        detail: v.detail,
                    };
                    let _ = sink.event(Event::Violation {
                        conn,
                        violation: Cow::Owned(violation),
                    });
                }
            }
            WsEvent::Violation(v) => {
                let _ = sink.event(Event::Violation {
                    conn,
                    violation: Cow::Owned(v),
                });
            }
            WsEvent::Anomaly(a) => {
                let _ = sink.event(Event::Anomaly {
                    conn,
                    anomaly: Cow::Owned(a),
                });
            }
            WsEvent::Payload { dir, bytes } => {
                if let Some(a) = app.as_deref_mut() {
                    a.payload(dir, &bytes);
                }
                if sink.wants().payloads {
                    let _ = sink.event(Event::Payload {
                        conn,
                        dir,
                        chunk: &bytes,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Stage::{self, *};
    use super::check_move;

    #[rustfmt::skip]
    const ALL: [Stage; 9] = [Detect, Probe, Unknown, Http, AwaitResponse, Ws, Upgraded, H2, Opaque];

    /// The diagram: every resting phase is reachable from the first one,
    /// WebSocket, another upgrade and HTTP/2 are final, and nothing moves
    /// into the placeholder of a move in progress.
    #[test]
    fn the_diagram_reaches_every_phase_and_ends_where_it_should() {
        let mut seen = vec![Detect];
        let mut i = 0;
        while let Some(&s) = seen.get(i) {
            for &n in s.next() {
                if !seen.contains(&n) {
                    seen.push(n);
                }
            }
            i += 1;
        }
        for s in ALL.into_iter().filter(|&s| s != Opaque) {
            assert!(seen.contains(&s), "{s:?} unreachable");
        }
        for s in [Ws, Upgraded, H2, Opaque] {
            assert!(s.next().is_empty(), "{s:?} is final");
        }
        assert!(ALL.iter().all(|s| !s.next().contains(&Opaque)));
        // An upgrade request is answered before frames: HTTP never turns
        // back into undecided bytes.
        assert!(!Http.next().contains(&Probe) && !Http.next().contains(&Unknown));
    }

    #[test]
    fn a_drawn_move_and_staying_pass() {
        check_move(AwaitResponse, Ws);
        check_move(Probe, Probe);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "does not draw")]
    fn an_undrawn_move_is_caught() {
        check_move(Ws, Http);
    }
}
