//! Application-protocol decoders (src/app/): the specifications' own
//! examples, byte vectors from a reference encoder (npm `mqtt-packet`,
//! tests/data/app/, made by tools/gen-app-vectors/), every cut of the
//! stream protocols, and hostile input with bounded memory.

use serde_json::Value;
use wsinspect::app::{
    AppChoice, AppDetail, AppFinding, AppFindingKind, AppInput, AppLimits, AppProtocol, AppRecord,
    AppSession, DetectedBy, HandshakeHints,
};
use wsinspect::capture::{PacketNo, Timestamp};
use wsinspect::flow::Direction::{self, ClientToServer as C, ServerToClient as S};
use wsinspect::ws::frame::Opcode::{self, Binary as B, Text as T};

/// One message: direction, opcode, payload, time in milliseconds.
type Msg<'a> = (Direction, Opcode, &'a [u8], i128);

#[derive(Debug, Default)]
struct Run {
    recs: Vec<AppRecord>,
    finds: Vec<AppFinding>,
    detection: Option<(AppProtocol, DetectedBy)>,
    max_held: usize,
}

impl Run {
    fn kinds(&self) -> Vec<&str> {
        self.recs.iter().map(|r| r.kind).collect()
    }
    fn find(&self, kind: AppFindingKind) -> Vec<&AppFinding> {
        self.finds.iter().filter(|f| f.kind == kind).collect()
    }
    fn rec(&self, kind: &str) -> &AppRecord {
        self.recs
            .iter()
            .find(|r| r.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {:?}", self.kinds()))
    }
}

fn session(
    hints: HandshakeHints<'_>,
    choice: AppChoice,
    limits: AppLimits,
    msgs: &[Msg<'_>],
    complete: bool,
) -> Run {
    let mut s = AppSession::new(&hints, choice, limits);
    let mut run = Run::default();
    for (i, &(dir, opcode, payload, ms)) in msgs.iter().enumerate() {
        let o = s.feed(&AppInput {
            dir,
            opcode,
            payload,
            complete,
            index: i as u64,
            first_packet: PacketNo(i as u64 + 1),
            ts: Timestamp(ms * 1_000_000),
        });
        run.recs.extend(o.records);
        run.finds.extend(o.findings);
        run.max_held = run.max_held.max(s.held_bytes());
    }
    let o = s.finish();
    run.recs.extend(o.records);
    run.finds.extend(o.findings);
    // In message order (a Socket.IO binary packet is emitted after its attachments).
    run.recs.sort_by_key(|r| r.index);
    run.detection = s.detection().map(|d| (d.protocol, d.by));
    run
}

fn forced(p: AppProtocol, msgs: &[Msg<'_>]) -> Run {
    session(
        HandshakeHints::default(),
        AppChoice::Forced(p),
        AppLimits::default(),
        msgs,
        true,
    )
}

fn sub(subprotocol: &str, msgs: &[Msg<'_>]) -> Run {
    let hints = HandshakeHints {
        subprotocol: Some(subprotocol),
        target: None,
    };
    session(hints, AppChoice::Auto, AppLimits::default(), msgs, true)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------- detection

#[test]
fn detection_order_and_evidence() {
    let d = |sub: Option<&str>, target: Option<&str>, msgs: &[Msg<'_>]| {
        session(
            HandshakeHints {
                subprotocol: sub,
                target,
            },
            AppChoice::Auto,
            AppLimits::default(),
            msgs,
            true,
        )
        .detection
    };
    use AppProtocol::*;
    use DetectedBy::*;
    assert_eq!(
        d(Some("mqtt"), Some("/cable"), &[]),
        Some((Mqtt, Subprotocol))
    );
    assert_eq!(d(Some("v12.stomp"), None, &[]), Some((Stomp, Subprotocol)));
    assert_eq!(
        d(Some("graphql-transport-ws"), None, &[]),
        Some((GraphqlTransportWs, Subprotocol))
    );
    assert_eq!(
        d(Some("graphql-ws"), None, &[]),
        Some((GraphqlWs, Subprotocol))
    );
    assert_eq!(d(Some("ocpp2.0.1"), None, &[]), Some((Ocpp, Subprotocol)));
    assert_eq!(d(Some("wamp.2.json"), None, &[]), Some((Wamp, Subprotocol)));
    assert_eq!(
        d(Some("actioncable-v1-json"), None, &[]),
        Some((ActionCable, Subprotocol))
    );
    assert_eq!(
        d(None, Some("/socket.io/?EIO=4&transport=websocket"), &[]),
        Some((SocketIo, RequestTarget))
    );
    assert_eq!(
        d(None, Some("/socket/websocket?vsn=2.0.0"), &[]),
        Some((Phoenix, RequestTarget))
    );
    assert_eq!(
        d(None, Some("/cable"), &[]),
        Some((ActionCable, RequestTarget))
    );
    assert_eq!(
        d(None, Some("/chathub?id=AbC123"), &[]),
        Some((SignalR, RequestTarget))
    );
    // Content.
    assert_eq!(
        d(None, Some("/x"), &[(S, T, br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#, 0)]),
        Some((SocketIo, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(C, T, b"{\"protocol\":\"json\",\"version\":1}\x1e", 0)]
        ),
        Some((SignalR, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(C, T, b"CONNECT\naccept-version:1.2\nhost:h\n\n\0", 0)]
        ),
        Some((Stomp, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(C, B, &hex("100c00044d5154540402003c0000"), 0)]
        ),
        Some((Mqtt, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(C, T, br#"{"jsonrpc":"2.0","method":"m","id":1}"#, 0)]
        ),
        Some((JsonRpc, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(
                C,
                T,
                br#"[2,"19223201","BootNotification",{"chargePointVendor":"V"}]"#,
                0
            )]
        ),
        Some((Ocpp, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(C, T, br#"["1","1","room:lobby","phx_join",{}]"#, 0)]
        ),
        Some((Phoenix, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[(C, T, br#"[1,"realm1",{"roles":{"caller":{}}}]"#, 0)]
        ),
        Some((Wamp, Content))
    );
    assert_eq!(
        d(None, None, &[(S, T, br#"{"type":"welcome"}"#, 0)]),
        Some((ActionCable, Content))
    );
    // connection_init alone does not say which GraphQL protocol: the next message does.
    let init: Msg<'_> = (C, T, br#"{"type":"connection_init","payload":{}}"#, 0);
    assert_eq!(d(None, None, &[init]), None);
    assert_eq!(
        d(
            None,
            None,
            &[
                init,
                (
                    C,
                    T,
                    br#"{"id":"1","type":"subscribe","payload":{"query":"{a}"}}"#,
                    1
                )
            ]
        ),
        Some((GraphqlTransportWs, Content))
    );
    assert_eq!(
        d(
            None,
            None,
            &[
                init,
                (
                    C,
                    T,
                    br#"{"id":"1","type":"start","payload":{"query":"{a}"}}"#,
                    1
                )
            ]
        ),
        Some((GraphqlWs, Content))
    );
    // Plain JSON, chat text or random bytes are no evidence.
    assert_eq!(
        d(
            None,
            None,
            &[
                (C, T, br#"{"type":"chat","text":"hi"}"#, 0),
                (S, T, b"[1,2,3]", 1),
                (S, B, b"\x10\x00", 2)
            ]
        ),
        None
    );
    // Forced and none.
    let r = session(
        HandshakeHints {
            subprotocol: Some("mqtt"),
            target: None,
        },
        AppChoice::None,
        AppLimits::default(),
        &[(C, B, &hex("c000"), 0)],
        true,
    );
    assert_eq!((r.detection, r.recs.len()), (None, 0));
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(Mqtt),
        AppLimits::default(),
        &[(C, B, &hex("c000"), 0)],
        true,
    );
    assert_eq!(
        (r.detection, r.kinds()),
        (Some((Mqtt, Forced)), vec!["PINGREQ"])
    );
}

#[test]
fn content_detection_replays_held_messages() {
    let r = session(
        HandshakeHints::default(),
        AppChoice::Auto,
        AppLimits::default(),
        &[
            (C, T, br#"{"type":"connection_init"}"#, 0),
            (S, T, br#"{"type":"connection_ack"}"#, 5),
            (C, T, br#"{"id":"1","type":"subscribe","payload":{"query":"subscription OnTick { tick }"}}"#, 10),
            (S, T, br#"{"id":"1","type":"next","payload":{"data":{"tick":1}}}"#, 17),
        ],
        true,
    );
    assert_eq!(
        r.detection,
        Some((AppProtocol::GraphqlTransportWs, DetectedBy::Content))
    );
    assert_eq!(
        r.kinds(),
        ["connection_init", "connection_ack", "subscribe", "next"]
    );
    assert_eq!(r.recs[1].latency_ns, Some(5_000_000));
    assert_eq!(r.recs[3].name.as_deref(), Some("OnTick"));
    assert_eq!(
        (r.recs[3].answers, r.recs[3].latency_ns),
        (Some(2), Some(7_000_000))
    );
}

// ---------------------------------------------------------------- Socket.IO

#[test]
fn socketio_protocol_examples() {
    // socket.io-protocol README (v5) and engine.io-protocol README (v4).
    let hints = HandshakeHints {
        subprotocol: None,
        target: Some("/socket.io/?EIO=4&transport=websocket"),
    };
    let att = [1u8, 2, 3];
    let r = session(
        hints,
        AppChoice::Auto,
        AppLimits::default(),
        &[
            (S, T, br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#, 0),
            (C, T, br#"40/admin,{"token":"123"}"#, 1),
            (S, T, br#"40/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#, 3),
            (C, T, br#"42["hello",1]"#, 4),
            (C, T, br#"42/admin,456["project:delete",123]"#, 5),
            (S, T, br#"43/admin,456[]"#, 9),
            (C, T, br#"451-["hello",{"_placeholder":true,"num":0}]"#, 10),
            (C, B, &att, 11),
            (S, T, b"2", 20),
            (C, T, b"3", 22),
            (C, T, br#"40/private"#, 30),
            (S, T, br#"44/private,{"message":"Not authorized"}"#, 31),
            (C, T, b"41/admin,", 40),
            (C, T, b"2probe", 41),
            (S, T, b"3probe", 42),
            (C, T, b"5", 43),
            (C, T, b"6", 44),
        ],
        true,
    );
    assert_eq!(
        r.kinds(),
        [
            "open",
            "CONNECT",
            "CONNECT",
            "EVENT",
            "EVENT",
            "ACK",
            "BINARY_EVENT",
            "attachment",
            "ping",
            "pong",
            "CONNECT",
            "CONNECT_ERROR",
            "DISCONNECT",
            "ping",
            "pong",
            "upgrade",
            "noop"
        ]
    );
    assert_eq!(
        r.recs[0].detail.session.as_deref(),
        Some("lv_VI97HAXpY6yYWAAAC")
    );
    let ev = &r.recs[4];
    assert_eq!(
        (ev.name.as_deref(), ev.id.as_deref(), ev.channel.as_deref()),
        (Some("project:delete"), Some("456"), Some("/admin"))
    );
    let ack = &r.recs[5];
    assert_eq!(
        (ack.answers, ack.latency_ns, ack.name.as_deref()),
        (Some(4), Some(4_000_000), Some("project:delete"))
    );
    assert_eq!(
        (r.recs[2].answers, r.recs[2].latency_ns),
        (Some(1), Some(2_000_000))
    );
    let bin = &r.recs[6];
    assert_eq!(
        (
            bin.name.as_deref(),
            bin.detail.attachments,
            bin.detail.payload_len
        ),
        (Some("hello"), Some(1), Some(3))
    );
    assert_eq!(bin.messages, [6, 7]);
    let att = &r.recs[7];
    assert_eq!(
        (
            att.detail.attachment_of,
            att.detail.attachment_index,
            att.detail.payload_len
        ),
        (Some(6), Some(0), Some(3))
    );
    assert_eq!(
        (r.recs[9].answers, r.recs[9].latency_ns),
        (Some(8), Some(2_000_000))
    );
    let err = &r.recs[11];
    assert_eq!(
        err.error.as_ref().and_then(|e| e.message.as_deref()),
        Some("Not authorized")
    );
    assert_eq!(err.answers, Some(10));
    assert_eq!(r.recs[13].name.as_deref(), Some("probe"));
    assert!(r.finds.is_empty(), "{:?}", r.finds);
}

#[test]
fn socketio_unanswered_and_malformed() {
    let r = forced(
        AppProtocol::SocketIo,
        &[
            (C, T, br#"421["ask"]"#, 0),
            (C, T, br#"42{"not":"an array"}"#, 1),
            (C, T, b"9", 2),
            (S, B, b"\x00", 3),
        ],
    );
    // The second is an EVENT whose data is not an array: named by its type, reported.
    assert_eq!(r.kinds(), ["EVENT", "EVENT"]);
    assert_eq!(r.find(AppFindingKind::Malformed).len(), 3);
    let un = r.find(AppFindingKind::Unanswered);
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].index, Some(0));
}

#[test]
fn socketio_v2_connect_with_query_and_error() {
    let hints = HandshakeHints {
        subprotocol: None,
        target: Some("/socket.io/?EIO=3&transport=websocket"),
    };
    let r = session(
        hints,
        AppChoice::Auto,
        AppLimits::default(),
        &[
            (C, T, b"40/admin?token=abc,", 0),
            (S, T, br#"44/admin,"Not authorized""#, 3),
            (C, B, b"\x04abc", 4),
        ],
        true,
    );
    assert_eq!(r.kinds(), ["CONNECT", "ERROR"]);
    assert_eq!(r.recs[0].channel.as_deref(), Some("/admin"));
    assert_eq!(
        (r.recs[1].answers, r.recs[1].latency_ns),
        (Some(0), Some(3_000_000))
    );
    assert_eq!(
        r.recs[1].error.as_ref().unwrap().message.as_deref(),
        Some("Not authorized")
    );
}

#[test]
fn socketio_attachments_that_never_come() {
    let r = forced(
        AppProtocol::SocketIo,
        &[
            (
                C,
                T,
                br#"452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
                0,
            ),
            (C, B, b"abc", 1),
        ],
    );
    assert_eq!(r.kinds(), ["BINARY_EVENT", "attachment"]);
    assert!(r.recs[0].detail.truncated);
    assert_eq!(r.recs[0].detail.attachments, Some(1));
    assert_eq!(r.find(AppFindingKind::Incomplete).len(), 1);
    // A text packet before the attachments ends the wait.
    let r = forced(
        AppProtocol::SocketIo,
        &[
            (C, T, br#"451-["up",{"_placeholder":true,"num":0}]"#, 0),
            (C, T, br#"42["next"]"#, 1),
        ],
    );
    assert_eq!(r.kinds(), ["BINARY_EVENT", "EVENT"]);
    assert_eq!(r.find(AppFindingKind::Incomplete).len(), 1);
    // A count of a trillion: counted up to the cap, never held.
    let limits = AppLimits {
        max_attachments: 4,
        ..AppLimits::default()
    };
    let mut msgs: Vec<Msg<'_>> = vec![(C, T, br#"451000000000000-["x"]"#, 0)];
    msgs.extend((0..10).map(|i| (C, B, &b"z"[..], i)));
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(AppProtocol::SocketIo),
        limits,
        &msgs,
        true,
    );
    assert_eq!(r.recs[0].detail.attachments, Some(4));
    assert_eq!(r.find(AppFindingKind::CapReached).len(), 1);
    assert_eq!(r.find(AppFindingKind::Malformed).len(), 0);
}

// ---------------------------------------------------------------- MQTT

#[derive(Debug, PartialEq)]
struct Seen {
    kind: &'static str,
    name: Option<String>,
    id: Option<String>,
    error: Option<String>,
    detail: AppDetail,
    answered: bool,
}

/// What a record says, without where it came from; STOMP heart-beats
/// (end-of-line-only messages) depend on the message cuts by definition.
fn seen(r: &Run) -> Vec<Seen> {
    r.recs
        .iter()
        .filter(|x| x.kind != "heartbeat")
        .map(|x| Seen {
            kind: x.kind,
            name: x.name.clone(),
            id: x.id.clone(),
            error: x.error.as_ref().and_then(|e| e.code.clone()),
            detail: x.detail.clone(),
            answered: x.latency_ns.is_some(),
        })
        .collect()
}

#[test]
fn mqtt_reference_encoder_vectors() {
    let v: Value = serde_json::from_str(include_str!("data/app/mqtt-packet.json")).unwrap();
    for level in [4, 5] {
        let vs: Vec<&Value> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["level"] == level)
            .collect();
        let bytes: Vec<Vec<u8>> = vs.iter().map(|x| hex(x["hex"].as_str().unwrap())).collect();
        let msgs: Vec<Msg<'_>> = vs
            .iter()
            .zip(&bytes)
            .enumerate()
            .map(|(i, (x, b))| {
                (
                    if x["dir"] == "c2s" { C } else { S },
                    B,
                    b.as_slice(),
                    i as i128 * 10,
                )
            })
            .collect();
        let r = sub("mqtt", &msgs);
        assert!(r.finds.is_empty(), "level {level}: {:?}", r.finds);
        assert_eq!(r.recs.len(), vs.len());
        for (rec, x) in r.recs.iter().zip(&vs) {
            assert_eq!(rec.kind, x["cmd"].as_str().unwrap(), "level {level}");
            // CONNECT is named by its client identifier.
            let name = if rec.kind == "CONNECT" {
                Some("client-1")
            } else {
                x["topic"].as_str()
            };
            if rec.answers.is_none() {
                assert_eq!(rec.name.as_deref(), name, "{}", rec.kind);
            }
            assert_eq!(
                rec.id,
                x["id"].as_u64().map(|n| n.to_string()),
                "{}",
                rec.kind
            );
            assert_eq!(
                rec.detail.qos.map(u64::from),
                x["qos"].as_u64().or(rec
                    .detail
                    .qos
                    .filter(|_| rec.kind == "SUBSCRIBE")
                    .map(u64::from))
            );
            assert_eq!(rec.detail.retain, x["retain"].as_bool());
            assert_eq!(rec.detail.payload_len, x["payload_len"].as_u64());
            let code = rec.error.as_ref().and_then(|e| e.code.clone());
            assert_eq!(
                code,
                x["error_code"].as_u64().map(|c| format!("0x{c:02X}")),
                "{}",
                rec.kind
            );
        }
        // Every answer paired with its request, from the other side.
        for k in [
            "CONNACK", "SUBACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "UNSUBACK", "PINGRESP",
        ] {
            let a = r.rec(k);
            assert_eq!(a.latency_ns, Some(10_000_000), "{k} level {level}");
        }
        assert_eq!(r.rec("CONNECT").detail.keep_alive_s, Some(30));
        // 5.0 §3.2.2.3.14: the server's Server Keep Alive replaces the client's.
        assert_eq!(
            r.rec("CONNACK").detail.keep_alive_s,
            (level == 5).then_some(20)
        );
        assert!(r.find(AppFindingKind::Unanswered).is_empty());
    }
}

/// The packets of one direction, fed split at every offset (and one byte
/// per message), decode the same.
fn every_cut(p: AppProtocol, dir: Direction, stream: &[u8]) {
    every_cut_as(p, dir, B, stream);
}

fn every_cut_as(p: AppProtocol, dir: Direction, op: Opcode, stream: &[u8]) {
    let whole = forced(p, &[(dir, op, stream, 0)]);
    assert!(!whole.recs.is_empty());
    for cut in 0..=stream.len() {
        let r = forced(
            p,
            &[(dir, B, &stream[..cut], 0), (dir, B, &stream[cut..], 1)],
        );
        assert_eq!(seen(&r), seen(&whole), "cut at {cut}");
        let what = |f: &Vec<AppFinding>| {
            f.iter()
                .map(|f| (f.kind, f.detail.replace("message 1", "message 0")))
                .collect::<Vec<_>>()
        };
        assert_eq!(what(&r.finds), what(&whole.finds), "cut at {cut}");
    }
    let bytes: Vec<Msg<'_>> = stream.chunks(1).map(|c| (dir, op, c, 0)).collect();
    assert_eq!(seen(&forced(p, &bytes)), seen(&whole));
}

#[test]
fn mqtt_every_cut() {
    let v: Value = serde_json::from_str(include_str!("data/app/mqtt-packet.json")).unwrap();
    for level in [4, 5] {
        let stream: Vec<u8> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["level"] == level && x["dir"] == "c2s")
            .flat_map(|x| hex(x["hex"].as_str().unwrap()))
            .collect();
        every_cut(AppProtocol::Mqtt, C, &stream);
    }
}

#[test]
fn mqtt_keep_alive_and_malformed() {
    // CONNECT keep-alive 10 s; PINGREQ at 14 s is fine, the next at 30 s is late (> 15 s).
    let connect = hex("100c00044d5154540402000a0000");
    let r = forced(
        AppProtocol::Mqtt,
        &[
            (C, B, &connect, 0),
            (C, B, &[0xc0, 0], 14_000),
            (S, B, &[0xd0, 0], 14_010),
            (C, B, &[0xc0, 0], 30_000),
        ],
    );
    let late = r.find(AppFindingKind::KeepAliveLate);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].index, Some(3));
    assert_eq!(r.recs[2].latency_ns, Some(10_000_000));
    // QoS 3, a PUBREL with flags 0, a 5-byte remaining length, text message.
    let r = forced(
        AppProtocol::Mqtt,
        &[
            (C, B, &hex("36050001610001"), 0),
            (C, B, &hex("60020001"), 1),
            (C, B, &hex("30ffffffff01"), 2),
            (C, T, b"hi", 3),
        ],
    );
    let sections: Vec<_> = r
        .find(AppFindingKind::Malformed)
        .iter()
        .map(|f| f.section.unwrap())
        .collect();
    assert_eq!(
        sections,
        [
            "MQTT 3.1.1 §3.3.1.2",
            "MQTT 3.1.1 §2.2.2",
            "MQTT 3.1.1 §2.2.3",
            "MQTT 3.1.1 §6"
        ]
    );
    // A CONNACK refusal (3.1.1 §3.2.2.3).
    let r = forced(
        AppProtocol::Mqtt,
        &[(C, B, &connect, 0), (S, B, &hex("20020005"), 1)],
    );
    assert_eq!(
        r.recs[1].error.as_ref().unwrap().message.as_deref(),
        Some("not authorized")
    );
}

#[test]
fn mqtt_5_recognised_without_its_connect() {
    // A capture that starts after CONNECT: a PUBACK with a reason code
    // (0x87 Not authorized) is 5.0; the SUBACK after it is read with properties.
    let r = forced(
        AppProtocol::Mqtt,
        &[
            (S, B, &hex("400400018700"), 0),
            (S, B, &hex("900400020000"), 1),
            (S, B, &hex("900400030080"), 2),
        ],
    );
    assert_eq!(r.kinds(), ["PUBACK", "SUBACK", "SUBACK"]);
    assert_eq!(
        r.recs[0].error.as_ref().unwrap().code.as_deref(),
        Some("0x87")
    );
    assert_eq!(
        r.recs[2].error.as_ref().unwrap().code.as_deref(),
        Some("0x80")
    );
    assert!(r.recs[1].error.is_none());
}

#[test]
fn mqtt_huge_remaining_length_is_skipped_not_held() {
    // PUBLISH announcing 268 435 455 bytes (the largest, 2^28 − 1), fed in
    // 64 KiB messages: decoded from its first bytes, the rest skipped.
    let limits = AppLimits {
        max_buffered: 4096,
        ..AppLimits::default()
    };
    let mut first = hex("30ffffff7f0003612f62");
    first.resize(65536, b'x');
    let chunk = vec![b'y'; 65536];
    let mut msgs: Vec<Msg<'_>> = vec![(C, B, &first, 0)];
    for _ in 0..64 {
        msgs.push((C, B, &chunk, 1));
    }
    msgs.push((C, B, &[0xc0, 0], 2));
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(AppProtocol::Mqtt),
        limits,
        &msgs,
        true,
    );
    assert!(r.max_held <= 4096, "held {}", r.max_held);
    let p = r.rec("PUBLISH");
    assert_eq!(
        (p.name.as_deref(), p.detail.truncated, p.detail.payload_len),
        (Some("a/b"), true, Some(268_435_455 - 5))
    );
    assert_eq!(r.find(AppFindingKind::CapReached).len(), 1);
    // Still inside the packet: the PINGREQ bytes are part of it.
    assert_eq!(r.kinds(), ["PUBLISH"]);
    assert_eq!(r.find(AppFindingKind::Incomplete).len(), 0);
}

#[test]
fn mqtt_incomplete_message_is_undecodable() {
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(AppProtocol::Mqtt),
        AppLimits::default(),
        &[(C, B, &hex("3005"), 0)],
        false,
    );
    assert!(r.recs.is_empty());
    assert_eq!(r.find(AppFindingKind::Undecodable).len(), 1);
}

// ---------------------------------------------------------------- STOMP

#[test]
fn stomp_spec_frames() {
    let error_body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\nfor message propagation.\n";
    let error = format!(
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:{}\nmessage:malformed frame received\n\n{error_body}\0",
        error_body.len()
    );
    let r = sub(
        "v12.stomp",
        &[
            (C, T, b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0", 0),
            (S, T, b"CONNECTED\nversion:1.2\n\n\0", 2),
            (C, T, b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0", 3),
            (C, T, b"SEND\ndestination:/queue/a\nreceipt:message-12345\n\nhello queue a\0", 4),
            (S, T, b"RECEIPT\nreceipt-id:message-12345\n\n\0", 7),
            (S, T, b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0", 8),
            (C, T, b"ACK\nid:12345\ntransaction:tx1\n\n\0", 9),
            (C, T, b"\n", 10),
            (C, T, b"SEND\ndestination:/queue/b\nreceipt:r2\n\n\0", 11),
            (S, T, error.as_bytes(), 12),
        ],
    );
    assert_eq!(
        r.kinds(),
        [
            "CONNECT",
            "CONNECTED",
            "SUBSCRIBE",
            "SEND",
            "RECEIPT",
            "MESSAGE",
            "ACK",
            "heartbeat",
            "SEND",
            "ERROR"
        ]
    );
    assert_eq!(r.recs[1].latency_ns, Some(2_000_000));
    assert_eq!(
        (
            r.recs[3].name.as_deref(),
            r.recs[3].id.as_deref(),
            r.recs[3].detail.payload_len
        ),
        (Some("/queue/a"), Some("message-12345"), Some(13))
    );
    assert_eq!(
        (
            r.recs[4].answers,
            r.recs[4].latency_ns,
            r.recs[4].name.as_deref()
        ),
        (Some(3), Some(3_000_000), Some("/queue/a"))
    );
    assert_eq!(
        (r.recs[5].id.as_deref(), r.recs[5].channel.as_deref()),
        (Some("007"), Some("0"))
    );
    let e = r.rec("ERROR");
    assert_eq!(
        e.error.as_ref().unwrap().message.as_deref(),
        Some("malformed frame received")
    );
    assert_eq!(e.detail.payload_len, Some(error_body.len() as u64));
    // The ERROR names receipt message-12345, already answered: r2 stays unanswered.
    let un = r.find(AppFindingKind::Unanswered);
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].index, Some(8));
}

#[test]
fn stomp_escaping_and_binary_bodies() {
    let body = b"a\0b\nc";
    let mut frame = b"SEND\ndestination:/queue/a\\cb\\\\c\\nd\ncontent-length:5\n\n".to_vec();
    frame.extend_from_slice(body);
    frame.extend_from_slice(b"\0\n\nMESSAGE\ndestination:/x\nmessage-id:1\nsubscription:s\n\n\0");
    let r = sub("v12.stomp", &[(C, B, &frame, 0)]);
    assert_eq!(r.kinds(), ["SEND", "MESSAGE"]);
    assert_eq!(r.recs[0].name.as_deref(), Some("/queue/a:b\\c\nd"));
    assert_eq!(r.recs[0].detail.payload_len, Some(5));
    // STOMP 1.0 does not unescape.
    let r = sub("v10.stomp", &[(C, T, b"SEND\ndestination:/a\\cb\n\n\0", 0)]);
    assert_eq!(r.recs[0].name.as_deref(), Some("/a\\cb"));
    // An undefined escape in 1.2 is malformed.
    let r = sub("v12.stomp", &[(C, T, b"SEND\ndestination:/a\\tb\n\n\0", 0)]);
    assert_eq!(
        r.find(AppFindingKind::Malformed)[0].section,
        Some("STOMP 1.2 §Value Encoding")
    );
    // CRLF line ends (1.2) and the first of repeated headers.
    let r = sub(
        "v12.stomp",
        &[(
            C,
            T,
            b"SEND\r\ndestination:/first\r\ndestination:/second\r\n\r\nx\0",
            0,
        )],
    );
    assert_eq!(r.recs[0].name.as_deref(), Some("/first"));
    every_cut(AppProtocol::Stomp, C, &frame);
}

#[test]
fn stomp_header_bomb_and_huge_body_are_bounded() {
    let limits = AppLimits {
        max_buffered: 8192,
        ..AppLimits::default()
    };
    let mut bomb = b"SEND\ndestination:/q\n".to_vec();
    let line = b"h:v\n".repeat(16384);
    let mut msgs: Vec<Msg<'_>> = vec![(C, T, b"SEND\ndestination:/q\n", 0)];
    bomb.clear();
    for _ in 0..16 {
        msgs.push((C, T, &line, 1));
    }
    msgs.push((C, T, b"\nbody\0SEND\ndestination:/after\n\n\0", 2));
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(AppProtocol::Stomp),
        limits,
        &msgs,
        true,
    );
    assert!(r.max_held <= 8192, "held {}", r.max_held);
    assert_eq!(r.kinds(), ["SEND"]);
    assert_eq!(r.recs[0].name.as_deref(), Some("/after"));
    assert_eq!(r.find(AppFindingKind::CapReached).len(), 1);
    // A content-length of 2^40: decoded from its headers, the body skipped.
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(AppProtocol::Stomp),
        limits,
        &[(
            C,
            T,
            &[
                b"SEND\ndestination:/big\ncontent-length:1099511627776\n\n".as_slice(),
                &[b'x'; 10000],
            ]
            .concat(),
            0,
        )],
        true,
    );
    assert!(r.max_held <= 8192);
    assert_eq!(
        (
            r.recs[0].name.as_deref(),
            r.recs[0].detail.payload_len,
            r.recs[0].detail.truncated
        ),
        (Some("/big"), Some(1 << 40), true)
    );
}

// ---------------------------------------------------------------- GraphQL

#[test]
fn graphql_transport_ws_protocol_md() {
    let r = sub(
        "graphql-transport-ws",
        &[
            (C, T, br#"{"type":"connection_init","payload":{}}"#, 0),
            (S, T, br#"{"type":"connection_ack"}"#, 1),
            (C, T, br#"{"id":"a1","type":"subscribe","payload":{"query":"subscription Greetings { greetings }"}}"#, 2),
            (S, T, br#"{"id":"a1","type":"next","payload":{"data":{"greetings":"Hi"}}}"#, 5),
            (S, T, br#"{"id":"a1","type":"next","payload":{"data":{"greetings":"Bonjour"}}}"#, 6),
            (S, T, br#"{"id":"a1","type":"complete"}"#, 9),
            (C, T, br#"{"id":"b2","type":"subscribe","payload":{"operationName":"Bad","query":"query Bad { x }"}}"#, 10),
            (S, T, br#"{"id":"b2","type":"error","payload":[{"message":"Cannot query field \"x\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}"#, 12),
            (C, T, br#"{"id":"c3","type":"subscribe","payload":{"query":"{ tick }"}}"#, 13),
            (C, T, br#"{"id":"c3","type":"complete"}"#, 14),
            (S, T, br#"{"type":"ping"}"#, 15),
            (C, T, br#"{"type":"pong"}"#, 16),
        ],
    );
    let first = &r.recs[3];
    assert_eq!(
        (first.name.as_deref(), first.answers, first.latency_ns),
        (Some("Greetings"), Some(2), Some(3_000_000))
    );
    // Later items and the end answer the same request, marked as later answers.
    assert_eq!(
        (
            r.recs[4].answers,
            r.recs[4].later_answer,
            r.recs[4].latency_ns
        ),
        (Some(2), true, Some(4_000_000))
    );
    assert!(!r.recs[3].later_answer);
    assert!(r.recs[5].stream_end && r.recs[5].later_answer);
    let e = &r.recs[7];
    assert_eq!(
        e.error.as_ref().unwrap().code.as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    assert_eq!((e.answers, e.name.as_deref()), (Some(6), Some("Bad")));
    assert_eq!(r.recs[11].latency_ns, Some(1_000_000));
    assert!(r.finds.is_empty(), "{:?}", r.finds);
}

#[test]
fn graphql_legacy_subscriptions_transport_ws() {
    let r = sub(
        "graphql-ws",
        &[
            (C, T, br#"{"type":"connection_init","payload":{}}"#, 0),
            (S, T, br#"{"type":"connection_ack"}"#, 1),
            (S, T, br#"{"type":"ka"}"#, 2),
            (C, T, br#"{"id":"1","type":"start","payload":{"query":"subscription onMsg { msg }"}}"#, 3),
            (S, T, br#"{"id":"1","type":"data","payload":{"data":null,"errors":[{"message":"boom"}]}}"#, 4),
            (C, T, br#"{"id":"1","type":"stop"}"#, 5),
            (C, T, br#"{"type":"connection_terminate"}"#, 6),
        ],
    );
    assert_eq!(
        r.kinds(),
        [
            "connection_init",
            "connection_ack",
            "ka",
            "start",
            "data",
            "stop",
            "connection_terminate"
        ]
    );
    assert_eq!(
        r.recs[4].error.as_ref().unwrap().message.as_deref(),
        Some("boom")
    );
    assert_eq!(r.recs[4].name.as_deref(), Some("onMsg"));
    assert!(r.find(AppFindingKind::Unanswered).is_empty());
}

// ---------------------------------------------------------------- JSON-RPC

#[test]
fn jsonrpc_spec_examples_with_batches() {
    let r = forced(
        AppProtocol::JsonRpc,
        &[
            (
                C,
                T,
                br#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
                0,
            ),
            (S, T, br#"{"jsonrpc": "2.0", "result": 19, "id": 1}"#, 3),
            (
                C,
                T,
                br#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
                4,
            ),
            (
                C,
                T,
                br#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#,
                10,
            ),
            (
                S,
                T,
                br#"[
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ]"#,
                15,
            ),
            (C, T, b"[]", 16),
            (S, T, br#"{"jsonrpc": "2.0", "result": 1, "id": "1"}"#, 17),
        ],
    );
    assert_eq!(
        r.kinds(),
        [
            "request",
            "response",
            "notification",
            "request",
            "notification",
            "request",
            "request",
            "request",
            "response",
            "response",
            "response",
            "response",
            "response",
            "response"
        ]
    );
    assert_eq!(
        (
            r.recs[1].answers,
            r.recs[1].latency_ns,
            r.recs[1].name.as_deref()
        ),
        (Some(0), Some(3_000_000), Some("subtract"))
    );
    let batch: Vec<_> = r.recs[8..13]
        .iter()
        .map(|x| (x.name.as_deref(), x.answers))
        .collect();
    assert_eq!(
        batch,
        [
            (Some("sum"), Some(3)),
            (Some("subtract"), Some(3)),
            (None, None),
            (Some("foo.get"), Some(3)),
            (Some("get_data"), Some(3))
        ]
    );
    assert_eq!(
        r.recs[11].error.as_ref().unwrap().code.as_deref(),
        Some("-32601")
    );
    // `"1"` was answered; the last response answers nothing.
    assert_eq!(r.recs[13].answers, None);
    let bad: Vec<_> = r
        .find(AppFindingKind::Malformed)
        .iter()
        .map(|f| f.detail.clone())
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}"); // {"foo": "boo"} and []
}

#[test]
fn jsonrpc_numeric_and_string_ids_differ() {
    let r = forced(
        AppProtocol::JsonRpc,
        &[
            (C, T, br#"{"jsonrpc":"2.0","method":"a","id":1}"#, 0),
            (S, T, br#"{"jsonrpc":"2.0","result":0,"id":"1"}"#, 1),
        ],
    );
    assert_eq!(r.recs[1].answers, None);
    assert_eq!(r.find(AppFindingKind::Unanswered).len(), 1);
}

#[test]
fn json_hostile_nesting_and_counts_are_bounded() {
    let deep = format!("42{}", "[".repeat(200_000));
    let r = forced(AppProtocol::SocketIo, &[(C, T, deep.as_bytes(), 0)]);
    assert_eq!(r.find(AppFindingKind::CapReached).len(), 1);
    let deep = "[".repeat(100) + &"]".repeat(100);
    let r = forced(AppProtocol::JsonRpc, &[(C, T, deep.as_bytes(), 0)]);
    assert_eq!(r.find(AppFindingKind::CapReached).len(), 1);
    let huge = format!("[{}{{}}]", "{},".repeat(300_000));
    let r = forced(AppProtocol::JsonRpc, &[(C, T, huge.as_bytes(), 0)]);
    assert_eq!(r.find(AppFindingKind::CapReached).len(), 1);
    assert!(r.find(AppFindingKind::Malformed).len() <= 1000);
    // Requests never answered: the table is capped, the rest counted.
    let limits = AppLimits {
        max_pending: 10,
        ..AppLimits::default()
    };
    let reqs: Vec<String> = (0..50)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"m","id":{i}}}"#))
        .collect();
    let msgs: Vec<Msg<'_>> = reqs.iter().map(|s| (C, T, s.as_bytes(), 0)).collect();
    let r = session(
        HandshakeHints::default(),
        AppChoice::Forced(AppProtocol::JsonRpc),
        limits,
        &msgs,
        true,
    );
    assert_eq!(r.find(AppFindingKind::Unanswered).len(), 10);
    assert!(
        r.find(AppFindingKind::CapReached)[0]
            .detail
            .starts_with("40 requests")
    );
}

// ---------------------------------------------------------------- OCPP

#[test]
fn ocpp_j_examples() {
    let r = sub(
        "ocpp1.6",
        &[
            (C, T, br#"[2,"19223201","BootNotification",{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]"#, 0),
            (S, T, br#"[3,"19223201",{"status":"Accepted","currentTime":"2013-02-01T20:53:32.486Z","heartbeatInterval":300}]"#, 40),
            (S, T, br#"[2,"162376037","SetDisplayMessage",{}]"#, 50),
            (C, T, br#"[4,"162376037","NotSupported","SetDisplayMessageRequest not implemented",{}]"#, 51),
            (C, T, br#"[2,"x","Heartbeat",{}]"#, 60),
        ],
    );
    assert_eq!(
        r.kinds(),
        ["CALL", "CALLRESULT", "CALL", "CALLERROR", "CALL"]
    );
    assert_eq!(
        (r.recs[1].name.as_deref(), r.recs[1].latency_ns),
        (Some("BootNotification"), Some(40_000_000))
    );
    let e = r.recs[3].error.as_ref().unwrap();
    assert_eq!(
        (e.code.as_deref(), r.recs[3].answers),
        (Some("NotSupported"), Some(2))
    );
    assert_eq!(r.find(AppFindingKind::Unanswered).len(), 1);
}

// ---------------------------------------------------------------- SignalR

#[test]
fn signalr_hub_protocol_md() {
    let r = sub("", &[]);
    assert!(r.recs.is_empty());
    let hints = HandshakeHints {
        subprotocol: None,
        target: Some("/chathub?id=x"),
    };
    let r = session(
        hints,
        AppChoice::Auto,
        AppLimits::default(),
        &[
            (C, T, b"{\"protocol\":\"json\",\"version\":1}\x1e", 0),
            (S, T, b"{}\x1e", 1),
            (C, T, b"{\"type\":1,\"invocationId\":\"123\",\"target\":\"Send\",\"arguments\":[42,\"Test Message\"]}\x1e{\"type\":1,\"target\":\"Fire\",\"arguments\":[]}\x1e", 2),
            (S, T, b"{\"type\":3,\"invocationId\":\"123\",\"result\":42}\x1e{\"type\":6}\x1e", 6),
            (C, T, b"{\"type\":4,\"invocationId\":\"9\",\"target\":\"Counter\",\"arguments\":[]}\x1e", 7),
            (S, T, b"{\"type\":2,\"invocationId\":\"9\",\"item\":1}\x1e", 8),
            (S, T, b"{\"type\":2,\"invocationId\":\"9\",\"item\":2}\x1e{\"type\":3,\"invocationId\":\"9\"", 9),
            (S, T, b"}\x1e", 10),
            (C, T, b"{\"type\":1,\"invocationId\":\"5\",\"target\":\"Fail\",\"arguments\":[]}\x1e", 11),
            (S, T, b"{\"type\":3,\"invocationId\":\"5\",\"error\":\"It didn't work!\"}\x1e{\"type\":7,\"error\":\"Connection closed because of an error!\"}\x1e", 12),
        ],
        true,
    );
    assert_eq!(
        r.detection,
        Some((AppProtocol::SignalR, DetectedBy::RequestTarget))
    );
    assert_eq!(
        r.kinds(),
        [
            "Handshake",
            "HandshakeResponse",
            "Invocation",
            "Invocation",
            "Completion",
            "Ping",
            "StreamInvocation",
            "StreamItem",
            "StreamItem",
            "Completion",
            "Invocation",
            "Completion",
            "Close"
        ]
    );
    assert_eq!(
        (
            r.recs[4].answers,
            r.recs[4].latency_ns,
            r.recs[4].name.as_deref()
        ),
        (Some(2), Some(4_000_000), Some("Send"))
    );
    assert_eq!(
        (r.recs[7].answers, r.recs[8].answers, r.recs[8].later_answer),
        (Some(4), Some(4), true)
    );
    assert!(r.recs[9].stream_end);
    assert_eq!(r.recs[9].messages, [6, 7]);
    assert_eq!(
        r.recs[11].error.as_ref().unwrap().message.as_deref(),
        Some("It didn't work!")
    );
    assert!(r.finds.is_empty(), "{:?}", r.finds);
    let stream = b"{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":1,\"invocationId\":\"1\",\"target\":\"S\",\"arguments\":[\"\\u001e\"]}\x1e{\"type\":6}\x1e";
    every_cut_as(AppProtocol::SignalR, C, T, stream);
}

// ---------------------------------------------------------------- Phoenix, WAMP, Action Cable

#[test]
fn phoenix_channels_v2() {
    let hints = HandshakeHints {
        subprotocol: None,
        target: Some("/socket/websocket?token=t&vsn=2.0.0"),
    };
    let r = session(
        hints,
        AppChoice::Auto,
        AppLimits::default(),
        &[
            (C, T, br#"["1","1","room:lobby","phx_join",{}]"#, 0),
            (S, T, br#"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#, 2),
            (C, T, br#"["1","2","room:lobby","new_msg",{"body":"hi"}]"#, 3),
            (S, T, br#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#, 4),
            (S, T, br#"["1","2","room:lobby","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#, 6),
            (C, T, br#"[null,"3","phoenix","heartbeat",{}]"#, 7),
            (S, T, br#"[null,"3","phoenix","phx_reply",{"status":"ok","response":{}}]"#, 8),
        ],
        true,
    );
    assert_eq!(
        r.kinds(),
        [
            "phx_join",
            "phx_reply",
            "push",
            "broadcast",
            "phx_reply",
            "heartbeat",
            "phx_reply"
        ]
    );
    assert_eq!(r.recs[1].latency_ns, Some(2_000_000));
    let e = &r.recs[4];
    assert_eq!(
        (
            e.name.as_deref(),
            e.answers,
            e.error.as_ref().unwrap().message.as_deref()
        ),
        (Some("new_msg"), Some(2), Some("unauthorized"))
    );
    assert_eq!(r.recs[6].answers, Some(5));
    // The binary v2 layout: a push.
    let mut push = vec![0u8, 1, 1, 10, 7];
    push.extend_from_slice(b"12room:lobbynew_msg");
    push.extend_from_slice(b"\x01\x02");
    let r = forced(AppProtocol::Phoenix, &[(C, B, &push, 0)]);
    assert_eq!(
        (
            r.recs[0].kind,
            r.recs[0].name.as_deref(),
            r.recs[0].channel.as_deref(),
            r.recs[0].detail.payload_len
        ),
        ("push", Some("new_msg"), Some("room:lobby"), Some(2))
    );
}

#[test]
fn wamp_v2_json() {
    let r = sub(
        "wamp.2.json",
        &[
            (C, T, br#"[1,"somerealm",{"roles":{"caller":{},"subscriber":{}}}]"#, 0),
            (S, T, br#"[2,9129137332,{"roles":{"dealer":{},"broker":{}}}]"#, 1),
            (C, T, br#"[32,713845233,{},"com.myapp.mytopic1"]"#, 2),
            (S, T, br#"[33,713845233,5512315355]"#, 3),
            (S, T, br#"[36,5512315355,4429313566,{},[1]]"#, 4),
            (C, T, br#"[48,7814135,{},"com.myapp.ping"]"#, 5),
            (S, T, br#"[50,7814135,{}]"#, 8),
            (C, T, br#"[48,7814136,{},"com.myapp.write"]"#, 9),
            (S, T, br#"[8,48,7814136,{},"com.myapp.error.object_write_protected",["Object is write protected."],{"severity":3}]"#, 10),
            (C, T, br#"[6,{},"wamp.close.close_realm"]"#, 11),
        ],
    );
    assert_eq!(
        r.kinds(),
        [
            "HELLO",
            "WELCOME",
            "SUBSCRIBE",
            "SUBSCRIBED",
            "EVENT",
            "CALL",
            "RESULT",
            "CALL",
            "ERROR",
            "GOODBYE"
        ]
    );
    assert_eq!(
        (r.recs[6].name.as_deref(), r.recs[6].latency_ns),
        (Some("com.myapp.ping"), Some(3_000_000))
    );
    let e = &r.recs[8];
    assert_eq!(
        (e.answers, e.error.as_ref().unwrap().code.as_deref()),
        (Some(7), Some("com.myapp.error.object_write_protected"))
    );
    assert!(r.finds.is_empty(), "{:?}", r.finds);
    // The EVENT is named by the topic its subscription was made for.
    assert_eq!(r.recs[4].name.as_deref(), Some("com.myapp.mytopic1"));
}

#[test]
fn action_cable() {
    let ident = r#"{\"channel\":\"ChatChannel\",\"room\":\"1\"}"#;
    let sub_msg = format!(r#"{{"command":"subscribe","identifier":"{ident}"}}"#);
    let confirm = format!(r#"{{"identifier":"{ident}","type":"confirm_subscription"}}"#);
    let speak = format!(
        r#"{{"command":"message","identifier":"{ident}","data":"{{\"message\":\"hi\",\"action\":\"speak\"}}"}}"#
    );
    let bcast = format!(r#"{{"identifier":"{ident}","message":{{"body":"hi"}}}}"#);
    let r = sub(
        "actioncable-v1-json",
        &[
            (S, T, br#"{"type":"welcome"}"#, 0),
            (C, T, sub_msg.as_bytes(), 1),
            (S, T, confirm.as_bytes(), 4),
            (C, T, speak.as_bytes(), 5),
            (S, T, bcast.as_bytes(), 6),
            (S, T, br#"{"type":"ping","message":1700000000}"#, 7),
            (
                S,
                T,
                br#"{"type":"disconnect","reason":"unauthorized","reconnect":false}"#,
                8,
            ),
        ],
    );
    assert_eq!(
        r.kinds(),
        [
            "welcome",
            "subscribe",
            "confirm_subscription",
            "message",
            "broadcast",
            "ping",
            "disconnect"
        ]
    );
    assert_eq!(
        (r.recs[2].latency_ns, r.recs[2].channel.as_deref()),
        (Some(3_000_000), Some("ChatChannel"))
    );
    assert_eq!(r.recs[3].name.as_deref(), Some("speak"));
    assert!(r.recs[6].error.is_some());
}

#[test]
fn incomplete_json_messages_are_not_guessed() {
    for p in [
        AppProtocol::JsonRpc,
        AppProtocol::Ocpp,
        AppProtocol::GraphqlTransportWs,
        AppProtocol::SocketIo,
        AppProtocol::Stomp,
        AppProtocol::SignalR,
        AppProtocol::Wamp,
        AppProtocol::Phoenix,
        AppProtocol::ActionCable,
    ] {
        let r = session(
            HandshakeHints::default(),
            AppChoice::Forced(p),
            AppLimits::default(),
            &[(C, T, br#"[2,"1","Heartbeat",{}]"#, 0)],
            false,
        );
        assert!(r.recs.is_empty(), "{p}");
        assert_eq!(r.find(AppFindingKind::Undecodable).len(), 1, "{p}");
    }
}

// ---------------------------------------------------------------- real captures

/// The captures of real peers in `captures/app/` (recorded by another
/// branch, with truth files from the peers' own logs): every application
/// record's kind, name, id, pairing, latency and error must be what the
/// truth says, as the whole pipeline reports them (`Connection::
/// app_messages`); latencies are between the messages' last packets, as
/// the truth measures them.
#[test]
fn real_captures_match_their_truth() {
    use wsinspect::analysis::{Limits, NullSink};
    // `WSINSPECT_APP_CAPTURES` points elsewhere (another worktree's captures).
    let dir = std::env::var_os("WSINSPECT_APP_CAPTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/app"));
    let entries = std::fs::read_dir(&dir).expect("captures/app is committed");
    let mut pcaps: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "pcap") && p.with_extension("truth.json").exists()
        })
        .collect();
    pcaps.sort();
    // Each capture's truth and analysis, read once for both checks below.
    let runs: Vec<_> = pcaps
        .iter()
        .map(|pcap| {
            let truth: Value = serde_json::from_str(
                &std::fs::read_to_string(pcap.with_extension("truth.json")).unwrap(),
            )
            .unwrap();
            let a = wsinspect::pipeline::analyze_path(
                pcap.to_str().unwrap(),
                Limits::default(),
                &mut NullSink,
            )
            .unwrap();
            (pcap, truth, a)
        })
        .collect();
    let mut compared = 0;
    for (pcap, truth, a) in &runs {
        for c in a.connections.iter().filter(|c| !c.messages.is_empty()) {
            let name = pcap.file_name().unwrap().to_string_lossy();
            let t = truth["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["client"].as_str() == Some(c.client.to_string().as_str()));
            let Some(t) = t.filter(|t| t["app_protocol"].is_string()) else {
                continue;
            };
            // As the pipeline decoded them (issue 21: the model's records).
            let mut recs = c.app_messages.clone();
            recs.sort_by_key(|r| r.index);
            let mut want = Vec::new();
            for (i, m) in t["messages"].as_array().unwrap().iter().enumerate() {
                match &m["app"] {
                    Value::Array(list) => want.extend(list.iter().map(|x| (i as u64, x))),
                    Value::Null => {}
                    one => want.push((i as u64, one)),
                }
            }
            assert_eq!(recs.len(), want.len(), "{name} {}: records", c.client);
            for (r, (i, w)) in recs.iter().zip(want) {
                let at = format!("{name} {} message {i} {}", c.client, r.kind);
                assert_eq!((r.index, Some(r.kind)), (i, w["kind"].as_str()), "{at}");
                let id = match &w["id"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                assert_eq!(r.id, id, "{at}: id");
                // The truth leaves an answer's name null; ours repeats the request's.
                if let Some(n) = w["name"].as_str() {
                    assert_eq!(r.name.as_deref(), Some(n), "{at}: name");
                }
                assert_eq!(r.answers, w["answers"].as_u64(), "{at}: answers");
                if let Some(ms) = w["latency_ms"].as_f64() {
                    let ns = r.latency_ns.expect("a latency");
                    assert!(
                        (ns as f64 / 1e6 - ms).abs() < 1e-6,
                        "{at}: latency {ns} ns, truth {ms} ms"
                    );
                }
                let is_err = !w["error"].is_null();
                assert_eq!(r.error.is_some(), is_err, "{at}: error");
                compared += 1;
            }
        }
    }
    eprintln!("{compared} records compared over {} captures", pcaps.len());
    // Engine.IO long-polling: every HTTP exchange's `request_app` /
    // `response_app`, exact, on every connection (plain HTTP ones too).
    let mut polled = 0;
    for (pcap, truth, a) in &runs {
        let name = pcap.file_name().unwrap().to_string_lossy();
        for t in truth["connections"].as_array().unwrap() {
            let Some(c) = a
                .connections
                .iter()
                .find(|c| t["client"].as_str() == Some(c.client.to_string().as_str()))
            else {
                continue;
            };
            let tx = t["http_exchanges"].as_array().cloned().unwrap_or_default();
            assert_eq!(c.http_exchanges.len(), tx.len(), "{name} {}", c.client);
            let mut any = false;
            for (i, (x, w)) in c.http_exchanges.iter().zip(&tx).enumerate() {
                for (key, got) in [
                    ("request_app", &x.request_app),
                    ("response_app", &x.response_app),
                ] {
                    let want = w[key].as_array().cloned().unwrap_or_default();
                    let at = format!("{name} {} exchange {i} {key}", c.client);
                    let kinds: Vec<_> = got.iter().map(|r| r.kind).collect();
                    let want_kinds: Vec<_> =
                        want.iter().map(|r| r["kind"].as_str().unwrap()).collect();
                    assert_eq!(kinds, want_kinds, "{at}");
                    for (r, w) in got.iter().zip(&want) {
                        let id = match &w["id"] {
                            Value::Null => None,
                            Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        };
                        assert_eq!(r.id, id, "{at}: id");
                        // As above: an answer repeats its request's name.
                        if w["name"].is_string() || r.answers.is_none() {
                            assert_eq!(r.name.as_deref(), w["name"].as_str(), "{at}: name");
                        }
                        // (The truth does not pair polling packets: checked below.)
                        assert_eq!(r.error.is_some(), !w["error"].is_null(), "{at}: error");
                        if let Some(ns) = w["namespace"].as_str() {
                            assert_eq!(r.channel.as_deref(), Some(ns), "{at}: namespace");
                        }
                        if let Some(sid) = w["sid"].as_str() {
                            assert_eq!(r.detail.session.as_deref(), Some(sid), "{at}: sid");
                        }
                        polled += 1;
                        any = true;
                    }
                }
            }
            if any {
                let d = c.app_protocol.expect("a polling connection is named");
                assert_eq!(
                    d.protocol.name(),
                    t["app_protocol"].as_str().unwrap(),
                    "{name}"
                );
            }
        }
    }
    eprintln!("{polled} long-polling records compared");
    // Pairing across the connections of one Engine.IO session: in
    // socketio_v4 the client's CONNECT is POSTed on one connection and the
    // server's answer comes in a GET response on another.
    let a = wsinspect::pipeline::analyze_path(
        dir.join("socketio_v4.pcap").to_str().unwrap(),
        Limits::default(),
        &mut NullSink,
    )
    .unwrap();
    let polls: Vec<_> = a
        .connections
        .iter()
        .flat_map(|c| c.polling_records().map(move |(_, r)| (c.id, r)))
        .collect();
    let (req_conn, req) = polls
        .iter()
        .find(|(_, r)| r.kind == "CONNECT" && r.dir == Direction::ClientToServer)
        .unwrap();
    let (ans_conn, ans) = polls
        .iter()
        .find(|(_, r)| r.kind == "CONNECT" && r.dir == Direction::ServerToClient)
        .unwrap();
    assert_ne!(req_conn, ans_conn);
    assert_eq!(req.detail.session, ans.detail.session);
    assert_eq!(ans.answers, Some(req.index));
    assert_eq!(
        ans.latency_ns,
        Some(i64::try_from(ans.ts.0 - req.ts.0).unwrap())
    );
    assert!(ans.latency_ns.unwrap() > 0);
    // socketio_polling (python-socketio 5, polling only, two keep-alive
    // connections) and socketio_h2 (over HTTP/2, one connection, streams
    // interleaved): every ACK answers the EVENT of the other direction
    // with its id in the same session, wherever the two travelled.
    for (file, want_acks, want_across) in
        [("socketio_polling.pcap", 5, 3), ("socketio_h2.pcap", 2, 0)]
    {
        let a = wsinspect::pipeline::analyze_path(
            dir.join(file).to_str().unwrap(),
            Limits::default(),
            &mut NullSink,
        )
        .unwrap();
        let polls: Vec<_> = a
            .connections
            .iter()
            .flat_map(|c| c.polling_records().map(move |(_, r)| (c.id, r)))
            .collect();
        let mut acks = 0;
        let mut across = 0;
        for (conn, r) in polls.iter().filter(|(_, r)| r.kind == "ACK") {
            let (req_conn, req) = polls
                .iter()
                .find(|(_, q)| {
                    matches!(q.kind, "EVENT" | "BINARY_EVENT")
                        && q.id == r.id
                        && q.dir != r.dir
                        && q.detail.session == r.detail.session
                })
                .expect("its request");
            assert_eq!(r.answers, Some(req.index), "{file}: ACK {:?}", r.id);
            assert_eq!(
                r.latency_ns,
                Some(i64::try_from(r.ts.0 - req.ts.0).unwrap())
            );
            acks += 1;
            across += usize::from(conn != req_conn);
        }
        assert_eq!(acks, want_acks, "{file}");
        assert!(
            across >= want_across,
            "{file}: {across} acks on another connection than their event"
        );
    }
    assert!(polled >= 34, "{polled} long-polling records");
    assert!(
        compared >= 250 && pcaps.len() >= 10,
        "{compared} records, {} captures",
        pcaps.len()
    );
}

/// `app.*` display filters select the same messages as they stream
/// (NDJSON reports, `live`: the records travel with each message) as over
/// the finished model, on every real capture whose protocol the handshake
/// named (a protocol found by content is named only after the messages it
/// held have streamed).
#[test]
fn app_filters_select_the_same_messages_streamed_and_in_the_model() {
    use std::collections::BTreeSet;
    use wsinspect::analysis::{Consumer, Event, Limits, NullSink};
    use wsinspect::query::{Predicate, WhereSink};
    struct Keep(BTreeSet<(u32, u64)>);
    impl Consumer for Keep {
        fn event(&mut self, ev: Event<'_>) -> std::ops::ControlFlow<()> {
            if let Event::Message { conn, message, .. } = ev {
                self.0.insert((conn.id, message.first_packet.0));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/app");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("captures/app") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "pcap") {
            continue;
        }
        let p = path.to_str().unwrap_or_default();
        let model = wsinspect::pipeline::analyze_path(p, Limits::default(), &mut NullSink)
            .expect("analyse");
        let named = model.connections.iter().find_map(|c| {
            let d = c.app_protocol?;
            let r = c.app_messages.first()?;
            (d.by != DetectedBy::Content).then_some(r.kind)
        });
        let Some(kind) = named else { continue };
        let pred = Predicate::display(&format!("app.kind == \"{kind}\"")).expect("parses");
        let mut applied = model.clone();
        pred.apply(&mut applied);
        let in_model: BTreeSet<(u32, u64)> = applied
            .connections
            .iter()
            .flat_map(|c| c.messages.iter().map(move |m| (c.id, m.first_packet.0)))
            .collect();
        let mut keep = Keep(BTreeSet::new());
        let mut sink = WhereSink::new(&mut keep, pred.clone());
        wsinspect::pipeline::analyze_path(p, Limits::default(), &mut sink).expect("analyse");
        assert!(
            !in_model.is_empty(),
            "{p}: app.kind == {kind} selects nothing"
        );
        assert_eq!(keep.0, in_model, "{p}: app.kind == {kind}");
        let mut out = Vec::new();
        wsinspect::export::messages_to_ndjson(
            p,
            &Default::default(),
            Default::default(),
            Some(&pred),
            &mut out,
        )
        .expect("export");
        let exported: BTreeSet<(u32, u64)> = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "message")
            .map(|v| {
                let conn = v["conn"].as_u64().unwrap_or(0) as u32;
                (conn, v["first_packet"].as_u64().unwrap_or(0))
            })
            .collect();
        assert_eq!(exported, in_model, "export -Y app.kind == {kind}: {p}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} captures checked");
}
