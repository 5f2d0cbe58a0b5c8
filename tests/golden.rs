//! Golden tests: every sample capture in `captures/` is analysed and its
//! JSON report compared with the capture's ground truth (`*.truth.json`),
//! field by field, as `shared/tools/score-against-truth` does: connections
//! matched by endpoints in order of first packet, messages and control
//! frames per direction in order, texts on their first 80 characters.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline;
use wsinspect::tls::KeyLog;

const CONN: &[&str] = &[
    "is_websocket",
    "close_initiator",
    "tcp_end",
    "packets",
    "first_packet",
    "last_packet",
];
const HANDSHAKE: &[&str] = &[
    "seen",
    "request_target",
    "sec_websocket_key",
    "status",
    "sec_websocket_accept",
    "accept_valid",
    "subprotocol",
    "extensions",
    "offered_subprotocols",
    "offered_extensions",
    "request_complete",
    "response_complete",
];
const MESSAGE: &[&str] = &[
    "opcode",
    "frames",
    "compressed",
    "payload_len",
    "sha256",
    "text",
    "wire_payload_len",
    "first_packet",
    "last_packet",
    "captured_prefix_hex",
    "utf8_valid",
];
const CONTROL: &[&str] = &[
    "opcode",
    "payload_len",
    "close_code",
    "close_reason",
    "packet",
];
const HTTP: &[&str] = &[
    "method",
    "target",
    "upgrade",
    "status",
    "request_complete",
    "response_complete",
];
const TOP: &[&str] = &["format", "link_type", "link_type_dlt", "packet_count"];

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn norm(key: &str, v: &Value) -> Value {
    match (key, v) {
        ("text", Value::String(s)) => Value::String(s.chars().take(80).collect()),
        ("extensions" | "offered_extensions", Value::String(s)) => Value::String(
            s.split([';', ','])
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(";")
                .to_lowercase(),
        ),
        _ => v.clone(),
    }
}

fn cmp(errs: &mut Vec<String>, at: &str, keys: &[&str], want: &Value, have: &Value) {
    for k in keys {
        if let Some(w) = want.get(k) {
            let h = have.get(k).unwrap_or(&Value::Null);
            if norm(k, w) != norm(k, h) {
                errs.push(format!("{at}.{k}: want {w}, have {h}"));
            }
        }
    }
}

fn cmp_list(errs: &mut Vec<String>, at: &str, keys: &[&str], want: &Value, have: &Value) {
    let empty = vec![];
    let (w, h) = (
        want.as_array().unwrap_or(&empty),
        have.as_array().unwrap_or(&empty),
    );
    for dir in ["c2s", "s2c"] {
        let wd: Vec<&Value> = w.iter().filter(|x| x["dir"] == dir).collect();
        let hd: Vec<&Value> = h.iter().filter(|x| x["dir"] == dir).collect();
        if wd.len() != hd.len() {
            errs.push(format!(
                "{at}[{dir}]: want {} items, have {}",
                wd.len(),
                hd.len()
            ));
        }
        for (i, (a, b)) in wd.iter().zip(&hd).enumerate() {
            cmp(errs, &format!("{at}[{dir}#{}]", i + 1), keys, a, b);
        }
    }
}

/// Compares a report with a truth file; returns the mismatches.
fn compare(truth: &Value, report: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    cmp(&mut errs, "capture", TOP, truth, report);
    let have = report["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let want = truth["connections"].as_array().cloned().unwrap_or_default();
    if have.len() != want.len() {
        errs.push(format!(
            "connections: want {}, have {}",
            want.len(),
            have.len()
        ));
    }
    let mut used = vec![false; have.len()];
    for c in &want {
        let tag = format!("{}->{}", c["client"], c["server"]);
        let Some(j) = (0..have.len()).find(|&j| {
            !used[j] && have[j]["client"] == c["client"] && have[j]["server"] == c["server"]
        }) else {
            errs.push(format!("{tag}: connection missing"));
            continue;
        };
        used[j] = true;
        let h = &have[j];
        cmp(&mut errs, &tag, CONN, c, h);
        cmp(
            &mut errs,
            &format!("{tag}.handshake"),
            HANDSHAKE,
            &c["handshake"],
            &h["handshake"],
        );
        cmp(
            &mut errs,
            &format!("{tag}.tcp_detail"),
            &[
                "fin_c2s",
                "fin_s2c",
                "rst_from_client",
                "rst_from_server",
                "first_fin_from",
            ],
            &c["tcp_detail"],
            &h["tcp_detail"],
        );
        let flagged = |v: &Value| v["violations"].as_array().is_some_and(|a| !a.is_empty());
        if flagged(c) != flagged(h) {
            errs.push(format!(
                "{tag}.violations: want {}, have {}",
                c["violations"], h["violations"]
            ));
        }
        if let Some(tls) = c.get("tls") {
            cmp(
                &mut errs,
                &format!("{tag}.tls"),
                &["version", "cipher_suite", "decrypted", "sni", "alpn"],
                tls,
                &h["tls"],
            );
        }
        cmp_list(
            &mut errs,
            &format!("{tag}.messages"),
            MESSAGE,
            &c["messages"],
            &h["messages"],
        );
        cmp_list(
            &mut errs,
            &format!("{tag}.control"),
            CONTROL,
            &c["control"],
            &h["control"],
        );
        if let Some(xs) = c["http_exchanges"].as_array() {
            for (i, x) in xs.iter().enumerate() {
                cmp(
                    &mut errs,
                    &format!("{tag}.http[{i}]"),
                    HTTP,
                    x,
                    &h["http_exchanges"][i],
                );
            }
        }
    }
    errs
}

fn check_capture(name: &str) {
    let dir = captures_dir();
    let truth_path = dir.join(format!("{name}.truth.json"));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
    let capture = dir.join(truth["capture"].as_str().unwrap());
    let mut opts = pipeline::Options::with_limits(Limits::default());
    if let Some(keylog) = truth["keylog"].as_str() {
        let text = std::fs::read_to_string(dir.join(keylog)).unwrap();
        let (keys, errors) = KeyLog::parse(&text);
        assert!(errors.is_empty(), "{errors:?}");
        opts.keylog = Some(Arc::new(keys));
    }
    let analysis =
        pipeline::analyze_path_with(capture.to_str().unwrap(), &opts, &mut NullSink).unwrap();
    let report = serde_json::to_value(&analysis).unwrap();
    let errs = compare(&truth, &report);
    assert!(
        errs.is_empty(),
        "{name}: {} mismatches:\n{}",
        errs.len(),
        errs.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_capture(stringify!($name));
            }
        )*
    };
}

golden!(
    seed_echo,
    seed_echo_binary_stop,
    sizes_py,
    fragmented_node,
    ping_pong,
    close_codes,
    deflate_takeover,
    deflate_no_takeover,
    subprotocol,
    upgrade_rejected,
    many_conns,
    flv_stream,
    lossy_netns,
    midstream,
    truncated_snaplen,
    ipv6_sll,
    node_ws_echo,
    wss_tls13,
    wss_tls12,
);

/// Every truth file in captures/ is covered by a test above.
#[test]
fn every_sample_capture_has_a_golden_test() {
    let covered = include_str!("golden.rs");
    for entry in std::fs::read_dir(captures_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".truth.json") {
            assert!(
                covered.contains(&format!("    {stem},")),
                "no golden test for {stem}"
            );
        }
    }
}

/// The comparison itself catches a wrong report (it is not vacuous).
#[test]
fn comparison_detects_differences() {
    let dir = captures_dir();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("seed_echo.truth.json")).unwrap())
            .unwrap();
    let analysis = pipeline::analyze_path(
        dir.join("seed_echo.pcapng").to_str().unwrap(),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap();
    let mut report = serde_json::to_value(&analysis).unwrap();
    assert!(compare(&truth, &report).is_empty());
    report["connections"][0]["messages"][1]["last_packet"] = Value::from(10);
    report["connections"][0]["handshake"]["accept_valid"] = Value::from(false);
    let errs = compare(&truth, &report);
    assert_eq!(errs.len(), 2, "{errs:?}");
}
