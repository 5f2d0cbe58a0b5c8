//! HTTP/1.1 message framing for one direction of a connection (RFC 9112):
//! header blocks parsed with httparse, bodies skipped by Content-Length or
//! chunked coding with trailers, or read until close, so that keep-alive
//! and pipelined exchanges and the upgrade request are found wherever they
//! are in the stream. A body is never buffered unless the caller asks for
//! it, per message, with [`HttpParser::capture_body`]: then its bytes
//! (de-chunked) are kept up to a cap and delivered as [`HttpEvent::Body`]
//! when its framing ends; a body longer than the cap, cut by a gap or
//! unfinished is reported as such ([`BodyEnd`]), never completed by guess.
//! [`decode_content`] undoes the content codings (RFC 9110 §8.4) within a
//! cap. The caller sets each body's framing
//! from the head ([`HttpParser::expect_body`]): HEAD, 1xx, 204 and 304
//! responses have none, and an interim 1xx is followed by the final
//! response to the same request.
//!
//! [`request_line`] and [`status_line`] say whether bytes start HTTP at
//! all: the whole start line is checked, with any method token (RFC 9110
//! §9.1), so that detection needs evidence without a list of methods.
//!
//! A header block is buffered up to a cap; a block cut by a gap (snaplen,
//! loss) is parsed leniently: the start line (or what is whole of it) and
//! every complete header line before the gap are kept and the block is
//! marked incomplete. Obsolete line folding (RFC 9112 §5.2) is replaced by
//! one SP, as a recipient may do, rather than rejected: the folded value
//! is still the sender's, and rejecting would lose the whole exchange.

pub mod handshake;

use handshake::Header;

/// A parsed request or response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request: method; response: empty.
    pub method: String,
    /// Request: target; response: empty.
    pub target: String,
    /// Response: status code.
    pub status: Option<u16>,
    /// Response: reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Vec<Header>,
    /// The whole header block was captured.
    pub complete: bool,
}

/// What [`HttpParser::push`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEvent {
    /// A header block ended; `first_packet` carried its first byte.
    Head(Head, u64),
    /// The header block exceeds the cap or is not HTTP.
    Invalid(String),
    /// The body asked for with [`HttpParser::capture_body`] ended (or can
    /// go no further).
    Body(CapturedBody),
}

/// A message body kept for the caller (RFC 9112 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedBody {
    /// The body's bytes after the transfer coding was removed (de-chunked);
    /// empty unless `end` is [`BodyEnd::Complete`] (an incomplete body is
    /// never handed on to be decoded).
    pub bytes: Vec<u8>,
    /// Body bytes seen (de-chunked), also past the cap.
    pub len: u64,
    /// How it ended.
    pub end: BodyEnd,
    /// The packet that carried its first byte (the head's when empty).
    pub first_packet: u64,
}

/// How a captured body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Its framing ended: every byte is known.
    Complete,
    /// It is longer than the cap: its bytes were not kept.
    OverCap,
    /// Bytes of it were not captured (loss, snaplen).
    Gap,
    /// Its chunked framing is broken (RFC 9112 §7.1): where it ends is not
    /// known.
    BadFraming,
    /// The stream ended before the body did.
    Unfinished,
    /// Its bytes were let go to stay under the analysis's memory cap
    /// across connections (`--max-buffered-total`).
    Shed,
}

/// The body being kept.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Capture {
    buf: Vec<u8>,
    len: u64,
    cap: usize,
    first_packet: u64,
    shed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    ChunkCrlf(u8),
    Trailer(Vec<u8>),
    UntilClose,
}

/// Parses requests (client side) or responses (server side).
#[derive(Debug)]
pub struct HttpParser {
    is_request: bool,
    buf: Vec<u8>,
    first_packet: u64,
    body: Body,
    max_header: usize,
    lost: bool,
    /// The body of the current message, when the caller asked for it.
    capture: Option<Capture>,
    /// A kept body that has just ended, for the caller.
    done: Option<CapturedBody>,
}

/// Longest request or status line looked at when deciding whether a
/// stream is HTTP (RFC 9112 §3: recipients should support request lines of
/// at least 8000 octets).
pub const MAX_START_LINE: usize = 8192;

/// Longest method token taken for HTTP: the set is open (RFC 9110 §9.1) but
/// registered and extension methods are short; a longer run of token bytes
/// is text of another protocol or a body.
pub const MAX_METHOD: usize = 64;

/// How far a byte prefix matches a start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMatch {
    /// A whole, well-formed line ends within the prefix.
    Yes,
    /// Every byte so far fits, but the line has not ended yet.
    Partial,
    /// It cannot be such a line.
    No,
}

/// RFC 9110 §5.6.2: `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bytes of a request-target (RFC 9112 §3.2): visible ASCII; raw bytes
/// above 0x7f are tolerated as many servers do.
fn is_target_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// `b` starts with `lit`, or is a strict prefix of it.
fn literal(b: &[u8], lit: &[u8]) -> LineMatch {
    let n = b.len().min(lit.len());
    if b[..n] != lit[..n] {
        LineMatch::No
    } else if n < lit.len() {
        LineMatch::Partial
    } else {
        LineMatch::Yes
    }
}

/// Matches `HTTP/1.` DIGIT at the start of `b`; returns the bytes used.
fn version(b: &[u8]) -> Result<usize, LineMatch> {
    match literal(b, b"HTTP/1.") {
        LineMatch::Yes => {}
        other => return Err(other),
    }
    match b.get(7) {
        None => Err(LineMatch::Partial),
        Some(d) if d.is_ascii_digit() => Ok(8),
        Some(_) => Err(LineMatch::No),
    }
}

/// Matches the line end (CRLF, or a bare LF as RFC 9112 §2.2 lets a
/// recipient accept) at the start of `b`.
fn line_end(b: &[u8]) -> LineMatch {
    match b {
        [] | [b'\r'] => LineMatch::Partial,
        [b'\n', ..] | [b'\r', b'\n', ..] => LineMatch::Yes,
        _ => LineMatch::No,
    }
}

/// A line must end within [`MAX_START_LINE`] bytes (the input is cut
/// there), so that the answer on a prefix never contradicts the answer on
/// more bytes.
fn bounded(m: LineMatch, len: usize) -> LineMatch {
    if m == LineMatch::Partial && len >= MAX_START_LINE {
        LineMatch::No
    } else {
        m
    }
}

/// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version
/// CRLF`, the method any token (RFC 9110 §9.1: the set is extensible, e.g.
/// `PROPFIND`, `M-SEARCH`, `RPC_IN_DATA`). The whole line is checked, not
/// the method name, so that other text protocols (`A001 LOGIN ...`,
/// `EHLO ...`) do not pass.
pub fn request_line(b: &[u8]) -> LineMatch {
    let b = &b[..b.len().min(MAX_START_LINE)];
    let m = (|| {
        let method = b.iter().take_while(|&&c| is_tchar(c)).count();
        if method > MAX_METHOD {
            return LineMatch::No;
        }
        let Some(&sp) = b.get(method) else {
            return LineMatch::Partial;
        };
        if method == 0 || sp != b' ' {
            return LineMatch::No;
        }
        let t = method + 1;
        let target = b[t..].iter().take_while(|&&c| is_target_byte(c)).count();
        let Some(&sp) = b.get(t + target) else {
            return LineMatch::Partial;
        };
        if target == 0 || sp != b' ' {
            return LineMatch::No;
        }
        let v = t + target + 1;
        match version(&b[v..]) {
            Ok(n) => line_end(&b[v + n..]),
            Err(m) => m,
        }
    })();
    bounded(m, b.len())
}

/// RFC 9112 §4: `status-line = HTTP-version SP status-code SP
/// [reason-phrase] CRLF`; a missing SP before an empty reason is tolerated.
pub fn status_line(b: &[u8]) -> LineMatch {
    let b = &b[..b.len().min(MAX_START_LINE)];
    let m = (|| {
        let v = match version(b) {
            Ok(n) => n,
            Err(m) => return m,
        };
        match b.get(v) {
            None => return LineMatch::Partial,
            Some(b' ') => {}
            Some(_) => return LineMatch::No,
        }
        for i in v + 1..v + 4 {
            match b.get(i) {
                None => return LineMatch::Partial,
                Some(d) if d.is_ascii_digit() => {}
                Some(_) => return LineMatch::No,
            }
        }
        let rest = &b[v + 4..];
        match rest.first() {
            None => LineMatch::Partial,
            Some(b' ') => {
                let reason = rest[1..]
                    .iter()
                    .take_while(|&&c| c == b'\t' || c == b' ' || is_target_byte(c))
                    .count();
                line_end(&rest[1 + reason..])
            }
            Some(_) => line_end(rest),
        }
    })();
    bounded(m, b.len())
}

/// True when `data` starts with a request line or could still become one.
pub fn looks_like_request(data: &[u8]) -> bool {
    !data.is_empty() && request_line(data) != LineMatch::No
}

/// True when `data` starts with an HTTP/1.x status line or could still
/// become one.
pub fn looks_like_response(data: &[u8]) -> bool {
    !data.is_empty() && status_line(data) != LineMatch::No
}

impl HttpParser {
    /// A parser for requests (`true`) or responses.
    pub fn new(is_request: bool, max_header: usize) -> Self {
        HttpParser {
            is_request,
            buf: Vec::new(),
            first_packet: 0,
            body: Body::None,
            max_header,
            lost: false,
            capture: None,
            done: None,
        }
    }

    /// Keeps the body whose framing [`Self::expect_body`] just set, up to
    /// `cap` bytes: it comes back as [`HttpEvent::Body`] when it ends. A
    /// message without a body gives its empty body at once.
    pub fn capture_body(&mut self, cap: usize, head_packet: u64) -> Option<CapturedBody> {
        if self.body == Body::None {
            return Some(CapturedBody {
                bytes: Vec::new(),
                len: 0,
                end: BodyEnd::Complete,
                first_packet: head_packet,
            });
        }
        self.capture = Some(Capture {
            buf: Vec::new(),
            len: 0,
            cap,
            first_packet: 0,
            shed: false,
        });
        None
    }

    /// Bytes of a kept body held now.
    pub fn kept_bytes(&self) -> usize {
        self.capture.as_ref().map_or(0, |c| c.buf.capacity())
    }

    /// Lets the kept body's bytes go (a memory cap): it ends as
    /// [`BodyEnd::Shed`], never decoded from a part.
    pub fn shed_kept(&mut self) {
        if let Some(c) = &mut self.capture {
            c.shed = true;
            c.buf = Vec::new();
        }
    }

    /// The stream ended (`fin`: by a FIN the capture saw): a body read
    /// until close is complete, any other kept body is unfinished.
    pub fn end_of_stream(&mut self, fin: bool) -> Option<HttpEvent> {
        let end = if fin && self.body == Body::UntilClose {
            BodyEnd::Complete
        } else {
            BodyEnd::Unfinished
        };
        self.body = Body::None;
        self.end_capture(end).map(HttpEvent::Body)
    }

    fn end_capture(&mut self, end: BodyEnd) -> Option<CapturedBody> {
        let c = self.capture.take()?;
        let end = if end == BodyEnd::Complete && c.len > c.cap as u64 {
            BodyEnd::OverCap
        } else if end == BodyEnd::Complete && c.shed {
            BodyEnd::Shed
        } else {
            end
        };
        Some(CapturedBody {
            bytes: if end == BodyEnd::Complete {
                c.buf
            } else {
                Vec::new()
            },
            len: c.len,
            end,
            first_packet: c.first_packet,
        })
    }

    /// Body bytes consumed: kept while within the cap.
    fn keep(&mut self, bytes: &[u8], packet: u64) {
        if let Some(c) = &mut self.capture {
            if c.len == 0 {
                c.first_packet = packet;
            }
            c.len = c.len.saturating_add(bytes.len() as u64);
            if c.len <= c.cap as u64 && !c.shed {
                c.buf.extend_from_slice(bytes);
            } else if !c.buf.is_empty() {
                // Past the cap the body is not decoded: let it go now.
                c.buf = Vec::new();
            }
        }
    }

    /// True when no header block or body is in progress.
    pub fn idle(&self) -> bool {
        self.buf.is_empty() && self.body == Body::None
    }

    /// Sets how the body after a response head is framed; `request_method`
    /// is the method of the request it answers (HEAD has no body).
    pub fn expect_body(&mut self, head: &Head, request_method: Option<&str>) {
        self.capture = None;
        let status = head.status.unwrap_or(0);
        let no_body = !self.is_request
            && ((100..200).contains(&status)
                || status == 204
                || status == 304
                || request_method == Some("HEAD"));
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; a
        // response whose last coding is not chunked is read until close.
        let te = handshake::header_value(&head.headers, "transfer-encoding");
        let last_coding = te
            .as_deref()
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim);
        let chunked = last_coding.is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        let length = content_length(&head.headers);
        self.body = if no_body {
            Body::None
        } else if chunked {
            Body::ChunkSize(Vec::new())
        } else if te.is_some() && !self.is_request {
            Body::UntilClose
        } else if let Some(n) = length {
            if n == 0 { Body::None } else { Body::Length(n) }
        } else if self.is_request {
            Body::None
        } else {
            Body::UntilClose
        };
    }

    /// Feeds bytes; returns how many were consumed and what was found. Call
    /// again with the rest while it consumes something. After a `Head`,
    /// the caller decides the body framing with [`Self::expect_body`] (or
    /// stops feeding, e.g. after a 101 response).
    pub fn push(&mut self, data: &[u8], packet: u64) -> (usize, Option<HttpEvent>) {
        if self.lost {
            if (self.is_request && looks_like_request(data))
                || (!self.is_request && looks_like_response(data))
            {
                self.lost = false;
            } else {
                return (data.len(), None);
            }
        }
        let consumed = self.skip_body(data, packet);
        if let Some(b) = self.done.take() {
            return (consumed, Some(HttpEvent::Body(b)));
        }
        if consumed > 0 || data.is_empty() {
            return (consumed, None);
        }
        if self.buf.is_empty() {
            self.first_packet = packet;
        }
        // Find the end of the header block in buf + data without copying
        // more than the header itself.
        let old = self.buf.len();
        let search_from = old.saturating_sub(3);
        self.buf.extend_from_slice(data);
        let end = find_double_crlf(&self.buf[search_from..]).map(|e| e + search_from);
        match end {
            Some(end) => {
                let head = parse_head(&self.buf[..end], self.is_request, true);
                let used = end - old;
                self.buf.clear();
                match head {
                    Some(h) => (used, Some(HttpEvent::Head(h, self.first_packet))),
                    None => {
                        self.lost = true;
                        (
                            used,
                            Some(HttpEvent::Invalid("malformed HTTP header block".into())),
                        )
                    }
                }
            }
            None if self.buf.len() > self.max_header => {
                self.buf.clear();
                self.lost = true;
                (
                    data.len(),
                    Some(HttpEvent::Invalid(format!(
                        "HTTP header block larger than {} bytes",
                        self.max_header
                    ))),
                )
            }
            None => (data.len(), None),
        }
    }

    /// `len` bytes were not captured. Returns the partial head, if a header
    /// block was in progress.
    /// A kept body in progress ends there ([`BodyEnd::Gap`]).
    pub fn gap(&mut self, len: u64) -> Option<HttpEvent> {
        let cut = self.end_capture(BodyEnd::Gap).map(HttpEvent::Body);
        match &mut self.body {
            Body::Length(n) if *n > len => {
                *n -= len;
                return cut;
            }
            Body::Length(_) => {
                self.body = Body::None;
                return cut;
            }
            Body::UntilClose => return cut,
            Body::None => {}
            _ => {
                self.body = Body::None;
                self.lost = true;
                return cut;
            }
        }
        self.lost = true;
        if self.buf.is_empty() {
            return None;
        }
        let head = parse_head(&self.buf, self.is_request, false);
        self.buf.clear();
        head.map(|h| HttpEvent::Head(h, self.first_packet))
    }

    /// Consumes body bytes (kept when asked); returns how many. A kept
    /// body that ends is left in `done`.
    fn skip_body(&mut self, data: &[u8], packet: u64) -> usize {
        let mut used = 0;
        while used < data.len() {
            let rest = &data[used..];
            match &mut self.body {
                Body::None => break,
                Body::UntilClose => {
                    self.keep(rest, packet);
                    return data.len();
                }
                Body::Length(n) => {
                    let take = (*n).min(rest.len() as u64);
                    *n -= take;
                    used += take as usize;
                    let ended = *n == 0;
                    self.keep(&rest[..take as usize], packet);
                    if ended {
                        self.body = Body::None;
                        self.done = self.end_capture(BodyEnd::Complete);
                        break;
                    }
                }
                Body::ChunkSize(line) => {
                    let pos = rest.iter().position(|&b| b == b'\n');
                    let take = pos.map(|p| p + 1).unwrap_or(rest.len());
                    if line.len() < 1024 {
                        line.extend_from_slice(&rest[..take.min(1024)]);
                    }
                    used += take;
                    if pos.is_some() {
                        let text = String::from_utf8_lossy(line);
                        let size = text
                            .trim()
                            .split(';')
                            .next()
                            .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                        self.body = match size {
                            Some(0) => Body::Trailer(Vec::new()),
                            Some(n) => Body::ChunkData(n),
                            None => {
                                self.lost = true;
                                self.done = self.end_capture(BodyEnd::BadFraming);
                                Body::None
                            }
                        };
                    }
                }
                Body::ChunkData(n) => {
                    let take = (*n).min(rest.len() as u64);
                    *n -= take;
                    used += take as usize;
                    if *n == 0 {
                        self.body = Body::ChunkCrlf(2);
                    }
                    self.keep(&rest[..take as usize], packet);
                }
                Body::ChunkCrlf(k) => {
                    *k -= 1;
                    used += 1;
                    if *k == 0 {
                        self.body = Body::ChunkSize(Vec::new());
                    }
                }
                Body::Trailer(line) => {
                    let pos = rest.iter().position(|&b| b == b'\n');
                    let take = pos.map(|p| p + 1).unwrap_or(rest.len());
                    let empty_line = pos.is_some()
                        && line
                            .iter()
                            .chain(&rest[..take])
                            .all(|&b| b == b'\r' || b == b'\n');
                    used += take;
                    if empty_line {
                        self.body = Body::None;
                        self.done = self.end_capture(BodyEnd::Complete);
                        break;
                    } else if pos.is_some() {
                        line.clear();
                    } else if line.len() < 1024 {
                        line.extend_from_slice(rest);
                    }
                }
            }
        }
        used
    }
}

/// Why a body's content codings could not be undone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// A coding this tool does not decode (`br`, `zstd`, `compress` …).
    #[error("content coding {0:?} not decoded")]
    Unknown(String),
    /// The coded bytes are corrupt or end early.
    #[error("{coding} body does not decode: {why}")]
    Corrupt {
        /// The coding.
        coding: &'static str,
        /// What the decoder said.
        why: String,
    },
    /// The decoded body is longer than the cap.
    #[error("decoded body longer than {0} bytes")]
    OverCap(usize),
}

/// The codings applied to a body, in the order they were applied: the
/// `Content-Encoding` list (RFC 9110 §8.4), then the transfer codings
/// other than `chunked` (RFC 9112 §6.1), which the parser already removed.
/// `identity` is no coding.
pub fn body_codings(headers: &[Header]) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["content-encoding", "transfer-encoding"] {
        if let Some(v) = handshake::header_value(headers, name) {
            out.extend(
                v.split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty() && c != "identity" && c != "chunked"),
            );
        }
    }
    out
}

/// Undoes `codings` (as [`body_codings`] lists them) on `body`, last
/// applied first, producing at most `cap` bytes: `gzip` / `x-gzip` (RFC
/// 1952) and `deflate` (RFC 9110 §8.4.1.2: the zlib format of RFC 1950;
/// the raw deflate some servers send instead is accepted too). Anything
/// else is [`ContentError::Unknown`]: never guessed.
pub fn decode_content(
    body: &[u8],
    codings: &[String],
    cap: usize,
) -> Result<Vec<u8>, ContentError> {
    use std::io::Read;
    let mut cur = body.to_vec();
    for coding in codings.iter().rev() {
        let read = |r: &mut dyn Read, name: &'static str| -> Result<Vec<u8>, ContentError> {
            let mut out = Vec::new();
            r.take(cap as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ContentError::Corrupt {
                    coding: name,
                    why: e.to_string(),
                })?;
            if out.len() > cap {
                return Err(ContentError::OverCap(cap));
            }
            Ok(out)
        };
        cur = match coding.as_str() {
            "gzip" | "x-gzip" => read(&mut flate2::read::MultiGzDecoder::new(&cur[..]), "gzip")?,
            "deflate" => match read(&mut flate2::read::ZlibDecoder::new(&cur[..]), "deflate") {
                Ok(v) => v,
                Err(ContentError::Corrupt { .. }) => {
                    read(&mut flate2::read::DeflateDecoder::new(&cur[..]), "deflate")?
                }
                Err(e) => return Err(e),
            },
            other => return Err(ContentError::Unknown(other.to_string())),
        };
    }
    Ok(cur)
}

/// RFC 9112 §6.3 item 5: a Content-Length that is a list of one repeated
/// value (several header lines, or `5, 5`) is that value; differing or
/// invalid values are no length.
fn content_length(headers: &[Header]) -> Option<u64> {
    let v = handshake::header_value(headers, "content-length")?;
    let mut values = v.split(',').map(|x| x.trim().parse::<u64>().ok());
    let first = values.next()??;
    values.all(|x| x == Some(first)).then_some(first)
}

fn find_double_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn to_headers(raw: &[httparse::Header<'_>]) -> Vec<Header> {
    raw.iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: String::from_utf8_lossy(h.value).into_owned(),
        })
        .collect()
}

/// Parses a header block (`complete`: it ends with the empty line).
fn parse_head(block: &[u8], is_request: bool, complete: bool) -> Option<Head> {
    if complete && let Some(h) = parse_with_httparse(block, is_request) {
        return Some(h);
    }
    parse_lenient(block, is_request, complete)
}

fn parse_with_httparse(block: &[u8], is_request: bool) -> Option<Head> {
    let mut storage = vec![httparse::EMPTY_HEADER; 128];
    if is_request {
        let mut req = httparse::Request::new(&mut storage);
        match req.parse(block).ok()? {
            httparse::Status::Complete(_) => Some(Head {
                method: req.method?.to_string(),
                target: req.path?.to_string(),
                status: None,
                reason: String::new(),
                headers: to_headers(req.headers),
                complete: true,
            }),
            httparse::Status::Partial => None,
        }
    } else {
        let mut res = httparse::Response::new(&mut storage);
        match res.parse(block).ok()? {
            httparse::Status::Complete(_) => Some(Head {
                method: String::new(),
                target: String::new(),
                status: res.code,
                reason: res.reason.unwrap_or("").to_string(),
                headers: to_headers(res.headers),
                complete: true,
            }),
            httparse::Status::Partial => None,
        }
    }
}

/// Line-by-line parse for blocks httparse rejects (non-UTF-8 values,
/// obsolete syntax) or that a gap cut short: keeps the start line and every
/// complete header line.
fn parse_lenient(block: &[u8], is_request: bool, complete: bool) -> Option<Head> {
    let text = String::from_utf8_lossy(block);
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    if !complete && !text.ends_with("\r\n") && lines.len() > 1 {
        lines.pop(); // the last header line was cut
    }
    let first = lines.first()?;
    if lines.len() == 1 && !complete && !text.ends_with("\r\n") {
        // The start line itself was cut: keep what is whole in it (the
        // method and target followed by their space, the status code).
        return cut_start(first, is_request);
    }
    let mut parts = first.splitn(3, ' ');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    let mut head = Head {
        method: String::new(),
        target: String::new(),
        status: None,
        reason: String::new(),
        headers: vec![],
        complete,
    };
    if is_request {
        if !c.starts_with("HTTP/") && complete {
            return None;
        }
        head.method = a.to_string();
        head.target = b.to_string();
    } else {
        if !a.starts_with("HTTP/") {
            return None;
        }
        head.status = Some(b.parse().ok()?);
        head.reason = c.to_string();
    }
    for line in lines.iter().skip(1).filter(|l| !l.is_empty()) {
        // RFC 9112 §5.2: obs-fold (a line starting with SP or HTAB)
        // continues the previous field value; it is replaced by one SP.
        if line.starts_with([' ', '\t']) {
            if let Some(last) = head.headers.last_mut() {
                let more = line.trim();
                if !more.is_empty() {
                    last.value.push(' ');
                    last.value.push_str(more);
                }
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            head.headers.push(Header {
                name: name.trim().to_string(),
                value: value.trim().to_string(),
            });
        }
    }
    Some(head)
}

/// What a start line cut short still says.
fn cut_start(line: &str, is_request: bool) -> Option<Head> {
    let mut parts = line.split(' ');
    let (a, b) = (parts.next()?, parts.next()?);
    let mut head = Head {
        method: String::new(),
        target: String::new(),
        status: None,
        reason: String::new(),
        headers: vec![],
        complete: false,
    };
    if is_request {
        // The target is whole only if the space after it was captured.
        parts.next()?;
        head.method = a.to_string();
        head.target = b.to_string();
    } else {
        if !a.starts_with("HTTP/") || b.len() != 3 {
            return None;
        }
        head.status = Some(b.parse().ok()?);
    }
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(p: &mut HttpParser, data: &[u8]) -> Vec<HttpEvent> {
        let mut out = vec![];
        let mut rest = data;
        while !rest.is_empty() {
            let (used, ev) = p.push(rest, 1);
            if let Some(HttpEvent::Head(h, pk)) = ev {
                p.expect_body(&h, Some("GET"));
                out.push(HttpEvent::Head(h, pk));
            } else if let Some(e) = ev {
                out.push(e);
            }
            if used == 0 {
                break;
            }
            rest = &rest[used..];
        }
        out
    }

    #[test]
    fn keep_alive_responses_with_bodies_at_every_cut() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        for cut in 0..data.len() {
            let mut p = HttpParser::new(false, 1 << 16);
            let mut ev = feed_all(&mut p, &data[..cut]);
            ev.extend(feed_all(&mut p, &data[cut..]));
            let statuses: Vec<u16> = ev
                .iter()
                .filter_map(|e| {
                    if let HttpEvent::Head(h, _) = e {
                        h.status
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(statuses, [200, 200, 404], "cut {cut}");
        }
    }

    /// Feeds `data` (requests or responses answering GET), asking for
    /// every body with `cap`; returns each head's status or target and its
    /// body.
    fn bodies(p: &mut HttpParser, data: &[u8], cap: usize, out: &mut Vec<CapturedBody>) {
        let mut rest = data;
        while !rest.is_empty() {
            let (used, ev) = p.push(rest, 7);
            match ev {
                Some(HttpEvent::Head(h, pk)) => {
                    p.expect_body(&h, Some("GET"));
                    out.extend(p.capture_body(cap, pk));
                }
                Some(HttpEvent::Body(b)) => out.push(b),
                _ => {}
            }
            if used == 0 {
                break;
            }
            rest = &rest[used..];
        }
    }

    const BODIES: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil close";

    #[test]
    fn bodies_are_kept_when_asked_at_every_cut() {
        let whole = {
            let mut p = HttpParser::new(false, 1 << 16);
            let mut out = vec![];
            bodies(&mut p, BODIES, 1 << 10, &mut out);
            out.extend(p.end_of_stream(true).into_iter().filter_map(|e| match e {
                HttpEvent::Body(b) => Some(b),
                _ => None,
            }));
            out
        };
        let texts: Vec<_> = whole.iter().map(|b| (b.bytes.as_slice(), b.end)).collect();
        assert_eq!(
            texts,
            [
                (&b"hello"[..], BodyEnd::Complete),
                (b"abc0123456789abcdef", BodyEnd::Complete),
                (b"", BodyEnd::Complete),
                (b"", BodyEnd::Complete),
                (b"until close", BodyEnd::Complete),
            ]
        );
        for cut in 0..BODIES.len() {
            for cut2 in [
                cut,
                (cut + 1).min(BODIES.len()),
                (cut + 7).min(BODIES.len()),
            ] {
                let mut p = HttpParser::new(false, 1 << 16);
                let mut out = vec![];
                bodies(&mut p, &BODIES[..cut], 1 << 10, &mut out);
                bodies(&mut p, &BODIES[cut..cut2], 1 << 10, &mut out);
                bodies(&mut p, &BODIES[cut2..], 1 << 10, &mut out);
                if let Some(HttpEvent::Body(b)) = p.end_of_stream(true) {
                    out.push(b);
                }
                let got: Vec<_> = out.iter().map(|b| (b.bytes.as_slice(), b.end)).collect();
                assert_eq!(got, texts, "cut {cut}..{cut2}");
            }
        }
        // Without a FIN, the body read until close is not known whole.
        let mut p = HttpParser::new(false, 1 << 16);
        bodies(&mut p, BODIES, 1 << 10, &mut vec![]);
        let Some(HttpEvent::Body(b)) = p.end_of_stream(false) else {
            panic!()
        };
        assert_eq!((b.end, b.len, b.bytes.len()), (BodyEnd::Unfinished, 11, 0));
    }

    #[test]
    fn a_body_past_the_cap_is_cut_not_kept() {
        let mut p = HttpParser::new(false, 1 << 16);
        let mut out = vec![];
        bodies(&mut p, BODIES, 4, &mut out);
        let ends: Vec<_> = out.iter().map(|b| (b.end, b.len, b.bytes.len())).collect();
        assert_eq!(
            ends,
            [
                (BodyEnd::OverCap, 5, 0),
                (BodyEnd::OverCap, 19, 0),
                (BodyEnd::Complete, 0, 0),
                (BodyEnd::Complete, 0, 0),
            ]
        );
        // A body that claims 1 GiB: skipped, never held, reported at its end.
        let mut p = HttpParser::new(true, 1 << 16);
        let mut out = vec![];
        let head = b"POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n";
        bodies(&mut p, head, 1 << 20, &mut out);
        let chunk = vec![b'4'; 1 << 20];
        for _ in 0..1024 {
            bodies(&mut p, &chunk, 1 << 20, &mut out);
            assert!(
                p.capture
                    .as_ref()
                    .is_none_or(|c| c.buf.capacity() <= 2 << 20)
            );
        }
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].end, out[0].len), (BodyEnd::OverCap, 1 << 30));
    }

    #[test]
    fn cut_and_broken_bodies_are_said() {
        // A gap inside a kept body.
        let mut p = HttpParser::new(false, 1 << 16);
        let mut out = vec![];
        bodies(
            &mut p,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            64,
            &mut out,
        );
        let Some(HttpEvent::Body(b)) = p.gap(3) else {
            panic!()
        };
        assert_eq!((b.end, b.len), (BodyEnd::Gap, 3));
        // The rest of the body is skipped, the next response parsed.
        bodies(
            &mut p,
            b"defgHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            64,
            &mut out,
        );
        assert_eq!(out.last().map(|b| b.bytes.clone()), Some(b"x".to_vec()));
        // A chunk size that overflows 64 bits, and one that is not hex.
        for bad in [&b"fffffffffffffffff0"[..], b"zz"] {
            let mut p = HttpParser::new(false, 1 << 16);
            let mut out = vec![];
            let mut data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            data.extend_from_slice(bad);
            data.extend_from_slice(b"\r\nabc");
            bodies(&mut p, &data, 64, &mut out);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].end, BodyEnd::BadFraming);
        }
        // A chunk-size line that never ends is consumed, not held.
        let mut p = HttpParser::new(false, 1 << 16);
        bodies(
            &mut p,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            64,
            &mut vec![],
        );
        for _ in 0..100 {
            bodies(&mut p, &[b'0'; 4096], 64, &mut vec![]);
        }
        assert!(matches!(&p.body, Body::ChunkSize(l) if l.len() <= 2048));
    }

    #[test]
    fn a_shed_body_is_said_not_decoded() {
        let mut p = HttpParser::new(false, 1 << 16);
        let mut out = vec![];
        bodies(
            &mut p,
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc",
            64,
            &mut out,
        );
        assert!(p.kept_bytes() >= 3);
        p.shed_kept();
        assert_eq!(p.kept_bytes(), 0);
        bodies(&mut p, b"def", 64, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].end, out[0].len, out[0].bytes.len()),
            (BodyEnd::Shed, 6, 0)
        );
    }

    #[test]
    fn content_codings_are_undone_within_the_cap() {
        use flate2::Compression;
        use std::io::Write;
        let text = b"4hello\x1e2probe".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        zl.write_all(&text).unwrap();
        let zl = zl.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&text).unwrap();
        let raw = raw.finish().unwrap();
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(decode_content(&gz, &c(&["gzip"]), 1 << 20).unwrap(), text);
        assert_eq!(
            decode_content(&zl, &c(&["deflate"]), 1 << 20).unwrap(),
            text
        );
        assert_eq!(
            decode_content(&raw, &c(&["deflate"]), 1 << 20).unwrap(),
            text
        );
        assert_eq!(decode_content(&text, &[], 1 << 20).unwrap(), text);
        assert_eq!(
            decode_content(&gz, &c(&["gzip"]), 100),
            Err(ContentError::OverCap(100))
        );
        assert!(matches!(
            decode_content(&gz[..gz.len() / 2], &c(&["gzip"]), 1 << 20),
            Err(ContentError::Corrupt { .. })
        ));
        assert_eq!(
            decode_content(&gz, &c(&["br"]), 1 << 20),
            Err(ContentError::Unknown("br".into()))
        );
        // A gzip bomb stops at the cap.
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
        bomb.write_all(&vec![0u8; 64 << 20]).unwrap();
        let bomb = bomb.finish().unwrap();
        assert_eq!(
            decode_content(&bomb, &c(&["gzip"]), 1 << 20),
            Err(ContentError::OverCap(1 << 20))
        );
        let h = |n: &str, v: &str| Header {
            name: n.into(),
            value: v.into(),
        };
        assert_eq!(
            body_codings(&[
                h("Content-Encoding", "gzip"),
                h("Transfer-Encoding", "deflate, chunked")
            ]),
            ["gzip", "deflate"]
        );
    }

    #[test]
    fn gap_gives_partial_head() {
        let mut p = HttpParser::new(true, 1 << 16);
        assert_eq!(p.push(b"GET /trunc HTTP/1.1\r\nHost: 127.0.0", 4).1, None);
        let Some(HttpEvent::Head(h, 4)) = p.gap(200) else {
            panic!()
        };
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.complete),
            ("GET", "/trunc", false)
        );
        assert!(h.headers.is_empty());
    }

    #[test]
    fn oversized_header_is_reported() {
        let mut p = HttpParser::new(true, 64);
        let (_, ev) = p.push(&[b'G', b'E', b'T', b' '].repeat(40), 1);
        assert!(matches!(ev, Some(HttpEvent::Invalid(_))));
    }
    fn heads(p: &mut HttpParser, data: &[u8], method: &str) -> Vec<Head> {
        let mut out = vec![];
        let mut rest = data;
        while !rest.is_empty() {
            let (used, ev) = p.push(rest, 1);
            if let Some(HttpEvent::Head(h, _)) = ev {
                p.expect_body(&h, Some(method));
                out.push(h);
            }
            if used == 0 {
                break;
            }
            rest = &rest[used..];
        }
        out
    }

    /// Every split of `data` in two gives the same heads.
    fn heads_at_every_cut(is_request: bool, data: &[u8], method: &str) -> Vec<Head> {
        let whole = heads(&mut HttpParser::new(is_request, 1 << 16), data, method);
        for cut in 0..data.len() {
            let mut p = HttpParser::new(is_request, 1 << 16);
            let mut h = heads(&mut p, &data[..cut], method);
            h.extend(heads(&mut p, &data[cut..], method));
            assert_eq!(h, whole, "cut {cut}");
        }
        whole
    }

    #[test]
    fn pipelined_requests_with_bodies_and_any_method() {
        let data = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /PROPFIND /dav/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;ext=1\r\nGET \r\n0\r\nX-Trailer: 1\r\n\r\nRPC_IN_DATA /rpc HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nokM-SEARCH * HTTP/1.1\r\n\r\n";
        let got: Vec<_> = heads_at_every_cut(true, data, "GET")
            .into_iter()
            .map(|h| (h.method, h.target))
            .collect();
        let want = [
            ("POST", "/a"),
            ("PROPFIND", "/dav/"),
            ("RPC_IN_DATA", "/rpc"),
            ("M-SEARCH", "*"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((m, t), (wm, wt)) in got.iter().zip(want) {
            assert_eq!((m.as_str(), t.as_str()), (wm, wt));
        }
    }

    #[test]
    fn interim_responses_and_bodiless_responses() {
        let data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        let statuses: Vec<_> = heads_at_every_cut(false, data, "GET")
            .iter()
            .map(|h| h.status.unwrap())
            .collect();
        // The response not chunked-last runs until close: the last
        // "response" is its body.
        assert_eq!(statuses, [100, 204, 103, 304, 200, 200]);
    }

    #[test]
    fn head_response_has_no_body() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let statuses: Vec<_> = heads_at_every_cut(false, data, "HEAD")
            .iter()
            .map(|h| h.status.unwrap())
            .collect();
        assert_eq!(statuses, [200, 404]);
    }

    #[test]
    fn a_huge_body_is_skipped_not_buffered() {
        let mut p = HttpParser::new(true, 1 << 16);
        let head = b"RPC_IN_DATA /rpc/rpcproxy.dll HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n";
        assert_eq!(heads(&mut p, head, "GET").len(), 1);
        let chunk = vec![b'G'; 64 << 10];
        for _ in 0..64 {
            assert!(heads(&mut p, &chunk, "GET").is_empty());
        }
        assert!(p.buf.capacity() < 1 << 16, "{}", p.buf.capacity());
        assert_eq!(p.body, Body::Length((1 << 30) - (64 << 16)));
    }

    #[test]
    fn obs_fold_is_replaced_by_a_space() {
        let data = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Long: a\r\n \tb\r\nConnection: keep-alive,\r\n Upgrade\r\n\r\n";
        let h = heads_at_every_cut(false, data, "GET").remove(0);
        assert_eq!(
            handshake::header_value(&h.headers, "x-long").as_deref(),
            Some("a b")
        );
        assert!(handshake::has_token(&h.headers, "connection", "upgrade"));
        assert_eq!(h.headers.len(), 3);
    }

    #[test]
    fn start_lines_are_checked_whole() {
        assert_eq!(
            request_line(b"RPC_OUT_DATA /x HTTP/1.1\r\n"),
            LineMatch::Yes
        );
        assert_eq!(request_line(b"RPC_OUT_DATA /x HTTP/1"), LineMatch::Partial);
        assert_eq!(request_line(b"A001 LOGIN a b\r\n"), LineMatch::No);
        assert_eq!(request_line(&[b'A'; MAX_METHOD + 1]), LineMatch::No);
        assert_eq!(request_line(b"GET /\x00 HTTP/1.1\r\n"), LineMatch::No);
        assert_eq!(status_line(b"HTTP/1.1 101\r\n"), LineMatch::Yes);
        assert_eq!(status_line(b"HTTP/1.1 1O1 x\r\n"), LineMatch::No);
        assert!(!looks_like_request(b"\x81\x05hello"));
        assert!(looks_like_response(b"HTTP/1."));
    }

    #[test]
    fn content_length_lists() {
        let h = |v: &str| {
            vec![Header {
                name: "Content-Length".into(),
                value: v.into(),
            }]
        };
        assert_eq!(content_length(&h("5")), Some(5));
        assert_eq!(content_length(&h("5, 5")), Some(5));
        assert_eq!(content_length(&h("5, 6")), None);
        assert_eq!(content_length(&h("x")), None);
    }
}
