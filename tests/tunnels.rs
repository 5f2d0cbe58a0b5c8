//! WebSocket inside tunnels (captures/tunnels/, made by
//! tools/gen-captures/tunnels.sh): every exchange is found with its inner
//! endpoints, the messages the peers logged sending (`<name>.sent.jsonl`),
//! the packets that carried them, and the encapsulation it rode.
//!
//! vxlan.pcap is the kernel's VXLAN recorded on the underlay; the other
//! tunnels (absent from the kernel the captures were made on) wrap the real
//! exchanges plain4.pcap / plain6.pcap frame by frame, so their packet
//! numbers follow from the plain captures' through the generator's
//! documented insertions.

use serde_json::Value;
use std::path::{Path, PathBuf};
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::model::{Analysis, Connection};
use wsinspect::pipeline;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/tunnels")
}

fn analyze(name: &str) -> Analysis {
    let path = dir().join(format!("{name}.pcap"));
    pipeline::analyze_path(path.to_str().unwrap(), Limits::default(), &mut NullSink).unwrap()
}

/// What the peers logged sending, in order.
fn sent(name: &str) -> Vec<Value> {
    std::fs::read_to_string(dir().join(format!("{name}.sent.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Captured lengths of a classic pcap's frames (to follow fragmentation).
fn frame_lengths(name: &str) -> Vec<usize> {
    let b = std::fs::read(dir().join(format!("{name}.pcap"))).unwrap();
    assert_eq!(&b[..4], &[0xD4, 0xC3, 0xB2, 0xA1], "little-endian pcap");
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= b.len() {
        let n = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(n);
        at += 16 + n;
    }
    out
}

/// The connection's messages match the peers' log exactly, and were
/// carried by the packets `packets` lists (first packet of each, in order).
fn messages_match(c: &Connection, log: &[Value], packets: &[u64]) {
    assert!(c.is_websocket, "{}", c.id);
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    assert_eq!(c.handshake.accept_valid, Some(true));
    assert_eq!(c.handshake.request_target.as_deref(), Some("/tunnel"));
    assert_eq!(c.messages.len(), log.len());
    // The peers take turns (each message is echoed before the next), so
    // the report's order is the log's.
    for (m, w) in c.messages.iter().zip(log) {
        assert_eq!(m.dir.as_str(), w["dir"].as_str().unwrap());
        assert_eq!(m.opcode.name(), w["opcode"].as_str().unwrap());
        assert_eq!(m.payload_len, w["payload_len"].as_u64());
        assert_eq!(
            m.sha256.map(|d| d.to_string()).as_deref(),
            w["sha256"].as_str()
        );
        if let Some(t) = w["text"].as_str() {
            assert_eq!(m.text.as_deref(), Some(t));
        }
        assert!(m.complete);
    }
    let have: Vec<u64> = c.messages.iter().map(|m| m.first_packet.0).collect();
    assert_eq!(have, packets, "message packets");
    let close = c
        .control
        .iter()
        .find(|f| f.opcode.name() == "close")
        .unwrap();
    assert_eq!(close.close_code, Some(1000));
}

/// Per direction, the layers (as the text report shows them) and the
/// number of packets that rode them.
fn routes(c: &Connection) -> Vec<(String, String, u64)> {
    c.encapsulation
        .iter()
        .map(|r| {
            let layers: Vec<String> = r.layers.iter().map(ToString::to_string).collect();
            (r.dir.to_string(), layers.join(" / "), r.packets)
        })
        .collect()
}

fn plain(name: &str) -> (Connection, Vec<u64>) {
    let a = analyze(name);
    assert_eq!(a.connections.len(), 1);
    let c = a.connections[0].clone();
    assert!(c.encapsulation.is_empty());
    let p = c.messages.iter().map(|m| m.first_packet.0).collect();
    messages_match(
        &c,
        &sent(name),
        &c.messages
            .iter()
            .map(|m| m.first_packet.0)
            .collect::<Vec<_>>(),
    );
    (c, p)
}

/// A wrapped capture: one connection with the plain one's endpoints,
/// messages at the mapped packet numbers, the given routes, and no packet
/// malformed.
fn wrapped(
    name: &str,
    source: &str,
    map: impl Fn(u64) -> u64,
    c2s: &str,
    s2c: &str,
    counts: (u64, u64),
) -> Analysis {
    let (p, packets) = plain(source);
    let a = analyze(name);
    assert_eq!(a.stats.malformed_packets, 0, "{name}");
    assert_eq!(a.connections.len(), 1, "{name}");
    let c = &a.connections[0];
    assert_eq!((&c.client, &c.server), (&p.client, &p.server), "{name}");
    let mapped: Vec<u64> = packets.iter().map(|&n| map(n)).collect();
    messages_match(c, &sent(name), &mapped);
    assert_eq!(
        (c.first_packet.0, c.last_packet.0),
        (map(p.first_packet.0), map(p.last_packet.0))
    );
    let want = vec![
        ("c2s".to_string(), c2s.to_string(), counts.0),
        ("s2c".to_string(), s2c.to_string(), counts.1),
    ];
    let have = routes(c);
    if c2s == s2c {
        // One stack both ways (ERSPAN mirrors, MPLS PW, QinQ, PPPoE).
        let total: u64 = have.iter().map(|r| r.2).sum();
        assert!(have.iter().all(|r| r.1 == c2s), "{name}: {have:?}");
        assert_eq!(total, counts.0 + counts.1, "{name}");
    } else {
        assert_eq!(have, want, "{name}");
    }
    a
}

const A: &str = "10.0.0.1 → 10.0.0.2";
const B: &str = "10.0.0.2 → 10.0.0.1";

#[test]
fn plain_captures_have_no_encapsulation() {
    let (c4, _) = plain("plain4");
    assert!(
        c4.server.to_string() == "10.1.0.2:8765" && c4.client.to_string().starts_with("10.1.0.1:")
    );
    let (c6, _) = plain("plain6");
    assert!(
        c6.server.to_string() == "[fd01::2]:8765"
            && c6.client.to_string().starts_with("[fd01::1]:")
    );
    let json = serde_json::to_value(&c4).unwrap();
    assert!(
        json.get("encapsulation").is_none(),
        "absent for plain traffic"
    );
    let a = analyze("plain4");
    assert!(
        serde_json::to_value(&a)
            .unwrap()
            .get("unsupported_tunnels")
            .is_none()
    );
}

#[test]
fn gre_with_checksum_key_and_sequence() {
    wrapped(
        "gre",
        "plain4",
        |n| n,
        &format!("gre(key=1001, {A})"),
        &format!("gre(key=1001, {B})"),
        (10, 10),
    );
}

#[test]
fn gretap_carries_ethernet() {
    wrapped(
        "gretap",
        "plain4",
        |n| n,
        &format!("gre(key=7, {A})"),
        &format!("gre(key=7, {B})"),
        (10, 10),
    );
}

#[test]
fn gre_in_outer_ipv4_fragments_is_reassembled() {
    // Each frame i became ceil((4 + IP length) / 32) fragments (scapy's
    // fragsize 32) when the datagram exceeded 60 bytes; the connection's
    // packets are the ones completing each datagram.
    let lens = frame_lengths("plain4");
    let mut last = Vec::new();
    let mut total = 0u64;
    for l in lens {
        let ip = (l - 14) as u64;
        total += if 20 + 4 + ip > 60 {
            (4 + ip).div_ceil(32)
        } else {
            1
        };
        last.push(total);
    }
    let a = wrapped(
        "gre_frag",
        "plain4",
        |n| last[n as usize - 1],
        &format!("gre({A})"),
        &format!("gre({B})"),
        (10, 10),
    );
    assert_eq!(a.packet_count, total);
    assert_eq!(a.stats.tcp_packets, 20);
    assert_eq!(a.stats.other_packets, total - 20);
}

#[test]
fn erspan_type_2_and_3() {
    let both = "erspan(type=2, session=123, 10.0.0.9 → 10.0.0.10)";
    wrapped("erspan2", "plain4", |n| n, both, both, (10, 10));
    // Every other frame carries the optional platform subheader.
    let both = "erspan(type=3, session=321, 10.0.0.9 → 10.0.0.10)";
    wrapped("erspan3", "plain4", |n| n, both, both, (10, 10));
}

#[test]
fn ip_in_ip_all_four_ways() {
    wrapped(
        "ipip",
        "plain4",
        |n| n,
        &format!("ipip({A})"),
        &format!("ipip({B})"),
        (10, 10),
    );
    wrapped(
        "sit",
        "plain6",
        |n| n,
        &format!("6in4({A})"),
        &format!("6in4({B})"),
        (10, 10),
    );
    let (a6, b6) = ("fd00::1 → fd00::2", "fd00::2 → fd00::1");
    wrapped(
        "ip6tnl4",
        "plain4",
        |n| n,
        &format!("4in6({a6})"),
        &format!("4in6({b6})"),
        (10, 10),
    );
    wrapped(
        "ip6tnl6",
        "plain6",
        |n| n,
        &format!("6in6({a6})"),
        &format!("6in6({b6})"),
        (10, 10),
    );
}

#[test]
fn geneve_with_an_option() {
    wrapped(
        "geneve",
        "plain4",
        |n| n,
        &format!("geneve(vni=7, {A})"),
        &format!("geneve(vni=7, {B})"),
        (10, 10),
    );
}

#[test]
fn gtpu_uplink_and_downlink_teids() {
    // An echo request was inserted after the second frame: not user
    // traffic, counted as another packet.
    let a = wrapped(
        "gtpu",
        "plain4",
        |n| if n >= 3 { n + 1 } else { n },
        &format!("gtp-u(teid=0x00000100, {A})"),
        &format!("gtp-u(teid=0x00000200, {B})"),
        (10, 10),
    );
    assert_eq!(a.stats.other_packets, 1);
    assert!(a.unsupported_tunnels.is_empty());
}

#[test]
fn mpls_label_stack_and_pseudowire() {
    wrapped(
        "mpls",
        "plain4",
        |n| n,
        "mpls(label=1000) / mpls(label=2001)",
        "mpls(label=1000) / mpls(label=2000)",
        (10, 10),
    );
    wrapped(
        "mpls_pw",
        "plain4",
        |n| n,
        "mpls(label=3000)",
        "mpls(label=3000)",
        (10, 10),
    );
}

#[test]
fn pppoe_session() {
    // An LCP echo request was inserted after the third frame.
    let a = wrapped(
        "pppoe",
        "plain4",
        |n| if n >= 4 { n + 1 } else { n },
        "pppoe(session=0x1234)",
        "pppoe(session=0x1234)",
        (10, 10),
    );
    assert_eq!(a.stats.other_packets, 1);
}

#[test]
fn qinq_tags_in_order() {
    wrapped(
        "qinq",
        "plain4",
        |n| n,
        "802.1ad(vid=100) / 802.1Q(vid=200)",
        "802.1ad(vid=100) / 802.1Q(vid=200)",
        (10, 10),
    );
}

/// The kernel's VXLAN: two exchanges with the same inner 5-tuple, in VNI 42
/// (port 4789) and VNI 43 (port 8472), stay two connections.
fn vxlan_like(name: &str, prefix: &str) -> Analysis {
    let a = analyze(name);
    assert_eq!(a.stats.malformed_packets, 0);
    assert!(a.unsupported_tunnels.is_empty());
    assert_eq!(a.connections.len(), 2);
    let log = sent(name);
    let (first, second) = log.split_at(log.len() / 2);
    for (c, log, vni, (u1, u2)) in [
        (&a.connections[0], first, 42, ("10.0.0.11", "10.0.0.12")),
        (&a.connections[1], second, 43, ("10.0.0.13", "10.0.0.14")),
    ] {
        assert_eq!(c.client.to_string(), "192.168.7.1:40001");
        assert_eq!(c.server.to_string(), "192.168.7.2:8765");
        assert!(
            log[0]["text"]
                .as_str()
                .unwrap()
                .ends_with(&format!("vni{vni}"))
        );
        let packets: Vec<u64> = c.messages.iter().map(|m| m.first_packet.0).collect();
        messages_match(c, log, &packets);
        assert_eq!(
            routes(c),
            vec![
                (
                    "c2s".into(),
                    format!("{prefix}vxlan(vni={vni}, {u1} → {u2})"),
                    10
                ),
                (
                    "s2c".into(),
                    format!("{prefix}vxlan(vni={vni}, {u2} → {u1})"),
                    10
                ),
            ]
        );
    }
    a
}

#[test]
fn vxlan_vnis_keep_equal_inner_flows_apart() {
    let a = vxlan_like("vxlan", "");
    assert_eq!(
        (
            a.connections[0].first_packet.0,
            a.connections[1].first_packet.0
        ),
        (23, 49)
    );
    // Beside the two connections: ARP and IPv6 neighbour discovery inside
    // the overlay, and one UDP datagram to port 4789 without the VXLAN I
    // flag, which stays UDP: other packets, not malformed.
    assert_eq!(a.stats.tcp_packets, 40);
    assert_eq!(a.stats.other_packets, a.packet_count - 40);
    let json = serde_json::to_value(&a.connections[0]).unwrap();
    assert_eq!(
        json["encapsulation"][0],
        serde_json::json!({
            "dir": "c2s",
            "layers": [{"kind": "vxlan", "vni": 42, "outer_src": "10.0.0.11", "outer_dst": "10.0.0.12"}],
            "first_packet": 23,
            "packets": 10
        })
    );
}

#[test]
fn nested_vlan_gre_vxlan() {
    let nested = vxlan_like("nested", "802.1Q(vid=10) / gre(172.16.0.1 → 172.16.0.2) / ");
    let plain = analyze("vxlan");
    for (n, v) in nested.connections.iter().zip(&plain.connections) {
        let a: Vec<_> = n.messages.iter().map(|m| m.first_packet).collect();
        let b: Vec<_> = v.messages.iter().map(|m| m.first_packet).collect();
        assert_eq!(a, b, "one wrapped frame per recorded frame");
    }
}

#[test]
fn unsupported_tunnels_are_counted_by_kind() {
    let a = wrapped("unsupported", "plain4", |n| n + 7, "", "", (0, 0));
    let kinds: Vec<(&str, u64, u64)> = a
        .unsupported_tunnels
        .iter()
        .map(|t| (t.kind.as_str(), t.packets, t.first_packet.0))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("gre(protocol=0x880b)", 3, 1),
            ("l2tp", 2, 4),
            ("gtp-u with a non-ip payload", 1, 6),
            ("nested deeper than 16 layers", 1, 7),
        ]
    );
    assert_eq!(a.stats.other_packets, 7);
    assert!(
        a.capture_anomalies
            .iter()
            .any(|x| x.packet.0 == 7 && x.detail.contains("16"))
    );
    let mut text = Vec::new();
    wsinspect::report::text::write(&a, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("  7 packets in unsupported tunnels: 3 gre(protocol=0x880b) (first: packet 1), 2 l2tp (first: packet 4), 1 gtp-u with a non-ip payload (first: packet 6), 1 nested deeper than 16 layers (first: packet 7)"),
        "{text}"
    );
}

#[test]
fn text_report_names_the_encapsulation() {
    let mut text = Vec::new();
    wsinspect::report::text::write(&analyze("qinq"), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("\n  encapsulation: 802.1ad(vid=100) / 802.1Q(vid=200)\n"),
        "{text}"
    );
    let mut text = Vec::new();
    wsinspect::report::text::write(&analyze("gtpu"), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(&format!(
            "\n  encapsulation c2s: gtp-u(teid=0x00000100, {A}) (10 packets from packet 1)\n"
        )),
        "{text}"
    );
}
