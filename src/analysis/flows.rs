//! The flow table: the live TCP connections by address pair, each in a slot
//! that is reused once its connection is finished, with the two queues that
//! keep the table bounded in amortised O(1) per packet.
//!
//! - **Recency** (`--max-flows`): `(slot, id, last packet)` in packet
//!   order, one entry per packet of a flow. The first entry that still
//!   describes its slot's tenant is the idlest flow; stale entries are
//!   skipped when popped and swept when the queue grows past twice the live
//!   flows.
//! - **Closing** (Zeek's `tcp_close_delay`): closed flows `(slot, id, time
//!   of their last packet)` in the order they closed. A flow that got a
//!   packet since it was queued goes to the back with its new time when it
//!   reaches the front; the front waits until the linger time has passed
//!   without packets. So a closed flow leaves once it has been quiet for
//!   the linger time, or up to one linger time later when it waits behind
//!   a flow whose last packet came after its own (the queue is not sorted
//!   by time, which keeps every step O(1)).
//!
//! Slots are reused, so every queue entry carries the connection id of the
//! tenant it was written for: an entry whose slot has another tenant, or
//! none, is stale. The table knows nothing of what a flow holds: the
//! analyzer asks which slot to finish and takes the value out.

use crate::capture::Timestamp;
use crate::flow::FlowKey;
use std::collections::{HashMap, VecDeque};

/// Queue entries tolerated beyond twice the live flows before stale ones
/// are swept.
const SWEEP_SLACK: usize = 1024;

#[derive(Debug)]
struct Slot<T> {
    key: FlowKey,
    id: u32,
    /// Last packet seen (recency).
    last_seen: u64,
    /// In the closing queue.
    closing: bool,
    value: T,
}

/// Live flows of type `T`, by [`FlowKey`], in reusable slots.
#[derive(Debug)]
pub struct FlowTable<T> {
    index: HashMap<FlowKey, usize>,
    slots: Vec<Option<Slot<T>>>,
    /// Slots freed by removed flows, reused before growing.
    free: Vec<usize>,
    recency: VecDeque<(usize, u32, u64)>,
    closing: VecDeque<(usize, u32, Timestamp)>,
}

impl<T> Default for FlowTable<T> {
    fn default() -> Self {
        FlowTable {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            recency: VecDeque::new(),
            closing: VecDeque::new(),
        }
    }
}

impl<T> FlowTable<T> {
    /// Live flows.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No live flow.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The slot of the live flow with this key.
    pub fn find(&self, key: &FlowKey) -> Option<usize> {
        self.index
            .get(key)
            .copied()
            .filter(|&slot| self.slot(slot).is_some())
    }

    /// One past the highest slot: `0..slot_count()` covers every flow.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The flow in `slot`.
    pub fn get(&self, slot: usize) -> Option<&T> {
        self.slot(slot).map(|s| &s.value)
    }

    /// The flow in `slot`, mutably.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.slots
            .get_mut(slot)
            .and_then(Option::as_mut)
            .map(|s| &mut s.value)
    }

    /// Every live flow, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten().map(|s| &s.value)
    }

    /// Every live flow, mutably, in slot order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().flatten().map(|s| &mut s.value)
    }

    /// Adds a flow seen first at `packet` (the caller makes room first, see
    /// [`FlowTable::idlest`]); returns its slot. `id` must be new.
    pub fn insert(&mut self, key: FlowKey, id: u32, packet: u64, value: T) -> usize {
        let entry = Slot {
            key,
            id,
            last_seen: packet,
            closing: false,
            value,
        };
        let slot = match self.free.pop() {
            Some(i) if i < self.slots.len() => {
                self.slots[i] = Some(entry);
                i
            }
            _ => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.recency.push_back((slot, id, packet));
        self.index.insert(key, slot);
        slot
    }

    /// The flow in `slot` got `packet` (several segments of one packet
    /// count once).
    pub fn touch(&mut self, slot: usize, packet: u64) {
        let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if s.last_seen == packet {
            return;
        }
        s.last_seen = packet;
        self.recency.push_back((slot, s.id, packet));
        if self.recency.len() > 2 * self.index.len() + SWEEP_SLACK {
            let slots = &self.slots;
            self.recency.retain(|&(slot, id, seen)| {
                tenant(slots, slot, id).is_some_and(|s| s.last_seen == seen)
            });
        }
    }

    /// The flow in `slot` is closed (FIN both ways, or a RST), its last
    /// packet at `last`: it waits in the closing queue. Once per flow.
    pub fn queue_closing(&mut self, slot: usize, last: Timestamp) {
        let Some(s) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if s.closing {
            return;
        }
        s.closing = true;
        self.closing.push_back((slot, s.id, last));
        // Flows removed otherwise (evicted, port reuse) leave entries
        // behind; at most one entry is current per live flow.
        if self.closing.len() > 2 * self.index.len() + SWEEP_SLACK {
            let slots = &self.slots;
            self.closing
                .retain(|&(slot, id, _)| tenant(slots, slot, id).is_some());
        }
    }

    /// The least recently active flow, to be removed by the caller; None
    /// when no flow is live.
    pub fn idlest(&mut self) -> Option<usize> {
        while let Some((slot, id, seen)) = self.recency.pop_front() {
            if tenant(&self.slots, slot, id).is_some_and(|s| s.last_seen == seen) {
                return Some(slot);
            }
        }
        None
    }

    /// A closed flow whose last packet (`last_of`) is at least `linger_ns`
    /// before `now`, to be removed by the caller; None while the oldest
    /// closed flow is younger. Each queue entry is looked at once, or once
    /// more per packet its flow got since it was queued.
    pub fn lingering(
        &mut self,
        now: Timestamp,
        linger_ns: i128,
        last_of: impl Fn(&T) -> Timestamp,
    ) -> Option<usize> {
        while let Some(&(slot, id, since)) = self.closing.front() {
            let Some(last) = tenant(&self.slots, slot, id).map(|s| last_of(&s.value)) else {
                // Removed already (evicted, port reuse).
                self.closing.pop_front();
                continue;
            };
            if last != since {
                self.closing.pop_front();
                self.closing.push_back((slot, id, last));
                continue;
            }
            if now.0.saturating_sub(since.0) < linger_ns {
                return None;
            }
            self.closing.pop_front();
            return Some(slot);
        }
        None
    }

    /// Takes the flow out of `slot`; its slot is reused and its queue
    /// entries become stale.
    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let s = self.slots.get_mut(slot).and_then(Option::take)?;
        self.free.push(slot);
        if self.index.get(&s.key) == Some(&slot) {
            self.index.remove(&s.key);
        }
        Some(s.value)
    }

    fn slot(&self, slot: usize) -> Option<&Slot<T>> {
        self.slots.get(slot).and_then(Option::as_ref)
    }
}

/// The slot's tenant if it is still connection `id`.
fn tenant<T>(slots: &[Option<Slot<T>>], slot: usize, id: u32) -> Option<&Slot<T>> {
    slots
        .get(slot)
        .and_then(Option::as_ref)
        .filter(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::SocketAddr;

    /// What a flow holds in the test: its id and the time of its last packet.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Flow {
        id: u32,
        last_ts: Timestamp,
    }

    /// The naive model: a list of live flows, searched in full.
    #[derive(Debug, Clone)]
    struct Naive {
        key: u16,
        id: u32,
        last_seen: u64,
        last_ts: Timestamp,
        closed: bool,
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A packet for the flow with this key: opens it when not live.
        Packet(u16),
        /// A packet that closes the flow (its FIN or RST).
        Close(u16),
        EvictIdlest,
        /// Time passes by this many nanoseconds.
        Linger(i128),
        Remove(u16),
    }

    const LINGER: i128 = 50;

    fn key(k: u16) -> FlowKey {
        let a: SocketAddr = ([10, 0, 0, 1], 1000 + k).into();
        let b: SocketAddr = ([10, 0, 0, 2], 80).into();
        FlowKey::new(b, a)
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            6 => (0..24u16).prop_map(Op::Packet),
            2 => (0..24u16).prop_map(Op::Close),
            1 => Just(Op::EvictIdlest),
            2 => (0..80i128).prop_map(Op::Linger),
            1 => (0..24u16).prop_map(Op::Remove),
        ];
        proptest::collection::vec(op, 0..400)
    }

    /// Applies the operations to the table and to the naive model as the
    /// analyzer does (a packet touches its flow, may close it, and then the
    /// closed flows past the linger time leave); every answer of the table
    /// must be the model's.
    fn run(ops: &[Op]) -> Result<(), TestCaseError> {
        let mut table = FlowTable::<Flow>::default();
        let mut naive: Vec<Naive> = Vec::new();
        let (mut packet, mut now, mut next_id) = (0u64, 0i128, 0u32);
        for op in ops {
            match *op {
                Op::Packet(k) | Op::Close(k) => {
                    packet += 1;
                    now += 1;
                    let ts = Timestamp(now);
                    let slot = match naive.iter_mut().find(|n| n.key == k) {
                        Some(n) => {
                            let slot = table.find(&key(k)).expect("live flow found");
                            table.touch(slot, packet);
                            let f = table.get_mut(slot).expect("slot holds it");
                            prop_assert_eq!(f.id, n.id);
                            f.last_ts = ts;
                            (n.last_seen, n.last_ts) = (packet, ts);
                            slot
                        }
                        None => {
                            prop_assert!(table.find(&key(k)).is_none());
                            next_id += 1;
                            let flow = Flow {
                                id: next_id,
                                last_ts: ts,
                            };
                            naive.push(Naive {
                                key: k,
                                id: next_id,
                                last_seen: packet,
                                last_ts: ts,
                                closed: false,
                            });
                            table.insert(key(k), next_id, packet, flow)
                        }
                    };
                    if matches!(op, Op::Close(_)) {
                        table.queue_closing(slot, ts);
                        if let Some(n) = naive.iter_mut().find(|n| n.key == k) {
                            n.closed = true;
                        }
                    }
                }
                Op::EvictIdlest => {
                    let want = naive.iter().min_by_key(|n| n.last_seen).map(|n| n.id);
                    let got = table.idlest().and_then(|slot| table.remove(slot));
                    prop_assert_eq!(got.map(|f| f.id), want);
                    naive.retain(|n| Some(n.id) != want);
                }
                Op::Linger(dt) => now += dt,
                Op::Remove(k) => {
                    if let Some(pos) = naive.iter().position(|n| n.key == k) {
                        let slot = table.find(&key(k)).expect("live flow found");
                        let f = table.remove(slot).expect("removed");
                        prop_assert_eq!(f.id, naive.remove(pos).id);
                    }
                }
            }
            let mut got = Vec::new();
            while let Some(slot) = table.lingering(Timestamp(now), LINGER, |f| f.last_ts) {
                got.push(table.remove(slot).expect("lingering flow is live"));
            }
            for f in &got {
                // Only closed flows, and only after the linger time.
                let n = naive.iter().find(|n| n.id == f.id).expect("a live flow");
                prop_assert!(
                    n.closed && now - n.last_ts.0 >= LINGER,
                    "{:?} at {}",
                    n,
                    now
                );
            }
            naive.retain(|n| !got.iter().any(|f| f.id == n.id));
            // A closed flow may wait behind one that got a packet later,
            // never for more than another linger time.
            for n in &naive {
                prop_assert!(
                    !(n.closed && now - n.last_ts.0 >= 2 * LINGER),
                    "{:?} at {}",
                    n,
                    now
                );
            }

            prop_assert_eq!(table.len(), naive.len());
            prop_assert_eq!(table.values().count(), naive.len());
            for n in &naive {
                let slot = table.find(&key(n.key)).expect("every live flow found");
                prop_assert_eq!(table.get(slot).map(|f| f.id), Some(n.id));
            }
            // The queues stay bounded by the live flows (plus the slack).
            prop_assert!(table.recency.len() <= 2 * table.len() + SWEEP_SLACK + 1);
            prop_assert!(table.closing.len() <= 2 * table.len() + SWEEP_SLACK + 1);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// smoltcp's `test_random` shape: random operations on the table
        /// and on a naive model, whose answers must agree.
        #[test]
        fn agrees_with_a_naive_model(ops in ops()) {
            run(&ops)?;
        }
    }

    /// Slots are reused: a queue entry written for an earlier tenant never
    /// names the new one.
    #[test]
    fn stale_entries_never_name_a_new_tenant() {
        let mut t = FlowTable::<Flow>::default();
        let f = |id| Flow {
            id,
            last_ts: Timestamp(0),
        };
        let a = t.insert(key(1), 1, 1, f(1));
        t.queue_closing(a, Timestamp(0));
        assert_eq!(t.remove(a).map(|f| f.id), Some(1));
        let b = t.insert(key(2), 2, 2, f(2));
        assert_eq!(a, b, "the slot is reused");
        // The old closing entry is stale: nothing lingers.
        assert_eq!(t.lingering(Timestamp(1_000), LINGER, |f| f.last_ts), None);
        // The old recency entry is stale: the idlest is the new tenant.
        assert_eq!(t.idlest(), Some(b));
        assert_eq!(t.get(b).map(|f| f.id), Some(2));
    }
}
