//! The top status line (capture summary, active filter/search) and the
//! bottom line (input line, notice, or key hints from the keymap).

use super::{error_style, fg};
use crate::tui::action;
use crate::tui::app::{App, InputKind, LiveStatus};
use crate::tui::source::Source;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `m:ss`, or `h:mm:ss` from an hour on.
pub fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The second line of a live capture: its state and clock, drops, and
/// follow mode.
fn live_line(app: &App, live: &LiveStatus) -> Line<'static> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut spans = vec![match &live.stopped {
        None => Span::styled(
            format!(" ● capturing… {}", clock(live.elapsed)),
            fg(app, Color::Green).add_modifier(Modifier::BOLD),
        ),
        Some(why) => Span::styled(
            format!(" ■ stopped ({why}) after {} · q quits", clock(live.elapsed)),
            bold,
        ),
    }];
    let drops = format!(
        " · dropped {} by the kernel, {} by wsinspect",
        live.kernel_drops, live.own_drops
    );
    spans.push(if live.kernel_drops + live.own_drops > 0 {
        Span::styled(drops, fg(app, Color::Yellow).add_modifier(Modifier::BOLD))
    } else {
        Span::raw(drops)
    });
    if live.stopped.is_none() {
        spans.push(if app.follow {
            Span::styled(" · following new events", bold)
        } else {
            Span::raw(" · F follows new events")
        });
    }
    Line::from(spans)
}

/// The capture summary line; for a live capture, a second line with its
/// state.
pub fn render_top(app: &App, a: &Source, frame: &mut Frame<'_>, area: Rect) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut spans = vec![
        Span::styled(" wsinspect ", bold.add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(a.capture.clone(), bold),
    ];
    if let Some(ix) = &app.indexing {
        // The totals come at the end; meanwhile, how far the index is.
        let pct = ix
            .fraction
            .map(|f| format!(" {:.0} %", (f * 100.0).clamp(0.0, 100.0)))
            .unwrap_or_default();
        spans.push(Span::raw(format!(
            " · {} · ",
            plural(a.conn_count() as u64, "connection", "connections")
        )));
        spans.push(Span::styled(
            format!("indexing{pct} · {} events", grouped(ix.events)),
            fg(app, Color::Yellow),
        ));
    } else {
        spans.extend([
            Span::raw(format!(
                " · {} · {} · {}",
                plural(a.packet_count, "packet", "packets"),
                plural(a.conn_count() as u64, "connection", "connections"),
                plural(a.stats.messages, "message", "messages"),
            )),
            Span::raw(" · "),
        ]);
        let v = plural(a.stats.violations, "violation", "violations");
        spans.push(if a.stats.violations > 0 {
            Span::styled(format!("! {v}"), error_style(app))
        } else {
            Span::raw(v)
        });
    }

    if !a.capture_anomalies.is_empty() {
        spans.push(Span::styled(
            format!(" · ~ {} capture anomalies", a.capture_anomalies.len()),
            fg(app, Color::Yellow),
        ));
    }
    let mut state = Vec::new();
    if !app.filter.text.is_empty() {
        state.push(format!("filter: {}", app.filter.text));
    }
    if !app.search.is_empty() {
        let (n, rank) = app.match_rank();
        state.push(format!("search: \"{}\" {rank}/{n}", app.search));
    }
    if !app.show_control {
        state.push("control hidden".into());
    }
    if let Some((scan, f)) = app.scanning {
        state.push(format!(
            "{} {:.0} % · Esc cancels",
            scan.name(),
            (f * 100.0).clamp(0.0, 100.0)
        ));
    }
    if app.payload_view != crate::tui::app::PayloadView::Auto {
        state.push(format!("view: {}", app.payload_view.name()));
    }
    if !state.is_empty() {
        spans.push(Span::styled(
            format!("  [{}]", state.join(" · ")),
            fg(app, Color::Yellow),
        ));
    }
    let mut lines = vec![Line::from(spans)];
    if let Some(live) = &app.live {
        lines.push(live_line(app, live));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The bottom line.
pub fn render_bottom(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let line = if let Some(input) = &app.input {
        let prompt = match input.kind {
            InputKind::Search => " / search: ",
            InputKind::Save => " s save the whole payload to (created 0600, not overwritten): ",
            InputKind::Filter => {
                " f filter (c2s s2c text binary ping pong close control http tcp errors, words): "
            }
        };
        Line::from(vec![
            Span::styled(prompt, bold),
            Span::raw(input.buf.clone()),
            Span::styled("█", Style::default().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled(
                "   Enter apply · Esc cancel",
                Style::default().add_modifier(Modifier::DIM),
            ),
        ])
    } else if let Some(n) = &app.notice {
        Line::from(Span::styled(
            format!(" {n}"),
            fg(app, Color::Yellow).add_modifier(Modifier::BOLD),
        ))
    } else {
        // As many hints as fit; `?` (first in the table) lists them all.
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1;
        for (key, what) in action::hints() {
            let w = key.chars().count() + what.chars().count() + 3;
            if used + w > usize::from(area.width) {
                break;
            }
            used += w;
            spans.push(Span::styled(key, bold.add_modifier(Modifier::REVERSED)));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// `412 000`: thousands apart, as the status line shows counts that grow.
fn grouped(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
