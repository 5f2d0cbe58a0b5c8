//! The per-connection HTTP/2 state machine: two directions of frames, the
//! SETTINGS each side announced, HPACK per direction, stream states
//! (RFC 9113 §5.1) enough to flag frames on idle and closed streams.

use super::frame::{
    DEFAULT_MAX_FRAME_SIZE, FrameHeader, FrameType, HEADER_LEN, MAX_MAX_FRAME_SIZE, PREFACE,
    Priority, Setting, SettingId, StreamId, flags,
};
use super::hpack::{self, DecodedBlock};
use super::{
    ErrorCode, H2Anomaly, H2AnomalyKind, H2Event, H2EventKind, H2Limits, H2Violation,
    H2ViolationKind, HeaderBlock, Unavailable,
};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use std::collections::{BTreeMap, VecDeque};

type Out<'a> = dyn FnMut(H2Event) + 'a;

/// Header blocks awaiting a SETTINGS acknowledgement tracked per side;
/// older ones are taken as acknowledged.
const MAX_PENDING_SETTINGS: usize = 16;

/// Closed streams remembered with who closed them, so that DATA the peer
/// had in flight when a stream was reset is not blamed.
const MAX_CLOSED: usize = 1024;

/// Whole frame headers that must tile the bytes, back to back, before
/// frame boundaries are taken as found again.
const RESYNC_FRAMES: usize = 3;

fn idx(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// A value one side announced in SETTINGS: in force once acknowledged,
/// but the peer may already use a pending one, so checks use the largest.
#[derive(Debug, Clone, Default)]
struct Announced {
    /// None: unknown (picked up mid-stream, or a SETTINGS frame lost).
    acked: Option<u32>,
    pending: VecDeque<Option<u32>>,
}

impl Announced {
    fn known(v: u32) -> Self {
        Announced {
            acked: Some(v),
            pending: VecDeque::new(),
        }
    }

    fn limit(&self) -> Option<u32> {
        let mut m = self.acked?;
        for v in self.pending.iter().flatten() {
            m = m.max(*v);
        }
        Some(m)
    }

    fn announce(&mut self, v: Option<u32>) {
        if self.pending.len() >= MAX_PENDING_SETTINGS
            && let Some(old) = self.pending.pop_front()
        {
            self.settle(old);
        }
        self.pending.push_back(v);
    }

    fn ack(&mut self) {
        if let Some(v) = self.pending.pop_front() {
            self.settle(v);
        }
    }

    fn settle(&mut self, v: Option<u32>) {
        if let (Some(v), Some(_)) = (v, self.acked) {
            self.acked = Some(v);
        }
    }
}

#[derive(Debug)]
enum State {
    /// Reading the 24-byte client preface.
    Preface { got: usize },
    /// Reading a frame header.
    Header,
    /// Inside a frame's payload.
    Body,
    /// Frame boundaries unknown: bytes held until frames are found.
    Hunt,
}

/// How a frame's payload is taken apart.
#[derive(Debug)]
enum Body {
    /// DATA, HEADERS, PUSH_PROMISE, CONTINUATION: a prefix (pad length,
    /// priority, promised id), the content, padding.
    Layout(Layout),
    /// PRIORITY, RST_STREAM, PING, WINDOW_UPDATE, GOAWAY: kept (bounded)
    /// and decoded at the end.
    Fixed {
        buf: Vec<u8>,
        keep: usize,
        lost: bool,
    },
    /// SETTINGS: parameters read 6 bytes at a time.
    Settings {
        part: [u8; 6],
        n: usize,
        params: Vec<Setting>,
        dropped: u32,
        lost: bool,
    },
    /// Skipped (unknown type, or a size its type forbids).
    Skip,
}

#[derive(Debug)]
struct Layout {
    prefix: [u8; 6],
    need: usize,
    got: usize,
    /// Content bytes left, once the prefix is known.
    middle: u32,
    /// Padding bytes left.
    pad: u32,
    pad_nonzero: bool,
    /// The pad length did not fit: what follows is skipped, not checked.
    bad_pad: bool,
    /// The split between content and padding is unknown (pad length lost).
    blind: bool,
    /// A DATA piece with `frame_end` was already emitted.
    data_ended: bool,
}

#[derive(Debug)]
struct Frame {
    h: FrameHeader,
    first: PacketNo,
    left: u32,
    body: Body,
}

#[derive(Debug)]
enum BlockKind {
    Headers {
        end_stream: bool,
        priority: Option<Priority>,
    },
    PushPromise {
        promised: StreamId,
    },
}

/// A header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION.
#[derive(Debug)]
struct Assembly {
    stream: StreamId,
    kind: BlockKind,
    buf: Vec<u8>,
    encoded_len: u64,
    first: PacketNo,
    unavailable: Option<Unavailable>,
}

/// Bytes held while hunting for frame boundaries, with the packets that
/// carried them.
#[derive(Debug, Default)]
struct Hold {
    bytes: Vec<u8>,
    /// Where each push starts in `bytes`, with its packet and time.
    marks: VecDeque<(usize, PacketNo, Timestamp)>,
    /// Offsets below this were rejected as frame starts already.
    scan: usize,
    /// The hunt began at the direction's first byte (a mid-stream pickup
    /// may still start with the preface).
    at_start: bool,
}

impl Hold {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn push(&mut self, packet: PacketNo, ts: Timestamp, data: &[u8]) {
        self.marks.push_back((self.bytes.len(), packet, ts));
        self.bytes.extend_from_slice(data);
    }

    fn header_at(&self, i: usize) -> Option<[u8; HEADER_LEN]> {
        let b = self.bytes.get(i..i.checked_add(HEADER_LEN)?)?;
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(b);
        Some(h)
    }

    fn first_packet(&self) -> Option<PacketNo> {
        self.marks.front().map(|m| m.1)
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.bytes.len());
        self.bytes.drain(..n);
        while self.marks.len() > 1 && self.marks[1].0 <= n {
            self.marks.pop_front();
        }
        for m in &mut self.marks {
            m.0 = m.0.saturating_sub(n);
        }
        if self.bytes.is_empty() {
            self.marks.clear();
        }
        if self.bytes.capacity() > 2 * self.bytes.len() + 4096 {
            self.bytes.shrink_to_fit();
        }
        self.scan = self.scan.saturating_sub(n);
    }
}

#[derive(Debug)]
struct Side {
    state: State,
    hdr: [u8; HEADER_LEN],
    hdr_n: usize,
    hdr_first: PacketNo,
    frame: Option<Frame>,
    block: Option<Assembly>,
    /// Decodes the header blocks this side sends.
    hpack: hpack::Decoder,
    /// The next frame must be SETTINGS (§3.4).
    settings_first: bool,
    /// What this side announced (applies to what the peer sends).
    table_size: Announced,
    max_frame: Announced,
    /// SETTINGS_ENABLE_PUSH / SETTINGS_ENABLE_CONNECT_PROTOCOL as sent.
    enable_push: Option<u32>,
    connect_protocol: Option<u32>,
    hold: Hold,
    frames: u64,
    unknown_frames: u64,
}

impl Side {
    fn new(limits: &H2Limits, from_start: bool) -> Self {
        Side {
            state: State::Header,
            hdr: [0; HEADER_LEN],
            hdr_n: 0,
            hdr_first: PacketNo(0),
            frame: None,
            block: None,
            hpack: if from_start {
                hpack::Decoder::new(limits.max_table_bytes)
            } else {
                hpack::Decoder::unknown_state(limits.max_table_bytes)
            },
            settings_first: from_start,
            table_size: if from_start {
                Announced::known(hpack::DEFAULT_TABLE_SIZE)
            } else {
                Announced::default()
            },
            max_frame: if from_start {
                Announced::known(DEFAULT_MAX_FRAME_SIZE)
            } else {
                Announced::default()
            },
            enable_push: None,
            connect_protocol: None,
            hold: Hold::default(),
            frames: 0,
            unknown_frames: 0,
        }
    }
}

/// Per-stream state (§5.1), from both senders' point of view.
#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    /// Each direction sent END_STREAM.
    ended: [bool; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closure {
    Ended,
    ResetBy(Direction),
}

#[derive(Debug, Default)]
struct Streams {
    open: BTreeMap<u32, StreamState>,
    /// Highest stream opened by the client (odd) and the server (even).
    max_opened: [u32; 2],
    closed: VecDeque<(u32, Closure)>,
    /// Streams at or below this id were forgotten at the cap.
    forgotten_upto: u32,
    /// Seen from the start: idle and closed are known.
    known: bool,
}

impl Streams {
    fn parity(id: u32) -> usize {
        if id % 2 == 1 { 0 } else { 1 }
    }

    fn is_idle(&self, id: u32) -> bool {
        !self.open.contains_key(&id) && id > self.max_opened[Self::parity(id)]
    }

    fn closure(&self, id: u32) -> Option<Closure> {
        self.closed
            .iter()
            .rev()
            .find(|(s, _)| *s == id)
            .map(|(_, c)| *c)
    }

    fn close(&mut self, id: u32, how: Closure) {
        self.open.remove(&id);
        if self.closed.len() >= MAX_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back((id, how));
    }
}

/// One HTTP/2 connection, both directions (see the module docs of
/// [`crate::h2`]).
#[derive(Debug)]
pub struct Connection {
    sides: [Side; 2],
    streams: Streams,
    limits: H2Limits,
    streams_cap_reported: bool,
}

/// The event context of the bytes being handled.
#[derive(Clone, Copy)]
struct Ctx {
    dir: Direction,
    packet: PacketNo,
    ts: Timestamp,
}

impl Connection {
    /// A connection seen from its start with prior knowledge (RFC 9113
    /// §3.3): the client sends the preface, each side SETTINGS first.
    pub fn new(limits: H2Limits) -> Self {
        let mut c = Connection {
            sides: [Side::new(&limits, true), Side::new(&limits, true)],
            streams: Streams {
                known: true,
                ..Streams::default()
            },
            limits,
            streams_cap_reported: false,
        };
        c.sides[0].state = State::Preface { got: 0 };
        c
    }

    /// A connection picked up after its start: no preface expected, frame
    /// boundaries found by evidence, HPACK tables and SETTINGS unknown,
    /// stream states unknown (no idle/closed findings).
    pub fn mid_stream(limits: H2Limits) -> Self {
        let mut c = Connection {
            sides: [Side::new(&limits, false), Side::new(&limits, false)],
            streams: Streams::default(),
            limits,
            streams_cap_reported: false,
        };
        for s in &mut c.sides {
            s.state = State::Hunt;
            s.hold.at_start = true;
        }
        c
    }

    /// A connection after an HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2):
    /// stream 1 is the upgrade request, already ended by the client; the
    /// server's first frame is SETTINGS, the client sends the preface.
    /// `http2_settings` is the decoded `HTTP2-Settings` header (a SETTINGS
    /// payload), taken as the client's first SETTINGS when given.
    pub fn h2c_upgrade(limits: H2Limits, http2_settings: Option<&[u8]>) -> Self {
        let mut c = Self::new(limits);
        c.streams.max_opened[0] = 1;
        c.streams.open.insert(
            1,
            StreamState {
                ended: [true, false],
            },
        );
        if let Some(p) = http2_settings {
            for ch in p.chunks_exact(6) {
                let s = Setting {
                    id: SettingId::from_u16(u16::from_be_bytes([ch[0], ch[1]])),
                    value: u32::from_be_bytes([ch[2], ch[3], ch[4], ch[5]]),
                };
                c.apply_setting(0, s);
            }
            // The server acknowledges these implicitly (RFC 7540 §3.2.1).
            let side = &mut c.sides[0];
            for _ in 0..side.table_size.pending.len() {
                side.table_size.ack();
                side.max_frame.ack();
            }
            let limit = c.sides[0].table_size.limit();
            c.sides[1].hpack.set_limit(limit);
        }
        c
    }

    /// The server's SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3): the
    /// last value it sent, None when no SETTINGS of the server carried it
    /// (or they were not captured).
    pub fn server_connect_protocol(&self) -> Option<u32> {
        self.sides[1].connect_protocol
    }

    /// Frames seen per direction, and frames of unknown types skipped.
    pub fn frame_counts(&self, dir: Direction) -> (u64, u64) {
        let s = &self.sides[idx(dir)];
        (s.frames, s.unknown_frames)
    }

    /// Bytes this connection holds (buffers, HPACK tables, stream table),
    /// bounded by the limits.
    pub fn retained_bytes(&self) -> usize {
        let mut n = self.streams.open.len() * 48 + self.streams.closed.len() * 16;
        for s in &self.sides {
            n += s.hold.len() + s.hold.marks.len() * 40 + s.hpack.retained_bytes();
            if let Some(b) = &s.block {
                n += b.buf.capacity();
            }
            if let Some(f) = &s.frame {
                n += match &f.body {
                    Body::Fixed { buf, .. } => buf.capacity(),
                    Body::Settings { params, .. } => params.capacity() * 8,
                    _ => 0,
                };
            }
        }
        n
    }

    /// Feeds bytes of `dir` that first appeared in `packet`.
    pub fn push(
        &mut self,
        dir: Direction,
        data: &[u8],
        packet: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(H2Event),
    ) {
        let cx = Ctx { dir, packet, ts };
        self.feed(cx, data, out);
    }

    /// `len` bytes of `dir` were not captured; `packet` is the one where
    /// the loss became visible.
    pub fn gap(
        &mut self,
        dir: Direction,
        len: u64,
        packet: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(H2Event),
    ) {
        let cx = Ctx { dir, packet, ts };
        self.lose(cx, len, out);
    }

    /// The capture ended: a header block still open and bytes still held
    /// undecided are reported.
    pub fn finish(
        &mut self,
        dir: Direction,
        packet: PacketNo,
        ts: Timestamp,
        out: &mut impl FnMut(H2Event),
    ) {
        let cx = Ctx { dir, packet, ts };
        let i = idx(dir);
        if let Some(mut asm) = self.sides[i].block.take() {
            // The capture ended inside a header block.
            asm.unavailable.get_or_insert(Unavailable::Gap);
            self.finish_block(cx, asm, out);
        }
        if matches!(self.sides[i].state, State::Hunt) && self.sides[i].hold.len() > 0 {
            let n = self.sides[i].hold.len();
            self.sides[i].hold = Hold::default();
            anomaly(
                cx,
                cx.packet,
                H2AnomalyKind::LostSync,
                format!("{n} bytes at the end not decoded: no frame boundary found"),
                out,
            );
        }
    }

    fn feed(&mut self, cx: Ctx, mut data: &[u8], out: &mut Out<'_>) {
        let i = idx(cx.dir);
        while !data.is_empty() {
            match self.sides[i].state {
                State::Preface { got } => {
                    let take = (PREFACE.len() - got).min(data.len());
                    if data[..take] != PREFACE[got..got + take] {
                        violation(
                            cx,
                            cx.packet,
                            H2ViolationKind::BadPreface,
                            None,
                            "the client's first bytes are not the HTTP/2 connection preface".into(),
                            out,
                        );
                        self.enter_hunt(i);
                        continue;
                    }
                    data = &data[take..];
                    if got + take == PREFACE.len() {
                        self.sides[i].state = State::Header;
                        emit(cx, cx.packet, H2EventKind::Preface, out);
                    } else {
                        self.sides[i].state = State::Preface { got: got + take };
                    }
                }
                State::Hunt => {
                    self.sides[i].hold.push(cx.packet, cx.ts, data);
                    data = &[];
                    self.hunt(cx, out);
                }
                State::Header => {
                    let side = &mut self.sides[i];
                    if side.hdr_n == 0 {
                        side.hdr_first = cx.packet;
                    }
                    let take = (HEADER_LEN - side.hdr_n).min(data.len());
                    side.hdr[side.hdr_n..side.hdr_n + take].copy_from_slice(&data[..take]);
                    side.hdr_n += take;
                    data = &data[take..];
                    if side.hdr_n == HEADER_LEN {
                        side.hdr_n = 0;
                        let h = FrameHeader::parse(&side.hdr);
                        let first = side.hdr_first;
                        self.begin_frame(cx, h, first, out);
                    }
                }
                State::Body => {
                    let used = self.body(cx, data, out);
                    data = &data[used..];
                }
            }
        }
    }

    fn enter_hunt(&mut self, i: usize) {
        let side = &mut self.sides[i];
        side.state = State::Hunt;
        side.hdr_n = 0;
        side.frame = None;
        side.hpack.lose_state();
        side.settings_first = false;
    }

    // ---- frames ----

    fn begin_frame(&mut self, cx: Ctx, h: FrameHeader, first: PacketNo, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        self.sides[i].frames += 1;
        let stream = h.stream;
        let sid = Some(stream);

        // §3.4: SETTINGS first.
        if self.sides[i].settings_first {
            self.sides[i].settings_first = false;
            if h.kind != FrameType::Settings || h.has(flags::ACK) {
                violation(
                    cx,
                    first,
                    H2ViolationKind::FirstFrameNotSettings,
                    None,
                    format!("first frame is {}, not SETTINGS", h.kind),
                    out,
                );
            }
        }
        // §6.10: a header block in progress takes only its CONTINUATIONs.
        if let Some(asm) = &self.sides[i].block
            && (h.kind != FrameType::Continuation || h.stream != asm.stream)
        {
            violation(
                cx,
                first,
                H2ViolationKind::ExpectedContinuation,
                Some(asm.stream),
                format!(
                    "{} on stream {} while the header block of stream {} awaits CONTINUATION",
                    h.kind, h.stream, asm.stream
                ),
                out,
            );
            if let Some(mut asm) = self.sides[i].block.take() {
                asm.unavailable.get_or_insert(Unavailable::Interrupted);
                self.finish_block(cx, asm, out);
            }
        }
        // §4.2: the receiver's SETTINGS_MAX_FRAME_SIZE.
        if let Some(max) = self.sides[1 - i].max_frame.limit()
            && h.len > max
        {
            violation(
                cx,
                first,
                H2ViolationKind::FrameTooLarge,
                sid.filter(|s| s.0 != 0),
                format!(
                    "{} of {} bytes exceeds SETTINGS_MAX_FRAME_SIZE {max}",
                    h.kind, h.len
                ),
                out,
            );
        }
        if h.reserved {
            violation(
                cx,
                first,
                H2ViolationKind::ReservedBit,
                None,
                format!("{} with the reserved bit set", h.kind),
                out,
            );
        }
        let on_stream = matches!(
            h.kind,
            FrameType::Data
                | FrameType::Headers
                | FrameType::Priority
                | FrameType::RstStream
                | FrameType::PushPromise
                | FrameType::Continuation
        );
        let on_conn = matches!(
            h.kind,
            FrameType::Settings | FrameType::Ping | FrameType::GoAway
        );
        let mut skip = false;
        if (on_stream && stream.0 == 0) || (on_conn && stream.0 != 0) {
            violation(
                cx,
                first,
                H2ViolationKind::WrongStream,
                None,
                if on_stream {
                    format!("{} on stream 0", h.kind)
                } else {
                    format!("{} on stream {} (must be 0)", h.kind, stream)
                },
                out,
            );
            skip = true;
        }
        let fixed = match h.kind {
            FrameType::Priority => Some(5),
            FrameType::RstStream | FrameType::WindowUpdate => Some(4),
            FrameType::Ping => Some(8),
            _ => None,
        };
        let bad_size = match h.kind {
            _ if fixed.is_some() => fixed != Some(h.len),
            FrameType::GoAway => h.len < 8,
            FrameType::Settings => {
                (h.has(flags::ACK) && h.len != 0)
                    || (!h.has(flags::ACK) && !h.len.is_multiple_of(6))
            }
            _ => false,
        };
        if bad_size {
            violation(
                cx,
                first,
                H2ViolationKind::BadFrameSize,
                sid.filter(|s| s.0 != 0),
                format!("{} with a {}-byte payload", h.kind, h.len),
                out,
            );
            skip = true;
        }

        if !skip {
            skip = !self.stream_rules(cx, &h, first, out);
        }

        let body = if skip {
            if matches!(h.kind, FrameType::Headers | FrameType::PushPromise) {
                // The block's fragment cannot be decoded: the table state
                // of this direction is no longer known.
                self.sides[i].hpack.lose_state();
            }
            Body::Skip
        } else {
            match h.kind {
                FrameType::Data
                | FrameType::Headers
                | FrameType::PushPromise
                | FrameType::Continuation => {
                    let padded = h.kind != FrameType::Continuation && h.has(flags::PADDED);
                    let need = usize::from(padded)
                        + match h.kind {
                            FrameType::Headers if h.has(flags::PRIORITY) => 5,
                            FrameType::PushPromise => 4,
                            _ => 0,
                        };
                    if (h.len as usize) < need {
                        violation(
                            cx,
                            first,
                            H2ViolationKind::BadPadding,
                            sid,
                            format!("{} of {} bytes too short for its fields", h.kind, h.len),
                            out,
                        );
                        if h.kind != FrameType::Data {
                            self.sides[i].hpack.lose_state();
                        }
                        Body::Skip
                    } else {
                        if h.kind == FrameType::Continuation {
                            if self.sides[i].block.is_none() {
                                violation(
                                    cx,
                                    first,
                                    H2ViolationKind::UnexpectedContinuation,
                                    sid,
                                    "CONTINUATION with no header block in progress".into(),
                                    out,
                                );
                                // Its fragment belongs to no block we saw.
                                self.sides[i].hpack.lose_state();
                                self.start(i, h, first, Body::Skip);
                                return self.after_begin(cx, out);
                            }
                        } else if h.kind != FrameType::Data {
                            let kind = if h.kind == FrameType::Headers {
                                BlockKind::Headers {
                                    end_stream: h.has(flags::END_STREAM),
                                    priority: None,
                                }
                            } else {
                                BlockKind::PushPromise {
                                    promised: StreamId(0),
                                }
                            };
                            self.sides[i].block = Some(Assembly {
                                stream,
                                kind,
                                buf: Vec::new(),
                                encoded_len: 0,
                                first,
                                unavailable: None,
                            });
                        }
                        Body::Layout(Layout {
                            prefix: [0; 6],
                            need,
                            got: 0,
                            middle: h.len - need as u32,
                            pad: 0,
                            pad_nonzero: false,
                            bad_pad: false,
                            blind: false,
                            data_ended: false,
                        })
                    }
                }
                FrameType::Priority
                | FrameType::RstStream
                | FrameType::Ping
                | FrameType::WindowUpdate
                | FrameType::GoAway => Body::Fixed {
                    buf: Vec::new(),
                    keep: 8 + if h.kind == FrameType::GoAway {
                        self.limits.max_goaway_debug
                    } else {
                        0
                    },
                    lost: false,
                },
                FrameType::Settings => Body::Settings {
                    part: [0; 6],
                    n: 0,
                    params: Vec::new(),
                    dropped: 0,
                    lost: false,
                },
                FrameType::Unknown(t) => {
                    self.sides[i].unknown_frames += 1;
                    emit(
                        cx,
                        first,
                        H2EventKind::UnknownFrame {
                            frame_type: t,
                            stream,
                            len: h.len,
                        },
                        out,
                    );
                    Body::Skip
                }
            }
        };
        self.start(i, h, first, body);
        self.after_begin(cx, out)
    }

    fn start(&mut self, i: usize, h: FrameHeader, first: PacketNo, body: Body) {
        self.sides[i].frame = Some(Frame {
            h,
            first,
            left: h.len,
            body,
        });
        self.sides[i].state = State::Body;
    }

    /// A frame with an empty payload ends at once.
    fn after_begin(&mut self, cx: Ctx, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        if let Some(f) = &mut self.sides[i].frame
            && f.left == 0
        {
            if let Body::Layout(l) = &mut f.body {
                prefix_done(l, &f.h);
            }
            self.end_frame(cx, out);
        }
    }

    /// RFC 9113 §5.1 checks and transitions for a frame about to be read;
    /// false to skip the frame's payload.
    fn stream_rules(
        &mut self,
        cx: Ctx,
        h: &FrameHeader,
        first: PacketNo,
        out: &mut Out<'_>,
    ) -> bool {
        let d = idx(cx.dir);
        let id = h.stream.0;
        let known = self.streams.known;
        let flag = |kind: H2ViolationKind, detail: String, out: &mut Out<'_>| {
            if known {
                violation(cx, first, kind, Some(h.stream), detail, out);
            }
        };
        match h.kind {
            FrameType::Headers => {
                let parity = Streams::parity(id);
                if self.streams.is_idle(id) {
                    if cx.dir == Direction::ClientToServer && parity == 0 {
                        self.open_stream(cx, id, out);
                    } else if cx.dir == Direction::ClientToServer {
                        flag(
                            H2ViolationKind::BadStreamId,
                            format!("client opened even stream {id}"),
                            out,
                        );
                        self.open_stream(cx, id, out);
                    } else {
                        flag(
                            H2ViolationKind::FrameOnIdleStream,
                            format!("server HEADERS on stream {id}, neither opened nor promised"),
                            out,
                        );
                        self.open_stream(cx, id, out);
                    }
                } else if !self.streams.open.contains_key(&id) {
                    self.closed_stream_frame(cx, h, first, out);
                    if cx.dir == Direction::ClientToServer
                        && self.streams.closure(id).is_none()
                        && id > self.streams.forgotten_upto
                    {
                        flag(
                            H2ViolationKind::BadStreamId,
                            format!(
                                "HEADERS on stream {id}, below the highest stream opened ({})",
                                self.streams.max_opened[parity]
                            ),
                            out,
                        );
                    }
                }
                if let Some(st) = self.streams.open.get_mut(&id) {
                    if st.ended[d] {
                        // A second header block (trailers) after END_STREAM.
                        flag(
                            H2ViolationKind::FrameOnClosedStream,
                            format!("HEADERS on stream {id} after its sender's END_STREAM"),
                            out,
                        );
                    }
                    if h.has(flags::END_STREAM) {
                        self.end_stream(d, id);
                    }
                }
                true
            }
            FrameType::Data => {
                if self.streams.is_idle(id) {
                    flag(
                        H2ViolationKind::FrameOnIdleStream,
                        format!("DATA on idle stream {id}"),
                        out,
                    );
                } else if let Some(st) = self.streams.open.get(&id) {
                    if st.ended[d] {
                        flag(
                            H2ViolationKind::FrameOnClosedStream,
                            format!("DATA on stream {id} after its sender's END_STREAM"),
                            out,
                        );
                    } else if h.has(flags::END_STREAM) {
                        self.end_stream(d, id);
                    }
                } else {
                    self.closed_stream_frame(cx, h, first, out);
                }
                true
            }
            FrameType::RstStream => {
                if self.streams.is_idle(id) {
                    flag(
                        H2ViolationKind::FrameOnIdleStream,
                        format!("RST_STREAM on idle stream {id}"),
                        out,
                    );
                }
                if self.streams.open.contains_key(&id) {
                    self.streams.close(id, Closure::ResetBy(cx.dir));
                }
                true
            }
            FrameType::WindowUpdate if id != 0 => {
                if self.streams.is_idle(id) {
                    flag(
                        H2ViolationKind::FrameOnIdleStream,
                        format!("WINDOW_UPDATE on idle stream {id}"),
                        out,
                    );
                }
                true
            }
            FrameType::PushPromise => {
                if cx.dir == Direction::ClientToServer {
                    flag(
                        H2ViolationKind::BadPush,
                        "PUSH_PROMISE sent by the client".into(),
                        out,
                    );
                } else if self.sides[0].enable_push == Some(0) {
                    flag(
                        H2ViolationKind::BadPush,
                        "PUSH_PROMISE after the client set SETTINGS_ENABLE_PUSH to 0".into(),
                        out,
                    );
                }
                true
            }
            _ => true,
        }
    }

    fn closed_stream_frame(
        &mut self,
        cx: Ctx,
        h: &FrameHeader,
        first: PacketNo,
        out: &mut Out<'_>,
    ) {
        let id = h.stream.0;
        let blame = match self.streams.closure(id) {
            Some(Closure::Ended) => true,
            Some(Closure::ResetBy(d)) => d == cx.dir,
            None => false,
        };
        if blame && self.streams.known {
            violation(
                cx,
                first,
                H2ViolationKind::FrameOnClosedStream,
                Some(h.stream),
                format!("{} on closed stream {id}", h.kind),
                out,
            );
        }
    }

    fn open_stream(&mut self, cx: Ctx, id: u32, out: &mut Out<'_>) {
        let p = Streams::parity(id);
        self.streams.max_opened[p] = self.streams.max_opened[p].max(id);
        if self.streams.open.len() >= self.limits.max_streams
            && let Some((&low, _)) = self.streams.open.iter().next()
        {
            self.streams.open.remove(&low);
            self.streams.forgotten_upto = self.streams.forgotten_upto.max(low);
            if !self.streams_cap_reported {
                self.streams_cap_reported = true;
                anomaly(
                    cx,
                    cx.packet,
                    H2AnomalyKind::CapReached,
                    format!(
                        "more than {} open streams: the oldest are no longer tracked",
                        self.limits.max_streams
                    ),
                    out,
                );
            }
        }
        self.streams.open.insert(id, StreamState::default());
    }

    fn end_stream(&mut self, d: usize, id: u32) {
        if let Some(st) = self.streams.open.get_mut(&id) {
            st.ended[d] = true;
            if st.ended == [true, true] {
                self.streams.close(id, Closure::Ended);
            }
        }
    }

    /// Handles payload bytes of the current frame; returns bytes used.
    fn body(&mut self, cx: Ctx, data: &[u8], out: &mut Out<'_>) -> usize {
        let i = idx(cx.dir);
        let Some(mut f) = self.sides[i].frame.take() else {
            self.sides[i].state = State::Header;
            return 0;
        };
        let take = (f.left as usize).min(data.len());
        let chunk = &data[..take];
        f.left -= take as u32;
        let last = f.left == 0;
        match &mut f.body {
            Body::Skip => {}
            Body::Fixed { buf, keep, .. } => {
                let room = keep.saturating_sub(buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk[..room]);
            }
            Body::Settings {
                part,
                n,
                params,
                dropped,
                ..
            } => {
                for &b in chunk {
                    part[*n] = b;
                    *n += 1;
                    if *n == 6 {
                        *n = 0;
                        let s = Setting {
                            id: SettingId::from_u16(u16::from_be_bytes([part[0], part[1]])),
                            value: u32::from_be_bytes([part[2], part[3], part[4], part[5]]),
                        };
                        if params.len() < self.limits.max_settings_per_frame {
                            params.push(s);
                        } else {
                            *dropped += 1;
                        }
                        self.apply_setting_checked(cx, f.first, s, out);
                    }
                }
            }
            Body::Layout(l) => {
                let mut rest = chunk;
                while l.got < l.need && !rest.is_empty() {
                    l.prefix[l.got] = rest[0];
                    l.got += 1;
                    rest = &rest[1..];
                    if l.got == l.need {
                        self.prefix_complete(cx, &f.h, f.first, l, out);
                    }
                }
                let mid = (l.middle as usize).min(rest.len());
                if l.blind {
                    if f.h.kind == FrameType::Data && !rest.is_empty() {
                        emit(
                            cx,
                            cx.packet,
                            H2EventKind::DataGap {
                                stream: f.h.stream,
                                len: rest.len() as u64,
                            },
                            out,
                        );
                    }
                } else {
                    let (content, pad) = rest.split_at(mid);
                    l.middle -= mid as u32;
                    if !content.is_empty() || (f.h.kind == FrameType::Data && last) {
                        let final_piece = l.middle == 0 && last;
                        self.content(cx, &f.h, content, final_piece, out);
                        if final_piece && f.h.kind == FrameType::Data {
                            l.data_ended = true;
                        }
                    }
                    let p = (l.pad as usize).min(pad.len());
                    l.pad -= p as u32;
                    if pad[..p].iter().any(|&b| b != 0) {
                        l.pad_nonzero = true;
                    }
                }
            }
        }
        self.sides[i].frame = Some(f);
        if last {
            self.end_frame(cx, out);
        }
        take
    }

    fn prefix_complete(
        &mut self,
        cx: Ctx,
        h: &FrameHeader,
        first: PacketNo,
        l: &mut Layout,
        out: &mut Out<'_>,
    ) {
        let i = idx(cx.dir);
        if !prefix_done(l, h) {
            l.bad_pad = true;
            violation(
                cx,
                first,
                H2ViolationKind::BadPadding,
                Some(h.stream),
                format!(
                    "{} pad length {} with {} bytes of payload",
                    h.kind, l.prefix[0], h.len
                ),
                out,
            );
            if h.kind != FrameType::Data
                && let Some(asm) = &mut self.sides[i].block
            {
                asm.unavailable.get_or_insert(Unavailable::Interrupted);
            }
        }
        let p = &l.prefix
            [usize::from(h.kind != FrameType::Continuation && h.has(flags::PADDED))..l.need];
        if let Some(asm) = &mut self.sides[i].block {
            match &mut asm.kind {
                BlockKind::Headers { priority, .. } if h.has(flags::PRIORITY) && p.len() >= 5 => {
                    let pr = Priority::parse(&[p[0], p[1], p[2], p[3], p[4]]);
                    *priority = Some(pr);
                    if pr.depends_on == h.stream {
                        violation(
                            cx,
                            first,
                            H2ViolationKind::SelfDependency,
                            Some(h.stream),
                            format!("stream {} depends on itself", h.stream),
                            out,
                        );
                    }
                }
                BlockKind::PushPromise { promised } if p.len() >= 4 => {
                    *promised = StreamId(u32::from_be_bytes([p[0] & 0x7f, p[1], p[2], p[3]]));
                    let id = promised.0;
                    if id % 2 == 1 || !self.streams.is_idle(id) {
                        if self.streams.known {
                            violation(
                                cx,
                                first,
                                H2ViolationKind::BadStreamId,
                                Some(h.stream),
                                format!("PUSH_PROMISE reserves stream {id}, not a new even id"),
                                out,
                            );
                        }
                    } else {
                        self.open_stream(cx, id, out);
                        // Reserved (remote): the client sends nothing on it.
                        if let Some(st) = self.streams.open.get_mut(&id) {
                            st.ended[0] = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Content bytes of a DATA frame or a header block fragment.
    fn content(
        &mut self,
        cx: Ctx,
        h: &FrameHeader,
        bytes: &[u8],
        final_piece: bool,
        out: &mut Out<'_>,
    ) {
        let i = idx(cx.dir);
        if h.kind == FrameType::Data {
            emit(
                cx,
                cx.packet,
                H2EventKind::Data {
                    stream: h.stream,
                    bytes: bytes.to_vec(),
                    frame_end: final_piece,
                    end_stream: final_piece && h.has(flags::END_STREAM),
                },
                out,
            );
            return;
        }
        let cap = self.limits.max_header_block_bytes;
        if let Some(asm) = &mut self.sides[i].block {
            asm.encoded_len += bytes.len() as u64;
            if asm.unavailable.is_none() {
                if asm.buf.len() + bytes.len() > cap {
                    asm.unavailable = Some(Unavailable::TooLarge);
                    asm.buf = Vec::new();
                } else {
                    asm.buf.extend_from_slice(bytes);
                }
            }
        }
    }

    fn end_frame(&mut self, cx: Ctx, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        self.sides[i].state = State::Header;
        let Some(f) = self.sides[i].frame.take() else {
            return;
        };
        let h = f.h;
        let first = f.first;
        let sid = h.stream;
        match f.body {
            Body::Skip => {}
            Body::Layout(l) => {
                if l.pad_nonzero && !l.bad_pad {
                    violation(
                        cx,
                        first,
                        H2ViolationKind::NonZeroPadding,
                        Some(sid),
                        format!("{} padding not zero", h.kind),
                        out,
                    );
                }
                if h.kind == FrameType::Data {
                    if !l.data_ended {
                        emit(
                            cx,
                            cx.packet,
                            H2EventKind::Data {
                                stream: sid,
                                bytes: Vec::new(),
                                frame_end: true,
                                end_stream: h.has(flags::END_STREAM),
                            },
                            out,
                        );
                    }
                } else if h.has(flags::END_HEADERS)
                    && let Some(asm) = self.sides[i].block.take()
                {
                    self.finish_block(cx, asm, out);
                }
            }
            Body::Fixed { buf, lost, .. } => {
                if lost {
                    anomaly(
                        cx,
                        first,
                        H2AnomalyKind::Loss,
                        format!("{} frame on stream {sid} not captured whole", h.kind),
                        out,
                    );
                    return;
                }
                let be = |b: &[u8]| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]);
                let kind = match h.kind {
                    FrameType::Priority if buf.len() >= 5 => {
                        let pr = Priority::parse(&[buf[0], buf[1], buf[2], buf[3], buf[4]]);
                        if pr.depends_on == sid {
                            violation(
                                cx,
                                first,
                                H2ViolationKind::SelfDependency,
                                Some(sid),
                                format!("stream {sid} depends on itself"),
                                out,
                            );
                        }
                        H2EventKind::Priority {
                            stream: sid,
                            priority: pr,
                        }
                    }
                    FrameType::RstStream if buf.len() >= 4 => H2EventKind::RstStream {
                        stream: sid,
                        code: ErrorCode::from_u32(u32::from_be_bytes([
                            buf[0], buf[1], buf[2], buf[3],
                        ])),
                    },
                    FrameType::Ping if buf.len() >= 8 => {
                        let mut data = [0u8; 8];
                        data.copy_from_slice(&buf[..8]);
                        H2EventKind::Ping {
                            ack: h.has(flags::ACK),
                            data,
                        }
                    }
                    FrameType::WindowUpdate if buf.len() >= 4 => {
                        let increment = be(&buf);
                        if increment == 0 {
                            violation(
                                cx,
                                first,
                                H2ViolationKind::ZeroWindowIncrement,
                                Some(sid),
                                format!("WINDOW_UPDATE of 0 on stream {sid}"),
                                out,
                            );
                        }
                        H2EventKind::WindowUpdate {
                            stream: sid,
                            increment,
                        }
                    }
                    FrameType::GoAway if buf.len() >= 8 => H2EventKind::GoAway {
                        last_stream: StreamId(be(&buf)),
                        code: ErrorCode::from_u32(u32::from_be_bytes([
                            buf[4], buf[5], buf[6], buf[7],
                        ])),
                        debug: buf[8..].to_vec(),
                        debug_len: h.len - 8,
                    },
                    _ => return,
                };
                emit(cx, first, kind, out);
            }
            Body::Settings {
                params,
                dropped,
                lost,
                ..
            } => {
                let ack = h.has(flags::ACK);
                if lost {
                    anomaly(
                        cx,
                        first,
                        H2AnomalyKind::Loss,
                        "SETTINGS frame not captured whole: the values it set are unknown".into(),
                        out,
                    );
                    let side = &mut self.sides[i];
                    side.table_size.announce(None);
                    side.table_size.acked = None;
                    side.max_frame.announce(None);
                    side.max_frame.acked = None;
                    let limit = side.table_size.limit();
                    self.sides[1 - i].hpack.set_limit(limit);
                    return;
                }
                if ack {
                    // The peer's SETTINGS are now in force.
                    let peer = &mut self.sides[1 - i];
                    peer.table_size.ack();
                    peer.max_frame.ack();
                } else {
                    let side = &mut self.sides[i];
                    let ts = params
                        .iter()
                        .rev()
                        .find(|s| s.id == SettingId::HeaderTableSize)
                        .map(|s| s.value);
                    let mf = params
                        .iter()
                        .rev()
                        .find(|s| s.id == SettingId::MaxFrameSize)
                        .map(|s| s.value);
                    side.table_size.announce(ts);
                    side.max_frame.announce(mf);
                }
                // What side X announced bounds the size updates of the
                // other side's encoder, so it sets that side's decoder.
                for x in 0..2 {
                    let limit = self.sides[x].table_size.limit();
                    self.sides[1 - x].hpack.set_limit(limit);
                }
                if dropped > 0 {
                    anomaly(
                        cx,
                        first,
                        H2AnomalyKind::CapReached,
                        format!(
                            "SETTINGS with {} parameters: {dropped} past the first {} not listed",
                            params.len() + dropped as usize,
                            self.limits.max_settings_per_frame
                        ),
                        out,
                    );
                }
                emit(
                    cx,
                    first,
                    H2EventKind::Settings {
                        ack,
                        params,
                        dropped,
                    },
                    out,
                );
            }
        }
    }

    /// Validates one SETTINGS parameter (§6.5.2) and records what later
    /// checks need.
    fn apply_setting_checked(&mut self, cx: Ctx, first: PacketNo, s: Setting, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        let bad = match s.id {
            SettingId::EnablePush => {
                s.value > 1 || (cx.dir == Direction::ServerToClient && s.value != 0)
            }
            SettingId::InitialWindowSize => s.value > 0x7fff_ffff,
            SettingId::MaxFrameSize => {
                !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&s.value)
            }
            SettingId::EnableConnectProtocol => {
                s.value > 1 || (s.value == 0 && self.sides[i].connect_protocol == Some(1))
            }
            _ => false,
        };
        if bad {
            violation(
                cx,
                first,
                H2ViolationKind::BadSettingValue,
                None,
                format!("SETTINGS {:?} = {}", s.id, s.value),
                out,
            );
        }
        self.apply_setting(i, s);
    }

    fn apply_setting(&mut self, i: usize, s: Setting) {
        let side = &mut self.sides[i];
        match s.id {
            SettingId::EnablePush => side.enable_push = Some(s.value),
            SettingId::EnableConnectProtocol => side.connect_protocol = Some(s.value),
            _ => {}
        }
        if i == 0 && self.sides[i].frames == 0 {
            // HTTP2-Settings of an h2c upgrade: announced before any frame.
            match s.id {
                SettingId::HeaderTableSize => self.sides[0].table_size.announce(Some(s.value)),
                SettingId::MaxFrameSize => self.sides[0].max_frame.announce(Some(s.value)),
                _ => {}
            }
        }
    }

    fn finish_block(&mut self, cx: Ctx, asm: Assembly, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        let side = &mut self.sides[i];
        let decoded = match asm.unavailable {
            Some(why) => {
                side.hpack.lose_state();
                anomaly(
                    cx,
                    asm.first,
                    match why {
                        Unavailable::TooLarge => H2AnomalyKind::CapReached,
                        Unavailable::Gap => H2AnomalyKind::Loss,
                        Unavailable::Interrupted => H2AnomalyKind::Undecodable,
                    },
                    match why {
                        Unavailable::TooLarge => format!(
                            "header block of stream {} longer than {} bytes not decoded; later blocks of this direction may not be decodable",
                            asm.stream, self.limits.max_header_block_bytes
                        ),
                        Unavailable::Gap => format!(
                            "header block of stream {} not captured whole; later blocks of this direction may not be decodable",
                            asm.stream
                        ),
                        Unavailable::Interrupted => {
                            format!("header block of stream {} never completed", asm.stream)
                        }
                    },
                    out,
                );
                DecodedBlock::default()
            }
            None => {
                let d = side
                    .hpack
                    .decode(&asm.buf, self.limits.max_header_list_bytes);
                if let Some(e) = d.error {
                    violation(
                        cx,
                        asm.first,
                        H2ViolationKind::Hpack(e),
                        Some(asm.stream),
                        format!("header block of stream {}: {e}", asm.stream),
                        out,
                    );
                }
                if d.lost > 0 {
                    anomaly(
                        cx,
                        asm.first,
                        H2AnomalyKind::Undecodable,
                        format!(
                            "header block of stream {}: {} field(s) refer to HPACK table entries not captured",
                            asm.stream, d.lost
                        ),
                        out,
                    );
                }
                if d.dropped > 0 {
                    anomaly(
                        cx,
                        asm.first,
                        H2AnomalyKind::CapReached,
                        format!(
                            "header block of stream {} decodes to {} bytes: {} field(s) past {} not kept",
                            asm.stream, d.list_size, d.dropped, self.limits.max_header_list_bytes
                        ),
                        out,
                    );
                }
                if side.hpack.take_cap_hit() {
                    anomaly(
                        cx,
                        asm.first,
                        H2AnomalyKind::CapReached,
                        format!(
                            "HPACK table larger than {} bytes: older entries not kept",
                            self.limits.max_table_bytes
                        ),
                        out,
                    );
                }
                d
            }
        };
        let block = HeaderBlock {
            decoded,
            encoded_len: asm.encoded_len,
            unavailable: asm.unavailable,
        };
        let kind = match asm.kind {
            BlockKind::Headers {
                end_stream,
                priority,
            } => H2EventKind::Headers {
                stream: asm.stream,
                end_stream,
                priority,
                block,
            },
            BlockKind::PushPromise { promised } => H2EventKind::PushPromise {
                stream: asm.stream,
                promised,
                block,
            },
        };
        emit(cx, asm.first, kind, out);
    }

    // ---- gaps and resynchronisation ----

    fn lose(&mut self, cx: Ctx, mut len: u64, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        while len > 0 {
            match self.sides[i].state {
                State::Body => {
                    let Some(mut f) = self.sides[i].frame.take() else {
                        self.sides[i].state = State::Header;
                        continue;
                    };
                    let take = u64::from(f.left).min(len) as u32;
                    f.left -= take;
                    len -= u64::from(take);
                    self.lose_in_frame(cx, &mut f, take, out);
                    let done = f.left == 0;
                    self.sides[i].frame = Some(f);
                    if done {
                        self.end_frame(cx, out);
                    }
                }
                State::Preface { .. } | State::Header => {
                    let pending_block = self.sides[i].block.take();
                    if let Some(mut asm) = pending_block {
                        asm.unavailable = Some(Unavailable::Gap);
                        self.finish_block(cx, asm, out);
                    }
                    anomaly(
                        cx,
                        cx.packet,
                        H2AnomalyKind::LostSync,
                        format!(
                            "{len} bytes not captured where a frame header was due: frame boundaries lost"
                        ),
                        out,
                    );
                    self.enter_hunt(i);
                    return;
                }
                State::Hunt => {
                    let side = &mut self.sides[i];
                    let held = side.hold.len();
                    side.hold = Hold::default();
                    if held > 0 {
                        anomaly(
                            cx,
                            cx.packet,
                            H2AnomalyKind::LostSync,
                            format!(
                                "{held} bytes before a capture gap not decoded: no frame boundary found"
                            ),
                            out,
                        );
                    }
                    return;
                }
            }
        }
    }

    fn lose_in_frame(&mut self, cx: Ctx, f: &mut Frame, mut n: u32, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        match &mut f.body {
            Body::Skip => {}
            Body::Fixed { lost, .. } | Body::Settings { lost, .. } => *lost = true,
            Body::Layout(l) => {
                if f.h.kind != FrameType::Data {
                    if let Some(asm) = &mut self.sides[i].block {
                        asm.unavailable = Some(Unavailable::Gap);
                        asm.buf = Vec::new();
                        asm.encoded_len += u64::from(n);
                    }
                    if l.got < l.need {
                        l.blind = true;
                    }
                    return;
                }
                if l.got < l.need {
                    // The pad length (first prefix byte) is lost: where the
                    // data ends is unknown for the rest of the frame.
                    let padded = f.h.has(flags::PADDED);
                    let skip = ((l.need - l.got) as u32).min(n);
                    l.got += skip as usize;
                    n -= skip;
                    if padded {
                        l.blind = true;
                        l.middle = 0;
                        l.pad = 0;
                        if n > 0 {
                            emit(
                                cx,
                                cx.packet,
                                H2EventKind::DataGap {
                                    stream: f.h.stream,
                                    len: u64::from(n),
                                },
                                out,
                            );
                        }
                        return;
                    }
                    prefix_done(l, &f.h);
                }
                if l.blind {
                    emit(
                        cx,
                        cx.packet,
                        H2EventKind::DataGap {
                            stream: f.h.stream,
                            len: u64::from(n),
                        },
                        out,
                    );
                    return;
                }
                let mid = l.middle.min(n);
                l.middle -= mid;
                n -= mid;
                if mid > 0 {
                    emit(
                        cx,
                        cx.packet,
                        H2EventKind::DataGap {
                            stream: f.h.stream,
                            len: u64::from(mid),
                        },
                        out,
                    );
                }
                l.pad -= l.pad.min(n);
            }
        }
    }

    /// Looks for frame boundaries in the held bytes: an offset where
    /// [`RESYNC_FRAMES`] plausible frame headers follow each other exactly.
    fn hunt(&mut self, cx: Ctx, out: &mut Out<'_>) {
        let i = idx(cx.dir);
        let max_frame = self.sides[1 - i]
            .max_frame
            .limit()
            .unwrap_or(DEFAULT_MAX_FRAME_SIZE);
        // A pickup may still start with the client preface: then the
        // client's HPACK table is known from its first block.
        if self.sides[i].hold.at_start && cx.dir == Direction::ClientToServer {
            let hold = &self.sides[i].hold;
            let n = hold.len().min(PREFACE.len());
            let matches = hold.bytes[..n] == PREFACE[..n];
            if matches && n < PREFACE.len() {
                return;
            }
            if matches {
                let hold = std::mem::take(&mut self.sides[i].hold);
                let limit = self.sides[1].table_size.limit();
                let side = &mut self.sides[i];
                side.hpack = hpack::Decoder::new(self.limits.max_table_bytes);
                side.hpack.set_limit(limit);
                side.state = State::Preface { got: 0 };
                self.replay(cx.dir, hold, 0, out);
                return;
            }
        }
        let hold = &mut self.sides[i].hold;
        let mut found = None;
        while hold.scan + HEADER_LEN <= hold.len() {
            match chain(hold, hold.scan, cx.dir, max_frame) {
                Some(true) => {
                    found = Some(hold.scan);
                    break;
                }
                Some(false) => hold.scan += 1,
                None => break,
            }
        }
        if let Some(o) = found {
            let hold = std::mem::take(&mut self.sides[i].hold);
            if o > 0 || !hold.at_start {
                let at = hold.first_packet().unwrap_or(cx.packet);
                anomaly(
                    cx,
                    at,
                    H2AnomalyKind::LostSync,
                    if o > 0 {
                        format!("{o} bytes skipped before frame boundaries were found again")
                    } else {
                        "frame boundaries found again after a gap".into()
                    },
                    out,
                );
            }
            self.sides[i].state = State::Header;
            self.sides[i].hdr_n = 0;
            self.replay(cx.dir, hold, o, out);
            return;
        }
        // Bound what is held: past the cap, drop the older half, so that
        // the work per byte stays constant.
        let cap = self.limits.max_resync_bytes;
        let side = &mut self.sides[i];
        if side.hold.len() > cap {
            let drop = side.hold.len() - cap / 2;
            side.hold.drop_front(drop);
            side.hold.at_start = false;
            anomaly(
                cx,
                cx.packet,
                H2AnomalyKind::LostSync,
                format!("{drop} bytes not decoded: no frame boundary found within {cap} bytes"),
                out,
            );
        }
    }

    fn replay(&mut self, dir: Direction, hold: Hold, skip: usize, out: &mut Out<'_>) {
        let marks: Vec<_> = hold.marks.into_iter().collect();
        for (k, &(start, packet, ts)) in marks.iter().enumerate() {
            let end = marks.get(k + 1).map_or(hold.bytes.len(), |m| m.0);
            let start = start.max(skip);
            if start >= end {
                continue;
            }
            self.feed(Ctx { dir, packet, ts }, &hold.bytes[start..end], out);
        }
    }
}

/// Whether the held bytes tile as frames from `o`: Some(true) when
/// [`RESYNC_FRAMES`] headers in a row are plausible, Some(false) when one
/// is not, None when more bytes are needed.
fn chain(hold: &Hold, mut o: usize, dir: Direction, max_frame: u32) -> Option<bool> {
    for k in 0..RESYNC_FRAMES {
        let b = hold.header_at(o)?;
        let h = FrameHeader::parse(&b);
        if !plausible(&h, dir, max_frame, k == 0) {
            return Some(false);
        }
        o += HEADER_LEN + h.len as usize;
    }
    Some(true)
}

/// Evidence that one direction of a stream picked up after its start is
/// HTTP/2 (no preface seen): the bytes begin with frame headers a
/// conforming sender could have written, each where the one before ends,
/// `RESYNC_FRAMES` of them (RFC 9113 §4.1, §6). None while too few bytes
/// are known to tell.
pub fn frames_at_start(data: &[u8], dir: Direction) -> Option<bool> {
    let mut o = 0usize;
    for k in 0..RESYNC_FRAMES {
        let b: [u8; HEADER_LEN] = data.get(o..o + HEADER_LEN)?.try_into().ok()?;
        let h = FrameHeader::parse(&b);
        if !plausible(&h, dir, DEFAULT_MAX_FRAME_SIZE, k == 0) {
            return Some(false);
        }
        o += HEADER_LEN + h.len as usize;
    }
    Some(true)
}

/// A header a conforming sender could have written here.
fn plausible(h: &FrameHeader, dir: Direction, max_frame: u32, first: bool) -> bool {
    if h.reserved || h.len > max_frame || h.flags & !h.kind.defined_flags() != 0 {
        return false;
    }
    let s = h.stream.0;
    match h.kind {
        FrameType::Unknown(_) => false,
        FrameType::Data | FrameType::Headers => s != 0,
        FrameType::Continuation => s != 0 && !first,
        FrameType::Priority => s != 0 && h.len == 5,
        FrameType::RstStream => s != 0 && h.len == 4,
        FrameType::WindowUpdate => h.len == 4,
        FrameType::Ping => s == 0 && h.len == 8,
        FrameType::GoAway => s == 0 && h.len >= 8,
        FrameType::Settings => {
            s == 0
                && if h.has(flags::ACK) {
                    h.len == 0
                } else {
                    h.len.is_multiple_of(6)
                }
        }
        FrameType::PushPromise => s != 0 && dir == Direction::ServerToClient && h.len >= 4,
    }
}

/// Sets the content and padding lengths once the prefix is read; false
/// when the pad length does not fit (then the rest is skipped as padding).
fn prefix_done(l: &mut Layout, h: &FrameHeader) -> bool {
    let rest = h.len - l.need as u32;
    let padded = h.kind != FrameType::Continuation && h.has(flags::PADDED);
    let pad = if padded { u32::from(l.prefix[0]) } else { 0 };
    if pad > rest {
        l.middle = 0;
        l.pad = rest;
        false
    } else {
        l.middle = rest - pad;
        l.pad = pad;
        true
    }
}

fn emit(cx: Ctx, first: PacketNo, kind: H2EventKind, out: &mut Out<'_>) {
    out(H2Event {
        dir: cx.dir,
        first_packet: first,
        packet: cx.packet,
        ts: cx.ts,
        kind,
    });
}

fn violation(
    cx: Ctx,
    first: PacketNo,
    kind: H2ViolationKind,
    stream: Option<StreamId>,
    detail: String,
    out: &mut Out<'_>,
) {
    emit(
        cx,
        first,
        H2EventKind::Violation(H2Violation {
            kind,
            stream,
            detail,
        }),
        out,
    );
}

fn anomaly(cx: Ctx, first: PacketNo, kind: H2AnomalyKind, detail: String, out: &mut Out<'_>) {
    emit(
        cx,
        first,
        H2EventKind::Anomaly(H2Anomaly { kind, detail }),
        out,
    );
}

#[cfg(test)]
mod tests;
