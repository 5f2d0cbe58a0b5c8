//! One tracked TCP connection: its reassembly, its session, and what TCP
//! and the tunnels it rode add to its record (SYN/FIN/RST events, the
//! encapsulation stacks, packet counts and times) when it ends.

use super::session::Session;
use crate::capture::{PacketNo, Timestamp};
use crate::decode::{Encap, TcpSegment};
use crate::flow::{Direction, Role, Side};
use crate::model::handshake::Handshake;
use crate::model::{
    ConnStats, Connection, EncapRoute, Protocol, TcpDetail, TcpEnd, TcpEvent, TcpEventKind,
};
use crate::tcp::TcpConn;

pub(super) struct Tracked {
    pub(super) tcp: TcpConn,
    pub(super) session: Session,
    /// SYN/FIN/RST by side; directions are settled at the end.
    pub(super) tcp_events: Vec<(Side, TcpEventKind, PacketNo, Timestamp)>,
    /// Distinct encapsulation stacks by side (see [`Connection::encapsulation`]),
    /// at most [`MAX_ROUTES`]; empty while every packet was plain.
    pub(super) routes: Vec<Route>,
    /// Plain (unencapsulated) packets by side: count and first packet.
    pub(super) plain: [(u64, PacketNo); 2],
}

/// One distinct encapsulation stack of a connection, by side.
pub(super) struct Route {
    pub(super) side: Side,
    pub(super) layers: Vec<Encap>,
    pub(super) first: PacketNo,
    pub(super) packets: u64,
}

/// Distinct encapsulation stacks recorded per connection; a connection that
/// changes tunnels more often than that (it should not) lists the first ones.
const MAX_ROUTES: usize = 8;

pub(super) fn record_tcp_event(
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

pub(super) fn empty_connection(
    id: u32,
    tcp: &TcpConn,
    ts: Timestamp,
    packet: PacketNo,
) -> Connection {
    Connection {
        id,
        client: tcp.endpoints[0],
        server: tcp.endpoints[1],
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
        stream_id: None,
        transport: None,
        stream_end: None,
        h2: None,
        app_protocol: None,
        app_messages: Vec::new(),
        app_findings: Vec::new(),
        stats: ConnStats::default(),
    }
}

/// Counts a packet on its side's encapsulation stack. Plain packets only
/// bump a counter: no work for traffic outside tunnels.
pub(super) fn record_route(t: &mut Tracked, side: Side, layers: &[Encap], packet: PacketNo) {
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
pub(super) fn encap_routes(t: &Tracked, client: Side) -> Vec<EncapRoute> {
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

/// Fills the TCP-level fields once the connection is over, and gives the
/// record with the records of the RFC 8441 sessions it carried.
/// Call after [`Session::finish`], which settles the session.
pub(super) fn finalize(mut t: Tracked) -> (Connection, Vec<Connection>) {
    let client = t.session.client.unwrap_or_else(|| guess_client(&t.tcp));
    tcp_fields(&mut t.session.conn, &t.tcp, &t.tcp_events, client);
    t.session.conn.encapsulation = encap_routes(&t, client);
    let sessions = t.session.take_sessions();
    (t.session.conn, sessions)
}

/// The fields of a connection record that come from TCP tracking.
pub(super) fn tcp_fields(
    conn: &mut Connection,
    tcp: &TcpConn,
    events: &[(Side, TcpEventKind, PacketNo, Timestamp)],
    client: Side,
) {
    let (c, s) = (client.idx(), client.other().idx());
    conn.client = tcp.endpoints[c];
    conn.server = tcp.endpoints[s];
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
pub(super) fn guess_client(tcp: &TcpConn) -> Side {
    if tcp.endpoints[0].port() < tcp.endpoints[1].port() {
        Side(1)
    } else {
        Side(0)
    }
}
