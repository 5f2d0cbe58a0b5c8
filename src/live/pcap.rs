//! Live capture through libpcap (the `libpcap` cargo feature): macOS and
//! the BSDs (`/dev/bpf`), Windows (Npcap), and Linux when chosen at build
//! time. Built with the feature, every platform captures this way; without
//! it, Linux uses the dependency-free `AF_PACKET` socket of
//! [`super::live`].
//!
//! The capture filter goes to libpcap's own compiler (`pcap_compile`), so
//! the whole tcpdump language works (`tcp[13] & 2 != 0`, `ether host`,
//! …); libpcap hands the program to the kernel (or the Npcap driver).
//! Packets come with the interface's own link-layer header and libpcap's
//! link type; on Linux loopback, libpcap already drops the outgoing copy.

use super::socket::{Interface, LiveError, Received};
use crate::capture::{LinkType, Timestamp};
use std::io;

/// How long libpcap may hold packets before handing them over
/// (milliseconds).
const TIMEOUT_MS: i32 = 10;

/// The pause when no packet is waiting.
const IDLE: std::time::Duration = std::time::Duration::from_millis(2);

/// How the capture is opened, as [`PcapSocket::open`] takes it.
#[derive(Debug, Clone)]
pub struct PcapOptions {
    /// Bytes kept per packet.
    pub snaplen: u32,
    /// Kernel (or driver) buffer in bytes; 0: libpcap's default.
    pub buffer: usize,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Capture filter in tcpdump's language, compiled by libpcap.
    pub filter: Option<String>,
}

/// An open libpcap capture.
pub struct PcapSocket {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    /// libpcap's counters are totals; [`PcapSocket::take_stats`] returns
    /// what came since the last call, as `PACKET_STATISTICS` does.
    last: (u32, u32),
    /// BPF instructions of the filter, when there is one.
    instructions: Option<usize>,
}

impl std::fmt::Debug for PcapSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSocket")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

fn pcap_err(what: &str) -> impl Fn(pcap::Error) -> LiveError + '_ {
    move |e| LiveError::Os {
        what: format!("libpcap: {what}"),
        source: io::Error::other(e.to_string()),
    }
}

impl PcapSocket {
    /// Opens and activates `iface` with `opts`, then installs the filter.
    /// Privileges are needed here only (root, `/dev/bpf*` access, or
    /// Npcap's admin-only mode); the caller may drop them afterwards.
    pub fn open(iface: &str, opts: &PcapOptions) -> Result<PcapSocket, LiveError> {
        let names: Vec<Interface> = interfaces();
        if !names.is_empty() && !names.iter().any(|i| i.name == iface) {
            return Err(LiveError::NoSuchInterface {
                name: iface.to_string(),
                available: names.into_iter().map(|i| i.name).collect(),
            });
        }
        let mut inactive = pcap::Capture::from_device(iface)
            .map_err(pcap_err("opening the interface"))?
            .snaplen(i32::try_from(opts.snaplen).unwrap_or(i32::MAX))
            .promisc(opts.promiscuous)
            .timeout(TIMEOUT_MS)
            .precision(pcap::Precision::Nano);
        if opts.buffer > 0 {
            inactive = inactive.buffer_size(i32::try_from(opts.buffer).unwrap_or(i32::MAX));
        }
        // Non-blocking, polled by [`PcapSocket::recv`]: a blocking read may
        // wait past any timeout on some platforms (Linux TPACKET_V3 with
        // an idle interface), and the capture thread must see a stop
        // request within [`IDLE`].
        let cap = inactive.open().map_err(|e| match &e {
            pcap::Error::PcapError(m) if m.contains("ermission") || m.contains("not permitted") => {
                LiveError::Permission {
                    iface: iface.to_string(),
                    exe: std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "wsinspect".into()),
                }
            }
            _ => pcap_err("activating the capture")(e),
        })?;
        let mut cap = cap
            .setnonblock()
            .map_err(pcap_err("setting non-blocking mode"))?;
        let link = LinkType::from(u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX));
        let instructions = match &opts.filter {
            Some(f) => {
                let n = cap
                    .compile(f, true)
                    .map_err(|e| LiveError::Filter(format!("filter {f:?}: {e}")))?
                    .get_instructions()
                    .len();
                cap.filter(f, true)
                    .map_err(|e| LiveError::Filter(format!("filter {f:?}: {e}")))?;
                Some(n)
            }
            None => None,
        };
        Ok(PcapSocket {
            cap,
            link,
            last: (0, 0),
            instructions,
        })
    }

    /// libpcap's link type of the interface.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// Instructions of the compiled filter, if any.
    pub fn filter_instructions(&self) -> Option<usize> {
        self.instructions
    }

    /// Receives one packet into `buf`; `Ok(None)` when the timeout passed.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let p = match self.cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::TimeoutExpired) => {
                std::thread::sleep(IDLE);
                return Ok(None);
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        };
        let n = p.data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), p.data.get(..n)) {
            dst.copy_from_slice(src);
        }
        // Nanosecond precision was asked for: tv_usec holds nanoseconds
        // (pcap_set_tstamp_precision(3PCAP)). `tv_sec` is i64 on most
        // targets but i32 on Windows: the conversion is needed there.
        #[allow(clippy::useless_conversion)]
        let ts = Timestamp::from_parts(
            i64::from(p.header.ts.tv_sec),
            u32::try_from(p.header.ts.tv_usec).unwrap_or(0),
        );
        Ok(Some(Received {
            caplen: n,
            orig_len: p.header.len,
            ts: Some(ts),
            pkttype: 0,
            ifindex: 0,
            hatype: 0,
            protocol: 0,
            halen: 0,
            addr: [0; 8],
            vlan: None,
        }))
    }

    /// Packets seen and dropped by the kernel (or driver) since the last
    /// call.
    pub fn take_stats(&mut self) -> io::Result<(u32, u32)> {
        let s = self
            .cap
            .stats()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let delta = (
            s.received.wrapping_sub(self.last.0),
            s.dropped.wrapping_sub(self.last.1),
        );
        self.last = (s.received, s.dropped);
        Ok(delta)
    }
}

/// The interfaces libpcap can open (`pcap_findalldevs`), numbered from 1
/// in its order as `tcpdump -D` does; link types are known only once open.
pub fn interfaces() -> Vec<Interface> {
    pcap::Device::list()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, d)| Interface {
            index: u32::try_from(i + 1).unwrap_or(u32::MAX),
            up: Some(d.flags.is_up()),
            name: d.name,
            link: None,
        })
        .collect()
}
