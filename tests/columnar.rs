//! Columnar export: every sample capture exported with `export-parquet`,
//! read back with the parquet crate and compared with the JSON report of the
//! same capture; DuckDB (python) reads the same directory and runs every
//! query of docs/columnar.md; PySpark (opt-in) distributes the export and
//! counts the same rows.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::OnceLock;
use wsinspect::analysis::NullSink;
use wsinspect::export::columnar::schema::{SCHEMA_VERSION, TABLES, VERSION_KEY};
use wsinspect::export::columnar::{self, ExportOptions};
use wsinspect::pipeline;
use wsinspect::tls::KeyLog;

const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `captures/*.pcap*`, sorted.
fn sample_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.starts_with("pcap"))
        })
        .collect();
    v.sort();
    assert!(v.len() >= 19, "sample captures missing: {v:?}");
    // Application messages, and RFC 8441 sessions (rows sharing their
    // TCP connection's id).
    v.push(root().join("captures/app/ocpp16.pcap"));
    v.push(root().join("captures/h2/h2c_wsproto.pcap"));
    // Socket.IO long-polling only (records in HTTP exchanges).
    v.push(root().join("captures/app/socketio_polling.pcap"));
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The export of every sample capture and its JSON reports, made once.
struct Fixture {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    reports_dir: PathBuf,
    reports: BTreeMap<String, Value>,
}

/// Analysis options for a sample capture: its key log when it has one.
fn options_for(capture: &Path) -> pipeline::Options {
    let mut opts = pipeline::Options::default();
    let keylog = capture.with_extension("keylog");
    if keylog.is_file() {
        let (keys, errors) = KeyLog::parse(&std::fs::read_to_string(keylog).unwrap());
        assert!(errors.is_empty());
        opts.keylog = Some(Arc::new(keys));
    }
    opts
}

/// The export is made through the library (the CLI is tested below): the
/// binary in a shared target directory may be rebuilt by another checkout
/// while these tests run.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let reports_dir = tmp.path().join("reports");
        std::fs::create_dir_all(&reports_dir).unwrap();
        let mut reports = BTreeMap::new();
        for c in sample_captures() {
            let path = c.to_str().unwrap();
            let opts = options_for(&c);
            columnar::export_path(path, &out, &opts, &ExportOptions::default()).unwrap();
            let analysis = pipeline::analyze_path_with(path, &opts, &mut NullSink).unwrap();
            let mut json = Vec::new();
            wsinspect::report::json::write(&analysis, &mut json).unwrap();
            std::fs::write(reports_dir.join(format!("{}.json", stem(&c))), &json).unwrap();
            reports.insert(stem(&c), serde_json::from_slice(&json).unwrap());
        }
        Fixture {
            _tmp: tmp,
            out,
            reports_dir,
            reports,
        }
    })
}

/// A Parquet file read back: its batches, and its rows as JSON objects
/// (timestamps as integer nanoseconds).
struct Read {
    schema: SchemaRef,
    rows: Vec<Map<String, Value>>,
    kv: BTreeMap<String, String>,
    row_groups: Vec<i64>,
}

fn read(path: &Path) -> Read {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let meta = b.metadata().clone();
    let kv = meta
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let row_groups = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    let schema = b.schema().clone();
    let batches: Vec<RecordBatch> = b.build().unwrap().map(|r| r.unwrap()).collect();
    let mut rows = Vec::new();
    for batch in &batches {
        for i in 0..batch.num_rows() {
            let mut row = Map::new();
            for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
                row.insert(f.name().clone(), cell(col.as_ref(), i));
            }
            rows.push(row);
        }
    }
    Read {
        schema,
        rows,
        kv,
        row_groups,
    }
}

fn cell(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Utf8 => json!(a.as_string::<i32>().value(i)),
        DataType::Int64 => json!(a.as_primitive::<Int64Type>().value(i)),
        DataType::Int32 => json!(a.as_primitive::<Int32Type>().value(i)),
        DataType::Boolean => json!(a.as_boolean().value(i)),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            json!(a.as_primitive::<TimestampNanosecondType>().value(i))
        }
        t => panic!("unexpected column type {t}"),
    }
}

fn table(t: &str, stem: &str) -> Read {
    read(&fixture().out.join(t).join(format!("{stem}.parquet")))
}

/// Rows of a per-connection table, ordered by (conn_id, stream_id, index),
/// the report's order (a connection, then its RFC 8441 sessions).
fn by_conn(r: &Read) -> Vec<&Map<String, Value>> {
    let mut v: Vec<&Map<String, Value>> = r.rows.iter().collect();
    v.sort_by_key(|r| {
        (
            r["conn_id"].as_i64().unwrap(),
            r.get("stream_id").and_then(Value::as_i64).unwrap_or(-1),
            r.get("index").and_then(Value::as_i64).unwrap_or(0),
        )
    });
    v
}

/// A JSON report timestamp (float seconds) against Parquet nanoseconds: the
/// float has ~0.25 µs of resolution at today's epoch.
fn same_time(json_secs: &Value, ns: &Value) -> bool {
    let s = json_secs.as_f64().unwrap();
    let n = ns.as_i64().unwrap();
    ((s * 1e9) - n as f64).abs() < 2_000.0
}

#[test]
fn every_table_matches_the_json_report() {
    let f = fixture();
    for (stem, rep) in &f.reports {
        let conns = rep["connections"].as_array().unwrap();

        let caps = table("captures", stem);
        assert_eq!(caps.rows.len(), 1, "{stem}");
        let c = &caps.rows[0];
        assert_eq!(c["capture"], rep["capture"], "{stem}");
        assert_eq!(c["packet_count"], rep["packet_count"], "{stem}");
        assert_eq!(c["link_type_dlt"], rep["link_type_dlt"], "{stem}");
        for k in [
            "messages",
            "control_frames",
            "violations",
            "tcp_connections",
        ] {
            assert_eq!(c[&format!("stats_{k}")], rep["stats"][k], "{stem} {k}");
        }
        assert!(same_time(&rep["start_ts"], &c["start_ts"]), "{stem}");

        let cr = table("connections", stem);
        let rows = by_conn(&cr);
        assert_eq!(rows.len(), conns.len(), "{stem} connections");
        for (row, jc) in rows.iter().zip(conns) {
            let id = &jc["id"];
            assert_eq!(row["conn_id"], *id, "{stem}");
            assert_eq!(row["capture"], rep["capture"]);
            for k in [
                "client",
                "server",
                "protocol",
                "is_websocket",
                "tcp_end",
                "close_initiator",
                "packets",
                "first_packet",
                "last_packet",
            ] {
                assert_eq!(row[k], jc[k], "{stem} conn {id} {k}");
            }
            for k in [
                "status",
                "accept_valid",
                "subprotocol",
                "extensions",
                "seen",
            ] {
                assert_eq!(
                    row[&format!("handshake_{k}")],
                    jc["handshake"][k],
                    "{stem} conn {id} handshake {k}"
                );
            }
            for d in ["c2s", "s2c"] {
                for k in ["messages", "payload_bytes", "tcp_bytes", "retransmissions"] {
                    assert_eq!(
                        row[&format!("stats_{d}_{k}")],
                        jc["stats"][d][k],
                        "{stem} conn {id} {d} {k}"
                    );
                }
            }
            assert_eq!(
                row["message_count"].as_u64().unwrap() as usize,
                jc["messages"].as_array().unwrap().len()
            );
            assert!(same_time(&jc["start_ts"], &row["start_ts"]), "{stem} {id}");
            assert!(same_time(&jc["end_ts"], &row["end_ts"]), "{stem} {id}");
            assert_eq!(row["has_tls"], json!(jc.get("tls").is_some()));
        }

        let want_msgs: Vec<(&Value, &Value)> = conns
            .iter()
            .flat_map(|c| {
                c["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| (&c["id"], m))
            })
            .collect();
        let mr = table("messages", stem);
        let msgs = by_conn(&mr);
        assert_eq!(msgs.len(), want_msgs.len(), "{stem} messages");
        for (row, (id, m)) in msgs.iter().zip(&want_msgs) {
            assert_eq!(row["conn_id"], **id);
            for k in [
                "dir",
                "opcode",
                "frames",
                "compressed",
                "payload_len",
                "wire_payload_len",
                "sha256",
                "utf8_valid",
                "complete",
                "first_packet",
                "last_packet",
            ] {
                assert_eq!(
                    row[k], m[k],
                    "{stem} conn {id} message {} {k}",
                    row["index"]
                );
            }
            assert!(same_time(&m["ts"], &row["ts"]));
            // `text` is the report's text cut at --text-bytes (1024).
            match (&row["text"], &m["text"]) {
                (Value::Null, Value::Null) => {}
                (Value::String(p), Value::String(j)) => {
                    assert!(j.starts_with(p.as_str()) && p.len() <= 1024, "{stem}");
                    let cut = p.len() < j.len();
                    assert_eq!(
                        row["text_truncated"],
                        json!(cut || m.get("text_truncated").is_some())
                    );
                }
                (p, j) => panic!("{stem}: text {p} vs {j}"),
            }
            assert_eq!(
                row["preview_hex"],
                m.get("preview_hex").cloned().unwrap_or(Value::Null)
            );
        }

        let want_ctl: Vec<&Value> = conns
            .iter()
            .flat_map(|c| c["control"].as_array().unwrap())
            .collect();
        let ctl = table("control_frames", stem);
        let ctl = by_conn(&ctl);
        assert_eq!(ctl.len(), want_ctl.len(), "{stem} control frames");
        for (row, c) in ctl.iter().zip(&want_ctl) {
            for k in [
                "dir",
                "opcode",
                "payload_len",
                "close_code",
                "close_reason",
                "packet",
                "payload_hex",
            ] {
                assert_eq!(row[k], c[k], "{stem} control {k}");
            }
        }

        let want_v: Vec<&Value> = conns
            .iter()
            .flat_map(|c| c["violation_details"].as_array().unwrap())
            .collect();
        let vr = table("violations", stem);
        let vs = by_conn(&vr);
        assert_eq!(vs.len(), want_v.len(), "{stem} violations");
        for (row, v) in vs.iter().zip(&want_v) {
            for k in ["kind", "dir", "packet", "detail"] {
                assert_eq!(row[k], v[k], "{stem} violation {k}");
            }
        }

        let want_a: Vec<&Value> = conns
            .iter()
            .flat_map(|c| c["anomalies"].as_array().unwrap())
            .collect();
        let ar = table("anomalies", stem);
        let an = by_conn(&ar);
        assert_eq!(an.len(), want_a.len(), "{stem} anomalies");
        for (row, a) in an.iter().zip(&want_a) {
            for k in ["kind", "dir", "packet", "detail"] {
                assert_eq!(row[k], a[k], "{stem} anomaly {k}");
            }
        }

        let tls_path = f.out.join("tls").join(format!("{stem}.parquet"));
        let want_tls: Vec<&Value> = conns.iter().filter_map(|c| c.get("tls")).collect();
        assert_eq!(tls_path.exists(), !want_tls.is_empty(), "{stem} tls file");
        if !want_tls.is_empty() {
            let tr = read(&tls_path);
            let tl = by_conn(&tr);
            assert_eq!(tl.len(), want_tls.len());
            for (row, t) in tl.iter().zip(&want_tls) {
                for k in [
                    "version",
                    "cipher_suite",
                    "decrypted",
                    "sni",
                    "alpn",
                    "reason",
                ] {
                    assert_eq!(row[k], t[k], "{stem} tls {k}");
                }
            }
        }
    }
}

#[test]
fn wss_captures_were_decrypted_and_have_known_values() {
    let tls = table("tls", "wss_tls13");
    assert_eq!(tls.rows.len(), 1);
    assert_eq!(tls.rows[0]["version"], "1.3");
    assert_eq!(tls.rows[0]["cipher_suite"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(tls.rows[0]["decrypted"], true);
    let tls = table("tls", "wss_tls12");
    assert_eq!(
        tls.rows[0]["cipher_suite"],
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    );
    // Known from the truth files: the seed echo's reply, its close code.
    let m = table("messages", "seed_echo");
    let texts: Vec<&Value> = m.rows.iter().map(|r| &r["text"]).collect();
    assert_eq!(texts[0], "123");
    let c = table("control_frames", "close_codes");
    let mut codes: Vec<i64> = c
        .rows
        .iter()
        .filter_map(|r| r["close_code"].as_i64())
        .collect();
    codes.sort();
    codes.dedup();
    for want in [1000, 1001, 1007, 1008, 1011, 3000, 4000] {
        assert!(codes.contains(&want), "close code {want} in {codes:?}");
    }
}

#[test]
fn files_carry_the_schema_version_and_nanosecond_utc_timestamps() {
    let f = fixture();
    for t in TABLES {
        let dir = f.out.join(t.name);
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // Every file is published (no temporary file is left behind).
        assert!(
            files
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "parquet")),
            "{files:?}"
        );
        let r = read(&files[0]);
        assert_eq!(
            r.kv.get(VERSION_KEY).map(String::as_str),
            Some(SCHEMA_VERSION)
        );
        assert_eq!(
            r.kv.get("wsinspect.table").map(String::as_str),
            Some(t.name)
        );
        let schema = &r.schema;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let want: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, want, "{}", t.name);
        for fl in schema.fields() {
            if fl.name() == "ts" || fl.name().ends_with("_ts") {
                assert_eq!(
                    fl.data_type(),
                    &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                    "{}.{}",
                    t.name,
                    fl.name()
                );
            }
        }
    }
}

#[test]
fn the_cli_writes_the_same_rows_and_finds_keylogs_beside_captures() {
    let tmp = tempfile::tempdir().unwrap();
    let caps = sample_captures();
    let o = Command::new(BIN)
        .arg("export-parquet")
        .arg(tmp.path())
        .args(&caps)
        .arg("--keylog-beside")
        .env_remove("SSLKEYLOGFILE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines().count(),
        caps.len(),
        "one line per capture: {err}"
    );
    let f = fixture();
    for t in TABLES {
        for c in &caps {
            let name = format!("{}.parquet", stem(c));
            let mine = tmp.path().join(t.name).join(&name);
            let lib = f.out.join(t.name).join(&name);
            assert_eq!(mine.exists(), lib.exists(), "{mine:?}");
            if lib.exists() {
                assert_eq!(read(&mine).rows, read(&lib).rows, "{mine:?}");
            }
        }
    }
}

#[test]
fn row_groups_are_bounded_and_text_is_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let caps = [
        root().join("captures/many_conns.pcap"),
        root().join("captures/sizes_py.pcap"),
    ];
    let o = Command::new(BIN)
        .arg("export-parquet")
        .arg(tmp.path())
        .args(&caps)
        .args(["--row-group-rows", "1000", "--text-bytes", "10"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = read(&tmp.path().join("messages/many_conns.parquet"));
    assert_eq!(m.rows.len(), 12_800);
    assert_eq!(m.row_groups.len(), 13, "{:?}", m.row_groups);
    assert!(m.row_groups.iter().all(|&n| n <= 1000));
    let s = read(&tmp.path().join("messages/sizes_py.parquet"));
    let mut cut = 0;
    for r in &s.rows {
        if let Value::String(t) = &r["text"] {
            assert!(t.len() <= 10);
            let full = r["payload_len"].as_i64().unwrap();
            assert_eq!(r["text_truncated"], json!(full > 10), "{r:?}");
            cut += usize::from(full > 10);
        }
    }
    assert!(cut > 0, "sizes_py has long text messages");
}

#[test]
fn same_stem_twice_and_stdin_are_refused_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("seed_echo.pcap");
    std::fs::copy(root().join("captures/seed_echo_binary_stop.pcap"), &a).unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(BIN)
        .arg("export-parquet")
        .arg(&out)
        .arg(root().join("captures/seed_echo.pcapng"))
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("seed_echo.parquet"));
    assert!(!out.exists());
    let o = Command::new(BIN)
        .args(["export-parquet"])
        .arg(&out)
        .arg("-")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn docs_describe_every_column() {
    let doc = std::fs::read_to_string(root().join("docs/columnar.md")).unwrap();
    for t in TABLES {
        assert!(
            doc.contains(&format!("### `{}`", t.name)),
            "table {}",
            t.name
        );
        for c in t.columns {
            let line = format!("| `{}` | {} |", c.name, c.kind.doc_name());
            assert!(
                doc.contains(&line),
                "docs/columnar.md lacks `{line}` ({})",
                t.name
            );
        }
    }
    assert!(doc.contains(&format!("schema version {SCHEMA_VERSION}")));
}

/// True when `python3 -c "import <module>"` works; otherwise says why the
/// test is skipped (or fails when WSINSPECT_REQUIRE_PYTHON_TESTS is set).
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("WSINSPECT_REQUIRE_PYTHON_TESTS").is_none(),
            "python3 module {module} is missing and WSINSPECT_REQUIRE_PYTHON_TESTS is set"
        );
        eprintln!(
            "NOTICE: skipping: python3 cannot import {module} (pip install {module}); \
             set WSINSPECT_REQUIRE_PYTHON_TESTS=1 to make this a failure"
        );
    }
    ok
}

#[test]
fn duckdb_reads_the_export_and_runs_the_documented_queries() {
    if !python_has("duckdb") {
        return;
    }
    let f = fixture();
    let o = Command::new("python3")
        .arg(root().join("tests/columnar_duckdb.py"))
        .arg(&f.out)
        .arg(&f.reports_dir)
        .arg(root().join("docs/columnar.md"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("duckdb: all checks passed"), "{out}");
}

#[test]
fn pyspark_distributes_the_export_and_counts_the_same_rows() {
    if std::env::var_os("WSINSPECT_SPARK_TESTS").is_none() {
        eprintln!(
            "NOTICE: skipping the PySpark test (starts a JVM, needs `pip install pyspark`); \
             set WSINSPECT_SPARK_TESTS=1 to run it"
        );
        return;
    }
    assert!(
        python_has("pyspark"),
        "WSINSPECT_SPARK_TESTS is set but pyspark is missing"
    );
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let spark_out = tmp.path().join("spark-out");
    let o = Command::new("python3")
        .arg(root().join("docs/spark_export.py"))
        .arg("--binary")
        .arg(BIN)
        .arg("--out")
        .arg(&spark_out)
        .arg("--master")
        .arg("local[2]")
        .arg("--check-reports")
        .arg(&f.reports_dir)
        .args(sample_captures())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("spark: counts match the JSON reports"),
        "{out}"
    );
}

#[test]
fn a_bad_capture_fails_alone_and_leaves_no_files() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("notes.pcap");
    std::fs::write(&bad, "not a capture at all\n").unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(BIN)
        .arg("export-parquet")
        .arg(&out)
        .arg(&bad)
        .arg(root().join("captures/seed_echo.pcapng"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("notes.pcap") && err.contains("1 of 2 captures not exported"),
        "{err}"
    );
    for t in ["captures", "connections", "messages", "control_frames"] {
        let names: Vec<String> = std::fs::read_dir(out.join(t))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        // The good capture is there; nothing of the bad one, not even a
        // temporary file.
        assert_eq!(names, ["seed_echo.parquet"], "{t}");
    }
}

#[test]
fn an_empty_capture_has_a_capture_row_and_empty_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.pcap");
    // A pcap global header (LINKTYPE_ETHERNET) and no packets.
    let mut h = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&empty, &h).unwrap();
    let out = tmp.path().join("out");
    let s = columnar::export_path(
        empty.to_str().unwrap(),
        &out,
        &pipeline::Options::default(),
        &ExportOptions::default(),
    )
    .unwrap();
    assert_eq!(s.capture, "empty.pcap");
    let caps = read(&out.join("captures/empty.parquet"));
    assert_eq!(caps.rows.len(), 1);
    assert_eq!(caps.rows[0]["packet_count"], 0);
    assert_eq!(caps.rows[0]["start_ts"], Value::Null);
    assert_eq!(read(&out.join("messages/empty.parquet")).rows.len(), 0);
    assert!(!out.join("tls/empty.parquet").exists());
}

#[test]
fn app_messages_rows_are_the_reports_records() {
    let f = fixture();
    let t = table("app_messages", "ocpp16");
    let conn = &f.reports["ocpp16"]["connections"][0];
    let want = conn["app_messages"].as_array().unwrap();
    assert_eq!(t.rows.len(), want.len());
    assert!(t.rows.len() >= 16);
    for (row, r) in t.rows.iter().zip(want) {
        assert_eq!(row["message_index"], r["index"]);
        assert_eq!(row["kind"], r["kind"]);
        assert_eq!(row["name"], r["name"]);
        assert_eq!(row["id"], r["id"]);
        assert_eq!(
            row["latency_ns"],
            r.get("latency_ns").cloned().unwrap_or(Value::Null)
        );
    }
    let c = table("connections", "ocpp16");
    assert_eq!(c.rows[0]["app_protocol"], "ocpp");
    // Three RFC 8441 sessions under one HTTP/2 connection.
    let h2 = table("connections", "h2c_wsproto");
    let streams: Vec<&Value> = h2.rows.iter().map(|r| &r["stream_id"]).collect();
    assert_eq!(streams, [&Value::Null, &json!(1), &json!(3), &json!(5)]);
    assert!(
        h2.rows[1..]
            .iter()
            .all(|r| r["transport"] == "h2" && r["conn_id"] == 1)
    );
}

/// Long-polling packets are rows too, after the WebSocket records, each
/// naming the HTTP exchange whose body carried it (issue 21).
#[test]
fn long_polling_packets_are_app_messages_rows() {
    let f = fixture();
    let t = table("app_messages", "socketio_polling");
    let report = &f.reports["socketio_polling"];
    let mut want = Vec::new();
    for c in report["connections"].as_array().unwrap() {
        for (i, x) in c["http_exchanges"].as_array().unwrap().iter().enumerate() {
            for side in ["request_app", "response_app"] {
                for r in x.get(side).and_then(Value::as_array).into_iter().flatten() {
                    want.push((c["id"].clone(), i, r["kind"].clone(), r["name"].clone()));
                }
            }
        }
    }
    assert!(want.len() >= 10, "{} polling records", want.len());
    let got: Vec<(Value, usize, Value, Value)> = t
        .rows
        .iter()
        .map(|r| {
            let x = r["http_exchange"].as_u64().expect("http_exchange set") as usize;
            (
                r["conn_id"].clone(),
                x,
                r["kind"].clone(),
                r["name"].clone(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let c = table("connections", "socketio_polling");
    let counted: u64 = c
        .rows
        .iter()
        .map(|r| r["app_message_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, want.len());
}
