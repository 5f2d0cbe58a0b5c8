//! Pings a peer had to answer and did not (RFC 6455 §5.5.2).
//!
//! "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
//! response, unless it already received a Close frame." A capture shows
//! when a ping was sent, not when the peer read it, so the watcher claims a
//! violation only on evidence that the peer had read the ping: the peer
//! answered a Close frame that the pinger sent *after* the ping (TCP
//! delivers in order, so whoever read that close had read the ping), and
//! no pong came from the peer in between. A pong answers every earlier
//! ping (§5.5.3: an endpoint may answer only the most recent one), and any
//! pong counts, whatever its payload: an unsolicited pong is rare and
//! taking it for an answer can only hide a violation, never invent one.
//! Bytes lost in the peer's direction could hold the pong, so they void
//! the evidence; bytes lost in the pinger's direction do not (the close
//! still followed the ping in its stream).

use super::frame::Opcode;
use super::message::ControlFrame;
use crate::capture::PacketNo;
use crate::flow::Direction;

/// A ping of one side awaiting its pong.
#[derive(Debug, Clone, Copy)]
struct Owed {
    /// Packet that completed the earliest unanswered ping.
    packet: PacketNo,
    /// The pinger sent a Close frame after the ping.
    closed_after: bool,
}

/// Follows pings, pongs and close frames of both directions of one
/// connection, in capture order.
#[derive(Debug, Default)]
pub struct PingWatch {
    /// Per pinger, indexed by [`slot`]: its earliest unanswered ping.
    owed: [Option<Owed>; 2],
    /// Per side: it sent a Close frame (its later pings bind nobody, the
    /// peer may have read the close first).
    closed: [bool; 2],
}

/// An unanswered ping, seen at the peer's close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnansweredPing {
    /// The side that did not answer.
    pub dir: Direction,
    /// The packet of its close frame, where the violation became visible.
    pub packet: PacketNo,
    /// A sentence for people.
    pub detail: String,
}

fn slot(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

fn other(dir: Direction) -> Direction {
    match dir {
        Direction::ClientToServer => Direction::ServerToClient,
        Direction::ServerToClient => Direction::ClientToServer,
    }
}

impl PingWatch {
    /// A control frame completed; returns the violation it reveals.
    pub fn control(&mut self, c: &ControlFrame) -> Option<UnansweredPing> {
        let me = slot(c.dir);
        let peer = slot(other(c.dir));
        match c.opcode {
            Opcode::Ping if !self.closed[me] => {
                self.owed[me].get_or_insert(Owed {
                    packet: c.packet,
                    closed_after: false,
                });
            }
            Opcode::Pong => self.owed[peer] = None,
            Opcode::Close => {
                self.closed[me] = true;
                if let Some(o) = self.owed[me].as_mut() {
                    o.closed_after = true;
                }
                if let Some(o) = self.owed[peer].take()
                    && o.closed_after
                {
                    return Some(UnansweredPing {
                        dir: c.dir,
                        packet: c.packet,
                        detail: format!(
                            "no pong for the ping of packet {} although this side answered the close frame sent after it",
                            o.packet
                        ),
                    });
                }
            }
            _ => {}
        }
        None
    }

    /// Bytes sent in `dir` were not captured: a pong may have been among
    /// them.
    pub fn gap(&mut self, dir: Direction) {
        self.owed[slot(other(dir))] = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::ws::frame::FrameHeader;

    fn frame(dir: Direction, opcode: Opcode, packet: u64) -> ControlFrame {
        let b0 = 0x80 | opcode.value();
        let h = FrameHeader::parse(&[b0, 0]).unwrap();
        ControlFrame {
            dir,
            opcode,
            payload_len: 0,
            close_code: None,
            close_reason: None,
            packet: PacketNo(packet),
            ts: Timestamp::default(),
            payload: Vec::new(),
            frame: crate::ws::message::FrameInfo {
                fin: h.fin,
                rsv: 0,
                opcode,
                mask_key: None,
                payload_len: 0,
                length_format: h.length_format,
                header_packet: PacketNo(packet),
                end_packet: PacketNo(packet),
            },
        }
    }

    use Direction::{ClientToServer as C, ServerToClient as S};
    use Opcode::{Close, Ping, Pong};

    /// Feeds (dir, opcode) frames, `None` standing for a gap in `dir`;
    /// returns the packets of the violations.
    fn run(seq: &[(Direction, Option<Opcode>)]) -> Vec<(Direction, u64)> {
        let mut w = PingWatch::default();
        let mut got = Vec::new();
        for (i, (dir, op)) in seq.iter().enumerate() {
            match op {
                Some(op) => {
                    if let Some(v) = w.control(&frame(*dir, *op, i as u64 + 1)) {
                        got.push((v.dir, v.packet.0));
                    }
                }
                None => w.gap(*dir),
            }
        }
        got
    }

    #[test]
    fn unanswered_only_on_evidence() {
        // Ping, close, close reply, no pong: the server read the ping.
        assert_eq!(
            run(&[(C, Some(Ping)), (C, Some(Close)), (S, Some(Close))]),
            [(S, 3)]
        );
        // Answered.
        assert!(
            run(&[
                (C, Some(Ping)),
                (S, Some(Pong)),
                (C, Some(Close)),
                (S, Some(Close))
            ])
            .is_empty()
        );
        // A pong for a later ping answers the earlier one too (§5.5.3).
        assert!(
            run(&[
                (C, Some(Ping)),
                (C, Some(Ping)),
                (S, Some(Pong)),
                (C, Some(Close)),
                (S, Some(Close))
            ])
            .is_empty()
        );
        // The peer closed first: nothing shows it read the ping.
        assert!(run(&[(C, Some(Ping)), (S, Some(Close)), (C, Some(Close))]).is_empty());
        // A ping after the pinger's own close binds nobody.
        assert!(run(&[(C, Some(Close)), (C, Some(Ping)), (S, Some(Close))]).is_empty());
        // Bytes lost from the peer might have been the pong.
        assert!(
            run(&[
                (C, Some(Ping)),
                (S, None),
                (C, Some(Close)),
                (S, Some(Close))
            ])
            .is_empty()
        );
        // Bytes lost from the pinger do not matter.
        assert_eq!(
            run(&[
                (C, Some(Ping)),
                (C, None),
                (C, Some(Close)),
                (S, Some(Close))
            ]),
            [(S, 4)]
        );
        // Server pings are watched the same way.
        assert_eq!(
            run(&[(S, Some(Ping)), (S, Some(Close)), (C, Some(Close))]),
            [(C, 3)]
        );
    }
}
