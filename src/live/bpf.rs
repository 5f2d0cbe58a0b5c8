//! Capture filters: the common subset of the pcap filter language
//! (`pcap-filter(7)`), compiled to classic BPF for the kernel and evaluated
//! in user space when the kernel cannot take the program.
//!
//! Supported: `host ADDR`, `net ADDR/LEN`, `port N`, `portrange N-M`,
//! each optionally qualified by `src`/`dst` and a protocol (`ip`, `ip6`,
//! `tcp`, `udp`); the protocols alone; `vlan [ID]`; `and`/`&&`, `or`/`||`,
//! `not`/`!` and parentheses. As in tcpdump, a bare value after `and`/`or`
//! repeats the previous qualifiers (`port 80 or 443`). Host names are not
//! resolved; ports may be given by service name from a small built-in
//! table ([`SERVICES`]; /etc/services is not read, it may be absent).
//!
//! `vlan` is tcpdump's: every primitive after it in the expression looks 4
//! bytes further into the frame (past the 802.1Q tag), and a second `vlan`
//! tests the inner tag of a QinQ frame. Linux usually takes the outer tag
//! out of the frame (into the packet's metadata, read in BPF with the
//! `SKF_AD_VLAN_TAG*` ancillary loads), as libpcap knows: an expression
//! with `vlan` is compiled for both cases, "outer tag out of band" and
//! "tag in the frame", and the packet's own metadata chooses.
//!
//! One lowering, two back ends: an expression becomes a tree of `Cond`s
//! over byte loads (the same loads a BPF program makes); [`Filter::compile`]
//! turns the tree into `sock_filter` instructions and [`Filter::matches`]
//! walks it over a packet. Both evaluate left to right with short-circuit,
//! and a load past the end of the packet rejects the packet in both, as the
//! kernel's BPF interpreter does, so the two agree packet for packet (tested
//! against a BPF interpreter and an oracle over parsed headers).
//!
//! Like libpcap, port tests apply to IPv4 first fragments only and to IPv6
//! packets whose first next-header is TCP/UDP (no extension-header walk).

use std::fmt;
use std::net::IpAddr;

/// Where a packet's link-layer protocol and network header are, as the
/// filter sees the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Ethernet II: EtherType at byte 12, network header at 14.
    Ethernet,
    /// Linux "cooked" (`SOCK_DGRAM`) packet sockets: the data starts at the
    /// network header; the protocol comes from the socket address (in BPF,
    /// the `SKF_AD_PROTOCOL` ancillary load).
    Cooked,
}

impl Layout {
    fn network_offset(self) -> u32 {
        match self {
            Layout::Ethernet => 14,
            Layout::Cooked => 0,
        }
    }
}

/// One classic BPF instruction (`struct sock_filter`, linux/filter.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

// Classic BPF opcodes (linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;
const BPF_AND: u16 = 0x50;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
/// `SKF_AD_OFF + SKF_AD_PROTOCOL` (linux/filter.h): loads `skb->protocol`.
const SKF_AD_PROTOCOL_LOAD: u32 = 0xffff_f000;
/// `SKF_AD_OFF + SKF_AD_VLAN_TAG`: the TCI of a tag taken out of the frame.
const SKF_AD_VLAN_TAG_LOAD: u32 = 0xffff_f000 + 44;
/// `SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT`: 1 when a tag was taken out.
const SKF_AD_VLAN_TAG_PRESENT_LOAD: u32 = 0xffff_f000 + 48;

/// Service names accepted for ports (IANA service name registry; the
/// names and numbers of /etc/services, for the services WebSocket and
/// its neighbours run on). Both TCP and UDP: `port domain` is 53 either
/// way, as in tcpdump.
pub const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("mqtt", 1883),
    ("rtmp", 1935),
    ("mysql", 3306),
    ("sip", 5060),
    ("xmpp-client", 5222),
    ("postgresql", 5432),
    ("amqp", 5672),
    ("redis", 6379),
    ("http-alt", 8080),
    ("secure-mqtt", 8883),
    ("stomp", 61613),
];

/// A port given by number or service name.
fn port_number(id: &str) -> Option<u16> {
    id.parse::<u16>()
        .ok()
        .or_else(|| SERVICES.iter().find(|(n, _)| *n == id).map(|&(_, p)| p))
}
/// Most instructions the kernel accepts (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;

/// Why a filter expression was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression does not parse.
    #[error("filter {expr:?}: {why}")]
    Syntax {
        /// The expression.
        expr: String,
        /// What is wrong.
        why: String,
    },
    /// The program does not fit classic BPF (jump too far, too long); the
    /// caller filters in user space instead.
    #[error("filter too large for the kernel ({0})")]
    TooLarge(String),
}

/// Protocol qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Ip,
    Ip6,
    Tcp,
    Udp,
}

/// `src` / `dst` / either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Src,
    Dst,
    Any,
}

/// A parsed primitive or combination.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Proto(Proto),
    Host(Option<Proto>, Dir, IpAddr, u8),
    /// A port range, `lo..=hi` (`port N` is `N..=N`).
    Port(Option<Proto>, Dir, u16, u16),
    /// The `index`-th `vlan` of the expression (0: outer tag), with an ID.
    Vlan(u32, Option<u16>),
    /// A primitive written after `n` `vlan`s: its offsets move 4·n bytes.
    At(u32, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// A load of the packet, as BPF makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// The link-layer protocol (EtherType), `shift` bytes later (past VLAN
    /// tags).
    Proto { shift: u32 },
    /// `size` bytes (1, 2, 4) at `off` from the network header.
    Net { size: u8, off: u32 },
    /// 2 bytes at `off` past the IPv4 header at `base` from the network
    /// header (IHL-dependent).
    AfterIp4 { base: u32, off: u32 },
    /// 1 when the kernel took a VLAN tag out of the frame, else 0.
    VlanPresent,
    /// That tag's TCI.
    VlanTci,
}

/// How a [`Test`] compares the loaded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `(v & mask) == value`.
    Eq,
    /// `v & mask != 0`.
    Set,
    /// `v >= value`.
    Ge,
    /// `v > value`.
    Gt,
}

/// A test on one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Test {
    load: Load,
    mask: u32,
    value: u32,
    op: Op,
}

/// The lowered filter: what both back ends evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cond {
    Test(Test),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

/// A parsed capture filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    cond: Cond,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Filter {
    /// Parses a filter expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let toks = tokenize(text);
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            last: None,
            vlans: 0,
        };
        let err = |why: String| FilterError::Syntax {
            expr: text.to_string(),
            why,
        };
        if toks.is_empty() {
            return Err(err("empty expression".into()));
        }
        let expr = p.or().map_err(err)?;
        if let Some(t) = toks.get(p.pos) {
            return Err(err(format!("unexpected {t:?}")));
        }
        let cond = if p.vlans == 0 {
            lower(&expr, false)
        } else {
            // The packet's metadata says whether the outer tag was taken
            // out of the frame; each case reads the frame its own way.
            let present = |v| test(Load::VlanPresent, 1, v);
            or(
                and(present(1), lower(&expr, true)),
                and(present(0), lower(&expr, false)),
            )
        };
        Ok(Filter {
            text: text.to_string(),
            cond,
        })
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the packet passes the filter (user-space evaluation).
    /// `data` is laid out as `layout` says; `cooked_proto` is the protocol
    /// of a [`Layout::Cooked`] packet (ignored for Ethernet).
    pub fn matches(&self, layout: Layout, data: &[u8], cooked_proto: u16) -> bool {
        self.matches_tagged(layout, data, cooked_proto, None)
    }

    /// [`Filter::matches`] for a packet whose outer VLAN tag the kernel
    /// took out of the frame (`vlan_tci`: its TCI), as the kernel's BPF sees
    /// it through the `SKF_AD_VLAN_TAG*` loads.
    pub fn matches_tagged(
        &self,
        layout: Layout,
        data: &[u8],
        cooked_proto: u16,
        vlan_tci: Option<u16>,
    ) -> bool {
        let pkt = Packet {
            layout,
            data,
            cooked_proto,
            vlan_tci,
        };
        eval(&self.cond, &pkt).unwrap_or(false)
    }

    /// Compiles to classic BPF; accepted packets are cut to `snaplen`.
    pub fn compile(&self, layout: Layout, snaplen: u32) -> Result<Vec<BpfInsn>, FilterError> {
        let mut asm = Asm::default();
        let accept = asm.label();
        let reject = asm.label();
        asm.cond(&self.cond, layout, accept, reject);
        asm.bind(accept);
        asm.emit(BPF_RET, snaplen);
        asm.bind(reject);
        asm.emit(BPF_RET, 0);
        asm.resolve()
    }
}

// ---------------------------------------------------------------- parsing

fn tokenize(text: &str) -> Vec<String> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, toks: &mut Vec<String>| {
        if !cur.is_empty() {
            toks.push(std::mem::take(cur));
        }
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' => {
                flush(&mut cur, &mut toks);
                toks.push(c.to_string());
            }
            '!' if cur.is_empty() => toks.push("not".into()),
            '&' | '|' if chars.peek() == Some(&c) => {
                chars.next();
                flush(&mut cur, &mut toks);
                toks.push(if c == '&' { "and" } else { "or" }.into());
            }
            c if c.is_whitespace() => flush(&mut cur, &mut toks),
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut toks);
    toks
}

/// Qualifiers of the previous primitive, for `port 80 or 443`.
#[derive(Debug, Clone, Copy)]
struct Quals {
    proto: Option<Proto>,
    dir: Dir,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    PortRange,
}

/// VLAN tags a filter can look past (tcpdump allows any number; two cover
/// QinQ, and a bound keeps offsets small).
const MAX_VLANS: u32 = 8;

struct Parser<'a> {
    toks: &'a [String],
    pos: usize,
    last: Option<Quals>,
    /// `vlan`s seen so far: the offset shift of the primitives to come.
    vlans: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Option<&str> {
        let t = self.toks.get(self.pos).map(String::as_str);
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some("not") => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.pos += 1;
                let e = self.or()?;
                match self.next() {
                    Some(")") => Ok(e),
                    other => Err(format!("expected ')', found {other:?}")),
                }
            }
            Some(_) => self.primitive(),
            None => Err("expression ends too early".into()),
        }
    }

    fn primitive(&mut self) -> Result<Expr, String> {
        if self.peek() == Some("vlan") {
            self.pos += 1;
            if self.vlans >= MAX_VLANS {
                return Err(format!("more than {MAX_VLANS} `vlan`s"));
            }
            let id = match self.peek() {
                Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
                    let id = t
                        .parse::<u16>()
                        .ok()
                        .filter(|&v| v < 4096)
                        .ok_or_else(|| format!("vlan {t}: a VLAN ID is 0..=4095"))?;
                    self.pos += 1;
                    Some(id)
                }
                _ => None,
            };
            let e = Expr::Vlan(self.vlans, id);
            self.vlans += 1;
            // A bare value after `vlan 10 or` is not a VLAN ID in tcpdump
            // either: forget the previous qualifiers.
            self.last = None;
            return Ok(e);
        }
        let e = self.plain_primitive()?;
        Ok(match self.vlans {
            0 => e,
            n => Expr::At(n, Box::new(e)),
        })
    }

    fn plain_primitive(&mut self) -> Result<Expr, String> {
        let mut proto = None;
        let mut dir = None;
        let mut kind = None;
        if let Some(p) = self.peek().and_then(proto_of) {
            proto = Some(p);
            self.pos += 1;
        }
        if let Some(d) = match self.peek() {
            Some("src") => Some(Dir::Src),
            Some("dst") => Some(Dir::Dst),
            _ => None,
        } {
            dir = Some(d);
            self.pos += 1;
        }
        if let Some(k) = match self.peek() {
            Some("host") => Some(Kind::Host),
            Some("net") => Some(Kind::Net),
            Some("port") => Some(Kind::Port),
            Some("portrange") => Some(Kind::PortRange),
            _ => None,
        } {
            kind = Some(k);
            self.pos += 1;
        }
        if proto.is_some() && dir.is_none() && kind.is_none() {
            // A protocol alone (`tcp`), unless a value follows (`ip 1.2.3.4`).
            match self.peek() {
                None | Some("and" | "or" | ")") => {
                    return Ok(Expr::Proto(proto.unwrap_or(Proto::Ip)));
                }
                _ => {}
            }
        }
        let id = self
            .next()
            .ok_or_else(|| "a value is missing at the end".to_string())?
            .to_string();
        let quals = match (proto, dir, kind) {
            (None, None, None) => match self.last {
                Some(q) => q,
                None => Quals {
                    proto: None,
                    dir: Dir::Any,
                    kind: if id.contains('/') {
                        Kind::Net
                    } else if id.parse::<IpAddr>().is_ok() {
                        Kind::Host
                    } else {
                        return Err(format!(
                            "{id:?}: expected host, net, port, portrange, vlan or a protocol"
                        ));
                    },
                },
            },
            (p, d, k) => Quals {
                proto: p,
                dir: d.unwrap_or(Dir::Any),
                kind: k.unwrap_or(if id.contains('/') {
                    Kind::Net
                } else {
                    Kind::Host
                }),
            },
        };
        self.last = Some(quals);
        value(quals, &id)
    }
}

fn proto_of(t: &str) -> Option<Proto> {
    match t {
        "ip" => Some(Proto::Ip),
        "ip6" => Some(Proto::Ip6),
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => None,
    }
}

fn value(q: Quals, id: &str) -> Result<Expr, String> {
    let not_a_port = |id: &str| {
        format!(
            "{id:?} is not a port number or a known service name (the built-in table: docs/live.md)"
        )
    };
    match q.kind {
        Kind::Port | Kind::PortRange if matches!(q.proto, Some(Proto::Ip | Proto::Ip6)) => {
            Err("port takes tcp or udp, not ip/ip6".into())
        }
        Kind::Port => {
            let port = port_number(id).ok_or_else(|| not_a_port(id))?;
            Ok(Expr::Port(q.proto, q.dir, port, port))
        }
        Kind::PortRange => {
            // Service names hold `-` too (`ftp-data`): the first split
            // where both sides are ports.
            let (lo, hi) = id
                .match_indices('-')
                .find_map(|(i, _)| Some((port_number(&id[..i])?, port_number(&id[i + 1..])?)))
                .ok_or_else(|| {
                    format!("portrange {id:?}: expected N-M, ports by number or service name")
                })?;
            // As libpcap: the range may be given either way round.
            Ok(Expr::Port(q.proto, q.dir, lo.min(hi), lo.max(hi)))
        }
        Kind::Host | Kind::Net => {
            if matches!(q.proto, Some(Proto::Tcp | Proto::Udp)) {
                return Err(format!(
                    "{:?} host/net is not supported; use ip or ip6",
                    q.proto
                ));
            }
            let (addr, len) = match id.split_once('/') {
                Some((a, l)) if q.kind == Kind::Net => (a, Some(l)),
                Some(_) => return Err(format!("{id:?}: a prefix needs `net`")),
                None => (id, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| {
                format!("{addr:?} is not an IP address (host names are not resolved)")
            })?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|&l| l <= max)
                    .ok_or_else(|| format!("{id:?}: prefix length must be 0..={max}"))?,
                None => max,
            };
            match (q.proto, addr) {
                (Some(Proto::Ip), IpAddr::V6(_)) | (Some(Proto::Ip6), IpAddr::V4(_)) => {
                    Err(format!("{id:?} does not match the protocol qualifier"))
                }
                _ => Ok(Expr::Host(q.proto, q.dir, addr, len)),
            }
        }
    }
}

// ---------------------------------------------------------------- lowering

const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;

fn test(load: Load, mask: u32, value: u32) -> Cond {
    Cond::Test(Test {
        load,
        mask,
        value,
        op: Op::Eq,
    })
}

fn compare(load: Load, op: Op, value: u32) -> Cond {
    Cond::Test(Test {
        load,
        mask: u32::MAX,
        value,
        op,
    })
}

/// `lo <= v <= hi` (one equality when `lo == hi`, as libpcap emits).
fn in_range(load: Load, lo: u16, hi: u16) -> Cond {
    if lo == hi {
        return test(load, 0xffff, u32::from(lo));
    }
    and(
        compare(load, Op::Ge, u32::from(lo)),
        Cond::Not(Box::new(compare(load, Op::Gt, u32::from(hi)))),
    )
}

/// Never true (a load of the protocol masked to 0 compared with 1).
fn never() -> Cond {
    test(Load::Proto { shift: 0 }, 0, 1)
}

/// The same test `by` bytes further into the frame: the network header
/// and the EtherType past a VLAN tag.
fn shifted(c: Cond, by: u32) -> Cond {
    match c {
        Cond::Test(mut t) => {
            t.load = match t.load {
                Load::Proto { shift } => Load::Proto { shift: shift + by },
                Load::Net { size, off } => Load::Net {
                    size,
                    off: off + by,
                },
                Load::AfterIp4 { base, off } => Load::AfterIp4 {
                    base: base + by,
                    off,
                },
                l @ (Load::VlanPresent | Load::VlanTci) => l,
            };
            Cond::Test(t)
        }
        Cond::And(a, b) => and(shifted(*a, by), shifted(*b, by)),
        Cond::Or(a, b) => or(shifted(*a, by), shifted(*b, by)),
        Cond::Not(a) => Cond::Not(Box::new(shifted(*a, by))),
    }
}

/// TPIDs of a VLAN tag, as libpcap tests them: 802.1Q, 802.1ad, and the
/// pre-standard QinQ 0x9100.
const VLAN_TPIDS: [u32; 3] = [0x8100, 0x88a8, 0x9100];

/// Tag number `k` (0: outer) read from the frame: its TPID where the
/// EtherType would be, 4·k bytes in, then the ID in the TCI that follows.
fn vlan_in_frame(k: u32, id: Option<u16>) -> Cond {
    let tpid = any_of(
        VLAN_TPIDS
            .iter()
            .map(|&t| test(Load::Proto { shift: 4 * k }, 0xffff, t)),
    );
    match id {
        // The TCI sits where the network header starts, 4·k further.
        Some(id) => and(
            tpid,
            test(
                Load::Net {
                    size: 2,
                    off: 4 * k,
                },
                0x0fff,
                u32::from(id),
            ),
        ),
        None => tpid,
    }
}

fn and(a: Cond, b: Cond) -> Cond {
    Cond::And(Box::new(a), Box::new(b))
}

fn or(a: Cond, b: Cond) -> Cond {
    Cond::Or(Box::new(a), Box::new(b))
}

fn is_ip4() -> Cond {
    test(Load::Proto { shift: 0 }, 0xffff, ETHERTYPE_IPV4)
}

fn is_ip6() -> Cond {
    test(Load::Proto { shift: 0 }, 0xffff, ETHERTYPE_IPV6)
}

fn byte_at(off: u32, value: u8) -> Cond {
    test(Load::Net { size: 1, off }, 0xff, u32::from(value))
}

/// IP protocol numbers a port applies to (IANA: TCP 6, UDP 17, SCTP 132).
fn port_protos(p: Option<Proto>) -> &'static [u8] {
    match p {
        Some(Proto::Tcp) => &[6],
        Some(Proto::Udp) => &[17],
        _ => &[6, 17, 132],
    }
}

fn any_of(conds: impl IntoIterator<Item = Cond>) -> Cond {
    let mut it = conds.into_iter();
    let first = it.next().unwrap_or_else(never);
    it.fold(first, or)
}

fn dir_pair(dir: Dir, src: Cond, dst: Cond) -> Cond {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::Any => or(src, dst),
    }
}

/// Lowers `e`; `oob`: the outer VLAN tag (if any) was taken out of the
/// frame by the kernel, so the first `vlan` is read from the metadata and
/// moves nothing.
fn lower(e: &Expr, oob: bool) -> Cond {
    match e {
        Expr::And(a, b) => and(lower(a, oob), lower(b, oob)),
        Expr::Or(a, b) => or(lower(a, oob), lower(b, oob)),
        Expr::Not(a) => Cond::Not(Box::new(lower(a, oob))),
        Expr::At(n, a) => {
            let tags_in_frame = if oob { n - 1 } else { *n };
            shifted(lower(a, oob), 4 * tags_in_frame)
        }
        Expr::Vlan(0, id) if oob => match id {
            Some(id) => test(Load::VlanTci, 0x0fff, u32::from(*id)),
            None => test(Load::VlanPresent, 1, 1),
        },
        Expr::Vlan(k, id) => vlan_in_frame(if oob { k - 1 } else { *k }, *id),
        Expr::Proto(Proto::Ip) => is_ip4(),
        Expr::Proto(Proto::Ip6) => is_ip6(),
        Expr::Proto(p @ (Proto::Tcp | Proto::Udp)) => {
            let n = if *p == Proto::Tcp { 6 } else { 17 };
            // RFC 791 protocol at byte 9; RFC 8200 next header at byte 6.
            or(and(is_ip4(), byte_at(9, n)), and(is_ip6(), byte_at(6, n)))
        }
        Expr::Port(p, dir, lo, hi) => {
            let protos = port_protos(*p);
            let port = |load| in_range(load, *lo, *hi);
            let v4 = and(
                and(is_ip4(), any_of(protos.iter().map(|&n| byte_at(9, n)))),
                and(
                    // Fragment offset 0 (RFC 791 §3.1): only the first
                    // fragment carries the ports.
                    Cond::Not(Box::new(Cond::Test(Test {
                        load: Load::Net { size: 2, off: 6 },
                        mask: 0x1fff,
                        value: 0,
                        op: Op::Set,
                    }))),
                    dir_pair(
                        *dir,
                        port(Load::AfterIp4 { base: 0, off: 0 }),
                        port(Load::AfterIp4 { base: 0, off: 2 }),
                    ),
                ),
            );
            let v6 = and(
                and(is_ip6(), any_of(protos.iter().map(|&n| byte_at(6, n)))),
                dir_pair(
                    *dir,
                    port(Load::Net { size: 2, off: 40 }),
                    port(Load::Net { size: 2, off: 42 }),
                ),
            );
            or(v4, v6)
        }
        Expr::Host(_, dir, IpAddr::V4(a), len) => {
            let mask = if *len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(*len))
            };
            let v = u32::from(*a) & mask;
            let word = |off| test(Load::Net { size: 4, off }, mask, v);
            // RFC 791: source at byte 12, destination at 16.
            and(is_ip4(), dir_pair(*dir, word(12), word(16)))
        }
        Expr::Host(_, dir, IpAddr::V6(a), len) => {
            let bits = u128::from(*a);
            let mask = if *len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(*len))
            };
            // RFC 8200: source at byte 8, destination at 24; four words each.
            let addr = |base: u32| {
                let words = (0..4u32).filter_map(|i| {
                    let shift = 96 - 32 * i;
                    let m = (mask >> shift) as u32;
                    (m != 0).then(|| {
                        test(
                            Load::Net {
                                size: 4,
                                off: base + 4 * i,
                            },
                            m,
                            (bits >> shift) as u32 & m,
                        )
                    })
                });
                let mut it = words;
                match it.next() {
                    Some(first) => it.fold(first, and),
                    None => test(Load::Proto { shift: 0 }, 0, 0),
                }
            };
            and(is_ip6(), dir_pair(*dir, addr(8), addr(24)))
        }
    }
}

// ---------------------------------------------------------------- user space

/// A packet as the kernel's BPF sees it: the bytes and the metadata the
/// ancillary loads read.
struct Packet<'a> {
    layout: Layout,
    data: &'a [u8],
    cooked_proto: u16,
    vlan_tci: Option<u16>,
}

/// Big-endian load; `None` past the end (the kernel rejects the packet).
fn load(l: Load, p: &Packet<'_>) -> Option<u32> {
    let nh = p.layout.network_offset() as usize;
    let read = |at: usize, size: usize| -> Option<u32> {
        let b = p.data.get(at..at.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    };
    match l {
        // Cooked packets: the protocol of the socket address whatever the
        // shift (the compiler never shifts a cooked protocol test).
        Load::Proto { shift } => match p.layout {
            Layout::Ethernet => read(12 + shift as usize, 2),
            Layout::Cooked => Some(u32::from(p.cooked_proto)),
        },
        Load::Net { size, off } => read(nh + off as usize, usize::from(size)),
        Load::AfterIp4 { base, off } => {
            let at = nh + base as usize;
            let ihl = (read(at, 1)? & 0x0f) as usize * 4;
            read(at + ihl + off as usize, 2)
        }
        Load::VlanPresent => Some(u32::from(p.vlan_tci.is_some())),
        Load::VlanTci => Some(u32::from(p.vlan_tci.unwrap_or(0))),
    }
}

fn eval(c: &Cond, p: &Packet<'_>) -> Option<bool> {
    Some(match c {
        Cond::Test(t) => {
            let v = load(t.load, p)?;
            match t.op {
                Op::Eq => v & t.mask == t.value,
                Op::Set => v & t.mask != 0,
                Op::Ge => v >= t.value,
                Op::Gt => v > t.value,
            }
        }
        Cond::And(a, b) => eval(a, p)? && eval(b, p)?,
        Cond::Or(a, b) => eval(a, p)? || eval(b, p)?,
        Cond::Not(a) => !eval(a, p)?,
    })
}

// ---------------------------------------------------------------- BPF

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

#[derive(Default)]
struct Asm {
    code: Vec<BpfInsn>,
    labels: Vec<Option<usize>>,
    /// Conditional jumps: instruction index, true and false targets.
    jumps: Vec<(usize, Label, Label)>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, l: Label) {
        if let Some(slot) = self.labels.get_mut(l.0) {
            *slot = Some(self.code.len());
        }
    }

    fn emit(&mut self, code: u16, k: u32) {
        self.code.push(BpfInsn {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }

    fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.jumps.push((self.code.len(), t, f));
        self.emit(code, k);
    }

    fn cond(&mut self, c: &Cond, layout: Layout, t: Label, f: Label) {
        match c {
            Cond::And(a, b) => {
                let mid = self.label();
                self.cond(a, layout, mid, f);
                self.bind(mid);
                self.cond(b, layout, t, f);
            }
            Cond::Or(a, b) => {
                let mid = self.label();
                self.cond(a, layout, t, mid);
                self.bind(mid);
                self.cond(b, layout, t, f);
            }
            Cond::Not(a) => self.cond(a, layout, f, t),
            Cond::Test(x) => {
                let nh = layout.network_offset();
                match x.load {
                    Load::Proto { shift } => match layout {
                        Layout::Ethernet => self.emit(BPF_LD | BPF_H | BPF_ABS, 12 + shift),
                        Layout::Cooked => self.emit(BPF_LD | BPF_W | BPF_ABS, SKF_AD_PROTOCOL_LOAD),
                    },
                    Load::VlanPresent => {
                        self.emit(BPF_LD | BPF_W | BPF_ABS, SKF_AD_VLAN_TAG_PRESENT_LOAD)
                    }
                    Load::VlanTci => self.emit(BPF_LD | BPF_W | BPF_ABS, SKF_AD_VLAN_TAG_LOAD),
                    Load::Net { size, off } => {
                        let sz = match size {
                            1 => BPF_B,
                            2 => BPF_H,
                            _ => BPF_W,
                        };
                        self.emit(BPF_LD | sz | BPF_ABS, nh + off);
                    }
                    Load::AfterIp4 { base, off } => {
                        // X = 4 * (P[nh] & 0xf), then A = P[X + nh + off].
                        self.emit(BPF_LDX | BPF_B | BPF_MSH, nh + base);
                        self.emit(BPF_LD | BPF_H | BPF_IND, nh + base + off);
                    }
                }
                let full = match x.load {
                    Load::Proto { .. } | Load::AfterIp4 { .. } => 0xffff,
                    Load::Net { size: 1, .. } => 0xff,
                    Load::Net { size: 2, .. } => 0xffff,
                    Load::Net { .. } | Load::VlanPresent | Load::VlanTci => u32::MAX,
                };
                match x.op {
                    Op::Set => self.jump(BPF_JMP | BPF_JSET, x.mask, t, f),
                    Op::Ge => self.jump(BPF_JMP | BPF_JGE, x.value, t, f),
                    Op::Gt => self.jump(BPF_JMP | BPF_JGT, x.value, t, f),
                    Op::Eq => {
                        if x.mask & full != full {
                            self.emit(BPF_ALU | BPF_AND, x.mask);
                        }
                        self.jump(BPF_JMP | BPF_JEQ, x.value, t, f);
                    }
                }
            }
        }
    }

    fn resolve(mut self) -> Result<Vec<BpfInsn>, FilterError> {
        if self.code.len() > BPF_MAXINSNS {
            return Err(FilterError::TooLarge(format!(
                "{} instructions",
                self.code.len()
            )));
        }
        for &(at, t, f) in &self.jumps {
            let off = |l: Label| -> Result<u8, FilterError> {
                let target = self.labels.get(l.0).copied().flatten().unwrap_or(0);
                target
                    .checked_sub(at + 1)
                    .and_then(|d| u8::try_from(d).ok())
                    .ok_or_else(|| FilterError::TooLarge("a jump beyond 255 instructions".into()))
            };
            let (jt, jf) = (off(t)?, off(f)?);
            if let Some(insn) = self.code.get_mut(at) {
                insn.jt = jt;
                insn.jf = jf;
            }
        }
        Ok(self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A classic BPF interpreter for the opcodes the compiler emits, with
    /// the kernel's rule that an out-of-bounds load returns 0.
    fn run_bpf(prog: &[BpfInsn], data: &[u8], cooked_proto: u16) -> u32 {
        run_bpf_tagged(prog, data, cooked_proto, None)
    }

    /// [`run_bpf`] with the kernel's VLAN metadata (`SKF_AD_VLAN_TAG*`).
    fn run_bpf_tagged(prog: &[BpfInsn], data: &[u8], cooked_proto: u16, tci: Option<u16>) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let rd = |at: u32, size: usize| -> Option<u32> {
            let at = at as usize;
            let b = data.get(at..at + size)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                c if c == BPF_LD | BPF_W | BPF_ABS && i.k == SKF_AD_PROTOCOL_LOAD => {
                    a = u32::from(cooked_proto)
                }
                c if c == BPF_LD | BPF_W | BPF_ABS && i.k == SKF_AD_VLAN_TAG_PRESENT_LOAD => {
                    a = u32::from(tci.is_some())
                }
                c if c == BPF_LD | BPF_W | BPF_ABS && i.k == SKF_AD_VLAN_TAG_LOAD => {
                    a = u32::from(tci.unwrap_or(0))
                }
                c if c == BPF_LD | BPF_W | BPF_ABS => match rd(i.k, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_H | BPF_ABS => match rd(i.k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_ABS => match rd(i.k, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_H | BPF_IND => match rd(x + i.k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LDX | BPF_B | BPF_MSH => match rd(i.k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                c if c == BPF_ALU | BPF_AND => a &= i.k,
                c if c == BPF_JMP | BPF_JEQ => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf })
                }
                c if c == BPF_JMP | BPF_JSET => {
                    pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf })
                }
                c if c == BPF_JMP | BPF_JGE => {
                    pc += usize::from(if a >= i.k { i.jt } else { i.jf })
                }
                c if c == BPF_JMP | BPF_JGT => pc += usize::from(if a > i.k { i.jt } else { i.jf }),
                c if c == BPF_RET => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    /// What a packet is, for the oracle.
    #[derive(Debug, Clone)]
    struct Pkt {
        v6: bool,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        sport: u16,
        dport: u16,
        later_fragment: bool,
        ihl_words: u8,
    }

    fn build(p: &Pkt) -> (Vec<u8>, u16) {
        let mut ip = Vec::new();
        match (p.src, p.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let hl = usize::from(p.ihl_words) * 4;
                ip.resize(hl, 0);
                ip[0] = 0x40 | p.ihl_words;
                ip[6] = if p.later_fragment { 0x00 } else { 0x40 };
                ip[7] = if p.later_fragment { 0x10 } else { 0 };
                ip[9] = p.proto;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                ip.resize(40, 0);
                ip[0] = 0x60;
                ip[6] = p.proto;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
            }
            _ => unreachable!(),
        }
        ip.extend_from_slice(&p.sport.to_be_bytes());
        ip.extend_from_slice(&p.dport.to_be_bytes());
        ip.extend_from_slice(&[0; 16]);
        (ip, if p.v6 { 0x86dd } else { 0x0800 })
    }

    fn in_net(a: IpAddr, net: IpAddr, len: u8) -> bool {
        match (a, net) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let m = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                u32::from(a) & m == u32::from(n) & m
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                u128::from(a) & m == u128::from(n) & m
            }
            _ => false,
        }
    }

    /// Meaning of an expression over parsed header fields.
    fn oracle(e: &Expr, p: &Pkt) -> bool {
        let pick = |d: Dir, s: bool, t: bool| match d {
            Dir::Src => s,
            Dir::Dst => t,
            Dir::Any => s || t,
        };
        match e {
            Expr::And(a, b) => oracle(a, p) && oracle(b, p),
            Expr::Or(a, b) => oracle(a, p) || oracle(b, p),
            Expr::Not(a) => !oracle(a, p),
            Expr::Proto(Proto::Ip) => !p.v6,
            Expr::Proto(Proto::Ip6) => p.v6,
            Expr::Proto(Proto::Tcp) => p.proto == 6,
            Expr::Proto(Proto::Udp) => p.proto == 17,
            Expr::Port(q, d, lo, hi) => {
                let r = *lo..=*hi;
                port_protos(*q).contains(&p.proto)
                    && (p.v6 || !p.later_fragment)
                    && pick(*d, r.contains(&p.sport), r.contains(&p.dport))
            }
            Expr::Vlan(..) | Expr::At(..) => panic!("the oracle has no VLAN tags"),
            Expr::Host(_, d, a, len) => pick(*d, in_net(p.src, *a, *len), in_net(p.dst, *a, *len)),
        }
    }

    fn parse_expr(s: &str) -> Expr {
        let toks = tokenize(s);
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            last: None,
            vlans: 0,
        };
        p.or().unwrap()
    }

    fn check(expr: &str, p: &Pkt) -> bool {
        let f = Filter::parse(expr).unwrap();
        let want = oracle(&parse_expr(expr), p);
        let (ip, proto) = build(p);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&proto.to_be_bytes());
        eth.extend_from_slice(&ip);
        for (layout, data) in [(Layout::Ethernet, &eth), (Layout::Cooked, &ip)] {
            let prog = f.compile(layout, 65535).unwrap();
            let user = f.matches(layout, data, proto);
            let kernel = run_bpf(&prog, data, proto) != 0;
            assert_eq!(user, want, "{expr} user space {layout:?} {p:?}");
            assert_eq!(kernel, want, "{expr} BPF {layout:?} {p:?}");
        }
        want
    }

    fn v4(a: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(a))
    }

    fn tcp4(sport: u16, dport: u16) -> Pkt {
        Pkt {
            v6: false,
            src: v4([127, 0, 0, 1]),
            dst: v4([10, 1, 2, 3]),
            proto: 6,
            sport,
            dport,
            later_fragment: false,
            ihl_words: 5,
        }
    }

    #[test]
    fn examples() {
        assert!(check("tcp port 9002", &tcp4(40000, 9002)));
        assert!(check("tcp port 9002", &tcp4(9002, 40000)));
        assert!(!check("tcp port 9002", &tcp4(40000, 9003)));
        assert!(!check("udp port 9002", &tcp4(40000, 9002)));
        assert!(!check("tcp dst port 9002", &tcp4(9002, 40000)));
        assert!(check("port 80 or 443", &tcp4(1, 443)));
        assert!(check("host 10.1.2.3 and not port 22", &tcp4(1, 443)));
        assert!(!check("host 10.1.2.3 && ! port 443", &tcp4(1, 443)));
        assert!(check("net 10.0.0.0/8", &tcp4(1, 2)));
        assert!(check("src net 127.0.0.0/8", &tcp4(1, 2)));
        assert!(!check("dst net 127.0.0.0/8", &tcp4(1, 2)));
        assert!(check("ip and (tcp or udp)", &tcp4(1, 2)));
        assert!(!check("ip6", &tcp4(1, 2)));
        let mut frag = tcp4(1, 9002);
        frag.later_fragment = true;
        assert!(!check("port 9002", &frag));
        let mut opts = tcp4(1, 9002);
        opts.ihl_words = 7;
        assert!(check("tcp port 9002", &opts));
        let six = Pkt {
            v6: true,
            src: "::1".parse().unwrap(),
            dst: "2001:db8::5".parse().unwrap(),
            ..tcp4(5, 9002)
        };
        assert!(check("ip6 and tcp port 9002", &six));
        assert!(check("host 2001:db8::5", &six));
        assert!(check("net 2001:db8::/32", &six));
        assert!(!check("src host 2001:db8::5", &six));
        assert!(!check("host 10.1.2.3", &six));
    }

    #[test]
    fn short_packets_are_rejected_in_both() {
        let f = Filter::parse("not tcp port 9002").unwrap();
        for layout in [Layout::Ethernet, Layout::Cooked] {
            let prog = f.compile(layout, 100).unwrap();
            assert_eq!(run_bpf(&prog, &[0x08, 0x00], 0x0800), 0);
            assert!(!f.matches(layout, &[0x08, 0x00], 0x0800));
        }
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        for bad in [
            "",
            "tcp port",
            "port nosuchservice",
            "portrange 10",
            "portrange 10-",
            "ip portrange 1-2",
            "vlan 4096",
            "host example.com",
            "(tcp",
            "tcp port 1 2",
            "net 10.0.0.0/40",
            "9002",
            "ip port 80",
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert!(matches!(e, FilterError::Syntax { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn compiled_program_shape() {
        let f = Filter::parse("tcp port 9002").unwrap();
        let prog = f.compile(Layout::Ethernet, 262144).unwrap();
        assert_eq!(prog.first().map(|i| (i.code, i.k)), Some((0x28, 12)));
        assert_eq!(prog[prog.len() - 2].k, 262144);
        assert_eq!(prog[prog.len() - 1].k, 0);
        assert!(prog.len() < 40, "{}", prog.len());
    }

    #[test]
    fn port_ranges_and_service_names() {
        assert!(check("portrange 9000-9010", &tcp4(40000, 9002)));
        assert!(check("portrange 9010-9000", &tcp4(9010, 1)));
        assert!(!check("portrange 9000-9010", &tcp4(40000, 9011)));
        assert!(!check("tcp dst portrange 9000-9010", &tcp4(9005, 1)));
        assert!(check("tcp src portrange 9000-9010 or 80-81", &tcp4(81, 1)));
        assert!(check("tcp port https", &tcp4(1, 443)));
        assert!(check("port http or mqtt", &tcp4(1883, 5)));
        assert!(check("portrange ftp-data-ftp", &tcp4(21, 5)));
        assert!(!check("portrange ftp-data-ftp", &tcp4(22, 5)));
        for (name, port) in SERVICES {
            assert_eq!(port_number(name), Some(*port));
        }
    }

    /// An Ethernet frame carrying `p` behind the given 802.1Q tags (TPID,
    /// TCI), outermost first.
    fn tagged(p: &Pkt, tags: &[(u16, u16)]) -> Vec<u8> {
        let (ip, proto) = build(p);
        let mut eth = vec![0u8; 12];
        for (tpid, tci) in tags {
            eth.extend_from_slice(&tpid.to_be_bytes());
            eth.extend_from_slice(&tci.to_be_bytes());
        }
        eth.extend_from_slice(&proto.to_be_bytes());
        eth.extend_from_slice(&ip);
        eth
    }

    /// The verdicts of user space and BPF on a frame, the outer tag either
    /// in the frame or (as Linux delivers it) in the metadata; they must
    /// agree with each other and, for `vlan` filters, between the two
    /// deliveries.
    fn check_vlan(expr: &str, p: &Pkt, tags: &[(u16, u16)]) -> bool {
        let f = Filter::parse(expr).unwrap();
        let prog = f.compile(Layout::Ethernet, 65535).unwrap();
        let in_frame = tagged(p, tags);
        let user = f.matches(Layout::Ethernet, &in_frame, 0);
        assert_eq!(
            run_bpf(&prog, &in_frame, 0) != 0,
            user,
            "{expr} BPF, in frame"
        );
        // Without `vlan`, a frame whose tag was taken out reads as untagged
        // (as with libpcap on Linux): only `vlan` filters see both alike.
        if let Some(((_, tci), inner)) = tags.split_first().filter(|_| expr.contains("vlan")) {
            let stripped = tagged(p, inner);
            let u = f.matches_tagged(Layout::Ethernet, &stripped, 0, Some(*tci));
            let k = run_bpf_tagged(&prog, &stripped, 0, Some(*tci)) != 0;
            assert_eq!((u, k), (user, user), "{expr}: tag out of band");
        }
        user
    }

    #[test]
    fn vlan_moves_the_offsets_as_tcpdump() {
        let p = tcp4(40000, 9002);
        assert!(check_vlan("vlan", &p, &[(0x8100, 100)]));
        assert!(check_vlan(
            "vlan 100 and tcp port 9002",
            &p,
            &[(0x8100, 0x2064)]
        ));
        assert!(!check_vlan(
            "vlan 101 and tcp port 9002",
            &p,
            &[(0x8100, 100)]
        ));
        assert!(!check_vlan(
            "vlan 100 and tcp port 9003",
            &p,
            &[(0x8100, 100)]
        ));
        // Without `vlan` the tagged frame is not IP, as in tcpdump.
        assert!(!check_vlan("tcp port 9002", &p, &[(0x8100, 100)]));
        assert!(check_vlan("tcp port 9002", &p, &[]));
        assert!(!check_vlan("vlan", &p, &[]));
        // As in tcpdump, the shift applies after `not vlan` too: only the
        // order `tcp and not vlan` reads an untagged frame.
        assert!(!check_vlan("not vlan and tcp", &p, &[]));
        assert!(check_vlan("tcp and not vlan", &p, &[]));
        // QinQ: the second `vlan` is the inner tag.
        let qinq = [(0x88a8, 7), (0x8100, 100)];
        assert!(check_vlan(
            "vlan 7 and vlan 100 and host 10.1.2.3",
            &p,
            &qinq
        ));
        assert!(!check_vlan("vlan 7 and vlan 101", &p, &qinq));
        assert!(check_vlan(
            "vlan and vlan and portrange 9000-9010",
            &p,
            &qinq
        ));
        let mut six = tcp4(5, 9002);
        six.v6 = true;
        six.src = "::1".parse().unwrap();
        six.dst = "2001:db8::5".parse().unwrap();
        assert!(check_vlan(
            "vlan 100 and ip6 and dst port 9002",
            &six,
            &[(0x8100, 100)]
        ));
        // Cut frames are rejected by both back ends.
        let f = Filter::parse("vlan 100 and tcp port 9002").unwrap();
        let prog = f.compile(Layout::Ethernet, 100).unwrap();
        let full = tagged(&p, &[(0x8100, 100)]);
        for cut in 0..full.len() {
            let d = &full[..cut];
            assert_eq!(run_bpf(&prog, d, 0) != 0, f.matches(Layout::Ethernet, d, 0));
        }
    }

    /// tcpdump's own program (`tcpdump -dd`, the frame in-band as offline
    /// compilation assumes) and ours give the same verdicts on the same
    /// frames. Skipped where tcpdump is not installed.
    #[test]
    fn same_verdicts_as_tcpdump() {
        let exprs = [
            "tcp port 9002",
            "portrange 9000-9010",
            "tcp src portrange 9000-9010",
            "udp dst portrange 1-1000",
            "port https or port http",
            "vlan",
            "vlan 100",
            "vlan 100 and tcp port 9002",
            "vlan and vlan 100 and portrange 9000-9003",
            "not vlan and host 10.1.2.3",
        ];
        let mut six = tcp4(5, 9002);
        six.v6 = true;
        six.src = "::1".parse().unwrap();
        six.dst = "2001:db8::5".parse().unwrap();
        let mut frames = Vec::new();
        for p in [tcp4(40000, 9002), tcp4(9005, 443), tcp4(80, 1), six] {
            for tags in [
                &[][..],
                &[(0x8100, 100)][..],
                &[(0x88a8, 7), (0x8100, 100)][..],
            ] {
                frames.push(tagged(&p, tags));
            }
        }
        for expr in exprs {
            let out = match std::process::Command::new("tcpdump")
                .args(["-y", "EN10MB", "-dd", expr])
                .output()
            {
                Ok(o) if o.status.success() => o,
                _ => {
                    eprintln!("tcpdump not runnable here: not compared");
                    return;
                }
            };
            let theirs: Vec<BpfInsn> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let n: Vec<u32> = l
                        .trim_matches(|c| "{ },".contains(c))
                        .split(',')
                        .filter_map(|x| {
                            let x = x.trim();
                            match x.strip_prefix("0x") {
                                Some(h) => u32::from_str_radix(h, 16).ok(),
                                None => x.parse().ok(),
                            }
                        })
                        .collect();
                    (n.len() == 4).then(|| BpfInsn {
                        code: n[0] as u16,
                        jt: n[1] as u8,
                        jf: n[2] as u8,
                        k: n[3],
                    })
                })
                .collect();
            assert!(!theirs.is_empty(), "{expr}: no program from tcpdump");
            let f = Filter::parse(expr).unwrap();
            let ours = f.compile(Layout::Ethernet, 262144).unwrap();
            for fr in &frames {
                assert_eq!(
                    run_bpf(&ours, fr, 0) != 0,
                    run_bpf(&theirs, fr, 0) != 0,
                    "{expr} on {fr:02x?}"
                );
            }
        }
    }

    #[test]
    fn huge_filters_are_refused_for_the_kernel() {
        let expr = (1..400)
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let f = Filter::parse(&expr).unwrap();
        assert!(matches!(
            f.compile(Layout::Ethernet, 100),
            Err(FilterError::TooLarge(_))
        ));
        assert!(f.matches(Layout::Cooked, &build(&tcp4(7, 399)).0, 0x0800));
    }

    fn arb_prim() -> impl Strategy<Value = String> {
        let addr = prop_oneof![
            Just("127.0.0.1"),
            Just("10.1.2.3"),
            Just("::1"),
            Just("2001:db8::5")
        ];
        let net = prop_oneof![
            Just("10.0.0.0/8"),
            Just("127.0.0.0/24"),
            Just("0.0.0.0/0"),
            Just("2001:db8::/33"),
            Just("::/0")
        ];
        let dir = prop_oneof![Just(""), Just("src "), Just("dst ")];
        let proto = prop_oneof![Just(""), Just("tcp "), Just("udp ")];
        prop_oneof![
            (dir.clone(), addr).prop_map(|(d, a)| format!("{d}host {a}")),
            (dir.clone(), net).prop_map(|(d, n)| format!("{d}net {n}")),
            (
                proto.clone(),
                dir.clone(),
                prop_oneof![Just("1"), Just("9002"), Just("443"), Just("https")]
            )
                .prop_map(|(p, d, n)| format!("{p}{d}port {n}")),
            (
                proto,
                dir,
                prop_oneof![
                    Just("1-443"),
                    Just("9000-9010"),
                    Just("https-9002"),
                    Just("5555-5555")
                ]
            )
                .prop_map(|(p, d, n)| format!("{p}{d}portrange {n}")),
            prop_oneof![Just("tcp"), Just("udp"), Just("ip"), Just("ip6")].prop_map(String::from),
        ]
    }

    fn arb_expr() -> impl Strategy<Value = String> {
        arb_prim().prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
                inner.prop_map(|a| format!("not ({a})")),
            ]
        })
    }

    fn arb_pkt() -> impl Strategy<Value = Pkt> {
        let a4 = prop_oneof![
            Just([127, 0, 0, 1]),
            Just([10, 1, 2, 3]),
            Just([8, 8, 8, 8])
        ];
        let a6 = prop_oneof![
            Just(Ipv6Addr::LOCALHOST),
            Just("2001:db8::5".parse::<Ipv6Addr>().unwrap()),
            Just("2001:db8:8000::1".parse::<Ipv6Addr>().unwrap())
        ];
        let port = prop_oneof![Just(1u16), Just(9002), Just(443), Just(5555)];
        (
            any::<bool>(),
            (a4.clone(), a4),
            (a6.clone(), a6),
            prop_oneof![Just(6u8), Just(17), Just(1), Just(132)],
            (port.clone(), port),
            any::<bool>(),
            5u8..8,
        )
            .prop_map(
                |(v6, (s4, d4), (s6, d6), proto, (sport, dport), frag, ihl)| Pkt {
                    v6,
                    src: if v6 { IpAddr::V6(s6) } else { v4(s4) },
                    dst: if v6 { IpAddr::V6(d6) } else { v4(d4) },
                    proto,
                    sport,
                    dport,
                    later_fragment: frag && !v6,
                    ihl_words: ihl,
                },
            )
    }

    proptest! {
        /// Kernel program, user-space evaluation and the oracle agree.
        #[test]
        fn backends_agree_with_oracle(expr in arb_expr(), pkt in arb_pkt()) {
            check(&expr, &pkt);
        }

        /// Any cut of a packet: BPF and user space agree (both reject when a
        /// load runs past the end).
        #[test]
        fn backends_agree_on_cut_packets(expr in arb_expr(), pkt in arb_pkt(), cut in 0usize..80) {
            let f = Filter::parse(&expr).unwrap();
            let (ip, proto) = build(&pkt);
            let data = &ip[..cut.min(ip.len())];
            let prog = f.compile(Layout::Cooked, 1).unwrap();
            prop_assert_eq!(run_bpf(&prog, data, proto) != 0, f.matches(Layout::Cooked, data, proto));
        }
    }
}
