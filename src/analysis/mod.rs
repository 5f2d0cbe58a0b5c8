//! The analyzer: drives decode → TCP → session for every packet, and builds
//! the [`model::Analysis`].
//!
//! Sans-IO: packets are pushed in ([`Analyzer::push`]), time comes from the
//! packets, and events go out to an [`EventSink`] as they happen (NDJSON
//! streams them); [`Analyzer::finish`] returns the whole model.

pub mod detect;
pub mod flows;
pub mod model;
pub mod session;

use crate::capture::{PacketNo, RawPacket, Timestamp};
use crate::decode::{Decoder, Encap, Skip, TcpSegment, Unsupported};
use crate::flow::{Direction, FlowKey, Role, Side};
use crate::http::handshake::Handshake;
use crate::tcp::{GapCause, Piece, TcpConn};
use crate::tls::KeyLog;
use crate::violation::{Anomaly, AnomalyKind, Violation};
use crate::ws::message::{ControlFrame, Message, WsLimits};
use flows::FlowTable;
use model::{
    Analysis, CaptureAnomaly, CaptureStats, ConnStats, Connection, EncapRoute, Protocol, TcpDetail,
    TcpEnd, TcpEvent, TcpEventKind, UnsupportedTunnel,
};
use session::{At, Session};
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// control frames, violations, anomalies, HTTP exchanges); beyond it
    /// new records are counted and streamed to the sink but not kept. One
    /// connection may use at most a quarter of it.
    pub max_model_bytes: u64,
    /// Nested encapsulation layers (tunnels, VLAN tags, MPLS labels)
    /// followed per packet; deeper packets are counted as unsupported.
    pub max_tunnel_depth: usize,
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
        }
    }
}

/// An event as it happens, for streaming outputs.
#[derive(Debug)]
pub enum SinkEvent<'a> {
    /// The opening handshake got its response.
    Handshake(&'a Handshake),
    /// A data message completed.
    Message(&'a Message),
    /// A control frame completed.
    Control(&'a ControlFrame),
    /// A violation.
    Violation(&'a Violation),
    /// An anomaly.
    Anomaly(&'a Anomaly),
    /// The connection is finished (the record is complete).
    End,
}

/// Receives events as they happen; `conn` is the connection record so far.
pub trait EventSink {
    /// One event.
    fn event(&mut self, conn: &Connection, ev: SinkEvent<'_>);

    /// The consumer of whole payloads, if this sink wants them. The model
    /// keeps only a bounded head and text per message; a sink that returns
    /// `Some` here receives every decoded byte instead (export, FLV). The
    /// default `None` keeps the payload path free of any extra work.
    fn payloads(&mut self) -> Option<&mut dyn PayloadSink> {
        None
    }

    /// Offered the data messages connection `conn` completed since the last
    /// offer: after every packet of the connection, and once more when it
    /// is finished (before [`SinkEvent::End`]), in order of completion.
    ///
    /// A sink that stores or writes them elsewhere drains the `Vec`, so the
    /// model does not hold every message of a long capture (peak memory
    /// stays bounded, `docs/performance.md`); the per-direction counters in
    /// [`model::ConnStats`] still count them. By default they stay in the
    /// model ([`Connection::messages`]).
    fn take_messages(&mut self, conn: u32, messages: &mut Vec<Message>) {
        let _ = (conn, messages);
    }

    /// A data message completed: the [`SinkEvent::Message`] event, with
    /// the message handed over by value.
    ///
    /// Returns the message for the model to keep, or `None` when the sink
    /// took it (it then never reaches [`Connection::messages`] nor
    /// [`EventSink::take_messages`]). A sink that serializes messages on
    /// another thread takes them here instead of copying them. The default
    /// passes the message to [`EventSink::event`] and gives it back.
    fn message(&mut self, conn: &Connection, m: Message) -> Option<Message> {
        self.event(conn, SinkEvent::Message(&m));
        Some(m)
    }

    /// A finished connection the analyzer lets go
    /// ([`Analyzer::set_drop_finished`]): the [`SinkEvent::End`] event with
    /// the record handed over by value, so that a sink that writes it on
    /// another thread need not copy it. The default passes it to
    /// [`EventSink::event`] and drops it.
    fn end(&mut self, conn: Connection) {
        self.event(&conn, SinkEvent::End);
    }

    /// The time of the capture's first packet (the model's `start_ts`),
    /// told before any event: `frame.time_relative` in display filters
    /// counts from it.
    fn capture_start(&mut self, _ts: Timestamp) {}

    /// True when the sink can take nothing more (its output is gone: a
    /// closed pipe); reading the capture may then stop. Asked after every
    /// packet.
    fn stopped(&self) -> bool {
        false
    }
}

/// Receives the decoded (unmasked, inflated) payload of every data message
/// as it is reassembled, without the model having to keep it.
///
/// For each connection and direction, messages are built one at a time:
/// the chunks given to [`PayloadSink::payload`] belong to the message that
/// the next [`PayloadSink::message_end`] for the same `(conn_id, dir)`
/// closes. Chunks stop at the first capture gap (the message is then
/// `complete: false`). A message still unfinished when its connection ends
/// gets no `message_end`.
pub trait PayloadSink {
    /// The next decoded bytes of the message in progress in `dir`.
    fn payload(&mut self, conn_id: u32, dir: Direction, chunk: &[u8]);
    /// The message in progress in `msg.dir` completed; it is
    /// `conn.messages[msg_index]` of connection `conn_id`.
    fn message_end(&mut self, conn_id: u32, msg_index: usize, msg: &Message);
}

/// Discards events.
#[derive(Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn event(&mut self, _: &Connection, _: SinkEvent<'_>) {}
}

struct Tracked {
    tcp: TcpConn,
    session: Session,
    /// Model budget this connection has used (see [`model_budget`]).
    model_spent: u64,
    /// SYN/FIN/RST by side; directions are settled at the end.
    tcp_events: Vec<(Side, TcpEventKind, PacketNo, Timestamp)>,
    /// Distinct encapsulation stacks by side (see [`Connection::encapsulation`]),
    /// at most [`MAX_ROUTES`]; empty while every packet was plain.
    routes: Vec<Route>,
    /// Plain (unencapsulated) packets by side: count and first packet.
    plain: [(u64, PacketNo); 2],
}

/// One distinct encapsulation stack of a connection, by side.
struct Route {
    side: Side,
    layers: Vec<Encap>,
    first: PacketNo,
    packets: u64,
}

/// Distinct encapsulation stacks recorded per connection; a connection that
/// changes tunnels more often than that (it should not) lists the first ones.
const MAX_ROUTES: usize = 8;

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
    /// Estimated memory of the records kept in the model.
    model_bytes: u64,
    /// Records dropped because of `max_model_bytes`: messages, control
    /// frames, others.
    dropped: [u64; 3],
    done: Vec<Connection>,
    next_id: u32,
    stats: CaptureStats,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Timestamp,
    anomalies: Vec<CaptureAnomaly>,
    malformed_reported: u64,
    keylog: Option<Arc<KeyLog>>,
    /// Flows finished early because of `max_live_flows`.
    evictions: u64,
    /// Cap anomalies of unreported connections (see `lift_limit_anomalies`).
    lifted: u64,
    sink: &'s mut dyn EventSink,
    /// Live captures: see [`Analyzer::set_evict_finished`].
    evict: bool,
    /// Streaming reports: see [`Analyzer::set_drop_finished`].
    drop_finished: bool,
    /// Counts of evicted connections' messages, added back in `finish`.
    evicted: CaptureStats,
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
    /// An analyzer with the given limits, streaming events to `sink`.
    pub fn new(mut limits: Limits, sink: &'s mut dyn EventSink) -> Self {
        // Payload chunks are produced only for a sink that consumes them.
        limits.ws.emit_payload = sink.payloads().is_some();
        Analyzer {
            limits,
            decoder: Decoder::with_max_depth(limits.max_tunnel_depth),
            flows: FlowTable::default(),
            buffered_total: 0,
            model_bytes: 0,
            dropped: [0; 3],
            done: Vec::new(),
            next_id: 0,
            stats: CaptureStats::default(),
            packets: 0,
            first_ts: None,
            last_ts: Timestamp::default(),
            anomalies: Vec::new(),
            malformed_reported: 0,
            keylog: None,
            evictions: 0,
            lifted: 0,
            sink,
            evict: false,
            drop_finished: false,
            evicted: CaptureStats::default(),
            unsupported: BTreeMap::new(),
        }
    }

    /// TLS secrets for connections that start from now on (wss).
    pub fn set_keylog(&mut self, keylog: Option<Arc<KeyLog>>) {
        self.keylog = keylog;
    }

    /// Records a problem with the capture (from the reader).
    pub fn capture_anomaly(&mut self, packet: PacketNo, detail: String) {
        self.anomalies.push(CaptureAnomaly { packet, detail });
    }

    /// Analyses one packet.
    pub fn push(&mut self, pkt: &RawPacket<'_>) {
        self.packets = self.packets.max(pkt.number.0);
        self.stats.bytes += pkt.data.len() as u64;
        if pkt.ts != Timestamp::default() {
            if self.first_ts.is_none() {
                self.sink.capture_start(pkt.ts);
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
        let budget = model_budget(&self.limits, self.model_bytes, t.model_spent);
        t.session.budget = budget;
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
            let sink = &mut *self.sink;
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
            let sink = &mut *self.sink;
            let mut deliver_at = |side: Side, piece: Piece<'_>, src: PacketNo, cause: GapCause| {
                deliver(session, side, piece, At { src, ..at }, cause, sink)
            };
            while others.saturating_add(cost_after) > cap && t.tcp.shed(&mut deliver_at) {
                cost_after = t.tcp.buffered_cost() + held;
            }
            cost_after = t.tcp.buffered_cost() + t.session.held_cost();
            if others.saturating_add(cost_after) > cap {
                t.session.shed_held(&mut *self.sink);
                cost_after = t.tcp.buffered_cost() + t.session.held_cost();
            }
        }
        self.buffered_total = others.saturating_add(cost_after);
        record_tcp_event(t, side, seg, packet, ts);
        record_route(t, side, &seg.encap, packet);
        let closed = t.tcp.is_closed().then_some(t.tcp.last_ts);
        self.account_model(slot, budget);
        self.offer_messages(slot);
        if let Some(last_ts) = closed {
            self.flows.queue_closing(slot, last_ts);
        }
    }

    /// Offers the messages `slot` completed to the sink; what the sink takes
    /// no longer weighs on the model budget.
    fn offer_messages(&mut self, slot: usize) {
        let Some(t) = self.flows.get_mut(slot) else {
            return;
        };
        let conn = &mut t.session.conn;
        if conn.messages.is_empty() {
            return;
        }
        self.sink.take_messages(conn.id, &mut conn.messages);
        if conn.messages.is_empty() {
            let refund = std::mem::take(&mut t.session.kept_message_cost);
            t.model_spent = t.model_spent.saturating_sub(refund);
            self.model_bytes = self.model_bytes.saturating_sub(refund);
        }
    }

    /// Takes back what `slot`'s session spent of the model budget it was
    /// handed (`given`) and the records it dropped for want of it.
    fn account_model(&mut self, slot: usize, given: u64) {
        let Some(t) = self.flows.get_mut(slot) else {
            return;
        };
        let (left, dropped) = (t.session.budget, std::mem::take(&mut t.session.dropped));
        t.model_spent = t.model_spent.saturating_add(given.saturating_sub(left));
        self.settle_budget(given, left, dropped);
    }

    fn settle_budget(&mut self, given: u64, left: u64, dropped: [u64; 3]) {
        self.model_bytes = self.model_bytes.saturating_add(given.saturating_sub(left));
        if dropped.iter().all(|&d| d == 0) {
            return;
        }
        let first = self.dropped.iter().all(|&d| d == 0);
        for (total, d) in self.dropped.iter_mut().zip(dropped) {
            *total += d;
        }
        if first {
            let p = PacketNo(self.packets);
            self.capture_anomaly(
                p,
                format!(
                    "the report's records reached their memory cap (--max-model-bytes: {} bytes in all, a quarter of it per connection): later messages, control frames and findings are counted but not kept",
                    self.limits.max_model_bytes
                ),
            );
        }
    }

    /// A connection that is not reported may still have hit a cap (a header
    /// block that never ended, a buffer given up): say so at capture level,
    /// for the first few such connections, so that no cap hit goes unseen.
    fn lift_limit_anomalies(&mut self, conn: &Connection) {
        for a in &conn.anomalies {
            if !matches!(a.kind, AnomalyKind::CapReached | AnomalyKind::BadHttp) {
                continue;
            }
            self.lifted += 1;
            if self.lifted <= MALFORMED_REPORTS {
                self.capture_anomaly(
                    a.packet,
                    format!(
                        "connection {} → {} (not reported): {}",
                        conn.client, conn.server, a.detail
                    ),
                );
            }
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
        let session = Session::new(
            conn,
            tcp.endpoints,
            client,
            self.limits,
            self.keylog.clone(),
        );
        let tracked = Tracked {
            tcp,
            session,
            model_spent: 0,
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
        let budget = model_budget(&self.limits, self.model_bytes, t.model_spent);
        t.session.budget = budget;
        let sink = &mut *self.sink;
        let now = PacketNo(self.packets);
        let ts = self.last_ts;
        let session = &mut t.session;
        t.tcp.finish(&mut |side, piece, src, cause| {
            deliver(session, side, piece, At { src, now, ts }, cause, sink)
        });
        let finished_budget = finalize_budget(&mut t, &mut *self.sink);
        self.settle_budget(budget, finished_budget.0, finished_budget.1);
        let kept_cost = t.session.kept_message_cost;
        let mut conn = finalize(t);
        if !conn.messages.is_empty() {
            self.sink.take_messages(conn.id, &mut conn.messages);
            if conn.messages.is_empty() {
                self.model_bytes = self.model_bytes.saturating_sub(kept_cost);
            }
        }
        // Connections of no known protocol are never reported: drop them
        // now so that a SYN flood costs no memory once its flows retire.
        if !conn.reported() {
            self.sink.event(&conn, SinkEvent::End);
            self.lift_limit_anomalies(&conn);
            return;
        }
        if self.evict {
            let e = &mut self.evicted;
            e.websocket_connections += u64::from(conn.is_websocket);
            e.messages += conn.stats.c2s.messages + conn.stats.s2c.messages;
            e.control_frames += conn.stats.c2s.control_frames + conn.stats.s2c.control_frames;
            e.violations += conn.violations.len() as u64;
        }
        if self.drop_finished {
            self.sink.end(conn);
            return;
        }
        self.sink.event(&conn, SinkEvent::End);
        if self.evict {
            conn.messages = Vec::new();
            conn.control = Vec::new();
        }
        self.done.push(conn);
    }

    /// Live captures (bounded memory): once a finished connection has gone
    /// to the sink (`SinkEvent::End`), keep only its summary (its messages
    /// and control frames are dropped; the final counts still include
    /// them), drop connections that carried nothing recognised, and reuse
    /// their slots. Set it before the first packet.
    pub fn set_evict_finished(&mut self, on: bool) {
        self.evict = on;
    }

    /// Streaming reports (NDJSON): once a finished connection has gone to
    /// the sink (`SinkEvent::End`), drop it altogether, so that memory does
    /// not grow with the number of connections in the capture (a summary
    /// is about a kilobyte: a million short connections would be a
    /// gigabyte). The model [`Analyzer::finish`] returns then lists no
    /// connections, only the capture's totals, which still count them.
    /// Implies [`Analyzer::set_evict_finished`]. Set it before the first
    /// packet.
    pub fn set_drop_finished(&mut self, on: bool) {
        self.drop_finished = on;
        self.evict |= on;
    }

    /// The sink can take nothing more ([`EventSink::stopped`]).
    pub fn sink_stopped(&self) -> bool {
        self.sink.stopped()
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

    /// Live captures (bounded memory for long-lived connections): keeps
    /// only the last `keep` messages and control frames of each connection
    /// in progress; older ones, already streamed to the sink, are dropped
    /// and still counted in the final stats.
    pub fn trim_live(&mut self, keep: usize) {
        for t in self.flows.values_mut() {
            let c = &mut t.session.conn;
            // The per-direction counters keep counting what is dropped here.
            let m = c.messages.len().saturating_sub(keep);
            let f = c.control.len().saturating_sub(keep);
            c.messages.drain(..m);
            c.control.drain(..f);
        }
    }

    /// The model so far, without ending the analysis: finished connections
    /// (summaries only when evicting) and the ones in progress as they
    /// stand (protocol provisional, pending bytes not yet flushed).
    pub fn snapshot(&self, info: CaptureInfo) -> Analysis {
        let mut current = Vec::new();
        for t in self.flows.values() {
            let mut c = t.session.conn.clone();
            let client = t.session.client.unwrap_or_else(|| guess_client(&t.tcp));
            tcp_fields(&mut c, &t.tcp, &t.tcp_events, client);
            c.encapsulation = encap_routes(t, client);
            let hs = &c.handshake;
            let frames = c.stats.c2s.frames + c.stats.s2c.frames;
            c.is_websocket =
                (hs.status == Some(101) && hs.accept_valid == Some(true)) || frames > 0;
            if c.is_websocket {
                c.protocol = Protocol::Websocket;
            } else if t.session.recognised() {
                c.protocol = Protocol::Http;
            }
            current.push(c);
        }
        self.model(self.done.clone(), current, info)
    }

    /// Ends the analysis and returns the model.
    pub fn finish(mut self, info: CaptureInfo) -> Analysis {
        for i in 0..self.flows.slot_count() {
            self.retire(i);
        }
        let mut done = std::mem::take(&mut self.done);
        // Digests a sink did not take over (WsLimits::defer_digest).
        for m in done.iter_mut().flat_map(|c| c.messages.iter_mut()) {
            m.settle_digest();
        }
        self.model(done, Vec::new(), info)
    }

    /// Builds the model; `finished` are already counted in `evicted` when
    /// evicting.
    fn model(
        &self,
        mut finished: Vec<Connection>,
        mut current: Vec<Connection>,
        info: CaptureInfo,
    ) -> Analysis {
        finished.retain(Connection::reported);
        current.retain(Connection::reported);
        let mut stats = self.stats;
        let e = &self.evicted;
        stats.websocket_connections += e.websocket_connections;
        stats.messages += e.messages;
        stats.control_frames += e.control_frames;
        stats.violations += e.violations;
        // Records dropped for the model budget are already in the
        // per-direction counters, which the totals below come from.
        let mut anomalies = self.anomalies.clone();
        if self.evictions > 0 {
            anomalies.push(CaptureAnomaly {
                packet: PacketNo(self.packets),
                detail: format!(
                    "{} connections were finished early to stay under {} live connections (--max-flows)",
                    self.evictions, self.limits.max_live_flows
                ),
            });
        }
        if self.lifted > MALFORMED_REPORTS {
            anomalies.push(CaptureAnomaly {
                packet: PacketNo(self.packets),
                detail: format!(
                    "{} more cap anomalies on connections that are not reported",
                    self.lifted - MALFORMED_REPORTS
                ),
            });
        }
        if self.dropped.iter().any(|&d| d > 0) {
            anomalies.push(CaptureAnomaly {
                packet: PacketNo(self.packets),
                detail: format!(
                    "not kept in the report (--max-model-bytes): {} messages, {} control frames, {} other records; the statistics still count the messages and control frames",
                    self.dropped[0], self.dropped[1], self.dropped[2]
                ),
            });
        }
        let counted = if self.evict {
            &finished[..0]
        } else {
            &finished[..]
        };
        for c in counted.iter().chain(&current) {
            stats.websocket_connections += u64::from(c.is_websocket);
            // Equal to the list lengths unless a sink took or a live
            // capture trimmed them.
            stats.messages += c.stats.c2s.messages + c.stats.s2c.messages;
            stats.control_frames += c.stats.c2s.control_frames + c.stats.s2c.control_frames;
            stats.violations += c.violations.len() as u64;
        }
        let mut conns = finished;
        conns.append(&mut current);
        conns.sort_by_key(|c| c.first_packet);
        Analysis {
            capture: info.name,
            format: info.format,
            link_type: info.link_type,
            link_type_dlt: info.link_type_dlt,
            packet_count: self.packets,
            start_ts: self.first_ts.unwrap_or_default(),
            end_ts: self.last_ts,
            connections: conns,
            capture_anomalies: anomalies,
            unsupported_tunnels: self
                .unsupported
                .iter()
                .map(|(kind, &(packets, first_packet))| UnsupportedTunnel {
                    kind: kind.to_string(),
                    packets,
                    first_packet,
                })
                .collect(),
            stats,
        }
    }
}

/// Model memory every connection may fill even when the total budget is
/// spent: its first findings and messages (a gap, the cap it hit, a short
/// exchange) stay visible. Of the order of the connection record itself,
/// so it does not change how memory grows with the number of connections.
const MODEL_FLOOR_PER_CONN: u64 = 8 << 10;

/// Model memory a connection may fill now: what is left of the total, and
/// at most a quarter of it per connection, so that one runaway connection
/// (millions of tiny messages) cannot starve the others; never less than
/// what is left of [`MODEL_FLOOR_PER_CONN`].
fn model_budget(limits: &Limits, used: u64, conn_spent: u64) -> u64 {
    let total_left = limits.max_model_bytes.saturating_sub(used);
    let conn_left = (limits.max_model_bytes / 4).saturating_sub(conn_spent);
    let floor_left = MODEL_FLOOR_PER_CONN.saturating_sub(conn_spent);
    total_left.min(conn_left).max(floor_left)
}

/// Runs the session's end-of-connection settling and returns the budget
/// left and the records dropped. What settling finds (held bytes replayed,
/// frames of a stream judged at its end, findings) goes to the sink like
/// everything else, so streamed reports carry it too.
fn finalize_budget(t: &mut Tracked, sink: &mut dyn EventSink) -> (u64, [u64; 3]) {
    t.session.finish(sink);
    (t.session.budget, std::mem::take(&mut t.session.dropped))
}

/// Hands a reassembled piece to the session, recording capture gaps.
fn deliver(
    session: &mut Session,
    side: Side,
    piece: Piece<'_>,
    at: At,
    cause: GapCause,
    sink: &mut dyn EventSink,
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

fn record_tcp_event(
    t: &mut Tracked,
    side: Side,
    seg: &TcpSegment<'_>,
    packet: PacketNo,
    ts: Timestamp,
) {
    let flags = seg.flags;
    let kinds = [
        (flags.syn && !flags.ack, TcpEventKind::Syn),
        (flags.syn && flags.ack, TcpEventKind::SynAck),
        (flags.fin, TcpEventKind::Fin),
        (flags.rst, TcpEventKind::Rst),
    ];
    for (on, kind) in kinds {
        if on {
            t.tcp_events.push((side, kind, packet, ts));
        }
    }
}

fn empty_connection(id: u32, tcp: &TcpConn, ts: Timestamp, packet: PacketNo) -> Connection {
    Connection {
        id,
        client: tcp.endpoints[0].to_string(),
        server: tcp.endpoints[1].to_string(),
        protocol: Protocol::Unknown,
        handshake: Handshake::default(),
        messages: Vec::new(),
        control: Vec::new(),
        close_initiator: None,
        tcp_end: TcpEnd::Open,
        tcp_detail: TcpDetail::default(),
        is_websocket: false,
        packets: 0,
        first_packet: packet,
        last_packet: packet,
        start_ts: ts,
        end_ts: ts,
        violations: Vec::new(),
        violation_details: Vec::new(),
        anomalies: Vec::new(),
        http_exchanges: Vec::new(),
        tcp_events: Vec::new(),
        tls: None,
        encapsulation: Vec::new(),
        upgraded_to: None,
        stats: ConnStats::default(),
    }
}

/// Counts a packet on its side's encapsulation stack. Plain packets only
/// bump a counter: no work for traffic outside tunnels.
fn record_route(t: &mut Tracked, side: Side, layers: &[Encap], packet: PacketNo) {
    if layers.is_empty() {
        let p = &mut t.plain[side.idx()];
        if p.0 == 0 {
            p.1 = packet;
        }
        p.0 += 1;
        return;
    }
    if let Some(r) = t
        .routes
        .iter_mut()
        .find(|r| r.side == side && r.layers == layers)
    {
        r.packets += 1;
    } else if t.routes.len() < MAX_ROUTES {
        t.routes.push(Route {
            side,
            layers: layers.to_vec(),
            first: packet,
            packets: 1,
        });
    }
}

/// The connection's encapsulation stacks by direction (client's first), in
/// order of first packet; empty when no packet rode a tunnel.
fn encap_routes(t: &Tracked, client: Side) -> Vec<EncapRoute> {
    if t.routes.is_empty() {
        return Vec::new();
    }
    let dir = |side: Side| {
        if side == client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    };
    let mut out: Vec<EncapRoute> = t
        .routes
        .iter()
        .map(|r| EncapRoute {
            dir: dir(r.side),
            layers: r.layers.clone(),
            first_packet: r.first,
            packets: r.packets,
        })
        .collect();
    for side in [Side(0), Side(1)] {
        let (packets, first) = t.plain[side.idx()];
        if packets > 0 {
            out.push(EncapRoute {
                dir: dir(side),
                layers: Vec::new(),
                first_packet: first,
                packets,
            });
        }
    }
    out.sort_by_key(|r| (r.dir, r.first_packet));
    out
}

/// Fills the TCP-level fields once the connection is over.
/// Call after [`finalize_budget`], which settles the session.
fn finalize(mut t: Tracked) -> Connection {
    let client = t.session.client.unwrap_or_else(|| guess_client(&t.tcp));
    tcp_fields(&mut t.session.conn, &t.tcp, &t.tcp_events, client);
    t.session.conn.encapsulation = encap_routes(&t, client);
    t.session.conn
}

/// The fields of a connection record that come from TCP tracking.
fn tcp_fields(
    conn: &mut Connection,
    tcp: &TcpConn,
    events: &[(Side, TcpEventKind, PacketNo, Timestamp)],
    client: Side,
) {
    let (c, s) = (client.idx(), client.other().idx());
    conn.client = tcp.endpoints[c].to_string();
    conn.server = tcp.endpoints[s].to_string();
    conn.tcp_events = events
        .iter()
        .map(|&(side, kind, packet, ts)| {
            let dir = if side == client {
                Direction::ClientToServer
            } else {
                Direction::ServerToClient
            };
            TcpEvent {
                kind,
                dir,
                packet,
                ts,
            }
        })
        .collect();
    conn.packets = tcp.packets;
    conn.first_packet = tcp.first_packet;
    conn.last_packet = tcp.last_packet;
    conn.start_ts = tcp.first_ts;
    conn.end_ts = tcp.last_ts;
    conn.tcp_detail = TcpDetail {
        fin_c2s: tcp.fin[c],
        fin_s2c: tcp.fin[s],
        rst_from_client: tcp.rst[c],
        rst_from_server: tcp.rst[s],
        first_fin_from: tcp.first_fin.map(|f| {
            if f == client {
                Role::Client
            } else {
                Role::Server
            }
        }),
    };
    conn.tcp_end = if tcp.rst.iter().any(|&r| r) {
        TcpEnd::Rst
    } else if tcp.fin.iter().any(|&f| f) {
        TcpEnd::Fin
    } else {
        TcpEnd::Open
    };
    for (side, dir) in [
        (c, Direction::ClientToServer),
        (s, Direction::ServerToClient),
    ] {
        let st = tcp.stream_stats(Side(side as u8));
        let d = conn.stats.dir_mut(dir);
        d.tcp_bytes = st.bytes;
        d.retransmissions = st.retransmissions;
        d.keep_alives = st.keep_alives;
        d.keep_alive_acks = tcp.keep_alive_acks[side];
        d.out_of_order = st.out_of_order;
    }
}

/// Without SYN or content clues: the side with the well-known (lower) port
/// is taken as the server.
fn guess_client(tcp: &TcpConn) -> Side {
    if tcp.endpoints[0].port() < tcp.endpoints[1].port() {
        Side(1)
    } else {
        Side(0)
    }
}
