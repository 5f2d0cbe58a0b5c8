//! The NDJSON stream and the JSON model tell the same story (issue 18):
//! every violation and anomaly of the model is also an event of its own in
//! the stream, with the same packet and time, and every message the model
//! keeps was streamed. That includes what is only found when a connection
//! is settled at its end (held bytes replayed, a stream judged at its
//! close), which used to reach the model but not the stream.

mod support;
use support as common;

use common::{Conv, link_frame, pcap, upgrade_request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use wsinspect::capture::LinkType;
use wsinspect::capture::writer::Endian;

fn report(format: &str, capture: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsinspect"));
    cmd.args(["report", "--format", format]);
    let keylog = capture.with_extension("keylog");
    if keylog.is_file() {
        cmd.arg("--keylog").arg(keylog);
    }
    let out = cmd.arg(capture).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `(connection, kind, packet, ts_ns)` of every finding, and messages per
/// connection, as the JSON model has them.
type Findings = BTreeMap<(Rec, String, String, u64, String), usize>;

/// A record: connection id, and the HTTP/2 stream of an RFC 8441
/// session (0 for a connection).
type Rec = (u64, u64);

fn add(found: &mut Findings, conn: Rec, what: &str, f: &Value) {
    let key = (
        conn,
        what.to_string(),
        f["kind"].as_str().unwrap().to_string(),
        f["packet"].as_u64().unwrap(),
        f["ts_ns"].as_str().unwrap().to_string(),
    );
    *found.entry(key).or_default() += 1;
}

fn from_model(json: &str) -> (Findings, BTreeMap<Rec, usize>) {
    let v: Value = serde_json::from_str(json).unwrap();
    let (mut found, mut messages) = (Findings::new(), BTreeMap::new());
    for c in v["connections"].as_array().unwrap() {
        let id = (
            c["id"].as_u64().unwrap(),
            c["stream_id"].as_u64().unwrap_or(0),
        );
        for f in c["violation_details"].as_array().unwrap() {
            add(&mut found, id, "violation", f);
        }
        for f in c["anomalies"].as_array().unwrap() {
            add(&mut found, id, "anomaly", f);
        }
        messages.insert(id, c["messages"].as_array().unwrap().len());
    }
    (found, messages)
}

fn from_stream(ndjson: &str) -> (Findings, BTreeMap<Rec, usize>) {
    let (mut found, mut messages) = (Findings::new(), BTreeMap::new());
    for line in ndjson.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let conn = (
            v["conn"].as_u64().unwrap_or(0),
            v["stream_id"].as_u64().unwrap_or(0),
        );
        match v["event"].as_str().unwrap() {
            "violation" => add(&mut found, conn, "violation", &v["violation"]),
            "anomaly" => add(&mut found, conn, "anomaly", &v["anomaly"]),
            "message" => *messages.entry(conn).or_default() += 1,
            // Reported connections only, as the model lists them.
            "connection_end" => {
                messages.entry(conn).or_default();
            }
            _ => {}
        }
    }
    (found, messages)
}

fn assert_agree(capture: &Path) {
    let (model, model_msgs) = from_model(&report("json", capture));
    let (stream, stream_msgs) = from_stream(&report("ndjson", capture));
    let name = capture.display();
    let missing: Vec<_> = model.keys().filter(|k| !stream.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{name}: not streamed: {missing:?}");
    for (k, n) in &model {
        assert_eq!(stream.get(k), Some(n), "{name}: {k:?}");
    }
    for (conn, n) in &model_msgs {
        assert_eq!(
            stream_msgs.get(conn),
            Some(n),
            "{name}: messages of connection {conn:?}"
        );
    }
}

#[test]
fn on_every_capture() {
    let all = common::all_captures();
    assert!(all.len() > 50, "{} captures", all.len());
    for c in all {
        assert_agree(&c);
    }
}

/// An upgrade request whose answer never comes, with bytes the client sent
/// after it: they are held until the end, then read as HTTP, and what that
/// finds is streamed like any other finding.
#[test]
fn what_settling_finds_is_streamed() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.handshake();
    conv.c2s(&upgrade_request("/chat"));
    conv.c2s(b"not a request line\r\n\r\n");
    conv.close();
    let frames: Vec<_> = conv
        .packets
        .iter()
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unanswered.pcap");
    std::fs::write(
        &path,
        pcap(LinkType::Ethernet, &frames, Endian::Little, false),
    )
    .unwrap();
    let (model, _) = from_model(&report("json", &path));
    assert!(
        !model.is_empty(),
        "settling the connection finds the bytes after the request"
    );
    assert_agree(&path);
}
