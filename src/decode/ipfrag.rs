//! IPv4 fragment reassembly (RFC 791 §3.2), bounded.
//!
//! Fragments are kept per (source, destination, identification, protocol)
//! until the datagram is complete. The pool holds at most
//! [`MAX_PENDING`] datagrams and each at most 65 535 bytes; when full, the
//! oldest datagram is dropped. Overlapping fragments: the first copy of a
//! byte wins, as in the TCP reassembler.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Datagrams under reassembly at once.
pub const MAX_PENDING: usize = 1024;
const MAX_DATAGRAM: usize = 65_535;

/// Identifies the fragments of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP identification field.
    pub id: u16,
    /// Upper-layer protocol number.
    pub protocol: u8,
}

#[derive(Debug, Default)]
struct Pending {
    /// offset → bytes
    parts: BTreeMap<usize, Vec<u8>>,
    total: Option<usize>,
    first_packet: u64,
}

/// Pool of datagrams under reassembly.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: HashMap<FragmentKey, Pending>,
}

impl Defragmenter {
    /// Adds a fragment; returns the whole IP payload once complete.
    pub fn push(
        &mut self,
        key: FragmentKey,
        offset: usize,
        more: bool,
        data: &[u8],
        packet: u64,
    ) -> Option<Vec<u8>> {
        let end = offset.checked_add(data.len())?;
        if end > MAX_DATAGRAM {
            return None;
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_packet)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.pending.remove(&k);
            }
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_packet: packet,
            ..Default::default()
        });
        if !more {
            entry.total = Some(end);
        }
        entry.parts.entry(offset).or_insert_with(|| data.to_vec());
        let total = entry.total?;
        let mut out = Vec::with_capacity(total);
        for (&off, bytes) in &entry.parts {
            if off > out.len() {
                return None;
            }
            let skip = out.len() - off;
            if let Some(rest) = bytes.get(skip..) {
                out.extend_from_slice(rest);
            }
        }
        if out.len() < total {
            return None;
        }
        out.truncate(total);
        self.pending.remove(&key);
        Some(out)
    }

    /// Datagrams still incomplete.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key() -> FragmentKey {
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        FragmentKey {
            src: a,
            dst: a,
            id: 7,
            protocol: 6,
        }
    }

    #[test]
    fn reassembles_out_of_order() {
        let mut d = Defragmenter::default();
        assert_eq!(d.push(key(), 8, false, b"world!", 2), None);
        assert_eq!(
            d.push(key(), 0, true, b"hello, w", 1).as_deref(),
            Some(&b"hello, wworld!"[..])
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn overlap_first_copy_wins() {
        let mut d = Defragmenter::default();
        assert_eq!(d.push(key(), 0, true, b"abcdefgh", 1), None);
        assert_eq!(d.push(key(), 0, true, b"XXXXXXXX", 2), None);
        assert_eq!(
            d.push(key(), 8, false, b"ij", 3).as_deref(),
            Some(&b"abcdefghij"[..])
        );
    }

    #[test]
    fn pool_is_bounded() {
        let mut d = Defragmenter::default();
        for i in 0..(MAX_PENDING as u16 + 10) {
            let k = FragmentKey { id: i, ..key() };
            d.push(k, 0, true, b"12345678", u64::from(i));
        }
        assert_eq!(d.pending(), MAX_PENDING);
    }
}
