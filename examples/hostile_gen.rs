//! Writes large hostile captures for the memory-limit run (tests/memlimit.sh).
//!
//! ```text
//! cargo run --release --example hostile_gen -- KIND COUNT OUT.pcap
//!   syn-flood N    N half-open connections (distinct address pairs)
//!   ooo N          N WebSocket connections, each with 4 MiB held behind a hole
//!   bomb N         N messages of a 1 GiB deflate bomb (~1 MiB compressed each)
//!   tiny N         one connection with N empty binary frames
//!   short N        N short WebSocket connections, one every millisecond
//! ```
//! Every file starts and ends with a well-formed exchange (ports 40001 and
//! 40002) that must still be fully reported.

use etherparse::PacketBuilder;
use flate2::{Compress, Compression, FlushCompress};
use std::io::{BufWriter, Write};
use wsinspect::capture::writer::{Endian, PcapWriter};
use wsinspect::capture::{LinkType, Timestamp};
use wsinspect::ws::frame::encode_frame;

type Addr = ([u8; 4], u16);

struct Out<W: Write> {
    w: PcapWriter<W>,
    n: i128,
    /// Time added to every later packet (ns), on top of 1 µs per packet.
    pause: i128,
}

impl<W: Write> Out<W> {
    fn tcp(&mut self, src: Addr, dst: Addr, seq: u32, ack: u32, flags: &str, payload: &[u8]) {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 65535);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(ack);
        }
        if flags.contains('F') {
            b = b.fin();
        }
        let mut pkt = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut pkt, payload).expect("packet fits");
        self.n += 1;
        self.w
            .write_packet(
                Timestamp(1_700_000_000_000_000_000 + self.n * 1000 + self.pause),
                &pkt,
                pkt.len() as u32,
            )
            .expect("write");
    }
}

struct Flow {
    c: Addr,
    s: Addr,
    cseq: u32,
    sseq: u32,
}

impl Flow {
    fn new(c: Addr) -> Self {
        Flow {
            c,
            s: ([10, 0, 0, 2], 80),
            cseq: 1000,
            sseq: 5000,
        }
    }
    fn open<W: Write>(&mut self, o: &mut Out<W>) {
        o.tcp(self.c, self.s, self.cseq, 0, "S", b"");
        o.tcp(self.s, self.c, self.sseq, self.cseq + 1, "SA", b"");
        self.cseq += 1;
        self.sseq += 1;
        o.tcp(self.c, self.s, self.cseq, self.sseq, "A", b"");
    }
    fn c2s<W: Write>(&mut self, o: &mut Out<W>, data: &[u8]) {
        for ch in data.chunks(1400) {
            o.tcp(self.c, self.s, self.cseq, self.sseq, "A", ch);
            self.cseq = self.cseq.wrapping_add(ch.len() as u32);
        }
    }
    fn s2c<W: Write>(&mut self, o: &mut Out<W>, data: &[u8]) {
        for ch in data.chunks(1400) {
            o.tcp(self.s, self.c, self.sseq, self.cseq, "A", ch);
            self.sseq = self.sseq.wrapping_add(ch.len() as u32);
        }
    }
    fn upgrade<W: Write>(&mut self, o: &mut Out<W>, ext: Option<&str>) {
        let e = ext
            .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
            .unwrap_or_default();
        self.c2s(o, format!("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{e}\r\n").as_bytes());
        self.s2c(o, format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{e}\r\n").as_bytes());
    }
    fn close<W: Write>(&mut self, o: &mut Out<W>) {
        o.tcp(self.c, self.s, self.cseq, self.sseq, "FA", b"");
        o.tcp(self.s, self.c, self.sseq, self.cseq + 1, "FA", b"");
    }
}

/// A frame; a masked one has a zero key, which leaves the bytes as they are.
fn frame(b0: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    encode_frame(b0, masked.then_some([0; 4]), payload)
}

fn good<W: Write>(o: &mut Out<W>, port: u16) {
    exchange(o, ([10, 0, 0, 1], port));
}

/// A whole WebSocket connection from `client`: handshake, one message each
/// way, close.
fn exchange<W: Write>(o: &mut Out<W>, client: ([u8; 4], u16)) {
    let mut f = Flow::new(client);
    f.open(o);
    f.upgrade(o, None);
    f.c2s(o, &frame(0x81, true, b"hello"));
    f.s2c(o, &frame(0x81, false, b"world"));
    f.close(o);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, count, path] = args.as_slice() else {
        eprintln!("usage: hostile_gen syn-flood|ooo|bomb|tiny|short COUNT OUT.pcap");
        std::process::exit(2);
    };
    let n: u32 = count.parse().expect("COUNT is a number");
    let file = BufWriter::new(std::fs::File::create(path).expect("create"));
    let w = PcapWriter::new(file, LinkType::Ethernet, 65535, Endian::Little, false).expect("write");
    let mut o = Out { w, n: 0, pause: 0 };
    good(&mut o, 40001);
    match kind.as_str() {
        "syn-flood" => {
            for i in 0..n {
                let src = (
                    [172, (16 + (i >> 24)) as u8, (i >> 16) as u8, (i >> 8) as u8],
                    1024 + (i & 0xff) as u16,
                );
                o.tcp(src, ([10, 0, 0, 2], 443), i, 0, "S", b"");
            }
        }
        "ooo" => {
            for i in 0..n {
                let mut f = Flow::new(([10, 1, (i >> 8) as u8, i as u8], 50000));
                f.open(&mut o);
                f.upgrade(&mut o, None);
                // 4 MiB after a 100-byte hole that never fills.
                f.cseq = f.cseq.wrapping_add(100);
                f.c2s(&mut o, &vec![0x82; 4 << 20]);
            }
        }
        "bomb" => {
            let mut c = Compress::new(Compression::best(), false);
            let mut one = Vec::with_capacity(1 << 16);
            c.compress_vec(&vec![0u8; 1 << 20], &mut one, FlushCompress::Sync)
                .expect("deflate");
            let mut z = Vec::new();
            for _ in 0..1024 {
                z.extend_from_slice(&one);
            }
            z.truncate(z.len() - 4);
            let msg = frame(0xc2, true, &z);
            let mut f = Flow::new(([10, 0, 0, 1], 40003));
            f.open(&mut o);
            f.upgrade(&mut o, Some("permessage-deflate"));
            for _ in 0..n {
                f.c2s(&mut o, &msg);
            }
            f.close(&mut o);
        }
        "tiny" => {
            let mut f = Flow::new(([10, 0, 0, 1], 40003));
            f.open(&mut o);
            f.upgrade(&mut o, None);
            let one = frame(0x82, true, b"");
            let mut seg = Vec::with_capacity(1400);
            for _ in 0..n {
                seg.extend_from_slice(&one);
                if seg.len() + one.len() > 1400 {
                    f.c2s(&mut o, &seg);
                    seg.clear();
                }
            }
            f.c2s(&mut o, &seg);
            f.close(&mut o);
        }
        "short" => {
            for i in 0..n {
                let client = [10, 2 + (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8];
                exchange(&mut o, (client, 1024 + (i & 0xff) as u16));
                o.pause += 1_000_000;
            }
        }
        other => {
            eprintln!("unknown kind {other}");
            std::process::exit(2);
        }
    }
    good(&mut o, 40002);
    o.w.finish().expect("flush").flush().expect("flush");
}
