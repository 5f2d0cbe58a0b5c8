//! The text report's times, numbering and wording, on captures built in
//! the test: each finding printed at its own packet's time, connection
//! numbers that match the JSON report and add up, singular and plural.

mod support;
use support as common;

use common::*;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::writer::Endian;
use wsinspect::capture::{LinkType, Timestamp};
use wsinspect::model::Analysis;
use wsinspect::pipeline::analyze_reader;
use wsinspect::ws::frame::Opcode;

fn analyze(packets: &[Vec<u8>]) -> Analysis {
    let frames: Vec<_> = packets
        .iter()
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    let bytes = pcap(LinkType::Ethernet, &frames, Endian::Little, false);
    analyze_reader(
        "test",
        std::io::Cursor::new(bytes),
        Limits::default(),
        &mut NullSink,
    )
    .expect("analysis")
}

fn text(a: &Analysis) -> String {
    let mut out = Vec::new();
    wsinspect::report::text::write(a, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// A violation raised by a packet that carries nothing else on the
/// timeline (the header of an unmasked client frame whose payload ends in
/// the next packet) is printed at that packet's time, not at the time of
/// the line before it (the 101, one millisecond earlier).
#[test]
fn a_violation_prints_the_time_of_its_own_packet() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    c.handshake(); // packets 1–3
    c.c2s(&upgrade_request("/t")); // 4
    c.s2c(&upgrade_response()); // 5
    let unmasked = frame(Opcode::Text, true, b"hello, unmasked", None);
    c.c2s(&unmasked[..4]); // 6: the header, and the violation
    c.c2s(&unmasked[4..]); // 7: the message ends
    let a = analyze(&c.packets);
    let conn = &a.connections[0];
    let v = &conn.violation_details[0];
    assert_eq!(v.packet.0, 6);
    // Packet 6 was written with `ts(5)`; the pcap keeps microseconds.
    assert_eq!(v.ts, Timestamp::from_parts(1_700_000_000, 5_000_000));
    let report = text(&a);
    let line = report
        .lines()
        .find(|l| l.contains("VIOLATION"))
        .expect("a violation line");
    assert!(
        line.starts_with("  #6      + 0.005000s  → VIOLATION (RFC 6455 §5.1)"),
        "{report}"
    );
    // The JSON report carries the same time.
    let json = serde_json::to_value(&a).unwrap();
    let t = json["connections"][0]["violation_details"][0]["ts"]
        .as_f64()
        .unwrap();
    assert!((t - (1_700_000_000.005)).abs() < 1e-6, "{t}");
}

/// Connection numbers count every TCP connection in order of first packet
/// (the JSON report's `id`); the summary says how many there were, so a
/// report of "Connection 2" alone adds up.
#[test]
fn connection_numbers_are_the_json_ids_and_add_up() {
    let mut ssh = Conv::new("10.0.0.1:40001", "10.0.0.2:22", 77, 99);
    ssh.handshake();
    ssh.s2c(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    ssh.c2s(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    ssh.close();
    let ws = Conv::standard("10.0.0.1:40002", "10.0.0.2:80", 1000, 5000);
    let packets: Vec<_> = ssh.packets.iter().chain(&ws.packets).cloned().collect();
    let a = analyze(&packets);
    assert_eq!(a.connections.len(), 1);
    assert_eq!(a.connections[0].id, 2);
    let report = text(&a);
    let mut lines = report.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "test (pcap, Ethernet): {} packets, 1 of 2 TCP connections reported (HTTP, WebSocket or TLS), 1 WebSocket, 2 messages, 0 violations",
            packets.len()
        )
    );
    assert_eq!(
        lines.next().unwrap(),
        "  (connections are numbered 1–2 in order of first packet, as in the JSON report; the 1 other not shown carried no HTTP, WebSocket or TLS)"
    );
    assert!(report.contains("\nConnection 2: 10.0.0.1:40002 → 10.0.0.2:80 (WebSocket)"));
}

/// One of a thing is singular everywhere in the report.
#[test]
fn one_is_singular() {
    let c = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    let a = analyze(&c.packets);
    let report = text(&a);
    assert!(
        report.starts_with(
            "test (pcap, Ethernet): 12 packets, 1 connection (HTTP, WebSocket or TLS), 1 WebSocket, 2 messages, 0 violations\n"
        ),
        "{report}"
    );
    assert!(
        report.contains("  → 1 message (5 bytes), ← 1 message (5 bytes)\n"),
        "{report}"
    );
    for wrong in [
        "(s)",
        " 1 messages",
        " 1 connections",
        " 1 packets",
        " 1 bytes",
    ] {
        assert!(!report.contains(wrong), "{wrong:?} in\n{report}");
    }
}

fn sample(name: &str, keylog: Option<&str>) -> Analysis {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut opts = wsinspect::pipeline::Options::with_limits(Limits::default());
    if let Some(k) = keylog {
        let (log, errors) =
            wsinspect::tls::KeyLog::parse(&std::fs::read_to_string(dir.join(k)).unwrap());
        assert!(errors.is_empty());
        opts.keylog = Some(std::sync::Arc::new(log));
    }
    wsinspect::pipeline::analyze_path_with(dir.join(name).to_str().unwrap(), &opts, &mut NullSink)
        .unwrap()
}

/// TLS 1.3 sends the server's ALPN choice in EncryptedExtensions: without
/// the keys it is unknown, not "none"; with them, or in TLS 1.2's
/// ServerHello, it is read. The client's offer is in the clear either way.
#[test]
fn alpn_unknown_when_encrypted() {
    use wsinspect::model::AlpnState;
    let blind = sample("wss_tls13.pcapng", None);
    let t = blind.connections[0].tls.as_ref().unwrap();
    assert_eq!(
        (t.alpn.as_deref(), t.alpn_state),
        (None, AlpnState::Encrypted)
    );
    assert_eq!(t.alpn_offered, Some(vec!["http/1.1".to_string()]));
    assert!(
        text(&blind).contains(", ALPN unknown (encrypted in TLS 1.3), client offered http/1.1, "),
        "{}",
        text(&blind)
    );
    let json = serde_json::to_value(&blind).unwrap();
    assert_eq!(json["connections"][0]["tls"]["alpn_state"], "encrypted");

    let keyed = sample("wss_tls13.pcapng", Some("wss_tls13.keylog"));
    let t = keyed.connections[0].tls.as_ref().unwrap();
    assert_eq!(
        (t.alpn.as_deref(), t.alpn_state),
        (Some("http/1.1"), AlpnState::Selected)
    );
    assert!(text(&keyed).contains(", ALPN http/1.1, decrypted with the key log"));

    let t12 = sample("wss_tls12.pcap", None);
    let t = t12.connections[0].tls.as_ref().unwrap();
    assert_eq!(
        (t.alpn.as_deref(), t.alpn_state),
        (Some("http/1.1"), AlpnState::Selected)
    );
}

/// The capture saw the server's 101 before the client's request (the two
/// directions reordered): the response line still has the 101's time.
#[test]
fn a_101_captured_before_its_request_keeps_its_time() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    c.handshake(); // packets 1–3
    c.c2s(&upgrade_request("/t"));
    c.s2c(&upgrade_response());
    c.packets.swap(3, 4); // 4: the 101, 5: the request
    c.c2s(&frame(Opcode::Text, true, b"hi", Some([1, 2, 3, 4]))); // 6
    let a = analyze(&c.packets);
    let conn = &a.connections[0];
    assert!(conn.is_websocket, "{conn:#?}");
    let x = &conn.http_exchanges[0];
    assert_eq!(x.response_packet.map(|p| p.0), Some(4));
    assert_eq!(
        x.response_ts,
        Some(Timestamp::from_parts(1_700_000_000, 3_000_000))
    );
    let report = text(&a);
    assert!(
        report.contains("  #4      + 0.003000s  ← HTTP 101\n"),
        "{report}"
    );
}

/// The SYN was captured but the handshake's bytes were lost: the report
/// does not say "picked up mid-stream" next to "TCP SYN".
#[test]
fn lost_handshake_after_a_captured_syn_is_not_called_mid_stream() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    c.handshake();
    let n = c.packets.len();
    c.c2s(&upgrade_request("/t"));
    c.s2c(&upgrade_response());
    c.packets.truncate(n); // both lost before the capture point
    for i in 0..4u8 {
        c.c2s(&frame(
            Opcode::Text,
            true,
            &[b'a' + i; 3],
            Some([i, 2, 3, 4]),
        ));
        c.s2c(&frame(Opcode::Text, true, &[b'A' + i; 3], None));
    }
    let a = analyze(&c.packets);
    let report = text(&a);
    // (If a stricter detection ever declines this stream, only the last
    // assertion applies.)
    if a.connections.first().is_some_and(|c| c.is_websocket) {
        assert!(
            report.contains("(WebSocket, handshake not captured)"),
            "{report}"
        );
        assert!(
            report.contains(
                "  handshake: not captured (its bytes were not captured; client = masked side)"
            ),
            "{report}"
        );
    }
    assert!(!report.contains("mid-stream"), "{report}");
}
