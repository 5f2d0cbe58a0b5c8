//! Which application protocol a session speaks, and how we know.
//!
//! In order: a forced choice (`--app`), the negotiated subprotocol
//! (RFC 6455 §1.9: the server's `Sec-WebSocket-Protocol` answer names it),
//! the request target (`/socket.io/?EIO=4`, `/cable`,
//! `/socket/websocket?vsn=2.0.0`, a SignalR hub's `?id=`), then a decisive
//! signature in the first messages (an Engine.IO open packet, a SignalR
//! handshake, a STOMP `CONNECT` frame, an MQTT `CONNECT` with its protocol
//! name …). "It is JSON" is never evidence.

use super::json::{self, Value};
use super::{AppInput, AppLimits, AppProtocol, DetectedBy, Detection};
use crate::flow::Direction;
use crate::ws::frame::Opcode;

/// The user's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppChoice {
    /// Detect.
    #[default]
    Auto,
    /// Decode as this protocol whatever the evidence.
    Forced(AppProtocol),
    /// Do not decode any application protocol.
    None,
}

/// What the opening handshake said.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandshakeHints<'a> {
    /// The subprotocol the server chose (its `Sec-WebSocket-Protocol`).
    pub subprotocol: Option<&'a str>,
    /// The request target (path and query) of the upgrade request.
    pub target: Option<&'a str>,
}

/// The protocol named by a negotiated subprotocol token.
pub fn by_subprotocol(token: &str) -> Option<AppProtocol> {
    let t = token.trim().to_ascii_lowercase();
    Some(match t.as_str() {
        "mqtt" | "mqttv3.1" | "mqttv3.1.1" | "mqttv5" => AppProtocol::Mqtt,
        "v10.stomp" | "v11.stomp" | "v12.stomp" | "stomp" => AppProtocol::Stomp,
        "graphql-transport-ws" => AppProtocol::GraphqlTransportWs,
        "graphql-ws" => AppProtocol::GraphqlWs,
        "ocpp1.2" | "ocpp1.5" | "ocpp1.6" | "ocpp2.0" | "ocpp2.0.1" | "ocpp2.1" => {
            AppProtocol::Ocpp
        }
        "wamp.2.json" => AppProtocol::Wamp,
        "actioncable-v1-json" => AppProtocol::ActionCable,
        "jsonrpc" | "jsonrpc2" | "json-rpc" | "jsonrpc-2.0" => AppProtocol::JsonRpc,
        _ => return None,
    })
}

fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let q = target.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn path_of(target: &str) -> &str {
    let t = target.split(['?', '#']).next().unwrap_or("");
    // An absolute-form target (RFC 9112 §3.2.2) carries scheme and host.
    match t.find("://") {
        Some(i) => t[i + 3..].find('/').map_or("/", |j| &t[i + 3 + j..]),
        None => t,
    }
}

/// The protocol named by the request target.
pub fn by_target(target: &str) -> Option<AppProtocol> {
    let path = path_of(target);
    let eio = query_param(target, "EIO");
    if (path.contains("/socket.io") || eio.is_some())
        && query_param(target, "transport") == Some("websocket")
    {
        return Some(AppProtocol::SocketIo);
    }
    if path.ends_with("/websocket")
        && query_param(target, "vsn").is_some_and(|v| v.starts_with("2."))
    {
        return Some(AppProtocol::Phoenix);
    }
    if path == "/cable" || path.ends_with("/cable") {
        return Some(AppProtocol::ActionCable);
    }
    let last = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase();
    if query_param(target, "id").is_some_and(|v| !v.is_empty()) && last.contains("hub") {
        return Some(AppProtocol::SignalR);
    }
    None
}

/// The Engine.IO version (3 or 4, the two whose payload framing is
/// decoded) of a long-polling request target: `transport=polling` and
/// `EIO=3` or `EIO=4` in its query (the path is configurable on the server,
/// `/socket.io/` by default, so it is not required). JSONP polling (`j=`:
/// bodies wrapped in a script call or a form) is not decoded.
pub fn polling_eio(target: &str) -> Option<u8> {
    if query_param(target, "transport") != Some("polling") || query_param(target, "j").is_some() {
        return None;
    }
    query_param(target, "EIO")
        .and_then(|v| v.parse().ok())
        .filter(|v| matches!(v, 3 | 4))
}

/// The Engine.IO session id (`sid=`) of a request target, if any.
pub fn target_sid(target: &str) -> Option<&str> {
    query_param(target, "sid").filter(|s| !s.is_empty())
}

/// The Engine.IO version from `EIO=` in the request target.
pub fn eio_version(target: Option<&str>) -> Option<u8> {
    target
        .and_then(|t| query_param(t, "EIO"))
        .and_then(|v| v.parse().ok())
}

/// The STOMP version a `vXY.stomp` subprotocol names.
pub fn stomp_version(subprotocol: Option<&str>) -> Option<&'static str> {
    match subprotocol?.trim().to_ascii_lowercase().as_str() {
        "v10.stomp" => Some("1.0"),
        "v11.stomp" => Some("1.1"),
        "v12.stomp" => Some("1.2"),
        _ => None,
    }
}

/// Detection from the handshake alone (None: look at the content).
pub fn by_handshake(hints: &HandshakeHints<'_>, choice: AppChoice) -> Option<Detection> {
    match choice {
        AppChoice::None => return None,
        AppChoice::Forced(protocol) => {
            return Some(Detection {
                protocol,
                by: DetectedBy::Forced,
            });
        }
        AppChoice::Auto => {}
    }
    if let Some(p) = hints
        .subprotocol
        .and_then(|s| s.split(',').find_map(by_subprotocol))
    {
        return Some(Detection {
            protocol: p,
            by: DetectedBy::Subprotocol,
        });
    }
    hints.target.and_then(by_target).map(|protocol| Detection {
        protocol,
        by: DetectedBy::RequestTarget,
    })
}

/// MQTT CONNECT: type 1 with flags 0, a remaining length, then the
/// protocol name `MQTT` (3.1.1 §3.1.2.1, 5.0 §3.1.2.1) or `MQIsdp` (3.1).
fn is_mqtt_connect(b: &[u8]) -> bool {
    if b.first() != Some(&0x10) {
        return false;
    }
    let mut i = 1;
    while i < 5 && b.get(i).is_some_and(|c| c & 0x80 != 0) {
        i += 1;
    }
    let r = b.get(i + 1..).unwrap_or_default();
    r.starts_with(b"\x00\x04MQTT") || r.starts_with(b"\x00\x06MQIsdp")
}

fn is_stomp_connect(b: &[u8]) -> bool {
    ["CONNECT\n", "CONNECT\r\n", "STOMP\n", "STOMP\r\n"]
        .iter()
        .any(|p| b.starts_with(p.as_bytes()))
}

fn is_stomp_connected(b: &[u8]) -> bool {
    b.starts_with(b"CONNECTED\n") || b.starts_with(b"CONNECTED\r\n")
}

fn is_eio_open(b: &[u8]) -> bool {
    b.starts_with(b"0{") && {
        let v = serde_json::from_slice::<Value>(&b[1..]).ok();
        v.as_ref().is_some_and(|v| {
            v.get("sid").is_some_and(Value::is_string) && v.get("pingInterval").is_some()
        })
    }
}

fn is_signalr_handshake(b: &[u8]) -> bool {
    let Some(rec) = b.strip_suffix(b"\x1e") else {
        return false;
    };
    let v: Option<Value> = serde_json::from_slice(rec).ok();
    v.is_some_and(|v| {
        v.get("protocol").and_then(Value::as_str) == Some("json") && v.get("version").is_some()
    })
}

fn is_jsonrpc(v: &Value) -> bool {
    let one = |o: &Value| o.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    match v {
        Value::Array(a) => !a.is_empty() && a.iter().all(one),
        o => one(o),
    }
}

fn is_ocpp_call(v: &Value) -> bool {
    let Some(a) = v.as_array() else { return false };
    a.len() == 4
        && a[0].as_u64() == Some(2)
        && a[1]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.len() <= 64)
        && a[2]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric()))
        && a[3].is_object()
}

fn is_phoenix(v: &Value) -> bool {
    let Some(a) = v.as_array() else { return false };
    a.len() == 5
        && a[2].is_string()
        && a[3]
            .as_str()
            .is_some_and(|e| matches!(e, "phx_join" | "heartbeat" | "phx_reply"))
        && a[4].is_object()
}

fn is_wamp_hello(v: &Value) -> bool {
    let Some(a) = v.as_array() else { return false };
    a.len() == 3
        && a[0].as_u64() == Some(1)
        && a[1].is_string()
        && a[2].get("roles").is_some_and(Value::is_object)
}

fn is_actioncable(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("welcome")
        || (v.get("command").and_then(Value::as_str) == Some("subscribe")
            && v.get("identifier").is_some_and(Value::is_string))
}

/// The GraphQL flavour: `connection_init` starts both, so the first
/// message that only one of them has decides (`subscribe`/`next` versus
/// `start`/`data`/`ka`).
fn graphql_flavour(v: &Value) -> Option<Option<AppProtocol>> {
    let t = v.get("type")?.as_str()?;
    Some(match t {
        "subscribe" | "next" => Some(AppProtocol::GraphqlTransportWs),
        "start" | "data" | "ka" | "connection_terminate" | "stop" => Some(AppProtocol::GraphqlWs),
        "connection_init" | "connection_ack" => None,
        _ => return None,
    })
}

/// Detection from the first messages; None while nothing decides.
pub fn by_content(msgs: &[AppInput<'_>], limits: AppLimits) -> Option<AppProtocol> {
    let mut graphql_seen = false;
    for m in msgs.iter().filter(|m| m.complete) {
        let b = m.payload;
        match m.opcode {
            Opcode::Binary => {
                if m.dir == Direction::ClientToServer && is_mqtt_connect(b) {
                    return Some(AppProtocol::Mqtt);
                }
                if m.dir == Direction::ClientToServer && is_stomp_connect(b) {
                    return Some(AppProtocol::Stomp);
                }
                continue;
            }
            Opcode::Text => {}
            _ => continue,
        }
        if m.dir == Direction::ServerToClient && is_eio_open(b) {
            return Some(AppProtocol::SocketIo);
        }
        if m.dir == Direction::ClientToServer && is_signalr_handshake(b) {
            return Some(AppProtocol::SignalR);
        }
        if (m.dir == Direction::ClientToServer && is_stomp_connect(b))
            || (m.dir == Direction::ServerToClient && is_stomp_connected(b))
        {
            return Some(AppProtocol::Stomp);
        }
        let Ok(v) = json::parse(b, &limits) else {
            continue;
        };
        if is_jsonrpc(&v) {
            return Some(AppProtocol::JsonRpc);
        }
        if is_ocpp_call(&v) {
            return Some(AppProtocol::Ocpp);
        }
        if is_phoenix(&v) {
            return Some(AppProtocol::Phoenix);
        }
        if is_wamp_hello(&v) {
            return Some(AppProtocol::Wamp);
        }
        if is_actioncable(&v) {
            return Some(AppProtocol::ActionCable);
        }
        match graphql_flavour(&v) {
            Some(Some(p))
                if graphql_seen || v.pointer("/payload/query").is_some_and(Value::is_string) =>
            {
                return Some(p);
            }
            Some(_) => graphql_seen = true,
            None => {}
        }
    }
    None
}
