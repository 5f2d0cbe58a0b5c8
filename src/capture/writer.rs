//! Writers for legacy pcap and pcapng, used to save live captures, to export
//! slices of a capture, and to build test captures.

use super::{LinkType, Timestamp};
use std::io::{self, Write};

/// Byte order of a written file (readers must accept both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian, as written on x86.
    Little,
    /// Big-endian, as written on SPARC/PowerPC hosts.
    Big,
}

impl Endian {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// Writes a legacy pcap file.
pub struct PcapWriter<W: Write> {
    out: W,
    endian: Endian,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(
        mut out: W,
        link: LinkType,
        snaplen: u32,
        endian: Endian,
        nanos: bool,
    ) -> io::Result<Self> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&endian.u32(magic));
        h.extend_from_slice(&endian.u16(2));
        h.extend_from_slice(&endian.u16(4));
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&endian.u32(snaplen));
        h.extend_from_slice(&endian.u32(link.dlt()));
        out.write_all(&h)?;
        Ok(PcapWriter { out, endian, nanos })
    }

    /// Appends one record; `data` may be shorter than `orig_len` (snaplen cut).
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = ts.0.div_euclid(1_000_000_000) as u32;
        let nanos = ts.0.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nanos { nanos } else { nanos / 1000 };
        let e = self.endian;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&e.u32(secs));
        h[4..8].copy_from_slice(&e.u32(frac));
        h[8..12].copy_from_slice(&e.u32(data.len() as u32));
        h[12..16].copy_from_slice(&e.u32(orig_len));
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a pcapng file: one section, any number of interfaces.
pub struct PcapngWriter<W: Write> {
    out: W,
    endian: Endian,
    /// Per interface: true when timestamps are in nanoseconds.
    ifaces: Vec<bool>,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block.
    pub fn new(mut out: W, endian: Endian) -> io::Result<Self> {
        let mut body = Vec::new();
        body.extend_from_slice(&endian.u32(0x1a2b_3c4d));
        body.extend_from_slice(&endian.u16(1));
        body.extend_from_slice(&endian.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        write_block(&mut out, endian, 0x0a0d_0d0a, &body)?;
        Ok(PcapngWriter {
            out,
            endian,
            ifaces: Vec::new(),
        })
    }

    /// Declares an interface and returns its id. `nanos` selects
    /// if_tsresol = 9 (nanoseconds) instead of the default microseconds.
    pub fn add_interface(&mut self, link: LinkType, snaplen: u32, nanos: bool) -> io::Result<u32> {
        let e = self.endian;
        let mut body = Vec::new();
        body.extend_from_slice(&e.u16(link.dlt() as u16));
        body.extend_from_slice(&e.u16(0));
        body.extend_from_slice(&e.u32(snaplen));
        if nanos {
            // if_tsresol (option 9), length 1, value 9, padded.
            body.extend_from_slice(&e.u16(9));
            body.extend_from_slice(&e.u16(1));
            body.extend_from_slice(&[9, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]);
        }
        write_block(&mut self.out, e, 1, &body)?;
        self.ifaces.push(nanos);
        Ok(self.ifaces.len() as u32 - 1)
    }

    /// Appends an Enhanced Packet Block.
    pub fn write_packet(
        &mut self,
        iface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let nanos = self.ifaces.get(iface as usize).copied().unwrap_or(false);
        let units = if nanos { ts.0 } else { ts.0.div_euclid(1000) };
        let units = units.max(0) as u64;
        let e = self.endian;
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        body.extend_from_slice(&e.u32(iface));
        body.extend_from_slice(&e.u32((units >> 32) as u32));
        body.extend_from_slice(&e.u32(units as u32));
        body.extend_from_slice(&e.u32(data.len() as u32));
        body.extend_from_slice(&e.u32(orig_len));
        body.extend_from_slice(data);
        body.extend(std::iter::repeat_n(0, pad4(data.len())));
        write_block(&mut self.out, e, 6, &body)
    }

    /// Appends a Decryption Secrets Block holding a TLS key log (type `TLSK`).
    pub fn write_tls_keylog(&mut self, keylog: &[u8]) -> io::Result<()> {
        let e = self.endian;
        let mut body = Vec::new();
        body.extend_from_slice(&e.u32(0x544c_534b));
        body.extend_from_slice(&e.u32(keylog.len() as u32));
        body.extend_from_slice(keylog);
        body.extend(std::iter::repeat_n(0, pad4(keylog.len())));
        write_block(&mut self.out, e, 0x0000_000a, &body)
    }

    /// Writes a raw block of any type (tests use it for unknown blocks).
    pub fn write_raw_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        write_block(&mut self.out, self.endian, block_type, body)
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// Flushes the sink, so that a file being written during a live
    /// capture can be read while the capture goes on.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn write_block<W: Write>(out: &mut W, e: Endian, block_type: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len() + pad4(body.len())) as u32;
    out.write_all(&e.u32(block_type))?;
    out.write_all(&e.u32(total))?;
    out.write_all(body)?;
    out.write_all(&[0u8; 3][..pad4(body.len())])?;
    out.write_all(&e.u32(total))
}
