//! Tunnel and encapsulation headers: what a packet rode before its inner IP.
//!
//! Each parser reads one header from the front of a byte slice, checks the
//! fields that tell that header from random bytes (version numbers, flags
//! the specification makes mandatory), and returns the layer it describes
//! and where its payload starts. None of them allocates, and a header cut
//! short is an error, never a panic. The walk from layer to layer (and the
//! depth cap) lives in [`super::Decoder`].

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;
use std::net::IpAddr;

/// UDP destination port of VXLAN (RFC 7348 §5, IANA).
pub const VXLAN_PORT: u16 = 4789;
/// UDP port the Linux kernel uses for VXLAN unless told otherwise.
pub const VXLAN_LINUX_PORT: u16 = 8472;
/// UDP destination port of Geneve (RFC 8926 §3.3).
pub const GENEVE_PORT: u16 = 6081;
/// UDP port of GTP-U (3GPP TS 29.281 §4.4.2).
pub const GTPU_PORT: u16 = 2152;
/// UDP port of L2TP (RFC 2661 §8.1, RFC 3931 §4.1.2.2).
pub const L2TP_PORT: u16 = 1701;
/// UDP destination port of VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe, IANA).
pub const VXLAN_GPE_PORT: u16 = 4790;

/// EtherTypes of the layers handled here.
pub mod ether {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (QinQ).
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard QinQ tags (Cisco/Juniper 0x9100, 0x9200).
    pub const QINQ_9100: u16 = 0x9100;
    /// Second pre-standard QinQ tag.
    pub const QINQ_9200: u16 = 0x9200;
    /// MPLS unicast (RFC 3032 §5).
    pub const MPLS: u16 = 0x8847;
    /// MPLS multicast (RFC 5332 §4).
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// PPPoE session stage (RFC 2516 §4).
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Transparent Ethernet bridging: GRE carrying Ethernet (gretap).
    pub const TEB: u16 = 0x6558;
    /// ERSPAN type I and II (GRE protocol).
    pub const ERSPAN_II: u16 = 0x88BE;
    /// ERSPAN type III (GRE protocol).
    pub const ERSPAN_III: u16 = 0x22EB;
    /// IEEE 802.1ah provider backbone bridging (not decoded).
    pub const PBB: u16 = 0x88E7;
    /// Network Service Header, RFC 8300 (not decoded).
    pub const NSH: u16 = 0x894F;
}

/// An IP-in-IP flavour, named as `ip link` and Wireshark users know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpInIp {
    /// IPv4 in IPv4 (RFC 2003, `ipip`).
    FourInFour,
    /// IPv6 in IPv4 (RFC 4213 §3.5, `sit`).
    SixInFour,
    /// IPv4 in IPv6 (RFC 2473, `ip6tnl`).
    FourInSix,
    /// IPv6 in IPv6 (RFC 2473, `ip6tnl`).
    SixInSix,
}

impl IpInIp {
    fn name(self) -> &'static str {
        match self {
            IpInIp::FourInFour => "ipip",
            IpInIp::SixInFour => "6in4",
            IpInIp::FourInSix => "4in6",
            IpInIp::SixInSix => "6in6",
        }
    }
}

/// The outer addresses of a tunnel that rides IP: the tunnel's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outer {
    /// Tunnel source.
    pub src: IpAddr,
    /// Tunnel destination.
    pub dst: IpAddr,
}

/// One encapsulation layer a packet passed through before its inner IP
/// header; a packet's layers are listed outermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// A VLAN tag (IEEE 802.1Q / 802.1ad); `tpid` is its EtherType.
    Vlan {
        /// 0x8100, 0x88A8, 0x9100 or 0x9200.
        tpid: u16,
        /// VLAN identifier.
        vid: u16,
    },
    /// One MPLS label stack entry (RFC 3032 §2.1).
    Mpls {
        /// The 20-bit label.
        label: u32,
    },
    /// A PPPoE session (RFC 2516).
    Pppoe {
        /// SESSION_ID.
        session: u16,
    },
    /// IP directly in IP.
    Ip {
        /// Which flavour.
        kind: IpInIp,
        /// Tunnel endpoints.
        outer: Outer,
    },
    /// GRE (RFC 2784, RFC 2890) carrying IP or Ethernet.
    Gre {
        /// Tunnel endpoints.
        outer: Outer,
        /// The Key field (RFC 2890 §2.1), when present.
        key: Option<u32>,
    },
    /// ERSPAN (mirrored Ethernet over GRE).
    Erspan {
        /// 1, 2 or 3 (type I has no ERSPAN header).
        version: u8,
        /// Session ID (types II and III).
        session: Option<u16>,
        /// Tunnel endpoints.
        outer: Outer,
    },
    /// VXLAN (RFC 7348).
    Vxlan {
        /// VXLAN network identifier.
        vni: u32,
        /// Tunnel endpoints.
        outer: Outer,
    },
    /// Geneve (RFC 8926).
    Geneve {
        /// Virtual network identifier.
        vni: u32,
        /// Tunnel endpoints.
        outer: Outer,
    },
    /// GTP-U (3GPP TS 29.281), a T-PDU.
    GtpU {
        /// Tunnel endpoint identifier (chosen by the receiving end, so the
        /// two directions of one session carry different TEIDs).
        teid: u32,
        /// Tunnel endpoints.
        outer: Outer,
    },
}

impl Encap {
    /// The layer's kind as the JSON report names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Encap::Vlan { .. } => "vlan",
            Encap::Mpls { .. } => "mpls",
            Encap::Pppoe { .. } => "pppoe",
            Encap::Ip { kind, .. } => kind.name(),
            Encap::Gre { .. } => "gre",
            Encap::Erspan { .. } => "erspan",
            Encap::Vxlan { .. } => "vxlan",
            Encap::Geneve { .. } => "geneve",
            Encap::GtpU { .. } => "gtp-u",
        }
    }

    fn outer(&self) -> Option<Outer> {
        match *self {
            Encap::Ip { outer, .. }
            | Encap::Gre { outer, .. }
            | Encap::Erspan { outer, .. }
            | Encap::Vxlan { outer, .. }
            | Encap::Geneve { outer, .. }
            | Encap::GtpU { outer, .. } => Some(outer),
            Encap::Vlan { .. } | Encap::Mpls { .. } | Encap::Pppoe { .. } => None,
        }
    }
}

fn tag_name(tpid: u16) -> &'static str {
    match tpid {
        ether::VLAN => "802.1Q",
        ether::QINQ => "802.1ad",
        ether::QINQ_9100 => "0x9100",
        _ => "0x9200",
    }
}

/// `vxlan(vni=42, 10.0.0.1 → 10.0.0.2)`, as the text report shows it.
impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Encap::Vlan { tpid, vid } => return write!(f, "{}(vid={vid})", tag_name(tpid)),
            Encap::Mpls { label } => return write!(f, "mpls(label={label})"),
            Encap::Pppoe { session } => return write!(f, "pppoe(session=0x{session:04x})"),
            Encap::Ip { kind, .. } => write!(f, "{}(", kind.name())?,
            Encap::Gre { key: Some(k), .. } => write!(f, "gre(key={k}, ")?,
            Encap::Gre { key: None, .. } => write!(f, "gre(")?,
            Encap::Erspan {
                version,
                session: Some(s),
                ..
            } => write!(f, "erspan(type={version}, session={s}, ")?,
            Encap::Erspan { version, .. } => write!(f, "erspan(type={version}, ")?,
            Encap::Vxlan { vni, .. } => write!(f, "vxlan(vni={vni}, ")?,
            Encap::Geneve { vni, .. } => write!(f, "geneve(vni={vni}, ")?,
            Encap::GtpU { teid, .. } => write!(f, "gtp-u(teid=0x{teid:08x}, ")?,
        }
        if let Some(o) = self.outer() {
            write!(f, "{} → {}", o.src, o.dst)?;
        }
        f.write_str(")")
    }
}

/// A flat, stable JSON object: `{"kind": "vxlan", "vni": 42,
/// "outer_src": "10.0.0.1", "outer_dst": "10.0.0.2"}`; absent parameters
/// are left out.
impl Serialize for Encap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.kind())?;
        match *self {
            Encap::Vlan { tpid, vid } => {
                m.serialize_entry("tag", tag_name(tpid))?;
                m.serialize_entry("vid", &vid)?;
            }
            Encap::Mpls { label } => m.serialize_entry("label", &label)?,
            Encap::Pppoe { session } => m.serialize_entry("session", &session)?,
            Encap::Gre { key: Some(k), .. } => m.serialize_entry("key", &k)?,
            Encap::Erspan {
                version, session, ..
            } => {
                m.serialize_entry("type", &version)?;
                if let Some(s) = session {
                    m.serialize_entry("session", &s)?;
                }
            }
            Encap::Vxlan { vni, .. } | Encap::Geneve { vni, .. } => {
                m.serialize_entry("vni", &vni)?;
            }
            Encap::GtpU { teid, .. } => m.serialize_entry("teid", &teid)?,
            Encap::Ip { .. } | Encap::Gre { key: None, .. } => {}
        }
        if let Some(o) = self.outer() {
            m.serialize_entry("outer_src", &o.src.to_string())?;
            m.serialize_entry("outer_dst", &o.dst.to_string())?;
        }
        m.end()
    }
}

/// The address space an inner packet's addresses belong to, part of the
/// flow key ([`crate::flow::FlowKey`]).
///
/// Overlays exist so that tenants can reuse addresses: the same inner
/// 5-tuple in two VXLAN segments, or behind two GTP-U tunnel peers, is two
/// connections. Only identifiers that both directions of a connection
/// carry make a scope: a VNI names the segment on both ways (RFC 7348 §5,
/// RFC 8926 §3.4); GTP-U TEIDs differ per direction (TS 29.281 §5.1: the
/// receiver allocates it), so GTP-U is scoped by its pair of tunnel peers
/// instead. GRE keys, MPLS labels and VLAN IDs are left out: they may
/// differ per direction or per hop (a routed VLAN shows one connection in
/// two VLANs), and keying on them would split one connection in two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelScope {
    /// Plain traffic, or tunnels without an address-space identifier.
    #[default]
    Global,
    /// A VXLAN segment.
    Vxlan(u32),
    /// A Geneve virtual network.
    Geneve(u32),
    /// GTP-U between two tunnel peers (in canonical order).
    GtpPeers(IpAddr, IpAddr),
}

impl TunnelScope {
    /// The scope of the innermost layer that defines one.
    pub fn of(layers: &[Encap]) -> Self {
        layers
            .iter()
            .rev()
            .find_map(|l| match *l {
                Encap::Vxlan { vni, .. } => Some(TunnelScope::Vxlan(vni)),
                Encap::Geneve { vni, .. } => Some(TunnelScope::Geneve(vni)),
                Encap::GtpU { outer, .. } => Some(TunnelScope::GtpPeers(
                    outer.src.min(outer.dst),
                    outer.src.max(outer.dst),
                )),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// A tunnel recognised but not decoded; its packets are counted by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unsupported {
    /// GRE carrying a protocol other than IP, Ethernet, ERSPAN or MPLS.
    GreProtocol(u16),
    /// Enhanced GRE, version 1 (PPTP, RFC 2637 §4.1).
    GreVersion1,
    /// GRE with the RFC 1701 routing bit set.
    GreRouting,
    /// ERSPAN type III carrying a frame type other than Ethernet or IP.
    ErspanFrameType(u8),
    /// L2TP over UDP (RFC 2661, RFC 3931).
    L2tp,
    /// L2TPv3 directly over IP (protocol 115).
    L2tpV3Ip,
    /// VXLAN-GPE.
    VxlanGpe,
    /// Geneve carrying a protocol other than Ethernet or IP.
    GeneveProtocol(u16),
    /// EtherIP (RFC 3378, IP protocol 97).
    EtherIp,
    /// GTP-U T-PDU whose payload is not IP (Ethernet or unstructured PDU
    /// sessions).
    GtpNonIp,
    /// An MPLS payload that is neither IPv4, IPv6 nor Ethernet with a
    /// control word (or one that does not pass their checks).
    MplsPayload,
    /// PPP inside PPPoE carrying a network protocol other than IP.
    PppProtocol(u16),
    /// IEEE 802.1ah provider backbone bridging.
    Pbb,
    /// Network Service Header.
    Nsh,
    /// More nested layers than the decoder's depth cap.
    DepthCap(usize),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::GreProtocol(p) => write!(f, "gre(protocol=0x{p:04x})"),
            Unsupported::GreVersion1 => f.write_str("gre version 1 (pptp)"),
            Unsupported::GreRouting => f.write_str("gre with routing (rfc 1701)"),
            Unsupported::ErspanFrameType(t) => write!(f, "erspan type 3 (frame type {t})"),
            Unsupported::L2tp => f.write_str("l2tp"),
            Unsupported::L2tpV3Ip => f.write_str("l2tpv3 over ip"),
            Unsupported::VxlanGpe => f.write_str("vxlan-gpe"),
            Unsupported::GeneveProtocol(p) => write!(f, "geneve(protocol=0x{p:04x})"),
            Unsupported::EtherIp => f.write_str("etherip"),
            Unsupported::GtpNonIp => f.write_str("gtp-u with a non-ip payload"),
            Unsupported::MplsPayload => f.write_str("mpls with an unrecognised payload"),
            Unsupported::PppProtocol(p) => write!(f, "pppoe(ppp protocol=0x{p:04x})"),
            Unsupported::Pbb => f.write_str("802.1ah (pbb)"),
            Unsupported::Nsh => f.write_str("nsh"),
            Unsupported::DepthCap(n) => write!(
                f,
                "nested deeper than {n} layer{}",
                if *n == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Why a tunnel header does not yield its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// Not this kind of header after all (e.g. UDP on 4789 without the
    /// VXLAN I flag): the packet is what its outer headers say.
    NotIt,
    /// Recognised, not decoded.
    Unsupported(Unsupported),
    /// Recognised, cut short or inconsistent.
    Malformed(&'static str),
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What follows a tunnel header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// The payload of the given EtherType (IP, MPLS, VLAN ...).
    EtherType(u16, &'a [u8]),
}

/// A decoded GRE header (RFC 2784 §2, RFC 2890 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gre<'a> {
    /// Protocol Type: the payload's EtherType.
    pub protocol: u16,
    /// Key, if the K bit is set.
    pub key: Option<u32>,
    /// The S bit: a sequence number is present (tells ERSPAN II from I).
    pub sequenced: bool,
    /// What follows the header.
    pub payload: &'a [u8],
}

/// Parses a GRE header: flags C (checksum and reserved1 present), K (key),
/// S (sequence number); version 0 only.
pub fn gre(b: &[u8]) -> Result<Gre<'_>, Bad> {
    let cut = Bad::Malformed("GRE header cut short");
    let (flags, ver) = match b {
        [f, v, ..] => (*f, *v & 0x07),
        _ => return Err(cut),
    };
    if ver == 1 {
        return Err(Bad::Unsupported(Unsupported::GreVersion1));
    }
    if ver != 0 {
        return Err(Bad::Malformed("GRE version is neither 0 nor 1"));
    }
    if flags & 0x40 != 0 {
        return Err(Bad::Unsupported(Unsupported::GreRouting));
    }
    let protocol = be16(b, 2).ok_or(cut.clone())?;
    let mut at = 4;
    if flags & 0x80 != 0 {
        at += 4;
    }
    let key = if flags & 0x20 != 0 {
        let k = be32(b, at).ok_or(cut.clone())?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let sequenced = flags & 0x10 != 0;
    if sequenced {
        at += 4;
    }
    let payload = b.get(at..).ok_or(cut)?;
    Ok(Gre {
        protocol,
        key,
        sequenced,
        payload,
    })
}

/// An ERSPAN header: version, session and the mirrored frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erspan<'a> {
    /// 2 (type II) or 3 (type III), as the report counts them.
    pub version: u8,
    /// Session ID (10 bits).
    pub session: u16,
    /// The mirrored frame.
    pub payload: Payload<'a>,
}

/// ERSPAN type II: an 8-byte header, Ver = 1, then the Ethernet frame
/// (draft-foschiano-erspan §4.1).
pub fn erspan2(b: &[u8]) -> Result<Erspan<'_>, Bad> {
    let w0 = be32(b, 0).ok_or(Bad::Malformed("ERSPAN II header cut short"))?;
    if w0 >> 28 != 1 {
        return Err(Bad::Malformed("ERSPAN II header without version 1"));
    }
    let payload = b
        .get(8..)
        .ok_or(Bad::Malformed("ERSPAN II header cut short"))?;
    Ok(Erspan {
        version: 2,
        session: (w0 & 0x3FF) as u16,
        payload: Payload::Ethernet(payload),
    })
}

/// ERSPAN type III: a 12-byte header, Ver = 2, frame type FT (0 Ethernet,
/// 2 IP), and an 8-byte platform-specific subheader when O is set
/// (draft-foschiano-erspan §4.2).
pub fn erspan3(b: &[u8]) -> Result<Erspan<'_>, Bad> {
    let cut = Bad::Malformed("ERSPAN III header cut short");
    let w0 = be32(b, 0).ok_or(cut.clone())?;
    if w0 >> 28 != 2 {
        return Err(Bad::Malformed("ERSPAN III header without version 2"));
    }
    let w2 = be32(b, 8).ok_or(cut.clone())?;
    let frame_type = ((w2 >> 10) & 0x1F) as u8;
    let optional = w2 & 1 != 0;
    let start = if optional { 20 } else { 12 };
    let rest = b.get(start..).ok_or(cut)?;
    let payload = match frame_type {
        0 => Payload::Ethernet(rest),
        2 => match rest.first().map(|v| v >> 4) {
            Some(6) => Payload::EtherType(ether::IPV6, rest),
            _ => Payload::EtherType(ether::IPV4, rest),
        },
        t => return Err(Bad::Unsupported(Unsupported::ErspanFrameType(t))),
    };
    Ok(Erspan {
        version: 3,
        session: (w0 & 0x3FF) as u16,
        payload,
    })
}

/// VXLAN (RFC 7348 §5): 8 bytes, the I flag set, then Ethernet. Without
/// the I flag the datagram is not taken for VXLAN.
pub fn vxlan(b: &[u8]) -> Result<(u32, &[u8]), Bad> {
    match b.first() {
        Some(f) if f & 0x08 != 0 => {}
        _ => return Err(Bad::NotIt),
    }
    let vni = be32(b, 4).ok_or(Bad::Malformed("VXLAN header cut short"))? >> 8;
    let rest = b.get(8..).ok_or(Bad::Malformed("VXLAN header cut short"))?;
    Ok((vni, rest))
}

/// VXLAN-GPE on its own port: the I and P flags set. Recognised so that
/// its packets are counted, not decoded.
pub fn is_vxlan_gpe(b: &[u8]) -> bool {
    b.len() >= 8 && b[0] & 0x0C == 0x0C
}

/// Geneve (RFC 8926 §3.4): version 0, options skipped by Opt Len; payload
/// Ethernet (0x6558) or IP.
pub fn geneve(b: &[u8]) -> Result<(u32, Payload<'_>), Bad> {
    let Some(&first) = b.first() else {
        return Err(Bad::NotIt);
    };
    if first >> 6 != 0 {
        return Err(Bad::NotIt);
    }
    let cut = Bad::Malformed("Geneve header cut short");
    let protocol = be16(b, 2).ok_or(cut.clone())?;
    let vni = be32(b, 4).ok_or(cut.clone())? >> 8;
    let len = 8 + usize::from(first & 0x3F) * 4;
    let rest = b.get(len..).ok_or(cut)?;
    let payload = match protocol {
        ether::TEB => Payload::Ethernet(rest),
        ether::IPV4 | ether::IPV6 => Payload::EtherType(protocol, rest),
        p => return Err(Bad::Unsupported(Unsupported::GeneveProtocol(p))),
    };
    Ok((vni, payload))
}

/// GTP-U (3GPP TS 29.281 §5): version 1, PT 1; the optional 4 bytes when
/// any of E, S, PN is set; extension headers chained by their last byte,
/// each `4 × length` bytes long. Only a T-PDU (type 255) carries a user
/// packet; other messages (echo, error indication, end marker) yield
/// [`Bad::NotIt`]. Returns the TEID and the user packet.
pub fn gtpu(b: &[u8]) -> Result<(u32, &[u8]), Bad> {
    let (flags, kind) = match b {
        [f, t, ..] => (*f, *t),
        _ => return Err(Bad::NotIt),
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(Bad::NotIt);
    }
    if kind != 0xFF {
        return Err(Bad::NotIt);
    }
    let cut = Bad::Malformed("GTP-U header cut short");
    let teid = be32(b, 4).ok_or(cut.clone())?;
    let mut at = 8;
    if flags & 0x07 != 0 {
        let mut next = *b.get(11).ok_or(cut.clone())?;
        at = 12;
        // Each extension is at least 4 bytes, so the loop ends with the
        // packet.
        while next != 0 {
            let units = usize::from(*b.get(at).ok_or(cut.clone())?);
            if units == 0 {
                return Err(Bad::Malformed("GTP-U extension header of length 0"));
            }
            let end = at + units * 4;
            next = *b.get(end - 1).ok_or(cut.clone())?;
            at = end;
        }
    }
    let rest = b.get(at..).ok_or(cut)?;
    match rest.first().map(|v| v >> 4) {
        None => Err(Bad::Malformed("GTP-U T-PDU without a payload")),
        Some(4 | 6) => Ok((teid, rest)),
        Some(_) => Err(Bad::Unsupported(Unsupported::GtpNonIp)),
    }
}

/// PPPoE session stage (RFC 2516 §4): VER = 1, TYPE = 1, CODE = 0, then a
/// PPP protocol field (RFC 1661 §2; one byte when compressed). Returns the
/// session, the PPP protocol and its payload.
pub fn pppoe(b: &[u8]) -> Result<(u16, u16, &[u8]), Bad> {
    let cut = Bad::Malformed("PPPoE header cut short");
    match b {
        [0x11, 0x00, ..] => {}
        [_, _, ..] => return Err(Bad::Malformed("PPPoE session header not version 1, code 0")),
        _ => return Err(cut),
    }
    let session = be16(b, 2).ok_or(cut.clone())?;
    let first = *b.get(6).ok_or(cut.clone())?;
    let (proto, at) = if first & 1 == 1 {
        (u16::from(first), 7)
    } else {
        (be16(b, 6).ok_or(cut.clone())?, 8)
    };
    Ok((session, proto, b.get(at..).ok_or(cut)?))
}

/// The payload after the bottom of an MPLS label stack (RFC 3032 carries no
/// payload type), decided on evidence:
/// - the IPv4 / IPv6 explicit-null labels (0, 2) name their payload;
/// - first nibble 4 with a valid IPv4 header checksum: IPv4;
/// - first nibble 6 with an IPv6 payload length that fits: IPv6;
/// - first nibble 0: a pseudowire control word (RFC 4385 §3), then an
///   Ethernet frame (RFC 4448) whose EtherType is IP, VLAN or MPLS;
/// - nibble 1 is the associated channel (RFC 5586), not user traffic.
///
/// Anything else is counted as unsupported rather than guessed.
pub fn mpls_payload(bottom_label: u32, b: &[u8]) -> Result<Payload<'_>, Bad> {
    match bottom_label {
        0 => return Ok(Payload::EtherType(ether::IPV4, b)),
        2 => return Ok(Payload::EtherType(ether::IPV6, b)),
        _ => {}
    }
    let Some(&first) = b.first() else {
        return Err(Bad::Malformed("MPLS without a payload"));
    };
    let cut = Bad::Malformed("MPLS payload cut short");
    match first >> 4 {
        4 if b.len() < usize::from(first & 0x0F).max(5) * 4 => Err(cut),
        6 if b.len() < 40 => Err(cut),
        4 if ipv4_header_checks(b) => Ok(Payload::EtherType(ether::IPV4, b)),
        6 if b.len() >= 40 && be16(b, 4).is_some_and(|l| usize::from(l) + 40 >= b.len()) => {
            Ok(Payload::EtherType(ether::IPV6, b))
        }
        0 => {
            let eth = b.get(4..).unwrap_or(&[]);
            match be16(eth, 12) {
                Some(
                    ether::IPV4
                    | ether::IPV6
                    | ether::VLAN
                    | ether::QINQ
                    | ether::MPLS
                    | ether::MPLS_MULTICAST,
                ) => Ok(Payload::Ethernet(eth)),
                None => Err(Bad::Malformed("MPLS pseudowire cut short")),
                Some(_) => Err(Bad::Unsupported(Unsupported::MplsPayload)),
            }
        }
        1 => Err(Bad::NotIt),
        _ => Err(Bad::Unsupported(Unsupported::MplsPayload)),
    }
}

/// IHL ≥ 5 and the header checksum verifies (RFC 791 §3.1, RFC 1071).
fn ipv4_header_checks(b: &[u8]) -> bool {
    let ihl = usize::from(b.first().map_or(0, |v| v & 0x0F)) * 4;
    let Some(h) = b.get(..ihl).filter(|_| ihl >= 20) else {
        return false;
    };
    let mut sum: u32 = h
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum == 0xFFFF
}

#[cfg(test)]
mod tests;
