//! Capture sources: turn a pcap/pcapng byte stream into [`RawPacket`]s.
//!
//! This layer knows file formats (legacy pcap in both byte orders and both
//! timestamp precisions, pcapng sections and interfaces) and nothing about
//! Ethernet, IP or TCP. It is the only place that performs file I/O on the
//! analysis path.

pub mod linktype;
pub mod prefetch;
pub mod reader;
pub mod writer;

pub use linktype::LinkType;
pub use reader::{CaptureFormat, CaptureReader, ReadError};

use serde::Serialize;
use std::fmt;

/// A 1-based packet number, as Wireshark numbers frames.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct PacketNo(pub u64);

impl fmt::Display for PacketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A capture timestamp in nanoseconds since the Unix epoch.
///
/// Kept as an integer so that nanosecond pcapng timestamps survive exactly;
/// converted to seconds only for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i128);

impl Timestamp {
    /// Builds a timestamp from whole seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: u32) -> Self {
        Timestamp(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
    }

    /// Seconds since the epoch as a float (microsecond precision is kept).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds elapsed since `earlier` (negative if `earlier` is later).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1e9
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// 1-based position in the capture.
    pub number: PacketNo,
    /// When it was captured.
    pub ts: Timestamp,
    /// Link layer of the interface it was captured on.
    pub link: LinkType,
    /// Length on the wire; `data.len()` is the captured length.
    pub orig_len: u32,
    /// The captured bytes (possibly cut by the snapshot length).
    pub data: &'a [u8],
}
