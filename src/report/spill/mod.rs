//! The JSON report written without holding every message: the spill
//! machinery.
//!
//! [`MessageSpill`] is a [`Consumer`] that takes each message as soon as it
//! completes, serializes it (pretty, at its final indentation) on a writer
//! thread (`report::handoff`) and parks the text in an unlinked temporary file
//! ([`file`]); [`write_spilled`] then writes the document, splicing every
//! connection's messages back in, byte for byte what
//! [`super::json::write`] writes. Peak memory no longer grows with the
//! number of messages (a report on 100 000 messages held them all, texts
//! included: `docs/performance.md`).
//!
//! The document starts with fields known only at the end (`packet_count`,
//! `end_ts`) and lists connections by first packet, so it cannot be written
//! while the capture is read; parking the messages is what bounds memory.

mod file;

use super::contract::Report;
use super::handoff::{Handoff, handoff};
use super::json::write;
use crate::analysis::{Consumer, Event, Wants};
use crate::model::{Analysis, Connection, RecordKey};
use crate::ws::message::{Message, Unsettled};
use file::SpillFile;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

/// Indentation of a message object inside the document
/// (root → `connections` → connection → `messages` → message).
const MESSAGE_INDENT: &[u8] = b"        ";
/// Nesting depth of a message object (two spaces per level).
const MESSAGE_DEPTH: usize = 4;
/// Indentation of a connection object inside the document.
const CONNECTION_INDENT: &[u8] = b"    ";
/// A connection's parked text is written to the file in pieces of this size.
const CHUNK_BYTES: usize = 32 << 10;
/// Parked text held in memory over all connections before all is written out.
const MAX_BUFFERED: usize = 4 << 20;
/// What a connection record counts for in the worker's queue (its
/// handshake headers, events and counters).
const RECORD_BYTES: usize = 2048;
/// Capacity of emptied buffers kept for reuse.
const MAX_POOLED: usize = 2 << 20;

/// The parked messages of one connection.
#[derive(Default)]
struct Parked {
    /// Byte ranges of the spill file, in order.
    ranges: Vec<(u64, usize)>,
    /// Text not yet written to the file.
    buf: Vec<u8>,
    /// Messages parked.
    count: u64,
}

/// What the analysis hands to the parker, in event order. Nearly every
/// parcel is a message, so the small size of the other variant does not
/// matter.
#[allow(clippy::large_enum_variant)]
enum Parcel {
    /// A completed message of connection `.0`.
    Message(RecordKey, Unsettled),
    /// A finished connection's record (after its messages), to be
    /// serialized without them.
    Finished(Box<Connection>),
}

/// A finished connection parked whole. In the file, at `at`: the record's
/// length, the number of its messages' ranges and of its messages (3 ×
/// u64, little-endian), the ranges (offset, length: 2 × u64 each), then
/// the record. Only these 16 bytes stay in memory per connection instead
/// of its record (a kilobyte or more: a capture of a million short
/// connections would hold a gigabyte).
struct Finished {
    id: RecordKey,
    at: u64,
}

/// The spill file and what it holds; owned by the worker thread while the
/// capture is read.
struct Parker {
    file: SpillFile,
    parked: HashMap<RecordKey, Parked>,
    /// Finished connections, in the order they finished.
    finished: Vec<Finished>,
    buffered: usize,
    scratch: Vec<u8>,
    /// Emptied connection buffers, reused by the next connections to park:
    /// freed, their memory went back to the OS and was faulted in again
    /// (800 MB of page faults on a 900 MB document of 1 000 connections).
    pool: Vec<Vec<u8>>,
    /// Capacity in `pool`, at most [`MAX_POOLED`].
    pool_bytes: usize,
    /// A message could not be serialized: the document cannot be written.
    failed: Option<String>,
    /// The first write error: parked text then stays in memory (correct
    /// output, memory no longer bounded).
    write_error: bool,
}

impl Parker {
    fn flush_one(file: &mut SpillFile, p: &mut Parked) -> io::Result<()> {
        if p.buf.is_empty() {
            return Ok(());
        }
        // Readable back even when the write fails.
        p.ranges.push((file.end(), p.buf.len()));
        let res = file.append(&p.buf);
        p.buf.clear();
        res
    }

    /// Serializes one message at its final indentation and parks it.
    fn park(&mut self, conn: RecordKey, m: &Message) {
        let p = self.parked.entry(conn).or_default();
        if p.buf.capacity() == 0
            && let Some(b) = self.pool.pop()
        {
            self.pool_bytes -= b.capacity();
            p.buf = b;
        }
        let before = p.buf.len();
        if p.count > 0 {
            p.buf.extend_from_slice(b",\n");
            p.buf.extend_from_slice(MESSAGE_INDENT);
        }
        // Serialized straight at its final depth: no copy, no re-indenting.
        let mut ser = serde_json::Serializer::with_formatter(&mut p.buf, Nested::at(MESSAGE_DEPTH));
        if let Err(e) = serde::Serialize::serialize(m, &mut ser) {
            p.buf.truncate(before);
            self.failed.get_or_insert_with(|| e.to_string());
            return;
        }
        p.count += 1;
        self.buffered += p.buf.len() - before;
        if self.write_error {
            return;
        }
        let mut res = Ok(());
        if p.buf.len() >= CHUNK_BYTES {
            let n = p.buf.len();
            res = Self::flush_one(&mut self.file, p);
            if res.is_ok() {
                self.buffered -= n;
            }
        }
        if res.is_ok() && self.buffered > MAX_BUFFERED {
            for p in self.parked.values_mut() {
                res = Self::flush_one(&mut self.file, p);
                if res.is_err() {
                    break;
                }
                // Not left with the connection: with many connections idle
                // capacity adds up. Pooled for whichever parks next.
                let b = std::mem::take(&mut p.buf);
                let cap = b.capacity();
                if (1..=2 * CHUNK_BYTES).contains(&cap) && self.pool_bytes + cap <= MAX_POOLED {
                    self.pool_bytes += cap;
                    self.pool.push(b);
                }
            }
            if res.is_ok() {
                self.buffered = 0;
            }
        }
        self.write_error = res.is_err();
    }

    /// Parks a finished connection's record `text` (pretty, alone, with an
    /// empty `messages` array); its messages' last bytes go to the file
    /// too, so that nothing of it but its place stays in memory.
    fn park_record(&mut self, id: RecordKey, text: &[u8]) {
        let mut messages = self.parked.remove(&id).unwrap_or_default();
        self.buffered -= messages.buf.len();
        let flushed = Self::flush_one(&mut self.file, &mut messages);
        let n = messages.ranges.len();
        let mut head = Vec::with_capacity(24 + 16 * n);
        for v in [text.len() as u64, n as u64, messages.count] {
            head.extend_from_slice(&v.to_le_bytes());
        }
        for &(off, len) in &messages.ranges {
            head.extend_from_slice(&off.to_le_bytes());
            head.extend_from_slice(&(len as u64).to_le_bytes());
        }
        let at = self.file.end();
        // Kept readable by the file even when a write fails (in memory).
        let res = flushed
            .and(self.file.append(&head))
            .and(self.file.append(text));
        self.write_error |= res.is_err();
        self.finished.push(Finished { id, at });
    }

    /// Reads back a finished connection: its record into `text`, and where
    /// its messages are.
    fn read_finished(&mut self, at: u64, text: &mut Vec<u8>) -> io::Result<Parked> {
        let mut buf = Vec::new();
        self.file.read(at, 24, &mut buf)?;
        let word = |b: &[u8], i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[8 * i..8 * i + 8]);
            u64::from_le_bytes(w)
        };
        let (len, n, count) = (word(&buf, 0), word(&buf, 1), word(&buf, 2));
        let (len, n) = (usize::try_from(len), usize::try_from(n));
        let (Ok(len), Ok(n)) = (len, n) else {
            return Err(io::Error::other(
                "spill file: a connection entry is corrupt",
            ));
        };
        self.file.read(at + 24, 16 * n, &mut buf)?;
        let ranges = (0..n)
            .map(|i| (word(&buf, 2 * i), word(&buf, 2 * i + 1) as usize))
            .collect();
        self.file.read(at + 24 + 16 * n as u64, len, text)?;
        Ok(Parked {
            ranges,
            buf: Vec::new(),
            count,
        })
    }

    /// Parks what the analysis handed over.
    fn take(&mut self, parcel: &mut Parcel) {
        match parcel {
            Parcel::Message(conn, m) => {
                m.settle_now();
                self.park(*conn, &m.message);
            }
            Parcel::Finished(c) => match serde_json::to_vec_pretty(c) {
                Ok(text) => self.park_record(c.key(), &text),
                Err(e) => {
                    self.failed.get_or_insert_with(|| e.to_string());
                }
            },
        }
    }

    /// Writes the parked text of messages `p` to `out`.
    fn copy_out(&mut self, p: Parked, out: &mut impl Write) -> io::Result<()> {
        for (off, len) in p.ranges {
            self.file.read(off, len, &mut self.scratch)?;
            out.write_all(&self.scratch)?;
        }
        out.write_all(&p.buf)
    }
}

enum Mode {
    /// No spill file: messages stay in the model.
    Off,
    /// Messages are serialized and parked on the calling thread.
    Inline(Parker),
    /// ... on a worker thread (the second core), fed through a bounded
    /// queue so memory stays bounded when the worker falls behind.
    Threaded {
        queue: Handoff<Parcel>,
        worker: std::thread::JoinHandle<Parker>,
    },
}

/// Parks serialized messages in a temporary file; see the module docs.
pub struct MessageSpill {
    /// Where the private, nameless spill file lives.
    dir: PathBuf,
    mode: Mode,
    /// Why the spill file could not be made (messages stay in the model).
    pub error: Option<io::Error>,
}

impl std::fmt::Debug for MessageSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSpill")
            .field("dir", &self.dir)
            .finish()
    }
}

impl MessageSpill {
    /// A spill in the system temporary directory (`$TMPDIR`), serialized
    /// on a worker thread. When the file cannot be made, messages simply
    /// stay in the model.
    pub fn new() -> Self {
        Self::in_dir(std::env::temp_dir(), true)
    }

    /// A spill file in `dir`; `threaded` serializes on a worker thread.
    pub fn in_dir(dir: PathBuf, threaded: bool) -> Self {
        let file = match SpillFile::create_in(&dir) {
            Ok(f) => f,
            Err(e) => {
                return MessageSpill {
                    dir,
                    mode: Mode::Off,
                    error: Some(e),
                };
            }
        };
        let parker = Parker {
            file,
            parked: HashMap::new(),
            finished: Vec::new(),
            buffered: 0,
            scratch: Vec::new(),
            pool: Vec::new(),
            pool_bytes: 0,
            failed: None,
            write_error: false,
        };
        let mode = if threaded {
            let (queue, inbox) = handoff::<Parcel>();
            let spawned = std::thread::Builder::new()
                .name("json-spill".into())
                .spawn(move || {
                    let mut p = parker;
                    inbox.each_batch(|batch| {
                        for parcel in batch {
                            p.take(parcel);
                        }
                    });
                    p
                });
            match spawned {
                Ok(worker) => Mode::Threaded { queue, worker },
                // The parker went with the failed closure: start again inline.
                Err(_) => return Self::in_dir(dir, false),
            }
        } else {
            Mode::Inline(parker)
        };
        MessageSpill {
            dir,
            mode,
            error: None,
        }
    }

    /// Stops the worker and returns the parked state.
    fn into_parker(self) -> io::Result<Option<Parker>> {
        let mode = std::mem::replace(&mut { self }.mode, Mode::Off);
        match mode {
            Mode::Off => Ok(None),
            Mode::Inline(p) => Ok(Some(p)),
            Mode::Threaded {
                mut queue, worker, ..
            } => {
                queue.close();
                worker
                    .join()
                    .map(Some)
                    .map_err(|_| io::Error::other("the JSON spill worker failed"))
            }
        }
    }
}

impl Default for MessageSpill {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageSpill {
    /// True when messages and finished connections are parked in a file;
    /// false when the file could not be made (they then stay in the model).
    pub fn is_active(&self) -> bool {
        !matches!(self.mode, Mode::Off)
    }

    fn hand(&mut self, mut parcel: Parcel, bytes: usize) {
        match &mut self.mode {
            Mode::Off => {}
            Mode::Inline(p) => p.take(&mut parcel),
            Mode::Threaded { queue, .. } => queue.push(parcel, bytes),
        }
    }
}

impl Consumer for MessageSpill {
    fn event(&mut self, ev: Event<'_>) -> ControlFlow<()> {
        if !self.is_active() {
            return ControlFlow::Continue(());
        }
        match ev {
            Event::Message {
                conn,
                message,
                deferred,
                ..
            } => {
                let mut m = Unsettled {
                    message: message.into_owned(),
                    digest: deferred.map(Cow::into_owned),
                };
                // A deferred digest is the worker's unless it lags behind.
                if let Mode::Threaded { queue, .. } = &mut self.mode
                    && queue.writer_is_behind()
                {
                    m.settle_now();
                }
                let bytes = m.held_bytes();
                self.hand(Parcel::Message(conn.key(), m), bytes);
            }
            // A finished connection is parked as well (its messages came
            // before): with [`crate::pipeline::Options::drop_finished`]
            // the model then holds no finished connection, and memory does
            // not grow with their number. When the model keeps it too, it
            // is written once (see `write_spilled`).
            Event::End(conn) if conn.reported() => {
                self.hand(Parcel::Finished(Box::new(conn.into_owned())), RECORD_BYTES);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    /// Messages are parked in the spill file (when it could be made), not
    /// kept in the model.
    fn wants(&self) -> Wants {
        Wants {
            takes_messages: self.is_active(),
            ..Wants::default()
        }
    }
}

/// `serde_json`'s pretty layout (two-space indent) for a value that sits
/// `depth` levels deep in the document: the same bytes as pretty-printing it
/// alone and indenting every line after the first by `depth` levels.
struct Nested {
    depth: usize,
    has_value: bool,
}

impl Nested {
    fn at(depth: usize) -> Self {
        Nested {
            depth,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        w.write_all(b"\n")?;
        let mut n = self.depth * 2;
        while n > 0 {
            let k = n.min(SPACES.len());
            w.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Copies `src` into `dst`, following every newline with `indent`. JSON
/// strings hold no raw newlines (they are escaped), so only the layout's
/// line breaks are touched.
fn indent_into(dst: &mut Vec<u8>, src: &[u8], indent: &[u8]) {
    let mut rest = src;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let (line, tail) = rest.split_at(i + 1);
        dst.extend_from_slice(line);
        dst.extend_from_slice(indent);
        rest = tail;
    }
    dst.extend_from_slice(rest);
}

/// Finds `needle` in `hay` (once per connection record: a naive search was
/// a tenth of a JSON report of 200 000 short connections).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Writes the same document as [`write()`] for an analysis whose messages
/// (and finished connections) were taken by `spill`: the connections in
/// the model's order (by first packet), each with its parked messages and
/// then those still in the model (with a failed spill that is all of them).
pub fn write_spilled(
    mut analysis: Analysis,
    spill: MessageSpill,
    out: &mut impl Write,
) -> io::Result<()> {
    let Some(mut spill) = spill.into_parker()? else {
        return write(&analysis, out);
    };
    if let Some(why) = spill.failed.take() {
        return Err(io::Error::other(format!(
            "a message or a connection record cannot be serialized: {why}"
        )));
    }
    let conns = in_model_order(
        std::mem::take(&mut spill.finished),
        std::mem::take(&mut analysis.connections),
    );
    if conns.is_empty() {
        return write(&analysis, out);
    }
    let head = serde_json::to_vec_pretty(&Report::new(&analysis)).map_err(io::Error::other)?;
    const CONNS: &[u8] = b"\n  \"connections\": []";
    let at = find(&head, CONNS).ok_or_else(|| io::Error::other("connections not found"))?;
    out.write_all(&head[..at])?;
    out.write_all(b"\n  \"connections\": [")?;
    let mut text = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        out.write_all(CONNECTION_INDENT)?;
        let (parked, kept) = match conn {
            Parcelled::Finished(at) => (spill.read_finished(at, &mut text)?, Vec::new()),
            Parcelled::Model(mut c) => {
                let parked = spill.parked.remove(&c.key()).unwrap_or_default();
                // Written in place when nothing of it was parked.
                let kept = match parked.count {
                    0 => Vec::new(),
                    _ => std::mem::take(&mut c.messages),
                };
                text.clear();
                serde_json::to_writer_pretty(&mut text, &c).map_err(io::Error::other)?;
                (parked, kept)
            }
        };
        if parked.count == 0 && kept.is_empty() {
            write_indented(out, &text, CONNECTION_INDENT)?;
        } else {
            spill.splice(out, &text, parked, &kept)?;
        }
    }
    out.write_all(b"\n  ]")?;
    out.write_all(&head[at + CONNS.len()..])?;
    out.write_all(b"\n")
}

/// A connection of the document: parked when it finished, or still in the
/// model (the analysis ended, or it was not dropped).
enum Parcelled {
    /// Where its entry is in the spill file.
    Finished(u64),
    /// Boxed: a record is ten times the size of a parked entry, and there
    /// may be a million of the latter.
    Model(Box<Connection>),
}

/// The connections in the order the model lists them, by key: ids are
/// given as connections are first seen, and a connection's RFC 8441
/// sessions follow it.
/// A connection both parked and left in the model is written once.
fn in_model_order(mut finished: Vec<Finished>, model: Vec<Connection>) -> Vec<Parcelled> {
    finished.sort_unstable_by_key(|f| f.id);
    let mut all: Vec<(RecordKey, Parcelled)> = model
        .into_iter()
        .filter(|c| finished.binary_search_by_key(&c.key(), |f| f.id).is_err())
        .map(|c| (c.key(), Parcelled::Model(Box::new(c))))
        .collect();
    all.extend(
        finished
            .into_iter()
            .map(|f| (f.id, Parcelled::Finished(f.at))),
    );
    all.sort_unstable_by_key(|(id, _)| *id);
    all.into_iter().map(|(_, c)| c).collect()
}

impl Parker {
    /// Writes a connection record `text` (pretty, alone, with an empty
    /// `messages` array) with its parked messages and then `kept` spliced
    /// into the array.
    fn splice(
        &mut self,
        out: &mut impl Write,
        text: &[u8],
        parked: Parked,
        kept: &[Message],
    ) -> io::Result<()> {
        const MSGS: &[u8] = b"\n  \"messages\": []";
        let at = find(text, MSGS).ok_or_else(|| io::Error::other("messages not found"))?;
        write_indented(out, &text[..at], CONNECTION_INDENT)?;
        out.write_all(b"\n      \"messages\": [\n")?;
        out.write_all(MESSAGE_INDENT)?;
        let mut first = parked.count == 0;
        self.copy_out(parked, out)?;
        let mut one = Vec::new();
        for m in kept {
            if !first {
                out.write_all(b",\n")?;
                out.write_all(MESSAGE_INDENT)?;
            }
            first = false;
            one.clear();
            serde_json::to_writer_pretty(&mut one, m).map_err(io::Error::other)?;
            write_indented(out, &one, MESSAGE_INDENT)?;
        }
        out.write_all(b"\n      ]")?;
        write_indented(out, &text[at + MSGS.len()..], CONNECTION_INDENT)
    }
}

fn write_indented(out: &mut impl Write, src: &[u8], indent: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(src.len() + src.len() / 8);
    indent_into(&mut buf, src, indent);
    out.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Limits;

    /// The spliced document equals the plain one, byte for byte, on every
    /// sample capture with messages.
    #[test]
    fn spilled_document_equals_plain_document() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("captures dir") {
            let path = entry.expect("entry").path();
            let name = path.to_string_lossy().into_owned();
            if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
                continue;
            }
            let mut null = crate::analysis::NullSink;
            let Ok(plain) = crate::pipeline::analyze_path(&name, Limits::default(), &mut null)
            else {
                continue;
            };
            let mut want = Vec::new();
            write(&plain, &mut want).expect("plain");
            // On the worker thread or not; finished connections dropped
            // from the model (as `report` runs it) or left in it too.
            for (threaded, drop_finished) in [(true, true), (false, true), (true, false)] {
                let tmp = tempfile::tempdir().expect("tempdir");
                let mut spill = MessageSpill::in_dir(tmp.path().to_path_buf(), threaded);
                let mut opts = crate::pipeline::Options {
                    drop_finished,
                    ..Default::default()
                };
                // Digests hashed by the spill worker.
                opts.limits.ws.defer_digest = true;
                let a =
                    crate::pipeline::analyze_path_with(&name, &opts, &mut spill).expect("analyze");
                assert!(a.connections.iter().all(|c| c.messages.is_empty()));
                assert!(!drop_finished || a.connections.is_empty(), "{name}");
                let mut got = Vec::new();
                write_spilled(a, spill, &mut got).expect("spilled");
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{name}, threaded {threaded}, drop_finished {drop_finished}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} captures checked");
    }

    #[test]
    fn unusable_spill_dir_keeps_messages_in_the_model() {
        let mut spill = MessageSpill::in_dir(PathBuf::from("/nonexistent/wsinspect/dir"), true);
        assert!(spill.error.is_some());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/ping_pong.pcap");
        let mut limits = Limits::default();
        limits.ws.defer_digest = true;
        let a = crate::pipeline::analyze_path(&path.to_string_lossy(), limits, &mut spill)
            .expect("analyze");
        assert!(a.connections.iter().any(|c| !c.messages.is_empty()));
        // Digests the sink did not take over are settled by the analyzer.
        let msgs = a.connections.iter().flat_map(|c| &c.messages);
        assert!(msgs.clone().all(|m| m.sha256.is_some() || !m.complete));
        let mut want = Vec::new();
        write(&a, &mut want).expect("plain");
        let mut got = Vec::new();
        write_spilled(a, spill, &mut got).expect("spilled");
        assert_eq!(got, want);
    }

    #[test]
    fn nested_layout_equals_indented_pretty_layout() {
        let v =
            serde_json::json!({"a": [1, {"b": [], "c": {}}, [[]]], "d": "x\ny", "e": {"f": null}});
        for depth in 0..6 {
            let mut want = Vec::new();
            indent_into(
                &mut want,
                &serde_json::to_vec_pretty(&v).expect("pretty"),
                &b"  ".repeat(depth),
            );
            let mut got = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut got, Nested::at(depth));
            serde::Serialize::serialize(&v, &mut ser).expect("nested");
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }

    #[test]
    fn indent_follows_every_newline() {
        let mut v = Vec::new();
        indent_into(&mut v, b"{\n  \"a\": \"x\\ny\"\n}", b"    ");
        assert_eq!(v, b"{\n      \"a\": \"x\\ny\"\n    }");
    }
}
