//! Micro-benchmarks of the hot path (`cargo bench --bench core`): frame
//! decoding, unmasking and TCP reassembly. The end-to-end numbers are in
//! `bench/run.sh` and `docs/performance.md`. No timing is asserted anywhere.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wsinspect::capture::PacketNo;
use wsinspect::tcp::{GapCause, Piece, Reassembler};
use wsinspect::ws::decoder::{FrameDecoder, FrameEvent};
use wsinspect::ws::frame::encode_frame;
use wsinspect::ws::mask::{unmask, unmask_reference};

/// `n` frames of `len` payload bytes, masked when `masked`.
fn frames(n: usize, len: usize, masked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * (len + 14));
    for i in 0..n {
        let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let mask = masked.then(|| (i as u32).to_be_bytes());
        out.extend_from_slice(&encode_frame(0x82, mask, &payload));
    }
    out
}

fn bench_decoder(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_decoder");
    for (name, len, masked) in [
        ("masked_1k", 1000usize, true),
        ("unmasked_1k", 1000, false),
        ("masked_64b", 64, true),
    ] {
        let stream = frames(2000, len, masked);
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut d = FrameDecoder::default();
                let mut payload = 0usize;
                // Fed in MSS-sized pieces, as TCP delivers them.
                for seg in stream.chunks(1448) {
                    d.push(seg, PacketNo(1), &mut |ev| {
                        if let FrameEvent::Payload(p) = ev {
                            payload += p.len();
                        }
                    });
                }
                black_box(payload)
            })
        });
    }
    g.finish();
}

fn bench_unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for len in [64usize, 1448, 65536] {
        let mut buf = vec![0x5au8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("word_{len}"), |b| {
            b.iter(|| unmask(black_box(&mut buf), key, 1))
        });
        g.bench_function(format!("bytewise_{len}"), |b| {
            b.iter(|| unmask_reference(black_box(&mut buf), key, 1))
        });
    }
    g.finish();
}

fn bench_reassembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("reassembly");
    let seg = vec![0u8; 1448];
    let n = 2000u32;
    g.throughput(Throughput::Bytes(u64::from(n) * seg.len() as u64));
    // In order: the direct path.
    g.bench_function("in_order", |b| {
        b.iter(|| {
            let mut r = Reassembler::new(32 << 20);
            r.syn(0);
            let mut got = 0usize;
            let mut sink = |p: Piece<'_>, _: PacketNo, _: GapCause| {
                if let Piece::Data(d) = p {
                    got += d.len();
                }
            };
            for i in 0..n {
                r.push(1 + i * 1448, &seg, 0, PacketNo(u64::from(i)), &mut sink);
            }
            black_box(got)
        })
    });
    // Every pair swapped: each odd segment waits for its predecessor.
    g.bench_function("pairs_swapped", |b| {
        b.iter(|| {
            let mut r = Reassembler::new(32 << 20);
            r.syn(0);
            let mut got = 0usize;
            let mut sink = |p: Piece<'_>, _: PacketNo, _: GapCause| {
                if let Piece::Data(d) = p {
                    got += d.len();
                }
            };
            for i in (0..n).step_by(2) {
                for j in [i + 1, i] {
                    r.push(1 + j * 1448, &seg, 0, PacketNo(u64::from(j)), &mut sink);
                }
            }
            black_box(got)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decoder, bench_unmask, bench_reassembly);
criterion_main!(benches);
