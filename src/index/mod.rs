//! The view's index: one pass over the analyzer's event stream written to
//! private temporary files, read back by position, so that what the view
//! holds in memory follows the screen and the connections, not the
//! capture (issue 22).
//!
//! Four files, all `tempfile::tempfile()` (0600, unlinked, gone at exit):
//! - **rows**: one fixed-size [`Row`] per timeline line (message, control
//!   frame, violation, anomaly, TCP event, HTTP request and response), in
//!   the order the stream delivered them;
//! - **records**: what a row needs when it is shown (the model's record,
//!   encoded by [`codec`]);
//! - **spill**: every message's whole decoded payload (unmasked,
//!   inflated, decrypted: the [`Event::Payload`] chunks), in extents;
//! - **chains**: each connection's row numbers, in blocks, so that one
//!   connection's timeline is addressed without scanning the others.
//!
//! - **summaries**: each connection's record without its messages and
//!   control frames (the summary the connections pane, the detail pane
//!   and display filters read: TCP events, HTTP exchanges, close frames,
//!   and the findings and application records the model's budget kept,
//!   `--max-model-bytes`), written again when it changes (handshake,
//!   close, end), encoded by `summary`.
//!
//! What stays in memory: per connection a few fixed-size words
//! ([`ConnEntry`]: key, counts, where its summary is) and, while it is
//! open, the writer's copy of its summary and the last, unfilled block of
//! its chains; the message in progress per direction, bounded; and the
//! readers' bounded caches (rows, records, summaries). Nothing per
//! message. Writing is [`IndexWriter`] (a [`Consumer`]);
//! reading is [`Index`], which may run on another thread while the writer
//! still appends: readers see what the last flush published.

mod codec;
mod file;
mod summary;
mod writer;

pub use writer::IndexWriter;

use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::model::finding::{Anomaly, Violation};
use crate::model::message::{ControlFrame, Message};
use crate::model::{Connection, RecordKey};
use crate::ws::frame::Opcode;
use codec::Dec;
use file::ReadEnd;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Caps of the index's files; what does not fit is counted and said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLimits {
    /// Payload bytes kept in the spill (`--max-spill-bytes`); messages past
    /// it keep their row and record, and say that their payload was not
    /// kept.
    pub max_spill_bytes: u64,
    /// Bytes of a message in progress held in memory before they go to
    /// the spill as an extent.
    pub extent_bytes: usize,
}

impl Default for IndexLimits {
    fn default() -> Self {
        IndexLimits {
            max_spill_bytes: 16 << 30,
            extent_bytes: 256 << 10,
        }
    }
}

/// What a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RowKind {
    /// A TCP event (`seq`: index in the summary's `tcp_events`).
    Tcp = 1,
    /// An HTTP request (`seq`: index in the summary's `http_exchanges`).
    HttpRequest = 2,
    /// An HTTP response (`seq` as for the request).
    HttpResponse = 3,
    /// A data message (`seq`: its index among the connection's messages).
    Message = 4,
    /// A control frame (`seq`: its index among the connection's control frames).
    Control = 5,
    /// A violation.
    Violation = 6,
    /// An anomaly.
    Anomaly = 7,
}

impl RowKind {
    fn from_u8(b: u8) -> Option<RowKind> {
        Some(match b {
            1 => RowKind::Tcp,
            2 => RowKind::HttpRequest,
            3 => RowKind::HttpResponse,
            4 => RowKind::Message,
            5 => RowKind::Control,
            6 => RowKind::Violation,
            7 => RowKind::Anomaly,
            _ => return None,
        })
    }
}

/// Row flags.
pub mod flags {
    /// The message's payload is in several extents (their list ends the record).
    pub const EXTENTS: u8 = 1;
    /// Not every captured payload byte was kept (`--max-spill-bytes`, or a
    /// write failed).
    pub const PAYLOAD_CUT: u8 = 2;
    /// The message is complete.
    pub const COMPLETE: u8 = 4;
    /// The message's payload is in the spill (an index built from a model,
    /// [`super::IndexWriter::from_analysis`], has only the model's head).
    pub const SPILLED: u8 = 8;
    /// The row's time was not recorded: it is the previous timed event's
    /// of its connection (a lower bound).
    pub const TS_INEXACT: u8 = 16;
}

/// One line of the timeline, as the rows file holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Its position in the rows file.
    pub no: u64,
    /// The connection's slot ([`Index::connection`]).
    pub slot: u32,
    /// What it shows.
    pub kind: RowKind,
    /// Its direction, when it has one.
    pub dir: Option<Direction>,
    /// The opcode of a message or control frame.
    pub opcode: Option<Opcode>,
    /// [`flags`].
    pub flags: u8,
    /// The packet that completed it.
    pub packet: PacketNo,
    /// Its time.
    pub ts: Timestamp,
    /// A message's payload length as decoded (or the wire length), a control
    /// frame's payload length; else 0.
    pub length: u64,
    /// Index of the element within its connection (see [`RowKind`]).
    pub seq: u64,
    /// Its record in the records file.
    pub rec_off: u64,
    /// Length of the record.
    pub rec_len: u32,
    /// A message's payload in the spill: first extent's offset …
    pub pay_off: u64,
    /// … and the payload bytes kept in all.
    pub pay_len: u64,
}

impl Row {
    /// A row of `kind` for connection `slot`, at `packet`/`ts`, pointing at
    /// nothing yet (no record, no payload, sequence 0).
    pub fn plain(
        slot: u32,
        kind: RowKind,
        dir: Option<Direction>,
        packet: PacketNo,
        ts: Timestamp,
    ) -> Row {
        Row {
            no: 0,
            slot,
            kind,
            dir,
            opcode: None,
            flags: 0,
            packet,
            ts,
            length: 0,
            seq: 0,
            rec_off: 0,
            rec_len: 0,
            pay_off: 0,
            pay_len: 0,
        }
    }
}

/// Bytes of one row in the rows file.
pub const ROW_BYTES: usize = 80;

impl Row {
    fn encode(&self) -> [u8; ROW_BYTES] {
        let mut b = [0u8; ROW_BYTES];
        b[0..4].copy_from_slice(&self.slot.to_le_bytes());
        b[4] = self.kind as u8;
        b[5] = codec::dir_code(self.dir);
        b[6] = self.opcode.map_or(0xff, |o| o.value() & 0x0f);
        b[7] = self.flags;
        b[8..16].copy_from_slice(&self.packet.0.to_le_bytes());
        b[16..32].copy_from_slice(&self.ts.0.to_le_bytes());
        b[32..40].copy_from_slice(&self.length.to_le_bytes());
        b[40..48].copy_from_slice(&self.seq.to_le_bytes());
        b[48..56].copy_from_slice(&self.rec_off.to_le_bytes());
        b[56..60].copy_from_slice(&self.rec_len.to_le_bytes());
        b[64..72].copy_from_slice(&self.pay_off.to_le_bytes());
        b[72..80].copy_from_slice(&self.pay_len.to_le_bytes());
        b
    }

    fn decode(no: u64, b: &[u8]) -> Option<Row> {
        let b: &[u8; ROW_BYTES] = b.try_into().ok()?;
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        Some(Row {
            no,
            slot: u32::from_le_bytes(b[0..4].try_into().ok()?),
            kind: RowKind::from_u8(b[4])?,
            dir: codec::dir_from(b[5])?,
            opcode: (b[6] != 0xff).then(|| Opcode::from(b[6])),
            flags: b[7],
            packet: PacketNo(u64_at(8)),
            ts: Timestamp(i128::from_le_bytes(b[16..32].try_into().ok()?)),
            length: u64_at(32),
            seq: u64_at(40),
            rec_off: u64_at(48),
            rec_len: u32::from_le_bytes(b[56..60].try_into().ok()?),
            pay_off: u64_at(64),
            pay_len: u64_at(72),
        })
    }
}

/// A row's record, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A data message (the model's record: text up to `--max-text-bytes`,
    /// the head; the whole payload is in the spill).
    Message(Arc<Message>),
    /// A control frame.
    Control(Arc<ControlFrame>),
    /// A violation.
    Violation(Arc<Violation>),
    /// An anomaly.
    Anomaly(Arc<Anomaly>),
    /// TCP events and HTTP rows have no record (they are in the summary).
    None,
}

/// One connection (or RFC 8441 session) of the index: a few fixed-size
/// words; its record is in the summaries file ([`Index::summary`]).
#[derive(Debug, Clone)]
pub struct ConnEntry {
    /// Which record it is (the model orders connections by it).
    pub key: RecordKey,
    /// Its record was published and it carried something wsinspect
    /// understands ([`Connection::reported`]): the view lists it.
    pub reported: bool,
    /// The connection has ended.
    pub ended: bool,
    /// Rows of the connection readers may read.
    pub rows: u64,
    /// Messages of the connection readers may read.
    pub messages: u64,
    /// Its latest published record in the summaries file (length 0: none
    /// yet).
    sum_off: u64,
    sum_len: u32,
    chain: Chain,
    msgs: Chain,
}

impl ConnEntry {
    fn new(key: RecordKey) -> ConnEntry {
        ConnEntry {
            key,
            reported: false,
            ended: false,
            rows: 0,
            messages: 0,
            sum_off: 0,
            sum_len: 0,
            chain: Chain::default(),
            msgs: Chain::default(),
        }
    }
}

/// A connection's row numbers: full blocks in the chains file (block `n`
/// at byte `n * CHAIN_BLOCK * 4`), the last one in memory. When the
/// connection ends its last block goes to the file too (padded, `sealed`
/// entries of it in use), so that an ended connection holds no tail.
#[derive(Debug, Clone, Default)]
struct Chain {
    blocks: Vec<u32>,
    tail: Vec<u32>,
    sealed: u8,
}

/// Row numbers per chain block.
const CHAIN_BLOCK: usize = 64;

/// Progress of the indexing, for a status line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events taken.
    pub events: AtomicU64,
    /// The stream ended (the analysis finished, failed or was stopped).
    pub done: AtomicBool,
}

/// What the writer and readers share.
#[derive(Debug)]
struct Shared {
    rows: ReadEnd,
    records: ReadEnd,
    spill: ReadEnd,
    chains: ReadEnd,
    summaries: ReadEnd,
    /// Rows readers may read.
    published: AtomicU64,
    /// Publications so far (summaries may change without new rows).
    generation: AtomicU64,
    conns: RwLock<Vec<ConnEntry>>,
    start: Mutex<Option<Timestamp>>,
    notices: Mutex<Vec<String>>,
    progress: Arc<Progress>,
    cache: Mutex<Cache>,
}

/// Reads an index (cheap to clone; every clone reads the same files).
#[derive(Debug, Clone)]
pub struct Index {
    shared: Arc<Shared>,
}

/// Rows per block of the rows cache.
const ROW_BLOCK: u64 = 256;
/// Row blocks kept (256 × 80 B × 64 = 1.25 MiB).
const ROW_BLOCKS_KEPT: usize = 64;
/// Record bytes kept decoded (an estimate of their heap size).
const RECORD_BYTES_KEPT: usize = 8 << 20;
/// Summary bytes kept decoded (an estimate of their heap size: about 1 300
/// connections of a plain WebSocket capture, so that a scan of the whole
/// timeline of as many interleaved connections reads each once).
const SUMMARY_BYTES_KEPT: usize = 4 << 20;

/// The readers' bounded caches: blocks of rows and decoded records, least
/// recently used out first.
#[derive(Debug, Default)]
struct Cache {
    clock: u64,
    rows: HashMap<u64, (u64, Arc<Vec<u8>>)>,
    records: HashMap<u64, (u64, Record, usize)>,
    record_bytes: usize,
    /// Per slot: the summary's offset in the file (a newer one replaces
    /// it), the summary, its cost.
    summaries: HashMap<u32, (u64, u64, Arc<Connection>, usize)>,
    summary_bytes: usize,
}

/// Takes the least recently used half of `map` out (one sort per half
/// of its entries, not a scan per insertion); returns the cost freed.
fn evict_half<K: Copy + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    tick: impl Fn(&V) -> u64,
    cost: impl Fn(&V) -> usize,
) -> usize {
    let mut by_age: Vec<(u64, K)> = map.iter().map(|(k, v)| (tick(v), *k)).collect();
    by_age.sort_unstable_by_key(|e| e.0);
    let mut freed = 0;
    for (_, k) in by_age.iter().take(by_age.len().div_ceil(2)) {
        if let Some(v) = map.remove(k) {
            freed += cost(&v);
        }
    }
    freed
}

impl Cache {
    fn put_summary(&mut self, slot: u32, off: u64, c: Arc<Connection>, cost: usize) {
        let t = self.tick();
        if let Some((_, _, _, old)) = self.summaries.insert(slot, (t, off, c, cost)) {
            self.summary_bytes -= old;
        }
        self.summary_bytes += cost;
        if self.summary_bytes > SUMMARY_BYTES_KEPT && self.summaries.len() > 1 {
            self.summary_bytes -= evict_half(&mut self.summaries, |v| v.0, |v| v.3);
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn put_rows(&mut self, block: u64, bytes: Arc<Vec<u8>>) {
        let t = self.tick();
        self.rows.insert(block, (t, bytes));
        if self.rows.len() > ROW_BLOCKS_KEPT
            && let Some((&old, _)) = self.rows.iter().min_by_key(|(_, (t, _))| *t)
        {
            self.rows.remove(&old);
        }
    }

    fn put_record(&mut self, row: u64, rec: Record, cost: usize) {
        let t = self.tick();
        if let Some((_, _, c)) = self.records.insert(row, (t, rec, cost)) {
            self.record_bytes -= c;
        }
        self.record_bytes += cost;
        if self.record_bytes > RECORD_BYTES_KEPT && self.records.len() > 1 {
            self.record_bytes -= evict_half(&mut self.records, |v| v.0, |v| v.2);
        }
    }
}

impl Index {
    /// Rows readers may read (grows while the writer runs).
    pub fn len(&self) -> u64 {
        self.shared.published.load(Ordering::Acquire)
    }

    /// Whether `other` reads the same index.
    pub fn same(&self, other: &Index) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Changes whenever the writer publishes (rows, or connection records).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// No row yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indexing progress.
    pub fn progress(&self) -> &Progress {
        &self.shared.progress
    }

    /// The stream has ended: no more rows will come.
    pub fn done(&self) -> bool {
        self.shared.progress.done.load(Ordering::Acquire)
    }

    /// The time of the capture's first packet, once known.
    pub fn start(&self) -> Option<Timestamp> {
        *self.shared.start.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Caps the index hit, once each.
    pub fn notices(&self) -> Vec<String> {
        self.shared
            .notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bytes the index's files hold on disk (rows, records, spill, chains,
    /// summaries).
    pub fn disk_bytes(&self) -> u64 {
        let s = &self.shared;
        s.rows.len() + s.records.len() + s.spill.len() + s.chains.len() + s.summaries.len()
    }

    /// Payload bytes in the spill.
    pub fn spill_bytes(&self) -> u64 {
        self.shared.spill.len()
    }

    /// The connections, in order of first event.
    pub fn connections(&self) -> std::sync::RwLockReadGuard<'_, Vec<ConnEntry>> {
        self.shared.conns.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection's entry, copied.
    pub fn connection(&self, slot: u32) -> Option<ConnEntry> {
        self.connections().get(slot as usize).cloned()
    }

    /// Connection `slot`'s latest published record (without its messages
    /// and control frames but its close frames), from the cache or the
    /// summaries file; `None` before one was published.
    pub fn summary(&self, slot: u32) -> Option<Arc<Connection>> {
        let (off, len) = {
            let conns = self.connections();
            let c = conns.get(slot as usize)?;
            (c.sum_off, c.sum_len)
        };
        if len == 0 {
            return None;
        }
        {
            let mut c = self.cache();
            let t = c.tick();
            if let Some(e) = c.summaries.get_mut(&slot)
                && e.1 == off
            {
                e.0 = t;
                return Some(e.2.clone());
            }
        }
        let bytes = self.shared.summaries.read(off, len as usize).ok()?;
        let conn = Arc::new(summary::get_connection(&mut Dec(&bytes))?);
        let cost = std::mem::size_of::<Connection>() + 2 * len as usize;
        self.cache().put_summary(slot, off, conn.clone(), cost);
        Some(conn)
    }

    /// The key of connection `slot`.
    pub fn key(&self, slot: u32) -> Option<RecordKey> {
        self.connections().get(slot as usize).map(|c| c.key)
    }

    /// Row `no` of the whole timeline.
    pub fn row(&self, no: u64) -> Option<Row> {
        if no >= self.len() {
            return None;
        }
        let block = no / ROW_BLOCK;
        let cached = {
            let mut c = self.cache();
            let t = c.tick();
            c.rows.get_mut(&block).map(|e| {
                e.0 = t;
                e.1.clone()
            })
        };
        let start = block * ROW_BLOCK;
        // A block is cached only once whole: the last, growing one is read
        // again until it is.
        let bytes = match cached {
            Some(b) if (no - start) * (ROW_BYTES as u64) < b.len() as u64 => b,
            _ => {
                let n = ROW_BLOCK.min(self.len() - start);
                let b = Arc::new(
                    self.shared
                        .rows
                        .read(start * ROW_BYTES as u64, (n as usize) * ROW_BYTES)
                        .ok()?,
                );
                if n == ROW_BLOCK {
                    self.cache().put_rows(block, b.clone());
                }
                b
            }
        };
        let at = usize::try_from(no - start).ok()? * ROW_BYTES;
        Row::decode(no, bytes.get(at..at + ROW_BYTES)?)
    }

    /// Rows of connection `slot` readers may read.
    pub fn conn_len(&self, slot: u32) -> u64 {
        self.connections().get(slot as usize).map_or(0, |c| c.rows)
    }

    /// Messages of connection `slot` readers may read.
    pub fn conn_messages(&self, slot: u32) -> u64 {
        self.connections()
            .get(slot as usize)
            .map_or(0, |c| c.messages)
    }

    /// The `k`-th row of connection `slot`.
    pub fn conn_row(&self, slot: u32, k: u64) -> Option<Row> {
        let no = {
            let conns = self.connections();
            let c = conns.get(slot as usize)?;
            if k >= c.rows {
                return None;
            }
            self.chain_at(&c.chain, k)?
        };
        self.row(no)
    }

    /// The row of message `index` of connection `slot`.
    pub fn message_row(&self, slot: u32, index: u64) -> Option<Row> {
        let no = {
            let conns = self.connections();
            let c = conns.get(slot as usize)?;
            if index >= c.messages {
                return None;
            }
            self.chain_at(&c.msgs, index)?
        };
        self.row(no)
    }

    fn chain_at(&self, chain: &Chain, k: u64) -> Option<u64> {
        let b = usize::try_from(k / CHAIN_BLOCK as u64).ok()?;
        let i = usize::try_from(k % CHAIN_BLOCK as u64).ok()?;
        Some(match chain.blocks.get(b) {
            Some(&n) => {
                let at = u64::from(n) * (CHAIN_BLOCK as u64 * 4) + 4 * i as u64;
                let bytes = self.shared.chains.read(at, 4).ok()?;
                u64::from(u32::from_le_bytes(bytes.try_into().ok()?))
            }
            None => u64::from(*chain.tail.get(i)?),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.shared.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record of `row`, from the cache or the records file.
    pub fn record(&self, row: &Row) -> Option<Record> {
        {
            let mut c = self.cache();
            let t = c.tick();
            if let Some(e) = c.records.get_mut(&row.no) {
                e.0 = t;
                return Some(e.1.clone());
            }
        }
        let rec = if row.rec_len == 0 {
            Record::None
        } else {
            let bytes = self
                .shared
                .records
                .read(row.rec_off, row.rec_len as usize)
                .ok()?;
            let mut d = Dec(&bytes);
            match row.kind {
                RowKind::Message => Record::Message(Arc::new(codec::get_message(&mut d)?)),
                RowKind::Control => Record::Control(Arc::new(codec::get_control(&mut d)?)),
                RowKind::Violation => Record::Violation(Arc::new(codec::get_violation(&mut d)?)),
                RowKind::Anomaly => Record::Anomaly(Arc::new(codec::get_anomaly(&mut d)?)),
                _ => Record::None,
            }
        };
        let cost = row.rec_len as usize * 2 + 256;
        self.cache().put_record(row.no, rec.clone(), cost);
        Some(rec)
    }

    /// The spill extents of a message row: (offset, length) in order.
    fn extents(&self, row: &Row) -> io::Result<Vec<(u64, u64)>> {
        if row.flags & flags::EXTENTS == 0 {
            return Ok(vec![(row.pay_off, row.pay_len)]);
        }
        // The list ends the record: its count last.
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad extent list");
        let rec = self
            .shared
            .records
            .read(row.rec_off, row.rec_len as usize)?;
        let n_at = rec.len().checked_sub(4).ok_or_else(bad)?;
        let n = u32::from_le_bytes(rec[n_at..].try_into().map_err(|_| bad())?) as usize;
        let start = n
            .checked_mul(16)
            .and_then(|b| n_at.checked_sub(b))
            .ok_or_else(bad)?;
        Ok(rec[start..n_at]
            .chunks_exact(16)
            .map(|c| {
                let w = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or_default());
                (w(0), w(8))
            })
            .collect())
    }

    /// `len` payload bytes of a message row from `offset` (fewer at the
    /// end of the payload). Only these bytes are read.
    pub fn payload(&self, row: &Row, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let end = offset.saturating_add(len as u64).min(row.pay_len);
        let mut at = 0u64;
        for (off, n) in self.extents(row)? {
            let (lo, hi) = (at.max(offset), (at + n).min(end));
            if lo < hi {
                let bytes = self
                    .shared
                    .spill
                    .read(off + (lo - at), usize::try_from(hi - lo).unwrap_or(0))?;
                out.extend_from_slice(&bytes);
            }
            at += n;
            if at >= end {
                break;
            }
        }
        Ok(out)
    }

    /// Writes a message row's whole kept payload to `out`, extent by
    /// extent, in pieces of 1 MiB.
    pub fn copy_payload(&self, row: &Row, out: &mut dyn io::Write) -> io::Result<u64> {
        let mut done = 0u64;
        while done < row.pay_len {
            let b = self.payload(row, done, 1 << 20)?;
            if b.is_empty() {
                break;
            }
            out.write_all(&b)?;
            done += b.len() as u64;
        }
        Ok(done)
    }

    /// The connection slot of `key`, if the index has it.
    pub fn slot_of(&self, key: RecordKey) -> Option<u32> {
        self.connections()
            .iter()
            .position(|c| c.key == key)
            .and_then(|i| u32::try_from(i).ok())
    }
}

#[cfg(test)]
mod tests;
