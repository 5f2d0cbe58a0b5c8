//! The parser floor for the benchmarks: read a pcap/pcapng with
//! `pcap-parser` and slice every packet down to its TCP payload with
//! `etherparse`, doing nothing else. No reassembly, no WebSocket, no output:
//! what any analyzer built on these two crates must at least spend.
//!
//! ```text
//! cargo run --release --example parse_floor -- FILE
//! ```

use etherparse::{LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_floor FILE");
    let file = std::fs::File::open(&path).expect("open");
    let mut reader = pcap_parser::create_reader(1 << 20, file).expect("capture header");
    let (mut packets, mut bytes, mut tcp, mut tcp_payload) = (0u64, 0u64, 0u64, 0u64);
    loop {
        match reader.next() {
            Ok((len, block)) => {
                let data = match &block {
                    PcapBlockOwned::Legacy(b) => Some(b.data),
                    PcapBlockOwned::NG(Block::EnhancedPacket(b)) => Some(b.data),
                    _ => None,
                };
                if let Some(data) = data {
                    packets += 1;
                    bytes += data.len() as u64;
                    // Ethernet only: enough for the benchmark captures.
                    if let Ok(p) = LaxSlicedPacket::from_ethernet(data)
                        && let Some(TransportSlice::Tcp(t)) = p.transport
                    {
                        tcp += 1;
                        tcp_payload += t.payload().len() as u64;
                    }
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                if reader.reader_exhausted() {
                    break;
                }
                reader.refill().expect("refill");
            }
            Err(e) => panic!("read error: {e:?}"),
        }
    }
    println!("packets={packets} bytes={bytes} tcp={tcp} tcp_payload={tcp_payload}");
}
