//! Application protocols carried in WebSocket messages (issue 21).
//!
//! Sans-IO like every other layer: an [`AppSession`] is fed each complete
//! data message of one WebSocket session as an [`AppInput`], in capture
//! order and in both directions, and returns owned [`AppRecord`]s (one per
//! application message: a Socket.IO `EVENT`, an MQTT `PUBLISH`, a STOMP
//! `SEND`, a JSON-RPC `request` …) and [`AppFinding`]s (malformed packets
//! with the section of the specification they break, caps, undecodable
//! input, unanswered requests). It knows nothing of frames, TCP or
//! captures: only the message bytes, their direction, position and time.
//!
//! - [`detect`] chooses the protocol from the negotiated subprotocol, the
//!   request target or a decisive signature in the first messages, never
//!   from "it is JSON".
//! - One module per protocol decodes; binary protocols (MQTT) and framed
//!   text protocols (STOMP, SignalR) keep a bounded buffer per direction,
//!   since a packet may span messages and a message may hold several.
//! - [`correlate::Correlator`] pairs requests with their answers (from the
//!   other direction) and measures the latency in exact nanoseconds.
//!
//! Everything is bounded by [`AppLimits`]; every cap reached is a finding.

pub mod actioncable;
pub mod correlate;
pub mod detect;
pub mod eiopoll;
pub mod graphql;
pub mod json;
pub mod jsonrpc;
pub mod mqtt;
pub mod ocpp;
pub mod phoenix;
pub mod signalr;
pub mod socketio;
pub mod stomp;
pub mod wamp;

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::ws::frame::Opcode;
use std::fmt;

pub use crate::model::app::{
    AppDetail, AppError, AppFinding, AppFindingKind, AppProtocol, AppRecord, Closing, DetectedBy,
    Detection, PairKey, Pairing,
};
pub use correlate::Correlator;
pub use detect::{AppChoice, HandshakeHints};

/// One WebSocket data message, as the application layer sees it.
#[derive(Debug, Clone, Copy)]
pub struct AppInput<'a> {
    /// Who sent it.
    pub dir: Direction,
    /// Text or binary (other opcodes are ignored).
    pub opcode: Opcode,
    /// The decoded (unmasked, inflated) payload, or its known prefix.
    pub payload: &'a [u8],
    /// False when only a prefix of the payload is known (a gap, a cap, an
    /// undecodable compressed message): nothing is guessed from it.
    pub complete: bool,
    /// The message's position in the session (0-based, both directions).
    pub index: u64,
    /// The packet that carried its first byte.
    pub first_packet: PacketNo,
    /// The time of its first frame.
    pub ts: Timestamp,
}

/// Memory and work bounds of the application layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppLimits {
    /// Bytes a stream protocol (MQTT, STOMP, SignalR) buffers per direction
    /// for a packet in progress; a larger packet is decoded from its first
    /// bytes and the rest is skipped (finding `cap_reached`).
    pub max_buffered: usize,
    /// Largest JSON document parsed; larger ones are named from their
    /// first bytes where the protocol allows, and reported.
    pub max_json_bytes: usize,
    /// Deepest JSON nesting parsed (at most 128, serde_json's own limit).
    pub max_json_depth: usize,
    /// Requests awaiting an answer, per session; more are counted only.
    pub max_pending: usize,
    /// Socket.IO binary attachments announced by one packet.
    pub max_attachments: u32,
    /// Findings kept per session; more are counted in one last finding.
    pub max_findings: usize,
    /// Messages held while the protocol is not known from the handshake.
    pub max_detect_messages: usize,
    /// Items kept in a list field (MQTT topic filters, STOMP headers,
    /// MQTT v5 properties read per packet).
    pub max_items: usize,
    /// Characters kept in a name, id or error text.
    pub max_text: usize,
    /// Records made from one message (JSON-RPC batches) or one Engine.IO
    /// long-polling body; the rest is counted in a finding.
    pub max_records_per_message: usize,
    /// Engine.IO long-polling: the largest HTTP body kept to be decoded
    /// (before and after its content coding is undone).
    pub max_polling_body: usize,
    /// Engine.IO long-polling: records kept in one connection's HTTP
    /// exchanges; later ones are still events (NDJSON), not kept.
    pub max_polling_records: usize,
}

impl Default for AppLimits {
    fn default() -> Self {
        AppLimits {
            max_buffered: 1 << 20,
            max_json_bytes: 1 << 20,
            max_json_depth: 64,
            max_pending: 10_000,
            max_attachments: 256,
            max_findings: 1000,
            max_detect_messages: 8,
            max_items: 64,
            max_text: 256,
            max_records_per_message: 1000,
            max_polling_body: 1 << 20,
            max_polling_records: 10_000,
        }
    }
}

impl AppRecord {
    /// A record of `kind` from one message.
    pub fn new(protocol: AppProtocol, input: &AppInput<'_>, kind: &'static str) -> Self {
        AppRecord {
            protocol,
            dir: input.dir,
            kind,
            name: None,
            id: None,
            channel: None,
            error: None,
            detail: AppDetail::default(),
            index: input.index,
            messages: vec![input.index],
            first_packet: input.first_packet,
            ts: input.ts,
            answers: None,
            latency_ns: None,
            later_answer: false,
            stream_end: false,
            pairing: Pairing::default(),
        }
    }
}

/// What feeding one message produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppOutput {
    /// Application messages, in order.
    pub records: Vec<AppRecord>,
    /// Findings, in order.
    pub findings: Vec<AppFinding>,
}

impl AppOutput {
    fn finding(
        &mut self,
        protocol: AppProtocol,
        input: &AppInput<'_>,
        kind: AppFindingKind,
        section: Option<&'static str>,
        detail: impl Into<String>,
    ) {
        self.findings.push(AppFinding {
            kind,
            protocol,
            dir: Some(input.dir),
            index: Some(input.index),
            packet: input.first_packet,
            ts: input.ts,
            section,
            detail: detail.into(),
        });
    }

    /// The message's bytes are not all known: one finding, nothing decoded.
    fn incomplete(&mut self, protocol: AppProtocol, input: &AppInput<'_>) {
        self.finding(
            protocol,
            input,
            AppFindingKind::Undecodable,
            None,
            format!(
                "message {} undecodable: incomplete ({} bytes known)",
                input.index,
                input.payload.len()
            ),
        );
    }

    fn malformed(
        &mut self,
        protocol: AppProtocol,
        input: &AppInput<'_>,
        section: &'static str,
        detail: impl Into<String>,
    ) {
        self.finding(
            protocol,
            input,
            AppFindingKind::Malformed,
            Some(section),
            detail,
        );
    }
}

/// A protocol decoder: one per session, fed both directions in order.
pub trait AppDecoder: Send {
    /// Decodes one message.
    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput);
    /// The capture ended: report what was left waiting.
    fn finish(&mut self, _out: &mut AppOutput) {}
    /// Payload bytes held for packets in progress (what the caps bound).
    fn held_bytes(&self) -> usize {
        0
    }
}

/// The decoder of `protocol`.
pub fn decoder(
    protocol: AppProtocol,
    limits: AppLimits,
    hints: &HandshakeHints<'_>,
) -> Box<dyn AppDecoder> {
    match protocol {
        AppProtocol::SocketIo => Box::new(socketio::SocketIoDecoder::new(
            limits,
            detect::eio_version(hints.target),
        )),
        AppProtocol::Mqtt => Box::new(mqtt::MqttDecoder::new(limits)),
        AppProtocol::Stomp => Box::new(stomp::StompDecoder::new(
            limits,
            detect::stomp_version(hints.subprotocol),
        )),
        AppProtocol::GraphqlTransportWs => Box::new(graphql::GraphqlDecoder::new(limits, false)),
        AppProtocol::GraphqlWs => Box::new(graphql::GraphqlDecoder::new(limits, true)),
        AppProtocol::JsonRpc => Box::new(jsonrpc::JsonRpcDecoder::new(limits)),
        AppProtocol::Ocpp => Box::new(ocpp::OcppDecoder::new(limits)),
        AppProtocol::SignalR => Box::new(signalr::SignalRDecoder::new(limits)),
        AppProtocol::Phoenix => Box::new(phoenix::PhoenixDecoder::new(limits)),
        AppProtocol::Wamp => Box::new(wamp::WampDecoder::new(limits)),
        AppProtocol::ActionCable => Box::new(actioncable::ActionCableDecoder::new(limits)),
    }
}

/// A held message, while detection waits for evidence.
#[derive(Debug)]
struct Held {
    dir: Direction,
    opcode: Opcode,
    payload: Vec<u8>,
    complete: bool,
    index: u64,
    first_packet: PacketNo,
    ts: Timestamp,
}

impl Held {
    fn input(&self) -> AppInput<'_> {
        AppInput {
            dir: self.dir,
            opcode: self.opcode,
            payload: &self.payload,
            complete: self.complete,
            index: self.index,
            first_packet: self.first_packet,
            ts: self.ts,
        }
    }
}

enum State {
    /// Waiting for content evidence, holding the first messages.
    Detecting {
        held: Vec<Held>,
        held_bytes: usize,
        seen: usize,
    },
    /// Decoding.
    Decoding {
        decoder: Box<dyn AppDecoder>,
        correlator: Correlator,
    },
    /// No application protocol (forced off, or no evidence).
    Off,
}

/// The application layer of one WebSocket session: detection, decoding,
/// pairing, and the finding cap.
pub struct AppSession {
    limits: AppLimits,
    detection: Option<Detection>,
    state: State,
    target: Option<String>,
    subprotocol: Option<String>,
    findings: usize,
    findings_dropped: u64,
    last: Option<(PacketNo, Timestamp)>,
}

impl fmt::Debug for AppSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSession")
            .field("detection", &self.detection)
            .finish_non_exhaustive()
    }
}

impl AppSession {
    /// A session whose handshake said `hints`; `choice` may force a
    /// protocol or none.
    pub fn new(hints: &HandshakeHints<'_>, choice: AppChoice, limits: AppLimits) -> Self {
        let detection = detect::by_handshake(hints, choice);
        let mut s = AppSession {
            limits,
            detection,
            state: State::Off,
            target: hints.target.map(str::to_owned),
            subprotocol: hints.subprotocol.map(str::to_owned),
            findings: 0,
            findings_dropped: 0,
            last: None,
        };
        s.state = match (choice, detection) {
            (AppChoice::None, _) => State::Off,
            (_, Some(d)) => s.decoding(d.protocol),
            (_, None) => State::Detecting {
                held: Vec::new(),
                held_bytes: 0,
                seen: 0,
            },
        };
        s
    }

    fn decoding(&self, protocol: AppProtocol) -> State {
        let hints = HandshakeHints {
            subprotocol: self.subprotocol.as_deref(),
            target: self.target.as_deref(),
        };
        State::Decoding {
            decoder: decoder(protocol, self.limits, &hints),
            correlator: Correlator::new(self.limits),
        }
    }

    /// The protocol and how it was chosen; None while undecided or when
    /// there is no evidence.
    pub fn detection(&self) -> Option<Detection> {
        self.detection
    }

    /// Payload bytes held now: messages awaiting detection and packets in
    /// progress. Bounded by [`AppLimits::max_buffered`] per direction (and
    /// once more while detecting).
    pub fn held_bytes(&self) -> usize {
        match &self.state {
            State::Detecting { held_bytes, .. } => *held_bytes,
            State::Decoding { decoder, .. } => decoder.held_bytes(),
            State::Off => 0,
        }
    }

    /// Requests awaiting an answer now.
    pub fn pending(&self) -> usize {
        match &self.state {
            State::Decoding { correlator, .. } => correlator.pending(),
            _ => 0,
        }
    }

    /// Decodes one data message (other opcodes are ignored).
    pub fn feed(&mut self, input: &AppInput<'_>) -> AppOutput {
        let mut out = AppOutput::default();
        if !matches!(input.opcode, Opcode::Text | Opcode::Binary) {
            return out;
        }
        self.last = Some((input.first_packet, input.ts));
        match &mut self.state {
            State::Off => {}
            State::Decoding {
                decoder,
                correlator,
            } => {
                decoder.feed(input, &mut out);
                correlator.observe(&mut out);
            }
            State::Detecting {
                held,
                held_bytes,
                seen,
            } => {
                *seen += 1;
                let keep = input.payload.len().min(self.limits.max_buffered);
                held.push(Held {
                    dir: input.dir,
                    opcode: input.opcode,
                    payload: input.payload[..keep].to_vec(),
                    complete: input.complete && keep == input.payload.len(),
                    index: input.index,
                    first_packet: input.first_packet,
                    ts: input.ts,
                });
                *held_bytes += keep;
                let inputs: Vec<AppInput<'_>> = held.iter().map(Held::input).collect();
                if let Some(p) = detect::by_content(&inputs, self.limits) {
                    let held = std::mem::take(held);
                    self.detection = Some(Detection {
                        protocol: p,
                        by: DetectedBy::Content,
                    });
                    self.state = self.decoding(p);
                    if let State::Decoding {
                        decoder,
                        correlator,
                    } = &mut self.state
                    {
                        for h in &held {
                            decoder.feed(&h.input(), &mut out);
                        }
                        correlator.observe(&mut out);
                    }
                } else if *seen >= self.limits.max_detect_messages
                    || *held_bytes >= self.limits.max_buffered
                {
                    self.state = State::Off;
                }
            }
        }
        self.cap_findings(&mut out);
        out
    }

    /// The session ended: attachments that never came, unanswered
    /// requests.
    pub fn finish(&mut self) -> AppOutput {
        let mut out = AppOutput::default();
        if let State::Decoding {
            decoder,
            correlator,
        } = &mut self.state
        {
            decoder.finish(&mut out);
            correlator.observe(&mut out);
            let (p, ts) = self.last.unwrap_or((PacketNo(0), Timestamp(0)));
            correlator.finish(self.detection.map(|d| d.protocol), p, ts, &mut out);
        }
        self.cap_findings(&mut out);
        if self.findings_dropped > 0 {
            if let Some(d) = self.detection {
                let (packet, ts) = self.last.unwrap_or((PacketNo(0), Timestamp(0)));
                out.findings.push(AppFinding {
                    kind: AppFindingKind::CapReached,
                    protocol: d.protocol,
                    dir: None,
                    index: None,
                    packet,
                    ts,
                    section: None,
                    detail: format!(
                        "{} more application findings not kept (cap {})",
                        self.findings_dropped, self.limits.max_findings
                    ),
                });
            }
            self.findings_dropped = 0;
        }
        out
    }

    fn cap_findings(&mut self, out: &mut AppOutput) {
        let room = self.limits.max_findings.saturating_sub(self.findings);
        if out.findings.len() > room {
            self.findings_dropped += (out.findings.len() - room) as u64;
            out.findings.truncate(room);
        }
        self.findings += out.findings.len();
    }
}

/// `s` cut at `max` characters (on a char boundary), marked with `…`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// Lossy UTF-8 of `b`, clipped.
pub(crate) fn clip_bytes(b: &[u8], max: usize) -> String {
    let end = b.len().min(max.saturating_mul(4));
    clip(&String::from_utf8_lossy(&b[..end]), max)
}
