//! Real captures recorded by `tools/gen-captures/ws_exact.py` (python
//! `websockets` and node `ws` on loopback, tcpdump; mid-stream and lossy
//! copies cut with editcap), checked against what the peers logged sending:
//! permessage-deflate with context takeover picked up mid-stream or after
//! loss is decoded byte-exact or marked undecodable, never guessed, and
//! decoding resumes once a whole window of known output has passed; without
//! context takeover it decodes at once; a peer that never answers a ping
//! although it answered the close after it breaks RFC 6455 §5.5.2.

use serde_json::Value;
use std::path::Path;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::model::Connection;
use wsinspect::model::finding::{AnomalyKind, ViolationKind};
use wsinspect::pipeline;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/ws_exact")
}

/// The truth file of `name`, with the messages of the capture it was cut
/// from when it is a derived copy.
fn truth(name: &str) -> Value {
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir().join(f)).unwrap()).unwrap()
    };
    let mut t = read(&format!("{name}.truth.json"));
    if let Some(src) = t["messages_in"].as_str() {
        t["messages"] = read(src)["messages"].clone();
    }
    t
}

fn connection(name: &str) -> Connection {
    let a = pipeline::analyze_path(
        dir().join(format!("{name}.pcap")).to_str().unwrap(),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap();
    assert_eq!(a.connections.len(), 1, "{name}");
    a.connections.into_iter().next().unwrap()
}

/// What the deflate checks found in one direction.
#[derive(Debug, Default)]
struct Tally {
    exact: usize,
    undecodable: usize,
    /// Exact messages after the last undecodable one.
    exact_after_last_undecodable: usize,
}

/// Every message of `dir` is byte-exact (its digest is one the peer sent,
/// in order) or marked undecodable (no text, no digest, an anomaly), and
/// a message that follows `2^window_bits` bytes of exact messages is exact.
fn check_deflate_dir(name: &str, c: &Connection, t: &Value, dir: &str) -> Tally {
    let sent = t["messages"][dir].as_array().unwrap();
    let bits = t["window_bits"][dir].as_u64().unwrap();
    let window = 1u64 << bits;
    let mut next = 0; // index in `sent` after the last match
    let mut known_run = 0u64;
    let mut tally = Tally::default();
    // Where editcap removed packets (numbered as in the copy): the history
    // is incomplete again from there.
    let mut holes: Vec<u64> = Vec::new();
    if let Some(keep) = t["editcap_keep"].as_array().filter(|k| k.len() > 1) {
        let mut kept = 0;
        for r in &keep[..keep.len() - 1] {
            let (a, b) = r.as_str().unwrap().split_once('-').unwrap();
            kept += b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1;
            holes.push(kept + 1);
        }
    }
    let mut last_first = 0;
    for (i, m) in c
        .messages
        .iter()
        .filter(|m| m.dir.as_str() == dir)
        .enumerate()
    {
        let at = format!(
            "{name} {dir} message {i} (packets {}-{})",
            m.first_packet, m.last_packet
        );
        assert!(m.compressed, "{at}");
        let json = serde_json::to_value(m).unwrap();
        if holes
            .iter()
            .any(|&h| last_first < h && m.first_packet.0 >= h)
        {
            known_run = 0;
        }
        last_first = m.first_packet.0;
        if m.complete {
            let sha = m
                .sha256
                .expect("complete messages have a digest")
                .to_string();
            let j = sent[next..]
                .iter()
                .position(|s| s["sha256"].as_str() == Some(sha.as_str()))
                .unwrap_or_else(|| panic!("{at}: digest {sha} was never sent (or out of order)"));
            next += j + 1;
            assert_eq!(
                m.payload_len,
                sent[next - 1]["payload_len"].as_u64(),
                "{at}"
            );
            assert!(m.text.is_some(), "{at}");
            assert!(json.get("undecodable").is_none(), "{at}");
            known_run += m.payload_len.unwrap();
            tally.exact += 1;
            tally.exact_after_last_undecodable += 1;
        } else if let Some(why) = &m.undecodable {
            assert!(
                known_run < window,
                "{at}: undecodable after {known_run} exact bytes, a whole 2^{bits} window"
            );
            assert!(m.text.is_none() && m.sha256.is_none(), "{at}");
            assert_eq!(json["sha256"], Value::Null, "{at}");
            assert!(json.get("text").is_none_or(Value::is_null), "{at}");
            assert_eq!(json["undecodable"].as_str(), Some(why.as_str()), "{at}");
            assert!(
                c.anomalies
                    .iter()
                    .any(|a| a.kind == AnomalyKind::Undecodable
                        && a.packet >= m.first_packet
                        && a.packet <= m.last_packet),
                "{at}: no undecodable anomaly"
            );
            // Its length is exact even though its bytes are not known.
            if let Some(len) = m.payload_len {
                assert!(
                    sent[next..]
                        .iter()
                        .any(|s| s["payload_len"].as_u64() == Some(len)),
                    "{at}: length {len} was never sent"
                );
            }
            known_run = 0;
            tally.undecodable += 1;
            tally.exact_after_last_undecodable = 0;
        } else {
            // Cut by the capture itself (its first frames were not captured).
            assert!(m.text.is_none() && m.sha256.is_none(), "{at}");
            known_run = 0;
        }
    }
    tally
}

fn deflate_connection(name: &str) -> (Connection, Value) {
    let c = connection(name);
    let t = truth(name);
    assert!(c.is_websocket, "{name}");
    assert!(
        c.violation_details.is_empty(),
        "{name}: {:?}",
        c.violation_details
    );
    assert!(
        c.server
            .to_string()
            .ends_with(&format!(":{}", t["server_port"])),
        "{name}"
    );
    (c, t)
}

/// With the handshake and every packet, every message is exact and all of
/// them are there.
#[test]
fn whole_captures_are_exact() {
    for name in ["takeover", "no_takeover"] {
        let (c, t) = deflate_connection(name);
        for dir in ["c2s", "s2c"] {
            let tally = check_deflate_dir(name, &c, &t, dir);
            assert_eq!(tally.undecodable, 0, "{name} {dir}");
            assert_eq!(
                tally.exact,
                t["messages"][dir].as_array().unwrap().len(),
                "{name} {dir}"
            );
        }
    }
}

/// Context takeover picked up mid-stream: the first messages copy history
/// sent before the capture and are undecodable; after the 40 kB of fresh
/// text the client sent (message 150, echoed), decoding resumes in both
/// directions, and every message to the end is exact.
#[test]
fn takeover_mid_stream_is_exact_or_undecodable() {
    let (c, t) = deflate_connection("takeover_midstream");
    assert!(!c.handshake.seen);
    for dir in ["c2s", "s2c"] {
        let tally = check_deflate_dir("takeover_midstream", &c, &t, dir);
        assert!(tally.undecodable > 0, "{dir}: {tally:?}");
        assert!(
            tally.exact_after_last_undecodable >= 100,
            "{dir}: {tally:?}"
        );
        assert!(
            c.anomalies
                .iter()
                .filter(|a| a.kind == AnomalyKind::Undecodable)
                .all(|a| a.detail.contains("before the capture began")),
        );
    }
}

/// Packets lost inside a compressed connection whose handshake was
/// captured: messages before the loss are exact, later ones exact or
/// undecodable ("lost in a gap"), and decoding resumes.
#[test]
fn takeover_after_loss_is_exact_or_undecodable() {
    let (c, t) = deflate_connection("takeover_loss");
    assert!(c.handshake.seen);
    let mut undecodable = 0;
    for dir in ["c2s", "s2c"] {
        let tally = check_deflate_dir("takeover_loss", &c, &t, dir);
        undecodable += tally.undecodable;
        assert!(
            tally.exact_after_last_undecodable >= 100,
            "{dir}: {tally:?}"
        );
    }
    assert!(undecodable > 0);
    assert!(
        c.anomalies
            .iter()
            .filter(|a| a.kind == AnomalyKind::Undecodable)
            .all(|a| a.detail.contains("lost in a gap"))
    );
}

/// `client_no_context_takeover` and `server_no_context_takeover`: every
/// message starts with an empty window, so a mid-stream pickup decodes
/// every whole message at once.
#[test]
fn no_takeover_mid_stream_decodes_at_once() {
    let (c, t) = deflate_connection("no_takeover_midstream");
    assert!(!c.handshake.seen);
    for dir in ["c2s", "s2c"] {
        let tally = check_deflate_dir("no_takeover_midstream", &c, &t, dir);
        assert_eq!(tally.undecodable, 0, "{dir}");
        assert!(tally.exact >= 35, "{dir}: {tally:?}");
    }
}

/// node `ws` with `autoPong: false` never answers the client's ping although
/// it echoed the messages after it and answered the close: one
/// `unanswered_ping` by the server, at its close frame. The server's own
/// ping, answered by python websockets, raises nothing.
#[test]
fn ignored_ping_is_a_violation_of_the_peer_only() {
    let c = connection("ignored_ping");
    let t = truth("ignored_ping");
    for dir in ["c2s", "s2c"] {
        let sent = t["messages"][dir].as_array().unwrap();
        let have: Vec<_> = c
            .messages
            .iter()
            .filter(|m| m.dir.as_str() == dir)
            .collect();
        assert_eq!(have.len(), sent.len());
        for (h, w) in have.iter().zip(sent) {
            assert_eq!(
                h.sha256.map(|d| d.to_string()).as_deref(),
                w["sha256"].as_str()
            );
        }
    }
    let kinds: Vec<_> = c
        .violation_details
        .iter()
        .map(|v| (v.kind, v.dir.map(|d| d.as_str())))
        .collect();
    assert_eq!(kinds, [(ViolationKind::UnansweredPing, Some("s2c"))]);
    let v = &c.violation_details[0];
    let server_close = c
        .control
        .iter()
        .find(|f| f.dir.as_str() == "s2c" && f.opcode.name() == "close")
        .unwrap();
    assert_eq!(v.packet, server_close.packet);
    assert_eq!(v.kind.rfc(), "RFC 6455 §5.5.2");
    let ping = c
        .control
        .iter()
        .find(|f| f.dir.as_str() == "c2s" && f.opcode.name() == "ping")
        .unwrap();
    assert!(v.detail.contains(&format!("packet {}", ping.packet)));
}

/// The answered pings of the shared samples raise nothing.
#[test]
fn answered_pings_raise_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    for name in ["ping_pong.pcap", "seed_echo.pcapng", "node_ws_echo.pcapng"] {
        let a = pipeline::analyze_path(
            root.join(name).to_str().unwrap(),
            Limits::default(),
            &mut NullSink,
        )
        .unwrap();
        for c in &a.connections {
            assert!(
                c.violation_details
                    .iter()
                    .all(|v| v.kind != ViolationKind::UnansweredPing),
                "{name}"
            );
        }
    }
}
