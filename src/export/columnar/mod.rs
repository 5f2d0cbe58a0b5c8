//! Columnar export: the analysis model as Parquet tables, for querying a
//! fleet of captures with DuckDB on one machine or Spark on many.
//!
//! Layout: `DIR/<table>/<capture-stem>.parquet`, one file per capture per
//! table, so many processes can export different captures into the same
//! directory at once and a query engine reads `DIR/<table>/*.parquet` as one
//! table. The tables and their columns are in [`schema`] and documented in
//! `docs/columnar.md`; names follow the JSON report.
//!
//! Rows are written as connections finish (a [`Consumer`] of the
//! analyzer's `End` event), in row groups of at most
//! [`ExportOptions::row_group_rows`] rows: what this module buffers is
//! bounded by one row group per table, whatever the capture's size. The
//! rows of a table therefore come in order of connection end, not of
//! `conn_id`; queries sort when order matters.
//!
//! Message payloads are not stored whole (the analyzer does not keep them);
//! each message has its SHA-256, its text (cut at
//! [`ExportOptions::text_bytes`]) and the model's binary preview.

pub mod schema;
mod table;

use crate::analysis::{Consumer, Event, Wants};
use crate::capture::Timestamp;
use crate::flow::{Direction, Role};
use crate::hexfmt::hex;
use crate::model::{Analysis, Connection, Protocol, TcpEnd};
use crate::pipeline::{self, PipelineError};
use crate::ws::message::Message;
use schema::{
    ANOMALIES, APP_MESSAGES, CAPTURES, CONNECTIONS, CONTROL_FRAMES, MESSAGES, TLS, VIOLATIONS,
};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use table::{TableWriter, Value};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The capture could not be analysed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A file or directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The file being written.
        path: String,
        /// What the writer said.
        source: parquet::errors::ParquetError,
    },
    /// A row did not fit its table's schema (a bug in this module).
    #[error("table {table}: {what}")]
    Schema {
        /// The table.
        table: &'static str,
        /// What did not fit.
        what: String,
    },
    /// The capture path has no file name to name the output files after.
    #[error("{0}: a capture file name is needed to name the output files")]
    NoStem(String),
}

/// How to export.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Rows per row group (and the most rows buffered per table).
    pub row_group_rows: usize,
    /// Bytes of a text message kept in the `text` column (cut at a
    /// character boundary; `text_truncated` says so).
    pub text_bytes: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            row_group_rows: 16 * 1024,
            text_bytes: 1024,
        }
    }
}

/// What one capture's export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// The capture's file name (the `capture` column).
    pub capture: String,
    /// Each table written, with its file and row count.
    pub tables: Vec<(&'static str, PathBuf, u64)>,
}

/// The name the output files of `path` get: its file name without the last
/// extension (`x/seed_echo.pcapng` → `seed_echo`).
pub fn capture_stem(path: &str) -> Option<String> {
    Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && path != "-")
}

/// Analyses the capture at `path` and writes its tables under `dir`.
///
/// Existing files of the same capture stem are replaced; a `tls` file is
/// written only when the capture has TLS connections (a stale one is
/// removed).
pub fn export_path(
    path: &str,
    dir: &Path,
    opts: &pipeline::Options,
    export: &ExportOptions,
) -> Result<ExportSummary, ExportError> {
    let stem = capture_stem(path).ok_or_else(|| ExportError::NoStem(path.to_string()))?;
    // The `capture` column is the file name, as the pipeline names it.
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
    let mut sink = ParquetSink::new(dir, &stem, name, export)?;
    let analysis = pipeline::analyze_path_with(path, opts, &mut sink)?;
    sink.finish(&analysis)
}

/// Writes each finished connection's rows into the tables.
struct ParquetSink {
    capture: String,
    connections: TableWriter,
    messages: TableWriter,
    control: TableWriter,
    violations: TableWriter,
    anomalies: TableWriter,
    /// Created with the first TLS connection: captures without TLS get no
    /// `tls` file (nor directory).
    tls: Option<TableWriter>,
    /// Created with the first application message, as `tls`.
    app: Option<TableWriter>,
    captures: TableWriter,
    dir: PathBuf,
    stem: String,
    row_group_rows: usize,
    text_bytes: usize,
    /// The first error; later events are ignored.
    error: Option<ExportError>,
}

impl ParquetSink {
    fn new(
        dir: &Path,
        stem: &str,
        capture: String,
        export: &ExportOptions,
    ) -> Result<Self, ExportError> {
        let rg = export.row_group_rows;
        Ok(ParquetSink {
            capture,
            captures: TableWriter::create(&CAPTURES, dir, stem, rg)?,
            connections: TableWriter::create(&CONNECTIONS, dir, stem, rg)?,
            messages: TableWriter::create(&MESSAGES, dir, stem, rg)?,
            control: TableWriter::create(&CONTROL_FRAMES, dir, stem, rg)?,
            violations: TableWriter::create(&VIOLATIONS, dir, stem, rg)?,
            anomalies: TableWriter::create(&ANOMALIES, dir, stem, rg)?,
            tls: None,
            app: None,
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            row_group_rows: rg,
            text_bytes: export.text_bytes,
            error: None,
        })
    }

    /// Writes the capture row and closes every file.
    fn finish(mut self, analysis: &Analysis) -> Result<ExportSummary, ExportError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        capture_row(&mut self.captures, analysis)?;
        let mut tables = Vec::new();
        for t in [
            self.captures,
            self.connections,
            self.messages,
            self.control,
            self.violations,
            self.anomalies,
        ] {
            let rows = t.total_rows;
            let name = t.name();
            tables.push((name, t.finish()?, rows));
        }
        for (def, w) in [(&TLS, self.tls), (&APP_MESSAGES, self.app)] {
            if let Some(w) = w {
                let rows = w.total_rows;
                tables.push((def.name, w.finish()?, rows));
                continue;
            }
            // A stale file from an earlier export of the same stem.
            let stale = self
                .dir
                .join(def.name)
                .join(format!("{}.parquet", self.stem));
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(|source| ExportError::Io {
                    path: stale.display().to_string(),
                    source,
                })?;
            }
        }
        Ok(ExportSummary {
            capture: analysis.capture.clone(),
            tables,
        })
    }

    /// Writes one message row as soon as the message completes, so that the
    /// analyzer need not keep messages until their connection ends
    /// (bounded memory, [`Wants::takes_messages`]).
    fn message_row(&mut self, conn: &Connection, m: &Message) -> Result<(), ExportError> {
        let index = (conn.stats.c2s.messages + conn.stats.s2c.messages).saturating_sub(1);
        let (text, cut) = match &m.text {
            Some(t) => {
                let kept = cut_at_char(t, self.text_bytes);
                (Some(kept), kept.len() < t.len())
            }
            None => (None, false),
        };
        let sha256 = m.sha256.map(|d| d.to_string());
        let preview = m.preview.as_deref().map(hex);
        let prefix = m.captured_prefix.as_deref().map(hex);
        self.messages.row(&[
            Value::Str(Some(&self.capture)),
            Value::I64(Some(i64::from(conn.id))),
            Value::Str(Some(&conn.client.to_string())),
            Value::Str(Some(&conn.server.to_string())),
            Value::I64(Some(int(index))),
            Value::Str(Some(m.dir.as_str())),
            Value::Str(Some(&m.opcode.name())),
            Value::I64(Some(i64::from(m.frames))),
            Value::Bool(Some(m.compressed)),
            Value::I64(m.payload_len.map(int)),
            Value::I64(Some(int(m.wire_payload_len))),
            Value::Str(sha256.as_deref()),
            Value::Str(text),
            Value::Bool(Some(m.text_truncated || cut)),
            Value::Bool(m.utf8_valid),
            Value::Bool(Some(m.complete)),
            Value::I64(Some(int(m.first_packet.0))),
            Value::I64(Some(int(m.last_packet.0))),
            ts(m.ts),
            ts(m.end_ts),
            Value::Str(preview.as_deref()),
            Value::Str(prefix.as_deref()),
            Value::I64(conn.stream_id.map(i64::from)),
        ])
    }

    fn connection(&mut self, conn: &Connection) -> Result<(), ExportError> {
        let capture = std::mem::take(&mut self.capture);
        let r = self.connection_rows(&capture, conn);
        self.capture = capture;
        r
    }

    fn connection_rows(&mut self, cap: &str, conn: &Connection) -> Result<(), ExportError> {
        connection_row(&mut self.connections, cap, conn)?;
        let id = Some(i64::from(conn.id));
        let stream = conn.stream_id.map(i64::from);
        let (client, server) = (conn.client.to_string(), conn.server.to_string());
        let (client, server) = (Some(client.as_str()), Some(server.as_str()));
        let key = |index: usize| {
            [
                Value::Str(Some(cap)),
                Value::I64(id),
                Value::Str(client),
                Value::Str(server),
                Value::I64(Some(int(index as u64))),
            ]
        };
        for (i, c) in conn.control.iter().enumerate() {
            let k = key(i);
            self.control.row(&[
                k[0],
                k[1],
                k[2],
                k[3],
                k[4],
                Value::Str(Some(c.dir.as_str())),
                Value::Str(Some(&c.opcode.name())),
                Value::I64(Some(int(c.payload_len))),
                Value::I32(c.close_code.map(i32::from)),
                Value::Str(c.close_reason.as_deref()),
                Value::I64(Some(int(c.packet.0))),
                ts(c.ts),
                Value::Str(Some(&crate::hexfmt::hex(&c.payload))),
                Value::Bool(Some(c.frame.fin)),
                Value::I32(Some(i32::from(c.frame.rsv))),
                Value::Str(c.frame.mask_key.map(|k| k.to_string()).as_deref()),
                Value::I64(stream),
            ])?;
        }
        for (i, v) in conn.violation_details.iter().enumerate() {
            let k = key(i);
            let kind = serde_name(&v.kind);
            self.violations.row(&[
                k[0],
                k[1],
                k[2],
                k[3],
                k[4],
                Value::Str(Some(&kind)),
                Value::Str(Some(v.kind.rfc())),
                Value::Str(v.dir.map(Direction::as_str)),
                Value::I64(Some(int(v.packet.0))),
                Value::Str(Some(&v.detail)),
                Value::I64(stream),
            ])?;
        }
        for (i, a) in conn.anomalies.iter().enumerate() {
            let k = key(i);
            let kind = serde_name(&a.kind);
            self.anomalies.row(&[
                k[0],
                k[1],
                k[2],
                k[3],
                k[4],
                Value::Str(Some(&kind)),
                Value::Str(a.dir.map(Direction::as_str)),
                Value::I64(Some(int(a.packet.0))),
                Value::Str(Some(&a.detail)),
                Value::I64(stream),
            ])?;
        }
        if let Some(t) = &conn.tls {
            let reason = t.reason.as_ref().map(ToString::to_string);
            let tls = match &mut self.tls {
                Some(w) => w,
                None => self.tls.insert(TableWriter::create(
                    &TLS,
                    &self.dir,
                    &self.stem,
                    self.row_group_rows,
                )?),
            };
            tls.row(&[
                Value::Str(Some(cap)),
                Value::I64(id),
                Value::Str(client),
                Value::Str(server),
                Value::Str(t.version.as_deref()),
                Value::Str(t.cipher_suite.as_deref()),
                Value::Bool(Some(t.decrypted)),
                Value::Str(t.sni.as_deref()),
                Value::Str(t.alpn.as_deref()),
                Value::Str(reason.as_deref()),
                Value::I64(Some(int(t.records[0]))),
                Value::I64(Some(int(t.records[1]))),
                Value::I64(Some(int(t.notes.len() as u64))),
            ])?;
        }
        // WebSocket records, then the long-polling packets of the HTTP
        // exchanges (issue 21), numbered on.
        let records = conn
            .app_messages
            .iter()
            .map(|r| (None, r))
            .chain(conn.polling_records().map(|(x, r)| (Some(x), r)));
        for (i, (exchange, r)) in records.enumerate() {
            let app = match &mut self.app {
                Some(w) => w,
                None => self.app.insert(TableWriter::create(
                    &APP_MESSAGES,
                    &self.dir,
                    &self.stem,
                    self.row_group_rows,
                )?),
            };
            let e = r.error.as_ref();
            app.row(&[
                Value::Str(Some(cap)),
                Value::I64(id),
                Value::I64(conn.stream_id.map(i64::from)),
                Value::Str(client),
                Value::Str(server),
                Value::I64(Some(int(i as u64))),
                Value::I64(Some(int(r.index))),
                Value::Str(Some(r.dir.as_str())),
                Value::Str(Some(r.protocol.name())),
                Value::Str(Some(r.kind)),
                Value::Str(r.name.as_deref()),
                Value::Str(r.id.as_deref()),
                Value::Str(r.channel.as_deref()),
                Value::Str(e.and_then(|e| e.code.as_deref())),
                Value::Str(e.and_then(|e| e.message.as_deref())),
                Value::I64(r.answers.map(int)),
                Value::I64(r.latency_ns),
                Value::Bool(Some(r.later_answer)),
                Value::I64(Some(int(r.first_packet.0))),
                ts(r.ts),
                Value::I32(r.detail.qos.map(i32::from)),
                Value::I64(r.detail.payload_len.map(int)),
                Value::I64(exchange.map(|x| int(x as u64))),
            ])?;
        }
        Ok(())
    }
}

impl Consumer for ParquetSink {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        if self.error.is_some() {
            return ControlFlow::Break(());
        }
        // Messages are written as they complete; the rest of a connection
        // when its record is finished (only connections that carried
        // something are reported).
        let r = match ev {
            Event::Message { conn, message, .. } => self.message_row(conn, &message),
            Event::End(conn) if conn.reported() => self.connection(&conn),
            _ => Ok(()),
        };
        if let Err(e) = r {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Every message becomes a row as it completes: the model need not
    /// keep them.
    fn wants(&self) -> Wants {
        Wants {
            takes_messages: true,
            ..Wants::default()
        }
    }
}

/// Counters are `u64` in the model and `int64` in Parquet (Spark has no
/// unsigned types); a value past `i64::MAX` saturates.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The model's `i128` nanoseconds as `Timestamp(ns, UTC)`; null when it
/// does not fit in `i64` (before 1677 or after 2262).
fn ts(t: Timestamp) -> Value<'static> {
    Value::Ts(i64::try_from(t.0).ok())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// The name serde gives a unit enum variant (as in the JSON report).
fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn role(r: Option<Role>) -> Option<&'static str> {
    r.map(Role::as_str)
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Websocket => "websocket",
        Protocol::Http => "http",
        Protocol::Tls => "tls",
        Protocol::Upgraded => "upgraded",
        Protocol::Http2 => "http2",
        Protocol::Unknown => "unknown",
    }
}

fn tcp_end_name(e: TcpEnd) -> &'static str {
    match e {
        TcpEnd::Rst => "rst",
        TcpEnd::Fin => "fin",
        TcpEnd::Open => "open",
    }
}

fn connection_row(t: &mut TableWriter, cap: &str, c: &Connection) -> Result<(), ExportError> {
    let h = &c.handshake;
    let d = &c.tcp_detail;
    let (client, server) = (c.client.to_string(), c.server.to_string());
    let mut row = vec![
        Value::Str(Some(cap)),
        Value::I64(Some(i64::from(c.id))),
        Value::Str(Some(&client)),
        Value::Str(Some(&server)),
        Value::Str(Some(protocol_name(c.protocol))),
        Value::Bool(Some(c.is_websocket)),
        Value::Bool(Some(h.seen)),
        Value::Str(h.request_target.as_deref()),
        Value::Str(h.sec_websocket_key.as_deref()),
        Value::Str(h.sec_websocket_version.as_deref()),
        Value::I32(h.status.map(i32::from)),
        Value::Str(h.reason.as_deref()),
        Value::Str(h.sec_websocket_accept.as_deref()),
        Value::Bool(h.accept_valid),
        Value::Str(h.subprotocol.as_deref()),
        Value::Str(h.extensions.as_deref()),
        Value::Str(h.offered_subprotocols.as_deref()),
        Value::Str(h.offered_extensions.as_deref()),
        Value::Bool(Some(h.request_complete)),
        Value::Bool(Some(h.response_complete)),
        Value::I64(h.request_packet.map(|p| int(p.0))),
        Value::I64(h.response_packet.map(|p| int(p.0))),
        Value::Str(role(c.close_initiator)),
        Value::Str(Some(tcp_end_name(c.tcp_end))),
        Value::Bool(Some(d.fin_c2s)),
        Value::Bool(Some(d.fin_s2c)),
        Value::Bool(Some(d.rst_from_client)),
        Value::Bool(Some(d.rst_from_server)),
        Value::Str(role(d.first_fin_from)),
        Value::I64(Some(int(c.packets))),
        Value::I64(Some(int(c.first_packet.0))),
        Value::I64(Some(int(c.last_packet.0))),
        ts(c.start_ts),
        ts(c.end_ts),
        Value::I64(Some(int(c.stats.c2s.messages + c.stats.s2c.messages))),
        Value::I64(Some(int(c.control.len() as u64))),
        Value::I64(Some(int(c.violations.len() as u64))),
        Value::I64(Some(int(c.anomalies.len() as u64))),
        Value::I64(Some(int(c.http_exchanges.len() as u64))),
        Value::Bool(Some(c.tls.is_some())),
    ];
    // In the order of schema::DIR_STATS.
    for s in [&c.stats.c2s, &c.stats.s2c] {
        for v in [
            s.messages,
            s.control_frames,
            s.frames,
            s.payload_bytes,
            s.wire_payload_bytes,
            s.tcp_bytes,
            s.retransmissions,
            s.out_of_order,
            s.missing_bytes,
        ] {
            row.push(Value::I64(Some(int(v))));
        }
    }
    let app = c.app_protocol.map(|d| d.protocol.name());
    let transport = c.transport.map(|t| serde_name(&t));
    row.extend([
        Value::I64(c.stream_id.map(i64::from)),
        Value::Str(transport.as_deref()),
        Value::Str(app),
        Value::I64(Some(int(
            (c.app_messages.len() + c.polling_records().count()) as u64,
        ))),
    ]);
    t.row(&row)
}

fn capture_row(t: &mut TableWriter, a: &Analysis) -> Result<(), ExportError> {
    let s = &a.stats;
    let (start, end) = if a.packet_count == 0 {
        (Value::Ts(None), Value::Ts(None))
    } else {
        (ts(a.start_ts), ts(a.end_ts))
    };
    t.row(&[
        Value::Str(Some(&a.capture)),
        Value::Str(Some(&a.format)),
        Value::Str(Some(&a.link_type)),
        Value::I64(Some(i64::from(a.link_type_dlt))),
        Value::I64(Some(int(a.packet_count))),
        start,
        end,
        Value::I64(Some(int(s.bytes))),
        Value::I64(Some(int(s.tcp_packets))),
        Value::I64(Some(int(s.other_packets))),
        Value::I64(Some(int(s.malformed_packets))),
        Value::I64(Some(int(s.tcp_connections))),
        Value::I64(Some(int(s.websocket_connections))),
        Value::I64(Some(int(s.messages))),
        Value::I64(Some(int(s.control_frames))),
        Value::I64(Some(int(s.violations))),
        Value::I64(Some(int(a.capture_anomalies.len() as u64))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(
            capture_stem("a/b/seed_echo.pcapng").as_deref(),
            Some("seed_echo")
        );
        assert_eq!(capture_stem("x.pcap").as_deref(), Some("x"));
        assert_eq!(capture_stem("-"), None);
        assert_eq!(capture_stem(""), None);
    }

    #[test]
    fn text_is_cut_on_char_boundaries() {
        assert_eq!(cut_at_char("héllo", 2), "h");
        assert_eq!(cut_at_char("héllo", 3), "hé");
        assert_eq!(cut_at_char("abc", 10), "abc");
        assert_eq!(cut_at_char("€", 0), "");
    }

    #[test]
    fn out_of_range_timestamps_are_null() {
        assert!(matches!(ts(Timestamp(i128::MAX)), Value::Ts(None)));
        assert!(matches!(ts(Timestamp(5)), Value::Ts(Some(5))));
    }
}
