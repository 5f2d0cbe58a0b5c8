//! The text report: a per-connection narrative in the order things
//! happened, the way the reference article walks through its capture.

use crate::analysis::model::{Analysis, Connection, TcpEnd, TcpEventKind};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
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
pub fn headline(a: &Analysis, source: &str, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{} ({source}, {}): {} packets, {} connection(s) (HTTP, WebSocket or TLS), {} WebSocket, {} messages, {} violations",
        a.capture,
        a.link_type,
        a.packet_count,
        a.connections.len(),
        a.stats.websocket_connections,
        a.stats.messages,
        a.stats.violations
    )?;
    for an in &a.capture_anomalies {
        writeln!(out, "  ! capture: {} (packet {})", an.detail, an.packet)?;
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
    writeln!(
        out,
        "Connection {}: {} → {} ({kind}), packets {}–{} ({} packets)",
        c.id, c.client, c.server, c.first_packet, c.last_packet, c.packets
    )?;
    if let Some(t) = &c.tls {
        writeln!(
            out,
            "  tls: {} {}, SNI {}, ALPN {}, {}",
            t.version
                .as_deref()
                .map(|v| format!("TLS {v}"))
                .unwrap_or_else(|| "TLS ?".into()),
            t.cipher_suite.as_deref().unwrap_or("?"),
            t.sni.as_deref().unwrap_or("none"),
            t.alpn.as_deref().unwrap_or("none"),
            match &t.reason {
                None => "decrypted with the key log".to_string(),
                Some(why) => format!("NOT decrypted: {why}"),
            }
        )?;
    }
    handshake_summary(c, out)?;
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
        if let (Some(p), Some(s)) = (x.response_packet, x.status) {
            lines.push(Line {
                packet: p,
                order: 1,
                ts: x.response_ts,
                text: format!("← HTTP {s}"),
            });
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
            ts: None,
            text: format!("{dir}VIOLATION ({}): {}", v.kind.rfc(), v.detail),
        });
    }
    for an in &c.anomalies {
        lines.push(Line {
            packet: an.packet,
            order: 3,
            ts: None,
            text: format!("! {}", an.detail),
        });
    }
    lines.sort_by_key(|l| (l.packet, l.order));
    // Findings without a time of their own take the time of the event
    // before them (they were noticed in the same packet).
    let mut last = c.start_ts;
    for l in &lines {
        let ts = l.ts.unwrap_or(last);
        last = ts;
        let rel = ts.secs_since(t0).max(0.0);
        writeln!(out, "  #{:<6} +{rel:>9.6}s  {}", l.packet.0, l.text)?;
    }
    ending(c, out)
}

/// One phrase for what the connection was.
fn verdict(c: &Connection) -> String {
    let h = &c.handshake;
    if let (Some(t), false) = (&c.tls, c.is_websocket || h.seen) {
        return match &t.reason {
            Some(why) => format!("TLS, not decrypted: {why}"),
            None => "TLS".into(),
        };
    }
    match (c.is_websocket, h.seen, h.status, h.accept_valid) {
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

fn handshake_summary(c: &Connection, out: &mut impl Write) -> io::Result<()> {
    let h = &c.handshake;
    if !h.seen {
        if c.is_websocket {
            writeln!(
                out,
                "  handshake: not captured (picked up mid-stream; client = masked side)"
            )?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "  upgrade request: GET {}{}",
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

pub(crate) fn message_line(m: &Message) -> String {
    let size = match m.payload_len {
        Some(n) if m.compressed => format!("{n} bytes ({} compressed)", m.wire_payload_len),
        Some(n) => format!("{n} bytes"),
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
        (None, _, false) if m.undecodable.is_some() => match m.captured_prefix_hex.as_deref() {
            Some(p) if !p.is_empty() => format!("not decodable, exact first bytes: {p}"),
            _ => "not decodable".into(),
        },
        (None, _, false) => format!(
            "incomplete in the capture, visible: {}",
            m.captured_prefix_hex.as_deref().unwrap_or("")
        ),
        _ => format!("0x{}", m.preview_hex.as_deref().unwrap_or("")),
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
            "{op} {} bytes{}",
            f.payload_len,
            if f.payload_hex.is_empty() {
                String::new()
            } else {
                format!(" 0x{}", f.payload_hex)
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
    let sep = if close.is_empty() { "" } else { "; " };
    writeln!(out, "  end: {close}{sep}{tcp}")?;
    let (cs, sc) = (&c.stats.c2s, &c.stats.s2c);
    writeln!(
        out,
        "  {} {} messages ({} bytes), {} {} messages ({} bytes){}",
        Direction::ClientToServer.arrow(),
        cs.messages,
        cs.payload_bytes,
        Direction::ServerToClient.arrow(),
        sc.messages,
        sc.payload_bytes,
        if cs.retransmissions + sc.retransmissions > 0 {
            format!(
                "; {} TCP retransmissions",
                cs.retransmissions + sc.retransmissions
            )
        } else {
            String::new()
        }
    )
}
