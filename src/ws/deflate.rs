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
//! both start from a stored (uncompressed, non-final) deflate block of
//! 32 KiB of a sentinel byte, `0x00` for one and `0xFF` for the other, and
//! are fed the same compressed bytes. Huffman decoding and match lengths
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

use flate2::{Decompress, FlushDecompress, Status};

/// Farthest a deflate copy reaches back (RFC 1951 §3.2.5).
pub const MAX_WINDOW: usize = 32 * 1024;

/// A stored block header (RFC 1951 §3.2.4): BFINAL 0, BTYPE 00, then
/// LEN = 32768 and NLEN, little-endian. The 32 KiB that follow fill the
/// window with a sentinel.
const PRIME_HEADER: [u8; 5] = [0x00, 0x00, 0x80, 0xff, 0x7f];
static FILL_00: [u8; MAX_WINDOW] = [0x00; MAX_WINDOW];
static FILL_FF: [u8; MAX_WINDOW] = [0xff; MAX_WINDOW];

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

/// Output handed on per inflate call. Every live compressed direction owns
/// one, so it is kept small (the 32 KiB window lives in the inflate state).
const OUT_CHUNK: usize = 8 * 1024;

/// Decompressed bytes per message before the ratio guard applies: small
/// messages may compress very well (or refer to an earlier message's
/// window) without being bombs.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// One raw-deflate decompressor with its output buffer.
struct Lane {
    z: Decompress,
    buf: Box<[u8; OUT_CHUNK]>,
}

impl Lane {
    fn new() -> Self {
        Lane {
            z: Decompress::new(false),
            buf: Box::new([0; OUT_CHUNK]),
        }
    }

    /// One decompress call: (input used, output produced, status).
    fn step(
        &mut self,
        input: &[u8],
        flush: FlushDecompress,
    ) -> Result<(usize, usize, Status), InflateError> {
        let before_in = self.z.total_in();
        let before_out = self.z.total_out();
        let status = self
            .z
            .decompress(input, &mut self.buf[..], flush)
            .map_err(|e| InflateError::Corrupt(e.to_string()))?;
        let used = self.z.total_in().saturating_sub(before_in) as usize;
        let produced = self.z.total_out().saturating_sub(before_out) as usize;
        Ok((used, produced, status))
    }

    /// A fresh stream whose window is 32 KiB of `fill`.
    fn prime(&mut self, fill: &'static [u8; MAX_WINDOW]) {
        self.z.reset(false);
        for mut input in [&PRIME_HEADER[..], &fill[..]] {
            // Until the input is used up and no output is pending: the
            // priming bytes must not reach the first message.
            while let Ok((used, produced, _)) = self.step(input, FlushDecompress::None) {
                input = &input[used..];
                if used == 0 && produced == 0 {
                    break;
                }
            }
        }
    }
}

/// Inflates messages of one direction.
pub struct Inflater {
    main: Lane,
    /// Runs while the window holds unknown bytes: primed with the other
    /// sentinel, it tells copied unknown bytes from known ones.
    twin: Option<Box<Lane>>,
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
            main: Lane::new(),
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
            self.main.z.reset(false);
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
        self.main.prime(&FILL_00);
        self.twin
            .get_or_insert_with(|| Box::new(Lane::new()))
            .prime(&FILL_FF);
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
        self.run(input, FlushDecompress::None, cap, out)
    }

    /// Ends a message: RFC 7692 §7.2.2 removed the trailing `00 00 ff ff`
    /// of the sync flush; append it back.
    pub fn finish_message(
        &mut self,
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        self.run(&[0x00, 0x00, 0xff, 0xff], FlushDecompress::Sync, cap, out)
    }

    fn run(
        &mut self,
        input: &[u8],
        flush: FlushDecompress,
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        if self.skipping {
            self.in_since_restart = self.in_since_restart.saturating_add(input.len() as u64);
            return Ok(());
        }
        let r = self.run_lanes(input, flush, cap, out);
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
        flush: FlushDecompress,
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        loop {
            let (used, produced, status) = self.main.step(input, flush)?;
            if let Some(twin) = self.twin.as_mut()
                && twin.step(input, flush)? != (used, produced, status)
            {
                return Err(InflateError::Corrupt(
                    "the two inflaters of an incomplete window disagree".into(),
                ));
            }
            input = input.get(used..).unwrap_or_default();
            self.in_this_message = self.in_this_message.saturating_add(used as u64);
            self.in_since_restart = self.in_since_restart.saturating_add(used as u64);
            if produced > 0 {
                let start = self.out_this_message;
                self.out_this_message = self.out_this_message.saturating_add(produced as u64);
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
                self.hand_on(start, produced, out);
            }
            let stalled = used == 0 && produced == 0;
            if matches!(status, Status::StreamEnd) {
                // A final block (BFINAL) ends the deflate stream; a new one,
                // with an empty (so known) window, may follow in the next
                // message (RFC 7692 §7.2.3.3).
                self.main.z.reset(false);
                self.twin = None;
                if input.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if stalled || (input.is_empty() && produced < OUT_CHUNK) {
                return Ok(());
            }
        }
    }

    /// Hands on the exact part of `produced` new bytes (at message offset
    /// `start`), comparing them with the twin's while it runs.
    fn hand_on(&mut self, start: u64, produced: usize, out: &mut impl FnMut(&[u8])) {
        let mine = self.main.buf.get(..produced).unwrap_or_default();
        let Some(twin) = self.twin.as_ref() else {
            if self.first_unknown.is_none() {
                out(mine);
            }
            return;
        };
        let theirs = twin.buf.get(..produced).unwrap_or_default();
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
