//! Reading a capture on a thread of its own, ahead of the analysis.
//!
//! Why: reading the file (the kernel's copy into user space) and splitting
//! it into packets is about a tenth of the analysis thread's time on a
//! large capture (`docs/performance.md`), and the analysis thread is the
//! critical path of a report. A `capture-reader` thread copies packets into
//! batches of about 256 KiB that the analysis consumes in order; emptied
//! batches come back to be filled again, so the steady state allocates
//! nothing. The packets, their numbers and the reader's anomalies are
//! exactly those of [`CaptureReader`] used directly.

use super::reader::{CaptureFormat, CaptureReader, ReadAnomaly, ReadError};
use super::{LinkType, PacketNo, RawPacket, Timestamp};
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

/// Packet bytes per batch.
const BATCH_BYTES: usize = 256 << 10;
/// Packets per batch (small packets fill a batch by count first).
const BATCH_PACKETS: usize = 2048;
/// Batches read ahead before the reader waits for the analysis.
const QUEUE_BATCHES: usize = 4;

/// Where one packet's bytes are in its batch, and what the reader said of it.
struct Meta {
    number: PacketNo,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    start: usize,
    len: usize,
    /// Decryption Secrets Blocks read before this packet (a count).
    secrets: usize,
}

/// Packets read in a row, and the secrets blocks first seen among them.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    packets: Vec<Meta>,
    new_secrets: Vec<Vec<u8>>,
}

/// How reading ended, with what the reader knows at the end.
#[derive(Debug)]
pub struct ReadEnd {
    /// The error that stopped reading, and the packets read before it.
    pub error: Option<(ReadError, PacketNo)>,
    /// The reader's non-fatal problems.
    pub anomalies: Vec<ReadAnomaly>,
    /// The container format.
    pub format: CaptureFormat,
    /// Link type of the file or of its first interface.
    pub link_type: Option<LinkType>,
}

/// Reads every packet of `reader` on a second thread and calls `on_packet`
/// on this one, in capture order, with the contents of every Decryption
/// Secrets Block read before the packet, until `on_packet` breaks (the
/// reader then stops too). Reads on this thread when no thread can be
/// started.
pub fn for_each_packet(
    reader: CaptureReader<'_>,
    mut on_packet: impl FnMut(&RawPacket<'_>, &[Vec<u8>]) -> ControlFlow<()>,
) -> ReadEnd {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Batch>(QUEUE_BATCHES);
        let (empty_tx, empty_rx) = channel::<Batch>();
        // The reader goes to the thread only once it runs, so that a failed
        // spawn leaves it here.
        let (hand, take) = channel::<CaptureReader<'_>>();
        let spawned = std::thread::Builder::new()
            .name("capture-reader".into())
            .spawn_scoped(scope, move || {
                take.recv()
                    .ok()
                    .map(|r| read_batches(r, &full_tx, &empty_rx))
            });
        let worker = match spawned {
            Ok(worker) => match hand.send(reader) {
                Ok(()) => worker,
                Err(std::sync::mpsc::SendError(reader)) => return read_inline(reader, on_packet),
            },
            Err(_) => return read_inline(reader, on_packet),
        };
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        'batches: for mut batch in full_rx {
            secrets.append(&mut batch.new_secrets);
            for m in &batch.packets {
                let packet = RawPacket {
                    number: m.number,
                    ts: m.ts,
                    link: m.link,
                    orig_len: m.orig_len,
                    data: batch.data.get(m.start..m.start + m.len).unwrap_or_default(),
                };
                if on_packet(&packet, secrets.get(..m.secrets).unwrap_or(&secrets)).is_break() {
                    // Dropping the queue ends the reader at its next batch.
                    break 'batches;
                }
            }
            // The reader may have ended already; the batch is then dropped.
            let _ = empty_tx.send(batch);
        }
        match worker.join() {
            Ok(Some(end)) => end,
            _ => ReadEnd {
                error: Some((
                    ReadError::Io("the capture reader thread failed".into()),
                    PacketNo(0),
                )),
                anomalies: Vec::new(),
                format: CaptureFormat::Pcap,
                link_type: None,
            },
        }
    })
}

/// Reads packets until the end, an error, or `on_packet` breaks; returns
/// the error that stopped it and the packets read before it.
fn read_all(
    reader: &mut CaptureReader<'_>,
    mut on_packet: impl FnMut(&RawPacket<'_>, &[Vec<u8>]) -> ControlFlow<()>,
) -> Option<(ReadError, PacketNo)> {
    loop {
        match reader.next_packet_with_secrets() {
            Ok(Some((p, secrets))) => {
                if on_packet(&p, secrets).is_break() {
                    return None;
                }
            }
            Ok(None) => return None,
            Err(e) => return Some((e, PacketNo(reader.packets_read()))),
        }
    }
}

/// The reader thread: fills batches until the end of the capture, or until
/// the analysis is gone.
fn read_batches(
    mut reader: CaptureReader<'_>,
    full: &SyncSender<Batch>,
    empty: &Receiver<Batch>,
) -> ReadEnd {
    let mut batch = Batch::default();
    let mut secrets_sent = 0;
    let error = read_all(&mut reader, |p, secrets| {
        if secrets.len() > secrets_sent {
            batch
                .new_secrets
                .extend(secrets.iter().skip(secrets_sent).cloned());
            secrets_sent = secrets.len();
        }
        let start = batch.data.len();
        batch.data.extend_from_slice(p.data);
        batch.packets.push(Meta {
            number: p.number,
            ts: p.ts,
            link: p.link,
            orig_len: p.orig_len,
            start,
            len: p.data.len(),
            secrets: secrets_sent,
        });
        if batch.data.len() >= BATCH_BYTES || batch.packets.len() >= BATCH_PACKETS {
            let next = recycled(empty);
            if full.send(std::mem::replace(&mut batch, next)).is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    if !batch.packets.is_empty() {
        let _ = full.send(batch);
    }
    end_of(&reader, error)
}

/// An emptied batch back from the analysis, or a new one.
fn recycled(empty: &Receiver<Batch>) -> Batch {
    match empty.try_recv() {
        Ok(mut b) => {
            b.data.clear();
            b.packets.clear();
            b.new_secrets.clear();
            b
        }
        Err(_) => Batch::default(),
    }
}

/// Reading on the calling thread (no thread could be started).
fn read_inline(
    mut reader: CaptureReader<'_>,
    on_packet: impl FnMut(&RawPacket<'_>, &[Vec<u8>]) -> ControlFlow<()>,
) -> ReadEnd {
    let error = read_all(&mut reader, on_packet);
    end_of(&reader, error)
}

fn end_of(reader: &CaptureReader<'_>, error: Option<(ReadError, PacketNo)>) -> ReadEnd {
    ReadEnd {
        error,
        anomalies: reader.anomalies().to_vec(),
        format: reader.format(),
        link_type: reader.link_type(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::writer::{Endian, PcapngWriter};

    /// What the analysis sees of a packet: everything, the bytes hashed.
    type Seen = (u64, i128, u32, u32, u64, usize, usize);

    fn seen(p: &RawPacket<'_>, secrets: &[Vec<u8>]) -> Seen {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        p.data.hash(&mut h);
        let total: usize = secrets.iter().map(Vec::len).sum();
        let link = p.link.dlt();
        (
            p.number.0,
            p.ts.0,
            link,
            p.orig_len,
            h.finish(),
            secrets.len(),
            total,
        )
    }

    /// A way of reading a capture: directly or ahead.
    type Reading = fn(
        CaptureReader<'_>,
        &mut dyn FnMut(&RawPacket<'_>, &[Vec<u8>]) -> ControlFlow<()>,
    ) -> ReadEnd;

    /// What `read` gives of `bytes`: every packet, and how it ended.
    fn collect(bytes: &[u8], read: Reading) -> (Vec<Seen>, String) {
        let r = CaptureReader::new(bytes).expect("a capture");
        let mut v = Vec::new();
        let end = read(r, &mut |p, s| {
            v.push(seen(p, s));
            ControlFlow::Continue(())
        });
        (v, format!("{end:?}"))
    }

    /// Direct reading and reading ahead, on the same bytes.
    fn both(bytes: &[u8]) -> ((Vec<Seen>, String), (Vec<Seen>, String)) {
        (
            collect(bytes, |r, f| read_inline(r, f)),
            collect(bytes, |r, f| for_each_packet(r, f)),
        )
    }

    #[test]
    fn sample_captures_read_ahead_as_read_directly() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut packets = 0;
        for e in std::fs::read_dir(dir).expect("captures") {
            let path = e.expect("entry").path();
            let name = path.to_string_lossy().into_owned();
            if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            let (direct, ahead) = both(&bytes);
            assert!(direct == ahead, "{name}");
            packets += direct.0.len();
            // Cut short in the middle of a record: same packets, same anomaly.
            let (direct, ahead) = both(&bytes[..bytes.len() * 2 / 3]);
            assert!(direct == ahead, "{name} truncated");
            assert!(direct.1.contains("after_packet"), "{name}: {}", direct.1);
        }
        // Several batches by bytes (256 KiB) and by count were crossed.
        assert!(packets > 3 * BATCH_PACKETS, "{packets}");
    }

    /// A pcapng writer with one Ethernet interface.
    fn ethernet_pcapng() -> (PcapngWriter<Vec<u8>>, u32) {
        let mut w = PcapngWriter::new(Vec::new(), Endian::Little).expect("writer");
        let iface = w
            .add_interface(LinkType::Ethernet, 65535, false)
            .expect("iface");
        (w, iface)
    }

    #[test]
    fn secrets_blocks_reach_the_packets_that_follow_them() {
        let (mut w, iface) = ethernet_pcapng();
        let mut want_secrets = Vec::new();
        for i in 0..5000u32 {
            if i % 1500 == 7 {
                w.write_tls_keylog(format!("CLIENT_RANDOM {i}\n").as_bytes())
                    .expect("dsb");
            }
            let data = vec![i as u8; 60 + (i as usize % 200)];
            w.write_packet(iface, Timestamp(i128::from(i) * 1000), &data, 1500)
                .expect("packet");
            want_secrets.push(((i + 1500 - 7) / 1500) as usize);
        }
        let bytes = w.finish().expect("finish");
        let (direct, ahead) = both(&bytes);
        assert!(direct == ahead);
        let got: Vec<usize> = ahead.0.iter().map(|s| s.5).collect();
        assert_eq!(got, want_secrets);
    }

    /// The analysis stops early (its output was closed): the reader thread
    /// stops too, and no error is reported.
    #[test]
    fn breaking_stops_the_reader() {
        let (mut w, iface) = ethernet_pcapng();
        for i in 0..20_000u32 {
            w.write_packet(iface, Timestamp(i128::from(i)), &[i as u8; 100], 1500)
                .expect("packet");
        }
        let bytes = w.finish().expect("finish");
        let r = CaptureReader::new(&bytes[..]).expect("a capture");
        let mut seen = 0;
        let end = for_each_packet(r, |_, _| {
            seen += 1;
            if seen == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(seen, 10);
        assert!(end.error.is_none() && end.anomalies.is_empty(), "{end:?}");
    }
}
