//! The output contract: the shipped JSON Schemas are the ones the code
//! generates, every JSON and NDJSON output of the sample captures (reports,
//! stats, check, baselines, payload, message NDJSON) validates against
//! them, and nanosecond timestamps survive into the JSON exactly.

mod support;
use support as common;

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

/// `export --ndjson -` of every message of `path`.
fn exported_messages(path: &Path, opts: &pipeline::Options) -> Vec<u8> {
    let mut out = Vec::new();
    wsinspect::export::messages_to_ndjson(
        &path.to_string_lossy(),
        opts,
        Default::default(),
        None,
        &mut out,
    )
    .expect("export");
    out
}

fn samples() -> Vec<PathBuf> {
    common::all_captures()
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
    let (bytes, written) = nanosecond_pcapng();
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

/// The message NDJSON of `export --ndjson` keeps them too.
#[test]
fn nanosecond_pcapng_keeps_its_nanoseconds_in_exported_messages() {
    let (bytes, written) = nanosecond_pcapng();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ns.pcapng");
    std::fs::write(&path, bytes).expect("write");
    let out = exported_messages(&path, &Default::default());
    let known: BTreeSet<i128> = written.iter().copied().collect();
    let mut seen = Vec::new();
    for l in String::from_utf8(out).expect("utf-8").lines().skip(1) {
        collect_ns(&serde_json::from_str(l).expect("JSON"), &mut seen);
    }
    assert!(seen.len() >= 8, "only {} timestamps", seen.len());
    for (key, t) in &seen {
        assert!(known.contains(t), "{key} = {t} is no packet's instant");
    }
    assert!(seen.iter().any(|(_, t)| t % 1000 != 0));
}

/// `ping_pong.pcap` rewritten as a nanosecond pcapng, each packet moved by
/// a few nanoseconds; with the instants written.
fn nanosecond_pcapng() -> (Vec<u8>, Vec<i128>) {
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
    (w.finish().expect("finish"), written)
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

// ------------------------------------------------ the other JSON outputs

const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");

/// Runs the binary; its standard output (`check` exits 1 on a failed rule,
/// 2 on an unreadable baseline, and still writes its document).
fn run(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env_remove("SSLKEYLOGFILE")
        .output()
        .expect("run wsinspect");
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "wsinspect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The key log beside a capture, as `--keylog` arguments.
fn keylog_args(path: &Path) -> Vec<String> {
    let k = path.with_extension("keylog");
    if k.exists() {
        vec!["--keylog".into(), k.to_string_lossy().into_owned()]
    } else {
        vec![]
    }
}

/// A stamped document: this output's version and the tool's.
fn assert_stamped(doc: &Value, kind: SchemaKind, what: &str) {
    assert_eq!(doc["schema_version"], kind.version(), "{what}");
    assert_eq!(doc["wsinspect_version"], WSINSPECT_VERSION, "{what}");
}

#[test]
fn every_stats_document_of_the_samples_validates() {
    let validators = validators(SchemaKind::Stats);
    let mut rtts = 0;
    for path in samples() {
        let name = path.to_string_lossy();
        let a =
            pipeline::analyze_path_with(&name, &options(&path), &mut NullSink).expect("analyze");
        let r = wsinspect::stats::capture_stats(&a);
        rtts += r.rtt.answered;
        let mut out = Vec::new();
        wsinspect::stats::write_json(&r, &mut out).expect("json");
        let doc: Value = serde_json::from_slice(&out).expect("JSON");
        assert_stamped(&doc, SchemaKind::Stats, &name);
        for v in &validators {
            check(v, &doc, &name);
        }
    }
    assert!(rtts > 0, "no round trip in any sample");
}

/// `stats -T json` as the binary writes it is the document above.
#[test]
fn stats_cli_writes_the_stamped_document() {
    let path = root().join("captures/ping_pong.pcap");
    let doc: Value =
        serde_json::from_slice(&run(&["stats", "-T", "json", &path.to_string_lossy()]))
            .expect("JSON");
    assert_stamped(&doc, SchemaKind::Stats, "stats");
    for v in &validators(SchemaKind::Stats) {
        check(v, &doc, "stats");
    }
}

#[test]
fn every_baseline_of_the_samples_validates() {
    let validators = validators(SchemaKind::Baseline);
    for path in samples() {
        let name = path.to_string_lossy();
        let a =
            pipeline::analyze_path_with(&name, &options(&path), &mut NullSink).expect("analyze");
        let doc = wsinspect::check::baseline::baseline(&a);
        assert_stamped(&doc, SchemaKind::Baseline, &name);
        assert_eq!(doc["baseline_version"], 1);
        for v in &validators {
            check(v, &doc, &name);
        }
    }
    // And the committed ones, as written and read back.
    let mut n = 0;
    for e in std::fs::read_dir(root().join("captures/expected")).expect("expected") {
        let p = e.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("baseline");
        let doc = wsinspect::check::baseline::parse(&text).expect("a baseline");
        for v in &validators {
            check(v, &doc, &p.to_string_lossy());
        }
        n += 1;
    }
    assert!(n >= 19, "only {n} baselines");
}

/// A baseline written before the stamp (only `baseline_version: 1`) is
/// still read, and compares equal: the stamp is never compared.
#[test]
fn an_unstamped_baseline_still_compares() {
    use wsinspect::check::baseline::{DiffOptions, baseline, diff, parse};
    let path = root().join("captures/ping_pong.pcap");
    let a = pipeline::analyze_path(&path.to_string_lossy(), Limits::default(), &mut NullSink)
        .expect("analyze");
    let actual = baseline(&a);
    let mut old = actual.clone();
    let o = old.as_object_mut().expect("object");
    o.remove("schema_version");
    o.remove("wsinspect_version");
    let old = parse(&old.to_string()).expect("an old baseline reads");
    assert!(diff(&old, &actual, &DiffOptions::default()).is_empty());
    let mut other = actual.clone();
    other["wsinspect_version"] = "0.0.1".into();
    assert!(diff(&other, &actual, &DiffOptions::default()).is_empty());
}

#[test]
fn every_message_ndjson_line_of_the_samples_validates() {
    let validators = validators(SchemaKind::Messages);
    let (mut texts, mut binaries) = (0, 0);
    for path in samples() {
        let name = path.to_string_lossy();
        let out = exported_messages(&path, &options(&path));
        let lines: Vec<Value> = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines[0]["event"], "header", "{name}: header first");
        assert_stamped(&lines[0], SchemaKind::Messages, &name);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                assert_eq!(line["event"], "message", "{name} line {}", i + 1);
                texts += usize::from(line.get("text").is_some());
                binaries += usize::from(line.get("base64").is_some());
            }
            for v in &validators {
                check(v, line, &format!("{name} line {}", i + 1));
            }
        }
    }
    assert!(texts > 0 && binaries > 0, "{texts} text, {binaries} base64");
}

#[test]
fn a_broken_message_line_does_not_validate() {
    let [v, _] = validators(SchemaKind::Messages);
    let path = root().join("captures/ping_pong.pcap");
    let out = exported_messages(&path, &Default::default());
    let text = String::from_utf8(out).expect("utf-8");
    let line: Value = serde_json::from_str(text.lines().nth(1).expect("a message")).expect("JSON");
    assert!(v.is_valid(&line));
    let mut both = line.clone();
    both["base64"] = "AA==".into();
    assert!(!v.is_valid(&both), "text and base64 at once");
    let mut bad = line;
    bad["ts_ns"] = serde_json::json!(1.5);
    assert!(!v.is_valid(&bad));
}

#[test]
fn every_payload_document_of_the_samples_validates() {
    let validators = validators(SchemaKind::Payload);
    let (mut streams, mut listed) = (0, 0);
    for path in samples() {
        let name = path.to_string_lossy().into_owned();
        let keylog = keylog_args(&path);
        // Without a filter (the JSON messages), and with one that selects
        // every message (binary ones too).
        for filter in [None, Some("frame.number >= 1")] {
            let mut args: Vec<&str> = vec!["payload", "-T", "json"];
            args.extend(keylog.iter().map(String::as_str));
            if let Some(f) = filter {
                args.extend(["-Y", f]);
            }
            args.push(&name);
            let doc: Value = serde_json::from_slice(&run(&args)).expect("JSON");
            assert_stamped(&doc, SchemaKind::Payload, &name);
            streams += doc["flv_streams"].as_array().map_or(0, Vec::len);
            listed += doc["messages"].as_array().map_or(0, Vec::len);
            for v in &validators {
                check(v, &doc, &format!("{name} {filter:?}"));
            }
        }
    }
    assert!(
        streams > 0 && listed > 0,
        "{streams} FLV streams, {listed} messages"
    );
}

/// Every status of `check -T json` (pass, fail, error; each baseline
/// outcome) on the samples validates.
#[test]
fn check_documents_validate() {
    let validators = validators(SchemaKind::Check);
    let caps: Vec<String> = samples()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let keylogs = [
        "--keylog",
        "captures/wss_tls12.keylog",
        "--keylog",
        "captures/wss_tls13.keylog",
    ]
    .map(|k| {
        if k.starts_with("captures") {
            root().join(k).to_string_lossy().into_owned()
        } else {
            k.to_string()
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base");
    std::fs::create_dir(&base).expect("mkdir");
    for e in std::fs::read_dir(root().join("captures/expected")).expect("expected") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, base.join(p.file_name().expect("name"))).expect("copy");
    }
    // One baseline that differs, one that is not JSON.
    let ping = base.join("ping_pong.pcap.json");
    let text = std::fs::read_to_string(&ping).expect("baseline");
    std::fs::write(
        &ping,
        text.replacen("\"packet_count\": ", "\"packet_count\": 1", 1),
    )
    .expect("write");
    std::fs::write(base.join("close_codes.pcapng.json"), "{").expect("write");
    let fresh = dir.path().join("fresh");
    let base_s = base.to_string_lossy().into_owned();
    let fresh_s = fresh.to_string_lossy().into_owned();
    let runs: [Vec<&str>; 3] = [
        vec![
            "--deny",
            "violations",
            "--deny",
            "loss",
            "--deny",
            "abnormal-close",
        ],
        vec!["--baseline", &base_s],
        vec!["--baseline", &fresh_s, "--update"],
    ];
    let mut seen = BTreeSet::new();
    for extra in &runs {
        let mut args = vec!["check", "-T", "json"];
        args.extend(keylogs.iter().map(String::as_str));
        args.extend(extra.iter().copied());
        args.extend(caps.iter().map(String::as_str));
        let doc: Value = serde_json::from_slice(&run(&args)).expect("JSON");
        assert_stamped(&doc, SchemaKind::Check, "check");
        for v in &validators {
            check(v, &doc, &format!("check {extra:?}"));
        }
        for c in doc["captures"].as_array().expect("captures") {
            seen.insert(format!("capture {}", c["status"]));
            seen.insert(format!("baseline {}", c["baseline"]["status"]));
        }
    }
    for s in [
        "capture \"pass\"",
        "capture \"fail\"",
        "capture \"error\"",
        "baseline \"not_checked\"",
        "baseline \"matches\"",
        "baseline \"differs\"",
        "baseline \"written\"",
        "baseline \"error\"",
    ] {
        assert!(seen.contains(s), "no {s} in {seen:?}");
    }
}
