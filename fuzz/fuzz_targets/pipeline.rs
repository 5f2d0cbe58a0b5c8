//! The whole pipeline (capture → decode → TCP → HTTP → WebSocket → model)
//! over arbitrary bytes, twice: with digests computed as payloads stream
//! and deferred to the consumer (`WsLimits::defer_digest`, as `report`
//! runs); both models must serialize to the same report.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline::analyze_reader;

fn report(data: &[u8], defer_digest: bool) -> Option<Vec<u8>> {
    let mut limits = Limits { max_live_flows: 64, ..Limits::default() };
    limits.ws.defer_digest = defer_digest;
    let a = analyze_reader("fuzz", data, limits, &mut NullSink).ok()?;
    let mut out = Vec::new();
    wsinspect::report::json::write(&a, &mut out).expect("the model serialises");
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let streamed = report(data, false);
    let deferred = report(data, true);
    assert!(streamed == deferred, "deferred digests change the report");
});
