//! Builders for small synthetic captures (Ethernet/IPv4/TCP via etherparse,
//! written with wsinspect's own pcap writer) used by the robustness tests.
#![allow(dead_code)]

use etherparse::PacketBuilder;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::writer::{Endian, PcapWriter};
use wsinspect::capture::{LinkType, Timestamp};
use wsinspect::model::{Analysis, Connection};
use wsinspect::pipeline::{PipelineError, analyze_reader};

pub const CLIENT: [u8; 4] = [10, 0, 0, 1];
pub const SERVER: [u8; 4] = [10, 0, 0, 2];
/// RFC 6455 §1.3's example key and its accept value.
pub use base::KEY;
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The TCP flag sets are the other test suites' (`tests/support`).
use super as base;
pub use base::{ACK, FIN, Flags, SYN, SYNACK};

/// One Ethernet/IPv4/TCP packet.
pub fn tcp(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    f: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 65535);
    if f.syn {
        b = b.syn();
    }
    if f.ack {
        b = b.ack(ack);
    }
    if f.fin {
        b = b.fin();
    }
    if f.rst {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("packet fits");
    out
}

/// A TCP connection that hands out packets with consistent sequence numbers.
pub struct Flow {
    pub c: ([u8; 4], u16),
    pub s: ([u8; 4], u16),
    pub cseq: u32,
    pub sseq: u32,
}

impl Flow {
    pub fn new(cport: u16, sport: u16) -> Self {
        Flow {
            c: (CLIENT, cport),
            s: (SERVER, sport),
            cseq: 1000,
            sseq: 5000,
        }
    }

    /// SYN, SYN+ACK, ACK.
    pub fn open(&mut self) -> Vec<Vec<u8>> {
        let a = tcp(self.c, self.s, self.cseq, 0, SYN, b"");
        let b = tcp(
            self.s,
            self.c,
            self.sseq,
            self.cseq.wrapping_add(1),
            SYNACK,
            b"",
        );
        self.cseq = self.cseq.wrapping_add(1);
        self.sseq = self.sseq.wrapping_add(1);
        let c = tcp(self.c, self.s, self.cseq, self.sseq, ACK, b"");
        vec![a, b, c]
    }

    /// SYN, SYN+ACK, ACK, then the upgrade request and its 101.
    pub fn open_upgraded(&mut self, extensions: Option<&str>) -> Vec<Vec<u8>> {
        let mut v = self.open();
        v.push(self.c2s(&upgrade_request(extensions)));
        v.push(self.s2c(&upgrade_response(extensions)));
        v
    }

    pub fn c2s(&mut self, data: &[u8]) -> Vec<u8> {
        let p = tcp(self.c, self.s, self.cseq, self.sseq, ACK, data);
        self.cseq = self.cseq.wrapping_add(data.len() as u32);
        p
    }

    /// `data` from the client in segments of at most 1400 bytes.
    pub fn c2s_all(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        data.chunks(1400).map(|c| self.c2s(c)).collect()
    }

    /// `data` from the server in segments of at most 1400 bytes.
    pub fn s2c_all(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        data.chunks(1400).map(|c| self.s2c(c)).collect()
    }

    pub fn s2c(&mut self, data: &[u8]) -> Vec<u8> {
        let p = tcp(self.s, self.c, self.sseq, self.cseq, ACK, data);
        self.sseq = self.sseq.wrapping_add(data.len() as u32);
        p
    }

    pub fn close(&mut self) -> Vec<Vec<u8>> {
        let a = tcp(self.c, self.s, self.cseq, self.sseq, FIN, b"");
        let b = tcp(
            self.s,
            self.c,
            self.sseq,
            self.cseq.wrapping_add(1),
            FIN,
            b"",
        );
        vec![a, b]
    }
}

pub fn upgrade_request(extensions: Option<&str>) -> Vec<u8> {
    let ext = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /chat HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
    .into_bytes()
}

pub fn upgrade_response(extensions: Option<&str>) -> Vec<u8> {
    let ext = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{ext}\r\n"
    )
    .into_bytes()
}

/// A frame: `b0` is FIN/RSV/opcode; masked with `mask` when given.
pub use wsinspect::ws::frame::encode_frame as frame;

pub const MASK: Option<[u8; 4]> = Some([1, 2, 3, 4]);

/// A complete, well-formed exchange on client port `cport`: handshake,
/// "hello" from the client, "world" from the server, close both ways.
pub fn good_exchange(cport: u16) -> Vec<Vec<u8>> {
    let mut f = Flow::new(cport, 80);
    let mut v = f.open_upgraded(None);
    v.push(f.c2s(&frame(0x81, MASK, b"hello")));
    v.push(f.s2c(&frame(0x81, None, b"world")));
    v.push(f.c2s(&frame(0x88, MASK, &[0x03, 0xe8])));
    v.push(f.s2c(&frame(0x88, None, &[0x03, 0xe8])));
    v.extend(f.close());
    v
}

/// A pcap (Ethernet, microseconds) of `packets`, one millisecond apart.
pub fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    pcap_at(packets.iter().enumerate().map(|(i, p)| (i as i128, p)))
}

/// A pcap of `(time in milliseconds, packet)`.
pub fn pcap_at<'a>(packets: impl IntoIterator<Item = (i128, &'a Vec<u8>)>) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535, Endian::Little, false)
        .expect("writing to memory");
    for (ms, p) in packets {
        let ts = Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000);
        w.write_packet(ts, p, p.len() as u32)
            .expect("writing to memory");
    }
    w.finish().expect("writing to memory")
}

pub fn analyze(bytes: &[u8], limits: Limits) -> Result<Analysis, PipelineError> {
    analyze_reader("test", bytes, limits, &mut NullSink)
}

pub fn analyze_ok(bytes: &[u8]) -> Analysis {
    analyze(bytes, Limits::default()).expect("the capture is readable")
}

/// The connection whose client port is `cport`.
pub fn conn(a: &Analysis, cport: u16) -> &Connection {
    let suffix = format!(":{cport}");
    a.connections
        .iter()
        .find(|c| c.client.to_string().ends_with(&suffix))
        .unwrap_or_else(|| {
            panic!(
                "no connection from port {cport}: {:?}",
                a.connections.iter().map(|c| &c.client).collect::<Vec<_>>()
            )
        })
}

/// Asserts that [`good_exchange`] on `cport` was fully analysed.
pub fn assert_good(a: &Analysis, cport: u16) {
    let c = conn(a, cport);
    assert!(c.is_websocket, "port {cport} not recognised as WebSocket");
    assert_eq!(c.handshake.accept_valid, Some(true));
    let texts: Vec<_> = c.messages.iter().map(|m| m.text.as_deref()).collect();
    assert_eq!(texts, [Some("hello"), Some("world")]);
    assert_eq!(c.control.len(), 2);
    assert!(c.violation_details.is_empty(), "{:?}", c.violations);
}

/// All anomaly text of the analysis (capture-level and per connection).
pub fn all_anomalies(a: &Analysis) -> String {
    let mut s: Vec<String> = a
        .capture_anomalies
        .iter()
        .map(|x| x.detail.clone())
        .collect();
    for c in &a.connections {
        s.extend(
            c.anomalies
                .iter()
                .map(|x| format!("{:?}: {}", x.kind, x.detail)),
        );
    }
    s.join("\n")
}

/// The opening handshake of a real peer (python `websockets` 17.4 on both
/// sides, `captures/deflate_no_takeover.pcap`): permessage-deflate with
/// `*_no_context_takeover` both ways (RFC 7692 §7.1.1).
pub const REAL_NO_TAKEOVER: (&[u8], &[u8]) = (
    b"GET /quotes HTTP/1.1\r\nHost: 127.0.0.1:9008\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: bPuxfcSotPnsutu4zgRKRw==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits\r\nUser-Agent: Python/3.11 websockets/17.4\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nDate: Tue, 24 Nov 2026 15:55:26 GMT\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: Hsyr898+ELkjhRp8OKhWwp/e1mM=\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10\r\nServer: Python/3.11 websockets/17.4\r\n\r\n",
);

/// The same peers with context takeover (`captures/deflate_takeover.pcap`).
pub const REAL_TAKEOVER: (&[u8], &[u8]) = (
    b"GET /quotes HTTP/1.1\r\nHost: 127.0.0.1:9007\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: 6W8N6IuGQwuNXx9t42PojA==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Python/3.11 websockets/17.4\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nDate: Tue, 24 Nov 2026 15:55:23 GMT\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: 1FF/PUHhgBKi/Hzgnv5ETiiRFZc=\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12\r\nServer: Python/3.11 websockets/17.4\r\n\r\n",
);

/// A connection on `cport` opened with a real `handshake` (request,
/// response), then `cframes` from the client and `sframes` from the
/// server (encoded), each in its own segments, then FINs.
pub fn real_handshake_conn(
    cport: u16,
    handshake: (&[u8], &[u8]),
    cframes: &[Vec<u8>],
    sframes: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let mut f = Flow::new(cport, 9008);
    let mut v = f.open();
    v.push(f.c2s(handshake.0));
    v.push(f.s2c(handshake.1));
    for fr in cframes {
        v.extend(f.c2s_all(fr));
    }
    for fr in sframes {
        v.extend(f.s2c_all(fr));
    }
    v.extend(f.close());
    v
}

/// One symbol of a hand-made deflate block.
#[derive(Clone, Copy)]
pub enum Sym {
    Lit(u8),
    /// A back-reference (RFC 1951 §3.2.5): length 3–258, distance 1–32768.
    Copy(u16, u16),
}

/// A hand-made permessage-deflate payload: one non-final block with fixed
/// Huffman codes (RFC 1951 §3.2.6) holding `syms`, then the sync flush's
/// empty stored block without the `00 00 ff ff` the sender removes (RFC
/// 7692 §7.2.1). No compressor makes a copy from before the window; a
/// hostile peer can.
pub fn fixed_deflate(syms: &[Sym]) -> Vec<u8> {
    const LEN_BASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEN_EXTRA: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DIST_BASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    let mut out = Vec::new();
    {
        let (mut acc, mut n) = (0u64, 0u32);
        let mut put = |v: u32, bits: u32| {
            acc |= u64::from(v) << n;
            n += bits;
            while n >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                n -= 8;
            }
        };
        // Huffman codes go most significant bit first (§3.1.1).
        let code = |put: &mut dyn FnMut(u32, u32), c: u32, len: u32| {
            put(c.reverse_bits() >> (32 - len), len)
        };
        let lit_len = |put: &mut dyn FnMut(u32, u32), sym: u32| match sym {
            0..=143 => code(put, 0x30 + sym, 8),
            144..=255 => code(put, 0x190 + sym - 144, 9),
            256..=279 => code(put, sym - 256, 7),
            _ => code(put, 0xc0 + sym - 280, 8),
        };
        put(0b010, 3); // BFINAL = 0, BTYPE = 01 (fixed codes)
        for s in syms {
            match *s {
                Sym::Lit(x) => lit_len(&mut put, x.into()),
                Sym::Copy(len, dist) => {
                    let l = LEN_BASE
                        .iter()
                        .rposition(|&x| x <= len)
                        .expect("length ≥ 3");
                    lit_len(&mut put, 257 + l as u32);
                    put(u32::from(len - LEN_BASE[l]), LEN_EXTRA[l]);
                    let d = DIST_BASE
                        .iter()
                        .rposition(|&x| x <= dist)
                        .expect("distance ≥ 1");
                    code(&mut put, d as u32, 5);
                    put(
                        u32::from(dist - DIST_BASE[d]),
                        (d as u32).saturating_sub(2) / 2,
                    );
                }
            }
        }
        lit_len(&mut put, 256); // end of block
        put(0, 3); // BFINAL = 0, BTYPE = 00: the sync flush's stored block
        put(0, 7); // to the byte boundary
    }
    out
}
