//! permessage-deflate inflater over arbitrary compressed bytes: output per
//! message never passes the cap, no panic on corrupt input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::ws::deflate::Inflater;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let cap = 64 * 1024;
    let mut inf = Inflater::new(ctl & 1 == 0);
    // Messages are separated by 0xFF 0xFE.
    for msg in rest.split(|&b| b == 0xfe) {
        inf.start_message();
        let mut out = 0u64;
        let mut ok = true;
        for piece in msg.chunks(usize::from(ctl >> 1).max(1)) {
            if inf.push(piece, cap, &mut |b| out += b.len() as u64).is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            let _ = inf.finish_message(cap, &mut |b| out += b.len() as u64);
        }
        assert!(out <= cap);
    }
});
