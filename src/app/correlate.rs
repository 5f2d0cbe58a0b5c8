//! Requests ↔ answers, per the protocols' own rules.
//!
//! Decoders say, per record, what it opens and what it closes
//! ([`super::Pairing`]); the correlator keeps the open requests in a
//! bounded table keyed by the requester's direction and a [`PairKey`], and
//! fills `answers` and `latency_ns` of an answer that comes from the
//! *other* direction. Requests without an id (PINGREQ, CONNECT) pair
//! first in, first out. A request id reused while the first is still open
//! queues behind it. At the end, the requests never answered are findings
//! (up to the table's cap; past it they are counted).

use super::{AppFinding, AppFindingKind, AppLimits, AppOutput, AppProtocol, Closing, PairKey};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone)]
struct Open {
    index: u64,
    packet: PacketNo,
    ts: Timestamp,
    kind: &'static str,
    name: Option<String>,
    /// A stream item already answered it (only its end is awaited).
    answered: bool,
    /// The requester withdrew it (GraphQL `complete`/`stop` from the
    /// client): what the other side still sends for it is still linked to
    /// it, but it is not awaited any more.
    cancelled: bool,
    seq: u64,
}

/// Pairs requests with answers across a session.
#[derive(Debug)]
pub struct Correlator {
    limits: AppLimits,
    open: HashMap<(Direction, PairKey), VecDeque<Open>>,
    count: usize,
    seq: u64,
    /// Requests not tracked because the table was full.
    overflow: u64,
    /// Answers paired.
    pub paired: u64,
}

impl Correlator {
    /// An empty table.
    pub fn new(limits: AppLimits) -> Self {
        Correlator {
            limits,
            open: HashMap::new(),
            count: 0,
            seq: 0,
            overflow: 0,
            paired: 0,
        }
    }

    /// Requests awaiting an answer now.
    pub fn pending(&self) -> usize {
        self.count
    }

    /// Pairs the records of `out` (in order), filling their `answers`,
    /// `latency_ns`, `stream_end` and, for answers naming nothing, `name`.
    pub fn observe(&mut self, out: &mut AppOutput) {
        for r in &mut out.records {
            if let Some((key, closing)) = r.pairing.closes.clone() {
                let requester = match closing {
                    Closing::Cancel => r.dir,
                    _ => r.dir.reverse(),
                };
                let slot = (requester, key);
                if let Some(q) = self.open.get_mut(&slot)
                    && let Some(front) = q.front_mut()
                {
                    let done = if closing == Closing::Cancel {
                        front.cancelled = true;
                        false
                    } else {
                        r.answers = Some(front.index);
                        r.latency_ns = Some(i64::try_from(r.ts.0 - front.ts.0).unwrap_or(i64::MAX));
                        if r.name.is_none() {
                            r.name.clone_from(&front.name);
                        }
                        if front.answered {
                            r.later_answer = true;
                            r.stream_end = closing == Closing::End;
                        } else {
                            self.paired += 1;
                        }
                        front.answered = true;
                        matches!(closing, Closing::Final | Closing::End)
                    };
                    if done {
                        q.pop_front();
                        self.count -= 1;
                        if q.is_empty() {
                            self.open.remove(&slot);
                        }
                    }
                }
            }
            if let Some(key) = r.pairing.opens.clone() {
                // A withdrawn request whose id is used again is over.
                let slot = (r.dir, key);
                if let Some(q) = self.open.get_mut(&slot) {
                    let before = q.len();
                    q.retain(|o| !o.cancelled);
                    self.count -= before - q.len();
                    if q.is_empty() {
                        self.open.remove(&slot);
                    }
                }
                let (_, key) = slot;
                if self.count >= self.limits.max_pending {
                    self.overflow += 1;
                    continue;
                }
                self.seq += 1;
                self.count += 1;
                self.open.entry((r.dir, key)).or_default().push_back(Open {
                    index: r.index,
                    packet: r.first_packet,
                    ts: r.ts,
                    kind: r.kind,
                    name: r.name.clone(),
                    answered: false,
                    cancelled: false,
                    seq: self.seq,
                });
            }
        }
    }

    /// The session ended: one finding per request never answered (in the
    /// order they were sent), and the overflow count.
    pub fn finish(
        &mut self,
        protocol: Option<AppProtocol>,
        packet: PacketNo,
        ts: Timestamp,
        out: &mut AppOutput,
    ) {
        let Some(protocol) = protocol else { return };
        let mut left: Vec<(Direction, Open)> = self
            .open
            .drain()
            .flat_map(|((dir, _), q)| q.into_iter().map(move |o| (dir, o)))
            .filter(|(_, o)| !o.answered && !o.cancelled)
            .collect();
        left.sort_by_key(|(_, o)| o.seq);
        self.count = 0;
        for (dir, o) in left {
            let what = match &o.name {
                Some(n) => format!("{} {n:?}", o.kind),
                None => o.kind.to_string(),
            };
            out.findings.push(AppFinding {
                kind: AppFindingKind::Unanswered,
                protocol,
                dir: Some(dir),
                index: Some(o.index),
                packet: o.packet,
                ts: o.ts,
                section: None,
                detail: format!("{what} (message {}) got no answer", o.index),
            });
        }
        if self.overflow > 0 {
            out.findings.push(AppFinding {
                kind: AppFindingKind::CapReached,
                protocol,
                dir: None,
                index: None,
                packet,
                ts,
                section: None,
                detail: format!(
                    "{} requests not paired: more than {} awaited an answer at once",
                    self.overflow, self.limits.max_pending
                ),
            });
            self.overflow = 0;
        }
    }
}
