//! Link-layer types (LINKTYPE_* numbers of the pcap specification).

use serde::Serialize;
use std::fmt;

/// The link layer of a capture interface. Total: every number maps to a
/// variant, unknown ones to [`LinkType::Unsupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in host order.
    Null,
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101), and the historical DLT_RAW numbers 12 and 14.
    RawIp,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, address family in network order.
    Loop,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2.
    LinuxSll2,
    /// Any other link type: its packets are counted but not decoded.
    Unsupported(u32),
}

impl From<u32> for LinkType {
    fn from(n: u32) -> Self {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::RawIp,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unsupported(other),
        }
    }
}

impl LinkType {
    /// The LINKTYPE number written in files.
    pub fn dlt(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Unsupported(n) => n,
        }
    }

    /// Wireshark's name for the link type (as `frame.encap_type` shows it).
    pub fn wireshark_name(self) -> String {
        match self {
            LinkType::Null => "Null/Loopback".into(),
            LinkType::Ethernet => "Ethernet".into(),
            LinkType::RawIp => "Raw IP".into(),
            LinkType::Loop => "OpenBSD loopback".into(),
            LinkType::LinuxSll => "Linux cooked-mode capture v1".into(),
            LinkType::Ipv4 => "Raw IPv4".into(),
            LinkType::Ipv6 => "Raw IPv6".into(),
            LinkType::LinuxSll2 => "Linux cooked-mode capture v2".into(),
            LinkType::Unsupported(n) => format!("LINKTYPE {n}"),
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wireshark_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for n in [0, 1, 101, 108, 113, 228, 229, 276, 147] {
            assert_eq!(LinkType::from(n).dlt(), n);
        }
        assert_eq!(LinkType::from(12), LinkType::RawIp);
    }
}
