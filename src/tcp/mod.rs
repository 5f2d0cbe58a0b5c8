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
        if !seg.payload.is_empty() || seg.missing > 0 {
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
