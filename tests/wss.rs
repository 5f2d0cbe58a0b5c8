//! wss: TLS connections without keys, with keys from a pcapng Decryption
//! Secrets Block, and with a key log that has bad lines.

use std::path::{Path, PathBuf};
use std::process::Command;
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::CaptureReader;
use wsinspect::capture::writer::{Endian, PcapngWriter};
use wsinspect::pipeline;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

#[test]
fn without_keys_tls_is_reported_but_nothing_is_invented() {
    for (name, version) in [("wss_tls13.pcapng", "1.3"), ("wss_tls12.pcap", "1.2")] {
        let a = pipeline::analyze_path(
            capture(name).to_str().unwrap(),
            Limits::default(),
            &mut NullSink,
        )
        .unwrap();
        assert_eq!(a.connections.len(), 1, "{name}");
        let c = &a.connections[0];
        let tls = c.tls.as_ref().expect("tls facts");
        assert_eq!(tls.version.as_deref(), Some(version));
        assert_eq!(tls.sni.as_deref(), Some("wss.corpus.test"));
        assert!(!tls.decrypted);
        assert_eq!(tls.reason, Some(wsinspect::model::NotDecrypted::NoKeyLog));
        assert!(
            c.messages.is_empty() && c.control.is_empty() && !c.is_websocket && !c.handshake.seen
        );
        assert_eq!(
            c.server.to_string(),
            if version == "1.3" {
                "127.0.0.1:9020"
            } else {
                "127.0.0.1:9021"
            }
        );
    }
}

/// The keys travel inside the capture, as `editcap --inject-secrets` puts them.
#[test]
fn keys_from_a_decryption_secrets_block() {
    let keylog = std::fs::read(capture("wss_tls13.keylog")).unwrap();
    let file = std::fs::File::open(capture("wss_tls13.pcapng")).unwrap();
    let mut reader = CaptureReader::new(file).unwrap();
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
    let mut first = true;
    while let Some(p) = reader.next_packet().unwrap() {
        if first {
            w.add_interface(p.link, 262_144, true).unwrap();
            w.write_tls_keylog(&keylog).unwrap();
            first = false;
        }
        w.write_packet(0, p.ts, p.data, p.orig_len).unwrap();
    }
    let bytes = w.finish().unwrap();
    let a = pipeline::analyze_reader(
        "dsb.pcapng",
        std::io::Cursor::new(bytes),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap();
    let c = &a.connections[0];
    assert!(c.tls.as_ref().unwrap().decrypted, "{:?}", c.tls);
    assert!(c.is_websocket);
    assert_eq!(c.messages.len(), 11);
    assert_eq!(
        c.control
            .iter()
            .filter(|f| f.close_code == Some(1000))
            .count(),
        2
    );
}

#[test]
fn bad_key_log_lines_are_named_and_good_ones_still_used() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(capture("wss_tls12.keylog")).unwrap();
    let path = dir.path().join("keys.log");
    std::fs::write(
        &path,
        format!("# comment\nCLIENT_RANDOM nothex 00\n{good}GARBAGE\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wsinspect"))
        .args([
            "report",
            "--format",
            "json",
            "--keylog",
            path.to_str().unwrap(),
            capture("wss_tls12.pcap").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["connections"][0]["tls"]["decrypted"], true);
    assert!(
        doc["capture_anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["detail"].as_str().unwrap().contains("line 2"))
    );
}

#[test]
fn wrong_keys_give_a_reason_and_no_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(capture("wss_tls12.keylog")).unwrap();
    // Same client random, another master secret.
    let bad: String = good
        .lines()
        .map(|l| {
            let mut parts: Vec<String> = l.split(' ').map(String::from).collect();
            if parts.len() == 3 {
                parts[2] = "ab".repeat(48);
            }
            parts.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("wrong.log");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wsinspect"))
        .args([
            "report",
            "-T",
            "json",
            "--keylog",
            path.to_str().unwrap(),
            capture("wss_tls12.pcap").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &doc["connections"][0];
    assert_eq!(c["tls"]["decrypted"], false);
    assert!(
        c["tls"]["reason"]
            .as_str()
            .unwrap()
            .contains("bad record MAC"),
        "{}",
        c["tls"]
    );
    assert_eq!(c["messages"].as_array().unwrap().len(), 0);
}

#[test]
fn sslkeylogfile_environment_is_honoured() {
    let out = Command::new(env!("CARGO_BIN_EXE_wsinspect"))
        .args([
            "report",
            "-T",
            "json",
            capture("wss_tls13.pcapng").to_str().unwrap(),
        ])
        .env("SSLKEYLOGFILE", capture("wss_tls13.keylog"))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["connections"][0]["tls"]["decrypted"], true);
    assert_eq!(
        doc["connections"][0]["tls"]["cipher_suite"],
        "TLS_AES_256_GCM_SHA384"
    );
}
