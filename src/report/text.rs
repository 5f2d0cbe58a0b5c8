//! The text report: a per-connection narrative in the order things
//! happened, the way the reference article walks through its capture.

use super::count;
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::hexfmt::hex;
use crate::model::{AlpnState, Analysis, Connection, Protocol, TcpEnd, TcpEventKind, TlsSummary};
use crate::ws::frame::{CloseCode, Opcode};
use crate::ws::message::{ControlFrame, Message};
use std::io::{self, Write};

/// Characters of payload text shown per message.
const TEXT_PREVIEW: usize = 100;

/// Writes the whole report.
pub fn write(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    headline(a, &a.format, out)?;
    for c in &a.connections {
        writeln!(out)?;
        connection(c, a.start_ts, out)?;
    }
    Ok(())
}

/// The capture's one-line summary and its anomalies; `source` says where
/// the packets came from (`pcap`, `pcapng`, `live`).
///
/// Connection numbers are the JSON report's `id`s: every TCP connection
/// gets one in order of first packet, and only those that carried HTTP,
/// WebSocket or TLS are reported, so the numbers may have gaps; the
/// summary says how many TCP connections there were so that they add up.
pub fn headline(a: &Analysis, source: &str, out: &mut impl Write) -> io::Result<()> {
    // RFC 8441 sessions are records of their own, not TCP connections.
    let reported = a
        .connections
        .iter()
        .filter(|c| c.stream_id.is_none())
        .count() as u64;
    let sessions = a.connections.len() as u64 - reported;
    let tcp = a.stats.tcp_connections.max(reported);
    let conns = if reported == tcp {
        count(tcp, "connection")
    } else {
        format!("{reported} of {} reported", count(tcp, "TCP connection"))
    };
    let over_h2 = match sessions {
        0 => String::new(),
        n => format!(" (of them {} over HTTP/2)", count(n, "session")),
    };
    writeln!(
        out,
        "{} ({source}, {}): {}, {conns} (HTTP, WebSocket or TLS), {} WebSocket{over_h2}, {}, {}",
        a.capture,
        a.link_type,
        count(a.packet_count, "packet"),
        a.stats.websocket_connections,
        count(a.stats.messages, "message"),
        count(a.stats.violations, "violation")
    )?;
    if reported > 0 && reported < tcp {
        let hidden = tcp - reported;
        writeln!(
            out,
            "  (connections are numbered 1–{tcp} in order of first packet, as in the JSON report; the {} not shown carried no HTTP, WebSocket or TLS)",
            count(hidden, "other")
        )?;
    }
    for an in &a.capture_anomalies {
        writeln!(out, "  ! capture: {} (packet {})", an.detail, an.packet)?;
    }
    if !a.unsupported_tunnels.is_empty() {
        let total: u64 = a.unsupported_tunnels.iter().map(|t| t.packets).sum();
        let kinds: Vec<String> = a
            .unsupported_tunnels
            .iter()
            .map(|t| {
                format!(
                    "{} {} (first: packet {})",
                    t.packets, t.kind, t.first_packet
                )
            })
            .collect();
        writeln!(
            out,
            "  {total} packet{} in unsupported tunnels: {}",
            if total == 1 { "" } else { "s" },
            kinds.join(", ")
        )?;
    }
    Ok(())
}

/// One line of the timeline, sortable by packet.
struct Line {
    packet: PacketNo,
    order: u8,
    ts: Option<Timestamp>,
    text: String,
}

fn connection(c: &Connection, t0: Timestamp, out: &mut impl Write) -> io::Result<()> {
    let kind = verdict(c);
    let stream = c
        .stream_id
        .map(|s| format!(", stream {s}"))
        .unwrap_or_default();
    writeln!(
        out,
        "Connection {}{stream}: {} → {} ({kind}), packets {}–{} ({})",
        c.id,
        c.client,
        c.server,
        c.first_packet,
        c.last_packet,
        count(c.packets, "packet")
    )?;
    if let Some(t) = &c.tls {
        writeln!(
            out,
            "  tls: {} {}, SNI {}, {}, {}",
            t.version
                .as_deref()
                .map(|v| format!("TLS {v}"))
                .unwrap_or_else(|| "TLS ?".into()),
            t.cipher_suite.as_deref().unwrap_or("?"),
            t.sni.as_deref().unwrap_or("none"),
            alpn(t),
            match &t.reason {
                None => "decrypted with the key log".to_string(),
                Some(why) => format!("NOT decrypted: {why}"),
            }
        )?;
    }
    encapsulation(c, out)?;
    handshake_summary(c, out)?;
    if let Some(d) = &c.app_protocol {
        let by = match d.by {
            crate::model::app::DetectedBy::Subprotocol => "from the subprotocol",
            crate::model::app::DetectedBy::RequestTarget => "from the request target",
            crate::model::app::DetectedBy::Content => "from the messages' content",
            crate::model::app::DetectedBy::Forced => "as --app asked",
        };
        let all = || {
            c.app_messages
                .iter()
                .chain(c.polling_records().map(|(_, r)| r))
        };
        let answered = all().filter(|r| r.latency_ns.is_some()).count();
        let errors = all().filter(|r| r.error.is_some()).count();
        writeln!(
            out,
            "  application: {} ({by}): {}, {} answered, {}",
            d.protocol,
            count(all().count() as u64, "record"),
            answered,
            count(errors as u64, "error")
        )?;
    }
    let mut lines = Vec::new();
    for e in &c.tcp_events {
        let what = match e.kind {
            TcpEventKind::Syn => "TCP SYN (connection opened)",
            TcpEventKind::SynAck => "TCP SYN+ACK",
            TcpEventKind::Fin => "TCP FIN",
            TcpEventKind::Rst => "TCP RST (connection reset)",
        };
        lines.push(Line {
            packet: e.packet,
            order: 0,
            ts: Some(e.ts),
            text: format!("{} {what}", e.dir.arrow()),
        });
    }
    for x in &c.http_exchanges {
        let up = if x.upgrade {
            " (Upgrade: websocket)"
        } else {
            ""
        };
        lines.push(Line {
            packet: x.request_packet,
            order: 1,
            ts: Some(x.request_ts),
            text: format!("→ HTTP {} {}{up}", x.method, x.target),
        });
        // Long-polling packets of the body, under the head (the sort is
        // stable).
        let polled = |r: &crate::model::app::AppRecord, packet: PacketNo| Line {
            packet,
            order: 1,
            ts: Some(r.ts),
            text: app_line_in(r, "polling packet"),
        };
        lines.extend(x.request_app.iter().map(|r| polled(r, x.request_packet)));
        if let (Some(p), Some(s)) = (x.response_packet, x.status) {
            lines.push(Line {
                packet: p,
                order: 1,
                ts: x.response_ts,
                text: format!("← HTTP {s}"),
            });
            lines.extend(x.response_app.iter().map(|r| polled(r, p)));
        }
    }
    for m in &c.messages {
        lines.push(Line {
            packet: m.last_packet,
            order: 2,
            ts: Some(m.end_ts),
            text: message_line(m),
        });
    }
    for f in &c.control {
        lines.push(Line {
            packet: f.packet,
            order: 2,
            ts: Some(f.ts),
            text: control_line(f),
        });
    }
    for v in &c.violation_details {
        let dir = v.dir.map(|d| format!("{} ", d.arrow())).unwrap_or_default();
        lines.push(Line {
            packet: v.packet,
            order: 3,
            ts: Some(v.ts),
            text: format!("{dir}VIOLATION ({}): {}", v.kind.rfc(), v.detail),
        });
    }
    for an in &c.anomalies {
        lines.push(Line {
            packet: an.packet,
            order: 3,
            ts: Some(an.ts),
            text: format!("! {}", an.detail),
        });
    }
    for r in &c.app_messages {
        // On the line after the message it sits on (found by its first
        // packet and sender: a display filter may have left out others).
        let m = c
            .messages
            .iter()
            .find(|m| m.first_packet == r.first_packet && m.dir == r.dir);
        lines.push(Line {
            packet: m.map_or(r.first_packet, |m| m.last_packet),
            order: 2,
            ts: Some(r.ts),
            text: app_line(r),
        });
    }
    for f in &c.app_findings {
        let dir = f.dir.map(|d| format!("{} ", d.arrow())).unwrap_or_default();
        let section = f.section.map(|s| format!(" ({s})")).unwrap_or_default();
        lines.push(Line {
            packet: f.packet,
            order: 3,
            ts: Some(f.ts),
            text: format!("{dir}{} {:?}{section}: {}", f.protocol, f.kind, f.detail),
        });
    }
    lines.sort_by_key(|l| (l.packet, l.order));
    // Only an HTTP response whose time was not recorded lacks one: it
    // takes the time of the line before it.
    let mut last = c.start_ts;
    for l in &lines {
        let ts = l.ts.unwrap_or(last);
        last = ts;
        let rel = ts.secs_since(t0).max(0.0);
        writeln!(out, "  #{:<6} +{rel:>9.6}s  {}", l.packet.0, l.text)?;
    }
    ending(c, out)
}

/// The ALPN part of the TLS line: what the server chose, or why it is
/// unknown, and what the client offered when the ClientHello was seen.
fn alpn(t: &TlsSummary) -> String {
    let chosen = match (t.alpn_state, &t.alpn) {
        (AlpnState::Selected, Some(p)) => format!("ALPN {p}"),
        (AlpnState::Selected, None) | (AlpnState::NotNegotiated, _) => "ALPN none".into(),
        (AlpnState::Encrypted, _) => "ALPN unknown (encrypted in TLS 1.3)".into(),
        (AlpnState::NotCaptured, _) => "ALPN unknown (ServerHello not captured)".into(),
    };
    match &t.alpn_offered {
        Some(list) if !list.is_empty() && t.alpn_state != AlpnState::Selected => {
            format!("{chosen}, client offered {}", list.join(", "))
        }
        _ => chosen,
    }
}

/// The connection's opening SYN is in the capture.
fn saw_syn(c: &Connection) -> bool {
    c.tcp_events.iter().any(|e| e.kind == TcpEventKind::Syn)
}

/// One phrase for what the connection was.
/// The tunnels the connection rode: one line when every packet rode the
/// same layers, else one per direction and stack.
fn encapsulation(c: &Connection, out: &mut impl Write) -> io::Result<()> {
    let stack = |layers: &[crate::decode::Encap]| {
        if layers.is_empty() {
            "none (plain)".to_string()
        } else {
            layers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" / ")
        }
    };
    match c.encapsulation.as_slice() {
        [] => Ok(()),
        [one] => writeln!(out, "  encapsulation: {}", stack(&one.layers)),
        [first, rest @ ..] if rest.iter().all(|r| r.layers == first.layers) => {
            writeln!(out, "  encapsulation: {}", stack(&first.layers))
        }
        routes => {
            for r in routes {
                writeln!(
                    out,
                    "  encapsulation {}: {} ({} packet{} from packet {})",
                    r.dir,
                    stack(&r.layers),
                    r.packets,
                    if r.packets == 1 { "" } else { "s" },
                    r.first_packet
                )?;
            }
            Ok(())
        }
    }
}

fn verdict(c: &Connection) -> String {
    let h = &c.handshake;
    if c.protocol == Protocol::Upgraded {
        return format!("HTTP, upgraded to {}", upgraded_to(c));
    }
    if c.protocol == Protocol::Http2 {
        let sessions = c.h2.as_ref().map_or(0, |h| h.websocket_sessions);
        let how = match c.h2.as_ref().map(|h| h.mode.as_str()) {
            Some("tls") => "over TLS",
            Some("h2c_upgrade") => "h2c, upgraded from HTTP/1.1",
            Some("start_not_captured") => "h2c, connection start not captured",
            Some("picked_up_mid_stream") => "h2c, picked up mid-stream",
            _ => "h2c, prior knowledge",
        };
        return match sessions {
            0 => format!("HTTP/2 {how}"),
            n => format!("HTTP/2 {how}, {}", super::count(n, "WebSocket session")),
        };
    }
    if c.stream_id.is_some() {
        return match (c.is_websocket, h.status) {
            (true, _) => "WebSocket over HTTP/2".into(),
            (false, Some(s)) => format!("WebSocket over HTTP/2 REJECTED: status {s}"),
            (false, None) => "WebSocket over HTTP/2, unanswered".into(),
        };
    }
    if let (Some(t), false) = (&c.tls, c.is_websocket || h.seen) {
        return match &t.reason {
            Some(why) => format!("TLS, not decrypted: {why}"),
            None => "TLS".into(),
        };
    }
    match (c.is_websocket, h.seen, h.status, h.accept_valid) {
        (true, false, _, _) if saw_syn(c) => "WebSocket, handshake not captured".into(),
        (true, false, _, _) => "WebSocket, picked up mid-stream".into(),
        (true, _, _, _) => "WebSocket".into(),
        (false, true, Some(101), Some(false)) => {
            "WebSocket upgrade FAILED: wrong Sec-WebSocket-Accept".into()
        }
        (false, true, Some(s), _) => format!("WebSocket upgrade REJECTED: HTTP {s}"),
        (false, true, None, _) => "WebSocket upgrade unanswered".into(),
        (false, false, _, _) => "plain HTTP".into(),
    }
}

fn upgraded_to(c: &Connection) -> &str {
    c.upgraded_to.as_deref().unwrap_or("an unnamed protocol")
}

fn handshake_summary(c: &Connection, out: &mut impl Write) -> io::Result<()> {
    let h = &c.handshake;
    if c.protocol == Protocol::Upgraded {
        return writeln!(
            out,
            "  upgraded to {} by a 101: {} {} bytes, {} {} bytes after the switch (not interpreted)",
            upgraded_to(c),
            Direction::ClientToServer.arrow(),
            c.stats.c2s.upgraded_bytes,
            Direction::ServerToClient.arrow(),
            c.stats.s2c.upgraded_bytes
        );
    }
    if !h.seen {
        if c.is_websocket {
            // With the SYN captured the stream was seen from its start: its
            // handshake bytes were lost, not before the capture.
            let why = if saw_syn(c) {
                "its bytes were not captured"
            } else {
                "picked up mid-stream"
            };
            writeln!(
                out,
                "  handshake: not captured ({why}; client = masked side)"
            )?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "  upgrade request: {} {}{}",
        c.upgrade_method().unwrap_or("?"),
        h.request_target.as_deref().unwrap_or("?"),
        if h.request_complete {
            ""
        } else {
            " (header block cut short in the capture)"
        }
    )?;
    if let Some(k) = &h.sec_websocket_key {
        writeln!(out, "    Sec-WebSocket-Key: {k}")?;
    }
    if let Some(e) = &h.offered_extensions {
        writeln!(out, "    offered extensions: {e}")?;
    }
    if let Some(p) = &h.offered_subprotocols {
        writeln!(out, "    offered subprotocols: {p}")?;
    }
    let status = h
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "none".into());
    writeln!(
        out,
        "  response: {status} {}",
        h.reason.as_deref().unwrap_or("")
    )?;
    if let Some(a) = &h.sec_websocket_accept {
        let verdict = match (h.accept_valid, &h.expected_accept) {
            (Some(true), _) => {
                "✓ verified: base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11))".to_string()
            }
            (Some(false), Some(want)) => format!("✗ WRONG, expected {want}"),
            _ => "cannot be checked".to_string(),
        };
        writeln!(out, "    Sec-WebSocket-Accept: {a}  {verdict}")?;
    }
    writeln!(
        out,
        "    subprotocol: {}, extensions: {}",
        h.subprotocol.as_deref().unwrap_or("none"),
        h.extensions.as_deref().unwrap_or("none")
    )
}

fn preview_text(t: &str) -> String {
    let mut s: String = t.chars().take(TEXT_PREVIEW).collect();
    if t.chars().count() > TEXT_PREVIEW {
        s.push('…');
    }
    format!("{s:?}")
}

/// An application message: protocol, its own type name, what it names,
/// its id, and for an answer which request it answers and how late.
pub(crate) fn app_line(r: &crate::model::app::AppRecord) -> String {
    app_line_in(r, "message")
}

/// A long-polling packet's application record (issue 21).
pub(crate) fn polling_app_line(r: &crate::model::app::AppRecord) -> String {
    app_line_in(r, "polling packet")
}

/// An application record's line; `unit` names what its `answers` counts
/// (a WebSocket message, or a long-polling packet).
fn app_line_in(r: &crate::model::app::AppRecord, unit: &str) -> String {
    let mut t = format!("{}   {} {}", r.dir.arrow(), r.protocol, r.kind);
    if let Some(n) = &r.name {
        t.push_str(&format!(" {n:?}"));
    }
    if let Some(id) = &r.id {
        t.push_str(&format!(" id {id}"));
    }
    if let Some(ch) = &r.channel {
        t.push_str(&format!(" on {ch}"));
    }
    if let (Some(i), Some(ns)) = (r.answers, r.latency_ns) {
        t.push_str(&format!(
            ", answers {unit} {i} after {:.3} ms",
            ns as f64 / 1e6
        ));
    }
    if let Some(e) = &r.error {
        let code = e.code.as_deref().unwrap_or("");
        let msg = e.message.as_deref().unwrap_or("");
        t.push_str(format!(", ERROR {code} {msg}").trim_end());
    }
    t
}

pub(crate) fn message_line(m: &Message) -> String {
    let size = match m.payload_len {
        Some(n) if m.compressed => {
            format!("{} ({} compressed)", count(n, "byte"), m.wire_payload_len)
        }
        Some(n) => count(n, "byte"),
        None => format!("? bytes ({} on the wire)", m.wire_payload_len),
    };
    let frames = if m.frames > 1 {
        format!(" in {} frames", m.frames)
    } else {
        String::new()
    };
    let mask = m
        .frame_headers
        .first()
        .and_then(|f| f.mask_key)
        .map(|k| format!(" mask {k}"))
        .unwrap_or_default();
    let body = match (&m.text, m.opcode, m.complete) {
        (Some(t), _, _) => preview_text(t),
        (None, Opcode::Text, true) => "invalid UTF-8".into(),
        (None, _, false) if m.undecodable.is_some() => match m.captured_prefix.as_deref() {
            Some(p) if !p.is_empty() => format!("not decodable, exact first bytes: {}", hex(p)),
            _ => "not decodable".into(),
        },
        (None, _, false) => format!(
            "incomplete in the capture, visible: {}",
            hex(m.captured_prefix.as_deref().unwrap_or_default())
        ),
        _ => format!("0x{}", hex(m.preview.as_deref().unwrap_or_default())),
    };
    let pkts = if m.first_packet != m.last_packet {
        format!(" (packets {}–{})", m.first_packet, m.last_packet)
    } else {
        String::new()
    };
    format!(
        "{} {} {size}{frames}{mask}{pkts}: {body}",
        m.dir.arrow(),
        m.opcode
    )
}

pub(crate) fn control_line(f: &ControlFrame) -> String {
    let what = match (f.opcode, f.close_code) {
        (Opcode::Close, Some(code)) => {
            let reason = f
                .close_reason
                .as_deref()
                .filter(|r| !r.is_empty())
                .map(|r| format!(" {r:?}"))
                .unwrap_or_default();
            format!("close {}{reason}", CloseCode(code))
        }
        (Opcode::Close, None) => "close (no status code)".into(),
        (op, _) => format!(
            "{op} {}{}",
            count(f.payload_len, "byte"),
            if f.payload.is_empty() {
                String::new()
            } else {
                format!(" 0x{}", crate::hexfmt::hex(&f.payload))
            }
        ),
    };
    format!("{} {what}", f.dir.arrow())
}

pub(crate) fn ending(c: &Connection, out: &mut impl Write) -> io::Result<()> {
    let close = match c.close_initiator {
        Some(r) => {
            let code = c
                .control
                .iter()
                .find(|f| f.opcode == Opcode::Close)
                .and_then(|f| f.close_code);
            format!(
                "closed by the {r}{}",
                code.map(|k| format!(" with {}", CloseCode(k)))
                    .unwrap_or_default()
            )
        }
        None if c.is_websocket => "no close frame".into(),
        None => String::new(),
    };
    let d = &c.tcp_detail;
    let tcp = match c.tcp_end {
        TcpEnd::Rst => format!(
            "TCP reset by the {}",
            if d.rst_from_client {
                "client"
            } else {
                "server"
            }
        ),
        TcpEnd::Fin => format!(
            "TCP closed with FIN (first from the {})",
            d.first_fin_from.map(|r| r.as_str()).unwrap_or("?")
        ),
        TcpEnd::Open => "TCP still open at the end of the capture".into(),
    };
    let mut close = close;
    if let Some(e) = &c.stream_end {
        let stream = match (&e.reset, e.client_end_stream, e.server_end_stream) {
            (Some(r), ..) => format!(
                "stream reset by the {} ({}, packet {})",
                r.by, r.code, r.packet
            ),
            (None, Some(_), Some(_)) => "stream ended both ways (END_STREAM)".into(),
            (None, Some(_), None) => "stream ended by the client only".into(),
            (None, None, Some(_)) => "stream ended by the server only".into(),
            (None, None, None) => "stream still open".into(),
        };
        if !close.is_empty() {
            close.push_str("; ");
        }
        close.push_str(&stream);
    }
    let sep = if close.is_empty() { "" } else { "; " };
    writeln!(out, "  end: {close}{sep}{tcp}")?;
    let (cs, sc) = (&c.stats.c2s, &c.stats.s2c);
    let mut tcp_notes = String::new();
    let retx = cs.retransmissions + sc.retransmissions;
    if retx > 0 {
        tcp_notes.push_str(&format!("; {}", count(retx, "TCP retransmission")));
    }
    let probes = cs.keep_alives + sc.keep_alives;
    if probes > 0 {
        tcp_notes.push_str(&format!(
            "; {} ({} answered)",
            count(probes, "TCP keep-alive probe"),
            cs.keep_alive_acks + sc.keep_alive_acks
        ));
    }
    writeln!(
        out,
        "  {} {} ({}), {} {} ({}){tcp_notes}",
        Direction::ClientToServer.arrow(),
        count(cs.messages, "message"),
        count(cs.payload_bytes, "byte"),
        Direction::ServerToClient.arrow(),
        count(sc.messages, "message"),
        count(sc.payload_bytes, "byte"),
    )
}
