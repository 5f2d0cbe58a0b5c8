//! STOMP 1.0, 1.1 and 1.2 (stomp.github.io) over WebSocket.
//!
//! A frame (1.2 §Augmented BNF) is a command line, header lines, a blank
//! line, a body and a NUL; with `content-length` the body is exactly that
//! many bytes (binary-safe) and a NUL must follow. End of line is `\n` or
//! (1.2) `\r\n`; end-of-line bytes between frames are heart-beats (1.1+
//! §Heart-beating). Header values are escaped from 1.1 on (`\\` `\n` `\c`,
//! and `\r` in 1.2) except in CONNECT and CONNECTED; 1.0 has no escaping.
//! Repeated headers: the first wins (1.2 §Repeated Header Entries).
//!
//! Clients (stomp.js `splitLargeFrames`) may cut a frame across messages
//! and a message may hold several frames, so each direction is a stream
//! with a bounded buffer. Headers are scanned, not stored: only the few
//! the record needs are kept, so a header bomb costs no memory beyond the
//! buffer cap.

use super::{
    AppDecoder, AppError, AppFinding, AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol,
    AppRecord, Closing, PairKey, clip_bytes,
};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;

const P: AppProtocol = AppProtocol::Stomp;
const SEC_FRAME: &str = "STOMP 1.2 §STOMP Frames";
const SEC_ESC: &str = "STOMP 1.2 §Value Encoding";
const SEC_BNF: &str = "STOMP 1.2 §Augmented BNF";

const COMMANDS: [&str; 15] = [
    "CONNECT",
    "STOMP",
    "CONNECTED",
    "SEND",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "ACK",
    "NACK",
    "BEGIN",
    "COMMIT",
    "ABORT",
    "DISCONNECT",
    "MESSAGE",
    "RECEIPT",
    "ERROR",
];

#[derive(Debug, Clone)]
struct Start {
    index: u64,
    packet: PacketNo,
    ts: Timestamp,
    messages: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    None,
    /// Bytes of a body (and its NUL) still to skip.
    Bytes(u64),
    /// Skip up to and including the next NUL.
    ToNul,
}

#[derive(Debug)]
struct Stream {
    buf: Vec<u8>,
    skip: Skip,
    start: Option<Start>,
}

/// Decoder state for one session.
#[derive(Debug)]
pub struct StompDecoder {
    limits: AppLimits,
    /// Negotiated version (subprotocol, or CONNECTED's `version`).
    version: Option<&'static str>,
    streams: [Stream; 2],
}

fn slot(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// The headers a record uses.
#[derive(Debug, Default)]
struct Headers {
    destination: Option<String>,
    receipt: Option<String>,
    receipt_id: Option<String>,
    id: Option<String>,
    message_id: Option<String>,
    subscription: Option<String>,
    content_length: Option<Result<u64, ()>>,
    message: Option<String>,
    ack: Option<String>,
    version: Option<String>,
    accept_version: Option<String>,
    count: usize,
}

/// A frame's body as far as it is known.
struct Body<'a> {
    /// The bytes present (all of them unless truncated).
    bytes: &'a [u8],
    /// Its length, when known (content-length, or the NUL was seen).
    len: Option<u64>,
    /// Only the first bytes were kept (a cap).
    truncated: bool,
}

/// Where a frame's header block ends: (end of the command+headers text,
/// start of the body).
fn header_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\n', &b[i..]) {
        let nl = i + p;
        let rest = &b[nl + 1..];
        if rest.first() == Some(&b'\n') {
            return Some((nl, nl + 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((nl, nl + 3));
        }
        i = nl + 1;
    }
    None
}

fn is_eol_only(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&c| c == b'\n' || c == b'\r')
}

impl StompDecoder {
    /// A decoder; `version` from the subprotocol (`v12.stomp` → 1.2).
    pub fn new(limits: AppLimits, version: Option<&'static str>) -> Self {
        let s = || Stream {
            buf: Vec::new(),
            skip: Skip::None,
            start: None,
        };
        StompDecoder {
            limits,
            version,
            streams: [s(), s()],
        }
    }

    fn unescape(&self, v: &[u8], escaped: bool) -> Result<String, String> {
        if !escaped || !v.contains(&b'\\') {
            return Ok(clip_bytes(v, self.limits.max_text));
        }
        let mut o = Vec::with_capacity(v.len().min(4 * self.limits.max_text));
        let mut it = v.iter();
        while let Some(&c) = it.next() {
            if c != b'\\' {
                o.push(c);
                continue;
            }
            match it.next() {
                Some(b'n') => o.push(b'\n'),
                Some(b'c') => o.push(b':'),
                Some(b'\\') => o.push(b'\\'),
                Some(b'r') if self.version != Some("1.1") => o.push(b'\r'),
                Some(&x) => return Err(format!("undefined escape \\{}", char::from(x))),
                None => return Err("a value ends with a lone \\".into()),
            }
            if o.len() > 4 * self.limits.max_text {
                break;
            }
        }
        Ok(clip_bytes(&o, self.limits.max_text))
    }

    /// Scans the header lines; returns the command and the kept headers.
    fn head(
        &self,
        text: &[u8],
        input: &AppInput<'_>,
        out: &mut AppOutput,
    ) -> Option<(&'static str, Headers)> {
        let mut lines = text
            .split(|&c| c == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let cmd = lines.next().unwrap_or_default();
        let Some(&kind) = COMMANDS.iter().find(|c| c.as_bytes() == cmd) else {
            out.malformed(
                P,
                input,
                SEC_FRAME,
                format!(
                    "unknown command {:?}",
                    clip_bytes(cmd, self.limits.max_text)
                ),
            );
            return None;
        };
        let escaped =
            self.version != Some("1.0") && !matches!(kind, "CONNECT" | "CONNECTED" | "STOMP");
        let mut h = Headers::default();
        let mut bad_escape = None;
        for line in lines {
            h.count += 1;
            let Some(colon) = line.iter().position(|&c| c == b':') else {
                out.malformed(
                    P,
                    input,
                    SEC_BNF,
                    format!("{kind}: header line without ':'"),
                );
                continue;
            };
            let (k, v) = (&line[..colon], &line[colon + 1..]);
            let slot = match k {
                b"destination" => &mut h.destination,
                b"receipt" => &mut h.receipt,
                b"receipt-id" => &mut h.receipt_id,
                b"id" => &mut h.id,
                b"message-id" => &mut h.message_id,
                b"subscription" => &mut h.subscription,
                b"message" => &mut h.message,
                b"ack" => &mut h.ack,
                b"version" => &mut h.version,
                b"accept-version" => &mut h.accept_version,
                b"content-length" => {
                    if h.content_length.is_none() {
                        let n = std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.trim().parse::<u64>().ok());
                        h.content_length = Some(n.ok_or(()));
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                continue;
            }
            match self.unescape(v, escaped) {
                Ok(s) => *slot = Some(s),
                Err(e) => {
                    bad_escape.get_or_insert(e);
                    *slot = Some(clip_bytes(v, self.limits.max_text));
                }
            }
        }
        if let Some(e) = bad_escape
            && self.version.is_some()
        {
            out.malformed(P, input, SEC_ESC, format!("{kind}: {e}"));
        }
        if h.count > self.limits.max_items {
            out.finding(
                P,
                input,
                AppFindingKind::CapReached,
                None,
                format!(
                    "{kind} with {} headers (more than {})",
                    h.count, self.limits.max_items
                ),
            );
        }
        Some((kind, h))
    }

    fn record(
        &mut self,
        kind: &'static str,
        h: Headers,
        body: Body<'_>,
        input: &AppInput<'_>,
        out: &mut AppOutput,
    ) {
        let Body {
            bytes: body,
            len: body_len,
            truncated,
        } = body;
        let dir = input.dir;
        let st = self.streams[slot(dir)].start.take();
        let mut r = AppRecord::new(P, input, kind);
        if let Some(s) = st {
            r.messages = s.messages;
        }
        r.detail.truncated = truncated;
        r.name = h.destination;
        r.detail.payload_len = body_len;
        match kind {
            "CONNECT" | "STOMP" => {
                r.detail.version = h.accept_version;
                r.pairing.opens = Some(PairKey::fifo("connect"));
            }
            "CONNECTED" => {
                self.version = match h.version.as_deref() {
                    Some("1.0") => Some("1.0"),
                    Some("1.1") => Some("1.1"),
                    Some("1.2") => Some("1.2"),
                    _ => self.version,
                };
                r.detail.version = h.version;
                r.pairing.closes = Some((PairKey::fifo("connect"), Closing::Final));
            }
            "ERROR" => {
                let text = if body.is_empty() {
                    None
                } else {
                    Some(clip_bytes(body, self.limits.max_text))
                };
                r.error = Some(AppError {
                    code: None,
                    message: h.message.or(text),
                });
                r.pairing.closes = Some(match &h.receipt_id {
                    Some(id) => (PairKey::id("receipt", id.clone()), Closing::Final),
                    None => (PairKey::fifo("connect"), Closing::Final),
                });
                r.id = h.receipt_id;
            }
            "RECEIPT" => {
                if let Some(id) = &h.receipt_id {
                    r.pairing.closes = Some((PairKey::id("receipt", id.clone()), Closing::Final));
                }
                r.id = h.receipt_id;
            }
            "MESSAGE" => {
                // 1.2 §ACK: a MESSAGE to acknowledge carries `ack`, which the ACK or NACK repeats as `id`.
                if let Some(a) = h.ack {
                    r.pairing.opens = Some(PairKey::id("ack", a));
                }
                r.id = h.message_id;
                r.channel = h.subscription;
            }
            "ACK" | "NACK" => {
                if let Some(id) = &h.id {
                    r.pairing.closes = Some((PairKey::id("ack", id.clone()), Closing::Final));
                }
                r.id = h.id;
            }
            _ => r.id = h.id,
        }
        if let Some(rc) = h.receipt
            && dir == Direction::ClientToServer
        {
            r.pairing.opens = Some(PairKey::id("receipt", rc.clone()));
            r.id = Some(rc);
        }
        out.records.push(r);
    }

    /// Decodes every whole frame at the start of the buffer.
    fn drain(&mut self, dir: Direction, input: &AppInput<'_>, out: &mut AppOutput) {
        let s = slot(dir);
        let max = self.limits.max_buffered.max(64);
        loop {
            let st = &mut self.streams[s];
            let eols = st
                .buf
                .iter()
                .take_while(|&&c| c == b'\n' || c == b'\r')
                .count();
            if eols > 0 {
                st.buf.drain(..eols);
            }
            if st.buf.is_empty() {
                st.start = None;
                return;
            }
            let Some((hend, body_at)) = header_end(&st.buf) else {
                if st.buf.len() >= max {
                    let n = st.buf.len();
                    st.buf.clear();
                    st.skip = Skip::ToNul;
                    st.start = None;
                    out.finding(
                        P,
                        input,
                        AppFindingKind::CapReached,
                        None,
                        format!(
                            "STOMP header block longer than {n} bytes: frame skipped up to its NUL"
                        ),
                    );
                }
                return;
            };
            let buf = std::mem::take(&mut self.streams[s].buf);
            let Some((kind, h)) = self.head(&buf[..hend], input, out) else {
                let st = &mut self.streams[s];
                st.start = None;
                st.skip = Skip::ToNul;
                st.buf = buf;
                let nul = st.buf.iter().position(|&c| c == 0);
                match nul {
                    Some(p) => {
                        st.buf.drain(..=p);
                        st.skip = Skip::None;
                        continue;
                    }
                    None => {
                        st.buf.clear();
                        return;
                    }
                }
            };
            let avail = &buf[body_at..];
            // (bytes consumed, body bytes present, body length, truncated, skip)
            let (consumed, present, body_len, truncated, skip) = match h.content_length {
                Some(Ok(n)) => {
                    let need = n.saturating_add(1);
                    if (avail.len() as u64) >= need {
                        if avail[n as usize] != 0 {
                            out.malformed(
                                P,
                                input,
                                SEC_BNF,
                                format!("{kind}: no NUL after the {n} bytes of content-length"),
                            );
                        }
                        (
                            body_at + n as usize + 1,
                            n as usize,
                            Some(n),
                            false,
                            Skip::None,
                        )
                    } else if buf.len() >= max {
                        let left = need - avail.len() as u64;
                        (buf.len(), avail.len(), Some(n), true, Skip::Bytes(left))
                    } else {
                        self.streams[s].buf = buf;
                        return;
                    }
                }
                other => {
                    if other == Some(Err(())) {
                        out.malformed(
                            P,
                            input,
                            SEC_FRAME,
                            format!("{kind}: content-length is not a number"),
                        );
                    }
                    match memchr::memchr(0, avail) {
                        Some(p) => (body_at + p + 1, p, Some(p as u64), false, Skip::None),
                        // The body's length is unknown until its NUL, which is skipped to.
                        None if buf.len() >= max => {
                            (buf.len(), avail.len(), None, true, Skip::ToNul)
                        }
                        None => {
                            self.streams[s].buf = buf;
                            return;
                        }
                    }
                }
            };
            if truncated {
                out.finding(P, input, AppFindingKind::CapReached, None, format!("{kind} frame larger than {max} bytes: decoded from its headers, the body skipped"));
            }
            let body = Body {
                bytes: &avail[..present],
                len: body_len,
                truncated,
            };
            self.record(kind, h, body, input, out);
            let st = &mut self.streams[s];
            st.skip = skip;
            st.buf = buf;
            st.buf.drain(..consumed.min(st.buf.len()));
            st.start = None;
            if !st.buf.is_empty() {
                st.start = Some(Start {
                    index: input.index,
                    packet: input.first_packet,
                    ts: input.ts,
                    messages: vec![input.index],
                });
            }
            if skip != Skip::None {
                st.buf.clear();
                st.start = None;
                return;
            }
        }
    }
}

impl AppDecoder for StompDecoder {
    fn held_bytes(&self) -> usize {
        self.streams.iter().map(|x| x.buf.len()).sum()
    }

    fn feed(&mut self, input: &AppInput<'_>, out: &mut AppOutput) {
        let s = slot(input.dir);
        if !input.complete {
            let st = &mut self.streams[s];
            st.buf.clear();
            st.skip = Skip::None;
            st.start = None;
            out.incomplete(P, input);
            return;
        }
        let mut data = input.payload;
        let st = &mut self.streams[s];
        match st.skip {
            Skip::None => {}
            Skip::Bytes(n) => {
                let k = usize::try_from(n).unwrap_or(usize::MAX).min(data.len());
                data = &data[k..];
                st.skip = if n as usize == k {
                    Skip::None
                } else {
                    Skip::Bytes(n - k as u64)
                };
            }
            Skip::ToNul => match memchr::memchr(0, data) {
                Some(p) => {
                    data = &data[p + 1..];
                    st.skip = Skip::None;
                }
                None => data = &[],
            },
        }
        if st.buf.is_empty() && st.skip == Skip::None && is_eol_only(data) {
            out.records.push(AppRecord::new(P, input, "heartbeat"));
            return;
        }
        if data.is_empty() {
            return;
        }
        match &mut st.start {
            Some(start)
                if start.messages.len() < self.limits.max_items
                    && start.messages.last() != Some(&input.index) =>
            {
                start.messages.push(input.index)
            }
            Some(_) => {}
            None => {
                st.start = Some(Start {
                    index: input.index,
                    packet: input.first_packet,
                    ts: input.ts,
                    messages: vec![input.index],
                })
            }
        }
        // Append in pieces no larger than the cap, decoding as we go.
        let max = self.limits.max_buffered.max(64);
        while !data.is_empty() {
            let st = &mut self.streams[s];
            match st.skip {
                Skip::None => {}
                Skip::Bytes(n) => {
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(data.len());
                    data = &data[k..];
                    st.skip = if n as usize == k {
                        Skip::None
                    } else {
                        Skip::Bytes(n - k as u64)
                    };
                    continue;
                }
                Skip::ToNul => {
                    match memchr::memchr(0, data) {
                        Some(p) => {
                            data = &data[p + 1..];
                            st.skip = Skip::None;
                        }
                        None => data = &[],
                    }
                    continue;
                }
            }
            if st.start.is_none() {
                st.start = Some(Start {
                    index: input.index,
                    packet: input.first_packet,
                    ts: input.ts,
                    messages: vec![input.index],
                });
            }
            let room = max.saturating_sub(st.buf.len()).max(1);
            let n = room.min(data.len());
            st.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.drain(input.dir, input, out);
        }
    }

    fn finish(&mut self, out: &mut AppOutput) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let st = &mut self.streams[slot(dir)];
            if let Some(start) = st.start.take()
                && !st.buf.is_empty()
            {
                out.findings.push(AppFinding {
                    kind: AppFindingKind::Incomplete,
                    protocol: P,
                    dir: Some(dir),
                    index: Some(start.index),
                    packet: start.packet,
                    ts: start.ts,
                    section: None,
                    detail: format!(
                        "the capture ends inside a frame ({} bytes seen, no NUL)",
                        st.buf.len()
                    ),
                });
            }
            st.buf = Vec::new();
        }
    }
}
