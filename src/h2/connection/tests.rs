//! The state machine on hand-built frames: every cut gives the same
//! events, gaps keep or lose sync as they should, rules are flagged.

use super::*;
use crate::h2::HpackError;
use crate::h2::frame::encode_frame;
use crate::h2::hpack::huffman_encode;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// An HPACK literal without indexing, new name (RFC 7541 §6.2.2).
fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x00, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.push(value.len() as u8);
    b.extend_from_slice(value.as_bytes());
    b
}

/// Literal with incremental indexing, Huffman value.
fn lit_idx_huff(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x40, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    let h = huffman_encode(value.as_bytes());
    b.push(0x80 | h.len() as u8);
    b.extend_from_slice(&h);
    b
}

fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    encode_frame(FrameType::Settings, 0, 0, &p)
}

fn request_block() -> Vec<u8> {
    // :method GET, :scheme http, :path /, then an indexed literal.
    let mut b = vec![0x82, 0x86, 0x84];
    b.extend(lit_idx_huff(":authority", "example.com"));
    b.extend(lit("x-y", "z"));
    b
}

/// A client stream: preface, SETTINGS, a request with CONTINUATION,
/// padded DATA, PING, WINDOW_UPDATE, a second request using the table.
fn client_bytes() -> Vec<u8> {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[(2, 0), (4, 65535)]));
    let blk = request_block();
    c.extend(encode_frame(FrameType::Headers, 0, 1, &blk[..5]));
    c.extend(encode_frame(
        FrameType::Continuation,
        flags::END_HEADERS,
        1,
        &blk[5..],
    ));
    c.extend(encode_frame(FrameType::Settings, flags::ACK, 0, &[]));
    let mut padded = vec![3u8];
    padded.extend_from_slice(b"hello");
    padded.extend_from_slice(&[0, 0, 0]);
    c.extend(encode_frame(FrameType::Data, flags::PADDED, 1, &padded));
    c.extend(encode_frame(
        FrameType::Data,
        flags::END_STREAM,
        1,
        b" world",
    ));
    c.extend(encode_frame(FrameType::Ping, 0, 0, b"12345678"));
    c.extend(encode_frame(FrameType::WindowUpdate, 0, 0, &[0, 0, 1, 0]));
    // Stream 3: :method GET, :scheme http, :path /, index 62.
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM | flags::PRIORITY,
        3,
        &[0x80, 0, 0, 1, 15, 0x82, 0x86, 0x84, 0xbe],
    ));
    c.extend(encode_frame(FrameType::Unknown(0xbb), 0, 0, b"skip me"));
    c
}

fn server_bytes() -> Vec<u8> {
    let mut s = settings(&[(8, 1), (3, 100)]);
    s.extend(encode_frame(FrameType::Settings, flags::ACK, 0, &[]));
    s.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &[0x88],
    ));
    s.extend(encode_frame(FrameType::Data, flags::END_STREAM, 1, b"ok"));
    s.extend(encode_frame(FrameType::RstStream, 0, 3, &[0, 0, 0, 8]));
    let mut ga = vec![0, 0, 0, 3, 0, 0, 0, 0];
    ga.extend_from_slice(b"bye");
    s.extend(encode_frame(FrameType::GoAway, 0, 0, &ga));
    s
}

/// A readable form of the events; DATA pieces of a frame are merged so
/// that cuts compare equal.
fn describe(events: &[H2Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut data: Option<(StreamId, Vec<u8>)> = None;
    for e in events {
        if let H2EventKind::Data {
            stream,
            bytes,
            frame_end,
            end_stream,
        } = &e.kind
        {
            let d = data.get_or_insert((*stream, Vec::new()));
            d.1.extend_from_slice(bytes);
            if *frame_end {
                let (s, b) = data.take().unwrap();
                out.push(format!(
                    "{} DATA {s} {:?}{}",
                    e.dir,
                    String::from_utf8_lossy(&b),
                    if *end_stream { " END" } else { "" }
                ));
            }
            continue;
        }
        let k = match &e.kind {
            H2EventKind::Headers {
                stream,
                block,
                end_stream,
                priority,
            } => format!(
                "HEADERS {stream} {:?} lost={} end={end_stream} prio={}",
                block.decoded.fields,
                block.decoded.lost,
                priority.is_some()
            ),
            other => format!("{other:?}"),
        };
        out.push(format!("{} {k}", e.dir));
    }
    out
}

fn run(c: &mut Connection, chunks: &[(Direction, &[u8], u64)]) -> Vec<H2Event> {
    let mut ev = Vec::new();
    for (d, b, p) in chunks {
        c.push(*d, b, PacketNo(*p), Timestamp(*p as i128), &mut |e| {
            ev.push(e)
        });
    }
    ev
}

#[test]
fn whole_conversation() {
    let c = client_bytes();
    let s = server_bytes();
    let mut conn = Connection::new(H2Limits::default());
    let ev = run(&mut conn, &[(C2S, &c, 1), (S2C, &s, 2)]);
    let d = describe(&ev);
    let want = [
        "c2s Preface",
        "c2s Settings { ack: false, params: [Setting { id: EnablePush, value: 0 }, Setting { id: InitialWindowSize, value: 65535 }], dropped: 0 }",
        "c2s HEADERS 1 [:method: GET, :scheme: http, :path: /, :authority: example.com, x-y: z] lost=0 end=false prio=false",
        "c2s Settings { ack: true, params: [], dropped: 0 }",
        "c2s DATA 1 \"hello\"",
        "c2s DATA 1 \" world\" END",
        "c2s Ping { ack: false, data: [49, 50, 51, 52, 53, 54, 55, 56] }",
        "c2s WindowUpdate { stream: StreamId(0), increment: 256 }",
        "c2s HEADERS 3 [:method: GET, :scheme: http, :path: /, :authority: example.com] lost=0 end=true prio=true",
        "c2s UnknownFrame { frame_type: 187, stream: StreamId(0), len: 7 }",
        "s2c Settings { ack: false, params: [Setting { id: EnableConnectProtocol, value: 1 }, Setting { id: MaxConcurrentStreams, value: 100 }], dropped: 0 }",
        "s2c Settings { ack: true, params: [], dropped: 0 }",
        "s2c HEADERS 1 [:status: 200] lost=0 end=false prio=false",
        "s2c DATA 1 \"ok\" END",
        "s2c RstStream { stream: StreamId(3), code: Cancel }",
        "s2c GoAway { last_stream: StreamId(3), code: NoError, debug: [98, 121, 101], debug_len: 3 }",
    ];
    assert_eq!(d, want, "{d:#?}");
    assert_eq!(conn.server_connect_protocol(), Some(1));
    assert_eq!(conn.frame_counts(C2S), (10, 1));
    // The HEADERS+CONTINUATION block spans its frames' packets.
    let h = ev
        .iter()
        .find(|e| matches!(e.kind, H2EventKind::Headers { .. }))
        .unwrap();
    assert_eq!((h.first_packet, h.packet), (PacketNo(1), PacketNo(1)));
}

#[test]
fn same_events_at_every_cut_and_byte_by_byte() {
    let c = client_bytes();
    let s = server_bytes();
    let whole = describe(&run(
        &mut Connection::new(H2Limits::default()),
        &[(C2S, &c, 1), (S2C, &s, 2)],
    ));
    for cut in 0..c.len() {
        let ev = run(
            &mut Connection::new(H2Limits::default()),
            &[(C2S, &c[..cut], 1), (C2S, &c[cut..], 2), (S2C, &s, 3)],
        );
        assert_eq!(describe(&ev), whole, "client cut at {cut}");
    }
    for cut in 0..s.len() {
        let ev = run(
            &mut Connection::new(H2Limits::default()),
            &[(C2S, &c, 1), (S2C, &s[..cut], 2), (S2C, &s[cut..], 3)],
        );
        assert_eq!(describe(&ev), whole, "server cut at {cut}");
    }
    let mut conn = Connection::new(H2Limits::default());
    let mut ev = Vec::new();
    for (k, b) in c.iter().enumerate() {
        conn.push(C2S, &[*b], PacketNo(k as u64), Timestamp(0), &mut |e| {
            ev.push(e)
        });
    }
    ev.extend(run(&mut conn, &[(S2C, &s, 9999)]));
    assert_eq!(describe(&ev), whole);
}

#[test]
fn data_pieces_carry_their_packets() {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &[0x82, 0x86, 0x84],
    ));
    let payload = vec![7u8; 1000];
    c.extend(encode_frame(FrameType::Data, 0, 1, &payload));
    let split = c.len() - 600;
    let mut conn = Connection::new(H2Limits::default());
    let ev = run(&mut conn, &[(C2S, &c[..split], 5), (C2S, &c[split..], 6)]);
    let pieces: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            H2EventKind::Data {
                bytes, frame_end, ..
            } => Some((e.packet, bytes.len(), *frame_end)),
            _ => None,
        })
        .collect();
    assert_eq!(
        pieces,
        [(PacketNo(5), 400, false), (PacketNo(6), 600, true)]
    );
}

#[test]
fn gap_inside_data_keeps_sync() {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &[0x82, 0x86, 0x84],
    ));
    let start = c.len() + HEADER_LEN;
    c.extend(encode_frame(FrameType::Data, 0, 1, &[1u8; 100]));
    c.extend(encode_frame(FrameType::Ping, 0, 0, b"abcdefgh"));
    let mut conn = Connection::new(H2Limits::default());
    let mut ev = run(&mut conn, &[(C2S, &c[..start + 10], 1)]);
    conn.gap(C2S, 50, PacketNo(2), Timestamp(2), &mut |e| ev.push(e));
    ev.extend(run(&mut conn, &[(C2S, &c[start + 60..], 3)]));
    let d = describe(&ev);
    assert!(
        d.contains(&"c2s DataGap { stream: StreamId(1), len: 50 }".to_string()),
        "{d:#?}"
    );
    assert!(d.iter().any(|l| l.starts_with("c2s Ping")), "{d:#?}");
    assert!(!d.iter().any(|l| l.contains("LostSync")));
}

#[test]
fn gap_in_a_header_loses_sync_then_finds_frames_again() {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &request_block(),
    ));
    let cut = c.len() + 4;
    c.extend(encode_frame(FrameType::Data, 0, 1, b"lost"));
    let resume = c.len() - 2;
    c.extend(encode_frame(FrameType::Data, 0, 1, b"one"));
    c.extend(encode_frame(FrameType::Ping, 0, 0, b"abcdefgh"));
    // Uses the table entry made before the gap: still known (no block lost).
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        3,
        &[0x82, 0x86, 0x84, 0xbe],
    ));
    c.extend(encode_frame(FrameType::WindowUpdate, 0, 0, &[0, 0, 0, 9]));
    let mut conn = Connection::new(H2Limits::default());
    let mut ev = run(&mut conn, &[(C2S, &c[..cut], 1)]);
    conn.gap(
        C2S,
        (resume - cut) as u64,
        PacketNo(2),
        Timestamp(2),
        &mut |e| ev.push(e),
    );
    ev.extend(run(&mut conn, &[(C2S, &c[resume..], 3)]));
    let d = describe(&ev);
    assert!(
        d.iter()
            .any(|l| l.contains("LostSync") && l.contains("frame boundaries lost")),
        "{d:#?}"
    );
    assert!(d.iter().any(|l| l.contains("2 bytes skipped")), "{d:#?}");
    assert!(d.contains(&"c2s DATA 1 \"one\"".to_string()), "{d:#?}");
    // After lost sync the HPACK state is unknown: the reference to
    // index 62 is lost, never guessed.
    assert!(
        d.contains(
            &"c2s HEADERS 3 [:method: GET, :scheme: http, :path: /] lost=1 end=false prio=false"
                .to_string()
        ),
        "{d:#?}"
    );
}

#[test]
fn mid_stream_pickup_finds_frames_and_decodes_data() {
    let c = client_bytes();
    // Start inside the first HEADERS frame.
    let from = PREFACE.len() + 21 + 3;
    let mut conn = Connection::mid_stream(H2Limits::default());
    let ev = run(&mut conn, &[(C2S, &c[from..], 1)]);
    let d = describe(&ev);
    assert!(d.iter().any(|l| l.contains("bytes skipped")), "{d:#?}");
    assert!(
        d.contains(&"c2s DATA 1 \" world\" END".to_string()),
        "{d:#?}"
    );
    // Stream 3's block uses index 62, inserted in the block not seen.
    assert!(
        d.iter()
            .any(|l| l.starts_with("c2s HEADERS 3") && l.contains("lost=1")),
        "{d:#?}"
    );
    assert!(!d.iter().any(|l| l.contains("Violation")), "{d:#?}");

    // A pickup that starts at the preface is a normal start.
    let mut conn = Connection::mid_stream(H2Limits::default());
    let d = describe(&run(&mut conn, &[(C2S, &c, 1)]));
    assert_eq!(d[0], "c2s Preface");
    assert!(
        d.iter()
            .any(|l| l.starts_with("c2s HEADERS 3") && l.contains("lost=0")),
        "{d:#?}"
    );
}

#[test]
fn rules_are_flagged() {
    let mut c = PREFACE.to_vec();
    c.extend(encode_frame(FrameType::Ping, 0, 0, b"12345678")); // not SETTINGS first
    c.extend(encode_frame(FrameType::Data, 0, 0, b"x")); // DATA on stream 0
    c.extend(encode_frame(FrameType::Ping, 0, 0, b"1234")); // bad size
    c.extend(encode_frame(FrameType::WindowUpdate, 0, 0, &[0, 0, 0, 0])); // zero
    c.extend(encode_frame(FrameType::Data, 0, 5, b"x")); // idle stream
    c.extend(encode_frame(FrameType::Headers, 0, 1, &[0x82])); // no END_HEADERS
    c.extend(encode_frame(FrameType::Ping, 0, 0, b"12345678")); // interrupts it
    c.extend(encode_frame(
        FrameType::Continuation,
        flags::END_HEADERS,
        1,
        &[0x84],
    )); // unexpected
    c.extend(encode_frame(FrameType::Data, flags::PADDED, 1, &[9, 1, 2])); // pad too long
    c.extend(settings(&[(5, 100), (8, 2)])); // bad values
    c.extend(encode_frame(FrameType::Priority, 0, 7, &[0, 0, 0, 7, 1])); // self
    c.extend(encode_frame(
        FrameType::PushPromise,
        flags::END_HEADERS,
        1,
        &[0, 0, 0, 2, 0x82],
    ));
    let mut conn = Connection::new(H2Limits::default());
    let ev = run(&mut conn, &[(C2S, &c, 1)]);
    let kinds: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            H2EventKind::Violation(v) => Some(v.kind),
            _ => None,
        })
        .collect();
    use H2ViolationKind::*;
    assert_eq!(
        kinds,
        [
            FirstFrameNotSettings,
            WrongStream,
            BadFrameSize,
            ZeroWindowIncrement,
            FrameOnIdleStream,
            ExpectedContinuation,
            UnexpectedContinuation,
            BadPadding,
            BadSettingValue,
            BadSettingValue,
            SelfDependency,
            BadPush,
        ],
        "{ev:#?}"
    );
    for k in &kinds {
        assert!(k.rfc().starts_with("RFC "));
    }
}

#[test]
fn frame_after_end_stream_and_reset_rules() {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &[0x82, 0x86, 0x84],
    ));
    c.extend(encode_frame(FrameType::Data, 0, 1, b"late")); // after END_STREAM
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        3,
        &[0x82, 0x86, 0x84],
    ));
    c.extend(encode_frame(FrameType::RstStream, 0, 3, &[0, 0, 0, 8]));
    c.extend(encode_frame(FrameType::Data, 0, 3, b"after my reset"));
    let mut s = settings(&[]);
    // The server's DATA in flight on stream 3 (reset by the client): fine.
    s.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        3,
        &[0x88],
    ));
    s.extend(encode_frame(FrameType::Data, 0, 3, b"in flight"));
    let mut conn = Connection::new(H2Limits::default());
    let ev = run(&mut conn, &[(C2S, &c, 1), (S2C, &s, 2)]);
    let v: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            H2EventKind::Violation(v) => Some((e.dir, v.kind, v.stream)),
            _ => None,
        })
        .collect();
    assert_eq!(
        v,
        [
            (C2S, H2ViolationKind::FrameOnClosedStream, Some(StreamId(1))),
            (C2S, H2ViolationKind::FrameOnClosedStream, Some(StreamId(3))),
        ],
        "{ev:#?}"
    );
}

#[test]
fn h2c_upgrade_starts_with_stream_one_half_closed() {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    let mut s = settings(&[]);
    s.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &[0x88],
    ));
    s.extend(encode_frame(FrameType::Data, flags::END_STREAM, 1, b"hi"));
    let mut conn = Connection::h2c_upgrade(H2Limits::default(), Some(&[0, 1, 0, 0, 0x10, 0]));
    let ev = run(&mut conn, &[(S2C, &s, 1), (C2S, &c, 2)]);
    assert!(
        !ev.iter()
            .any(|e| matches!(e.kind, H2EventKind::Violation(_))),
        "{ev:#?}"
    );
    assert!(describe(&ev).contains(&"s2c DATA 1 \"hi\" END".to_string()));
}

#[test]
fn caps_are_reported_and_hold() {
    let limits = H2Limits {
        max_header_block_bytes: 1000,
        max_settings_per_frame: 4,
        max_streams: 8,
        max_goaway_debug: 16,
        ..H2Limits::default()
    };
    let mut c = PREFACE.to_vec();
    let many: Vec<(u16, u32)> = (0..1000).map(|k| (0x100 + k as u16, k)).collect();
    c.extend(settings(&many));
    // A CONTINUATION chain of 100 × 1000 bytes.
    c.extend(encode_frame(FrameType::Headers, 0, 1, &[0x82; 1000]));
    for k in 0..100 {
        let fl = if k == 99 { flags::END_HEADERS } else { 0 };
        c.extend(encode_frame(FrameType::Continuation, fl, 1, &[0x82; 1000]));
    }
    for id in (3..100).step_by(2) {
        c.extend(encode_frame(
            FrameType::Headers,
            flags::END_HEADERS,
            id,
            &[0x82, 0x86, 0x84],
        ));
    }
    let mut ga = vec![0, 0, 0, 0, 0, 0, 0, 0xb];
    ga.extend(vec![b'd'; 5000]);
    c.extend(encode_frame(FrameType::GoAway, 0, 0, &ga));
    let mut conn = Connection::new(limits);
    let mut max_retained = 0;
    let mut ev = Vec::new();
    for piece in c.chunks(700) {
        conn.push(C2S, piece, PacketNo(1), Timestamp(0), &mut |e| ev.push(e));
        max_retained = max_retained.max(conn.retained_bytes());
    }
    assert!(max_retained < 8 * 1024, "{max_retained}");
    let caps = ev
        .iter()
        .filter(
            |e| matches!(&e.kind, H2EventKind::Anomaly(a) if a.kind == H2AnomalyKind::CapReached),
        )
        .count();
    assert_eq!(caps, 3, "{ev:#?}"); // settings, block, streams
    let too_large = ev.iter().any(|e| matches!(&e.kind,
        H2EventKind::Headers { block, .. } if block.unavailable == Some(Unavailable::TooLarge) && block.encoded_len == 101_000));
    assert!(too_large);
    assert!(ev.iter().any(|e| matches!(&e.kind,
        H2EventKind::GoAway { debug, debug_len: 5000, code: ErrorCode::EnhanceYourCalm, .. } if debug.len() == 16)));
}

#[test]
fn resync_hold_is_bounded() {
    let limits = H2Limits {
        max_resync_bytes: 4096,
        ..H2Limits::default()
    };
    let mut conn = Connection::mid_stream(limits);
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut ev = Vec::new();
    for piece in junk.chunks(333) {
        conn.push(S2C, piece, PacketNo(1), Timestamp(0), &mut |e| ev.push(e));
        assert!(conn.retained_bytes() < 4096 + 1024);
    }
    conn.finish(S2C, PacketNo(2), Timestamp(0), &mut |e| ev.push(e));
    assert!(
        ev.iter().all(|e| matches!(e.kind, H2EventKind::Anomaly(_))),
        "{ev:#?}"
    );
}

#[test]
fn table_size_updates_are_held_to_what_the_decoder_announced() {
    // The client announces a 256-byte table; until the server acknowledges,
    // the server's encoder may still use 4096; after, 300 is too much.
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[(1, 256)]));
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &[0x82, 0x86, 0x84],
    ));
    c.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &[0x82, 0x86, 0x84],
    ));
    let mut s = settings(&[]);
    // Size update to 4096 before the ACK: allowed.
    s.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        1,
        &[0x3f, 0xe1, 0x1f, 0x88],
    ));
    s.extend(encode_frame(FrameType::Settings, flags::ACK, 0, &[]));
    // 300 after it: above the 256 now in force (RFC 7541 §6.3).
    s.extend(encode_frame(
        FrameType::Headers,
        flags::END_HEADERS,
        3,
        &[0x3f, 0x8d, 0x02, 0x88],
    ));
    let mut conn = Connection::new(H2Limits::default());
    let ev = run(&mut conn, &[(C2S, &c, 1), (S2C, &s, 2)]);
    let v: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            H2EventKind::Violation(v) => Some((v.kind, v.stream)),
            _ => None,
        })
        .collect();
    assert_eq!(
        v,
        [(
            H2ViolationKind::Hpack(HpackError::TableSizeAboveLimit {
                size: 300,
                limit: 256
            }),
            Some(StreamId(3))
        )],
        "{ev:#?}"
    );
}

#[test]
fn finish_reports_an_open_header_block() {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    c.extend(encode_frame(FrameType::Headers, 0, 1, &[0x82]));
    let mut conn = Connection::new(H2Limits::default());
    let mut ev = run(&mut conn, &[(C2S, &c, 1)]);
    assert!(
        !ev.iter()
            .any(|e| matches!(e.kind, H2EventKind::Headers { .. }))
    );
    conn.finish(C2S, PacketNo(2), Timestamp(2), &mut |e| ev.push(e));
    assert!(ev.iter().any(|e| matches!(&e.kind,
        H2EventKind::Headers { block, .. } if block.unavailable == Some(Unavailable::Gap) && block.encoded_len == 1)));
}
