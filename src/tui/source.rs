//! What the view shows: an [`Index`] and the capture's summary.
//!
//! The view reads every timeline row and record through the index (files
//! read by position, bounded caches), and the capture's totals and the
//! connections' summaries from a small [`Analysis`] without messages or
//! control frames, which [`Source`] dereferences to. While the index is
//! still being written (`view` opens at once, `live` grows), [`Source::refresh`]
//! picks up what was published since.

use crate::index::{Index, IndexWriter, Record};
use crate::model::Analysis;
use std::io;
use std::ops::Deref;
use std::sync::Arc;

/// The view's data.
#[derive(Debug, Clone)]
pub struct Source {
    /// The index the rows come from.
    pub index: Index,
    /// Capture totals and the reported connections' summaries, in the
    /// model's order (by id, each connection's RFC 8441 sessions after it).
    summary: Analysis,
    /// `summary.connections[i]`'s slot in the index.
    slots: Vec<u32>,
    /// Per index slot, its position in `summary.connections`.
    positions: Arc<Vec<Option<usize>>>,
    /// Rows the summary was made for.
    seen: (u64, bool),
}

impl Deref for Source {
    type Target = Analysis;
    fn deref(&self) -> &Analysis {
        &self.summary
    }
}

impl Source {
    /// The view of `index`, whose capture's totals are `totals` (its
    /// `connections` are ignored: they come from the index).
    pub fn new(index: Index, totals: Analysis) -> Source {
        let mut s = Source {
            index,
            summary: Analysis {
                connections: Vec::new(),
                ..totals
            },
            slots: Vec::new(),
            positions: Arc::default(),
            seen: (u64::MAX, false),
        };
        s.refresh();
        s
    }

    /// A finished model shown as it is (tests, live snapshots): indexed in
    /// the view's order.
    pub fn from_analysis(a: &Analysis) -> io::Result<Source> {
        let index = IndexWriter::from_analysis(a)?;
        Ok(Source::new(index, a.clone()))
    }

    /// Sets the capture's totals (known when the analysis has finished).
    pub fn set_totals(&mut self, totals: Analysis) {
        self.update_totals(totals);
        self.seen = (u64::MAX, false);
        self.refresh();
    }

    /// Replaces the capture's totals (a live capture's, as they grow) and
    /// keeps the connections; what the index published is picked up by
    /// [`Self::refresh`].
    pub fn update_totals(&mut self, totals: Analysis) {
        self.summary = Analysis {
            connections: std::mem::take(&mut self.summary.connections),
            ..totals
        };
    }

    /// Whether the index published something since the last refresh.
    pub fn stale(&self) -> bool {
        (self.index.generation(), self.index.done()) != self.seen
    }

    /// Picks up rows and connections published since the last call; true
    /// when something changed.
    pub fn refresh(&mut self) -> bool {
        let now = (self.index.generation(), self.index.done());
        if now == self.seen {
            return false;
        }
        self.seen = now;
        let conns = self.index.connections();
        let mut order: Vec<(crate::model::RecordKey, u32)> = conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.record.reported())
            .map(|(i, c)| (c.record.key(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        order.sort();
        let mut positions = vec![None; conns.len()];
        self.slots.clear();
        self.summary.connections.clear();
        for (pos, (_, slot)) in order.into_iter().enumerate() {
            if let Some(c) = conns.get(slot as usize) {
                self.summary.connections.push(c.record.clone());
                self.slots.push(slot);
                positions[slot as usize] = Some(pos);
            }
        }
        drop(conns);
        self.positions = Arc::new(positions);
        if self.summary.start_ts.0 == 0
            && let Some(t) = self.index.start()
        {
            self.summary.start_ts = t;
        }
        true
    }

    /// The index slot of connection `pos` (its place in `connections`).
    pub fn slot(&self, pos: usize) -> Option<u32> {
        self.slots.get(pos).copied()
    }

    /// Per index slot, its place in `connections`.
    pub fn positions(&self) -> &[Option<usize>] {
        &self.positions
    }

    /// The same, shared.
    pub fn positions_arc(&self) -> Arc<Vec<Option<usize>>> {
        self.positions.clone()
    }

    /// The place in `connections` of index slot `slot`.
    pub fn position(&self, slot: u32) -> Option<usize> {
        self.positions.get(slot as usize).copied().flatten()
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
