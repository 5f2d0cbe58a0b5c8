//! TCP connection tracking: SYN/FIN/RST per side, packet accounting, and a
//! [`Reassembler`] per direction. Knows nothing of HTTP or WebSocket.

pub mod reassembly;
pub mod seq;

pub use reassembly::{GapCause, Piece, PieceSink, Reassembler, StreamStats};

use crate::capture::{PacketNo, Timestamp};
use crate::decode::TcpSegment;
use crate::flow::Side;
use std::net::SocketAddr;

/// One TCP connection as seen in the capture.
#[derive(Debug)]
pub struct TcpConn {
    /// Endpoints; side 0 sent the first packet seen.
    pub endpoints: [SocketAddr; 2],
    streams: [Reassembler; 2],
    /// Side that sent the SYN without ACK (the client), if seen.
    pub syn_from: Option<Side>,
    /// Side that sent the SYN+ACK (the server), if seen.
    pub synack_from: Option<Side>,
    /// Initial sequence number of each side's SYN.
    pub isn: [Option<u32>; 2],
    /// FIN sent, per side.
    pub fin: [bool; 2],
    /// RST sent, per side.
    pub rst: [bool; 2],
    /// Packet of each side's first FIN / RST.
    pub fin_packet: [Option<PacketNo>; 2],
    /// Packet of each side's first RST.
    pub rst_packet: [Option<PacketNo>; 2],
    /// The side whose FIN came first.
    pub first_fin: Option<Side>,
    /// Every packet of the connection (SYNs, ACKs, retransmissions included).
    pub packets: u64,
    /// First packet.
    pub first_packet: PacketNo,
    /// Last packet so far.
    pub last_packet: PacketNo,
    /// Time of the first packet.
    pub first_ts: Timestamp,
    /// Time of the last packet so far.
    pub last_ts: Timestamp,
    /// Keep-alive ACKs sent, per side (see [`TcpConn::on_segment`]).
    pub keep_alive_acks: [u64; 2],
    /// The last segment from each side was a keep-alive probe.
    last_keep_alive: [bool; 2],
    /// Acknowledgment number of each side's last ACK.
    last_ack: [Option<u32>; 2],
}

impl TcpConn {
    /// Starts tracking with the first segment seen.
    pub fn new(seg: &TcpSegment<'_>, packet: PacketNo, ts: Timestamp, max_pending: u64) -> Self {
        TcpConn {
            endpoints: [seg.src, seg.dst],
            streams: [Reassembler::new(max_pending), Reassembler::new(max_pending)],
            syn_from: None,
            synack_from: None,
            isn: [None; 2],
            fin: [false; 2],
            rst: [false; 2],
            fin_packet: [None; 2],
            rst_packet: [None; 2],
            first_fin: None,
            packets: 0,
            first_packet: packet,
            last_packet: packet,
            first_ts: ts,
            last_ts: ts,
            keep_alive_acks: [0; 2],
            last_keep_alive: [false; 2],
            last_ack: [None; 2],
        }
    }

    /// Which side sent a segment from `src`.
    pub fn side_of(&self, src: SocketAddr) -> Side {
        if src == self.endpoints[0] {
            Side(0)
        } else {
            Side(1)
        }
    }

    /// True once either side sent FIN or RST.
    pub fn ended(&self) -> bool {
        self.fin.iter().chain(self.rst.iter()).any(|&b| b)
    }

    /// Both sides sent a FIN, or one a RST: the connection is over (late
    /// retransmissions and the last ACK may still come).
    pub fn is_closed(&self) -> bool {
        self.rst.iter().any(|&r| r) || self.fin.iter().all(|&f| f)
    }

    /// True when a SYN from `side` with `isn` starts a *new* connection on
    /// the same address pair (port reuse): the old one ended and this SYN is
    /// not a retransmission of its SYN.
    pub fn is_reuse(&self, seg: &TcpSegment<'_>) -> bool {
        if !seg.flags.syn || seg.flags.ack || !self.ended() {
            return false;
        }
        let side = self.side_of(seg.src);
        self.isn[side.idx()] != Some(seg.seq)
    }

    /// Per-direction counters.
    pub fn stream_stats(&self, side: Side) -> StreamStats {
        self.streams[side.idx()].stats()
    }

    /// Accounts for a segment and delivers the payload bytes that became
    /// contiguous to `sink` as `(side, piece, packet that first carried it)`.
    pub fn on_segment(
        &mut self,
        seg: &TcpSegment<'_>,
        packet: PacketNo,
        ts: Timestamp,
        sink: &mut impl FnMut(Side, Piece<'_>, PacketNo, GapCause),
    ) -> Side {
        let side = self.side_of(seg.src);
        self.packets += 1;
        self.last_packet = packet;
        self.last_ts = ts;
        let i = side.idx();
        if seg.flags.syn {
            if self.isn[i].is_none() {
                self.isn[i] = Some(seg.seq);
            }
            if seg.flags.ack {
                self.synack_from.get_or_insert(side);
            } else {
                self.syn_from.get_or_insert(side);
            }
            self.streams[i].syn(seg.seq);
        }
        let len = seg.payload.len() as u64 + u64::from(seg.missing);
        let plain = !(seg.flags.syn || seg.flags.fin || seg.flags.rst);
        let keep_alive = plain && self.streams[i].is_keep_alive(seg.seq, len);
        // Wireshark's `tcp.analysis.keep_alive_ack`: no payload, the next
        // sequence number, the same ACK as before, right after a probe
        // from the other side (its window condition is not checked: the
        // window is not decoded).
        if plain
            && len == 0
            && self.last_keep_alive[1 - i]
            && seg.flags.ack
            && self.last_ack[i] == Some(seg.ack)
            && self.streams[i].at_next(seg.seq)
        {
            self.keep_alive_acks[i] += 1;
        }
        self.last_keep_alive[i] = keep_alive;
        if seg.flags.ack {
            self.last_ack[i] = Some(seg.ack);
        }
        if keep_alive {
            self.streams[i].count_keep_alive();
        } else if len > 0 {
            let data_seq = if seg.flags.syn {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            self.streams[i].push(
                data_seq,
                &seg.payload,
                seg.missing,
                packet,
                &mut |p: Piece<'_>, src: PacketNo, c| sink(side, p, src, c),
            );
        }
        if seg.flags.fin && !self.fin[i] {
            self.fin[i] = true;
            self.fin_packet[i] = Some(packet);
            self.first_fin.get_or_insert(side);
        }
        if seg.flags.rst && !self.rst[i] {
            self.rst[i] = true;
            self.rst_packet[i] = Some(packet);
        }
        side
    }

    /// Memory held out of order in both directions (see
    /// [`Reassembler::buffered_cost`]).
    pub fn buffered_cost(&self) -> u64 {
        self.streams[0]
            .buffered_cost()
            .saturating_add(self.streams[1].buffered_cost())
    }

    /// Gives up one hole (the direction holding more first) to honour the
    /// cap on memory buffered across connections; false when nothing is held.
    pub fn shed(&mut self, sink: &mut impl FnMut(Side, Piece<'_>, PacketNo, GapCause)) -> bool {
        let first = usize::from(self.streams[1].buffered_cost() > self.streams[0].buffered_cost());
        for i in [first, 1 - first] {
            let side = Side(i as u8);
            if self.streams[i]
                .shed_first_hole(&mut |p: Piece<'_>, src: PacketNo, c| sink(side, p, src, c))
            {
                return true;
            }
        }
        false
    }

    /// Flushes both directions at the end of the capture.
    pub fn finish(&mut self, sink: &mut impl FnMut(Side, Piece<'_>, PacketNo, GapCause)) {
        for i in 0..2 {
            let side = Side(i as u8);
            self.streams[i].finish(&mut |p: Piece<'_>, src: PacketNo, c| sink(side, p, src, c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use std::borrow::Cow;

    const C: &str = "10.0.0.1:40000";
    const S: &str = "10.0.0.2:80";

    fn seg(from_client: bool, seq: u32, ack: u32, flags: TcpFlags, data: &[u8]) -> TcpSegment<'_> {
        let (src, dst) = if from_client { (C, S) } else { (S, C) };
        TcpSegment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack,
            flags,
            payload: Cow::Borrowed(data),
            missing: 0,
            encap: Vec::new(),
            scope: Default::default(),
        }
    }

    const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };

    /// Feeds `(from_client, seq, ack, flags, payload)` and returns the
    /// counters of the client and server sides.
    fn run(segs: &[(bool, u32, u32, TcpFlags, &[u8])]) -> (TcpConn, Vec<u8>) {
        let first = seg(segs[0].0, segs[0].1, segs[0].2, segs[0].3, segs[0].4);
        let mut conn = TcpConn::new(&first, PacketNo(1), Timestamp(0), 1 << 20);
        let mut delivered = Vec::new();
        for (i, &(c, sq, ak, f, d)) in segs.iter().enumerate() {
            conn.on_segment(
                &seg(c, sq, ak, f, d),
                PacketNo(i as u64 + 1),
                Timestamp(i as i128),
                &mut |_, p, _, _| {
                    if let Piece::Data(b) = p {
                        delivered.extend_from_slice(b);
                    }
                },
            );
        }
        (conn, delivered)
    }

    fn syn(ack: bool) -> TcpFlags {
        TcpFlags {
            syn: true,
            ack,
            fin: false,
            rst: false,
        }
    }

    /// Linux probes carry no byte, Windows probes one (its "garbage
    /// octet"): both are keep-alives, neither a retransmission, and the
    /// ACK that repeats the receiver's previous one is a keep-alive ACK.
    #[test]
    fn keep_alive_probes_of_zero_and_one_byte() {
        let (conn, data) = run(&[
            (true, 99, 0, syn(false), b""),
            (false, 499, 100, syn(true), b""),
            (true, 100, 500, ACK, b""),
            (true, 100, 500, ACK, b"hello"),
            (false, 500, 105, ACK, b""),
            // Probe: seq = next expected (105) - 1, no payload.
            (true, 104, 500, ACK, b""),
            (false, 500, 105, ACK, b""),
            // Probe with the one garbage byte.
            (true, 104, 500, ACK, b"\0"),
            (false, 500, 105, ACK, b""),
            // A real retransmission of the data.
            (true, 100, 500, ACK, b"hello"),
        ]);
        assert_eq!(data, b"hello");
        let (c, s) = (conn.stream_stats(Side(0)), conn.stream_stats(Side(1)));
        assert_eq!((c.keep_alives, c.retransmissions), (2, 1));
        assert_eq!((s.keep_alives, s.retransmissions), (0, 0));
        assert_eq!(conn.keep_alive_acks, [0, 2]);
    }

    /// Before any data the probe sits on the SYN's sequence number; a
    /// probe with SYN, FIN or RST set is not one (Wireshark's rule), and a
    /// pure ACK at the next sequence number is not a probe.
    #[test]
    fn keep_alive_edges() {
        let fin = TcpFlags { fin: true, ..ACK };
        let (conn, _) = run(&[
            (true, 99, 0, syn(false), b""),
            (false, 499, 100, syn(true), b""),
            (true, 100, 500, ACK, b""),
            (true, 99, 500, ACK, b""),
            (false, 500, 100, ACK, b""),
            (true, 100, 500, ACK, b""),
            (true, 99, 500, fin, b""),
        ]);
        assert_eq!(conn.stream_stats(Side(0)).keep_alives, 1);
        assert_eq!(conn.stream_stats(Side(1)).keep_alives, 0);
        assert_eq!(conn.keep_alive_acks, [0, 1]);
    }
}
