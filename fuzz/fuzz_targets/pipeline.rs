//! The whole pipeline (capture → decode → TCP → HTTP → WebSocket → model)
//! over arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline::analyze_reader;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_live_flows: 64, ..Limits::default() };
    let mut sink = NullSink;
    if let Ok(a) = analyze_reader("fuzz", data, limits, &mut sink) {
        // The model serialises (the reports depend on it).
        let mut out = Vec::new();
        wsinspect::report::json::write(&a, &mut out).expect("the model serialises");
    }
});
