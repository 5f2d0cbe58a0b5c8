//! The model, built from the event stream: the one place that decides
//! which records a report keeps, and that owns `--max-model-bytes`.
//!
//! It stands first after the analyzer: it lends every event on to the
//! output's consumer, then keeps what the plan asks for ([`Keep`]). The
//! connection record that ends a connection ([`Event::End`]) leaves it
//! whole: its messages, control frames and findings are the ones the events
//! carried, as many as the budget allowed.

use super::event::{Consumer, Ended, Event, Wants};
use crate::capture::{PacketNo, Timestamp};
use crate::model::app::{AppFinding, AppRecord};
use crate::model::finding::{Anomaly, AnomalyKind, Violation};
use crate::model::{
    Analysis, CaptureAnomaly, CaptureStats, Connection, RecordKey, UnsupportedTunnel,
};
use crate::ws::message::{ControlFrame, FrameInfo, Message};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// What the model keeps of a finished connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Everything (file reports, the TUI, `check`).
    All,
    /// The record without its messages and control frames (live capture:
    /// memory follows the open connections; the totals still count them).
    Summaries,
    /// Nothing: the output took each connection as it ended (streamed
    /// reports); only the capture's totals remain.
    Nothing,
}

/// Cap anomalies of unreported connections lifted to the capture, one by
/// one, before only counting them.
const LIFTED_REPORTS: u64 = 100;

/// Model memory every connection may fill even when the total budget is
/// spent: its first findings and messages (a gap, the cap it hit, a short
/// exchange) stay visible. Of the order of the connection record itself,
/// so it does not change how memory grows with the number of connections.
const MODEL_FLOOR_PER_CONN: u64 = 8 << 10;

/// The records of a connection in progress.
#[derive(Debug, Default, Clone)]
struct Lists {
    messages: Vec<Message>,
    control: Vec<ControlFrame>,
    violations: Vec<Violation>,
    anomalies: Vec<Anomaly>,
    app: Vec<AppRecord>,
    app_findings: Vec<AppFinding>,
    /// Budget this connection holds.
    spent: u64,
}

impl Lists {
    /// Gives `conn` these records: its messages, control frames, findings
    /// and application records.
    fn attach_to(self, conn: &mut Connection) {
        conn.messages = self.messages;
        conn.control = self.control;
        conn.violations = self.violations.iter().map(|v| v.detail.clone()).collect();
        conn.violation_details = self.violations;
        conn.anomalies = self.anomalies;
        conn.app_messages = self.app;
        conn.app_findings = self.app_findings;
    }
}

/// What a reported connection adds to the capture's totals, read without
/// copying its record (a live capture's totals tally the connections in
/// progress every tick).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// WebSocket.
    pub websocket: bool,
    /// Data messages, both directions.
    pub messages: u64,
    /// Control frames, both directions.
    pub control_frames: u64,
    /// Violations.
    pub violations: u64,
}

impl Tally {
    /// A record's: the message and control-frame counts come from its
    /// counters (a live capture may have trimmed its lists).
    pub fn of(c: &Connection) -> Self {
        Tally {
            websocket: c.is_websocket,
            messages: c.stats.c2s.messages + c.stats.s2c.messages,
            control_frames: c.stats.c2s.control_frames + c.stats.s2c.control_frames,
            violations: c.violations.len() as u64,
        }
    }

    fn add_to(self, t: &mut CaptureStats) {
        t.websocket_connections += u64::from(self.websocket);
        t.messages += self.messages;
        t.control_frames += self.control_frames;
        t.violations += self.violations;
    }
}

/// Records not kept for want of budget.
#[derive(Debug, Default, Clone, Copy)]
struct Dropped {
    messages: u64,
    control: u64,
    other: u64,
    /// Finished connections whose record did not fit.
    connections: u64,
}

impl Dropped {
    fn any(&self) -> bool {
        self.messages + self.control + self.other + self.connections > 0
    }
}

/// What the analyzer alone knows of the capture, for [`ModelBuilder::finish`].
#[derive(Debug, Clone, Default)]
pub struct CaptureSummary {
    /// Packets read.
    pub packets: u64,
    /// First and last packet times.
    pub start_ts: Timestamp,
    /// Last packet time.
    pub end_ts: Timestamp,
    /// Counters the analyzer keeps (the per-connection totals are added
    /// by the model).
    pub stats: CaptureStats,
    /// Capture anomalies that come after every other (the summary of
    /// connections finished early).
    pub closing_anomalies: Vec<CaptureAnomaly>,
    /// Tunnels not decoded.
    pub unsupported_tunnels: Vec<UnsupportedTunnel>,
    /// What the capture reader knows.
    pub info: super::CaptureInfo,
}

/// Builds the [`Analysis`] from events and lends them on to `downstream`.
pub struct ModelBuilder<'s> {
    downstream: &'s mut dyn Consumer,
    wants: Wants,
    keep: Keep,
    max_bytes: u64,
    used: u64,
    dropped: Dropped,
    open: HashMap<RecordKey, Lists>,
    done: Vec<Connection>,
    anomalies: Vec<CaptureAnomaly>,
    lifted: u64,
    /// Totals over finished reported connections.
    totals: CaptureStats,
    stopped: bool,
}

impl<'s> ModelBuilder<'s> {
    /// A model that keeps `keep`, within `max_bytes` (a quarter of it per
    /// connection), lending every event to `downstream`.
    pub fn new(max_bytes: u64, keep: Keep, downstream: &'s mut dyn Consumer) -> Self {
        let wants = downstream.wants();
        ModelBuilder {
            downstream,
            wants,
            keep,
            max_bytes,
            used: 0,
            dropped: Dropped::default(),
            open: HashMap::new(),
            done: Vec::new(),
            anomalies: Vec::new(),
            lifted: 0,
            totals: CaptureStats::default(),
            stopped: false,
        }
    }

    /// What the output asks of the stream.
    pub fn wants(&self) -> Wants {
        self.wants
    }

    /// The output can take nothing more.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Sets what is kept of finished connections from now on.
    pub fn set_keep(&mut self, keep: Keep) {
        self.keep = keep;
    }

    fn lend(&mut self, ev: Event<'_>) {
        if !self.stopped {
            self.stopped = self.downstream.event(ev).is_break();
        }
    }

    /// Takes `cost` (estimated bytes) from the budget of connection `id`;
    /// false, and one more record of `kind` dropped, when it does not fit.
    fn charge(&mut self, lists_spent: u64, cost: u64) -> Option<u64> {
        // Twice the parts: record vectors grow by doubling and every small
        // allocation carries allocator overhead (measured: 3 M empty
        // messages take about 2.1x their summed sizes).
        let cost = cost.saturating_mul(2);
        let total_left = self.max_bytes.saturating_sub(self.used);
        let conn_left = (self.max_bytes / 4).saturating_sub(lists_spent);
        let floor_left = MODEL_FLOOR_PER_CONN.saturating_sub(lists_spent);
        let budget = total_left.min(conn_left).max(floor_left);
        (cost <= budget).then(|| {
            self.used = self.used.saturating_add(cost);
            cost
        })
    }

    fn drop_record(&mut self, which: fn(&mut Dropped) -> &mut u64, packet: PacketNo) {
        let first = !self.dropped.any();
        *which(&mut self.dropped) += 1;
        if first {
            self.anomalies.push(CaptureAnomaly {
                packet,
                detail: format!(
                    "the report's records reached their memory cap (--max-model-bytes: {} bytes in all, a quarter of it per connection): later connections, messages, control frames and findings are counted but not kept",
                    self.max_bytes
                ),
            });
        }
    }

    /// Keeps a record of connection `id` if the budget allows.
    fn keep_record<T>(
        &mut self,
        id: RecordKey,
        cost: u64,
        packet: PacketNo,
        which: fn(&mut Dropped) -> &mut u64,
        list: fn(&mut Lists) -> &mut Vec<T>,
        record: T,
    ) {
        let spent = self.open.get(&id).map_or(0, |l| l.spent);
        match self.charge(spent, cost) {
            Some(c) => {
                let l = self.open.entry(id).or_default();
                l.spent += c;
                list(l).push(record);
            }
            None => self.drop_record(which, packet),
        }
    }

    fn end(&mut self, mut conn: Connection) {
        let lists = self.open.remove(&conn.key()).unwrap_or_default();
        if !conn.reported() {
            // Never reported: what it held goes, but a cap it hit is said
            // at capture level, so that no cap hit goes unseen.
            self.used = self.used.saturating_sub(lists.spent);
            for a in &lists.anomalies {
                if !matches!(a.kind, AnomalyKind::CapReached | AnomalyKind::BadHttp) {
                    continue;
                }
                self.lifted += 1;
                if self.lifted <= LIFTED_REPORTS {
                    self.anomalies.push(CaptureAnomaly {
                        packet: a.packet,
                        detail: format!(
                            "connection {} → {} (not reported): {}",
                            conn.client, conn.server, a.detail
                        ),
                    });
                }
            }
            return self.lend(Event::End(Ended::Given(Box::new(conn))));
        }
        let message_cost: u64 = lists.messages.iter().map(message_cost).sum();
        let control_cost: u64 = lists.control.iter().map(control_cost).sum();
        let spent = lists.spent;
        lists.attach_to(&mut conn);
        Tally::of(&conn).add_to(&mut self.totals);
        if self.keep == Keep::Nothing {
            self.used = self.used.saturating_sub(spent);
            return self.lend(Event::End(Ended::Given(Box::new(conn))));
        }
        self.lend(Event::End(Ended::Lent(&conn)));
        if self.keep == Keep::Summaries {
            let freed = (message_cost + control_cost).saturating_mul(2);
            self.used = self.used.saturating_sub(freed);
            conn.messages = Vec::new();
            conn.control = Vec::new();
        }
        // The record itself (handshake, HTTP exchanges, TCP events, …)
        // stays for the whole run: it is charged to the total budget, with
        // no per-connection floor, so that the finished connections a
        // model keeps never outgrow --max-model-bytes. One that does not
        // fit goes with what it held; the totals still count it.
        let cost = record_cost(&conn).saturating_mul(2);
        if cost <= self.max_bytes.saturating_sub(self.used) {
            self.used = self.used.saturating_add(cost);
            self.done.push(conn);
        } else {
            self.used = self.used.saturating_sub(spent);
            self.drop_record(|d| &mut d.connections, conn.last_packet);
        }
    }

    /// Live captures (bounded memory for long-lived connections): keeps
    /// only the last `keep` messages and control frames of each connection
    /// in progress; the older ones were streamed, and the counters still
    /// count them.
    pub fn trim_open(&mut self, keep: usize) {
        for l in self.open.values_mut() {
            let m = l.messages.len().saturating_sub(keep);
            let f = l.control.len().saturating_sub(keep);
            let freed: u64 = l.messages[..m].iter().map(message_cost).sum::<u64>()
                + l.control[..f].iter().map(control_cost).sum::<u64>();
            let freed = freed.saturating_mul(2).min(l.spent);
            l.spent -= freed;
            self.used = self.used.saturating_sub(freed);
            l.messages.drain(..m);
            l.control.drain(..f);
        }
    }

    /// The model so far, with `current` (the records of the connections in
    /// progress as they stand) given the lists kept for them.
    pub fn snapshot(&self, current: Vec<Connection>, summary: CaptureSummary) -> Analysis {
        let current = current
            .into_iter()
            .map(|mut c| {
                if let Some(l) = self.open.get(&c.key()) {
                    l.clone().attach_to(&mut c);
                }
                c
            })
            .collect();
        self.assemble(self.done.clone(), current, self.anomalies.clone(), summary)
    }

    /// The capture's totals so far, counting the reported connections in
    /// progress (`open`), with no connection record: no message is copied.
    pub fn totals(&self, open: impl Iterator<Item = Tally>, summary: CaptureSummary) -> Analysis {
        let mut a = self.assemble(Vec::new(), Vec::new(), self.anomalies.clone(), summary);
        open.for_each(|t| t.add_to(&mut a.stats));
        a
    }

    /// Ends the model: every connection has ended (the analyzer sent
    /// their [`Event::End`]).
    pub fn finish(mut self, summary: CaptureSummary) -> Analysis {
        let done = std::mem::take(&mut self.done);
        let anomalies = std::mem::take(&mut self.anomalies);
        self.assemble(done, Vec::new(), anomalies, summary)
    }

    fn assemble(
        &self,
        finished: Vec<Connection>,
        mut current: Vec<Connection>,
        mut anomalies: Vec<CaptureAnomaly>,
        summary: CaptureSummary,
    ) -> Analysis {
        current.retain(Connection::reported);
        let mut stats = summary.stats;
        stats.websocket_connections += self.totals.websocket_connections;
        stats.messages += self.totals.messages;
        stats.control_frames += self.totals.control_frames;
        stats.violations += self.totals.violations;
        for c in &current {
            Tally::of(c).add_to(&mut stats);
        }
        anomalies.extend(summary.closing_anomalies);
        let end = PacketNo(summary.packets);
        if self.lifted > LIFTED_REPORTS {
            anomalies.push(CaptureAnomaly {
                packet: end,
                detail: format!(
                    "{} more cap anomalies on connections that are not reported",
                    self.lifted - LIFTED_REPORTS
                ),
            });
        }
        if self.dropped.any() {
            let d = self.dropped;
            anomalies.push(CaptureAnomaly {
                packet: end,
                detail: format!(
                    "not kept in the report (--max-model-bytes): {} connections, {} messages, {} control frames, {} other records; the statistics still count the connections, messages and control frames",
                    d.connections, d.messages, d.control, d.other
                ),
            });
        }
        let mut conns = finished;
        conns.append(&mut current);
        // By id (the order connections were first seen), each
        // connection's RFC 8441 sessions after it.
        conns.sort_by_key(Connection::key);
        let info = summary.info;
        Analysis {
            capture: info.name,
            format: info.format,
            link_type: info.link_type,
            link_type_dlt: info.link_type_dlt,
            packet_count: summary.packets,
            start_ts: summary.start_ts,
            end_ts: summary.end_ts,
            connections: conns,
            capture_anomalies: anomalies,
            unsupported_tunnels: summary.unsupported_tunnels,
            stats,
        }
    }
}

impl Consumer for ModelBuilder<'_> {
    /// A quiet moment is the downstream's (nothing is batched here).
    fn idle(&mut self) {
        self.downstream.idle();
    }

    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        match ev {
            Event::CaptureAnomaly(a) => {
                self.anomalies.push(a.clone());
                self.lend(Event::CaptureAnomaly(a));
            }
            Event::Message {
                conn,
                index,
                message,
                deferred,
                app,
            } => {
                if self.wants.takes_messages {
                    self.lend(Event::Message {
                        conn,
                        index,
                        message,
                        deferred,
                        app,
                    });
                } else {
                    self.lend(Event::Message {
                        conn,
                        index,
                        message: Cow::Borrowed(message.as_ref()),
                        deferred: deferred.as_deref().map(Cow::Borrowed),
                        app,
                    });
                    let mut m = message.into_owned();
                    // The model holds settled digests only.
                    if let Some(d) = deferred {
                        d.settle(&mut m);
                    }
                    let (cost, packet) = (message_cost(&m), m.last_packet);
                    self.keep_record(
                        conn.key(),
                        cost,
                        packet,
                        |d| &mut d.messages,
                        |l| &mut l.messages,
                        m,
                    );
                }
            }
            Event::Control { conn, frame } => {
                self.lend(Event::Control {
                    conn,
                    frame: Cow::Borrowed(frame.as_ref()),
                });
                let c = frame.into_owned();
                let (cost, packet) = (control_cost(&c), c.packet);
                self.keep_record(
                    conn.key(),
                    cost,
                    packet,
                    |d| &mut d.control,
                    |l| &mut l.control,
                    c,
                );
            }
            Event::Violation { conn, violation } => {
                self.lend(Event::Violation {
                    conn,
                    violation: Cow::Borrowed(violation.as_ref()),
                });
                let v = violation.into_owned();
                let cost = size_of::<Violation>() + size_of::<String>() + 2 * v.detail.len();
                let packet = v.packet;
                self.keep_record(
                    conn.key(),
                    cost as u64,
                    packet,
                    |d| &mut d.other,
                    |l| &mut l.violations,
                    v,
                );
            }
            Event::Anomaly { conn, anomaly } => {
                self.lend(Event::Anomaly {
                    conn,
                    anomaly: Cow::Borrowed(anomaly.as_ref()),
                });
                let a = anomaly.into_owned();
                let cost = size_of::<Anomaly>() + a.detail.len();
                let packet = a.packet;
                self.keep_record(
                    conn.key(),
                    cost as u64,
                    packet,
                    |d| &mut d.other,
                    |l| &mut l.anomalies,
                    a,
                );
            }
            Event::App { conn, record } => {
                self.lend(Event::App { conn, record });
                let r = record.clone();
                let cost = size_of::<AppRecord>()
                    + r.name.as_ref().map_or(0, String::len)
                    + r.id.as_ref().map_or(0, String::len)
                    + r.messages.len() * 8;
                let packet = r.first_packet;
                self.keep_record(
                    conn.key(),
                    cost as u64,
                    packet,
                    |d| &mut d.other,
                    |l| &mut l.app,
                    r,
                );
            }
            Event::AppFinding { conn, finding } => {
                self.lend(Event::AppFinding { conn, finding });
                let f = finding.clone();
                let cost = size_of::<AppFinding>() + f.detail.len();
                let packet = f.packet;
                self.keep_record(
                    conn.key(),
                    cost as u64,
                    packet,
                    |d| &mut d.other,
                    |l| &mut l.app_findings,
                    f,
                );
            }
            Event::End(conn) => self.end(conn.into_owned()),
            // Polling records live in their exchange, in the record.
            ev @ (Event::CaptureStart(_)
            | Event::Handshake(_)
            | Event::Payload { .. }
            | Event::HttpApp { .. }) => self.lend(ev),
        }
        if self.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn wants(&self) -> Wants {
        self.wants
    }
}

/// Estimated memory of a kept message: the record and what it owns.
fn message_cost(m: &Message) -> u64 {
    let hex = [&m.captured_prefix, &m.preview]
        .iter()
        .map(|s| s.as_ref().map_or(0, Vec::len))
        .sum::<usize>();
    let frames = m.frame_headers.len() * (size_of::<FrameInfo>() + 16);
    (size_of::<Message>() + m.held_bytes() + hex + frames) as u64
}

/// Estimated memory of a finished connection's record besides the lists
/// the events filled (charged as they came, violations included): what the
/// session wrote into it.
fn record_cost(c: &Connection) -> u64 {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let h = &c.handshake;
    let handshake = [
        &h.request_target,
        &h.sec_websocket_key,
        &h.sec_websocket_version,
        &h.reason,
        &h.sec_websocket_accept,
        &h.expected_accept,
        &h.subprotocol,
        &h.extensions,
        &h.offered_subprotocols,
        &h.offered_extensions,
    ]
    .into_iter()
    .map(text)
    .sum::<usize>()
        + h.request_headers
            .iter()
            .chain(&h.response_headers)
            .map(|x| size_of_val(x) + x.name.len() + x.value.len())
            .sum::<usize>();
    let exchanges = c
        .http_exchanges
        .iter()
        .map(|x| size_of_val(x) + x.method.len() + x.target.len())
        .sum::<usize>();
    let lists = size_of_val(c.tcp_events.as_slice()) + size_of_val(c.encapsulation.as_slice());
    let summaries = c.tls.as_ref().map_or(0, size_of_val)
        + c.h2.as_ref().map_or(0, size_of_val)
        + text(&c.upgraded_to);
    (size_of::<Connection>() + handshake + exchanges + lists + summaries) as u64
}

/// Estimated memory of a kept control frame.
fn control_cost(c: &ControlFrame) -> u64 {
    let reason = c.close_reason.as_ref().map_or(0, String::len);
    (size_of::<ControlFrame>() + c.payload.len() + reason + 16) as u64
}
