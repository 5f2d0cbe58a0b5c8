//! The connection list: one row per connection, with how it went.

use super::{bytes, dim_style, error_style, fg, list_height, pane_block, warn_style};
use crate::model::{Connection, Protocol, TcpEnd};
use crate::tui::app::{App, Pane};
use crate::tui::source::Source;
use crate::ws::frame::Opcode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

/// `!` violations, `~` capture anomalies (loss, snaplen, caps), else blank.
pub fn mark(c: &Connection) -> &'static str {
    if !c.violation_details.is_empty() || c.handshake.accept_valid == Some(false) {
        "!"
    } else if !c.anomalies.is_empty() || tcp_trouble(c) > 0 {
        "~"
    } else {
        " "
    }
}

/// Retransmitted, reordered and missing TCP segments/bytes: signs of loss
/// on the path (the capture may still hold every byte).
pub fn tcp_trouble(c: &Connection) -> u64 {
    let (a, b) = (&c.stats.c2s, &c.stats.s2c);
    a.retransmissions
        + b.retransmissions
        + a.out_of_order
        + b.out_of_order
        + a.missing_bytes
        + b.missing_bytes
}

/// `retx 715 · ooo 490 · lost 0 B`, or `-`.
pub fn tcp_summary(c: &Connection) -> String {
    if tcp_trouble(c) == 0 {
        return "-".into();
    }
    let (a, b) = (&c.stats.c2s, &c.stats.s2c);
    let mut parts = vec![
        format!("retx {}", a.retransmissions + b.retransmissions),
        format!("ooo {}", a.out_of_order + b.out_of_order),
    ];
    if a.missing_bytes + b.missing_bytes > 0 {
        parts.push(format!("lost {}", bytes(a.missing_bytes + b.missing_bytes)));
    }
    parts.join(" ")
}

/// The handshake verdict: `101 ✓ accept`, `101 ✗ accept`, `403`, or why
/// there is none. The second value tells whether it is an error.
pub fn handshake(c: &Connection) -> (String, bool) {
    let h = &c.handshake;
    if !h.seen {
        return match c.protocol {
            Protocol::Websocket => ("no handshake seen".into(), false),
            Protocol::Tls => ("TLS, not decrypted".into(), false),
            Protocol::Http2 => ("HTTP/2".into(), false),
            Protocol::Upgraded => (
                format!("101 → {}", c.upgraded_to.as_deref().unwrap_or("?")),
                false,
            ),
            _ => ("no upgrade".into(), false),
        };
    }
    match (h.status, h.accept_valid) {
        (Some(101), Some(true)) => ("101 ✓ accept".into(), false),
        (Some(101), Some(false)) => ("101 ✗ wrong accept".into(), true),
        (Some(101), None) => ("101 ? accept".into(), false),
        (Some(s), _) => (
            format!("{s} {}", h.reason.as_deref().unwrap_or(""))
                .trim()
                .to_string(),
            true,
        ),
        (None, _) => ("no response".into(), true),
    }
}

/// How the connection ended: close code and initiator, then TCP.
pub fn ending(c: &Connection) -> String {
    let close = c.close_initiator.map(|r| {
        let code = c
            .control
            .iter()
            .find(|f| f.opcode == Opcode::Close)
            .and_then(|f| f.close_code)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "close".into());
        format!("{code} by {r}")
    });
    let d = &c.tcp_detail;
    let tcp = match c.tcp_end {
        TcpEnd::Rst if d.rst_from_client => "RST by client".to_string(),
        TcpEnd::Rst => "RST by server".to_string(),
        TcpEnd::Fin => "FIN".to_string(),
        TcpEnd::Open => "still open".to_string(),
    };
    match close {
        Some(cl) => format!("{cl} · {tcp}"),
        None if c.is_websocket => format!("no close · {tcp}"),
        None => tcp,
    }
}

/// Subprotocol and extensions accepted by the server.
pub fn negotiated(c: &Connection) -> String {
    let h = &c.handshake;
    let ext = h
        .extensions
        .as_deref()
        .map(|e| e.split(';').next().unwrap_or(e).trim().to_string());
    match (h.subprotocol.as_deref(), ext) {
        (Some(p), Some(e)) => format!("{p} + {e}"),
        (Some(p), None) => p.to_string(),
        (None, Some(e)) => e,
        (None, None) => "-".into(),
    }
}

/// Duration of the connection in seconds.
pub fn duration(c: &Connection) -> String {
    format!("{:.3} s", c.end_ts.secs_since(c.start_ts).max(0.0))
}

/// Draws the list.
pub fn render(app: &App, a: &Source, frame: &mut Frame<'_>, area: Rect) {
    let title = format!("Connections ({})", a.conn_count());
    let block = pane_block(app, Pane::Connections, title);
    let w = area.width.saturating_sub(2);
    let wide = w >= 140;
    let very_wide = w >= 172;
    let medium = w >= 90;
    let mut header = vec!["", "#", "client → server"];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Min(if medium { 34 } else { 12 }),
    ];
    if medium {
        header.push("target");
        widths.push(Constraint::Max(16));
    }
    header.push("handshake");
    widths.push(Constraint::Length(if medium { 18 } else { 12 }));
    if wide {
        header.push("proto/ext");
        widths.push(Constraint::Max(18));
    }
    if medium {
        header.push("msgs →/←");
        widths.push(Constraint::Length(11));
    }
    if wide {
        header.extend(["bytes →/←", "duration"]);
        widths.extend([Constraint::Length(17), Constraint::Length(9)]);
    }
    if very_wide {
        header.push("tcp");
        widths.push(Constraint::Length(18));
    }
    if medium {
        header.push("end");
        widths.push(Constraint::Min(16));
    }
    let height = list_height(Some(area));
    let rows = (app.conn_offset..a.conn_count().min(app.conn_offset.saturating_add(height)))
        .filter_map(|i| Some((i, a.connection(i)?)))
        .map(|(i, c)| {
            let c = c.as_ref();
            let (hs, bad) = handshake(c);
            let m = mark(c);
            let mark_style = if m == "!" {
                error_style(app)
            } else {
                warn_style(app)
            };
            let mut cells = vec![
                Cell::from(Span::styled(m, mark_style)),
                Cell::from(c.id.to_string()),
                Cell::from(Line::from(vec![
                    Span::styled(c.client.to_string(), fg(app, Color::Green)),
                    Span::raw(" → "),
                    Span::styled(c.server.to_string(), fg(app, Color::Cyan)),
                ])),
            ];
            if medium {
                let t = c
                    .handshake
                    .request_target
                    .clone()
                    .or_else(|| c.http_exchanges.first().map(|x| x.target.clone()))
                    .unwrap_or_else(|| "-".into());
                cells.push(Cell::from(t));
            }
            let hs_style = if bad {
                error_style(app)
            } else if c.handshake.seen {
                fg(app, Color::Green)
            } else {
                dim_style(app)
            };
            cells.push(Cell::from(Span::styled(hs, hs_style)));
            if wide {
                cells.push(Cell::from(negotiated(c)));
            }
            if medium {
                cells.push(Cell::from(format!(
                    "{}→ {}←",
                    c.stats.c2s.messages, c.stats.s2c.messages
                )));
            }
            if wide {
                cells.push(Cell::from(format!(
                    "{} / {}",
                    bytes(c.stats.c2s.payload_bytes),
                    bytes(c.stats.s2c.payload_bytes)
                )));
                cells.push(Cell::from(duration(c)));
            }
            if very_wide {
                let st = if tcp_trouble(c) > 0 {
                    warn_style(app)
                } else {
                    Style::default()
                };
                cells.push(Cell::from(Span::styled(tcp_summary(c), st)));
            }
            if medium {
                let end = ending(c);
                let st = if c.tcp_end == TcpEnd::Rst {
                    error_style(app)
                } else {
                    Style::default()
                };
                cells.push(Cell::from(Span::styled(end, st)));
            }
            let mut row = Row::new(cells);
            if i == app.conn {
                row = row.style(Style::default().add_modifier(Modifier::REVERSED));
            }
            row
        });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .block(block);
    frame.render_widget(table, area);
}
