//! The interactive terminal UI (`wsinspect view`).
//!
//! Layout of the module (design-anchors rule 10):
//! - [`action`]: keys and mouse → [`action::Action`], from one keymap table;
//! - [`source`]: what is shown — the index ([`crate::index`]) and the
//!   capture's summary;
//! - [`app`]: the view state and `App::update(Action, &Source)`;
//! - [`rows`]: the timeline as rows of the index, read by position;
//! - [`view`]: pure render functions of (`&App`, `&Source`);
//! - this file: the only terminal I/O — setup, the event loop, teardown.
//!
//! The UI presents the analysis and nothing else: it never parses
//! packets. [`run`] shows an index while it is being built (`wsinspect
//! view`: the analysis runs on another thread and the view picks up what
//! it published, as `less` does); [`run_live`] shows the index a live
//! capture writes (`wsinspect live`): the capture thread's analyzer feeds
//! the index (deltas: each event once, issue 18) and sends the capture's
//! totals as [`LiveUpdate`]s; the view state is carried over with
//! [`App::refresh`]. The terminal is restored on every exit path: normal
//! return, error (a drop guard), and panic (a hook that restores before
//! the default hook prints the message).

pub mod action;
pub mod app;
pub mod posset;
pub mod rows;
pub mod source;
pub mod view;

use crate::live::Drops;
use crate::model::Analysis;
use app::{App, Indexing, LiveStatus};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use source::Source;
use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// How the UI looks.
#[derive(Debug, Clone)]
pub struct Config {
    /// Use colours (false when NO_COLOR is set, see <https://no-color.org>).
    pub color: bool,
    /// The display filter to start with (`view -Y`, `live -Y`).
    pub filter: Option<String>,
}

impl Config {
    /// Colours unless the `NO_COLOR` environment variable is set and not
    /// empty.
    pub fn from_env() -> Config {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Config::with_color(!no_color)
    }

    /// Colours as decided by the caller (the CLI's `--color`, which also
    /// honours NO_COLOR and CLICOLOR_FORCE).
    pub fn with_color(color: bool) -> Config {
        Config {
            color,
            filter: None,
        }
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

/// How the view learns of the analysis's progress.
#[derive(Debug)]
pub struct Progress {
    /// Bytes of the capture read so far, and its size when known.
    pub read: (crate::pipeline::ReadCounter, Option<u64>),
    /// The analysis's end: the capture's totals, or why it failed.
    pub done: Receiver<Result<Analysis, crate::pipeline::PipelineError>>,
}

/// Runs the UI over `source` until the user quits, picking up what the
/// index publishes while `progress` says the analysis runs.
pub fn run(source: Source, progress: Option<Progress>, config: Config) -> Result<(), TuiError> {
    with_terminal(|t| event_loop(t, source, progress, config))
}

/// Sets the terminal up, runs `body`, and restores the terminal whatever
/// happens (return, error or panic).
fn with_terminal(
    body: impl FnOnce(&mut Terminal<CrosstermBackend<Stdout>>) -> Result<(), TuiError>,
) -> Result<(), TuiError> {
    if !io::stdout().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    install_panic_hook();
    enable_raw_mode()?;
    let guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let result = body(&mut terminal);
    drop(guard);
    let _ = terminal.show_cursor();
    result
}

/// What a live capture sends to [`run_live`].
#[derive(Debug, Clone)]
pub enum LiveUpdate {
    /// The capture's totals so far ([`crate::analysis::Analyzer::totals`]:
    /// no connection record, those come from the index), and the drop
    /// counters at that time.
    Totals(Analysis, Drops),
    /// The capture stopped (for the reason given): its final totals.
    Stopped(Analysis, Drops, String),
}

/// How often the live UI wakes up without input, to pick up what the
/// index published and the newest totals, and tick the clock.
const LIVE_POLL: Duration = Duration::from_millis(100);

/// Runs the UI over a live capture until the user quits.
///
/// The first update is waited for; after that the newest one is shown as
/// it arrives (older ones still queued are skipped). `q` sets `stop` and
/// returns at once, so the capture thread finishes (and flushes `-w`)
/// while the terminal is already restored. When the capture stops on its
/// own (`-c`, `--duration`) the final model stays on screen, marked
/// stopped, until the user quits. If `stop` is set by someone else (a
/// signal), or the capture side goes away without a final model (it
/// failed), the UI returns too.
pub fn run_live(
    index: crate::index::Index,
    rx: Receiver<LiveUpdate>,
    stop: &AtomicBool,
    config: Config,
) -> Result<(), TuiError> {
    if !io::stdout().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    let Ok(first) = rx.recv() else {
        return Ok(());
    };
    with_terminal(|t| live_loop(t, index, first, &rx, stop, config))
}

/// Applies an update: the capture's totals, drop counters, capture state
/// (the rows come from the index, see [`pick_up`]).
fn take_update(app: &mut App, current: &mut Source, u: LiveUpdate, started: Instant) {
    let (totals, drops, stopped) = match u {
        LiveUpdate::Totals(a, d) => (a, d, None),
        LiveUpdate::Stopped(a, d, why) => (a, d, Some(why)),
    };
    current.update_totals(totals);
    let live = app.live.get_or_insert_with(LiveStatus::default);
    live.kernel_drops = drops.kernel;
    live.own_drops = drops.own;
    if live.stopped.is_none() {
        live.elapsed = started.elapsed();
        live.stopped = stopped;
    }
}

/// Rows and connections the index published since the last look; the
/// summary is copied (for the selection's mapping) only when there are.
fn pick_up(app: &mut App, current: &mut Source) {
    if current.stale() {
        let old = current.clone();
        if current.refresh() {
            app.refresh(&old, current);
        }
    }
}

fn live_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    index: crate::index::Index,
    first: LiveUpdate,
    rx: &Receiver<LiveUpdate>,
    stop: &AtomicBool,
    config: Config,
) -> Result<(), TuiError> {
    let started = Instant::now();
    let size = terminal.size()?;
    let mut current = match &first {
        LiveUpdate::Totals(a, _) | LiveUpdate::Stopped(a, _, _) => Source::new(index, a.clone()),
    };
    let mut app = App::new(&current, (size.width, size.height), config.color);
    if let Some(f) = &config.filter {
        app.set_filter(&current, f);
    }
    take_update(&mut app, &mut current, first, started);
    pick_up(&mut app, &mut current);
    let mut scan: Option<Running> = None;
    loop {
        if let Some(live) = app.live.as_mut()
            && live.stopped.is_none()
        {
            live.elapsed = started.elapsed();
        }
        drive_scan(&mut app, &current, &mut scan);
        terminal.draw(|f| view::render(&app, &current, f))?;
        if event::poll(LIVE_POLL)? {
            // Everything typed since the last frame, then one redraw.
            loop {
                let act = match event::read()? {
                    Event::Key(k) => action::map_key(k, app.input.is_some()),
                    Event::Mouse(m) => action::map_mouse(m),
                    Event::Resize(w, h) => Some(action::Action::Resize(w, h)),
                    _ => None,
                };
                if let Some(act) = act {
                    app.update(act, &current);
                }
                take_save(&mut app, &current);
                if app.quit {
                    stop.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                if !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        let capturing = app.live.as_ref().is_some_and(|l| l.stopped.is_none());
        if capturing && stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut newest = None;
        let gone = loop {
            match rx.try_recv() {
                Ok(u) => newest = Some(u),
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        if let Some(u) = newest {
            take_update(&mut app, &mut current, u, started);
        }
        pick_up(&mut app, &mut current);
        let capturing = app.live.as_ref().is_some_and(|l| l.stopped.is_none());
        if gone && capturing {
            return Ok(());
        }
    }
}

/// A scan running on its thread.
struct Running {
    scan: app::Scan,
    total: usize,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    cancel: std::sync::Arc<AtomicBool>,
    result: Receiver<Option<posset::PosSet>>,
}

/// Starts the scan the app asked for (a new one replaces the one
/// running), takes a finished one's result, stops one on Esc, and shows
/// how far it is.
fn drive_scan(app: &mut App, a: &Source, running: &mut Option<Running>) {
    if let Some(scan) = app.pending.take() {
        if let Some(r) = running.take() {
            r.cancel.store(true, Ordering::Relaxed);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let (snapshot, source) = (app.clone(), a.clone());
        let (d, c) = (done.clone(), cancel.clone());
        let spawned = std::thread::Builder::new()
            .name("view-scan".into())
            .spawn(move || {
                let _ = tx.send(snapshot.scan(&source, scan, &c, &d));
            });
        match spawned {
            Ok(_) => {
                *running = Some(Running {
                    scan,
                    total: app.scan_len(scan),
                    done,
                    cancel,
                    result: rx,
                })
            }
            Err(e) => app.notice = Some(format!("could not start {}: {e}", scan.name())),
        }
    }
    if let Some(r) = running.as_ref() {
        if app.cancel_scan {
            r.cancel.store(true, Ordering::Relaxed);
        }
        match r.result.try_recv() {
            Ok(v) => {
                let scan = r.scan;
                *running = None;
                app.finish_scan(a, scan, v);
            }
            Err(TryRecvError::Disconnected) => {
                let scan = r.scan;
                *running = None;
                app.finish_scan(a, scan, None);
            }
            Err(TryRecvError::Empty) => {
                let f = r.done.load(Ordering::Relaxed) as f64 / r.total.max(1) as f64;
                app.scanning = Some((r.scan, f));
            }
        }
    }
    // A finished filter may ask for the search again: start it now, not at
    // the next key.
    if running.is_none() && app.pending.is_some() {
        drive_scan(app, a, running);
    }
}

/// Writes the payload `s` asked for, and says how it went.
fn take_save(app: &mut App, a: &Source) {
    if let Some((row, path)) = app.save.take() {
        app.notice = Some(match a.save_payload(&row.ix, &path) {
            Ok(n) => format!("saved {n} bytes to {path}"),
            Err(e) => format!("could not save to {path}: {e}"),
        });
    }
}

/// Rows up to which a finished index is re-sorted into capture order
/// (the sort holds 24 bytes per row while it runs).
const SORT_LIMIT: u64 = 500_000;

/// How often the view picks up what the index published while the
/// analysis runs (and shows a scan's progress).
const INDEX_POLL: Duration = Duration::from_millis(200);

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    mut a: Source,
    mut progress: Option<Progress>,
    config: Config,
) -> Result<(), TuiError> {
    let size = terminal.size()?;
    let mut app = App::new(&a, (size.width, size.height), config.color);
    if let Some(f) = &config.filter {
        app.set_filter(&a, f);
    }
    let mut scan: Option<Running> = None;
    loop {
        if let Some(p) = &progress {
            // The analysis runs: pick up what the index published.
            let done = match p.done.try_recv() {
                Ok(Ok(totals)) => Some(Ok(totals)),
                Ok(Err(why)) => Some(Err(why.to_string())),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(Err("the analysis stopped".into())),
            };
            // The summary before, for the selection's mapping (copied
            // only when the index has news).
            let old = (done.is_some() || a.stale()).then(|| a.clone());
            let changed = match done {
                Some(end) => {
                    progress = None;
                    app.indexing = None;
                    match end {
                        // A capture of moderate size is shown in exact
                        // capture order once indexed, as a model was.
                        Ok(totals) => match a.index.sorted(SORT_LIMIT) {
                            Some(sorted) => a = Source::new(sorted, totals),
                            None => a.set_totals(totals),
                        },
                        Err(why) => {
                            a.refresh();
                            app.notice = Some(format!("the analysis failed: {why}"));
                        }
                    }
                    true
                }
                None => {
                    app.indexing = Some(Indexing {
                        fraction: p
                            .read
                            .1
                            .filter(|&n| n > 0)
                            .map(|n| p.read.0.get() as f64 / n as f64),
                        events: a
                            .index
                            .progress()
                            .events
                            .load(std::sync::atomic::Ordering::Relaxed),
                    });
                    a.refresh()
                }
            };
            if changed && let Some(old) = old {
                app.refresh(&old, &a);
            }
        }
        drive_scan(&mut app, &a, &mut scan);
        terminal.draw(|f| view::render(&app, &a, f))?;
        if (progress.is_some() || scan.is_some()) && !event::poll(INDEX_POLL)? {
            continue;
        }
        let act = match event::read()? {
            Event::Key(k) => action::map_key(k, app.input.is_some()),
            Event::Mouse(m) => action::map_mouse(m),
            Event::Resize(w, h) => Some(action::Action::Resize(w, h)),
            _ => None,
        };
        if let Some(act) = act {
            app.update(act, &a);
        }
        take_save(&mut app, &a);
        if app.quit {
            return Ok(());
        }
    }
}
