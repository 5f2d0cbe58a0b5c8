//! Where a session becomes HTTP/2 (RFC 9113 §3): the client's preface,
//! a `101` to `h2c`, or frames picked up after the start; from there both
//! sides' bytes go to [`crate::analysis::h2session::H2Sessions`], with the bytes held so far replayed
//! in capture order.

use super::{At, Held, Phase, Session, Start};
use crate::analysis::h2session::H2Mode;
use crate::analysis::{Consumer, Event};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Side;
use crate::http::Head;
use crate::http::handshake::header_value;
use crate::model::finding::{Anomaly, AnomalyKind};
use std::borrow::Cow;

impl Session {
    /// HTTP/2 picked up after its start (no preface, RFC 9113 §3.4): the
    /// client is taken to be the side with the higher port (the
    /// ephemeral one), as elsewhere without a SYN; both sides' held bytes
    /// are replayed.
    pub(super) fn pick_up_h2(&mut self, sink: &mut dyn Consumer) {
        let client = if self.endpoints[0].port() >= self.endpoints[1].port() {
            Side(0)
        } else {
            Side(1)
        };
        self.set_client(client);
        self.h2 = Some(Box::new(self.new_h2(H2Mode::PickedUp, None)));
        let (packet, ts) = self
            .first_held()
            .unwrap_or((PacketNo::default(), self.now_ts));
        let anomaly = Anomaly {
            kind: AnomalyKind::Undecodable,
            dir: None,
            packet,
            ts,
            detail: "HTTP/2 picked up after its start (no connection preface): streams opened before the capture, and header blocks that refer to table entries never seen, are not decoded".into(),
        };
        let _ = sink.event(Event::Anomaly {
            conn: &self.conn,
            anomaly: Cow::Owned(anomaly),
        });
        self.replay_into_h2(sink);
    }

    /// The first packet (and its time) whose bytes a side holds undecided.
    pub(super) fn first_held(&self) -> Option<(PacketNo, Timestamp)> {
        self.phases
            .iter()
            .filter_map(|p| match p {
                Phase::Probe(p) => p.held.iter().find_map(|h| match h {
                    Held::Data(_, src, _, ts) => Some((*src, *ts)),
                    Held::Gap(..) => None,
                }),
                _ => None,
            })
            .min_by_key(|(p, _)| *p)
    }

    /// `client` sent the HTTP/2 connection preface: both sides are HTTP/2
    /// from here (RFC 9113 §3.4); the bytes both sides held are replayed
    /// in capture order.
    pub(super) fn start_h2(&mut self, client: Side, mode: H2Mode, sink: &mut dyn Consumer) {
        self.set_client(client);
        let mode = if self.tls.conn.is_some() {
            H2Mode::Tls
        } else if self.start[client.idx()] != Start::Whole {
            H2Mode::StartNotCaptured
        } else {
            mode
        };
        self.h2 = Some(Box::new(self.new_h2(mode, None)));
        self.replay_into_h2(sink);
    }

    /// A `101` to `h2c` (RFC 7540 §3.2): the request is stream 1, and what
    /// both sides send after the switch is HTTP/2.
    pub(super) fn upgrade_to_h2(
        &mut self,
        server: Side,
        exchange: Option<usize>,
        request: Option<(Head, PacketNo)>,
        sink: &mut dyn Consumer,
    ) {
        use base64::Engine;
        let settings = request
            .as_ref()
            .and_then(|(r, _)| header_value(&r.headers, "http2-settings"))
            .and_then(|v| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(v.trim().trim_end_matches('='))
                    .ok()
            });
        let mut h2 = self.new_h2(H2Mode::Upgrade, settings.as_deref());
        if let Some(x) = exchange.and_then(|i| self.conn.http_exchanges.get(i)) {
            h2.set_upgrade_request(
                x.method.clone(),
                x.target.clone(),
                x.request_packet,
                x.request_ts,
            );
        }
        self.h2 = Some(Box::new(h2));
        let client = server.other();
        // A request head still in progress ends before the switch.
        let held = match &self.phases[client.idx()] {
            Phase::Http(p) if !p.idle() => Vec::new(),
            _ => match self.replace(client, Phase::H2) {
                Phase::AwaitResponse(_, held, _) => held,
                _ => Vec::new(),
            },
        };
        self.put(server, Phase::H2);
        for h in held {
            self.held_into_h2(client, h, sink);
        }
    }

    /// Hands one piece `side` held to HTTP/2, with its own provenance.
    pub(super) fn held_into_h2(&mut self, side: Side, h: Held, sink: &mut dyn Consumer) {
        let dir = self.dir_of(side);
        let Some(h2) = self.h2.as_mut() else { return };
        match h {
            Held::Data(d, src, now, ts) => {
                h2.push(dir, &d, At { src, now, ts }, &mut self.conn, sink)
            }
            Held::Gap(n, now, ts) => h2.gap(dir, n, At { src: now, now, ts }, &mut self.conn, sink),
        }
    }

    /// Both sides' held bytes go to HTTP/2, in the order the capture
    /// completed them.
    pub(super) fn replay_into_h2(&mut self, sink: &mut dyn Consumer) {
        let mut all: Vec<(Side, Held)> = Vec::new();
        for side in [Side(0), Side(1)] {
            if let Phase::Probe(p) = self.replace(side, Phase::H2) {
                all.extend(p.held.into_iter().map(|h| (side, h)));
            }
        }
        all.sort_by_key(|(_, h)| match h {
            Held::Data(_, _, now, _) | Held::Gap(_, now, _) => *now,
        });
        for (side, h) in all {
            self.held_into_h2(side, h, sink);
        }
    }
}
