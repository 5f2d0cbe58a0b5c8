//! Streaming frame decoder: reassembled stream pieces → [`FrameEvent`]s.
//!
//! Payloads are never buffered whole: each piece is unmasked into a scratch
//! buffer and handed on. A gap inside a payload is passed on as
//! [`FrameEvent::PayloadGap`] (the frame length is known, so decoding stays
//! in step); a gap inside a header loses the framing, and decoding resumes
//! at the start of the next captured piece (frames usually start segments).

use super::frame::{FrameHeader, MAX_HEADER_LEN};
use super::mask::unmask;
use crate::capture::PacketNo;

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// A frame header; `packet` carried its first byte.
    Header(FrameHeader, PacketNo),
    /// Unmasked payload bytes.
    Payload(&'a [u8]),
    /// Payload bytes that were not captured.
    PayloadGap(u64),
    /// The frame's last byte was delivered.
    End,
    /// A gap hit a header: `len` bytes of framing are unknown.
    LostSync(u64),
}

#[derive(Debug)]
enum State {
    Header {
        buf: [u8; MAX_HEADER_LEN],
        n: usize,
        first: PacketNo,
    },
    Payload {
        remaining: u64,
        mask: Option<[u8; 4]>,
        phase: usize,
    },
    /// After a gap in a header: wait for the next captured piece.
    Resync,
}

/// Decodes one direction's frames.
#[derive(Debug)]
pub struct FrameDecoder {
    state: State,
    scratch: Vec<u8>,
    frames: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            state: State::Header {
                buf: [0; MAX_HEADER_LEN],
                n: 0,
                first: PacketNo(0),
            },
            scratch: Vec::new(),
            frames: 0,
        }
    }
}

impl FrameDecoder {
    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// True between frames (no partial header or payload held).
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header { n: 0, .. })
    }

    /// Feeds captured bytes that first appeared in `packet`.
    pub fn push(
        &mut self,
        mut data: &[u8],
        packet: PacketNo,
        sink: &mut impl FnMut(FrameEvent<'_>),
    ) {
        if matches!(self.state, State::Resync) {
            self.state = State::Header {
                buf: [0; MAX_HEADER_LEN],
                n: 0,
                first: packet,
            };
        }
        while !data.is_empty() {
            match &mut self.state {
                State::Header { buf, n, first } => {
                    if *n == 0 {
                        *first = packet;
                    }
                    let take = (MAX_HEADER_LEN - *n).min(data.len());
                    buf[*n..*n + take].copy_from_slice(&data[..take]);
                    let have = *n + take;
                    match FrameHeader::parse(&buf[..have]) {
                        None => {
                            *n = have;
                            data = &data[take..];
                        }
                        Some(h) => {
                            let used = usize::from(h.header_len) - *n;
                            data = &data[used..];
                            let first = *first;
                            self.frames += 1;
                            sink(FrameEvent::Header(h, first));
                            self.start_payload(h, sink);
                        }
                    }
                }
                State::Payload {
                    remaining,
                    mask,
                    phase,
                } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    let (chunk, rest) = data.split_at(take);
                    data = rest;
                    *remaining -= take as u64;
                    let done = *remaining == 0;
                    match mask {
                        Some(key) => {
                            self.scratch.clear();
                            self.scratch.extend_from_slice(chunk);
                            *phase = unmask(&mut self.scratch, *key, *phase);
                            sink(FrameEvent::Payload(&self.scratch));
                        }
                        None => sink(FrameEvent::Payload(chunk)),
                    }
                    if done {
                        self.end_frame(sink);
                    }
                }
                State::Resync => unreachable_resync(&mut self.state, packet),
            }
        }
    }

    fn start_payload(&mut self, h: FrameHeader, sink: &mut impl FnMut(FrameEvent<'_>)) {
        if h.payload_len == 0 {
            self.end_frame(sink);
        } else {
            self.state = State::Payload {
                remaining: h.payload_len,
                mask: h.mask,
                phase: 0,
            };
        }
    }

    fn end_frame(&mut self, sink: &mut impl FnMut(FrameEvent<'_>)) {
        self.state = State::Header {
            buf: [0; MAX_HEADER_LEN],
            n: 0,
            first: PacketNo(0),
        };
        sink(FrameEvent::End);
    }

    /// `len` bytes of the stream were not captured.
    pub fn gap(&mut self, mut len: u64, sink: &mut impl FnMut(FrameEvent<'_>)) {
        while len > 0 {
            match &mut self.state {
                State::Payload {
                    remaining, phase, ..
                } => {
                    let take = (*remaining).min(len);
                    *remaining -= take;
                    *phase = ((*phase as u64 + take) & 3) as usize;
                    len -= take;
                    sink(FrameEvent::PayloadGap(take));
                    if *remaining == 0 {
                        self.end_frame(sink);
                    }
                }
                State::Header { .. } | State::Resync => {
                    self.state = State::Resync;
                    sink(FrameEvent::LostSync(len));
                    return;
                }
            }
        }
    }
}

/// `Resync` is replaced by `Header` on entry to `push`, so this arm only
/// restores that invariant if it is ever reached.
fn unreachable_resync(state: &mut State, packet: PacketNo) {
    *state = State::Header {
        buf: [0; MAX_HEADER_LEN],
        n: 0,
        first: packet,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::{Opcode, length_format_for};

    fn frame(op: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: op,
            mask,
            payload_len: payload.len() as u64,
            length_format: length_format_for(payload.len() as u64),
            header_len: 0,
        };
        let mut out = h.encode();
        let mut p = payload.to_vec();
        if let Some(k) = mask {
            crate::ws::mask::unmask_reference(&mut p, k, 0);
        }
        out.extend_from_slice(&p);
        out
    }

    fn decode_split(bytes: &[u8], cut: usize) -> Vec<String> {
        let mut d = FrameDecoder::default();
        let mut ev = Vec::new();
        let mut sink = |e: FrameEvent<'_>| {
            ev.push(match e {
                FrameEvent::Header(h, _) => format!("H{}:{}", h.opcode, h.payload_len),
                FrameEvent::Payload(p) => format!("P{}", String::from_utf8_lossy(p)),
                FrameEvent::PayloadGap(n) => format!("G{n}"),
                FrameEvent::End => "E".into(),
                FrameEvent::LostSync(n) => format!("L{n}"),
            })
        };
        d.push(&bytes[..cut], PacketNo(1), &mut sink);
        d.push(&bytes[cut..], PacketNo(2), &mut sink);
        // merge adjacent payload pieces for comparison
        let mut merged: Vec<String> = Vec::new();
        for e in ev {
            if let (Some(last), true) = (merged.last_mut(), e.starts_with('P'))
                && last.starts_with('P')
            {
                last.push_str(&e[1..]);
                continue;
            }
            merged.push(e);
        }
        merged
    }

    #[test]
    fn same_events_at_every_cut() {
        let mut bytes = frame(Opcode::Text, b"hello", Some([9, 8, 7, 6]));
        bytes.extend(frame(Opcode::Ping, b"", None));
        bytes.extend(frame(Opcode::Binary, &[b'x'; 300], None));
        let whole = decode_split(&bytes, bytes.len());
        assert_eq!(whole[0..4], ["Htext:5", "Phello", "E", "Hping:0"]);
        for cut in 0..bytes.len() {
            assert_eq!(decode_split(&bytes, cut), whole, "cut at {cut}");
        }
    }

    #[test]
    fn gap_in_payload_keeps_step_gap_in_header_resyncs() {
        let a = frame(Opcode::Text, b"abcdef", None);
        let mut d = FrameDecoder::default();
        let mut ev = Vec::new();
        let mut sink = |e: FrameEvent<'_>| ev.push(format!("{e:?}"));
        d.push(&a[..4], PacketNo(1), &mut sink);
        d.gap(4, &mut sink);
        d.gap(3, &mut sink);
        d.push(&a, PacketNo(3), &mut sink);
        assert!(ev[2].starts_with("PayloadGap(4)"));
        assert_eq!(ev[3], "End");
        assert_eq!(ev[4], "LostSync(3)");
        assert!(ev[5].starts_with("Header"));
    }
}
