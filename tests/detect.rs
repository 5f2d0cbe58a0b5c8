//! Detection on real traffic (issue 17): protocols that are not WebSocket,
//! with and without their SYN, are never reported as WebSocket; an HTTP
//! upgrade to something else is reported as what it is; HTTP/1.x features
//! (any method, pipelining, 1xx, bodies) give the exchanges the peers made.
//!
//! The captures were recorded with real peers: most come from the
//! adversarial corpus (`captures/adversarial/`, whose expectations
//! `tests/adversarial.rs` checks capture by capture); `tests/data/detect/`
//! holds `http_features.pcap` from `tools/gen-captures/detect/gen.sh` (a
//! Node.js server, a pipelining client, curl against an HTTP/1.0 python
//! server) and `connect_wss.pcap` (wss through a CONNECT proxy).

mod support;
use support as common;

use common::{Conv, frame, link_frame, pcap};
use std::path::{Path, PathBuf};
use wsinspect::analysis::{Limits, NullSink};
use wsinspect::capture::LinkType;
use wsinspect::capture::writer::Endian;
use wsinspect::model::{Analysis, Connection, Protocol};
use wsinspect::pipeline;
use wsinspect::ws::frame::Opcode;

/// A capture of this test's own, or else of the adversarial corpus.
fn path(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = root.join("tests/data/detect").join(name);
    if own.is_file() {
        own
    } else {
        root.join("captures/adversarial").join(name)
    }
}

fn analyze(name: &str) -> Analysis {
    pipeline::analyze_path(
        path(name).to_str().unwrap(),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap()
}

fn text(a: &Analysis) -> String {
    let mut out = Vec::new();
    wsinspect::report::text::write(a, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn exchanges(c: &Connection) -> Vec<(String, String, Option<u16>)> {
    c.http_exchanges
        .iter()
        .map(|x| (x.method.clone(), x.target.clone(), x.status))
        .collect()
}

/// Docker Engine attach: `POST ... Upgrade: tcp` answered `101 UPGRADED`.
/// The exchange keeps its method; the raw stream after the switch is
/// counted (the byte sums of the TCP payloads after packet 11, as tshark
/// reports them), never framed.
#[test]
fn upgrade_to_tcp_is_counted_not_framed() {
    let a = analyze("upgrade_tcp.pcap");
    let c = &a.connections[0];
    assert_eq!(c.protocol, Protocol::Upgraded);
    assert!(!c.is_websocket && !c.handshake.seen);
    assert_eq!(c.upgraded_to.as_deref(), Some("tcp"));
    assert_eq!(
        (c.stats.c2s.upgraded_bytes, c.stats.s2c.upgraded_bytes),
        (3151, 3199)
    );
    let post = &c.http_exchanges[1];
    assert_eq!((post.method.as_str(), post.status), ("POST", Some(101)));
    assert_eq!(post.response_packet.map(|p| p.0), Some(11));
    assert!(c.violations.is_empty() && c.messages.is_empty());
    let t = text(&a);
    assert!(t.contains("(HTTP, upgraded to tcp)"), "{t}");
    assert!(
        t.contains("upgraded to tcp by a 101: → 3151 bytes, ← 3199 bytes"),
        "{t}"
    );
    assert!(
        !t.contains("(WebSocket") && !t.contains("mid-stream") && !t.contains("VIOLATION"),
        "{t}"
    );
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["protocol"], "upgraded");
    assert_eq!(json["upgraded_to"], "tcp");
}

#[test]
fn upgrade_to_h2c() {
    // Issue 20: what follows the 101 is HTTP/2 (RFC 7540 §3.2), decoded:
    // the upgrade request is stream 1, answered over HTTP/2.
    let a = analyze("h2c_upgrade.pcap");
    let c = a
        .connections
        .iter()
        .find(|c| c.upgraded_to.as_deref() == Some("h2c"))
        .expect("the h2c upgrade");
    assert_eq!(c.protocol, Protocol::Http2);
    assert_eq!(c.h2.as_ref().map(|h| h.mode.as_str()), Some("h2c_upgrade"));
    let statuses: Vec<_> = c.http_exchanges.iter().map(|x| x.status).collect();
    assert_eq!(statuses.first(), Some(&Some(101)), "{statuses:?}");
    assert!(
        statuses.len() > 1 && statuses[1..].iter().all(|s| s.is_some()),
        "{statuses:?}"
    );
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    assert!(text(&a).contains("upgraded from HTTP/1.1"));
}

/// A positive control: MQTT over WebSocket picked up after the handshake
/// is WebSocket, with the masked side as client and no violation.
#[test]
fn websocket_picked_up_mid_stream_is_still_found() {
    let a = analyze("mqtt_ws_mid.pcap");
    let c = &a.connections[0];
    assert!(c.is_websocket && !c.handshake.seen);
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    assert!(c.stats.c2s.messages > 0 && c.stats.s2c.messages > 0);
    assert!(text(&a).contains("picked up mid-stream"));
}

/// Node.js answering four pipelined requests (one write) with 103 Early
/// Hints then a chunked 200, a HEAD with Content-Length and no body, an
/// echoed POST body shaped like a WebSocket frame, and a 404 for an
/// extension method; then an HTTP/1.0 response read until the server
/// closed, whose body holds a status line.
#[test]
fn http_features_from_real_peers() {
    let a = analyze("http_features.pcap");
    assert_eq!(a.connections.len(), 2);
    let c = &a.connections[0];
    assert_eq!(c.protocol, Protocol::Http);
    let got: Vec<_> = c
        .http_exchanges
        .iter()
        .map(|x| {
            (
                x.method.as_str(),
                x.target.as_str(),
                x.status,
                x.request_packet.0,
                x.response_packet.map(|p| p.0),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("GET", "/hints", Some(200), 4, Some(8)),
            ("HEAD", "/thing", Some(200), 4, Some(12)),
            ("POST", "/echo", Some(200), 4, Some(14)),
            ("PROPFIND", "/missing", Some(404), 4, Some(16)),
        ]
    );
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let c = &a.connections[1];
    assert_eq!(
        exchanges(c),
        [("GET".to_string(), "/stream".to_string(), Some(200))]
    );
    assert!(!c.is_websocket && c.anomalies.is_empty());
}

fn analyze_conv(conv: &Conv) -> Analysis {
    analyze_conv_with(conv, Limits::default())
}

fn analyze_conv_with(conv: &Conv, limits: Limits) -> Analysis {
    let frames: Vec<_> = conv
        .packets
        .iter()
        .map(|p| link_frame(LinkType::Ethernet, p))
        .collect();
    let bytes = pcap(LinkType::Ethernet, &frames, Endian::Little, false);
    pipeline::analyze_reader("test", std::io::Cursor::new(bytes), limits, &mut NullSink).unwrap()
}

/// Hand-made hostile case: perfect frames both ways, but the SYN was
/// captured and no upgrade came first: not WebSocket, not reported.
#[test]
fn frames_after_a_captured_syn_are_not_websocket() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.handshake();
    for _ in 0..4 {
        conv.c2s(&frame(Opcode::Text, true, b"hi", Some([1, 2, 3, 4])));
        conv.s2c(&frame(Opcode::Text, true, b"ho", None));
    }
    let a = analyze_conv(&conv);
    assert!(a.connections.is_empty(), "{:?}", a.connections[0].protocol);
    // The same without the SYN is WebSocket picked up mid-stream.
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    for _ in 0..4 {
        conv.c2s(&frame(Opcode::Text, true, b"hi", Some([1, 2, 3, 4])));
        conv.s2c(&frame(Opcode::Text, true, b"ho", None));
    }
    let a = analyze_conv(&conv);
    assert!(a.connections[0].is_websocket);
    assert_eq!(a.connections[0].messages.len(), 8);
}

/// Too little evidence: two frames in all, or the same masking both ways.
#[test]
fn weak_or_contradicting_framing_is_not_websocket() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.c2s(&frame(Opcode::Binary, true, b"hi", Some([1, 2, 3, 4])));
    conv.s2c(&frame(Opcode::Binary, true, b"ho", None));
    assert!(analyze_conv(&conv).connections.is_empty());
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    for _ in 0..4 {
        conv.c2s(&frame(Opcode::Binary, true, b"hi", None));
        conv.s2c(&frame(Opcode::Binary, true, b"ho", None));
    }
    assert!(analyze_conv(&conv).connections.is_empty());
}

/// Detection does not depend on where TCP cut the stream: the client's
/// bytes split in two segments at every offset give the same report.
#[test]
fn detection_at_every_cut() {
    let http =
        b"RPC_IN_DATA /rpc HTTP/1.1\r\nContent-Length: 5\r\n\r\n\x81\x85abcGET / HTTP/1.1\r\n\r\n";
    let responses = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n";
    let ws: Vec<u8> = [
        frame(Opcode::Text, true, "héllo".as_bytes(), Some([1, 2, 3, 4])),
        frame(Opcode::Ping, true, b"p", Some([5, 6, 7, 8])),
        frame(Opcode::Binary, true, &[0x81; 200], Some([9, 9, 9, 9])),
    ]
    .concat();
    let server_ws = [
        frame(Opcode::Text, true, b"a", None),
        frame(Opcode::Text, true, b"b", None),
    ]
    .concat();
    for cut in 0..http.len().max(ws.len()) {
        if cut < http.len() {
            let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
            conv.handshake();
            conv.c2s(&http[..cut]);
            conv.c2s(&http[cut..]);
            conv.s2c(responses);
            let a = analyze_conv(&conv);
            let c = &a.connections[0];
            let got: Vec<_> = c
                .http_exchanges
                .iter()
                .map(|x| (x.method.as_str(), x.target.as_str(), x.status))
                .collect();
            assert_eq!(
                got,
                [("RPC_IN_DATA", "/rpc", Some(200)), ("GET", "/", Some(204))],
                "cut {cut}"
            );
            assert!(!c.is_websocket && c.anomalies.is_empty(), "cut {cut}");
        }
        if cut < ws.len() {
            let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
            conv.c2s(&ws[..cut]);
            conv.s2c(&server_ws);
            conv.c2s(&ws[cut..]);
            let a = analyze_conv(&conv);
            let c = &a.connections[0];
            assert!(c.is_websocket, "cut {cut}");
            assert_eq!(c.client.to_string(), "10.0.0.1:40000", "cut {cut}");
            assert_eq!(
                (
                    c.stats.c2s.messages,
                    c.stats.c2s.control_frames,
                    c.stats.s2c.messages
                ),
                (2, 1, 2),
                "cut {cut}"
            );
            assert!(c.violations.is_empty(), "cut {cut}: {:?}", c.violations);
        }
    }
}

/// A request line cut by lost bytes is still the start of an HTTP request:
/// its exchange is listed, marked incomplete.
#[test]
fn start_line_cut_by_a_gap() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.handshake();
    conv.c2s(b"PROPFIND /dav/ HT");
    conv.cseq = conv.cseq.wrapping_add(20); // never captured
    conv.c2s(b"Host: x\r\n\r\n");
    conv.s2c(b"HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n");
    let a = analyze_conv(&conv);
    let c = &a.connections[0];
    let x = &c.http_exchanges[0];
    assert_eq!(
        (x.method.as_str(), x.target.as_str(), x.request_complete),
        ("PROPFIND", "/dav/", false)
    );
    assert_eq!(c.stats.c2s.missing_bytes, 20);
}

/// RFC 9110 §9.3.6: after a 2xx to CONNECT the connection is a tunnel,
/// detected again from its first byte. Recorded with python websockets
/// through tinyproxy (`tools/gen-captures/detect/gen_connect.sh`): wss
/// inside the tunnel is decrypted with the client's key log, and the
/// CONNECT exchange stays listed.
#[test]
fn wss_through_a_connect_tunnel() {
    let text_log = std::fs::read_to_string(path("connect_wss.keylog")).unwrap();
    let (keylog, errors) = wsinspect::tls::KeyLog::parse(&text_log);
    assert!(errors.is_empty());
    let options = pipeline::Options {
        keylog: Some(std::sync::Arc::new(keylog)),
        ..pipeline::Options::default()
    };
    let a = pipeline::analyze_path_with(
        path("connect_wss.pcap").to_str().unwrap(),
        &options,
        &mut NullSink,
    )
    .unwrap();
    let c = &a.connections[0];
    assert!(
        c.is_websocket && c.violations.is_empty(),
        "{:?}",
        c.violations
    );
    assert_eq!(c.handshake.accept_valid, Some(true));
    assert_eq!(
        exchanges(c),
        [
            (
                "CONNECT".to_string(),
                "127.0.0.1:10443".to_string(),
                Some(200)
            ),
            ("GET".to_string(), "/tunnel".to_string(), Some(101)),
        ]
    );
    let texts: Vec<_> = c
        .messages
        .iter()
        .filter_map(|m| m.text.as_deref())
        .collect();
    assert_eq!(
        texts,
        ["through the proxy", "through the proxy", "second", "second"]
    );
    // Without the keys: TLS, not decrypted, with the CONNECT listed.
    let a = analyze("connect_wss.pcap");
    let c = &a.connections[0];
    assert!(!c.is_websocket && c.tls.as_ref().is_some_and(|t| !t.decrypted));
    assert_eq!(c.http_exchanges.len(), 1);
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
}

/// A capture that starts with a message longer than one side may hold
/// undecided: the held bytes are dropped and the stream is recognised at
/// the frames after it.
#[test]
fn a_long_first_frame_does_not_stop_detection() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let big = frame(Opcode::Binary, true, &[7; 300 << 10], None);
    for chunk in big.chunks(16 << 10) {
        conv.s2c(chunk);
    }
    for _ in 0..2 {
        conv.c2s(&frame(Opcode::Text, true, b"c", Some([1, 2, 3, 4])));
        conv.s2c(&frame(Opcode::Text, true, b"s", None));
    }
    let a = analyze_conv(&conv);
    let c = &a.connections[0];
    assert!(c.is_websocket);
    assert_eq!((c.stats.c2s.messages, c.stats.s2c.messages), (2, 2));
    // The first frame is not invented: its bytes are reported as skipped.
    let lost: Vec<_> = c.anomalies.iter().map(|a| a.detail.as_str()).collect();
    assert_eq!(
        lost,
        [format!(
            "{} bytes s2c before the first recognised frame not decoded (the capture started inside a frame)",
            big.len()
        )]
    );
}

/// Bytes held undecided count against `--max-buffered-total`: under a tight
/// cap they are dropped (and reported) sooner, and detection still finds
/// the frames after them.
#[test]
fn undecided_bytes_count_against_the_buffer_cap() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    let big = frame(Opcode::Binary, true, &[7; 40 << 10], None);
    for chunk in big.chunks(8 << 10) {
        conv.s2c(chunk);
    }
    for _ in 0..2 {
        conv.c2s(&frame(Opcode::Text, true, b"c", Some([1, 2, 3, 4])));
        conv.s2c(&frame(Opcode::Text, true, b"s", None));
    }
    let limits = Limits {
        max_buffered_total: 16 << 10,
        ..Limits::default()
    };
    let a = analyze_conv_with(&conv, limits);
    let c = &a.connections[0];
    assert!(c.is_websocket);
    assert_eq!((c.stats.c2s.messages, c.stats.s2c.messages), (2, 2));
    assert!(
        c.anomalies[0]
            .detail
            .starts_with(&format!("{} bytes s2c", big.len()))
    );
    // With the default cap the whole first frame is held and then decoded.
    let a = analyze_conv(&conv);
    assert_eq!(a.connections[0].stats.s2c.messages, 3);
}

/// A request line sent one byte per segment is still a request (and is
/// judged in linear time).
#[test]
fn a_start_line_one_byte_per_segment() {
    let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
    conv.handshake();
    let target = format!("/{}", "a".repeat(3000));
    let req = format!("M-SEARCH {target} HTTP/1.1\r\n\r\n");
    for b in req.as_bytes() {
        conv.c2s(&[*b]);
    }
    conv.s2c(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let a = analyze_conv(&conv);
    let x = &a.connections[0].http_exchanges[0];
    assert_eq!(
        (x.method.as_str(), x.target.as_str(), x.status),
        ("M-SEARCH", target.as_str(), Some(200))
    );
    assert_eq!(x.request_packet.0, 4);
}

/// RFC 9110 §7.8: the 101 names the protocol. Without its Upgrade header
/// (a broken server) the request's names it; `websocket` is matched as a
/// case-insensitive token in a list; the request's method is kept.
#[test]
fn what_a_101_switches_to() {
    let run = |request: &str, response: &str| {
        let mut conv = Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1, 2);
        conv.handshake();
        conv.c2s(request.as_bytes());
        conv.s2c(response.as_bytes());
        conv.c2s(&frame(Opcode::Text, true, b"x", None));
        conv.s2c(&[0x88, 0x7f, 1, 2, 3]);
        let a = analyze_conv(&conv);
        a.connections[0].clone()
    };
    let c = run(
        "POST /attach HTTP/1.1\r\nConnection: keep-alive,\r\n Upgrade\r\nUpgrade: tcp\r\n\r\n",
        "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n\r\n",
    );
    assert_eq!(
        (c.protocol, c.upgraded_to.as_deref()),
        (Protocol::Upgraded, Some("tcp"))
    );
    assert_eq!(
        (c.stats.c2s.upgraded_bytes, c.stats.s2c.upgraded_bytes),
        (3, 5)
    );
    assert_eq!(c.http_exchanges[0].method, "POST");
    let c = run(
        "GET /x HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: TLS/1.2, HTTP/1.1\r\n\r\n",
        "HTTP/1.1 101 Switching\r\nUpgrade: TLS/1.2, HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
    );
    assert_eq!(c.upgraded_to.as_deref(), Some("TLS/1.2, HTTP/1.1"));
    // WebSocket in a token list, any case: WebSocket, with its violations
    // (no key, no accept, an unmasked client frame) but no complaint about
    // a Connection header that is there on a second line.
    let c = run(
        "GET /ws HTTP/1.1\r\nConnection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: foo, WebSocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "HTTP/1.1 101 OK\r\nupgrade: WEBSOCKET\r\nconnection: upgrade\r\n\r\n",
    );
    assert_eq!(c.protocol, Protocol::Websocket);
    assert!(
        c.violations.iter().all(|v| !v.contains("Connection")),
        "{:?}",
        c.violations
    );
    assert!(c.violations.iter().any(|v| v.contains("Sec-WebSocket-Key")));
}
