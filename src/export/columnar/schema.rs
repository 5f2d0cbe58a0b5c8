//! The columnar schema: every table, its columns, their types and meaning.
//!
//! This list is the single source of truth: the writer builds its Arrow
//! schemas from it, `docs/columnar.md` documents it (a test checks that
//! every column named here is documented there), and the version below is
//! stored in every file's key/value metadata.
//!
//! Names follow the JSON report (`wsinspect report --format json`, see
//! `model` and `captures/README.md`); nested JSON objects are
//! flattened with `_` (`handshake.status` → `handshake_status`,
//! `stats.c2s.messages` → `stats_c2s_messages`). Only signed integer types are
//! used, because Spark has no unsigned types.

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::sync::Arc;

/// Version of the table layout below. Bump it when a column is renamed,
/// removed or changes type; adding a column at the end keeps the version
/// compatible for readers that select columns by name, but is still noted in
/// `docs/columnar.md`.
pub const SCHEMA_VERSION: &str = "1";

/// Key of the file metadata entry holding [`SCHEMA_VERSION`].
pub const VERSION_KEY: &str = "wsinspect.schema_version";
/// Key of the file metadata entry holding the table name.
pub const TABLE_KEY: &str = "wsinspect.table";

/// A column's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Str,
    /// 64-bit signed integer (counts, packet numbers, lengths).
    I64,
    /// 32-bit signed integer (codes, small values).
    I32,
    /// Boolean.
    Bool,
    /// `Timestamp(Nanosecond, "UTC")`: the model's nanosecond timestamps,
    /// exactly (null outside the years 1677–2262, which `i64` ns cannot hold).
    Ts,
}

impl Kind {
    /// The Arrow type of the column.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Str => DataType::Utf8,
            Kind::I64 => DataType::Int64,
            Kind::I32 => DataType::Int32,
            Kind::Bool => DataType::Boolean,
            Kind::Ts => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        }
    }

    /// The type as `docs/columnar.md` names it.
    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::I64 => "int64",
            Kind::I32 => "int32",
            Kind::Bool => "bool",
            Kind::Ts => "timestamp[ns, UTC]",
        }
    }
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    /// Column name.
    pub name: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Whether it may be null.
    pub nullable: bool,
}

/// One table: a directory of `<capture-stem>.parquet` files.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// Table (and directory) name.
    pub name: &'static str,
    /// Columns, in file order.
    pub columns: &'static [ColumnDef],
}

impl TableDef {
    /// The Arrow schema, with the version and table name as metadata.
    pub fn schema(&self) -> Arc<Schema> {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.kind.data_type(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

const fn col(name: &'static str, kind: Kind) -> ColumnDef {
    ColumnDef {
        name,
        kind,
        nullable: false,
    }
}

const fn opt(name: &'static str, kind: Kind) -> ColumnDef {
    ColumnDef {
        name,
        kind,
        nullable: true,
    }
}

use Kind::{Bool, I32, I64, Str, Ts};

/// The per-direction counters (`stats.c2s.*`), in this order for each
/// direction.
pub const DIR_STATS: [&str; 9] = [
    "messages",
    "control_frames",
    "frames",
    "payload_bytes",
    "wire_payload_bytes",
    "tcp_bytes",
    "retransmissions",
    "out_of_order",
    "missing_bytes",
];

/// One row per capture file.
pub const CAPTURES: TableDef = TableDef {
    name: "captures",
    columns: &[
        col("capture", Str),
        col("format", Str),
        col("link_type", Str),
        col("link_type_dlt", I64),
        col("packet_count", I64),
        opt("start_ts", Ts),
        opt("end_ts", Ts),
        col("stats_bytes", I64),
        col("stats_tcp_packets", I64),
        col("stats_other_packets", I64),
        col("stats_malformed_packets", I64),
        col("stats_tcp_connections", I64),
        col("stats_websocket_connections", I64),
        col("stats_messages", I64),
        col("stats_control_frames", I64),
        col("stats_violations", I64),
        col("capture_anomaly_count", I64),
    ],
};

/// One row per reported connection (HTTP, WebSocket or TLS).
pub const CONNECTIONS: TableDef = TableDef {
    name: "connections",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        col("client", Str),
        col("server", Str),
        col("protocol", Str),
        col("is_websocket", Bool),
        col("handshake_seen", Bool),
        opt("handshake_request_target", Str),
        opt("handshake_sec_websocket_key", Str),
        opt("handshake_sec_websocket_version", Str),
        opt("handshake_status", I32),
        opt("handshake_reason", Str),
        opt("handshake_sec_websocket_accept", Str),
        opt("handshake_accept_valid", Bool),
        opt("handshake_subprotocol", Str),
        opt("handshake_extensions", Str),
        opt("handshake_offered_subprotocols", Str),
        opt("handshake_offered_extensions", Str),
        col("handshake_request_complete", Bool),
        col("handshake_response_complete", Bool),
        opt("handshake_request_packet", I64),
        opt("handshake_response_packet", I64),
        opt("close_initiator", Str),
        col("tcp_end", Str),
        col("tcp_detail_fin_c2s", Bool),
        col("tcp_detail_fin_s2c", Bool),
        col("tcp_detail_rst_from_client", Bool),
        col("tcp_detail_rst_from_server", Bool),
        opt("tcp_detail_first_fin_from", Str),
        col("packets", I64),
        col("first_packet", I64),
        col("last_packet", I64),
        opt("start_ts", Ts),
        opt("end_ts", Ts),
        col("message_count", I64),
        col("control_count", I64),
        col("violation_count", I64),
        col("anomaly_count", I64),
        col("http_exchange_count", I64),
        col("has_tls", Bool),
        col("stats_c2s_messages", I64),
        col("stats_c2s_control_frames", I64),
        col("stats_c2s_frames", I64),
        col("stats_c2s_payload_bytes", I64),
        col("stats_c2s_wire_payload_bytes", I64),
        col("stats_c2s_tcp_bytes", I64),
        col("stats_c2s_retransmissions", I64),
        col("stats_c2s_out_of_order", I64),
        col("stats_c2s_missing_bytes", I64),
        col("stats_s2c_messages", I64),
        col("stats_s2c_control_frames", I64),
        col("stats_s2c_frames", I64),
        col("stats_s2c_payload_bytes", I64),
        col("stats_s2c_wire_payload_bytes", I64),
        col("stats_s2c_tcp_bytes", I64),
        col("stats_s2c_retransmissions", I64),
        col("stats_s2c_out_of_order", I64),
        col("stats_s2c_missing_bytes", I64),
        opt("stream_id", I64),
        opt("transport", Str),
        opt("app_protocol", Str),
        col("app_message_count", I64),
    ],
};

/// One row per data message (text or binary, all fragments together).
pub const MESSAGES: TableDef = TableDef {
    name: "messages",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        col("client", Str),
        col("server", Str),
        col("index", I64),
        col("dir", Str),
        col("opcode", Str),
        col("frames", I64),
        col("compressed", Bool),
        opt("payload_len", I64),
        col("wire_payload_len", I64),
        opt("sha256", Str),
        opt("text", Str),
        col("text_truncated", Bool),
        opt("utf8_valid", Bool),
        col("complete", Bool),
        col("first_packet", I64),
        col("last_packet", I64),
        opt("ts", Ts),
        opt("end_ts", Ts),
        opt("preview_hex", Str),
        opt("captured_prefix_hex", Str),
        opt("stream_id", I64),
    ],
};

/// One row per control frame (close, ping, pong, reserved control opcodes).
pub const CONTROL_FRAMES: TableDef = TableDef {
    name: "control_frames",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        col("client", Str),
        col("server", Str),
        col("index", I64),
        col("dir", Str),
        col("opcode", Str),
        col("payload_len", I64),
        opt("close_code", I32),
        opt("close_reason", Str),
        col("packet", I64),
        opt("ts", Ts),
        col("payload_hex", Str),
        col("fin", Bool),
        col("rsv", I32),
        opt("mask_key", Str),
        opt("stream_id", I64),
    ],
};

/// One row per RFC 6455 / RFC 7692 / handshake violation.
pub const VIOLATIONS: TableDef = TableDef {
    name: "violations",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        col("client", Str),
        col("server", Str),
        col("index", I64),
        col("kind", Str),
        col("rfc", Str),
        opt("dir", Str),
        col("packet", I64),
        col("detail", Str),
        opt("stream_id", I64),
    ],
};

/// One row per anomaly of a connection (loss, snaplen, caps, lost sync).
pub const ANOMALIES: TableDef = TableDef {
    name: "anomalies",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        col("client", Str),
        col("server", Str),
        col("index", I64),
        col("kind", Str),
        opt("dir", Str),
        col("packet", I64),
        col("detail", Str),
        opt("stream_id", I64),
    ],
};

/// One row per connection that carried TLS (wss); files exist only for
/// captures that have such connections.
pub const TLS: TableDef = TableDef {
    name: "tls",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        col("client", Str),
        col("server", Str),
        opt("version", Str),
        opt("cipher_suite", Str),
        col("decrypted", Bool),
        opt("sni", Str),
        opt("alpn", Str),
        opt("reason", Str),
        col("records_c2s", I64),
        col("records_s2c", I64),
        col("note_count", I64),
    ],
};

/// One row per application message (Socket.IO, MQTT, STOMP, GraphQL,
/// JSON-RPC, OCPP …); files exist only for captures that have them.
pub const APP_MESSAGES: TableDef = TableDef {
    name: "app_messages",
    columns: &[
        col("capture", Str),
        col("conn_id", I64),
        opt("stream_id", I64),
        col("client", Str),
        col("server", Str),
        col("index", I64),
        col("message_index", I64),
        col("dir", Str),
        col("protocol", Str),
        col("kind", Str),
        opt("name", Str),
        opt("id", Str),
        opt("channel", Str),
        opt("error_code", Str),
        opt("error_message", Str),
        opt("answers", I64),
        opt("latency_ns", I64),
        col("later_answer", Bool),
        col("first_packet", I64),
        opt("ts", Ts),
        opt("qos", I32),
        opt("payload_len", I64),
        opt("http_exchange", I64),
    ],
};

/// Every table, in the order files are written.
pub const TABLES: [&TableDef; 8] = [
    &CAPTURES,
    &CONNECTIONS,
    &MESSAGES,
    &CONTROL_FRAMES,
    &VIOLATIONS,
    &ANOMALIES,
    &TLS,
    &APP_MESSAGES,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn column_names_are_unique_per_table() {
        for t in TABLES {
            let mut seen = HashSet::new();
            for c in t.columns {
                assert!(seen.insert(c.name), "{}.{} twice", t.name, c.name);
            }
        }
    }

    #[test]
    fn stats_columns_follow_dir_stats_order() {
        let names: Vec<&str> = CONNECTIONS.columns.iter().map(|c| c.name).collect();
        for dir in ["c2s", "s2c"] {
            let want: Vec<String> = DIR_STATS
                .iter()
                .map(|s| format!("stats_{dir}_{s}"))
                .collect();
            let start = names
                .iter()
                .position(|n| *n == want[0])
                .expect("stats columns present");
            assert_eq!(&names[start..start + want.len()], &want[..]);
        }
    }
}
