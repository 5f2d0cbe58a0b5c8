//! Link, IP and TCP decoding: [`RawPacket`] → [`TcpSegment`].
//!
//! Stateless except for IPv4 fragment reassembly ([`ipfrag`]). Uses
//! etherparse's lax parsers so that packets cut by the snapshot length still
//! yield their headers; the number of TCP payload bytes that the IP header
//! announces but the capture lacks is reported as [`TcpSegment::missing`].
//! Linux cooked v2 and BSD loopback headers are stripped by hand (etherparse
//! has no SLL2).

pub mod ipfrag;
pub mod tunnel;

use crate::capture::{LinkType, RawPacket};
use etherparse::{
    EtherType, IpNumber, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice, TcpHeaderSlice,
};
use ipfrag::{Defragmenter, FragmentKey};
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use tunnel::{Bad, IpInIp, Outer, Payload};
pub use tunnel::{Encap, TunnelScope, Unsupported};

/// TCP control flags that matter to stream tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// SYN: opens a connection, consumes one sequence number.
    pub syn: bool,
    /// ACK: the acknowledgment number is valid.
    pub ack: bool,
    /// FIN: the sender has no more data; consumes one sequence number.
    pub fin: bool,
    /// RST: the connection is aborted.
    pub rst: bool,
}

/// One decoded TCP segment.
#[derive(Debug, Clone)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (or of the SYN/FIN).
    pub seq: u32,
    /// Acknowledgment number (valid when `flags.ack`).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Captured payload bytes.
    pub payload: Cow<'a, [u8]>,
    /// Payload bytes announced by the IP length but not captured (snaplen).
    pub missing: u32,
    /// The encapsulation layers the packet rode, outermost first; empty
    /// (and unallocated) for plain traffic. Give it back with
    /// [`Decoder::recycle`].
    pub encap: Vec<Encap>,
    /// The inner addresses' address space (part of the flow key).
    pub scope: TunnelScope,
}

impl TcpSegment<'_> {
    /// The same segment owning its payload.
    pub fn into_owned(self) -> TcpSegment<'static> {
        TcpSegment {
            payload: Cow::Owned(self.payload.into_owned()),
            ..self
        }
    }
}

/// Why a packet yields no TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not TCP (UDP, ARP, ICMP ...): silently ignored.
    NotTcp,
    /// An IPv4 fragment was stored; the datagram is not complete yet.
    FragmentPending,
    /// The link type is not decoded.
    UnsupportedLink(LinkType),
    /// A tunnel that is recognised but not decoded (or nested deeper than
    /// the cap): counted by kind in the capture summary.
    UnsupportedTunnel(Unsupported),
    /// The packet is malformed or cut before the TCP header ends.
    Malformed(String),
}

/// Default cap on nested encapsulation layers ([`Decoder::with_max_depth`]).
pub const MAX_TUNNEL_DEPTH: usize = 16;

/// Decodes packets; holds IPv4 fragments between calls.
#[derive(Debug)]
pub struct Decoder {
    defrag: Defragmenter,
    /// Layers of the packet being decoded; handed out in
    /// [`TcpSegment::encap`] and given back by [`Decoder::recycle`], so a
    /// capture of tunnelled packets allocates once, not per packet.
    spare: Vec<Encap>,
    max_depth: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            defrag: Defragmenter::default(),
            spare: Vec::new(),
            max_depth: MAX_TUNNEL_DEPTH,
        }
    }
}

/// The next layer of a packet, found under a tunnel header.
enum Next<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// The payload of an EtherType.
    EtherType(u16, &'a [u8]),
}

impl Decoder {
    /// Creates a decoder with a default fragment pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that follows at most `depth` nested encapsulation layers
    /// (VLAN tags and MPLS labels count one each); deeper packets are
    /// counted as [`Unsupported::DepthCap`].
    pub fn with_max_depth(depth: usize) -> Self {
        Decoder {
            max_depth: depth,
            ..Self::default()
        }
    }

    /// Gives back the layer list of a segment, to be reused.
    pub fn recycle(&mut self, mut layers: Vec<Encap>) {
        if layers.capacity() > self.spare.capacity() {
            layers.clear();
            self.spare = layers;
        }
    }

    /// Decodes one packet to a TCP segment.
    pub fn decode<'a>(&mut self, pkt: &RawPacket<'a>) -> Result<TcpSegment<'a>, Skip> {
        let sliced = slice_link(pkt.link, pkt.data)?;
        let mut layers = std::mem::take(&mut self.spare);
        layers.clear();
        let r = self.walk(sliced, &mut layers, pkt.number.0);
        match r {
            Ok(seg) if layers.is_empty() => {
                self.spare = layers;
                Ok(seg)
            }
            Ok(mut seg) => {
                seg.scope = TunnelScope::of(&layers);
                seg.encap = layers;
                Ok(seg)
            }
            Err(e) => {
                self.spare = layers;
                Err(e)
            }
        }
    }

    /// Follows the layers of a packet down to its TCP segment.
    fn walk<'b>(
        &mut self,
        mut sliced: LaxSlicedPacket<'b>,
        layers: &mut Vec<Encap>,
        packet: u64,
    ) -> Result<TcpSegment<'b>, Skip> {
        loop {
            if !sliced.link_exts.is_empty() {
                self.push_vlans(&sliced, layers)?;
            }
            if let Some((_, layer)) = &sliced.stop_err
                && sliced.net.is_none()
            {
                return Err(Skip::Malformed(format!(
                    "cut or malformed {layer:?} header"
                )));
            }
            let Some(net) = sliced.net else {
                let ep = sliced.ether_payload().ok_or(Skip::NotTcp)?;
                sliced = slice(self.ether_next(ep.ether_type.0, ep.payload, layers)?)?;
                continue;
            };
            let ip = ip_view(&net)?;
            if ip.fragmented {
                let Some(key) = ip.frag_key else {
                    return Err(Skip::Malformed("IPv6 fragments are not reassembled".into()));
                };
                let Some(datagram) =
                    self.defrag
                        .push(key, ip.frag_offset, ip.more_fragments, ip.payload, packet)
                else {
                    return Err(Skip::FragmentPending);
                };
                if ip.protocol == IpNumber::TCP {
                    return tcp_from(ip.src, ip.dst, Cow::Owned(datagram), None);
                }
                // A tunnel packet in fragments: decapsulate the datagram,
                // and own what it yields.
                let outer = Outer {
                    src: ip.src,
                    dst: ip.dst,
                };
                let inner = slice(self.ip_next(ip.protocol, outer, &datagram, layers)?)?;
                return self.walk(inner, layers, packet).map(TcpSegment::into_owned);
            }
            if ip.protocol == IpNumber::TCP {
                return tcp_from(
                    ip.src,
                    ip.dst,
                    Cow::Borrowed(ip.payload),
                    ip.declared_payload,
                );
            }
            let outer = Outer {
                src: ip.src,
                dst: ip.dst,
            };
            sliced = slice(self.ip_next(ip.protocol, outer, ip.payload, layers)?)?;
        }
    }

    /// The VLAN tags etherparse sliced, each named by the EtherType that
    /// announced it.
    fn push_vlans(
        &self,
        sliced: &LaxSlicedPacket<'_>,
        layers: &mut Vec<Encap>,
    ) -> Result<(), Skip> {
        let mut tpid = match &sliced.link {
            Some(LinkSlice::Ethernet2(e)) => e.ether_type().0,
            Some(LinkSlice::EtherPayload(p)) => p.ether_type.0,
            _ => tunnel::ether::VLAN,
        };
        for ext in &sliced.link_exts {
            if let LaxLinkExtSlice::Vlan(v) = ext {
                self.push(
                    layers,
                    Encap::Vlan {
                        tpid,
                        vid: v.vlan_identifier().value(),
                    },
                )?;
                tpid = v.ether_type().0;
            }
        }
        Ok(())
    }

    /// Adds a layer, unless the packet is already nested as deep as the cap
    /// allows.
    fn push(&self, layers: &mut Vec<Encap>, layer: Encap) -> Result<(), Skip> {
        if layers.len() >= self.max_depth {
            return Err(Skip::UnsupportedTunnel(Unsupported::DepthCap(
                self.max_depth,
            )));
        }
        layers.push(layer);
        Ok(())
    }

    /// The layer inside an IP payload that is not TCP: a tunnel, or nothing
    /// this decoder follows ([`Skip::NotTcp`]).
    fn ip_next<'b>(
        &self,
        protocol: IpNumber,
        outer: Outer,
        payload: &'b [u8],
        layers: &mut Vec<Encap>,
    ) -> Result<Next<'b>, Skip> {
        let in_ip = |kind| Encap::Ip { kind, outer };
        let v4 = outer.src.is_ipv4();
        match protocol.0 {
            // RFC 2003 / RFC 2473 / RFC 4213: the payload is the inner IP
            // header, whose version must match the protocol number.
            4 => {
                self.push(
                    layers,
                    in_ip(if v4 {
                        IpInIp::FourInFour
                    } else {
                        IpInIp::FourInSix
                    }),
                )?;
                Ok(Next::EtherType(tunnel::ether::IPV4, payload))
            }
            41 => {
                self.push(
                    layers,
                    in_ip(if v4 {
                        IpInIp::SixInFour
                    } else {
                        IpInIp::SixInSix
                    }),
                )?;
                Ok(Next::EtherType(tunnel::ether::IPV6, payload))
            }
            47 => self.gre_next(outer, payload, layers),
            // MPLS in IP (RFC 4023 §3).
            137 => Ok(Next::EtherType(tunnel::ether::MPLS, payload)),
            97 => Err(Skip::UnsupportedTunnel(Unsupported::EtherIp)),
            115 => Err(Skip::UnsupportedTunnel(Unsupported::L2tpV3Ip)),
            17 => self.udp_next(outer, payload, layers),
            _ => Err(Skip::NotTcp),
        }
    }

    /// Tunnels over UDP, on their IANA ports (and Linux's VXLAN port) only,
    /// each after its header checks out.
    fn udp_next<'b>(
        &self,
        outer: Outer,
        udp: &'b [u8],
        layers: &mut Vec<Encap>,
    ) -> Result<Next<'b>, Skip> {
        let (Some(sport), Some(dport), Some(len)) = (be16(udp, 0), be16(udp, 2), be16(udp, 4))
        else {
            return Err(Skip::NotTcp);
        };
        // The UDP length bounds the payload (Ethernet padding follows it);
        // a capture cut short gives less.
        let end = usize::from(len).clamp(8, udp.len().max(8));
        let body = udp.get(8..end.min(udp.len())).unwrap_or(&[]);
        let r =
            match dport {
                tunnel::VXLAN_PORT | tunnel::VXLAN_LINUX_PORT => tunnel::vxlan(body)
                    .map(|(vni, b)| (Encap::Vxlan { vni, outer }, Next::Ethernet(b))),
                tunnel::GENEVE_PORT => tunnel::geneve(body)
                    .map(|(vni, p)| (Encap::Geneve { vni, outer }, payload_next(p))),
                tunnel::VXLAN_GPE_PORT if tunnel::is_vxlan_gpe(body) => {
                    Err(Bad::Unsupported(Unsupported::VxlanGpe))
                }
                _ if dport == tunnel::GTPU_PORT || sport == tunnel::GTPU_PORT => tunnel::gtpu(body)
                    .map(|(teid, b)| {
                        let t = if b.first().is_some_and(|v| v >> 4 == 6) {
                            tunnel::ether::IPV6
                        } else {
                            tunnel::ether::IPV4
                        };
                        (Encap::GtpU { teid, outer }, Next::EtherType(t, b))
                    }),
                _ if dport == tunnel::L2TP_PORT || sport == tunnel::L2TP_PORT => {
                    // L2TPv2 (RFC 2661 §3.1) or v3 (RFC 3931 §4.1.2.1): the
                    // version in the low nibble of the second byte.
                    match body.get(1).map(|v| v & 0x0F) {
                        Some(2 | 3) => Err(Bad::Unsupported(Unsupported::L2tp)),
                        _ => Err(Bad::NotIt),
                    }
                }
                _ => Err(Bad::NotIt),
            };
        let (layer, next) = r.map_err(bad)?;
        self.push(layers, layer)?;
        Ok(next)
    }

    /// GRE and what it carries, ERSPAN included.
    fn gre_next<'b>(
        &self,
        outer: Outer,
        payload: &'b [u8],
        layers: &mut Vec<Encap>,
    ) -> Result<Next<'b>, Skip> {
        let g = tunnel::gre(payload).map_err(bad)?;
        use tunnel::ether;
        let (layer, next) = match g.protocol {
            ether::ERSPAN_II if g.sequenced => {
                let e = tunnel::erspan2(g.payload).map_err(bad)?;
                (
                    Encap::Erspan {
                        version: e.version,
                        session: Some(e.session),
                        outer,
                    },
                    payload_next(e.payload),
                )
            }
            // Type I: no sequence number and no ERSPAN header.
            ether::ERSPAN_II => (
                Encap::Erspan {
                    version: 1,
                    session: None,
                    outer,
                },
                Next::Ethernet(g.payload),
            ),
            ether::ERSPAN_III => {
                let e = tunnel::erspan3(g.payload).map_err(bad)?;
                (
                    Encap::Erspan {
                        version: e.version,
                        session: Some(e.session),
                        outer,
                    },
                    payload_next(e.payload),
                )
            }
            ether::TEB => (Encap::Gre { outer, key: g.key }, Next::Ethernet(g.payload)),
            ether::IPV4 | ether::IPV6 | ether::MPLS | ether::MPLS_MULTICAST => (
                Encap::Gre { outer, key: g.key },
                Next::EtherType(g.protocol, g.payload),
            ),
            p => return Err(Skip::UnsupportedTunnel(Unsupported::GreProtocol(p))),
        };
        self.push(layers, layer)?;
        Ok(next)
    }

    /// EtherTypes that etherparse leaves to us: more VLAN tags than it
    /// slices, MPLS, PPPoE.
    fn ether_next<'b>(
        &self,
        ether_type: u16,
        b: &'b [u8],
        layers: &mut Vec<Encap>,
    ) -> Result<Next<'b>, Skip> {
        use tunnel::ether;
        match ether_type {
            ether::VLAN | ether::QINQ | ether::QINQ_9100 | ether::QINQ_9200 => {
                let (Some(tci), Some(inner)) = (be16(b, 0), be16(b, 2)) else {
                    return Err(Skip::Malformed("VLAN tag cut short".into()));
                };
                self.push(
                    layers,
                    Encap::Vlan {
                        tpid: ether_type,
                        vid: tci & 0x0FFF,
                    },
                )?;
                Ok(Next::EtherType(inner, b.get(4..).unwrap_or(&[])))
            }
            ether::MPLS | ether::MPLS_MULTICAST => {
                let mut at = 0;
                loop {
                    let Some(entry) = be32(b, at) else {
                        return Err(Skip::Malformed("MPLS label stack cut short".into()));
                    };
                    let label = entry >> 12;
                    self.push(layers, Encap::Mpls { label })?;
                    at += 4;
                    if entry & 0x100 != 0 {
                        let rest = b.get(at..).unwrap_or(&[]);
                        return tunnel::mpls_payload(label, rest)
                            .map(payload_next)
                            .map_err(bad);
                    }
                }
            }
            ether::PPPOE_SESSION => {
                let (session, proto, rest) = tunnel::pppoe(b).map_err(bad)?;
                let next = match proto {
                    0x0021 => Next::EtherType(ether::IPV4, rest),
                    0x0057 => Next::EtherType(ether::IPV6, rest),
                    // Link and network control protocols (RFC 1661 §2).
                    p if p >= 0x8000 => return Err(Skip::NotTcp),
                    p => return Err(Skip::UnsupportedTunnel(Unsupported::PppProtocol(p))),
                };
                self.push(layers, Encap::Pppoe { session })?;
                Ok(next)
            }
            ether::TEB => Ok(Next::Ethernet(b)),
            ether::PBB => Err(Skip::UnsupportedTunnel(Unsupported::Pbb)),
            ether::NSH => Err(Skip::UnsupportedTunnel(Unsupported::Nsh)),
            _ => Err(Skip::NotTcp),
        }
    }

    /// Fragments still waiting for their missing parts.
    pub fn pending_fragments(&self) -> usize {
        self.defrag.pending()
    }
}

/// Slices the layer found under a tunnel header.
fn slice(next: Next<'_>) -> Result<LaxSlicedPacket<'_>, Skip> {
    match next {
        Next::Ethernet(b) => LaxSlicedPacket::from_ethernet(b)
            .map_err(|_| Skip::Malformed("inner Ethernet header cut short".into())),
        Next::EtherType(t, b) => Ok(LaxSlicedPacket::from_ether_type(EtherType(t), b)),
    }
}

fn payload_next(p: Payload<'_>) -> Next<'_> {
    match p {
        Payload::Ethernet(b) => Next::Ethernet(b),
        Payload::EtherType(t, b) => Next::EtherType(t, b),
    }
}

fn bad(b: Bad) -> Skip {
    match b {
        Bad::NotIt => Skip::NotTcp,
        Bad::Unsupported(u) => Skip::UnsupportedTunnel(u),
        Bad::Malformed(why) => Skip::Malformed(why.into()),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The parts of an IP header that decoding needs.
struct IpView<'a> {
    src: IpAddr,
    dst: IpAddr,
    protocol: IpNumber,
    payload: &'a [u8],
    /// IP payload length announced by the header (None when unknown, e.g.
    /// IPv4 total length 0 from TCP segmentation offload).
    declared_payload: Option<usize>,
    fragmented: bool,
    more_fragments: bool,
    frag_offset: usize,
    frag_key: Option<FragmentKey>,
}

fn ip_view<'a>(net: &LaxNetSlice<'a>) -> Result<IpView<'a>, Skip> {
    match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let p = v4.payload();
            let hlen = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            let src = IpAddr::V4(h.source_addr());
            let dst = IpAddr::V4(h.destination_addr());
            Ok(IpView {
                src,
                dst,
                protocol: p.ip_number,
                payload: p.payload,
                declared_payload: (total > 0).then(|| total.saturating_sub(hlen)),
                fragmented: p.fragmented,
                more_fragments: h.more_fragments(),
                frag_offset: usize::from(h.fragments_offset().value()) * 8,
                frag_key: Some(FragmentKey {
                    src,
                    dst,
                    id: h.identification(),
                    protocol: p.ip_number.0,
                }),
            })
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            let ext = v6.extensions().slice().len();
            Ok(IpView {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                protocol: p.ip_number,
                payload: p.payload,
                declared_payload: Some(usize::from(h.payload_length()).saturating_sub(ext)),
                fragmented: p.fragmented,
                more_fragments: false,
                frag_offset: 0,
                frag_key: None,
            })
        }
        _ => Err(Skip::NotTcp),
    }
}

/// Parses the TCP header at the start of an IP payload.
fn tcp_from<'a>(
    src: IpAddr,
    dst: IpAddr,
    ip_payload: Cow<'a, [u8]>,
    declared_ip_payload: Option<usize>,
) -> Result<TcpSegment<'a>, Skip> {
    let (sport, dport, seq, ack, flags, hlen) = {
        let h = TcpHeaderSlice::from_slice(&ip_payload)
            .map_err(|e| Skip::Malformed(format!("TCP header: {e}")))?;
        let flags = TcpFlags {
            syn: h.syn(),
            ack: h.ack(),
            fin: h.fin(),
            rst: h.rst(),
        };
        (
            h.source_port(),
            h.destination_port(),
            h.sequence_number(),
            h.acknowledgment_number(),
            flags,
            h.slice().len(),
        )
    };
    let captured = ip_payload.len().saturating_sub(hlen);
    let missing = declared_ip_payload
        .map(|d| d.saturating_sub(hlen).saturating_sub(captured))
        .unwrap_or(0);
    let payload = match ip_payload {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(hlen..).unwrap_or(&[])),
        Cow::Owned(mut v) => {
            v.drain(..hlen.min(v.len()));
            Cow::Owned(v)
        }
    };
    Ok(TcpSegment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        ack,
        flags,
        payload,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
        encap: Vec::new(),
        scope: TunnelScope::Global,
    })
}

/// Strips the link layer and slices IP (and below) with etherparse.
fn slice_link(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let malformed = |what: &str| Skip::Malformed(format!("{what} header cut short"));
    match link {
        LinkType::Ethernet => {
            LaxSlicedPacket::from_ethernet(data).map_err(|_| malformed("Ethernet"))
        }
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => {
            LaxSlicedPacket::from_ip(data).map_err(|e| Skip::Malformed(format!("IP header: {e}")))
        }
        LinkType::LinuxSll => {
            // Linux cooked v1: 16-byte header, protocol (EtherType) last.
            let proto = data
                .get(14..16)
                .ok_or_else(|| malformed("Linux cooked v1"))?;
            let rest = data.get(16..).unwrap_or(&[]);
            Ok(LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([proto[0], proto[1]])),
                rest,
            ))
        }
        LinkType::LinuxSll2 => {
            // Linux cooked v2: 20-byte header, protocol (EtherType) first.
            let proto = data.get(0..2).ok_or_else(|| malformed("Linux cooked v2"))?;
            let rest = data.get(20..).ok_or_else(|| malformed("Linux cooked v2"))?;
            Ok(LaxSlicedPacket::from_ether_type(
                EtherType(u16::from_be_bytes([proto[0], proto[1]])),
                rest,
            ))
        }
        LinkType::Null | LinkType::Loop => {
            // 4-byte address family, in host order (Null) or network order
            // (Loop); the IP version nibble tells v4 from v6 either way.
            let rest = data.get(4..).ok_or_else(|| malformed("loopback"))?;
            LaxSlicedPacket::from_ip(rest).map_err(|e| Skip::Malformed(format!("IP header: {e}")))
        }
        LinkType::Unsupported(_) => Err(Skip::UnsupportedLink(link)),
    }
}

#[cfg(test)]
mod tests;
