//! Batches of work handed to a writer thread, and handed back to be freed
//! on the thread that allocated them.
//!
//! Why hand them back: with glibc's allocator, a block freed on another
//! thread goes back to the allocating thread's arena under that arena's
//! lock, so the two threads wake each other through a futex for about
//! every message (7 % of the analysis thread on a capture of one million
//! small messages, `docs/performance.md`). Freed where they were made, the
//! items cost an uncontended free each, and the batch vectors are reused.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Items per batch: one hand-over per message would cost a thread wake-up
/// (futex) each.
const BATCH_ITEMS: usize = 128;
/// Payload bytes per batch, so that big messages go out sooner.
const BATCH_BYTES: usize = 512 << 10;
/// Batches queued for the writer before the analysis waits for it.
const QUEUE_BATCHES: usize = 16;

/// The sending side, on the analysis thread: fills a batch and hands it
/// over when it is full.
pub(crate) struct Handoff<T> {
    tx: Option<SyncSender<Vec<T>>>,
    back: Receiver<Vec<T>>,
    batch: Vec<T>,
    /// Payload bytes the items of `batch` hold (as the caller counts them).
    bytes: usize,
    /// An emptied batch that came back, to be filled next.
    spare: Option<Vec<T>>,
    capacity: usize,
    max_bytes: usize,
    /// Batches handed over and not yet back.
    in_flight: usize,
}

/// Batches the writer may have in hand before it counts as behind.
const BEHIND_BATCHES: usize = 2;

/// The receiving side, on the writer thread.
pub(crate) struct Inbox<T> {
    rx: Receiver<Vec<T>>,
    back: Sender<Vec<T>>,
}

/// A hand-over in batches of 128 items or 512 KiB of payload, at most 16
/// batches waiting (see [`handoff_with`]).
pub(crate) fn handoff<T>() -> (Handoff<T>, Inbox<T>) {
    handoff_with(BATCH_ITEMS, BATCH_BYTES, QUEUE_BATCHES)
}

/// A hand-over of batches of `capacity` items or `max_bytes` payload
/// bytes, whichever comes first, at most `queue` of them waiting: memory
/// stays bounded when the writer falls behind (the analysis then waits for
/// it), even when single items are large.
pub(crate) fn handoff_with<T>(
    capacity: usize,
    max_bytes: usize,
    queue: usize,
) -> (Handoff<T>, Inbox<T>) {
    let (tx, rx) = sync_channel(queue);
    let (back, returned) = channel();
    (
        Handoff {
            tx: Some(tx),
            back: returned,
            batch: Vec::with_capacity(capacity),
            bytes: 0,
            spare: None,
            capacity,
            max_bytes,
            in_flight: 0,
        },
        Inbox { rx, back },
    )
}

impl<T> Handoff<T> {
    /// Adds an item holding `bytes` of payload, and hands the batch over
    /// when it is full.
    pub(crate) fn push(&mut self, item: T, bytes: usize) {
        self.batch.push(item);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.batch.len() >= self.capacity || self.bytes >= self.max_bytes {
            self.send();
        }
    }

    /// Hands the batch over (when not empty), and frees the items of the
    /// batches the writer is done with.
    pub(crate) fn send(&mut self) {
        self.take_back();
        if self.batch.is_empty() {
            return;
        }
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity));
        let full = std::mem::replace(&mut self.batch, next);
        self.bytes = 0;
        if let Some(tx) = &self.tx {
            // A failed send means the writer ended early; joining it says why.
            if tx.send(full).is_ok() {
                self.in_flight += 1;
            }
        }
    }

    /// Frees the items of the batches the writer is done with.
    fn take_back(&mut self) {
        while let Ok(mut done) = self.back.try_recv() {
            done.clear();
            self.spare = Some(done);
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// The writer has more than [`BEHIND_BATCHES`] batches in hand: work
    /// that either thread could do is better done by the caller.
    pub(crate) fn writer_is_behind(&mut self) -> bool {
        self.take_back();
        self.in_flight > BEHIND_BATCHES
    }

    /// Hands over what is left and tells the writer that nothing follows.
    pub(crate) fn close(&mut self) {
        self.send();
        self.tx = None;
    }
}

impl<T> Inbox<T> {
    /// Calls `f` on every batch, in order, until the sender is closed or
    /// dropped; each batch then goes back to be freed by the sender.
    pub(crate) fn each_batch(self, mut f: impl FnMut(&mut [T])) {
        for mut batch in self.rx {
            f(&mut batch);
            // The sender may be gone already; the batch is then freed here.
            let _ = self.back.send(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arrive_in_order_and_come_back() {
        let (mut h, inbox) = handoff_with::<u32>(4, usize::MAX, 2);
        let worker = std::thread::spawn(move || {
            let mut seen = Vec::new();
            inbox.each_batch(|b| seen.extend_from_slice(b));
            seen
        });
        for i in 0..1000 {
            h.push(i, 1);
        }
        h.push(1000, 1);
        h.close();
        let seen = worker.join().expect("worker");
        assert_eq!(seen, (0..=1000).collect::<Vec<_>>());
        // The last batches came back after the worker ended.
        assert!(h.back.try_iter().count() > 0);
    }

    #[test]
    fn large_items_fill_a_batch_early() {
        let (mut h, inbox) = handoff_with::<Vec<u8>>(128, 1000, 1);
        let worker = std::thread::spawn(move || {
            let mut sizes = Vec::new();
            inbox.each_batch(|b| sizes.push(b.len()));
            sizes
        });
        for _ in 0..6 {
            h.push(vec![0; 400], 400);
        }
        h.close();
        assert_eq!(worker.join().expect("worker"), vec![3, 3]);
    }

    #[test]
    fn a_dead_writer_does_not_block_the_sender() {
        let (mut h, inbox) = handoff_with::<u32>(1, usize::MAX, 1);
        drop(inbox);
        for i in 0..100 {
            h.push(i, 0);
        }
        h.close();
    }
}
