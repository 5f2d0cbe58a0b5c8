//! Generates large, realistic WebSocket captures for the benchmarks
//! (`bench/run.sh`, `docs/performance.md`). Not part of the installed CLI.
//!
//! ```text
//! cargo run --release --example gen_capture -- large OUT.pcap [MESSAGES]
//! cargo run --release --example gen_capture -- small OUT.pcap [CONNECTIONS] [MESSAGES_PER_CONN]
//! cargo run --release --example gen_capture -- concurrent OUT.pcap [CONNECTIONS] [MESSAGES_PER_CONN] [DEFLATE_PERCENT]
//! ```
//!
//! `large`: 24 concurrent connections, messages of 10–5 000 bytes both
//! ways (client frames masked, RFC 6455 §5.3), half of the connections
//! negotiate permessage-deflate (RFC 7692) and compress about half of their
//! messages with real deflate data (context takeover, one compressor per
//! direction), segments of up to 1 448 bytes (MTU 1 500) with pure ACKs.
//!
//! `small`: many connections (default 1 000) exchanging chat-like messages
//! of 10–300 bytes, each data segment answered by a pure ACK (about half the
//! packets); one connection in four negotiates permessage-deflate.
//!
//! `concurrent`: many connections (default 1 200) open at once for the
//! whole capture, their messages (10–600 bytes, default 300 per connection)
//! interleaved at random from the first to the last; `DEFLATE_PERCENT`
//! (default 20) of them negotiate permessage-deflate and compress every
//! message as a real peer does (one raw deflate stream per direction,
//! sync-flushed, RFC 7692 §7.2.1). Of the compressed connections, one in
//! eight negotiates `server_no_context_takeover` and one in eight both
//! `*_no_context_takeover` (the compressor is reset after each message of
//! such a direction, §7.1.1); the rest keep their context, and each of
//! their directions inflates well past the 32 KiB window. The benchmark runs
//! it at N and 2N connections, all plain and all compressed, to measure
//! the memory each open connection costs.
//!
//! The output is deterministic (fixed-seed xorshift). The totals printed on
//! stderr (`messages=… packets=…`) let the benchmark check the analyzer's
//! counts against what was generated.

use base64::Engine;
use flate2::{Compress, Compression, FlushCompress};
use sha1::{Digest, Sha1};
use std::io::{BufWriter, Write};
use wsinspect::capture::writer::{Endian, PcapWriter};
use wsinspect::capture::{LinkType, Timestamp};
use wsinspect::ws::frame::encode_frame;

/// Maximum TCP payload per segment (Ethernet MTU 1 500 − IPv4 − TCP).
const MSS: usize = 1448;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const WORDS: &[&str] = &[
    "hello", "world", "price", "update", "order", "status", "ok", "ticker", "user", "message",
    "chat", "room", "ping", "latency", "value", "quote", "bid", "ask", "volume", "event",
];

/// A chat/JSON-like text payload of exactly `len` bytes (ASCII).
fn text_payload(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(len + 16);
    s.extend_from_slice(b"{\"type\":\"msg\",\"body\":\"");
    while s.len() < len {
        let w = WORDS[rng.range(0, WORDS.len() - 1)];
        s.extend_from_slice(w.as_bytes());
        s.push(b' ');
        if rng.chance(10) {
            s.extend_from_slice(rng.next().to_string().as_bytes());
        }
    }
    s.truncate(len);
    s
}

fn binary_payload(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// One TCP direction of a connection.
struct Side {
    ip: [u8; 4],
    port: u16,
    mac: [u8; 6],
    seq: u32,
    /// Per-direction deflate context.
    deflate: Option<Compress>,
    /// This direction negotiated `*_no_context_takeover` (RFC 7692 §7.1.1).
    no_takeover: bool,
}

struct Conn {
    c: Side,
    s: Side,
}

struct Gen<W: Write> {
    w: PcapWriter<W>,
    ts: i128,
    packets: u64,
    messages: u64,
    compressed: u64,
    buf: Vec<u8>,
}

fn checksum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn checksum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl<W: Write> Gen<W> {
    /// Writes one Ethernet/IPv4/TCP packet from `from` to `to`.
    fn packet(&mut self, from: &Side, to: &Side, flags: u8, payload: &[u8]) {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&to.mac);
        b.extend_from_slice(&from.mac);
        b.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 20 + payload.len()) as u16;
        let ip_start = b.len();
        b.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        b[ip_start + 2..ip_start + 4].copy_from_slice(&total.to_be_bytes());
        b.extend_from_slice(&from.ip);
        b.extend_from_slice(&to.ip);
        let ipsum = checksum_fold(checksum_add(0, &b[ip_start..ip_start + 20]));
        b[ip_start + 10..ip_start + 12].copy_from_slice(&ipsum.to_be_bytes());
        let tcp_start = b.len();
        b.extend_from_slice(&from.port.to_be_bytes());
        b.extend_from_slice(&to.port.to_be_bytes());
        b.extend_from_slice(&from.seq.to_be_bytes());
        let ack = if flags & 0x10 != 0 { to.seq } else { 0 };
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        // TCP checksum over the pseudo-header and the segment.
        let mut sum = checksum_add(0, &from.ip);
        sum = checksum_add(sum, &to.ip);
        sum += 6 + (20 + payload.len()) as u32;
        sum = checksum_add(sum, &b[tcp_start..]);
        let tsum = checksum_fold(sum);
        b[tcp_start + 16..tcp_start + 18].copy_from_slice(&tsum.to_be_bytes());
        self.ts += 7_000 + (self.packets % 13) as i128 * 1_000;
        let len = b.len() as u32;
        self.w
            .write_packet(Timestamp(self.ts), b, len)
            .expect("write packet");
        self.packets += 1;
    }

    /// Sends `data` from one side in MSS-sized segments, each acknowledged
    /// by a pure ACK from the peer.
    fn send(&mut self, conn: &mut Conn, from_client: bool, data: &[u8]) {
        for seg in data.chunks(MSS) {
            let (from, to) = if from_client {
                (&conn.c, &conn.s)
            } else {
                (&conn.s, &conn.c)
            };
            self.packet(from, to, 0x18, seg);
            let from = if from_client {
                &mut conn.c
            } else {
                &mut conn.s
            };
            from.seq = from.seq.wrapping_add(seg.len() as u32);
            let (from, to) = if from_client {
                (&conn.s, &conn.c)
            } else {
                (&conn.c, &conn.s)
            };
            self.packet(from, to, 0x10, &[]);
        }
    }

    fn open(&mut self, conn: &mut Conn, deflate: bool, rng: &mut Rng) {
        self.open_with(conn, deflate.then_some(Takeover::Both), rng);
    }

    /// Opens a connection; `deflate`: permessage-deflate is negotiated,
    /// with which directions keeping their context.
    fn open_with(&mut self, conn: &mut Conn, deflate: Option<Takeover>, rng: &mut Rng) {
        // SYN, SYN+ACK, ACK.
        self.packet(&conn.c, &conn.s, 0x02, &[]);
        conn.c.seq = conn.c.seq.wrapping_add(1);
        self.packet(&conn.s, &conn.c, 0x12, &[]);
        conn.s.seq = conn.s.seq.wrapping_add(1);
        self.packet(&conn.c, &conn.s, 0x10, &[]);
        let key_raw = binary_payload(rng, 16);
        let key = base64::engine::general_purpose::STANDARD.encode(key_raw);
        let ext = if deflate.is_some() {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let req = format!(
            "GET /feed HTTP/1.1\r\nHost: bench.example:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        );
        self.send(conn, true, req.as_bytes());
        let mut h = Sha1::new();
        h.update(key.as_bytes());
        h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let accept = base64::engine::general_purpose::STANDARD.encode(h.finalize());
        let ext = match deflate {
            None => "",
            Some(Takeover::Both) => "Sec-WebSocket-Extensions: permessage-deflate\r\n",
            Some(Takeover::ClientOnly) => {
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
            }
            Some(Takeover::Neither) => {
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
            }
        };
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{ext}\r\n"
        );
        self.send(conn, false, resp.as_bytes());
        if let Some(t) = deflate {
            conn.c.deflate = Some(Compress::new(Compression::default(), false));
            conn.s.deflate = Some(Compress::new(Compression::default(), false));
            conn.c.no_takeover = t == Takeover::Neither;
            conn.s.no_takeover = t != Takeover::Both;
        }
    }

    /// Sends one WebSocket message (one frame), compressing it when asked.
    fn message(
        &mut self,
        conn: &mut Conn,
        from_client: bool,
        opcode: u8,
        payload: &[u8],
        compress: bool,
        rng: &mut Rng,
    ) {
        let side = if from_client {
            &mut conn.c
        } else {
            &mut conn.s
        };
        let mut body;
        let mut first = 0x80 | opcode;
        match side.deflate.as_mut().filter(|_| compress) {
            Some(z) => {
                // RFC 7692 §7.2.1: compress, sync-flush, drop 00 00 ff ff.
                body = Vec::with_capacity(payload.len() + 64);
                let start = z.total_in();
                loop {
                    let consumed = (z.total_in() - start) as usize;
                    body.reserve(256);
                    z.compress_vec(&payload[consumed..], &mut body, FlushCompress::Sync)
                        .expect("deflate");
                    if (z.total_in() - start) as usize == payload.len()
                        && body.ends_with(&[0, 0, 0xff, 0xff])
                    {
                        break;
                    }
                }
                body.truncate(body.len() - 4);
                if side.no_takeover {
                    // RFC 7692 §7.1.1: the next message starts a new window.
                    z.reset();
                }
                first |= 0x40;
                self.compressed += 1;
            }
            None => body = payload.to_vec(),
        }
        // Client frames are masked (RFC 6455 §5.3), each with its own key.
        let mask = from_client.then(|| (rng.next() as u32).to_be_bytes());
        let frame = encode_frame(first, mask, &body);
        self.send(conn, from_client, &frame);
        self.messages += 1;
    }

    fn close(&mut self, conn: &mut Conn, rng: &mut Rng) {
        // Close 1000 from the client, echoed by the server, then FINs.
        self.message(conn, true, 0x8, &1000u16.to_be_bytes(), false, rng);
        self.messages -= 1;
        self.message(conn, false, 0x8, &1000u16.to_be_bytes(), false, rng);
        self.messages -= 1;
        self.packet(&conn.s, &conn.c, 0x11, &[]);
        conn.s.seq = conn.s.seq.wrapping_add(1);
        self.packet(&conn.c, &conn.s, 0x11, &[]);
        conn.c.seq = conn.c.seq.wrapping_add(1);
        self.packet(&conn.s, &conn.c, 0x10, &[]);
    }
}

/// Which directions of a permessage-deflate connection keep their
/// compression context (RFC 7692 §7.1.1).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takeover {
    Both,
    /// `server_no_context_takeover`.
    ClientOnly,
    /// `server_no_context_takeover; client_no_context_takeover`.
    Neither,
}

fn conn(i: usize) -> Conn {
    let i16 = i as u16;
    Conn {
        c: Side {
            ip: [10, 1, (i >> 8) as u8, i as u8],
            port: 40000 + i16 % 20000,
            mac: [2, 0, 0, 0, (i >> 8) as u8, i as u8],
            seq: 0x1000_0000u32.wrapping_mul(i as u32 + 1),
            deflate: None,
            no_takeover: false,
        },
        s: Side {
            ip: [10, 2, 0, 1],
            port: 8080,
            mac: [2, 0, 0, 0, 0xff, 0xff],
            seq: 0x7000_0000u32.wrapping_add(i as u32 * 7919),
            deflate: None,
            no_takeover: false,
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: gen_capture large|small|concurrent OUT.pcap [N] [M] [DEFLATE_PERCENT]";
    let kind = args.get(1).expect(usage).as_str();
    let out = args.get(2).expect(usage);
    let file = std::fs::File::create(out).expect("create output");
    let w = PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        LinkType::Ethernet,
        65535,
        Endian::Little,
        false,
    )
    .expect("pcap header");
    let mut g = Gen {
        w,
        ts: 1_700_000_000_000_000_000,
        packets: 0,
        messages: 0,
        compressed: 0,
        buf: Vec::with_capacity(2048),
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |s| s.parse().expect(usage))
    };
    let (n_conns, total, min, max) = match kind {
        "large" => (24usize, arg(3, 125_000), 10usize, 5000usize),
        "small" => {
            let conns = arg(3, 1000) as usize;
            (conns, conns as u64 * arg(4, 1000), 10, 300)
        }
        "concurrent" => {
            let conns = arg(3, 1200) as usize;
            (conns, conns as u64 * arg(4, 300), 10, 600)
        }
        _ => panic!("{usage}"),
    };
    let mut conns: Vec<Conn> = (0..n_conns).map(conn).collect();
    let concurrent = kind == "concurrent";
    if concurrent {
        // Spread the compressed connections evenly: connection i is
        // compressed when the running share passes the next whole one.
        let percent = arg(5, 20).min(100) as usize;
        for (i, c) in conns.iter_mut().enumerate() {
            let compressed = (i + 1) * percent / 100 > i * percent / 100;
            let takeover = match (i * percent / 100) % 8 {
                6 => Takeover::ClientOnly,
                7 => Takeover::Neither,
                _ => Takeover::Both,
            };
            g.open_with(c, compressed.then_some(takeover), &mut rng);
        }
    } else {
        // Large: every other connection negotiates permessage-deflate; small:
        // one in four (each live context costs ~75 KiB of inflate state).
        let every = if kind == "large" { 2 } else { 4 };
        for (i, c) in conns.iter_mut().enumerate() {
            g.open(c, i % every == 0, &mut rng);
        }
    }
    for _ in 0..total {
        let i = rng.range(0, n_conns - 1);
        let from_client = rng.chance(50);
        let len = rng.range(min, max);
        let (opcode, payload) = if rng.chance(75) {
            (0x1, text_payload(&mut rng, len))
        } else {
            (0x2, binary_payload(&mut rng, len))
        };
        // A real peer compresses every message; the other modes mix.
        let compress = concurrent || rng.chance(50);
        g.message(
            &mut conns[i],
            from_client,
            opcode,
            &payload,
            compress,
            &mut rng,
        );
    }
    for c in conns.iter_mut() {
        g.close(c, &mut rng);
    }
    g.w.finish().expect("flush");
    eprintln!(
        "connections={} messages={} compressed={} packets={}",
        n_conns, g.messages, g.compressed, g.packets
    );
}
