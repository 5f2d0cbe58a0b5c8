//! Deciding what a side's bytes are when its start was not plainly an
//! HTTP request or response: the bytes are held with their provenance
//! while they are a prefix of a start line, or while they run as WebSocket
//! frames without enough evidence yet (issue 17, [`super::super::detect`]),
//! then replayed into the phase the evidence decides. Also the bytes
//! dropped undecided, reported and never filled in.

use super::super::detect::{Detected, FrameProbe, MidStream, SideEvidence, classify, judge};
use super::super::h2session::H2Mode;
use super::{At, Held, Phase, Session, Start};
use crate::analysis::Consumer;
use crate::capture::PacketNo;
use crate::flow::{Direction, Side};
use crate::http::{LineMatch, MAX_START_LINE, request_line, status_line};
use crate::model::finding::AnomalyKind;
use crate::ws::frame::{FrameHeader, Opcode};

/// One side's bytes while its protocol is being decided.
#[derive(Debug, Default)]
pub(super) struct Probe {
    pub(super) held: Vec<Held>,
    pub(super) bytes: usize,
    /// The first bytes, for [`classify`].
    pub(super) prefix: Vec<u8>,
    /// Once the bytes are not HTTP: they are followed as frames from
    /// several piece boundaries at once (the capture may start inside a
    /// frame whose bogus header would swallow the real frames after it).
    pub(super) framing: bool,
    pub(super) alts: Vec<Alt>,
    /// Earlier failed attempts on this side.
    pub(super) attempts: u8,
}

/// Frames followed from one held piece on.
#[derive(Debug)]
pub(super) struct Alt {
    /// Index in [`Probe::held`] of the piece the frames start at.
    pub(super) from: usize,
    pub(super) frames: FrameProbe,
}

impl Probe {
    /// Held bytes and the packet that completed the last of them.
    pub(super) fn held_bytes(held: &[Held]) -> (u64, Option<PacketNo>) {
        let bytes = held
            .iter()
            .map(|h| match h {
                Held::Data(d, ..) => d.len() as u64,
                Held::Gap(..) => 0,
            })
            .sum();
        let last = held.iter().rev().find_map(|h| match h {
            Held::Data(_, _, now, _) => Some(*now),
            Held::Gap(..) => None,
        });
        (bytes, last)
    }

    /// The run with the most whole frames (the earliest on a tie).
    pub(super) fn best(&self) -> Option<&Alt> {
        self.alts
            .iter()
            .rev()
            .max_by_key(|a| (a.frames.frames, a.frames.fin_frames))
    }

    /// Follows the newest held piece in every run, and starts a run at it.
    pub(super) fn follow(&mut self, data: &[u8]) {
        for a in &mut self.alts {
            a.frames.push(data);
        }
        self.alts.retain(|a| a.frames.failed.is_none());
        if self.alts.len() >= MAX_ALTS {
            // Make room by dropping the oldest run without a whole frame.
            if let Some(i) = self.alts.iter().position(|a| a.frames.frames == 0) {
                self.alts.remove(i);
            }
        }
        if self.alts.len() < MAX_ALTS {
            let mut frames = FrameProbe::default();
            frames.push(data);
            if frames.failed.is_none() {
                let from = self.held.len().saturating_sub(1);
                self.alts.push(Alt { from, frames });
            }
        }
    }
}

/// A stream picked up after its start whose first bytes chain as HTTP/2
/// frame headers (in either role: which side is the client is not known
/// yet).
pub(super) fn h2_evidence(probe: &Probe) -> Option<bool> {
    let mut bytes = Vec::new();
    for h in &probe.held {
        if let Held::Data(d, ..) = h {
            bytes.extend_from_slice(&d[..d.len().min(64 << 10)]);
        }
        if bytes.len() >= 64 << 10 {
            break;
        }
    }
    // Too few bytes for one frame header: no evidence either way, and
    // nothing held for it (detection retries at the next pieces).
    if bytes.len() < 9 {
        return Some(false);
    }
    let verdicts = [Direction::ClientToServer, Direction::ServerToClient]
        .map(|d| crate::h2::frames_at_start(&bytes, d));
    if verdicts.contains(&Some(true)) {
        Some(true)
    } else if verdicts.contains(&None) {
        None
    } else {
        Some(false)
    }
}

/// A frame header that could start a WebSocket stream picked up mid-way.
pub(super) fn plausible_frame(data: &[u8]) -> Option<bool> {
    let h = FrameHeader::parse(data).or_else(|| {
        // Too few bytes for the whole header: judge the first two.
        let (&b0, &b1) = (data.first()?, data.get(1)?);
        Some(FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: Opcode::from(b0),
            mask: (b1 & 0x80 != 0).then_some([0; 4]),
            payload_len: u64::from(b1 & 0x7f),
            length_format: crate::ws::frame::LengthFormat::Short,
            header_len: 2,
        })
    })?;
    let known = matches!(
        h.opcode,
        Opcode::Text
            | Opcode::Binary
            | Opcode::Continuation
            | Opcode::Close
            | Opcode::Ping
            | Opcode::Pong
    );
    let control_ok = !h.opcode.is_control() || (h.fin && h.payload_len <= 125);
    // An empty non-final fragment is legal but no library sends one; zero
    // bytes (common in binary protocols) would otherwise look like frames.
    let empty_fragment = !h.fin && h.payload_len == 0;
    (known
        && control_ok
        && !empty_fragment
        && h.rsv & 0b011 == 0
        && h.length_encoding_problem().is_none())
    .then_some(h.mask.is_some())
}

/// A start line that a gap cut short, with enough of it to tell: a method
/// token and its space (`true`, a request), or `HTTP/1.` (a response).
pub(super) fn cut_start_line(prefix: &[u8]) -> Option<bool> {
    let request = request_line(prefix) == LineMatch::Partial && prefix.contains(&b' ');
    let response = status_line(prefix) == LineMatch::Partial && prefix.len() >= 7;
    match (request, response) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// The piece starts a run of plausible frames with one masking (client or
/// server); returns whether they are masked. Every frame that ends inside
/// the piece must be followed by another plausible header.
pub(super) fn plausible_stream(data: &[u8]) -> Option<bool> {
    let mut rest = data;
    let mut masked = None;
    loop {
        let m = plausible_frame(rest)?;
        if *masked.get_or_insert(m) != m {
            return None;
        }
        let Some(h) = FrameHeader::parse(rest) else {
            return masked;
        };
        let total = u64::from(h.header_len).saturating_add(h.payload_len);
        if total >= rest.len() as u64 {
            return masked;
        }
        rest = &rest[total as usize..];
    }
}

/// Bytes of one side held while its protocol is undecided (a start line
/// cut across segments, or frames awaiting enough evidence); beyond this
/// the evidence so far decides, or the bytes are dropped and detection
/// starts again at the side's next piece.
pub(super) const MAX_PROBE: usize = 128 << 10;

/// Frame runs followed at once per side.
pub(super) const MAX_ALTS: usize = 4;

/// The mid-stream WebSocket question for a connection without handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum MidState {
    /// Undecided.
    #[default]
    Open,
    /// Decided WebSocket on framing evidence.
    Ws,
    /// Decided not WebSocket (contradicting evidence).
    Refused,
}

/// The mid-stream question of a connection and what it dropped.
#[derive(Debug, Default)]
pub(super) struct Midstream {
    /// The answer so far.
    pub(super) state: MidState,
    /// Per side: bytes dropped undecoded before detection found frames (a
    /// capture that starts inside a frame), and the last packet of them.
    pub(super) skipped: [(u64, Option<PacketNo>); 2],
}

impl Session {
    /// Mid-stream WebSocket may be considered: no side was seen from its
    /// start (a side whose SYN was captured would have shown the upgrade).
    pub(super) fn midstream_possible(&self) -> bool {
        self.mid.state == MidState::Open
            && !self
                .start
                .iter()
                .any(|s| matches!(s, Start::Syn | Start::Whole))
    }

    /// Bytes of a side whose protocol is undecided: held until a start
    /// line decides (HTTP), or until [`judge`] decides on framing evidence
    /// (mid-stream WebSocket), then replayed with their provenance.
    pub(super) fn probe_data(&mut self, side: Side, data: &[u8], at: At, sink: &mut dyn Consumer) {
        let i = side.idx();
        if self.mid.state == MidState::Ws && !matches!(self.phases[i], Phase::Probe(_)) {
            return self.join_ws(side, data, at, sink);
        }
        let mut probe = match self.take(side) {
            Phase::Probe(p) => p,
            Phase::Unknown(n) => Box::new(Probe {
                attempts: n,
                ..Probe::default()
            }),
            _ => Box::default(),
        };
        probe
            .held
            .push(Held::Data(data.to_vec(), at.src, at.now, at.ts));
        probe.bytes += data.len();
        if probe.framing {
            probe.follow(data);
        } else {
            let before = probe.prefix.len();
            let room = (MAX_START_LINE + 2).saturating_sub(before);
            let added = &data[..data.len().min(room)];
            probe.prefix.extend_from_slice(added);
            // A start line sent a few bytes per segment: the prefix is
            // judged again only when a line could have ended, while it is
            // short, or when it doubled (linear work, not quadratic).
            let after = probe.prefix.len();
            let judge_now = added.contains(&b'\n')
                || before < 64
                || before.leading_zeros() != after.leading_zeros()
                || after >= MAX_START_LINE;
            let detected = if judge_now {
                classify(&probe.prefix)
            } else {
                Detected::NeedMore
            };
            // HTTP/2 picked up after its start: frame headers chain from
            // the first byte (RFC 9113 §4.1); while too few bytes tell,
            // they are held like a start line in progress.
            let h2 =
                if detected == Detected::Other && self.h2.is_none() && self.midstream_possible() {
                    h2_evidence(&probe)
                } else {
                    Some(false)
                };
            if h2 == Some(true) {
                self.put(side, Phase::Probe(probe));
                return self.pick_up_h2(sink);
            }
            if h2.is_none() && probe.bytes <= MAX_PROBE {
                self.put(side, Phase::Probe(probe));
                return;
            }
            match detected {
                Detected::H2Preface => {
                    self.put(side, Phase::Probe(probe));
                    return self.start_h2(side, H2Mode::PriorKnowledge, sink);
                }
                Detected::H2Settings => {
                    // Perhaps the server's preface, sent before the client's
                    // (RFC 9113 §3.4): held while the other side decides.
                    let full = probe.bytes > MAX_PROBE;
                    let (bytes, last) = Probe::held_bytes(&probe.held);
                    let next = if full {
                        self.skip(side, bytes, last);
                        Phase::Unknown(probe.attempts.saturating_add(1))
                    } else {
                        Phase::Probe(probe)
                    };
                    self.put(side, next);
                    return;
                }
                Detected::HttpRequest | Detected::HttpResponse => {
                    let request = detected == Detected::HttpRequest;
                    self.put(side, Phase::Probe(probe));
                    return self.start_http(side, request, sink);
                }
                Detected::NeedMore => {
                    self.put(side, Phase::Probe(probe));
                    return;
                }
                Detected::Tls | Detected::Other if !self.midstream_possible() => {
                    self.put(side, Phase::Unknown(probe.attempts.saturating_add(1)));
                    return;
                }
                Detected::Tls | Detected::Other => {
                    let mut frames = FrameProbe::default();
                    for h in &probe.held {
                        if let Held::Data(d, ..) = h {
                            frames.push(d);
                        }
                    }
                    probe.framing = true;
                    if frames.failed.is_none() {
                        probe.alts.push(Alt { from: 0, frames });
                    }
                }
            }
        }
        let failed = probe.framing && probe.alts.is_empty();
        let full = probe.bytes > MAX_PROBE;
        let next = if failed {
            let (bytes, last) = Probe::held_bytes(&probe.held);
            self.skip(side, bytes, last);
            Phase::Unknown(probe.attempts.saturating_add(1))
        } else {
            Phase::Probe(probe)
        };
        self.put(side, next);
        self.judge_midstream(full, sink);
        if full
            && self.mid.state == MidState::Open
            && let Phase::Probe(p) = &self.phases[i]
        {
            // Not enough evidence in the bytes one side may hold: they go,
            // and detection starts again at this side's next piece.
            let (bytes, last) = Probe::held_bytes(&p.held);
            self.put(side, Phase::Unknown(p.attempts.saturating_add(1)));
            self.skip(side, bytes, last);
        }
    }

    /// A side of a connection already decided WebSocket sends its first
    /// bytes (or its first after unrecognised ones): frames if they start
    /// like frames of its role, else detection is retried at its next piece
    /// (the capture may have started inside a frame).
    pub(super) fn join_ws(&mut self, side: Side, data: &[u8], at: At, sink: &mut dyn Consumer) {
        let i = side.idx();
        let masked = self.client == Some(side);
        if plausible_stream(data) == Some(masked) {
            let ws = Phase::Ws(Box::new(self.new_ws(side)));
            self.put(side, ws);
            self.data(side, data, at, sink);
        } else {
            let n = match self.phases[i] {
                Phase::Unknown(n) => n,
                _ => 0,
            };
            self.put(side, Phase::Unknown(n.saturating_add(1)));
            self.skip(side, data.len() as u64, Some(at.now));
        }
    }

    /// Asks [`judge`] whether the connection is WebSocket picked up
    /// mid-stream, once both sides are undecided; `last`: no more evidence
    /// will come.
    pub(super) fn judge_midstream(&mut self, last: bool, sink: &mut dyn Consumer) {
        if !self.midstream_possible() {
            return;
        }
        fn evidence(p: &Phase) -> Option<SideEvidence<'_>> {
            match p {
                Phase::Detect => Some(SideEvidence::Silent),
                Phase::Probe(pr) => Some(match pr.best() {
                    Some(a) => SideEvidence::Probing(&a.frames),
                    None => SideEvidence::Silent,
                }),
                Phase::Unknown(_) => Some(SideEvidence::NotFrames),
                _ => None,
            }
        }
        let (Some(a), Some(b)) = (evidence(&self.phases[0]), evidence(&self.phases[1])) else {
            return;
        };
        match judge([a, b], last) {
            MidStream::Wait => {}
            // At a side's byte cap, "no" only means "not yet" (see
            // probe_data); at the end or on contradicting masking it is final.
            MidStream::No if last && !self.finishing => {}
            MidStream::No => {
                self.mid.state = MidState::Refused;
                for i in 0..2 {
                    if let Phase::Probe(pr) = &self.phases[i]
                        && pr.framing
                    {
                        let attempts = pr.attempts.saturating_add(1);
                        self.put(Side(i as u8), Phase::Unknown(attempts));
                    }
                }
            }
            MidStream::WebSocket { client } => {
                self.mid.state = MidState::Ws;
                self.set_client(Side(client as u8));
                let mut held = Vec::new();
                for i in 0..2 {
                    let side = Side(i as u8);
                    if !matches!(self.phases[i], Phase::Probe(_)) {
                        continue;
                    }
                    let ws = Phase::Ws(Box::new(self.new_ws(side)));
                    if let Phase::Probe(pr) = self.replace(side, ws) {
                        // Bytes before the first frame boundary found are
                        // not frames (the tail of one begun before the capture).
                        let from = pr.best().map_or(0, |a| a.from);
                        let mut pieces = pr.held;
                        let rest = pieces.split_off(from.min(pieces.len()));
                        let (bytes, last) = Probe::held_bytes(&pieces);
                        self.skip(side, bytes, last);
                        held.extend(rest.into_iter().map(|h| (side, h)));
                    }
                }
                // Both sides in capture order, as they would have been
                // handled had the evidence been there from the first byte.
                held.sort_by_key(|(_, h)| match h {
                    Held::Data(_, _, now, _) | Held::Gap(_, now, _) => now.0,
                });
                for (side, h) in held {
                    self.replay(side, vec![h], sink);
                }
            }
        }
    }

    pub(super) fn skip(&mut self, side: Side, bytes: u64, last: Option<PacketNo>) {
        let s = &mut self.mid.skipped[side.idx()];
        s.0 = s.0.saturating_add(bytes);
        if last.is_some() {
            s.1 = last;
        }
    }

    /// On a connection found to be WebSocket without its handshake, the
    /// bytes dropped before frames were found are reported, never filled.
    pub(super) fn report_skipped(&mut self, sink: &mut dyn Consumer) {
        if self.mid.state != MidState::Ws {
            return;
        }
        for i in 0..2 {
            let (bytes, last) = std::mem::take(&mut self.mid.skipped[i]);
            if let (true, Some(packet)) = (bytes > 0, last) {
                let dir = self.dir_of(Side(i as u8));
                let detail = format!(
                    "{bytes} bytes {dir} before the first recognised frame not decoded (the capture started inside a frame)"
                );
                self.anomaly(AnomalyKind::LostSync, Some(dir), packet, detail, sink);
            }
        }
    }
}
