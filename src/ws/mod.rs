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
    use super::message::{MAX_DEFERRED_DIGEST, Message, PendingDigest};
    use super::*;
    use crate::ws::frame::encode_frame;
    use sha2::{Digest, Sha256};

    /// The messages of `wire` (server frames), with digests deferred or not.
    fn messages(wire: &[u8], defer: bool, max_text: usize) -> Vec<Message> {
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
                if let WsEvent::Message(m) = e {
                    out.push(m)
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
    fn pending(ms: &[Message]) -> Vec<&'static str> {
        ms.iter()
            .map(|m| match m.pending_digest {
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
        for m in deferred.iter_mut().chain(&mut deferred_wide) {
            m.settle_digest();
        }
        let want: Vec<_> = payloads
            .iter()
            .map(|(_, p)| sha(p))
            .chain([sha(b"text tail"), sha(&medium)])
            .collect();
        for got in [&streamed, &deferred, &deferred_wide] {
            let digests: Vec<_> = got.iter().map(|m| m.sha256.unwrap().to_string()).collect();
            assert_eq!(digests, want);
        }
    }
}
