//! The interactive terminal UI (`wsinspect view`).
//!
//! Layout of the module (design-anchors rule 10):
//! - [`action`]: keys and mouse → [`action::Action`], from one keymap table;
//! - [`app`]: the view state and `App::update(Action, &Analysis)`, pure;
//! - [`rows`]: the timeline as indexes into the model (no payload copies);
//! - [`view`]: pure render functions of (`&App`, `&Analysis`);
//! - this file: the only terminal I/O — setup, the event loop, teardown.
//!
//! The UI presents the [`Analysis`] and nothing else: it never parses
//! packets. The terminal is restored on every exit path: normal return,
//! error (a drop guard), and panic (a hook that restores before the
//! default hook prints the message).

pub mod action;
pub mod app;
pub mod rows;
pub mod view;

use crate::analysis::model::Analysis;
use app::App;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::io::{self, IsTerminal, Stdout};

/// How the UI looks.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Use colours (false when NO_COLOR is set, see <https://no-color.org>).
    pub color: bool,
}

impl Config {
    /// Colours unless the `NO_COLOR` environment variable is set and not
    /// empty.
    pub fn from_env() -> Config {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Config { color: !no_color }
    }
}

/// Why the UI could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// Standard output is not a terminal.
    #[error("`view` needs a terminal; use `wsinspect report` for a text or JSON report")]
    NotATerminal,
    /// The terminal failed.
    #[error("terminal: {0}")]
    Io(#[from] io::Error),
}

/// Puts the terminal back: leaves the alternate screen, stops mouse
/// capture, leaves raw mode, shows the cursor. Safe to call twice.
fn restore() {
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Restores the terminal when dropped, so that `?` returns leave it sane.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Restore first, or the message would be printed into the raw,
        // alternate screen and lost.
        restore();
        previous(info);
    }));
}

/// Runs the UI over `analysis` until the user quits.
pub fn run(analysis: &Analysis, config: Config) -> Result<(), TuiError> {
    if !io::stdout().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    install_panic_hook();
    enable_raw_mode()?;
    let guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let result = event_loop(&mut terminal, analysis, config);
    drop(guard);
    let _ = terminal.show_cursor();
    result
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    a: &Analysis,
    config: Config,
) -> Result<(), TuiError> {
    let size = terminal.size()?;
    let mut app = App::new(a, (size.width, size.height), config.color);
    loop {
        terminal.draw(|f| view::render(&app, a, f))?;
        let act = match event::read()? {
            Event::Key(k) => action::map_key(k, app.input.is_some()),
            Event::Mouse(m) => action::map_mouse(m),
            Event::Resize(w, h) => Some(action::Action::Resize(w, h)),
            _ => None,
        };
        if let Some(act) = act {
            app.update(act, a);
        }
        if app.quit {
            return Ok(());
        }
    }
}
