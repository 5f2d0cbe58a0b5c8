//! Timing and size statistics per connection and per capture
//! (`wsinspect stats`): message rates and size histograms per direction,
//! ping→pong round-trip times, time from the upgrade to the first message,
//! and the duration of the close handshake.
//!
//! Computed from the model alone, in one pass over the capture: the time of
//! a `101` is its exchange's `response_ts` (the packet that completed the
//! response head), so standard input gets upgrade timings too.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::model::{Analysis, Connection};
use crate::ws::frame::Opcode;
use serde::Serialize;
use std::net::SocketAddr;

/// Upper bounds (inclusive, bytes) of the size histogram buckets; a last
/// bucket holds everything larger.
pub const SIZE_BOUNDS: [u64; 8] = [0, 16, 128, 1024, 8 << 10, 64 << 10, 512 << 10, 4 << 20];

/// One histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Bucket {
    /// Inclusive upper bound in bytes; None: unbounded.
    pub le: Option<u64>,
    /// Messages in the bucket.
    pub count: u64,
}

/// Message sizes by bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Histogram {
    /// Buckets in increasing order.
    pub buckets: Vec<Bucket>,
}

impl Default for Histogram {
    fn default() -> Self {
        let mut buckets: Vec<Bucket> = SIZE_BOUNDS
            .iter()
            .map(|&b| Bucket {
                le: Some(b),
                count: 0,
            })
            .collect();
        buckets.push(Bucket { le: None, count: 0 });
        Histogram { buckets }
    }
}

impl Histogram {
    /// Counts one size.
    pub fn add(&mut self, size: u64) {
        let i = SIZE_BOUNDS
            .iter()
            .position(|&b| size <= b)
            .unwrap_or(SIZE_BOUNDS.len());
        if let Some(b) = self.buckets.get_mut(i) {
            b.count += 1;
        }
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            a.count += b.count;
        }
    }
}

/// Data messages of one direction.
#[derive(Debug, Clone, PartialEq, Serialize, Default, schemars::JsonSchema)]
pub struct DirMessages {
    /// Messages.
    pub messages: u64,
    /// Decoded payload bytes (messages whose size is known).
    pub bytes: u64,
    /// Smallest message.
    pub min_size: Option<u64>,
    /// Largest message.
    pub max_size: Option<u64>,
    /// Mean size.
    pub mean_size: Option<f64>,
    /// Messages per second between the first and the last message.
    pub rate_per_s: Option<f64>,
    /// Sizes.
    pub sizes: Histogram,
    #[serde(skip)]
    #[schemars(skip)]
    span: Option<(Timestamp, Timestamp)>,
}

impl DirMessages {
    fn add(&mut self, size: Option<u64>, ts: Timestamp, end: Timestamp) {
        self.messages += 1;
        if let Some(s) = size {
            self.bytes += s;
            self.min_size = Some(self.min_size.map_or(s, |m| m.min(s)));
            self.max_size = Some(self.max_size.map_or(s, |m| m.max(s)));
            self.sizes.add(s);
        }
        self.span = Some(match self.span {
            Some((a, b)) => (a.min(ts), b.max(end)),
            None => (ts, end),
        });
    }

    fn settle(&mut self) {
        let sized: u64 = self.sizes.buckets.iter().map(|b| b.count).sum();
        if sized > 0 {
            self.mean_size = Some(self.bytes as f64 / sized as f64);
        }
        if let Some((a, b)) = self.span {
            let secs = b.secs_since(a);
            if secs > 0.0 && self.messages > 1 {
                self.rate_per_s = Some((self.messages - 1) as f64 / secs);
            }
        }
    }

    fn merge(&mut self, o: &DirMessages) {
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.min_size = opt(self.min_size, o.min_size, u64::min);
        self.max_size = opt(self.max_size, o.max_size, u64::max);
        self.sizes.merge(&o.sizes);
        self.span = match (self.span, o.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) => x,
            (None, y) => y,
        };
    }
}

fn opt<T: Copy>(a: Option<T>, b: Option<T>, f: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Ping→pong round-trip times.
#[derive(Debug, Clone, PartialEq, Serialize, Default, schemars::JsonSchema)]
pub struct Rtt {
    /// Pings answered by a pong with the same payload (RFC 6455 §5.5.3).
    pub answered: u64,
    /// Pings with no matching pong.
    pub unanswered: u64,
    /// Pongs that answered no ping (unsolicited, §5.5.3 allows them).
    pub unsolicited_pongs: u64,
    /// Smallest RTT (ms).
    pub min_ms: Option<f64>,
    /// Mean RTT (ms).
    pub mean_ms: Option<f64>,
    /// Largest RTT (ms).
    pub max_ms: Option<f64>,
    /// Every RTT (ms), in ping order.
    pub samples_ms: Vec<f64>,
}

impl Rtt {
    fn settle(&mut self) {
        self.answered = self.samples_ms.len() as u64;
        let n = self.samples_ms.len() as f64;
        if n > 0.0 {
            self.mean_ms = Some(self.samples_ms.iter().sum::<f64>() / n);
            self.min_ms = self.samples_ms.iter().copied().reduce(f64::min);
            self.max_ms = self.samples_ms.iter().copied().reduce(f64::max);
        }
    }
}

/// Statistics of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ConnectionStats {
    /// Connection id.
    pub conn: u32,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// First to last packet (s).
    pub duration_s: f64,
    /// Client to server.
    pub c2s: DirMessages,
    /// Server to client.
    pub s2c: DirMessages,
    /// Ping→pong round trips (both directions).
    pub rtt: Rtt,
    /// From the packet carrying the 101 response to the first data message.
    pub upgrade_to_first_message_ms: Option<f64>,
    /// From the first close frame to the close frame answering it.
    pub close_handshake_ms: Option<f64>,
}

/// Statistics of a capture.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CaptureStatsReport {
    /// Capture name.
    pub capture: String,
    /// First to last packet (s).
    pub duration_s: f64,
    /// Connections reported.
    pub connections: u64,
    /// WebSocket connections.
    pub websocket_connections: u64,
    /// All client-to-server messages.
    pub c2s: DirMessages,
    /// All server-to-client messages.
    pub s2c: DirMessages,
    /// All round trips.
    pub rtt: Rtt,
    /// Per connection.
    pub per_connection: Vec<ConnectionStats>,
    /// Application messages by protocol, kind and name, with the latency
    /// of their answers (issue 21); absent when no application protocol
    /// was decoded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub app: Vec<AppStats>,
}

/// Application messages of one protocol, kind and name.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AppStats {
    /// The protocol.
    pub protocol: crate::model::app::AppProtocol,
    /// Its type name for the message (`EVENT`, `PUBLISH`, `CALL` …).
    pub kind: String,
    /// Event, topic, destination, method or action.
    pub name: Option<String>,
    /// Messages.
    pub count: u64,
    /// Application payload bytes, where the protocol says (MQTT, STOMP,
    /// Socket.IO attachments).
    pub payload_bytes: u64,
    /// Messages that carried an application error.
    pub errors: u64,
    /// Of them, answers to a request (first answers only).
    pub answers: u64,
    /// Latency of those answers (ms): median, 90th and 99th percentile
    /// (nearest rank), maximum.
    pub latency_ms_p50: Option<f64>,
    /// 90th percentile.
    pub latency_ms_p90: Option<f64>,
    /// 99th percentile.
    pub latency_ms_p99: Option<f64>,
    /// Maximum.
    pub latency_ms_max: Option<f64>,
    /// Requests of this kind that got no answer before the capture ended.
    pub unanswered: u64,
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

/// Application messages of every session, grouped by protocol, kind and
/// name; an answer's latency counts for the answer's kind.
fn app_stats(a: &Analysis) -> Vec<AppStats> {
    use std::collections::BTreeMap;
    type Key = (String, String, Option<String>);
    let mut groups: BTreeMap<Key, (AppStats, Vec<f64>)> = BTreeMap::new();
    for c in &a.connections {
        let unanswered: Vec<(u64, &crate::model::app::AppFinding)> = c
            .app_findings
            .iter()
            .filter(|f| f.kind == crate::model::app::AppFindingKind::Unanswered)
            .filter_map(|f| f.index.map(|i| (i, f)))
            .collect();
        // Long-polling records (in HTTP bodies) count with the WebSocket
        // ones; their `index` counts polling packets, so unanswered
        // findings (about messages) are matched to WebSocket records only.
        let polled = c.polling_records().map(|(_, r)| (r, true));
        for (r, in_body) in c.app_messages.iter().map(|r| (r, false)).chain(polled) {
            let key = (
                r.protocol.name().to_string(),
                r.kind.to_string(),
                r.name.clone(),
            );
            let (g, lat) = groups.entry(key).or_insert_with(|| {
                (
                    AppStats {
                        protocol: r.protocol,
                        kind: r.kind.to_string(),
                        name: r.name.clone(),
                        count: 0,
                        payload_bytes: 0,
                        errors: 0,
                        answers: 0,
                        latency_ms_p50: None,
                        latency_ms_p90: None,
                        latency_ms_p99: None,
                        latency_ms_max: None,
                        unanswered: 0,
                    },
                    Vec::new(),
                )
            });
            g.count += 1;
            g.payload_bytes += r.detail.payload_len.unwrap_or(0);
            g.errors += u64::from(r.error.is_some());
            if let (Some(ns), false) = (r.latency_ns, r.later_answer) {
                g.answers += 1;
                lat.push(ns as f64 / 1e6);
            }
            if !in_body {
                g.unanswered += unanswered
                    .iter()
                    .filter(|(i, f)| *i == r.index && f.dir == Some(r.dir))
                    .count() as u64;
            }
        }
    }
    groups
        .into_values()
        .map(|(mut g, mut lat)| {
            lat.sort_by(f64::total_cmp);
            g.latency_ms_p50 = percentile(&lat, 50.0);
            g.latency_ms_p90 = percentile(&lat, 90.0);
            g.latency_ms_p99 = percentile(&lat, 99.0);
            g.latency_ms_max = lat.last().copied();
            g
        })
        .collect()
}

/// Writes `r` as the `stats -T json` document: stamped with its contract's
/// version (`docs/schema/stats.schema.json`), pretty, with a final newline.
pub fn write_json(r: &CaptureStatsReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use crate::report::contract::{STATS_SCHEMA_VERSION, Stamped};
    serde_json::to_writer_pretty(&mut *out, &Stamped::new(STATS_SCHEMA_VERSION, r))
        .map_err(std::io::Error::other)?;
    writeln!(out)
}

fn ms(a: Timestamp, b: Timestamp) -> f64 {
    b.secs_since(a) * 1000.0
}

/// Statistics of one connection.
pub fn connection_stats(c: &Connection) -> ConnectionStats {
    let (mut c2s, mut s2c) = (DirMessages::default(), DirMessages::default());
    for m in &c.messages {
        let d = match m.dir {
            Direction::ClientToServer => &mut c2s,
            Direction::ServerToClient => &mut s2c,
        };
        d.add(m.payload_len, m.ts, m.end_ts);
    }
    c2s.settle();
    s2c.settle();
    // Ping→pong: the first later pong in the other direction with the same
    // application data (RFC 6455 §5.5.3: "Pong frame sent in response to a
    // Ping frame must have identical Application data").
    let mut rtt = Rtt::default();
    let mut used = vec![false; c.control.len()];
    for p in c.control.iter().filter(|f| f.opcode == Opcode::Ping) {
        let found = c.control.iter().enumerate().find(|(i, f)| {
            f.opcode == Opcode::Pong
                && f.dir == p.dir.reverse()
                && f.ts >= p.ts
                && f.payload == p.payload
                && !used.get(*i).copied().unwrap_or(true)
        });
        match found {
            Some((i, f)) => {
                if let Some(u) = used.get_mut(i) {
                    *u = true;
                }
                rtt.samples_ms.push(ms(p.ts, f.ts));
            }
            None => rtt.unanswered += 1,
        }
    }
    rtt.unsolicited_pongs = c
        .control
        .iter()
        .enumerate()
        .filter(|(i, f)| f.opcode == Opcode::Pong && !used.get(*i).copied().unwrap_or(false))
        .count() as u64;
    rtt.settle();
    let upgrade = c
        .handshake
        .response_packet
        .filter(|_| c.handshake.status == Some(101))
        .and_then(|p| {
            c.http_exchanges
                .iter()
                .find(|x| x.response_packet == Some(p))
        })
        .and_then(|x| x.response_ts);
    let first_msg = c.messages.iter().map(|m| m.ts).min();
    let upgrade_to_first_message_ms = match (upgrade, first_msg) {
        (Some(u), Some(f)) => Some(ms(u, f)),
        _ => None,
    };
    let closes: Vec<_> = c
        .control
        .iter()
        .filter(|f| f.opcode == Opcode::Close)
        .collect();
    let close_handshake_ms = closes.first().and_then(|first| {
        closes
            .iter()
            .find(|f| f.dir != first.dir && f.ts >= first.ts)
            .map(|reply| ms(first.ts, reply.ts))
    });
    ConnectionStats {
        conn: c.id,
        client: c.client,
        server: c.server,
        duration_s: c.end_ts.secs_since(c.start_ts),
        c2s,
        s2c,
        rtt,
        upgrade_to_first_message_ms,
        close_handshake_ms,
    }
}

/// Statistics of a whole capture.
pub fn capture_stats(a: &Analysis) -> CaptureStatsReport {
    let per: Vec<ConnectionStats> = a.connections.iter().map(connection_stats).collect();
    let (mut c2s, mut s2c, mut rtt) = (
        DirMessages::default(),
        DirMessages::default(),
        Rtt::default(),
    );
    for s in &per {
        c2s.merge(&s.c2s);
        s2c.merge(&s.s2c);
        rtt.samples_ms.extend_from_slice(&s.rtt.samples_ms);
        rtt.unanswered += s.rtt.unanswered;
        rtt.unsolicited_pongs += s.rtt.unsolicited_pongs;
    }
    c2s.settle();
    s2c.settle();
    rtt.settle();
    CaptureStatsReport {
        capture: a.capture.clone(),
        duration_s: a.end_ts.secs_since(a.start_ts),
        connections: a.connections.len() as u64,
        websocket_connections: a.stats.websocket_connections,
        c2s,
        s2c,
        rtt,
        per_connection: per,
        app: app_stats(a),
    }
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.3} {unit}"))
}

fn write_dir(out: &mut dyn std::io::Write, name: &str, d: &DirMessages) -> std::io::Result<()> {
    writeln!(
        out,
        "  {name}: {}, {}, size min/mean/max {}/{}/{}, rate {}",
        crate::report::count(d.messages, "message"),
        crate::report::count(d.bytes, "byte"),
        d.min_size.map_or("-".into(), |v| v.to_string()),
        d.mean_size.map_or("-".into(), |v| format!("{v:.1}")),
        d.max_size.map_or("-".into(), |v| v.to_string()),
        fmt_opt(d.rate_per_s, "msg/s"),
    )?;
    if d.messages > 0 {
        let hist: Vec<String> = d
            .sizes
            .buckets
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| match b.le {
                Some(le) => format!("<={le}: {}", b.count),
                None => format!(">{}: {}", SIZE_BOUNDS[SIZE_BOUNDS.len() - 1], b.count),
            })
            .collect();
        writeln!(out, "    sizes  {}", hist.join("  "))?;
    }
    Ok(())
}

fn write_rtt(out: &mut dyn std::io::Write, r: &Rtt) -> std::io::Result<()> {
    writeln!(
        out,
        "  ping→pong: {} answered (min/mean/max {} / {} / {}), {} unanswered, {} unsolicited pongs",
        r.answered,
        fmt_opt(r.min_ms, "ms"),
        fmt_opt(r.mean_ms, "ms"),
        fmt_opt(r.max_ms, "ms"),
        r.unanswered,
        r.unsolicited_pongs
    )
}

/// Writes the report as text.
pub fn write_text(r: &CaptureStatsReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {:.3} s, {} ({} WebSocket)",
        r.capture,
        r.duration_s,
        crate::report::count(r.connections, "connection"),
        r.websocket_connections
    )?;
    write_dir(out, "c2s", &r.c2s)?;
    write_dir(out, "s2c", &r.s2c)?;
    write_rtt(out, &r.rtt)?;
    if !r.app.is_empty() {
        writeln!(
            out,
            "  application messages (latency of answers: p50 / p90 / p99 / max):"
        )?;
        for g in &r.app {
            let name = g
                .name
                .as_deref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            let mut line = format!("    {} {}{name}: {}", g.protocol, g.kind, g.count);
            if g.answers > 0 {
                line.push_str(&format!(
                    ", {} answers {} / {} / {} / {}",
                    g.answers,
                    fmt_opt(g.latency_ms_p50, "ms"),
                    fmt_opt(g.latency_ms_p90, "ms"),
                    fmt_opt(g.latency_ms_p99, "ms"),
                    fmt_opt(g.latency_ms_max, "ms")
                ));
            }
            if g.errors > 0 {
                line.push_str(&format!(", {}", crate::report::count(g.errors, "error")));
            }
            if g.unanswered > 0 {
                line.push_str(&format!(", {} unanswered", g.unanswered));
            }
            writeln!(out, "{line}")?;
        }
    }
    for c in &r.per_connection {
        writeln!(
            out,
            "\nconnection {}  {} → {}  {:.3} s",
            c.conn, c.client, c.server, c.duration_s
        )?;
        write_dir(out, "c2s", &c.c2s)?;
        write_dir(out, "s2c", &c.s2c)?;
        write_rtt(out, &c.rtt)?;
        writeln!(
            out,
            "  upgrade → first message: {}; close handshake: {}",
            fmt_opt(c.upgrade_to_first_message_ms, "ms"),
            fmt_opt(c.close_handshake_ms, "ms")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 99.0), Some(10.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 1.0), Some(7.0));
    }

    #[test]
    fn application_messages_by_kind_with_latency() {
        // OCPP 1.6J from python `ocpp` peers: two Heartbeats answered.
        let path = format!("{}/captures/app/ocpp16.pcap", env!("CARGO_MANIFEST_DIR"));
        let a = crate::pipeline::analyze_path(
            &path,
            Default::default(),
            &mut crate::analysis::NullSink,
        )
        .unwrap();
        let r = capture_stats(&a);
        let hb = r
            .app
            .iter()
            .find(|g| g.kind == "CALLRESULT" && g.name.as_deref() == Some("Heartbeat"))
            .expect("heartbeat answers");
        assert_eq!((hb.count, hb.answers), (2, 2));
        assert!(hb.latency_ms_p50.unwrap() <= hb.latency_ms_max.unwrap());
        let err = r
            .app
            .iter()
            .find(|g| g.kind == "CALLERROR")
            .expect("the CALLERROR");
        assert_eq!(err.errors, 1);
        let calls: u64 = r
            .app
            .iter()
            .filter(|g| g.kind == "CALL")
            .map(|g| g.count)
            .sum();
        assert_eq!(calls, 8);
    }

    #[test]
    fn histogram_bounds_are_inclusive() {
        let mut h = Histogram::default();
        for s in [0, 1, 16, 17, 1024, 1025, 5 << 20] {
            h.add(s);
        }
        let counts: Vec<u64> = h.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![1, 2, 1, 1, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn rate_uses_the_span_between_messages() {
        let mut d = DirMessages::default();
        for i in 0..5i128 {
            let t = Timestamp(i * 500_000_000);
            d.add(Some(10), t, t);
        }
        d.settle();
        assert_eq!(d.rate_per_s, Some(2.0));
        assert_eq!(d.mean_size, Some(10.0));
    }
}
