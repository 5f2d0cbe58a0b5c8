//! Streaming pcap / pcapng reader over any [`Read`] (file or stdin).
//!
//! Built on `pcap-parser`'s buffered reader with a fixed-size buffer that
//! only grows (up to [`MAX_BLOCK_BYTES`]) for a single oversized block, so a
//! capture of any size is read in bounded memory.
//!
//! Two pitfalls of the underlying reader are guarded against here:
//! - a truncated last record makes `next()` report `Incomplete` forever; we
//!   stop when the source is exhausted and report the truncation instead of
//!   spinning (rusticata/pcap-parser #3, #18, #20, #29);
//! - pcapng link types and timestamp resolutions belong to the interfaces of
//!   the *current section*, so the interface list is reset at every SHB.

use super::{LinkType, PacketNo, RawPacket, Timestamp};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use serde::Serialize;
use std::io::Read;

/// Initial reader buffer: large enough for any 64 KiB packet plus headers.
pub const BUFFER_BYTES: usize = 1 << 20;
/// Largest single block accepted; a larger one is reported, not allocated.
pub const MAX_BLOCK_BYTES: usize = 64 << 20;

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFormat {
    /// Legacy libpcap format.
    Pcap,
    /// pcap Next Generation.
    Pcapng,
}

impl CaptureFormat {
    /// The name used in reports (`pcap` / `pcapng`).
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::Pcapng => "pcapng",
        }
    }
}

/// Fatal problems: the input cannot be read as a capture at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The first bytes are neither a pcap header nor a pcapng section header.
    #[error(
        "not a pcap or pcapng capture (unrecognised file header); give a file written by tcpdump, dumpcap or Wireshark"
    )]
    NotACapture,
    /// The input ended before a complete file header.
    #[error("the capture is empty or shorter than its file header")]
    Empty,
    /// Reading the underlying source failed.
    #[error("read error: {0}")]
    Io(String),
}

/// An interface of the current pcapng section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_secs: i64,
}

/// A non-fatal problem met while reading: the packets before it are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReadAnomaly {
    /// Packets read before the problem.
    pub after_packet: PacketNo,
    /// What happened and what it means.
    pub detail: String,
}

/// A packet and the contents of every Decryption Secrets Block read so far.
pub type PacketAndSecrets<'a> = (RawPacket<'a>, &'a [Vec<u8>]);

/// Reads packets one at a time; see the module docs.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    /// Bytes of the block returned last, consumed on the next call.
    pending_consume: usize,
    format: Option<CaptureFormat>,
    interfaces: Vec<Interface>,
    /// Legacy pcap: link type and timestamp units of the whole file.
    legacy: Option<(LinkType, u64)>,
    packets: u64,
    done: bool,
    buffer_size: usize,
    anomalies: Vec<ReadAnomaly>,
    /// Payloads of pcapng Decryption Secrets Blocks (TLS key logs).
    secrets: Vec<Vec<u8>>,
    first_link: Option<LinkType>,
    /// Byte order of the current pcapng section.
    big_endian: bool,
}

impl<'r> CaptureReader<'r> {
    /// Starts reading; fails at once when the input is not a capture.
    pub fn new<R: Read + Send + 'r>(source: R) -> Result<Self, ReadError> {
        let inner = pcap_parser::create_reader(BUFFER_BYTES, source).map_err(|e| match e {
            PcapError::Eof | PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                ReadError::Empty
            }
            PcapError::ReadError => ReadError::Io("cannot read the input".into()),
            _ => ReadError::NotACapture,
        })?;
        let mut reader = CaptureReader {
            inner,
            pending_consume: 0,
            format: None,
            interfaces: Vec::new(),
            legacy: None,
            packets: 0,
            done: false,
            buffer_size: BUFFER_BYTES,
            anomalies: Vec::new(),
            secrets: Vec::new(),
            first_link: None,
            big_endian: false,
        };
        reader.read_file_header()?;
        Ok(reader)
    }

    /// Reads blocks until the format is known (first block).
    fn read_file_header(&mut self) -> Result<(), ReadError> {
        match self.inner.next() {
            Ok((len, PcapBlockOwned::LegacyHeader(h))) => {
                let units = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                let link = LinkType::from(h.network.0 as u32);
                self.legacy = Some((link, units));
                self.first_link = Some(link);
                self.format = Some(CaptureFormat::Pcap);
                self.pending_consume = len;
                Ok(())
            }
            Ok((len, PcapBlockOwned::NG(Block::SectionHeader(shb)))) => {
                self.big_endian = shb.big_endian();
                self.format = Some(CaptureFormat::Pcapng);
                self.pending_consume = len;
                Ok(())
            }
            Ok(_) => Err(ReadError::NotACapture),
            Err(PcapError::Incomplete(_)) | Err(PcapError::Eof) | Err(PcapError::UnexpectedEof) => {
                Err(ReadError::Empty)
            }
            Err(_) => Err(ReadError::NotACapture),
        }
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        self.format.unwrap_or(CaptureFormat::Pcap)
    }

    /// Link type of the file (legacy) or of the first interface (pcapng).
    pub fn link_type(&self) -> Option<LinkType> {
        self.first_link
    }

    /// Non-fatal problems met so far (truncation, corrupt blocks ...).
    pub fn anomalies(&self) -> &[ReadAnomaly] {
        &self.anomalies
    }

    /// Raw contents of pcapng Decryption Secrets Blocks seen so far.
    pub fn secrets(&self) -> &[Vec<u8>] {
        &self.secrets
    }

    /// Number of packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    fn stop(&mut self, detail: String) {
        self.anomalies.push(ReadAnomaly {
            after_packet: PacketNo(self.packets),
            detail,
        });
        self.done = true;
    }

    /// Returns the next packet, `Ok(None)` at the end (or after a non-fatal
    /// problem, recorded in [`Self::anomalies`]).
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        Ok(self.next_packet_with_secrets()?.map(|(p, _)| p))
    }

    /// Like [`Self::next_packet`], and also the contents of every Decryption
    /// Secrets Block read so far, so that keys placed just before a packet
    /// are known before that packet is analysed.
    pub fn next_packet_with_secrets(&mut self) -> Result<Option<PacketAndSecrets<'_>>, ReadError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.pending_consume > 0 {
                self.inner.consume(self.pending_consume);
                self.pending_consume = 0;
            }
            match self.classify_next() {
                Step::Packet(len, meta) => {
                    self.pending_consume = len;
                    self.packets += 1;
                    // The packet bytes are still at the head of the buffer:
                    // `meta` holds their position in it.
                    let data = self
                        .inner
                        .data()
                        .get(meta.start..meta.start + meta.len)
                        .unwrap_or(&[]);
                    let packet = RawPacket {
                        number: PacketNo(self.packets),
                        ts: meta.ts,
                        link: meta.link,
                        orig_len: meta.orig_len,
                        data,
                    };
                    return Ok(Some((packet, &self.secrets)));
                }
                Step::Again => continue,
                Step::Fatal(e) => return Err(e),
            }
        }
    }

    /// Reads one block and updates reader state; a packet's bytes are left
    /// in the buffer and located by [`PacketMeta`].
    fn classify_next(&mut self) -> Step {
        if let Some(len) = self.bad_pcapng_block_len() {
            self.stop(format!(
                "corrupt pcapng block after packet {} (block length {len}, less than the 12-byte minimum); the rest of the file is not analysed",
                self.packets
            ));
            return Step::Again;
        }
        let base = self.inner.data().as_ptr() as usize;
        let (len, meta) = match self.inner.next() {
            Ok((len, block)) => (len, block_meta(&block, &self.interfaces, self.legacy, base)),
            Err(PcapError::Eof) => {
                self.done = true;
                return Step::Again;
            }
            Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                return self.refill_after_incomplete();
            }
            Err(PcapError::BufferTooSmall) => return self.grow_buffer(),
            Err(PcapError::ReadError) => return Step::Fatal(ReadError::Io("read failed".into())),
            Err(e) => {
                let what: String = format!("{e:?}").chars().take(80).collect();
                self.stop(format!(
                    "corrupt capture record after packet {} ({what}); the rest of the file is not analysed",
                    self.packets
                ));
                return Step::Again;
            }
        };
        self.pending_consume = len;
        match meta {
            BlockMeta::Packet(p) => Step::Packet(len, p),
            BlockMeta::UnknownInterface(id) => {
                self.anomalies.push(ReadAnomaly {
                    after_packet: PacketNo(self.packets + 1),
                    detail: format!(
                        "packet {} names interface {id}, which no Interface Description Block declared; it is counted but not decoded",
                        self.packets + 1
                    ),
                });
                Step::Packet(
                    len,
                    PacketMeta {
                        link: LinkType::Unsupported(u32::MAX),
                        ..PacketMeta::default()
                    },
                )
            }
            BlockMeta::Section(big_endian) => {
                self.interfaces.clear();
                self.big_endian = big_endian;
                Step::Again
            }
            BlockMeta::Interface(iface) => {
                self.first_link.get_or_insert(iface.link);
                self.interfaces.push(iface);
                Step::Again
            }
            BlockMeta::Secrets(data) => {
                self.secrets.push(data);
                Step::Again
            }
            BlockMeta::Other => Step::Again,
        }
    }

    /// pcapng §3.1: every block is at least 12 bytes (type, two lengths).
    /// pcap-parser 0.17 computes `block_len - 12` after checking only its
    /// own header size, which is 4 for a Process Information Block: a
    /// shorter length underflows (a panic with overflow checks, found by
    /// fuzzing). Checked here first, on the next block's header.
    fn bad_pcapng_block_len(&self) -> Option<u32> {
        if self.format != Some(CaptureFormat::Pcapng) {
            return None;
        }
        let head = self.inner.data().get(..8)?;
        let (kind, len) = head.split_at(4);
        if kind == [0x0a, 0x0d, 0x0d, 0x0a] {
            return None; // a Section Header: pcap-parser checks 28 bytes
        }
        let len: [u8; 4] = len.try_into().ok()?;
        let len = if self.big_endian {
            u32::from_be_bytes(len)
        } else {
            u32::from_le_bytes(len)
        };
        (len < 12).then_some(len)
    }

    fn refill_after_incomplete(&mut self) -> Step {
        if self.inner.reader_exhausted() {
            let left = self.inner.data().len();
            if left > 0 {
                self.stop(format!(
                    "capture file truncated: the record after packet {} is incomplete ({left} bytes left); everything before it is analysed",
                    self.packets
                ));
            } else {
                self.done = true;
            }
            return Step::Again;
        }
        let before = self.inner.data().len();
        if let Err(e) = self.inner.refill() {
            return Step::Fatal(ReadError::Io(format!("{e:?}")));
        }
        if self.inner.data().len() == before && !self.inner.reader_exhausted() {
            return self.grow_buffer();
        }
        Step::Again
    }

    fn grow_buffer(&mut self) -> Step {
        // Growing helps only when the buffer is full: a block that claims
        // more bytes than the rest of the input holds is a truncation, and
        // must not make us allocate up to MAX_BLOCK_BYTES first.
        if self.inner.data().len() < self.buffer_size {
            if !self.inner.reader_exhausted()
                && let Err(e) = self.inner.refill()
            {
                return Step::Fatal(ReadError::Io(format!("{e:?}")));
            }
            if self.inner.reader_exhausted() {
                return self.refill_after_incomplete();
            }
            return Step::Again;
        }
        let new_size = self.buffer_size.saturating_mul(2);
        if new_size > MAX_BLOCK_BYTES || !self.inner.grow(new_size) {
            self.stop(format!(
                "a record after packet {} is larger than {} MiB; the rest of the file is not analysed",
                self.packets,
                MAX_BLOCK_BYTES >> 20
            ));
            return Step::Again;
        }
        self.buffer_size = new_size;
        Step::Again
    }
}

/// Position and metadata of a packet inside the reader's buffer.
#[derive(Debug, Clone, Copy)]
struct PacketMeta {
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    start: usize,
    len: usize,
}

impl Default for PacketMeta {
    fn default() -> Self {
        PacketMeta {
            ts: Timestamp::default(),
            link: LinkType::Ethernet,
            orig_len: 0,
            start: 0,
            len: 0,
        }
    }
}

enum Step {
    Packet(usize, PacketMeta),
    Again,
    Fatal(ReadError),
}

enum BlockMeta {
    Packet(PacketMeta),
    UnknownInterface(u32),
    /// A Section Header Block: big-endian?
    Section(bool),
    Interface(Interface),
    Secrets(Vec<u8>),
    Other,
}

/// Offset of `data` inside the buffer starting at address `base`.
fn offset_in(base: usize, data: &[u8]) -> usize {
    (data.as_ptr() as usize).saturating_sub(base)
}

/// Converts a pcapng timestamp (units of `resolution` per second) to nanoseconds.
fn pcapng_ts(raw: u64, iface: &Interface) -> Timestamp {
    let secs = raw / iface.resolution;
    let frac = raw % iface.resolution;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(iface.resolution)) as u32;
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_add(iface.offset_secs);
    Timestamp::from_parts(secs, nanos)
}

fn block_meta(
    block: &PcapBlockOwned<'_>,
    interfaces: &[Interface],
    legacy: Option<(LinkType, u64)>,
    base: usize,
) -> BlockMeta {
    match block {
        PcapBlockOwned::Legacy(b) => {
            let (link, units) = legacy.unwrap_or((LinkType::Ethernet, 1_000_000));
            let nanos = u64::from(b.ts_usec)
                .saturating_mul(1_000_000_000 / units)
                .min(999_999_999);
            BlockMeta::Packet(PacketMeta {
                ts: Timestamp::from_parts(i64::from(b.ts_sec), nanos as u32),
                link,
                orig_len: b.origlen,
                start: offset_in(base, b.data),
                len: (b.caplen as usize).min(b.data.len()),
            })
        }
        PcapBlockOwned::LegacyHeader(_) => BlockMeta::Other,
        PcapBlockOwned::NG(Block::SectionHeader(shb)) => BlockMeta::Section(shb.big_endian()),
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => BlockMeta::Interface(Interface {
            link: LinkType::from(idb.linktype.0 as u32),
            resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
            offset_secs: idb.if_tsoffset,
        }),
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            let Some(iface) = interfaces.get(epb.if_id as usize) else {
                return BlockMeta::UnknownInterface(epb.if_id);
            };
            let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            BlockMeta::Packet(PacketMeta {
                ts: pcapng_ts(raw, iface),
                link: iface.link,
                orig_len: epb.origlen,
                start: offset_in(base, epb.data),
                len: (epb.caplen as usize).min(epb.data.len()),
            })
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            let Some(iface) = interfaces.first() else {
                return BlockMeta::UnknownInterface(0);
            };
            // RFC-draft pcapng §4.4: the captured length of an SPB is the
            // smaller of the original length and the interface snaplen.
            BlockMeta::Packet(PacketMeta {
                ts: Timestamp::default(),
                link: iface.link,
                orig_len: spb.origlen,
                start: offset_in(base, spb.data),
                len: (spb.origlen as usize).min(spb.data.len()),
            })
        }
        PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
            let n = (dsb.secrets_len as usize).min(dsb.data.len());
            BlockMeta::Secrets(dsb.data[..n].to_vec())
        }
        PcapBlockOwned::NG(_) => BlockMeta::Other,
    }
}
