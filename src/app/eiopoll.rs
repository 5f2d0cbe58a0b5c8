//! Engine.IO HTTP long-polling payloads (issue 21): the bodies of
//! `GET`/`POST /socket.io/?EIO=N&transport=polling` carry several
//! Engine.IO packets each, which are decoded one by one by the same
//! Socket.IO decoder as WebSocket messages.
//!
//! Payload framing (github.com/socketio/engine.io-protocol):
//! - **v4** (§HTTP long-polling): the packets joined by the record
//!   separator `0x1e`; a binary packet is `b` + its base64.
//! - **v3** (v3 branch, §Payload): each packet framed as
//!   `<length>:<packet>`, the length counted in characters of the
//!   JavaScript string (UTF-16 code units; python-engineio counts code
//!   points, which only differs outside the BMP: the count that lands on
//!   the next frame's start is taken); a binary packet in text framing is
//!   `b<type><base64>`. Or the XHR2 binary framing: a byte 0 (string) or
//!   1 (binary), the length in bytes as one byte per decimal digit, `0xff`,
//!   the packet (a binary packet keeps its type byte, as over WebSocket).
//!
//! Sans-IO: [`PollingSession::body`] is fed each whole body (the HTTP layer
//! has removed its transfer and content codings) with its direction, packet
//! and time; an incomplete body is never decoded ([`PollingSession::cut`]).

use super::socketio::SocketIoDecoder;
use super::{
    AppDecoder, AppFinding, AppFindingKind, AppInput, AppLimits, AppOutput, AppProtocol, Correlator,
};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::ws::frame::Opcode;
use base64::Engine as _;
use std::borrow::Cow;

const P: AppProtocol = AppProtocol::SocketIo;
const SEC_V4: &str = "Engine.IO protocol v4 §HTTP long-polling";
const SEC_V3: &str = "Engine.IO protocol v3 §Payload";

/// Most decimal digits of a v3 length (the JS parser's own limit is 310
/// characters of `Number`; no body this tool keeps is longer than 2^40).
const MAX_LEN_DIGITS: usize = 12;

/// One Engine.IO packet of a payload, as a WebSocket message would carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPacket<'a> {
    /// Text or binary.
    pub opcode: Opcode,
    /// The packet (binary: decoded from base64 where the framing used it).
    pub bytes: Cow<'a, [u8]>,
}

/// Where a payload's framing broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError {
    /// The specification section.
    pub section: &'static str,
    /// What and where.
    pub detail: String,
}

/// The packets of a payload, at most `max` of them; the error says where
/// the framing broke (the packets before it are whole and returned) or that
/// more than `max` were left undecoded.
pub fn split_payload(
    eio: u8,
    body: &[u8],
    max: usize,
) -> (Vec<PollPacket<'_>>, Option<FramingError>) {
    if eio >= 4 {
        split_v4(body, max)
    } else {
        split_v3(body, max)
    }
}

fn too_many(section: &'static str, max: usize, rest: usize) -> Option<FramingError> {
    Some(FramingError {
        section,
        detail: format!(
            "more than {max} packets in one payload: the last {rest} bytes not decoded"
        ),
    })
}

fn b64(data: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(data).ok()
}

fn split_v4(body: &[u8], max: usize) -> (Vec<PollPacket<'_>>, Option<FramingError>) {
    let mut out = Vec::new();
    if body.is_empty() {
        // No packet (an empty payload), not one empty packet.
        return (out, None);
    }
    let mut at = 0usize;
    for part in body.split(|&b| b == 0x1e) {
        if out.len() >= max {
            return (out, too_many(SEC_V4, max, body.len() - at));
        }
        let offset = at;
        at += part.len() + 1;
        let packet = match part.split_first() {
            Some((b'b', data)) => match b64(data) {
                Some(bytes) => PollPacket {
                    opcode: Opcode::Binary,
                    bytes: Cow::Owned(bytes),
                },
                None => {
                    return (
                        out,
                        Some(FramingError {
                            section: SEC_V4,
                            detail: format!("binary packet at byte {offset} is not base64"),
                        }),
                    );
                }
            },
            _ => PollPacket {
                opcode: Opcode::Text,
                bytes: Cow::Borrowed(part),
            },
        };
        out.push(packet);
    }
    (out, None)
}

/// The byte length of the first `n` characters of `s` (UTF-8), counted in
/// UTF-16 code units (`utf16`) or code points; None when `s` is shorter,
/// or the count ends inside a surrogate pair.
fn char_len(s: &str, n: u64, utf16: bool) -> Option<usize> {
    let mut units = 0u64;
    for (i, c) in s.char_indices() {
        if units == n {
            return Some(i);
        }
        units += if utf16 { c.len_utf16() as u64 } else { 1 };
        if units > n {
            return None;
        }
    }
    (units == n).then_some(s.len())
}

/// Whether `rest` can start a v3 text frame (or ends the payload).
fn v3_frame_start(rest: &[u8]) -> bool {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    rest.is_empty() || (digits > 0 && rest.get(digits) == Some(&b':'))
}

fn split_v3(body: &[u8], max: usize) -> (Vec<PollPacket<'_>>, Option<FramingError>) {
    let mut out = Vec::new();
    let mut at = 0usize;
    let bad = |detail: String| {
        Some(FramingError {
            section: SEC_V3,
            detail,
        })
    };
    while at < body.len() {
        if out.len() >= max {
            return (out, too_many(SEC_V3, max, body.len() - at));
        }
        let rest = &body[at..];
        if rest[0] <= 1 {
            // XHR2 binary framing: 0|1, decimal digits as bytes, 0xff.
            let digits = rest[1..].iter().take_while(|&&d| d <= 9).count();
            if digits == 0 || digits > MAX_LEN_DIGITS || rest.get(1 + digits) != Some(&0xff) {
                return (out, bad(format!("binary frame at byte {at}: bad length")));
            }
            let len = rest[1..=digits]
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d));
            let start = 2 + digits;
            let Some(end) = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&e| e <= rest.len())
            else {
                return (
                    out,
                    bad(format!(
                        "binary frame at byte {at} announces {len} bytes; {} remain",
                        rest.len() - start
                    )),
                );
            };
            out.push(PollPacket {
                opcode: if rest[0] == 0 {
                    Opcode::Text
                } else {
                    Opcode::Binary
                },
                bytes: Cow::Borrowed(&rest[start..end]),
            });
            at += end;
            continue;
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > MAX_LEN_DIGITS || rest.get(digits) != Some(&b':') {
            return (out, bad(format!("frame at byte {at}: no <length>: prefix")));
        }
        let len: u64 = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(u64::MAX);
        let data = &rest[digits + 1..];
        // The text is UTF-8 up to its frame's end; cut the check at the
        // most bytes `len` characters can take (4 each).
        let look = data
            .len()
            .min(usize::try_from(len.saturating_mul(4)).unwrap_or(usize::MAX));
        let text = match std::str::from_utf8(&data[..look]) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or(""),
        };
        let ends = [true, false]
            .into_iter()
            .filter_map(|utf16| char_len(text, len, utf16))
            .find(|&n| v3_frame_start(&data[n..]));
        let Some(n) = ends else {
            return (
                out,
                bad(format!(
                    "frame at byte {at} announces {len} characters; the payload does not hold them"
                )),
            );
        };
        let packet = &data[..n];
        out.push(match packet.split_first() {
            // `b4AQID`: a binary packet of type 4 in base64.
            Some((b'b', enc)) if !enc.is_empty() => {
                let (ty, enc) = enc.split_at(1);
                match (ty[0].is_ascii_digit(), b64(enc)) {
                    (true, Some(mut bytes)) => {
                        bytes.insert(0, ty[0] - b'0');
                        PollPacket {
                            opcode: Opcode::Binary,
                            bytes: Cow::Owned(bytes),
                        }
                    }
                    _ => {
                        return (
                            out,
                            bad(format!("binary packet at byte {at} is not b<type><base64>")),
                        );
                    }
                }
            }
            _ => PollPacket {
                opcode: Opcode::Text,
                bytes: Cow::Borrowed(packet),
            },
        });
        at += digits + 1 + n;
    }
    (out, None)
}

/// The long-polling side of one Engine.IO session (one `sid`): the bodies
/// of its polling exchanges, in capture order, both directions, whichever
/// connection carried them (v4 clients poll on a new connection each
/// time; keep-alive clients still send while a `GET` waits, so on two).
/// Records are numbered by their packet's position among the session's
/// polling packets (`index`) and carry the session's `sid`; requests pair
/// with answers among them. An ack sent over polling and answered over the
/// WebSocket is not paired, and a request without an answer is not
/// reported unanswered (it may have been answered there).
pub struct PollingSession {
    limits: AppLimits,
    eio: u8,
    sid: Option<String>,
    decoder: SocketIoDecoder,
    correlator: Correlator,
    next: u64,
    findings: usize,
    dropped: u64,
    last: (PacketNo, Timestamp),
}

impl std::fmt::Debug for PollingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingSession")
            .field("eio", &self.eio)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl PollingSession {
    /// A session speaking Engine.IO `eio` (from the request target's `EIO=`).
    pub fn new(eio: u8, limits: AppLimits) -> Self {
        PollingSession {
            limits,
            eio,
            sid: None,
            decoder: SocketIoDecoder::new(limits, Some(eio)),
            correlator: Correlator::new(limits),
            next: 0,
            findings: 0,
            dropped: 0,
            last: (PacketNo(0), Timestamp(0)),
        }
    }

    /// The Engine.IO version.
    pub fn eio(&self) -> u8 {
        self.eio
    }

    /// Requests awaiting an answer now.
    pub fn pending(&self) -> usize {
        self.correlator.pending()
    }

    /// Payload bytes held (attachments are counted, never kept).
    pub fn held_bytes(&self) -> usize {
        self.decoder.held_bytes()
    }

    /// Decodes one whole body sent in `dir`; `packet` carried its first
    /// byte and `ts` is when it completed. Findings say where (`what`, e.g.
    /// "HTTP exchange 2 response body") instead of a message index.
    pub fn body(
        &mut self,
        dir: Direction,
        body: &[u8],
        packet: PacketNo,
        ts: Timestamp,
        what: &str,
    ) -> AppOutput {
        self.last = (packet, ts);
        let mut out = AppOutput::default();
        let max = self.limits.max_records_per_message;
        let (packets, err) = split_payload(self.eio, body, max);
        for p in &packets {
            let input = AppInput {
                dir,
                opcode: p.opcode,
                payload: &p.bytes,
                complete: true,
                index: self.next,
                first_packet: packet,
                ts,
            };
            self.next += 1;
            self.decoder.feed(&input, &mut out);
        }
        if let Some(e) = err {
            let kind = if e.detail.starts_with("more than") {
                AppFindingKind::CapReached
            } else {
                AppFindingKind::Malformed
            };
            out.findings
                .push(self.finding(kind, dir, packet, ts, Some(e.section), e.detail));
        }
        // A binary packet's record completes with its last attachment: in
        // the body's list it stands where its packet stands.
        out.records.sort_by_key(|r| r.index);
        self.correlator.observe(&mut out);
        if self.sid.is_none() {
            self.sid = out
                .records
                .iter()
                .find(|r| r.kind == "open")
                .and_then(|r| r.detail.session.clone());
        }
        for r in &mut out.records {
            if r.detail.session.is_none() {
                r.detail.session.clone_from(&self.sid);
            }
        }
        self.place(&mut out, what);
        out
    }

    /// The session's id: from the request target, or its `open` packet.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// Names the session (its requests carry `sid=`).
    pub fn set_sid(&mut self, sid: &str) {
        self.sid = Some(sid.to_owned());
    }

    /// A body that is not known whole (`why`): nothing decoded from it.
    pub fn cut(
        &mut self,
        dir: Direction,
        packet: PacketNo,
        ts: Timestamp,
        kind: AppFindingKind,
        what: &str,
        why: &str,
    ) -> AppOutput {
        self.last = (packet, ts);
        let mut out = AppOutput::default();
        out.findings
            .push(self.finding(kind, dir, packet, ts, None, format!("undecodable: {why}")));
        self.place(&mut out, what);
        out
    }

    /// The connection ended: attachments that never came, requests never
    /// answered (over polling, on this connection).
    pub fn finish(&mut self) -> AppOutput {
        let mut out = AppOutput::default();
        self.decoder.finish(&mut out);
        self.correlator.observe(&mut out);
        let (p, ts) = self.last;
        self.correlator.finish(Some(P), p, ts, &mut out);
        // The answer may have come on another connection of the same
        // Engine.IO session (v4 clients poll on a new connection each
        // time) or over its WebSocket: "no answer" is not known here.
        out.findings
            .retain(|f| f.kind != AppFindingKind::Unanswered);
        for f in &mut out.findings {
            f.detail = format!("long-polling: {}", f.detail);
            f.index = None;
        }
        self.cap(&mut out);
        if self.dropped > 0 {
            out.findings.push(self.finding(
                AppFindingKind::CapReached,
                Direction::ClientToServer,
                p,
                ts,
                None,
                format!(
                    "long-polling: {} more application findings not kept (cap {})",
                    self.dropped, self.limits.max_findings
                ),
            ));
            out.findings.last_mut().expect("pushed").dir = None;
            self.dropped = 0;
        }
        out
    }

    fn finding(
        &self,
        kind: AppFindingKind,
        dir: Direction,
        packet: PacketNo,
        ts: Timestamp,
        section: Option<&'static str>,
        detail: String,
    ) -> AppFinding {
        AppFinding {
            kind,
            protocol: P,
            dir: Some(dir),
            index: None,
            packet,
            ts,
            section,
            detail,
        }
    }

    /// Findings name the body they are about, not a WebSocket message.
    fn place(&mut self, out: &mut AppOutput, what: &str) {
        for f in &mut out.findings {
            if let Some(i) = f.index.take() {
                f.detail = format!("{what}, packet {i}: {}", f.detail);
            } else {
                f.detail = format!("{what}: {}", f.detail);
            }
        }
        self.cap(out);
    }

    fn cap(&mut self, out: &mut AppOutput) {
        let room = self.limits.max_findings.saturating_sub(self.findings);
        if out.findings.len() > room {
            self.dropped += (out.findings.len() - room) as u64;
            out.findings.truncate(room);
        }
        self.findings += out.findings.len();
    }
}

/// The Engine.IO sessions seen polling, by `sid`, shared by every
/// connection of an analysis so that a session's bodies are decoded and
/// paired in capture order whichever connection carries them. At most
/// `max` at once: the one unused longest is forgotten (its later packets
/// start a new numbering), which the caller reports.
#[derive(Debug)]
pub struct PollRegistry {
    limits: AppLimits,
    max: usize,
    clock: u64,
    sessions: std::collections::HashMap<String, (PollingSession, u64)>,
}

/// Engine.IO sessions followed at once by default.
pub const MAX_POLL_SESSIONS: usize = 256;

impl PollRegistry {
    /// An empty registry holding at most `max` sessions.
    pub fn new(limits: AppLimits, max: usize) -> Self {
        PollRegistry {
            limits,
            max: max.max(1),
            clock: 0,
            sessions: std::collections::HashMap::new(),
        }
    }

    /// The session `sid` (Engine.IO `eio`), made if new; the second value is
    /// the sid of a session forgotten to make room.
    pub fn session(&mut self, sid: &str, eio: u8) -> (&mut PollingSession, Option<String>) {
        self.clock += 1;
        let mut forgot = None;
        let fresh = self.sessions.get(sid).is_none_or(|(s, _)| s.eio != eio);
        if fresh {
            forgot = self.make_room(sid);
            let mut s = PollingSession::new(eio, self.limits);
            s.set_sid(sid);
            self.sessions.insert(sid.to_owned(), (s, 0));
        }
        let e = self.sessions.get_mut(sid).expect("inserted");
        e.1 = self.clock;
        (&mut e.0, forgot)
    }

    /// Keeps a session first seen without a sid (the handshake `GET`),
    /// once its `open` packet named it; returns the sid forgotten for it.
    pub fn adopt(&mut self, s: PollingSession) -> Option<String> {
        let sid = s.sid()?.to_owned();
        self.clock += 1;
        let forgot = self.make_room(&sid);
        self.sessions.insert(sid, (s, self.clock));
        forgot
    }

    /// Sessions followed now.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when none is followed.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn make_room(&mut self, keep: &str) -> Option<String> {
        if self.sessions.len() < self.max || self.sessions.contains_key(keep) {
            return None;
        }
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())?;
        self.sessions.remove(&oldest);
        Some(oldest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(eio: u8, body: &[u8]) -> (Vec<(Opcode, Vec<u8>)>, Option<FramingError>) {
        let (p, e) = split_payload(eio, body, 1000);
        (
            p.into_iter()
                .map(|p| (p.opcode, p.bytes.into_owned()))
                .collect(),
            e,
        )
    }

    const T: Opcode = Opcode::Text;
    const B: Opcode = Opcode::Binary;

    #[test]
    fn v4_payloads_from_the_protocol_examples() {
        // engine.io-protocol v4 README and engine.io-parser 4.0.0 changelog.
        let (p, e) = texts(
            4,
            b"4hello\x1e4\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\x1ebAQID",
        );
        assert!(e.is_none());
        assert_eq!(
            p,
            [
                (T, b"4hello".to_vec()),
                (T, "4€€€".as_bytes().to_vec()),
                (B, vec![1, 2, 3])
            ]
        );
        assert!(texts(4, b"4a\x1eb!!").1.is_some());
        assert_eq!(texts(4, b""), (vec![], None));
        assert_eq!(texts(3, b""), (vec![], None));
        assert_eq!(
            crate::app::detect::polling_eio("/socket.io/?EIO=3&transport=polling&j=0"),
            None
        );
        assert_eq!(
            crate::app::detect::polling_eio("/x/?transport=polling&EIO=4&sid=a"),
            Some(4)
        );
        assert_eq!(
            crate::app::detect::polling_eio("/socket.io/?EIO=4&transport=websocket"),
            None
        );
    }

    #[test]
    fn v3_payloads_from_the_protocol_examples() {
        // engine.io-parser 4.0.0 changelog: v3 text and XHR2 binary framing.
        let (p, e) = texts(3, "6:4hello4:4€€€".as_bytes());
        assert!(e.is_none());
        assert_eq!(
            p,
            [(T, b"4hello".to_vec()), (T, "4€€€".as_bytes().to_vec())]
        );
        let (p, e) = texts(
            3,
            &[
                0, 6, 0xff, b'4', b'h', b'e', b'l', b'l', b'o', 1, 4, 0xff, 4, 1, 2, 3,
            ],
        );
        assert!(e.is_none());
        assert_eq!(p, [(T, b"4hello".to_vec()), (B, vec![4, 1, 2, 3])]);
        // Base64 binary in text framing.
        let (p, _) = texts(3, b"6:b4AQID2:40");
        assert_eq!(p, [(B, vec![4, 1, 2, 3]), (T, b"40".to_vec())]);
        // Outside the BMP: JS counts 2 units, python 1; both read.
        let (p, e) = texts(3, "3:4😀1:6".as_bytes());
        assert!(e.is_none(), "{e:?}");
        assert_eq!(p[0].1, "4😀".as_bytes());
        let (p, e) = texts(3, "2:4😀1:6".as_bytes());
        assert!(e.is_none(), "{e:?}");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn broken_and_hostile_framing_is_bounded_and_said() {
        // A length that runs past the body; an endless length prefix; no colon.
        for body in [
            &b"9:4hi"[..],
            &b"99999999999999999999999999999999999:4"[..],
            b"4hello",
            &[0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff, b'4'],
            &[1, 5, 0xff, 4],
        ] {
            let (p, e) = texts(3, body);
            assert!(p.is_empty() && e.is_some(), "{body:?}");
        }
        let (p, e) = texts(3, b"2:405:4abc");
        assert_eq!(p.len(), 1);
        assert!(e.unwrap().detail.contains("byte 4"));
        // 100 000 packets in one body: the first `max` only, said.
        let body = b"2\x1e".repeat(100_000);
        let (p, e) = split_payload(4, &body, 1000);
        assert_eq!(p.len(), 1000);
        assert!(e.unwrap().detail.starts_with("more than 1000"));
        let body = b"1:2".repeat(100_000);
        let (p, e) = split_payload(3, &body, 1000);
        assert_eq!(p.len(), 1000);
        assert!(e.is_some());
    }

    #[test]
    fn a_polling_session_decodes_pairs_and_counts_attachments() {
        let mut s = PollingSession::new(4, AppLimits::default());
        let c = Direction::ClientToServer;
        let sv = Direction::ServerToClient;
        let o = s.body(
            sv,
            br#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000}"#,
            PacketNo(2),
            Timestamp(10),
            "x",
        );
        assert_eq!(
            (o.records[0].kind, o.records[0].detail.session.as_deref()),
            ("open", Some("abc"))
        );
        let o = s.body(
            c,
            b"40\x1e421[\"hi\",1]\x1e451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID",
            PacketNo(4),
            Timestamp(20),
            "x",
        );
        let kinds: Vec<_> = o.records.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["CONNECT", "EVENT", "BINARY_EVENT", "attachment"]);
        assert_eq!(o.records[2].detail.payload_len, Some(3));
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        let o = s.body(
            sv,
            b"40{\"sid\":\"x\"}\x1e431[true]",
            PacketNo(6),
            Timestamp(50),
            "x",
        );
        assert_eq!(o.records[0].answers, Some(1));
        assert_eq!(
            (o.records[1].answers, o.records[1].latency_ns),
            (Some(2), Some(30))
        );
        assert_eq!(o.records[1].name.as_deref(), Some("hi"));
        // A malformed body: the packets before the break are decoded.
        let o = s.body(
            c,
            b"42[\"a\"]\x1eb%%",
            PacketNo(8),
            Timestamp(60),
            "HTTP exchange 3 request body",
        );
        assert_eq!(o.records.len(), 1);
        assert_eq!(o.findings.len(), 1);
        assert!(
            o.findings[0]
                .detail
                .starts_with("HTTP exchange 3 request body: binary packet")
        );
        assert_eq!(s.finish().findings.len(), 0);
    }

    #[test]
    fn the_registry_follows_sessions_across_bodies_and_forgets_the_oldest() {
        let mut reg = PollRegistry::new(AppLimits::default(), 2);
        let mut hs = PollingSession::new(4, AppLimits::default());
        hs.body(
            Direction::ServerToClient,
            br#"0{"sid":"a"}"#,
            PacketNo(1),
            Timestamp(1),
            "x",
        );
        assert_eq!(reg.adopt(hs), None);
        let (s, f) = reg.session("a", 4);
        assert_eq!(f, None);
        let o = s.body(
            Direction::ClientToServer,
            b"421[\"x\"]",
            PacketNo(2),
            Timestamp(2),
            "x",
        );
        assert_eq!(
            (o.records[0].index, o.records[0].detail.session.as_deref()),
            (1, Some("a"))
        );
        assert_eq!(reg.session("b", 4).1, None);
        // "a" was used before "b": a third session forgets it.
        assert_eq!(reg.session("c", 4).1.as_deref(), Some("a"));
        assert_eq!(reg.len(), 2);
        let (s, _) = reg.session("b", 4);
        let o = s.body(
            Direction::ServerToClient,
            b"431[1]",
            PacketNo(3),
            Timestamp(5),
            "x",
        );
        assert_eq!(o.records[0].answers, None);
    }
}
