//! Per-direction TCP stream reassembly.
//!
//! Sequence numbers are mapped to `u64` stream offsets (offset 0 is the first
//! byte after the SYN, or the first byte seen when the connection is picked
//! up mid-stream). In-order segments are delivered at once without copying;
//! out-of-order ones are stored, trimmed so that **the first copy of every
//! byte in capture order wins** (for its content and its packet number), and
//! delivered when the hole before them fills. Bytes the IP header announces
//! but the capture cut (snaplen) occupy their place as *missing* bytes and
//! are delivered as a [`Piece::Gap`]; so are holes declared lost (at the end
//! of the capture, or when the buffer cap is reached).
//!
//! Invariant: every entry of `pending` starts at or after `offset` and
//! entries never overlap.

use super::seq::distance;
use crate::capture::PacketNo;
use std::collections::BTreeMap;

/// A piece of the reassembled stream, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Captured bytes.
    Data(&'a [u8]),
    /// Bytes that exist in the stream but were not captured.
    Gap(u64),
}

/// Why a gap appears in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The capture cut the packet (snapshot length).
    Snaplen,
    /// The segment never appeared in the capture.
    Lost,
    /// The out-of-order buffer reached its cap and the hole was given up.
    BufferCap,
    /// The cap on bytes buffered across *all* connections was reached and
    /// this connection's hole was given up to stay under it.
    TotalCap,
}

/// Out-of-order entries held per direction before the first hole is given
/// up, whatever their byte count: bounds the map when a hostile capture
/// sends many tiny (or snaplen-cut, zero-byte) segments ahead of a hole.
pub const MAX_PENDING_ENTRIES: usize = 65_536;

/// Bookkeeping bytes charged per held entry when buffered memory is
/// accounted across connections (map node + allocation header).
pub const ENTRY_COST: u64 = 96;

#[derive(Debug)]
enum Content {
    Bytes(Vec<u8>),
    Missing(u64),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Missing(n) => *n,
        }
    }
}

#[derive(Debug)]
struct Pending {
    content: Content,
    packet: PacketNo,
}

/// Counters kept per direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Payload bytes delivered in order.
    pub bytes: u64,
    /// Segments that carried only bytes already seen (keep-alive probes
    /// excluded: they are counted in `keep_alives`).
    pub retransmissions: u64,
    /// Keep-alive probes (see [`Reassembler::is_keep_alive`]).
    pub keep_alives: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Bytes declared lost.
    pub lost_bytes: u64,
    /// Times the buffer cap forced a hole to be given up.
    pub cap_hits: u64,
}

/// Reassembles one direction of a TCP connection.
#[derive(Debug)]
pub struct Reassembler {
    /// Sequence number at stream offset `offset`; None before any data/SYN.
    next_seq: Option<u32>,
    /// Stream offset of the next byte to deliver.
    offset: u64,
    pending: BTreeMap<u64, Pending>,
    pending_bytes: u64,
    max_pending: u64,
    /// Set by a SYN: data before `next_seq` is never accepted.
    anchored: bool,
    stats: StreamStats,
}

/// Receives reassembled pieces: the piece, and the packet that first
/// carried its bytes. The packet that completed delivery is the caller's
/// current packet.
pub trait PieceSink {
    /// One in-order piece of the stream.
    fn piece(&mut self, piece: Piece<'_>, src_packet: PacketNo, cause: GapCause);
}

impl<F: FnMut(Piece<'_>, PacketNo, GapCause)> PieceSink for F {
    fn piece(&mut self, piece: Piece<'_>, src_packet: PacketNo, cause: GapCause) {
        self(piece, src_packet, cause)
    }
}

impl Reassembler {
    /// A reassembler that buffers at most `max_pending` out-of-order bytes.
    pub fn new(max_pending: u64) -> Self {
        Reassembler {
            next_seq: None,
            offset: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            max_pending,
            anchored: false,
            stats: StreamStats::default(),
        }
    }

    /// A SYN fixes the initial sequence number: the stream starts at `isn + 1`.
    pub fn syn(&mut self, isn: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(isn.wrapping_add(1));
            self.anchored = true;
        }
    }

    /// Stream offset one past the highest byte seen (delivered or held):
    /// Wireshark's "next expected sequence number" of this direction.
    fn high_offset(&self) -> u64 {
        self.pending
            .last_key_value()
            .map_or(self.offset, |(&start, p)| start + p.content.len())
            .max(self.offset)
    }

    /// A keep-alive probe (RFC 9293 §3.8.4): a segment of `len` ≤ 1 bytes
    /// whose sequence number is one less than the next one expected, so
    /// that it carries nothing new and draws an ACK. The rule is
    /// Wireshark's `tcp.analysis.keep_alive` (packet-tcp.c,
    /// `tcp_analyze_sequence_number`; User's Guide §7.5 "TCP Analysis"),
    /// which also supersedes its retransmission flags; the caller excludes
    /// SYN, FIN and RST segments as Wireshark does. Unknown (false) before
    /// the direction's sequence numbers are known.
    pub fn is_keep_alive(&self, seq: u32, len: u64) -> bool {
        let Some(next) = self.next_seq else {
            return false;
        };
        len <= 1
            && self.offset as i128 + i128::from(distance(next, seq)) + 1
                == self.high_offset() as i128
    }

    /// Counts a keep-alive probe found by [`Self::is_keep_alive`]; its byte,
    /// if any, is not pushed (it was seen already or is the probe's filler).
    pub fn count_keep_alive(&mut self) {
        self.stats.keep_alives += 1;
    }

    /// A segment without payload whose sequence number is the next one
    /// expected (as a keep-alive ACK's is).
    pub fn at_next(&self, seq: u32) -> bool {
        self.next_seq.is_some_and(|next| {
            self.offset as i128 + i128::from(distance(next, seq)) == self.high_offset() as i128
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Stream offset of the next byte to deliver.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes held out of order.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// Memory charged for what is held out of order: the bytes plus
    /// [`ENTRY_COST`] per entry (entries for snaplen-cut bytes hold none).
    pub fn buffered_cost(&self) -> u64 {
        self.pending_bytes
            .saturating_add((self.pending.len() as u64).saturating_mul(ENTRY_COST))
    }

    /// Gives up the first hole because of a cap kept outside this direction
    /// (the total across connections); false when nothing is held.
    pub fn shed_first_hole(&mut self, sink: &mut impl PieceSink) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        self.stats.cap_hits += 1;
        self.give_up_first_hole(GapCause::TotalCap, sink)
    }

    /// Feeds one segment's payload (`missing` bytes after it were cut by the
    /// capture) and delivers whatever became contiguous.
    pub fn push(
        &mut self,
        seq: u32,
        data: &[u8],
        missing: u32,
        packet: PacketNo,
        sink: &mut impl PieceSink,
    ) {
        let total = data.len() as u64 + u64::from(missing);
        if total == 0 {
            return;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let rel = distance(next, seq);
        let start = self.offset as i128 + rel as i128;
        let end = start + total as i128;
        if end <= self.offset as i128 {
            self.stats.retransmissions += 1;
            return;
        }
        if start < 0 {
            // Bytes before the first byte we anchored on (mid-stream pickup
            // with reordering): only the part from offset 0 on is kept.
            if self.anchored || self.offset > 0 {
                self.stats.retransmissions += 1;
            }
        }
        let start = start.max(self.offset as i128) as u64;
        let skip = (start as i128 - (self.offset as i128 + rel as i128)) as u64;
        if self.pending.is_empty() && start == self.offset {
            self.deliver_direct(data, missing, skip, packet, sink);
            return;
        }
        if start > self.offset {
            self.stats.out_of_order += 1;
        }
        self.insert(start, data, missing, skip, packet);
        self.drain(sink);
        // Give up holes until back under the cap: one is not enough when
        // the held bytes are spread over several holes (found by fuzzing:
        // the buffer grew by a segment per push).
        while self.pending_bytes > self.max_pending || self.pending.len() > MAX_PENDING_ENTRIES {
            self.stats.cap_hits += 1;
            if !self.give_up_first_hole(GapCause::BufferCap, sink) {
                break;
            }
        }
    }

    /// In-order segment with nothing buffered: deliver from the packet itself.
    fn deliver_direct(
        &mut self,
        data: &[u8],
        missing: u32,
        skip: u64,
        packet: PacketNo,
        sink: &mut impl PieceSink,
    ) {
        let skip_data = skip.min(data.len() as u64) as usize;
        let bytes = &data[skip_data..];
        if !bytes.is_empty() {
            sink.piece(Piece::Data(bytes), packet, GapCause::Snaplen);
            self.stats.bytes += bytes.len() as u64;
        }
        let gap = u64::from(missing).saturating_sub(skip.saturating_sub(data.len() as u64));
        if gap > 0 {
            sink.piece(Piece::Gap(gap), packet, GapCause::Snaplen);
        }
        self.advance(bytes.len() as u64 + gap);
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        if let Some(s) = self.next_seq.as_mut() {
            *s = s.wrapping_add(n as u32);
        }
    }

    /// Stores the parts of `[start, start+len)` not already held.
    fn insert(&mut self, start: u64, data: &[u8], missing: u32, skip: u64, packet: PacketNo) {
        let data_end = start + (data.len() as u64).saturating_sub(skip);
        let end =
            data_end + u64::from(missing).saturating_sub(skip.saturating_sub(data.len() as u64));
        let mut cursor = start;
        while cursor < end {
            // Find the held entry covering or following `cursor`.
            let covering = self
                .pending
                .range(..=cursor)
                .next_back()
                .filter(|(s, p)| **s + p.content.len() > cursor)
                .map(|(s, p)| *s + p.content.len());
            if let Some(covered_to) = covering {
                cursor = covered_to.min(end);
                continue;
            }
            let next_start = self
                .pending
                .range(cursor..)
                .next()
                .map(|(s, _)| *s)
                .unwrap_or(end)
                .min(end);
            self.store(cursor, next_start, start, data, skip, data_end, packet);
            cursor = next_start;
        }
    }

    /// Stores `[from, to)`, splitting it into captured and missing parts.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        from: u64,
        to: u64,
        start: u64,
        data: &[u8],
        skip: u64,
        data_end: u64,
        packet: PacketNo,
    ) {
        if from < data_end {
            let lo = (from - start + skip) as usize;
            let hi = (to.min(data_end) - start + skip) as usize;
            if let Some(bytes) = data.get(lo..hi) {
                self.pending_bytes += bytes.len() as u64;
                self.pending.insert(
                    from,
                    Pending {
                        content: Content::Bytes(bytes.to_vec()),
                        packet,
                    },
                );
            }
        }
        let miss_from = from.max(data_end);
        if miss_from < to {
            self.pending.insert(
                miss_from,
                Pending {
                    content: Content::Missing(to - miss_from),
                    packet,
                },
            );
        }
    }

    /// Delivers held entries that are now contiguous with `offset`.
    fn drain(&mut self, sink: &mut impl PieceSink) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.offset {
                break;
            }
            let p = entry.remove();
            let len = p.content.len();
            if let Content::Bytes(b) = &p.content {
                self.pending_bytes -= b.len() as u64;
            }
            let end = start + len;
            if end <= self.offset {
                continue;
            }
            let skip = self.offset - start;
            match &p.content {
                Content::Bytes(b) => {
                    let bytes = &b[skip as usize..];
                    sink.piece(Piece::Data(bytes), p.packet, GapCause::Snaplen);
                    self.stats.bytes += bytes.len() as u64;
                }
                Content::Missing(_) => {
                    sink.piece(Piece::Gap(len - skip), p.packet, GapCause::Snaplen)
                }
            }
            self.advance(len - skip);
        }
    }

    /// Declares the first hole lost and delivers what follows it.
    fn give_up_first_hole(&mut self, cause: GapCause, sink: &mut impl PieceSink) -> bool {
        let Some((&start, p)) = self.pending.first_key_value() else {
            return false;
        };
        let packet = p.packet;
        if start > self.offset {
            let len = start - self.offset;
            self.stats.lost_bytes += len;
            sink.piece(Piece::Gap(len), packet, cause);
            self.advance(len);
        }
        self.drain(sink);
        true
    }

    /// End of the capture (or of the connection): every remaining hole is
    /// lost; everything held is delivered.
    pub fn finish(&mut self, sink: &mut impl PieceSink) {
        while self.give_up_first_hole(GapCause::Lost, sink) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Out {
        D(Vec<u8>, u64),
        G(u64),
    }

    fn run(r: &mut Reassembler, seq: u32, data: &[u8], missing: u32, pkt: u64, out: &mut Vec<Out>) {
        r.push(
            seq,
            data,
            missing,
            PacketNo(pkt),
            &mut |p: Piece<'_>, src: PacketNo, _| match p {
                Piece::Data(d) => out.push(Out::D(d.to_vec(), src.0)),
                Piece::Gap(n) => out.push(Out::G(n)),
            },
        );
    }

    fn bytes(out: &[Out]) -> Vec<u8> {
        out.iter()
            .flat_map(|o| match o {
                Out::D(d, _) => d.clone(),
                Out::G(n) => vec![b'?'; *n as usize],
            })
            .collect()
    }

    #[test]
    fn in_order_and_reordered() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(99);
        let mut out = vec![];
        run(&mut r, 100, b"abc", 0, 2, &mut out);
        run(&mut r, 106, b"ghi", 0, 3, &mut out);
        assert_eq!(bytes(&out), b"abc");
        run(&mut r, 103, b"def", 0, 4, &mut out);
        assert_eq!(bytes(&out), b"abcdefghi");
        assert_eq!(out[2], Out::D(b"ghi".to_vec(), 3));
    }

    #[test]
    fn first_copy_wins_on_overlap() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(0);
        let mut out = vec![];
        run(&mut r, 4, b"DEF", 0, 2, &mut out);
        run(&mut r, 1, b"abcdefgh", 0, 3, &mut out);
        assert_eq!(bytes(&out), b"abcDEFgh");
        run(&mut r, 1, b"zzzzzzzz", 0, 4, &mut out);
        assert_eq!(bytes(&out), b"abcDEFgh");
        assert_eq!(r.stats().retransmissions, 1);
    }

    #[test]
    fn sequence_wrap() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(u32::MAX - 2);
        let mut out = vec![];
        run(&mut r, u32::MAX - 1, b"ab", 0, 2, &mut out);
        run(&mut r, 2, b"ef", 0, 4, &mut out);
        run(&mut r, 0, b"cd", 0, 3, &mut out);
        assert_eq!(bytes(&out), b"abcdef");
    }

    #[test]
    fn snaplen_cut_is_a_gap_in_place() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(0);
        let mut out = vec![];
        run(&mut r, 1, b"head", 6, 2, &mut out);
        run(&mut r, 11, b"next", 0, 3, &mut out);
        assert_eq!(
            out,
            vec![
                Out::D(b"head".to_vec(), 2),
                Out::G(6),
                Out::D(b"next".to_vec(), 3)
            ]
        );
    }

    #[test]
    fn loss_is_declared_at_finish_and_cap() {
        let mut r = Reassembler::new(4);
        r.syn(0);
        let mut out = vec![];
        run(&mut r, 1, b"ab", 0, 2, &mut out);
        run(&mut r, 10, b"xyz", 0, 3, &mut out);
        assert_eq!(bytes(&out), b"ab");
        run(&mut r, 13, b"uv", 0, 4, &mut out);
        // cap of 4 bytes exceeded: the hole 3..10 is given up
        assert_eq!(bytes(&out), b"ab???????xyzuv");
        assert_eq!(r.stats().cap_hits, 1);
        let mut r = Reassembler::new(1 << 20);
        let mut out = vec![];
        run(&mut r, 50, b"ab", 0, 1, &mut out);
        run(&mut r, 60, b"cd", 0, 2, &mut out);
        r.finish(&mut |p: Piece<'_>, _: PacketNo, _| {
            if let Piece::Gap(n) = p {
                out.push(Out::G(n))
            } else if let Piece::Data(d) = p {
                out.push(Out::D(d.to_vec(), 0))
            }
        });
        assert_eq!(bytes(&out), b"ab????????cd");
    }

    /// Regression (fuzz crash 83ef1bb0): bytes held behind several holes
    /// must all count towards the cap, not just those behind the first.
    #[test]
    fn cap_holds_with_many_holes() {
        let mut r = Reassembler::new(16);
        r.syn(0);
        let mut out = vec![];
        for i in 0..50u32 {
            // A snaplen-cut segment (no bytes held) low in the stream, then
            // 10 bytes far ahead, each behind its own hole: giving up only
            // the first hole frees nothing and the buffer kept growing.
            run(&mut r, 100 + i * 2000, &[], 1000, 0, &mut out);
            run(&mut r, 1_000_000 + i * 20, &[b'x'; 10], 0, 0, &mut out);
            assert!(r.pending_bytes() <= 16 + 10, "{}", r.pending_bytes());
        }
    }

    /// Oracle test: any order and duplication of segments of a stream gives
    /// the stream back.
    #[test]
    fn permutations_give_the_stream() {
        let stream: Vec<u8> = (0..200u8).collect();
        let cuts = [0usize, 7, 30, 31, 90, 150, 200];
        let segs: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
        let mut seed = 12345u64;
        for _ in 0..200 {
            let mut order: Vec<(usize, usize)> = segs.clone();
            order.extend_from_slice(&segs[..2]);
            for i in (1..order.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (seed >> 33) as usize % (i + 1));
            }
            let mut r = Reassembler::new(1 << 20);
            r.syn(1000);
            let mut out = vec![];
            for (n, (a, b)) in order.iter().enumerate() {
                run(
                    &mut r,
                    1001 + *a as u32,
                    &stream[*a..*b],
                    0,
                    n as u64,
                    &mut out,
                );
            }
            assert_eq!(bytes(&out), stream);
        }
    }
}
