//! Frames → messages and control frames, with the RFC 6455 rules checked.
//!
//! One [`MessageAssembler`] per direction. Payloads are streamed: each data
//! message is hashed (SHA-256), measured, UTF-8-checked and inflated
//! (permessage-deflate) piece by piece; only a bounded text and a short head
//! are kept. Violations are reported and decoding goes on, as an inspector
//! must (an endpoint would fail the connection, RFC 6455 §7.1.7).

use super::decoder::FrameEvent;
use super::deflate::{DeflateParams, HistoryLoss, InflateError, Inflater, UnknownHistory};
use super::frame::{CloseCode, FrameHeader, Opcode};
use super::utf8::Utf8Validator;
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::hexfmt::Hex;
use crate::model::finding::{Anomaly, AnomalyKind, Violation, ViolationKind};
pub use crate::model::message::{ControlFrame, FrameInfo, Message, PayloadDigest};
use sha2::{Digest, Sha256};

/// Bytes of each message kept for previews and hex dumps.
pub const HEAD_BYTES: usize = 1024;
/// Frame headers kept per message: a hostile stream of endless
/// continuation frames must not grow one message without bound. Later
/// frames are still counted (`frames`, `wire_payload_len`).
pub const MAX_FRAME_HEADERS: usize = 4096;
/// Largest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Bytes of a binary payload shown as `preview_hex` in reports.
pub const PREVIEW_BYTES: usize = 32;

/// What an assembler reports.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// A data message completed; with its payload's place when its SHA-256
    /// was left to the consumer ([`WsLimits::defer_digest`]).
    Message(Message, Option<PendingDigest>),
    /// A control frame completed.
    Control(ControlFrame),
    /// A rule was broken.
    Violation(Violation),
    /// Something limited the analysis.
    Anomaly(Anomaly),
    /// Decoded (unmasked, inflated) bytes of the data message being built in
    /// `dir`, in order. Emitted only when [`WsLimits::emit_payload`] is set,
    /// so full payloads can be streamed to a consumer (export, FLV) without
    /// the model keeping them. The chunks of a message end with its
    /// [`WsEvent::Message`]; they stop at the first gap (the message is then
    /// `complete: false`).
    Payload {
        /// Direction of the message.
        dir: Direction,
        /// The decoded bytes.
        bytes: Vec<u8>,
    },
}

/// Where the payload of a message whose SHA-256 was deferred is: the
/// assembler's hand-over to a writer thread, never part of the model
/// (`sha256` is set by [`PendingDigest::settle`] before a record is kept or
/// written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingDigest {
    /// The message's `text` is its whole payload.
    Text,
    /// The message's `head` is its whole payload.
    Head,
    /// A copy of the whole payload.
    Bytes(Vec<u8>),
}

impl PendingDigest {
    /// Payload bytes it holds beyond the message's own.
    pub fn held_bytes(&self) -> usize {
        match self {
            PendingDigest::Bytes(b) => b.len(),
            _ => 0,
        }
    }

    /// Sets `m.sha256` to the digest of the payload this designates (a
    /// no-op when `m` has one). Meant for the thread that writes the
    /// message, so that hashing leaves the analysis thread.
    pub fn settle(&self, m: &mut Message) {
        if m.sha256.is_some() {
            return;
        }
        let payload = match self {
            PendingDigest::Text => m.text.as_deref().unwrap_or_default().as_bytes(),
            PendingDigest::Head => &m.head,
            PendingDigest::Bytes(b) => b,
        };
        m.sha256 = Some(Hex(Sha256::digest(payload).into()));
    }
}

/// A message handed to a writer thread with its digest perhaps still to
/// compute.
#[derive(Debug)]
pub struct Unsettled {
    /// The record.
    pub message: Message,
    /// Its payload's place when its SHA-256 is still to compute.
    pub digest: Option<PendingDigest>,
}

impl Unsettled {
    /// Payload bytes the hand-over holds.
    pub fn held_bytes(&self) -> usize {
        self.message.held_bytes() + self.digest.as_ref().map_or(0, PendingDigest::held_bytes)
    }

    /// Computes the digest now (the writer lags behind).
    pub fn settle_now(&mut self) {
        if let Some(d) = self.digest.take() {
            d.settle(&mut self.message);
        }
    }
}

/// Limits that bound memory and CPU per message.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    /// Text kept per message.
    pub max_text_bytes: usize,
    /// Decompressed bytes per message before giving up (bomb guard).
    pub max_inflated_bytes: u64,
    /// Emit [`WsEvent::Payload`] chunks (off by default: costs one branch
    /// per decoded chunk when off).
    pub emit_payload: bool,
    /// Largest decompressed/compressed ratio of a message once it passed
    /// [`crate::ws::deflate::RATIO_FLOOR`] bytes (bomb guard); 0 = off.
    pub max_inflate_ratio: u64,
    /// Leave the SHA-256 of complete messages to the consumer, which
    /// calls [`PendingDigest::settle`]: a report writer thread then
    /// hashes instead of the analysis thread. Deferred: texts kept whole
    /// (their text is the payload) and binaries of up to
    /// [`MAX_DEFERRED_DIGEST`] bytes (those longer than the head carry a
    /// copy); the others are hashed as they stream.
    pub defer_digest: bool,
}

/// Largest binary payload whose digest may be deferred: larger ones are
/// hashed as they stream (the copy would cost memory in the hand-over).
pub const MAX_DEFERRED_DIGEST: usize = 64 << 10;

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_text_bytes: 1 << 20,
            max_inflated_bytes: 256 << 20,
            emit_payload: false,
            max_inflate_ratio: 200,
            defer_digest: false,
        }
    }
}

/// What the handshake said about this connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct WsContext {
    /// The handshake was seen (else RSV bits cannot be judged).
    pub handshake_seen: bool,
    /// Negotiated permessage-deflate.
    pub deflate: Option<DeflateParams>,
}

/// How the SHA-256 of the message being built is computed.
#[derive(Debug)]
enum Hashing {
    /// As the bytes arrive.
    Streamed,
    /// Deferred: the text buffer holds every byte so far.
    InText,
    /// Deferred: the message's head holds every byte so far (a binary
    /// message of up to [`HEAD_BYTES`] needs no copy of its own).
    InHead,
    /// Deferred: this copy holds every byte so far.
    InCopy(Vec<u8>),
}

/// A buffer the message keeps anyway (its text or its head), after the
/// first `took` bytes of the latest piece were appended to it.
struct Kept<'a> {
    buf: &'a [u8],
    took: usize,
}

impl Hashing {
    fn start(limits: WsLimits, opcode: Opcode) -> Self {
        match (limits.defer_digest, opcode) {
            (false, _) => Hashing::Streamed,
            (true, Opcode::Text) => Hashing::InText,
            (true, _) => Hashing::InHead,
        }
    }

    /// Takes the piece `d`, which went (in part) into `text` and `head`.
    fn absorb(&mut self, hasher: &mut Sha256, d: &[u8], text: Kept<'_>, head: Kept<'_>) {
        let kept = match self {
            Hashing::Streamed => return hasher.update(d),
            Hashing::InCopy(v) if v.len() + d.len() <= MAX_DEFERRED_DIGEST => {
                return v.extend_from_slice(d);
            }
            Hashing::InCopy(v) => {
                hasher.update(v);
                hasher.update(d);
                *self = Hashing::Streamed;
                return;
            }
            Hashing::InText => text,
            Hashing::InHead => head,
        };
        if kept.took == d.len() {
            return;
        }
        // The buffer is full: it holds the first bytes, `d` the rest.
        let rest = &d[kept.took..];
        if matches!(self, Hashing::InHead) && kept.buf.len() + rest.len() <= MAX_DEFERRED_DIGEST {
            *self = Hashing::InCopy([kept.buf, rest].concat());
        } else {
            hasher.update(kept.buf);
            hasher.update(rest);
            *self = Hashing::Streamed;
        }
    }
}

#[derive(Debug)]
struct Building {
    msg: Message,
    hasher: Sha256,
    hashing: Hashing,
    utf8: Utf8Validator,
    text: Vec<u8>,
    decoded_len: u64,
    /// Bytes stopped flowing (gap, inflate failure, cap).
    broken: bool,
    /// The packet where the message's inflated output first lacked a byte
    /// of unknown history (or, not inflated at all, its first packet).
    unknown_at: Option<(PacketNo, Timestamp)>,
    /// The frame-header cap was reported for this message.
    headers_capped: bool,
}

#[derive(Debug)]
struct ControlBuilding {
    header: FrameHeader,
    info: FrameInfo,
    payload: Vec<u8>,
    gap: bool,
    /// The payload was longer than what is kept.
    cut: bool,
}

#[derive(Debug)]
enum CurrentFrame {
    None,
    Data {
        fin: bool,
    },
    Control(ControlBuilding),
    /// A continuation with no message: its payload is skipped.
    Orphan,
}

/// Builds messages of one direction.
#[derive(Debug)]
pub struct MessageAssembler {
    dir: Direction,
    ctx: WsContext,
    limits: WsLimits,
    inflater: Option<Inflater>,
    building: Option<Building>,
    frame: CurrentFrame,
    close_sent: bool,
    /// Time of the packet being processed, for the findings it raises.
    now_ts: Timestamp,
}

impl MessageAssembler {
    /// An assembler for `dir`.
    pub fn new(dir: Direction, ctx: WsContext, limits: WsLimits) -> Self {
        let reset = ctx.deflate.map(|p| match dir {
            Direction::ClientToServer => p.client_no_context_takeover,
            Direction::ServerToClient => p.server_no_context_takeover,
        });
        MessageAssembler {
            dir,
            ctx,
            limits,
            inflater: reset.map(|r| Inflater::new(r).with_max_ratio(limits.max_inflate_ratio)),
            building: None,
            frame: CurrentFrame::None,
            close_sent: false,
            now_ts: Timestamp::default(),
        }
    }

    /// The direction this assembler decodes.
    pub fn dir(&self) -> Direction {
        self.dir
    }

    fn violation(
        &self,
        kind: ViolationKind,
        packet: PacketNo,
        detail: String,
        out: &mut impl FnMut(WsEvent),
    ) {
        out(WsEvent::Violation(Violation {
            kind,
            dir: Some(self.dir),
            packet,
            ts: self.now_ts,
            detail,
        }));
    }

    fn anomaly(
        &self,
        kind: AnomalyKind,
        packet: PacketNo,
        detail: String,
        out: &mut impl FnMut(WsEvent),
    ) {
        out(WsEvent::Anomaly(Anomaly {
            kind,
            dir: Some(self.dir),
            packet,
            ts: self.now_ts,
            detail,
        }));
    }

    /// Handles one decoder event; `now`/`ts` are the packet being processed.
    pub fn on_event(
        &mut self,
        ev: FrameEvent<'_>,
        now: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(WsEvent),
    ) {
        self.now_ts = ts;
        match ev {
            FrameEvent::Header(h, first) => self.on_header(h, first, now, ts, out),
            FrameEvent::Payload(p) => self.on_payload(p, now, out),
            FrameEvent::PayloadGap(n) => self.on_gap(n, now),
            FrameEvent::End => self.on_end(now, ts, out),
            FrameEvent::LostSync(n) => {
                self.anomaly(
                    AnomalyKind::LostSync,
                    now,
                    format!("{n} bytes missing inside a frame header; framing resumes at the next captured segment"),
                    out,
                );
                // Whole compressed messages may have been lost.
                if let Some(inf) = self.inflater.as_mut() {
                    inf.lose_history(HistoryLoss::Gap);
                }
                if let Some(b) = self.building.as_mut() {
                    b.broken = true;
                    b.msg.complete = false;
                }
                self.finish_message(now, ts, out);
                self.frame = CurrentFrame::None;
            }
        }
    }

    fn check_header(&self, h: &FrameHeader, first: PacketNo, out: &mut impl FnMut(WsEvent)) {
        let client = self.dir == Direction::ClientToServer;
        if client && h.mask.is_none() {
            self.violation(
                ViolationKind::UnmaskedClientFrame,
                first,
                format!("unmasked {} frame from the client", h.opcode),
                out,
            );
        }
        if !client && h.mask.is_some() {
            self.violation(
                ViolationKind::MaskedServerFrame,
                first,
                format!("masked {} frame from the server", h.opcode),
                out,
            );
        }
        if let Some(p) = h.length_encoding_problem() {
            self.violation(ViolationKind::BadLength, first, p.to_string(), out);
        }
        if h.rsv & 0b011 != 0 {
            self.violation(
                ViolationKind::ReservedBits,
                first,
                format!("RSV2/RSV3 set on a {} frame without an extension", h.opcode),
                out,
            );
        }
        if self.close_sent {
            self.violation(
                ViolationKind::DataAfterClose,
                first,
                format!("{} frame sent after this side's close frame", h.opcode),
                out,
            );
        }
        if matches!(
            h.opcode,
            Opcode::ReservedData(_) | Opcode::ReservedControl(_)
        ) {
            self.violation(
                ViolationKind::ReservedOpcode,
                first,
                format!("reserved opcode 0x{:x}", h.opcode.value()),
                out,
            );
        }
    }

    fn on_header(
        &mut self,
        h: FrameHeader,
        first: PacketNo,
        now: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(WsEvent),
    ) {
        self.check_header(&h, first, out);
        if h.opcode.is_control() {
            if !h.fin {
                self.violation(
                    ViolationKind::FragmentedControl,
                    first,
                    format!("fragmented {} frame", h.opcode),
                    out,
                );
            }
            if h.payload_len > 125 {
                self.violation(
                    ViolationKind::ControlTooLong,
                    first,
                    format!("{} frame of {} bytes (max 125)", h.opcode, h.payload_len),
                    out,
                );
            }
            if h.rsv1() {
                self.violation(
                    ViolationKind::CompressedBitMisplaced,
                    first,
                    format!("RSV1 set on a {} frame", h.opcode),
                    out,
                );
            }
            let info = FrameInfo::new(&h, first);
            self.frame = CurrentFrame::Control(ControlBuilding {
                header: h,
                info,
                payload: Vec::new(),
                gap: false,
                cut: false,
            });
            return;
        }
        if h.opcode == Opcode::Continuation {
            if h.rsv1() {
                self.violation(
                    ViolationKind::CompressedBitMisplaced,
                    first,
                    "RSV1 set on a continuation frame".into(),
                    out,
                );
            }
            match self.building.as_mut() {
                Some(b) => {
                    b.msg.frames = b.msg.frames.saturating_add(1);
                    if b.msg.frame_headers.len() < MAX_FRAME_HEADERS {
                        b.msg.frame_headers.push(FrameInfo::new(&h, first));
                    } else if b.msg.frame_headers.len() == MAX_FRAME_HEADERS && !b.headers_capped {
                        b.headers_capped = true;
                        let detail = format!(
                            "message has more than {MAX_FRAME_HEADERS} frames: only the first {MAX_FRAME_HEADERS} frame headers are kept"
                        );
                        self.frame = CurrentFrame::Data { fin: h.fin };
                        self.anomaly(AnomalyKind::CapReached, first, detail, out);
                        return;
                    }
                    self.frame = CurrentFrame::Data { fin: h.fin };
                }
                None => {
                    self.violation(
                        ViolationKind::UnexpectedContinuation,
                        first,
                        "continuation frame with no message in progress".into(),
                        out,
                    );
                    self.frame = CurrentFrame::Orphan;
                }
            }
            return;
        }
        if self.building.is_some() {
            self.violation(
                ViolationKind::InterleavedMessage,
                first,
                format!(
                    "new {} message while a fragmented message is unfinished",
                    h.opcode
                ),
                out,
            );
            if let Some(b) = self.building.as_mut() {
                b.msg.complete = false;
                b.broken = true;
            }
            self.finish_message(now, ts, out);
        }
        let compressed = h.rsv1();
        if compressed && self.ctx.deflate.is_none() {
            if self.ctx.handshake_seen {
                self.violation(
                    ViolationKind::ReservedBits,
                    first,
                    "RSV1 set but permessage-deflate was not negotiated".into(),
                    out,
                );
            } else {
                // No handshake (mid-stream): assume permessage-deflate with
                // context takeover, the common default.
                let ratio = self.limits.max_inflate_ratio;
                self.inflater
                    .get_or_insert_with(|| Inflater::mid_stream().with_max_ratio(ratio));
            }
        }
        let mut b = Building {
            msg: Message {
                dir: self.dir,
                opcode: h.opcode,
                frames: 1,
                compressed,
                payload_len: None,
                wire_payload_len: 0,
                sha256: None,
                text: None,
                text_truncated: false,
                utf8_valid: None,
                complete: true,
                undecodable: None,
                first_packet: first,
                last_packet: now,
                ts,
                end_ts: ts,
                captured_prefix: None,
                preview: None,
                frame_headers: vec![FrameInfo::new(&h, first)],
                head: Vec::new(),
            },
            hasher: Sha256::new(),
            hashing: Hashing::start(self.limits, h.opcode),
            utf8: Utf8Validator::default(),
            text: Vec::new(),
            decoded_len: 0,
            broken: false,
            unknown_at: None,
            headers_capped: false,
        };
        if compressed {
            match self.inflater.as_mut() {
                Some(inf) => {
                    inf.start_message();
                    if inf.unknown_history().is_some() {
                        b.unknown_at = Some((first, self.now_ts));
                    }
                }
                None => b.broken = true,
            }
        }
        self.building = Some(b);
        self.frame = CurrentFrame::Data { fin: h.fin };
    }

    fn on_payload(&mut self, p: &[u8], now: PacketNo, out: &mut impl FnMut(WsEvent)) {
        match &mut self.frame {
            CurrentFrame::Control(c) => {
                // A close frame longer than a control frame may be (a
                // violation) still says why it closed: its reason is kept
                // up to the text cap. Other control payloads are shown in
                // hex, up to the 125 bytes they may have.
                let keep = if c.header.opcode == Opcode::Close {
                    self.limits
                        .max_text_bytes
                        .saturating_add(2)
                        .max(MAX_CONTROL_PAYLOAD)
                } else {
                    MAX_CONTROL_PAYLOAD
                };
                let room = keep.saturating_sub(c.payload.len());
                if room < p.len() {
                    c.cut = true;
                }
                c.payload.extend_from_slice(&p[..room.min(p.len())]);
            }
            CurrentFrame::Data { .. } => {
                let Some(b) = self.building.as_mut() else {
                    return;
                };
                b.msg.wire_payload_len += p.len() as u64;
                if b.broken {
                    return;
                }
                if b.msg.compressed {
                    let Some(inf) = self.inflater.as_mut() else {
                        return;
                    };
                    let limits = self.limits;
                    let negotiated = self.ctx.deflate.is_some();
                    let dir = self.dir;
                    let res = inf.push(p, limits.max_inflated_bytes, &mut |d| {
                        absorb(b, d, limits, dir, out)
                    });
                    if b.unknown_at.is_none() && inf.unknown_history().is_some() {
                        b.unknown_at = Some((now, self.now_ts));
                    }
                    if let Err(e) = res {
                        report_inflate_error(self.dir, negotiated, e, now, self.now_ts, b, out);
                    }
                } else {
                    absorb(b, p, self.limits, self.dir, out);
                }
            }
            CurrentFrame::None | CurrentFrame::Orphan => {}
        }
    }

    fn on_gap(&mut self, n: u64, _now: PacketNo) {
        match &mut self.frame {
            CurrentFrame::Control(c) => c.gap = true,
            CurrentFrame::Data { .. } => {
                if let Some(b) = self.building.as_mut() {
                    b.msg.wire_payload_len += n;
                    if !b.broken {
                        b.msg.captured_prefix = Some(b.msg.head.clone());
                    }
                    b.broken = true;
                    b.msg.complete = false;
                }
            }
            CurrentFrame::None | CurrentFrame::Orphan => {}
        }
    }

    fn on_end(&mut self, now: PacketNo, ts: Timestamp, out: &mut impl FnMut(WsEvent)) {
        match std::mem::replace(&mut self.frame, CurrentFrame::None) {
            CurrentFrame::Control(c) => self.finish_control(c, now, ts, out),
            CurrentFrame::Data { fin } => {
                if let Some(b) = self.building.as_mut() {
                    let all_kept = b.msg.frame_headers.len() == b.msg.frames as usize;
                    if let Some(f) = b.msg.frame_headers.last_mut().filter(|_| all_kept) {
                        f.end_packet = now;
                    }
                }
                if fin {
                    self.finish_message(now, ts, out);
                }
            }
            CurrentFrame::None | CurrentFrame::Orphan => {}
        }
    }

    fn finish_control(
        &mut self,
        mut c: ControlBuilding,
        now: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(WsEvent),
    ) {
        c.info.end_packet = now;
        let (mut close_code, mut close_reason) = (None, None);
        if c.header.opcode == Opcode::Close {
            self.close_sent = true;
            match c.payload.len() {
                0 => {}
                1 => self.violation(
                    ViolationKind::BadClosePayload,
                    now,
                    "close frame with a 1-byte payload".into(),
                    out,
                ),
                _ => {
                    let code = CloseCode(u16::from_be_bytes([c.payload[0], c.payload[1]]));
                    if !code.valid_on_wire() {
                        self.violation(
                            ViolationKind::BadCloseCode,
                            now,
                            format!(
                                "close code {} ({}) must not be sent",
                                code.0,
                                code.meaning()
                            ),
                            out,
                        );
                    }
                    close_code = Some(code.0);
                    let reason = &c.payload[2..];
                    if c.cut {
                        self.anomaly(
                            AnomalyKind::CapReached,
                            now,
                            format!(
                                "close reason of {} bytes cut to the text cap of {} bytes (--max-text-bytes)",
                                c.header.payload_len.saturating_sub(2),
                                reason.len()
                            ),
                            out,
                        );
                    }
                    match std::str::from_utf8(reason) {
                        Ok(s) => close_reason = Some(s.to_string()),
                        // A cut inside a character is not the sender's fault.
                        Err(e) if c.cut && e.error_len().is_none() => {
                            close_reason = Some(
                                String::from_utf8_lossy(&reason[..e.valid_up_to()]).into_owned(),
                            );
                        }
                        Err(_) => {
                            if !c.gap {
                                self.violation(
                                    ViolationKind::InvalidUtf8,
                                    now,
                                    "close reason is not valid UTF-8".into(),
                                    out,
                                );
                            }
                            close_reason = Some(String::from_utf8_lossy(reason).into_owned());
                        }
                    }
                }
            }
        }
        out(WsEvent::Control(ControlFrame {
            dir: self.dir,
            opcode: c.header.opcode,
            payload_len: c.header.payload_len,
            close_code,
            close_reason,
            packet: now,
            ts,
            payload: c.payload[..c.payload.len().min(MAX_CONTROL_PAYLOAD)].to_vec(),
            frame: c.info,
        }));
    }

    /// A compressed message that copies bytes from history never decoded
    /// (RFC 7692 §7.2.3): shown as undecodable, never with guessed bytes.
    fn undecodable(
        &self,
        b: &mut Building,
        u: UnknownHistory,
        total: u64,
        (packet, ts): (PacketNo, Timestamp),
        out: &mut impl FnMut(WsEvent),
    ) {
        b.broken = true;
        b.msg.complete = false;
        let why = match u.unknown {
            Some((first, n)) => {
                b.msg.payload_len = Some(total);
                if first > 0 {
                    b.msg.captured_prefix = Some(b.msg.head.clone());
                }
                format!(
                    "copies {n} of its {total} bytes (the first at offset {first}) from compression history {}",
                    u.loss.describe()
                )
            }
            None => format!(
                "was not inflated: its compression history is incomplete ({}) and the inflater restarts only after {} KiB of compressed input",
                u.loss.describe(),
                super::deflate::RESTART_INPUT / 1024
            ),
        };
        out(WsEvent::Anomaly(Anomaly {
            kind: AnomalyKind::Undecodable,
            dir: Some(self.dir),
            packet,
            ts,
            detail: format!(
                "compressed message {why} (RFC 7692 §7.2.3): its bytes are not shown and not hashed"
            ),
        }));
        b.msg.undecodable = Some(why);
    }

    fn finish_message(&mut self, now: PacketNo, ts: Timestamp, out: &mut impl FnMut(WsEvent)) {
        let Some(mut b) = self.building.take() else {
            return;
        };
        let mut unknown = None;
        if b.msg.compressed
            && let Some(inf) = self.inflater.as_mut()
        {
            if b.broken {
                // Inflating stopped inside the message (gap, lost framing,
                // interleaved message, cap, corrupt data): the window no
                // longer follows the sender's.
                inf.lose_history(HistoryLoss::Gap);
            } else {
                let limits = self.limits;
                let dir = self.dir;
                if let Err(e) = inf.finish_message(limits.max_inflated_bytes, &mut |d| {
                    absorb(&mut b, d, limits, dir, out)
                }) {
                    report_inflate_error(
                        self.dir,
                        self.ctx.deflate.is_some(),
                        e,
                        now,
                        ts,
                        &mut b,
                        out,
                    );
                } else if let Some(u) = inf.unknown_history() {
                    unknown = Some((u, inf.out_this_message(), b.unknown_at.unwrap_or((now, ts))));
                }
            }
        }
        if let Some((u, total, at)) = unknown {
            self.undecodable(&mut b, u, total, at, out);
        }
        let mut m = b.msg;
        let mut pending = None;
        m.last_packet = now;
        m.end_ts = ts;
        let is_text = m.opcode == Opcode::Text;
        if b.broken {
            m.complete = false;
            if !m.compressed {
                // Wire-declared lengths: hostile values must not overflow.
                m.payload_len = (!b.headers_capped).then(|| {
                    m.frame_headers
                        .iter()
                        .fold(0u64, |a, f| a.saturating_add(f.payload_len))
                });
            }
            if m.captured_prefix.is_none() && !m.compressed {
                m.captured_prefix = Some(m.head.clone());
            }
        } else {
            m.payload_len = Some(b.decoded_len);
            let valid = is_text && b.utf8.finish();
            let mut hasher = b.hasher;
            match b.hashing {
                Hashing::Streamed => m.sha256 = Some(Hex(hasher.finalize().into())),
                Hashing::InCopy(v) => pending = Some(PendingDigest::Bytes(v)),
                Hashing::InHead => pending = Some(PendingDigest::Head),
                // The text becomes the record's `text` below, byte for byte.
                Hashing::InText if valid => pending = Some(PendingDigest::Text),
                Hashing::InText => {
                    hasher.update(&b.text);
                    m.sha256 = Some(Hex(hasher.finalize().into()));
                }
            }
            if is_text {
                m.utf8_valid = Some(valid);
                if valid {
                    m.text_truncated = b.decoded_len > b.text.len() as u64;
                    m.text = Some(match String::from_utf8(b.text) {
                        Ok(s) => s,
                        Err(e) => {
                            if pending.take().is_some() {
                                m.sha256 = Some(Hex(Sha256::digest(e.as_bytes()).into()));
                            }
                            let valid_len = e.utf8_error().valid_up_to();
                            let mut bytes = e.into_bytes();
                            bytes.truncate(valid_len);
                            String::from_utf8(bytes).unwrap_or_default()
                        }
                    });
                } else {
                    self.violation(
                        ViolationKind::InvalidUtf8,
                        now,
                        format!("text message with invalid UTF-8 completed at packet {now}"),
                        out,
                    );
                }
            }
        }
        if !is_text {
            m.preview = Some(m.head[..m.head.len().min(PREVIEW_BYTES)].to_vec());
        }
        out(WsEvent::Message(m, pending));
    }
}

/// Takes decoded payload bytes into the message being built, and streams
/// them out as [`WsEvent::Payload`] when a consumer asked for them.
fn absorb(
    b: &mut Building,
    d: &[u8],
    limits: WsLimits,
    dir: Direction,
    out: &mut impl FnMut(WsEvent),
) {
    let max_text = limits.max_text_bytes;
    if limits.emit_payload && !d.is_empty() {
        out(WsEvent::Payload {
            dir,
            bytes: d.to_vec(),
        });
    }
    b.decoded_len += d.len() as u64;
    let in_head = HEAD_BYTES.saturating_sub(b.msg.head.len()).min(d.len());
    b.msg.head.extend_from_slice(&d[..in_head]);
    let mut in_text = 0;
    if b.msg.opcode == Opcode::Text {
        b.utf8.push(d);
        in_text = max_text.saturating_sub(b.text.len()).min(d.len());
        b.text.extend_from_slice(&d[..in_text]);
    }
    let text = Kept {
        buf: &b.text,
        took: in_text,
    };
    let head = Kept {
        buf: &b.msg.head,
        took: in_head,
    };
    b.hashing.absorb(&mut b.hasher, d, text, head);
}

/// An inflate failure is the sender's violation when the extension was
/// negotiated in a captured handshake; without the handshake (mid-stream
/// pickup) the shared window may simply predate the capture.
fn report_inflate_error(
    dir: Direction,
    negotiated: bool,
    e: InflateError,
    now: PacketNo,
    ts: Timestamp,
    b: &mut Building,
    out: &mut impl FnMut(WsEvent),
) {
    b.broken = true;
    b.msg.complete = false;
    match e {
        InflateError::Corrupt(why) if !negotiated => {
            b.msg.undecodable = Some(format!(
                "cannot be inflated (no handshake captured: RSV1 may not mean permessage-deflate): {why}"
            ));
            out(WsEvent::Anomaly(Anomaly {
                kind: AnomalyKind::Undecodable,
                dir: Some(dir),
                packet: now,
                ts,
                detail: format!(
                    "compressed message cannot be inflated (mid-stream pickup, no handshake captured): {why}"
                ),
            }))
        }
        InflateError::Corrupt(why) => out(WsEvent::Violation(Violation {
            kind: ViolationKind::InflateError,
            dir: Some(dir),
            packet: now,
            ts,
            detail: format!("compressed message cannot be inflated: {why}"),
        })),
        InflateError::TooLarge(cap) => out(WsEvent::Anomaly(Anomaly {
            kind: AnomalyKind::CapReached,
            dir: Some(dir),
            packet: now,
            ts,
            detail: format!(
                "decompressed message larger than the cap of {cap} bytes (--max-inflated); its hash is not computed"
            ),
        })),
        InflateError::TooHighRatio {
            ratio,
            out: n,
            consumed,
        } => out(WsEvent::Anomaly(Anomaly {
            kind: AnomalyKind::CapReached,
            dir: Some(dir),
            packet: now,
            ts,
            detail: format!(
                "decompression stopped after {n} bytes from {consumed} compressed bytes: more than {ratio}:1 (--max-inflate-ratio, deflate-bomb guard); its hash is not computed"
            ),
        })),
    }
}
