//! The help overlay, generated from the keymap table.

use crate::tui::action::KEYMAP;
use crate::tui::app::App;
use crate::tui::source::Source;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

/// Symbols that carry meaning without colour.
const LEGEND: &[(&str, &str)] = &[
    ("→ ←", "client → server, server → client"),
    (
        "! ~",
        "violation of the RFC; anomaly (loss, retransmissions, snaplen cut)",
    ),
    (
        "✓ ✗",
        "Sec-WebSocket-Accept verified, wrong (or upgrade refused)",
    ),
    ("≥", "time not recorded: at or after the event before"),
    ("▶ *", "selected row, search match"),
    ("×N", "message in N frames"),
];

/// Draws the overlay over the middle of the screen.
pub fn render(_app: &App, a: &Source, frame: &mut Frame<'_>, area: Rect) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut l = vec![Line::styled("Keys", bold)];
    for b in KEYMAP {
        l.push(Line::from(vec![
            Span::styled(format!("  {:<8}", b.label), bold),
            Span::raw(b.help),
        ]));
    }
    l.push(Line::from(vec![
        Span::styled(format!("  {:<8}", "mouse"), bold),
        Span::raw("click selects a row or pane, the wheel scrolls"),
    ]));
    l.push(Line::raw(""));
    l.push(Line::styled("Symbols", bold));
    for (sym, what) in LEGEND {
        l.push(Line::from(vec![
            Span::styled(format!("  {sym:<8}"), bold),
            Span::raw(*what),
        ]));
    }
    l.push(Line::raw(""));
    for n in a.index.notices() {
        l.push(Line::raw(n));
    }
    l.push(Line::raw(format!(
        "Index: {} in private temporary files, removed on exit. Any key closes this help.",
        super::bytes(a.index.disk_bytes())
    )));
    let want_w = 96u16.min(area.width);
    let want_h = u16::try_from(l.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let r = Rect::new(
        area.x + (area.width - want_w) / 2,
        area.y + (area.height - want_h) / 2,
        want_w,
        want_h,
    );
    frame.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .title(" Help · wsinspect view ");
    frame.render_widget(Paragraph::new(l).wrap(Wrap { trim: false }).block(block), r);
}
