//! What a TCP stream carries, decided on evidence (issue 17).
//!
//! Two questions, both pure and fed only bytes:
//!
//! - [`classify`]: do a stream's first bytes open HTTP/1.x (a whole,
//!   well-formed request or status line) or TLS (a handshake record
//!   header)? Otherwise they are [`Detected::Other`], or
//!   [`Detected::NeedMore`] while they are still a prefix of a start line.
//! - [`FrameProbe`] and [`judge`]: without a handshake (a capture started
//!   after it), is the rest a WebSocket stream? Framing alone is weak
//!   evidence — a DNS-over-TCP message is a valid unmasked continuation
//!   frame, an MQTT SUBSCRIBE a valid binary frame — so the rules ask for a
//!   run of frames that tile the stream exactly, with every header field
//!   valid, and masking that tells client from server.
//!
//! The session (`analysis/session.rs`) only asks the second question when
//! neither side of the connection was seen from its first byte: a stream
//! whose SYN was captured and whose first bytes were not an upgrade is not
//! WebSocket, whatever its bytes look like.

use crate::http::{LineMatch, MAX_START_LINE, request_line, status_line};
use crate::tls::TlsConnection;
use crate::ws::frame::{FrameHeader, Opcode};
use crate::ws::utf8::Utf8Validator;

/// What the first bytes of a stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A whole HTTP/1.x request line (any method token).
    HttpRequest,
    /// A whole HTTP/1.x status line.
    HttpResponse,
    /// A TLS handshake record header.
    Tls,
    /// Still a prefix of a request or status line: more bytes decide.
    NeedMore,
    /// The HTTP/2 client connection preface (RFC 9113 §3.4).
    H2Preface,
    /// A SETTINGS frame on stream 0: perhaps the server's HTTP/2 preface,
    /// which may come before the client's.
    H2Settings,
    /// None of those.
    Other,
}

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A SETTINGS frame header (RFC 9113 §6.5): type 4, stream 0, flags 0 or
/// ACK, a length that is a multiple of 6 (at most 16 384 on a first frame).
fn looks_like_settings(p: &[u8]) -> bool {
    let Some(h) = p.get(..9) else {
        return false;
    };
    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
    h[3] == 4 && h[4] & !1 == 0 && stream == 0 && len.is_multiple_of(6) && len <= 16_384
}

/// Classifies the first bytes of one direction of a stream (at most
/// [`MAX_START_LINE`] of them are looked at).
pub fn classify(prefix: &[u8]) -> Detected {
    if prefix.is_empty() {
        return Detected::NeedMore;
    }
    let p = &prefix[..prefix.len().min(MAX_START_LINE + 2)];
    if TlsConnection::looks_like_tls(p) {
        return Detected::Tls;
    }
    if p.starts_with(H2_PREFACE) {
        return Detected::H2Preface;
    }
    if H2_PREFACE.starts_with(p) {
        return Detected::NeedMore;
    }
    if looks_like_settings(p) {
        return Detected::H2Settings;
    }
    match (request_line(p), status_line(p)) {
        (LineMatch::Yes, _) => Detected::HttpRequest,
        (_, LineMatch::Yes) => Detected::HttpResponse,
        (LineMatch::Partial, _) | (_, LineMatch::Partial) => Detected::NeedMore,
        _ => Detected::Other,
    }
}

/// Why a byte run is not a WebSocket frame sequence.
pub type NotFrames = &'static str;

/// Follows one direction's bytes as RFC 6455 frames, from an arbitrary
/// point, without keeping them: counts the frames that parse whole and
/// stops at the first thing a conforming peer would not send.
///
/// Rules beyond the frame header's own (§5.2):
/// - opcodes 0, 1, 2, 8, 9, 10 only; RSV2 and RSV3 never (no extension
///   defines them);
/// - RSV1 only on the first frame of a text or binary message (RFC 7692
///   §6: permessage-deflate is the only extension that uses it). Without
///   the handshake nobody knows whether it was negotiated, so it is
///   accepted there and nowhere else;
/// - control frames final and at most 125 bytes (§5.5), a Close body never
///   1 byte (§5.5.1), nothing after a Close;
/// - lengths in the minimal encoding; no empty non-final fragment (legal,
///   but no library sends one, and runs of zero bytes would otherwise pass);
/// - message order (§5.4): no continuation between messages, no new
///   message inside a fragmented one (the first frame may continue a
///   message begun before the capture);
/// - one masking for the whole direction (§5.3: a client masks every
///   frame, a server none);
/// - an uncompressed text message whose start was seen is UTF-8 (§8.1).
#[derive(Debug, Clone, Default)]
pub struct FrameProbe {
    hdr: [u8; 14],
    hdr_len: usize,
    /// Header of the frame whose payload is being read.
    cur: Option<FrameHeader>,
    /// Payload bytes left in the current frame.
    left: u64,
    /// Payload offset in the current frame (for the mask key).
    offset: u64,
    /// `None` until the first data frame: inside a fragmented message or not.
    in_message: Option<bool>,
    /// UTF-8 of the text message in progress, when its start was seen.
    utf8: Option<Utf8Validator>,
    closed: bool,
    /// Frames that parsed whole.
    pub frames: u32,
    /// Of those, frames with FIN set.
    pub fin_frames: u32,
    /// Masking of the frames, once one header was read.
    pub masked: Option<bool>,
    /// Set once something is not a frame; nothing more is read.
    pub failed: Option<NotFrames>,
}

impl FrameProbe {
    /// Feeds the next bytes of the direction.
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.failed.is_none() {
            if let Some(h) = self.cur {
                let n = self.left.min(data.len() as u64) as usize;
                if let Some(v) = &mut self.utf8
                    && !h.opcode.is_control()
                {
                    match h.mask {
                        Some(k) => {
                            let clear: Vec<u8> = data[..n]
                                .iter()
                                .enumerate()
                                .map(|(i, b)| b ^ k[((self.offset + i as u64) % 4) as usize])
                                .collect();
                            v.push(&clear);
                        }
                        None => v.push(&data[..n]),
                    }
                    if v.is_invalid() {
                        self.failed = Some("text payload is not UTF-8");
                        return;
                    }
                }
                self.left -= n as u64;
                self.offset += n as u64;
                data = &data[n..];
                if self.left == 0 {
                    self.frame_done(h);
                }
                continue;
            }
            let need = self.header_len_needed();
            let take = need.saturating_sub(self.hdr_len).min(data.len()).max(1);
            let take = take.min(data.len());
            self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[..take]);
            self.hdr_len += take;
            data = &data[take..];
            if let Some(h) = FrameHeader::parse(&self.hdr[..self.hdr_len]) {
                self.hdr_len = 0;
                if let Err(why) = self.check(&h) {
                    self.failed = Some(why);
                    return;
                }
                self.cur = Some(h);
                self.left = h.payload_len;
                self.offset = 0;
                if self.left == 0 {
                    self.frame_done(h);
                }
            }
        }
    }

    /// Bytes of header the buffered prefix announces (2 until known).
    fn header_len_needed(&self) -> usize {
        if self.hdr_len < 2 {
            return 2;
        }
        let b1 = self.hdr[1];
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    fn check(&mut self, h: &FrameHeader) -> Result<(), NotFrames> {
        let data = matches!(
            h.opcode,
            Opcode::Text | Opcode::Binary | Opcode::Continuation
        );
        if matches!(
            h.opcode,
            Opcode::ReservedData(_) | Opcode::ReservedControl(_)
        ) {
            return Err("reserved opcode");
        }
        if h.rsv & 0b011 != 0 {
            return Err("RSV2 or RSV3 set");
        }
        if h.rsv1() && !matches!(h.opcode, Opcode::Text | Opcode::Binary) {
            return Err("RSV1 outside the first frame of a data message");
        }
        if self.closed {
            return Err("a frame after a Close");
        }
        if h.opcode.is_control() && (!h.fin || h.payload_len > 125) {
            return Err("control frame fragmented or longer than 125 bytes");
        }
        if h.opcode == Opcode::Close && h.payload_len == 1 {
            return Err("Close body of 1 byte");
        }
        if h.length_encoding_problem().is_some() {
            return Err("length not minimally encoded");
        }
        if !h.fin && h.payload_len == 0 {
            return Err("empty non-final fragment");
        }
        let m = h.mask.is_some();
        if *self.masked.get_or_insert(m) != m {
            return Err("masking changes within one direction");
        }
        if data {
            let cont = h.opcode == Opcode::Continuation;
            match (self.in_message, cont) {
                (Some(false), true) => return Err("continuation outside a message"),
                (Some(true), false) => return Err("new message inside a fragmented one"),
                _ => {}
            }
            self.in_message = Some(!h.fin);
            if !cont {
                self.utf8 = (h.opcode == Opcode::Text && !h.rsv1()).then(Utf8Validator::default);
            }
        } else if h.opcode == Opcode::Close {
            self.closed = true;
        }
        Ok(())
    }

    fn frame_done(&mut self, h: FrameHeader) {
        self.cur = None;
        self.frames = self.frames.saturating_add(1);
        if h.fin {
            self.fin_frames = self.fin_frames.saturating_add(1);
            if !h.opcode.is_control()
                && let Some(v) = self.utf8.take()
                && !v.finish()
            {
                self.failed = Some("text message is not UTF-8");
            }
        }
    }

    /// Whole frames with a final one among them: the least that counts.
    fn candidate(&self) -> bool {
        self.failed.is_none() && self.frames >= 1 && self.fin_frames >= 1
    }
}

/// What one side of a connection without a captured handshake showed.
#[derive(Debug, Clone, Copy)]
pub enum SideEvidence<'a> {
    /// No bytes yet.
    Silent,
    /// Bytes that were not frames (the capture may have started inside a
    /// frame: not a contradiction by itself).
    NotFrames,
    /// Bytes being followed as frames.
    Probing(&'a FrameProbe),
}

/// The verdict on a connection picked up mid-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidStream {
    /// WebSocket; the side index that masks (the client).
    WebSocket {
        /// Index (0 or 1) of the client side.
        client: usize,
    },
    /// Not enough evidence yet.
    Wait,
    /// Not WebSocket (both sides frame-like with the same masking).
    No,
}

/// Frames in all when both sides show opposite masking.
pub const FRAMES_BOTH_SIDES: u32 = 3;
/// Frames when only one side shows any.
pub const FRAMES_ONE_SIDE: u32 = 4;

/// Decides on both sides' evidence; `last` when no more bytes will come
/// (end of the connection, or the probe's byte cap).
///
/// WebSocket when (a) both sides run whole frames, each with a final one,
/// one masked and the other not, [`FRAMES_BOTH_SIDES`] frames in all; or
/// (b) one side runs [`FRAMES_ONE_SIDE`] whole frames with a final one and
/// the other sent nothing frame-like against it (a server pushing to a
/// silent client). Two sides with the same masking are never WebSocket.
pub fn judge(sides: [SideEvidence<'_>; 2], last: bool) -> MidStream {
    use SideEvidence::*;
    let client_of = |i: usize, p: &FrameProbe| {
        if p.masked == Some(true) { i } else { 1 - i }
    };
    match sides {
        [Probing(a), Probing(b)]
            if a.masked.is_some() && a.masked == b.masked && a.frames > 0 && b.frames > 0 =>
        {
            MidStream::No
        }
        [Probing(a), Probing(b)] if a.candidate() && b.candidate() => {
            if a.frames + b.frames >= FRAMES_BOTH_SIDES {
                MidStream::WebSocket {
                    client: client_of(0, a),
                }
            } else if last {
                MidStream::No
            } else {
                MidStream::Wait
            }
        }
        _ => {
            for (i, s) in sides.iter().enumerate() {
                if let Probing(p) = s
                    && p.candidate()
                    && p.frames >= FRAMES_ONE_SIDE
                {
                    return MidStream::WebSocket {
                        client: client_of(i, p),
                    };
                }
            }
            // Bytes that are not frames may be the tail of a frame begun
            // before the capture: the next pieces are tried again.
            if last { MidStream::No } else { MidStream::Wait }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::encode_frame;

    #[test]
    fn classify_table() {
        let table: &[(&[u8], Detected)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Detected::HttpRequest),
            (
                b"RPC_IN_DATA /rpc/rpcproxy.dll?x:6001 HTTP/1.1\r\n",
                Detected::HttpRequest,
            ),
            (b"M-SEARCH * HTTP/1.1\r\n", Detected::HttpRequest),
            (b"PROPFIND /dav/ HTTP/1.1\n", Detected::HttpRequest),
            (
                b"CONNECT example.com:443 HTTP/1.1\r\n",
                Detected::HttpRequest,
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n",
                Detected::HttpResponse,
            ),
            (b"HTTP/1.0 200\r\n", Detected::HttpResponse),
            (b"HTTP/1.1 404 \r\n", Detected::HttpResponse),
            (b"H", Detected::NeedMore),
            (b"HEAD /x HTTP/1.", Detected::NeedMore),
            (b"HTTP/1.1 20", Detected::NeedMore),
            (b"POST /upload", Detected::NeedMore),
            (&[0x16, 3, 1, 0, 0xc4, 1], Detected::Tls),
            (b"A001 LOGIN user pass\r\n", Detected::Other),
            (b"* OK [CAPABILITY IMAP4rev1] ready\r\n", Detected::Other),
            (b"EHLO client.example\r\n", Detected::Other),
            (b"SSH-2.0-OpenSSH_9.2\r\n", Detected::Other),
            (b"+PONG\r\n", Detected::Other),
            (b"GET / HTTP/2.0\r\n", Detected::Other),
            (b"GET  / HTTP/1.1\r\n", Detected::Other),
            (b"GET /\r\n", Detected::Other),
            (b"get / HTTP/1.1 trailing\r\n", Detected::Other),
            (b"HTTP/1.1 2000 OK\r\n", Detected::Other),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Detected::H2Preface),
            (b"PRI * HTTP/2.0\r\n", Detected::NeedMore),
            (&[0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 3], Detected::H2Settings),
            (&[0, 0, 12, 4, 0, 0, 0, 0, 1, 0, 3], Detected::Other),
            (&[0x00, 0x1c, 0x12, 0x34, 0x01, 0x00], Detected::Other),
            (&[0x82, 0x0e, 0x00, 0x01], Detected::Other),
            (&[0x81, 0x80, 1, 2, 3, 4], Detected::Other),
        ];
        for (bytes, want) in table {
            assert_eq!(
                classify(bytes),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let long = [b"GET /".as_slice(), &[b'a'; MAX_START_LINE]].concat();
        assert_eq!(classify(&long), Detected::Other);
    }

    fn probe(chunks: &[&[u8]]) -> FrameProbe {
        let mut p = FrameProbe::default();
        for c in chunks {
            p.push(c);
        }
        p
    }

    fn probe_at_every_cut(bytes: &[u8]) -> FrameProbe {
        let whole = probe(&[bytes]);
        for cut in 0..bytes.len() {
            let p = probe(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(
                (p.frames, p.fin_frames, p.masked, p.failed),
                (whole.frames, whole.fin_frames, whole.masked, whole.failed),
                "cut {cut}"
            );
        }
        whole
    }

    #[test]
    fn frames_are_followed_at_every_cut() {
        let mut s = encode_frame(0x81, Some([1, 2, 3, 4]), "héllo".as_bytes());
        s.extend(encode_frame(0x89, Some([5, 6, 7, 8]), b"p"));
        s.extend(encode_frame(0x02, Some([9, 9, 9, 9]), &[0u8; 300]));
        s.extend(encode_frame(0x80, Some([7, 7, 7, 7]), &[1u8; 5]));
        let p = probe_at_every_cut(&s);
        assert_eq!(
            (p.frames, p.fin_frames, p.masked, p.failed),
            (4, 3, Some(true), None)
        );
    }

    #[test]
    fn each_rule_rejects() {
        let cases: &[(&str, Vec<u8>)] = &[
            ("reserved opcode", encode_frame(0x83, None, b"x")),
            ("RSV2", encode_frame(0xa1, None, b"x")),
            ("RSV1 on continuation", encode_frame(0xc0, None, b"x")),
            ("RSV1 on control", encode_frame(0xc9, None, b"")),
            ("long ping", encode_frame(0x89, None, &[0; 126])),
            ("fragmented ping", encode_frame(0x09, None, b"")),
            ("close of 1 byte", encode_frame(0x88, None, b"x")),
            ("empty fragment", encode_frame(0x01, None, b"")),
            ("not minimal", vec![0x82, 126, 0, 5, 1, 2, 3, 4, 5]),
            ("bad UTF-8", encode_frame(0x81, None, &[0xff, 0xfe])),
            (
                "masked then unmasked",
                [
                    encode_frame(0x82, Some([1; 4]), b"a"),
                    encode_frame(0x82, None, b"a"),
                ]
                .concat(),
            ),
            (
                "continuation after a final frame",
                [
                    encode_frame(0x82, None, b"a"),
                    encode_frame(0x80, None, b"a"),
                ]
                .concat(),
            ),
            (
                "new message inside a fragmented one",
                [
                    encode_frame(0x02, None, b"a"),
                    encode_frame(0x82, None, b"a"),
                ]
                .concat(),
            ),
            (
                "data after close",
                [
                    encode_frame(0x88, None, b""),
                    encode_frame(0x82, None, b"a"),
                ]
                .concat(),
            ),
        ];
        for (what, bytes) in cases {
            assert!(probe_at_every_cut(bytes).failed.is_some(), "{what}");
        }
        // RSV1 on a first data frame is accepted (permessage-deflate).
        assert_eq!(probe(&[&encode_frame(0xc1, None, b"x")]).failed, None);
    }

    fn probing(p: &FrameProbe) -> SideEvidence<'_> {
        SideEvidence::Probing(p)
    }

    #[test]
    fn judge_needs_opposite_masking_and_enough_frames() {
        let client = probe(&[&encode_frame(0x81, Some([1; 4]), b"a")]);
        let server = probe(&[&[
            encode_frame(0x81, None, b"b"),
            encode_frame(0x81, None, b"c"),
        ]
        .concat()]);
        assert_eq!(
            judge([probing(&client), probing(&server)], false),
            MidStream::WebSocket { client: 0 }
        );
        assert_eq!(
            judge([probing(&server), probing(&client)], false),
            MidStream::WebSocket { client: 1 }
        );
        // Two frames in all: wait, then no.
        let one = probe(&[&encode_frame(0x81, None, b"b")]);
        assert_eq!(
            judge([probing(&client), probing(&one)], false),
            MidStream::Wait
        );
        assert_eq!(
            judge([probing(&client), probing(&one)], true),
            MidStream::No
        );
        // Same masking on both sides (DNS over TCP looks like this, but
        // without FIN; here with it).
        assert_eq!(
            judge([probing(&server), probing(&server)], false),
            MidStream::No
        );
        // One side alone needs FRAMES_ONE_SIDE frames.
        let push: Vec<u8> = (0..4)
            .flat_map(|_| encode_frame(0x82, None, b"xy"))
            .collect();
        let three = probe(&[&push[..12]]);
        let four = probe(&[&push]);
        assert_eq!(
            judge([SideEvidence::Silent, probing(&three)], false),
            MidStream::Wait
        );
        assert_eq!(
            judge([SideEvidence::Silent, probing(&three)], true),
            MidStream::No
        );
        assert_eq!(
            judge([SideEvidence::Silent, probing(&four)], false),
            MidStream::WebSocket { client: 0 }
        );
        assert_eq!(
            judge([SideEvidence::NotFrames, probing(&four)], false),
            MidStream::WebSocket { client: 0 }
        );
    }

    /// DNS over TCP: each message is a 2-byte length and the message, which
    /// reads as one unmasked non-final continuation frame whose length is
    /// exact. Without a final frame it never counts.
    #[test]
    fn dns_over_tcp_is_not_websocket() {
        let q = [0x00, 0x05, 0xab, 0xcd, 0x01, 0x00, 0x00];
        let stream: Vec<u8> = q.iter().copied().cycle().take(7 * 10).collect();
        let p = probe(&[&stream]);
        assert_eq!((p.frames, p.fin_frames, p.failed), (10, 0, None));
        assert_eq!(judge([probing(&p), probing(&p)], true), MidStream::No);
        assert_eq!(
            judge([SideEvidence::Silent, probing(&p)], true),
            MidStream::No
        );
    }
}
