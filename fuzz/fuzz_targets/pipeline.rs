//! The whole pipeline (capture → decode → TCP → HTTP → WebSocket → model)
//! over arbitrary bytes, three times:
//! - with digests computed as payloads stream and deferred to the consumer
//!   (`WsLimits::defer_digest`, as `report` runs): both models must
//!   serialize to the same report;
//! - streamed as NDJSON with finished connections dropped (as `report -f
//!   ndjson` runs): every violation and anomaly of the model must be an
//!   event of the stream with the same connection, kind and packet, and
//!   every message the model keeps must have been streamed (issue 18).
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;
use wsinspect::model::Analysis;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::pipeline::{Options, analyze_reader, analyze_reader_with};
use wsinspect::report::ndjson::NdjsonSink;

fn limits() -> Limits {
    Limits { max_live_flows: 64, ..Limits::default() }
}

fn model(data: &[u8], defer_digest: bool) -> Option<Analysis> {
    let mut limits = limits();
    limits.ws.defer_digest = defer_digest;
    analyze_reader("fuzz", data, limits, &mut NullSink).ok()
}

fn json(a: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    wsinspect::report::json::write(a, &mut out).expect("the model serialises");
    out
}

#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Findings = BTreeMap<(u64, String, String, u64), usize>;

fn finding(found: &mut Findings, conn: u64, what: &str, f: &Value) {
    let key = (
        conn,
        what.to_string(),
        f["kind"].as_str().unwrap_or_default().to_string(),
        f["packet"].as_u64().unwrap_or_default(),
    );
    *found.entry(key).or_default() += 1;
}

fn stream(data: &[u8]) -> Option<(Findings, BTreeMap<u64, usize>)> {
    let buf = Shared::default();
    let mut sink = NdjsonSink::new(buf.clone());
    let opts = Options { drop_finished: true, ..Options::with_limits(limits()) };
    let a = analyze_reader_with("fuzz", data, &opts, &mut sink).ok()?;
    sink.finish(&a);
    drop(sink);
    let text = buf.0.borrow().clone();
    let (mut found, mut messages) = (Findings::new(), BTreeMap::new());
    for line in String::from_utf8(text).expect("NDJSON is UTF-8").lines() {
        let v: Value = serde_json::from_str(line).expect("every line is JSON");
        let conn = v["conn"].as_u64().unwrap_or(0);
        match v["event"].as_str() {
            Some("violation") => finding(&mut found, conn, "violation", &v["violation"]),
            Some("anomaly") => finding(&mut found, conn, "anomaly", &v["anomaly"]),
            Some("message") => *messages.entry(conn).or_default() += 1,
            _ => {}
        }
    }
    Some((found, messages))
}

fuzz_target!(|data: &[u8]| {
    let streamed = model(data, false);
    let deferred = model(data, true);
    assert!(
        streamed.as_ref().map(json) == deferred.as_ref().map(json),
        "deferred digests change the report"
    );
    let (Some(m), Some((found, messages))) = (streamed, stream(data)) else {
        return;
    };
    for c in &m.connections {
        let id = u64::from(c.id);
        let mut want = Findings::new();
        for v in &c.violation_details {
            let v = serde_json::to_value(v).expect("serialises");
            finding(&mut want, id, "violation", &v);
        }
        for a in &c.anomalies {
            let a = serde_json::to_value(a).expect("serialises");
            finding(&mut want, id, "anomaly", &a);
        }
        for (k, n) in &want {
            assert_eq!(found.get(k), Some(n), "not streamed as its own event: {k:?}");
        }
        assert_eq!(
            messages.get(&id).copied().unwrap_or(0),
            c.messages.len(),
            "messages of connection {id} kept but not streamed"
        );
    }
});
