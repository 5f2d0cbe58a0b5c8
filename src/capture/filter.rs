//! Capture filters: the common subset of the pcap filter language
//! (`pcap-filter(7)`), compiled to classic BPF for the kernel and evaluated
//! in user space when the kernel cannot take the program.
//!
//! Supported: `host ADDR`, `net ADDR/LEN`, `port N`, each optionally
//! qualified by `src`/`dst` and a protocol (`ip`, `ip6`, `tcp`, `udp`);
//! the protocols alone; `and`/`&&`, `or`/`||`, `not`/`!` and parentheses.
//! As in tcpdump, a bare value after `and`/`or` repeats the previous
//! qualifiers (`port 80 or 443`). Host names are not resolved.
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
const BPF_JSET: u16 = 0x40;
/// `SKF_AD_OFF + SKF_AD_PROTOCOL` (linux/filter.h): loads `skb->protocol`.
const SKF_AD_PROTOCOL_LOAD: u32 = 0xffff_f000;
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
    Port(Option<Proto>, Dir, u16),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// A load of the packet, as BPF makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// The link-layer protocol (EtherType).
    Proto,
    /// `size` bytes (1, 2, 4) at `off` from the network header.
    Net { size: u8, off: u32 },
    /// 2 bytes at `off` past the IPv4 header (IHL-dependent).
    AfterIp4 { off: u32 },
}

/// A test on one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Test {
    load: Load,
    mask: u32,
    /// `(v & mask) == value`, or with `set`: `v & mask != 0`.
    value: u32,
    set: bool,
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
        Ok(Filter {
            text: text.to_string(),
            cond: lower(&expr),
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
        eval(&self.cond, layout, data, cooked_proto).unwrap_or(false)
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
}

struct Parser<'a> {
    toks: &'a [String],
    pos: usize,
    last: Option<Quals>,
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
                        return Err(format!("{id:?}: expected host, net, port or a protocol"));
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
    match q.kind {
        Kind::Port => {
            if matches!(q.proto, Some(Proto::Ip | Proto::Ip6)) {
                return Err("port takes tcp or udp, not ip/ip6".into());
            }
            let port = id.parse::<u16>().map_err(|_| {
                format!("{id:?} is not a port number (service names are not looked up)")
            })?;
            Ok(Expr::Port(q.proto, q.dir, port))
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
        set: false,
    })
}

fn and(a: Cond, b: Cond) -> Cond {
    Cond::And(Box::new(a), Box::new(b))
}

fn or(a: Cond, b: Cond) -> Cond {
    Cond::Or(Box::new(a), Box::new(b))
}

fn is_ip4() -> Cond {
    test(Load::Proto, 0xffff, ETHERTYPE_IPV4)
}

fn is_ip6() -> Cond {
    test(Load::Proto, 0xffff, ETHERTYPE_IPV6)
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
    let first = it.next().unwrap_or(test(Load::Proto, 0, 1));
    it.fold(first, or)
}

fn dir_pair(dir: Dir, src: Cond, dst: Cond) -> Cond {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::Any => or(src, dst),
    }
}

fn lower(e: &Expr) -> Cond {
    match e {
        Expr::And(a, b) => and(lower(a), lower(b)),
        Expr::Or(a, b) => or(lower(a), lower(b)),
        Expr::Not(a) => Cond::Not(Box::new(lower(a))),
        Expr::Proto(Proto::Ip) => is_ip4(),
        Expr::Proto(Proto::Ip6) => is_ip6(),
        Expr::Proto(p @ (Proto::Tcp | Proto::Udp)) => {
            let n = if *p == Proto::Tcp { 6 } else { 17 };
            // RFC 791 protocol at byte 9; RFC 8200 next header at byte 6.
            or(and(is_ip4(), byte_at(9, n)), and(is_ip6(), byte_at(6, n)))
        }
        Expr::Port(p, dir, port) => {
            let protos = port_protos(*p);
            let port = u32::from(*port);
            let v4 = and(
                and(is_ip4(), any_of(protos.iter().map(|&n| byte_at(9, n)))),
                and(
                    // Fragment offset 0 (RFC 791 §3.1): only the first
                    // fragment carries the ports.
                    Cond::Not(Box::new(Cond::Test(Test {
                        load: Load::Net { size: 2, off: 6 },
                        mask: 0x1fff,
                        value: 0,
                        set: true,
                    }))),
                    dir_pair(
                        *dir,
                        test(Load::AfterIp4 { off: 0 }, 0xffff, port),
                        test(Load::AfterIp4 { off: 2 }, 0xffff, port),
                    ),
                ),
            );
            let v6 = and(
                and(is_ip6(), any_of(protos.iter().map(|&n| byte_at(6, n)))),
                dir_pair(
                    *dir,
                    test(Load::Net { size: 2, off: 40 }, 0xffff, port),
                    test(Load::Net { size: 2, off: 42 }, 0xffff, port),
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
                    None => test(Load::Proto, 0, 0),
                }
            };
            and(is_ip6(), dir_pair(*dir, addr(8), addr(24)))
        }
    }
}

// ---------------------------------------------------------------- user space

/// Big-endian load; `None` past the end (the kernel rejects the packet).
fn load(l: Load, layout: Layout, data: &[u8], cooked_proto: u16) -> Option<u32> {
    let nh = layout.network_offset() as usize;
    let read = |at: usize, size: usize| -> Option<u32> {
        let b = data.get(at..at.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    };
    match l {
        Load::Proto => match layout {
            Layout::Ethernet => read(12, 2),
            Layout::Cooked => Some(u32::from(cooked_proto)),
        },
        Load::Net { size, off } => read(nh + off as usize, usize::from(size)),
        Load::AfterIp4 { off } => {
            let ihl = (read(nh, 1)? & 0x0f) as usize * 4;
            read(nh + ihl + off as usize, 2)
        }
    }
}

fn eval(c: &Cond, layout: Layout, data: &[u8], cooked_proto: u16) -> Option<bool> {
    Some(match c {
        Cond::Test(t) => {
            let v = load(t.load, layout, data, cooked_proto)? & t.mask;
            if t.set { v != 0 } else { v == t.value }
        }
        Cond::And(a, b) => {
            eval(a, layout, data, cooked_proto)? && eval(b, layout, data, cooked_proto)?
        }
        Cond::Or(a, b) => {
            eval(a, layout, data, cooked_proto)? || eval(b, layout, data, cooked_proto)?
        }
        Cond::Not(a) => !eval(a, layout, data, cooked_proto)?,
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
                    Load::Proto => match layout {
                        Layout::Ethernet => self.emit(BPF_LD | BPF_H | BPF_ABS, 12),
                        Layout::Cooked => self.emit(BPF_LD | BPF_W | BPF_ABS, SKF_AD_PROTOCOL_LOAD),
                    },
                    Load::Net { size, off } => {
                        let sz = match size {
                            1 => BPF_B,
                            2 => BPF_H,
                            _ => BPF_W,
                        };
                        self.emit(BPF_LD | sz | BPF_ABS, nh + off);
                    }
                    Load::AfterIp4 { off } => {
                        // X = 4 * (P[nh] & 0xf), then A = P[X + nh + off].
                        self.emit(BPF_LDX | BPF_B | BPF_MSH, nh);
                        self.emit(BPF_LD | BPF_H | BPF_IND, nh + off);
                    }
                }
                let full = match x.load {
                    Load::Proto | Load::AfterIp4 { .. } => 0xffff,
                    Load::Net { size: 1, .. } => 0xff,
                    Load::Net { size: 2, .. } => 0xffff,
                    Load::Net { .. } => u32::MAX,
                };
                if x.set {
                    self.jump(BPF_JMP | BPF_JSET, x.mask, t, f);
                } else {
                    if x.mask & full != full {
                        self.emit(BPF_ALU | BPF_AND, x.mask);
                    }
                    self.jump(BPF_JMP | BPF_JEQ, x.value, t, f);
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
            Expr::Port(q, d, port) => {
                port_protos(*q).contains(&p.proto)
                    && (p.v6 || !p.later_fragment)
                    && pick(*d, p.sport == *port, p.dport == *port)
            }
            Expr::Host(_, d, a, len) => pick(*d, in_net(p.src, *a, *len), in_net(p.dst, *a, *len)),
        }
    }

    fn parse_expr(s: &str) -> Expr {
        let toks = tokenize(s);
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            last: None,
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
            "port http",
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
            (proto, dir, prop_oneof![Just(1u16), Just(9002), Just(443)])
                .prop_map(|(p, d, n)| format!("{p}{d}port {n}")),
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
