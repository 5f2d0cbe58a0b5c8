//! Whole packets through the decoder: each tunnel down to the inner TCP
//! segment, and every cut of each packet (malformed or not TCP, never a
//! panic, never a segment before the inner TCP header is whole).
//! Hand-made bytes: each builder writes the fields its RFC names.

use super::*;
use crate::capture::{PacketNo, Timestamp};
use std::net::Ipv6Addr;

fn sum16(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xFFFF {
        s = (s & 0xFFFF) + (s >> 16);
    }
    !(s as u16)
}

fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    b.extend_from_slice(&ether_type.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0, 7, 0, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = sum16(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = sport.to_be_bytes().to_vec();
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    b
}

/// A TCP segment (ACK|PSH) 40000 → 80 carrying `hello`.
fn tcp() -> Vec<u8> {
    let mut b = vec![
        0x9C, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0,
    ];
    b.extend_from_slice(b"hello");
    b
}

const IN_SRC: [u8; 4] = [192, 168, 7, 1];
const IN_DST: [u8; 4] = [192, 168, 7, 2];
const OUT_SRC: [u8; 4] = [10, 0, 0, 1];
const OUT_DST: [u8; 4] = [10, 0, 0, 2];

fn inner_ip() -> Vec<u8> {
    ipv4(IN_SRC, IN_DST, 6, &tcp())
}

fn inner_eth() -> Vec<u8> {
    eth(0x0800, &inner_ip())
}

fn outer() -> Outer {
    Outer {
        src: IpAddr::from(OUT_SRC),
        dst: IpAddr::from(OUT_DST),
    }
}

fn pkt(data: &[u8]) -> RawPacket<'_> {
    RawPacket {
        number: PacketNo(1),
        ts: Timestamp(0),
        link: LinkType::Ethernet,
        orig_len: data.len() as u32,
        data,
    }
}

/// What a decoded segment says, owned.
type Decoded = (SocketAddr, SocketAddr, Vec<u8>, Vec<Encap>, TunnelScope);

fn decode(d: &mut Decoder, data: &[u8]) -> Result<Decoded, Skip> {
    d.decode(&pkt(data))
        .map(|s| (s.src, s.dst, s.payload.to_vec(), s.encap, s.scope))
}

/// Decodes `data` to the inner segment with `layers`; every cut before
/// `malformed_from` fails somehow, every cut from there to the end of the
/// inner TCP header is malformed, and every later cut yields the segment
/// with a shorter payload.
fn check(data: &[u8], layers: &[Encap], malformed_from: usize) {
    let mut d = Decoder::new();
    let (src, dst, payload, encap, _) = decode(&mut d, data).unwrap();
    assert_eq!(src, SocketAddr::from((IN_SRC, 40000)));
    assert_eq!(dst, SocketAddr::from((IN_DST, 80)));
    assert_eq!(payload, b"hello");
    assert_eq!(encap, layers);
    let tcp_end = data.len() - 5;
    for n in 0..data.len() {
        let r = decode(&mut d, &data[..n]);
        if n < malformed_from {
            assert!(r.is_err(), "cut at {n}: {r:?}");
        } else if n < tcp_end {
            assert!(matches!(r, Err(Skip::Malformed(_))), "cut at {n}: {r:?}");
        } else {
            let (_, _, p, e, _) = r.unwrap();
            assert_eq!((p.len(), e.as_slice()), (n - tcp_end, layers), "cut at {n}");
        }
    }
}

#[test]
fn plain_tcp_has_no_layers_and_no_allocation() {
    let mut d = Decoder::new();
    let data = inner_eth();
    let seg = d.decode(&pkt(&data)).unwrap();
    assert!(seg.encap.is_empty() && seg.encap.capacity() == 0);
    assert_eq!(seg.scope, TunnelScope::Global);
}

#[test]
fn vxlan_to_inner_tcp_and_cuts() {
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&inner_eth());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 17, &udp(51000, 4789, &vx)));
    check(
        &data,
        &[Encap::Vxlan {
            vni: 42,
            outer: outer(),
        }],
        43,
    );
    let mut d = Decoder::new();
    assert_eq!(decode(&mut d, &data).unwrap().4, TunnelScope::Vxlan(42));
    // The same datagram on Linux's port; and on 4789 without the I flag it
    // is just UDP.
    let linux = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 17, &udp(51000, 8472, &vx)));
    assert!(decode(&mut d, &linux).is_ok());
    vx[0] = 0;
    let not = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 17, &udp(51000, 4789, &vx)));
    assert_eq!(decode(&mut d, &not), Err(Skip::NotTcp));
    // Source port 4789 is not a VXLAN destination.
    vx[0] = 0x08;
    let src = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 17, &udp(4789, 51000, &vx)));
    assert_eq!(decode(&mut d, &src), Err(Skip::NotTcp));
}

#[test]
fn geneve_to_inner_tcp_and_cuts() {
    let mut g = vec![0x01, 0x00, 0x65, 0x58, 0, 0, 7, 0, 0x01, 0x02, 0x80, 0x00];
    g.extend_from_slice(&inner_eth());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 17, &udp(51000, 6081, &g)));
    check(
        &data,
        &[Encap::Geneve {
            vni: 7,
            outer: outer(),
        }],
        43,
    );
}

#[test]
fn gtpu_to_inner_tcp_and_cuts() {
    let mut g = vec![
        0x34, 0xFF, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0x00,
    ];
    g.extend_from_slice(&inner_ip());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 17, &udp(2152, 2152, &g)));
    check(
        &data,
        &[Encap::GtpU {
            teid: 0x100,
            outer: outer(),
        }],
        44,
    );
}

#[test]
fn gre_variants_to_inner_tcp_and_cuts() {
    // Plain GRE with checksum, key and sequence number, carrying IPv4.
    let mut g = vec![0xB0, 0, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1];
    g.extend_from_slice(&inner_ip());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 47, &g));
    check(
        &data,
        &[Encap::Gre {
            outer: outer(),
            key: Some(9),
        }],
        34,
    );
    // gretap.
    let mut t = vec![0x00, 0, 0x65, 0x58];
    t.extend_from_slice(&inner_eth());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 47, &t));
    check(
        &data,
        &[Encap::Gre {
            outer: outer(),
            key: None,
        }],
        34,
    );
    // ERSPAN I, II, III.
    let mut e1 = vec![0x00, 0, 0x88, 0xBE];
    e1.extend_from_slice(&inner_eth());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 47, &e1));
    check(
        &data,
        &[Encap::Erspan {
            version: 1,
            session: None,
            outer: outer(),
        }],
        34,
    );
    let mut e2 = vec![0x10, 0, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0, 0, 5, 0, 0, 0, 0];
    e2.extend_from_slice(&inner_eth());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 47, &e2));
    check(
        &data,
        &[Encap::Erspan {
            version: 2,
            session: Some(5),
            outer: outer(),
        }],
        34,
    );
    let mut e3 = vec![
        0x10, 0, 0x22, 0xEB, 0, 0, 0, 1, 0x20, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1,
    ];
    e3.extend_from_slice(&[0; 8]);
    e3.extend_from_slice(&inner_eth());
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 47, &e3));
    check(
        &data,
        &[Encap::Erspan {
            version: 3,
            session: Some(6),
            outer: outer(),
        }],
        34,
    );
    // Unknown protocol: counted, not decoded.
    let p = [0x00, 0, 0x88, 0x0B, 0xFF, 0x03];
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 47, &p));
    assert_eq!(
        Decoder::new().decode(&pkt(&data)).map(|_| ()),
        Err(Skip::UnsupportedTunnel(Unsupported::GreProtocol(0x880B)))
    );
}

#[test]
fn ip_in_ip_to_inner_tcp_and_cuts() {
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 4, &inner_ip()));
    check(
        &data,
        &[Encap::Ip {
            kind: IpInIp::FourInFour,
            outer: outer(),
        }],
        34,
    );
    let (a, b) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
    let data = eth(0x86DD, &ipv6(a, b, 4, &inner_ip()));
    let o6 = Outer {
        src: a.into(),
        dst: b.into(),
    };
    check(
        &data,
        &[Encap::Ip {
            kind: IpInIp::FourInSix,
            outer: o6,
        }],
        54,
    );
}

#[test]
fn ipv6_inside_ipv4_keys_inner_v6_addresses() {
    let (a, b) = (
        Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 2),
    );
    let data = eth(0x0800, &ipv4(OUT_SRC, OUT_DST, 41, &ipv6(a, b, 6, &tcp())));
    let seg = Decoder::new().decode(&pkt(&data)).unwrap();
    assert_eq!(seg.src, SocketAddr::new(a.into(), 40000));
    assert_eq!(
        seg.encap,
        [Encap::Ip {
            kind: IpInIp::SixInFour,
            outer: outer()
        }]
    );
}

#[test]
fn mpls_stack_to_inner_tcp_and_cuts() {
    let mut m = vec![0x00, 0x3E, 0x80, 0x40, 0x00, 0x7D, 0x01, 0x40];
    m.extend_from_slice(&inner_ip());
    let data = eth(0x8847, &m);
    check(
        &data,
        &[Encap::Mpls { label: 1000 }, Encap::Mpls { label: 2000 }],
        14,
    );
    // Ethernet pseudowire with a control word.
    let mut pw = vec![0x00, 0xBB, 0x81, 0x40, 0, 0, 0, 0];
    pw.extend_from_slice(&inner_eth());
    let data = eth(0x8847, &pw);
    check(&data, &[Encap::Mpls { label: 3000 }], 14);
}

#[test]
fn pppoe_to_inner_tcp_and_cuts() {
    let ip = inner_ip();
    let mut p = vec![0x11, 0x00, 0x12, 0x34];
    p.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    p.extend_from_slice(&[0x00, 0x21]);
    p.extend_from_slice(&ip);
    let data = eth(0x8864, &p);
    check(&data, &[Encap::Pppoe { session: 0x1234 }], 14);
    // LCP is not user traffic.
    let lcp = eth(
        0x8864,
        &[0x11, 0x00, 0x12, 0x34, 0, 6, 0xC0, 0x21, 9, 1, 0, 4],
    );
    assert_eq!(
        Decoder::new().decode(&pkt(&lcp)).map(|_| ()),
        Err(Skip::NotTcp)
    );
}

fn tags(tpids: &[u16]) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, _) in tpids.iter().enumerate() {
        b.extend_from_slice(&(100 + i as u16).to_be_bytes());
        let next = tpids.get(i + 1).copied().unwrap_or(0x0800);
        b.extend_from_slice(&next.to_be_bytes());
    }
    b.extend_from_slice(&inner_ip());
    eth(tpids[0], &b)
}

#[test]
fn qinq_and_deep_vlan_stacks() {
    let data = tags(&[0x88A8, 0x8100]);
    check(
        &data,
        &[
            Encap::Vlan {
                tpid: 0x88A8,
                vid: 100,
            },
            Encap::Vlan {
                tpid: 0x8100,
                vid: 101,
            },
        ],
        14,
    );
    // Beyond the three tags etherparse slices, the decoder goes on.
    let five = tags(&[0x9100, 0x88A8, 0x8100, 0x8100, 0x8100]);
    let seg = Decoder::new().decode(&pkt(&five)).unwrap();
    let vids: Vec<_> = seg
        .encap
        .iter()
        .map(|l| match l {
            Encap::Vlan { tpid, vid } => (*tpid, *vid),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        vids,
        [
            (0x9100, 100),
            (0x88A8, 101),
            (0x8100, 102),
            (0x8100, 103),
            (0x8100, 104)
        ]
    );
}

#[test]
fn depth_cap_is_configurable_and_reported() {
    let five = tags(&[0x8100; 5]);
    assert!(Decoder::with_max_depth(5).decode(&pkt(&five)).is_ok());
    assert_eq!(
        Decoder::with_max_depth(4).decode(&pkt(&five)).map(|_| ()),
        Err(Skip::UnsupportedTunnel(Unsupported::DepthCap(4)))
    );
    // A long chain of IP-in-IP stops at the default cap.
    let mut p = inner_ip();
    for _ in 0..MAX_TUNNEL_DEPTH + 1 {
        p = ipv4(OUT_SRC, OUT_DST, 4, &p);
    }
    let data = eth(0x0800, &p);
    assert_eq!(
        Decoder::new().decode(&pkt(&data)).map(|_| ()),
        Err(Skip::UnsupportedTunnel(Unsupported::DepthCap(
            MAX_TUNNEL_DEPTH
        )))
    );
}

#[test]
fn outer_fragments_of_a_tunnel_packet_reassemble() {
    let mut g = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 3];
    g.extend_from_slice(&inner_ip());
    // Two fragments of the outer datagram: 24 bytes, then the rest.
    let frag = |off: usize, more: bool, part: &[u8]| {
        let mut ip = ipv4(OUT_SRC, OUT_DST, 47, part);
        let f = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&f.to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let c = sum16(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        eth(0x0800, &ip)
    };
    let mut d = Decoder::new();
    let first = frag(0, true, &g[..24]);
    assert_eq!(
        d.decode(&pkt(&first)).map(|_| ()),
        Err(Skip::FragmentPending)
    );
    let last = frag(24, false, &g[24..]);
    let seg = d.decode(&pkt(&last)).unwrap();
    assert_eq!(&*seg.payload, b"hello");
    assert_eq!(
        seg.encap,
        [Encap::Gre {
            outer: outer(),
            key: Some(3)
        }]
    );
}

#[test]
fn layers_are_recycled() {
    let data = tags(&[0x88A8, 0x8100]);
    let mut d = Decoder::new();
    let seg = d.decode(&pkt(&data)).unwrap();
    let ptr = seg.encap.as_ptr();
    d.recycle(seg.encap);
    let again = d.decode(&pkt(&data)).unwrap();
    assert_eq!(
        again.encap.as_ptr(),
        ptr,
        "the same buffer, no new allocation"
    );
}

#[test]
fn reassembled_datagram_that_is_not_tcp_nor_a_tunnel_is_not_tcp() {
    // Before tunnels, a reassembled UDP datagram was parsed as TCP.
    let u = udp(5000, 53, &[0x41; 40]);
    let frag = |off: usize, more: bool, part: &[u8]| {
        let mut ip = ipv4(OUT_SRC, OUT_DST, 17, part);
        let f = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&f.to_be_bytes());
        eth(0x0800, &ip)
    };
    let mut d = Decoder::new();
    let first = frag(0, true, &u[..24]);
    assert_eq!(
        d.decode(&pkt(&first)).map(|_| ()),
        Err(Skip::FragmentPending)
    );
    let last = frag(24, false, &u[24..]);
    assert_eq!(d.decode(&pkt(&last)).map(|_| ()), Err(Skip::NotTcp));
}
