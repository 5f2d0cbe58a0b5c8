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

/// The sending side, on the analysis thread: fills a batch and hands it
/// over when the caller says it is full.
pub(crate) struct Handoff<T> {
    tx: Option<SyncSender<Vec<T>>>,
    back: Receiver<Vec<T>>,
    batch: Vec<T>,
    /// An emptied batch that came back, to be filled next.
    spare: Option<Vec<T>>,
    capacity: usize,
}

/// The receiving side, on the writer thread.
pub(crate) struct Inbox<T> {
    rx: Receiver<Vec<T>>,
    back: Sender<Vec<T>>,
}

/// A hand-over of batches of about `capacity` items, at most `queue` of
/// them waiting (memory stays bounded when the writer falls behind: the
/// analysis then waits for it).
pub(crate) fn handoff<T>(capacity: usize, queue: usize) -> (Handoff<T>, Inbox<T>) {
    let (tx, rx) = sync_channel(queue);
    let (back, returned) = channel();
    (
        Handoff {
            tx: Some(tx),
            back: returned,
            batch: Vec::with_capacity(capacity),
            spare: None,
            capacity,
        },
        Inbox { rx, back },
    )
}

impl<T> Handoff<T> {
    /// Adds an item to the batch being filled.
    pub(crate) fn push(&mut self, item: T) {
        self.batch.push(item);
    }

    /// Items in the batch being filled.
    pub(crate) fn len(&self) -> usize {
        self.batch.len()
    }

    /// Hands the batch over (when not empty), and frees the items of the
    /// batches the writer is done with.
    pub(crate) fn send(&mut self) {
        while let Ok(mut done) = self.back.try_recv() {
            done.clear();
            self.spare = Some(done);
        }
        if self.batch.is_empty() {
            return;
        }
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity));
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            // A failed send means the writer ended early; joining it says why.
            let _ = tx.send(full);
        }
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
    pub(crate) fn each_batch(self, mut f: impl FnMut(&[T])) {
        for batch in self.rx {
            f(&batch);
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
        let (mut h, inbox) = handoff::<u32>(4, 2);
        let worker = std::thread::spawn(move || {
            let mut seen = Vec::new();
            inbox.each_batch(|b| seen.extend_from_slice(b));
            seen
        });
        for i in 0..1000 {
            h.push(i);
            if h.len() >= 4 {
                h.send();
            }
        }
        h.push(1000);
        h.close();
        let seen = worker.join().expect("worker");
        assert_eq!(seen, (0..=1000).collect::<Vec<_>>());
        // The last batches came back after the worker ended.
        assert!(h.back.try_iter().count() > 0);
    }

    #[test]
    fn a_dead_writer_does_not_block_the_sender() {
        let (mut h, inbox) = handoff::<u32>(1, 1);
        drop(inbox);
        for i in 0..100 {
            h.push(i);
            h.send();
        }
        h.close();
    }
}
