//! Link, IP and TCP decoding: [`RawPacket`] → [`TcpSegment`].
//!
//! Stateless except for IPv4 fragment reassembly ([`ipfrag`]). Uses
//! etherparse's lax parsers so that packets cut by the snapshot length still
//! yield their headers; the number of TCP payload bytes that the IP header
//! announces but the capture lacks is reported as [`TcpSegment::missing`].
//! Linux cooked v2 and BSD loopback headers are stripped by hand (etherparse
//! has no SLL2).

pub mod ipfrag;

use crate::capture::{LinkType, RawPacket};
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TcpHeaderSlice};
use ipfrag::{Defragmenter, FragmentKey};
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

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
    /// The packet is malformed or cut before the TCP header ends.
    Malformed(String),
}

/// Decodes packets; holds IPv4 fragments between calls.
#[derive(Debug, Default)]
pub struct Decoder {
    defrag: Defragmenter,
}

impl Decoder {
    /// Creates a decoder with a default fragment pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one packet to a TCP segment.
    pub fn decode<'a>(&mut self, pkt: &RawPacket<'a>) -> Result<TcpSegment<'a>, Skip> {
        let sliced = slice_link(pkt.link, pkt.data)?;
        if let Some((_, layer)) = &sliced.stop_err
            && sliced.net.is_none()
        {
            return Err(Skip::Malformed(format!(
                "cut or malformed {layer:?} header"
            )));
        }
        let net = sliced.net.ok_or(Skip::NotTcp)?;
        let ip = ip_view(&net)?;
        if ip.fragmented {
            let Some(key) = ip.frag_key else {
                return Err(Skip::Malformed("IPv6 fragments are not reassembled".into()));
            };
            return match self.defrag.push(
                key,
                ip.frag_offset,
                ip.more_fragments,
                ip.payload,
                pkt.number.0,
            ) {
                Some(datagram) => tcp_from(ip.src, ip.dst, Cow::Owned(datagram), None),
                None => Err(Skip::FragmentPending),
            };
        }
        if ip.protocol != IpNumber::TCP {
            return Err(Skip::NotTcp);
        }
        tcp_from(
            ip.src,
            ip.dst,
            Cow::Borrowed(ip.payload),
            ip.declared_payload,
        )
    }

    /// Fragments still waiting for their missing parts.
    pub fn pending_fragments(&self) -> usize {
        self.defrag.pending()
    }
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
