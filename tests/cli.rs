//! The binary as users run it: exit codes, messages, formats, stdin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wsinspect"))
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn text_report_tells_the_articles_story() {
    let (code, out, _) = run(&["report", capture("seed_echo.pcapng").to_str().unwrap()]);
    assert_eq!(code, 0);
    for needle in [
        "127.0.0.1:38674 → 127.0.0.1:9002",
        "TCP SYN",
        "GET / (Upgrade: websocket)",
        "Sec-WebSocket-Key: 4POzZZ+gvMFKi6dFIgVR4A==",
        "Sec-WebSocket-Accept: dmdTcG9qnr49+EXHeaZOeOUhV5A=  ✓ verified",
        "→ text 3 bytes mask 3335dd2f: \"123\"",
        "← text 22 bytes: \"fu wu qi de xin xi! \\\" \"",
        "→ close 1000 normal closure",
        "closed by the client with 1000 normal closure",
        "TCP closed with FIN (first from the server)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn json_and_ndjson_agree() {
    let path = capture("close_codes.pcapng");
    let (code, json, _) = run(&["report", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (code, nd, _) = run(&["report", "-T", "ndjson", "-r", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |ev: &str| lines.iter().filter(|l| l["event"] == ev).count();
    let msgs: usize = doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["messages"].as_array().unwrap().len())
        .sum();
    assert_eq!(count("message"), msgs);
    assert_eq!(count("connection_end"), 9);
    assert_eq!(lines.last().unwrap()["event"], "capture");
    assert!(count("violation") >= 1);
}

#[test]
fn stdin_is_read_with_a_dash() {
    let bytes = std::fs::read(capture("ping_pong.pcap")).unwrap();
    let mut child = bin()
        .args(["report", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["packet_count"], 34);
    assert_eq!(doc["capture"], "-");
}

#[test]
fn missing_file_and_non_capture_exit_2_with_a_clear_message() {
    let (code, _, err) = run(&["report", "/nonexistent/x.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open /nonexistent/x.pcap"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all, just text").unwrap();
    let (code, _, err) = run(&["report", junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");
}

#[test]
fn truncated_file_keeps_everything_before_the_cut() {
    let bytes = std::fs::read(capture("seed_echo_binary_stop.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let (code, json, _) = run(&["report", "--format", "json", cut.to_str().unwrap()]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["packet_count"], 16);
    let anomalies = doc["capture_anomalies"].as_array().unwrap();
    assert!(
        anomalies
            .iter()
            .any(|a| a["detail"].as_str().unwrap().contains("truncated")),
        "{anomalies:?}"
    );
    assert_eq!(
        doc["connections"][0]["messages"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = run(&["report", "--format", "xml", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value"), "{err}");
}

/// `| head`: every format stops quietly, including NDJSON's writer thread
/// (which must neither hang nor turn the closed pipe into an error; the
/// unit test `broken_pipe_inside_a_message_keeps_its_kind` covers a pipe
/// closing in the middle of a line).
#[test]
fn closed_stdout_is_not_an_error() {
    for (format, name) in [
        ("json", "many_conns.pcap"),
        ("ndjson", "lossy_netns.pcap"),
        ("text", "lossy_netns.pcap"),
    ] {
        let mut child = bin()
            .args([
                "report",
                "--format",
                format,
                capture(name).to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{format}: {stderr}"
        );
    }
}

/// tshark's and tcpdump's letters: `-T` is the format, `-f` (the capture
/// filter of `live`) is refused elsewhere with a pointer, `-r` reads.
#[test]
fn format_is_dash_t_and_dash_f_is_refused() {
    let path = capture("ping_pong.pcap");
    let p = path.to_str().unwrap();
    for sub in ["report", "stats", "payload", "check"] {
        let (code, _, err) = run(&[sub, "-f", "json", p]);
        assert_eq!(code, 2, "{sub}: {err}");
        assert!(err.contains("use -T json"), "{sub}: {err}");
    }
    for sub in ["report", "stats", "payload"] {
        let (code, out, err) = run(&[sub, "-T", "json", "-r", p]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(out.trim_start().starts_with('{'), "{sub}: {out}");
    }
    let (code, out, _) = run(&["check", "-T", "json", "--output", "-", p]);
    assert_eq!(code, 0);
    assert!(out.trim_start().starts_with('{'), "{out}");
}

/// `-` is standard output for every file output; no file named `-`.
#[test]
fn dash_is_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["export", "--conn", "1", "--pcapng", "-", "-r"])
        .arg(capture("ping_pong.pcap"))
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.get(..4), Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("to standard output"));
    let out = bin()
        .current_dir(dir.path())
        .args(["export", "--conn", "1", "--dir", "s2c", "--flv", "-"])
        .arg(capture("flv_stream.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.get(..3), Some(&b"FLV"[..]));
    assert!(!dir.path().join("-").exists());
}

/// `--color`: ANSI colours on `check`'s verdicts when asked; never with
/// `never` or with NO_COLOR in `auto` (a pipe is no terminal either).
#[test]
fn color_flag_and_no_color() {
    let p = capture("ping_pong.pcap");
    let out = bin()
        .args(["--color", "always", "check"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\x1b[32mpass\x1b[0m"));
    for (args, env) in [(&["--color", "never"][..], None), (&[][..], Some("1"))] {
        let mut c = bin();
        c.args(args).arg("check").arg(&p);
        if let Some(v) = env {
            c.env("NO_COLOR", v).env("CLICOLOR_FORCE", "1");
        }
        let out = c.output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
    }
    let out = bin()
        .arg("check")
        .arg(&p)
        .env("CLICOLOR_FORCE", "1")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains('\x1b'));
    let (_, help, _) = run(&["--help"]);
    assert!(
        help.contains("Exit status:") && help.contains("Examples:"),
        "{help}"
    );
}
