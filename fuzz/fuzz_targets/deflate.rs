//! permessage-deflate inflater over arbitrary compressed bytes: output per
//! message never passes the cap, no panic on corrupt input, and a message
//! whose window holds unknown history hands on exactly the bytes before its
//! first unknown one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::ws::deflate::{HistoryLoss, Inflater};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let cap = 64 * 1024;
    let mut inf = if ctl & 2 != 0 {
        Inflater::mid_stream()
    } else {
        Inflater::new(ctl & 1 == 0)
    };
    // Messages are separated by 0xFE; one starting with 0xFD follows lost
    // bytes.
    for msg in rest.split(|&b| b == 0xfe) {
        if msg.first() == Some(&0xfd) {
            inf.lose_history(HistoryLoss::Gap);
        }
        inf.start_message();
        let mut out = 0u64;
        let mut ok = true;
        for piece in msg.chunks(usize::from(ctl >> 2).max(1)) {
            if inf.push(piece, cap, &mut |b| out += b.len() as u64).is_err() {
                ok = false;
                break;
            }
        }
        if ok && inf.finish_message(cap, &mut |b| out += b.len() as u64).is_err() {
            ok = false;
        }
        assert!(out <= cap);
        if ok {
            match inf.unknown_history() {
                Some(u) => match u.unknown {
                    Some((first, n)) => {
                        assert_eq!(out, first);
                        assert!(n >= 1 && first + n <= inf.out_this_message());
                    }
                    None => assert_eq!(out, 0),
                },
                None => assert_eq!(out, inf.out_this_message()),
            }
        }
    }
});
