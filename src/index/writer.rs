//! Builds an [`Index`] from the analyzer's event stream.

use super::codec::{self, Enc};
use super::file::ReadEnd;
use super::file::SpillFile;
use super::{
    CHAIN_BLOCK, Cache, Chain, ConnEntry, Index, IndexLimits, Progress, Row, RowKind, Shared,
    flags, summary as sumcodec,
};
use crate::analysis::{Consumer, Event, Wants};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::model::{Connection, RecordKey};
use std::collections::HashMap;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Rows written between two publications, at most.
const PUBLISH_ROWS: u64 = 16 << 10;
/// Time between two publications while rows come slowly (live capture).
const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// Payload bytes of messages in progress held in memory in all; past it,
/// what a message has gathered goes to the spill at once.
const PENDING_TOTAL: usize = 32 << 20;

/// A message in progress in one direction: its bytes not yet in the spill
/// and the extents already there.
#[derive(Debug, Default)]
struct Pending {
    buf: Vec<u8>,
    extents: Vec<(u64, u64)>,
    kept: u64,
    cut: bool,
}

/// The writer's state of one connection: its counters (rows are
/// numbered in `u32`, so are they), and while it is open the rest.
#[derive(Debug, Default)]
struct ConnState {
    rows: u32,
    messages: u32,
    control: u32,
    violations: u32,
    anomalies: u32,
    /// Until the connection's end has been written.
    open: Option<Box<Open>>,
}

/// What the writer holds of a connection until its end is written.
#[derive(Debug, Default)]
struct Open {
    tcp_written: usize,
    http_request_written: usize,
    http_response_written: Vec<bool>,
    pending: [Option<Pending>; 2],
    /// The latest record of the connection (its summary), until it is
    /// written after the connection's end.
    ///
    /// Kept encoded: one allocation per open connection, not the record's
    /// few dozen, which would stay scattered among the allocations that
    /// come and go while it is open (and keep their pages resident after
    /// it ended).
    summary: Option<Summary>,
    /// `summary` changed since it was last written.
    dirty: bool,
    ended: bool,
}

/// Writes the index; a [`Consumer`] that asks for payload chunks and
/// takes data messages owned (the model need not keep them).
#[derive(Debug)]
pub struct IndexWriter {
    limits: IndexLimits,
    rows: SpillFile,
    records: SpillFile,
    spill: SpillFile,
    chains: SpillFile,
    summaries: SpillFile,
    shared: Arc<Shared>,
    slots: HashMap<RecordKey, u32>,
    states: Vec<ConnState>,
    touched: Vec<u32>,
    total_rows: u64,
    since_publish: u64,
    last_publish: Instant,
    pending_bytes: usize,
    spill_capped: bool,
    failed: Option<String>,
}

fn dir_slot(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// An open connection's latest summary, encoded, and whether it is
/// reported.
#[derive(Debug)]
struct Summary {
    bytes: Box<[u8]>,
    reported: bool,
    /// Its close frames (the first per direction), kept across updates.
    closes: Vec<crate::model::message::ControlFrame>,
}

impl Summary {
    fn of(record: &Connection) -> Summary {
        let mut e = Enc::default();
        sumcodec::put_connection(&mut e, record);
        Summary {
            bytes: e.0.into_boxed_slice(),
            reported: record.reported(),
            closes: record.control.clone(),
        }
    }
}

/// The record as the index keeps it: without messages and control frames
/// but its close frames (the findings and application records stay: the builder's budget bounds
/// them, and display filters and the detail pane read them).
fn summary(c: &Connection) -> Connection {
    Connection {
        messages: Vec::new(),
        // The close frames stay (how the connection ended).
        control: closes(&c.control),
        ..c.clone()
    }
}

/// The first close frame of each direction, at most.
pub(super) fn closes(
    control: &[crate::model::message::ControlFrame],
) -> Vec<crate::model::message::ControlFrame> {
    let mut out: Vec<crate::model::message::ControlFrame> = Vec::new();
    for f in control
        .iter()
        .filter(|f| f.opcode == crate::ws::frame::Opcode::Close)
    {
        if out.len() < 2 && !out.iter().any(|o| o.dir == f.dir) {
            out.push(f.clone());
        }
    }
    out
}

impl IndexWriter {
    /// A writer and the index it fills.
    pub fn new(limits: IndexLimits) -> io::Result<(IndexWriter, Index)> {
        let (rows, records, spill, chains, summaries) = (
            SpillFile::new()?,
            SpillFile::new()?,
            SpillFile::new()?,
            SpillFile::new()?,
            SpillFile::new()?,
        );
        let shared = Arc::new(Shared {
            rows: rows.reader(),
            records: records.reader(),
            spill: spill.reader(),
            chains: chains.reader(),
            summaries: summaries.reader(),
            published: Default::default(),
            generation: Default::default(),
            conns: RwLock::new(Vec::new()),
            start: Mutex::new(None),
            notices: Mutex::new(Vec::new()),
            progress: Arc::new(Progress::default()),
            cache: Mutex::new(Cache::default()),
        });
        let index = Index {
            shared: shared.clone(),
        };
        Ok((
            IndexWriter {
                limits,
                rows,
                records,
                spill,
                chains,
                summaries,
                shared,
                slots: HashMap::new(),
                states: Vec::new(),
                touched: Vec::new(),
                total_rows: 0,
                since_publish: 0,
                last_publish: Instant::now(),
                pending_bytes: 0,
                spill_capped: false,
                failed: None,
            },
            index,
        ))
    }

    fn notice(&self, text: String) {
        self.shared
            .notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    fn conns(&self) -> std::sync::RwLockWriteGuard<'_, Vec<ConnEntry>> {
        self.shared.conns.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot of `c`, made at its first event.
    fn slot(&mut self, c: &Connection) -> u32 {
        if let Some(&s) = self.slots.get(&c.key()) {
            return s;
        }
        let s = u32::try_from(self.states.len()).unwrap_or(u32::MAX);
        self.slots.insert(c.key(), s);
        self.states.push(ConnState {
            open: Some(Box::new(Open {
                summary: Some(Summary::of(&summary(c))),
                dirty: true,
                ..Open::default()
            })),
            ..ConnState::default()
        });
        self.conns().push(ConnEntry::new(c.key()));
        self.touched.push(s);
        s
    }

    /// Sets the summary of `slot` to `c`'s, keeping the close frames seen
    /// (the model's budget may have dropped them from its record).
    fn set_summary(&mut self, slot: u32, c: &Connection) {
        let mut record = summary(c);
        if let Some(st) = self.open(slot) {
            let seen = st.summary.take().map(|s| s.closes).unwrap_or_default();
            record.control = closes(&[seen, record.control].concat());
            st.summary = Some(Summary::of(&record));
            st.dirty = true;
        }
        self.touched.push(slot);
    }

    /// Moves the unfilled chain blocks of an ended connection to the
    /// chains file (padded), so that it holds no tail in memory.
    fn seal(&mut self, slot: u32) -> io::Result<()> {
        let tails = {
            let conns = self.shared.conns.read().unwrap_or_else(|e| e.into_inner());
            let Some(c) = conns.get(slot as usize) else {
                return Ok(());
            };
            [c.chain.tail.clone(), c.msgs.tail.clone()]
        };
        let mut blocks = [None, None];
        for (b, tail) in blocks.iter_mut().zip(&tails) {
            if !tail.is_empty() {
                *b = Some(self.put_block(tail)?);
            }
        }
        if blocks != [None, None] {
            self.chains.flush()?;
        }
        let mut conns = self.conns();
        if let Some(c) = conns.get_mut(slot as usize) {
            for (chain, (b, tail)) in [&mut c.chain, &mut c.msgs]
                .into_iter()
                .zip(blocks.iter().zip(&tails))
            {
                if let Some(n) = *b {
                    chain.blocks.push(n);
                    chain.sealed = u8::try_from(tail.len()).unwrap_or(u8::MAX);
                }
                chain.tail = Vec::new();
                chain.blocks.shrink_to_fit();
            }
        }
        Ok(())
    }

    /// Appends a chain block (padded to [`CHAIN_BLOCK`] numbers); returns
    /// its number.
    fn put_block(&mut self, numbers: &[u32]) -> io::Result<u32> {
        let mut bytes: Vec<u8> = numbers.iter().flat_map(|n| n.to_le_bytes()).collect();
        bytes.resize(CHAIN_BLOCK * 4, 0);
        let off = self.chains.append(&bytes)?;
        u32::try_from(off / (CHAIN_BLOCK as u64 * 4))
            .map_err(|_| io::Error::other("chains file too large"))
    }

    fn state(&mut self, slot: u32) -> &mut ConnState {
        // Slots index `states` by construction.
        let i = (slot as usize).min(self.states.len().saturating_sub(1));
        &mut self.states[i]
    }

    /// The open state of `slot` (made again, empty, for an event after
    /// the connection's end).
    fn open(&mut self, slot: u32) -> Option<&mut Open> {
        Some(
            self.states
                .get_mut(slot as usize)?
                .open
                .get_or_insert_with(Box::default),
        )
    }

    /// Appends a row (its record already written), chaining it to its
    /// connection.
    fn push_row(&mut self, mut row: Row) -> io::Result<()> {
        let no = self.total_rows;
        let no32 = u32::try_from(no).map_err(|_| {
            io::Error::other("more than 4 294 967 295 timeline rows: the index stops here")
        })?;
        row.no = no;
        self.rows.append(&row.encode())?;
        self.total_rows += 1;
        self.since_publish += 1;
        let slot = row.slot;
        let is_msg = row.kind == RowKind::Message;
        let (mut all_full, mut msgs_full) = (None, None);
        {
            let chains = &self.shared.chains;
            let mut conns = self.conns();
            if let Some(c) = conns.get_mut(slot as usize) {
                unseal(chains, &mut c.chain)?;
                c.chain.tail.push(no32);
                if c.chain.tail.len() == CHAIN_BLOCK {
                    all_full = Some(c.chain.tail.clone());
                }
                if is_msg {
                    unseal(chains, &mut c.msgs)?;
                    c.msgs.tail.push(no32);
                    if c.msgs.tail.len() == CHAIN_BLOCK {
                        msgs_full = Some(c.msgs.tail.clone());
                    }
                }
            }
        }
        // A full block goes to the chains file, published at once, before
        // readers are pointed at it (until then they read the same numbers
        // from the tail, which is emptied only under the lock below).
        let all_block = all_full.map(|b| self.put_block(&b)).transpose()?;
        let msgs_block = msgs_full.map(|b| self.put_block(&b)).transpose()?;
        if all_block.is_some() || msgs_block.is_some() {
            self.chains.flush()?;
            let mut conns = self.conns();
            if let Some(c) = conns.get_mut(slot as usize) {
                if let Some(n) = all_block {
                    c.chain.blocks.push(n);
                    c.chain.tail.clear();
                }
                if let Some(n) = msgs_block {
                    c.msgs.blocks.push(n);
                    c.msgs.tail.clear();
                }
            }
        }
        let st = self.state(slot);
        st.rows = st.rows.saturating_add(1);
        if is_msg {
            st.messages = st.messages.saturating_add(1);
        }
        if st.rows == 1 || self.touched.last() != Some(&slot) {
            self.touched.push(slot);
        }
        Ok(())
    }

    /// A finding's row (violation, anomaly): its record written, then the
    /// row pointing at it.
    fn finding_row(&mut self, enc: Enc, seq: u64, at: Row) -> io::Result<()> {
        let (rec_off, rec_len) = self.record(enc)?;
        self.push_row(Row {
            seq,
            rec_off,
            rec_len,
            ..at
        })
    }

    fn record(&mut self, enc: Enc) -> io::Result<(u64, u32)> {
        let len = u32::try_from(enc.0.len()).map_err(|_| io::Error::other("record too large"))?;
        Ok((self.records.append(&enc.0)?, len))
    }

    /// Makes everything written so far visible to readers.
    fn publish(&mut self) -> io::Result<()> {
        self.touched.sort_unstable();
        self.touched.dedup();
        let touched = std::mem::take(&mut self.touched);
        // Summaries that changed go to their file, and are pointed at
        // below; an ended connection's is written for the last time and
        // leaves memory.
        let mut placed = Vec::new();
        for &s in &touched {
            let Some(cs) = self.states.get_mut(s as usize) else {
                continue;
            };
            let Some(st) = cs.open.as_mut() else {
                continue;
            };
            if !std::mem::take(&mut st.dirty) {
                continue;
            }
            let Some(rec) = st.summary.as_ref() else {
                continue;
            };
            let len = u32::try_from(rec.bytes.len())
                .map_err(|_| io::Error::other("summary too large"))?;
            let off = self.summaries.append(&rec.bytes)?;
            placed.push((s, off, len, rec.reported, st.ended));
            if st.ended {
                cs.open = None;
            }
        }
        self.summaries.flush()?;
        self.records.flush()?;
        self.spill.flush()?;
        self.chains.flush()?;
        self.rows.flush()?;
        {
            let mut conns = self.shared.conns.write().unwrap_or_else(|e| e.into_inner());
            for &s in &touched {
                if let (Some(c), Some(st)) =
                    (conns.get_mut(s as usize), self.states.get(s as usize))
                {
                    c.rows = u64::from(st.rows);
                    c.messages = u64::from(st.messages);
                }
            }
            for (s, off, len, reported, ended) in placed {
                if let Some(c) = conns.get_mut(s as usize) {
                    (c.sum_off, c.sum_len, c.reported, c.ended) = (off, len, reported, ended);
                }
            }
        }
        self.shared
            .published
            .store(self.total_rows, Ordering::Release);
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.since_publish = 0;
        self.last_publish = Instant::now();
        Ok(())
    }

    /// Ends the index: writes and publishes what is left. Called by the
    /// view when the analysis returns (also when it failed).
    pub fn finish(&mut self) {
        if let Err(e) = self.publish() {
            self.fail(e);
        }
        self.shared.progress.done.store(true, Ordering::Release);
    }

    fn fail(&mut self, e: io::Error) {
        if self.failed.is_none() {
            let text = format!("the index could not be written ({e}): later events are not shown");
            self.notice(text.clone());
            self.failed = Some(text);
        }
    }

    /// Appends payload bytes of the message in progress.
    fn payload(&mut self, slot: u32, dir: Direction, chunk: &[u8]) -> io::Result<()> {
        let cap = self.limits.max_spill_bytes;
        let extent = self.limits.extent_bytes;
        let room = cap.saturating_sub(self.spill.len() + self.pending_bytes as u64);
        let take = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if take < chunk.len() && !self.spill_capped {
            self.spill_capped = true;
            self.notice(format!(
                "the payload spill reached its cap (--max-spill-bytes: {cap} bytes): later payload bytes are not kept (their messages are listed)"
            ));
        }
        let over = self.pending_bytes + take > PENDING_TOTAL;
        let Some(st) = self.states.get_mut(slot as usize) else {
            return Ok(());
        };
        let p = st.open.get_or_insert_with(Box::default).pending[dir_slot(dir)]
            .get_or_insert_with(Pending::default);
        p.buf.extend_from_slice(&chunk[..take]);
        p.kept += take as u64;
        p.cut |= take < chunk.len();
        self.pending_bytes += take;
        if p.buf.len() >= extent || over {
            let buf = std::mem::take(&mut p.buf);
            self.pending_bytes -= buf.len();
            let off = self.spill.append(&buf)?;
            if let Some(p) = self
                .open(slot)
                .and_then(|o| o.pending[dir_slot(dir)].as_mut())
            {
                p.extents.push((off, buf.len() as u64));
            }
        }
        Ok(())
    }

    /// The whole payload of the message just completed: spilled, with its
    /// extents.
    fn take_payload(&mut self, slot: u32, dir: Direction) -> io::Result<Pending> {
        let Some(mut p) = self
            .states
            .get_mut(slot as usize)
            .and_then(|st| st.open.as_mut())
            .and_then(|o| o.pending[dir_slot(dir)].take())
        else {
            return Ok(Pending::default());
        };
        if !p.buf.is_empty() {
            self.pending_bytes -= p.buf.len();
            let off = self.spill.append(&p.buf)?;
            p.extents.push((off, p.buf.len() as u64));
            p.buf = Vec::new();
        }
        Ok(p)
    }

    /// Rows for the TCP events and HTTP exchanges `c` has that were not
    /// written yet.
    fn summary_rows(&mut self, slot: u32, c: &Connection) -> io::Result<()> {
        let Some(st) = self.open(slot) else {
            return Ok(());
        };
        let (tcp_from, req_from) = (st.tcp_written, st.http_request_written);
        let resp_done = st.http_response_written.clone();
        let mut rows = Vec::new();
        let base = |kind, dir, packet, ts, seq: usize| Row {
            seq: seq as u64,
            ..Row::plain(slot, kind, dir, packet, ts)
        };
        for (i, e) in c.tcp_events.iter().enumerate().skip(tcp_from) {
            rows.push(base(RowKind::Tcp, Some(e.dir), e.packet, e.ts, i));
        }
        for (i, x) in c.http_exchanges.iter().enumerate() {
            if i >= req_from {
                rows.push(base(
                    RowKind::HttpRequest,
                    Some(Direction::ClientToServer),
                    x.request_packet,
                    x.request_ts,
                    i,
                ));
            }
            if let Some(p) = x.response_packet
                && !resp_done.get(i).copied().unwrap_or(false)
            {
                // The model may lack the response's time: the request's is
                // a lower bound, as the view has always shown it.
                let mut r = base(
                    RowKind::HttpResponse,
                    Some(Direction::ServerToClient),
                    p,
                    x.response_ts.unwrap_or(x.request_ts),
                    i,
                );
                if x.response_ts.is_none() {
                    r.flags |= flags::TS_INEXACT;
                }
                rows.push(r);
            }
        }
        let Some(st) = self.open(slot) else {
            return Ok(());
        };
        st.tcp_written = c.tcp_events.len();
        st.http_request_written = c.http_exchanges.len();
        st.http_response_written = c
            .http_exchanges
            .iter()
            .map(|x| x.response_packet.is_some())
            .collect();
        rows.sort_by_key(|r| (r.packet, r.kind));
        for r in rows {
            self.push_row(r)?;
        }
        Ok(())
    }

    fn take(&mut self, ev: Event<'_>) -> io::Result<()> {
        let slot = match ev.conn() {
            // A connection that carried nothing the view shows, ending:
            // no entry is made for it (the model does not report it).
            Some(c) if !c.reported() && !self.slots.contains_key(&c.key()) => {
                if matches!(ev, Event::End(_)) {
                    return Ok(());
                }
                self.slot(c)
            }
            Some(c) => self.slot(c),
            None => 0,
        };
        let plain = |kind, dir, packet, ts| Row::plain(slot, kind, dir, packet, ts);
        match ev {
            Event::CaptureStart(ts) => {
                *self.shared.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(ts);
            }
            Event::CaptureAnomaly(_) => {}
            Event::Handshake(c) => {
                self.set_summary(slot, c);
                self.summary_rows(slot, c)?;
            }
            Event::Payload { dir, chunk, .. } => self.payload(slot, dir, chunk)?,
            Event::Message { index, message, .. } => {
                let m = message.as_ref();
                let p = self.take_payload(slot, m.dir)?;
                let mut enc = Enc::default();
                codec::put_message(&mut enc, m);
                let mut fl = flags::SPILLED | if m.complete { flags::COMPLETE } else { 0 };
                if p.cut {
                    fl |= flags::PAYLOAD_CUT;
                }
                if p.extents.len() > 1 {
                    fl |= flags::EXTENTS;
                    for &(o, n) in &p.extents {
                        enc.u64(o);
                        enc.u64(n);
                    }
                    enc.u32(u32::try_from(p.extents.len()).unwrap_or(u32::MAX));
                }
                let (rec_off, rec_len) = self.record(enc)?;
                self.push_row(Row {
                    opcode: Some(m.opcode),
                    flags: fl,
                    length: m.payload_len.unwrap_or(m.wire_payload_len),
                    seq: index as u64,
                    rec_off,
                    rec_len,
                    pay_off: p.extents.first().map_or(0, |e| e.0),
                    pay_len: p.kept,
                    ..plain(RowKind::Message, Some(m.dir), m.last_packet, m.end_ts)
                })?;
            }
            Event::Control { frame, .. } => {
                let f = frame.as_ref();
                if f.opcode == crate::ws::frame::Opcode::Close
                    && let Some(st) = self.open(slot)
                    && let Some(sum) = st.summary.as_mut()
                    && !sum.closes.iter().any(|o| o.dir == f.dir)
                    && let Some(mut rec) =
                        sumcodec::get_connection(&mut super::codec::Dec(&sum.bytes))
                {
                    rec.control.push(f.clone());
                    *sum = Summary::of(&rec);
                    st.dirty = true;
                    self.touched.push(slot);
                }
                let mut enc = Enc::default();
                codec::put_control(&mut enc, f);
                let (rec_off, rec_len) = self.record(enc)?;
                let seq = u64::from(seq_next(&mut self.state(slot).control));
                self.push_row(Row {
                    opcode: Some(f.opcode),
                    length: f.payload_len,
                    seq,
                    rec_off,
                    rec_len,
                    ..plain(RowKind::Control, Some(f.dir), f.packet, f.ts)
                })?;
            }
            Event::Violation { violation, .. } => {
                let v = violation.as_ref();
                let mut enc = Enc::default();
                codec::put_violation(&mut enc, v);
                let seq = u64::from(seq_next(&mut self.state(slot).violations));
                let at = plain(RowKind::Violation, v.dir, v.packet, v.ts);
                self.finding_row(enc, seq, at)?;
            }
            Event::Anomaly { anomaly, .. } => {
                let a = anomaly.as_ref();
                let mut enc = Enc::default();
                codec::put_anomaly(&mut enc, a);
                let seq = u64::from(seq_next(&mut self.state(slot).anomalies));
                let at = plain(RowKind::Anomaly, a.dir, a.packet, a.ts);
                self.finding_row(enc, seq, at)?;
            }
            Event::App { .. } | Event::AppFinding { .. } | Event::HttpApp { .. } => {}
            Event::End(c) => {
                self.summary_rows(slot, &c)?;
                // A message unfinished at the end has no record: its bytes go.
                if let Some(st) = self.open(slot) {
                    let freed: usize = st
                        .pending
                        .iter_mut()
                        .filter_map(Option::take)
                        .map(|p| p.buf.len())
                        .sum();
                    self.pending_bytes -= freed;
                }
                self.set_summary(slot, &c);
                if let Some(st) = self.open(slot) {
                    st.ended = true;
                    st.http_response_written = Vec::new();
                }
                self.seal(slot)?;
                // Its record changed: readers should see it.
                self.since_publish += 1;
            }
        }
        if self.since_publish >= PUBLISH_ROWS
            || (self.since_publish > 0 && self.last_publish.elapsed() >= PUBLISH_EVERY)
        {
            self.publish()?;
        }
        Ok(())
    }
}

impl IndexWriter {
    /// An index of a finished model, rows in capture order (by packet,
    /// then TCP, HTTP, WebSocket, findings; by connection), as the view
    /// has always ordered them. Payloads are the model's heads only (no
    /// [`flags::SPILLED`]). For the live view's snapshots and for tests.
    pub fn from_analysis(a: &crate::model::Analysis) -> io::Result<Index> {
        let (mut w, index) = IndexWriter::new(IndexLimits::default())?;
        if let Ok(mut s) = w.shared.start.lock() {
            *s = Some(a.start_ts);
        }
        struct Item {
            conn: usize,
            kind: RowKind,
            seq: usize,
            packet: u64,
            ts: Option<Timestamp>,
        }
        let mut items = Vec::new();
        for (ci, c) in a.connections.iter().enumerate() {
            let slot = w.slot(c);
            w.set_summary(slot, c);
            if let Some(st) = w.open(slot) {
                st.ended = true;
            }
            let mut push = |kind, seq, packet: PacketNo, ts| {
                items.push(Item {
                    conn: ci,
                    kind,
                    seq,
                    packet: packet.0,
                    ts,
                })
            };
            for (i, e) in c.tcp_events.iter().enumerate() {
                push(RowKind::Tcp, i, e.packet, Some(e.ts));
            }
            for (i, x) in c.http_exchanges.iter().enumerate() {
                push(
                    RowKind::HttpRequest,
                    i,
                    x.request_packet,
                    Some(x.request_ts),
                );
                if let Some(p) = x.response_packet {
                    push(RowKind::HttpResponse, i, p, x.response_ts);
                }
            }
            for (i, m) in c.messages.iter().enumerate() {
                push(RowKind::Message, i, m.last_packet, Some(m.end_ts));
            }
            for (i, f) in c.control.iter().enumerate() {
                push(RowKind::Control, i, f.packet, Some(f.ts));
            }
            for (i, v) in c.violation_details.iter().enumerate() {
                push(RowKind::Violation, i, v.packet, Some(v.ts));
            }
            for (i, an) in c.anomalies.iter().enumerate() {
                push(RowKind::Anomaly, i, an.packet, Some(an.ts));
            }
        }
        let group = |k: RowKind| match k {
            RowKind::Tcp => 0,
            RowKind::HttpRequest | RowKind::HttpResponse => 1,
            RowKind::Message | RowKind::Control => 2,
            RowKind::Violation | RowKind::Anomaly => 3,
        };
        items.sort_by_key(|r| (r.packet, group(r.kind), r.conn, r.kind, r.seq));
        let mut last: Vec<Option<Timestamp>> = vec![None; a.connections.len()];
        for it in items {
            let c = &a.connections[it.conn];
            let ts = match it.ts {
                Some(t) => {
                    last[it.conn] = Some(t);
                    t
                }
                None => last[it.conn].unwrap_or(c.start_ts),
            };
            let slot = u32::try_from(it.conn).unwrap_or(u32::MAX);
            let mut row = Row {
                flags: if it.ts.is_some() {
                    0
                } else {
                    flags::TS_INEXACT
                },
                seq: it.seq as u64,
                ..Row::plain(slot, it.kind, None, PacketNo(it.packet), ts)
            };
            let mut enc = Enc::default();
            match it.kind {
                RowKind::Tcp => row.dir = c.tcp_events.get(it.seq).map(|e| e.dir),
                RowKind::HttpRequest => row.dir = Some(Direction::ClientToServer),
                RowKind::HttpResponse => row.dir = Some(Direction::ServerToClient),
                RowKind::Message => {
                    let m = &c.messages[it.seq];
                    codec::put_message(&mut enc, m);
                    row.dir = Some(m.dir);
                    row.opcode = Some(m.opcode);
                    row.length = m.payload_len.unwrap_or(m.wire_payload_len);
                    if m.complete {
                        row.flags |= flags::COMPLETE;
                    }
                }
                RowKind::Control => {
                    let f = &c.control[it.seq];
                    codec::put_control(&mut enc, f);
                    row.dir = Some(f.dir);
                    row.opcode = Some(f.opcode);
                    row.length = f.payload_len;
                }
                RowKind::Violation => {
                    let v = &c.violation_details[it.seq];
                    codec::put_violation(&mut enc, v);
                    row.dir = v.dir;
                }
                RowKind::Anomaly => {
                    let an = &c.anomalies[it.seq];
                    codec::put_anomaly(&mut enc, an);
                    row.dir = an.dir;
                }
            }
            if !enc.0.is_empty() {
                (row.rec_off, row.rec_len) = w.record(enc)?;
            }
            w.push_row(row)?;
        }
        w.finish();
        Ok(index)
    }
}

impl Index {
    /// The same index with its rows in capture order (by packet, then TCP,
    /// HTTP, WebSocket, findings; by connection), as the view has always
    /// ordered a finished model, when it has at most `limit` rows (the
    /// sort holds 24 bytes per row while it runs); `None` past the limit,
    /// before the index is done, or when a file fails. Records and the
    /// payload spill are shared, not copied.
    pub fn sorted(&self, limit: u64) -> Option<Index> {
        if !self.done() || self.len() > limit {
            return None;
        }
        let conns = self.connections().clone();
        // Connections in the model's order (by key).
        let mut by_key: Vec<(RecordKey, usize)> =
            conns.iter().enumerate().map(|(i, c)| (c.key, i)).collect();
        by_key.sort();
        let mut rank = vec![0u32; conns.len()];
        for (r, (_, i)) in by_key.iter().enumerate() {
            rank[*i] = u32::try_from(r).unwrap_or(u32::MAX);
        }
        let group = |k: RowKind| match k {
            RowKind::Tcp => 0u8,
            RowKind::HttpRequest | RowKind::HttpResponse => 1,
            RowKind::Message | RowKind::Control => 2,
            RowKind::Violation | RowKind::Anomaly => 3,
        };
        let mut keys: Vec<(u64, u8, u32, u8, u32, u32)> = Vec::new();
        keys.try_reserve_exact(usize::try_from(self.len()).ok()?)
            .ok()?;
        for no in 0..self.len() {
            let r = self.row(no)?;
            keys.push((
                r.packet.0,
                group(r.kind),
                rank.get(r.slot as usize).copied().unwrap_or(u32::MAX),
                r.kind as u8,
                u32::try_from(r.seq).unwrap_or(u32::MAX),
                u32::try_from(no).ok()?,
            ));
        }
        keys.sort_unstable();
        let (mut w, _) = IndexWriter::new(IndexLimits::default()).ok()?;
        // Rows point into these files, not the new writer's.
        let shared = Arc::new(Shared {
            rows: w.rows.reader(),
            records: self.shared.records.clone(),
            spill: self.shared.spill.clone(),
            chains: w.chains.reader(),
            summaries: self.shared.summaries.clone(),
            published: Default::default(),
            generation: Default::default(),
            conns: RwLock::new(
                conns
                    .iter()
                    .map(|c| ConnEntry {
                        rows: 0,
                        messages: 0,
                        chain: Chain::default(),
                        msgs: Chain::default(),
                        ..c.clone()
                    })
                    .collect(),
            ),
            start: Mutex::new(self.start()),
            notices: Mutex::new(self.notices()),
            progress: self.shared.progress.clone(),
            cache: Mutex::new(Cache::default()),
        });
        w.shared = shared.clone();
        w.states = (0..conns.len()).map(|_| ConnState::default()).collect();
        // Messages keep their order within a connection: their chain is
        // rebuilt in index order of their number.
        for (.., no) in keys {
            let r = self.row(u64::from(no))?;
            w.push_row(r).ok()?;
        }
        w.finish();
        Some(Index { shared })
    }
}

impl Consumer for IndexWriter {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        self.shared.progress.events.fetch_add(1, Ordering::Relaxed);
        if self.failed.is_some() {
            return ControlFlow::Continue(());
        }
        if let Err(e) = self.take(ev) {
            self.fail(e);
        }
        ControlFlow::Continue(())
    }

    fn wants(&self) -> Wants {
        Wants {
            payloads: true,
            takes_messages: true,
        }
    }

    /// A live capture is quiet: rows written since the last publication
    /// become visible now, not at the next packet.
    fn idle(&mut self) {
        if self.failed.is_none()
            && self.since_publish > 0
            && let Err(e) = self.publish()
        {
            self.fail(e);
        }
    }
}

/// Takes a sealed chain's last block back into its tail: a row came after
/// the connection's end.
fn unseal(chains: &ReadEnd, chain: &mut Chain) -> io::Result<()> {
    if chain.sealed == 0 {
        return Ok(());
    }
    if let Some(n) = chain.blocks.pop() {
        let bytes = chains.read(
            u64::from(n) * (CHAIN_BLOCK as u64 * 4),
            4 * chain.sealed as usize,
        )?;
        chain.tail = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
    }
    chain.sealed = 0;
    Ok(())
}

/// The next number of a per-connection sequence, counting it.
fn seq_next(n: &mut u32) -> u32 {
    let seq = *n;
    *n = n.saturating_add(1);
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row after a connection's end takes its sealed block back: every
    /// row number reads back in order, before and after.
    #[test]
    fn rows_after_the_end_unseal_the_chain() {
        let p = format!("{}/captures/seed_echo.pcapng", env!("CARGO_MANIFEST_DIR"));
        let model = crate::pipeline::analyze_path(
            &p,
            crate::analysis::Limits::default(),
            &mut crate::analysis::NullSink,
        )
        .unwrap();
        let (mut w, index) = IndexWriter::new(IndexLimits::default()).unwrap();
        let slot = w.slot(&model.connections[0]);
        let row = |i: u64| Row::plain(slot, RowKind::Tcp, None, PacketNo(i), Timestamp(0));
        for n in [70u64, 3, 64, 1] {
            let before = w.total_rows;
            for i in before..before + n {
                w.push_row(row(i)).unwrap();
            }
            w.seal(slot).unwrap();
            w.publish().unwrap();
            let c = index.connection(slot).unwrap();
            assert!(c.chain.tail.is_empty() && c.rows == before + n);
            for k in 0..c.rows {
                assert_eq!(index.conn_row(slot, k).map(|r| r.packet.0), Some(k));
            }
        }
    }
}
