//! Property test (issue 7): WebSocket messages encoded by a reference
//! encoder (tungstenite's `Frame`), fragmented, cut into arbitrary TCP
//! segments that are reordered and duplicated, written as a pcap and fed
//! through the real pipeline, decode to the same messages: opcode, length
//! and SHA-256 of every message, in order, with no violation.

mod support;
use support::hostile as common;

use common::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use wsinspect::analysis::Limits;
use wsinspect::flow::Direction;
use wsinspect::ws::frame::Opcode;

#[derive(Debug, Clone)]
struct Msg {
    text: bool,
    payload: Vec<u8>,
    /// Number of frames the message is split into.
    fragments: usize,
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (".{0,300}", 1usize..4).prop_map(|(s, f)| Msg {
            text: true,
            payload: s.into_bytes(),
            fragments: f
        }),
        (prop::collection::vec(any::<u8>(), 0..3000), 1usize..5).prop_map(|(p, f)| Msg {
            text: false,
            payload: p,
            fragments: f
        }),
    ]
}

/// Frames of `m` in wire format, via tungstenite.
fn encode(m: &Msg, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let n = m.fragments.min(m.payload.len().max(1));
    let step = m.payload.len().div_ceil(n).max(1);
    let mut pieces: Vec<&[u8]> = m.payload.chunks(step).collect();
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    let last = pieces.len() - 1;
    for (i, p) in pieces.iter().enumerate() {
        let op = if i > 0 {
            Data::Continue
        } else if m.text {
            Data::Text
        } else {
            Data::Binary
        };
        let mut f = Frame::message(p.to_vec(), OpCode::Data(op), i == last);
        f.header_mut().mask = mask;
        f.format(out).expect("writing to memory");
    }
}

fn sha(p: &[u8]) -> String {
    Sha256::digest(p)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Cuts `data` at the given sizes (cycled), returning (offset, bytes).
fn cut(data: &[u8], sizes: &[usize]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    let mut i = 0;
    while off < data.len() {
        let n = sizes[i % sizes.len()].clamp(1, 1460).min(data.len() - off);
        out.push((off as u32, data[off..off + n].to_vec()));
        off += n;
        i += 1;
    }
    out
}

proptest! {
    // 48 cases per `cargo test`; PROPTEST_CASES=N for a longer search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn reordered_duplicated_segments_decode_to_the_same_messages(
        cmsgs in prop::collection::vec(msg(), 0..5),
        smsgs in prop::collection::vec(msg(), 0..5),
        mask in any::<[u8; 4]>(),
        sizes in prop::collection::vec(1usize..1500, 1..8),
        seed in any::<u64>(),
        dup_every in 2usize..9,
        isn in any::<u32>(),
    ) {
        let mut c2s = upgrade_request(None);
        for m in &cmsgs {
            encode(m, Some(mask), &mut c2s);
        }
        let mut s2c = upgrade_response(None);
        for m in &smsgs {
            encode(m, None, &mut s2c);
        }
        let mut f = Flow::new(40100, 80);
        f.cseq = isn;
        f.sseq = isn.rotate_left(13);
        let mut packets = f.open();
        let (cbase, sbase) = (f.cseq, f.sseq);
        let mut segs: Vec<Vec<u8>> = Vec::new();
        for (off, b) in cut(&c2s, &sizes) {
            segs.push(tcp(f.c, f.s, cbase.wrapping_add(off), sbase, ACK, &b));
        }
        for (off, b) in cut(&s2c, &sizes) {
            segs.push(tcp(f.s, f.c, sbase.wrapping_add(off), cbase, ACK, &b));
        }
        // Duplicate some segments, then shuffle everything (seeded LCG).
        let dups: Vec<Vec<u8>> = segs.iter().step_by(dup_every).cloned().collect();
        segs.extend(dups);
        let mut s = seed;
        for i in (1..segs.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            segs.swap(i, (s >> 33) as usize % (i + 1));
        }
        packets.extend(segs);
        f.cseq = cbase.wrapping_add(c2s.len() as u32);
        f.sseq = sbase.wrapping_add(s2c.len() as u32);
        packets.extend(f.close());

        let a = analyze(&pcap(&packets), Limits::default()).expect("readable");
        let c = conn(&a, 40100);
        prop_assert!(c.is_websocket);
        prop_assert!(c.violation_details.is_empty(), "{:?}", c.violations);
        for (dir, sent) in [(Direction::ClientToServer, &cmsgs), (Direction::ServerToClient, &smsgs)] {
            let got: Vec<_> = c
                .messages
                .iter()
                .filter(|m| m.dir == dir)
                .map(|m| (m.opcode, m.payload_len, m.sha256.map(|d| d.to_string()), m.complete))
                .collect();
            let want: Vec<_> = sent
                .iter()
                .map(|m| {
                    let op = if m.text { Opcode::Text } else { Opcode::Binary };
                    (op, Some(m.payload.len() as u64), Some(sha(&m.payload)), true)
                })
                .collect();
            prop_assert_eq!(got, want, "direction {}", dir);
        }
    }
}

/// Found by the property above: the 101's first byte `H` arrived alone,
/// before any request byte. `H` also starts `HEAD `, so the server was
/// taken for the client and the connection was lost as "malformed HTTP".
#[test]
fn a_response_whose_first_byte_arrives_alone_and_first_is_a_response() {
    let mut f = Flow::new(40100, 80);
    let mut packets = f.open();
    let mut s2c = upgrade_response(None);
    s2c.extend(frame(0x81, None, b"pushed"));
    packets.push(f.s2c(&s2c[..1]));
    packets.push(f.s2c(&s2c[1..]));
    packets.push(f.c2s(&upgrade_request(None)));
    packets.push(f.c2s(&frame(0x82, MASK, b"reply")));
    packets.extend(f.close());

    let a = analyze(&pcap(&packets), Limits::default()).expect("readable");
    let c = conn(&a, 40100);
    assert!(c.is_websocket, "{:?}", c.anomalies);
    assert_eq!(c.handshake.accept_valid, Some(true));
    assert_eq!(
        c.handshake.response_packet,
        Some(wsinspect::capture::PacketNo(4)),
        "the packet with `H`"
    );
    let got: Vec<_> = c.messages.iter().map(|m| (m.dir, m.opcode)).collect();
    assert_eq!(
        got,
        [
            (Direction::ServerToClient, Opcode::Text),
            (Direction::ClientToServer, Opcode::Binary)
        ]
    );
    assert_eq!(
        c.messages[0].first_packet.0, 5,
        "frames keep their own packet"
    );
}

/// The other reading of `H`: a `HEAD` request cut after its first byte.
#[test]
fn a_head_request_cut_after_its_first_byte_is_a_request() {
    let mut f = Flow::new(40101, 80);
    let mut packets = f.open();
    let req = b"HEAD / HTTP/1.1\r\nHost: example\r\n\r\n";
    packets.push(f.c2s(&req[..1]));
    packets.push(f.c2s(&req[1..]));
    packets.push(f.s2c(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
    packets.extend(f.close());

    let a = analyze(&pcap(&packets), Limits::default()).expect("readable");
    let c = conn(&a, 40101);
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let x: Vec<_> = c
        .http_exchanges
        .iter()
        .map(|x| (x.method.as_str(), x.status, x.request_packet.0))
        .collect();
    assert_eq!(x, [("HEAD", Some(200), 4)]);
}
