//! The text report's times, numbering and wording, on captures built in
//! the test: each finding printed at its own packet's time, connection
//! numbers that match the JSON report and add up, singular and plural.

mod common;

use common::*;
use wsinspect::analysis::model::Analysis;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::writer::Endian;
use wsinspect::capture::{LinkType, Timestamp};
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
