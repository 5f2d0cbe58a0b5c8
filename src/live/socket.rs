//! Linux `AF_PACKET` sockets: the only FFI (and the only `unsafe`) in the
//! crate, kept to the system calls a live capture needs (packet(7)).
//!
//! - Ethernet and loopback interfaces are opened `SOCK_RAW`: packets come
//!   with their Ethernet header (loopback frames have all-zero MACs), link
//!   type Ethernet, as tcpdump shows them.
//! - `any` and other interfaces (tun, ppp, ...) are opened `SOCK_DGRAM`
//!   ("cooked"): packets start at the network header and the socket address
//!   tells protocol, interface and direction; the caller rebuilds a Linux
//!   cooked v2 header from [`Received`].
//!
//! The socket is created with protocol 0, so it receives nothing until
//! [`PacketSocket::start`] binds it with `ETH_P_ALL`: a filter attached in
//! between applies to every packet the socket ever returns (no unfiltered
//! packets queued before `SO_ATTACH_FILTER`, the race libpcap drains).
//!
//! Every `unsafe` block has a SAFETY comment; nothing unsafe leaves this
//! module.

#![allow(unsafe_code)]

use super::bpf::{BpfInsn, Layout};
use crate::capture::{LinkType, Timestamp};
use std::io;

/// Why a live capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No interface of that name.
    #[error("no interface named {name:?} (available: {})", if .available.is_empty() { "none found".to_string() } else { .available.join(", ") })]
    NoSuchInterface {
        /// The name given.
        name: String,
        /// Interfaces that exist (from /sys/class/net).
        available: Vec<String>,
    },
    /// Opening a packet socket was refused.
    #[error(
        "permission denied opening a packet socket on {iface}: live capture needs root or the \
         CAP_NET_RAW capability. Run it as root (e.g. `sudo wsinspect live ...`), or grant the \
         capability to the binary once: `sudo setcap cap_net_raw+ep {exe}`"
    )]
    Permission {
        /// Interface.
        iface: String,
        /// Path of the running binary, for the setcap hint.
        exe: String,
    },
    /// Any other system call failure.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// Not Linux, and built without the `libpcap` feature.
    #[error(
        "live capture needs the libpcap feature on this platform: build with `cargo install wsinspect --features libpcap` (libpcap, or Npcap on Windows); without it only Linux (AF_PACKET) captures"
    )]
    Unsupported,
    /// libpcap refused the capture filter.
    #[error("{0}")]
    Filter(String),
    /// `--user` names no account.
    #[error("cannot drop privileges to {0:?}: no such user (choose one with --user)")]
    NoSuchUser(String),
    /// A capability was still effective after dropping them all.
    #[error("dropping privileges failed: {0}")]
    StillPrivileged(String),
}

/// What [`drop_privileges`] left the process with, for the message on
/// standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The account switched to (name, uid, gid), when running as root.
    pub user: Option<(String, u32, u32)>,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.user {
            Some((name, uid, gid)) => write!(
                f,
                "privileges dropped to user {name} (uid {uid}, gid {gid}): no capabilities, no_new_privs"
            ),
            None => f.write_str(
                "privileges dropped: every capability cleared, no_new_privs set (not root: the user stays)",
            ),
        }
    }
}

/// One packet as the kernel returned it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Bytes written to the buffer.
    pub caplen: usize,
    /// Length of the packet before any cut (filter snaplen or buffer).
    pub orig_len: u32,
    /// Kernel receive timestamp (`SO_TIMESTAMPNS`), if it came.
    pub ts: Option<Timestamp>,
    /// `PACKET_HOST`, `PACKET_OUTGOING`, ... (`sll_pkttype`).
    pub pkttype: u8,
    /// Interface the packet was seen on.
    pub ifindex: i32,
    /// ARPHRD_* of that interface.
    pub hatype: u16,
    /// Link-layer protocol (EtherType), host order.
    pub protocol: u16,
    /// Link-layer address length and bytes (`sll_halen`, `sll_addr`).
    pub halen: u8,
    /// Link-layer address.
    pub addr: [u8; 8],
    /// VLAN tag the driver took out of the frame: (TPID, TCI).
    pub vlan: Option<(u16, u16)>,
}

/// One interface, as `live -D` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Kernel interface index (0 for `any`).
    pub index: u32,
    /// Name, as `-i` takes it.
    pub name: String,
    /// Administratively up (`IFF_UP`); `None` when unknown.
    pub up: Option<bool>,
    /// Link type of the packets a capture on it stores, when known.
    pub link: Option<LinkType>,
}

/// The interfaces a capture can open, ordered by index, then `any`; on
/// Linux from /sys/class/net (`ifindex`, `flags`, `type` = ARPHRD_*).
/// Elsewhere (without the `libpcap` feature) the list is empty.
pub fn interfaces() -> Vec<Interface> {
    #[cfg(feature = "libpcap")]
    let v = super::pcap::interfaces();
    #[cfg(all(not(feature = "libpcap"), target_os = "linux"))]
    let v = sys_class_net();
    #[cfg(all(not(feature = "libpcap"), not(target_os = "linux")))]
    let v = Vec::new();
    v
}

/// [`interfaces`] from /sys/class/net.
#[cfg(all(not(feature = "libpcap"), target_os = "linux"))]
fn sys_class_net() -> Vec<Interface> {
    let mut v = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
        for e in dir.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let read = |f: &str| std::fs::read_to_string(e.path().join(f)).ok();
            let index = read("ifindex").and_then(|s| s.trim().parse().ok());
            let up = read("flags")
                .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
                .map(|f| f & 1 != 0);
            // Ethernet and loopback are read raw, the rest cooked (see the
            // module documentation).
            let link = read("type")
                .and_then(|s| s.trim().parse::<u16>().ok())
                .map(|t| match t {
                    1 | ARPHRD_LOOPBACK => LinkType::Ethernet,
                    _ => LinkType::LinuxSll2,
                });
            v.push(Interface {
                index: index.unwrap_or(u32::MAX),
                name,
                up,
                link,
            });
        }
        v.sort_by(|a, b| (a.index, &a.name).cmp(&(b.index, &b.name)));
        v.push(Interface {
            index: 0,
            name: "any".into(),
            up: Some(true),
            link: Some(LinkType::LinuxSll2),
        });
    }
    v
}

/// `sll_pkttype` of a packet sent by this host.
pub const PACKET_OUTGOING: u8 = 4;
/// ARPHRD_LOOPBACK.
pub const ARPHRD_LOOPBACK: u16 = 772;

#[cfg(target_os = "linux")]
pub use imp::{PacketSocket, drop_privileges};

#[cfg(unix)]
/// The uid and gid of `user` (getpwnam_r(3)).
fn lookup(user: &str) -> Result<(u32, u32), LiveError> {
    let name = std::ffi::CString::new(user).map_err(|_| LiveError::NoSuchUser(user.into()))?;
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: zeroed `passwd` is a valid out-parameter (plain data).
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local of the right type
    // and `buf.len()` is the size of `buf`; the strings `pw` points to
    // live in `buf`, and only the ids are read.
    let r = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if r != 0 || found.is_null() {
        return Err(LiveError::NoSuchUser(user.into()));
    }
    Ok((pw.pw_uid, pw.pw_gid))
}

/// Other Unix systems (libpcap): when running as root, switch to `user`
/// (supplementary groups, gid, uid), as `tcpdump -Z` does; there are no
/// Linux capabilities to clear. `None` when not root: nothing to give up.
#[cfg(all(unix, not(target_os = "linux")))]
pub fn drop_root(user: &str) -> Result<Option<Dropped>, LiveError> {
    let os = |what: &str| LiveError::Os {
        what: what.into(),
        source: io::Error::last_os_error(),
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let (uid, gid) = lookup(user)?;
    // SAFETY: one gid, read from a live local.
    if unsafe { libc::setgroups(1, &gid) } != 0 {
        return Err(os("setgroups"));
    }
    // SAFETY: plain system calls on integers.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(os("setgid"));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(os("setuid"));
    }
    // SAFETY: as above; back to root must now fail.
    if unsafe { libc::setuid(0) } == 0 {
        return Err(LiveError::StillPrivileged("setuid(0) still works".into()));
    }
    Ok(Some(Dropped {
        user: Some((user.to_string(), uid, gid)),
    }))
}

/// Not Linux: [`LiveError::Unsupported`] (no capture socket was opened).
#[cfg(not(target_os = "linux"))]
pub fn drop_privileges(_user: &str) -> Result<Dropped, LiveError> {
    Err(LiveError::Unsupported)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use std::ffi::CString;
    use std::mem::{size_of, zeroed};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    const ARPHRD_ETHER: u16 = 1;

    /// An `AF_PACKET` socket on one interface (or all, for `any`).
    #[derive(Debug)]
    pub struct PacketSocket {
        fd: OwnedFd,
        ifindex: i32,
        link: LinkType,
        layout: Layout,
    }

    fn os(what: impl Into<String>) -> LiveError {
        LiveError::Os {
            what: what.into(),
            source: io::Error::last_os_error(),
        }
    }

    fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, val: &T) -> io::Result<()> {
        // SAFETY: `val` points to a live `T` of exactly `size_of::<T>()`
        // bytes for the duration of the call; the kernel only reads it.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (val as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn interfaces() -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v.push("any".into());
        v
    }

    impl PacketSocket {
        /// Opens a socket for `iface` (`any`: every interface). It receives
        /// nothing until [`PacketSocket::start`].
        pub fn open(iface: &str) -> Result<PacketSocket, LiveError> {
            let no_such = || LiveError::NoSuchInterface {
                name: iface.to_string(),
                available: interfaces(),
            };
            let ifindex = if iface == "any" {
                0
            } else {
                let name = CString::new(iface).map_err(|_| no_such())?;
                // SAFETY: `name` is a valid NUL-terminated string that
                // outlives the call.
                let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
                if i == 0 {
                    return Err(no_such());
                }
                i32::try_from(i).map_err(|_| no_such())?
            };
            let raw = |ty| {
                // SAFETY: plain system call with constant arguments;
                // protocol 0: no packets until bind() names one.
                let fd = unsafe { libc::socket(libc::AF_PACKET, ty | libc::SOCK_CLOEXEC, 0) };
                if fd < 0 {
                    let e = io::Error::last_os_error();
                    return Err(match e.raw_os_error() {
                        Some(libc::EPERM | libc::EACCES) => LiveError::Permission {
                            iface: iface.to_string(),
                            exe: std::env::current_exe()
                                .map(|p| p.display().to_string())
                                .unwrap_or_else(|_| "wsinspect".into()),
                        },
                        _ => LiveError::Os {
                            what: "socket(AF_PACKET)".into(),
                            source: e,
                        },
                    });
                }
                // SAFETY: `fd` is a fresh descriptor that nothing else owns.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            };
            let fd = raw(libc::SOCK_RAW)?;
            let hatype = if ifindex == 0 {
                None
            } else {
                Some(hardware_type(&fd, iface)?)
            };
            let (fd, link, layout) = match hatype {
                Some(ARPHRD_ETHER | ARPHRD_LOOPBACK) => (fd, LinkType::Ethernet, Layout::Ethernet),
                _ => {
                    drop(fd);
                    (raw(libc::SOCK_DGRAM)?, LinkType::LinuxSll2, Layout::Cooked)
                }
            };
            let on: libc::c_int = 1;
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &on).map_err(|source| {
                LiveError::Os {
                    what: "SO_TIMESTAMPNS".into(),
                    source,
                }
            })?;
            setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &on).map_err(|source| {
                LiveError::Os {
                    what: "PACKET_AUXDATA".into(),
                    source,
                }
            })?;
            Ok(PacketSocket {
                fd,
                ifindex,
                link,
                layout,
            })
        }

        /// Link type of the packets as the caller stores them (cooked
        /// sockets: the caller adds the LINUX_SLL2 header).
        pub fn link_type(&self) -> LinkType {
            self.link
        }

        /// How the filter sees packets.
        pub fn layout(&self) -> Layout {
            self.layout
        }

        /// Attaches a classic BPF program (`SO_ATTACH_FILTER`).
        pub fn attach_filter(&self, prog: &[BpfInsn]) -> io::Result<()> {
            let mut code: Vec<libc::sock_filter> = prog
                .iter()
                .map(|i| libc::sock_filter {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect();
            let len =
                u16::try_from(code.len()).map_err(|_| io::Error::other("program too long"))?;
            let fprog = libc::sock_fprog {
                len,
                filter: code.as_mut_ptr(),
            };
            // The kernel copies the program during the call; `code` lives
            // until the end of this function.
            setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
        }

        /// Asks for a kernel receive buffer of `bytes` (root may exceed
        /// `net.core.rmem_max` with `SO_RCVBUFFORCE`).
        pub fn set_buffer(&self, bytes: usize) -> io::Result<()> {
            let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
            setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &v)
                .or_else(|_| setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &v))
        }

        /// Sets how long [`PacketSocket::recv`] waits before returning `None`.
        pub fn set_timeout(&self, d: Duration) -> io::Result<()> {
            let tv = libc::timeval {
                tv_sec: d.as_secs() as libc::time_t,
                tv_usec: libc::suseconds_t::from(d.subsec_micros() as i32),
            };
            setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
        }

        /// Puts the interface in promiscuous mode for as long as this
        /// socket lives (`PACKET_ADD_MEMBERSHIP` with `PACKET_MR_PROMISC`,
        /// packet(7)): the kernel counts memberships and drops ours when
        /// the socket closes, so nothing needs undoing. Must be called
        /// before the privileges are dropped (it needs CAP_NET_RAW).
        /// `any` has no single interface: `Ok(false)`, as tcpdump.
        pub fn set_promiscuous(&self) -> io::Result<bool> {
            if self.ifindex == 0 {
                return Ok(false);
            }
            // SAFETY: packet_mreq is plain data; all-zero is a valid value.
            let mut mr: libc::packet_mreq = unsafe { zeroed() };
            mr.mr_ifindex = self.ifindex;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            setsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr)?;
            Ok(true)
        }

        /// Starts receiving: binds to the interface with `ETH_P_ALL`.
        pub fn start(&self) -> Result<(), LiveError> {
            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            sll.sll_ifindex = self.ifindex;
            // SAFETY: `sll` is a valid sockaddr_ll and the length passed is
            // its size; the kernel only reads it.
            let r = unsafe {
                libc::bind(
                    self.fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(os("bind(AF_PACKET)"));
            }
            Ok(())
        }

        /// Receives one packet into `buf`; `Ok(None)` when the timeout
        /// passed (or a signal interrupted the wait).
        pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
            // SAFETY: all-zero is valid for these plain C structs.
            let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
            // u64 elements keep the control buffer aligned for cmsghdr.
            let mut control = [0u64; 64];
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: as above.
            let mut msg: libc::msghdr = unsafe { zeroed() };
            msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of::<[u64; 64]>() as _;
            // SAFETY: every pointer in `msg` refers to a live local buffer
            // of the stated length (`buf`, `sll`, `control`), all of which
            // outlive the call; the kernel writes within those lengths.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(e),
                };
            }
            let caplen = (n as usize).min(buf.len());
            let mut out = Received {
                caplen,
                orig_len: u32::try_from(n).unwrap_or(u32::MAX),
                ts: None,
                pkttype: sll.sll_pkttype,
                ifindex: sll.sll_ifindex,
                hatype: sll.sll_hatype,
                protocol: u16::from_be(sll.sll_protocol),
                halen: sll.sll_halen.min(8),
                addr: sll.sll_addr,
                vlan: None,
            };
            // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR walk
            // the control buffer within msg_controllen and return null at
            // its end. Payloads are read unaligned, and only when the
            // header says they are of the expected type and long enough.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    let h = &*c;
                    let data = libc::CMSG_DATA(c);
                    let len = h.cmsg_len as usize;
                    let room = len.saturating_sub(libc::CMSG_LEN(0) as usize);
                    if h.cmsg_level == libc::SOL_SOCKET
                        && h.cmsg_type == libc::SCM_TIMESTAMPNS
                        && room >= size_of::<libc::timespec>()
                    {
                        let t = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                        out.ts = Some(Timestamp::from_parts(t.tv_sec, t.tv_nsec as u32));
                    } else if h.cmsg_level == libc::SOL_PACKET
                        && h.cmsg_type == libc::PACKET_AUXDATA
                        && room >= size_of::<libc::tpacket_auxdata>()
                    {
                        let a = std::ptr::read_unaligned(data.cast::<libc::tpacket_auxdata>());
                        out.orig_len = a.tp_len;
                        if a.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                            let tpid = if a.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                                a.tp_vlan_tpid
                            } else {
                                0x8100
                            };
                            out.vlan = Some((tpid, a.tp_vlan_tci));
                        }
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            Ok(Some(out))
        }

        /// Packets received and dropped by the kernel since the last call
        /// (`PACKET_STATISTICS` resets on read).
        pub fn take_stats(&self) -> io::Result<(u32, u32)> {
            // SAFETY: plain data; all-zero is valid.
            let mut st: libc::tpacket_stats = unsafe { zeroed() };
            let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
            // SAFETY: `st` and `len` are live locals; the kernel writes at
            // most `len` bytes into `st` and updates `len`.
            let r = unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_STATISTICS,
                    (&mut st as *mut libc::tpacket_stats).cast(),
                    &mut len,
                )
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok((st.tp_packets, st.tp_drops))
        }
    }

    /// ARPHRD_* of an interface (`SIOCGIFHWADDR`).
    /// `struct __user_cap_header_struct` (capget(2)).
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }

    /// `struct __user_cap_data_struct` (capget(2)); version 3 takes two.
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }

    /// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets.
    const CAP_V3: u32 = 0x2008_0522;

    fn capget() -> io::Result<[CapData; 2]> {
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: `hdr` and the two-element `data` are what version 3 of
        // capget(2) reads and writes; both live through the call.
        let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
        if r == 0 {
            Ok(data)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn check(r: libc::c_int, what: &str) -> Result<(), LiveError> {
        if r == 0 { Ok(()) } else { Err(os(what)) }
    }

    /// Gives up what opening the capture socket needed, as tcpdump `-Z`
    /// does, so that a flaw in the parsing of hostile traffic (TLS,
    /// deflate, HTTP) cannot use root's power. The open socket and files
    /// keep working.
    ///
    /// As root: supplementary groups, gid and uid become `user`'s
    /// (setgroups/setgid/setuid: glibc applies them to every thread), which
    /// clears every capability. Otherwise (e.g. `setcap cap_net_raw+ep`):
    /// every capability set is emptied (capset(2)). Both ways the ambient
    /// set is cleared and `PR_SET_NO_NEW_PRIVS` is set, so no later
    /// `execve` can gain privileges; then the effective set is read back
    /// and must be empty.
    ///
    /// Capabilities and `no_new_privs` are per thread: call this before
    /// starting the threads that handle packets (they inherit them).
    pub fn drop_privileges(user: &str) -> Result<Dropped, LiveError> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mut dropped = Dropped { user: None };
        if root {
            let (uid, gid) = lookup(user)?;
            // SAFETY: one gid, read from a live local.
            check(unsafe { libc::setgroups(1, &gid) }, "setgroups")?;
            // SAFETY: plain system calls on integers.
            check(unsafe { libc::setgid(gid) }, "setgid")?;
            // SAFETY: as above.
            check(unsafe { libc::setuid(uid) }, "setuid")?;
            dropped.user = Some((user.to_string(), uid, gid));
        }
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let empty = [CapData::default(); 2];
        // SAFETY: version 3 header and two data structs, live for the call.
        let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, empty.as_ptr()) };
        if r != 0 {
            return Err(os("capset"));
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        // Kernels before 4.3 have no ambient set (EINVAL): nothing to clear.
        if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Err(os("PR_CAP_AMBIENT_CLEAR_ALL"));
        }
        // SAFETY: as above.
        check(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            "PR_SET_NO_NEW_PRIVS",
        )?;
        let left = capget().map_err(|source| LiveError::Os {
            what: "capget".into(),
            source,
        })?;
        if left.iter().any(|d| d.effective != 0 || d.permitted != 0) {
            return Err(LiveError::StillPrivileged(
                "capabilities are still effective".into(),
            ));
        }
        // SAFETY: getuid/geteuid have no preconditions.
        if root && (unsafe { libc::getuid() } == 0 || unsafe { libc::geteuid() } == 0) {
            return Err(LiveError::StillPrivileged("still uid 0".into()));
        }
        Ok(dropped)
    }

    fn hardware_type(fd: &OwnedFd, iface: &str) -> Result<u16, LiveError> {
        // SAFETY: ifreq is plain data (a name and a union); all-zero is valid.
        let mut req: libc::ifreq = unsafe { zeroed() };
        for (d, s) in req
            .ifr_name
            .iter_mut()
            .zip(iface.bytes().take(libc::IFNAMSIZ - 1))
        {
            *d = s as libc::c_char;
        }
        // SAFETY: SIOCGIFHWADDR reads the NUL-terminated name and writes a
        // sockaddr into the union of the live `req`.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
        if r != 0 {
            return Err(os(format!("SIOCGIFHWADDR on {iface}")));
        }
        // SAFETY: the call succeeded, so the kernel filled `ifru_hwaddr`.
        Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
    }
}

/// On systems without `AF_PACKET`, opening always fails with
/// [`LiveError::Unsupported`].
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub struct PacketSocket(());

#[cfg(not(target_os = "linux"))]
impl PacketSocket {
    /// Always [`LiveError::Unsupported`].
    pub fn open(_iface: &str) -> Result<PacketSocket, LiveError> {
        Err(LiveError::Unsupported)
    }
    /// Unreachable: no socket exists.
    pub fn link_type(&self) -> LinkType {
        LinkType::Ethernet
    }
    /// Unreachable: no socket exists.
    pub fn layout(&self) -> Layout {
        Layout::Ethernet
    }
    /// Unreachable: no socket exists.
    pub fn attach_filter(&self, _: &[BpfInsn]) -> io::Result<()> {
        Err(io::Error::other("unsupported"))
    }
    /// Unreachable: no socket exists.
    pub fn set_buffer(&self, _: usize) -> io::Result<()> {
        Err(io::Error::other("unsupported"))
    }
    /// Unreachable: no socket exists.
    pub fn set_timeout(&self, _: std::time::Duration) -> io::Result<()> {
        Err(io::Error::other("unsupported"))
    }
    /// Unreachable: no socket exists.
    pub fn set_promiscuous(&self) -> io::Result<bool> {
        Err(io::Error::other("unsupported"))
    }
    /// Unreachable: no socket exists.
    pub fn start(&self) -> Result<(), LiveError> {
        Err(LiveError::Unsupported)
    }
    /// Unreachable: no socket exists.
    pub fn recv(&self, _: &mut [u8]) -> io::Result<Option<Received>> {
        Err(io::Error::other("unsupported"))
    }
    /// Unreachable: no socket exists.
    pub fn take_stats(&self) -> io::Result<(u32, u32)> {
        Err(io::Error::other("unsupported"))
    }
}
