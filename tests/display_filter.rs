//! The display-filter language against Wireshark's own: for each capture
//! and expression of a table, the frames `tshark -r CAP -Y '(EXPR) &&
//! websocket' -T fields -e frame.number` selects are compared with the
//! messages and control frames `wsinspect -Y EXPR` selects.
//!
//! The mapping (wsinspect's unit is the message, Wireshark's the packet):
//! Wireshark dissects a WebSocket frame in the packet that completes it, so
//! an item's *dissection packets* are the completing packets of its frames.
//! With `W` the union of the dissection packets of the items wsinspect
//! selects and `T` tshark's frames, the two agree when
//!
//! 1. `T ⊆ W`: every frame tshark selects belongs to a selected item, and
//! 2. every selected item has a dissection packet in `T`.
//!
//! For items of one frame in one packet, with one item per packet, this is
//! `T == W` exactly. (A fragmented message is selected when any of its
//! frames is, Wireshark's "any" rule for fields that occur several times:
//! expressions where per-packet and per-message selection must differ,
//! such as `websocket.opcode != 1` on a fragmented text message, are not
//! in the table; `docs/display-filter.md` says why.)
//!
//! tshark's answers are also committed (`tests/data/display_filter_tshark.tsv`,
//! recorded with TShark 4.0.17), so the test checks wsinspect without
//! tshark installed; with tshark installed it runs tshark as well and
//! compares with it (a difference between tshark and the recorded table
//! is printed, not failed: another Wireshark version may differ).
//! `WSINSPECT_BLESS_TSHARK=1` rewrites the table from tshark.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::query::{Item, Predicate, Subject};

/// Expressions tried on every capture of [`CAPTURES`]: each documented
/// Wireshark field at least once.
const COMMON: &[&str] = &[
    "websocket",
    "websocket.opcode == 1",
    "websocket.opcode in {8, 9, 10}",
    "websocket.fin == 0",
    "websocket.mask == 1",
    "websocket.masking_key",
    "websocket.rsv == 4",
    "websocket.payload_length >= 126",
    "websocket.payload.text contains \"e\"",
    "websocket.payload.text matches \"^[\\\\[{]\"",
    "websocket.payload.close.status_code in {1000..1015}",
    "frame.number >= 12 && frame.number <= 20",
    "frame.time_relative > 0.01",
    "tcp.srcport < 10000 && ip.src == 127.0.0.0/8",
    "tcp.dstport < 10000 || tcp.port == 1",
    "tcp.stream != 0",
    "ip.addr == 127.0.0.1 || ipv6.src == ::/0",
    "ipv6.addr == ::1 && ipv6.dst == ::1",
];

/// The key log beside a wss capture: wsinspect and tshark (`-o
/// tls.keylog_file:…`) both decrypt with it.
fn keylog(cap: &str) -> Option<PathBuf> {
    let stem = cap.strip_prefix("wss_")?.split('.').next()?;
    Some(capture(&format!("wss_{stem}.keylog")))
}

/// Captures tshark dissects WebSocket in (the others start mid-stream or
/// lose the handshake), with expressions of their own.
const CAPTURES: &[(&str, &[&str])] = &[
    (
        "close_codes.pcapng",
        &[
            "websocket.payload.close.status_code == 1000",
            "websocket.payload.close.reason contains \"o\"",
            "not websocket.payload.close.status_code in {1000, 1001}",
        ],
    ),
    (
        "deflate_takeover.pcap",
        &["websocket.payload.text contains \"ack\""],
    ),
    ("fragmented_node.pcapng", &["websocket.opcode == 0"]),
    ("ipv6_sll.pcapng", &[]),
    (
        "ping_pong.pcap",
        &[
            "websocket.payload.text == \"hello\"",
            "websocket.opcode == 9 and websocket.payload_length == 125",
        ],
    ),
    ("sizes_py.pcap", &["websocket.payload_length == 127"]),
    ("node_ws_echo.pcapng", &[]),
    ("wss_tls12.pcap", &[]),
    ("wss_tls13.pcapng", &[]),
    (
        "many_conns.pcap",
        &[
            "tcp.stream == 3",
            "tcp.stream in {5..7} && websocket.opcode == 1",
            "tcp.stream > 30 && tcp.srcport < 10000",
        ],
    ),
];

/// Where wsinspect's unit, the message, must select differently from
/// Wireshark's, the packet (checked to differ, so the list stays true).
const KNOWN_DIFFERENT: &[(&str, &str, &str)] = &[
    (
        "close_codes.pcapng",
        "websocket.payload.text contains \"e\"",
        "text of invalid UTF-8: Wireshark shows it with replacement characters, wsinspect keeps no text",
    ),
    (
        "sizes_py.pcap",
        "frame.number >= 12 && frame.number <= 20",
        "a message whose frame header is in packet 19 and ends in 21 holds frame 19; Wireshark dissects it in 21",
    ),
    (
        "wss_tls12.pcap",
        "frame.number >= 12 && frame.number <= 20",
        "the same over TLS: a 100 000-byte message in packets 18 to 21, dissected by Wireshark in 21",
    ),
];

fn capture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/display_filter_tshark.tsv")
}

fn cases() -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for (cap, own) in CAPTURES {
        let common: &[&str] = if *cap == "many_conns.pcap" {
            &[
                "websocket.opcode == 9",
                "frame.number in {8, 9, 10, 30..40}",
            ]
        } else {
            COMMON
        };
        for e in common.iter().chain(own.iter()) {
            v.push((*cap, *e));
        }
    }
    v
}

/// The dissection packets of each item wsinspect selects.
fn wsinspect_items(cap: &str, expr: &str) -> Vec<BTreeSet<u64>> {
    let p = Predicate::display(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let path = capture(cap);
    let mut opts = wsinspect::pipeline::Options::with_limits(Limits::default());
    if let Some(k) = keylog(cap) {
        let text = std::fs::read_to_string(k).expect("key log");
        opts.keylog = Some(std::sync::Arc::new(wsinspect::tls::KeyLog::parse(&text).0));
    }
    let a = wsinspect::pipeline::analyze_path_with(
        path.to_str().unwrap_or_default(),
        &opts,
        &mut NullSink,
    )
    .unwrap_or_else(|e| panic!("{cap}: {e}"));
    let start = Some(a.start_ts);
    let mut out = Vec::new();
    for c in &a.connections {
        for (i, m) in c.messages.iter().enumerate() {
            if p.matches(&Subject::message(c, i, m, start)) {
                out.push(m.frame_headers.iter().map(|f| f.end_packet.0).collect());
            }
        }
        for f in &c.control {
            if p.matches(&Subject::new(c, Item::Control(f), start)) {
                out.push([f.packet.0].into());
            }
        }
    }
    out
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tshark(cap: &str, expr: &str) -> BTreeSet<u64> {
    let mut cmd = Command::new("tshark");
    if let Some(k) = keylog(cap) {
        cmd.arg("-o")
            .arg(format!("tls.keylog_file:{}", k.display()));
    }
    let out = cmd
        .arg("-n")
        .arg("-r")
        .arg(capture(cap))
        .arg("-Y")
        .arg(format!("({expr}) && websocket"))
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark -Y '{expr}' on {cap}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn read_table() -> BTreeMap<(String, String), BTreeSet<u64>> {
    let text = std::fs::read_to_string(table_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (cap, expr, frames) = (f.next()?, f.next()?, f.next().unwrap_or(""));
            let set = frames.split(' ').filter_map(|n| n.parse().ok()).collect();
            Some(((cap.to_string(), expr.to_string()), set))
        })
        .collect()
}

/// Why wsinspect's selection disagrees with tshark's, if it does.
fn disagreement(items: &[BTreeSet<u64>], t: &BTreeSet<u64>) -> Option<String> {
    let w: BTreeSet<u64> = items.iter().flatten().copied().collect();
    let extra: Vec<_> = t.difference(&w).collect();
    if !extra.is_empty() {
        return Some(format!(
            "tshark selects frames {extra:?} that no selected message holds"
        ));
    }
    let missed: Vec<_> = items.iter().filter(|i| i.is_disjoint(t)).collect();
    if !missed.is_empty() {
        return Some(format!(
            "wsinspect selects items in frames {missed:?} that tshark does not"
        ));
    }
    None
}

#[test]
fn display_filters_select_what_tshark_selects() {
    let cases = cases();
    let table = read_table();
    let live = tshark_available();
    if !live {
        println!(
            "note: tshark is not installed: comparing with the recorded table only (apt-get install tshark)"
        );
    }
    let from_tshark: Vec<Option<BTreeSet<u64>>> = if live {
        // tshark takes ~0.5 s to start: four at a time.
        let mut out = vec![None; cases.len()];
        std::thread::scope(|s| {
            for (chunk_out, chunk) in out
                .chunks_mut(cases.len().div_ceil(4))
                .zip(cases.chunks(cases.len().div_ceil(4)))
            {
                s.spawn(move || {
                    for (o, (cap, e)) in chunk_out.iter_mut().zip(chunk) {
                        *o = Some(tshark(cap, e));
                    }
                });
            }
        });
        out
    } else {
        vec![None; cases.len()]
    };
    if std::env::var_os("WSINSPECT_BLESS_TSHARK").is_some() {
        assert!(live, "blessing needs tshark");
        let mut text = String::from(
            "# capture\tdisplay filter\tframes tshark -Y '(filter) && websocket' selects (TShark 4.0.17)\n",
        );
        for ((cap, e), t) in cases.iter().zip(&from_tshark) {
            let frames: Vec<String> = t.iter().flatten().map(u64::to_string).collect();
            text.push_str(&format!("{cap}\t{e}\t{}\n", frames.join(" ")));
        }
        std::fs::write(table_path(), text).expect("write table");
    }
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for ((cap, e), t) in cases.iter().zip(&from_tshark) {
        let recorded = table.get(&(cap.to_string(), e.to_string()));
        let Some(truth) = t.as_ref().or(recorded) else {
            failures.push(format!(
                "{cap}: {e}: not in the recorded table (bless with tshark)"
            ));
            continue;
        };
        if let (Some(t), Some(r)) = (t, recorded)
            && t != r
        {
            println!("note: {cap}: {e}: this tshark selects {t:?}, the recorded table {r:?}");
        }
        nonempty += usize::from(!truth.is_empty());
        let items = wsinspect_items(cap, e);
        let known = KNOWN_DIFFERENT.iter().find(|(c, x, _)| c == cap && x == e);
        match (disagreement(&items, truth), known) {
            (Some(why), None) => failures.push(format!("{cap}: {e}: {why}")),
            (None, Some((_, _, reason))) => failures.push(format!(
                "{cap}: {e}: listed as different ({reason}) but agrees"
            )),
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} disagree:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        nonempty > cases.len() / 3,
        "too few expressions select anything: {nonempty}"
    );
}

#[test]
fn disagreement_rules() {
    let one = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
    assert_eq!(disagreement(&[one(&[5]), one(&[7])], &one(&[5, 7])), None);
    assert!(disagreement(&[one(&[5])], &one(&[5, 7])).is_some());
    assert!(disagreement(&[one(&[5]), one(&[7])], &one(&[5])).is_some());
    assert_eq!(disagreement(&[one(&[5, 6, 7])], &one(&[6])), None);
}

#[test]
fn every_field_is_documented() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/display-filter.md"),
    )
    .expect("docs/display-filter.md");
    for d in wsinspect::query::fields::FIELDS {
        assert!(
            doc.contains(&format!("`{}`", d.name)),
            "{} is not in docs/display-filter.md",
            d.name
        );
    }
}

/// The example of the issue, on its own words, in every language the
/// outputs share: one expression, the same messages in the report's model,
/// the NDJSON stream and the export.
#[test]
fn one_expression_same_messages_everywhere() {
    let expr = "websocket.opcode == 1 && websocket.payload.text contains \"odd-lot\" || tcp.srcport < 10000 && frame.number >= 40";
    let pred = Predicate::display(expr).expect("parses");
    let path = capture("deflate_takeover.pcap");
    let path = path.to_str().unwrap_or_default();
    // The model, filtered after the analysis (report text/JSON, stats, check, TUI).
    let mut a =
        wsinspect::pipeline::analyze_path(path, Limits::default(), &mut NullSink).expect("analyse");
    pred.apply(&mut a);
    let applied: BTreeSet<(u32, u64)> = a
        .connections
        .iter()
        .flat_map(|c| c.messages.iter().map(move |m| (c.id, m.first_packet.0)))
        .collect();
    // Streamed through the filter sink (NDJSON report, live).
    struct Keep(BTreeSet<(u32, u64)>);
    impl wsinspect::analysis::Consumer for Keep {
        fn event(&mut self, ev: wsinspect::analysis::Event<'_>) -> std::ops::ControlFlow<()> {
            if let wsinspect::analysis::Event::Message { conn, message, .. } = ev {
                self.0.insert((conn.id, message.first_packet.0));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut keep = Keep(BTreeSet::new());
    let mut sink = wsinspect::query::WhereSink::new(&mut keep, pred.clone());
    wsinspect::pipeline::analyze_path(path, Limits::default(), &mut sink).expect("analyse");
    // Exported (export --ndjson).
    let mut out = Vec::new();
    wsinspect::export::messages_to_ndjson(
        path,
        &Default::default(),
        Default::default(),
        Some(&pred),
        &mut out,
    )
    .expect("export");
    let exported: BTreeSet<(u32, u64)> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "message")
        .map(|v| {
            (
                v["conn"].as_u64().unwrap_or(0) as u32,
                v["first_packet"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(applied.len() > 5 && applied.len() < 40, "{}", applied.len());
    assert_eq!(keep.0, applied);
    assert_eq!(exported, applied);
}

/// The done-when of the issue, as users run it: one `-Y` expression selects
/// the same messages in `report` (JSON and NDJSON), `export`, `stats` and
/// the TUI's timeline.
#[test]
fn the_binary_selects_the_same_messages_in_every_subcommand() {
    const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");
    let expr =
        "tcp.stream in {3..5} and ws.dir == \"s2c\" and websocket.payload.text contains \"a\"";
    let path = capture("many_conns.pcap");
    let path = path.to_str().unwrap_or_default();
    let run = |args: &[&str]| -> String {
        let out = Command::new(BIN)
            .args(args)
            .output()
            .expect("wsinspect runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let key = |v: &serde_json::Value| {
        (
            v["conn"].as_u64().unwrap_or(0),
            v["first_packet"].as_u64().unwrap_or(0),
        )
    };
    let json: serde_json::Value =
        serde_json::from_str(&run(&["report", "-T", "json", "-Y", expr, path])).expect("json");
    let from_json: BTreeSet<(u64, u64)> = json["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            let id = c["id"].as_u64().unwrap_or(0);
            c["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |m| (id, m["first_packet"].as_u64().unwrap_or(0)))
        })
        .collect();
    let from_ndjson: BTreeSet<(u64, u64)> = run(&["report", "-T", "ndjson", "-Y", expr, path])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "message")
        .map(|v| {
            (
                v["conn"].as_u64().unwrap_or(0),
                v["message"]["first_packet"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let from_export: BTreeSet<(u64, u64)> = run(&["export", "--ndjson", "-", "-Y", expr, path])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "message")
        .map(|v| key(&v))
        .collect();
    let stats: serde_json::Value =
        serde_json::from_str(&run(&["stats", "-T", "json", "-Y", expr, path])).expect("stats");
    let counted = stats["c2s"]["messages"].as_u64().unwrap_or(99)
        + stats["s2c"]["messages"].as_u64().unwrap_or(99);
    // The TUI's timeline over every connection, with the same line typed in.
    let model =
        wsinspect::pipeline::analyze_path(path, Limits::default(), &mut NullSink).expect("analyse");
    let a = wsinspect::tui::source::Source::from_analysis(&model).expect("index");
    let mut app = wsinspect::tui::app::App::new(&a, (120, 40), false);
    app.update(wsinspect::tui::action::Action::ToggleAllConnections, &a);
    app.set_filter(&a, expr);
    let from_tui: BTreeSet<(u64, u64)> = app
        .visible_rows()
        .filter_map(|r| match r.event {
            wsinspect::tui::rows::EventRef::Message(i) => {
                let c = &model.connections[r.conn];
                Some((u64::from(c.id), c.messages[i].first_packet.0))
            }
            _ => None,
        })
        .collect();
    assert!(from_json.len() > 3, "{}", from_json.len());
    assert!(from_json.iter().all(|(c, _)| (4..=6).contains(c)));
    assert_eq!(from_ndjson, from_json);
    assert_eq!(from_export, from_json);
    assert_eq!(counted, from_json.len() as u64);
    assert_eq!(from_tui, from_json);
}

/// Application fields (issue 21) on OCPP 1.6J from python `ocpp` peers:
/// the messages a filter keeps are those whose records match, and the
/// records go with their messages.
#[test]
fn application_fields_select_messages_by_their_records() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/app/ocpp16.pcap");
    let run = |expr: &str| {
        let mut a = wsinspect::pipeline::analyze_path(
            path.to_str().unwrap(),
            Limits::default(),
            &mut NullSink,
        )
        .expect("analyse");
        Predicate::display(expr).expect("parses").apply(&mut a);
        let c = &a.connections[0];
        let kinds: Vec<String> = c
            .app_messages
            .iter()
            .map(|r| format!("{} {}", r.kind, r.name.as_deref().unwrap_or("")))
            .collect();
        (c.messages.len(), kinds)
    };
    let (n, kinds) = run("app.name == \"Heartbeat\"");
    assert_eq!(n, 4, "{kinds:?}");
    assert!(kinds.iter().all(|k| k.ends_with("Heartbeat")), "{kinds:?}");
    let (n, kinds) = run("app.error == 1");
    assert_eq!((n, kinds), (1, vec!["CALLERROR DataTransfer".to_string()]));
    let (n, _) = run("app.kind == \"CALL\"");
    assert_eq!(n, 8);
    let (n, kinds) = run("app.latency > 0.1");
    assert_eq!(n, 1, "{kinds:?}");
    let (n, _) = run("app && app.protocol == \"ocpp\"");
    assert_eq!(n, 16);
}
