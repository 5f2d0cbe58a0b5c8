//! Display filters from arbitrary text: parsed, type-checked and, when they
//! compile, evaluated on every message and control frame of two sample
//! captures (text, JSON, deflate, close codes, violations). No input may
//! panic; the parser's depth, set and regex caps keep each run bounded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wsinspect::model::Analysis;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::query::{DisplayFilter, Item, Subject};

fn samples() -> &'static [Analysis] {
    static A: OnceLock<Vec<Analysis>> = OnceLock::new();
    A.get_or_init(|| {
        let caps: [(&str, &[u8]); 2] = [
            ("close_codes", include_bytes!("../../captures/close_codes.pcapng")),
            ("deflate", include_bytes!("../../captures/deflate_takeover.pcap")),
        ];
        caps.iter()
            .filter_map(|(n, b)| {
                wsinspect::pipeline::analyze_reader(n, *b, Limits::default(), &mut NullSink).ok()
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let f = match DisplayFilter::parse(&src) {
        Ok(f) => f,
        Err(e) => {
            assert!(e.span.start <= e.span.end && e.span.end <= src.len());
            let _ = e.to_string();
            return;
        }
    };
    for a in samples() {
        let start = Some(a.start_ts);
        for c in &a.connections {
            for (i, m) in c.messages.iter().enumerate() {
                let _ = f.matches(&Subject::message(c, i, m, start));
            }
            for k in &c.control {
                let _ = f.matches(&Subject::new(c, Item::Control(k), start));
            }
        }
    }
});
