//! permessage-deflate inflater over arbitrary compressed bytes: output per
//! message never passes the cap, no panic on corrupt input, a message
//! whose window holds unknown history hands on exactly the bytes before its
//! first unknown one, and with a known history every message equals what
//! one long-lived flate2 decompressor makes of the whole stream (the
//! inflater puts its decompressor away between messages and rebuilds it),
//! except that a copy from before the window's first byte fails it; zlib
//! rejects every such message, and every message zlib rejects for that
//! reason ("invalid distance too far back") fails (flate2's miniz stream
//! copies zeros instead).
#![no_main]
use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use wsinspect::ws::deflate::{HistoryLoss, InflateError, Inflater};

/// zlib's reason for a copy from before the window's first byte.
const TOO_FAR: &str = "invalid distance too far back";
/// Ours, in the inflater's error.
const OURS_TOO_FAR: &str = "reaches before the window's first byte";

/// The reference's output for one message (with the sync-flush tail RFC
/// 7692 §7.2.2 appends), up to `cap` bytes; `None` when it rejects it.
fn reference(z: &mut Decompress, msg: &[u8], cap: usize) -> Option<Vec<u8>> {
    let input = [msg, &[0, 0, 0xff, 0xff]].concat();
    let mut got = Vec::new();
    let mut at = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        let (i, o) = (z.total_in(), z.total_out());
        let st = z
            .decompress(&input[at..], &mut buf, FlushDecompress::Sync)
            .ok()?;
        let used = (z.total_in() - i) as usize;
        let made = (z.total_out() - o) as usize;
        at += used;
        got.extend_from_slice(&buf[..made]);
        if st == Status::StreamEnd {
            *z = Decompress::new(false);
        }
        if (used == 0 && made == 0) || got.len() > cap {
            return Some(got);
        }
    }
}

/// zlib's verdict on one message (its sync-flush tail appended), up to
/// `cap` bytes: `Err` with its reason when it rejects it. Fed a byte at a
/// time: zlib-rs's fast path loses the reason ("repeated call with bad
/// state").
fn zlib(z: &mut zlib_rs::Inflate, msg: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    use zlib_rs::{Inflate, InflateFlush, Status};
    let input = [msg, &[0, 0, 0xff, 0xff]].concat();
    let mut got = Vec::new();
    let mut at = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        let (i, o) = (z.total_in(), z.total_out());
        let next = &input[at..input.len().min(at + 1)];
        let st = match z.decompress(next, &mut buf, InflateFlush::SyncFlush) {
            Ok(st) => st,
            Err(e) => return Err(z.error_message().unwrap_or(e.as_str()).to_string()),
        };
        let used = (z.total_in() - i) as usize;
        let made = (z.total_out() - o) as usize;
        at += used;
        got.extend_from_slice(&buf[..made]);
        if st == Status::StreamEnd {
            *z = Inflate::new(false, 15);
        }
        if (used == 0 && made == 0 && at == input.len()) || got.len() > cap {
            return Ok(got);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let cap = 64 * 1024;
    let reset_each_message = ctl & 1 == 0;
    let mut inf = if ctl & 2 != 0 {
        Inflater::mid_stream()
    } else {
        Inflater::new(reset_each_message)
    };
    // Compared while the history is known and both agree so far.
    let mut oracle =
        (ctl & 2 == 0).then(|| (Decompress::new(false), zlib_rs::Inflate::new(false, 15)));
    // Messages are separated by 0xFE; one starting with 0xFD follows lost
    // bytes.
    for msg in rest.split(|&b| b == 0xfe) {
        if msg.first() == Some(&0xfd) {
            inf.lose_history(HistoryLoss::Gap);
            oracle = None;
        }
        inf.start_message();
        let mut out = Vec::new();
        let mut err = None;
        for piece in msg.chunks(usize::from(ctl >> 2).max(1)) {
            if let Err(e) = inf.push(piece, cap, &mut |b| out.extend_from_slice(b)) {
                err = Some(e);
                break;
            }
        }
        if err.is_none()
            && let Err(e) = inf.finish_message(cap, &mut |b| out.extend_from_slice(b))
        {
            err = Some(e);
        }
        let out_len = out.len() as u64;
        assert!(out_len <= cap);
        if err.is_none() {
            match inf.unknown_history() {
                Some(u) => match u.unknown {
                    Some((first, n)) => {
                        assert_eq!(out_len, first);
                        assert!(n >= 1 && first + n <= inf.out_this_message());
                    }
                    None => assert_eq!(out_len, 0),
                },
                None => assert_eq!(out_len, inf.out_this_message()),
            }
        }
        if let Some((z, zl)) = oracle.as_mut() {
            if reset_each_message {
                // RFC 7692 §7.1.1: every message starts a new stream.
                *z = Decompress::new(false);
                *zl = zlib_rs::Inflate::new(false, 15);
            }
            let want = reference(z, msg, cap as usize);
            let zlib_says = zlib(zl, msg, cap as usize);
            let zlib_too_far = zlib_says.as_ref().err().is_some_and(|w| w == TOO_FAR);
            match (&err, want) {
                (None, _) if zlib_too_far => {
                    panic!("we inflated a message with a copy from before the window")
                }
                (None, Some(w)) => assert_eq!(out, w, "differs from the long-lived decompressor"),
                (None, None) => panic!("the long-lived decompressor rejects a message we inflated"),
                (Some(InflateError::TooLarge(_)), _) => oracle = None,
                (Some(InflateError::Corrupt(e)), _) if e.contains(OURS_TOO_FAR) => {
                    // zlib rejects it too; usually for the same reason, but
                    // it rejects some malformed Huffman tables miniz takes
                    // (incomplete codes), and may stop there first.
                    assert!(zlib_says.is_err(), "we find a copy from before the window, zlib inflates {zlib_says:?}");
                    // Without takeover the next message starts afresh in
                    // all three; with it, our window is now unknown.
                    if !reset_each_message {
                        oracle = None;
                    }
                }
                (Some(e), Some(w)) => {
                    panic!(
                        "we reject ({e:?}) a message the long-lived decompressor inflates to {} bytes",
                        w.len()
                    )
                }
                (Some(_), None) => oracle = None,
            }
        }
    }
});
