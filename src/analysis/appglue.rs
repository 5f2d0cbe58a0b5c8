//! The application layer of one WebSocket session (issue 21): each
//! completed data message is handed to [`crate::app::AppSession`], and
//! what it names (records, findings) becomes events about the session.
//!
//! Payload bytes: a text message's text and a short message's head are in
//! its record already; a stream protocol that reads binary packets across
//! messages (MQTT, STOMP bodies) gets every decoded byte, collected from
//! the WebSocket decoder's payload chunks, bounded per direction. A
//! message whose bytes are not all known is fed as incomplete: the decoders
//! say so and never guess.

use super::{Consumer, Event};
use crate::app::{
    AppChoice, AppInput, AppLimits, AppOutput, AppProtocol, AppSession, HandshakeHints,
};
use crate::flow::Direction;
use crate::model::{Connection, Message};
use crate::ws::frame::Opcode;

/// The application layer of one session.
#[derive(Debug)]
pub struct AppGlue {
    session: AppSession,
    /// Decoded bytes of the message in progress, per direction (c2s, s2c),
    /// when collecting.
    bufs: [Vec<u8>; 2],
    /// A direction's message outgrew the cap: its bytes are not all known.
    over: [bool; 2],
    collect: bool,
    max: usize,
}

impl AppGlue {
    /// The application layer of a session whose handshake said `handshake`
    /// (subprotocol, request target); `choice` is `--app`.
    pub fn new(conn: &Connection, choice: AppChoice) -> Option<Self> {
        if choice == AppChoice::None {
            return None;
        }
        let h = &conn.handshake;
        let hints = HandshakeHints {
            subprotocol: h.subprotocol.as_deref(),
            target: h.request_target.as_deref(),
        };
        let limits = AppLimits::default();
        let session = AppSession::new(&hints, choice, limits);
        // Binary stream protocols need every byte; the others read text.
        let collect = matches!(
            session.detection().map(|d| d.protocol),
            Some(AppProtocol::Mqtt | AppProtocol::Stomp)
        );
        Some(AppGlue {
            session,
            bufs: [Vec::new(), Vec::new()],
            over: [false; 2],
            collect,
            max: limits.max_buffered,
        })
    }

    /// The WebSocket decoder must hand over payload chunks.
    pub fn wants_payloads(&self) -> bool {
        self.collect
    }

    /// Decoded bytes of the message in progress in `dir`.
    pub fn payload(&mut self, dir: Direction, chunk: &[u8]) {
        if !self.collect {
            return;
        }
        let i = usize::from(dir == Direction::ServerToClient);
        if self.bufs[i].len() + chunk.len() > self.max {
            self.over[i] = true;
            return;
        }
        self.bufs[i].extend_from_slice(chunk);
    }

    /// A data message completed; `index` is its position in the session.
    /// What it names is given back, to follow the message's own event.
    pub fn message(&mut self, index: usize, m: &Message) -> AppOutput {
        let i = usize::from(m.dir == Direction::ServerToClient);
        let collected = std::mem::take(&mut self.bufs[i]);
        let over = std::mem::take(&mut self.over[i]);
        let len = m.payload_len;
        let (payload, complete): (&[u8], bool) = if self.collect {
            let whole = !over && len == Some(collected.len() as u64);
            (&collected, m.complete && whole)
        } else if let (Opcode::Text, Some(t), false) = (m.opcode, &m.text, m.text_truncated) {
            (t.as_bytes(), m.complete && len == Some(t.len() as u64))
        } else {
            let whole = len == Some(m.head.len() as u64);
            (&m.head, m.complete && whole)
        };
        self.session.feed(&AppInput {
            dir: m.dir,
            opcode: m.opcode,
            payload,
            complete,
            index: index as u64,
            first_packet: m.first_packet,
            // Latency is measured between completions (the last packet of
            // each message), as the peers' logs and tshark see it.
            ts: m.end_ts,
        })
    }

    /// The session ended: requests never answered, attachments that never
    /// came; the record gets the protocol and how it was recognised.
    pub fn finish(&mut self, conn: &mut Connection, sink: &mut dyn Consumer) {
        let out = self.session.finish();
        // Long-polling on the same connection may have named it already.
        if let Some(d) = self.session.detection() {
            conn.app_protocol = Some(d);
        }
        emit(conn, out, sink);
    }
}

/// Hands records and findings to the consumer as events about `conn`.
pub fn emit(conn: &Connection, out: AppOutput, sink: &mut dyn Consumer) {
    for record in &out.records {
        let _ = sink.event(Event::App { conn, record });
    }
    for finding in &out.findings {
        let _ = sink.event(Event::AppFinding { conn, finding });
    }
}
