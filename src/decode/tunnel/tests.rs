//! Header parsers, one variant at a time, and every cut of each header.
//! Hand-made bytes on purpose: each test names the field it sets.

use super::*;

/// Every strict prefix of `b` is either "not this header" or malformed.
macro_rules! cuts_fail {
    ($b:expr, $parse:expr) => {
        let b: &[u8] = $b;
        for n in 0..b.len() {
            match $parse(&b[..n]) {
                Err(Bad::Malformed(_) | Bad::NotIt) => {}
                other => panic!("cut at {n}: {other:?}"),
            }
        }
    };
}

const IPV4_TCP: [u8; 20] = [
    0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
];

fn ipv4() -> Vec<u8> {
    let mut h = IPV4_TCP.to_vec();
    let mut sum: u32 = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    let c = !(sum as u16);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

#[test]
fn gre_plain_ipv4() {
    let mut b = vec![0x00, 0x00, 0x08, 0x00];
    b.extend_from_slice(&ipv4());
    let g = gre(&b).unwrap();
    assert_eq!((g.protocol, g.key, g.sequenced), (0x0800, None, false));
    assert_eq!(g.payload, &ipv4()[..]);
}

#[test]
fn gre_checksum_key_sequence() {
    // C, K, S: checksum + reserved1, key, sequence number, in that order.
    let b = [
        0xB0, 0x00, 0x65, 0x58, 0xAB, 0xCD, 0, 0, 0, 0, 0x03, 0xE9, 0, 0, 0, 7, 0xEE,
    ];
    let g = gre(&b).unwrap();
    assert_eq!(g.protocol, 0x6558);
    assert_eq!(g.key, Some(1001));
    assert!(g.sequenced);
    assert_eq!(g.payload, &[0xEE]);
    cuts_fail!(&b[..16], gre);
}

#[test]
fn gre_key_only_and_sequence_only() {
    let k = [0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42];
    assert_eq!(gre(&k).unwrap().key, Some(42));
    assert_eq!(gre(&k).unwrap().payload, &[] as &[u8]);
    let s = [0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1, 0x10];
    let g = gre(&s).unwrap();
    assert!(g.sequenced && g.key.is_none());
    assert_eq!(g.payload, &[0x10]);
}

#[test]
fn gre_version_1_and_routing_are_unsupported() {
    assert_eq!(
        gre(&[0x30, 0x81, 0x88, 0x0B, 0, 0, 0, 0]),
        Err(Bad::Unsupported(Unsupported::GreVersion1))
    );
    assert_eq!(
        gre(&[0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0]),
        Err(Bad::Unsupported(Unsupported::GreRouting))
    );
    assert!(matches!(
        gre(&[0x00, 0x02, 0x08, 0x00]),
        Err(Bad::Malformed(_))
    ));
}

#[test]
fn erspan_type_2() {
    // Ver 1, VLAN 0, session 0x155, index 5.
    let b = [0x10, 0x00, 0x01, 0x55, 0, 0, 0, 5, 0xAA];
    let e = erspan2(&b).unwrap();
    assert_eq!((e.version, e.session), (2, 0x155));
    assert_eq!(e.payload, Payload::Ethernet(&[0xAA]));
    cuts_fail!(&b[..8], erspan2);
    assert!(matches!(
        erspan2(&[0x20, 0, 0, 0, 0, 0, 0, 0]),
        Err(Bad::Malformed(_))
    ));
}

#[test]
fn erspan_type_3_with_and_without_subheader() {
    // Ver 2, session 7, timestamp, SGT, FT 0, HW ID, O clear.
    let plain = [0x20, 0x00, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0x00, 0x70, 0xBB];
    let e = erspan3(&plain).unwrap();
    assert_eq!((e.version, e.session), (3, 7));
    assert_eq!(e.payload, Payload::Ethernet(&[0xBB]));
    // O set: an 8-byte platform-specific subheader before the frame.
    let mut with = plain[..12].to_vec();
    with[11] |= 1;
    with.extend_from_slice(&[9; 8]);
    with.push(0xCC);
    assert_eq!(erspan3(&with).unwrap().payload, Payload::Ethernet(&[0xCC]));
    cuts_fail!(&with[..20], erspan3);
    // FT 2: IP.
    let mut ip = plain[..12].to_vec();
    ip[10] = 2 << 2;
    ip.extend_from_slice(&ipv4());
    assert_eq!(
        erspan3(&ip).unwrap().payload,
        Payload::EtherType(ether::IPV4, &ipv4())
    );
    let mut other = plain.to_vec();
    other[10] = 5 << 2;
    assert_eq!(
        erspan3(&other),
        Err(Bad::Unsupported(Unsupported::ErspanFrameType(5)))
    );
}

#[test]
fn vxlan_needs_the_i_flag() {
    let b = [0x08, 0, 0, 0, 0, 0, 42, 0, 0xDD];
    assert_eq!(vxlan(&b).unwrap(), (42, &[0xDD][..]));
    assert_eq!(vxlan(&[0x00, 0, 0, 0, 0, 0, 42, 0]), Err(Bad::NotIt));
    assert_eq!(vxlan(&[]), Err(Bad::NotIt));
    cuts_fail!(&b[..8], vxlan);
    // The GBP extension's G bit does not hide the I flag.
    assert_eq!(vxlan(&[0x88, 0, 0, 5, 0, 1, 0, 0]).unwrap().0, 256);
}

#[test]
fn geneve_skips_options() {
    // Opt Len 2 (8 bytes of options), protocol 0x6558, VNI 7.
    let mut b = vec![0x02, 0x00, 0x65, 0x58, 0, 0, 7, 0];
    b.extend_from_slice(&[0x01, 0x02, 0x80, 0x01, 0, 0, 0, 42]);
    b.push(0xEE);
    assert_eq!(geneve(&b).unwrap(), (7, Payload::Ethernet(&[0xEE])));
    cuts_fail!(&b[..16], geneve);
    let mut ip = vec![0x00, 0x00, 0x08, 0x00, 0, 1, 0, 0];
    ip.extend_from_slice(&ipv4());
    assert_eq!(
        geneve(&ip).unwrap(),
        (256, Payload::EtherType(0x0800, &ipv4()))
    );
    assert_eq!(geneve(&[0x40, 0, 0x65, 0x58, 0, 0, 0, 0]), Err(Bad::NotIt));
    assert_eq!(
        geneve(&[0x00, 0, 0x88, 0x47, 0, 0, 0, 0]),
        Err(Bad::Unsupported(Unsupported::GeneveProtocol(0x8847)))
    );
}

#[test]
fn gtpu_plain_t_pdu() {
    let mut b = vec![0x30, 0xFF, 0, 20, 0, 0, 1, 0];
    b.extend_from_slice(&ipv4());
    assert_eq!(gtpu(&b).unwrap(), (0x100, &ipv4()[..]));
    cuts_fail!(&b[..9], gtpu);
}

#[test]
fn gtpu_sequence_number_and_extension_headers() {
    // E and S set: seq, N-PDU, next type 0x85 (PDU session container, 1
    // unit), then 0x40 (UDP port, 1 unit), then none.
    let mut b = vec![0x36, 0xFF, 0, 0, 0, 0, 2, 0, 0, 9, 0, 0x85];
    b.extend_from_slice(&[1, 0x10, 0x09, 0x40]);
    b.extend_from_slice(&[1, 0x08, 0x68, 0x00]);
    b.extend_from_slice(&ipv4());
    assert_eq!(gtpu(&b).unwrap(), (0x200, &ipv4()[..]));
    cuts_fail!(&b[..21], gtpu);
    // An extension of length 0 would never end.
    let mut zero = b[..12].to_vec();
    zero.extend_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(gtpu(&zero), Err(Bad::Malformed(_))));
}

#[test]
fn gtpu_other_messages_and_payloads() {
    // Echo request, GTP' (PT 0), version 2: not a user packet.
    assert_eq!(
        gtpu(&[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]),
        Err(Bad::NotIt)
    );
    assert_eq!(gtpu(&[0x20, 0xFF, 0, 0, 0, 0, 0, 0]), Err(Bad::NotIt));
    assert_eq!(gtpu(&[0x50, 0xFF, 0, 0, 0, 0, 0, 0]), Err(Bad::NotIt));
    assert_eq!(
        gtpu(&[0x30, 0xFF, 0, 2, 0, 0, 0, 1, 0x02, 0x00]),
        Err(Bad::Unsupported(Unsupported::GtpNonIp))
    );
}

#[test]
fn pppoe_session_and_compressed_protocol() {
    let b = [0x11, 0x00, 0x12, 0x34, 0, 22, 0x00, 0x21, 0x45];
    assert_eq!(pppoe(&b).unwrap(), (0x1234, 0x0021, &[0x45][..]));
    let c = [0x11, 0x00, 0x12, 0x34, 0, 21, 0x57, 0x60];
    assert_eq!(pppoe(&c).unwrap(), (0x1234, 0x0057, &[0x60][..]));
    cuts_fail!(&b[..8], pppoe);
    assert!(matches!(
        pppoe(&[0x11, 0x09, 0, 0, 0, 0, 0, 0]),
        Err(Bad::Malformed(_))
    ));
}

#[test]
fn mpls_payload_on_evidence() {
    let v4 = ipv4();
    assert_eq!(
        mpls_payload(100, &v4),
        Ok(Payload::EtherType(ether::IPV4, &v4[..]))
    );
    // A bad checksum is no evidence of IPv4.
    let mut bad = v4.clone();
    bad[10] ^= 0xFF;
    assert_eq!(
        mpls_payload(100, &bad),
        Err(Bad::Unsupported(Unsupported::MplsPayload))
    );
    // Explicit null names its payload.
    assert_eq!(
        mpls_payload(0, &bad),
        Ok(Payload::EtherType(ether::IPV4, &bad[..]))
    );
    let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
    v6.extend_from_slice(&[0; 32]);
    assert_eq!(
        mpls_payload(100, &v6),
        Ok(Payload::EtherType(ether::IPV6, &v6[..]))
    );
    // Control word, then Ethernet carrying IPv4.
    let mut pw = vec![0, 0, 0, 1];
    pw.extend_from_slice(&[2; 12]);
    pw.extend_from_slice(&[0x08, 0x00]);
    assert_eq!(mpls_payload(100, &pw), Ok(Payload::Ethernet(&pw[4..])));
    pw[16] = 0x12;
    assert_eq!(
        mpls_payload(100, &pw),
        Err(Bad::Unsupported(Unsupported::MplsPayload))
    );
    assert!(matches!(
        mpls_payload(100, &pw[..10]),
        Err(Bad::Malformed(_))
    ));
    // Associated channel.
    assert_eq!(mpls_payload(100, &[0x10, 0, 0, 0]), Err(Bad::NotIt));
    assert_eq!(
        mpls_payload(100, &[0xA0; 20]),
        Err(Bad::Unsupported(Unsupported::MplsPayload))
    );
}

#[test]
fn display_and_json_forms_are_stable() {
    let outer = Outer {
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
    };
    let l = Encap::Vxlan { vni: 42, outer };
    assert_eq!(l.to_string(), "vxlan(vni=42, 10.0.0.1 → 10.0.0.2)");
    assert_eq!(
        serde_json::to_string(&l).unwrap(),
        r#"{"kind":"vxlan","vni":42,"outer_src":"10.0.0.1","outer_dst":"10.0.0.2"}"#
    );
    let v = Encap::Vlan {
        tpid: ether::QINQ,
        vid: 100,
    };
    assert_eq!(v.to_string(), "802.1ad(vid=100)");
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"kind":"vlan","tag":"802.1ad","vid":100}"#
    );
    let g = Encap::Gre { outer, key: None };
    assert_eq!(
        serde_json::to_string(&g).unwrap(),
        r#"{"kind":"gre","outer_src":"10.0.0.1","outer_dst":"10.0.0.2"}"#
    );
}

#[test]
fn scope_is_the_innermost_identifier_and_symmetric_for_gtp() {
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let up = Encap::GtpU {
        teid: 1,
        outer: Outer { src: a, dst: b },
    };
    let down = Encap::GtpU {
        teid: 2,
        outer: Outer { src: b, dst: a },
    };
    assert_eq!(TunnelScope::of(&[up]), TunnelScope::of(&[down]));
    let vx = Encap::Vxlan {
        vni: 5,
        outer: Outer { src: a, dst: b },
    };
    assert_eq!(TunnelScope::of(&[vx, up]), TunnelScope::of(&[up]));
    assert_eq!(TunnelScope::of(&[up, vx]), TunnelScope::Vxlan(5));
    assert_eq!(
        TunnelScope::of(&[Encap::Mpls { label: 3 }]),
        TunnelScope::Global
    );
}
