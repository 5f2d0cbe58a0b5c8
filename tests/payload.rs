//! Payload insight and export, end to end on the sample captures: FLV
//! decoding and byte-exact export, the `--where` filter, message exports,
//! pcapng export re-read by wsinspect, and `stats`.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::payload::{PayloadCollector, Selection, WholeMessage};
use wsinspect::pipeline;

const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");

fn cap(name: &str) -> String {
    format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run wsinspect");
    assert!(
        out.status.success(),
        "wsinspect {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn run_json(args: &[&str]) -> Value {
    serde_json::from_slice(&run(args)).expect("JSON output")
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn messages(report: &Value) -> Vec<&Value> {
    report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["messages"].as_array().unwrap())
        .collect()
}

/// Independent FLV walk over the source file: (type, timestamp) of every
/// whole tag that ends within `limit` bytes.
fn source_tags(flv: &[u8], limit: usize) -> Vec<(u8, u32)> {
    assert_eq!(&flv[..3], b"FLV");
    let mut at = u32::from_be_bytes(flv[5..9].try_into().unwrap()) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= limit {
        let h = &flv[at..at + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let end = at + 11 + size + 4;
        if end > limit {
            break;
        }
        tags.push((h[0] & 0x1f, ts));
        at = end;
    }
    tags
}

#[test]
fn flv_export_is_a_byte_exact_prefix_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.flv");
    run(&[
        "export",
        "--conn",
        "1",
        "--dir",
        "s2c",
        "--flv",
        out.to_str().unwrap(),
        &cap("flv_stream.pcap"),
    ]);
    let exported = std::fs::read(&out).unwrap();
    let source = std::fs::read(cap("flv_stream.source.flv")).unwrap();
    // Every s2c payload byte was sent from the source, in order.
    let report = run_json(&["report", "--format", "json", &cap("flv_stream.pcap")]);
    let s2c: Vec<&Value> = messages(&report)
        .into_iter()
        .filter(|m| m["dir"] == "s2c")
        .collect();
    let sent: u64 = s2c.iter().map(|m| m["payload_len"].as_u64().unwrap()).sum();
    assert!(sent > 1000 && (sent as usize) < source.len());
    assert_eq!(exported.len() as u64, sent);
    assert_eq!(exported[..], source[..exported.len()]);

    // Tags decoded by wsinspect = tags of the source prefix, parsed here.
    let expected = source_tags(&source, exported.len());
    assert_eq!(
        expected.len(),
        s2c.len() - 1,
        "one tag per message after the header"
    );
    let insight = run_json(&["payload", "--format", "json", &cap("flv_stream.pcap")]);
    let streams = insight["flv_streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    let st = &streams[0];
    assert_eq!(st["conn"], 1);
    assert_eq!(st["dir"], "s2c");
    assert_eq!(st["header"]["has_audio"], true);
    assert_eq!(st["header"]["has_video"], true);
    let tags = st["tags"].as_array().unwrap();
    let got: Vec<(u8, u32)> = tags
        .iter()
        .map(|t| {
            let kind = match t["kind"].as_str().unwrap() {
                "audio" => 8,
                "video" => 9,
                "script" => 18,
                other => panic!("unexpected tag kind {other}"),
            };
            (kind, t["timestamp_ms"].as_u64().unwrap() as u32)
        })
        .collect();
    assert_eq!(got, expected);
    // The client closed after the first tag at >= 3000 ms (truth notes).
    let last = expected.last().unwrap().1;
    assert!(last >= 3000 && expected[..expected.len() - 1].iter().all(|t| t.1 < 3000));
    let video = expected.iter().filter(|t| t.0 == 9).count() as u64;
    assert_eq!(st["stats"]["video_tags"].as_u64().unwrap(), video);
    assert_eq!(st["metadata"]["width"], 160);
    assert_eq!(st["metadata"]["height"], 120);
    assert_eq!(st["metadata"]["videocodecid"], 7);
    assert!(st["problems"].as_array().unwrap().is_empty());
    let seq = tags
        .iter()
        .filter(|t| t["video"]["sequence_header"] == true || t["audio"]["sequence_header"] == true)
        .count();
    assert_eq!(seq, 2, "one AVC and one AAC sequence header");
    let fps = st["stats"]["video_fps"].as_f64().unwrap();
    assert!((fps - 15.0).abs() < 0.5, "testsrc is 15 fps, got {fps}");
}

/// The payload hook hands out exactly the bytes the model hashed, for
/// plain, fragmented, multi-segment and deflated messages, and does not
/// change the analysis.
#[test]
fn payload_hook_matches_the_model_hashes() {
    for name in [
        "fragmented_node.pcapng",
        "deflate_takeover.pcap",
        "deflate_no_takeover.pcap",
        "node_ws_echo.pcapng",
        "lossy_netns.pcap",
    ] {
        let mut seen = 0usize;
        let mut bad = Vec::new();
        let mut c = PayloadCollector::new(Selection::default(), |_, m: WholeMessage<'_>| {
            seen += 1;
            if let Some(h) = &m.msg.sha256
                && (*h != *sha256_hex(m.payload)
                    || Some(m.payload.len() as u64) != m.msg.payload_len)
            {
                bad.push((m.conn_id, m.index));
            }
        });
        let with = pipeline::analyze_path(&cap(name), Limits::default(), &mut c).unwrap();
        drop(c);
        let without = pipeline::analyze_path(&cap(name), Limits::default(), &mut NullSink).unwrap();
        assert_eq!(with, without, "{name}: the hook changed the analysis");
        let total: usize = with.connections.iter().map(|c| c.messages.len()).sum();
        assert_eq!(seen, total, "{name}");
        assert!(total > 0);
        assert!(bad.is_empty(), "{name}: payload differs for {bad:?}");
    }
}

fn count_where(report: &Value, pred: impl Fn(&Value, Option<&Value>) -> bool) -> usize {
    messages(report)
        .into_iter()
        .filter(|m| {
            let j = m["text"]
                .as_str()
                .and_then(|t| serde_json::from_str::<Value>(t).ok());
            pred(m, j.as_ref())
        })
        .count()
}

#[test]
fn where_filter_on_many_conns_chat() {
    let path = cap("many_conns.pcap");
    let full = run_json(&["report", "--format", "json", &path]);
    let expected = count_where(&full, |m, j| {
        m["dir"] == "c2s"
            && j.is_some_and(|j| j["type"] == "say" && j["n"].as_f64().is_some_and(|n| n < 3.0))
    });
    let total = messages(&full).len();
    assert!(expected > 0 && expected < total);
    let expr = r#"json.type == "say" and json.n < 3 and dir == "c2s""#;
    let filtered = run_json(&["report", "--format", "json", "--where", expr, &path]);
    assert_eq!(messages(&filtered).len(), expected);
    let insight = run_json(&["payload", "--format", "json", "--where", expr, &path]);
    assert_eq!(insight["matched"].as_u64().unwrap() as usize, expected);
    // The same in the display-filter language.
    let display = r#"json.type == "say" && json.n < 3 && ws.dir == "c2s""#;
    for sub in ["report", "payload"] {
        let v = run_json(&[sub, "--format", "json", "-Y", display, &path]);
        let n = match sub {
            "report" => messages(&v).len(),
            _ => v["matched"].as_u64().unwrap() as usize,
        };
        assert_eq!(n, expected, "{sub} -Y");
    }

    let expected_rooms = count_where(&full, |_, j| j.is_some_and(|j| j["type"] == "room-full"));
    let ndjson = run(&[
        "report",
        "--format",
        "ndjson",
        "--where",
        "json.type == 'room-full'",
        &path,
    ]);
    let lines = String::from_utf8(ndjson).unwrap();
    let got = lines
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["event"] == "message")
        .count();
    assert_eq!(got, expected_rooms);
    assert!(got > 0);
}

#[test]
fn where_filter_on_node_ws_echo() {
    let path = cap("node_ws_echo.pcapng");
    let full = run_json(&["report", "--format", "json", &path]);
    let expected = count_where(&full, |m, _| {
        m["opcode"] == "text"
            && m["text"].as_str().is_some_and(|t| t.contains("dolor"))
            && m["payload_len"].as_u64().is_some_and(|n| n > 1000)
    });
    assert!(expected > 0);
    let filtered = run_json(&[
        "report",
        "--format",
        "json",
        "--where",
        r#"opcode == "text" and text contains "dolor" and len > 1000"#,
        &path,
    ]);
    assert_eq!(messages(&filtered).len(), expected);
    let bad = Command::new(BIN)
        .args(["report", "--where", "json.a ==", &path])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    // The error points at the offending character, as tshark -Y does.
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("    json.a ==\n             ^"), "{err}");
}

#[test]
fn ndjson_and_files_export_carry_whole_payloads() {
    let path = cap("node_ws_echo.pcapng");
    let report = run_json(&["report", "--format", "json", &path]);
    let conn = &report["connections"][0];
    let id = conn["id"].to_string();
    let want: Vec<(String, String)> = conn["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["dir"] == "s2c")
        .map(|m| {
            (
                m["opcode"].as_str().unwrap().to_string(),
                m["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(want.len() > 10);
    let out = run(&[
        "export", "--conn", &id, "--dir", "s2c", "--ndjson", "-", &path,
    ]);
    let got: Vec<(String, String)> = String::from_utf8(out)
        .unwrap()
        .lines()
        .skip(1) // the header line
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let bytes = match v["text"].as_str() {
                Some(t) => t.as_bytes().to_vec(),
                None => base64::engine::general_purpose::STANDARD
                    .decode(v["base64"].as_str().unwrap())
                    .unwrap(),
            };
            assert_eq!(v["payload_len"].as_u64().unwrap() as usize, bytes.len());
            (
                v["opcode"].as_str().unwrap().to_string(),
                sha256_hex(&bytes),
            )
        })
        .collect();
    assert_eq!(got, want);

    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("msgs");
    run(&[
        "export",
        "--conn",
        &id,
        "--dir",
        "s2c",
        "--files",
        files.to_str().unwrap(),
        &path,
    ]);
    let mut names: Vec<_> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let hashes: Vec<(String, String)> = names
        .iter()
        .map(|p| {
            let kind = if p.extension().unwrap() == "txt" {
                "text"
            } else {
                "binary"
            };
            (kind.to_string(), sha256_hex(&std::fs::read(p).unwrap()))
        })
        .collect();
    assert_eq!(hashes, want);
}

fn conn_digest(c: &Value) -> Value {
    let msgs: Vec<Value> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            serde_json::json!([
                m["dir"],
                m["opcode"],
                m["payload_len"],
                m["sha256"],
                m["complete"]
            ])
        })
        .collect();
    let ctl: Vec<Value> = c["control"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| serde_json::json!([f["dir"], f["opcode"], f["close_code"]]))
        .collect();
    serde_json::json!({
        "client": c["client"], "server": c["server"], "packets": c["packets"],
        "handshake": c["handshake"]["sec_websocket_key"], "status": c["handshake"]["status"],
        "messages": msgs, "control": ctl, "violations": c["violations"], "tcp_end": c["tcp_end"],
    })
}

fn pcapng_roundtrip(name: &str, ids: &[u64]) {
    let path = cap(name);
    let original = run_json(&["report", "--format", "json", &path]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("repro.pcapng");
    let mut args = vec!["export".to_string()];
    for id in ids {
        args.extend(["--conn".to_string(), id.to_string()]);
    }
    args.extend(["--pcapng".into(), out.display().to_string(), path.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args);
    let again = run_json(&["report", "--format", "json", out.to_str().unwrap()]);
    assert_eq!(again["format"], "pcapng");
    assert_eq!(again["link_type_dlt"], original["link_type_dlt"]);
    let pick = |r: &Value| -> Vec<Value> {
        r["connections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| ids.contains(&c["id"].as_u64().unwrap()) || r == &again)
            .map(conn_digest)
            .collect()
    };
    let before = pick(&original);
    let after = pick(&again);
    assert_eq!(before.len(), ids.len());
    assert_eq!(
        after, before,
        "{name}: exported connections analyse differently"
    );
    let n: u64 = before.iter().map(|c| c["packets"].as_u64().unwrap()).sum();
    assert_eq!(again["packet_count"].as_u64().unwrap(), n);
    assert!(Path::new(&out).exists());
}

#[test]
fn pcapng_export_reanalyses_the_same() {
    pcapng_roundtrip("many_conns.pcap", &[2, 17]);
    pcapng_roundtrip("ipv6_sll.pcapng", &[1]);
    pcapng_roundtrip("lossy_netns.pcap", &[1]);
}

#[test]
fn stats_counts_agree_with_the_report() {
    for name in ["ping_pong.pcap", "seed_echo.pcapng", "many_conns.pcap"] {
        let path = cap(name);
        let report = run_json(&["report", "--format", "json", &path]);
        let stats = run_json(&["stats", "--format", "json", &path]);
        let conns = report["connections"].as_array().unwrap();
        let per = stats["per_connection"].as_array().unwrap();
        assert_eq!(per.len(), conns.len());
        for (c, s) in conns.iter().zip(per) {
            for dir in ["c2s", "s2c"] {
                let n = c["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["dir"] == dir)
                    .count() as u64;
                assert_eq!(s[dir]["messages"].as_u64().unwrap(), n, "{name} {dir}");
                let hist: u64 = s[dir]["sizes"]["buckets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["count"].as_u64().unwrap())
                    .sum();
                assert_eq!(hist, n);
            }
            let pings = c["control"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["opcode"] == "ping")
                .count() as u64;
            let rtt = &s["rtt"];
            assert_eq!(
                rtt["answered"].as_u64().unwrap() + rtt["unanswered"].as_u64().unwrap(),
                pings
            );
            for v in rtt["samples_ms"].as_array().unwrap() {
                assert!(v.as_f64().unwrap() >= 0.0);
            }
            let closes: Vec<&str> = c["control"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["opcode"] == "close")
                .map(|f| f["dir"].as_str().unwrap())
                .collect();
            let both = closes.contains(&"c2s") && closes.contains(&"s2c");
            assert_eq!(s["close_handshake_ms"].is_number(), both, "{name}");
            if c["handshake"]["status"] == 101 && !c["messages"].as_array().unwrap().is_empty() {
                assert!(s["upgrade_to_first_message_ms"].as_f64().unwrap() >= 0.0);
            }
        }
    }
    // ping_pong's truth notes: every ping is answered; the extra pongs are
    // unsolicited.
    let truth: Value =
        serde_json::from_slice(&std::fs::read(cap("ping_pong.truth.json")).unwrap()).unwrap();
    let ctl = truth["connections"][0]["control"].as_array().unwrap();
    let count = |op: &str| ctl.iter().filter(|f| f["opcode"] == op).count() as u64;
    let (pings, pongs) = (count("ping"), count("pong"));
    let ping = run_json(&["stats", "--format", "json", &cap("ping_pong.pcap")]);
    assert!(pings > 0);
    assert_eq!(ping["rtt"]["answered"].as_u64().unwrap(), pings);
    assert_eq!(
        ping["rtt"]["unsolicited_pongs"].as_u64().unwrap(),
        pongs - pings
    );
    let text = String::from_utf8(run(&["stats", &cap("ping_pong.pcap")])).unwrap();
    assert!(text.contains("ping→pong"));
}

/// The assembler emits payload chunks only when asked, unmasked, across
/// fragments, with the message event after its chunks.
#[test]
fn ws_stream_emits_payload_chunks_only_when_asked() {
    use wsinspect::capture::{PacketNo, Timestamp};
    use wsinspect::flow::Direction;
    use wsinspect::ws::WsStream;
    use wsinspect::ws::message::{WsContext, WsEvent, WsLimits};

    let key = [1u8, 2, 3, 4];
    let frame = |b0: u8, payload: &[u8]| {
        let mut f = vec![b0, 0x80 | payload.len() as u8];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    };
    // "hello " (text, FIN clear) + "world" (continuation, FIN set).
    let mut bytes = frame(0x01, b"hello ");
    bytes.extend(frame(0x80, b"world"));
    for emit in [false, true] {
        let limits = WsLimits {
            emit_payload: emit,
            ..WsLimits::default()
        };
        let mut ws = WsStream::new(Direction::ClientToServer, WsContext::default(), limits);
        let mut evs = Vec::new();
        // Byte by byte: chunks must not depend on how TCP cut the stream.
        for (i, b) in bytes.iter().enumerate() {
            let p = PacketNo(i as u64 + 1);
            ws.data(std::slice::from_ref(b), p, p, Timestamp(0), &mut |e| {
                evs.push(e)
            });
        }
        let mut payload = Vec::new();
        let mut message_seen_after = false;
        for e in &evs {
            match e {
                WsEvent::Payload { dir, bytes } => {
                    assert_eq!(*dir, Direction::ClientToServer);
                    assert!(!message_seen_after, "chunk after its message");
                    payload.extend_from_slice(bytes);
                }
                WsEvent::Message(m, _) => {
                    message_seen_after = true;
                    assert_eq!(m.text.as_deref(), Some("hello world"));
                }
                _ => {}
            }
        }
        assert!(message_seen_after);
        if emit {
            assert_eq!(payload, b"hello world");
        } else {
            assert!(payload.is_empty());
        }
    }
}

/// A stream joined mid-way (no FLV header message) is still decoded, and
/// its export gets a synthesised header so it plays: driven through the
/// event stream with the flv_stream messages minus the first one.
#[test]
fn flv_joined_midstream_gets_a_header() {
    use std::borrow::Cow;
    use wsinspect::analysis::{Consumer, Event};
    use wsinspect::payload::FlvCollector;
    let a =
        pipeline::analyze_path(&cap("flv_stream.pcap"), Limits::default(), &mut NullSink).unwrap();
    let source = std::fs::read(cap("flv_stream.source.flv")).unwrap();
    let conn = &a.connections[0];
    let mut c = FlvCollector::new(Selection::default(), true);
    let mut at = 0usize;
    let mut fed_from = None;
    for (i, m) in conn.messages.iter().enumerate() {
        let len = m.payload_len.unwrap() as usize;
        if i > 0 {
            fed_from.get_or_insert(at);
            // Split each message in two chunks, as TCP might deliver it.
            let mid = len / 2;
            for chunk in [&source[at..at + mid], &source[at + mid..at + len]] {
                let _ = c.event(Event::Payload {
                    conn,
                    dir: m.dir,
                    chunk,
                });
            }
            let _ = c.event(Event::Message {
                conn,
                index: i,
                message: Cow::Borrowed(m),
                deferred: None,
                app: &[],
            });
        }
        at += len;
    }
    let streams = c.finish();
    assert_eq!(streams.len(), 1);
    let s = &streams[0];
    assert!(s.header_missing && s.header.is_none());
    assert_eq!(s.tags.len(), conn.messages.len() - 1);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let raw = s.raw.as_deref().unwrap();
    let start = fed_from.unwrap();
    assert_eq!(&raw[..3], b"FLV");
    assert_eq!(raw[4], 0x05, "audio and video tags seen");
    assert_eq!(raw[13..], source[start..at]);
}

/// One pass: standard input gets the same statistics as the file, upgrade
/// timings included (the 101's time comes from the model, not from a
/// second read of the capture).
#[test]
fn stats_of_standard_input_equal_the_file() {
    for name in ["seed_echo.pcapng", "many_conns.pcap"] {
        let path = cap(name);
        let file = run_json(&["stats", "--format", "json", &path]);
        let out = Command::new(BIN)
            .args(["stats", "--format", "json", "-"])
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .expect("run wsinspect");
        assert!(out.status.success());
        let stdin: Value = serde_json::from_slice(&out.stdout).unwrap();
        let timing = |v: &Value| -> Vec<Value> {
            v["per_connection"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["upgrade_to_first_message_ms"].clone())
                .collect()
        };
        assert!(timing(&stdin).iter().all(Value::is_number), "{name}");
        assert_eq!(timing(&stdin), timing(&file), "{name}");
        assert_eq!(stdin["per_connection"], file["per_connection"], "{name}");
    }
}

/// One pass for every output: `export --ndjson - --flv F --pcapng P -`
/// reads standard input once and writes all three, equal to what the same
/// export of the file writes.
#[test]
fn export_from_standard_input_writes_every_output_in_one_pass() {
    let capture = cap("flv_stream.pcap");
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let from_stdin = Command::new(BIN)
        .args(["export", "--ndjson", "-", "--flv", &p("in.flv")])
        .args(["--pcapng", &p("in.pcapng"), "-"])
        .stdin(std::fs::File::open(&capture).unwrap())
        .output()
        .expect("run wsinspect");
    assert!(
        from_stdin.status.success(),
        "{}",
        String::from_utf8_lossy(&from_stdin.stderr)
    );
    let from_file = Command::new(BIN)
        .args(["export", "--ndjson", &p("f.ndjson"), "--flv", &p("f.flv")])
        .args(["--pcapng", &p("f.pcapng"), &capture])
        .output()
        .expect("run wsinspect");
    assert!(from_file.status.success());
    assert_eq!(from_stdin.stdout, std::fs::read(p("f.ndjson")).unwrap());
    assert!(from_stdin.stdout.len() > 100_000);
    for (a, b) in [("in.flv", "f.flv"), ("in.pcapng", "f.pcapng")] {
        let (a, b) = (std::fs::read(p(a)).unwrap(), std::fs::read(p(b)).unwrap());
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}
