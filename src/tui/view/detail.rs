//! The detail pane: the selected event in full (or the selected
//! connection, while the connection list has focus).
//!
//! Lines are built from the model for the one selected item only; payloads
//! are read from the model (`Message::text`, `Message::head`), never copied
//! into the view state.

use super::{
    bytes, dim_style, dir_style, error_style, fg, pane_block, rel_time, sender, utc, warn_style,
};
use crate::capture::Timestamp;
use crate::http::handshake::Header;
use crate::model::Connection;
use crate::tui::app::{App, Pane, PayloadView};
use crate::tui::rows::{Resolved, Row, printable, tcp_name};
use crate::tui::source::Source;
use crate::tui::view::connections;
use crate::ws::frame::{CloseCode, LengthFormat, Opcode};
use crate::ws::message::{FrameInfo, HEAD_BYTES, Message};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Most characters of a text payload laid out in the pane; the JSON report
/// has the rest.
const MAX_TEXT_CHARS: usize = 256 * 1024;

/// Number of lines the pane has for the current selection, for scrolling.
pub fn line_count(app: &App, a: &Source, width: u16) -> usize {
    let (_, lines, paged) = build(app, a, width);
    lines.len() + paged.map_or(0, |p| p.lines())
}

/// A whole payload's hex dump after the built lines, laid out on demand:
/// only the lines on screen are read from the index's spill.
#[derive(Debug, Clone, Copy)]
pub struct Paged {
    row: crate::index::Row,
}

impl Paged {
    /// Lines of 16 bytes.
    pub fn lines(&self) -> usize {
        usize::try_from(self.row.pay_len.div_ceil(16)).unwrap_or(usize::MAX)
    }

    /// Lines `from..to` of the dump.
    fn window(&self, a: &Source, from: usize, to: usize, l: &mut Vec<Line<'_>>) {
        let off = from as u64 * 16;
        let n = to.saturating_sub(from) * 16;
        match a.index.payload(&self.row, off, n) {
            Ok(b) => hexdump_at(off, &b, l),
            Err(e) => l.push(Line::raw(format!("(the payload could not be read: {e})"))),
        }
    }
}

/// Draws the pane.
pub fn render(app: &App, a: &Source, frame: &mut Frame<'_>, area: Rect) {
    let width = area.width.saturating_sub(2);
    let (title, lines, paged) = build(app, a, width);
    let total = lines.len() + paged.map_or(0, |p| p.lines());
    let h = usize::from(area.height.saturating_sub(2));
    let scroll = app.detail_scroll.min(total.saturating_sub(1));
    let more = total.saturating_sub(scroll + h);
    let title = if scroll > 0 || more > 0 {
        format!(
            "{title} · lines {}–{} of {}",
            scroll + 1,
            (scroll + h).min(total),
            total
        )
    } else {
        title
    };
    let built = lines.len();
    let mut shown: Vec<Line<'_>> = lines.into_iter().skip(scroll).take(h).collect();
    if let Some(p) = paged
        && shown.len() < h
    {
        let from = scroll.saturating_sub(built);
        p.window(a, from, (from + h - shown.len()).min(p.lines()), &mut shown);
    }
    let block = pane_block(app, Pane::Detail, title);
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

/// The title and every line of the pane.
pub fn build<'a>(app: &App, a: &'a Source, width: u16) -> (String, Vec<Line<'a>>, Option<Paged>) {
    let row = app.selected_row();
    match (app.focus, row) {
        (Pane::Connections, _) | (_, None) => match a.connection(app.conn) {
            Some(c) => {
                let (t, l) = connection(app, a, &c);
                (t, owned(l), None)
            }
            None => (
                "Detail".into(),
                vec![Line::raw(
                    "No HTTP or WebSocket connection in this capture.",
                )],
                None,
            ),
        },
        (_, Some(r)) => {
            let mut paged = None;
            let (t, l) = event(app, a, &r, width, &mut paged);
            (t, l, paged)
        }
    }
}

fn label(app: &App, s: &str) -> Span<'static> {
    Span::styled(s.to_string(), dim_style(app).add_modifier(Modifier::BOLD))
}

fn kv(app: &App, k: &str, v: String) -> Line<'static> {
    Line::from(vec![label(app, &format!("{k:<16}")), Span::raw(v)])
}

fn when(ts: Timestamp, t0: Timestamp) -> String {
    let (d, t) = utc(ts);
    format!("{} s  ({d} {t} UTC)", rel_time(ts, t0))
}

fn connection<'a>(app: &App, a: &'a Source, c: &'a Connection) -> (String, Vec<Line<'a>>) {
    let title = match c.stream_id {
        Some(s) => format!("Connection #{}, stream {s}", c.id),
        None => format!("Connection #{}", c.id),
    };
    let mut l = Vec::new();
    let kind = match (c.is_websocket, c.protocol) {
        (true, _) => "WebSocket",
        (false, crate::model::Protocol::Tls) => "TLS",
        (false, crate::model::Protocol::Http) => "HTTP",
        (false, crate::model::Protocol::Upgraded) => "HTTP, upgraded",
        (false, crate::model::Protocol::Http2) => "HTTP/2",
        _ => "TCP",
    };
    l.push(Line::from(vec![
        Span::styled(c.client.to_string(), fg(app, Color::Green)),
        Span::raw(" → "),
        Span::styled(c.server.to_string(), fg(app, Color::Cyan)),
        Span::raw(format!("  ({kind})")),
    ]));
    l.push(kv(
        app,
        "packets",
        format!(
            "{}–{} ({} packets), {} long",
            c.first_packet,
            c.last_packet,
            c.packets,
            connections::duration(c)
        ),
    ));
    l.push(kv(app, "started", when(c.start_ts, a.start_ts)));
    let (hs, bad) = connections::handshake(c);
    let target = c.handshake.request_target.as_deref().unwrap_or("");
    l.push(Line::from(vec![
        label(app, &format!("{:<16}", "handshake")),
        Span::raw(if target.is_empty() {
            String::new()
        } else {
            format!("GET {target} → ")
        }),
        Span::styled(
            hs,
            if bad {
                error_style(app)
            } else {
                fg(app, Color::Green)
            },
        ),
    ]));
    let h = &c.handshake;
    if h.seen {
        l.push(kv(
            app,
            "subprotocol",
            format!(
                "{} (offered: {})",
                h.subprotocol.as_deref().unwrap_or("none"),
                h.offered_subprotocols.as_deref().unwrap_or("none")
            ),
        ));
        l.push(kv(
            app,
            "extensions",
            format!(
                "{} (offered: {})",
                h.extensions.as_deref().unwrap_or("none"),
                h.offered_extensions.as_deref().unwrap_or("none")
            ),
        ));
    }
    let end = connections::ending(c);
    l.push(Line::from(vec![
        label(app, &format!("{:<16}", "ended")),
        Span::raw(end),
        Span::raw(match c.close_initiator {
            Some(_) => {
                let code = c
                    .control
                    .iter()
                    .find(|f| f.opcode == Opcode::Close)
                    .and_then(|f| f.close_code);
                code.map(|k| format!("  ({})", CloseCode(k).meaning()))
                    .unwrap_or_default()
            }
            None => String::new(),
        }),
    ]));
    if let Some(t) = &c.tls {
        l.push(kv(
            app,
            "TLS",
            format!(
                "{} {} sni={} alpn={} {}",
                t.version.as_deref().unwrap_or("?"),
                t.cipher_suite.as_deref().unwrap_or("?"),
                t.sni.as_deref().unwrap_or("-"),
                t.alpn.as_deref().unwrap_or("-"),
                if t.decrypted {
                    "decrypted".to_string()
                } else {
                    match &t.reason {
                        Some(r) => format!("not decrypted: {r}"),
                        None => "not decrypted: ?".to_string(),
                    }
                }
            ),
        ));
    }
    l.push(Line::raw(""));
    l.push(Line::from(vec![
        label(app, &format!("{:<16}", "")),
        Span::styled(format!("{:>16}", "client → server"), fg(app, Color::Green)),
        Span::styled(format!("{:>18}", "server → client"), fg(app, Color::Cyan)),
    ]));
    let (cs, sc) = (&c.stats.c2s, &c.stats.s2c);
    let stat = |name: &str, x: u64, y: u64| -> Line<'static> {
        Line::from(vec![
            label(app, &format!("{name:<16}")),
            Span::raw(format!("{x:>16}{y:>18}")),
        ])
    };
    l.push(stat("messages", cs.messages, sc.messages));
    l.push(stat("payload bytes", cs.payload_bytes, sc.payload_bytes));
    l.push(stat(
        "on the wire",
        cs.wire_payload_bytes,
        sc.wire_payload_bytes,
    ));
    let warn = |line: Line<'static>, n: u64| {
        if n > 0 {
            line.style(warn_style(app))
        } else {
            line
        }
    };
    l.push(warn(
        stat("retransmitted", cs.retransmissions, sc.retransmissions),
        cs.retransmissions + sc.retransmissions,
    ));
    if cs.keep_alives + sc.keep_alives > 0 {
        // Probes are normal on idle connections: not a warning.
        l.push(stat("keep-alives", cs.keep_alives, sc.keep_alives));
    }
    l.push(warn(
        stat("out of order", cs.out_of_order, sc.out_of_order),
        cs.out_of_order + sc.out_of_order,
    ));
    l.push(warn(
        stat("missing bytes", cs.missing_bytes, sc.missing_bytes),
        cs.missing_bytes + sc.missing_bytes,
    ));
    l.push(stat("TCP bytes", cs.tcp_bytes, sc.tcp_bytes));
    l.push(stat("frames", cs.frames, sc.frames));
    l.push(stat("control frames", cs.control_frames, sc.control_frames));
    l.push(Line::raw(""));
    if c.violation_details.is_empty() {
        l.push(Line::from(vec![
            label(app, "violations"),
            Span::raw("  none"),
        ]));
    } else {
        l.push(Line::styled(
            format!(
                "! {}",
                crate::report::count(c.violation_details.len() as u64, "violation")
            ),
            error_style(app),
        ));
        for v in &c.violation_details {
            l.push(Line::styled(
                format!(
                    "  #{} {} {}: {}",
                    v.packet,
                    super::arrow(v.dir),
                    v.kind.rfc(),
                    v.detail
                ),
                error_style(app),
            ));
        }
    }
    if c.anomalies.is_empty() {
        l.push(Line::from(vec![
            label(app, "anomalies"),
            Span::raw("   none"),
        ]));
    } else {
        l.push(Line::styled(
            format!(
                "~ {}",
                crate::report::count(c.anomalies.len() as u64, "anomaly")
            ),
            warn_style(app),
        ));
        for an in &c.anomalies {
            l.push(Line::styled(
                format!("  #{} {} {}", an.packet, super::arrow(an.dir), an.detail),
                warn_style(app),
            ));
        }
    }
    (title, l)
}

/// The lines of a row's event (owned: they are laid out from the
/// connection's summary, which the index's cache lends).
fn event(
    app: &App,
    a: &Source,
    row: &Row,
    width: u16,
    paged: &mut Option<Paged>,
) -> (String, Vec<Line<'static>>) {
    let Some(c) = row.connection(a) else {
        return ("Detail".into(), Vec::new());
    };
    let resolved = row.resolve_in(a, &c);
    let (t, l) = event_in(app, a, row, width, paged, &c, resolved.as_ref());
    (t, owned(l))
}

/// Lines that own their text.
fn owned(lines: Vec<Line<'_>>) -> Vec<Line<'static>> {
    lines
        .into_iter()
        .map(|l| {
            let spans: Vec<Span<'static>> = l
                .spans
                .into_iter()
                .map(|s| Span::styled(s.content.into_owned(), s.style))
                .collect();
            let mut o = Line::from(spans).style(l.style);
            o.alignment = l.alignment;
            o
        })
        .collect()
}

fn event_in<'a>(
    app: &App,
    a: &'a Source,
    row: &Row,
    width: u16,
    paged: &mut Option<Paged>,
    c: &'a Connection,
    resolved: Option<&'a Resolved>,
) -> (String, Vec<Line<'a>>) {
    let t0 = if app.all { a.start_ts } else { c.start_ts };
    match resolved {
        None => ("Detail".into(), Vec::new()),
        Some(Resolved::Tcp(e)) => {
            let title = format!(
                "TCP {} · packet {} · {}",
                tcp_name(e.kind),
                e.packet,
                sender(e.dir)
            );
            let what = match e.kind {
                crate::model::TcpEventKind::Syn => "the client opens the connection",
                crate::model::TcpEventKind::SynAck => "the server accepts the connection",
                crate::model::TcpEventKind::Fin => "the sender will send no more data (half close)",
                crate::model::TcpEventKind::Rst => {
                    "the connection is aborted; data in flight is lost"
                }
            };
            let l = vec![
                kv(app, "event", format!("{} — {what}", tcp_name(e.kind))),
                kv(app, "direction", sender(e.dir).into()),
                kv(app, "packet", e.packet.to_string()),
                kv(app, "time", when(e.ts, t0)),
            ];
            (title, l)
        }
        Some(Resolved::HttpRequest(x)) => {
            let title = format!(
                "HTTP request · packet {} · client → server",
                x.request_packet
            );
            let h = &c.handshake;
            let mut l = vec![Line::styled(
                format!("{} {} HTTP/1.1", x.method, x.target),
                dir_style(app, Some(crate::flow::Direction::ClientToServer))
                    .add_modifier(Modifier::BOLD),
            )];
            let is_upgrade = h.request_packet == Some(x.request_packet);
            if is_upgrade {
                headers(app, &mut l, &h.request_headers);
                if !x.request_complete {
                    l.push(Line::styled(
                        "[the header block is cut short in the capture]",
                        warn_style(app),
                    ));
                }
                l.push(Line::raw(""));
                if let (Some(k), Some(want)) = (&h.sec_websocket_key, &h.expected_accept) {
                    l.push(kv(app, "key", k.clone()));
                    l.push(kv(app, "expected accept", format!("{want}  = base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)), RFC 6455 §4.2.2")));
                }
            } else {
                l.push(Line::styled(
                    format!(
                        "upgrade requested: {}",
                        if x.upgrade { "yes" } else { "no" }
                    ),
                    dim_style(app),
                ));
                l.push(Line::styled(
                    "(headers are kept for the WebSocket upgrade request only)",
                    dim_style(app),
                ));
            }
            // Long-polling packets of the request body (issue 21).
            for r in &x.request_app {
                l.push(kv(
                    app,
                    "application",
                    crate::report::text::polling_app_line(r),
                ));
            }
            (title, l)
        }
        Some(Resolved::HttpResponse(x)) => {
            let p = x
                .response_packet
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into());
            let title = format!("HTTP response · packet {p} · server → client");
            let h = &c.handshake;
            let is_upgrade = h.response_packet.is_some() && h.response_packet == x.response_packet;
            let status = x
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into());
            let reason = if is_upgrade {
                h.reason.as_deref().unwrap_or("")
            } else {
                ""
            };
            let mut l = vec![Line::styled(
                format!("HTTP/1.1 {status} {reason}"),
                dir_style(app, Some(crate::flow::Direction::ServerToClient))
                    .add_modifier(Modifier::BOLD),
            )];
            if is_upgrade {
                headers(app, &mut l, &h.response_headers);
                if !x.response_complete {
                    l.push(Line::styled(
                        "[the header block is cut short in the capture]",
                        warn_style(app),
                    ));
                }
                l.push(Line::raw(""));
                l.push(Line::styled(
                    "Sec-WebSocket-Accept check (RFC 6455 §4.2.2)",
                    Style::default().add_modifier(Modifier::BOLD),
                ));
                l.push(kv(
                    app,
                    "  key",
                    h.sec_websocket_key
                        .clone()
                        .unwrap_or_else(|| "(not seen)".into()),
                ));
                l.push(kv(
                    app,
                    "  computed",
                    h.expected_accept
                        .clone()
                        .unwrap_or_else(|| "(no key)".into()),
                ));
                l.push(kv(
                    app,
                    "  received",
                    h.sec_websocket_accept
                        .clone()
                        .unwrap_or_else(|| "(none)".into()),
                ));
                let (verdict, st) = match (x.status, h.accept_valid) {
                    (_, Some(true)) => (
                        "✓ verified: the server proved it read the key".to_string(),
                        fg(app, Color::Green),
                    ),
                    (_, Some(false)) => (
                        "✗ MISMATCH: a client must fail this connection".to_string(),
                        error_style(app),
                    ),
                    (Some(101), None) => (
                        "? cannot be checked (key or accept missing)".to_string(),
                        warn_style(app),
                    ),
                    (Some(s), None) => (
                        format!("✗ the server refused the upgrade with {s}"),
                        error_style(app),
                    ),
                    (None, None) => ("? no response".to_string(), warn_style(app)),
                };
                l.push(Line::from(vec![
                    label(app, &format!("{:<16}", "  verdict")),
                    Span::styled(verdict, st),
                ]));
                l.push(kv(
                    app,
                    "  subprotocol",
                    h.subprotocol.clone().unwrap_or_else(|| "none".into()),
                ));
                l.push(kv(
                    app,
                    "  extensions",
                    h.extensions.clone().unwrap_or_else(|| "none".into()),
                ));
            } else {
                l.push(Line::styled(
                    "(headers are kept for the WebSocket upgrade response only)",
                    dim_style(app),
                ));
            }
            // Long-polling packets of the response body (issue 21).
            for r in &x.response_app {
                l.push(kv(
                    app,
                    "application",
                    crate::report::text::polling_app_line(r),
                ));
            }
            (title, l)
        }
        Some(Resolved::Message(m)) => {
            let whole = Whole::of(app, a, row);
            let (t, l) = message(app, c, m, t0, width, whole.as_ref());
            if let Some(w) = whole
                && w.paged
            {
                *paged = Some(Paged { row: row.ix });
            }
            (t, l)
        }
        Some(Resolved::Control(f)) => {
            let title = format!(
                "{} frame · packet {} · {}",
                f.opcode,
                f.packet,
                sender(f.dir)
            );
            let mut l = vec![
                kv(
                    app,
                    "opcode",
                    format!(
                        "0x{:x} {} (control frame, RFC 6455 §5.5)",
                        f.opcode.value(),
                        f.opcode
                    ),
                ),
                kv(app, "direction", sender(f.dir).into()),
                kv(app, "time", when(f.ts, t0)),
                kv(app, "payload", format!("{} bytes", f.payload_len)),
            ];
            if f.opcode == Opcode::Close {
                match f.close_code {
                    Some(k) => {
                        let code = CloseCode(k);
                        let st = if code.valid_on_wire() {
                            Style::default()
                        } else {
                            error_style(app)
                        };
                        l.push(Line::from(vec![
                            label(app, &format!("{:<16}", "close code")),
                            Span::styled(format!("{k}: {} (RFC 6455 §7.4.1)", code.meaning()), st),
                        ]));
                        let reason = f.close_reason.as_deref().unwrap_or("");
                        l.push(kv(
                            app,
                            "reason",
                            if reason.is_empty() {
                                "(none)".into()
                            } else {
                                format!("\"{reason}\"")
                            },
                        ));
                    }
                    None => l.push(kv(app, "close code", "none (an empty close frame)".into())),
                }
                let first = c
                    .close_initiator
                    .map(|r| r == f.dir.sender())
                    .unwrap_or(false);
                l.push(kv(
                    app,
                    "initiated by",
                    match c.close_initiator {
                        Some(r) if first => {
                            format!("{r} (this frame starts the closing handshake)")
                        }
                        Some(r) => format!("{r} (this frame answers it)"),
                        None => "?".into(),
                    },
                ));
            }
            l.push(Line::raw(""));
            l.push(Line::styled(
                "frame header",
                Style::default().add_modifier(Modifier::BOLD),
            ));
            l.push(frame_line(&f.frame));
            violations_at(app, c, f.dir, f.packet.0, f.packet.0, &mut l);
            if !f.payload.is_empty() {
                l.push(Line::raw(""));
                l.push(Line::styled(
                    "payload (hex)",
                    Style::default().add_modifier(Modifier::BOLD),
                ));
                hexdump(&f.payload, &mut l);
            }
            (title, l)
        }
        Some(Resolved::Violation(v)) => {
            let title = format!("Violation · packet {}", v.packet);
            let l = vec![
                Line::styled(v.detail.clone(), error_style(app)),
                Line::raw(""),
                kv(app, "rule", format!("{:?} ({})", v.kind, v.kind.rfc())),
                kv(
                    app,
                    "broken by",
                    v.dir
                        .map(|d| sender(d).to_string())
                        .unwrap_or_else(|| "the handshake".into()),
                ),
                kv(app, "packet", v.packet.to_string()),
            ];
            (title, l)
        }
        Some(Resolved::Anomaly(an)) => {
            let title = format!("Anomaly · packet {}", an.packet);
            let l = vec![
                Line::styled(an.detail.clone(), warn_style(app)),
                Line::raw(""),
                kv(app, "kind", format!("{:?}", an.kind)),
                kv(
                    app,
                    "direction",
                    an.dir
                        .map(|d| sender(d).to_string())
                        .unwrap_or_else(|| "-".into()),
                ),
                kv(app, "packet", an.packet.to_string()),
                Line::styled(
                    "An anomaly limits what the capture can tell; it is not a fault of the peers.",
                    dim_style(app),
                ),
            ];
            (title, l)
        }
    }
}

fn headers(app: &App, l: &mut Vec<Line<'_>>, hs: &[Header]) {
    for h in hs {
        l.push(Line::from(vec![
            Span::styled(
                format!("{}: ", h.name),
                dim_style(app).add_modifier(Modifier::BOLD),
            ),
            Span::raw(h.value.clone()),
        ]));
    }
}

/// One frame header in a line: FIN, RSV, opcode, mask key, length and its
/// encoding (RFC 6455 §5.2).
pub fn frame_line(f: &FrameInfo) -> Line<'static> {
    let enc = match f.length_format {
        LengthFormat::Short => "7-bit",
        LengthFormat::Medium => "16-bit",
        LengthFormat::Long => "64-bit",
    };
    let mask = match &f.mask_key {
        Some(k) => format!("MASK 1 key {}", spaced(&k.to_string())),
        None => "MASK 0".to_string(),
    };
    let pk = if f.header_packet == f.end_packet {
        format!("pkt {}", f.header_packet)
    } else {
        format!("pkts {}–{}", f.header_packet, f.end_packet)
    };
    Line::raw(format!(
        "FIN {}  RSV {:03b}  opcode 0x{:x} {:<12}  {mask:<20}  length {} ({enc})  {pk}",
        u8::from(f.fin),
        f.rsv,
        f.opcode.value(),
        f.opcode.name(),
        f.payload_len
    ))
}

fn spaced(h: &str) -> String {
    h.as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `0000  31 32 33 …  |123|`, 16 bytes a line.
pub fn hexdump(b: &[u8], l: &mut Vec<Line<'_>>) {
    hexdump_at(0, b, l)
}

/// The same for bytes that start at offset `at` of the payload.
pub fn hexdump_at(at: u64, b: &[u8], l: &mut Vec<Line<'_>>) {
    for (i, chunk) in b.chunks(16).enumerate() {
        let mut hex = String::with_capacity(50);
        for (j, x) in chunk.iter().enumerate() {
            if j == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{x:02x} "));
        }
        l.push(Line::raw(format!(
            "{:04x}  {hex:<49} |{}|",
            at + i as u64 * 16,
            printable(chunk)
        )));
    }
}

fn violations_at(
    app: &App,
    c: &Connection,
    dir: crate::flow::Direction,
    from: u64,
    to: u64,
    l: &mut Vec<Line<'_>>,
) {
    let here: Vec<_> = c
        .violation_details
        .iter()
        .filter(|v| v.dir == Some(dir) && (from..=to).contains(&v.packet.0))
        .collect();
    if here.is_empty() {
        return;
    }
    l.push(Line::raw(""));
    for v in here {
        l.push(Line::styled(
            format!("! {} at packet {}: {}", v.kind.rfc(), v.packet, v.detail),
            error_style(app),
        ));
    }
}

/// The JSON value of a text, pretty-printed, when it is an object or an
/// array (a bare `123` is valid JSON too, but showing it "as JSON" helps
/// nobody).
fn pretty_json(text: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
        }
        Ok(_) => Err("a bare JSON scalar".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn message(
    app: &App,
    c: &Connection,
    m: &Message,
    t0: Timestamp,
    width: u16,
    whole: Option<&Whole>,
) -> (String, Vec<Line<'static>>) {
    let pk = if m.first_packet == m.last_packet {
        format!("packet {}", m.first_packet)
    } else {
        format!("packets {}–{}", m.first_packet, m.last_packet)
    };
    let title = format!("{} message · {pk} · {}", m.opcode, sender(m.dir));
    let mut l = Vec::new();
    let size = match m.payload_len {
        Some(n) if m.compressed => {
            format!(
                "{n} bytes ({} on the wire, permessage-deflate)",
                m.wire_payload_len
            )
        }
        Some(n) if n >= 1024 => format!("{n} bytes ({})", bytes(n)),
        Some(n) => format!("{n} bytes"),
        None => format!("unknown ({} bytes on the wire)", m.wire_payload_len),
    };
    let frames = if m.frames > 1 {
        format!(" · {} frames (fragmented, RFC 6455 §5.4)", m.frames)
    } else {
        " · 1 frame".to_string()
    };
    let mut spans = vec![
        label(app, &format!("{:<16}", "size")),
        Span::raw(size + &frames),
    ];
    if m.complete {
        spans.push(Span::raw(" · complete"));
    } else {
        spans.push(Span::styled(
            " · INCOMPLETE: bytes were not captured",
            warn_style(app),
        ));
    }
    if m.opcode == Opcode::Text {
        spans.push(match m.utf8_valid {
            Some(true) => Span::raw(" · UTF-8 valid"),
            Some(false) => Span::styled(" · UTF-8 INVALID (RFC 6455 §8.1)", error_style(app)),
            None => Span::raw(" · UTF-8 unknown"),
        });
    }
    l.push(Line::from(spans));
    let mut time = when(m.ts, t0);
    if m.end_ts != m.ts {
        time.push_str(&format!("  → completed {} s", rel_time(m.end_ts, t0)));
    }
    l.push(kv(app, "time", time));
    if m.opcode != Opcode::Text
        && let Some(f) = super::flv::describe(&m.head, m.payload_len.unwrap_or(m.wire_payload_len))
    {
        l.push(kv(app, "looks like", f));
    }
    if let Some(s) = &m.sha256 {
        l.push(kv(app, "sha256", s.to_string()));
    }
    // What the application protocol makes of it (issue 21).
    for r in c.app_records_on(m) {
        l.push(kv(app, "application", crate::report::text::app_line(r)));
    }
    l.push(Line::raw(""));
    l.push(Line::styled(
        "frame headers",
        Style::default().add_modifier(Modifier::BOLD),
    ));
    for f in &m.frame_headers {
        l.push(frame_line(f));
    }
    violations_at(app, c, m.dir, m.first_packet.0, m.last_packet.0, &mut l);
    l.push(Line::raw(""));
    match whole {
        Some(w) => whole_payload(app, m, w, width, &mut l),
        None => payload(app, m, width, &mut l),
    }
    (title, l)
}

/// Text and JSON views lay out at most this much of a whole payload (the
/// hex view pages through all of it; `s` saves all of it).
const MAX_WHOLE_TEXT: u64 = 4 << 20;

/// A message's whole payload, as the index kept it.
#[derive(Debug)]
struct Whole {
    /// Bytes kept.
    kept: u64,
    /// The payload was cut (`--max-spill-bytes`).
    cut: bool,
    /// The text, for a text message (the first [`MAX_WHOLE_TEXT`] bytes).
    text: Option<String>,
    /// The view is the paged hex dump.
    paged: bool,
    /// Why the whole payload could not be read, if it could not.
    error: Option<String>,
}

impl Whole {
    /// The whole payload of a message row, if the index has it.
    fn of(app: &App, a: &Source, row: &Row) -> Option<Whole> {
        let ix = &row.ix;
        if ix.flags & crate::index::flags::SPILLED == 0 {
            return None;
        }
        let mut w = Whole {
            kept: ix.pay_len,
            cut: ix.flags & crate::index::flags::PAYLOAD_CUT != 0,
            text: None,
            paged: false,
            error: None,
        };
        if ix.opcode == Some(Opcode::Text) {
            let n = usize::try_from(ix.pay_len.min(MAX_WHOLE_TEXT)).unwrap_or(0);
            match a.index.payload(ix, 0, n) {
                Ok(b) => w.text = Some(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => w.error = Some(e.to_string()),
            }
        }
        // The views that fall to the hex dump (see `whole_payload`).
        w.paged = w.error.is_none()
            && match app.payload_view {
                PayloadView::Hex => true,
                PayloadView::Auto | PayloadView::Text => w.text.is_none(),
                PayloadView::Json => false,
            };
        Some(w)
    }
}

/// The payload section from the whole payload (issue 22): text and JSON
/// views of the text, or a hex dump paged through every byte.
fn whole_payload(app: &App, m: &Message, w: &Whole, width: u16, l: &mut Vec<Line<'static>>) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    if let Some(e) = &w.error {
        l.push(Line::styled(
            format!("the whole payload could not be read ({e}); the model's first bytes:"),
            warn_style(app),
        ));
        return payload(app, m, width, l);
    }
    let mut of = format!("{} bytes", w.kept);
    if w.cut {
        of.push_str(", cut at --max-spill-bytes");
    } else if !m.complete {
        of.push_str(" captured, up to the first gap");
    }
    let text = w.text.as_deref();
    let json = text.map(pretty_json);
    let view = match app.payload_view {
        PayloadView::Auto => match (&json, text) {
            (Some(Ok(_)), _) => PayloadView::Json,
            (_, Some(_)) => PayloadView::Text,
            _ => PayloadView::Hex,
        },
        v => v,
    };
    let shown = if w.kept > MAX_WHOLE_TEXT {
        format!("; first {MAX_WHOLE_TEXT} bytes shown, t: hex of all")
    } else {
        String::new()
    };
    match (view, text) {
        (PayloadView::Json, Some(_)) => match json {
            Some(Ok(p)) => {
                l.push(Line::styled(
                    format!("payload (JSON, pretty-printed, {of}{shown}; t: other views, s: save)"),
                    bold,
                ));
                for line in p.lines() {
                    l.push(Line::raw(line.to_string()));
                }
            }
            _ => {
                l.push(Line::styled("payload (not JSON)", bold));
                let why = match json {
                    Some(Err(e)) => format!("does not parse as JSON: {e}"),
                    _ => "not JSON".into(),
                };
                l.push(Line::styled(why, warn_style(app)));
            }
        },
        (PayloadView::Json, None) => {
            l.push(Line::styled("payload (not JSON)", bold));
            l.push(Line::styled(
                "a binary or undecoded payload is not JSON",
                dim_style(app),
            ));
        }
        (PayloadView::Text, Some(t)) => {
            l.push(Line::styled(
                format!("payload (text, {of}{shown}; s: save)"),
                bold,
            ));
            wrap_text(t, usize::from(width.max(10)), l);
        }
        _ => {
            l.push(Line::styled(
                format!("payload (hex, {of}, whole; s: save)"),
                bold,
            ));
            // The dump itself is paged (see `Paged`).
        }
    }
}

fn payload(app: &App, m: &Message, width: u16, l: &mut Vec<Line<'static>>) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let total = m.payload_len.unwrap_or(m.wire_payload_len);
    let text = m.text.as_deref();
    let json = text.map(pretty_json);
    let view = match app.payload_view {
        PayloadView::Auto => match (&json, text) {
            (Some(Ok(_)), _) => PayloadView::Json,
            (_, Some(_)) => PayloadView::Text,
            _ => PayloadView::Hex,
        },
        v => v,
    };
    match view {
        PayloadView::Json => match json {
            Some(Ok(p)) => {
                l.push(Line::styled(
                    "payload (JSON, pretty-printed; t: other views)",
                    bold,
                ));
                for line in p.lines() {
                    l.push(Line::raw(line.to_string()));
                }
            }
            Some(Err(e)) => {
                l.push(Line::styled("payload (not JSON)", bold));
                l.push(Line::styled(
                    format!("does not parse as JSON: {e}"),
                    warn_style(app),
                ));
            }
            None => {
                l.push(Line::styled("payload (not JSON)", bold));
                l.push(Line::styled(
                    "a binary or undecoded payload is not JSON",
                    dim_style(app),
                ));
            }
        },
        PayloadView::Text => match text {
            Some(t) => {
                let cut = if m.text_truncated {
                    ", cut at the text limit"
                } else {
                    ""
                };
                l.push(Line::styled(
                    format!("payload (text, {} bytes{cut})", t.len()),
                    bold,
                ));
                wrap_text(t, usize::from(width.max(10)), l);
            }
            None => {
                l.push(Line::styled(
                    format!("payload (first {} bytes as text, lossy)", m.head.len()),
                    bold,
                ));
                wrap_text(
                    &String::from_utf8_lossy(&m.head),
                    usize::from(width.max(10)),
                    l,
                );
            }
        },
        PayloadView::Hex | PayloadView::Auto => {
            let of = if (m.head.len() as u64) < total {
                format!("first {} of {total} bytes", m.head.len())
            } else {
                format!("{} bytes", m.head.len())
            };
            l.push(Line::styled(
                format!("payload (hex, {of}; the model keeps {HEAD_BYTES})"),
                bold,
            ));
            hexdump(&m.head, l);
        }
    }
}

/// Lays text out in lines of at most `width` characters, keeping line
/// breaks; at most [`MAX_TEXT_CHARS`] characters.
fn wrap_text(t: &str, width: usize, l: &mut Vec<Line<'_>>) {
    let mut budget = MAX_TEXT_CHARS;
    for line in t.split('\n') {
        let mut cur = String::new();
        let mut n = 0;
        for ch in line.chars() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let ch = if ch.is_control() { '·' } else { ch };
            cur.push(ch);
            n += 1;
            if n == width {
                l.push(Line::raw(std::mem::take(&mut cur)));
                n = 0;
            }
        }
        if n > 0 || line.is_empty() {
            l.push(Line::raw(cur));
        }
        if budget == 0 {
            l.push(Line::raw(format!(
                "… (shown up to {MAX_TEXT_CHARS} characters)"
            )));
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_only_for_objects_and_arrays() {
        assert!(pretty_json("{\"a\":1}").is_ok());
        assert!(pretty_json("[1,2]").is_ok());
        assert!(pretty_json("123").is_err());
        assert!(pretty_json("{").is_err());
    }

    #[test]
    fn hexdump_layout() {
        let mut l = Vec::new();
        hexdump(b"0123456789abcdefXY", &mut l);
        let s: Vec<String> = l.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            s[0],
            "0000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|"
        );
        assert!(s[1].starts_with("0010  58 59 "));
        assert!(s[1].ends_with("|XY|"));
    }

    #[test]
    fn wrap_keeps_breaks_and_width() {
        let mut l = Vec::new();
        wrap_text("abcdef\n\nxy", 4, &mut l);
        let s: Vec<String> = l.iter().map(|x| x.to_string()).collect();
        assert_eq!(s, ["abcd", "ef", "", "xy"]);
    }
}
