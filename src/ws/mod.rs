//! The WebSocket layer (RFC 6455, RFC 7692): frames, messages, deflate.
//!
//! [`WsStream`] ties a [`decoder::FrameDecoder`] to a
//! [`message::MessageAssembler`] for one direction of one connection.

pub mod decoder;
pub mod deflate;
pub mod frame;
pub mod mask;
pub mod message;
pub mod pingwatch;
pub mod utf8;

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use decoder::FrameDecoder;
use message::{MessageAssembler, WsContext, WsEvent, WsLimits};

/// One direction of a WebSocket connection.
#[derive(Debug)]
pub struct WsStream {
    decoder: FrameDecoder,
    assembler: MessageAssembler,
}

impl WsStream {
    /// A stream for `dir`.
    pub fn new(dir: Direction, ctx: WsContext, limits: WsLimits) -> Self {
        WsStream {
            decoder: FrameDecoder::default(),
            assembler: MessageAssembler::new(dir, ctx, limits),
        }
    }

    /// Direction decoded.
    pub fn dir(&self) -> Direction {
        self.assembler.dir()
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.decoder.frames()
    }

    /// Feeds captured bytes first carried by `src`; `now`/`ts` describe the
    /// packet that completed their in-order delivery.
    pub fn data(
        &mut self,
        data: &[u8],
        src: PacketNo,
        now: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(WsEvent),
    ) {
        let asm = &mut self.assembler;
        self.decoder
            .push(data, src, &mut |ev| asm.on_event(ev, now, ts, out));
    }

    /// `len` bytes of the stream were not captured.
    pub fn gap(&mut self, len: u64, now: PacketNo, ts: Timestamp, out: &mut impl FnMut(WsEvent)) {
        let asm = &mut self.assembler;
        self.decoder
            .gap(len, &mut |ev| asm.on_event(ev, now, ts, out));
    }
}

#[cfg(test)]
mod tests {
    use super::deflate::DeflateParams;
    use super::message::{MAX_DEFERRED_DIGEST, Message, PendingDigest};
    use super::*;
    use crate::model::finding::AnomalyKind;
    use crate::ws::frame::encode_frame;
    use sha2::{Digest, Sha256};

    /// The messages of `wire` (server frames), with digests deferred or not.
    fn messages(
        wire: &[u8],
        defer: bool,
        max_text: usize,
    ) -> Vec<(Message, Option<PendingDigest>)> {
        let limits = WsLimits {
            defer_digest: defer,
            max_text_bytes: max_text,
            ..WsLimits::default()
        };
        let mut ws = WsStream::new(Direction::ServerToClient, WsContext::default(), limits);
        let mut out = Vec::new();
        ws.data(
            wire,
            PacketNo(1),
            PacketNo(1),
            Timestamp::default(),
            &mut |e| {
                if let WsEvent::Message(m, d) = e {
                    out.push((m, d))
                }
            },
        );
        out
    }

    fn sha(b: &[u8]) -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    }

    /// Where each message's deferred payload is: text, head, a copy, or
    /// nowhere (hashed as it streamed).
    fn pending(ms: &[(Message, Option<PendingDigest>)]) -> Vec<&'static str> {
        ms.iter()
            .map(|(_, d)| match d {
                Some(PendingDigest::Text) => "text",
                Some(PendingDigest::Head) => "head",
                Some(PendingDigest::Bytes(_)) => "copy",
                None => "-",
            })
            .collect()
    }

    /// Every kind of message gets the digest of its payload, whether it is
    /// computed as the bytes stream or left to the consumer; only whole
    /// valid texts and binaries of up to 64 KiB are deferred, with a copy
    /// only for binaries longer than the head.
    #[test]
    fn deferred_digests_settle_to_the_streamed_ones() {
        let big = vec![7u8; MAX_DEFERRED_DIGEST + 1];
        let medium: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let payloads: [(u8, &[u8]); 5] = [
            (0x81, b"hello"),
            (0x82, &[1, 2, 3]),
            (0x82, &big),
            (0x81, b"\xff\xfe not utf-8"),
            (0x81, b""),
        ];
        let mut wire = Vec::new();
        for (b0, p) in payloads {
            wire.extend(encode_frame(b0, None, p));
        }
        // A 9-byte text cut by a 4-byte text cap: streamed after the cap.
        wire.extend(encode_frame(0x01, None, b"text "));
        wire.extend(encode_frame(0x80, None, b"tail"));
        // A binary in two fragments that outgrows the 1 KiB head.
        wire.extend(encode_frame(0x02, None, &medium[..1000]));
        wire.extend(encode_frame(0x80, None, &medium[1000..]));
        let streamed = messages(&wire, false, 4);
        let mut deferred = messages(&wire, true, 4);
        let mut deferred_wide = messages(&wire, true, 1 << 20);
        assert_eq!(pending(&streamed), ["-"; 7]);
        assert_eq!(
            pending(&deferred),
            ["-", "head", "-", "-", "text", "-", "copy"],
            "text cap 4"
        );
        assert_eq!(
            pending(&deferred_wide),
            ["text", "head", "-", "-", "text", "text", "copy"]
        );
        for (m, d) in deferred.iter_mut().chain(&mut deferred_wide) {
            if let Some(d) = d.take() {
                d.settle(m);
            }
        }
        let want: Vec<_> = payloads
            .iter()
            .map(|(_, p)| sha(p))
            .chain([sha(b"text tail"), sha(&medium)])
            .collect();
        for got in [&streamed, &deferred, &deferred_wide] {
            let digests: Vec<_> = got
                .iter()
                .map(|(m, _)| m.sha256.unwrap().to_string())
                .collect();
            assert_eq!(digests, want);
        }
    }

    /// Events of server frames `pieces`, `None` standing for a lost
    /// stretch of `n` bytes; no handshake was captured when `ctx` is
    /// the default.
    fn events(ctx: WsContext, pieces: &[Result<Vec<u8>, u64>]) -> Vec<WsEvent> {
        let mut ws = WsStream::new(Direction::ServerToClient, ctx, WsLimits::default());
        let mut out = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let n = PacketNo(i as u64 + 1);
            match p {
                Ok(d) => ws.data(d, n, n, Timestamp::default(), &mut |e| out.push(e)),
                Err(len) => ws.gap(*len, n, Timestamp::default(), &mut |e| out.push(e)),
            }
        }
        out
    }

    fn deflate(c: &mut flate2::Compress, m: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(m.len() + 64);
        c.compress_vec(m, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        out.truncate(out.len() - 4);
        out
    }

    fn msgs(evs: &[WsEvent]) -> Vec<&Message> {
        evs.iter()
            .filter_map(|e| match e {
                WsEvent::Message(m, _) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// Picked up mid-stream, a compressed message that copies from the
    /// history before the capture is shown as undecodable, with an
    /// anomaly and neither text nor digest; a message that copies only
    /// what was captured is exact.
    #[test]
    fn compressed_messages_never_show_uncaptured_history() {
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let before = deflate(&mut c, b"{\"user\":\"alice\",\"n\":1}");
        let _ = before;
        let copies = deflate(&mut c, b"{\"user\":\"alice\",\"n\":2}");
        let literal = deflate(&mut c, b"zqxj zqxj zqxj");
        let pieces = [
            Ok(encode_frame(0xc1, None, &copies)),
            Ok(encode_frame(0xc1, None, &literal)),
        ];
        let evs = events(WsContext::default(), &pieces);
        let ms = msgs(&evs);
        assert_eq!(ms.len(), 2);
        let m = ms[0];
        assert!(!m.complete && m.text.is_none() && m.sha256.is_none());
        assert!(
            m.undecodable
                .as_deref()
                .unwrap()
                .contains("before the capture began")
        );
        assert_eq!(m.payload_len, Some(22));
        assert!(evs.iter().any(|e| matches!(e,
            WsEvent::Anomaly(a) if a.kind == AnomalyKind::Undecodable && a.packet == PacketNo(1))));
        assert_eq!(ms[1].text.as_deref(), Some("zqxj zqxj zqxj"));
        assert!(ms[1].complete && ms[1].undecodable.is_none());
    }

    /// A lost stretch between frames may hide whole compressed messages:
    /// a later message that copies from them is undecodable, not wrong.
    #[test]
    fn loss_between_frames_invalidates_the_window() {
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let first = deflate(&mut c, b"alpha");
        let lost = deflate(&mut c, b"the lost message, quite long");
        let copies = deflate(&mut c, b"the lost message, quite long!");
        let lost_frame = encode_frame(0xc1, None, &lost);
        let ctx = WsContext {
            handshake_seen: true,
            deflate: Some(DeflateParams::default()),
        };
        let pieces = [
            Ok(encode_frame(0xc1, None, &first)),
            Err(lost_frame.len() as u64),
            Ok(encode_frame(0xc1, None, &copies)),
        ];
        let evs = events(ctx, &pieces);
        let ms = msgs(&evs);
        assert_eq!(ms[0].text.as_deref(), Some("alpha"));
        let last = ms.last().unwrap();
        assert!(last.text.is_none() && last.sha256.is_none() && !last.complete);
        assert!(
            last.undecodable
                .as_deref()
                .unwrap()
                .contains("lost in a gap")
        );
    }

    /// A close frame longer than 125 bytes is a violation, and its whole
    /// reason is reported.
    #[test]
    fn long_close_reason_is_kept_whole() {
        let reason = "r".repeat(300);
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        let evs = events(
            WsContext::default(),
            &[Ok(encode_frame(0x88, None, &payload))],
        );
        assert!(evs.iter().any(|e| matches!(e,
            WsEvent::Violation(v) if v.kind == crate::model::finding::ViolationKind::ControlTooLong)));
        let close = evs
            .iter()
            .find_map(|e| match e {
                WsEvent::Control(c) => Some(c),
                _ => None,
            })
            .unwrap();
        assert_eq!(close.close_reason.as_deref(), Some(reason.as_str()));
        assert_eq!(close.payload_len, 302);
        assert_eq!(close.payload.len(), 125);
    }
}
