//! The adversarial corpus (issue 17): real clients and servers of other
//! protocols (DNS over TCP, TLS, SSH, SMTP, IMAP, Redis, PostgreSQL,
//! MariaDB, MQTT, AMQP, Modbus/TCP, HTTP/1.1, WebDAV, HTTP/2, gRPC, a Docker-style
//! `Upgrade: tcp` stream) recorded on loopback by
//! `tools/gen-captures/adversarial/gen.py`, each whole and cut so that it
//! starts inside the stream, plus MQTT over WebSocket as the positive
//! control. The truth (`<capture>.expect.json`) comes from what the peers
//! did, not from wsinspect.
//!
//! Asserted for every capture, through the JSON form of the analysis (the
//! form users script against):
//! - no connection is WebSocket unless the truth says so, and a WebSocket
//!   connection is reported as one with its client and server;
//! - a connection that is not WebSocket carries no RFC 6455 violation;
//! - HTTP/1.x exchanges are exactly the ones the peers made (method, target,
//!   final status, in order), and none where there was none (an HTTP/2
//!   preface is not an HTTP/1 request);
//! - an HTTP upgrade to something other than WebSocket is reported as
//!   `"protocol": "upgraded"` with `"upgraded_to"` naming the token, and
//!   nothing claims an upgrade the capture does not show.

use serde_json::Value;
use std::path::{Path, PathBuf};
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/adversarial")
}

fn s(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// (method, target, status) of each exchange, in report order.
fn exchanges(conn: &Value) -> Vec<(String, String, Option<u64>)> {
    conn["http_exchanges"]
        .as_array()
        .map(|xs| {
            xs.iter()
                .map(|x| (s(&x["method"]), s(&x["target"]), x["status"].as_u64()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every way the report departs from the truth for one capture.
fn mismatches(name: &str) -> Vec<String> {
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join(format!("{name}.expect.json"))).unwrap(),
    )
    .unwrap();
    let capture = dir().join(s(&truth["capture"]));
    let analysis =
        pipeline::analyze_path(capture.to_str().unwrap(), Limits::default(), &mut NullSink)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    let report = serde_json::to_value(&analysis).unwrap();
    let have = report["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let want = truth["connections"].as_array().unwrap();
    let mut errs = Vec::new();

    for h in &have {
        let (hc, hs) = (s(&h["client"]), s(&h["server"]));
        let at = format!("{hc} -> {hs} (first packet {})", h["first_packet"]);
        let Some(w) = want.iter().find(|w| {
            let (wc, ws) = (s(&w["client"]), s(&w["server"]));
            (wc == hc && ws == hs) || (wc == hs && ws == hc)
        }) else {
            errs.push(format!("{at}: reported, but no such TCP connection"));
            continue;
        };
        let websocket = w["websocket"].as_bool().unwrap();
        let app = s(&w["app"]);
        if !websocket && (h["is_websocket"] == true || h["protocol"] == "websocket") {
            errs.push(format!("{at}: {app} reported as WebSocket"));
        }
        let frames = ["c2s", "s2c"].map(|d| h["stats"][d]["frames"].as_u64().unwrap_or(0));
        if !websocket && frames != [0, 0] {
            errs.push(format!(
                "{at}: {frames:?} WebSocket frames decoded in {app}"
            ));
        }
        let violations = h["violations"].as_array().map_or(0, Vec::len);
        if !websocket && violations > 0 {
            errs.push(format!(
                "{at}: {violations} WebSocket violation(s) on {app}, first: {}",
                h["violations"][0]
            ));
        }
    }

    // The text report never says a connection both opened with a captured
    // SYN and was picked up mid-stream.
    let mut text = Vec::new();
    wsinspect::report::text::write(&analysis, &mut text).unwrap();
    for block in String::from_utf8(text).unwrap().split("\nConnection ") {
        if block.contains("TCP SYN (connection opened)") && block.contains("mid-stream") {
            errs.push(format!(
                "text report: both a captured SYN and mid-stream: {block}"
            ));
        }
    }

    for w in want {
        let (wc, ws) = (s(&w["client"]), s(&w["server"]));
        let app = s(&w["app"]);
        let at = format!("{wc} -> {ws} ({app})");
        let h = have
            .iter()
            .find(|h| s(&h["client"]) == wc && s(&h["server"]) == ws);
        if w["websocket"] == true {
            match h {
                Some(h) if h["is_websocket"] == true && h["protocol"] == "websocket" => {}
                Some(h) => errs.push(format!(
                    "{at}: WebSocket reported as {} (is_websocket {})",
                    h["protocol"], h["is_websocket"]
                )),
                None => errs.push(format!("{at}: WebSocket connection not reported")),
            }
        }
        let want_x: Vec<_> = exchanges(w);
        let have_x = h.map(exchanges).unwrap_or_default();
        // HTTP/2 recognised (issue 20): its streams are exchanges too; the
        // HTTP/1.1 ones the peers sent (an h2c upgrade) must be among them.
        let h2 = h.is_some_and(|h| h["protocol"] == "http2");
        if h2 && !(app.starts_with("http2") || app == "grpc") {
            errs.push(format!("{at}: reported as HTTP/2"));
        }
        if h2 {
            if let Some(x) = want_x.iter().find(|x| !have_x.contains(x)) {
                errs.push(format!(
                    "{at}: HTTP/1.1 exchange {x:?} missing from {have_x:?}"
                ));
            }
        } else if want_x != have_x {
            errs.push(format!(
                "{at}: HTTP exchanges\n      want {want_x:?}\n      have {have_x:?}"
            ));
        }
        let have_up = h.map(|h| (h["protocol"].clone(), h["upgraded_to"].clone()));
        match (w.get("upgraded_to"), have_up) {
            (Some(up), Some((p, t))) if (p == "upgraded" || p == "http2") && &t == up => {}
            (None, Some((p, t))) if p == "http2" && t.is_null() => {}
            (Some(up), got) => errs.push(format!(
                "{at}: want protocol \"upgraded\", upgraded_to {up}; have {got:?}"
            )),
            (None, Some((p, t))) if p == "upgraded" || !t.is_null() => errs.push(format!(
                "{at}: no upgrade in this capture, but protocol {p}, upgraded_to {t}"
            )),
            (None, _) => {}
        }
    }
    errs
}

fn check(name: &str) {
    let errs = mismatches(name);
    assert!(
        errs.is_empty(),
        "{name}: {} mismatch(es) with the peers' truth:\n  {}",
        errs.len(),
        errs.join("\n  ")
    );
}

macro_rules! captures {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { check(stringify!($name)); })*
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

captures! {
    amqp, amqp_mid,
    dns_tcp, dns_tcp_mid,
    grpc, grpc_mid,
    h2c_prior, h2c_prior_mid,
    h2c_upgrade, h2c_upgrade_mid,
    http1, http1_mid,
    imap, imap_mid,
    mariadb, mariadb_mid,
    modbus, modbus_mid,
    mqtt, mqtt_mid,
    mqtt_ws, mqtt_ws_mid,
    postgres, postgres_mid,
    redis, redis_mid,
    smtp, smtp_mid,
    ssh, ssh_mid,
    tls, tls_mid,
    upgrade_tcp, upgrade_tcp_mid,
    webdav, webdav_mid,
}

/// A capture added to the directory without a test here would be silently
/// skipped; one listed here without its files fails its own test.
#[test]
fn every_capture_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".expect.json").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The truth files themselves: every capture they name exists, every
/// connection has both endpoints, an application and a WebSocket verdict,
/// and the corpus holds both negatives and the positive control.
#[test]
fn truth_files_are_complete() {
    let mut positives = 0;
    for name in NAMES {
        let t: Value = serde_json::from_str(
            &std::fs::read_to_string(dir().join(format!("{name}.expect.json"))).unwrap(),
        )
        .unwrap();
        assert!(dir().join(s(&t["capture"])).is_file(), "{name}");
        let conns = t["connections"].as_array().unwrap();
        assert!(!conns.is_empty(), "{name}");
        for c in conns {
            for k in ["client", "server", "app"] {
                assert!(c[k].is_string(), "{name}: {k}");
            }
            assert!(c["syn_captured"].is_boolean(), "{name}");
            positives += usize::from(c["websocket"].as_bool().expect("websocket verdict"));
        }
    }
    assert!(positives >= 2 && NAMES.len() >= 30);
}
