//! permessage-deflate (RFC 7692): parameters and a bounded, exact inflater.
//!
//! One raw-deflate context per direction. With context takeover the LZ77
//! window is kept across messages (RFC 7692 §7.2.3), so a message may copy
//! bytes from earlier messages; with `*_no_context_takeover` every message
//! starts with an empty window.
//!
//! **Never invent bytes.** When the window holds bytes that were not
//! decoded (the capture began after the context did, bytes were lost, or an
//! earlier message was not inflated to its end), the inflater runs a twin:
//! both start with a window of 32 KiB of a sentinel byte, `0x00` for one
//! and `0xFF` for the other, and are fed the same compressed bytes. Huffman decoding and match lengths
//! do not depend on the window's content, so both produce the same number
//! of bytes; a literal, or a copy of a byte that was itself decoded, is the
//! same in both, while a copy that reaches (directly or through earlier
//! copies) into the unknown history is `0x00` in one and `0xFF` in the
//! other. An output byte is therefore known exactly when the two agree,
//! and a message is exact when they agree on every byte: the test is
//! exact, per message, with no custom inflater. Once 32 KiB of known output
//! follow the last unknown byte, the whole window (RFC 1951 §3.2.5:
//! distances reach at most 32768 bytes back) is known and the twin is
//! dropped. Waiting for 32 KiB rather than the negotiated
//! 2^`*_max_window_bits` costs a little CPU but stays exact even for a
//! compressor that reaches further than it agreed to. A decoder with a
//! 32 KiB window decodes streams made with any smaller window.
//!
//! **Never copy from before the window.** A back-reference may reach only
//! bytes decoded since the window was last empty (the direction's first
//! message, every message without context takeover, a new stream after a
//! final block). One that reaches further (a hostile or broken sender; no
//! compressor makes it) fails the message as corrupt, naming the window's
//! size, as zlib does ("invalid distance too far back"), instead of
//! copying the zeros of an unwritten window: see [`Lane`].
//!
//! **Memory follows the open messages.** Each lane inflates into its own
//! 32 KiB ring, which is the window; every message ends at a deflate block
//! boundary (its sync flush), where the decompressor proper is dropped and
//! later rebuilt from the few bits the next block needs. So a direction
//! that keeps its context holds 32 KiB between messages, one with
//! `*_no_context_takeover` holds nothing, and only a message being
//! inflated (or the twin, while it runs) holds more.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{
    BlockBoundaryState, DecompressorOxide, decompress_with_limit, inflate_flags,
};

/// Farthest a deflate copy reaches back (RFC 1951 §3.2.5).
pub const MAX_WINDOW: usize = 32 * 1024;

/// Restarts (a fresh pair of primed inflaters) allowed without condition;
/// past them, one more needs [`RESTART_INPUT`] compressed bytes since the
/// last, so that a stream of corrupt or gapped messages cannot make each
/// tiny message cost 64 KiB of priming.
const FREE_RESTARTS: u32 = 8;
/// See [`FREE_RESTARTS`].
pub const RESTART_INPUT: u64 = 16 * 1024;
/// Negotiated permessage-deflate parameters (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// LZ77 window of the server's compressor.
    pub server_max_window_bits: Option<u8>,
    /// LZ77 window of the client's compressor.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// Parses the response's `Sec-WebSocket-Extensions` value; `None` when
    /// permessage-deflate was not accepted.
    pub fn from_extensions(header: &str) -> Option<Self> {
        header.split(',').find_map(|ext| {
            let mut parts = ext.split(';').map(str::trim);
            if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
                return None;
            }
            let mut p = DeflateParams::default();
            for param in parts {
                let (name, value) = param.split_once('=').unwrap_or((param, ""));
                let value = value.trim().trim_matches('"').parse::<u8>().ok();
                match name.trim().to_ascii_lowercase().as_str() {
                    "server_no_context_takeover" => p.server_no_context_takeover = true,
                    "client_no_context_takeover" => p.client_no_context_takeover = true,
                    "server_max_window_bits" => p.server_max_window_bits = value.or(Some(15)),
                    "client_max_window_bits" => p.client_max_window_bits = value.or(Some(15)),
                    _ => {}
                }
            }
            Some(p)
        })
    }
}

/// Why inflating stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// The compressed bytes are not valid deflate data.
    Corrupt(String),
    /// The decompressed size passed the configured cap.
    TooLarge(u64),
    /// Past [`RATIO_FLOOR`] bytes, the output outgrew the input by more
    /// than the configured ratio (a deflate bomb).
    TooHighRatio {
        /// The configured ratio.
        ratio: u64,
        /// Decompressed bytes when inflating stopped.
        out: u64,
        /// Compressed bytes consumed by then.
        consumed: u64,
    },
}

/// Why the LZ77 window holds bytes that were never decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryLoss {
    /// The capture began after this direction's compression context did
    /// (connection picked up mid-stream).
    BeforeCapture,
    /// Bytes of this direction were not captured (a gap).
    Gap,
    /// An earlier message stopped at a cap and was not inflated to its end.
    Cap,
    /// An earlier message could not be inflated.
    Corrupt,
}

impl HistoryLoss {
    /// Where the unknown history comes from, for people.
    pub fn describe(self) -> &'static str {
        match self {
            HistoryLoss::BeforeCapture => "sent before the capture began",
            HistoryLoss::Gap => "lost in a gap of the capture",
            HistoryLoss::Cap => "in a message not inflated to its end (cap reached)",
            HistoryLoss::Corrupt => "in a message that could not be inflated",
        }
    }
}

/// What the current message's output lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownHistory {
    /// Why the window is incomplete.
    pub loss: HistoryLoss,
    /// Offset in the decompressed message of its first unknown byte and
    /// how many of its bytes are unknown; `None` when the message was not
    /// inflated at all (restart budget spent, see [`FREE_RESTARTS`]).
    pub unknown: Option<(u64, u64)>,
}

/// Output handed on per decompress call, so that the caps are checked
/// every 8 KiB of output.
const OUT_CHUNK: usize = 8 * 1024;

/// Decompressed bytes per message before the ratio guard applies: small
/// messages may compress very well (or refer to an earlier message's
/// window) without being bombs.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// Raw deflate (no zlib header), more input may follow, and a return at
/// every block boundary, where the decompressor can be put away.
const FLAGS: u32 = inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
    | inflate_flags::TINFL_FLAG_IGNORE_ADLER32
    | inflate_flags::TINFL_FLAG_STOP_ON_BLOCK_BOUNDARY;

/// A raw-deflate decompressor and its window.
///
/// miniz_oxide (flate2's backend) inflates into a caller's buffer used as
/// a ring (its wrapping mode): a copy reads the bytes up to 32 KiB behind
/// the write position. That ring is the window and the output buffer at
/// once, so nothing is copied out, and between deflate blocks the rest of
/// the decompressor (Huffman tables, ~10 KiB) reduces to the few bits of
/// the last input byte not yet used ([`BlockBoundaryState`]). A
/// permessage-deflate message ends with a sync flush (RFC 7692 §7.2.1), an
/// empty stored block, so every direction that waits for its next message
/// waits at a block boundary and holds only its 32 KiB.
///
/// **A copy never reaches before the window's first byte.** Until the ring
/// has wrapped since it was last emptied, the window is exactly
/// `ring[..pos]`, and a distance past `pos` (RFC 1951 §3.2.5) points at
/// bytes that never existed: in wrapping mode miniz would read the ring's
/// unwritten zeros and hand on bytes nobody sent. So until then the lane
/// calls miniz with `TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF`, whose own
/// bounds check (a distance greater than the output position) fails the
/// stream; as zlib does ("invalid distance too far back"). Both modes
/// decode the same way otherwise (only the copy's source index is masked
/// differently, and before the wrap it needs no mask), and the write
/// position is the same, so switching at the wrap, even inside a block or
/// a copy, is sound. A lane primed with a sentinel holds a whole (unknown)
/// window from the start.
#[derive(Clone)]
struct Lane {
    /// The last [`MAX_WINDOW`] bytes of output, written at `pos`.
    ring: Box<[u8]>,
    pos: usize,
    /// The ring holds a whole window: it wrapped since it was last emptied,
    /// or it was primed. Until then the window is `ring[..pos]`.
    full: bool,
    /// The decompressor, while inside a block (or stopped somewhere other
    /// than at a boundary); `None` between blocks, where `boundary` holds
    /// what the next block needs.
    z: Option<Box<DecompressorOxide>>,
    boundary: BlockBoundaryState,
    /// While the window is not full: the input `z` took since it was
    /// rebuilt from `boundary`, so that a failed call can be replayed in
    /// wrapping mode ([`Lane::replayed_further`]); `None` when the window is
    /// full, or past [`REPLAY_CAP`] bytes.
    replay: Option<Vec<u8>>,
    /// Where the ring stood when `z` was rebuilt.
    replay_from: usize,
    /// Output `z` made since.
    replay_out: usize,
}

/// Compressed bytes kept for a replay. A message's bytes while its window
/// is not full are about its output (under 32 KiB); only hostile input
/// (endless empty blocks) goes past this, and its failure, if any, is then
/// reported as corrupt data without saying which kind.
const REPLAY_CAP: usize = 64 << 10;

/// One decompress call's result.
struct Step {
    status: TINFLStatus,
    /// Input bytes used.
    used: usize,
    /// Output written at `ring[start..start + produced]`.
    start: usize,
    produced: usize,
    /// The call failed on a copy reaching before the window's first byte,
    /// when the window held this many bytes.
    too_far: Option<usize>,
}

impl Lane {
    /// A stream whose window is empty (`None`: as a new zlib or miniz
    /// stream's) or, for the twins that detect unknown history, 32 KiB of
    /// a sentinel byte, which any distance may copy.
    fn new(primed: Option<u8>) -> Self {
        Lane {
            ring: vec![primed.unwrap_or(0); MAX_WINDOW].into_boxed_slice(),
            pos: 0,
            full: primed.is_some(),
            z: None,
            boundary: BlockBoundaryState::default(),
            replay: None,
            replay_from: 0,
            replay_out: 0,
        }
    }

    /// Starts a new stream in the same memory (a final block ended the
    /// last one): an empty window, as `new(None)`.
    fn restart(&mut self) {
        self.ring.fill(0);
        self.pos = 0;
        self.full = false;
        self.z = None;
        self.boundary = BlockBoundaryState::default();
        self.replay = None;
    }

    /// One decompress call: at most [`OUT_CHUNK`] bytes of output, and never
    /// past the end of the ring (the next call continues at its start).
    fn step(&mut self, input: &[u8]) -> Step {
        if self.z.is_none() {
            self.replay = (!self.full).then(Vec::new);
            self.replay_from = self.pos;
            self.replay_out = 0;
        }
        let z = self.z.get_or_insert_with(|| {
            Box::new(DecompressorOxide::from_block_boundary_state(&self.boundary))
        });
        let start = self.pos;
        let flags = if self.full {
            FLAGS
        } else {
            FLAGS | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        };
        let (status, used, produced) =
            decompress_with_limit(z, input, &mut self.ring, start, OUT_CHUNK, flags);
        let mut too_far = None;
        if (status as i32) < 0 {
            if !self.full && self.replayed_further(input, produced) {
                too_far = Some(start + produced);
            }
        } else if let Some(kept) = self.replay.as_mut() {
            kept.extend_from_slice(input.get(..used).unwrap_or_default());
            self.replay_out += produced;
            if kept.len() > REPLAY_CAP {
                self.replay = None;
            }
        }
        if start + produced == MAX_WINDOW {
            self.full = true;
            self.replay = None;
        }
        self.pos = (start + produced) & (MAX_WINDOW - 1);
        Step {
            status,
            used,
            start,
            produced,
            too_far,
        }
    }

    /// A call in non-wrapping mode failed after `produced` bytes: was it the
    /// bounds check (a copy from before the window's first byte) rather
    /// than other corrupt data? miniz reports both as `Failed`. The input
    /// since `z` was rebuilt, replayed from `boundary` in wrapping mode,
    /// decodes the same bytes up to the failing point; there it fails too
    /// unless the failure was the bounds check, whose copy it makes (or
    /// starts). What the replay writes past the failure is never handed
    /// on: the stream is dead. Replaying on failure, rather than copying
    /// the decompressor (~10 KiB) before every call, keeps the common path
    /// as fast as before.
    fn replayed_further(&mut self, input: &[u8], produced: usize) -> bool {
        let Some(mut data) = self.replay.take() else {
            return false;
        };
        data.extend_from_slice(input);
        let made_before = self.replay_out + produced;
        let mut z = Box::new(DecompressorOxide::from_block_boundary_state(&self.boundary));
        let (mut at, mut pos, mut made) = (0, self.replay_from, 0);
        loop {
            let rest = data.get(at..).unwrap_or_default();
            let (s, u, p) =
                decompress_with_limit(&mut z, rest, &mut self.ring, pos, OUT_CHUNK, FLAGS);
            at += u;
            made += p;
            pos = (pos + p) & (MAX_WINDOW - 1);
            if made > made_before {
                return true;
            }
            if (s as i32) < 0 {
                return false;
            }
            if s == TINFLStatus::Done || (u == 0 && p == 0) {
                return true;
            }
        }
    }

    /// Just after a [`TINFLStatus::BlockBoundary`]: keeps only the bits
    /// the next block needs.
    fn rest(&mut self) {
        if let Some(st) = self.z.as_ref().and_then(|z| z.block_boundary_state()) {
            self.boundary = st;
            self.z = None;
            self.replay = None;
        }
    }

    fn output(&self, s: &Step) -> &[u8] {
        self.ring
            .get(s.start..s.start + s.produced)
            .unwrap_or_default()
    }
}

/// Inflates messages of one direction.
#[derive(Clone)]
pub struct Inflater {
    /// `None` when the window is known to be empty: before the first
    /// compressed message, and between messages of a sender that does not
    /// take over its context (which then holds no memory while idle).
    main: Option<Lane>,
    /// Runs while the window holds unknown bytes: primed with the other
    /// sentinel, it tells copied unknown bytes from known ones.
    twin: Option<Lane>,
    /// Why the window holds unknown bytes (set while `twin` runs).
    loss: HistoryLoss,
    /// Output bytes known exactly since the last unknown one.
    known_run: u64,
    /// The state no longer follows the sender's: rebuild it (primed) at the
    /// next message.
    stale: Option<HistoryLoss>,
    reset_each_message: bool,
    /// The current message is not inflated: the state could not be rebuilt
    /// for it (restart budget, see [`FREE_RESTARTS`]).
    skipping: bool,
    out_this_message: u64,
    /// Compressed bytes consumed for the current message.
    in_this_message: u64,
    /// Offset of the current message's first unknown byte.
    first_unknown: Option<u64>,
    /// Unknown bytes of the current message.
    unknown_this_message: u64,
    /// Restarts so far and compressed bytes since the last.
    restarts: u32,
    in_since_restart: u64,
    /// Largest output/input ratio past [`RATIO_FLOOR`]; 0 turns it off.
    max_ratio: u64,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each_message", &self.reset_each_message)
            .field("twin", &self.twin.is_some())
            .field("stale", &self.stale)
            .finish()
    }
}

impl Inflater {
    /// An inflater whose history is known from the start (the handshake was
    /// captured); `reset_each_message`: the sender does not take over its
    /// context.
    pub fn new(reset_each_message: bool) -> Self {
        Inflater {
            main: None,
            twin: None,
            loss: HistoryLoss::BeforeCapture,
            known_run: 0,
            stale: None,
            reset_each_message,
            skipping: false,
            out_this_message: 0,
            in_this_message: 0,
            first_unknown: None,
            unknown_this_message: 0,
            restarts: 0,
            in_since_restart: 0,
            max_ratio: 0,
        }
    }

    /// An inflater for a connection picked up mid-stream: the sender's
    /// context (assumed taken over) began before the capture.
    pub fn mid_stream() -> Self {
        let mut inf = Inflater::new(false);
        inf.stale = Some(HistoryLoss::BeforeCapture);
        inf
    }

    /// Sets the deflate-bomb ratio guard (0 turns it off). Deflate itself
    /// tops out near 1032:1, so a guard well below that stops a bomb after
    /// little work instead of at the size cap.
    pub fn with_max_ratio(mut self, ratio: u64) -> Self {
        self.max_ratio = ratio;
        self
    }

    /// Called at the first frame of each compressed message.
    pub fn start_message(&mut self) {
        self.out_this_message = 0;
        self.in_this_message = 0;
        self.first_unknown = None;
        self.unknown_this_message = 0;
        self.skipping = false;
        if self.reset_each_message {
            // RFC 7692 §7.1.1: each message starts with an empty window,
            // which is known: no twin.
            self.main = None;
            self.twin = None;
            self.stale = None;
            return;
        }
        let Some(loss) = self.stale else {
            return;
        };
        if self.restarts >= FREE_RESTARTS && self.in_since_restart < RESTART_INPUT {
            self.skipping = true;
            return;
        }
        self.restarts = self.restarts.saturating_add(1);
        self.in_since_restart = 0;
        self.stale = None;
        self.loss = loss;
        self.known_run = 0;
        self.main = Some(Lane::new(Some(0x00)));
        self.twin = Some(Lane::new(Some(0xff)));
    }

    /// Bytes of the compressed stream were lost: from the next message on,
    /// the window is incomplete.
    pub fn lose_history(&mut self, why: HistoryLoss) {
        self.stale.get_or_insert(why);
    }

    /// True while the window is known to hold bytes never decoded.
    pub fn history_incomplete(&self) -> bool {
        self.twin.is_some() || self.stale.is_some()
    }

    /// What the current message's output lacks so far; `None` when every
    /// byte handed on was exact and nothing was withheld.
    pub fn unknown_history(&self) -> Option<UnknownHistory> {
        if self.skipping {
            return Some(UnknownHistory {
                loss: self.stale.unwrap_or(self.loss),
                unknown: None,
            });
        }
        let first = self.first_unknown?;
        Some(UnknownHistory {
            loss: self.loss,
            unknown: Some((first, self.unknown_this_message)),
        })
    }

    /// Decompressed bytes of the current message so far (including unknown
    /// ones, whose count is exact even when their value is not).
    pub fn out_this_message(&self) -> u64 {
        self.out_this_message
    }

    /// Inflates `input`, handing on the exact output to `out` (it stops at
    /// the message's first unknown byte); at most `cap` bytes of output per
    /// message.
    pub fn push(
        &mut self,
        input: &[u8],
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        self.run(input, cap, out)
    }

    /// Ends a message: RFC 7692 §7.2.2 removed the trailing `00 00 ff ff`
    /// of the sync flush; append it back.
    pub fn finish_message(
        &mut self,
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        let r = self.run(&[0x00, 0x00, 0xff, 0xff], cap, out);
        if self.reset_each_message {
            // RFC 7692 §7.1.1: nothing of this message reaches the next.
            self.main = None;
        }
        r
    }

    fn run(
        &mut self,
        input: &[u8],
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        if self.skipping {
            self.in_since_restart = self.in_since_restart.saturating_add(input.len() as u64);
            return Ok(());
        }
        let r = self.run_lanes(input, cap, out);
        if r.is_err() {
            // The state stopped mid-message: it no longer follows the sender's.
            self.stale = Some(match r {
                Err(InflateError::Corrupt(_)) => HistoryLoss::Corrupt,
                _ => HistoryLoss::Cap,
            });
        }
        r
    }

    fn run_lanes(
        &mut self,
        mut input: &[u8],
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        if input.is_empty() {
            return Ok(());
        }
        loop {
            let main = self.main.get_or_insert_with(|| Lane::new(None));
            let step = main.step(input);
            if let Some(held) = step.too_far {
                return Err(InflateError::Corrupt(format!(
                    "a back-reference reaches before the window's first byte: its distance exceeds the {held} bytes of window (decoded since the window was last empty; RFC 1951 §3.2.5)"
                )));
            }
            if (step.status as i32) < 0 {
                return Err(InflateError::Corrupt("deflate decompression error".into()));
            }
            if let Some(twin) = self.twin.as_mut() {
                let t = twin.step(input);
                if (t.status, t.used, t.start, t.produced)
                    != (step.status, step.used, step.start, step.produced)
                {
                    return Err(InflateError::Corrupt(
                        "the two inflaters of an incomplete window disagree".into(),
                    ));
                }
            }
            input = input.get(step.used..).unwrap_or_default();
            self.in_this_message = self.in_this_message.saturating_add(step.used as u64);
            self.in_since_restart = self.in_since_restart.saturating_add(step.used as u64);
            if step.produced > 0 {
                let start = self.out_this_message;
                self.out_this_message = self.out_this_message.saturating_add(step.produced as u64);
                if self.out_this_message > cap {
                    return Err(InflateError::TooLarge(cap));
                }
                if self.max_ratio > 0
                    && self.out_this_message > RATIO_FLOOR
                    && self.out_this_message > self.in_this_message.saturating_mul(self.max_ratio)
                {
                    return Err(InflateError::TooHighRatio {
                        ratio: self.max_ratio,
                        out: self.out_this_message,
                        consumed: self.in_this_message,
                    });
                }
                self.hand_on(start, &step, out);
            }
            match step.status {
                TINFLStatus::Done => {
                    // A final block (BFINAL) ends the deflate stream; a new
                    // one, with an empty (so known) window, may follow in
                    // the next message (RFC 7692 §7.2.3.3).
                    if let Some(main) = self.main.as_mut() {
                        main.restart();
                    }
                    self.twin = None;
                    if input.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                TINFLStatus::BlockBoundary if input.is_empty() => {
                    // Where every message ends (its sync flush): put the
                    // decompressors away until the next one.
                    self.main
                        .iter_mut()
                        .chain(self.twin.iter_mut())
                        .for_each(Lane::rest);
                    return Ok(());
                }
                TINFLStatus::BlockBoundary | TINFLStatus::HasMoreOutput => {}
                _ => return Ok(()),
            }
            if step.used == 0 && step.produced == 0 {
                return Ok(());
            }
        }
    }

    /// Hands on the exact part of a step's new bytes (at message offset
    /// `start`), comparing them with the twin's while it runs.
    fn hand_on(&mut self, start: u64, step: &Step, out: &mut impl FnMut(&[u8])) {
        let produced = step.produced;
        let Some(main) = self.main.as_ref() else {
            return;
        };
        let mine = main.output(step);
        let Some(twin) = self.twin.as_ref() else {
            if self.first_unknown.is_none() {
                out(mine);
            }
            return;
        };
        let theirs = twin.output(step);
        let first = mine.iter().zip(theirs).position(|(a, b)| a != b);
        match first {
            None => self.known_run = self.known_run.saturating_add(produced as u64),
            Some(i) => {
                let last = mine
                    .iter()
                    .zip(theirs)
                    .rposition(|(a, b)| a != b)
                    .unwrap_or(i);
                let unknown = mine.iter().zip(theirs).filter(|(a, b)| a != b).count();
                self.unknown_this_message =
                    self.unknown_this_message.saturating_add(unknown as u64);
                self.known_run = (produced - last - 1) as u64;
            }
        }
        if self.first_unknown.is_none() {
            let exact = first.unwrap_or(produced);
            if exact > 0 {
                out(mine.get(..exact).unwrap_or_default());
            }
            if first.is_some() {
                self.first_unknown = Some(start + exact as u64);
            }
        }
        if self.known_run >= MAX_WINDOW as u64 {
            self.twin = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn compress(ctx: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        ctx.compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    fn inflate(inf: &mut Inflater, data: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        inf.start_message();
        inf.push(data, u64::MAX, &mut |b| got.extend_from_slice(b))
            .unwrap();
        inf.finish_message(u64::MAX, &mut |b| got.extend_from_slice(b))
            .unwrap();
        got
    }

    #[test]
    fn context_takeover_across_messages() {
        let mut c = Compress::new(Compression::default(), false);
        let mut inf = Inflater::new(false);
        let m = b"hello hello hello websocket world";
        let a = compress(&mut c, m);
        let b = compress(&mut c, m);
        assert!(b.len() < a.len());
        assert_eq!(inflate(&mut inf, &a), m);
        assert_eq!(inflate(&mut inf, &b), m);
    }

    #[test]
    fn bomb_is_capped() {
        let mut c = Compress::new(Compression::best(), false);
        let zeros = vec![0u8; 4 << 20];
        let z = compress(&mut c, &zeros);
        let mut inf = Inflater::new(true);
        inf.start_message();
        let mut n = 0u64;
        let r = inf.push(&z, 1 << 20, &mut |b| n += b.len() as u64);
        assert_eq!(r, Err(InflateError::TooLarge(1 << 20)));
        assert!(n <= 1 << 20);
    }

    /// Many sync-flushed copies of 1 MiB of zeros: a valid stream that
    /// inflates to `copies` MiB from about 1 KiB per MiB.
    fn bomb(copies: usize) -> Vec<u8> {
        let mut c = Compress::new(Compression::best(), false);
        let one = compress(&mut c, &vec![0u8; 1 << 20]);
        let mut z = Vec::new();
        for _ in 0..copies {
            z.extend_from_slice(&one);
            z.extend_from_slice(&[0, 0, 0xff, 0xff]);
        }
        z
    }

    #[test]
    fn ratio_guard_stops_a_bomb_early() {
        let z = bomb(64);
        let mut inf = Inflater::new(true).with_max_ratio(100);
        inf.start_message();
        let mut n = 0u64;
        let r = inf.push(&z, u64::MAX, &mut |b| n += b.len() as u64);
        assert!(
            matches!(r, Err(InflateError::TooHighRatio { ratio: 100, .. })),
            "{r:?}"
        );
        // Stopped just past the floor, not at 64 MiB.
        assert!(n <= RATIO_FLOOR + 64 * 1024, "{n}");
        // Without the guard the same stream inflates completely.
        let mut inf = Inflater::new(true);
        inf.start_message();
        let mut n = 0u64;
        inf.push(&z, u64::MAX, &mut |b| n += b.len() as u64)
            .unwrap();
        assert_eq!(n, 64 << 20);
    }

    #[test]
    fn ratio_guard_spares_small_messages() {
        let z = bomb(1);
        let mut inf = Inflater::new(true).with_max_ratio(2);
        let mut n = 0u64;
        inf.start_message();
        inf.push(&z, u64::MAX, &mut |b| n += b.len() as u64)
            .unwrap();
        assert_eq!(n, RATIO_FLOOR);
    }

    /// Inflates one message; `None` when it was marked undecodable (then
    /// the exact prefix handed on is checked against `want` here).
    fn inflate_checked(inf: &mut Inflater, data: &[u8], want: &[u8]) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        inf.start_message();
        inf.push(data, u64::MAX, &mut |b| got.extend_from_slice(b))
            .unwrap();
        inf.finish_message(u64::MAX, &mut |b| got.extend_from_slice(b))
            .unwrap();
        match inf.unknown_history() {
            None => Some(got),
            Some(u) => {
                let (first, n) = u.unknown.expect("inflated");
                assert_eq!(
                    got.len() as u64,
                    first,
                    "exact bytes stop at the first unknown one"
                );
                assert_eq!(got[..], want[..got.len()], "the exact prefix is exact");
                assert!(n >= 1 && first + n <= want.len() as u64);
                assert_eq!(
                    inf.out_this_message(),
                    want.len() as u64,
                    "length stays exact"
                );
                None
            }
        }
    }

    /// Messages made of a few recurring words and fresh random bytes, so
    /// that back-references across messages are common.
    fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let word = prop::sample::select(vec![
            &b"{\"type\":\"tick\","[..],
            b"\"price\":",
            b"\"user\":\"alice\"",
            b"websocket ",
            b"}",
        ]);
        let piece = prop_oneof![
            3 => word.prop_map(|w| w.to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..40),
            1 => prop::collection::vec(any::<u8>(), 0..3000),
        ];
        let message = prop::collection::vec(piece, 0..12).prop_map(|ps| ps.concat());
        prop::collection::vec(message, 1..40)
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A connection picked up after its first `k` messages: every
        /// message is either byte-exact or marked undecodable (with an exact
        /// prefix and an exact length), never wrong; and once 32 KiB of
        /// exact output followed the last unknown byte, every message is
        /// exact again.
        #[test]
        fn mid_stream_is_exact_or_undecodable(ms in messages(), k in 0usize..20, level in 1u32..10) {
            let mut c = Compress::new(Compression::new(level), false);
            let wire: Vec<_> = ms.iter().map(|m| compress(&mut c, m)).collect();
            let k = k.min(ms.len());
            let mut inf = Inflater::mid_stream();
            let mut known: u64 = 0;
            for (m, z) in ms[k..].iter().zip(&wire[k..]) {
                match inflate_checked(&mut inf, z, m) {
                    Some(got) => {
                        prop_assert_eq!(&got, m);
                        known += m.len() as u64;
                    }
                    None => {
                        prop_assert!(known < MAX_WINDOW as u64, "undecodable after a whole window");
                        known = 0;
                    }
                }
            }
        }

        /// Loss in the middle of a context-takeover stream: messages after
        /// it are exact or undecodable, never wrong.
        #[test]
        fn after_loss_is_exact_or_undecodable(ms in messages(), lost in 0usize..40, level in 1u32..10) {
            let mut c = Compress::new(Compression::new(level), false);
            let wire: Vec<_> = ms.iter().map(|m| compress(&mut c, m)).collect();
            let mut inf = Inflater::new(false);
            for (i, (m, z)) in ms.iter().zip(&wire).enumerate() {
                if i == lost {
                    inf.lose_history(HistoryLoss::Gap);
                    continue;
                }
                if let Some(got) = inflate_checked(&mut inf, z, m) {
                    prop_assert_eq!(&got, m);
                } else {
                    prop_assert!(i > lost);
                }
            }
        }
    }

    /// zlib's message for a copy from before the window's first byte.
    const TOO_FAR: &str = "invalid distance too far back";

    /// Inflates a whole stream with one long-lived flate2 decompressor
    /// (miniz_oxide's stream, the decoder under test driven the usual
    /// way): `None` for a message it rejects. It never rejects a copy from
    /// before the stream's start: its window starts as zeros, which it
    /// copies, so it judges everything but that.
    fn miniz_reference(wire: &[Vec<u8>], reset_each_message: bool) -> Vec<Option<Vec<u8>>> {
        use flate2::{Decompress, FlushDecompress, Status};
        let mut z = Decompress::new(false);
        let mut broken = false;
        wire.iter()
            .map(|m| {
                if reset_each_message {
                    z = Decompress::new(false);
                    broken = false;
                }
                if broken {
                    return None;
                }
                let input = [&m[..], &[0, 0, 0xff, 0xff]].concat();
                let mut got = Vec::new();
                let mut at = 0;
                loop {
                    let before = (z.total_in(), z.total_out());
                    let mut buf = vec![0u8; 4096];
                    match z.decompress(&input[at..], &mut buf, FlushDecompress::Sync) {
                        Err(_) => {
                            broken = true;
                            return None;
                        }
                        Ok(st) => {
                            let used = (z.total_in() - before.0) as usize;
                            let made = (z.total_out() - before.1) as usize;
                            at += used;
                            got.extend_from_slice(&buf[..made]);
                            if st == Status::StreamEnd {
                                z = Decompress::new(false);
                            }
                            if used == 0 && made == 0 && at == input.len() {
                                return Some(got);
                            }
                        }
                    }
                }
            })
            .collect()
    }

    /// Inflates a whole stream with one long-lived zlib decompressor
    /// (zlib-rs: zlib's algorithm, independent of the miniz_oxide under
    /// test): per message its bytes, or zlib's reason to reject it. It
    /// judges copies from before the window; on malformed Huffman tables
    /// zlib and miniz differ (one rejects what the other waits on).
    fn zlib_reference(wire: &[Vec<u8>], reset_each_message: bool) -> Vec<Result<Vec<u8>, String>> {
        use zlib_rs::{Inflate, InflateFlush, Status};
        let fresh = || Inflate::new(false, 15);
        let mut z = fresh();
        let mut broken = None;
        wire.iter()
            .map(|m| {
                if reset_each_message {
                    z = fresh();
                    broken = None;
                }
                if let Some(why) = &broken {
                    return Err(String::clone(why));
                }
                let input = [&m[..], &[0, 0, 0xff, 0xff]].concat();
                let mut got = Vec::new();
                let mut at = 0;
                loop {
                    let before = (z.total_in(), z.total_out());
                    let mut buf = vec![0u8; 4096];
                    // A byte at a time: zlib-rs's fast path (taken with
                    // more input at hand) loses the reason it rejected a
                    // stream ("repeated call with bad state"); its byte-wise
                    // path keeps it.
                    let next = &input[at..input.len().min(at + 1)];
                    match z.decompress(next, &mut buf, InflateFlush::SyncFlush) {
                        Err(e) => {
                            let why = z.error_message().unwrap_or(e.as_str()).to_string();
                            broken = Some(why.clone());
                            return Err(why);
                        }
                        Ok(st) => {
                            let used = (z.total_in() - before.0) as usize;
                            let made = (z.total_out() - before.1) as usize;
                            at += used;
                            got.extend_from_slice(&buf[..made]);
                            if st == Status::StreamEnd {
                                z = fresh();
                            }
                            if used == 0 && made == 0 && at == input.len() {
                                return Ok(got);
                            }
                        }
                    }
                }
            })
            .collect()
    }

    /// Feeds one message in pieces cut at `cuts` (offsets, any order),
    /// returning its bytes or why it failed.
    fn try_pieces(
        inf: &mut Inflater,
        data: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<u8>, InflateError> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        at.push(0);
        at.push(data.len());
        at.sort_unstable();
        let mut got = Vec::new();
        inf.start_message();
        for w in at.windows(2) {
            inf.push(&data[w[0]..w[1]], u64::MAX, &mut |b| {
                got.extend_from_slice(b)
            })?;
        }
        inf.finish_message(u64::MAX, &mut |b| got.extend_from_slice(b))?;
        assert!(inf.unknown_history().is_none());
        Ok(got)
    }

    /// Whether our verdict on a message is right: an inflated message
    /// equals miniz's stream's and zlib does not find a copy from before
    /// the window in it; one we reject for such a copy zlib rejects (for
    /// the same reason, unless it stopped first at a malformed Huffman
    /// table miniz takes); one we reject otherwise miniz's stream rejects.
    fn right_verdict(
        got: &Result<Vec<u8>, InflateError>,
        miniz: &Option<Vec<u8>>,
        zlib: &Result<Vec<u8>, String>,
    ) -> bool {
        let zlib_too_far = zlib.as_ref().err().is_some_and(|w| w == TOO_FAR);
        match got {
            Ok(g) => miniz.as_ref() == Some(g) && !zlib_too_far,
            Err(InflateError::Corrupt(e))
                if e.contains("reaches before the window's first byte") =>
            {
                zlib.is_err()
            }
            Err(_) => miniz.is_none(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The decompressor is put away between messages and rebuilt from
        /// the block-boundary bits and the ring: every message, cut
        /// anywhere, inflates to what one long-lived flate2 decompressor
        /// makes of the whole stream (and zlib finds no copy from before
        /// the window in it), with and without context takeover,
        /// and whatever the compression level or final block.
        #[test]
        fn rebuilt_between_messages_equals_one_long_decompressor(
            ms in messages(),
            level in 0u32..10,
            reset in any::<bool>(),
            final_at in prop::option::of(0usize..40),
            cuts in prop::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut c = Compress::new(Compression::new(level), false);
            let wire: Vec<_> = ms
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if Some(i) == final_at {
                        // A message that ends its deflate stream (BFINAL):
                        // the next one starts a new stream.
                        let mut out = Vec::with_capacity(m.len() + 64);
                        c.compress_vec(m, &mut out, FlushCompress::Finish).unwrap();
                        c.reset();
                        out
                    } else {
                        let z = compress(&mut c, m);
                        if reset {
                            c.reset();
                        }
                        z
                    }
                })
                .collect();
            let miniz = miniz_reference(&wire, reset);
            let zlib = zlib_reference(&wire, reset);
            let mut inf = Inflater::new(reset);
            for (i, (((m, z), w), zw)) in ms.iter().zip(&wire).zip(&miniz).zip(&zlib).enumerate() {
                let got = try_pieces(&mut inf, z, &cuts);
                prop_assert!(right_verdict(&got, w, zw), "{:?} vs {:?} / zlib {:?}", got, w, zw);
                let Ok(got) = got else {
                    // Rejected by both (only the noise after a final block
                    // is rejected); from here ours marks its history lost,
                    // which other tests cover.
                    break;
                };
                // After a final block, the appended tail begins a stream
                // the sender never made: both decoders see the same noise.
                if reset || final_at.is_none_or(|f| i <= f) {
                    prop_assert_eq!(&got, m);
                }
                // Idle between messages: no decompressor (unless a final
                // block made the appended sync-flush tail start a new
                // stream, RFC 7692 §7.2.3.3), and no window at all without
                // context takeover.
                prop_assert!(final_at.is_some() || inf.main.as_ref().is_none_or(|l| l.z.is_none()));
                prop_assert_eq!(inf.main.is_none(), reset);
            }
        }

        /// Arbitrary bytes (mostly corrupt): the rebuilt decompressor
        /// agrees with the long-lived one on every message it accepts, and
        /// fails where it fails, except that it rejects a copy from before
        /// the window, where zlib does too (random fixed-code blocks make
        /// such copies often).
        #[test]
        fn arbitrary_input_matches_the_reference(
            wire in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..8),
            reset in any::<bool>(),
            cuts in prop::collection::vec(any::<usize>(), 0..4),
        ) {
            let miniz = miniz_reference(&wire, reset);
            let zlib = zlib_reference(&wire, reset);
            let mut inf = Inflater::new(reset);
            for ((z, w), zw) in wire.iter().zip(&miniz).zip(&zlib) {
                let got = try_pieces(&mut inf, z, &cuts);
                prop_assert!(right_verdict(&got, w, zw), "{:?} vs {:?} / zlib {:?}", got, w, zw);
                if got.is_err() && !reset {
                    // After the first failure the reference is done; ours
                    // marks its history lost, which other tests cover.
                    break;
                }
            }
        }
    }

    /// One symbol of a hand-made block.
    #[derive(Clone, Copy)]
    enum Sym {
        Lit(u8),
        /// A back-reference (RFC 1951 §3.2.5): `len` 3–258, `dist`
        /// 1–32768.
        Copy(u16, u16),
    }

    /// A bit writer, least significant bit first (RFC 1951 §3.1.1).
    #[derive(Default)]
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl Bits {
        fn put(&mut self, v: u32, n: u32) {
            self.acc |= u64::from(v) << self.n;
            self.n += n;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }

        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            self.put(code.reverse_bits() >> (32 - len), len);
        }

        /// Fixed literal/length code (RFC 1951 §3.2.6).
        fn lit_len(&mut self, sym: u32) {
            match sym {
                0..=143 => self.code(0x30 + sym, 8),
                144..=255 => self.code(0x190 + sym - 144, 9),
                256..=279 => self.code(sym - 256, 7),
                _ => self.code(0xc0 + sym - 280, 8),
            }
        }
    }

    /// A hand-made message: one non-final block with fixed codes holding
    /// `syms`, then the sync flush's empty stored block without its
    /// `00 00 ff ff`, which the sender removes (RFC 7692 §7.2.1) and
    /// `finish_message` puts back. No compressor makes a copy from before
    /// the window; a hostile peer can.
    fn fixed_block(syms: &[Sym]) -> Vec<u8> {
        const LEN_BASE: [u16; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        const LEN_EXTRA: [u32; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        const DIST_BASE: [u16; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        let mut b = Bits::default();
        b.put(0, 1); // BFINAL = 0
        b.put(1, 2); // BTYPE = 01, fixed codes
        for s in syms {
            match *s {
                Sym::Lit(x) => b.lit_len(x.into()),
                Sym::Copy(len, dist) => {
                    let l = LEN_BASE.iter().rposition(|&x| x <= len).unwrap();
                    b.lit_len(257 + l as u32);
                    b.put(u32::from(len - LEN_BASE[l]), LEN_EXTRA[l]);
                    let d = DIST_BASE.iter().rposition(|&x| x <= dist).unwrap();
                    b.code(d as u32, 5);
                    b.put(
                        u32::from(dist - DIST_BASE[d]),
                        (d as u32).saturating_sub(2) / 2,
                    );
                }
            }
        }
        b.lit_len(256); // end of block
        b.put(0, 3); // BFINAL = 0, BTYPE = 00: the sync flush's stored block
        if b.n > 0 {
            b.out.push(b.acc as u8);
        }
        b.out
    }

    /// `n` bytes of output from few symbols: a literal, then copies of it.
    fn run_of(byte: u8, n: usize) -> Vec<Sym> {
        let mut syms = vec![Sym::Lit(byte)];
        let mut left = n - 1;
        while left > 0 {
            // A copy is at least 3 bytes: end on literals.
            let len = if left >= 261 {
                258
            } else if left >= 3 {
                left
            } else {
                0
            };
            if len == 0 {
                syms.extend(std::iter::repeat_n(Sym::Lit(byte), left));
                break;
            }
            syms.push(Sym::Copy(len as u16, 1));
            left -= len;
        }
        syms
    }

    /// The message cut at every offset (and whole): the same verdict each
    /// time, returned.
    fn at_every_cut(inf: &mut Inflater, data: &[u8]) -> Result<Vec<u8>, InflateError> {
        let whole = try_pieces(&mut inf.clone(), data, &[]);
        for cut in 0..=data.len() {
            assert_eq!(
                try_pieces(&mut inf.clone(), data, &[cut]),
                whole,
                "cut at {cut}"
            );
        }
        try_pieces(inf, data, &[])
    }

    fn too_far(held: usize) -> Result<Vec<u8>, InflateError> {
        Err(InflateError::Corrupt(format!(
            "a back-reference reaches before the window's first byte: its distance exceeds the {held} bytes of window (decoded since the window was last empty; RFC 1951 §3.2.5)"
        )))
    }

    /// A copy from before the first byte of a fresh window is an error,
    /// not zeros; at exactly the window's size it is valid. zlib agrees.
    #[test]
    fn a_copy_before_a_fresh_window_fails() {
        use Sym::*;
        let bad = fixed_block(&[Lit(b'a'), Lit(b'b'), Copy(3, 3)]);
        let good = fixed_block(&[Lit(b'a'), Lit(b'b'), Copy(3, 2)]);
        for reset in [false, true] {
            assert_eq!(at_every_cut(&mut Inflater::new(reset), &bad), too_far(2));
            assert_eq!(
                at_every_cut(&mut Inflater::new(reset), &good).as_deref(),
                Ok(&b"ababa"[..])
            );
            assert_eq!(
                zlib_reference(std::slice::from_ref(&bad), reset),
                vec![Err(TOO_FAR.to_string())]
            );
            assert_eq!(
                zlib_reference(std::slice::from_ref(&good), reset),
                vec![Ok(b"ababa".to_vec())]
            );
            // flate2's stream (miniz_oxide's wrapping window) copies zeros.
            assert_eq!(
                miniz_reference(std::slice::from_ref(&bad), reset),
                vec![Some(b"ab\0ab".to_vec())]
            );
        }
        // Nothing decoded at all: any copy is before the window.
        let first = fixed_block(&[Copy(3, 1)]);
        assert_eq!(at_every_cut(&mut Inflater::new(false), &first), too_far(0));
    }

    /// Without context takeover every message starts with an empty window
    /// (RFC 7692 §7.1.1): a copy into the previous message fails. With
    /// takeover the same copy is valid (§7.2.3), and the window counts
    /// every message since it was last empty.
    #[test]
    fn a_copy_into_the_previous_message_needs_takeover() {
        use Sym::*;
        let hello = fixed_block(&b"hello".map(Lit));
        let again = fixed_block(&[Lit(b' '), Copy(5, 6)]);
        let past = fixed_block(&[Lit(b' '), Copy(5, 13)]);
        let mut reset = Inflater::new(true);
        assert_eq!(
            at_every_cut(&mut reset, &hello).as_deref(),
            Ok(&b"hello"[..])
        );
        assert_eq!(at_every_cut(&mut reset, &again), too_far(1));
        // The failure costs nothing later: the next message is fresh.
        assert_eq!(
            at_every_cut(&mut reset, &hello).as_deref(),
            Ok(&b"hello"[..])
        );

        let mut keep = Inflater::new(false);
        assert_eq!(
            at_every_cut(&mut keep, &hello).as_deref(),
            Ok(&b"hello"[..])
        );
        assert_eq!(
            at_every_cut(&mut keep, &again).as_deref(),
            Ok(&b" hello"[..])
        );
        // 12 bytes held after the space; 13 back is one too far.
        assert_eq!(at_every_cut(&mut keep, &past), too_far(12));
        let wire = [hello.clone(), again.clone(), past.clone()];
        assert_eq!(
            zlib_reference(&wire, false),
            vec![
                Ok(b"hello".to_vec()),
                Ok(b" hello".to_vec()),
                Err(TOO_FAR.to_string())
            ]
        );
        assert_eq!(
            zlib_reference(&wire[..2], true),
            vec![Ok(b"hello".to_vec()), Err(TOO_FAR.to_string())]
        );
        // The window is stale after the failure: the next message is
        // judged against unknown history, never inflated against it.
        assert!(keep.history_incomplete());
    }

    /// At the window's edge: one byte short of 32 KiB, a copy of 32 768
    /// fails and one of 32 767 does not; once the ring has wrapped (32 KiB
    /// decoded, in one message or across several) every distance is valid.
    #[test]
    fn the_edge_of_a_whole_window() {
        use Sym::*;
        let full = MAX_WINDOW;
        let short = fixed_block(&run_of(b'x', full - 1));
        let at = |d: u16| fixed_block(&[Copy(3, d)]);
        let mut inf = Inflater::new(false);
        assert_eq!(
            try_pieces(&mut inf, &short, &[]).map(|v| v.len()),
            Ok(full - 1)
        );
        assert_eq!(at_every_cut(&mut inf, &at(32768)), too_far(full - 1));

        let mut inf = Inflater::new(false);
        try_pieces(&mut inf, &short, &[]).unwrap();
        assert_eq!(
            at_every_cut(&mut inf, &at(32767)).as_deref(),
            Ok(&b"xxx"[..])
        );
        // That made 32 770 bytes: the ring wrapped.
        assert_eq!(
            at_every_cut(&mut inf, &at(32768)).as_deref(),
            Ok(&b"xxx"[..])
        );

        // Wrapping exactly at the end of a message, then a copy of the
        // window's first byte.
        let mut syms = vec![Lit(b'y')];
        syms.extend(run_of(b'x', full - 1));
        let exact = fixed_block(&syms);
        let mut inf = Inflater::new(false);
        try_pieces(&mut inf, &exact, &[]).unwrap();
        assert_eq!(
            at_every_cut(&mut inf, &at(32768)).as_deref(),
            Ok(&b"yxx"[..])
        );

        // Inside one message, across the wrap.
        let mut syms = run_of(b'z', full + 100);
        syms.push(Copy(258, 32768));
        let one = fixed_block(&syms);
        let got = try_pieces(&mut Inflater::new(true), &one, &[]).unwrap();
        assert_eq!(got.len(), full + 100 + 258);
        assert!(got.iter().all(|&b| b == b'z'));
        assert_eq!(
            zlib_reference(std::slice::from_ref(&one), true),
            vec![Ok(got)]
        );
        let mut syms = run_of(b'z', full - 10);
        syms.push(Copy(258, 32768));
        assert_eq!(
            try_pieces(&mut Inflater::new(true), &fixed_block(&syms), &[]),
            too_far(full - 10)
        );
    }

    /// A twin primed with a sentinel (unknown history) still takes any
    /// distance: the bytes it copies are reported unknown, not an error.
    #[test]
    fn unknown_history_still_takes_any_distance() {
        let mut inf = Inflater::mid_stream();
        let far = fixed_block(&[Sym::Lit(b'a'), Sym::Copy(3, 30000)]);
        let mut got = Vec::new();
        inf.start_message();
        inf.push(&far, u64::MAX, &mut |b| got.extend_from_slice(b))
            .unwrap();
        inf.finish_message(u64::MAX, &mut |b| got.extend_from_slice(b))
            .unwrap();
        assert_eq!(got, b"a");
        assert_eq!(inf.unknown_history().and_then(|u| u.unknown), Some((1, 3)));
    }

    /// The twin is dropped once a whole window of exact output followed
    /// the last unknown byte; until then it runs.
    #[test]
    fn twin_lives_until_the_window_is_whole() {
        let mut c = Compress::new(Compression::default(), false);
        let old = compress(&mut c, b"the history nobody captured");
        let _ = old;
        let uses_old = compress(&mut c, b"the history nobody captured, again");
        let mut inf = Inflater::mid_stream();
        assert!(
            inflate_checked(&mut inf, &uses_old, b"the history nobody captured, again").is_none()
        );
        assert!(inf.history_incomplete());
        // 40 KiB of fresh bytes: literals, all known.
        let fresh: Vec<u8> = (0..40_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let z = compress(&mut c, &fresh);
        assert_eq!(
            inflate_checked(&mut inf, &z, &fresh).as_deref(),
            Some(&fresh[..])
        );
        assert!(!inf.history_incomplete());
        let again = compress(&mut c, b"the history nobody captured");
        assert_eq!(
            inflate_checked(&mut inf, &again, b"the history nobody captured").as_deref(),
            Some(&b"the history nobody captured"[..])
        );
    }

    /// Without context takeover, a side decodes at once after loss.
    #[test]
    fn no_takeover_decodes_at_once() {
        let m = b"same same same same";
        let z = {
            let mut c = Compress::new(Compression::default(), false);
            compress(&mut c, m)
        };
        let mut inf = Inflater::new(true);
        inf.lose_history(HistoryLoss::Gap);
        assert_eq!(inflate_checked(&mut inf, &z, m).as_deref(), Some(&m[..]));
    }

    /// Corrupt messages in a row cost a bounded number of restarts: past
    /// the free ones, a message is not inflated until enough input passed.
    #[test]
    fn restarts_are_bounded() {
        let mut inf = Inflater::mid_stream();
        let mut skipped = 0;
        for _ in 0..100 {
            inf.start_message();
            let r = inf.push(&[0xff, 0xff, 0xff], 1 << 20, &mut |_| {});
            if inf.unknown_history().is_some_and(|u| u.unknown.is_none()) {
                skipped += 1;
            } else {
                assert!(r.is_err());
            }
        }
        assert_eq!(skipped, 100 - FREE_RESTARTS as usize);
    }

    #[test]
    fn params() {
        let p = DeflateParams::from_extensions(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
        )
        .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        assert_eq!(p.server_max_window_bits, Some(10));
        assert_eq!(
            DeflateParams::from_extensions("x-webkit-deflate-frame"),
            None
        );
    }
}
