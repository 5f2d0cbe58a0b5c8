//! Input → [`Action`]: the one keymap table of the TUI.
//!
//! Keys are looked up in [`KEYMAP`]; the help overlay and the hint bar are
//! generated from the same table, so a key cannot work without being
//! documented, nor be documented without working (design-anchors rule 10,
//! after gitui's `commands()`). While a search or filter line is being
//! typed, keys are text instead ([`map_key`] with `typing`).

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};

/// Everything the user can ask for. [`crate::tui::app::App::update`] is the
/// only consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the program (or close the overlay / input line that is open).
    Quit,
    /// Move the selection (or scroll the detail pane) up one line.
    Up,
    /// Move the selection (or scroll the detail pane) down one line.
    Down,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// First item.
    Top,
    /// Last item.
    Bottom,
    /// Follow new events of a live capture (select the last timeline row
    /// and keep it selected as events arrive).
    Follow,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Open the selection: connection → its timeline, event → its detail.
    Open,
    /// Start typing a search over payloads.
    StartSearch,
    /// Start typing a filter (direction, opcode, text).
    StartFilter,
    /// Jump to the next search match.
    NextMatch,
    /// Jump to the previous search match.
    PrevMatch,
    /// Show or hide the help overlay.
    ToggleHelp,
    /// Show or hide control frames (ping, pong, close) in the timeline.
    ToggleControl,
    /// Timeline of the selected connection, or of all connections interleaved.
    ToggleAllConnections,
    /// Cycle the payload view of the detail pane: auto, text, hex, JSON.
    CyclePayloadView,
    /// Save the selected message's whole payload to a file (asks for the
    /// path).
    SavePayload,
    /// A character typed into the search/filter line.
    Input(char),
    /// Delete the last typed character.
    Backspace,
    /// Accept the typed search/filter.
    Submit,
    /// Abandon the typed search/filter.
    Cancel,
    /// Mouse button pressed at (column, row).
    Click(u16, u16),
    /// Wheel up over (column, row).
    ScrollUp(u16, u16),
    /// Wheel down over (column, row).
    ScrollDown(u16, u16),
    /// The terminal now has this many (columns, rows).
    Resize(u16, u16),
}

/// One binding: the keys, what they do, and how they are described.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// The keys, as the user types them.
    pub keys: &'static [KeyCode],
    /// What they do.
    pub action: Action,
    /// Key names as shown in help and hints.
    pub label: &'static str,
    /// What they do, for people.
    pub help: &'static str,
    /// Keys and a word or two for the hint bar; None: only in the help
    /// overlay.
    pub hint: Option<(&'static str, &'static str)>,
}

/// The keymap: the single source of key handling, help and hints.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('?')],
        action: Action::ToggleHelp,
        label: "?",
        help: "help (this overlay)",
        hint: Some(("?", "help")),
    },
    Binding {
        keys: &[KeyCode::Char('q'), KeyCode::Esc],
        action: Action::Quit,
        label: "q/Esc",
        help: "quit (Esc first closes help or the input line)",
        hint: Some(("q", "quit")),
    },
    Binding {
        keys: &[KeyCode::Tab],
        action: Action::NextPane,
        label: "Tab",
        help: "next pane: connections → timeline → detail",
        hint: Some(("Tab", "pane")),
    },
    Binding {
        keys: &[KeyCode::BackTab],
        action: Action::PrevPane,
        label: "S-Tab",
        help: "previous pane",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::Enter],
        action: Action::Open,
        label: "Enter",
        help: "open: connection → timeline, event → detail",
        hint: Some(("Enter", "open")),
    },
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('k')],
        action: Action::Up,
        label: "↑/k",
        help: "previous item (detail pane: scroll up)",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('j')],
        action: Action::Down,
        label: "↓/j",
        help: "next item (detail pane: scroll down)",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::PageUp],
        action: Action::PageUp,
        label: "PgUp",
        help: "one page up",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::PageDown],
        action: Action::PageDown,
        label: "PgDn",
        help: "one page down",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::Char('g'), KeyCode::Home],
        action: Action::Top,
        label: "g/Home",
        help: "first item",
        hint: Some(("g/G", "top/bottom")),
    },
    Binding {
        keys: &[KeyCode::Char('G'), KeyCode::End],
        action: Action::Bottom,
        label: "G/End",
        help: "last item",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::Char('F')],
        action: Action::Follow,
        label: "F",
        help: "follow the newest event of a live capture (G in the timeline too)",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        action: Action::StartSearch,
        label: "/",
        help: "search payloads (case-insensitive; text, hex, headers)",
        hint: Some(("/", "search")),
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        action: Action::NextMatch,
        label: "n",
        help: "next search match",
        hint: Some(("n/N", "next/prev")),
    },
    Binding {
        keys: &[KeyCode::Char('N')],
        action: Action::PrevMatch,
        label: "N",
        help: "previous search match",
        hint: None,
    },
    Binding {
        keys: &[KeyCode::Char('f')],
        action: Action::StartFilter,
        label: "f",
        help: "filter: c2s s2c text binary ping pong close control http tcp errors; other words: payload",
        hint: Some(("f", "filter")),
    },
    Binding {
        keys: &[KeyCode::Char('c')],
        action: Action::ToggleControl,
        label: "c",
        help: "show/hide control frames (ping, pong, close)",
        hint: Some(("c", "control frames")),
    },
    Binding {
        keys: &[KeyCode::Char('a')],
        action: Action::ToggleAllConnections,
        label: "a",
        help: "timeline: selected connection / all connections interleaved",
        hint: Some(("a", "all conns")),
    },
    Binding {
        keys: &[KeyCode::Char('t')],
        action: Action::CyclePayloadView,
        label: "t",
        help: "payload view: auto → text → hex → JSON",
        hint: Some(("t", "text/hex/json")),
    },
    Binding {
        keys: &[KeyCode::Char('s')],
        action: Action::SavePayload,
        label: "s",
        help: "save the selected message's whole payload to a file (0600)",
        hint: None,
    },
];

/// Maps a key press to an action. With `typing`, printable keys are text
/// for the search/filter line. Key releases (sent by some terminals) are
/// ignored so that one press is one action.
pub fn map_key(key: KeyEvent, typing: bool) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(if typing { Action::Cancel } else { Action::Quit });
    }
    if typing {
        return match key.code {
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) => Some(Action::Input(c)),
            _ => None,
        };
    }
    KEYMAP
        .iter()
        .find(|b| b.keys.contains(&key.code))
        .map(|b| b.action)
}

/// Maps a mouse event to an action: left click selects, the wheel scrolls.
pub fn map_mouse(m: MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(_) => Some(Action::Click(m.column, m.row)),
        MouseEventKind::ScrollUp => Some(Action::ScrollUp(m.column, m.row)),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown(m.column, m.row)),
        _ => None,
    }
}

/// The hint bar's `label text` pairs, from [`KEYMAP`].
pub fn hints() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYMAP.iter().filter_map(|b| b.hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn every_binding_is_reachable_and_unique() {
        let mut seen = Vec::new();
        for b in KEYMAP {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
                assert_eq!(map_key(key(*k), false), Some(b.action));
            }
        }
    }

    #[test]
    fn typing_turns_keys_into_text() {
        assert_eq!(
            map_key(key(KeyCode::Char('q')), true),
            Some(Action::Input('q'))
        );
        assert_eq!(map_key(key(KeyCode::Esc), true), Some(Action::Cancel));
        assert_eq!(map_key(key(KeyCode::Enter), true), Some(Action::Submit));
        assert_eq!(map_key(key(KeyCode::Char('q')), false), Some(Action::Quit));
    }

    #[test]
    fn releases_are_ignored() {
        let mut k = key(KeyCode::Char('j'));
        k.kind = KeyEventKind::Release;
        assert_eq!(map_key(k, false), None);
    }

    #[test]
    fn hints_come_from_the_table() {
        let h: Vec<_> = hints().collect();
        assert!(h.contains(&("/", "search")));
        assert!(h.contains(&("c", "control frames")));
        assert!(h.contains(&("g/G", "top/bottom")));
        assert!(!h.iter().any(|(l, _)| *l == "PgUp"));
    }
}
