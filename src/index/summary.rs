//! The summaries file's encoding: a connection's record (without its
//! messages, which have rows) as compact bytes and back, exactly: a
//! decoded record equals the one the analyzer delivered, so the panes and
//! display filters read from the file what they read from a model.
//!
//! Written with the records' [`Enc`]/[`Dec`]. Enumerations are numbered
//! here, by an exhaustive `match` (a new variant does not compile until it
//! has a number); a number that is none of them decodes to `None`, never
//! a panic.

use super::codec::{self, Dec, Enc};
use crate::app::{
    AppDetail, AppError, AppFinding, AppFindingKind, AppProtocol, AppRecord, Closing, DetectedBy,
    Detection, PairKey, Pairing,
};
use crate::capture::{PacketNo, Timestamp};
use crate::decode::Encap;
use crate::decode::tunnel::{IpInIp, Outer};
use crate::flow::{Direction, Role};
use crate::model::handshake::Header;
use crate::model::{
    AlpnState, ConnStats, Connection, DirStats, EncapRoute, GoAway, H2Summary, Handshake,
    HttpExchange, NotDecrypted, Protocol, StreamEnd, StreamReset, TcpDetail, TcpEnd, TcpEvent,
    TcpEventKind, TlsNote, TlsSummary, Transport,
};
use std::net::{IpAddr, SocketAddr};

/// Numbers the unit variants of an enumeration: `put` matches every
/// variant, `get` maps the numbers back.
macro_rules! unit_codec {
    ($put:ident, $get:ident, $t:ty { $($v:path = $n:literal),+ $(,)? }) => {
        fn $put(e: &mut Enc, v: $t) {
            e.u8(match v {
                $($v => $n,)+
            });
        }
        fn $get(d: &mut Dec<'_>) -> Option<$t> {
            Some(match d.u8()? {
                $($n => $v,)+
                _ => return None,
            })
        }
    };
}

unit_codec!(put_role, get_role, Role { Role::Client = 0, Role::Server = 1 });
unit_codec!(put_tcp_end, get_tcp_end, TcpEnd { TcpEnd::Rst = 0, TcpEnd::Fin = 1, TcpEnd::Open = 2 });
unit_codec!(put_tcp_kind, get_tcp_kind, TcpEventKind {
    TcpEventKind::Syn = 0,
    TcpEventKind::SynAck = 1,
    TcpEventKind::Fin = 2,
    TcpEventKind::Rst = 3,
});
unit_codec!(put_protocol, get_protocol, Protocol {
    Protocol::Websocket = 0,
    Protocol::Http = 1,
    Protocol::Tls = 2,
    Protocol::Upgraded = 3,
    Protocol::Http2 = 4,
    Protocol::Unknown = 5,
});
unit_codec!(put_alpn, get_alpn, AlpnState {
    AlpnState::Selected = 0,
    AlpnState::NotNegotiated = 1,
    AlpnState::Encrypted = 2,
    AlpnState::NotCaptured = 3,
});
unit_codec!(put_transport, get_transport, Transport { Transport::H2 = 0 });
unit_codec!(put_app_protocol, get_app_protocol, AppProtocol {
    AppProtocol::SocketIo = 0,
    AppProtocol::Mqtt = 1,
    AppProtocol::Stomp = 2,
    AppProtocol::GraphqlTransportWs = 3,
    AppProtocol::GraphqlWs = 4,
    AppProtocol::JsonRpc = 5,
    AppProtocol::Ocpp = 6,
    AppProtocol::SignalR = 7,
    AppProtocol::Phoenix = 8,
    AppProtocol::Wamp = 9,
    AppProtocol::ActionCable = 10,
});
unit_codec!(put_detected_by, get_detected_by, DetectedBy {
    DetectedBy::Subprotocol = 0,
    DetectedBy::RequestTarget = 1,
    DetectedBy::Content = 2,
    DetectedBy::Forced = 3,
});
unit_codec!(put_closing, get_closing, Closing {
    Closing::Final = 0,
    Closing::Item = 1,
    Closing::End = 2,
    Closing::Cancel = 3,
});
unit_codec!(put_finding_kind, get_finding_kind, AppFindingKind {
    AppFindingKind::Malformed = 0,
    AppFindingKind::Undecodable = 1,
    AppFindingKind::CapReached = 2,
    AppFindingKind::Incomplete = 3,
    AppFindingKind::Unanswered = 4,
    AppFindingKind::KeepAliveLate = 5,
});
unit_codec!(put_ipinip, get_ipinip, IpInIp {
    IpInIp::FourInFour = 0,
    IpInIp::SixInFour = 1,
    IpInIp::FourInSix = 2,
    IpInIp::SixInSix = 3,
});

/// The model's `&'static str` fields (application record kinds, pairing
/// families, specification sections) come from the decoders' literals, a
/// finite set: each distinct one read back is kept once for the process.
fn intern(s: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&k) = seen.get(s) {
        return k;
    }
    let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.insert(k);
    k
}

fn put_bool(e: &mut Enc, b: bool) {
    e.u8(u8::from(b));
}

fn get_bool(d: &mut Dec<'_>) -> Option<bool> {
    match d.u8()? {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

fn put_opt<T>(e: &mut Enc, v: Option<&T>, put: impl FnOnce(&mut Enc, &T)) {
    match v {
        None => e.u8(0),
        Some(v) => {
            e.u8(1);
            put(e, v);
        }
    }
}

fn get_opt<'a, T>(
    d: &mut Dec<'a>,
    get: impl FnOnce(&mut Dec<'a>) -> Option<T>,
) -> Option<Option<T>> {
    match d.u8()? {
        0 => Some(None),
        1 => Some(Some(get(d)?)),
        _ => None,
    }
}

fn put_vec<T>(e: &mut Enc, v: &[T], mut put: impl FnMut(&mut Enc, &T)) {
    e.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
    for x in v.iter().take(u32::MAX as usize) {
        put(e, x);
    }
}

/// A list: every element takes at least one byte, so a count larger than
/// what is left is a cut record, not a reason to allocate.
fn get_vec<'a, T>(
    d: &mut Dec<'a>,
    mut get: impl FnMut(&mut Dec<'a>) -> Option<T>,
) -> Option<Vec<T>> {
    let n = d.u32()? as usize;
    if n > d.0.len() {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(d)?);
    }
    Some(out)
}

fn put_opt_u16(e: &mut Enc, v: Option<u16>) {
    put_opt(e, v.as_ref(), |e, v| e.u16(*v));
}

fn get_opt_u16(d: &mut Dec<'_>) -> Option<Option<u16>> {
    get_opt(d, |d| d.u16())
}

fn put_opt_u32(e: &mut Enc, v: Option<u32>) {
    put_opt(e, v.as_ref(), |e, v| e.u32(*v));
}

fn get_opt_u32(d: &mut Dec<'_>) -> Option<Option<u32>> {
    get_opt(d, |d| d.u32())
}

fn put_opt_bool(e: &mut Enc, v: Option<bool>) {
    put_opt(e, v.as_ref(), |e, v| put_bool(e, *v));
}

fn get_opt_bool(d: &mut Dec<'_>) -> Option<Option<bool>> {
    get_opt(d, get_bool)
}

fn put_opt_packet(e: &mut Enc, v: Option<PacketNo>) {
    e.opt_u64(v.map(|p| p.0));
}

fn get_opt_packet(d: &mut Dec<'_>) -> Option<Option<PacketNo>> {
    Some(d.opt_u64()?.map(PacketNo))
}

fn put_dir(e: &mut Enc, d: Direction) {
    e.dir(Some(d));
}

fn get_dir(d: &mut Dec<'_>) -> Option<Direction> {
    d.dir()?
}

fn put_ip(e: &mut Enc, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            e.u8(4);
            e.0.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            e.u8(6);
            e.0.extend_from_slice(&a.octets());
        }
    }
}

fn get_ip(d: &mut Dec<'_>) -> Option<IpAddr> {
    Some(match d.u8()? {
        4 => IpAddr::from(<[u8; 4]>::try_from(d.take(4)?).ok()?),
        6 => IpAddr::from(<[u8; 16]>::try_from(d.take(16)?).ok()?),
        _ => return None,
    })
}

/// A socket address with an IPv6 address's flow label and scope (both
/// are part of `SocketAddrV6`'s equality).
fn put_addr(e: &mut Enc, a: SocketAddr) {
    put_ip(e, a.ip());
    e.u16(a.port());
    if let SocketAddr::V6(v6) = a {
        e.u32(v6.flowinfo());
        e.u32(v6.scope_id());
    }
}

fn get_addr(d: &mut Dec<'_>) -> Option<SocketAddr> {
    let ip = get_ip(d)?;
    let port = d.u16()?;
    Some(match ip {
        IpAddr::V4(a) => SocketAddr::from((a, port)),
        IpAddr::V6(a) => SocketAddr::V6(std::net::SocketAddrV6::new(a, port, d.u32()?, d.u32()?)),
    })
}

fn put_headers(e: &mut Enc, hs: &[Header]) {
    put_vec(e, hs, |e, h| {
        e.str(&h.name);
        e.str(&h.value);
    });
}

fn get_headers(d: &mut Dec<'_>) -> Option<Vec<Header>> {
    get_vec(d, |d| {
        Some(Header {
            name: d.string()?,
            value: d.string()?,
        })
    })
}

fn put_handshake(e: &mut Enc, h: &Handshake) {
    put_bool(e, h.seen);
    e.opt_str(h.request_target.as_deref());
    e.opt_str(h.sec_websocket_key.as_deref());
    e.opt_str(h.sec_websocket_version.as_deref());
    put_opt_u16(e, h.status);
    e.opt_str(h.reason.as_deref());
    e.opt_str(h.sec_websocket_accept.as_deref());
    e.opt_str(h.expected_accept.as_deref());
    put_opt_bool(e, h.accept_valid);
    e.opt_str(h.subprotocol.as_deref());
    e.opt_str(h.extensions.as_deref());
    e.opt_str(h.offered_subprotocols.as_deref());
    e.opt_str(h.offered_extensions.as_deref());
    put_bool(e, h.request_complete);
    put_bool(e, h.response_complete);
    put_opt_packet(e, h.request_packet);
    put_opt_packet(e, h.response_packet);
    put_headers(e, &h.request_headers);
    put_headers(e, &h.response_headers);
}

fn get_handshake(d: &mut Dec<'_>) -> Option<Handshake> {
    Some(Handshake {
        seen: get_bool(d)?,
        request_target: d.opt_string()?,
        sec_websocket_key: d.opt_string()?,
        sec_websocket_version: d.opt_string()?,
        status: get_opt_u16(d)?,
        reason: d.opt_string()?,
        sec_websocket_accept: d.opt_string()?,
        expected_accept: d.opt_string()?,
        accept_valid: get_opt_bool(d)?,
        subprotocol: d.opt_string()?,
        extensions: d.opt_string()?,
        offered_subprotocols: d.opt_string()?,
        offered_extensions: d.opt_string()?,
        request_complete: get_bool(d)?,
        response_complete: get_bool(d)?,
        request_packet: get_opt_packet(d)?,
        response_packet: get_opt_packet(d)?,
        request_headers: get_headers(d)?,
        response_headers: get_headers(d)?,
    })
}

fn put_pair_key(e: &mut Enc, k: &PairKey) {
    e.str(k.family);
    e.opt_str(k.scope.as_deref());
    e.opt_str(k.id.as_deref());
}

fn get_pair_key(d: &mut Dec<'_>) -> Option<PairKey> {
    Some(PairKey {
        family: intern(&d.string()?),
        scope: d.opt_string()?,
        id: d.opt_string()?,
    })
}

fn put_app_record(e: &mut Enc, r: &AppRecord) {
    put_app_protocol(e, r.protocol);
    put_dir(e, r.dir);
    e.str(r.kind);
    e.opt_str(r.name.as_deref());
    e.opt_str(r.id.as_deref());
    e.opt_str(r.channel.as_deref());
    put_opt(e, r.error.as_ref(), |e, x| {
        e.opt_str(x.code.as_deref());
        e.opt_str(x.message.as_deref());
    });
    let x = &r.detail;
    put_opt(e, x.qos.as_ref(), |e, v| e.u8(*v));
    put_opt_bool(e, x.retain);
    put_opt_bool(e, x.dup);
    e.opt_u64(x.payload_len);
    put_opt_u32(e, x.attachments);
    e.opt_u64(x.attachment_of);
    put_opt_u32(e, x.attachment_index);
    put_opt_u32(e, x.keep_alive_s);
    e.opt_str(x.version.as_deref());
    e.opt_str(x.session.as_deref());
    put_vec(e, &x.more_names, |e, s| e.str(s));
    put_bool(e, x.truncated);
    e.u64(r.index);
    put_vec(e, &r.messages, |e, m| e.u64(*m));
    e.u64(r.first_packet.0);
    e.i128(r.ts.0);
    e.opt_u64(r.answers);
    put_opt(e, r.latency_ns.as_ref(), |e, v| e.u64(*v as u64));
    put_bool(e, r.later_answer);
    put_bool(e, r.stream_end);
    put_opt(e, r.pairing.opens.as_ref(), put_pair_key);
    put_opt(e, r.pairing.closes.as_ref(), |e, (k, c)| {
        put_pair_key(e, k);
        put_closing(e, *c);
    });
}

fn get_app_record(d: &mut Dec<'_>) -> Option<AppRecord> {
    Some(AppRecord {
        protocol: get_app_protocol(d)?,
        dir: get_dir(d)?,
        kind: intern(&d.string()?),
        name: d.opt_string()?,
        id: d.opt_string()?,
        channel: d.opt_string()?,
        error: get_opt(d, |d| {
            Some(AppError {
                code: d.opt_string()?,
                message: d.opt_string()?,
            })
        })?,
        detail: AppDetail {
            qos: get_opt(d, |d| d.u8())?,
            retain: get_opt_bool(d)?,
            dup: get_opt_bool(d)?,
            payload_len: d.opt_u64()?,
            attachments: get_opt_u32(d)?,
            attachment_of: d.opt_u64()?,
            attachment_index: get_opt_u32(d)?,
            keep_alive_s: get_opt_u32(d)?,
            version: d.opt_string()?,
            session: d.opt_string()?,
            more_names: get_vec(d, |d| d.string())?,
            truncated: get_bool(d)?,
        },
        index: d.u64()?,
        messages: get_vec(d, |d| d.u64())?,
        first_packet: PacketNo(d.u64()?),
        ts: Timestamp(d.i128()?),
        answers: d.opt_u64()?,
        latency_ns: get_opt(d, |d| d.u64().map(|v| v as i64))?,
        later_answer: get_bool(d)?,
        stream_end: get_bool(d)?,
        pairing: Pairing {
            opens: get_opt(d, get_pair_key)?,
            closes: get_opt(d, |d| Some((get_pair_key(d)?, get_closing(d)?)))?,
        },
    })
}

fn put_app_finding(e: &mut Enc, f: &AppFinding) {
    put_finding_kind(e, f.kind);
    put_app_protocol(e, f.protocol);
    e.dir(f.dir);
    e.opt_u64(f.index);
    e.u64(f.packet.0);
    e.i128(f.ts.0);
    e.opt_str(f.section);
    e.str(&f.detail);
}

fn get_app_finding(d: &mut Dec<'_>) -> Option<AppFinding> {
    Some(AppFinding {
        kind: get_finding_kind(d)?,
        protocol: get_app_protocol(d)?,
        dir: d.dir()?,
        index: d.opt_u64()?,
        packet: PacketNo(d.u64()?),
        ts: Timestamp(d.i128()?),
        section: d.opt_string()?.map(|s| intern(&s)),
        detail: d.string()?,
    })
}

fn put_exchange(e: &mut Enc, x: &HttpExchange) {
    e.str(&x.method);
    e.str(&x.target);
    put_bool(e, x.upgrade);
    put_opt_u16(e, x.status);
    e.u64(x.request_packet.0);
    put_opt_packet(e, x.response_packet);
    put_bool(e, x.request_complete);
    put_bool(e, x.response_complete);
    e.i128(x.request_ts.0);
    put_opt(e, x.response_ts.as_ref(), |e, t| e.i128(t.0));
    put_vec(e, &x.request_app, put_app_record);
    put_vec(e, &x.response_app, put_app_record);
}

fn get_exchange(d: &mut Dec<'_>) -> Option<HttpExchange> {
    Some(HttpExchange {
        method: d.string()?,
        target: d.string()?,
        upgrade: get_bool(d)?,
        status: get_opt_u16(d)?,
        request_packet: PacketNo(d.u64()?),
        response_packet: get_opt_packet(d)?,
        request_complete: get_bool(d)?,
        response_complete: get_bool(d)?,
        request_ts: Timestamp(d.i128()?),
        response_ts: get_opt(d, |d| d.i128().map(Timestamp))?,
        request_app: get_vec(d, get_app_record)?,
        response_app: get_vec(d, get_app_record)?,
    })
}

fn put_not_decrypted(e: &mut Enc, n: &NotDecrypted) {
    let (code, text) = match n {
        NotDecrypted::NoKeyLog => (0, None),
        NotDecrypted::NoKey => (1, None),
        NotDecrypted::HandshakeNotCaptured => (2, None),
        NotDecrypted::ResumptionWithoutKeys => (3, None),
        NotDecrypted::BadRecordMac => (4, None),
        NotDecrypted::BytesMissing => (5, None),
        NotDecrypted::Renegotiation => (6, None),
        NotDecrypted::EarlyData => (7, None),
        NotDecrypted::DataBeforeHandshake => (8, None),
        NotDecrypted::SecretSuiteMismatch => (9, None),
        NotDecrypted::Record(s) => (10, Some(s)),
        NotDecrypted::Handshake(s) => (11, Some(s)),
    };
    e.u8(code);
    if let Some(s) = text {
        e.str(s);
    }
}

fn get_not_decrypted(d: &mut Dec<'_>) -> Option<NotDecrypted> {
    Some(match d.u8()? {
        0 => NotDecrypted::NoKeyLog,
        1 => NotDecrypted::NoKey,
        2 => NotDecrypted::HandshakeNotCaptured,
        3 => NotDecrypted::ResumptionWithoutKeys,
        4 => NotDecrypted::BadRecordMac,
        5 => NotDecrypted::BytesMissing,
        6 => NotDecrypted::Renegotiation,
        7 => NotDecrypted::EarlyData,
        8 => NotDecrypted::DataBeforeHandshake,
        9 => NotDecrypted::SecretSuiteMismatch,
        10 => NotDecrypted::Record(d.string()?),
        11 => NotDecrypted::Handshake(d.string()?),
        _ => return None,
    })
}

fn put_tls(e: &mut Enc, t: &TlsSummary) {
    e.opt_str(t.version.as_deref());
    e.opt_str(t.cipher_suite.as_deref());
    put_bool(e, t.decrypted);
    e.opt_str(t.sni.as_deref());
    e.opt_str(t.alpn.as_deref());
    put_alpn(e, t.alpn_state);
    put_opt(e, t.alpn_offered.as_ref(), |e, v| {
        put_vec(e, v, |e, s| e.str(s))
    });
    put_opt(e, t.reason.as_ref(), put_not_decrypted);
    e.u64(t.records[0]);
    e.u64(t.records[1]);
    put_vec(e, &t.notes, |e, n| {
        put_dir(e, n.dir);
        e.u64(n.packet.0);
        e.str(&n.detail);
    });
}

fn get_tls(d: &mut Dec<'_>) -> Option<TlsSummary> {
    Some(TlsSummary {
        version: d.opt_string()?,
        cipher_suite: d.opt_string()?,
        decrypted: get_bool(d)?,
        sni: d.opt_string()?,
        alpn: d.opt_string()?,
        alpn_state: get_alpn(d)?,
        alpn_offered: get_opt(d, |d| get_vec(d, |d| d.string()))?,
        reason: get_opt(d, get_not_decrypted)?,
        records: [d.u64()?, d.u64()?],
        notes: get_vec(d, |d| {
            Some(TlsNote {
                dir: get_dir(d)?,
                packet: PacketNo(d.u64()?),
                detail: d.string()?,
            })
        })?,
    })
}

fn put_outer(e: &mut Enc, o: &Outer) {
    put_ip(e, o.src);
    put_ip(e, o.dst);
}

fn get_outer(d: &mut Dec<'_>) -> Option<Outer> {
    Some(Outer {
        src: get_ip(d)?,
        dst: get_ip(d)?,
    })
}

fn put_encap(e: &mut Enc, x: &Encap) {
    match *x {
        Encap::Vlan { tpid, vid } => {
            e.u8(0);
            e.u16(tpid);
            e.u16(vid);
        }
        Encap::Mpls { label } => {
            e.u8(1);
            e.u32(label);
        }
        Encap::Pppoe { session } => {
            e.u8(2);
            e.u16(session);
        }
        Encap::Ip { kind, outer } => {
            e.u8(3);
            put_ipinip(e, kind);
            put_outer(e, &outer);
        }
        Encap::Gre { outer, key } => {
            e.u8(4);
            put_outer(e, &outer);
            put_opt_u32(e, key);
        }
        Encap::Erspan {
            version,
            session,
            outer,
        } => {
            e.u8(5);
            e.u8(version);
            put_opt_u16(e, session);
            put_outer(e, &outer);
        }
        Encap::Vxlan { vni, outer } => {
            e.u8(6);
            e.u32(vni);
            put_outer(e, &outer);
        }
        Encap::Geneve { vni, outer } => {
            e.u8(7);
            e.u32(vni);
            put_outer(e, &outer);
        }
        Encap::GtpU { teid, outer } => {
            e.u8(8);
            e.u32(teid);
            put_outer(e, &outer);
        }
    }
}

fn get_encap(d: &mut Dec<'_>) -> Option<Encap> {
    Some(match d.u8()? {
        0 => Encap::Vlan {
            tpid: d.u16()?,
            vid: d.u16()?,
        },
        1 => Encap::Mpls { label: d.u32()? },
        2 => Encap::Pppoe { session: d.u16()? },
        3 => Encap::Ip {
            kind: get_ipinip(d)?,
            outer: get_outer(d)?,
        },
        4 => Encap::Gre {
            outer: get_outer(d)?,
            key: get_opt_u32(d)?,
        },
        5 => Encap::Erspan {
            version: d.u8()?,
            session: get_opt_u16(d)?,
            outer: get_outer(d)?,
        },
        6 => Encap::Vxlan {
            vni: d.u32()?,
            outer: get_outer(d)?,
        },
        7 => Encap::Geneve {
            vni: d.u32()?,
            outer: get_outer(d)?,
        },
        8 => Encap::GtpU {
            teid: d.u32()?,
            outer: get_outer(d)?,
        },
        _ => return None,
    })
}

fn put_stream_end(e: &mut Enc, s: &StreamEnd) {
    put_opt_packet(e, s.client_end_stream);
    put_opt_packet(e, s.server_end_stream);
    put_opt(e, s.reset.as_ref(), |e, r| {
        put_role(e, r.by);
        e.str(&r.code);
        e.u64(r.packet.0);
    });
    put_opt_packet(e, s.goaway);
    put_bool(e, s.open_at_end);
}

fn get_stream_end(d: &mut Dec<'_>) -> Option<StreamEnd> {
    Some(StreamEnd {
        client_end_stream: get_opt_packet(d)?,
        server_end_stream: get_opt_packet(d)?,
        reset: get_opt(d, |d| {
            Some(StreamReset {
                by: get_role(d)?,
                code: d.string()?,
                packet: PacketNo(d.u64()?),
            })
        })?,
        goaway: get_opt_packet(d)?,
        open_at_end: get_bool(d)?,
    })
}

fn put_h2(e: &mut Enc, h: &H2Summary) {
    e.str(&h.mode);
    put_opt_u32(e, h.enable_connect_protocol);
    e.u64(h.streams);
    e.u64(h.websocket_sessions);
    e.u64(h.frames[0]);
    e.u64(h.frames[1]);
    put_vec(e, &h.goaway, |e, g| {
        put_role(e, g.by);
        e.u32(g.last_stream);
        e.str(&g.code);
        e.u64(g.packet.0);
    });
}

fn get_h2(d: &mut Dec<'_>) -> Option<H2Summary> {
    Some(H2Summary {
        mode: d.string()?,
        enable_connect_protocol: get_opt_u32(d)?,
        streams: d.u64()?,
        websocket_sessions: d.u64()?,
        frames: [d.u64()?, d.u64()?],
        goaway: get_vec(d, |d| {
            Some(GoAway {
                by: get_role(d)?,
                last_stream: d.u32()?,
                code: d.string()?,
                packet: PacketNo(d.u64()?),
            })
        })?,
    })
}

fn put_dir_stats(e: &mut Enc, s: &DirStats) {
    for v in [
        s.messages,
        s.control_frames,
        s.frames,
        s.payload_bytes,
        s.wire_payload_bytes,
        s.tcp_bytes,
        s.retransmissions,
        s.keep_alives,
        s.keep_alive_acks,
        s.out_of_order,
        s.missing_bytes,
        s.upgraded_bytes,
    ] {
        e.u64(v);
    }
}

fn get_dir_stats(d: &mut Dec<'_>) -> Option<DirStats> {
    Some(DirStats {
        messages: d.u64()?,
        control_frames: d.u64()?,
        frames: d.u64()?,
        payload_bytes: d.u64()?,
        wire_payload_bytes: d.u64()?,
        tcp_bytes: d.u64()?,
        retransmissions: d.u64()?,
        keep_alives: d.u64()?,
        keep_alive_acks: d.u64()?,
        out_of_order: d.u64()?,
        missing_bytes: d.u64()?,
        upgraded_bytes: d.u64()?,
    })
}

/// Writes a connection's record (every field, messages and control
/// frames included).
pub fn put_connection(e: &mut Enc, c: &Connection) {
    e.u32(c.id);
    put_addr(e, c.client);
    put_addr(e, c.server);
    put_protocol(e, c.protocol);
    put_handshake(e, &c.handshake);
    put_vec(e, &c.messages, codec::put_message);
    put_vec(e, &c.control, codec::put_control);
    put_opt(e, c.close_initiator.as_ref(), |e, r| put_role(e, *r));
    put_tcp_end(e, c.tcp_end);
    let t = &c.tcp_detail;
    put_bool(e, t.fin_c2s);
    put_bool(e, t.fin_s2c);
    put_bool(e, t.rst_from_client);
    put_bool(e, t.rst_from_server);
    put_opt(e, t.first_fin_from.as_ref(), |e, r| put_role(e, *r));
    put_bool(e, c.is_websocket);
    e.u64(c.packets);
    e.u64(c.first_packet.0);
    e.u64(c.last_packet.0);
    e.i128(c.start_ts.0);
    e.i128(c.end_ts.0);
    put_vec(e, &c.violations, |e, s| e.str(s));
    put_vec(e, &c.violation_details, codec::put_violation);
    put_vec(e, &c.anomalies, codec::put_anomaly);
    put_vec(e, &c.http_exchanges, put_exchange);
    put_vec(e, &c.tcp_events, |e, t| {
        put_tcp_kind(e, t.kind);
        put_dir(e, t.dir);
        e.u64(t.packet.0);
        e.i128(t.ts.0);
    });
    put_opt(e, c.tls.as_ref(), put_tls);
    put_vec(e, &c.encapsulation, |e, r| {
        put_dir(e, r.dir);
        put_vec(e, &r.layers, put_encap);
        e.u64(r.first_packet.0);
        e.u64(r.packets);
    });
    e.opt_str(c.upgraded_to.as_deref());
    put_opt_u32(e, c.stream_id);
    put_opt(e, c.transport.as_ref(), |e, t| put_transport(e, *t));
    put_opt(e, c.stream_end.as_ref(), put_stream_end);
    put_opt(e, c.h2.as_ref(), put_h2);
    put_opt(e, c.app_protocol.as_ref(), |e, x| {
        put_app_protocol(e, x.protocol);
        put_detected_by(e, x.by);
    });
    put_vec(e, &c.app_messages, put_app_record);
    put_vec(e, &c.app_findings, put_app_finding);
    put_dir_stats(e, &c.stats.c2s);
    put_dir_stats(e, &c.stats.s2c);
}

/// Reads a connection written by [`put_connection`].
pub fn get_connection(d: &mut Dec<'_>) -> Option<Connection> {
    Some(Connection {
        id: d.u32()?,
        client: get_addr(d)?,
        server: get_addr(d)?,
        protocol: get_protocol(d)?,
        handshake: get_handshake(d)?,
        messages: get_vec(d, codec::get_message)?,
        control: get_vec(d, codec::get_control)?,
        close_initiator: get_opt(d, get_role)?,
        tcp_end: get_tcp_end(d)?,
        tcp_detail: TcpDetail {
            fin_c2s: get_bool(d)?,
            fin_s2c: get_bool(d)?,
            rst_from_client: get_bool(d)?,
            rst_from_server: get_bool(d)?,
            first_fin_from: get_opt(d, get_role)?,
        },
        is_websocket: get_bool(d)?,
        packets: d.u64()?,
        first_packet: PacketNo(d.u64()?),
        last_packet: PacketNo(d.u64()?),
        start_ts: Timestamp(d.i128()?),
        end_ts: Timestamp(d.i128()?),
        violations: get_vec(d, |d| d.string())?,
        violation_details: get_vec(d, codec::get_violation)?,
        anomalies: get_vec(d, codec::get_anomaly)?,
        http_exchanges: get_vec(d, get_exchange)?,
        tcp_events: get_vec(d, |d| {
            Some(TcpEvent {
                kind: get_tcp_kind(d)?,
                dir: get_dir(d)?,
                packet: PacketNo(d.u64()?),
                ts: Timestamp(d.i128()?),
            })
        })?,
        tls: get_opt(d, get_tls)?,
        encapsulation: get_vec(d, |d| {
            Some(EncapRoute {
                dir: get_dir(d)?,
                layers: get_vec(d, get_encap)?,
                first_packet: PacketNo(d.u64()?),
                packets: d.u64()?,
            })
        })?,
        upgraded_to: d.opt_string()?,
        stream_id: get_opt_u32(d)?,
        transport: get_opt(d, get_transport)?,
        stream_end: get_opt(d, get_stream_end)?,
        h2: get_opt(d, get_h2)?,
        app_protocol: get_opt(d, |d| {
            Some(Detection {
                protocol: get_app_protocol(d)?,
                by: get_detected_by(d)?,
            })
        })?,
        app_messages: get_vec(d, get_app_record)?,
        app_findings: get_vec(d, get_app_finding)?,
        stats: ConnStats {
            c2s: get_dir_stats(d)?,
            s2c: get_dir_stats(d)?,
        },
    })
}
