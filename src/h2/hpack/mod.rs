//! HPACK (RFC 7541) decoding for one direction of an HTTP/2 connection.
//!
//! Hand-written rather than taken from a crate (docs/h2.md says why): a
//! passive decoder must keep going when the table state is partly unknown
//! (a connection picked up mid-stream, a header block lost to the capture),
//! say which fields it could not decode instead of failing the block, bound
//! what a block may decode to (a small block that indexes a 4 KiB entry a
//! thousand times), and never panic on hostile input.
//!
//! The dynamic table is modelled as a *known* prefix (the newest entries,
//! whose contents were seen) followed by an *unknown* tail of entries that
//! existed before what was seen. Eviction removes the oldest entries first,
//! so the known prefix is evicted exactly by its own sizes (the unknown
//! tail goes first); a reference past the known prefix names an entry whose
//! contents were never seen, and the field is counted as lost, never
//! filled in. A size update to 0, or known entries that fill the table so
//! that no unknown entry can remain, make the whole table known again.

mod huffman;
mod huffman_table;
mod static_table;

pub use huffman::{HuffmanError, encode as huffman_encode};

use static_table::STATIC;
use std::collections::VecDeque;
use std::fmt;

/// RFC 7541 §4.1: an entry's size is its name, its value and 32 bytes.
pub const ENTRY_OVERHEAD: usize = 32;

/// Default `SETTINGS_HEADER_TABLE_SIZE` (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: u32 = 4096;

/// One decoded header field. Bytes are kept as sent: HTTP/2 field values
/// need not be UTF-8, and names are checked, not converted.
#[derive(Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, as sent (lowercase in valid HTTP/2).
    pub name: Vec<u8>,
    /// The value, as sent.
    pub value: Vec<u8>,
    /// Sent as "never indexed" (RFC 7541 §6.2.3): a sensitive value.
    pub never_indexed: bool,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            String::from_utf8_lossy(&self.name),
            String::from_utf8_lossy(&self.value)
        )
    }
}

impl Field {
    /// RFC 7541 §4.1 size: name + value + 32.
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

/// A decoding error: the encoder broke RFC 7541 (a `COMPRESSION_ERROR` of
/// RFC 9113 §4.3). After one, the table state is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HpackError {
    /// §5.1: an integer longer than 32 bits (or more continuation bytes
    /// than that needs).
    IntegerOverflow,
    /// §5.1 / §5.2: the block ends inside an integer or a string.
    Truncated,
    /// §5.2: a bad Huffman string.
    Huffman(HuffmanError),
    /// §6.1: index 0.
    ZeroIndex,
    /// §2.3.3: an index past the end of the table (state known).
    IndexOutOfRange(u32),
    /// §6.3: a dynamic table size update above the limit the decoder's
    /// side announced in `SETTINGS_HEADER_TABLE_SIZE`.
    TableSizeAboveLimit {
        /// The size asked for.
        size: u32,
        /// The largest size announced.
        limit: u32,
    },
    /// §4.2: a dynamic table size update after the first field of a block.
    LateTableSizeUpdate,
}

impl HpackError {
    /// Where the rule is written.
    pub fn rfc(self) -> &'static str {
        match self {
            HpackError::IntegerOverflow | HpackError::Truncated => "RFC 7541 §5.1",
            HpackError::Huffman(_) => "RFC 7541 §5.2",
            HpackError::ZeroIndex => "RFC 7541 §6.1",
            HpackError::IndexOutOfRange(_) => "RFC 7541 §2.3.3",
            HpackError::TableSizeAboveLimit { .. } => "RFC 7541 §6.3",
            HpackError::LateTableSizeUpdate => "RFC 7541 §4.2",
        }
    }
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpackError::IntegerOverflow => f.write_str("integer longer than 32 bits"),
            HpackError::Truncated => f.write_str("header block ends inside a representation"),
            HpackError::Huffman(HuffmanError::Eos) => f.write_str("Huffman string contains EOS"),
            HpackError::Huffman(HuffmanError::LongPadding) => {
                f.write_str("Huffman padding longer than 7 bits")
            }
            HpackError::Huffman(HuffmanError::BadPadding) => {
                f.write_str("Huffman padding is not the prefix of EOS")
            }
            HpackError::ZeroIndex => f.write_str("index 0"),
            HpackError::IndexOutOfRange(i) => write!(f, "index {i} past the end of the table"),
            HpackError::TableSizeAboveLimit { size, limit } => {
                write!(
                    f,
                    "dynamic table size update to {size} above the announced {limit}"
                )
            }
            HpackError::LateTableSizeUpdate => {
                f.write_str("dynamic table size update after a header field")
            }
        }
    }
}

/// What one header block decoded to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedBlock {
    /// The fields decoded, in order (only those whose bytes are known, up
    /// to the list cap).
    pub fields: Vec<Field>,
    /// Fields that referred to dynamic table entries never seen (the table
    /// state was lost): their place in the list is unknown too.
    pub lost: u32,
    /// Fields past the decoded-size cap, parsed (the table kept in step)
    /// but not kept.
    pub dropped: u32,
    /// RFC 9113 §6.5.2 size of the whole list (names + values + 32 per
    /// field), including dropped fields.
    pub list_size: u64,
    /// The encoder broke RFC 7541 here; later fields of the block are not
    /// decoded.
    pub error: Option<HpackError>,
}

impl DecodedBlock {
    /// Every field of the block is in `fields`.
    pub fn complete(&self) -> bool {
        self.lost == 0 && self.dropped == 0 && self.error.is_none()
    }
}

/// The dynamic table: known newest entries, maybe an unknown tail.
#[derive(Debug, Clone)]
struct Table {
    known: VecDeque<Field>,
    known_size: usize,
    /// Entries older than `known` may exist and their contents are unknown.
    unknown_tail: bool,
    /// The current maximum size set by the encoder (§4.2), when known: a
    /// lost block may have changed it. Keeping entries longer than the
    /// encoder does never changes what an index names (eviction takes the
    /// oldest), so with the maximum unknown only the keep cap evicts.
    max_size: Option<usize>,
    /// Cap on what is kept (`H2Limits::max_table_bytes`): entries past it
    /// are dropped into the unknown tail.
    keep_cap: usize,
}

impl Table {
    fn evict_to(&mut self, max: usize) {
        while self.known_size > max {
            match self.known.pop_back() {
                Some(e) => self.known_size -= e.size(),
                None => break,
            }
        }
    }

    /// No unknown entry can be left once the known ones leave no room for
    /// even the smallest entry (32 bytes) under a known maximum.
    fn settle(&mut self) {
        if let Some(max) = self.max_size
            && self.unknown_tail
            && self.known_size + ENTRY_OVERHEAD > max
        {
            self.unknown_tail = false;
        }
    }

    /// Adds an entry (§4.4); true when the keep cap dropped entries the
    /// encoder still has.
    fn insert(&mut self, e: Field) -> bool {
        let size = e.size();
        if let Some(max) = self.max_size
            && size > max
        {
            // §4.4: an entry larger than the table empties it.
            self.known.clear();
            self.known_size = 0;
            self.unknown_tail = false;
            return false;
        }
        if size > self.keep_cap {
            self.forget();
            return true;
        }
        let max = self.max_size.unwrap_or(usize::MAX);
        self.evict_to(max - size);
        self.known_size += size;
        self.known.push_front(e);
        let mut capped = false;
        while self.known_size > self.keep_cap {
            if let Some(old) = self.known.pop_back() {
                self.known_size -= old.size();
                self.unknown_tail = true;
                capped = true;
            }
        }
        self.settle();
        capped
    }

    fn set_max(&mut self, max: usize) {
        self.max_size = Some(max);
        self.evict_to(max);
        if max == 0 {
            self.unknown_tail = false;
        }
        self.settle();
    }

    /// Nothing is known any more: not the entries, not the maximum.
    fn forget(&mut self) {
        self.known.clear();
        self.known_size = 0;
        self.unknown_tail = true;
        self.max_size = None;
    }
}

/// What an index names.
enum Entry<'a> {
    Known(&'a [u8], &'a [u8]),
    Lost,
}

/// Decodes the header blocks of one direction.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: Table,
    /// The largest `SETTINGS_HEADER_TABLE_SIZE` the decoding side may be
    /// held to (announced, or still pending acknowledgement); unknown for a
    /// connection picked up after its SETTINGS.
    limit: Option<u32>,
    /// The keep cap was hit at least once (reported once by the caller).
    cap_hit: bool,
}

impl Decoder {
    /// A decoder whose table starts empty (the connection was seen from its
    /// start), keeping at most `keep_cap` bytes of table.
    pub fn new(keep_cap: usize) -> Self {
        Decoder {
            table: Table {
                known: VecDeque::new(),
                known_size: 0,
                unknown_tail: false,
                max_size: Some(DEFAULT_TABLE_SIZE as usize),
                keep_cap,
            },
            limit: Some(DEFAULT_TABLE_SIZE),
            cap_hit: false,
        }
    }

    /// A decoder for a connection picked up after its start: the table may
    /// hold entries never seen.
    pub fn unknown_state(keep_cap: usize) -> Self {
        let mut d = Self::new(keep_cap);
        d.table.forget();
        d.limit = None;
        d
    }

    /// Forgets the table: a header block of this direction was not seen
    /// (lost to the capture or too large to keep), so its insertions are
    /// unknown.
    pub fn lose_state(&mut self) {
        self.table.forget();
    }

    /// The table holds no entry whose contents are unknown.
    pub fn state_known(&self) -> bool {
        !self.table.unknown_tail
    }

    /// Sets the limit a size update may reach (the decoding side's
    /// `SETTINGS_HEADER_TABLE_SIZE`, the largest still in force).
    pub fn set_limit(&mut self, limit: Option<u32>) {
        self.limit = limit;
    }

    /// The limit a size update may reach, when known.
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Takes the encoder's table size as `size` without a size update, as
    /// RFC 7541 Appendix C.5/C.6 do (256 bytes).
    pub fn assume_table_size(&mut self, size: u32) {
        self.limit = Some(size);
        self.table.set_max(size as usize);
    }

    /// Bytes held by the table (RFC sizes, which exceed the heap bytes by
    /// 32 per entry at most).
    pub fn retained_bytes(&self) -> usize {
        self.table.known_size
    }

    /// The keep cap was hit since the last call (reported once per hit).
    pub fn take_cap_hit(&mut self) -> bool {
        std::mem::take(&mut self.cap_hit)
    }

    fn lookup(&self, index: u32) -> Result<Entry<'_>, HpackError> {
        let i = index as usize;
        if i == 0 {
            return Err(HpackError::ZeroIndex);
        }
        if let Some((n, v)) = STATIC.get(i - 1) {
            return Ok(Entry::Known(n, v));
        }
        match self.table.known.get(i - 1 - STATIC.len()) {
            Some(e) => Ok(Entry::Known(&e.name, &e.value)),
            None if self.table.unknown_tail => Ok(Entry::Lost),
            None => Err(HpackError::IndexOutOfRange(index)),
        }
    }

    /// Decodes one whole header block. Fields are kept while the list
    /// stays within `max_list` bytes (§6.5.2 sizes); the rest are parsed so
    /// that the table stays in step. After an error the table state is
    /// unknown.
    pub fn decode(&mut self, block: &[u8], max_list: usize) -> DecodedBlock {
        let mut out = DecodedBlock::default();
        let mut kept: usize = 0;
        let mut r = Reader { b: block, pos: 0 };
        let mut fields_seen = false;
        while r.pos < block.len() {
            let step = self.representation(&mut r, &mut fields_seen, max_list, &mut kept, &mut out);
            if let Err(e) = step {
                out.error = Some(e);
                self.table.forget();
                break;
            }
        }
        out
    }

    fn representation(
        &mut self,
        r: &mut Reader<'_>,
        fields_seen: &mut bool,
        max_list: usize,
        kept: &mut usize,
        out: &mut DecodedBlock,
    ) -> Result<(), HpackError> {
        let first = r.peek()?;
        if first & 0x80 != 0 {
            // §6.1 indexed field.
            let index = r.integer(7)?;
            *fields_seen = true;
            match self.lookup(index)? {
                Entry::Known(n, v) => push_field(out, kept, max_list, n, v, false),
                Entry::Lost => out.lost += 1,
            }
            return Ok(());
        }
        if first & 0xe0 == 0x20 {
            // §6.3 dynamic table size update.
            let size = r.integer(5)?;
            if *fields_seen {
                return Err(HpackError::LateTableSizeUpdate);
            }
            if let Some(limit) = self.limit
                && size > limit
            {
                return Err(HpackError::TableSizeAboveLimit { size, limit });
            }
            self.table.set_max(size as usize);
            return Ok(());
        }
        // §6.2: literals; 01 with indexing (6-bit), 0000 without, 0001 never.
        let (prefix, indexing, never) = if first & 0xc0 == 0x40 {
            (6, true, false)
        } else {
            (4, false, first & 0x10 != 0)
        };
        *fields_seen = true;
        let index = r.integer(prefix)?;
        // Name: from the table, or a literal string.
        let mut name = Vec::new();
        let name_known = if index == 0 {
            r.string(&mut name)?;
            true
        } else {
            match self.lookup(index)? {
                Entry::Known(n, _) => {
                    name.extend_from_slice(n);
                    true
                }
                Entry::Lost => false,
            }
        };
        let mut value = Vec::new();
        r.string(&mut value)?;
        if !name_known {
            out.lost += 1;
            if indexing {
                // The new entry's name (and so its size) is unknown: nothing
                // newer than it is placed for sure any more.
                self.table.forget();
            }
            return Ok(());
        }
        if indexing {
            let e = Field {
                name: name.clone(),
                value: value.clone(),
                never_indexed: false,
            };
            if self.table.insert(e) {
                self.cap_hit = true;
            }
        }
        push_field(out, kept, max_list, &name, &value, never);
        Ok(())
    }
}

fn push_field(
    out: &mut DecodedBlock,
    kept: &mut usize,
    max_list: usize,
    name: &[u8],
    value: &[u8],
    never_indexed: bool,
) {
    let size = name.len() + value.len() + ENTRY_OVERHEAD;
    out.list_size = out.list_size.saturating_add(size as u64);
    if out.dropped == 0 && kept.saturating_add(size) <= max_list {
        *kept += size;
        out.fields.push(Field {
            name: name.to_vec(),
            value: value.to_vec(),
            never_indexed,
        });
    } else {
        out.dropped += 1;
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Result<u8, HpackError> {
        self.b.get(self.pos).copied().ok_or(HpackError::Truncated)
    }

    fn next(&mut self) -> Result<u8, HpackError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    /// §5.1 integer with an `n`-bit prefix, at most 32 bits.
    fn integer(&mut self, n: u32) -> Result<u32, HpackError> {
        let max_prefix = (1u32 << n) - 1;
        let mut v = u32::from(self.next()?) & max_prefix;
        if v < max_prefix {
            return Ok(v);
        }
        let mut shift = 0u32;
        loop {
            let b = self.next()?;
            if shift > 28 {
                return Err(HpackError::IntegerOverflow);
            }
            let add = u64::from(b & 0x7f) << shift;
            let sum = u64::from(v) + add;
            v = u32::try_from(sum).map_err(|_| HpackError::IntegerOverflow)?;
            shift += 7;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
    }

    /// §5.2 string literal, appended to `out`. A literal decodes to at most
    /// 8/5 of its encoded length (the shortest Huffman code is 5 bits), so
    /// the block's own cap bounds it.
    fn string(&mut self, out: &mut Vec<u8>) -> Result<(), HpackError> {
        let huffman = self.peek()? & 0x80 != 0;
        let len = self.integer(7)? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.b.len())
            .ok_or(HpackError::Truncated)?;
        let raw = &self.b[self.pos..end];
        self.pos = end;
        if huffman {
            huffman::decode(raw, out, usize::MAX).map_err(HpackError::Huffman)?;
        } else {
            out.extend_from_slice(raw);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
