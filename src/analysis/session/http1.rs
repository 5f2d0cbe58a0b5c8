//! HTTP/1.1 on a session (RFC 9112): request and response heads paired
//! into exchanges, the WebSocket upgrade (RFC 6455 §4) checked and
//! switched to, other upgrades and CONNECT tunnels opened, client bytes
//! held while an upgrade's answer is awaited and replayed as what the
//! answer says, and long-polling bodies kept for the application layer.

use super::super::polling::Polling;
use super::{At, Held, Phase, Session};
use crate::analysis::{Consumer, Event};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::{Direction, Side};
use crate::http::handshake::{has_token, header_value};
use crate::http::{CapturedBody, Head, HttpEvent, HttpParser};
use crate::model::HttpExchange;
use crate::model::finding::{AnomalyKind, ViolationKind};
use crate::tcp::Piece;
use crate::ws::deflate::DeflateParams;
use crate::ws::message::WsContext;
use std::collections::VecDeque;

/// What HTTP/1.1 tracks across a connection's exchanges.
#[derive(Debug, Default)]
pub(super) struct Http1 {
    /// Indexes of exchanges awaiting their response.
    pub(super) pending: VecDeque<usize>,
    /// Exchange index of the upgrade request awaiting its response.
    pub(super) upgrade_exchange: Option<usize>,
    /// The last request head, to fill the handshake when a 101 answers a
    /// request whose Upgrade header was not captured.
    pub(super) last_request: Option<(Head, PacketNo)>,
    /// A 101 was delivered before the client's request head was complete in
    /// stream order (the capture saw the response first: cross-direction
    /// reordering or a retransmitted request). The client side stays HTTP
    /// until its request head ends, then switches to WebSocket.
    pub(super) ws_after_request: bool,
    /// Time of a 101 that came before its request was whole
    /// (`ws_after_request`): the exchange gets it when the request ends.
    pub(super) early_101_ts: Option<Timestamp>,
}

impl Session {
    /// A start line decided: `side` sends requests (`request`) or
    /// responses, the other side the opposite; held bytes are replayed.
    pub(super) fn start_http(&mut self, side: Side, request: bool, sink: &mut dyn Consumer) {
        let max = self.limits.max_header_bytes;
        self.set_client(if request { side } else { side.other() });
        let mut replay = Vec::new();
        for (s, req) in [(side, request), (side.other(), !request)] {
            if !matches!(
                self.phases[s.idx()],
                Phase::Probe(_) | Phase::Detect | Phase::Unknown(_)
            ) {
                continue;
            }
            let held = match self.replace(s, Phase::Http(HttpParser::new(req, max))) {
                Phase::Probe(p) => p.held,
                _ => Vec::new(),
            };
            replay.push((s, held));
        }
        for (s, held) in replay {
            self.replay(s, held, sink);
        }
    }

    pub(super) fn http_data(
        &mut self,
        side: Side,
        mut data: &[u8],
        at: At,
        sink: &mut dyn Consumer,
    ) {
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
                Some(HttpEvent::Body(body)) => self.on_body(side, body, at, sink),
                None => {}
            }
            if used == 0 {
                break;
            }
        }
    }

    pub(super) fn on_head(
        &mut self,
        side: Side,
        head: Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        if head.status.is_none() {
            self.on_request(side, head, first, at, sink);
        } else {
            self.on_response(side, head, first, at, sink);
        }
    }

    pub(super) fn on_request(
        &mut self,
        side: Side,
        head: Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        let upgrade = has_token(&head.headers, "upgrade", "websocket");
        let idx = self.conn.http_exchanges.len();
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
            request_app: Vec::new(),
            response_app: Vec::new(),
        });
        self.http.pending.push_back(idx);
        if upgrade {
            self.conn
                .handshake
                .set_request(&head.target, &head.headers, head.complete, first.0);
            self.check_request(&head, first, sink);
        }
        let i = side.idx();
        // RFC 9110 §7.8: a server switches only to a protocol the request's
        // Upgrade named; any such request may be answered by a 101.
        let any_upgrade = header_value(&head.headers, "upgrade").is_some();
        // RFC 9110 §9.3.6: after a 2xx to CONNECT the connection is a tunnel.
        let tunnel = head.method == "CONNECT";
        if any_upgrade || tunnel || !head.complete {
            // Wait for the response: the next bytes are frames (or another
            // protocol) after a 101 and HTTP otherwise.
            self.http.upgrade_exchange = Some(idx);
            if matches!(self.phases[i], Phase::Http(_))
                && let Phase::Http(p) = self.take(side)
            {
                self.put(side, Phase::AwaitResponse(p, Vec::new(), 0));
            }
        } else if let Phase::Http(p) = &mut self.phases[i] {
            p.expect_body(&head, None);
            self.poll_body(side, idx, &head, first, at, sink);
        }
        self.http.last_request = Some((head, first));
        if self.http.ws_after_request && self.client == Some(side) {
            self.late_request_completes_upgrade(side, idx, first, sink);
        }
    }

    /// RFC 6455 §4.2.2: the accept must be base64(SHA-1(key + GUID)); a
    /// wrong one is the server's violation (checked once both are known).
    pub(super) fn check_accept(&mut self, first: PacketNo, sink: &mut dyn Consumer) {
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
    pub(super) fn late_request_completes_upgrade(
        &mut self,
        side: Side,
        idx: usize,
        first: PacketNo,
        sink: &mut dyn Consumer,
    ) {
        self.http.ws_after_request = false;
        let hs = &self.conn.handshake;
        let (status, response) = (hs.status, hs.response_packet);
        if let Some(x) = self.conn.http_exchanges.get_mut(idx) {
            x.status = status;
            x.response_packet = response;
            x.response_ts = self.http.early_101_ts.take();
            x.response_complete = hs.response_complete;
        }
        self.http.pending.retain(|&p| p != idx);
        if self.http.upgrade_exchange == Some(idx) {
            self.http.upgrade_exchange = None;
        }
        self.check_accept(first, sink);
        let ws = Phase::Ws(Box::new(self.new_ws(side)));
        self.put(side, ws);
    }

    pub(super) fn check_request(&mut self, head: &Head, first: PacketNo, sink: &mut dyn Consumer) {
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

    pub(super) fn on_response(
        &mut self,
        side: Side,
        head: Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        let status = head.status.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // RFC 9110 §15.2: an interim response (100 Continue, 103 Early
            // Hints) precedes the final one, which the exchange reports.
            if let Phase::Http(p) = &mut self.phases[side.idx()] {
                p.expect_body(&head, None);
            }
            return;
        }
        if status == 101 && !self.is_websocket_101(&head) {
            return self.switch_to_other(side, &head, first, at, sink);
        }
        let idx = self.http.pending.pop_front();
        let method = idx
            .and_then(|i| self.conn.http_exchanges.get(i))
            .map(|x| x.method.clone());
        if let Some(x) = idx.and_then(|i| self.conn.http_exchanges.get_mut(i)) {
            x.status = Some(status);
            x.response_packet = Some(first);
            x.response_ts = Some(at.ts);
            x.response_complete = head.complete;
        }
        let answers_upgrade = idx.is_some() && idx == self.http.upgrade_exchange;
        if method.as_deref() == Some("CONNECT") && (200..300).contains(&status) {
            if answers_upgrade {
                self.http.upgrade_exchange = None;
            }
            return self.open_tunnel(side, sink);
        }
        let is_upgrade = answers_upgrade && self.conn.handshake.seen;
        if status == 101 || is_upgrade {
            if !self.conn.handshake.seen
                && let Some((req, req_first)) = self.http.last_request.clone()
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
            let _ = sink.event(Event::Handshake(&self.conn));
        }
        if answers_upgrade {
            self.http.upgrade_exchange = None;
        }
        if status == 101 {
            // No HTTP follows on this connection: the request's copy goes.
            self.http.last_request = None;
            self.switch_to_ws(side, &head, first, sink);
            return;
        }
        if let Phase::Http(p) = &mut self.phases[side.idx()] {
            p.expect_body(&head, method.as_deref());
            if let Some(i) = idx {
                self.poll_body(side, i, &head, first, at, sink);
            }
        }
        if answers_upgrade {
            self.release_held(side.other(), false, sink);
        }
    }

    /// Keeps the body that `head` (of exchange `idx`) announces when it is
    /// an Engine.IO long-polling payload (see [`Polling`]); the parser's
    /// body framing is already set.
    pub(super) fn poll_body(
        &mut self,
        side: Side,
        idx: usize,
        head: &Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        let Some(x) = self.conn.http_exchanges.get(idx) else {
            return;
        };
        if crate::app::detect::polling_eio(&x.target).is_none() {
            return;
        }
        let dir = self.dir_of(side);
        if self.polling.is_none() {
            let limits = crate::app::AppLimits::default();
            self.polling =
                Polling::new(self.limits.app, limits, self.poll_registry()).map(Box::new);
        }
        let Some(poll) = self.polling.as_mut() else {
            return;
        };
        if !poll.wants((dir, 0), idx, x, &head.headers) {
            return;
        }
        let cap = poll.max_body();
        let Phase::Http(p) = &mut self.phases[side.idx()] else {
            return;
        };
        if let Some(body) = p.capture_body(cap, first.0) {
            self.on_body(side, body, at, sink);
        }
    }

    /// A kept body ended (a long-polling payload).
    pub(super) fn on_body(
        &mut self,
        side: Side,
        body: CapturedBody,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        let dir = self.dir_of(side);
        if let Some(poll) = self.polling.as_mut() {
            poll.body(&mut self.conn, (dir, 0), body, at.now, at.ts, sink);
        }
    }

    /// RFC 9110 §9.3.6: a 2xx to CONNECT makes the connection a tunnel to
    /// the named host; what runs in it (TLS for wss, HTTP, WebSocket) is a
    /// new stream from its first byte, detected again, TLS included. Client
    /// bytes held while the answer was awaited are replayed into it.
    pub(super) fn open_tunnel(&mut self, server: Side, sink: &mut dyn Consumer) {
        self.http.last_request = None;
        self.set_client(server.other());
        self.put(server, Phase::Detect);
        let client = server.other();
        let held = match self.replace(client, Phase::Detect) {
            Phase::AwaitResponse(_, held, _) => held,
            _ => Vec::new(),
        };
        for h in held {
            match h {
                Held::Data(d, src, now, ts) => {
                    self.piece(client, Piece::Data(&d), At { src, now, ts }, sink)
                }
                Held::Gap(n, now, ts) => {
                    self.counted_gap(client, n, At { src: now, now, ts }, sink)
                }
            }
        }
    }

    /// RFC 9110 §7.8: a 101 switches to what its `Upgrade` header names:
    /// WebSocket when that lists `websocket`. Without the header (a broken
    /// server, or a head the capture cut short), the request decides: what
    /// its `Upgrade` named, if captured; otherwise WebSocket, the upgrade
    /// this tool exists for, with the cut reported as an anomaly.
    pub(super) fn is_websocket_101(&self, head: &Head) -> bool {
        if header_value(&head.headers, "upgrade").is_some() {
            return has_token(&head.headers, "upgrade", "websocket");
        }
        if self.conn.handshake.seen {
            return true;
        }
        match self.http.last_request.as_ref() {
            Some((r, _)) if header_value(&r.headers, "upgrade").is_some() => {
                has_token(&r.headers, "upgrade", "websocket")
            }
            _ => true,
        }
    }

    /// A 101 to another protocol (`tcp`, `h2c`, `TLS/1.2`, ...): the
    /// exchange gets its status, and every later byte on both sides is
    /// counted, never framed.
    pub(super) fn switch_to_other(
        &mut self,
        server: Side,
        head: &Head,
        first: PacketNo,
        at: At,
        sink: &mut dyn Consumer,
    ) {
        let idx = self.http.pending.pop_front();
        let request_upgrade = idx
            .and_then(|i| self.conn.http_exchanges.get(i))
            .and(self.http.last_request.as_ref())
            .and_then(|(r, _)| header_value(&r.headers, "upgrade"));
        if let Some(x) = idx.and_then(|i| self.conn.http_exchanges.get_mut(i)) {
            x.status = Some(101);
            x.response_packet = Some(first);
            x.response_ts = Some(at.ts);
            x.response_complete = head.complete;
        }
        if idx.is_some() && idx == self.http.upgrade_exchange {
            self.http.upgrade_exchange = None;
        }
        self.upgraded = true;
        self.conn.upgraded_to = header_value(&head.headers, "upgrade").or(request_upgrade);
        let request = self.http.last_request.take();
        self.set_client(server.other());
        if self
            .conn
            .upgraded_to
            .as_deref()
            .is_some_and(|u| u.split(',').any(|t| t.trim().eq_ignore_ascii_case("h2c")))
        {
            return self.upgrade_to_h2(server, idx, request, sink);
        }
        self.put(server, Phase::Upgraded);
        let client = server.other();
        match self.take(client) {
            Phase::AwaitResponse(_, held, _) => {
                self.put(client, Phase::Upgraded);
                // (gaps among them were counted as missing when held)
                let bytes: usize = held
                    .iter()
                    .map(|h| match h {
                        Held::Data(d, ..) => d.len(),
                        Held::Gap(..) => 0,
                    })
                    .sum();
                self.conn.stats.c2s.upgraded_bytes += bytes as u64;
            }
            // A request head still in progress ends before the switch.
            Phase::Http(p) if !p.idle() => self.put(client, Phase::Http(p)),
            _ => self.put(client, Phase::Upgraded),
        }
    }

    pub(super) fn switch_to_ws(
        &mut self,
        server: Side,
        head: &Head,
        first: PacketNo,
        sink: &mut dyn Consumer,
    ) {
        self.check_accept(first, sink);
        // RFC 6455 §4.2.2 step 5: both fields, each a token list (RFC 9110
        // §7.6.1, §7.8), in any case and over any number of lines.
        let missing: Vec<&str> = [
            ("upgrade", "websocket", "Upgrade: websocket"),
            ("connection", "upgrade", "Connection: Upgrade"),
        ]
        .into_iter()
        .filter(|(name, token, _)| !has_token(&head.headers, name, token))
        .map(|(_, _, what)| what)
        .collect();
        if head.complete && !missing.is_empty() {
            let detail = format!("101 response lacks {}", missing.join(", "));
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
        let ws = Phase::Ws(Box::new(self.new_ws(server)));
        self.put(server, ws);
        self.release_held(server.other(), true, sink);
    }

    /// Replays the client bytes held during the upgrade, as frames (`ws`)
    /// or as HTTP.
    pub(super) fn release_held(&mut self, client: Side, ws: bool, sink: &mut dyn Consumer) {
        let (parser, held) = match self.take(client) {
            Phase::AwaitResponse(p, held, _) => (p, held),
            // The request head is unfinished or not seen yet: wait for it.
            Phase::Http(p) if ws && (!p.idle() || self.conn.http_exchanges.is_empty()) => {
                self.put(client, Phase::Http(p));
                self.http.ws_after_request = true;
                self.http.early_101_ts = Some(self.now_ts);
                return;
            }
            Phase::Http(p) if ws => (p, Vec::new()),
            other => {
                self.put(client, other);
                return;
            }
        };
        let next = if ws {
            Phase::Ws(Box::new(self.new_ws(client)))
        } else {
            Phase::Http(parser)
        };
        self.put(client, next);
        let now_ts = self.now_ts;
        for h in held {
            match h {
                Held::Data(d, src, now, ts) => self.data(client, &d, At { src, now, ts }, sink),
                Held::Gap(n, now, ts) => {
                    self.counted_gap(client, n, At { src: now, now, ts }, sink)
                }
            }
        }
        self.now_ts = now_ts;
    }
}
