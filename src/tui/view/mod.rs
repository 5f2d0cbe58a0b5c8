//! Rendering: pure functions of (`&App`, `&Source`) into a ratatui frame.
//!
//! Nothing here changes state or reads the clock; the same state always
//! draws the same screen, which is what the snapshot tests rely on. Lists
//! draw only the rows that fit on screen.

pub mod connections;
pub mod detail;
pub mod flv;
pub mod help;
pub mod status;
pub mod timeline;

use super::app::{App, Pane};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::tui::source::Source;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Top line: capture summary.
    pub status: Rect,
    /// Connection list, if shown.
    pub connections: Option<Rect>,
    /// Timeline, if shown.
    pub timeline: Option<Rect>,
    /// Detail pane, if shown.
    pub detail: Option<Rect>,
    /// Bottom line: key hints, notices or the input line.
    pub hints: Rect,
}

/// Below this size only the focused pane is shown, full screen.
const MIN_SPLIT: (u16, u16) = (80, 20);
/// From this width on, timeline and detail sit side by side.
const SIDE_BY_SIDE: u16 = 180;

/// Splits the screen. Pure, so that mouse clicks (in `App::update`) and
/// drawing agree on where every pane is.
/// `connections` and `events` (timeline rows) let short lists give their
/// room to the detail pane.
pub fn layout(area: Rect, focus: Pane, connections: usize, events: usize) -> Areas {
    let [status, body, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut out = Areas {
        status,
        connections: None,
        timeline: None,
        detail: None,
        hints,
    };
    if area.width < MIN_SPLIT.0 || area.height < MIN_SPLIT.1 {
        match focus {
            Pane::Connections => out.connections = Some(body),
            Pane::Timeline => out.timeline = Some(body),
            Pane::Detail => out.detail = Some(body),
        }
        return out;
    }
    // One line per connection plus border and header, at most a third.
    let want = u16::try_from(connections)
        .unwrap_or(u16::MAX)
        .saturating_add(3);
    let conn_h = want.clamp(4, (body.height / 3).max(4));
    let [conns, rest] =
        Layout::vertical([Constraint::Length(conn_h), Constraint::Min(0)]).areas(body);
    out.connections = Some(conns);
    let [tl, dt] = if area.width >= SIDE_BY_SIDE {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(rest)
    } else {
        let want = u16::try_from(events).unwrap_or(u16::MAX).saturating_add(3);
        let tl_h = want.clamp(5, (rest.height.saturating_mul(3) / 5).max(5));
        Layout::vertical([Constraint::Length(tl_h), Constraint::Min(0)]).areas(rest)
    };
    out.timeline = Some(tl);
    out.detail = Some(dt);
    out
}

/// Rows of a list pane (border and header line taken off).
pub fn list_height(area: Option<Rect>) -> usize {
    area.map(|r| usize::from(r.height.saturating_sub(3)).max(1))
        .unwrap_or(1)
}

/// Draws the whole screen.
pub fn render(app: &App, a: &Source, frame: &mut Frame<'_>) {
    let areas = app.areas(a);
    status::render_top(app, a, frame, areas.status);
    if let Some(r) = areas.connections {
        connections::render(app, a, frame, r);
    }
    if let Some(r) = areas.timeline {
        timeline::render(app, a, frame, r);
    }
    if let Some(r) = areas.detail {
        detail::render(app, a, frame, r);
    }
    status::render_bottom(app, frame, areas.hints);
    if app.help {
        help::render(app, a, frame, frame.area());
    }
}

/// A pane's frame: a thick border and a marked title when focused, so
/// that focus shows without colour too.
pub fn pane_block<'a>(app: &App, pane: Pane, title: String) -> Block<'a> {
    let focused = app.focus == pane;
    let (border, title) = if focused {
        (BorderType::Thick, format!(" ▸ {title} "))
    } else {
        (BorderType::Plain, format!(" {title} "))
    };
    let style = if focused {
        fg(app, Color::Yellow).add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(border)
        .border_style(style)
        .title(title)
}

/// A foreground colour, or no colour at all under NO_COLOR.
pub fn fg(app: &App, c: Color) -> Style {
    if app.color {
        Style::default().fg(c)
    } else {
        Style::default()
    }
}

/// The colour of a direction, the same in every pane.
pub fn dir_style(app: &App, d: Option<Direction>) -> Style {
    match d {
        Some(Direction::ClientToServer) => fg(app, Color::Green),
        Some(Direction::ServerToClient) => fg(app, Color::Cyan),
        None => Style::default(),
    }
}

/// Errors (violations, wrong accept, resets): a colour and bold, which
/// survives a monochrome terminal.
pub fn error_style(app: &App) -> Style {
    fg(app, Color::Red).add_modifier(Modifier::BOLD)
}

/// Anomalies of the capture (loss, snaplen): a warning colour.
pub fn warn_style(app: &App) -> Style {
    fg(app, Color::Yellow)
}

/// Quiet text (TCP events, labels).
pub fn dim_style(app: &App) -> Style {
    if app.color {
        Style::default().fg(Color::DarkGray)
    } else {
        Style::default()
    }
}

/// An arrow for a direction, or a dot when there is none.
pub fn arrow(d: Option<Direction>) -> &'static str {
    d.map(|d| d.arrow()).unwrap_or("·")
}

/// `client`/`server` for a direction's sender.
pub fn sender(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "client → server",
        Direction::ServerToClient => "server → client",
    }
}

/// Seconds since `t0`, signed, microseconds.
pub fn rel_time(ts: Timestamp, t0: Timestamp) -> String {
    let us = (ts.0 - t0.0) / 1000;
    let sign = if us < 0 { '-' } else { '+' };
    let us = us.unsigned_abs();
    format!("{sign}{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// Wall-clock time of a capture timestamp, UTC: (`YYYY-MM-DD`, `HH:MM:SS.ffffff`).
pub fn utc(ts: Timestamp) -> (String, String) {
    let us = ts.0.div_euclid(1000);
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days → civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!(
            "{:02}:{:02}:{:02}.{frac:06}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        ),
    )
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / K / K)
    } else {
        format!("{:.1} GiB", f / K / K / K)
    }
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text for a one-line preview: control characters become visible
/// escapes so one message is one line.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push('·'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(
            utc(Timestamp::from_parts(0, 0)),
            ("1970-01-01".into(), "00:00:00.000000".into())
        );
        // 2024-02-29 12:34:56.789012 UTC (a leap day).
        assert_eq!(
            utc(Timestamp::from_parts(1_709_210_096, 789_012_345)),
            ("2024-02-29".into(), "12:34:56.789012".into())
        );
    }

    #[test]
    fn relative_times_are_signed() {
        let t0 = Timestamp::from_parts(10, 0);
        assert_eq!(
            rel_time(Timestamp::from_parts(11, 2_319_000), t0),
            "+1.002319"
        );
        assert_eq!(
            rel_time(Timestamp::from_parts(9, 500_000_000), t0),
            "-0.500000"
        );
    }

    #[test]
    fn sizes_and_clipping() {
        assert_eq!(bytes(22), "22 B");
        assert_eq!(bytes(16645), "16.3 KiB");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(one_line("a\nb", 10), "a\\nb");
    }

    #[test]
    fn small_terminals_show_only_the_focused_pane() {
        let a = layout(Rect::new(0, 0, 40, 12), Pane::Timeline, 3, 10);
        assert!(a.timeline.is_some() && a.connections.is_none() && a.detail.is_none());
        let b = layout(Rect::new(0, 0, 200, 50), Pane::Timeline, 3, 10);
        let (t, d) = (b.timeline.unwrap_or_default(), b.detail.unwrap_or_default());
        assert_eq!(t.y, d.y, "wide terminals put detail beside the timeline");
    }
}
