//! Capture reader over arbitrary bytes: never panics, never loops forever,
//! never allocates past `MAX_BLOCK_BYTES` (plus the initial buffer).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsinspect::capture::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = CaptureReader::new(data) else {
        return;
    };
    let mut n = 0u64;
    while let Ok(Some(p)) = r.next_packet() {
        n += 1;
        // Every packet is at least as long as its header said it was cut to.
        assert!(p.data.len() <= data.len());
        // Each packet consumes at least one record header of the input.
        assert!(n <= data.len() as u64);
    }
    let _ = r.anomalies();
});
