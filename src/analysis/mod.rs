//! The analyzer: drives decode → TCP → session for every packet, and builds
//! the [`model::Analysis`].
//!
//! Sans-IO: packets are pushed in ([`Analyzer::push`]), time comes from the
//! packets, and events go out to an [`EventSink`] as they happen (NDJSON
//! streams them); [`Analyzer::finish`] returns the whole model.

pub mod model;
pub mod session;

use crate::capture::{PacketNo, RawPacket, Timestamp};
use crate::decode::{Decoder, Skip, TcpSegment};
use crate::flow::{Direction, FlowKey, Role, Side};
use crate::http::handshake::Handshake;
use crate::tcp::{GapCause, Piece, TcpConn};
use crate::violation::{Anomaly, AnomalyKind, Violation};
use crate::ws::message::{ControlFrame, Message, WsLimits};
use model::{
    Analysis, CaptureAnomaly, CaptureStats, ConnStats, Connection, Protocol, TcpDetail, TcpEnd,
    TcpEvent, TcpEventKind,
};
use session::{At, Session};
use std::collections::HashMap;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ooo_bytes_per_dir: 32 << 20,
            max_header_bytes: 64 << 10,
            max_live_flows: 200_000,
            ws: WsLimits::default(),
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
    /// Last packet seen, for evicting idle flows.
    last_seen: u64,
    /// SYN/FIN/RST by side; directions are settled at the end.
    tcp_events: Vec<(Side, TcpEventKind, PacketNo, Timestamp)>,
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
    flows: HashMap<FlowKey, usize>,
    live: Vec<Option<Tracked>>,
    done: Vec<Connection>,
    next_id: u32,
    stats: CaptureStats,
    packets: u64,
    first_ts: Option<Timestamp>,
    last_ts: Timestamp,
    anomalies: Vec<CaptureAnomaly>,
    malformed_reported: u64,
    sink: &'s mut dyn EventSink,
}

/// Packets reported one by one as malformed before only counting them.
const MALFORMED_REPORTS: u64 = 100;

impl<'s> Analyzer<'s> {
    /// An analyzer with the given limits, streaming events to `sink`.
    pub fn new(limits: Limits, sink: &'s mut dyn EventSink) -> Self {
        Analyzer {
            limits,
            decoder: Decoder::new(),
            flows: HashMap::new(),
            live: Vec::new(),
            done: Vec::new(),
            next_id: 0,
            stats: CaptureStats::default(),
            packets: 0,
            first_ts: None,
            last_ts: Timestamp::default(),
            anomalies: Vec::new(),
            malformed_reported: 0,
            sink,
        }
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
        let key = FlowKey::new(seg.src, seg.dst);
        let slot = match self.flows.get(&key).copied() {
            Some(i) if self.live[i].as_ref().is_some_and(|t| !t.tcp.is_reuse(seg)) => i,
            Some(i) => {
                self.retire(i);
                self.open(key, seg, packet, ts)
            }
            None => self.open(key, seg, packet, ts),
        };
        let Some(t) = self.live[slot].as_mut() else {
            return;
        };
        t.last_seen = packet.0;
        let session = &mut t.session;
        let sink = &mut *self.sink;
        let side = t
            .tcp
            .on_segment(seg, packet, ts, &mut |side, piece, src, cause| {
                deliver(
                    session,
                    side,
                    piece,
                    At {
                        src,
                        now: packet,
                        ts,
                    },
                    cause,
                    sink,
                )
            });
        record_tcp_event(t, side, seg, packet, ts);
        let conn = &mut t.session.conn;
        if !conn.messages.is_empty() {
            self.sink.take_messages(conn.id, &mut conn.messages);
        }
    }

    fn open(
        &mut self,
        key: FlowKey,
        seg: &TcpSegment<'_>,
        packet: PacketNo,
        ts: Timestamp,
    ) -> usize {
        if self.flows.len() >= self.limits.max_live_flows {
            self.evict_idle();
        }
        self.next_id += 1;
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
        let session = Session::new(conn, tcp.endpoints, client, self.limits);
        self.live.push(Some(Tracked {
            tcp,
            session,
            last_seen: packet.0,
            tcp_events: Vec::new(),
        }));
        let slot = self.live.len() - 1;
        self.flows.insert(key, slot);
        slot
    }

    /// Finishes the least recently active flow (bounded flow table).
    fn evict_idle(&mut self) {
        let oldest = self
            .flows
            .values()
            .filter_map(|&i| self.live[i].as_ref().map(|t| (t.last_seen, i)))
            .min();
        if let Some((_, i)) = oldest {
            let p = PacketNo(self.packets);
            self.capture_anomaly(p, format!("more than {} live connections: the idlest one was finished early (--max-flows)", self.limits.max_live_flows));
            self.retire(i);
        }
    }

    /// Finishes a flow and moves its record out.
    fn retire(&mut self, slot: usize) {
        let Some(mut t) = self.live.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.flows.retain(|_, v| *v != slot);
        let sink = &mut *self.sink;
        let now = PacketNo(self.packets);
        let ts = self.last_ts;
        let session = &mut t.session;
        t.tcp.finish(&mut |side, piece, src, cause| {
            deliver(session, side, piece, At { src, now, ts }, cause, sink)
        });
        let mut conn = finalize(t);
        if !conn.messages.is_empty() {
            self.sink.take_messages(conn.id, &mut conn.messages);
        }
        self.sink.event(&conn, SinkEvent::End);
        self.done.push(conn);
    }

    /// Ends the analysis and returns the model.
    pub fn finish(mut self, info: CaptureInfo) -> Analysis {
        for i in 0..self.live.len() {
            self.retire(i);
        }
        let mut conns: Vec<Connection> = self.done.into_iter().filter(reported).collect();
        conns.sort_by_key(|c| c.first_packet);
        let mut stats = self.stats;
        for c in &conns {
            stats.websocket_connections += u64::from(c.is_websocket);
            // Equal to `c.messages.len()` unless the sink took them.
            stats.messages += c.stats.c2s.messages + c.stats.s2c.messages;
            stats.control_frames += c.control.len() as u64;
            stats.violations += c.violations.len() as u64;
        }
        Analysis {
            capture: info.name,
            format: info.format,
            link_type: info.link_type,
            link_type_dlt: info.link_type_dlt,
            packet_count: self.packets,
            start_ts: self.first_ts.unwrap_or_default(),
            end_ts: self.last_ts,
            connections: conns,
            capture_anomalies: self.anomalies,
            stats,
        }
    }
}

/// Connections that carried something wsinspect understands.
fn reported(c: &Connection) -> bool {
    c.protocol != Protocol::Unknown
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
        };
        let detail = format!("{n} bytes {dir} {what}");
        session.push_anomaly(
            Anomaly {
                kind,
                dir: Some(dir),
                packet: at.now,
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
        stats: ConnStats::default(),
    }
}

/// Fills the TCP-level fields once the connection is over.
fn finalize(mut t: Tracked) -> Connection {
    let mut sink = NullSink;
    t.session.finish(&mut sink);
    let client = t.session.client.unwrap_or_else(|| guess_client(&t.tcp));
    let (c, s) = (client.idx(), client.other().idx());
    let conn = &mut t.session.conn;
    conn.client = t.tcp.endpoints[c].to_string();
    conn.server = t.tcp.endpoints[s].to_string();
    conn.tcp_events = t
        .tcp_events
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
    conn.packets = t.tcp.packets;
    conn.first_packet = t.tcp.first_packet;
    conn.last_packet = t.tcp.last_packet;
    conn.start_ts = t.tcp.first_ts;
    conn.end_ts = t.tcp.last_ts;
    conn.tcp_detail = TcpDetail {
        fin_c2s: t.tcp.fin[c],
        fin_s2c: t.tcp.fin[s],
        rst_from_client: t.tcp.rst[c],
        rst_from_server: t.tcp.rst[s],
        first_fin_from: t.tcp.first_fin.map(|f| {
            if f == client {
                Role::Client
            } else {
                Role::Server
            }
        }),
    };
    conn.tcp_end = if t.tcp.rst.iter().any(|&r| r) {
        TcpEnd::Rst
    } else if t.tcp.fin.iter().any(|&f| f) {
        TcpEnd::Fin
    } else {
        TcpEnd::Open
    };
    for (side, dir) in [
        (c, Direction::ClientToServer),
        (s, Direction::ServerToClient),
    ] {
        let st = t.tcp.stream_stats(Side(side as u8));
        let d = conn.stats.dir_mut(dir);
        d.tcp_bytes = st.bytes;
        d.retransmissions = st.retransmissions;
        d.out_of_order = st.out_of_order;
    }
    t.session.conn
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
