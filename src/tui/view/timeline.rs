//! The timeline: handshake, frames, TCP events, violations and anomalies
//! of one connection (or all) in capture order.

use super::{
    arrow, dim_style, dir_style, error_style, fg, list_height, one_line, pane_block, rel_time, utc,
    warn_style,
};
use crate::model::finding::AnomalyKind;
use crate::tui::app::{App, Pane};
use crate::tui::rows::{Kind, Resolved, Row, tcp_name};
use crate::tui::source::Source;
use crate::ws::frame::{CloseCode, Opcode};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row as TableRow, Table};

/// The colour of a kind of event, on top of its text.
pub fn kind_style(app: &App, k: Kind) -> Style {
    match k {
        Kind::Text => Style::default(),
        Kind::Binary => fg(app, Color::LightBlue),
        Kind::Ping | Kind::Pong => fg(app, Color::Magenta),
        Kind::Close | Kind::OtherControl => fg(app, Color::LightMagenta),
        Kind::Http => fg(app, Color::LightYellow),
        Kind::Tcp => dim_style(app),
        Kind::Violation => error_style(app),
        Kind::Anomaly => warn_style(app),
    }
}

/// Short name of an anomaly kind.
pub fn anomaly_name(k: AnomalyKind) -> &'static str {
    match k {
        AnomalyKind::Loss => "LOSS",
        AnomalyKind::Snaplen => "SNAPLEN",
        AnomalyKind::CapReached => "CAP",
        AnomalyKind::Undecodable => "UNDECODED",
        AnomalyKind::BadHttp => "BAD HTTP",
        AnomalyKind::LostSync => "LOST SYNC",
    }
}

/// The cells of one row that do not depend on width: kind label, packet
/// numbers, sizes (wire, decompressed).
pub fn kind_label(row: &Row, a: &Source) -> String {
    match row.resolve(a) {
        None => "?".into(),
        Some(Resolved::Tcp(e)) => tcp_name(e.kind).into(),
        Some(Resolved::HttpRequest(x)) => format!("HTTP {}", x.method),
        Some(Resolved::HttpResponse(x)) => match x.status {
            Some(s) => format!("HTTP {s}"),
            None => "HTTP ?".into(),
        },
        Some(Resolved::Message(m)) => {
            if m.frames > 1 {
                format!("{} ×{}", short_op(m.opcode), m.frames)
            } else {
                short_op(m.opcode)
            }
        }
        Some(Resolved::Control(f)) => short_op(f.opcode),
        Some(Resolved::Violation(_)) => "VIOLATION".into(),
        Some(Resolved::Anomaly(an)) => anomaly_name(an.kind).into(),
    }
}

fn short_op(op: Opcode) -> String {
    match op {
        Opcode::Continuation => "cont".into(),
        Opcode::ReservedData(n) | Opcode::ReservedControl(n) => format!("op 0x{n:x}"),
        other => other.name(),
    }
}

/// Packet number(s) of a row: `8`, or `10–28` for a message that spans.
pub fn packets(row: &Row, a: &Source) -> String {
    match row.resolve(a) {
        Some(Resolved::Message(m)) if m.first_packet != m.last_packet => {
            format!("{}–{}", m.first_packet, m.last_packet)
        }
        _ => row.packet.to_string(),
    }
}

/// (wire size, decompressed size) of frames; blank for other events.
pub fn sizes(row: &Row, a: &Source) -> (String, String) {
    match row.resolve(a) {
        Some(Resolved::Message(m)) => (
            m.wire_payload_len.to_string(),
            m.payload_len
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
        ),
        Some(Resolved::Control(f)) => (f.payload_len.to_string(), f.payload_len.to_string()),
        _ => (String::new(), String::new()),
    }
}

/// The preview column: text, hex, close code, request line, verdict.
pub fn preview(row: &Row, a: &Source, max: usize) -> String {
    let Some(c) = row.connection(a) else {
        return String::new();
    };
    match row.resolve(a) {
        None => String::new(),
        Some(Resolved::Tcp(e)) => {
            use crate::model::TcpEventKind::*;
            let who = e.dir.sender();
            match e.kind {
                Syn => format!("connection opened by {who}"),
                SynAck => "connection accepted".into(),
                Fin => format!("{who} has no more data"),
                Rst => format!("connection reset by {who}"),
            }
        }
        Some(Resolved::HttpRequest(x)) => {
            let up = if x.upgrade {
                " (Upgrade: websocket)"
            } else {
                ""
            };
            let cut = if x.request_complete {
                ""
            } else {
                " [header cut]"
            };
            let app = app_tags(&x.request_app);
            one_line(&format!("{app}{} {}{up}{cut}", x.method, x.target), max)
        }
        Some(Resolved::HttpResponse(x)) => {
            let h = &c.handshake;
            let is_upgrade = h.response_packet == x.response_packet;
            let reason = if is_upgrade {
                h.reason.as_deref().unwrap_or("")
            } else {
                ""
            };
            let verdict = match (is_upgrade, x.status, h.accept_valid) {
                (true, Some(101), Some(true)) => " ✓ accept verified",
                (true, Some(101), Some(false)) => " ✗ accept WRONG",
                (true, Some(101), None) => " ? accept not checkable",
                (true, Some(_), _) => " ✗ upgrade refused",
                _ => "",
            };
            let status = x.status.map(|s| s.to_string()).unwrap_or_default();
            let app = app_tags(&x.response_app);
            one_line(&format!("{app}{status} {reason}{verdict}"), max)
        }
        Some(Resolved::Message(m)) => {
            let flags = match (m.complete, m.compressed) {
                (false, _) => "[incomplete] ",
                (true, true) => "[deflate] ",
                _ => "",
            };
            let body = match (&m.text, m.opcode) {
                (Some(t), _) => format!("\"{}\"", one_line(t, max)),
                (None, Opcode::Text) if m.complete && m.utf8_valid == Some(false) => {
                    "invalid UTF-8".into()
                }
                _ => {
                    let len = m.payload_len.unwrap_or(m.wire_payload_len);
                    match super::flv::describe(&m.head, len) {
                        Some(f) => format!("{f} · {}", hex_preview(&m.head, max)),
                        None => hex_preview(&m.head, max),
                    }
                }
            };
            // The application message it carries, first (issue 21).
            let app = app_tags(c.app_records_on(&m));
            clip_chars(format!("{app}{flags}{body}"), max)
        }
        Some(Resolved::Control(f)) => match (f.opcode, f.close_code) {
            (Opcode::Close, Some(k)) => {
                let reason = f
                    .close_reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(" \"{}\"", one_line(r, max)))
                    .unwrap_or_default();
                clip_chars(format!("{}{reason}", CloseCode(k)), max)
            }
            (Opcode::Close, None) => "no status code".into(),
            _ if f.payload.is_empty() => "(empty)".into(),
            _ => clip_chars(spaced_hex(&f.payload), max),
        },
        Some(Resolved::Violation(v)) => one_line(&format!("{}: {}", v.kind.rfc(), v.detail), max),
        Some(Resolved::Anomaly(an)) => one_line(&an.detail, max),
    }
}

fn clip_chars(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        super::clip(&s, max)
    }
}

/// `de ad be ef …` for as many bytes as fit in `max` characters.
fn hex_preview(b: &[u8], max: usize) -> String {
    let n = (max / 3).max(1);
    let mut s: Vec<String> = b.iter().take(n).map(|x| format!("{x:02x}")).collect();
    if b.len() > n {
        s.push("…".into());
    }
    s.join(" ")
}

fn spaced_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Draws the timeline: only the rows that fit on screen are formatted.
pub fn render(app: &App, a: &Source, frame: &mut Frame<'_>, area: Rect) {
    let conn = a.connection(app.conn);
    let scope = if app.all {
        "all connections".to_string()
    } else {
        match &conn {
            Some(c) => {
                let target = c
                    .handshake
                    .request_target
                    .as_deref()
                    .or_else(|| c.http_exchanges.first().map(|x| x.target.as_str()))
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                format!("#{} {} → {}{target}", c.id, c.client, c.server)
            }
            None => "no connection".into(),
        }
    };
    let count = if app.visible_len() == app.total_rows() {
        format!("{} events", app.total_rows())
    } else {
        format!("{} of {} events", app.visible_len(), app.total_rows())
    };
    let title = format!("Timeline: {scope} · {count}");
    let block = pane_block(app, Pane::Timeline, title);
    let w = area.width.saturating_sub(2);
    let show_abs = w >= 110;
    let show_sizes = w >= 60;
    let show_conn = app.all;
    let mut header = vec!["", "time"];
    let mut widths = vec![Constraint::Length(2), Constraint::Length(11)];
    if show_abs {
        header.push("UTC");
        widths.push(Constraint::Length(15));
    }
    if show_conn {
        header.push("conn");
        widths.push(Constraint::Length(4));
    }
    header.extend(["pkt", "", "kind"]);
    widths.extend([
        Constraint::Length(9),
        Constraint::Length(1),
        Constraint::Length(9),
    ]);
    if show_sizes {
        header.extend(["wire", "data"]);
        widths.extend([Constraint::Length(7), Constraint::Length(7)]);
    }
    header.push("payload / event");
    widths.push(Constraint::Min(10));
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => n + 1,
            _ => 1,
        })
        .sum();
    let preview_w = usize::from(w.saturating_sub(fixed).max(10));
    // Times are relative to the connection's start, or to the capture's
    // start when connections are interleaved.
    let t0 = match (app.all, &conn) {
        (false, Some(c)) => c.start_ts,
        _ => a.start_ts,
    };
    let height = list_height(Some(area));
    let rows = (app.offset..app.visible_len().min(app.offset + height)).filter_map(|i| {
        let row = app.row_at(i)?;
        let kind = row.kind(a);
        let dir = row.dir(a);
        let selected = i == app.sel;
        let mark = match (selected, app.is_match(i)) {
            (true, true) => "▶*",
            (true, false) => "▶ ",
            (false, true) => " *",
            (false, false) => match kind {
                Kind::Violation => " !",
                Kind::Anomaly => " ~",
                _ => "  ",
            },
        };
        let time = if row.ts_exact {
            rel_time(row.ts, t0)
        } else {
            // Not recorded in the model: at or after the previous event.
            format!("≥{}", rel_time(row.ts, t0).trim_start_matches('+'))
        };
        let mut cells = vec![Cell::from(mark), Cell::from(time)];
        if show_abs {
            let abs = utc(row.ts).1;
            cells.push(Cell::from(if row.ts_exact { abs } else { String::new() }));
        }
        if show_conn {
            let id = row.connection(a).map(|c| c.id).unwrap_or(0);
            cells.push(Cell::from(format!("#{id}")));
        }
        cells.push(Cell::from(packets(&row, a)));
        cells.push(Cell::from(Span::styled(arrow(dir), dir_style(app, dir))));
        cells.push(Cell::from(Span::styled(
            kind_label(&row, a),
            kind_style(app, kind),
        )));
        if show_sizes {
            let (wire, data) = sizes(&row, a);
            cells.push(Cell::from(wire));
            cells.push(Cell::from(data));
        }
        let pv = preview(&row, a, preview_w);
        let pv_style = match kind {
            Kind::Violation | Kind::Anomaly => kind_style(app, kind),
            Kind::Http if pv.contains('✗') => error_style(app),
            _ => dir_style(app, dir),
        };
        cells.push(Cell::from(Span::styled(pv, pv_style)));
        let mut r = TableRow::new(cells);
        if selected {
            r = r.style(Style::default().add_modifier(Modifier::REVERSED));
        } else if app.is_match(i) {
            r = r.style(Style::default().add_modifier(Modifier::UNDERLINED));
        }
        Some(r)
    });
    let table = Table::new(rows, widths)
        .header(TableRow::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .block(block);
    frame.render_widget(table, area);
}

/// Application records as the timeline names them, first in the row:
/// `[socket.io EVENT chat] ` (issue 21): a message's, or the long-polling
/// packets an HTTP body carried.
fn app_tags<'r>(records: impl IntoIterator<Item = &'r crate::model::app::AppRecord>) -> String {
    records
        .into_iter()
        .map(|r| match &r.name {
            Some(n) => format!("[{} {} {n}] ", r.protocol, r.kind),
            None => format!("[{} {}] ", r.protocol, r.kind),
        })
        .collect()
}
