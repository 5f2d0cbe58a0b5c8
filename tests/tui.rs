//! Snapshot tests of the terminal UI: sample captures → `Analysis` →
//! key sequences through `App::update` → `TestBackend` → insta snapshots.
//! No terminal, no threads, no clock: every screen is deterministic.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline::analyze_path;
use wsinspect::tui::action::Action::{self, *};
use wsinspect::tui::app::App;
use wsinspect::tui::source::Source;
use wsinspect::tui::view;

fn load(name: &str) -> Source {
    let p = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    let a = analyze_path(&p, Limits::default(), &mut NullSink).expect("sample capture");
    Source::from_analysis(&a).expect("index")
}

fn typed(s: &str) -> Vec<Action> {
    s.chars().map(Input).collect()
}

/// Drives the app with `keys` on a `w`×`h` terminal and returns it drawn.
fn screen(a: &Source, w: u16, h: u16, color: bool, keys: &[Action]) -> Terminal<TestBackend> {
    let mut app = App::new(a, (w, h), color);
    for &k in keys {
        app.update(k, a);
    }
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| view::render(&app, a, f)).expect("draw");
    t
}

macro_rules! snap {
    ($name:literal, $capture:literal, $w:expr, $h:expr, $keys:expr) => {{
        let a = load($capture);
        let t = screen(&a, $w, $h, false, &$keys);
        insta::assert_snapshot!($name, t.backend());
    }};
}

#[test]
fn seed_echo_overview() {
    snap!("seed_echo_overview", "seed_echo.pcapng", 120, 40, []);
}

#[test]
fn seed_echo_text_message_detail() {
    // Connections → timeline → 5th event (the client's text frame) → detail.
    snap!(
        "seed_echo_message",
        "seed_echo.pcapng",
        120,
        40,
        [Open, Down, Down, Down, Down, Open]
    );
}

#[test]
fn seed_echo_handshake_accept_check() {
    snap!(
        "seed_echo_handshake",
        "seed_echo.pcapng",
        120,
        40,
        [Open, Down, Down, Down, Open]
    );
}

#[test]
fn seed_echo_hex_view() {
    snap!(
        "seed_echo_hex",
        "seed_echo.pcapng",
        120,
        40,
        [
            Open,
            Down,
            Down,
            Down,
            Down,
            Down,
            Open,
            CyclePayloadView,
            CyclePayloadView
        ]
    );
}

#[test]
fn help_overlay() {
    snap!("help_overlay", "seed_echo.pcapng", 120, 40, [ToggleHelp]);
}

#[test]
fn filter_line_while_typing() {
    let mut keys = vec![StartFilter];
    keys.extend(typed("c2s text"));
    snap!("filter_typing", "subprotocol.pcapng", 120, 40, keys);
}

#[test]
fn filter_applied() {
    let mut keys = vec![Open, StartFilter];
    keys.extend(typed("c2s text"));
    keys.push(Submit);
    snap!("filter_applied", "subprotocol.pcapng", 120, 40, keys);
}

#[test]
fn search_jumps_to_json_message() {
    let mut keys = vec![StartSearch];
    keys.extend(typed("anyone"));
    keys.extend([Submit, Open]);
    snap!("search_json", "subprotocol.pcapng", 120, 40, keys);
}

#[test]
fn control_frames_hidden() {
    snap!(
        "ping_pong_control_hidden",
        "ping_pong.pcap",
        120,
        30,
        [Open, ToggleControl]
    );
}

#[test]
fn close_frame_with_code_meaning() {
    // Bottom of the first connection's timeline is the last FIN; the close
    // frames sit just before it.
    let a = load("close_codes.pcapng");
    let t = screen(
        &a,
        120,
        40,
        false,
        &[Open, Down, Down, Down, Down, Down, Down, Open],
    );
    let text = t.backend().to_string();
    assert!(text.contains("close frame · packet 10"), "{text}");
    insta::assert_snapshot!("close_frame", t.backend());
}

#[test]
fn rejected_upgrade_connections() {
    snap!(
        "upgrade_rejected_list",
        "upgrade_rejected.pcap",
        160,
        45,
        []
    );
}

#[test]
fn rejected_upgrade_wrong_accept_detail() {
    snap!(
        "upgrade_rejected_bad_accept",
        "upgrade_rejected.pcap",
        160,
        45,
        [Down, Open, Down, Down, Down, Open]
    );
}

#[test]
fn rejected_upgrade_403_detail() {
    snap!(
        "upgrade_rejected_403",
        "upgrade_rejected.pcap",
        160,
        45,
        [Open, Down, Down, Down, Open]
    );
}

#[test]
fn lossy_capture_summary() {
    snap!("lossy_summary", "lossy_netns.pcap", 160, 45, []);
}

#[test]
fn lossy_capture_timeline_end() {
    snap!(
        "lossy_timeline_end",
        "lossy_netns.pcap",
        160,
        45,
        [Open, Bottom]
    );
}

#[test]
fn snaplen_anomalies_in_place() {
    snap!(
        "snaplen_timeline",
        "truncated_snaplen.pcap",
        160,
        45,
        [Open, Down, Down, Down, Down, Down]
    );
}

#[test]
fn tiny_terminal() {
    snap!("tiny_connections", "seed_echo.pcapng", 40, 12, []);
    snap!(
        "tiny_timeline",
        "seed_echo.pcapng",
        40,
        12,
        [Open, Down, Down]
    );
    snap!(
        "tiny_detail",
        "seed_echo.pcapng",
        40,
        12,
        [Open, Down, Down, Down, Down, Open]
    );
}

#[test]
fn wide_terminal() {
    snap!(
        "wide_all_connections",
        "upgrade_rejected.pcap",
        200,
        50,
        [ToggleAllConnections, Open, Down, Down, Down, Down, Down]
    );
}

#[test]
fn every_screen_size_draws_without_panicking() {
    let a = load("upgrade_rejected.pcap");
    let keys = [Open, Down, Down, Down, Open, CyclePayloadView, ToggleHelp];
    for (w, h) in [
        (1, 1),
        (2, 3),
        (10, 4),
        (39, 11),
        (79, 19),
        (80, 20),
        (300, 100),
    ] {
        for n in 0..=keys.len() {
            screen(&a, w, h, true, &keys[..n]);
        }
    }
}

#[test]
fn no_color_means_no_colour() {
    let a = load("upgrade_rejected.pcap");
    let t = screen(&a, 160, 45, false, &[Down, Open, Down, Down, Down]);
    for cell in t.backend().buffer().content() {
        assert_eq!(cell.fg, Color::Reset, "colour at {:?}", cell.symbol());
    }
}

#[test]
fn colours_mean_direction_and_errors() {
    let a = load("upgrade_rejected.pcap");
    let t = screen(&a, 160, 45, true, &[Down, Open, Down, Down, Down]);
    let buf = t.backend().buffer();
    let area = buf.area;
    let find = |needle: &str| -> Vec<(u16, u16)> {
        let mut hits = Vec::new();
        for y in 0..area.height {
            let line: String = (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            if let Some(byte) = line.find(needle) {
                let x = line[..byte].chars().count() as u16;
                hits.push((x, y));
            }
        }
        hits
    };
    // The wrong accept is an error in the connection list, red and bold.
    let (x, y) = find("101 ✗ wrong accept")[0];
    assert_eq!(buf[(x, y)].fg, Color::Red);
    // The request arrow is the client's colour, the response the server's.
    let (x, y) = find("→ HTTP GET")[0];
    assert_eq!(buf[(x, y)].fg, Color::Green);
    let (x, y) = find("← HTTP 101")[0];
    assert_eq!(buf[(x, y)].fg, Color::Cyan);
}

#[test]
fn flv_stream_tags_are_named() {
    let a = load("flv_stream.pcap");
    let t = screen(
        &a,
        160,
        45,
        false,
        &[Open, Down, Down, Down, Down, Down, Open],
    );
    let text = t.backend().to_string();
    assert!(
        text.contains("FLV script onMetaData, 268 bytes, t=0 ms"),
        "{text}"
    );
    insta::assert_snapshot!("flv_metadata", t.backend());
}

// ---- Live capture: the model grows under the view -------------------------

use std::time::Duration;
use wsinspect::capture::{CaptureReader, LinkType, Timestamp};
use wsinspect::live::{LiveSession, SessionOptions};
use wsinspect::tui::app::{LiveStatus, Pane};

/// The packets of sample capture `name` (time, bytes, original length)
/// and its link type, to be pushed into a live session.
#[allow(clippy::type_complexity)]
fn packets(name: &str) -> (LinkType, Vec<(Timestamp, Vec<u8>, u32)>) {
    let p = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::File::open(p).expect("sample capture");
    let mut r = CaptureReader::new(std::io::BufReader::new(file)).expect("capture header");
    let mut pkts = Vec::new();
    let mut link = LinkType::Ethernet;
    while let Some(p) = r.next_packet().expect("packet") {
        link = p.link;
        pkts.push((p.ts, p.data.to_vec(), p.orig_len));
    }
    (link, pkts)
}

/// Models of `name` as a live capture sees it: the session's snapshot
/// after the first `cuts[i]` packets, as `wsinspect live` publishes them
/// (whole model kept, as for the TUI).
fn growing(name: &str, cuts: &[usize]) -> Vec<Source> {
    let (link, pkts) = packets(name);
    let mut sink = NullSink;
    let opts = SessionOptions {
        evict_finished: false,
        ..SessionOptions::default()
    };
    let mut s = LiveSession::new("lo", link, 65535, opts, None, &mut sink).expect("session");
    let mut out = Vec::new();
    let mut pushed = 0;
    for &cut in cuts {
        for (ts, d, o) in pkts.iter().take(cut).skip(pushed) {
            s.push(*ts, d, *o).expect("push");
        }
        pushed = pushed.max(cut.min(pkts.len()));
        out.push(Source::from_analysis(&s.snapshot()).expect("index"));
    }
    out
}

fn last_packet(app: &App) -> Option<u64> {
    app.visible_rows().last().map(|r| r.packet)
}

#[test]
fn live_refresh_keeps_the_selected_event() {
    let snaps = growing("seed_echo.pcapng", &[10, 1000]);
    let (old, new) = (&snaps[0], &snaps[1]);
    let mut app = App::new(old, (120, 40), false);
    for k in [Open, Down, Down, Down] {
        app.update(k, old);
    }
    let before = app.selected_row().expect("a selected event");
    assert!(!app.follow, "the selection is not on the last row");
    let (rows_before, sel_before) = (app.visible_len(), app.sel);
    app.refresh(old, new);
    assert!(app.visible_len() > rows_before, "the capture grew");
    assert_eq!(app.sel, sel_before);
    assert_eq!(app.selected_row(), Some(before));
    assert_eq!(app.focus, Pane::Timeline);
}

#[test]
fn live_follow_moves_to_the_new_last_row() {
    // seed_echo has 14 packets: events up to #8 (first message), then the
    // echo and the closes (#9–#11), then the FINs.
    let snaps = growing("seed_echo.pcapng", &[8, 11, 1000]);
    let mut app = App::new(&snaps[0], (120, 40), false);
    app.update(Open, &snaps[0]);
    app.update(Follow, &snaps[0]);
    assert!(app.follow && app.on_last_row());
    let mut last = last_packet(&app);
    for w in snaps.windows(2) {
        app.refresh(&w[0], &w[1]);
        assert!(app.follow);
        assert_eq!(app.sel + 1, app.visible_len(), "the newest row is selected");
        assert!(last_packet(&app) > last, "new events arrived");
        last = last_packet(&app);
        assert_eq!(app.selected_row().map(|r| r.packet), last);
    }
    // Moving up leaves follow mode; G in the timeline comes back to it.
    app.update(Up, &snaps[2]);
    assert!(!app.follow);
    app.update(Bottom, &snaps[2]);
    assert!(app.follow && app.on_last_row());
}

#[test]
fn live_start_with_no_connection_follows_the_first_one() {
    let snaps = growing("seed_echo.pcapng", &[0, 6, 1000]);
    assert_eq!(snaps[0].conn_count(), 0);
    let mut app = App::new(&snaps[0], (120, 40), false);
    assert!(app.follow, "an empty timeline is followed");
    app.refresh(&snaps[0], &snaps[1]);
    assert_eq!(app.conn, 0);
    assert!(app.visible_len() > 0 && app.on_last_row());
    app.refresh(&snaps[1], &snaps[2]);
    assert!(app.on_last_row());
    assert_eq!(last_packet(&app), app.selected_row().map(|r| r.packet));
}

#[test]
fn live_refresh_keeps_connection_and_filter() {
    // Its 50 upgrade requests are packets #151, #153, …: five connections
    // are known after 160 packets.
    let snaps = growing("many_conns.pcap", &[160, 1_000_000]);
    let (old, new) = (&snaps[0], &snaps[1]);
    assert!(
        new.conn_count() > old.conn_count(),
        "new connections arrive"
    );
    let mut app = App::new(old, (120, 40), false);
    app.update(Down, old);
    let id = old.connection(app.conn).expect("selected").id;
    app.set_filter(old, "c2s");
    app.refresh(old, new);
    assert_eq!(new.connection(app.conn).expect("selected").id, id);
    assert_eq!(app.filter.text, "c2s");
    assert!(app.visible_rows().all(|r| r.conn == app.conn));
    // In the all-connections timeline, following selects the newest
    // event's connection.
    let mut app = App::new(old, (120, 40), false);
    for k in [ToggleAllConnections, Open, Follow] {
        app.update(k, old);
    }
    app.refresh(old, new);
    let r = app.selected_row().expect("row");
    assert_eq!(app.conn, r.conn);
    assert_eq!(Some(r.packet), last_packet(&app));
}

fn live_screen(a: &Source, app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("test terminal");
    t.draw(|f| view::render(app, a, f)).expect("draw");
    t
}

#[test]
fn live_status_bar_capturing_and_stopped() {
    let snaps = growing("seed_echo.pcapng", &[8, 1000]);
    let mut app = App::new(&snaps[0], (120, 40), false);
    app.update(Open, &snaps[0]);
    app.update(Follow, &snaps[0]);
    app.refresh(&snaps[0], &snaps[1]);
    app.live = Some(LiveStatus {
        elapsed: Duration::from_secs(83),
        ..LiveStatus::default()
    });
    insta::assert_snapshot!(
        "live_capturing_following",
        live_screen(&snaps[1], &app).backend()
    );
    app.update(Up, &snaps[1]);
    app.live = Some(LiveStatus {
        kernel_drops: 3,
        own_drops: 1,
        elapsed: Duration::from_secs(3725),
        stopped: Some("packet count reached".into()),
    });
    let t = live_screen(&snaps[1], &app);
    let line = |y| -> String {
        (0..120)
            .map(|x| t.backend().buffer()[(x, y)].symbol().to_string())
            .collect()
    };
    let (top, state) = (line(0), line(1));
    assert!(
        top.contains("lo · 14 packets · 1 connection · 2 messages"),
        "{top}"
    );
    assert!(
        state.contains("■ stopped (packet count reached) after 1:02:05"),
        "{state}"
    );
    assert!(
        state.contains("dropped 3 by the kernel, 1 by wsinspect"),
        "{state}"
    );
    assert!(!state.contains("follow"), "{state}");
    assert!(
        line(2).starts_with("┌ Connections"),
        "the panes start below"
    );
}

#[test]
fn live_screens_of_every_size_draw_and_clicks_hit_the_panes() {
    let snaps = growing("seed_echo.pcapng", &[0, 8, 1000]);
    for (w, h) in [
        (1, 1),
        (2, 2),
        (2, 3),
        (10, 4),
        (39, 11),
        (80, 20),
        (300, 100),
    ] {
        let mut app = App::new(&snaps[0], (w, h), true);
        app.live = Some(LiveStatus::default());
        for k in [Open, Follow, Up] {
            app.update(k, &snaps[0]);
        }
        for pair in snaps.windows(2) {
            app.refresh(&pair[0], &pair[1]);
            live_screen(&pair[1], &app);
        }
    }
    // The status takes two lines; a click on the second event row of the
    // timeline (below its border and header) selects it.
    let a = &snaps[2];
    let mut app = App::new(a, (120, 40), false);
    app.live = Some(LiveStatus::default());
    let areas = app.areas(a);
    assert_eq!(areas.status.height, 2);
    let t = areas.timeline.expect("timeline pane");
    assert!(t.y > areas.connections.expect("connections pane").y);
    app.update(Click(t.x + 3, t.y + 3), a);
    assert_eq!((app.focus, app.sel), (Pane::Timeline, 1));
    assert!(!app.follow);
}

/// Application messages (issue 21) in the timeline and the detail pane:
/// OCPP 1.6J, its timeline names each CALL, and the detail of the first
/// message says what it is.
#[test]
fn application_messages_are_named_in_the_timeline_and_the_detail() {
    let a = load("app/ocpp16.pcap");
    let t = screen(&a, 160, 50, false, &[Open]);
    let text = t.backend().to_string();
    assert!(text.contains("[ocpp CALL BootNotification]"), "{text}");
    assert!(text.contains("[ocpp CALLRESULT Heartbeat]"), "{text}");
    // Down to the first data message, then its detail.
    let mut keys = vec![Open];
    let tl = wsinspect::tui::rows::Timeline::new(&a, false, 0);
    let rows: Vec<_> = (0..tl.len()).filter_map(|i| tl.get(i)).collect();
    let first = rows
        .iter()
        .position(|r| {
            matches!(
                r.resolve(&a),
                Some(wsinspect::tui::rows::Resolved::Message(_))
            )
        })
        .expect("a message row");
    keys.extend(std::iter::repeat_n(Down, first));
    keys.push(Open);
    let text = screen(&a, 160, 50, false, &keys).backend().to_string();
    assert!(text.contains("ocpp CALL \"BootNotification\""), "{text}");
}

/// A long-polling exchange's detail names the Engine.IO / Socket.IO
/// packets its body carried (issue 21).
#[test]
fn long_polling_packets_in_the_exchange_detail() {
    let a = load("app/socketio_polling.pcap");
    let mut keys = vec![Open];
    let mut found = None;
    for _ in 0..12 {
        let t = screen(&a, 140, 45, false, &[keys.as_slice(), &[Open]].concat());
        let text = t.backend().to_string();
        if text.contains("HTTP response") && text.contains("application") {
            found = Some(text);
            break;
        }
        keys.push(Down);
    }
    let text = found.expect("an HTTP response row with application lines");
    assert!(text.contains("socket.io"), "{text}");
    assert!(text.contains("open"), "{text}");
}

/// `wsinspect live`'s view: the capture thread's analyzer fills the index
/// (each event once, no model copies) and the view reads it, with the
/// capture's totals beside. A quiet moment (a tick without packets)
/// publishes what was written, so a lone message shows without waiting
/// for the next packet; at the end the index holds every row a view of
/// the whole file shows.
#[test]
fn live_view_reads_the_index_the_capture_fills() {
    use wsinspect::index::{IndexLimits, IndexWriter};
    let p = format!("{}/captures/seed_echo.pcapng", env!("CARGO_MANIFEST_DIR"));
    let (link, pkts) = packets("seed_echo.pcapng");
    let (mut writer, index) = IndexWriter::new(IndexLimits::default()).expect("index");
    let (rows_early, source_early, rows_after_tick);
    {
        let mut s = LiveSession::new(
            "lo",
            link,
            65535,
            SessionOptions::default(),
            None,
            &mut writer,
        )
        .expect("session");
        for (ts, d, o) in pkts.iter().take(8) {
            s.push(*ts, d, *o).expect("push");
        }
        rows_early = index.len();
        source_early = Source::new(index.clone(), s.totals());
        assert!(source_early.conn_count() == 0 || rows_early > 0);
        assert_eq!(source_early.packet_count, 8);
        s.tick(pkts[7].0).expect("tick");
        rows_after_tick = index.len();
        for (ts, d, o) in pkts.iter().skip(8) {
            s.push(*ts, d, *o).expect("push");
        }
        s.finish().expect("finish");
    }
    writer.finish();
    assert!(
        rows_after_tick > rows_early,
        "a tick publishes what was written"
    );
    let mut live = Source::new(index, (*source_early).clone());
    live.refresh();
    // The same rows as `view` of the whole file.
    let (mut w2, whole) = IndexWriter::new(IndexLimits::default()).expect("index");
    analyze_path(&p, Limits::default(), &mut w2).expect("analyse");
    w2.finish();
    assert_eq!(live.all_len() as u64, whole.len());
    assert_eq!(live.conn_count(), 1);
    let app = App::new(&live, (120, 40), false);
    assert!(app.total_rows() > 0);
}
