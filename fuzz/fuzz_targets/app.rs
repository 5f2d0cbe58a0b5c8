//! Application-protocol layer (src/app/) over arbitrary messages: the
//! first byte picks the protocol (or detection, with a handshake hint),
//! the rest is split into messages of both directions, text or binary,
//! complete or not. No panic, and bounded retained memory. The same bytes
//! are then Engine.IO long-polling bodies (v3 or v4 by the control byte's
//! lowest bit, split in two bodies at the position its next bits say), fed
//! to `app::eiopoll::PollingSession`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::app::eiopoll::PollingSession;
use wsinspect::app::{AppChoice, AppInput, AppLimits, AppProtocol, AppSession, HandshakeHints};
use wsinspect::capture::{PacketNo, Timestamp};
use wsinspect::flow::Direction;
use wsinspect::ws::frame::Opcode;

const HINTS: [(Option<&str>, Option<&str>); 6] = [
    (None, None),
    (Some("v11.stomp"), None),
    (Some("v10.stomp"), None),
    (None, Some("/socket.io/?EIO=3&transport=websocket")),
    (None, Some("/socket/websocket?vsn=2.0.0")),
    (None, Some("/hub?id=1")),
];

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let choice = match ctl % 13 {
        n @ 0..=10 => AppChoice::Forced(AppProtocol::ALL[usize::from(n)]),
        11 => AppChoice::Auto,
        _ => AppChoice::None,
    };
    let (subprotocol, target) = HINTS[usize::from(ctl >> 4) % HINTS.len()];
    let limits = AppLimits {
        max_buffered: 512,
        max_json_bytes: 4096,
        max_pending: 16,
        max_attachments: 4,
        max_findings: 64,
        max_items: 8,
        max_records_per_message: 32,
        ..AppLimits::default()
    };
    let mut s = AppSession::new(&HandshakeHints { subprotocol, target }, choice, limits);
    // Messages: a header byte (bit 0 direction, bit 1 binary, bit 2
    // incomplete, bits 3–7 length 0–30, or 31: a 2-byte little-endian
    // length follows) then that many bytes.
    let mut rest = rest;
    let mut index = 0u64;
    let mut produced = 0usize;
    while let Some((&h, mut more)) = rest.split_first() {
        let len = if h >> 3 == 0x1f {
            let Some((l, m)) = more.split_first_chunk::<2>() else { break };
            more = m;
            usize::from(u16::from_le_bytes(*l))
        } else {
            usize::from(h >> 3)
        };
        let n = len.min(more.len());
        let (payload, next) = more.split_at(n);
        rest = next;
        let input = AppInput {
            dir: if h & 1 == 0 { Direction::ClientToServer } else { Direction::ServerToClient },
            opcode: if h & 2 == 0 { Opcode::Text } else { Opcode::Binary },
            payload,
            complete: h & 4 == 0 || payload.is_empty(),
            index,
            first_packet: PacketNo(index + 1),
            ts: Timestamp(i128::from(index as u32) * 7_000_000),
        };
        index += 1;
        let out = s.feed(&input);
        produced += out.records.len() + out.findings.len();
        // Retained memory stays under the caps: the buffers of both
        // directions (and once more while detection holds messages).
        assert!(s.held_bytes() <= 4 * limits.max_buffered + 64, "held {}", s.held_bytes());
        assert!(s.pending() <= limits.max_pending);
        for r in &out.records {
            assert!(r.messages.len() <= limits.max_items.max(limits.max_attachments as usize + 1) + 1);
            assert!(r.name.as_ref().is_none_or(|n| n.chars().count() <= limits.max_text + 1));
        }
    }
    let out = s.finish();
    produced += out.records.len() + out.findings.len();
    assert!(produced <= 4 * data.len() + 16 + limits.max_pending);

    // Long-polling payloads.
    let body = &data[1..];
    let eio = if ctl & 1 == 0 { 4 } else { 3 };
    let cut = (usize::from(ctl >> 1) * body.len() / 128).min(body.len());
    let mut poll = PollingSession::new(eio, limits);
    let mut produced = 0usize;
    for (i, part) in [&body[..cut], &body[cut..]].into_iter().enumerate() {
        let dir = if i == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        let out = poll.body(dir, part, PacketNo(i as u64 + 1), Timestamp(i as i128), "body");
        // One record per packet (and one per attachment), a packet is at
        // least one byte, at most the cap per body; findings are few.
        assert!(out.records.len() <= 2 * limits.max_records_per_message + 1);
        assert!(out.records.len() <= 2 * part.len() + 2, "{} records", out.records.len());
        produced += out.records.len() + out.findings.len();
        assert!(poll.held_bytes() <= limits.max_buffered);
        assert!(poll.pending() <= limits.max_pending);
    }
    let out = poll.finish();
    produced += out.records.len() + out.findings.len();
    assert!(produced <= 4 * data.len() + 16);
});
