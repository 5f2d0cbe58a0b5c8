//! permessage-deflate (RFC 7692): parameters and a bounded inflater.
//!
//! One raw-deflate context per direction. With context takeover the LZ77
//! window is kept across messages; with `*_no_context_takeover` the context
//! is reset at every message, which also lets decoding recover after a gap.
//! A decoder with a 32 KiB window decodes streams made with any smaller
//! `max_window_bits`, so window bits need no special handling.

use flate2::{Decompress, FlushDecompress, Status};

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

/// Output handed on per inflate call. Every live compressed direction owns
/// one, so it is kept small (the 32 KiB window lives in the inflate state).
const OUT_CHUNK: usize = 8 * 1024;

/// Decompressed bytes per message before the ratio guard applies: small
/// messages may compress very well (or refer to an earlier message's
/// window) without being bombs.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// Inflates messages of one direction.
pub struct Inflater {
    z: Decompress,
    reset_each_message: bool,
    /// The context lost bytes (gap): later messages that refer to the
    /// window cannot be decoded until a reset.
    poisoned: bool,
    /// `poisoned` because a message was stopped at a cap.
    poisoned_by_cap: bool,
    out_this_message: u64,
    /// Compressed bytes consumed for the current message.
    in_this_message: u64,
    /// Largest output/input ratio past [`RATIO_FLOOR`]; 0 turns it off.
    max_ratio: u64,
    buf: Box<[u8; OUT_CHUNK]>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each_message", &self.reset_each_message)
            .finish()
    }
}

impl Inflater {
    /// `reset_each_message`: the sender does not take over its context.
    pub fn new(reset_each_message: bool) -> Self {
        Inflater {
            z: Decompress::new(false),
            reset_each_message,
            poisoned: false,
            poisoned_by_cap: false,
            out_this_message: 0,
            in_this_message: 0,
            max_ratio: 0,
            buf: Box::new([0; OUT_CHUNK]),
        }
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
        if self.reset_each_message {
            self.z.reset(false);
            self.poisoned = false;
            self.poisoned_by_cap = false;
        }
        self.out_this_message = 0;
        self.in_this_message = 0;
    }

    /// Bytes of the stream were lost: the shared window is unreliable.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Inflating stopped at a cap mid-message: the window (and the
    /// decompressor's state) no longer follow the sender's, so messages
    /// that take over the context cannot be decoded either.
    pub fn poison_after_cap(&mut self) {
        self.poisoned = true;
        self.poisoned_by_cap = true;
    }

    /// True when the poisoning came from a cap, not from lost bytes.
    pub fn poisoned_by_cap(&self) -> bool {
        self.poisoned_by_cap
    }

    /// True when the window is known to be incomplete.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Inflates `input`, handing output to `out`; at most `cap` bytes of
    /// output per message.
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
        mut input: &[u8],
        flush: FlushDecompress,
        cap: u64,
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        loop {
            let before_in = self.z.total_in();
            let before_out = self.z.total_out();
            let status = self
                .z
                .decompress(input, &mut self.buf[..], flush)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            let used = self.z.total_in().saturating_sub(before_in) as usize;
            let produced = self.z.total_out().saturating_sub(before_out) as usize;
            input = input.get(used..).unwrap_or_default();
            self.in_this_message = self.in_this_message.saturating_add(used as u64);
            if produced > 0 {
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
                out(self.buf.get(..produced).unwrap_or_default());
            }
            let stalled = used == 0 && produced == 0;
            if matches!(status, Status::StreamEnd) {
                // A final block (BFINAL) ends the deflate stream; a new one
                // may follow in the next message (RFC 7692 §7.2.3.3).
                self.z.reset(false);
                if input.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if stalled || (input.is_empty() && produced < self.buf.len()) {
                return Ok(());
            }
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
