//! `wsinspect live` against a real WebSocket exchange on 127.0.0.1.
//!
//! Needs root (or CAP_NET_RAW) and the `lo` interface; without them it
//! prints a notice and returns. The server and client run inside the test
//! (tungstenite); the capture runs as a child process, exactly as a user
//! would run it, and its NDJSON and its saved pcapng file are both checked.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, client};

const BIN: &str = env!("CARGO_BIN_EXE_wsinspect");

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// What the exchange sends; each message is echoed back.
fn payloads() -> Vec<Message> {
    let big: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
    vec![
        Message::text("hello"),
        Message::text("grüße über WebSocket ✓"),
        Message::binary(vec![0u8, 1, 2, 3, 255]),
        // Spans several TCP segments and a 64-bit length.
        Message::binary(big),
        Message::text(""),
    ]
}

fn payload_bytes(m: &Message) -> Vec<u8> {
    match m {
        Message::Text(t) => t.as_bytes().to_vec(),
        Message::Binary(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// Echo server for one connection.
fn serve(listener: TcpListener) {
    let (stream, _) = listener.accept().unwrap();
    let mut ws = tungstenite::accept(stream).unwrap();
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).unwrap(),
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

fn exchange(port: u16) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let url = format!("ws://127.0.0.1:{port}/live-test");
    let (mut ws, resp) = client(url.as_str(), stream).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    for m in payloads() {
        ws.send(m.clone()).unwrap();
        let echo = ws.read().unwrap();
        assert_eq!(payload_bytes(&echo), payload_bytes(&m));
    }
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4001),
        reason: "test over".into(),
    }))
    .unwrap();
    // Read until the server's close reply ends the connection.
    while ws.read().is_ok() {}
}

/// Checks a connection record (from NDJSON events or the JSON report).
fn check_connection(
    handshake: &Value,
    messages: &[Value],
    controls: &[Value],
    port: u16,
    source: &str,
) {
    assert_eq!(handshake["status"], 101, "{source}: handshake {handshake}");
    assert_eq!(handshake["accept_valid"], true, "{source}");
    assert_eq!(handshake["request_target"], "/live-test", "{source}");
    let want: Vec<String> = payloads()
        .iter()
        .map(|m| sha256(&payload_bytes(m)))
        .collect();
    for dir in ["c2s", "s2c"] {
        let got: Vec<&str> = messages
            .iter()
            .filter(|m| m["dir"] == dir)
            .map(|m| m["sha256"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(got, want, "{source}: {dir} message hashes");
    }
    let close = controls
        .iter()
        .find(|c| c["opcode"] == "close" && c["dir"] == "c2s")
        .unwrap_or_else(|| panic!("{source}: no client close frame in {controls:?}"));
    assert_eq!(close["close_code"], 4001, "{source}");
    assert_eq!(close["close_reason"], "test over", "{source}");
    assert!(
        controls
            .iter()
            .any(|c| c["opcode"] == "close" && c["dir"] == "s2c"),
        "{source}: no server close frame"
    );
    let _ = port;
}

#[test]
fn live_capture_on_loopback_reports_and_saves_the_exchange() {
    if !is_root() {
        eprintln!("notice: live capture test skipped: it needs root (or CAP_NET_RAW)");
        return;
    }
    if !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: live capture test skipped: no `lo` interface");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("live.pcapng");
    let filter = format!("tcp port {port}");
    let mut child = Command::new(BIN)
        .args(["live", "-i", "lo", "-f", &filter, "--format", "ndjson"])
        .args(["--duration", "3", "-w"])
        .arg(&saved)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the capture is listening before making traffic.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("capture did not start:\n{}", err_reader.join().unwrap());
    }
    let server = std::thread::spawn(move || serve(listener));
    exchange(port);
    server.join().unwrap();
    let status = child.wait().unwrap();
    let err = err_reader.join().unwrap();
    let out = out_reader.join().unwrap();
    assert!(status.success(), "wsinspect live failed: {status}\n{err}");
    assert!(
        err.contains("in the kernel"),
        "filter not in the kernel:\n{err}"
    );

    // NDJSON events, as they were streamed.
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    let of = |kind: &str, key: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["event"] == kind)
            .map(|e| e[key].clone())
            .collect()
    };
    let handshakes = of("handshake", "handshake");
    assert_eq!(handshakes.len(), 1, "{out}");
    check_connection(
        &handshakes[0],
        &of("message", "message"),
        &of("control", "control"),
        port,
        "NDJSON",
    );
    let ends = of("connection_end", "connection");
    assert_eq!(ends.len(), 1, "{out}");
    assert_eq!(ends[0]["close_initiator"], "client");
    assert_eq!(ends[0]["server"], format!("127.0.0.1:{port}"));
    let capture = events.last().unwrap();
    assert_eq!(capture["event"], "capture");
    assert_eq!(capture["stats"]["messages"], 10);
    assert_eq!(capture["capture_anomalies"], Value::Array(vec![]));
    let captured = capture["packet_count"].as_u64().unwrap();
    assert!(captured >= 10, "{captured} packets");

    // The saved file tells the same story.
    let report = Command::new(BIN)
        .args(["report", "--format", "json"])
        .arg(&saved)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let a: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(a["packet_count"].as_u64(), Some(captured));
    assert_eq!(a["link_type"], "Ethernet");
    let conns = a["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    check_connection(
        &c["handshake"],
        c["messages"].as_array().unwrap(),
        c["control"].as_array().unwrap(),
        port,
        "report on the saved file",
    );
    assert_eq!(
        c["stats"], ends[0]["stats"],
        "same counters live and from the file"
    );
}

#[test]
fn missing_interface_and_bad_filter_are_clear_errors() {
    let out = Command::new(BIN)
        .args(["live", "-i", "no-such-if0", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no interface named \"no-such-if0\""), "{err}");
    assert!(
        err.contains("available: ") && err.contains("any"),
        "lists the interfaces: {err}"
    );

    let out = Command::new(BIN)
        .args(["live", "-i", "lo", "-f", "tcp port nosuchservice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Our parser, or libpcap's with the libpcap feature.
    assert!(
        err.contains("not a port number") || err.contains("unknown port 'nosuchservice'"),
        "{err}"
    );
}

#[test]
fn the_tui_needs_a_terminal() {
    // Checked before the interface is opened, so no root is needed.
    let out = Command::new(BIN)
        .args(["live", "-i", "lo", "--format", "tui", "-c", "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--format tui needs a terminal"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn without_a_terminal_the_default_is_text() {
    if !is_root() {
        eprintln!("notice: live capture test skipped: it needs root (or CAP_NET_RAW)");
        return;
    }
    // A port nobody uses: nothing is captured, only the closing line.
    let out = Command::new(BIN)
        .args(["live", "-i", "lo", "--duration", "0.3", "tcp port 9"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("lo (live, "), "{text}");
    assert!(text.contains(" 0 packets, "), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Ctrl-C stops"), "{err}");
}

#[test]
fn without_cap_net_raw_the_error_says_what_to_do() {
    // Drop root with setpriv (util-linux) to see what a normal user sees.
    let has_setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !is_root() || !has_setpriv {
        eprintln!("notice: permission test skipped: needs root and setpriv to drop privileges");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args([BIN, "live", "-i", "lo", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && !err.contains("wsinspect") {
        eprintln!("notice: permission test skipped: the binary is not reachable as nobody: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert!(err.contains("setcap cap_net_raw+ep"), "{err}");
}

/// A filter too large for classic BPF jumps runs in user space; `--count`
/// stops the capture by itself; `--format json` prints the model at the end.
#[test]
fn user_space_filter_and_count() {
    if !is_root() || !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: live capture test skipped: it needs root (or CAP_NET_RAW) and `lo`");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // 300 alternatives that never match (UDP on port 7), then ours.
    let mut filter = vec!["udp port 7".to_string(); 300];
    filter.push(format!("tcp port {port}"));
    let filter = filter.join(" or ");
    let args = [
        "-i",
        "lo",
        "--format",
        "json",
        "-c",
        "3",
        "--duration",
        "20",
        "-f",
        &filter,
    ];
    let (child, err_reader) = start_live(&[], &args);
    // Traffic the filter must skip, then a handshake it must count.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    drop(TcpStream::connect(other.local_addr().unwrap()).unwrap());
    let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _server = listener.accept().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err_reader.join().unwrap();
    assert!(out.status.success(), "{err}");
    // AF_PACKET: too large for classic BPF, so filtered in user space;
    // libpcap's optimiser folds the 300 alternatives into one.
    if cfg!(feature = "libpcap") {
        assert!(err.contains("in the kernel"), "{err}");
    } else {
        assert!(err.contains("in user space"), "{err}");
    }
    assert!(err.contains("stopped (packet count reached)"), "{err}");
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["packet_count"], 3, "SYN, SYN+ACK, ACK of our port only");
    assert_eq!(a["stats"]["tcp_connections"], 1);
}

/// A `/proc/<pid>/task/*/status` field of every thread of `pid`.
fn thread_fields(pid: u32, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap_or_default();
        if let Some(l) = status.lines().find(|l| l.starts_with(field)) {
            out.push(l[field.len()..].trim().to_string());
        }
    }
    out
}

/// Starts `live` with `args` (via `wrap`, e.g. setpriv, when given) and
/// waits for it to listen; returns the child and its stderr so far.
fn start_live(
    wrap: &[&str],
    args: &[&str],
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    let mut cmd = match wrap.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    let mut child = cmd
        .arg("live")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("capture did not start:\n{}", err_reader.join().unwrap());
    }
    (child, err_reader)
}

/// Run as root, `live` switches to `nobody` once its socket is open: every
/// thread has no capability left and `no_new_privs`, and it still
/// captures and writes its `-w` file (opened before the drop).
#[test]
fn live_drops_root_once_capturing() {
    if !is_root() || !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: privilege test skipped: it needs root and `lo`");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("dropped.pcapng");
    let filter = format!("tcp port {port}");
    let saved_arg = saved.to_string_lossy().into_owned();
    let (child, err_reader) = start_live(
        &[],
        &[
            "-i",
            "lo",
            "-f",
            &filter,
            "--format",
            "ndjson",
            "-c",
            "3",
            "--duration",
            "20",
            "-w",
            &saved_arg,
        ],
    );
    let pid = child.id();
    let caps = thread_fields(pid, "CapEff:");
    let prm = thread_fields(pid, "CapPrm:");
    let uids = thread_fields(pid, "Uid:");
    let nnp = thread_fields(pid, "NoNewPrivs:");
    // Packets after the drop: the capture goes on.
    let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _server = listener.accept().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err_reader.join().unwrap();
    assert!(caps.len() >= 2, "threads: {caps:?}");
    for c in caps.iter().chain(&prm) {
        assert_eq!(
            c, "0000000000000000",
            "a capability is left: {caps:?} {prm:?}"
        );
    }
    for u in &uids {
        assert!(u.split_whitespace().all(|x| x == "65534"), "uids {uids:?}");
    }
    assert!(nnp.iter().all(|n| n == "1"), "no_new_privs {nnp:?}");
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("privileges dropped to user nobody (uid 65534"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("{\"event\":\"header\""), "{text}");
    let report = Command::new(BIN)
        .args(["report", "-T", "json"])
        .arg(&saved)
        .output()
        .unwrap();
    let a: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(a["packet_count"], 3, "the -w file holds the handshake");
}

/// Not root but holding CAP_NET_RAW (as `setcap cap_net_raw+ep` gives):
/// the capability is given up once the socket is open.
#[test]
fn live_clears_capabilities_when_not_root() {
    let has_setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !is_root() || !has_setpriv || !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: capability test skipped: needs root, setpriv and `lo`");
        return;
    }
    // Reachable by nobody? (the target dir may be private)
    let probe = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "--version",
        ])
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!("notice: capability test skipped: the binary is not reachable as nobody");
        return;
    }
    let (child, err_reader) = start_live(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=+net_raw",
            "--ambient-caps=+net_raw",
        ],
        &["-i", "lo", "--format", "ndjson", "--duration", "2"],
    );
    let caps = thread_fields(child.id(), "CapEff:");
    let amb = thread_fields(child.id(), "CapAmb:");
    let out = child.wait_with_output().unwrap();
    let err = err_reader.join().unwrap();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("every capability cleared"), "{err}");
    assert!(!caps.is_empty());
    for c in caps.iter().chain(&amb) {
        assert_eq!(c, "0000000000000000", "{caps:?} {amb:?}");
    }
}

#[test]
fn an_unknown_user_is_a_clear_error() {
    if !is_root() || !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: privilege test skipped: it needs root and `lo`");
        return;
    }
    let out = Command::new(BIN)
        .args([
            "live",
            "-i",
            "lo",
            "--duration",
            "1",
            "--user",
            "no-such-user-wsinspect",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no such user"), "{err}");
}

/// Promiscuous by default (set while still privileged): the interface's
/// IFF_PROMISC flag is on while `live` captures, and the startup line says
/// so; `-D` lists the interface.
#[test]
fn promiscuous_by_default_and_interfaces_listed() {
    let out = Command::new(BIN).args(["live", "-D"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{list}");
    assert!(list.lines().any(|l| l.contains(". lo [")), "{list}");
    assert!(list.lines().any(|l| l.contains(". any [")), "{list}");
    if !is_root() || !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: promiscuous test skipped: it needs root (or CAP_NET_RAW) and `lo`");
        return;
    }
    let (child, err_reader) = start_live(&[], &["-i", "lo", "--duration", "2", "-T", "text"]);
    let flags = std::fs::read_to_string("/sys/class/net/lo/flags").unwrap();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err_reader.join().unwrap();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("(Ethernet, promiscuous)"), "{err}");
    assert_ne!(flags & 0x100, 0, "IFF_PROMISC is set while capturing");

    let (child, err_reader) = start_live(&[], &["-i", "lo", "-p", "--duration", "1", "-T", "text"]);
    let out = child.wait_with_output().unwrap();
    let err = err_reader.join().unwrap();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("(Ethernet)"), "-p: not promiscuous: {err}");
}

/// `-w -` writes the pcapng to standard output and the events to standard
/// error; no file named `-` appears.
#[test]
fn write_to_standard_output() {
    if !is_root() || !std::path::Path::new("/sys/class/net/lo").exists() {
        eprintln!("notice: live capture test skipped: it needs root (or CAP_NET_RAW) and `lo`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let filter = format!("tcp port {port}");
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "live",
            "-i",
            "lo",
            "-c",
            "3",
            "--duration",
            "20",
            "-w",
            "-",
            "-f",
            &filter,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _server = listener.accept().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        out.stdout.get(..4),
        Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]),
        "pcapng SHB"
    );
    assert!(err.contains("3 packets captured"), "{err}");
    assert!(!dir.path().join("-").exists());
}
