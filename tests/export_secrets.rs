//! `export --pcapng` of wss connections carries their TLS secrets as a
//! Decryption Secrets Block: the exported file decrypts with no key log, in
//! wsinspect and (when installed) in tshark; `--no-secrets` leaves them out,
//! and sessions that were not exported are never written.

use serde_json::Value;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use wsinspect::capture::reader::CaptureReader;

const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn run(args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run wsinspect");
    assert!(
        out.status.success(),
        "wsinspect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn report(path: &Path, extra: &[&str]) -> Value {
    let p = path.to_string_lossy();
    let mut args = vec!["report", "-T", "json"];
    args.extend_from_slice(extra);
    args.push(&p);
    serde_json::from_slice(&run(&args).stdout).expect("JSON")
}

/// The digests of every decrypted message, per connection.
fn digests(a: &Value) -> Vec<Vec<String>> {
    a["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| {
            c["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| m["sha256"].as_str().unwrap_or("-").to_string())
                .collect()
        })
        .collect()
}

/// The secrets the file holds (every Decryption Secrets Block).
fn secrets_in(path: &Path) -> String {
    let mut r = CaptureReader::new(BufReader::new(File::open(path).expect("open"))).expect("read");
    while r.next_packet().expect("packet").is_some() {}
    r.secrets()
        .iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

#[test]
fn exported_wss_connection_decrypts_without_the_key_log() {
    let keylog = capture("wss_tls13.keylog");
    let src = capture("wss_tls13.pcapng");
    let original = report(&src, &["--keylog", &keylog.to_string_lossy()]);
    assert_eq!(original["connections"][0]["tls"]["decrypted"], true);
    let want = digests(&original);
    assert!(want.iter().any(|m| !m.is_empty()), "no messages to compare");

    // A key log with one more session that is not in the capture.
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = format!("CLIENT_RANDOM {} {}\n", "ab".repeat(32), "cd".repeat(48));
    let keys = dir.path().join("keys.log");
    let text = std::fs::read_to_string(&keylog).expect("keylog");
    std::fs::write(&keys, format!("{text}{foreign}")).expect("write");

    let out = dir.path().join("out.pcapng");
    let err = run(&[
        "export",
        "--keylog",
        &keys.to_string_lossy(),
        &src.to_string_lossy(),
        "--pcapng",
        &out.to_string_lossy(),
    ])
    .stderr;
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains("with the TLS secrets of 1 session"), "{err}");

    let held = secrets_in(&out);
    let random = held
        .split_whitespace()
        .nth(1)
        .expect("a key log line")
        .to_string();
    assert!(
        !held.contains(&"ab".repeat(32)),
        "a foreign session: {held}"
    );
    for line in held.lines() {
        assert!(text.contains(line), "{line} is not from the key log");
        assert!(line.contains(&random), "{line}: another session");
    }
    assert!(held.contains("CLIENT_TRAFFIC_SECRET_0") && held.contains("SERVER_TRAFFIC_SECRET_0"));

    // No --keylog, no SSLKEYLOGFILE: the file alone decrypts.
    let again = report(&out, &[]);
    assert_eq!(again["connections"][0]["tls"]["decrypted"], true, "{again}");
    assert_eq!(digests(&again), want);

    // --no-secrets: nothing to decrypt with.
    let bare = dir.path().join("bare.pcapng");
    run(&[
        "export",
        "--keylog",
        &keys.to_string_lossy(),
        &src.to_string_lossy(),
        "--pcapng",
        &bare.to_string_lossy(),
        "--no-secrets",
    ]);
    assert!(secrets_in(&bare).is_empty());
    let plain = report(&bare, &[]);
    assert_eq!(plain["connections"][0]["tls"]["decrypted"], false);

    // Re-exporting the exported file keeps its secrets (from its own block).
    let twice = dir.path().join("twice.pcapng");
    run(&[
        "export",
        &out.to_string_lossy(),
        "--pcapng",
        &twice.to_string_lossy(),
    ]);
    assert_eq!(secrets_in(&twice), held);

    // Wireshark's dissector, where installed: WebSocket frames inside TLS.
    let tshark = Command::new("tshark")
        .args(["-r", &out.to_string_lossy(), "-Y", "websocket"])
        .env("HOME", dir.path())
        .output();
    match tshark {
        Ok(t) if t.status.success() => {
            let frames = String::from_utf8_lossy(&t.stdout);
            assert!(
                frames.lines().filter(|l| l.contains("WebSocket")).count() >= 2,
                "tshark found no WebSocket frame:\n{frames}\n{}",
                String::from_utf8_lossy(&t.stderr)
            );
            let bare = Command::new("tshark")
                .args(["-r", &bare.to_string_lossy(), "-Y", "websocket"])
                .env("HOME", dir.path())
                .output()
                .expect("tshark");
            assert!(
                String::from_utf8_lossy(&bare.stdout).trim().is_empty(),
                "tshark decrypted without secrets?"
            );
        }
        _ => eprintln!("notice: tshark not installed: its part of the test skipped"),
    }
}
