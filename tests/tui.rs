//! Snapshot tests of the terminal UI: sample captures → `Analysis` →
//! key sequences through `App::update` → `TestBackend` → insta snapshots.
//! No terminal, no threads, no clock: every screen is deterministic.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use wsinspect::analysis::model::Analysis;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline::analyze_path;
use wsinspect::tui::action::Action::{self, *};
use wsinspect::tui::app::App;
use wsinspect::tui::view;

fn load(name: &str) -> Analysis {
    let p = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    analyze_path(&p, Limits::default(), &mut NullSink).expect("sample capture")
}

fn typed(s: &str) -> Vec<Action> {
    s.chars().map(Input).collect()
}

/// Drives the app with `keys` on a `w`×`h` terminal and returns it drawn.
fn screen(a: &Analysis, w: u16, h: u16, color: bool, keys: &[Action]) -> Terminal<TestBackend> {
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
