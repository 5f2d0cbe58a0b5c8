//! permessage-deflate inflater over arbitrary compressed bytes: output per
//! message never passes the cap, no panic on corrupt input, a message
//! whose window holds unknown history hands on exactly the bytes before its
//! first unknown one, and with a known history every message equals what
//! one long-lived flate2 decompressor makes of the whole stream (the
//! inflater puts its decompressor away between messages and rebuilds it).
#![no_main]
use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use wsinspect::ws::deflate::{HistoryLoss, InflateError, Inflater};

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
    let mut oracle = (ctl & 2 == 0).then(|| Decompress::new(false));
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
        if let Some(z) = oracle.as_mut() {
            if reset_each_message {
                // RFC 7692 §7.1.1: every message starts a new stream.
                *z = Decompress::new(false);
            }
            let want = reference(z, msg, cap as usize);
            match (&err, want) {
                (None, Some(w)) => assert_eq!(out, w, "differs from the long-lived decompressor"),
                (None, None) => panic!("the long-lived decompressor rejects a message we inflated"),
                (Some(InflateError::TooLarge(_)), _) => oracle = None,
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
