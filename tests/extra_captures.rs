//! Real captures recorded by `tools/gen-captures/gen.py` (python websockets
//! on loopback, tcpdump) checked against what the peers themselves logged
//! sending: traffic shapes the shared samples lack (messages fragmented and
//! compressed across fragments, small deflate windows, a 200 kB text,
//! server push, custom close codes, TCP keep-alive probes on an idle
//! connection).

use serde_json::Value;
use std::path::Path;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline;

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/extra");
    let expect: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.expect.json"))).unwrap(),
    )
    .unwrap();
    let a = pipeline::analyze_path(
        dir.join(format!("{name}.pcap")).to_str().unwrap(),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap();
    assert_eq!(a.connections.len(), 1);
    let c = &a.connections[0];
    assert!(
        c.is_websocket && c.violations.is_empty(),
        "{:?}",
        c.violations
    );
    assert_eq!(c.handshake.accept_valid, Some(true));
    assert_eq!(
        c.handshake.request_target.as_deref(),
        expect["request_target"].as_str()
    );
    assert!(
        c.server
            .to_string()
            .ends_with(&format!(":{}", expect["server_port"]))
    );
    for dir in ["c2s", "s2c"] {
        let want = expect["messages"][dir].as_array().unwrap();
        let have: Vec<_> = c
            .messages
            .iter()
            .filter(|m| m.dir.as_str() == dir)
            .collect();
        assert_eq!(have.len(), want.len(), "{name} {dir}");
        for (i, (w, h)) in want.iter().zip(&have).enumerate() {
            let at = format!("{name} {dir} #{i}");
            assert_eq!(h.opcode.name(), w["opcode"].as_str().unwrap(), "{at}");
            assert_eq!(h.payload_len, w["payload_len"].as_u64(), "{at}");
            let digest = h.sha256.map(|d| d.to_string());
            assert_eq!(digest.as_deref(), w["sha256"].as_str(), "{at}");
            assert_eq!(u64::from(h.frames), w["frames"].as_u64().unwrap(), "{at}");
        }
    }
    let close = c
        .control
        .iter()
        .find(|f| f.opcode.name() == "close")
        .expect("a close frame");
    assert_eq!(
        close.close_code,
        expect["close_code"].as_u64().map(|c| c as u16)
    );
    assert_eq!(
        close.close_reason.as_deref(),
        expect["close_reason"].as_str()
    );
    // Wireshark's tcp.analysis counts, recorded by the generator with tshark.
    if let Some(tcp) = expect.get("tcp") {
        for (dir, st) in [("c2s", &c.stats.c2s), ("s2c", &c.stats.s2c)] {
            let want = |f: &str| tcp[format!("{f}_{dir}")].as_u64().unwrap();
            assert_eq!(st.keep_alives, want("keep_alives"), "{name} {dir}");
            assert_eq!(st.keep_alive_acks, want("keep_alive_acks"), "{name} {dir}");
            assert_eq!(st.retransmissions, want("retransmissions"), "{name} {dir}");
        }
    }
}

#[test]
fn python_fragmented_deflate_small_windows() {
    check("py_fragmented_deflate");
}

#[test]
fn python_server_push_then_server_close() {
    check("py_server_push");
}

/// An idle WebSocket whose client socket has SO_KEEPALIVE with 1 s timers:
/// three zero-byte probes (seq = next − 1) and their ACKs, counted as
/// keep-alives as Wireshark does, and no retransmission.
#[test]
fn python_idle_with_tcp_keepalive() {
    check("py_keepalive");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/extra");
    let a = pipeline::analyze_path(
        dir.join("py_keepalive.pcap").to_str().unwrap(),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap();
    let mut text = Vec::new();
    wsinspect::report::text::write(&a, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("; 3 TCP keep-alive probes (3 answered)") && !text.contains("retransmission"),
        "{text}"
    );
}
