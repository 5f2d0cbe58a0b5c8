//! Captures built in the test cover what the samples lack: other link
//! types, byte orders, timestamp precisions, several interfaces, IPv4
//! fragments, sequence wrap and port reuse.

mod support;
use support as common;

use common::*;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::LinkType;
use wsinspect::capture::writer::{Endian, PcapngWriter};
use wsinspect::model::Analysis;
use wsinspect::pipeline::analyze_reader;
use wsinspect::ws::frame::Opcode;

fn analyze(bytes: Vec<u8>) -> Analysis {
    analyze_reader(
        "test",
        std::io::Cursor::new(bytes),
        Limits::default(),
        &mut NullSink,
    )
    .expect("analysis")
}

/// A conversation as a little-endian Ethernet pcap, analysed.
fn analyze_ethernet(conv: &Conv) -> Analysis {
    let frames: Vec<_> = conv
        .packets
        .iter()
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    analyze(pcap(LinkType::Ethernet, &frames, Endian::Little, false))
}

/// The standard exchange decoded in full.
fn assert_standard(a: &Analysis, client: &str, server: &str) {
    assert_eq!(a.connections.len(), 1, "{:#?}", a.capture_anomalies);
    let c = &a.connections[0];
    assert_eq!(
        (c.client.to_string().as_str(), c.server.to_string().as_str()),
        (client, server)
    );
    assert_eq!(c.handshake.accept_valid, Some(true));
    assert_eq!(c.handshake.request_target.as_deref(), Some("/chat"));
    assert!(
        c.is_websocket && c.violations.is_empty(),
        "{:?}",
        c.violations
    );
    let texts: Vec<_> = c
        .messages
        .iter()
        .map(|m| (m.dir.as_str(), m.text.clone().unwrap()))
        .collect();
    assert_eq!(
        texts,
        [("c2s", "hello".to_string()), ("s2c", "world".to_string())]
    );
    assert_eq!(c.messages[0].first_packet.0, 6);
    assert_eq!(
        c.control.iter().map(|f| f.close_code).collect::<Vec<_>>(),
        [Some(1000), Some(1000)]
    );
    assert_eq!(c.packets, 12);
}

#[test]
fn every_link_type() {
    let conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:9002", 1000, 5000);
    for link in [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
        LinkType::Ipv4,
        LinkType::Null,
        LinkType::Loop,
    ] {
        let frames: Vec<_> = conv.packets.iter().map(|p| link_frame(link, p)).collect();
        let a = analyze(pcap(link, &frames, Endian::Little, false));
        assert_eq!(a.link_type_dlt, link.dlt());
        assert_standard(&a, "10.0.0.1:40000", "10.0.0.2:9002");
    }
}

#[test]
fn ipv6_raw_and_cooked() {
    let conv = Conv::standard("[fe80::1]:40000", "[fe80::2]:443", 7, 9);
    for link in [LinkType::Ipv6, LinkType::LinuxSll2, LinkType::Ethernet] {
        let frames: Vec<_> = conv.packets.iter().map(|p| link_frame(link, p)).collect();
        assert_standard(
            &analyze(pcapng(link, &frames, false)),
            "[fe80::1]:40000",
            "[fe80::2]:443",
        );
    }
}

#[test]
fn vlan_tagged_ethernet() {
    let conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let frames: Vec<_> = conv.packets.iter().map(|p| vlan_frame(p, 42)).collect();
    assert_standard(
        &analyze(pcap(LinkType::Ethernet, &frames, Endian::Little, false)),
        "10.0.0.1:40000",
        "10.0.0.2:80",
    );
}

#[test]
fn big_endian_and_nanosecond_pcap() {
    let conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let frames: Vec<_> = conv
        .packets
        .iter()
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    for (endian, nanos) in [
        (Endian::Big, false),
        (Endian::Big, true),
        (Endian::Little, true),
    ] {
        let a = analyze(pcap(LinkType::Ethernet, &frames, endian, nanos));
        assert_eq!(a.format, "pcap");
        assert_standard(&a, "10.0.0.1:40000", "10.0.0.2:80");
        let want = if nanos { ts(0).0 } else { ts(0).0 - 123 };
        assert_eq!(a.start_ts.0, want, "endian {endian:?} nanos {nanos}");
    }
}

#[test]
fn nanosecond_pcapng_keeps_nanoseconds() {
    let conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let frames: Vec<_> = conv
        .packets
        .iter()
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    let a = analyze(pcapng(LinkType::Ethernet, &frames, true));
    assert_eq!(a.format, "pcapng");
    assert_eq!(a.start_ts, ts(0));
    assert_eq!(a.connections[0].messages[0].end_ts, ts(5));
    assert_standard(&a, "10.0.0.1:40000", "10.0.0.2:80");
}

#[test]
fn several_interfaces_with_their_own_link_types_and_unknown_blocks() {
    let conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let mut w = PcapngWriter::new(Vec::new(), Endian::Big).unwrap();
    let eth = w.add_interface(LinkType::Ethernet, 65535, false).unwrap();
    let raw = w.add_interface(LinkType::RawIp, 65535, true).unwrap();
    w.write_raw_block(0x0bad_cafe, &[1, 2, 3, 4]).unwrap();
    for (i, p) in conv.packets.iter().enumerate() {
        let (iface, f) = if i % 2 == 0 {
            (eth, link_frame(LinkType::Ethernet, p))
        } else {
            (raw, p.clone())
        };
        w.write_packet(iface, ts(i), &f, f.len() as u32).unwrap();
    }
    let a = analyze(w.finish().unwrap());
    assert_eq!(a.link_type, "Ethernet");
    assert_eq!(a.packet_count, 12);
    assert_standard(&a, "10.0.0.1:40000", "10.0.0.2:80");
}

#[test]
fn ipv4_fragments_are_reassembled() {
    let mut conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    // Split the upgrade request (packet 4, index 3) into two IPv4 fragments.
    let ip = conv.packets[3].clone();
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let payload = &ip[hl..];
    let cut = 48; // multiple of 8
    let mk = |off: usize, data: &[u8], more: bool| {
        let mut h = ip[..hl].to_vec();
        let total = (hl + data.len()) as u16;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        let fo = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let mut sum = 0u32;
        for c in h.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        h.extend_from_slice(data);
        h
    };
    let (a, b) = (
        mk(0, &payload[..cut], true),
        mk(cut, &payload[cut..], false),
    );
    // Second fragment first: order must not matter.
    conv.packets.splice(3..4, [b, a]);
    let an = analyze_ethernet(&conv);
    let c = &an.connections[0];
    assert_eq!(c.handshake.accept_valid, Some(true));
    assert_eq!(
        c.handshake.request_packet,
        Some(wsinspect::capture::PacketNo(5)),
        "completed by the second fragment's packet"
    );
    assert_eq!(c.messages.len(), 2);
}

#[test]
fn sequence_numbers_wrap_inside_a_message() {
    // The client's sequence space wraps in the middle of its text frame.
    let req_len = upgrade_request("/chat").len() as u32;
    let cisn = u32::MAX - req_len - 3;
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", cisn, u32::MAX - 100);
    conv.handshake();
    conv.c2s(&upgrade_request("/chat"));
    conv.s2c(&upgrade_response());
    let f = frame(Opcode::Text, true, b"across the wrap", Some([5, 6, 7, 8]));
    conv.c2s(&f[..6]);
    conv.c2s(&f[6..]);
    conv.close();
    assert!(conv.cseq < 100, "wrapped");
    let a = analyze_ethernet(&conv);
    let m = &a.connections[0].messages[0];
    assert_eq!(m.text.as_deref(), Some("across the wrap"));
    assert_eq!((m.first_packet.0, m.last_packet.0), (6, 7));
}

#[test]
fn port_reuse_starts_a_new_connection() {
    let first = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    let second = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 900_000, 700_000);
    let frames: Vec<_> = first
        .packets
        .iter()
        .chain(&second.packets)
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    let a = analyze(pcap(LinkType::Ethernet, &frames, Endian::Little, false));
    assert_eq!(a.connections.len(), 2);
    assert_eq!(
        (
            a.connections[0].first_packet.0,
            a.connections[0].last_packet.0
        ),
        (1, 12)
    );
    assert_eq!(
        (
            a.connections[1].first_packet.0,
            a.connections[1].last_packet.0
        ),
        (13, 24)
    );
    for c in &a.connections {
        assert_eq!(c.messages.len(), 2);
        assert_eq!(c.packets, 12);
    }
}

#[test]
fn retransmitted_syn_is_not_a_new_connection() {
    let mut conv = Conv::standard("10.0.0.1:40000", "10.0.0.2:80", 1000, 5000);
    let syn = conv.packets[0].clone();
    conv.packets.insert(1, syn);
    let a = analyze_ethernet(&conv);
    assert_eq!(a.connections.len(), 1);
    assert_eq!(a.connections[0].packets, 13);
}

#[test]
fn bytes_after_101_in_the_same_segment_are_frames() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.handshake();
    conv.c2s(&upgrade_request("/"));
    let mut resp = upgrade_response();
    resp.extend(frame(Opcode::Text, true, b"greeting", None));
    conv.s2c(&resp);
    conv.close();
    let a = analyze_ethernet(&conv);
    let c = &a.connections[0];
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.messages[0].text.as_deref(), Some("greeting"));
    assert_eq!(c.messages[0].first_packet.0, 5);
}

#[test]
fn violations_are_flagged_and_decoding_goes_on() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.handshake();
    conv.c2s(&upgrade_request("/"));
    conv.s2c(&upgrade_response());
    conv.c2s(&frame(Opcode::Text, true, b"unmasked", None)); // §5.1
    conv.s2c(&frame(Opcode::Text, true, b"masked", Some([1, 1, 1, 1]))); // §5.1
    conv.c2s(&frame(Opcode::Ping, false, b"frag", Some([1, 2, 3, 4]))); // §5.5
    conv.c2s(&frame(
        Opcode::Continuation,
        true,
        b"orphan",
        Some([1, 2, 3, 4]),
    )); // §5.4
    conv.s2c(&frame(Opcode::Close, true, &[0x03, 0xed], None)); // 1005 must not be sent
    conv.s2c(&frame(Opcode::Text, true, b"late", None)); // after close
    conv.c2s(&frame(Opcode::from(0x3), true, b"", Some([1, 2, 3, 4]))); // reserved
    conv.c2s(&frame(
        Opcode::Text,
        true,
        b"still decoded",
        Some([1, 2, 3, 4]),
    ));
    let a = analyze_ethernet(&conv);
    let c = &a.connections[0];
    use wsinspect::model::finding::ViolationKind::*;
    let kinds: Vec<_> = c.violation_details.iter().map(|v| v.kind).collect();
    for k in [
        UnmaskedClientFrame,
        MaskedServerFrame,
        FragmentedControl,
        UnexpectedContinuation,
        BadCloseCode,
        DataAfterClose,
        ReservedOpcode,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    assert_eq!(
        c.messages.last().unwrap().text.as_deref(),
        Some("still decoded")
    );
    assert_eq!(
        c.messages
            .iter()
            .find(|m| m.dir.as_str() == "s2c")
            .unwrap()
            .text
            .as_deref(),
        Some("masked")
    );
}

#[test]
fn midstream_pickup_inside_a_frame_resyncs_at_the_next_frame() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let big = frame(Opcode::Binary, true, &[0x5a; 3000], Some([1, 2, 3, 4]));
    // The capture starts with the tail of a big client frame.
    conv.c2s(&big[1500..]);
    conv.s2c(&frame(Opcode::Text, true, b"server says", None));
    conv.c2s(&frame(
        Opcode::Text,
        true,
        b"client says",
        Some([4, 3, 2, 1]),
    ));
    conv.c2s(&frame(Opcode::Text, true, b"more", Some([4, 3, 2, 1])));
    let a = analyze_ethernet(&conv);
    assert_eq!(a.connections.len(), 1);
    let c = &a.connections[0];
    assert!(c.is_websocket && !c.handshake.seen);
    assert_eq!(
        (c.client.to_string().as_str(), c.server.to_string().as_str()),
        ("10.0.0.1:40000", "10.0.0.2:80")
    );
    let texts: Vec<_> = c
        .messages
        .iter()
        .map(|m| (m.dir.as_str(), m.text.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        texts,
        [
            ("s2c", "server says".into()),
            ("c2s", "client says".into()),
            ("c2s", "more".into())
        ]
    );
}

#[test]
fn unknown_tcp_protocols_are_not_reported() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:22", 1, 2);
    conv.handshake();
    conv.s2c(b"SSH-2.0-OpenSSH_9.2\r\n");
    conv.c2s(b"SSH-2.0-client\r\n");
    conv.c2s(&[0x00, 0x00, 0x01, 0x2c, 0x0a, 0x14, 0x99, 0x88]);
    let a = analyze_ethernet(&conv);
    assert!(a.connections.is_empty(), "{:?}", a.connections);
    assert_eq!(a.stats.tcp_connections, 1);
}
