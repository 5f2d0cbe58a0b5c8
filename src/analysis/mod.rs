//! The analyzer: drives decode → TCP → session for every packet, and builds
//! the [`crate::model::Analysis`].
//!
//! Sans-IO: packets are pushed in ([`Analyzer::push`]), time comes from the
//! packets, and events go out to a [`Consumer`] as they happen (NDJSON
//! streams them); [`Analyzer::finish`] returns the whole model.

pub mod appglue;
pub mod builder;
pub mod detect;
pub mod event;
pub mod flows;
pub mod h2session;
pub mod polling;
pub mod session;
mod tracked;

pub use builder::{CaptureSummary, Keep, ModelBuilder, Tally};
pub use event::{Consumer, Ended, Event, NullSink, Tee, Wants};

use crate::capture::{PacketNo, RawPacket, Timestamp};
use crate::decode::{Decoder, Skip, TcpSegment, Unsupported};
use crate::flow::{FlowKey, Side};
use crate::model::finding::{Anomaly, AnomalyKind};
use crate::model::{
    Analysis, CaptureAnomaly, CaptureStats, Connection, Protocol, UnsupportedTunnel,
};
use crate::tcp::{GapCause, Piece, TcpConn};
use crate::tls::KeyLog;
use crate::ws::message::WsLimits;
use flows::FlowTable;
use session::{At, Session};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracked::{
    Tracked, empty_connection, encap_routes, finalize, guess_client, record_route,
    record_tcp_event, tcp_fields,
};

/// Every bound on memory and work, configurable from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Out-of-order bytes buffered per TCP direction before a hole is
    /// declared lost.
    pub max_ooo_bytes_per_dir: u64,
    /// Largest HTTP header block.
    pub max_header_bytes: usize,
    /// Connections tracked at once; the least recently active one is
    /// finished early beyond this.
    pub max_live_flows: usize,
    /// Per-message limits.
    pub ws: WsLimits,
    /// Out-of-order memory buffered across *all* connections (bytes plus a
    /// per-segment overhead), and bytes sessions hold while deciding what a
    /// stream is; beyond it, the connection that pushed the total over gives
    /// up its holes, then its undecided bytes.
    pub max_buffered_total: u64,
    /// Approximate memory of the records kept in the model (messages,
    /// control frames, violations, anomalies, and the records of finished
    /// connections); beyond it new records are counted and streamed to the
    /// sink but not kept. One connection may use at most a quarter of it.
    pub max_model_bytes: u64,
    /// Nested encapsulation layers (tunnels, VLAN tags, MPLS labels)
    /// followed per packet; deeper packets are counted as unsupported.
    pub max_tunnel_depth: usize,
    /// Application protocols in WebSocket messages: detected, forced or
    /// off (`--app`).
    pub app: crate::app::AppChoice,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ooo_bytes_per_dir: 32 << 20,
            max_header_bytes: 64 << 10,
            max_live_flows: 200_000,
            ws: WsLimits::default(),
            max_buffered_total: 1 << 30,
            max_model_bytes: 1 << 30,
            max_tunnel_depth: crate::decode::MAX_TUNNEL_DEPTH,
            app: crate::app::AppChoice::Auto,
        }
    }
}

/// Facts about the capture file that the reader knows.
#[derive(Debug, Clone, Default)]
pub struct CaptureInfo {
    /// File name.
    pub name: String,
    /// `pcap` / `pcapng`.
    pub format: String,
    /// Link type name.
    pub link_type: String,
    /// LINKTYPE number.
    pub link_type_dlt: u32,
}

/// Analyses a capture packet by packet.
pub struct Analyzer<'s> {
    limits: Limits,
    decoder: Decoder,
    /// The live flows, bounded by `max_live_flows` and the linger time.
    flows: FlowTable<Tracked>,
    /// Out-of-order memory held by all live flows (see `max_buffered_total`).
    buffered_total: u64,
    next_id: u32,
    stats: CaptureStats,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Timestamp,
    malformed_reported: u64,
    keylog: Option<Arc<KeyLog>>,
    /// Engine.IO sessions seen long-polling, shared by the connections.
    polls: Arc<std::sync::Mutex<crate::app::eiopoll::PollRegistry>>,
    /// Flows finished early because of `max_live_flows`.
    evictions: u64,
    /// The model, which lends every event on to the output.
    out: ModelBuilder<'s>,
    /// Packets in tunnels not decoded, by kind: count and first packet.
    unsupported: BTreeMap<Unsupported, (u64, PacketNo)>,
}

/// Packets reported one by one as malformed before only counting them.
const MALFORMED_REPORTS: u64 = 100;

/// Capture time a closed connection (FIN both ways, or a RST) waits
/// without packets before it is finished and leaves the flow table, as
/// Zeek's `tcp_close_delay`: late retransmissions and the last ACK still
/// belong to it, and memory follows the connections that are open, not
/// every connection of the capture (a file of 200 000 short connections
/// held them all until its end: 1.7 GB).
pub const CLOSE_LINGER_NS: i128 = 5_000_000_000;

impl<'s> Analyzer<'s> {
    /// An analyzer with the given limits, streaming events to `sink`; the
    /// model it returns keeps every reported connection
    /// ([`Analyzer::set_keep`] to keep less).
    pub fn new(mut limits: Limits, sink: &'s mut dyn Consumer) -> Self {
        let out = ModelBuilder::new(limits.max_model_bytes, Keep::All, sink);
        // Payload chunks are produced only for a sink that consumes them.
        limits.ws.emit_payload = out.wants().payloads;
        Analyzer {
            limits,
            decoder: Decoder::with_max_depth(limits.max_tunnel_depth),
            flows: FlowTable::default(),
            buffered_total: 0,
            next_id: 0,
            stats: CaptureStats::default(),
            packets: 0,
            first_ts: None,
            last_ts: Timestamp::default(),
            malformed_reported: 0,
            keylog: None,
            polls: Arc::new(std::sync::Mutex::new(
                crate::app::eiopoll::PollRegistry::new(
                    crate::app::AppLimits::default(),
                    crate::app::eiopoll::MAX_POLL_SESSIONS,
                ),
            )),
            evictions: 0,
            out,
            unsupported: BTreeMap::new(),
        }
    }

    /// TLS secrets for connections that start from now on (wss).
    pub fn set_keylog(&mut self, keylog: Option<Arc<KeyLog>>) {
        self.keylog = keylog;
    }

    /// Records a problem with the capture (from the reader).
    pub fn capture_anomaly(&mut self, packet: PacketNo, detail: String) {
        let a = CaptureAnomaly { packet, detail };
        let _ = self.out.event(Event::CaptureAnomaly(&a));
    }

    /// Analyses one packet.
    pub fn push(&mut self, pkt: &RawPacket<'_>) {
        self.packets = self.packets.max(pkt.number.0);
        self.stats.bytes += pkt.data.len() as u64;
        if pkt.ts != Timestamp::default() {
            if self.first_ts.is_none() {
                let _ = self.out.event(Event::CaptureStart(pkt.ts));
            }
            self.first_ts.get_or_insert(pkt.ts);
            self.last_ts = pkt.ts;
        }
        let decoded = self.decoder.decode(pkt);
        let seg = match decoded {
            Ok(seg) => seg,
            Err(skip) => {
                self.skipped(pkt.number, skip);
                return;
            }
        };
        self.stats.tcp_packets += 1;
        self.segment(&seg, pkt.number, pkt.ts);
        self.decoder.recycle(seg.encap);
        self.retire_lingering(pkt.ts);
    }

    /// Finishes the closed flows that had no packet for
    /// [`CLOSE_LINGER_NS`] before `now`. Amortised O(1): each queue entry
    /// is looked at once, or once more per packet its flow got since.
    fn retire_lingering(&mut self, now: Timestamp) {
        while let Some(slot) = self
            .flows
            .lingering(now, CLOSE_LINGER_NS, |t| t.tcp.last_ts)
        {
            self.retire(slot);
        }
    }

    fn skipped(&mut self, packet: PacketNo, skip: Skip) {
        match skip {
            Skip::NotTcp | Skip::FragmentPending => self.stats.other_packets += 1,
            Skip::UnsupportedLink(l) => {
                self.stats.other_packets += 1;
                if self.malformed_reported == 0 {
                    self.malformed_reported += 1;
                    self.capture_anomaly(
                        packet,
                        format!("link type {l} is not decoded; its packets are counted only"),
                    );
                }
            }
            Skip::UnsupportedTunnel(kind) => {
                self.stats.other_packets += 1;
                let e = self.unsupported.entry(kind).or_insert((0, packet));
                e.0 += 1;
                if e.0 == 1
                    && let Unsupported::DepthCap(n) = kind
                {
                    self.capture_anomaly(
                        packet,
                        format!("packet {packet} is nested in more encapsulation layers than the cap of {n} (--max-tunnel-depth); such packets are counted, not decoded"),
                    );
                }
            }
            Skip::Malformed(why) => {
                self.stats.malformed_packets += 1;
                if self.malformed_reported < MALFORMED_REPORTS {
                    self.malformed_reported += 1;
                    self.capture_anomaly(packet, format!("packet {packet} not decoded: {why}"));
                }
            }
        }
    }

    fn segment(&mut self, seg: &TcpSegment<'_>, packet: PacketNo, ts: Timestamp) {
        let key = FlowKey::scoped(seg.src, seg.dst, seg.scope);
        let slot = match self.flows.find(&key) {
            Some(i) if self.flows.get(i).is_some_and(|t| !t.tcp.is_reuse(seg)) => i,
            Some(i) => {
                self.retire(i);
                self.open(key, seg, packet, ts)
            }
            None => self.open(key, seg, packet, ts),
        };
        self.flows.touch(slot, packet.0);
        let Some(t) = self.flows.get_mut(slot) else {
            return;
        };
        let cost_before = t.tcp.buffered_cost() + t.session.held_cost();
        if seg.flags.syn {
            // The side's stream is seen from its first byte (issue 17: such
            // a stream is never taken for WebSocket without an upgrade).
            t.session.syn(t.tcp.side_of(seg.src));
        }
        let at = At {
            src: packet,
            now: packet,
            ts,
        };
        let side = {
            let session = &mut t.session;
            let sink = &mut self.out;
            let mut deliver_at = |side: Side, piece: Piece<'_>, src: PacketNo, cause: GapCause| {
                deliver(session, side, piece, At { src, ..at }, cause, sink)
            };
            t.tcp.on_segment(seg, packet, ts, &mut deliver_at)
        };
        let mut cost_after = t.tcp.buffered_cost() + t.session.held_cost();
        let others = self.buffered_total.saturating_sub(cost_before);
        let cap = self.limits.max_buffered_total;
        if others.saturating_add(cost_after) > cap {
            // Only this flow's buffer grew, so shedding its holes, then its
            // undecided bytes, is enough to get back under the cap (or to
            // hold nothing).
            let held = t.session.held_cost();
            let session = &mut t.session;
            let sink = &mut self.out;
            let mut deliver_at = |side: Side, piece: Piece<'_>, src: PacketNo, cause: GapCause| {
                deliver(session, side, piece, At { src, ..at }, cause, sink)
            };
            while others.saturating_add(cost_after) > cap && t.tcp.shed(&mut deliver_at) {
                cost_after = t.tcp.buffered_cost() + held;
            }
            cost_after = t.tcp.buffered_cost() + t.session.held_cost();
            if others.saturating_add(cost_after) > cap {
                t.session.shed_held(&mut self.out);
                cost_after = t.tcp.buffered_cost() + t.session.held_cost();
            }
        }
        self.buffered_total = others.saturating_add(cost_after);
        record_tcp_event(t, side, seg, packet, ts);
        record_route(t, side, &seg.encap, packet);
        let closed = t.tcp.is_closed().then_some(t.tcp.last_ts);
        if let Some(last_ts) = closed {
            self.flows.queue_closing(slot, last_ts);
        }
    }

    fn open(
        &mut self,
        key: FlowKey,
        seg: &TcpSegment<'_>,
        packet: PacketNo,
        ts: Timestamp,
    ) -> usize {
        while self.flows.len() >= self.limits.max_live_flows.max(1) {
            if !self.evict_idle() {
                break;
            }
        }
        self.next_id = self.next_id.wrapping_add(1);
        self.stats.tcp_connections += 1;
        let tcp = TcpConn::new(seg, packet, ts, self.limits.max_ooo_bytes_per_dir);
        // SYN without ACK: the sender is the client; SYN+ACK: the receiver.
        let client = if seg.flags.syn && !seg.flags.ack {
            Some(Side(0))
        } else if seg.flags.syn {
            Some(Side(1))
        } else {
            None
        };
        let conn = empty_connection(self.next_id, &tcp, ts, packet);
        let mut session = Session::new(
            conn,
            tcp.endpoints,
            client,
            self.limits,
            self.keylog.clone(),
        );
        session.share_polling(self.polls.clone());
        let tracked = Tracked {
            tcp,
            session,
            tcp_events: Vec::new(),
            routes: Vec::new(),
            plain: [(0, packet); 2],
        };
        self.flows.insert(key, self.next_id, packet.0, tracked)
    }

    /// Finishes the least recently active flow (bounded flow table);
    /// false when no flow is live.
    fn evict_idle(&mut self) -> bool {
        let Some(slot) = self.flows.idlest() else {
            return false;
        };
        self.evictions += 1;
        if self.evictions == 1 {
            let p = PacketNo(self.packets);
            self.capture_anomaly(p, format!("more than {} live connections: the idlest ones are finished early (--max-flows)", self.limits.max_live_flows));
        }
        self.retire(slot);
        true
    }

    /// Finishes a flow and moves its record out.
    fn retire(&mut self, slot: usize) {
        let Some(mut t) = self.flows.remove(slot) else {
            return;
        };
        let held = t.tcp.buffered_cost() + t.session.held_cost();
        self.buffered_total = self.buffered_total.saturating_sub(held);
        let sink = &mut self.out;
        let now = PacketNo(self.packets);
        let ts = self.last_ts;
        let session = &mut t.session;
        t.tcp.finish(&mut |side, piece, src, cause| {
            deliver(session, side, piece, At { src, now, ts }, cause, sink)
        });
        // What settling finds (held bytes replayed, frames of a stream
        // judged at its end, findings) is an event like any other.
        t.session.fins(t.tcp.fin);
        t.session.finish(now, &mut self.out);
        let (conn, sessions) = finalize(t);
        let _ = self.out.event(Event::End(Ended::Given(Box::new(conn))));
        for s in sessions {
            let _ = self.out.event(Event::End(Ended::Given(Box::new(s))));
        }
    }

    /// Live captures (bounded memory): once a finished connection has gone
    /// to the sink ([`Event::End`]), keep only its summary (its messages
    /// and control frames are dropped; the final counts still include
    /// them). Set it before the first packet.
    pub fn set_evict_finished(&mut self, on: bool) {
        self.set_keep(if on { Keep::Summaries } else { Keep::All });
    }

    /// Streaming reports (NDJSON): once a finished connection has gone to
    /// the sink ([`Event::End`]), drop it altogether, so that memory does
    /// not grow with the number of connections in the capture (a summary
    /// is about a kilobyte: a million short connections would be a
    /// gigabyte). The model [`Analyzer::finish`] returns then lists no
    /// connections, only the capture's totals, which still count them.
    /// Set it before the first packet.
    pub fn set_drop_finished(&mut self, on: bool) {
        self.set_keep(if on { Keep::Nothing } else { Keep::All });
    }

    /// What the model keeps of finished connections ([`Keep`]).
    pub fn set_keep(&mut self, keep: Keep) {
        self.out.set_keep(keep);
    }

    /// The output can take nothing more (a consumer broke).
    pub fn sink_stopped(&self) -> bool {
        self.out.stopped()
    }

    /// Finishes the connections that are over (FIN from both sides, or a
    /// RST) and have had no packet for `linger_ns` before `now`, so that
    /// their `End` event comes while a live capture goes on. Time is an
    /// argument: the caller passes its clock.
    pub fn retire_closed(&mut self, now: Timestamp, linger_ns: i128) {
        for i in 0..self.flows.slot_count() {
            let over = self.flows.get(i).is_some_and(|t| {
                t.tcp.is_closed() && now.0.saturating_sub(t.tcp.last_ts.0) >= linger_ns
            });
            if over {
                self.retire(i);
            }
        }
    }

    /// A quiet moment of a live capture: consumers that batch (the view's
    /// index) make what they hold visible.
    pub fn idle(&mut self) {
        self.out.idle();
    }

    /// Live captures (bounded memory for long-lived connections): keeps
    /// only the last `keep` messages and control frames of each connection
    /// in progress; older ones, already streamed to the sink, are dropped
    /// and still counted in the final stats.
    pub fn trim_live(&mut self, keep: usize) {
        self.out.trim_open(keep);
    }

    /// The model so far, without ending the analysis: finished connections
    /// (summaries only when evicting) and the ones in progress as they
    /// stand (protocol provisional, pending bytes not yet flushed).
    pub fn snapshot(&self, info: CaptureInfo) -> Analysis {
        self.out.snapshot(self.in_progress(), self.summary(info))
    }

    /// The capture's totals so far (counts, statistics, capture anomalies),
    /// without any connection record: what a view over an index of the
    /// event stream needs, at the cost of copying no message.
    pub fn totals(&self, info: CaptureInfo) -> Analysis {
        let open = self.flows.values().filter_map(|t| {
            let (websocket, protocol) = provisional(&t.session);
            (protocol != Protocol::Unknown).then(|| Tally {
                websocket,
                ..Tally::of(&t.session.conn)
            })
        });
        self.out.totals(open, self.summary(info))
    }

    /// The records of the connections in progress as they stand, without
    /// their kept messages and control frames.
    fn in_progress(&self) -> Vec<Connection> {
        let mut current = Vec::new();
        for t in self.flows.values() {
            let mut c = t.session.conn.clone();
            let client = t.session.client.unwrap_or_else(|| guess_client(&t.tcp));
            tcp_fields(&mut c, &t.tcp, &t.tcp_events, client);
            c.encapsulation = encap_routes(t, client);
            (c.is_websocket, c.protocol) = provisional(&t.session);
            current.push(c);
        }
        current
    }

    /// Ends the analysis and returns the model.
    pub fn finish(mut self, info: CaptureInfo) -> Analysis {
        for i in 0..self.flows.slot_count() {
            self.retire(i);
        }
        let summary = self.summary(info);
        self.out.finish(summary)
    }

    /// What the analyzer alone knows of the capture.
    fn summary(&self, info: CaptureInfo) -> CaptureSummary {
        let mut closing_anomalies = Vec::new();
        if self.evictions > 0 {
            closing_anomalies.push(CaptureAnomaly {
                packet: PacketNo(self.packets),
                detail: format!(
                    "{} connections were finished early to stay under {} live connections (--max-flows)",
                    self.evictions, self.limits.max_live_flows
                ),
            });
        }
        CaptureSummary {
            packets: self.packets,
            start_ts: self.first_ts.unwrap_or_default(),
            end_ts: self.last_ts,
            stats: self.stats,
            closing_anomalies,
            unsupported_tunnels: self
                .unsupported
                .iter()
                .map(|(kind, &(packets, first_packet))| UnsupportedTunnel {
                    kind: kind.to_string(),
                    packets,
                    first_packet,
                })
                .collect(),
            info,
        }
    }
}

/// Hands a reassembled piece to the session, recording capture gaps.
fn deliver(
    session: &mut Session,
    side: Side,
    piece: Piece<'_>,
    at: At,
    cause: GapCause,
    sink: &mut dyn Consumer,
) {
    if let Piece::Gap(n) = piece {
        let dir = session.dir_of(side);
        let (kind, what) = match cause {
            GapCause::Snaplen => (AnomalyKind::Snaplen, "cut by the capture's snapshot length"),
            GapCause::Lost => (
                AnomalyKind::Loss,
                "never captured (lost before the capture point)",
            ),
            GapCause::BufferCap => (
                AnomalyKind::CapReached,
                "given up: out-of-order buffer cap reached (--max-ooo-bytes)",
            ),
            GapCause::TotalCap => (
                AnomalyKind::CapReached,
                "given up: cap on out-of-order bytes across all connections reached (--max-buffered-total)",
            ),
        };
        let detail = format!("{n} bytes {dir} {what}");
        session.push_anomaly(
            Anomaly {
                kind,
                dir: Some(dir),
                packet: at.now,
                ts: at.ts,
                detail,
            },
            sink,
        );
    }
    session.piece(side, piece, at, sink);
}

/// A connection in progress as the evidence so far shows it: WebSocket or
/// not, and its protocol (provisional until it ends; `Unknown` is not
/// reported).
fn provisional(s: &Session) -> (bool, Protocol) {
    let websocket = s.conn.is_websocket_so_far();
    let protocol = if websocket {
        Protocol::Websocket
    } else if s.recognised() {
        Protocol::Http
    } else {
        s.conn.protocol
    };
    (websocket, protocol)
}
