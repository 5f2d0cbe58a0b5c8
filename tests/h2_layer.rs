//! The HTTP/2 layer on a real conversation and on hostile input.
//!
//! `captures/h2/layer/h2layer_prior_knowledge.pcap` and
//! `h2layer_h2c_upgrade.pcap` were recorded on loopback between two
//! python-h2 peers (`tools/gen-captures/h2layer/gen.py`; what each side
//! sent is in the `.log.json` beside them). The test takes each
//! direction's bytes through the crate's own capture reader, decoder and
//! TCP reassembler, feeds them to `h2::Connection` and checks the frames
//! against what the peers sent; then the same bytes cut at many offsets,
//! with gaps, and picked up mid-stream. Hostile cases are built by hand.

use std::collections::HashMap;
use wsinspect::capture::{CaptureReader, PacketNo, Timestamp};
use wsinspect::decode::Decoder;
use wsinspect::flow::Direction;
use wsinspect::h2::connect::{extended_connect, request_summary, response_status};
use wsinspect::h2::frame::{FrameType, PREFACE, encode_frame, flags};
use wsinspect::h2::{
    Connection, ErrorCode, H2AnomalyKind, H2Event, H2EventKind, H2Limits, H2ViolationKind,
    SettingId, StreamId,
};
use wsinspect::tcp::{Piece, Reassembler};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// A piece of one direction: bytes or a gap, with its packet and time.
#[derive(Clone, Debug)]
enum Chunk {
    Data(Vec<u8>),
    Gap(u64),
}

type Pieces = Vec<(Direction, Chunk, PacketNo, Timestamp)>;

/// Both directions of the capture's one TCP connection, in capture order.
fn pieces(path: &str) -> Pieces {
    let f = std::fs::File::open(path).unwrap();
    let mut reader = CaptureReader::new(f).unwrap();
    let mut dec = Decoder::new();
    let mut client = None;
    let mut r = [Reassembler::new(u64::MAX), Reassembler::new(u64::MAX)];
    let mut times: HashMap<u64, Timestamp> = HashMap::new();
    let mut out = Pieces::new();
    while let Some(pkt) = reader.next_packet().unwrap() {
        times.insert(pkt.number.0, pkt.ts);
        let Ok(seg) = dec.decode(&pkt) else { continue };
        if client.is_none() && seg.flags.syn && !seg.flags.ack {
            client = Some(seg.src);
        }
        let dir = if Some(seg.src) == client { C2S } else { S2C };
        let i = if dir == C2S { 0 } else { 1 };
        if seg.flags.syn {
            r[i].syn(seg.seq);
            continue;
        }
        let mut sink = |p: Piece<'_>, src: PacketNo, _| {
            let ts = times[&src.0];
            out.push((
                dir,
                match p {
                    Piece::Data(d) => Chunk::Data(d.to_vec()),
                    Piece::Gap(n) => Chunk::Gap(n),
                },
                src,
                ts,
            ))
        };
        r[i].push(seg.seq, &seg.payload, seg.missing, pkt.number, &mut sink);
    }
    out
}

fn capture() -> Pieces {
    pieces(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/h2/layer/h2layer_prior_knowledge.pcap"
    ))
}

fn feed(conn: &mut Connection, ps: &Pieces) -> Vec<H2Event> {
    let mut ev = Vec::new();
    for (d, c, p, t) in ps {
        match c {
            Chunk::Data(b) => conn.push(*d, b, *p, *t, &mut |e| ev.push(e)),
            Chunk::Gap(n) => conn.gap(*d, *n, *p, *t, &mut |e| ev.push(e)),
        }
    }
    ev
}

/// Events with DATA pieces of one frame merged (packets dropped), so that
/// different cuts compare equal.
fn normal(events: &[H2Event]) -> Vec<String> {
    let mut out = Vec::new();
    let mut acc: HashMap<(Direction, StreamId), Vec<u8>> = HashMap::new();
    for e in events {
        match &e.kind {
            H2EventKind::Data {
                stream,
                bytes,
                frame_end,
                end_stream,
            } => {
                let a = acc.entry((e.dir, *stream)).or_default();
                a.extend_from_slice(bytes);
                if *frame_end {
                    let b = std::mem::take(a);
                    out.push(format!(
                        "{} DATA {stream} {} {end_stream} {:x?}",
                        e.dir,
                        b.len(),
                        &b[..b.len().min(16)]
                    ));
                }
            }
            k => out.push(format!("{} {k:?}", e.dir)),
        }
    }
    out
}

fn stream_data(events: &[H2Event], dir: Direction, stream: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for e in events {
        if let H2EventKind::Data {
            stream: s, bytes, ..
        } = &e.kind
            && e.dir == dir
            && s.0 == stream
        {
            v.extend_from_slice(bytes);
        }
    }
    v
}

fn headers(events: &[H2Event], dir: Direction, stream: u32) -> Vec<&H2Event> {
    events
        .iter()
        .filter(|e| {
            e.dir == dir
                && matches!(&e.kind, H2EventKind::Headers { stream: s, .. } if s.0 == stream)
        })
        .collect()
}

#[test]
fn real_conversation_is_decoded_as_the_peers_sent_it() {
    let ps = capture();
    let mut conn = Connection::new(H2Limits::default());
    let ev = feed(&mut conn, &ps);
    let findings: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e.kind, H2EventKind::Violation(_) | H2EventKind::Anomaly(_)))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(matches!(ev[0].kind, H2EventKind::Preface));
    assert_eq!(conn.server_connect_protocol(), Some(1));
    assert!(ev.iter().any(|e| e.dir == S2C
        && matches!(&e.kind,
        H2EventKind::Settings { ack: false, params, .. }
            if params.iter().any(|s| s.id == SettingId::EnableConnectProtocol && s.value == 1))));

    // Stream 1: GET / and 3000 lines back.
    let h = headers(&ev, C2S, 1);
    let H2EventKind::Headers {
        block, end_stream, ..
    } = &h[0].kind
    else {
        unreachable!()
    };
    assert!(block.complete() && *end_stream);
    let req = request_summary(&block.decoded.fields);
    assert_eq!(req.method.as_deref(), Some(&b"GET"[..]));
    assert_eq!(req.path.as_deref(), Some(&b"/"[..]));
    assert_eq!(block.get(b"user-agent"), Some(&b"h2layer/1"[..]));
    let H2EventKind::Headers { block, .. } = &headers(&ev, S2C, 1)[0].kind else {
        unreachable!()
    };
    assert_eq!(response_status(&block.decoded.fields), Some(200));
    assert_eq!(stream_data(&ev, S2C, 1), b"hello 1\n".repeat(3000));

    // Stream 3: a 40 000-byte POST, the first DATA frame padded; pieces
    // keep the packets that carried them.
    let want: Vec<u8> = (0..40000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(stream_data(&ev, C2S, 3), want);
    let packets: Vec<_> = ev
        .iter()
        .filter(|e| matches!(&e.kind, H2EventKind::Data { stream, .. } if stream.0 == 3))
        .map(|e| e.packet)
        .collect();
    assert!(packets.windows(2).all(|w| w[0] <= w[1]));
    let distinct: std::collections::BTreeSet<_> = packets.iter().collect();
    assert!(distinct.len() > 1, "{packets:?}");
    let H2EventKind::Headers { block, .. } = &headers(&ev, S2C, 3)[0].kind else {
        unreachable!()
    };
    assert_eq!(block.get(b"x-received"), Some(&b"40000"[..]));

    // Stream 5: a 30 000-byte field needs HEADERS + CONTINUATION.
    let h = headers(&ev, C2S, 5);
    let H2EventKind::Headers { block, .. } = &h[0].kind else {
        unreachable!()
    };
    assert!(block.complete());
    assert_eq!(block.get(b"x-big"), Some(&b"b".repeat(30000)[..]));
    assert!(block.encoded_len > 16384);

    // Stream 7: RFC 8441 extended CONNECT carrying WebSocket frames.
    let H2EventKind::Headers {
        block, end_stream, ..
    } = &headers(&ev, C2S, 7)[0].kind
    else {
        unreachable!()
    };
    assert!(!end_stream);
    let c = extended_connect(&block.decoded.fields, conn.server_connect_protocol()).unwrap();
    assert_eq!(c.protocol, b"websocket");
    assert_eq!(c.path.as_deref(), Some(&b"/chat"[..]));
    assert_eq!(c.scheme.as_deref(), Some(&b"http"[..]));
    assert_eq!(c.ws_protocol.as_deref(), Some(&b"chat, superchat"[..]));
    assert_eq!(c.ws_version.as_deref(), Some(&b"13"[..]));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let H2EventKind::Headers { block, .. } = &headers(&ev, S2C, 7)[0].kind else {
        unreachable!()
    };
    assert_eq!(response_status(&block.decoded.fields), Some(200));
    assert_eq!(block.get(b"sec-websocket-protocol"), Some(&b"chat"[..]));
    let mask = [1u8, 2, 3, 4];
    let mut want = vec![0x81, 0x88];
    want.extend_from_slice(&mask);
    want.extend(b"hi there".iter().enumerate().map(|(i, c)| c ^ mask[i % 4]));
    want.extend_from_slice(&[0x88, 0x82]);
    want.extend_from_slice(&mask);
    want.extend([3u8, 0xe8].iter().enumerate().map(|(i, c)| c ^ mask[i % 4]));
    assert_eq!(stream_data(&ev, C2S, 7), want);
    let mut back = b"\x81\x0ahello back".repeat(2);
    back.extend_from_slice(b"\x88\x02\x03\xe8");
    assert_eq!(stream_data(&ev, S2C, 7), back);

    // Stream 9 reset by the server; then PRIORITY, PING and GOAWAY.
    assert!(ev.iter().any(|e| e.dir == S2C
        && e.kind
            == H2EventKind::RstStream {
                stream: StreamId(9),
                code: ErrorCode::Cancel
            }));
    assert!(ev.iter().any(|e| e.dir == C2S
        && matches!(&e.kind, H2EventKind::Priority { stream, .. } if stream.0 == 11)));
    assert!(ev.iter().any(|e| e.dir == C2S
        && e.kind
            == H2EventKind::Ping {
                ack: false,
                data: *b"pingpong"
            }));
    assert!(ev.iter().any(|e| e.dir == S2C
        && e.kind
            == H2EventKind::Ping {
                ack: true,
                data: *b"pingpong"
            }));
    assert!(ev.iter().any(|e| e.dir == C2S
        && matches!(&e.kind,
        H2EventKind::GoAway { code: ErrorCode::NoError, debug, .. } if debug == b"bye")));
    assert!(
        ev.iter()
            .any(|e| matches!(e.kind, H2EventKind::WindowUpdate { .. }))
    );
}

/// Each direction's bytes as one buffer, with the capture order kept
/// between directions at piece granularity.
fn recut(ps: &Pieces, dir: Direction, cuts: &[usize]) -> Pieces {
    let mut out = Pieces::new();
    let mut offset = 0usize;
    for (d, c, p, t) in ps {
        let Chunk::Data(b) = c else {
            out.push((*d, c.clone(), *p, *t));
            continue;
        };
        if *d != dir {
            out.push((*d, c.clone(), *p, *t));
            continue;
        }
        let mut start = 0;
        for &cut in cuts {
            if cut > offset + start && cut < offset + b.len() {
                out.push((*d, Chunk::Data(b[start..cut - offset].to_vec()), *p, *t));
                start = cut - offset;
            }
        }
        out.push((*d, Chunk::Data(b[start..].to_vec()), *p, *t));
        offset += b.len();
    }
    out
}

#[test]
fn same_events_at_every_cut() {
    let ps = capture();
    let whole = normal(&feed(&mut Connection::new(H2Limits::default()), &ps));
    for dir in [C2S, S2C] {
        let total: usize = ps
            .iter()
            .filter(|(d, ..)| *d == dir)
            .map(|(_, c, ..)| match c {
                Chunk::Data(b) => b.len(),
                Chunk::Gap(_) => 0,
            })
            .sum();
        // Every offset of the first 600 bytes (preface, SETTINGS, the
        // first header blocks), then every 97th (the test's time).
        let cuts = (1..total).filter(|&o| o < 600 || o % 97 == 0);
        for cut in cuts {
            let ev = feed(
                &mut Connection::new(H2Limits::default()),
                &recut(&ps, dir, &[cut]),
            );
            assert_eq!(normal(&ev), whole, "{dir} cut at {cut}");
        }
        // And in pieces of 1 to 13 bytes at once.
        let small: Vec<usize> = (1..total)
            .scan(0usize, |k, o| {
                *k += 1;
                Some((o, *k))
            })
            .filter(|(o, k)| o % (1 + k % 13) == 0)
            .map(|(o, _)| o)
            .collect();
        let ev = feed(
            &mut Connection::new(H2Limits::default()),
            &recut(&ps, dir, &small),
        );
        assert_eq!(normal(&ev), whole, "{dir} in small pieces");
    }
}

/// Replaces `len` bytes of `dir` from `at` with a gap.
fn with_gap(ps: &Pieces, dir: Direction, at: usize, len: usize) -> Pieces {
    let cut = recut(ps, dir, &[at, at + len]);
    let mut out = Pieces::new();
    let mut offset = 0;
    for (d, c, p, t) in cut {
        if d == dir
            && let Chunk::Data(b) = &c
        {
            let n = b.len();
            if offset >= at && offset < at + len {
                out.push((d, Chunk::Gap(n as u64), p, t));
            } else {
                out.push((d, c, p, t));
            }
            offset += n;
            continue;
        }
        out.push((d, c, p, t));
    }
    out
}

/// All captured bytes of `dir`.
fn bytes_of(ps: &Pieces, dir: Direction) -> Vec<u8> {
    ps.iter()
        .filter(|(d, ..)| *d == dir)
        .flat_map(|(_, c, ..)| match c {
            Chunk::Data(b) => b.clone(),
            Chunk::Gap(_) => vec![],
        })
        .collect()
}

/// Byte offset in `dir` of the first occurrence of `needle`.
fn find(ps: &Pieces, dir: Direction, needle: &[u8]) -> usize {
    let all = bytes_of(ps, dir);
    all.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn gap_inside_a_data_payload_keeps_every_other_frame() {
    let ps = capture();
    let whole = feed(&mut Connection::new(H2Limits::default()), &ps);
    // 3000 bytes from the middle of the POST's largest DATA frame, found
    // by walking the client's frames (a well-formed stream).
    let all = bytes_of(&ps, C2S);
    let mut o = PREFACE.len();
    let mut best = (0usize, 0usize);
    while o + 9 <= all.len() {
        let len = u32::from_be_bytes([0, all[o], all[o + 1], all[o + 2]]) as usize;
        let stream = u32::from_be_bytes([all[o + 5], all[o + 6], all[o + 7], all[o + 8]]);
        if all[o + 3] == 0 && stream == 3 && len > best.1 {
            best = (o + 9, len);
        }
        o += 9 + len;
    }
    assert!(best.1 > 4000, "{best:?}");
    let at = best.0 + 500;
    let ev = feed(
        &mut Connection::new(H2Limits::default()),
        &with_gap(&ps, C2S, at, 3000),
    );
    let gaps: u64 = ev
        .iter()
        .filter_map(|e| match e.kind {
            H2EventKind::DataGap { stream, len } if stream.0 == 3 => Some(len),
            _ => None,
        })
        .sum();
    assert_eq!(gaps, 3000);
    assert_eq!(stream_data(&ev, C2S, 3).len(), 37000);
    let strip = |v: &[H2Event]| -> Vec<String> {
        normal(v)
            .into_iter()
            .filter(|l| !l.contains("DATA 3") && !l.contains("DataGap"))
            .collect()
    };
    assert_eq!(strip(&ev), strip(&whole));
}

#[test]
fn gap_over_frame_headers_loses_sync_and_never_invents_fields() {
    let ps = capture();
    let whole = feed(&mut Connection::new(H2Limits::default()), &ps);
    // Lose the client's bytes from inside stream 3's HEADERS (just before
    // the POST body) to the second DATA frame's payload: the block is lost
    // with its table updates, and a DATA frame header with it.
    let body: Vec<u8> = (0..40000u32).map(|i| (i % 251) as u8).collect();
    let at = find(&ps, C2S, &body[..100]) - 25;
    let to = find(&ps, C2S, &body[1000..1100]);
    let ev = feed(
        &mut Connection::new(H2Limits::default()),
        &with_gap(&ps, C2S, at, to - at),
    );
    assert!(
        ev.iter().any(
            |e| matches!(&e.kind, H2EventKind::Anomaly(a) if a.kind == H2AnomalyKind::LostSync)
        )
    );
    // Later client frames are found again.
    assert!(ev.iter().any(|e| e.dir == C2S
        && e.kind
            == H2EventKind::Ping {
                ack: false,
                data: *b"pingpong"
            }));
    assert_subset_of_truth(&ev, &whole);
    // The lost block held table insertions: later blocks count fields lost.
    assert!(
        ev.iter().any(
            |e| matches!(&e.kind, H2EventKind::Headers { block, .. } if block.decoded.lost > 0)
        )
    );
}

/// Every header block decoded is the true one with some fields possibly
/// missing (counted as lost), never a field that was not sent.
fn assert_subset_of_truth(ev: &[H2Event], truth: &[H2Event]) -> usize {
    let mut checked = 0;
    for e in ev {
        let H2EventKind::Headers { stream, block, .. } = &e.kind else {
            continue;
        };
        let t = truth
            .iter()
            .find_map(|t| match &t.kind {
                H2EventKind::Headers {
                    stream: s,
                    block: b,
                    ..
                } if t.dir == e.dir && s == stream => Some(b),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no HEADERS on stream {stream} in truth: {ev:#?}"));
        let mut it = t.decoded.fields.iter();
        for f in &block.decoded.fields {
            assert!(
                it.any(|x| x == f),
                "stream {stream}: {f:?} not in {:?}",
                t.decoded.fields
            );
        }
        if block.unavailable.is_none() && block.decoded.error.is_none() {
            assert_eq!(
                block.decoded.fields.len() + block.decoded.lost as usize,
                t.decoded.fields.len(),
                "stream {stream}"
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn picked_up_mid_stream_at_many_offsets() {
    let ps = capture();
    let truth = feed(&mut Connection::new(H2Limits::default()), &ps);
    let c2s_total: usize = ps
        .iter()
        .filter(|(d, ..)| *d == C2S)
        .map(|(_, c, ..)| match c {
            Chunk::Data(b) => b.len(),
            _ => 0,
        })
        .sum();
    let (mut blocks, mut lost) = (0, 0);
    for start in (0..c2s_total).step_by(977) {
        let mut cut = recut(&ps, C2S, &[start]);
        let mut offset = 0;
        cut.retain(|(d, c, ..)| {
            if *d != C2S {
                return true;
            }
            let n = match c {
                Chunk::Data(b) => b.len(),
                _ => 0,
            };
            offset += n;
            offset > start
        });
        let ev = feed(&mut Connection::mid_stream(H2Limits::default()), &cut);
        let violations: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e.kind, H2EventKind::Violation(_)))
            .collect();
        assert!(violations.is_empty(), "start {start}: {violations:#?}");
        blocks += assert_subset_of_truth(&ev, &truth);
        lost += ev
            .iter()
            .filter(
                |e| matches!(&e.kind, H2EventKind::Headers { block, .. } if block.decoded.lost > 0),
            )
            .count();
        // The PING near the end is always found.
        assert!(
            ev.iter().any(|e| e.dir == C2S
                && e.kind
                    == H2EventKind::Ping {
                        ack: false,
                        data: *b"pingpong"
                    }),
            "start {start}"
        );
    }
    assert!(blocks > 0 && lost > 0, "{blocks} {lost}");
}

// ---- hostile input ----

fn settings_frame(n: usize) -> Vec<u8> {
    let mut p = Vec::new();
    for k in 0..n {
        p.extend_from_slice(&(0x4000u16 + (k % 1000) as u16).to_be_bytes());
        p.extend_from_slice(&(k as u32).to_be_bytes());
    }
    encode_frame(FrameType::Settings, 0, 0, &p)
}

fn run_bounded(
    conn: &mut Connection,
    dir: Direction,
    bytes: impl Iterator<Item = Vec<u8>>,
    bound: usize,
) -> (Vec<H2Event>, usize) {
    let mut kept = Vec::new();
    let mut max = 0;
    for (k, b) in bytes.enumerate() {
        conn.push(dir, &b, PacketNo(k as u64 + 1), Timestamp(0), &mut |e| {
            // Keep findings and headers only: DATA is the caller's to bound.
            if !matches!(e.kind, H2EventKind::Data { .. }) && kept.len() < 10_000 {
                kept.push(e)
            }
        });
        max = max.max(conn.retained_bytes());
        assert!(
            conn.retained_bytes() <= bound,
            "{} > {bound}",
            conn.retained_bytes()
        );
    }
    (kept, max)
}

#[test]
fn continuation_chain_of_100_mb_stays_bounded() {
    let mut conn = Connection::new(H2Limits::default());
    let mut start = PREFACE.to_vec();
    start.extend(settings_frame(0));
    start.extend(encode_frame(FrameType::Headers, 0, 1, &[0x82]));
    let frame = encode_frame(FrameType::Continuation, 0, 1, &vec![0x82; 16384]);
    let chunks = std::iter::once(start).chain(std::iter::repeat_n(frame, 6400));
    let limits = H2Limits::default();
    let (ev, _) = run_bounded(
        &mut conn,
        C2S,
        chunks,
        limits.max_header_block_bytes + 64 * 1024,
    );
    // Ended by a frame that is not its CONTINUATION: reported, not decoded.
    let mut ev2 = Vec::new();
    conn.push(
        C2S,
        &encode_frame(FrameType::Ping, 0, 0, b"12345678"),
        PacketNo(9999),
        Timestamp(0),
        &mut |e| ev2.push(e),
    );
    assert!(ev2.iter().any(|e| matches!(&e.kind, H2EventKind::Violation(v) if v.kind == H2ViolationKind::ExpectedContinuation)));
    assert!(ev2.iter().any(|e| matches!(&e.kind, H2EventKind::Headers { block, .. } if block.encoded_len == 1 + 6400 * 16384)));
    assert!(
        ev.iter()
            .all(|e| !matches!(e.kind, H2EventKind::Headers { .. }))
    );
}

#[test]
fn header_block_bomb_is_bounded() {
    // The peer allows a 64 KiB table; the client fills an entry of ~4 KB
    // and indexes it 16 000 times per block, in 50 blocks: 3 GB decoded
    // from 800 KB.
    let mut conn = Connection::new(H2Limits::default());
    let mut start = PREFACE.to_vec();
    start.extend(settings_frame(0));
    let mut first = vec![0x40, 0x01, b'x', 0x7f];
    let mut v = 4000 - 127;
    while v >= 128 {
        first.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    first.push(v as u8);
    first.extend(vec![b'y'; 4000]);
    start.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &first,
    ));
    let bomb = vec![0xbe; 16000];
    let blocks =
        (0..50u32).map(|k| encode_frame(FrameType::Headers, flags::END_HEADERS, 3 + 2 * k, &bomb));
    let limits = H2Limits::default();
    let (ev, _) = run_bounded(
        &mut conn,
        C2S,
        std::iter::once(start).chain(blocks),
        2 * limits.max_header_list_bytes,
    );
    let caps = ev
        .iter()
        .filter(
            |e| matches!(&e.kind, H2EventKind::Anomaly(a) if a.kind == H2AnomalyKind::CapReached),
        )
        .count();
    assert_eq!(caps, 50);
    for e in &ev {
        if let H2EventKind::Headers { block, .. } = &e.kind {
            let kept: usize = block.decoded.fields.iter().map(|f| f.size()).sum();
            assert!(kept <= limits.max_header_list_bytes);
        }
    }
}

#[test]
fn settings_flood_stays_bounded() {
    let mut conn = Connection::new(H2Limits::default());
    let mut start = PREFACE.to_vec();
    start.extend(settings_frame(2000));
    let flood = (0..20_000).map(|_| settings_frame(3));
    let (ev, max) = run_bounded(
        &mut conn,
        C2S,
        std::iter::once(start).chain(flood),
        64 * 1024,
    );
    assert!(max < 64 * 1024);
    assert!(ev.iter().any(
        |e| matches!(&e.kind, H2EventKind::Settings { dropped, .. } if *dropped == 2000 - 64)
    ));
}

#[test]
fn streams_that_never_end_stay_bounded() {
    let limits = H2Limits::default();
    let mut conn = Connection::new(limits);
    let mut start = PREFACE.to_vec();
    start.extend(settings_frame(0));
    let opens = (0..50_000u32).map(|k| {
        let mut b = encode_frame(
            FrameType::Headers,
            flags::END_HEADERS,
            1 + 2 * k,
            &[0x83, 0x86, 0x84],
        );
        b.extend(encode_frame(FrameType::Data, 0, 1 + 2 * k, b"x"));
        b
    });
    let (ev, _) = run_bounded(
        &mut conn,
        C2S,
        std::iter::once(start).chain(opens),
        512 * 1024,
    );
    let caps: Vec<_> = ev
        .iter()
        .filter(
            |e| matches!(&e.kind, H2EventKind::Anomaly(a) if a.kind == H2AnomalyKind::CapReached),
        )
        .collect();
    assert_eq!(caps.len(), 1, "reported once");
    assert!(
        !ev.iter()
            .any(|e| matches!(e.kind, H2EventKind::Violation(_)))
    );
}

#[test]
fn random_bytes_never_panic_and_stay_bounded() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..40 {
        let mut conn = if round % 2 == 0 {
            Connection::new(H2Limits::default())
        } else {
            Connection::mid_stream(H2Limits::default())
        };
        let mut ev = 0usize;
        for k in 0..200 {
            let n = (x % 700) as usize;
            let b: Vec<u8> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let dir = if k % 3 == 0 { S2C } else { C2S };
            if x.is_multiple_of(17) {
                conn.gap(dir, x % 5000, PacketNo(k), Timestamp(0), &mut |_| ev += 1);
            } else {
                conn.push(dir, &b, PacketNo(k), Timestamp(0), &mut |_| ev += 1);
            }
            assert!(conn.retained_bytes() < 1 << 20);
        }
    }
}

/// Splits off each direction's HTTP/1.1 head (up to the blank line) and
/// returns the heads and the HTTP/2 pieces after them.
fn after_http1(ps: &Pieces) -> ([Vec<u8>; 2], Pieces) {
    let mut heads = [Vec::new(), Vec::new()];
    let mut done = [false, false];
    let mut out = Pieces::new();
    for (d, c, p, t) in ps {
        let i = if *d == C2S { 0 } else { 1 };
        let Chunk::Data(b) = c else {
            unreachable!("no loss on loopback")
        };
        if done[i] {
            out.push((*d, c.clone(), *p, *t));
            continue;
        }
        heads[i].extend_from_slice(b);
        if let Some(end) = heads[i].windows(4).position(|w| w == b"\r\n\r\n") {
            done[i] = true;
            let rest = heads[i].split_off(end + 4);
            if !rest.is_empty() {
                out.push((*d, Chunk::Data(rest), *p, *t));
            }
        }
    }
    (heads, out)
}

#[test]
fn h2c_upgrade_from_a_real_peer() {
    use base64::Engine as _;
    let ps = pieces(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/captures/h2/layer/h2layer_h2c_upgrade.pcap"
    ));
    let (heads, rest) = after_http1(&ps);
    assert!(heads[1].starts_with(b"HTTP/1.1 101"));
    let head = String::from_utf8_lossy(&heads[0]).to_string();
    let value = head
        .lines()
        .find_map(|l| l.strip_prefix("HTTP2-Settings: "))
        .unwrap();
    let settings = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim())
        .unwrap();
    let mut conn = Connection::h2c_upgrade(H2Limits::default(), Some(&settings));
    let ev = feed(&mut conn, &rest);
    let findings: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e.kind, H2EventKind::Violation(_) | H2EventKind::Anomaly(_)))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(
        ev.iter()
            .any(|e| e.dir == C2S && e.kind == H2EventKind::Preface)
    );
    // The server's first frame is SETTINGS; stream 1 answers the upgrade.
    assert!(matches!(
        ev.iter().find(|e| e.dir == S2C).unwrap().kind,
        H2EventKind::Settings { ack: false, .. }
    ));
    let H2EventKind::Headers { block, .. } = &headers(&ev, S2C, 1)[0].kind else {
        unreachable!()
    };
    assert_eq!(response_status(&block.decoded.fields), Some(200));
    assert_eq!(stream_data(&ev, S2C, 1), b"upgraded!\n");
    let H2EventKind::Headers { block, .. } = &headers(&ev, C2S, 3)[0].kind else {
        unreachable!()
    };
    assert_eq!(block.get(b":path"), Some(&b"/second"[..]));
    let H2EventKind::Headers {
        block, end_stream, ..
    } = &headers(&ev, S2C, 3)[0].kind
    else {
        unreachable!()
    };
    assert!(*end_stream);
    assert_eq!(response_status(&block.decoded.fields), Some(404));
    assert!(ev.iter().any(|e| e.dir == C2S
        && matches!(
            e.kind,
            H2EventKind::GoAway {
                code: ErrorCode::NoError,
                ..
            }
        )));
    // The same bytes taken as prior knowledge break §3.4 and §5.1: the
    // constructor matters.
    let ev = feed(&mut Connection::new(H2Limits::default()), &rest);
    assert!(ev.iter().any(|e| matches!(&e.kind, H2EventKind::Violation(v) if v.kind == H2ViolationKind::FrameOnIdleStream)));
}
