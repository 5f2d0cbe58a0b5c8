//! The machine-readable contract of every JSON and NDJSON output: their
//! versions, exact timestamps, and the JSON Schemas generated from the
//! types that write them ([`SchemaKind`] lists them).
//!
//! # Versioning
//! Each output has its own version ([`SCHEMA_VERSION`] for the reports,
//! [`STATS_SCHEMA_VERSION`], [`CHECK_SCHEMA_VERSION`], ...), so that one
//! can change without the others. Each is semver over the *output*,
//! independent of the tool's own version ([`WSINSPECT_VERSION`]):
//! - a new field, a new event type or a new enum value is **minor** (a
//!   consumer must ignore what it does not know);
//! - removing or renaming a field, changing its type or meaning, or making
//!   an optional field required is **major**;
//! - a fix to a description is **patch**.
//!
//! # Exact timestamps
//! Every float-seconds field `X` (`ts`, `end_ts`, `start_ts`, ...) has a
//! sibling `X_ns`: the same instant as integer nanoseconds since the Unix
//! epoch, written as a JSON *string* of decimal digits (an optional `-`).
//! Nanoseconds since 1970 are about 1.8·10¹⁸, past 2⁵³, where JSON
//! parsers that read numbers as doubles (JavaScript, jq) silently round;
//! protobuf's JSON mapping writes 64-bit integers as strings for the same
//! reason. The float stays for people and for tools that want seconds (it
//! holds about a microsecond).

use crate::capture::Timestamp;
use crate::hexfmt::Hex;
use crate::model::Analysis;
use crate::ws::frame::Opcode;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};
use std::borrow::Cow;

/// Version of the JSON/NDJSON output contract (see the module docs).
pub const SCHEMA_VERSION: &str = "1.2.0";

/// Version of the wsinspect that wrote the output.
pub const WSINSPECT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The JSON report: the contract's versions, then the analysis of the
/// capture (its summary and its connections).
#[derive(Serialize, JsonSchema)]
#[schemars(title = "wsinspect JSON report", rename = "Report")]
pub struct Report<'a> {
    /// Version of this output contract: semver, additive changes are
    /// minor, breaking ones major.
    #[schemars(extend("pattern" = r"^1\.[0-9]+\.[0-9]+$"))]
    pub schema_version: &'static str,
    /// The wsinspect version that wrote the report.
    pub wsinspect_version: &'static str,
    /// What the capture holds.
    #[serde(flatten)]
    pub analysis: &'a Analysis,
}

impl<'a> Report<'a> {
    /// The report of `analysis`, stamped with the current versions.
    pub fn new(analysis: &'a Analysis) -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            wsinspect_version: WSINSPECT_VERSION,
            analysis,
        }
    }
}

/// The first NDJSON line (`"event": "header"`): which contract the lines
/// after it follow, and who wrote them.
#[derive(Serialize, JsonSchema)]
pub struct NdjsonHeader {
    /// Always `header`.
    #[schemars(extend("const" = "header"))]
    pub event: &'static str,
    /// Version of this output contract: semver, additive changes are
    /// minor, breaking ones major.
    #[schemars(extend("pattern" = r"^1\.[0-9]+\.[0-9]+$"))]
    pub schema_version: &'static str,
    /// The wsinspect version that wrote the stream.
    pub wsinspect_version: &'static str,
}

impl Default for NdjsonHeader {
    fn default() -> Self {
        NdjsonHeader {
            event: "header",
            schema_version: SCHEMA_VERSION,
            wsinspect_version: WSINSPECT_VERSION,
        }
    }
}

/// A timestamp as integer nanoseconds since the Unix epoch, serialized as
/// a string of decimal digits (see the module docs for why a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nanos(pub Timestamp);

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.0)
    }
}

impl JsonSchema for Nanos {
    fn schema_name() -> Cow<'static, str> {
        "Nanoseconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Nanoseconds since the Unix epoch, exact, as a string of decimal digits (past 2^53, where JSON numbers lose precision in many parsers).",
            "type": "string",
            "pattern": "^-?[0-9]+$"
        })
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Seconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Seconds since the Unix epoch (about a microsecond of precision; the sibling `*_ns` field is exact).",
            "type": "number"
        })
    }
}

impl JsonSchema for crate::decode::tunnel::Encap {
    fn schema_name() -> Cow<'static, str> {
        "Encap".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One encapsulation layer, outermost first: its kind and the parameters that kind has (absent ones left out).",
            "type": "object",
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": ["vlan", "mpls", "pppoe", "ipip", "6in4", "4in6", "6in6", "gre", "erspan", "vxlan", "geneve", "gtp-u"]
                },
                "tag": { "description": "VLAN tag type (802.1Q, 802.1ad, 0x9100, 0x9200).", "type": "string" },
                "vid": { "description": "VLAN identifier.", "type": "integer", "minimum": 0 },
                "label": { "description": "MPLS label (RFC 3032).", "type": "integer", "minimum": 0 },
                "session": { "description": "PPPoE SESSION_ID or ERSPAN session.", "type": "integer", "minimum": 0 },
                "key": { "description": "GRE key (RFC 2890).", "type": "integer", "minimum": 0 },
                "type": { "description": "ERSPAN type (1, 2 or 3).", "type": "integer", "minimum": 1, "maximum": 3 },
                "vni": { "description": "VXLAN / Geneve network identifier.", "type": "integer", "minimum": 0 },
                "teid": { "description": "GTP-U tunnel endpoint identifier.", "type": "integer", "minimum": 0 },
                "outer_src": { "description": "Tunnel source address.", "type": "string" },
                "outer_dst": { "description": "Tunnel destination address.", "type": "string" }
            },
            "required": ["kind"],
            "additionalProperties": false
        })
    }
}

impl JsonSchema for Opcode {
    fn schema_name() -> Cow<'static, str> {
        "Opcode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "WebSocket opcode (RFC 6455 §5.2); reserved opcodes as `reserved-0x<n>`.",
            "type": "string",
            "pattern": "^(continuation|text|binary|close|ping|pong|reserved-0x[0-9a-f])$"
        })
    }
}

impl<const N: usize> JsonSchema for Hex<N> {
    fn schema_name() -> Cow<'static, str> {
        format!("Hex{N}").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": format!("{N} bytes as lower-case hex."),
            "type": "string",
            "pattern": format!("^[0-9a-f]{{{}}}$", 2 * N)
        })
    }
}

/// Declares a module `$name` whose `serialize` writes a timestamp field as
/// the pair `$secs` (float seconds) and `$ns` ([`Nanos`]), for use as
/// `#[serde(flatten, serialize_with = "…::$name::serialize")]` with
/// `#[schemars(with = "…::$name::Pair")]` (`option` / `OptionPair` for an
/// `Option<Timestamp>`).
macro_rules! exact_ts {
    ($(#[$doc:meta])* $name:ident, $secs:tt, $ns:tt) => {
        $(#[$doc])*
        pub mod $name {
            use super::Nanos;
            use crate::capture::Timestamp;
            use serde::{Serialize, Serializer};

            /// The float seconds and the exact nanoseconds.
            #[derive(Serialize, schemars::JsonSchema)]
            pub struct Pair {
                /// Seconds since the Unix epoch.
                #[serde(rename = $secs)]
                secs: Timestamp,
                /// The same instant, exact.
                #[serde(rename = $ns)]
                ns: Nanos,
            }

            /// As [`Pair`], both null when the instant is unknown.
            #[derive(Serialize, schemars::JsonSchema)]
            pub struct OptionPair {
                /// Seconds since the Unix epoch.
                #[serde(rename = $secs)]
                secs: Option<Timestamp>,
                /// The same instant, exact.
                #[serde(rename = $ns)]
                ns: Option<Nanos>,
            }

            /// Writes `t` as the pair.
            pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
                Pair { secs: *t, ns: Nanos(*t) }.serialize(s)
            }

            /// Writes `t` as the pair, both null for `None`.
            pub fn option<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
                OptionPair { secs: *t, ns: t.map(Nanos) }.serialize(s)
            }
        }
    };
}

exact_ts!(
    /// `ts` and `ts_ns`.
    ts, "ts", "ts_ns"
);
exact_ts!(
    /// `end_ts` and `end_ts_ns`.
    end_ts, "end_ts", "end_ts_ns"
);
exact_ts!(
    /// `start_ts` and `start_ts_ns`.
    start_ts, "start_ts", "start_ts_ns"
);
exact_ts!(
    /// `arrival` and `arrival_ns` (FLV tags).
    arrival, "arrival", "arrival_ns"
);
exact_ts!(
    /// `request_ts` and `request_ts_ns`.
    request_ts, "request_ts", "request_ts_ns"
);
exact_ts!(
    /// `response_ts` and `response_ts_ns`.
    response_ts, "response_ts", "response_ts_ns"
);

/// Version of the `stats -T json` document (see the module docs; each
/// output has its own version, so one can change without the others).
pub const STATS_SCHEMA_VERSION: &str = "1.1.0";
/// Version of the `check -T json` document.
pub const CHECK_SCHEMA_VERSION: &str = "1.0.0";
/// Version of the baseline files `check --baseline` writes (next to their
/// integer `baseline_version`, which says what the comparison reads).
pub const BASELINE_SCHEMA_VERSION: &str = "1.1.0";
/// Version of the `payload -T json` document.
pub const PAYLOAD_SCHEMA_VERSION: &str = "1.0.0";
/// Version of the message NDJSON (`export --ndjson`, `payload --ndjson`).
pub const MESSAGES_SCHEMA_VERSION: &str = "1.1.0";

/// A JSON document stamped with its contract's version and the tool's:
/// `schema_version`, `wsinspect_version`, then the fields of `body`.
#[derive(Serialize, JsonSchema)]
pub struct Stamped<T> {
    /// Version of this output's contract: semver, additive changes are
    /// minor, breaking ones major (each output has its own).
    #[schemars(extend("pattern" = r"^1\.[0-9]+\.[0-9]+$"))]
    pub schema_version: &'static str,
    /// The wsinspect version that wrote the document.
    pub wsinspect_version: &'static str,
    /// The document.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Stamped<T> {
    /// `body` stamped with `schema_version` and the running wsinspect's
    /// version.
    pub fn new(schema_version: &'static str, body: T) -> Self {
        Stamped {
            schema_version,
            wsinspect_version: WSINSPECT_VERSION,
            body,
        }
    }
}

/// The first line of an NDJSON stream other than the report's: the same
/// fields as [`NdjsonHeader`], with the stream's own version.
pub fn ndjson_header(schema_version: &'static str) -> NdjsonHeader {
    NdjsonHeader {
        schema_version,
        ..NdjsonHeader::default()
    }
}

/// The documents `wsinspect schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// The JSON report (`report -T json`, `live -T json`):
    /// `docs/schema/report.schema.json`.
    Report,
    /// One NDJSON line (`report -T ndjson`, `live -T ndjson`):
    /// `docs/schema/ndjson.schema.json`.
    Ndjson,
    /// `stats -T json`: `docs/schema/stats.schema.json`.
    Stats,
    /// `check -T json`: `docs/schema/check.schema.json`.
    Check,
    /// A baseline file of `check --baseline`:
    /// `docs/schema/baseline.schema.json`.
    Baseline,
    /// `payload -T json`: `docs/schema/payload.schema.json`.
    Payload,
    /// One line of `export --ndjson` / `payload --ndjson`:
    /// `docs/schema/messages.schema.json`.
    Messages,
}

impl SchemaKind {
    /// Every kind, in the order the files are listed.
    pub const ALL: [SchemaKind; 7] = [
        SchemaKind::Report,
        SchemaKind::Ndjson,
        SchemaKind::Stats,
        SchemaKind::Check,
        SchemaKind::Baseline,
        SchemaKind::Payload,
        SchemaKind::Messages,
    ];

    /// The shipped file's name under `docs/schema/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Report => "report.schema.json",
            SchemaKind::Ndjson => "ndjson.schema.json",
            SchemaKind::Stats => "stats.schema.json",
            SchemaKind::Check => "check.schema.json",
            SchemaKind::Baseline => "baseline.schema.json",
            SchemaKind::Payload => "payload.schema.json",
            SchemaKind::Messages => "messages.schema.json",
        }
    }

    /// The version of the output's contract.
    pub fn version(self) -> &'static str {
        match self {
            SchemaKind::Report | SchemaKind::Ndjson => SCHEMA_VERSION,
            SchemaKind::Stats => STATS_SCHEMA_VERSION,
            SchemaKind::Check => CHECK_SCHEMA_VERSION,
            SchemaKind::Baseline => BASELINE_SCHEMA_VERSION,
            SchemaKind::Payload => PAYLOAD_SCHEMA_VERSION,
            SchemaKind::Messages => MESSAGES_SCHEMA_VERSION,
        }
    }

    /// The schema, generated from the model's types.
    pub fn schema(self) -> serde_json::Value {
        match self {
            SchemaKind::Report => report_schema(),
            SchemaKind::Ndjson => ndjson_schema(),
            SchemaKind::Stats => document_schema::<Stamped<crate::stats::CaptureStatsReport>>(
                self,
                "wsinspect stats JSON",
            ),
            SchemaKind::Check => document_schema::<Stamped<crate::check::output::CheckDocument>>(
                self,
                "wsinspect check JSON",
            ),
            SchemaKind::Baseline => document_schema::<
                Stamped<crate::check::baseline::BaselineDocument>,
            >(self, "wsinspect check baseline"),
            SchemaKind::Payload => document_schema::<
                Stamped<crate::payload::PayloadDocument<'static>>,
            >(self, "wsinspect payload JSON"),
            SchemaKind::Messages => messages_schema(),
        }
    }

    /// The schema as shipped: pretty, with a final newline.
    pub fn text(self) -> String {
        let mut s = serde_json::to_string_pretty(&self.schema()).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The schema's `$id`: a name, not a location (the files ship with the
/// source and are printed by `wsinspect schema`).
fn id(file: &str) -> String {
    format!("urn:wsinspect:schema:{file}")
}

/// The JSON Schema (2020-12) of a document `T`, titled, with the version
/// of its contract in the description.
fn document_schema<T: JsonSchema>(kind: SchemaKind, title: &str) -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut v = schema.to_value();
    if let Some(o) = v.as_object_mut() {
        o.insert("$id".into(), id(kind.file_name()).into());
        o.insert("title".into(), title.into());
        o.insert(
            "description".into(),
            format!("Schema version {}.", kind.version()).into(),
        );
    }
    v
}

/// The JSON Schema (2020-12) of one line of the message NDJSON: the
/// `header` first, then one `message` line per exported message.
pub fn messages_schema() -> serde_json::Value {
    use serde_json::{Value, json};
    let mut g = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let header = g.subschema_for::<NdjsonHeader>();
    let line = g.subschema_for::<crate::export::MessageLine>();
    let defs: serde_json::Map<String, Value> = g.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": id(SchemaKind::Messages.file_name()),
        "title": "wsinspect message NDJSON line",
        "description": format!(
            "One line of `export --ndjson` / `payload --ndjson`: the first is a `header`, every other one a `message`. Schema version {MESSAGES_SCHEMA_VERSION}."
        ),
        "oneOf": [header.to_value(), line.to_value()],
        "$defs": defs,
    })
}

/// The JSON Schema (2020-12) of the JSON report.
pub fn report_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<Report<'static>>();
    let mut v = schema.to_value();
    if let Some(o) = v.as_object_mut() {
        o.insert("$id".into(), id(SchemaKind::Report.file_name()).into());
    }
    v
}

/// The JSON Schema (2020-12) of one NDJSON line: one of the event types,
/// told apart by `event`.
pub fn ndjson_schema() -> serde_json::Value {
    use crate::http::handshake::Handshake;
    use crate::model::Connection;
    use crate::model::finding::{Anomaly, Violation};
    use crate::ws::message::{ControlFrame, Message};
    use serde_json::{Value, json};

    let mut g = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let header = g.subschema_for::<NdjsonHeader>();
    let per_conn = [
        ("handshake", "handshake", g.subschema_for::<Handshake>()),
        ("message", "message", g.subschema_for::<Message>()),
        ("control", "control", g.subschema_for::<ControlFrame>()),
        ("violation", "violation", g.subschema_for::<Violation>()),
        ("anomaly", "anomaly", g.subschema_for::<Anomaly>()),
        (
            "app",
            "app",
            g.subschema_for::<crate::model::app::AppRecord>(),
        ),
        (
            "app_finding",
            "app_finding",
            g.subschema_for::<crate::model::app::AppFinding>(),
        ),
    ];
    let analysis = g.subschema_for::<Analysis>();
    let connection = g.subschema_for::<Connection>();
    let mut defs: serde_json::Map<String, Value> = g.take_definitions(true);
    let def_name = |s: &Schema| {
        s.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or_default()
            .to_string()
    };

    // `connection_end`: the connection record without its per-message
    // lists, with their counts (see `ndjson::summary`).
    let mut summary = defs
        .get(&def_name(&connection))
        .cloned()
        .unwrap_or_default();
    if let Some(o) = summary.as_object_mut() {
        if let Some(Value::Object(props)) = o.get_mut("properties") {
            props.remove("messages");
            props.remove("control");
            let count = |what: &str| {
                json!({"description": format!("{what} of the connection (from its counters: a live capture may have dropped old ones)."),
                       "type": "integer", "minimum": 0})
            };
            props.insert("message_count".into(), count("Messages"));
            props.insert("control_count".into(), count("Control frames"));
        }
        if let Some(Value::Array(req)) = o.get_mut("required") {
            req.retain(|k| k != "messages" && k != "control");
            req.push("message_count".into());
            req.push("control_count".into());
        }
        o.insert(
            "description".into(),
            "A connection's record without its messages and control frames.".into(),
        );
    }
    defs.insert("ConnectionSummary".into(), summary);

    let conn_line = |event: &str, key: &str, body: Value| {
        json!({
            "type": "object",
            "properties": {
                "event": {"const": event},
                "conn": {"description": "Connection id (as in the JSON report).", "type": "integer", "minimum": 0},
                "client": {"description": "The client's address and port.", "type": "string"},
                "server": {"description": "The server's address and port.", "type": "string"},
                "stream_id": {"description": "The HTTP/2 stream of an RFC 8441 session (absent over HTTP/1.1).", "type": "integer", "minimum": 1},
                key: body,
            },
            "required": ["event", "conn", "client", "server", key],
        })
    };
    let mut lines = vec![header.to_value()];
    for (event, key, body) in per_conn {
        let mut line = conn_line(event, key, body.to_value());
        if event == "app"
            && let Some(Value::Object(props)) = line.get_mut("properties")
        {
            props.insert(
                "http_exchange".into(),
                json!({"description": "For a record carried in an HTTP body (Engine.IO long-polling): the exchange's position in the connection's `http_exchanges`; the record is also in its `request_app` or `response_app`. Absent for a record on a WebSocket message.", "type": "integer", "minimum": 0}),
            );
        }
        lines.push(line);
    }
    lines.push(conn_line(
        "connection_end",
        "connection",
        json!({"$ref": "#/$defs/ConnectionSummary"}),
    ));
    // `capture`: the capture summary, the fields of the report's top level.
    let report_props = defs
        .get(&def_name(&analysis))
        .and_then(|a| a.get("properties"))
        .cloned()
        .unwrap_or_default();
    let capture_keys = [
        "capture",
        "format",
        "link_type",
        "link_type_dlt",
        "packet_count",
        "stats",
        "capture_anomalies",
    ];
    // Present only when something was counted in it.
    let optional_keys = ["unsupported_tunnels"];
    let mut props = serde_json::Map::new();
    props.insert("event".into(), json!({"const": "capture"}));
    for k in capture_keys.into_iter().chain(optional_keys) {
        if let Some(p) = report_props.get(k) {
            props.insert(k.into(), p.clone());
        }
    }
    let mut required = vec![json!("event")];
    required.extend(capture_keys.iter().map(|k| json!(k)));
    lines.push(json!({"type": "object", "properties": props, "required": required}));

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": id(SchemaKind::Ndjson.file_name()),
        "title": "wsinspect NDJSON line",
        "description": format!(
            "One line of `wsinspect report -T ndjson`: the first is a `header`, the last a `capture` summary. Schema version {SCHEMA_VERSION}."
        ),
        "oneOf": lines,
        "$defs": defs,
    })
}
