//! The view over a real index (issue 22): whole payloads in the detail
//! pane, paged, and `s` saving them byte-exact, on a capture from python
//! `websockets` with a 271 kB JSON text and a 1 MiB binary message
//! (permessage-deflate: the index holds the inflated bytes).

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sha2::{Digest, Sha256};
use wsinspect::analysis::Tee;
use wsinspect::index::{IndexLimits, IndexWriter};
use wsinspect::payload::{PayloadCollector, Selection};
use wsinspect::pipeline::{Options, analyze_path_with};
use wsinspect::tui::action::Action::{self, *};
use wsinspect::tui::app::{App, Pane};
use wsinspect::tui::rows::EventRef;
use wsinspect::tui::source::Source;
use wsinspect::tui::view;

const CAPTURE: &str = "captures/view/large_messages.pcap";

/// The view's source as `wsinspect view` builds it, and every message's
/// whole payload as `wsinspect payload` collects it.
fn indexed() -> (Source, Vec<Vec<u8>>) {
    let path = format!("{}/{CAPTURE}", env!("CARGO_MANIFEST_DIR"));
    let (mut w, index) = IndexWriter::new(IndexLimits::default()).unwrap();
    let mut payloads = Vec::new();
    let collector = PayloadCollector::new(Selection::default(), |_, m| {
        payloads.push(m.payload.to_vec())
    });
    let opts = Options {
        drop_finished: true,
        ..Options::default()
    };
    let mut tee = Tee::new(collector, &mut w);
    let totals = analyze_path_with(&path, &opts, &mut tee).unwrap();
    drop(tee);
    w.finish();
    let sorted = index.sorted(u64::MAX).expect("a small finished index");
    (Source::new(sorted, totals), payloads)
}

fn sent_sha256() -> Vec<String> {
    let p = format!(
        "{}/captures/view/large_messages.sent.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    ["c2s", "s2c"]
        .iter()
        .map(|d| v[d][0]["sha256"].as_str().unwrap().to_string())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn run(app: &mut App, a: &Source, keys: &[Action]) {
    for &k in keys {
        app.update(k, a);
    }
}

fn draw(app: &App, a: &Source) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| view::render(app, a, f)).unwrap();
    t.backend().to_string()
}

/// Selects the `nth` data message of connection 1 in the timeline.
fn select_message(app: &mut App, a: &Source, nth: usize) {
    run(app, a, &[Open, Top]);
    let mut seen = 0;
    for _ in 0..app.visible_len() {
        if let Some(r) = app.selected_row()
            && let EventRef::Message(i) = r.event
        {
            if i == nth {
                return;
            }
            seen += 1;
        }
        run(app, a, &[Down]);
    }
    panic!("message {nth} not found ({seen} seen)");
}

#[test]
fn whole_payloads_are_shown_paged_and_saved_byte_exact() {
    let (a, payloads) = indexed();
    let want = sent_sha256();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].len(), 271_391);
    assert_eq!(payloads[1].len(), 1 << 20);
    let dir = tempfile::tempdir().unwrap();
    for (nth, payload) in payloads.iter().enumerate() {
        assert_eq!(
            hex(&Sha256::digest(payload)),
            want[nth],
            "what the peer sent"
        );
        let mut app = App::new(&a, (120, 40), false);
        select_message(&mut app, &a, nth);
        // The detail pane, hex view, scrolled to the end: the last bytes
        // of the payload are on screen (read from the spill).
        run(&mut app, &a, &[Open, CyclePayloadView, CyclePayloadView]);
        assert_eq!(app.focus, Pane::Detail);
        let top = draw(&app, &a);
        assert!(
            top.contains(&format!("{} bytes, whole", payload.len())),
            "{top}"
        );
        run(&mut app, &a, &[Bottom]);
        let screen = draw(&app, &a);
        let last = (payload.len() - 1) / 16 * 16;
        let chunk = &payload[last..];
        let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            screen.contains(&format!(
                "{last:04x}  {}",
                bytes[..bytes.len().min(8)].join(" ")
            )),
            "message {nth}: the last line of the dump\n{screen}"
        );
        // `s`, a path typed over the default, Enter: the loop's save.
        run(&mut app, &a, &[SavePayload]);
        let default = app.input.as_ref().map(|i| i.buf.clone());
        assert_eq!(
            default.as_deref(),
            Some(format!("conn1-msg{nth}.bin").as_str())
        );
        let path = dir.path().join(format!("m{nth}.bin"));
        let mut keys = vec![Backspace; default.unwrap().len()];
        keys.extend(path.to_str().unwrap().chars().map(Input));
        keys.push(Submit);
        run(&mut app, &a, &keys);
        let (row, to) = app.save.take().expect("a save asked");
        assert_eq!(a.save_payload(&row.ix, &to).unwrap(), payload.len() as u64);
        let saved = std::fs::read(&path).unwrap();
        assert!(saved == *payload, "message {nth} saved byte-exact");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // An existing file is not overwritten.
        assert!(a.save_payload(&row.ix, &to).is_err());
    }
}

#[test]
fn the_text_view_lays_out_the_whole_text() {
    let (a, payloads) = indexed();
    let mut app = App::new(&a, (120, 40), false);
    select_message(&mut app, &a, 0);
    // Text view (auto would pretty-print the JSON), to the end.
    run(&mut app, &a, &[Open, CyclePayloadView]);
    let top = draw(&app, &a);
    assert!(top.contains("payload (text, 271391 bytes"), "{top}");
    run(&mut app, &a, &[Bottom]);
    let screen = draw(&app, &a);
    let text = String::from_utf8(payloads[0].clone()).unwrap();
    let tail = text.trim_end().lines().last().unwrap().trim();
    assert!(
        screen.contains(tail),
        "the text's last line {tail:?}\n{screen}"
    );
    assert!(screen.contains("row 2599 of the large message"), "{screen}");
}

#[test]
fn search_reads_whole_payloads() {
    let (a, _) = indexed();
    let mut app = App::new(&a, (120, 40), false);
    run(&mut app, &a, &[Open]);
    // Far past the first KiB the model keeps of the text.
    app.set_search(&a, "row 2599 of the large");
    assert_eq!(app.match_rank().0, 1, "{:?}", app.notice);
    assert!(matches!(
        app.selected_row().map(|r| r.event),
        Some(EventRef::Message(0))
    ));
}
