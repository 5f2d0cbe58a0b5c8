//! Connections sealed by an independent implementation (tests/data/gen_synthetic.py: Python hmac +
//! `cryptography`), covering TLS 1.3 ChaCha20-Poly1305 with KeyUpdate and padding, TLS 1.2
//! ChaCha20-Poly1305 (RFC 7905) and TLS 1.2 AES-256-GCM-SHA384 (RFC 5288, SHA-384 PRF).

use std::sync::Arc;

use serde_json::Value;
use wsinspect::capture::PacketNo;
use wsinspect::tls::{KeyLog, TlsConnection, TlsOutput};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cases() -> Vec<Value> {
    let text = include_str!("data/synthetic.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// Runs a case with every record in its own packet, or the whole direction streams cut in
/// `chunk`-byte pieces. Returns `(from_client, data, first, last)` of each AppData.
type Apps = Vec<(bool, Vec<u8>, u64, u64)>;

/// Also returns the packet span `(first, last)` of every record.
fn run(
    case: &Value,
    keylog: Option<Arc<KeyLog>>,
    chunk: usize,
) -> (Apps, TlsConnection, Vec<(u64, u64)>) {
    let mut conn = TlsConnection::new(keylog);
    let mut apps = Vec::new();
    let mut sink = |o: TlsOutput<'_>| {
        if let TlsOutput::AppData {
            from_client,
            data,
            first_packet,
            last_packet,
        } = o
        {
            apps.push((from_client, data.to_vec(), first_packet.0, last_packet.0));
        }
    };
    let mut packet = 0u64;
    let mut spans = Vec::new();
    for r in case["records"].as_array().unwrap() {
        let c = r[0].as_bool().unwrap();
        let bytes = hex(r[1].as_str().unwrap());
        let first = packet + 1;
        for piece in bytes.chunks(if chunk == 0 { bytes.len() } else { chunk }) {
            packet += 1;
            conn.push(c, piece, PacketNo(packet), &mut sink);
        }
        spans.push((first, packet));
    }
    (apps, conn, spans)
}

fn keylog(case: &Value) -> Arc<KeyLog> {
    let (k, errs) = KeyLog::parse(case["keylog"].as_str().unwrap());
    assert!(errs.is_empty());
    Arc::new(k)
}

#[test]
fn synthetic_connections_decrypt() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let want: Vec<(bool, Vec<u8>)> = case["app"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a[0].as_bool().unwrap(), hex(a[1].as_str().unwrap())))
            .collect();
        let (apps, conn, _) = run(&case, Some(keylog(&case)), 0);
        let got: Vec<(bool, Vec<u8>)> = apps.iter().map(|a| (a.0, a.1.clone())).collect();
        assert_eq!(got, want, "{name}");
        let info = conn.info();
        assert!(info.decrypted, "{name}: {info:?}");
        assert_eq!(info.version.as_deref(), case["version"].as_str(), "{name}");
        assert_eq!(
            info.cipher_suite.as_deref(),
            case["suite"].as_str(),
            "{name}"
        );
        assert_eq!(info.sni.as_deref(), case["sni"].as_str(), "{name}");
        assert_eq!(info.alpn.as_deref(), case["alpn"].as_str(), "{name}");
        let n = case["records"].as_array().unwrap().len() as u64;
        assert_eq!(info.records[0] + info.records[1], n, "{name}");

        // 1-byte and 3-byte pieces: same plaintext; packets = those of the record's first/last byte.
        for chunk in [1, 3] {
            let (split, conn, spans) = run(&case, Some(keylog(&case)), chunk);
            let got: Vec<(bool, Vec<u8>)> = split.iter().map(|a| (a.0, a.1.clone())).collect();
            assert_eq!(got, want, "{name} chunk {chunk}");
            assert!(conn.info().decrypted);
            for a in &split {
                assert!(
                    spans.contains(&(a.2, a.3)),
                    "{name}: {a:?} not a record span"
                );
                assert!(a.3 > a.2, "{name}: a record spans several pieces");
            }
        }

        // Without keys: facts from the plaintext handshake only.
        let (apps, conn, _) = run(&case, None, 0);
        assert!(apps.is_empty());
        let info = conn.info();
        assert_eq!(info.cipher_suite.as_deref(), case["suite"].as_str());
        assert_eq!(info.reason, Some(wsinspect::model::NotDecrypted::NoKeyLog));
        if info.version.as_deref() == Some("1.3") {
            assert_eq!(info.alpn, None, "1.3 ALPN needs decryption");
        } else {
            assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
        }
    }
}
