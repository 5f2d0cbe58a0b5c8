//! The field table: every name a display filter may use, its type, where
//! the name comes from (Wireshark's dissectors or wsinspect), and how to
//! read its values from a [`Subject`].
//!
//! To add a field (e.g. an application field `app.name` of a later issue),
//! add a [`FieldDef`] row to [`FIELDS`] with a getter; a family of fields
//! under one prefix, whose names are not known in advance, is a
//! [`FieldRef`] variant resolved in [`lookup`] (as `json.<path>` is).
//! `docs/display-filter.md` lists the table; a test keeps the two in step.

use super::subject::{Item, Subject, Val, violation_name};
use crate::ws::frame::{LengthFormat, Opcode};
use std::borrow::Cow;
use std::net::IpAddr;

/// The type of a field: which literals and operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FType {
    /// Unsigned integer (decimal, `0x` hex, leading-`0` octal, or a value name).
    Uint,
    /// Seconds, as a decimal number.
    Float,
    /// `1`/`0`/`true`/`false`.
    Bool,
    /// Text.
    Str,
    /// Bytes (`aa:bb:cc:dd`, or a quoted string).
    Bytes,
    /// IPv4 address, optionally `/prefix`.
    Ipv4,
    /// IPv6 address, optionally `/prefix`.
    Ipv6,
    /// A protocol: tested for presence only.
    Proto,
    /// A JSON value of the payload: compared with numbers, strings,
    /// `true`/`false`/`null`.
    Json,
}

impl FType {
    /// As the documentation names it.
    pub fn name(self) -> &'static str {
        match self {
            FType::Uint => "unsigned integer",
            FType::Float => "time offset (seconds)",
            FType::Bool => "boolean",
            FType::Str => "character string",
            FType::Bytes => "byte sequence",
            FType::Ipv4 => "IPv4 address",
            FType::Ipv6 => "IPv6 address",
            FType::Proto => "protocol",
            FType::Json => "JSON value",
        }
    }
}

/// Whose name it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Wireshark's field of the same name, with its meaning.
    Wireshark,
    /// wsinspect's own.
    Wsinspect,
}

/// Reads every value of a field on a subject (several for multi-occurrence
/// fields: one per frame, per packet, per address).
pub type Getter = for<'s> fn(&'s Subject<'s>, &mut Vec<Val<'s>>);

/// One row of the field table.
#[derive(Debug)]
pub struct FieldDef {
    /// The name, as written in filters.
    pub name: &'static str,
    /// Its type.
    pub ty: FType,
    /// Wireshark's or wsinspect's.
    pub origin: Origin,
    /// What it holds, for the documentation.
    pub doc: &'static str,
    /// Names accepted for values of an integer field (`websocket.opcode ==
    /// text`), as Wireshark accepts value strings.
    pub names: &'static [(&'static str, u64)],
    get: Getter,
}

impl FieldDef {
    /// Appends the values of the field on `s` to `out`.
    pub fn values<'s>(&self, s: &'s Subject<'s>, out: &mut Vec<Val<'s>>) {
        (self.get)(s, out);
    }
}

/// A field resolved by name.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    /// A row of [`FIELDS`].
    Fixed(&'static FieldDef),
    /// `json` (no steps: the payload is JSON) or `json.<path>`.
    Json(Vec<Step>),
}

impl PartialEq for FieldDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `["name"]`.
    Key(String),
    /// `[n]`.
    Index(usize),
}

impl FieldRef {
    /// The field's type.
    pub fn ty(&self) -> FType {
        match self {
            FieldRef::Fixed(d) => d.ty,
            FieldRef::Json(p) if p.is_empty() => FType::Proto,
            FieldRef::Json(_) => FType::Json,
        }
    }

    /// The value names of an integer field.
    pub fn names(&self) -> &'static [(&'static str, u64)] {
        match self {
            FieldRef::Fixed(d) => d.names,
            FieldRef::Json(_) => &[],
        }
    }

    /// The field's name.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            FieldRef::Fixed(d) => Cow::Borrowed(d.name),
            FieldRef::Json(p) => {
                let mut s = String::from("json");
                for st in p {
                    match st {
                        Step::Key(k) => {
                            s.push('.');
                            s.push_str(k);
                        }
                        Step::Index(i) => s.push_str(&format!("[{i}]")),
                    }
                }
                Cow::Owned(s)
            }
        }
    }

    /// True if the field has a value on `s` (Wireshark's bare-field test).
    /// A JSON path exists when it leads somewhere, even to `null`.
    pub fn exists(&self, s: &Subject<'_>) -> bool {
        match self {
            FieldRef::Json(p) => json_at(s, p).is_some(),
            FieldRef::Fixed(d) => {
                let mut v = Vec::new();
                d.values(s, &mut v);
                !v.is_empty()
            }
        }
    }

    /// Every value of the field on `s`. The elements of a JSON array count
    /// as values of the path (Wireshark's "any" semantics for fields that
    /// occur several times), one level deep.
    pub fn values<'s>(&self, s: &'s Subject<'s>, out: &mut Vec<Val<'s>>) {
        match self {
            FieldRef::Fixed(d) => d.values(s, out),
            FieldRef::Json(p) => match json_at(s, p) {
                Some(serde_json::Value::Array(a)) if !p.is_empty() => {
                    out.extend(a.iter().map(Val::J))
                }
                Some(v) if !p.is_empty() => out.push(Val::J(v)),
                Some(_) => out.push(Val::Present),
                None => {}
            },
        }
    }
}

fn json_at<'s>(s: &'s Subject<'s>, path: &[Step]) -> Option<&'s serde_json::Value> {
    let mut cur = s.json()?;
    for st in path {
        cur = match st {
            Step::Key(k) => cur.get(k.as_str())?,
            Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// Resolves a field name.
pub fn lookup(name: &str) -> Option<FieldRef> {
    if let Some(d) = FIELDS.iter().find(|d| d.name == name) {
        return Some(FieldRef::Fixed(d));
    }
    if name == "json" {
        return Some(FieldRef::Json(Vec::new()));
    }
    name.strip_prefix("json")
        .filter(|r| r.starts_with('.') || r.starts_with('['))
        .and_then(json_path)
        .map(FieldRef::Json)
}

/// `.a.b[0]["c d"]` → steps; None if malformed.
fn json_path(mut rest: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let (bytes, len) = super::lexer::string(&rest[1..], 0).ok()?;
            let key = String::from_utf8(bytes).ok()?;
            let after = r.get(len - 1..)?.strip_prefix(']')?;
            steps.push(Step::Key(key));
            rest = after;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// Names close to an unknown one, for the error message: the fields with
/// the same last component, else those with the same first one.
pub fn suggestions(name: &str) -> Vec<&'static str> {
    let last = name.rsplit('.').next().unwrap_or(name);
    let first = name.split('.').next().unwrap_or(name);
    let same_last: Vec<_> = FIELDS
        .iter()
        .filter(|d| d.name.rsplit('.').next() == Some(last))
        .map(|d| d.name)
        .collect();
    if !same_last.is_empty() {
        return same_last;
    }
    FIELDS
        .iter()
        .filter(|d| d.name.split('.').next() == Some(first) && d.name != first)
        .map(|d| d.name)
        .take(8)
        .collect()
}

const OPCODES: &[(&str, u64)] = &[
    ("continuation", 0),
    ("text", 1),
    ("binary", 2),
    ("close", 8),
    ("connection close", 8),
    ("ping", 9),
    ("pong", 10),
];

macro_rules! field {
    ($name:literal, $ty:ident, $origin:ident, $doc:literal, $get:expr) => {
        field!($name, $ty, $origin, $doc, &[], $get)
    };
    ($name:literal, $ty:ident, $origin:ident, $doc:literal, $names:expr, $get:expr) => {
        FieldDef {
            name: $name,
            ty: FType::$ty,
            origin: Origin::$origin,
            doc: $doc,
            names: $names,
            get: $get,
        }
    };
}

/// The application records that sit on the subject's data message.
fn app_records<'s>(s: &'s Subject<'s>) -> impl Iterator<Item = &'s crate::model::app::AppRecord> {
    let index = match s.item {
        Item::Message { index, .. } => Some(index as u64),
        _ => None,
    };
    s.app
        .unwrap_or(&s.conn.app_messages)
        .iter()
        .filter(move |r| Some(r.index) == index)
}

fn rel_seconds(s: &Subject<'_>, out: &mut Vec<Val<'_>>) {
    if let Some(start) = s.capture_start {
        for t in s.times() {
            // i128 nanoseconds → f64 seconds: exact to the nanosecond for
            // any capture shorter than ~104 days.
            out.push(Val::F((t.0 - start.0) as f64 / 1e9));
        }
    }
}

fn ports(s: &Subject<'_>, out: &mut Vec<Val<'_>>, src: bool, dst: bool) {
    match (src, dst) {
        (true, true) => {
            if let Some((c, sv)) = s.ends() {
                out.extend([Val::U(c.port().into()), Val::U(sv.port().into())]);
            }
        }
        _ => {
            if let Some((a, b)) = s.src_dst() {
                out.push(Val::U(if src { a.port() } else { b.port() }.into()));
            }
        }
    }
}

fn addr_val(ip: IpAddr, v6: bool) -> Option<Val<'static>> {
    match (ip, v6) {
        (IpAddr::V4(a), false) => Some(Val::V4(a)),
        (IpAddr::V6(a), true) => Some(Val::V6(a)),
        _ => None,
    }
}

fn addrs(s: &Subject<'_>, out: &mut Vec<Val<'_>>, v6: bool, which: u8) {
    let pair = match which {
        0 => s.ends(),
        _ => s.src_dst(),
    };
    let Some((a, b)) = pair else { return };
    let picked: &[IpAddr] = match which {
        0 => &[a.ip(), b.ip()],
        1 => &[a.ip()],
        _ => &[b.ip()],
    };
    out.extend(picked.iter().filter_map(|ip| addr_val(*ip, v6)));
}

fn frames_map<'s>(
    s: &'s Subject<'s>,
    out: &mut Vec<Val<'s>>,
    f: fn(&crate::ws::message::FrameInfo) -> Option<Val<'static>>,
) {
    out.extend(s.frames().iter().filter_map(f));
}

fn is_ws(s: &Subject<'_>) -> bool {
    !matches!(s.item, Item::Event { .. })
}

/// Every fixed field.
pub static FIELDS: &[FieldDef] = &[
    field!(
        "frame",
        Proto,
        Wireshark,
        "Every item: the frame protocol.",
        |_, o| o.push(Val::Present)
    ),
    field!(
        "frame.number",
        Uint,
        Wireshark,
        "Packet numbers of the item (1-based): for a message, the packets of its first and last byte and of each frame's header and completion. Any of them may match.",
        |s, o| o.extend(s.packets().into_iter().map(Val::U))
    ),
    field!(
        "frame.time_relative",
        Float,
        Wireshark,
        "Seconds since the capture's first packet, of the item's first frame and of its completion.",
        rel_seconds
    ),
    field!(
        "tcp",
        Proto,
        Wireshark,
        "Every item (wsinspect reads WebSocket over TCP only).",
        |_, o| o.push(Val::Present)
    ),
    field!(
        "tcp.stream",
        Uint,
        Wireshark,
        "Wireshark's TCP stream index: the connection's index in order of first packet, from 0 (`ws.conn` - 1).",
        |s, o| o.push(Val::U(u64::from(s.conn.id).saturating_sub(1)))
    ),
    field!(
        "tcp.port",
        Uint,
        Wireshark,
        "Either port of the connection.",
        |s, o| ports(s, o, true, true)
    ),
    field!(
        "tcp.srcport",
        Uint,
        Wireshark,
        "Port of the item's sender.",
        |s, o| ports(s, o, true, false)
    ),
    field!(
        "tcp.dstport",
        Uint,
        Wireshark,
        "Port of the item's receiver.",
        |s, o| ports(s, o, false, true)
    ),
    field!(
        "ip",
        Proto,
        Wireshark,
        "The connection is over IPv4.",
        |s, o| if matches!(s.ip(), Some(IpAddr::V4(_))) {
            o.push(Val::Present)
        }
    ),
    field!(
        "ip.addr",
        Ipv4,
        Wireshark,
        "Either IPv4 address of the connection.",
        |s, o| addrs(s, o, false, 0)
    ),
    field!(
        "ip.src",
        Ipv4,
        Wireshark,
        "IPv4 address of the item's sender.",
        |s, o| addrs(s, o, false, 1)
    ),
    field!(
        "ip.dst",
        Ipv4,
        Wireshark,
        "IPv4 address of the item's receiver.",
        |s, o| addrs(s, o, false, 2)
    ),
    field!(
        "ipv6",
        Proto,
        Wireshark,
        "The connection is over IPv6.",
        |s, o| if matches!(s.ip(), Some(IpAddr::V6(_))) {
            o.push(Val::Present)
        }
    ),
    field!(
        "ipv6.addr",
        Ipv6,
        Wireshark,
        "Either IPv6 address of the connection.",
        |s, o| addrs(s, o, true, 0)
    ),
    field!(
        "ipv6.src",
        Ipv6,
        Wireshark,
        "IPv6 address of the item's sender.",
        |s, o| addrs(s, o, true, 1)
    ),
    field!(
        "ipv6.dst",
        Ipv6,
        Wireshark,
        "IPv6 address of the item's receiver.",
        |s, o| addrs(s, o, true, 2)
    ),
    field!(
        "websocket",
        Proto,
        Wireshark,
        "Messages and control frames.",
        |s, o| if is_ws(s) {
            o.push(Val::Present)
        }
    ),
    field!(
        "websocket.fin",
        Bool,
        Wireshark,
        "FIN bit of each frame.",
        |s, o| frames_map(s, o, |f| Some(Val::B(f.fin)))
    ),
    field!(
        "websocket.rsv",
        Uint,
        Wireshark,
        "RSV1..3 of each frame, as a 3-bit number (RSV1 = 4).",
        |s, o| frames_map(s, o, |f| Some(Val::U(f.rsv.into())))
    ),
    field!(
        "websocket.opcode",
        Uint,
        Wireshark,
        "Opcode of each frame (a fragmented message's later frames are 0, continuation). Names: continuation, text, binary, close, ping, pong.",
        OPCODES,
        |s, o| frames_map(s, o, |f| Some(Val::U(f.opcode.value().into())))
    ),
    field!(
        "websocket.mask",
        Bool,
        Wireshark,
        "MASK bit of each frame.",
        |s, o| frames_map(s, o, |f| Some(Val::B(f.mask_key.is_some())))
    ),
    field!(
        "websocket.masking_key",
        Bytes,
        Wireshark,
        "Masking key of each masked frame (4 bytes).",
        |s, o| frames_map(s, o, |f| f
            .mask_key
            .map(|k| Val::By(Cow::Owned(k.0.to_vec()))))
    ),
    field!(
        "websocket.payload_length",
        Uint,
        Wireshark,
        "The 7-bit length field of each frame: the length up to 125, 126 or 127 when an extended length follows.",
        |s, o| frames_map(s, o, |f| Some(Val::U(match f.length_format {
            LengthFormat::Short => f.payload_len,
            LengthFormat::Medium => 126,
            LengthFormat::Long => 127,
        })))
    ),
    field!(
        "websocket.payload_length_ext_16",
        Uint,
        Wireshark,
        "The 16-bit extended length of each frame that has one.",
        |s, o| frames_map(s, o, |f| (f.length_format == LengthFormat::Medium)
            .then_some(Val::U(f.payload_len)))
    ),
    field!(
        "websocket.payload_length_ext_64",
        Uint,
        Wireshark,
        "The 64-bit extended length of each frame that has one.",
        |s, o| frames_map(s, o, |f| (f.length_format == LengthFormat::Long)
            .then_some(Val::U(f.payload_len)))
    ),
    field!(
        "websocket.payload.text",
        Str,
        Wireshark,
        "The text of a text message (unmasked, inflated, whole: up to --max-text-bytes).",
        |s, o| if let Item::Message { msg, .. } = s.item
            && msg.opcode == Opcode::Text
            && let Some(t) = &msg.text
        {
            o.push(Val::S(Cow::Borrowed(t)));
        }
    ),
    field!(
        "websocket.payload.close.status_code",
        Uint,
        Wireshark,
        "Status code of a close frame.",
        |s, o| if let Item::Control(c) = s.item
            && let Some(code) = c.close_code
        {
            o.push(Val::U(code.into()));
        }
    ),
    field!(
        "websocket.payload.close.reason",
        Str,
        Wireshark,
        "Reason of a close frame.",
        |s, o| if let Item::Control(c) = s.item
            && let Some(r) = &c.close_reason
        {
            o.push(Val::S(Cow::Borrowed(r)));
        }
    ),
    field!(
        "ws.conn",
        Uint,
        Wsinspect,
        "wsinspect's connection id (1-based, as in reports and `--conn`).",
        |s, o| o.push(Val::U(s.conn.id.into()))
    ),
    field!(
        "ws.dir",
        Str,
        Wsinspect,
        "Direction of the item: \"c2s\" or \"s2c\".",
        |s, o| if let Some(d) = s.dir() {
            o.push(Val::S(Cow::Borrowed(d.as_str())))
        }
    ),
    field!(
        "ws.type",
        Str,
        Wsinspect,
        "Kind of message or control frame: \"text\", \"binary\", \"ping\", \"pong\", \"close\".",
        |s, o| match s.item {
            Item::Message { msg, .. } => o.push(Val::S(Cow::Owned(msg.opcode.to_string()))),
            Item::Control(c) => o.push(Val::S(Cow::Owned(c.opcode.to_string()))),
            Item::Event { .. } => {}
        }
    ),
    field!(
        "ws.message.len",
        Uint,
        Wsinspect,
        "Payload length of the message after decompression (absent when unknowable), or of the control frame.",
        |s, o| match s.item {
            Item::Message { msg, .. } => o.extend(msg.payload_len.map(Val::U)),
            Item::Control(c) => o.push(Val::U(c.payload_len)),
            Item::Event { .. } => {}
        }
    ),
    field!(
        "ws.message.index",
        Uint,
        Wsinspect,
        "Index of the data message in its connection, from 0.",
        |s, o| if let Item::Message { index, .. } = s.item {
            o.push(Val::U(index as u64))
        }
    ),
    field!(
        "ws.message.frames",
        Uint,
        Wsinspect,
        "Number of frames of the message (1 for a control frame).",
        |s, o| match s.item {
            Item::Message { msg, .. } => o.push(Val::U(msg.frames.into())),
            Item::Control(_) => o.push(Val::U(1)),
            Item::Event { .. } => {}
        }
    ),
    field!(
        "ws.message.complete",
        Bool,
        Wsinspect,
        "Every byte of the message was captured.",
        |s, o| match s.item {
            Item::Message { msg, .. } => o.push(Val::B(msg.complete)),
            Item::Control(_) => o.push(Val::B(true)),
            Item::Event { .. } => {}
        }
    ),
    field!(
        "app",
        Proto,
        Wsinspect,
        "The data message carries an application message (Socket.IO, MQTT, STOMP, GraphQL, JSON-RPC, OCPP …). Streamed outputs (NDJSON, `live`) see the records a message completed; a message held while the protocol was found by content is named only in the model. Long-polling packets (in HTTP bodies) are not messages: no filter selects them.",
        |s, o| if app_records(s).next().is_some() {
            o.push(Val::Present)
        }
    ),
    field!(
        "app.protocol",
        Str,
        Wsinspect,
        "Application protocol of each record on the message (`socket.io`, `mqtt`, `stomp`, `graphql_transport_ws`, `graphql_ws`, `json_rpc`, `ocpp`, `signalr`, `phoenix`, `wamp`, `action_cable`).",
        |s, o| o.extend(app_records(s).map(|r| Val::S(Cow::Borrowed(r.protocol.name()))))
    ),
    field!(
        "app.kind",
        Str,
        Wsinspect,
        "The protocol's own type name of each record (`EVENT`, `ACK`, `PUBLISH`, `SEND`, `next`, `CALL`, `request` …).",
        |s, o| o.extend(app_records(s).map(|r| Val::S(Cow::Borrowed(r.kind))))
    ),
    field!(
        "app.name",
        Str,
        Wsinspect,
        "Event, topic, destination, method, action or operation name of each record.",
        |s, o| o.extend(
            app_records(s)
                .filter_map(|r| r.name.as_deref())
                .map(|n| Val::S(Cow::Borrowed(n)))
        )
    ),
    field!(
        "app.id",
        Str,
        Wsinspect,
        "Correlation id of each record (ack id, packet id, receipt, operation id, JSON-RPC id, OCPP unique id …).",
        |s, o| o.extend(
            app_records(s)
                .filter_map(|r| r.id.as_deref())
                .map(|n| Val::S(Cow::Borrowed(n)))
        )
    ),
    field!(
        "app.latency",
        Float,
        Wsinspect,
        "For an answer: seconds since the request it answers (completion to completion).",
        |s, o| o.extend(
            app_records(s)
                .filter_map(|r| r.latency_ns)
                .map(|ns| Val::F(ns as f64 / 1e9))
        )
    ),
    field!(
        "app.error",
        Bool,
        Wsinspect,
        "The record carries an application error (CONNECT_ERROR, MQTT reason code ≥ 0x80, STOMP ERROR, GraphQL error, JSON-RPC/OCPP error …).",
        |s, o| o.extend(app_records(s).map(|r| Val::B(r.error.is_some())))
    ),
    field!(
        "ws.compressed",
        Bool,
        Wsinspect,
        "The message was compressed (permessage-deflate, RSV1 on its first frame).",
        |s, o| match s.item {
            Item::Message { msg, .. } => o.push(Val::B(msg.compressed)),
            Item::Control(_) => o.push(Val::B(false)),
            Item::Event { .. } => {}
        }
    ),
    field!(
        "violation",
        Str,
        Wsinspect,
        "Kind of each RFC violation its sender committed in the item's packets (`invalid_utf8`, `bad_close_code`, … as in the JSON report).",
        |s, o| o.extend(
            s.violations()
                .into_iter()
                .map(|k| Val::S(Cow::Owned(violation_name(k))))
        )
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookup_finds_them() {
        for (i, d) in FIELDS.iter().enumerate() {
            assert!(FIELDS[..i].iter().all(|e| e.name != d.name), "{}", d.name);
            assert_eq!(lookup(d.name), Some(FieldRef::Fixed(d)));
        }
        assert_eq!(lookup("nope"), None);
        assert_eq!(lookup("jsonx"), None);
    }

    #[test]
    fn json_paths() {
        assert_eq!(lookup("json"), Some(FieldRef::Json(vec![])));
        assert_eq!(
            lookup(r#"json.a[2]["b c"].d"#),
            Some(FieldRef::Json(vec![
                Step::Key("a".into()),
                Step::Index(2),
                Step::Key("b c".into()),
                Step::Key("d".into()),
            ]))
        );
        assert_eq!(lookup("json..a"), None);
        assert_eq!(lookup("json.a[x]"), None);
        assert_eq!(lookup(r#"json["a"x"#), None);
    }

    #[test]
    fn suggestions_find_the_real_name() {
        assert_eq!(
            suggestions("websocket.close.status_code"),
            vec!["websocket.payload.close.status_code"]
        );
        assert!(suggestions("websocket.foo").contains(&"websocket.opcode"));
    }
}
