//! Test support: builds WebSocket conversations as packets and writes them
//! as captures with any link type, byte order and timestamp precision.
#![allow(dead_code)]

pub mod hostile;

use etherparse::PacketBuilder;
use std::net::{IpAddr, SocketAddr};
use wsinspect::capture::writer::{Endian, PcapWriter, PcapngWriter};
use wsinspect::capture::{LinkType, Timestamp};
use wsinspect::http::handshake::expected_accept;
use wsinspect::ws::frame::{Opcode, encode_frame};

/// TCP flags of a built segment.
#[derive(Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

pub const SYN: Flags = Flags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
};
pub const SYNACK: Flags = Flags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
};
pub const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};
pub const FIN: Flags = Flags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
};

/// Builds an IP packet (v4 or v6 by address) carrying one TCP segment.
pub fn ip_tcp(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed address families"),
    };
    let mut t = b.tcp(src.port(), dst.port(), seq, 65535);
    if f.syn {
        t = t.syn();
    }
    if f.ack {
        t = t.ack(ack);
    }
    if f.fin {
        t = t.fin();
    }
    if f.rst {
        t = t.rst();
    }
    let mut out = Vec::new();
    t.write(&mut out, payload).unwrap();
    out
}

/// One frame, masked when `mask` is given.
pub fn frame(op: Opcode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    encode_frame((u8::from(fin) << 7) | op.value(), mask, payload)
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

pub fn upgrade_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        expected_accept(KEY)
    )
    .into_bytes()
}

/// A TCP conversation being built, one IP packet per segment.
pub struct Conv {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub cseq: u32,
    pub sseq: u32,
    pub packets: Vec<Vec<u8>>,
}

impl Conv {
    pub fn new(client: &str, server: &str, cisn: u32, sisn: u32) -> Self {
        Conv {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            cseq: cisn,
            sseq: sisn,
            packets: vec![],
        }
    }

    /// One segment from the client (or the server); the sender's sequence
    /// number advances by the payload, plus one for SYN and FIN.
    fn send(&mut self, from_client: bool, f: Flags, data: &[u8]) {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.cseq, self.sseq)
        } else {
            (self.server, self.client, self.sseq, self.cseq)
        };
        self.packets.push(ip_tcp(src, dst, seq, ack, f, data));
        let used = data.len() as u32 + u32::from(f.syn) + u32::from(f.fin);
        let next = if from_client {
            &mut self.cseq
        } else {
            &mut self.sseq
        };
        *next = next.wrapping_add(used);
    }

    pub fn handshake(&mut self) {
        self.send(true, SYN, &[]);
        self.send(false, SYNACK, &[]);
        self.send(true, ACK, &[]);
    }

    pub fn c2s(&mut self, data: &[u8]) {
        self.send(true, ACK, data);
    }

    pub fn s2c(&mut self, data: &[u8]) {
        self.send(false, ACK, data);
    }

    pub fn close(&mut self) {
        self.send(true, FIN, &[]);
        self.send(false, FIN, &[]);
        self.send(true, ACK, &[]);
    }

    /// The standard exchange: TCP handshake, upgrade, "hello" → "world",
    /// close 1000 from the client, FINs: 12 packets.
    pub fn standard(client: &str, server: &str, cisn: u32, sisn: u32) -> Self {
        let mut c = Conv::new(client, server, cisn, sisn);
        c.handshake();
        c.c2s(&upgrade_request("/chat"));
        c.s2c(&upgrade_response());
        c.c2s(&frame(Opcode::Text, true, b"hello", Some([1, 2, 3, 4])));
        c.s2c(&frame(Opcode::Text, true, b"world", None));
        c.c2s(&frame(
            Opcode::Close,
            true,
            &[0x03, 0xe8],
            Some([9, 9, 9, 9]),
        ));
        c.s2c(&frame(Opcode::Close, true, &[0x03, 0xe8], None));
        c.close();
        c
    }
}

/// Wraps an IP packet in a link-layer header.
pub fn link_frame(link: LinkType, ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().map(|b| b >> 4) == Some(6);
    let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
    let mut out = Vec::new();
    match link {
        LinkType::Ethernet => {
            out.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        LinkType::LinuxSll => {
            out.extend_from_slice(&[0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        LinkType::LinuxSll2 => {
            out.extend_from_slice(&ethertype.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
        }
        LinkType::Null => out.extend_from_slice(&(if v6 { 30u32 } else { 2u32 }).to_le_bytes()),
        LinkType::Loop => out.extend_from_slice(&(if v6 { 24u32 } else { 2u32 }).to_be_bytes()),
        _ => {}
    }
    out.extend_from_slice(ip);
    out
}

/// Ethernet with one 802.1Q VLAN tag.
pub fn vlan_frame(ip: &[u8], vlan: u16) -> Vec<u8> {
    let mut out = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00];
    out.extend_from_slice(&vlan.to_be_bytes());
    out.extend_from_slice(&[0x08, 0x00]);
    out.extend_from_slice(ip);
    out
}

/// Timestamp of packet `i`: 1.7e9 s + i ms + 123 ns (to see nanoseconds survive).
pub fn ts(i: usize) -> Timestamp {
    Timestamp::from_parts(1_700_000_000, (i as u32) * 1_000_000 + 123)
}

/// A legacy pcap of link-layer frames.
pub fn pcap(link: LinkType, frames: &[Vec<u8>], endian: Endian, nanos: bool) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), link, 65535, endian, nanos).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(ts(i), f, f.len() as u32).unwrap();
    }
    w.finish().unwrap()
}

/// A pcapng of link-layer frames on one interface.
pub fn pcapng(link: LinkType, frames: &[Vec<u8>], nanos: bool) -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
    w.add_interface(link, 65535, nanos).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(0, ts(i), f, f.len() as u32).unwrap();
    }
    w.finish().unwrap()
}

/// Every capture under `captures/`, in every folder (samples, extra,
/// tunnels, the adversarial corpus …), sorted, so that a test over "every
/// capture" covers new corpora without being told.
pub fn all_captures() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("captures/ is committed") {
            let p = e.expect("directory entry").path();
            let name = p.to_string_lossy();
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
