//! The output contract: the shipped JSON Schemas are the ones the code
//! generates, every JSON and NDJSON report of the sample captures validates
//! against them, and nanosecond timestamps survive into the JSON exactly.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::Timestamp;
use wsinspect::capture::reader::CaptureReader;
use wsinspect::capture::writer::{Endian, PcapngWriter};
use wsinspect::pipeline;
use wsinspect::report::contract::{SCHEMA_VERSION, SchemaKind, WSINSPECT_VERSION};
use wsinspect::report::json;
use wsinspect::report::ndjson::NdjsonSink;
use wsinspect::tls::KeyLog;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `docs/schema/` is what `wsinspect schema` prints: regenerate with
/// `wsinspect schema report > docs/schema/report.schema.json` (and ndjson).
#[test]
fn shipped_schemas_equal_the_generated_ones() {
    for kind in SchemaKind::ALL {
        let path = root().join("docs/schema").join(kind.file_name());
        let shipped = std::fs::read_to_string(&path).expect("shipped schema");
        assert!(
            shipped == kind.text(),
            "{} is stale: run `wsinspect schema {} > {}`",
            path.display(),
            format!("{kind:?}").to_lowercase(),
            path.display()
        );
    }
}

/// The schema with `additionalProperties: false` on every object that
/// lists its properties: a field the model writes but the schema does not
/// describe fails here (the shipped schema allows unknown fields, as the
/// versioning policy tells consumers to ignore them).
fn strict(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.contains_key("properties") && !o.contains_key("additionalProperties") {
                o.insert("additionalProperties".into(), Value::Bool(false));
            }
            o.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

fn validators(kind: SchemaKind) -> [jsonschema::Validator; 2] {
    let schema = kind.schema();
    let mut tight = schema.clone();
    strict(&mut tight);
    [schema, tight].map(|s| jsonschema::validator_for(&s).expect("a valid JSON Schema"))
}

fn check(validator: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

/// Every capture under `captures/`, in every folder (samples, extra,
/// tunnels, the adversarial corpus …), so that new corpora are covered.
fn samples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root().join("captures")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("captures") {
            let p = e.expect("entry").path();
            let name = p.to_string_lossy();
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn options(path: &Path) -> pipeline::Options {
    let mut opts = pipeline::Options::default();
    let keylog = path.with_extension("keylog");
    if let Ok(text) = std::fs::read_to_string(keylog) {
        opts.keylog = Some(Arc::new(KeyLog::parse(&text).0));
    }
    opts
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_json_report_of_the_samples_validates() {
    let validators = validators(SchemaKind::Report);
    let mut n = 0;
    for path in samples() {
        let name = path.to_string_lossy();
        let opts = options(&path);
        let a = pipeline::analyze_path_with(&name, &opts, &mut NullSink).expect("analyze");
        let mut out = Vec::new();
        json::write(&a, &mut out).expect("json");
        let doc: Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(doc["schema_version"], SCHEMA_VERSION);
        assert_eq!(doc["wsinspect_version"], WSINSPECT_VERSION);
        for v in &validators {
            check(v, &doc, &name);
        }
        n += 1;
    }
    assert!(n >= 19, "only {n} samples");
}

#[test]
fn every_ndjson_line_of_the_samples_validates() {
    let validators = validators(SchemaKind::Ndjson);
    let mut events = BTreeSet::new();
    for path in samples() {
        let name = path.to_string_lossy();
        let opts = options(&path);
        let buf = Shared::default();
        let mut sink = NdjsonSink::new(buf.clone());
        let a = pipeline::analyze_path_with(&name, &opts, &mut sink).expect("analyze");
        sink.finish(&a);
        drop(sink);
        let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines[0]["event"], "header", "{name}: header first");
        assert_eq!(lines[0]["schema_version"], SCHEMA_VERSION);
        assert_eq!(
            lines[lines.len() - 1]["event"],
            "capture",
            "{name}: summary last"
        );
        for (i, line) in lines.iter().enumerate() {
            events.insert(line["event"].as_str().unwrap_or("?").to_string());
            for v in &validators {
                check(v, line, &format!("{name} line {}", i + 1));
            }
        }
    }
    // Every event type was met (else the test would prove less than it says).
    for e in [
        "header",
        "handshake",
        "message",
        "control",
        "violation",
        "anomaly",
        "connection_end",
        "capture",
    ] {
        assert!(
            events.contains(e),
            "no `{e}` line in any sample: {events:?}"
        );
    }
}

/// A document that lacks a required field or has a wrong type fails: the
/// validation above can fail.
#[test]
fn a_broken_report_does_not_validate() {
    let [v, _] = validators(SchemaKind::Report);
    let path = root().join("captures/ping_pong.pcap");
    let a = pipeline::analyze_path(&path.to_string_lossy(), Limits::default(), &mut NullSink)
        .expect("analyze");
    let mut out = Vec::new();
    json::write(&a, &mut out).expect("json");
    let doc: Value = serde_json::from_slice(&out).expect("JSON");
    assert!(v.is_valid(&doc));
    let mut bad = doc.clone();
    bad["connections"][0]["messages"][0]["ts_ns"] = serde_json::json!(1.5);
    assert!(!v.is_valid(&bad));
    let mut bad = doc;
    bad["connections"][0]["messages"][0]
        .as_object_mut()
        .expect("message")
        .remove("opcode");
    assert!(!v.is_valid(&bad));
}

/// A sample's packets rewritten into a nanosecond-resolution pcapng, each
/// moved by a few nanoseconds: every `*_ts_ns` in the JSON is exactly one
/// of the written instants, including their sub-microsecond digits (the
/// float seconds cannot hold them).
#[test]
fn nanosecond_pcapng_keeps_its_nanoseconds_in_json() {
    let src = std::fs::read(root().join("captures/ping_pong.pcap")).expect("sample");
    let mut reader = CaptureReader::new(Cursor::new(src)).expect("reader");
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).expect("writer");
    let mut iface = None;
    let mut written = Vec::new();
    while let Some(p) = reader.next_packet().expect("packet") {
        let id = match iface {
            Some(id) => id,
            None => *iface.insert(w.add_interface(p.link, 65535, true).expect("idb")),
        };
        let ts = Timestamp(p.ts.0 + i128::from(p.number.0 * 137 % 1000));
        w.write_packet(id, ts, p.data, p.orig_len).expect("epb");
        written.push(ts.0);
    }
    let bytes = w.finish().expect("finish");
    let a = pipeline::analyze_reader(
        "ns.pcapng",
        Cursor::new(bytes),
        Limits::default(),
        &mut NullSink,
    )
    .expect("analyze");
    let mut out = Vec::new();
    json::write(&a, &mut out).expect("json");
    let doc: Value = serde_json::from_slice(&out).expect("JSON");

    let ns = |v: &Value| -> i128 {
        v.as_str()
            .expect("a string of digits")
            .parse()
            .expect("an integer")
    };
    assert_eq!(ns(&doc["start_ts_ns"]), written[0]);
    assert_eq!(ns(&doc["end_ts_ns"]), written[written.len() - 1]);
    let known: BTreeSet<i128> = written.iter().copied().collect();
    let mut seen = Vec::new();
    collect_ns(&doc, &mut seen);
    assert!(seen.len() > 20, "only {} timestamps", seen.len());
    for (key, t) in &seen {
        assert!(known.contains(t), "{key} = {t} is no packet's instant");
    }
    assert!(
        seen.iter().any(|(_, t)| t % 1000 != 0),
        "no sub-microsecond digits survived"
    );
    // Each float is the same instant (to its precision).
    let m = &doc["connections"][0]["messages"][0];
    let secs = m["ts"].as_f64().expect("ts");
    assert!((secs - ns(&m["ts_ns"]) as f64 / 1e9).abs() < 1e-5);
}

fn collect_ns(v: &Value, out: &mut Vec<(String, i128)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k.ends_with("_ns")
                    && let Some(s) = x.as_str()
                {
                    out.push((k.clone(), s.parse().expect("digits")));
                }
                collect_ns(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_ns(x, out)),
        _ => {}
    }
}
