//! What the view shows: an [`Index`] and the capture's summary.
//!
//! The view reads every timeline row, record and connection summary
//! through the index (files read by position, bounded caches); it holds
//! the capture's totals (an [`Analysis`] without connections, which
//! [`Source`] dereferences to) and, per connection, two numbers: its slot
//! in the list's order and its place per slot. While the index is still
//! being written (`view` opens at once, `live` grows), [`Source::refresh`]
//! picks up the connections published since.

use crate::index::{Index, IndexWriter, Record};
use crate::model::{Analysis, Connection, RecordKey};
use std::io;
use std::ops::Deref;
use std::sync::Arc;

/// No place in the connection list (a slot not listed).
const NONE: u32 = u32::MAX;

/// The view's data.
#[derive(Debug, Clone)]
pub struct Source {
    /// The index the rows and the connections' summaries come from.
    pub index: Index,
    /// Capture totals (its `connections` stay empty: the summaries are the
    /// index's, read through [`Source::connection`]).
    totals: Analysis,
    /// The listed connections' slots, in the model's order (by key: by
    /// id, each connection's RFC 8441 sessions after it).
    order: Arc<Vec<u32>>,
    /// Per index slot, its place in `order` ([`NONE`]: not listed).
    positions: Arc<Vec<u32>>,
    /// Index slots looked at so far.
    known: usize,
    /// Slots looked at but not listed yet: no summary published, or
    /// nothing wsinspect understands so far while the connection is open.
    waiting: Vec<u32>,
    /// The publication the list was made for.
    seen: (u64, bool),
}

impl Deref for Source {
    type Target = Analysis;
    fn deref(&self) -> &Analysis {
        &self.totals
    }
}

impl Source {
    /// The view of `index`, whose capture's totals are `totals` (its
    /// `connections` are ignored: they come from the index).
    pub fn new(index: Index, totals: Analysis) -> Source {
        let mut s = Source {
            index,
            totals: Analysis {
                connections: Vec::new(),
                ..totals
            },
            order: Arc::default(),
            positions: Arc::default(),
            known: 0,
            waiting: Vec::new(),
            seen: (u64::MAX, false),
        };
        s.refresh();
        s
    }

    /// A finished model shown as it is (tests, live snapshots): indexed in
    /// the view's order.
    pub fn from_analysis(a: &Analysis) -> io::Result<Source> {
        let index = IndexWriter::from_analysis(a)?;
        Ok(Source::new(
            index,
            Analysis {
                connections: Vec::new(),
                ..a.clone()
            },
        ))
    }

    /// Sets the capture's totals (known when the analysis has finished).
    pub fn set_totals(&mut self, totals: Analysis) {
        self.update_totals(totals);
        self.seen = (u64::MAX, false);
        self.refresh();
    }

    /// Replaces the capture's totals (a live capture's, as they grow);
    /// what the index published is picked up by [`Self::refresh`].
    pub fn update_totals(&mut self, totals: Analysis) {
        let start = self.totals.start_ts;
        self.totals = Analysis {
            connections: Vec::new(),
            ..totals
        };
        if self.totals.start_ts.0 == 0 {
            self.totals.start_ts = start;
        }
    }

    /// Whether the index published something since the last refresh.
    pub fn stale(&self) -> bool {
        (self.index.generation(), self.index.done()) != self.seen
    }

    /// Picks up the connections published since the last call (the new
    /// slots, and those still waiting to be listed); true when the index
    /// published something. No summary is read: the list holds slots.
    pub fn refresh(&mut self) -> bool {
        let now = (self.index.generation(), self.index.done());
        if now == self.seen {
            return false;
        }
        self.seen = now;
        let conns = self.index.connections();
        let mut fresh: Vec<(RecordKey, u32)> = Vec::new();
        let mut waiting = Vec::new();
        let total = u32::try_from(conns.len()).unwrap_or(u32::MAX);
        let new_slots = u32::try_from(self.known).unwrap_or(u32::MAX)..total;
        for slot in std::mem::take(&mut self.waiting)
            .into_iter()
            .chain(new_slots)
        {
            let Some(c) = conns.get(slot as usize) else {
                continue;
            };
            if c.reported {
                fresh.push((c.key, slot));
            } else if !c.ended {
                waiting.push(slot);
            }
        }
        self.waiting = waiting;
        self.known = conns.len();
        if self.positions.len() < conns.len() || !fresh.is_empty() {
            let positions = Arc::make_mut(&mut self.positions);
            positions.resize(conns.len(), NONE);
            if !fresh.is_empty() {
                fresh.sort_unstable();
                let order = Arc::make_mut(&mut self.order);
                let key = |s: u32| conns.get(s as usize).map(|c| c.key);
                // Usually the new connections come after the listed ones
                // (ids follow first packets): appended. Otherwise merged,
                // and the places after the first new one renumbered.
                let first = order.partition_point(|&s| key(s) < Some(fresh[0].0));
                if first == order.len() {
                    order.extend(fresh.iter().map(|&(_, s)| s));
                } else {
                    let tail: Vec<u32> = order.split_off(first);
                    let (mut a, mut b) =
                        (tail.into_iter().peekable(), fresh.into_iter().peekable());
                    loop {
                        let next = match (a.peek(), b.peek()) {
                            (Some(&x), Some(&(k, _))) if key(x) < Some(k) => a.next(),
                            (Some(_), Some(_)) | (None, Some(_)) => b.next().map(|(_, s)| s),
                            (Some(_), None) => a.next(),
                            (None, None) => break,
                        };
                        order.extend(next);
                    }
                }
                for (pos, &slot) in order.iter().enumerate().skip(first) {
                    if let Some(p) = positions.get_mut(slot as usize) {
                        *p = u32::try_from(pos).unwrap_or(NONE);
                    }
                }
            }
        }
        drop(conns);
        if self.totals.start_ts.0 == 0
            && let Some(t) = self.index.start()
        {
            self.totals.start_ts = t;
        }
        true
    }

    /// Connections listed.
    pub fn conn_count(&self) -> usize {
        self.order.len()
    }

    /// Connection `pos` (its place in the list): its summary, read from
    /// the index (a bounded cache in front of its file).
    pub fn connection(&self, pos: usize) -> Option<Arc<Connection>> {
        self.index.summary(self.slot(pos)?)
    }

    /// The key of connection `pos`.
    pub fn key_at(&self, pos: usize) -> Option<RecordKey> {
        self.index.key(self.slot(pos)?)
    }

    /// The place of the connection with `key`, if it is listed.
    pub fn position_of(&self, key: RecordKey) -> Option<usize> {
        let conns = self.index.connections();
        let k = |s: u32| conns.get(s as usize).map(|c| c.key);
        let at = self.order.partition_point(|&s| k(s) < Some(key));
        (self.order.get(at).and_then(|&s| k(s)) == Some(key)).then_some(at)
    }

    /// The index slot of connection `pos` (its place in the list).
    pub fn slot(&self, pos: usize) -> Option<u32> {
        self.order.get(pos).copied()
    }

    /// Per index slot, its place in the list (`u32::MAX`: not listed).
    pub fn positions(&self) -> &[u32] {
        &self.positions
    }

    /// The same, shared.
    pub fn positions_arc(&self) -> Arc<Vec<u32>> {
        self.positions.clone()
    }

    /// The place in the list of index slot `slot`.
    pub fn position(&self, slot: u32) -> Option<usize> {
        self.positions
            .get(slot as usize)
            .filter(|&&p| p != NONE)
            .map(|&p| p as usize)
    }

    /// Rows in the whole timeline.
    pub fn all_len(&self) -> usize {
        usize::try_from(self.index.len()).unwrap_or(usize::MAX)
    }

    /// Rows of connection `pos`.
    pub fn conn_len(&self, pos: usize) -> usize {
        self.slot(pos)
            .map_or(0, |s| usize::try_from(self.index.conn_len(s)).unwrap_or(0))
    }

    /// Writes a message row's whole kept payload to a new file at `path`,
    /// created with mode 0600 (payloads may be decrypted data); an existing
    /// file is not overwritten. Returns the bytes written.
    pub fn save_payload(&self, row: &crate::index::Row, path: &str) -> io::Result<u64> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = io::BufWriter::new(o.open(path)?);
        let n = self.index.copy_payload(row, &mut f)?;
        io::Write::flush(&mut f)?;
        Ok(n)
    }

    /// The record of an index row.
    pub fn record(&self, row: &crate::index::Row) -> Option<Record> {
        self.index.record(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Limits, NullSink};

    /// Slots made in another order than the model's (connections first
    /// seen out of id order) are listed by key all the same.
    #[test]
    fn connections_are_listed_by_key_whatever_their_slot() {
        let p = format!("{}/captures/many_conns.pcap", env!("CARGO_MANIFEST_DIR"));
        let mut model =
            crate::pipeline::analyze_path(&p, Limits::default(), &mut NullSink).unwrap();
        let ids: Vec<u32> = model.connections.iter().map(|c| c.id).collect();
        model.connections.reverse();
        let s = Source::from_analysis(&model).unwrap();
        assert_eq!(s.conn_count(), ids.len());
        for (pos, id) in ids.iter().enumerate() {
            let c = s.connection(pos).unwrap();
            assert_eq!(c.id, *id);
            let slot = s.slot(pos).unwrap();
            assert_eq!(s.position(slot), Some(pos));
            assert_eq!(s.position_of(c.key()), Some(pos));
        }
    }

    /// Connections published one at a time, in falling key order: each
    /// refresh merges the new one into its place.
    #[test]
    fn refresh_merges_connections_published_out_of_order() {
        use crate::analysis::{Consumer, Event};
        let p = format!("{}/captures/many_conns.pcap", env!("CARGO_MANIFEST_DIR"));
        let model = crate::pipeline::analyze_path(&p, Limits::default(), &mut NullSink).unwrap();
        let (mut w, index) = IndexWriter::new(crate::index::IndexLimits::default()).unwrap();
        let mut s = Source::new(
            index,
            Analysis {
                connections: Vec::new(),
                ..model.clone()
            },
        );
        for (n, c) in model.connections.iter().rev().enumerate() {
            let _ = w.event(Event::Handshake(c));
            w.idle();
            assert!(s.refresh());
            assert_eq!(s.conn_count(), n + 1);
            let ids: Vec<u32> = (0..s.conn_count())
                .map(|i| s.connection(i).unwrap().id)
                .collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            for pos in 0..s.conn_count() {
                assert_eq!(s.position(s.slot(pos).unwrap()), Some(pos));
            }
        }
    }
}
