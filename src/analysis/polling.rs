//! Engine.IO HTTP long-polling on one connection, HTTP/1.x or HTTP/2
//! (issue 21): a
//! Socket.IO session usually starts with `GET`/`POST
//! /socket.io/?EIO=4&transport=polling[&sid=…]` before it upgrades to
//! WebSocket. The exchange is taken for polling on evidence: its request
//! target says so (`transport=polling`, `EIO=3` or `4`), and its body must then
//! decode as an Engine.IO payload (what does not is a finding, and the
//! connection is named `socket.io` only once a body decoded).
//!
//! A `POST`'s request body carries the client's packets, a `GET`'s `200`
//! response body the server's (a `POST`'s response is the text `ok`, not a
//! payload). The HTTP parser keeps those bodies (bounded by
//! [`AppLimits::max_polling_body`]), the content coding is undone within
//! the same bound, and [`PollingSession`] decodes and pairs the packets.
//! Records go to the exchange (`request_app` / `response_app`) and are
//! events ([`Event::HttpApp`]); findings are [`Event::AppFinding`]s.
//!
//! Bodies are decoded and paired per Engine.IO session, across the
//! connections that carry it ([`PollRegistry`], shared by the analysis):
//! v4 clients poll on a new connection each time, and keep-alive clients
//! still send on a second connection while a `GET` waits. A body whose
//! request has no `sid=` (the handshake `GET`) starts a session, named by
//! its `open` packet.

use super::{Consumer, Event};
use crate::app::eiopoll::{PollRegistry, PollingSession};
use crate::app::{
    AppChoice, AppFindingKind, AppLimits, AppOutput, AppProtocol, DetectedBy, Detection,
};
use crate::capture::{PacketNo, Timestamp};
use crate::flow::Direction;
use crate::http::handshake::Header;
use crate::http::{BodyEnd, CapturedBody, body_codings, decode_content};
use crate::model::{Connection, HttpExchange};
use std::sync::{Arc, Mutex};

/// A body awaited for an exchange.
#[derive(Debug)]
struct Awaiting {
    exchange: usize,
    codings: Vec<String>,
    eio: u8,
    sid: Option<String>,
}

/// The polling exchanges of one connection.
#[derive(Debug)]
pub struct Polling {
    limits: AppLimits,
    choice: AppChoice,
    registry: Arc<Mutex<PollRegistry>>,
    /// Bodies being kept, by direction and stream (HTTP/1.1: stream 0;
    /// HTTP/2 interleaves streams), oldest first; at most
    /// [`MAX_AWAITING`] (more are not kept: `refused`).
    awaiting: Vec<((Direction, u32), Awaiting)>,
    /// Per direction: the exchange of the last body decoded.
    last_exchange: [Option<usize>; 2],
    /// The last body's first packet and time.
    last_body: (PacketNo, Timestamp),
    kept: usize,
    not_kept: u64,
    refused: u64,
}

/// Which body: its direction and stream (HTTP/1.1: stream 0).
pub type BodyKey = (Direction, u32);

/// HTTP/2 streams whose polling bodies are kept at once per connection
/// (browsers multiplex several Engine.IO sessions on one connection).
const MAX_AWAITING: usize = 16;

fn slot(dir: Direction) -> usize {
    usize::from(dir == Direction::ServerToClient)
}

impl Polling {
    /// Long-polling decoding for a connection, unless `--app` says
    /// otherwise (`none`, or another protocol).
    pub fn new(
        choice: AppChoice,
        limits: AppLimits,
        registry: Arc<Mutex<PollRegistry>>,
    ) -> Option<Self> {
        match choice {
            AppChoice::None => None,
            AppChoice::Forced(p) if p != AppProtocol::SocketIo => None,
            _ => Some(Polling {
                limits,
                choice,
                registry,
                awaiting: Vec::new(),
                last_exchange: [None, None],
                last_body: (PacketNo(0), Timestamp(0)),
                kept: 0,
                not_kept: 0,
                refused: 0,
            }),
        }
    }

    /// The body cap to give the HTTP parser.
    pub fn max_body(&self) -> usize {
        self.limits.max_polling_body
    }

    /// Whether the body `dir` sends on `stream` in exchange `exchange`
    /// (`x`: its method, target and, for the server's body, status) is a
    /// polling payload to decode; if so it is awaited.
    pub fn wants(
        &mut self,
        (dir, stream): BodyKey,
        exchange: usize,
        x: &HttpExchange,
        headers: &[Header],
    ) -> bool {
        let (method, target, status) = (x.method.as_str(), x.target.as_str(), x.status);
        let Some(eio) = crate::app::detect::polling_eio(target) else {
            return false;
        };
        let carries = match dir {
            Direction::ClientToServer => method == "POST",
            Direction::ServerToClient => method == "GET" && status == Some(200),
        };
        if !carries {
            return false;
        }
        self.awaiting.retain(|(k, _)| *k != (dir, stream));
        if self.awaiting.len() >= MAX_AWAITING {
            self.refused += 1;
            return false;
        }
        let a = Awaiting {
            exchange,
            codings: body_codings(headers),
            eio,
            sid: crate::app::detect::target_sid(target).map(str::to_owned),
        };
        self.awaiting.push(((dir, stream), a));
        true
    }

    /// Whether a body of `dir` on `stream` is being kept.
    pub fn awaits(&self, dir: Direction, stream: u32) -> bool {
        self.awaiting.iter().any(|(k, _)| *k == (dir, stream))
    }

    /// A kept body of `dir` ended: its packets are decoded into its
    /// exchange; `packet`/`ts` are those of its last byte.
    pub fn body(
        &mut self,
        conn: &mut Connection,
        (dir, stream): BodyKey,
        body: CapturedBody,
        last: PacketNo,
        ts: Timestamp,
        sink: &mut dyn Consumer,
    ) {
        let Some(at) = self.awaiting.iter().position(|(k, _)| *k == (dir, stream)) else {
            return;
        };
        let (_, a) = self.awaiting.remove(at);
        let what = format!(
            "HTTP exchange {} {} body",
            a.exchange,
            match dir {
                Direction::ClientToServer => "request",
                Direction::ServerToClient => "response",
            }
        );
        let first = if body.first_packet == 0 {
            last
        } else {
            PacketNo(body.first_packet)
        };
        self.last_body = (first, ts);
        let cut = |why: String, kind| (kind, why);
        let outcome = match body.end {
            BodyEnd::Complete => {
                match decode_content(&body.bytes, &a.codings, self.limits.max_polling_body) {
                    Ok(bytes) => Ok(bytes),
                    Err(crate::http::ContentError::OverCap(n)) => Err(cut(
                        format!("decoded body longer than {n} bytes (cap)"),
                        AppFindingKind::CapReached,
                    )),
                    Err(e) => Err(cut(e.to_string(), AppFindingKind::Undecodable)),
                }
            }
            BodyEnd::OverCap => Err(cut(
                format!(
                    "body of {} bytes longer than {} (cap)",
                    body.len, self.limits.max_polling_body
                ),
                AppFindingKind::CapReached,
            )),
            BodyEnd::Gap => Err(cut(
                format!("bytes not captured after {} of the body", body.len),
                AppFindingKind::Undecodable,
            )),
            BodyEnd::BadFraming => Err(cut(
                "its chunked framing is broken (RFC 9112 §7.1)".into(),
                AppFindingKind::Undecodable,
            )),
            BodyEnd::Unfinished => Err(cut(
                format!("the connection ended after {} bytes of it", body.len),
                AppFindingKind::Undecodable,
            )),
            BodyEnd::Shed => Err(cut(
                "its bytes were let go under the memory cap across connections (--max-buffered-total)"
                    .into(),
                AppFindingKind::CapReached,
            )),
        };
        let decode = |s: &mut PollingSession| match &outcome {
            Ok(bytes) => s.body(dir, bytes, first, ts, &what),
            Err((kind, why)) => s.cut(dir, first, ts, *kind, &what, why),
        };
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let (mut out, forgot) = match &a.sid {
            Some(sid) => {
                let (s, forgot) = registry.session(sid, a.eio);
                (decode(s), forgot)
            }
            None => {
                // The handshake: a new session, kept once `open` names it.
                let mut s = PollingSession::new(a.eio, self.limits);
                let out = decode(&mut s);
                (out, registry.adopt(s))
            }
        };
        drop(registry);
        if let Some(old) = forgot {
            out.findings.push(crate::model::app::AppFinding {
                kind: AppFindingKind::CapReached,
                protocol: AppProtocol::SocketIo,
                dir: None,
                index: None,
                packet: first,
                ts,
                section: None,
                detail: format!(
                    "long-polling: Engine.IO session {old} forgotten (more than {} followed at once): its later packets are numbered and paired afresh",
                    crate::app::eiopoll::MAX_POLL_SESSIONS
                ),
            });
        }
        if !out.records.is_empty() && conn.app_protocol.is_none() {
            conn.app_protocol = Some(Detection {
                protocol: AppProtocol::SocketIo,
                by: if self.choice == AppChoice::Auto {
                    DetectedBy::RequestTarget
                } else {
                    DetectedBy::Forced
                },
            });
        }
        self.emit(conn, Some((a.exchange, dir)), out, sink);
    }

    /// The connection ended.
    /// The sessions outlive the connection (their other connections may
    /// go on): only this connection's cap is said here.
    pub fn finish(&mut self, conn: &mut Connection, sink: &mut dyn Consumer) {
        let mut out = AppOutput::default();
        let (packet, ts) = self.last_body;
        let cap = |detail: String| crate::model::app::AppFinding {
            kind: AppFindingKind::CapReached,
            protocol: AppProtocol::SocketIo,
            dir: None,
            index: None,
            packet,
            ts,
            section: None,
            detail,
        };
        if self.not_kept > 0 {
            out.findings.push(cap(format!(
                "long-polling: {} more records not kept in the HTTP exchanges (cap {}); the NDJSON report has them",
                self.not_kept, self.limits.max_polling_records
            )));
            self.not_kept = 0;
        }
        if self.refused > 0 {
            out.findings.push(cap(format!(
                "long-polling: {} bodies not decoded: more than {MAX_AWAITING} in progress at once",
                self.refused
            )));
            self.refused = 0;
        }
        self.emit(conn, None, out, sink);
    }

    /// Records into their exchange (the body that completed them; at the
    /// end, a packet whose attachments never came goes to its direction's
    /// last body), then events.
    fn emit(
        &mut self,
        conn: &mut Connection,
        at: Option<(usize, Direction)>,
        out: AppOutput,
        sink: &mut dyn Consumer,
    ) {
        if let Some((i, dir)) = at {
            self.last_exchange[slot(dir)] = Some(i);
        }
        for record in out.records {
            let Some(i) = self.last_exchange[slot(record.dir)] else {
                continue;
            };
            let Some(x) = conn.http_exchanges.get_mut(i) else {
                continue;
            };
            let list = match record.dir {
                Direction::ClientToServer => &mut x.request_app,
                Direction::ServerToClient => &mut x.response_app,
            };
            if self.kept < self.limits.max_polling_records {
                self.kept += 1;
                let dir = record.dir;
                list.push(record);
                let conn = &*conn;
                let x = &conn.http_exchanges[i];
                let list = match dir {
                    Direction::ClientToServer => &x.request_app,
                    Direction::ServerToClient => &x.response_app,
                };
                if let Some(record) = list.last() {
                    let _ = sink.event(Event::HttpApp {
                        conn,
                        exchange: i,
                        record,
                    });
                }
            } else {
                self.not_kept += 1;
                let _ = sink.event(Event::HttpApp {
                    conn: &*conn,
                    exchange: i,
                    record: &record,
                });
            }
        }
        for finding in &out.findings {
            let _ = sink.event(Event::AppFinding {
                conn: &*conn,
                finding,
            });
        }
    }
}
