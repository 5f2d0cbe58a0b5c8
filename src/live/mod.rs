//! Live capture: packets from an interface go through the same
//! [`Analyzer`] as capture files, as they arrive.
//!
//! Two parts, one per thread:
//!
//! - [`LiveSource`] owns the packet socket ([`socket`]; [`bpf`] compiles the
//!   capture filter) in a capture thread that does nothing but receive: it
//!   drops the second copy
//!   of loopback packets, filters in user space when the kernel did not take
//!   the BPF program, and queues owned packets for the analysis. The queue is
//!   bounded in bytes; when the analysis falls behind, packets are dropped
//!   *and counted* ("dropped by wsinspect"), next to the kernel's own drop
//!   count (`PACKET_STATISTICS`).
//! - [`LiveSession`] is the incremental, sans-IO side: [`LiveSession::push`]
//!   saves a packet to the `-w` pcapng file and hands it to the analyzer;
//!   [`LiveSession::tick`] finishes connections that are over, so their
//!   `connection_end` is emitted during the capture; and
//!   [`LiveSession::snapshot`] returns the model so far. This is the hook
//!   for an interactive view: run [`run`] on a thread with a sink of your
//!   own and publish `session.snapshot()` from its `on_tick` callback.
//!
//! Packets are numbered in the order they are pushed, which is the order
//! they are written to the `-w` file, so `wsinspect report` on the saved
//! file names the same packet numbers.

pub mod bpf;
#[cfg(feature = "libpcap")]
pub mod pcap;
pub mod socket;

use crate::analysis::{Analyzer, CaptureInfo, Consumer, Limits};
use crate::capture::writer::{Endian, PcapngWriter};
use crate::capture::{LinkType, PacketNo, RawPacket, Timestamp};
use crate::model::Analysis;
use bpf::Filter;
#[cfg(not(feature = "libpcap"))]
use bpf::FilterError;
#[cfg(not(feature = "libpcap"))]
use socket::PacketSocket;
#[cfg(target_os = "linux")]
use socket::drop_privileges;
use socket::{ARPHRD_LOOPBACK, Dropped, LiveError, PACKET_OUTGOING, Received};
pub use socket::{Interface, interfaces};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default snapshot length (libpcap's since 4.x).
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// What to capture and how.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Interface name, or `any`.
    pub iface: String,
    /// Capture filter.
    pub filter: Option<Filter>,
    /// Bytes kept per packet.
    pub snaplen: u32,
    /// Kernel receive buffer in bytes (0: system default).
    pub kernel_buffer: usize,
    /// Bytes of packets queued between capture and analysis before
    /// packets are dropped.
    pub queue_bytes: u64,
    /// Once the socket is open, give up privileges: switch to this user
    /// when running as root, and clear every capability either way
    /// ([`drop_privileges`]). `None` keeps them (a library caller that
    /// shares its process with other work decides for itself).
    pub drop_to: Option<String>,
    /// The capture filter as given. With the `libpcap` feature libpcap
    /// compiles it (the whole tcpdump language) and `filter` may be `None`;
    /// without it, `filter` is what runs.
    pub expression: Option<String>,
    /// Put the interface in promiscuous mode while capturing (tcpdump's
    /// default; `-p` turns it off), so frames addressed to other hosts on
    /// a shared segment are seen too.
    pub promiscuous: bool,
}

impl LiveConfig {
    /// Defaults for `iface`: no filter, 262144-byte snaplen, 4 MiB kernel
    /// buffer, 64 MiB queue.
    pub fn new(iface: &str) -> Self {
        LiveConfig {
            iface: iface.to_string(),
            filter: None,
            snaplen: DEFAULT_SNAPLEN,
            kernel_buffer: 4 << 20,
            queue_bytes: 64 << 20,
            drop_to: None,
            promiscuous: true,
            expression: None,
        }
    }
}

/// Where the capture filter runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterMode {
    /// No filter.
    None,
    /// Attached to the socket (`SO_ATTACH_FILTER`).
    Kernel {
        /// Length of the BPF program.
        instructions: usize,
    },
    /// Evaluated by the capture thread.
    UserSpace {
        /// Why not in the kernel.
        reason: String,
    },
}

/// Packets dropped so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drops {
    /// Packets that passed the filter, as the kernel counts them
    /// (loopback packets count twice: once per direction).
    pub kernel_received: u64,
    /// Dropped by the kernel: the socket buffer was full.
    pub kernel: u64,
    /// Dropped by wsinspect: the analysis queue was full.
    pub own: u64,
}

/// A packet owned by the queue.
#[derive(Debug, Clone)]
pub struct CapturedPacket {
    /// Receive time.
    pub ts: Timestamp,
    /// Bytes, laid out as [`LiveSource::link_type`] says.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub orig_len: u32,
}

/// What [`LiveSource::next`] returns.
#[derive(Debug)]
pub enum Next {
    /// A packet.
    Packet(CapturedPacket),
    /// Nothing within the timeout.
    Timeout,
    /// The capture thread stopped (an error, if it failed).
    Ended(Option<io::Error>),
}

#[derive(Debug, Default)]
struct Counters {
    kernel_received: AtomicU64,
    kernel_drops: AtomicU64,
    own_drops: AtomicU64,
    queued_bytes: AtomicU64,
}

/// How this build captures, for messages.
pub const BACKEND: &str = if cfg!(target_os = "linux") {
    "Linux AF_PACKET"
} else {
    "live capture needs the libpcap feature on this platform"
};

/// The capture thread and its queue.
#[derive(Debug)]
pub struct LiveSource {
    rx: Receiver<CapturedPacket>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
    counters: Arc<Counters>,
    link: LinkType,
    filter_mode: FilterMode,
    snaplen: u32,
    privileges: Option<Dropped>,
    promiscuous: bool,
}

/// The capture socket of this build: libpcap with the `libpcap` feature,
/// `AF_PACKET` without.
#[cfg(not(feature = "libpcap"))]
type Socket = PacketSocket;
#[cfg(feature = "libpcap")]
type Socket = pcap::PcapSocket;

/// Opens the `AF_PACKET` socket, compiles and attaches the filter (or
/// keeps it for user space), sets promiscuous mode (needs CAP_NET_RAW, so
/// before the privileges go) and starts receiving. Returns the socket,
/// where the filter runs, the filter left to user space, and whether the
/// interface is promiscuous.
#[cfg(not(feature = "libpcap"))]
fn open_socket(
    cfg: &LiveConfig,
    snaplen: u32,
) -> Result<(Socket, FilterMode, Option<Filter>, bool), LiveError> {
    let sock = PacketSocket::open(&cfg.iface)?;
    let mut user_filter = None;
    let filter_mode = match &cfg.filter {
        None => FilterMode::None,
        Some(f) => match f.compile(sock.layout(), snaplen) {
            Ok(prog) => match sock.attach_filter(&prog) {
                Ok(()) => FilterMode::Kernel {
                    instructions: prog.len(),
                },
                Err(e) => {
                    user_filter = Some(f.clone());
                    FilterMode::UserSpace {
                        reason: format!("the kernel refused the program: {e}"),
                    }
                }
            },
            Err(e @ FilterError::TooLarge(_)) | Err(e @ FilterError::Syntax { .. }) => {
                user_filter = Some(f.clone());
                FilterMode::UserSpace {
                    reason: e.to_string(),
                }
            }
        },
    };
    if cfg.kernel_buffer > 0 {
        // Best effort: the default buffer still works, with more drops.
        let _ = sock.set_buffer(cfg.kernel_buffer);
    }
    sock.set_timeout(POLL).map_err(|source| LiveError::Os {
        what: "SO_RCVTIMEO".into(),
        source,
    })?;
    let promiscuous = if cfg.promiscuous {
        sock.set_promiscuous().map_err(|source| LiveError::Os {
            what: "PACKET_ADD_MEMBERSHIP (promiscuous mode; -p turns it off)".into(),
            source,
        })?
    } else {
        false
    };
    sock.start()?;
    Ok((sock, filter_mode, user_filter, promiscuous))
}

/// Opens the interface with libpcap, which compiles the filter text itself
/// (the whole tcpdump language; [`LiveConfig::expression`]).
#[cfg(feature = "libpcap")]
fn open_socket(
    cfg: &LiveConfig,
    snaplen: u32,
) -> Result<(Socket, FilterMode, Option<Filter>, bool), LiveError> {
    use pcap::{PcapOptions, PcapSocket};
    let filter = cfg
        .expression
        .clone()
        .or_else(|| cfg.filter.as_ref().map(|f| f.as_str().to_string()));
    let sock = PcapSocket::open(
        &cfg.iface,
        &PcapOptions {
            snaplen,
            buffer: cfg.kernel_buffer,
            promiscuous: cfg.promiscuous,
            filter,
        },
    )?;
    let mode = match sock.filter_instructions() {
        Some(instructions) => FilterMode::Kernel { instructions },
        None => FilterMode::None,
    };
    // libpcap has no promiscuous `any`, as with AF_PACKET.
    let promiscuous = cfg.promiscuous && cfg.iface != "any";
    Ok((sock, mode, None, promiscuous))
}

/// Gives up privileges once the capture is open: Linux clears every
/// capability (and switches user when root), other Unix systems switch
/// user when root, Windows keeps the process as it is (Npcap opens the
/// driver with the user's rights; there is nothing to give up in-process).
#[cfg(target_os = "linux")]
fn give_up(user: &str) -> Result<Option<Dropped>, LiveError> {
    drop_privileges(user).map(Some)
}
#[cfg(all(unix, not(target_os = "linux")))]
fn give_up(user: &str) -> Result<Option<Dropped>, LiveError> {
    socket::drop_root(user)
}
#[cfg(not(unix))]
fn give_up(_user: &str) -> Result<Option<Dropped>, LiveError> {
    Ok(None)
}

/// How often the capture thread reads the kernel's counters and checks for
/// a stop request.
const POLL: Duration = Duration::from_millis(100);

/// Most packets queued at once (the byte bound usually comes first).
const QUEUE_PACKETS: usize = 1 << 16;

impl LiveSource {
    /// Opens the interface, installs the filter and starts capturing.
    pub fn start(cfg: &LiveConfig) -> Result<LiveSource, LiveError> {
        let snaplen = cfg.snaplen.clamp(64, DEFAULT_SNAPLEN);
        let (sock, filter_mode, user_filter, promiscuous) = open_socket(cfg, snaplen)?;
        // Before the capture thread starts, so that it inherits the
        // reduced credentials (capabilities are per thread).
        let privileges = match cfg.drop_to.as_deref() {
            Some(user) => give_up(user)?,
            None => None,
        };
        let link = sock.link_type();
        let (tx, rx) = mpsc::sync_channel(QUEUE_PACKETS);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            sock,
            tx,
            stop: stop.clone(),
            counters: counters.clone(),
            filter: user_filter,
            snaplen,
            queue_bytes: cfg.queue_bytes,
        };
        let thread = std::thread::Builder::new()
            .name("wsinspect-capture".into())
            .spawn(move || worker.run())
            .map_err(|source| LiveError::Os {
                what: "starting the capture thread".into(),
                source,
            })?;
        Ok(LiveSource {
            rx,
            stop,
            thread: Some(thread),
            counters,
            link,
            filter_mode,
            snaplen,
            privileges,
            promiscuous,
        })
    }

    /// Whether the interface was put in promiscuous mode (never for `any`).
    pub fn promiscuous(&self) -> bool {
        self.promiscuous
    }

    /// What was given up once the socket was open ([`LiveConfig::drop_to`]).
    pub fn privileges(&self) -> Option<&Dropped> {
        self.privileges.as_ref()
    }

    /// Link type of the queued packets.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// Where the filter runs.
    pub fn filter_mode(&self) -> &FilterMode {
        &self.filter_mode
    }

    /// Snapshot length in force.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The next packet, waiting at most `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Next {
        match self.rx.recv_timeout(timeout) {
            Ok(p) => {
                self.counters
                    .queued_bytes
                    .fetch_sub(p.data.len() as u64, Ordering::Relaxed);
                Next::Packet(p)
            }
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => Next::Ended(self.join().err()),
        }
    }

    /// Drop counters so far.
    pub fn drops(&self) -> Drops {
        let c = &self.counters;
        Drops {
            kernel_received: c.kernel_received.load(Ordering::Relaxed),
            kernel: c.kernel_drops.load(Ordering::Relaxed),
            own: c.own_drops.load(Ordering::Relaxed),
        }
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the capture thread panicked"))),
            None => Ok(()),
        }
    }

    /// Asks the capture thread to stop receiving; packets already queued
    /// can still be read with [`LiveSource::next`].
    pub fn stop_receiving(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Empties the queue without analysing; the packets count as dropped
    /// by wsinspect. Returns how many there were.
    pub fn discard_queued(&mut self) -> u64 {
        let mut n = 0;
        while self.rx.try_recv().is_ok() {
            n += 1;
        }
        self.counters.own_drops.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// Stops the capture thread and returns the final counters. Packets
    /// still queued are not analysed (and not counted as drops).
    pub fn stop(mut self) -> io::Result<Drops> {
        self.stop.store(true, Ordering::Relaxed);
        let r = self.join();
        r.map(|()| self.drops())
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    sock: Socket,
    tx: SyncSender<CapturedPacket>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    filter: Option<Filter>,
    snaplen: u32,
    queue_bytes: u64,
}

impl Worker {
    fn run(mut self) -> io::Result<()> {
        let mut buf = vec![0u8; self.snaplen as usize];
        let mut last_stats = Instant::now();
        let link = self.sock.link_type();
        // With libpcap the filter never runs here: any layout will do.
        #[cfg(not(feature = "libpcap"))]
        let layout = self.sock.layout();
        #[cfg(feature = "libpcap")]
        let layout = bpf::Layout::Ethernet;
        let result = loop {
            if self.stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            if last_stats.elapsed() >= POLL {
                self.read_stats();
                last_stats = Instant::now();
            }
            let r = match self.sock.recv(&mut buf) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => break Err(e),
            };
            // On loopback every packet passes twice, as PACKET_OUTGOING and
            // as PACKET_HOST; keep one copy (as tcpdump and libpcap do).
            if r.pkttype == PACKET_OUTGOING && r.hatype == ARPHRD_LOOPBACK {
                continue;
            }
            let data = buf.get(..r.caplen).unwrap_or(&buf);
            if let Some(f) = &self.filter
                && !f.matches_tagged(layout, data, r.protocol, r.vlan.map(|(_, tci)| tci))
            {
                continue;
            }
            let ts = r.ts.unwrap_or_else(now);
            // libpcap's packets are whole, link-layer header included.
            let (data, orig_len) = if cfg!(feature = "libpcap") {
                (data.to_vec(), r.orig_len)
            } else {
                frame(link, &r, data)
            };
            let len = data.len() as u64;
            let queued = self.counters.queued_bytes.load(Ordering::Relaxed);
            if queued.saturating_add(len) > self.queue_bytes {
                self.counters.own_drops.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.counters.queued_bytes.fetch_add(len, Ordering::Relaxed);
            match self.tx.try_send(CapturedPacket { ts, data, orig_len }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.counters.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                    self.counters.own_drops.fetch_add(1, Ordering::Relaxed);
                }
                // The analysis side is gone: stop.
                Err(TrySendError::Disconnected(_)) => break Ok(()),
            }
        };
        self.read_stats();
        result
    }

    fn read_stats(&mut self) {
        if let Ok((seen, dropped)) = self.sock.take_stats() {
            let c = &self.counters;
            c.kernel_received
                .fetch_add(u64::from(seen), Ordering::Relaxed);
            c.kernel_drops
                .fetch_add(u64::from(dropped), Ordering::Relaxed);
        }
    }
}

/// The packet as stored: Ethernet frames get back a VLAN tag the driver
/// took out; cooked packets get a LINKTYPE_LINUX_SLL2 header built from the
/// socket address (tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html).
fn frame(link: LinkType, r: &Received, data: &[u8]) -> (Vec<u8>, u32) {
    match link {
        LinkType::LinuxSll2 => {
            let mut v = Vec::with_capacity(20 + data.len());
            v.extend_from_slice(&r.protocol.to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&r.ifindex.to_be_bytes());
            v.extend_from_slice(&r.hatype.to_be_bytes());
            v.push(r.pkttype);
            v.push(r.halen);
            v.extend_from_slice(&r.addr);
            v.extend_from_slice(data);
            (v, r.orig_len.saturating_add(20))
        }
        _ => match (r.vlan, data.get(..12), data.get(12..)) {
            (Some((tpid, tci)), Some(macs), Some(rest)) => {
                let mut v = Vec::with_capacity(data.len() + 4);
                v.extend_from_slice(macs);
                v.extend_from_slice(&tpid.to_be_bytes());
                v.extend_from_slice(&tci.to_be_bytes());
                v.extend_from_slice(rest);
                (v, r.orig_len.saturating_add(4))
            }
            _ => (data.to_vec(), r.orig_len),
        },
    }
}

/// The wall clock as a capture timestamp (the kernel stamps packets with
/// the same clock).
pub fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_parts(d.as_secs() as i64, d.subsec_nanos())
}

/// How the session analyses and keeps memory bounded.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Analysis limits, as for files.
    pub limits: Limits,
    /// TLS secrets for wss connections.
    pub keylog: Option<std::sync::Arc<crate::tls::KeyLog>>,
    /// Keep only summaries of finished connections (NDJSON/text streaming);
    /// off when the whole model is wanted at the end (JSON, a TUI).
    pub evict_finished: bool,
    /// How long a closed connection waits for late packets (the last ACK)
    /// before it is finished.
    pub linger: Duration,
    /// With `evict_finished`: messages (and control frames) kept per
    /// connection in progress; older ones were already streamed.
    pub keep_recent: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            limits: Limits::default(),
            keylog: None,
            evict_finished: true,
            linger: Duration::from_secs(1),
            keep_recent: 1000,
        }
    }
}

/// The pcapng file being written.
struct Saver<'s> {
    out: PcapngWriter<Box<dyn Write + 's>>,
    iface: u32,
}

/// An analysis fed packet by packet (see the module docs).
pub struct LiveSession<'s> {
    analyzer: Analyzer<'s>,
    save: Option<Saver<'s>>,
    info: CaptureInfo,
    link: LinkType,
    linger_ns: i128,
    /// `Some(n)` when evicting: see [`SessionOptions::keep_recent`].
    keep_recent: Option<usize>,
    packets: u64,
    drops: Drops,
}

impl<'s> LiveSession<'s> {
    /// A session for packets of `link`, named `name` in the model; events
    /// go to `sink` as they happen; `save` receives a pcapng copy of every
    /// pushed packet.
    pub fn new(
        name: &str,
        link: LinkType,
        snaplen: u32,
        opts: SessionOptions,
        save: Option<Box<dyn Write + 's>>,
        sink: &'s mut dyn Consumer,
    ) -> io::Result<Self> {
        let mut analyzer = Analyzer::new(opts.limits, sink);
        analyzer.set_evict_finished(opts.evict_finished);
        analyzer.set_keylog(opts.keylog.clone());
        let save = match save {
            Some(w) => {
                let mut out = PcapngWriter::new(w, Endian::Little)?;
                let iface = out.add_interface(link, snaplen, true)?;
                Some(Saver { out, iface })
            }
            None => None,
        };
        Ok(LiveSession {
            analyzer,
            save,
            info: CaptureInfo {
                name: name.to_string(),
                format: "live".into(),
                link_type: link.wireshark_name(),
                link_type_dlt: link.dlt(),
            },
            link,
            linger_ns: opts.linger.as_nanos() as i128,
            keep_recent: opts.evict_finished.then_some(opts.keep_recent),
            packets: 0,
            drops: Drops::default(),
        })
    }

    /// Saves and analyses one packet.
    pub fn push(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        if let Some(s) = &mut self.save {
            s.out.write_packet(s.iface, ts, data, orig_len)?;
        }
        self.packets += 1;
        self.analyzer.push(&RawPacket {
            number: PacketNo(self.packets),
            ts,
            link: self.link,
            orig_len,
            data,
        });
        Ok(())
    }

    /// Periodic work at wall-clock time `now`: finishes connections that
    /// closed more than the linger time ago, trims long-lived ones when
    /// evicting, and flushes the saved file.
    pub fn tick(&mut self, now: Timestamp) -> io::Result<()> {
        self.analyzer.retire_closed(now, self.linger_ns);
        self.analyzer.idle();
        if let Some(n) = self.keep_recent {
            self.analyzer.trim_live(n);
        }
        if let Some(s) = &mut self.save {
            s.out.flush()?;
        }
        Ok(())
    }

    /// Records the latest drop counters (shown in the final model).
    pub fn set_drops(&mut self, d: Drops) {
        self.drops = d;
    }

    /// Drop counters last recorded.
    pub fn drops(&self) -> Drops {
        self.drops
    }

    /// Packets pushed so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The model so far (see [`Analyzer::snapshot`]).
    pub fn snapshot(&self) -> Analysis {
        self.analyzer.snapshot(self.info.clone())
    }

    /// The capture's totals so far (see [`Analyzer::totals`]).
    pub fn totals(&self) -> Analysis {
        self.analyzer.totals(self.info.clone())
    }

    /// Ends the analysis: drops become capture anomalies, the saved file is
    /// flushed, and the whole model is returned.
    pub fn finish(mut self) -> io::Result<Analysis> {
        let at = PacketNo(self.packets);
        if self.drops.kernel > 0 {
            self.analyzer.capture_anomaly(
                at,
                format!(
                    "the kernel dropped {} packets (socket buffer full); their connections may show gaps",
                    self.drops.kernel
                ),
            );
        }
        if self.drops.own > 0 {
            self.analyzer.capture_anomaly(
                at,
                format!(
                    "wsinspect dropped {} packets (the analysis fell behind the capture)",
                    self.drops.own
                ),
            );
        }
        if let Some(s) = self.save.take() {
            s.out.finish()?;
        }
        Ok(self.analyzer.finish(self.info))
    }
}

/// When [`run`] stops.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Set (e.g. by a signal handler) to stop.
    pub stop: Arc<AtomicBool>,
    /// Stop after this many packets.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `--count` packets were analysed.
    Count,
    /// `--duration` passed.
    Duration,
    /// The stop flag was set (Ctrl-C).
    Interrupted,
    /// The capture thread ended on its own.
    SourceEnded,
}

/// How often [`run`] calls [`LiveSession::tick`] and `on_tick`.
pub const TICK: Duration = Duration::from_millis(250);

/// Moves packets from `source` into `session` until `ctl` says stop.
/// `on_tick` runs about every [`TICK`] with the session (publish a
/// snapshot, print drop warnings, flush output).
pub fn run(
    source: &mut LiveSource,
    session: &mut LiveSession<'_>,
    ctl: &RunControl,
    on_tick: &mut dyn FnMut(&LiveSession<'_>),
) -> io::Result<StopReason> {
    let start = Instant::now();
    let mut last_tick = start;
    let reason = loop {
        if ctl.stop.load(Ordering::Relaxed) {
            break StopReason::Interrupted;
        }
        if ctl.count.is_some_and(|n| session.packets() >= n) {
            break StopReason::Count;
        }
        let mut wait = TICK.saturating_sub(last_tick.elapsed()).min(POLL);
        if let Some(d) = ctl.duration {
            let left = d.saturating_sub(start.elapsed());
            if left.is_zero() {
                break StopReason::Duration;
            }
            wait = wait.min(left);
        }
        match source.next(wait.max(Duration::from_millis(1))) {
            Next::Packet(p) => session.push(p.ts, &p.data, p.orig_len)?,
            Next::Timeout => {}
            Next::Ended(None) => break StopReason::SourceEnded,
            Next::Ended(Some(e)) => return Err(e),
        }
        if last_tick.elapsed() >= TICK {
            session.set_drops(source.drops());
            session.tick(now())?;
            on_tick(session);
            last_tick = Instant::now();
        }
    };
    if reason != StopReason::Count {
        // What the kernel already gave us is analysed (and saved) before
        // stopping, within a bound; anything left counts as dropped.
        source.stop_receiving();
        let deadline = Instant::now() + DRAIN;
        while Instant::now() < deadline {
            match source.next(POLL) {
                Next::Packet(p) => session.push(p.ts, &p.data, p.orig_len)?,
                Next::Timeout => {}
                Next::Ended(_) => break,
            }
        }
        source.discard_queued();
    }
    session.set_drops(source.drops());
    Ok(reason)
}

/// Longest time [`run`] spends analysing queued packets after a stop.
pub const DRAIN: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::NullSink;
    use crate::capture::CaptureReader;
    use std::fs::File;
    use std::io::BufReader;

    fn packets(name: &str) -> (LinkType, Vec<(Timestamp, Vec<u8>, u32)>) {
        let path = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut r = CaptureReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
        let mut v = Vec::new();
        let mut link = LinkType::Ethernet;
        while let Some(p) = r.next_packet().unwrap() {
            link = p.link;
            v.push((p.ts, p.data.to_vec(), p.orig_len));
        }
        (link, v)
    }

    #[test]
    fn session_saves_what_it_analyses_and_evicts_finished() {
        let (link, pkts) = packets("seed_echo.pcapng");
        let mut file = Vec::new();
        let mut sink = NullSink;
        let live = {
            let mut s = LiveSession::new(
                "lo",
                link,
                65535,
                SessionOptions::default(),
                Some(Box::new(&mut file)),
                &mut sink,
            )
            .unwrap();
            for (ts, d, o) in &pkts {
                s.push(*ts, d, *o).unwrap();
            }
            let mid = s.snapshot();
            assert_eq!(mid.connections.len(), 1);
            assert!(!mid.connections[0].messages.is_empty());
            // Long after the last packet: the closed connection is finished.
            s.tick(Timestamp(pkts.last().unwrap().0.0 + 10_000_000_000))
                .unwrap();
            let after = s.snapshot();
            assert!(after.connections[0].messages.is_empty());
            s.finish().unwrap()
        };
        let mut sink = NullSink;
        let from_file =
            crate::pipeline::analyze_reader("saved", &file[..], Limits::default(), &mut sink)
                .unwrap();
        assert_eq!(from_file.packet_count, pkts.len() as u64);
        assert_eq!(live.stats, from_file.stats);
        assert_eq!(live.connections.len(), from_file.connections.len());
        let (a, b) = (&live.connections[0], &from_file.connections[0]);
        assert_eq!(a.handshake, b.handshake);
        assert_eq!(a.stats, b.stats);
        assert!(a.messages.is_empty() && !b.messages.is_empty());
    }

    /// The totals the live view gets every tick (no connection copied)
    /// are the statistics of the whole model so far, all along the capture.
    #[test]
    fn totals_match_the_snapshot_after_every_packet() {
        for (name, every) in [
            ("seed_echo.pcapng", 1),
            ("midstream.pcap", 17),
            ("many_conns.pcap", 23),
            ("lossy_netns.pcap", 97),
        ] {
            let (link, pkts) = packets(name);
            let mut sink = NullSink;
            let mut s = LiveSession::new(
                "lo",
                link,
                65535,
                SessionOptions::default(),
                None,
                &mut sink,
            )
            .unwrap();
            let mut websocket_seen = false;
            for (i, (ts, d, o)) in pkts.iter().enumerate() {
                s.push(*ts, d, *o).unwrap();
                if i % every != 0 && i + 1 != pkts.len() {
                    continue;
                }
                let (totals, snap) = (s.totals(), s.snapshot());
                assert!(totals.connections.is_empty());
                assert_eq!(totals.stats, snap.stats, "{name}");
                assert_eq!(totals.capture_anomalies, snap.capture_anomalies, "{name}");
                websocket_seen |= totals.stats.websocket_connections > 0;
            }
            assert!(websocket_seen, "{name}: a WebSocket connection in progress");
        }
    }

    #[test]
    fn sll2_header_is_built_from_the_socket_address() {
        let r = Received {
            caplen: 2,
            orig_len: 2,
            ts: None,
            pkttype: 4,
            ifindex: 3,
            hatype: 772,
            protocol: 0x0800,
            halen: 6,
            addr: [1, 2, 3, 4, 5, 6, 0, 0],
            vlan: None,
        };
        let (v, orig) = frame(LinkType::LinuxSll2, &r, &[0x45, 0]);
        assert_eq!(
            v,
            [
                8, 0, 0, 0, 0, 0, 0, 3, 3, 4, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x45, 0
            ]
        );
        assert_eq!(orig, 22);
        let tagged = Received {
            vlan: Some((0x8100, 7)),
            ..r
        };
        let eth: Vec<u8> = (0..14).collect();
        let (v, orig) = frame(LinkType::Ethernet, &tagged, &eth);
        assert_eq!(&v[12..16], &[0x81, 0, 0, 7]);
        assert_eq!(&v[16..], &[12, 13]);
        assert_eq!(orig, 6);
    }
}
