//! The WebSocket layer (RFC 6455, RFC 7692): frames, messages, deflate.
//!
//! [`WsStream`] ties a [`decoder::FrameDecoder`] to a
//! [`message::MessageAssembler`] for one direction of one connection.

pub mod decoder;
pub mod deflate;
pub mod frame;
pub mod mask;
pub mod message;
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
