//! The view state of the TUI and its one transition function.
//!
//! [`App::update`] takes an [`Action`] and the (read-only) [`Source`] and
//! changes selection, scroll, focus, filter and search. It reads no clock,
//! and reads the index only by position, so every key sequence can be
//! replayed in a unit test. Rendering ([`super::view`]) reads `&App` and
//! `&Source` only.

use super::action::Action;
use super::posset::PosSet;
use super::rows::{EventRef, Kind, Resolved, Row, Timeline};
use super::source::Source;
use super::view::{self, Areas};
use crate::capture::PacketNo;
use crate::flow::Direction;
use crate::query::{DisplayFilter, FilterError, Item, Subject};
use ratatui::layout::{Position, Rect};
use std::time::Duration;

/// A pane of the main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The list of connections.
    Connections,
    /// The events of the selected connection (or of all).
    Timeline,
    /// The selected event in full.
    Detail,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::Connections => Pane::Timeline,
            Pane::Timeline => Pane::Detail,
            Pane::Detail => Pane::Connections,
        }
    }

    fn prev(self) -> Pane {
        match self {
            Pane::Connections => Pane::Detail,
            Pane::Timeline => Pane::Connections,
            Pane::Detail => Pane::Timeline,
        }
    }
}

/// What is being typed on the input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `/`: a search over payloads.
    Search,
    /// `f`: a filter.
    Filter,
    /// `s`: the path to save a payload to.
    Save,
}

/// The input line while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Search or filter.
    pub kind: InputKind,
    /// What was typed so far.
    pub buf: String,
}

/// How the detail pane shows a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadView {
    /// JSON when it parses, text for text, hex for binary.
    Auto,
    /// As text (binary: printable bytes).
    Text,
    /// Hex dump.
    Hex,
    /// Pretty-printed JSON (or a note that it is not JSON).
    Json,
}

impl PayloadView {
    fn next(self) -> Self {
        match self {
            PayloadView::Auto => PayloadView::Text,
            PayloadView::Text => PayloadView::Hex,
            PayloadView::Hex => PayloadView::Json,
            PayloadView::Json => PayloadView::Auto,
        }
    }

    /// Name for the status line.
    pub fn name(self) -> &'static str {
        match self {
            PayloadView::Auto => "auto",
            PayloadView::Text => "text",
            PayloadView::Hex => "hex",
            PayloadView::Json => "json",
        }
    }
}

/// A parsed timeline filter.
///
/// A display filter in Wireshark's language (`websocket.opcode == 1`,
/// `tcp.stream == 2 && ws.dir == "s2c"`, see `docs/display-filter.md`),
/// evaluated on every row as on the messages of `report -Y`: messages and
/// control frames by their fields, other rows (HTTP, TCP, violations,
/// anomalies) by the connection's fields, their packet, direction and
/// violation kind.
///
/// Words, as before, when the line is only the words below or is not a
/// display filter (the notice then says why it is not one): `c2s`/`s2c`
/// pick a direction; `text`, `binary`, `ping`, `pong`, `close`, `control`,
/// `http`, `tcp` and `errors` pick kinds of events; any other word must
/// occur in the payload (case insensitive). Words of one sort are
/// alternatives (`ping pong`), sorts combine (`c2s text hello` = client
/// text messages containing "hello").
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The filter as typed.
    pub text: String,
    display: Option<DisplayFilter>,
    /// Why the line is not a display filter, when it was read as words.
    pub not_display: Option<FilterError>,
    dirs: Vec<Direction>,
    kinds: Vec<Kind>,
    words: Vec<String>,
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// Words of the word filter that are not free text.
const KIND_WORDS: &[&str] = &[
    "c2s",
    "→",
    ">",
    "client",
    "s2c",
    "←",
    "<",
    "server",
    "text",
    "binary",
    "bin",
    "ping",
    "pong",
    "close",
    "control",
    "http",
    "tcp",
    "errors",
    "error",
    "violations",
    "!",
];

impl Filter {
    /// Parses a filter line.
    pub fn parse(text: &str) -> Filter {
        let mut f = Filter {
            text: text.trim().to_string(),
            ..Filter::default()
        };
        if f.text.is_empty() {
            return f;
        }
        let only_kind_words = text
            .split_whitespace()
            .all(|w| KIND_WORDS.contains(&w.to_lowercase().as_str()));
        if !only_kind_words {
            match DisplayFilter::parse(text) {
                Ok(d) => {
                    f.display = Some(d);
                    return f;
                }
                Err(e) => f.not_display = Some(e),
            }
        }
        for w in text.split_whitespace() {
            let w = w.to_lowercase();
            match w.as_str() {
                "c2s" | "→" | ">" | "client" => f.dirs.push(Direction::ClientToServer),
                "s2c" | "←" | "<" | "server" => f.dirs.push(Direction::ServerToClient),
                "text" => f.kinds.push(Kind::Text),
                "binary" | "bin" => f.kinds.push(Kind::Binary),
                "ping" => f.kinds.push(Kind::Ping),
                "pong" => f.kinds.push(Kind::Pong),
                "close" => f.kinds.push(Kind::Close),
                "control" => {
                    f.kinds
                        .extend([Kind::Ping, Kind::Pong, Kind::Close, Kind::OtherControl])
                }
                "http" => f.kinds.push(Kind::Http),
                "tcp" => f.kinds.push(Kind::Tcp),
                "errors" | "error" | "violations" | "!" => {
                    f.kinds.extend([Kind::Violation, Kind::Anomaly])
                }
                _ => f.words.push(w),
            }
        }
        f
    }

    /// True when the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.display.is_none()
            && self.dirs.is_empty()
            && self.kinds.is_empty()
            && self.words.is_empty()
    }

    /// True when the line was read as a display filter.
    pub fn is_display(&self) -> bool {
        self.display.is_some()
    }

    /// Whether `row` passes.
    pub fn matches(&self, row: &Row, a: &Source) -> bool {
        if let Some(d) = &self.display {
            let Some(c) = row.connection(a) else {
                return false;
            };
            let resolved = row.resolve_in(a, &c);
            return row_subject(row, &c, resolved.as_ref(), a).is_some_and(|s| d.matches(&s));
        }
        if !self.dirs.is_empty() && !row.dir(a).is_some_and(|d| self.dirs.contains(&d)) {
            return false;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&row.kind(a)) {
            return false;
        }
        self.words.iter().all(|w| row.contains(a, w))
    }
}

/// The display-filter subject of a timeline row of connection `c`
/// (`resolved`: its record).
fn row_subject<'a>(
    row: &Row,
    c: &'a crate::model::Connection,
    resolved: Option<&'a Resolved>,
    a: &'a Source,
) -> Option<Subject<'a>> {
    let item = match (row.event, resolved) {
        (EventRef::Message(i), Some(Resolved::Message(m))) => Item::Message { index: i, msg: m },
        (EventRef::Control(_), Some(Resolved::Control(f))) => Item::Control(f),
        (EventRef::Message(_) | EventRef::Control(_), _) => return None,
        (_, r) => {
            let violation = match r {
                Some(Resolved::Violation(v)) => Some(v),
                _ => None,
            };
            Item::Event {
                packet: violation.map_or(PacketNo(row.packet), |v| v.packet),
                ts: row.ts_exact.then_some(row.ts),
                dir: row.dir(a),
                violation: violation.map(|v| v.kind),
            }
        }
    };
    Some(Subject::new(c, item, Some(a.start_ts)))
}

/// State of a live capture, shown in the status bar by `wsinspect live`.
/// The event loop fills it in; rendering only reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveStatus {
    /// Packets dropped by the kernel (socket buffer full).
    pub kernel_drops: u64,
    /// Packets dropped by wsinspect (the analysis fell behind).
    pub own_drops: u64,
    /// Time since the capture started (frozen when it stopped).
    pub elapsed: Duration,
    /// `None` while capturing; why it stopped otherwise.
    pub stopped: Option<String>,
}

/// The index is still being built (`wsinspect view` opens at once).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Indexing {
    /// Fraction of the capture read (0 to 1), when known.
    pub fraction: Option<f64>,
    /// Events indexed so far.
    pub events: u64,
}

/// The whole view state.
#[derive(Debug, Clone)]
pub struct App {
    /// Focused pane.
    pub focus: Pane,
    /// Selected connection (index into the source's `connections`).
    pub conn: usize,
    /// First connection shown.
    pub conn_offset: usize,
    /// The timeline shows every connection, interleaved.
    pub all: bool,
    /// The current timeline (read from the index by position).
    rows: Timeline,
    /// Positions in `rows` that pass the filter and the control toggle.
    visible: Visible,
    /// Selected position in `visible`.
    pub sel: usize,
    /// First visible position shown.
    pub offset: usize,
    /// Lines scrolled in the detail pane.
    pub detail_scroll: usize,
    /// Control frames are listed.
    pub show_control: bool,
    /// Active filter.
    pub filter: Filter,
    /// Active search, lower case (empty: none).
    pub search: String,
    /// Positions in `visible` whose row matches the search.
    matches: PosSet,
    /// The input line, while typing.
    pub input: Option<Input>,
    /// Help overlay shown.
    pub help: bool,
    /// Payload view of the detail pane.
    pub payload_view: PayloadView,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// The user asked to leave.
    pub quit: bool,
    /// Colours are used (false under NO_COLOR): meaning is also carried by
    /// symbols and text, so nothing is lost without them.
    pub color: bool,
    /// A one-line message for the status bar (match counts, "no match").
    pub notice: Option<String>,
    /// Follow mode, as `tail -f`: when new events arrive
    /// ([`App::refresh`]), the last timeline row gets selected. On while
    /// the selection is on the last row; `F` (or `G` in the timeline)
    /// turns it on, moving up turns it off.
    pub follow: bool,
    /// Live capture state (`wsinspect live`); `None` for a capture file.
    pub live: Option<LiveStatus>,
    /// Indexing progress while the analysis runs; `None` once it is done.
    pub indexing: Option<Indexing>,
    /// A payload to save (row, path), asked with `s`: the event loop
    /// writes it (the state changes here do no I/O) and says how it went.
    pub save: Option<(Row, String)>,
    /// The row `s` was pressed on, while its path is typed.
    save_row: Option<Row>,
    /// A scan too long for one frame, for the event loop to run on a
    /// thread ([`App::scan`], then [`App::finish_scan`]).
    pub pending: Option<Scan>,
    /// The scan running, and how far it is (0 to 1); Esc cancels it.
    pub scanning: Option<(Scan, f64)>,
    /// Esc was pressed while a scan ran: the event loop stops it.
    pub cancel_scan: bool,
    /// Changes whenever the timeline or its filter changes, so that the
    /// result of a scan started before is dropped.
    generation: u64,
}

/// A scan of the timeline that the event loop runs on a thread when the
/// timeline is long (more than [`INLINE_ROWS`] rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The rows that pass the filter and the control toggle.
    Filter(u64),
    /// The visible rows that match the search.
    Search(u64),
}

impl Scan {
    /// What it is called on the status line.
    pub fn name(self) -> &'static str {
        match self {
            Scan::Filter(_) => "filtering",
            Scan::Search(_) => "searching",
        }
    }
}

/// Timelines up to this many rows are filtered and searched at once;
/// longer ones on a thread, with progress, cancelable.
pub const INLINE_ROWS: usize = 100_000;

/// Which timeline positions are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Visible {
    /// All of them (nothing filters: no list is held).
    All,
    /// These.
    Only(PosSet),
}

/// Mouse wheel step, in rows.
const WHEEL: usize = 3;

impl App {
    /// The initial state for `a` on a terminal of `size`.
    pub fn new(a: &Source, size: (u16, u16), color: bool) -> App {
        let mut app = App {
            focus: Pane::Connections,
            conn: 0,
            conn_offset: 0,
            all: false,
            rows: Timeline::default(),
            visible: Visible::All,
            sel: 0,
            offset: 0,
            detail_scroll: 0,
            show_control: true,
            filter: Filter::default(),
            search: String::new(),
            matches: PosSet::new(),
            input: None,
            help: false,
            payload_view: PayloadView::Auto,
            size,
            quit: false,
            color,
            notice: None,
            follow: false,
            live: None,
            indexing: None,
            save: None,
            save_row: None,
            pending: None,
            scanning: None,
            cancel_scan: false,
            generation: 0,
        };
        app.rebuild_rows(a);
        app.follow = app.on_last_row();
        app
    }

    /// Whether the selection is on the last timeline row (or there is no
    /// row yet): where follow mode keeps it.
    pub fn on_last_row(&self) -> bool {
        self.sel.saturating_add(1) >= self.visible_len()
    }

    /// Moves to a newer model of the same capture (a live capture grew).
    ///
    /// The view state is made of indexes into the model, so they are
    /// mapped over: the selected connection is kept by its key, the
    /// selected event by its packet number and place in the connection (or
    /// the first event after it, if it is filtered out now). In follow
    /// mode the last row is selected instead. Filter, search, focus and
    /// payload view are kept; the detail pane keeps its scroll while it
    /// shows the same event.
    pub fn refresh(&mut self, old: &Source, new: &Source) {
        let key = |a: &Source, r: &Row| (r.packet, a.index.key(r.ix.slot), r.event);
        let conn_key = old.key_at(self.conn);
        let kept = self.selected_row().map(|r| key(old, &r));
        if let Some(i) = conn_key.and_then(|k| new.position_of(k)) {
            self.conn = i;
        }
        let before = self.rows.len();
        let same = self.rows.reads(&new.index);
        self.rows = Timeline::new(new, self.all, self.conn);
        self.visible = match std::mem::replace(&mut self.visible, Visible::All) {
            // The same index grew: only the new rows are filtered.
            Visible::Only(mut v) if same => {
                for p in self.passing_in(new, before..self.rows.len()).iter() {
                    v.push(p);
                }
                Visible::Only(v)
            }
            _ => self.passing(new),
        };
        let last = self.visible_len().saturating_sub(1);
        self.sel = match kept {
            _ if self.follow => last,
            Some(k) => {
                let at = self.first_at_packet(k.0);
                (at..self.visible_len().min(at + 64))
                    .find(|&i| self.row_at(i).is_some_and(|r| key(new, &r) == k))
                    .unwrap_or(at.min(last))
            }
            None => 0,
        };
        if self.selected_row().map(|r| key(new, &r)) != kept {
            self.detail_scroll = 0;
        }
        if self.all
            && let Some(r) = self.selected_row()
            && r.conn != usize::MAX
        {
            self.conn = r.conn;
        }
        self.recompute_matches(new);
        self.clamp(new);
    }

    /// The first visible position whose row's packet is at least `packet`
    /// (rows are in capture order, so a binary search finds it).
    fn first_at_packet(&self, packet: u64) -> usize {
        let (mut lo, mut hi) = (0, self.visible_len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.row_at(mid).is_some_and(|r| r.packet < packet) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Selects the last timeline row and turns follow mode on.
    fn follow_end(&mut self) {
        let last = self.visible_len().saturating_sub(1);
        if self.sel != last {
            self.sel = last;
            self.detail_scroll = 0;
        }
        if self.all
            && let Some(r) = self.selected_row()
            && r.conn != usize::MAX
        {
            self.conn = r.conn;
        }
        self.follow = true;
    }

    /// The rows that pass the filter, in order (each read from the index:
    /// for tests and short timelines).
    pub fn visible_rows(&self) -> impl Iterator<Item = Row> + '_ {
        (0..self.visible_len()).filter_map(|i| self.row_at(i))
    }

    /// Number of rows that pass the filter.
    pub fn visible_len(&self) -> usize {
        match &self.visible {
            Visible::All => self.rows.len(),
            Visible::Only(v) => v.len(),
        }
    }

    /// Total rows of the timeline before filtering.
    pub fn total_rows(&self) -> usize {
        self.rows.len()
    }

    /// The row at visible position `i`.
    pub fn row_at(&self, i: usize) -> Option<Row> {
        match &self.visible {
            Visible::All => self.rows.get(i),
            Visible::Only(v) => self.rows.get(v.select(i)?),
        }
    }

    /// The selected timeline row.
    pub fn selected_row(&self) -> Option<Row> {
        self.row_at(self.sel)
    }

    /// Whether visible position `i` matches the search.
    pub fn is_match(&self, i: usize) -> bool {
        self.matches.contains(i)
    }

    /// Number of search matches, and the 1-based rank of the selection
    /// among them (0 when the selection is not a match).
    pub fn match_rank(&self) -> (usize, usize) {
        let rank = if self.matches.contains(self.sel) {
            self.matches.rank(self.sel) + 1
        } else {
            0
        };
        (self.matches.len(), rank)
    }

    /// The pane areas for the current size. A live capture takes one more
    /// line at the top, for its state (see [`LiveStatus`]).
    pub fn areas(&self, a: &Source) -> Areas {
        let extra = u16::from(self.live.is_some() && self.size.1 > 2);
        let mut areas = view::layout(
            Rect::new(0, extra, self.size.0, self.size.1 - extra),
            self.focus,
            a.conn_count(),
            self.visible_len(),
        );
        areas.status = Rect::new(0, 0, self.size.0, 1 + extra);
        areas
    }

    /// Applies one action. The only way the view state changes (besides
    /// [`App::refresh`] when the model itself grows).
    pub fn update(&mut self, action: Action, a: &Source) {
        let before = (self.sel, self.conn, self.all, self.visible_len());
        self.apply(action, a);
        match action {
            Action::Follow | Action::Resize(..) => {}
            Action::Bottom if self.focus == Pane::Timeline => self.follow = true,
            // Whatever moved the timeline selection decides: on the last
            // row it follows, anywhere else it stays put.
            _ if before != (self.sel, self.conn, self.all, self.visible_len()) => {
                self.follow = self.on_last_row();
            }
            _ => {}
        }
    }

    fn apply(&mut self, action: Action, a: &Source) {
        if !matches!(action, Action::Resize(..)) {
            self.notice = None;
        }
        if self.input.is_some() {
            self.update_input(action, a);
            return;
        }
        if self.help {
            // Any key closes the overlay; only resizes pass through.
            match action {
                Action::Resize(w, h) => self.size = (w, h),
                _ => self.help = false,
            }
            self.clamp(a);
            return;
        }
        match action {
            Action::Quit if self.scanning.is_some() => self.cancel_scan = true,
            Action::Quit => self.quit = true,
            Action::Up => self.step(a, self.focus, -1),
            Action::Down => self.step(a, self.focus, 1),
            Action::PageUp => self.step(a, self.focus, -self.page(a, self.focus)),
            Action::PageDown => self.step(a, self.focus, self.page(a, self.focus)),
            Action::Top => self.step(a, self.focus, isize::MIN),
            Action::Bottom => self.step(a, self.focus, isize::MAX),
            Action::NextPane => self.focus = self.focus.next(),
            Action::PrevPane => self.focus = self.focus.prev(),
            Action::Open => match self.focus {
                Pane::Connections => {
                    if self.all {
                        self.select_first_row_of_conn(a);
                    }
                    self.focus = Pane::Timeline;
                }
                Pane::Timeline => {
                    self.focus = Pane::Detail;
                    self.detail_scroll = 0;
                }
                Pane::Detail => {}
            },
            Action::StartSearch => {
                self.input = Some(Input {
                    kind: InputKind::Search,
                    buf: String::new(),
                })
            }
            Action::StartFilter => {
                self.input = Some(Input {
                    kind: InputKind::Filter,
                    buf: self.filter.text.clone(),
                })
            }
            Action::NextMatch => self.jump_match(true),
            Action::PrevMatch => self.jump_match(false),
            Action::ToggleHelp => self.help = true,
            Action::Follow => {
                self.follow_end();
                self.notice = Some("following new events (move up to stop)".into());
            }
            Action::ToggleControl => {
                self.show_control = !self.show_control;
                self.refilter(a);
                self.notice = Some(if self.show_control {
                    "control frames shown".into()
                } else {
                    "control frames hidden".into()
                });
            }
            Action::ToggleAllConnections => {
                let keep = self.selected_row();
                self.all = !self.all;
                self.rebuild_rows(a);
                if let Some(k) = keep {
                    self.select_row(&k);
                }
            }
            Action::CyclePayloadView => {
                self.payload_view = self.payload_view.next();
                self.detail_scroll = 0;
            }
            Action::SavePayload => match self.selected_row() {
                Some(r) if r.ix.flags & crate::index::flags::SPILLED != 0 => {
                    let id = r.connection(a).map_or(0, |c| c.id);
                    let m = match r.event {
                        EventRef::Message(i) => i,
                        _ => 0,
                    };
                    self.save_row = Some(r);
                    self.input = Some(Input {
                        kind: InputKind::Save,
                        buf: format!("conn{id}-msg{m}.bin"),
                    });
                }
                Some(r) if matches!(r.event, EventRef::Message(_)) => {
                    self.notice = Some(
                        "this view has only the first bytes of the payload (wsinspect export saves whole payloads)".into(),
                    );
                }
                _ => self.notice = Some("s saves a data message's payload: select one".into()),
            },
            Action::Click(x, y) => self.click(a, x, y),
            Action::ScrollUp(x, y) => self.wheel(a, x, y, -(WHEEL as isize)),
            Action::ScrollDown(x, y) => self.wheel(a, x, y, WHEEL as isize),
            Action::Resize(w, h) => self.size = (w, h),
            Action::Input(_) | Action::Backspace | Action::Submit | Action::Cancel => {}
        }
        self.clamp(a);
    }

    fn update_input(&mut self, action: Action, a: &Source) {
        let Some(input) = self.input.as_mut() else {
            return;
        };
        match action {
            Action::Input(c) => input.buf.push(c),
            Action::Backspace => {
                input.buf.pop();
            }
            Action::Cancel | Action::Quit => self.input = None,
            Action::Submit => {
                let Input { kind, buf } = input.clone();
                self.input = None;
                match kind {
                    InputKind::Search => self.set_search(a, &buf),
                    InputKind::Filter => self.set_filter(a, &buf),
                    InputKind::Save => {
                        if let Some(r) = self.save_row.take()
                            && !buf.trim().is_empty()
                        {
                            self.save = Some((r, buf.trim().to_string()));
                        }
                    }
                }
            }
            Action::Resize(w, h) => self.size = (w, h),
            _ => {}
        }
        self.clamp(a);
    }

    /// Sets the search and jumps to the first match at or after the
    /// selection.
    pub fn set_search(&mut self, a: &Source, text: &str) {
        self.search = text.trim().to_lowercase();
        self.generation += 1;
        if !self.search.is_empty() && self.visible_len() > INLINE_ROWS {
            self.matches = PosSet::new();
            self.pending = Some(Scan::Search(self.generation));
            self.notice = Some(format!("searching for \"{}\"… (Esc cancels)", text.trim()));
            return;
        }
        self.recompute_matches(a);
        self.search_jump(text);
        self.clamp(a);
    }

    /// Runs `scan` over this state (on the event loop's thread), checking
    /// `cancel` and counting rows done in `done`; `None` when cancelled.
    pub fn scan(
        &self,
        a: &Source,
        scan: Scan,
        cancel: &std::sync::atomic::AtomicBool,
        done: &std::sync::atomic::AtomicU64,
    ) -> Option<PosSet> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = PosSet::new();
        let n = match scan {
            Scan::Filter(_) => self.rows.len(),
            Scan::Search(_) => self.visible_len(),
        };
        for i in 0..n {
            if i.is_multiple_of(1024) {
                if cancel.load(Relaxed) {
                    return None;
                }
                done.store(i as u64, Relaxed);
            }
            let hit = match scan {
                Scan::Filter(_) => self.rows.get(i).is_some_and(|r| self.passes(a, &r)),
                Scan::Search(_) => self.row_at(i).is_some_and(|r| r.contains(a, &self.search)),
            };
            if hit {
                out.push(i);
            }
        }
        Some(out)
    }

    /// Rows a scan goes through.
    pub fn scan_len(&self, scan: Scan) -> usize {
        match scan {
            Scan::Filter(_) => self.rows.len(),
            Scan::Search(_) => self.visible_len(),
        }
    }

    /// Takes the result of a scan run on a thread (dropped when the
    /// timeline changed since it started); `None`: it was cancelled.
    pub fn finish_scan(&mut self, a: &Source, scan: Scan, result: Option<PosSet>) {
        self.scanning = None;
        self.cancel_scan = false;
        let (Scan::Filter(g) | Scan::Search(g)) = scan;
        if g != self.generation {
            return;
        }
        let Some(v) = result else {
            self.notice = Some(format!("{} cancelled", scan.name()));
            return;
        };
        match scan {
            Scan::Search(_) => {
                self.matches = v;
                let text = self.search.clone();
                self.search_jump(&text);
            }
            Scan::Filter(_) => {
                let keep = self.selected_row();
                self.visible = Visible::Only(v);
                match keep {
                    Some(k) => self.select_row(&k),
                    None => self.sel = 0,
                }
                if self.visible_len() == 0 {
                    self.notice = Some("the filter hides every event".into());
                }
                if !self.search.is_empty() {
                    let text = self.search.clone();
                    self.set_search(a, &text);
                }
            }
        }
        self.clamp(a);
    }

    /// After a new search: says how many rows match and selects the first
    /// match at or after the selection.
    fn search_jump(&mut self, text: &str) {
        if self.search.is_empty() {
            self.notice = Some("search cleared".into());
            return;
        }
        if self.matches.is_empty() {
            self.notice = Some(format!("no match for \"{}\"", text.trim()));
            return;
        }
        if self.focus == Pane::Connections {
            self.focus = Pane::Timeline;
        }
        if !self.is_match(self.sel) {
            self.jump_match(true);
        }
        self.notice = Some(match self.matches.len() {
            1 => "1 match".to_string(),
            n => format!("{n} matches"),
        });
    }

    /// Sets the filter, keeping the selected row when it still passes.
    pub fn set_filter(&mut self, a: &Source, text: &str) {
        self.filter = Filter::parse(text);
        self.refilter(a);
        if let Some(e) = &self.filter.not_display {
            self.notice = Some(format!(
                "words, not a display filter: {} (at column {})",
                e.message,
                e.expr.get(..e.span.start).map_or(0, |p| p.chars().count()) + 1
            ));
        } else if self.visible_len() == 0 {
            self.notice = Some("the filter hides every event".into());
        }
        self.clamp(a);
    }

    fn jump_match(&mut self, forward: bool) {
        if self.matches.is_empty() {
            self.notice = Some(if self.search.is_empty() {
                "no search: press / first".into()
            } else {
                format!("no match for \"{}\"", self.search)
            });
            return;
        }
        let next = if forward {
            self.matches.next_after(self.sel).or(self.matches.first())
        } else {
            self.matches.prev_before(self.sel).or(self.matches.last())
        };
        if let Some(m) = next {
            self.sel = m;
            self.detail_scroll = 0;
        }
        if self.focus == Pane::Connections {
            self.focus = Pane::Timeline;
        }
    }

    fn rebuild_rows(&mut self, a: &Source) {
        self.generation += 1;
        self.rows = Timeline::new(a, self.all, self.conn);
        self.visible = Visible::All;
        self.sel = 0;
        self.offset = 0;
        self.detail_scroll = 0;
        self.refilter(a);
    }

    /// Recomputes `visible` after a change of filter or control toggle,
    /// keeping the selected row selected when it is still visible.
    fn refilter(&mut self, a: &Source) {
        self.generation += 1;
        if self.filters() && self.rows.len() > INLINE_ROWS {
            self.pending = Some(Scan::Filter(self.generation));
            self.notice = Some("filtering… (Esc cancels)".into());
            return;
        }
        let keep = self.selected_row();
        self.visible = self.passing(a);
        match keep {
            Some(k) => self.select_row(&k),
            None => self.sel = 0,
        }
        self.recompute_matches(a);
    }

    fn filters(&self) -> bool {
        !self.show_control || !self.filter.is_empty()
    }

    /// The positions of the timeline that pass the filter and the control
    /// toggle (all of them, without a list, when nothing filters).
    fn passing(&self, a: &Source) -> Visible {
        if !self.filters() {
            return Visible::All;
        }
        Visible::Only(self.passing_in(a, 0..self.rows.len()))
    }

    /// The positions in `range` that pass.
    fn passing_in(&self, a: &Source, range: std::ops::Range<usize>) -> PosSet {
        if !self.filters() {
            return range.collect();
        }
        range
            .filter(|&i| self.rows.get(i).is_some_and(|r| self.passes(a, &r)))
            .collect()
    }

    fn passes(&self, a: &Source, r: &Row) -> bool {
        (self.show_control || !r.kind(a).is_control())
            && (self.filter.is_empty() || self.filter.matches(r, a))
    }

    /// Selects `row` if visible, else the first visible row after it (in
    /// the index's order, which every timeline follows).
    fn select_row(&mut self, row: &Row) {
        let want = row.ix.no;
        let (mut lo, mut hi) = (0, self.visible_len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.row_at(mid).is_some_and(|r| r.ix.no < want) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.sel = lo.min(self.visible_len().saturating_sub(1));
    }

    fn select_first_row_of_conn(&mut self, a: &Source) {
        let conn = self.conn;
        let Some(first) = a.slot(conn).and_then(|s| a.index.conn_row(s, 0)) else {
            return;
        };
        self.select_row(&Row::of(a, first));
        // The first visible row of the connection at or after its first row.
        let found = (self.sel..self.visible_len())
            .find(|&i| self.row_at(i).is_some_and(|r| r.conn == conn));
        if let Some(p) = found {
            self.sel = p;
            self.detail_scroll = 0;
        }
    }

    fn recompute_matches(&mut self, a: &Source) {
        if !self.search.is_empty() && self.visible_len() > INLINE_ROWS {
            self.generation += 1;
            self.matches = PosSet::new();
            self.pending = Some(Scan::Search(self.generation));
            return;
        }
        self.matches = if self.search.is_empty() {
            PosSet::new()
        } else {
            let s = &self.search;
            self.visible_rows()
                .enumerate()
                .filter(|(_, r)| r.contains(a, s))
                .map(|(i, _)| i)
                .collect()
        };
    }

    /// Rows a page moves in `pane`.
    fn page(&self, a: &Source, pane: Pane) -> isize {
        let areas = self.areas(a);
        let h = match pane {
            Pane::Connections => view::list_height(areas.connections),
            Pane::Timeline => view::list_height(areas.timeline),
            Pane::Detail => areas
                .detail
                .map(|r| usize::from(r.height.saturating_sub(2)))
                .unwrap_or(1),
        };
        isize::try_from(h.max(1)).unwrap_or(1)
    }

    /// Moves the selection of `pane` by `delta` (saturating at both ends).
    fn step(&mut self, a: &Source, pane: Pane, delta: isize) {
        let moved = |cur: usize, len: usize| -> usize {
            let max = len.saturating_sub(1);
            if delta < 0 {
                cur.saturating_sub(delta.unsigned_abs()).min(max)
            } else {
                cur.saturating_add(delta.unsigned_abs()).min(max)
            }
        };
        match pane {
            Pane::Connections => {
                let n = moved(self.conn, a.conn_count());
                if n != self.conn {
                    self.conn = n;
                    if self.all {
                        self.select_first_row_of_conn(a);
                    } else {
                        self.rebuild_rows(a);
                    }
                }
            }
            Pane::Timeline => {
                let n = moved(self.sel, self.visible_len());
                if n != self.sel {
                    self.sel = n;
                    self.detail_scroll = 0;
                }
            }
            Pane::Detail => {
                let width = self
                    .areas(a)
                    .detail
                    .map(|r| r.width.saturating_sub(2))
                    .unwrap_or(80);
                // Scroll until the last line is at the bottom, no further.
                let len = view::detail::line_count(self, a, width);
                let page = usize::try_from(self.page(a, Pane::Detail)).unwrap_or(1);
                self.detail_scroll = moved(self.detail_scroll, len.saturating_sub(page) + 1);
            }
        }
        // In the all-connections timeline, moving onto another
        // connection's event selects that connection too.
        if pane == Pane::Timeline
            && self.all
            && let Some(r) = self.selected_row()
            && r.conn != usize::MAX
        {
            self.conn = r.conn;
        }
    }

    fn pane_at(&self, a: &Source, x: u16, y: u16) -> Option<(Pane, Rect)> {
        let areas = self.areas(a);
        let p = Position::new(x, y);
        [
            (Pane::Connections, areas.connections),
            (Pane::Timeline, areas.timeline),
            (Pane::Detail, areas.detail),
        ]
        .into_iter()
        .find_map(|(pane, r)| r.filter(|r| r.contains(p)).map(|r| (pane, r)))
    }

    fn click(&mut self, a: &Source, x: u16, y: u16) {
        let Some((pane, r)) = self.pane_at(a, x, y) else {
            return;
        };
        self.focus = pane;
        // Lists have a border and a header line above the first row.
        let first = r.y.saturating_add(2);
        if y < first || y >= r.y.saturating_add(r.height).saturating_sub(1) {
            return;
        }
        let line = usize::from(y - first);
        match pane {
            Pane::Connections => {
                let target = self.conn_offset + line;
                if target < a.conn_count() {
                    self.step(a, pane, target as isize - self.conn as isize);
                }
            }
            Pane::Timeline => {
                let target = self.offset + line;
                if target < self.visible_len() {
                    self.step(a, pane, target as isize - self.sel as isize);
                }
            }
            Pane::Detail => {}
        }
    }

    fn wheel(&mut self, a: &Source, x: u16, y: u16, delta: isize) {
        if let Some((pane, _)) = self.pane_at(a, x, y) {
            self.focus = pane;
            self.step(a, pane, delta);
        }
    }

    /// Keeps selections in range and on screen after any change.
    fn clamp(&mut self, a: &Source) {
        let n = a.conn_count();
        self.conn = self.conn.min(n.saturating_sub(1));
        self.sel = self.sel.min(self.visible_len().saturating_sub(1));
        let areas = self.areas(a);
        self.conn_offset = follow(
            self.conn,
            self.conn_offset,
            view::list_height(areas.connections),
            n,
        );
        self.offset = follow(
            self.sel,
            self.offset,
            view::list_height(areas.timeline),
            self.visible_len(),
        );
    }
}

/// The first line to show so that `sel` is on a screen of `height` lines,
/// moving the view as little as possible, and never leaving blank lines at
/// the bottom while lines above are hidden (after a filter shrank the list).
fn follow(sel: usize, offset: usize, height: usize, len: usize) -> usize {
    let height = height.max(1);
    let offset = offset.min(len.saturating_sub(height));
    if sel < offset {
        sel
    } else if sel >= offset + height {
        sel + 1 - height
    } else {
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Limits, NullSink};
    use crate::pipeline::analyze_path;
    use crate::tui::rows::EventRef;
    use crate::ws::frame::Opcode;

    pub(crate) fn load(name: &str) -> Source {
        let p = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
        let a = analyze_path(&p, Limits::default(), &mut NullSink).expect("sample capture");
        Source::from_analysis(&a).expect("index")
    }

    fn run(app: &mut App, a: &Source, actions: &[Action]) {
        for &x in actions {
            app.update(x, a);
        }
    }

    fn typed(s: &str) -> Vec<Action> {
        s.chars().map(Action::Input).collect()
    }

    #[test]
    fn follow_keeps_selection_on_screen() {
        assert_eq!(follow(0, 0, 5, 10), 0);
        assert_eq!(follow(7, 0, 5, 10), 3);
        assert_eq!(follow(2, 3, 5, 10), 2);
        assert_eq!(follow(4, 3, 5, 10), 3);
        // The list shrank to 4 lines: show them all.
        assert_eq!(follow(2, 100, 5, 4), 0);
    }

    #[test]
    fn keys_move_selection_and_focus() {
        let a = load("upgrade_rejected.pcap");
        let mut app = App::new(&a, (120, 40), false);
        assert_eq!((app.focus, app.conn), (Pane::Connections, 0));
        run(&mut app, &a, &[Action::Down, Action::Down]);
        assert_eq!(app.conn, 2);
        run(&mut app, &a, &[Action::Bottom]);
        assert_eq!(app.conn, 3);
        run(&mut app, &a, &[Action::Down]);
        assert_eq!(app.conn, 3, "saturates at the last connection");
        run(&mut app, &a, &[Action::Top, Action::Up]);
        assert_eq!(app.conn, 0);
        run(&mut app, &a, &[Action::Open]);
        assert_eq!(app.focus, Pane::Timeline);
        run(&mut app, &a, &[Action::Down, Action::Down, Action::Down]);
        assert_eq!(app.sel, 3);
        assert_eq!(
            app.selected_row().map(|r| r.event),
            Some(EventRef::HttpResponse(0))
        );
        run(&mut app, &a, &[Action::Open]);
        assert_eq!(app.focus, Pane::Detail);
        run(&mut app, &a, &[Action::NextPane]);
        assert_eq!(app.focus, Pane::Connections);
        run(&mut app, &a, &[Action::PrevPane]);
        assert_eq!(app.focus, Pane::Detail);
    }

    #[test]
    fn changing_connection_rebuilds_the_timeline() {
        let a = load("upgrade_rejected.pcap");
        let mut app = App::new(&a, (120, 40), false);
        let first = app.visible_len();
        run(&mut app, &a, &[Action::Bottom]);
        assert!(app.visible_rows().all(|r| r.conn == 3));
        assert_ne!(app.visible_len(), first);
        assert_eq!(app.sel, 0);
    }

    #[test]
    fn filter_by_direction_and_kind() {
        let a = load("subprotocol.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        let all = app.visible_len();
        let mut keys = vec![Action::StartFilter];
        keys.extend(typed("c2s text"));
        keys.push(Action::Submit);
        run(&mut app, &a, &keys);
        assert!(app.visible_len() > 0 && app.visible_len() < all);
        assert!(
            app.visible_rows()
                .all(|r| r.dir(&a) == Some(Direction::ClientToServer) && r.kind(&a) == Kind::Text)
        );
        assert_eq!(app.filter.text, "c2s text");
        // The filter line opens with the current filter, and an empty
        // filter shows everything again.
        run(&mut app, &a, &[Action::StartFilter]);
        assert_eq!(app.input.as_ref().map(|i| i.buf.as_str()), Some("c2s text"));
        run(&mut app, &a, &[Action::Backspace; 8]);
        run(&mut app, &a, &[Action::Submit]);
        assert_eq!(app.visible_len(), all);
    }

    #[test]
    fn filter_words_match_payload_text() {
        let a = load("subprotocol.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        app.set_filter(&a, "ANYONE");
        assert_eq!(app.visible_len(), 1);
        let row = app.selected_row();
        assert!(matches!(row.map(|r| r.event), Some(EventRef::Message(_))));
    }

    #[test]
    fn display_filters_select_rows_as_report_does() {
        let a = load("subprotocol.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        app.set_filter(&a, "websocket.opcode == 1 && ws.dir == \"s2c\"");
        assert!(app.filter.is_display() && app.notice.is_none());
        let p = format!("{}/captures/subprotocol.pcapng", env!("CARGO_MANIFEST_DIR"));
        let model = analyze_path(&p, Limits::default(), &mut NullSink).unwrap();
        let want: usize = model
            .connections
            .iter()
            .flat_map(|c| &c.messages)
            .filter(|m| m.opcode == Opcode::Text && m.dir == Direction::ServerToClient)
            .count();
        assert!(want > 0);
        assert_eq!(app.visible_len(), want);
        // Connection fields select every row of the connection, HTTP included.
        app.set_filter(&a, "tcp.stream == 0");
        assert_eq!(app.visible_len(), app.total_rows());
        app.set_filter(&a, "tcp.stream == 1");
        assert_eq!(app.visible_len(), 0);
    }

    #[test]
    fn a_line_that_is_no_display_filter_is_words_with_a_notice() {
        let a = load("subprotocol.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        app.set_filter(&a, "websocket.opcode ==");
        assert!(!app.filter.is_display());
        let notice = app.notice.clone().unwrap_or_default();
        assert!(
            notice.contains("not a display filter") && notice.contains("column 20"),
            "{notice}"
        );
        app.set_filter(&a, "c2s text");
        assert!(!app.filter.is_display() && app.filter.not_display.is_none());
    }

    #[test]
    fn cancelled_input_changes_nothing() {
        let a = load("subprotocol.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        let mut keys = vec![Action::StartFilter];
        keys.extend(typed("ping"));
        keys.push(Action::Cancel);
        run(&mut app, &a, &keys);
        assert!(app.filter.is_empty());
        assert!(app.input.is_none());
        assert!(!app.quit, "Esc on the input line does not quit");
    }

    #[test]
    fn search_jumps_and_wraps() {
        let a = load("subprotocol.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        let mut keys = vec![Action::StartSearch];
        keys.extend(typed("Delivered"));
        keys.push(Action::Submit);
        run(&mut app, &a, &keys);
        assert_eq!(app.focus, Pane::Timeline);
        let (n, rank) = app.match_rank();
        assert_eq!((n, rank), (4, 1));
        let first = app.sel;
        run(&mut app, &a, &[Action::NextMatch]);
        assert_eq!(app.match_rank(), (4, 2));
        assert!(app.sel > first);
        run(&mut app, &a, &[Action::PrevMatch, Action::PrevMatch]);
        assert_eq!(app.match_rank(), (4, 4), "N wraps to the last match");
        run(&mut app, &a, &[Action::NextMatch]);
        assert_eq!(app.sel, first, "n wraps to the first match");
    }

    #[test]
    fn scans_on_a_thread_give_what_inline_gives() {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        let a = load("close_codes.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        run(&mut app, &a, &[Action::ToggleAllConnections]);
        app.set_search(&a, "1000");
        let inline = app.matches.clone();
        assert!(!inline.is_empty());
        let (stop, done) = (AtomicBool::new(false), AtomicU64::new(0));
        let g = app.generation;
        let scanned = app.scan(&a, Scan::Search(g), &stop, &done);
        assert_eq!(scanned.as_ref(), Some(&inline));
        app.set_filter(&a, "close");
        let Visible::Only(filtered) = app.visible.clone() else {
            panic!("a filter lists rows")
        };
        let g = app.generation;
        assert_eq!(
            app.scan(&a, Scan::Filter(g), &stop, &done),
            Some(filtered.clone())
        );
        // A result for an older timeline is dropped; a cancelled scan says so.
        app.finish_scan(&a, Scan::Filter(g - 1), Some(PosSet::new()));
        assert_eq!(app.visible, Visible::Only(filtered));
        app.finish_scan(&a, Scan::Filter(g), None);
        assert_eq!(app.notice.as_deref(), Some("filtering cancelled"));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(app.scan(&a, Scan::Filter(g), &stop, &done), None);
        // Esc stops a running scan instead of quitting.
        app.scanning = Some((Scan::Filter(g), 0.5));
        run(&mut app, &a, &[Action::Quit]);
        assert!(app.cancel_scan && !app.quit);
    }

    #[test]
    fn search_without_match_says_so() {
        let a = load("seed_echo.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        app.set_search(&a, "no such payload");
        assert_eq!(app.match_rank(), (0, 0));
        assert_eq!(
            app.notice.as_deref(),
            Some("no match for \"no such payload\"")
        );
        assert_eq!(app.focus, Pane::Connections);
    }

    #[test]
    fn control_toggle_hides_and_keeps_selection() {
        let a = load("ping_pong.pcap");
        let mut app = App::new(&a, (120, 40), false);
        let all = app.visible_len();
        app.update(Action::Open, &a);
        // Select the echo reply (a data message) before hiding.
        let idx = app
            .visible_rows()
            .position(|r| matches!(r.event, EventRef::Message(1)))
            .expect("message row");
        app.update(Action::Down, &a);
        while app.sel < idx {
            app.update(Action::Down, &a);
        }
        let chosen = app.selected_row();
        app.update(Action::ToggleControl, &a);
        assert!(app.visible_len() < all);
        assert!(app.visible_rows().all(|r| !r.kind(&a).is_control()));
        assert_eq!(app.selected_row(), chosen);
        app.update(Action::ToggleControl, &a);
        assert_eq!(app.visible_len(), all);
        assert_eq!(app.selected_row(), chosen);
    }

    #[test]
    fn all_connections_interleaves_and_follows_selection() {
        let a = load("upgrade_rejected.pcap");
        let mut app = App::new(&a, (120, 40), false);
        let one = app.visible_len();
        app.update(Action::ToggleAllConnections, &a);
        assert!(app.visible_len() > one);
        let packets: Vec<u64> = app.visible_rows().map(|r| r.packet).collect();
        assert!(packets.windows(2).all(|w| w[0] <= w[1]));
        app.update(Action::Down, &a);
        app.update(Action::Down, &a);
        assert_eq!(
            app.conn, 2,
            "selecting a connection moves the shared timeline"
        );
        assert_eq!(app.selected_row().map(|r| r.conn), Some(2));
    }

    #[test]
    fn help_overlay_swallows_keys() {
        let a = load("seed_echo.pcapng");
        let mut app = App::new(&a, (120, 40), false);
        app.update(Action::ToggleHelp, &a);
        assert!(app.help);
        app.update(Action::Quit, &a);
        assert!(!app.help && !app.quit, "Esc closes help first");
        app.update(Action::Quit, &a);
        assert!(app.quit);
    }

    #[test]
    fn mouse_click_selects_rows() {
        let a = load("upgrade_rejected.pcap");
        let mut app = App::new(&a, (120, 40), false);
        let areas = app.areas(&a);
        let c = areas.connections.expect("connections pane");
        app.update(Action::Click(c.x + 3, c.y + 2 + 2), &a);
        assert_eq!((app.focus, app.conn), (Pane::Connections, 2));
        let t = areas.timeline.expect("timeline pane");
        app.update(Action::Click(t.x + 3, t.y + 2 + 1), &a);
        assert_eq!((app.focus, app.sel), (Pane::Timeline, 1));
        app.update(Action::ScrollDown(t.x + 3, t.y + 3), &a);
        assert_eq!(app.sel, 1 + WHEEL);
        // A click on a border does nothing but focus.
        app.update(Action::Click(t.x, t.y), &a);
        assert_eq!(app.sel, 1 + WHEEL);
    }

    #[test]
    fn paging_keeps_selection_visible() {
        let a = load("lossy_netns.pcap");
        let mut app = App::new(&a, (100, 30), false);
        app.update(Action::Open, &a);
        let h = view::list_height(app.areas(&a).timeline);
        app.update(Action::PageDown, &a);
        assert_eq!(app.sel, h);
        assert!(app.offset <= app.sel && app.sel < app.offset + h);
        app.update(Action::Bottom, &a);
        assert_eq!(app.sel, app.visible_len() - 1);
        assert_eq!(app.offset, app.visible_len() - h);
        app.update(Action::Resize(100, 60), &a);
        let h2 = view::list_height(app.areas(&a).timeline);
        assert!(app.offset <= app.sel && app.sel < app.offset + h2);
    }

    #[test]
    fn filter_after_scrolling_shows_the_whole_short_list() {
        let a = load("flv_stream.pcap");
        let mut app = App::new(&a, (160, 45), false);
        app.update(Action::Open, &a);
        app.update(Action::Bottom, &a);
        assert!(app.offset > 0);
        app.set_filter(&a, "c2s");
        assert_eq!(app.visible_len(), 4, "SYN, GET, close, FIN");
        assert_eq!(app.offset, 0);
    }

    #[test]
    fn detail_scroll_is_bounded() {
        let a = load("flv_stream.pcap");
        let mut app = App::new(&a, (120, 30), false);
        app.update(Action::Open, &a);
        for _ in 0..5 {
            app.update(Action::Down, &a);
        }
        app.update(Action::Open, &a);
        for _ in 0..500 {
            app.update(Action::Down, &a);
        }
        let d = app.areas(&a).detail.expect("detail pane");
        let len = view::detail::line_count(&app, &a, d.width - 2);
        let h = usize::from(d.height - 2);
        assert!(len > h, "the 283-byte hex dump needs scrolling");
        assert_eq!(app.detail_scroll, len - h);
        app.update(Action::Top, &a);
        assert_eq!(app.detail_scroll, 0);
    }
}
