//! `wsinspect check`: the CI regression mode.
//!
//! Three independent, pure pieces over an [`Analysis`]:
//!
//! - **rules** ([`Rule`], [`Rules`], [`evaluate`]): fail a capture when it
//!   shows something a CI job wants to forbid (RFC 6455 violations, rejected
//!   upgrades, abnormal closes, close codes, loss, oversized messages, a
//!   missing subprotocol or extension);
//! - **baselines** ([`baseline`] module): a saved, diff-friendly expectation
//!   of what a capture contains, and a readable diff against it;
//! - **output** ([`output`] module): text for people, JSON, JUnit XML and
//!   GitHub Actions annotations for CI systems.
//!
//! Nothing here reads files or the clock: the CLI (`src/cli/check.rs`) reads
//! captures and baselines and passes everything in as data, so the exit code
//! is a function of the results alone ([`output::exit_code`]).
//!
//! ```
//! use wsinspect::check::{evaluate, Rule, Rules};
//! let rules = Rules::new(vec!["close-code=1011,4000-4999".parse::<Rule>().unwrap()]);
//! let analysis = wsinspect::pipeline::analyze_path(
//!     "captures/close_codes.pcapng",
//!     Default::default(),
//!     &mut wsinspect::analysis::NullSink,
//! ).unwrap();
//! let findings = evaluate(&analysis, &rules);
//! // Connection 4 closes with 1011, connection 6 with 4000; both peers send
//! // a close frame with the code, so each connection has two findings.
//! let conns: Vec<u32> = findings.iter().filter_map(|f| f.connection).collect();
//! assert_eq!(conns, vec![4, 4, 6, 6]);
//! ```

pub mod baseline;
pub mod output;

use crate::capture::PacketNo;
use crate::flow::{Direction, Role};
use crate::model::finding::{AnomalyKind, ViolationKind};
use crate::model::{Analysis, Connection, TcpEnd};
use crate::ws::frame::Opcode;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// An inclusive range of close codes, as written in `close-code=4000-4999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRange {
    /// First code of the range.
    pub lo: u16,
    /// Last code of the range (equal to `lo` for a single code).
    pub hi: u16,
}

impl CodeRange {
    /// True when `code` is in the range.
    pub fn contains(self, code: u16) -> bool {
        (self.lo..=self.hi).contains(&code)
    }
}

impl fmt::Display for CodeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// One check. `--deny` values parse into the first group of variants
/// ([`FromStr`]); the other flags build the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `violations`: any RFC 6455 / RFC 7692 violation.
    Violations,
    /// `violation=KIND[,KIND]`: violations of the named kinds only
    /// (`invalid_utf8`, `masked_server_frame`, … as in the JSON report).
    ViolationKinds(Vec<ViolationKind>),
    /// `rejected-upgrade`: a WebSocket upgrade request answered with a status
    /// other than 101 (RFC 6455 §4.2.2: 101 is the only acceptance; §4.1: any
    /// other status means the handshake did not complete).
    RejectedUpgrade,
    /// `bad-accept`: a Sec-WebSocket-Accept that does not match the key
    /// (RFC 6455 §4.2.2 step 5.4, checked by the client in §4.1).
    BadAccept,
    /// `abnormal-close`: a WebSocket connection that ended with a TCP RST, or
    /// whose TCP connection closed without a close frame from each side:
    /// what an endpoint reports as 1006 (RFC 6455 §7.1.5, §7.4.1).
    AbnormalClose,
    /// `close-code=1011,4000-4999`: a close frame (either direction) with one
    /// of these codes (RFC 6455 §7.4).
    CloseCodes(Vec<CodeRange>),
    /// `loss`: bytes of a TCP stream that were never captured (reassembly
    /// gaps or packets cut by the snapshot length).
    Loss,
    /// `no-websocket`: the capture holds no WebSocket connection at all (the
    /// CI job recorded nothing useful).
    NoWebsocket,
    /// `undecrypted`: a TLS connection that could not be decrypted although
    /// keys were given (`--keylog`, SSLKEYLOGFILE or a pcapng Decryption
    /// Secrets Block); a connection with no key log at all is not judged.
    Undecrypted,
    /// `--max-message-size N`: a data message longer than N bytes (after
    /// decompression; the wire length when that is unknown).
    MaxMessageSize(u64),
    /// `--require-subprotocol NAME`: every WebSocket connection must have
    /// negotiated this subprotocol (RFC 6455 §4.2.2 Sec-WebSocket-Protocol;
    /// compared exactly, §11.3.4).
    RequireSubprotocol(String),
    /// `--require-extension NAME`: every WebSocket connection must have
    /// negotiated this extension (RFC 6455 §9.1; names compared without case).
    RequireExtension(String),
    /// `app-errors`: an application message that carries an error
    /// (Socket.IO CONNECT_ERROR, MQTT reason code ≥ 0x80, STOMP ERROR,
    /// GraphQL `error`, JSON-RPC / OCPP errors …), or an application
    /// finding that the peer broke its protocol.
    AppErrors,
    /// `--max-latency 500ms`: an application answer that came later than
    /// this after its request (nanoseconds).
    MaxLatency(u64),
}

/// Why a `--deny` value was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Not one of the rule names.
    #[error(
        "unknown rule `{0}` (expected violations, violation=KIND, rejected-upgrade, bad-accept, abnormal-close, close-code=LIST, loss, no-websocket, undecrypted, app-errors)"
    )]
    Unknown(String),
    /// A close code list that does not parse.
    #[error("bad close code `{0}`: expected a number 0-65535 or a range like 4000-4999")]
    BadCode(String),
    /// A rule that needs a value got none.
    #[error("`{0}` needs a value, e.g. `{0}=...`")]
    MissingValue(String),
    /// An unknown violation kind.
    #[error("unknown violation kind `{0}` (known: {known})", known = violation_kind_names().join(", "))]
    BadKind(String),
}

/// Every violation kind with its report name. The match in
/// [`kind_name`] is exhaustive, so a new kind fails to compile until it is
/// listed here too.
const ALL_KINDS: [ViolationKind; 26] = [
    ViolationKind::BadAccept,
    ViolationKind::BadUpgradeResponse,
    ViolationKind::BadUpgradeRequest,
    ViolationKind::UnmaskedClientFrame,
    ViolationKind::MaskedServerFrame,
    ViolationKind::ReservedBits,
    ViolationKind::ReservedOpcode,
    ViolationKind::BadLength,
    ViolationKind::FragmentedControl,
    ViolationKind::ControlTooLong,
    ViolationKind::UnexpectedContinuation,
    ViolationKind::InterleavedMessage,
    ViolationKind::BadCloseCode,
    ViolationKind::BadClosePayload,
    ViolationKind::InvalidUtf8,
    ViolationKind::DataAfterClose,
    ViolationKind::InflateError,
    ViolationKind::CompressedBitMisplaced,
    ViolationKind::UnansweredPing,
    ViolationKind::Http2,
    ViolationKind::Hpack,
    ViolationKind::ConnectProtocolNotEnabled,
    ViolationKind::BadExtendedConnect,
    ViolationKind::WebSocketKeyOverHttp2,
    ViolationKind::ConnectionSpecificField,
    ViolationKind::DataWithoutAcceptance,
];

/// The name a violation kind has in the JSON report (`snake_case`).
pub fn kind_name(k: ViolationKind) -> &'static str {
    use ViolationKind::*;
    match k {
        BadAccept => "bad_accept",
        BadUpgradeResponse => "bad_upgrade_response",
        BadUpgradeRequest => "bad_upgrade_request",
        UnmaskedClientFrame => "unmasked_client_frame",
        MaskedServerFrame => "masked_server_frame",
        ReservedBits => "reserved_bits",
        ReservedOpcode => "reserved_opcode",
        BadLength => "bad_length",
        FragmentedControl => "fragmented_control",
        ControlTooLong => "control_too_long",
        UnexpectedContinuation => "unexpected_continuation",
        InterleavedMessage => "interleaved_message",
        BadCloseCode => "bad_close_code",
        BadClosePayload => "bad_close_payload",
        InvalidUtf8 => "invalid_utf8",
        DataAfterClose => "data_after_close",
        InflateError => "inflate_error",
        CompressedBitMisplaced => "compressed_bit_misplaced",
        UnansweredPing => "unanswered_ping",
        Http2 => "http2",
        Hpack => "hpack",
        ConnectProtocolNotEnabled => "connect_protocol_not_enabled",
        BadExtendedConnect => "bad_extended_connect",
        WebSocketKeyOverHttp2 => "web_socket_key_over_http2",
        ConnectionSpecificField => "connection_specific_field",
        DataWithoutAcceptance => "data_without_acceptance",
    }
}

fn violation_kind_names() -> Vec<&'static str> {
    ALL_KINDS.iter().map(|k| kind_name(*k)).collect()
}

fn parse_kind(s: &str) -> Result<ViolationKind, RuleError> {
    let want = s.trim().replace('-', "_").to_ascii_lowercase();
    ALL_KINDS
        .iter()
        .copied()
        .find(|k| kind_name(*k) == want)
        .ok_or_else(|| RuleError::BadKind(s.trim().to_string()))
}

fn parse_code(s: &str) -> Result<u16, RuleError> {
    s.trim()
        .parse::<u16>()
        .map_err(|_| RuleError::BadCode(s.trim().to_string()))
}

fn parse_codes(list: &str) -> Result<Vec<CodeRange>, RuleError> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(RuleError::BadCode(list.to_string()));
        }
        let range = match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_code(lo)?, parse_code(hi)?);
                if lo > hi {
                    return Err(RuleError::BadCode(part.to_string()));
                }
                CodeRange { lo, hi }
            }
            None => {
                let c = parse_code(part)?;
                CodeRange { lo: c, hi: c }
            }
        };
        out.push(range);
    }
    Ok(out)
}

impl FromStr for Rule {
    type Err = RuleError;

    /// Parses a `--deny` value: `violations`, `violation=KIND[,KIND]`,
    /// `rejected-upgrade`, `bad-accept`, `abnormal-close`,
    /// `close-code=LIST` (codes and `lo-hi` ranges), `loss`, `no-websocket`.
    /// Names are case-insensitive and `_` may stand for `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (s, None),
        };
        let name = name.to_ascii_lowercase().replace('_', "-");
        let no_value = |rule: Rule| match value {
            None => Ok(rule),
            Some(_) => Err(RuleError::Unknown(s.to_string())),
        };
        match name.as_str() {
            "violations" => no_value(Rule::Violations),
            "violation" => {
                let v = value.ok_or_else(|| RuleError::MissingValue(name.clone()))?;
                let kinds = v.split(',').map(parse_kind).collect::<Result<_, _>>()?;
                Ok(Rule::ViolationKinds(kinds))
            }
            "rejected-upgrade" => no_value(Rule::RejectedUpgrade),
            "bad-accept" => no_value(Rule::BadAccept),
            "abnormal-close" => no_value(Rule::AbnormalClose),
            "close-code" | "close-codes" => {
                let v = value.ok_or_else(|| RuleError::MissingValue("close-code".into()))?;
                Ok(Rule::CloseCodes(parse_codes(v)?))
            }
            "loss" => no_value(Rule::Loss),
            "no-websocket" => no_value(Rule::NoWebsocket),
            "undecrypted" => no_value(Rule::Undecrypted),
            "app-errors" => no_value(Rule::AppErrors),
            _ => Err(RuleError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for Rule {
    /// The canonical spelling, the one `--deny` accepts back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Violations => f.write_str("violations"),
            Rule::ViolationKinds(k) => {
                let names: Vec<&str> = k.iter().map(|k| kind_name(*k)).collect();
                write!(f, "violation={}", names.join(","))
            }
            Rule::RejectedUpgrade => f.write_str("rejected-upgrade"),
            Rule::BadAccept => f.write_str("bad-accept"),
            Rule::AbnormalClose => f.write_str("abnormal-close"),
            Rule::CloseCodes(r) => {
                let parts: Vec<String> = r.iter().map(|r| r.to_string()).collect();
                write!(f, "close-code={}", parts.join(","))
            }
            Rule::Loss => f.write_str("loss"),
            Rule::NoWebsocket => f.write_str("no-websocket"),
            Rule::Undecrypted => f.write_str("undecrypted"),
            Rule::MaxMessageSize(n) => write!(f, "max-message-size={n}"),
            Rule::RequireSubprotocol(n) => write!(f, "require-subprotocol={n}"),
            Rule::RequireExtension(n) => write!(f, "require-extension={n}"),
            Rule::AppErrors => f.write_str("app-errors"),
            Rule::MaxLatency(ns) => write!(f, "max-latency={}ms", *ns as f64 / 1e6),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl schemars::JsonSchema for Rule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rule".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A rule in its canonical spelling, as `--deny` takes it (`violations`, `close-code=1011`, `max-message-size=N`, `require-subprotocol=NAME`, ...).",
            "type": "string"
        })
    }
}

/// The rules of one `check` run, in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// The rules; duplicates are kept out by [`Rules::new`].
    pub rules: Vec<Rule>,
}

impl Rules {
    /// Builds a rule set, dropping exact duplicates.
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
        for r in rules {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Rules { rules: out }
    }

    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// One rule that failed, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// The rule that failed (canonical spelling).
    pub rule: Rule,
    /// The connection (1-based id), when the finding is about one.
    pub connection: Option<u32>,
    /// The packet where it shows, when there is one.
    pub packet: Option<PacketNo>,
    /// A sentence for people.
    pub detail: String,
}

/// Evaluates every rule over one analysis. Pure: the findings depend on
/// the analysis and the rules only, in rule order, then connection order.
pub fn evaluate(a: &Analysis, rules: &Rules) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in &rules.rules {
        if *rule == Rule::NoWebsocket {
            if !a.connections.iter().any(|c| c.is_websocket) {
                out.push(Finding {
                    rule: rule.clone(),
                    connection: None,
                    packet: None,
                    detail: format!(
                        "no WebSocket connection in {} ({}, {})",
                        a.capture,
                        crate::report::count(a.packet_count, "packet"),
                        crate::report::count(a.connections.len() as u64, "HTTP/TLS connection")
                    ),
                });
            }
            continue;
        }
        for c in &a.connections {
            check_connection(rule, c, &mut out);
        }
    }
    out
}

fn finding(rule: &Rule, c: &Connection, packet: Option<PacketNo>, detail: String) -> Finding {
    Finding {
        rule: rule.clone(),
        connection: Some(c.id),
        packet,
        detail,
    }
}

fn check_connection(rule: &Rule, c: &Connection, out: &mut Vec<Finding>) {
    match rule {
        Rule::Violations | Rule::ViolationKinds(_) => {
            for v in &c.violation_details {
                let selected = match rule {
                    Rule::ViolationKinds(kinds) => kinds.contains(&v.kind),
                    _ => true,
                };
                if selected {
                    let who = v
                        .dir
                        .map(|d| format!(" ({})", d.as_str()))
                        .unwrap_or_default();
                    out.push(finding(
                        rule,
                        c,
                        Some(v.packet),
                        format!("{}{who}: {}", v.kind.rfc(), v.detail),
                    ));
                }
            }
        }
        Rule::RejectedUpgrade => rejected_upgrade(rule, c, out),
        Rule::BadAccept => {
            if c.handshake.accept_valid == Some(false) {
                let h = &c.handshake;
                out.push(finding(
                    rule,
                    c,
                    h.response_packet,
                    format!(
                        "Sec-WebSocket-Accept {} does not match the key {} (expected {}; RFC 6455 §4.2.2)",
                        h.sec_websocket_accept.as_deref().unwrap_or("?"),
                        h.sec_websocket_key.as_deref().unwrap_or("?"),
                        h.expected_accept.as_deref().unwrap_or("?"),
                    ),
                ));
            }
        }
        Rule::AbnormalClose => abnormal_close(rule, c, out),
        Rule::CloseCodes(ranges) => {
            for f in &c.control {
                if let Some(code) = f.close_code
                    && ranges.iter().any(|r| r.contains(code))
                {
                    out.push(finding(
                        rule,
                        c,
                        Some(f.packet),
                        format!(
                            "close frame {} with code {code} ({}){}",
                            f.dir.as_str(),
                            crate::ws::frame::CloseCode(code).meaning(),
                            f.close_reason
                                .as_deref()
                                .filter(|r| !r.is_empty())
                                .map(|r| format!(" reason {r:?}"))
                                .unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Rule::Undecrypted => {
            if let Some(t) = &c.tls
                && !t.decrypted
                && t.reason != Some(crate::model::NotDecrypted::NoKeyLog)
            {
                let why = t
                    .reason
                    .as_ref()
                    .map_or_else(|| "unknown reason".to_string(), ToString::to_string);
                out.push(finding(
                    rule,
                    c,
                    Some(c.first_packet),
                    format!("TLS connection not decrypted: {why}"),
                ));
            }
        }
        Rule::Loss => {
            let gaps: Vec<_> = c
                .anomalies
                .iter()
                .filter(|x| matches!(x.kind, AnomalyKind::Loss | AnomalyKind::Snaplen))
                .collect();
            let missing = c.stats.c2s.missing_bytes + c.stats.s2c.missing_bytes;
            if !gaps.is_empty() || missing > 0 {
                let first = gaps.first();
                let what = first
                    .map(|g| format!("; first: {}", g.detail))
                    .unwrap_or_default();
                out.push(finding(
                    rule,
                    c,
                    first.map(|g| g.packet),
                    format!(
                        "{} never captured ({}){what}",
                        crate::report::count(missing, "byte"),
                        crate::report::count(gaps.len() as u64, "loss/snaplen anomaly")
                    ),
                ));
            }
        }
        Rule::AppErrors => {
            // Long-polling records (in HTTP bodies) with the WebSocket ones.
            let polled = c.polling_records().map(|(_, r)| r);
            for r in c
                .app_messages
                .iter()
                .chain(polled)
                .filter(|r| r.error.is_some())
            {
                let e = r.error.as_ref();
                out.push(finding(
                    rule,
                    c,
                    Some(r.first_packet),
                    format!(
                        "{} {}{} ({}): error{}",
                        r.protocol,
                        r.kind,
                        r.name
                            .as_deref()
                            .map(|n| format!(" {n:?}"))
                            .unwrap_or_default(),
                        r.dir.as_str(),
                        [
                            e.and_then(|e| e.code.as_deref()),
                            e.and_then(|e| e.message.as_deref())
                        ]
                        .into_iter()
                        .flatten()
                        .map(|t| format!(" {t}"))
                        .collect::<String>()
                    ),
                ));
            }
            for f in c
                .app_findings
                .iter()
                .filter(|f| f.kind == crate::model::app::AppFindingKind::Malformed)
            {
                out.push(finding(
                    rule,
                    c,
                    Some(f.packet),
                    format!("{} malformed: {}", f.protocol, f.detail),
                ));
            }
        }
        Rule::MaxLatency(max) => {
            let ws = c.app_messages.iter().map(|r| (r, "message"));
            let polled = c.polling_records().map(|(_, r)| (r, "polling packet"));
            for (r, unit) in ws.chain(polled) {
                if let (Some(ns), Some(req)) = (r.latency_ns, r.answers)
                    && ns > 0
                    && ns as u64 > *max
                    && !r.later_answer
                {
                    out.push(finding(
                        rule,
                        c,
                        Some(r.first_packet),
                        format!(
                            "{} {}{} answered {unit} {req} after {:.3} ms, over {:.3} ms",
                            r.protocol,
                            r.kind,
                            r.name
                                .as_deref()
                                .map(|n| format!(" {n:?}"))
                                .unwrap_or_default(),
                            ns as f64 / 1e6,
                            *max as f64 / 1e6
                        ),
                    ));
                }
            }
        }
        Rule::MaxMessageSize(max) => {
            for (i, m) in c.messages.iter().enumerate() {
                let (len, what) = match m.payload_len {
                    Some(n) => (n, "bytes"),
                    None => (m.wire_payload_len, "bytes on the wire"),
                };
                if len > *max {
                    out.push(finding(
                        rule,
                        c,
                        Some(m.first_packet),
                        format!(
                            "message {} ({} {}) is {len} {what}, over the limit of {max}",
                            i + 1,
                            m.dir.as_str(),
                            m.opcode
                        ),
                    ));
                }
            }
        }
        Rule::RequireSubprotocol(name) => {
            if !c.is_websocket {
                return;
            }
            let h = &c.handshake;
            let detail = match (&h.status, &h.subprotocol) {
                (None, _) => Some("handshake not captured: subprotocol unknown".to_string()),
                (Some(_), Some(got)) if got.trim() == name => None,
                (Some(_), Some(got)) => Some(format!(
                    "negotiated subprotocol {got:?}, not {name:?} (offered: {})",
                    h.offered_subprotocols.as_deref().unwrap_or("none")
                )),
                (Some(_), None) => Some(format!(
                    "no subprotocol negotiated, {name:?} required (offered: {})",
                    h.offered_subprotocols.as_deref().unwrap_or("none")
                )),
            };
            if let Some(d) = detail {
                out.push(finding(rule, c, h.response_packet, d));
            }
        }
        Rule::RequireExtension(name) => {
            if !c.is_websocket {
                return;
            }
            let h = &c.handshake;
            let has = h.extensions.as_deref().is_some_and(|e| {
                // RFC 6455 §9.1: a list of `name; param` entries.
                e.split(',')
                    .filter_map(|ext| ext.split(';').next())
                    .any(|n| n.trim().eq_ignore_ascii_case(name))
            });
            let detail = match (&h.status, has) {
                (_, true) => None,
                (None, false) => Some("handshake not captured: extensions unknown".to_string()),
                (Some(_), false) => Some(format!(
                    "extension {name:?} not negotiated (accepted: {}; offered: {})",
                    h.extensions.as_deref().unwrap_or("none"),
                    h.offered_extensions.as_deref().unwrap_or("none")
                )),
            };
            if let Some(d) = detail {
                out.push(finding(rule, c, h.response_packet, d));
            }
        }
        Rule::NoWebsocket => {}
    }
}

fn rejected_upgrade(rule: &Rule, c: &Connection, out: &mut Vec<Finding>) {
    let mut any_exchange = false;
    for x in c.http_exchanges.iter().filter(|x| x.upgrade) {
        any_exchange = true;
        if let Some(status) = x.status.filter(|s| *s != 101) {
            out.push(finding(
                rule,
                c,
                x.response_packet,
                format!(
                    "upgrade request {} {} answered {status}",
                    x.method, x.target
                ),
            ));
        }
    }
    // Connections that upgraded keep the handshake, not an exchange list.
    let h = &c.handshake;
    if !any_exchange
        && h.request_target.is_some()
        && let Some(status) = h.status.filter(|s| *s != 101)
    {
        out.push(finding(
            rule,
            c,
            h.response_packet,
            format!(
                "upgrade request {} {} answered {status} {}",
                c.upgrade_method().unwrap_or("?"),
                h.request_target.as_deref().unwrap_or(""),
                h.reason.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_string(),
        ));
    }
}

fn abnormal_close(rule: &Rule, c: &Connection, out: &mut Vec<Finding>) {
    if !c.is_websocket {
        return;
    }
    let closes: Vec<_> = c
        .control
        .iter()
        .filter(|f| f.opcode == Opcode::Close)
        .collect();
    let d = &c.tcp_detail;
    let rst_by = match (d.rst_from_client, d.rst_from_server) {
        (true, true) => Some("both sides"),
        (true, false) => Some("the client"),
        (false, true) => Some("the server"),
        (false, false) => None,
    };
    let rst_packet = c
        .tcp_events
        .iter()
        .find(|e| e.kind == crate::model::TcpEventKind::Rst)
        .map(|e| e.packet);
    let detail = match (c.tcp_end, closes.is_empty()) {
        (TcpEnd::Rst, true) => Some(format!(
            "TCP reset by {} without a close frame (1006 abnormal closure)",
            rst_by.unwrap_or("a peer")
        )),
        (TcpEnd::Rst, false) => Some(format!(
            "TCP reset by {} after the close frame from the {}",
            rst_by.unwrap_or("a peer"),
            match c.close_initiator {
                Some(Role::Server) => "server",
                _ => "client",
            }
        )),
        (TcpEnd::Fin, true) => Some(
            "TCP closed (FIN) without a close frame from either side (1006 abnormal closure)"
                .to_string(),
        ),
        // RFC 6455 §7.1.5: an endpoint that received no close frame reports
        // 1006, so a close frame that was never answered is abnormal for
        // the side that sent it.
        (TcpEnd::Fin, false) => {
            let from = |d: Direction| closes.iter().any(|f| f.dir == d);
            match (
                from(Direction::ClientToServer),
                from(Direction::ServerToClient),
            ) {
                (true, false) => Some(
                    "the client's close frame was never answered by the server before TCP closed (the client sees 1006)"
                        .to_string(),
                ),
                (false, true) => Some(
                    "the server's close frame was never answered by the client before TCP closed (the server sees 1006)"
                        .to_string(),
                ),
                _ => None,
            }
        }
        // Still open when the capture ended: nothing is known about the end.
        (TcpEnd::Open, _) => None,
    };
    if let Some(detail) = detail {
        let packet = rst_packet.or_else(|| c.tcp_events.last().map(|e| e.packet));
        out.push(finding(rule, c, packet, detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_deny_value() {
        assert_eq!("violations".parse::<Rule>(), Ok(Rule::Violations));
        assert_eq!(
            "Rejected_Upgrade".parse::<Rule>(),
            Ok(Rule::RejectedUpgrade)
        );
        assert_eq!("bad-accept".parse::<Rule>(), Ok(Rule::BadAccept));
        assert_eq!("abnormal-close".parse::<Rule>(), Ok(Rule::AbnormalClose));
        assert_eq!("loss".parse::<Rule>(), Ok(Rule::Loss));
        assert_eq!("no-websocket".parse::<Rule>(), Ok(Rule::NoWebsocket));
        assert_eq!(
            "close-code=1011,4000-4999".parse::<Rule>(),
            Ok(Rule::CloseCodes(vec![
                CodeRange { lo: 1011, hi: 1011 },
                CodeRange { lo: 4000, hi: 4999 }
            ]))
        );
        assert_eq!(
            "violation=invalid-utf8,masked_server_frame".parse::<Rule>(),
            Ok(Rule::ViolationKinds(vec![
                ViolationKind::InvalidUtf8,
                ViolationKind::MaskedServerFrame
            ]))
        );
    }

    #[test]
    fn rejects_bad_deny_values() {
        assert!(matches!("nope".parse::<Rule>(), Err(RuleError::Unknown(_))));
        assert!(matches!(
            "loss=3".parse::<Rule>(),
            Err(RuleError::Unknown(_))
        ));
        assert!(matches!(
            "close-code".parse::<Rule>(),
            Err(RuleError::MissingValue(_))
        ));
        for bad in [
            "close-code=",
            "close-code=70000",
            "close-code=5-1",
            "close-code=1,,2",
        ] {
            assert!(
                matches!(bad.parse::<Rule>(), Err(RuleError::BadCode(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "violation=bogus".parse::<Rule>(),
            Err(RuleError::BadKind(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "violations",
            "violation=invalid_utf8,bad_accept",
            "rejected-upgrade",
            "bad-accept",
            "abnormal-close",
            "close-code=1011,4000-4999",
            "loss",
            "no-websocket",
        ] {
            let r: Rule = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
            assert_eq!(r.to_string().parse::<Rule>().unwrap(), r);
        }
    }

    #[test]
    fn kind_names_match_the_report() {
        for k in ALL_KINDS {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::from(kind_name(k))
            );
        }
    }

    #[test]
    fn rules_drop_duplicates() {
        let r = Rules::new(vec![Rule::Loss, Rule::Violations, Rule::Loss]);
        assert_eq!(r.rules, vec![Rule::Loss, Rule::Violations]);
    }

    #[test]
    fn code_ranges_are_inclusive() {
        let r = CodeRange { lo: 4000, hi: 4999 };
        assert!(r.contains(4000) && r.contains(4999));
        assert!(!r.contains(3999) && !r.contains(5000));
    }

    // ---- every rule on sample captures: where it must fail, where it must pass

    fn sample(name: &str) -> Analysis {
        let path = format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::pipeline::analyze_path(&path, Default::default(), &mut crate::analysis::NullSink)
            .unwrap()
    }

    fn run(rule: Rule, capture: &str) -> Vec<Finding> {
        evaluate(&sample(capture), &Rules::new(vec![rule]))
    }

    #[test]
    fn app_errors_and_latency_rules_on_real_peers() {
        // RabbitMQ answers a SEND to an unknown destination with ERROR.
        let f = run(Rule::AppErrors, "app/stomp_rabbitmq.pcap");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].detail.contains("stomp ERROR"), "{}", f[0].detail);
        assert!(run(Rule::AppErrors, "app/graphql_ws.pcap").len() >= 2);
        // The OCPP central system answers within a few tens of ms.
        let slow = run(Rule::MaxLatency(10_000_000), "app/ocpp16.pcap");
        assert!(!slow.is_empty() && slow.iter().all(|f| f.detail.contains("answered message")));
        assert!(run(Rule::MaxLatency(10_000_000_000), "app/ocpp16.pcap").is_empty());
        assert_eq!("app-errors".parse::<Rule>(), Ok(Rule::AppErrors));
        assert_eq!(
            Rule::MaxLatency(500_000_000).to_string(),
            "max-latency=500ms"
        );
    }

    fn conns(f: &[Finding]) -> Vec<u32> {
        f.iter().filter_map(|f| f.connection).collect()
    }

    #[test]
    fn violations_rule() {
        // close_codes: connection 9 sends invalid UTF-8 (answered 1007).
        let f = run(Rule::Violations, "close_codes.pcapng");
        assert_eq!(conns(&f), vec![9]);
        assert!(f[0].detail.contains("§8.1"), "{}", f[0].detail);
        assert!(run(Rule::Violations, "seed_echo.pcapng").is_empty());
        // By kind: the UTF-8 one is selected, another kind is not.
        assert_eq!(
            conns(&run(
                Rule::ViolationKinds(vec![ViolationKind::InvalidUtf8]),
                "close_codes.pcapng"
            )),
            vec![9]
        );
        assert!(
            run(
                Rule::ViolationKinds(vec![ViolationKind::MaskedServerFrame]),
                "close_codes.pcapng"
            )
            .is_empty()
        );
    }

    #[test]
    fn rejected_upgrade_rule() {
        let f = run(Rule::RejectedUpgrade, "upgrade_rejected.pcap");
        assert_eq!(conns(&f), vec![1]);
        assert!(f[0].detail.contains("403"), "{}", f[0].detail);
        assert!(run(Rule::RejectedUpgrade, "close_codes.pcapng").is_empty());
    }

    #[test]
    fn bad_accept_rule() {
        let f = run(Rule::BadAccept, "upgrade_rejected.pcap");
        assert_eq!(conns(&f), vec![2]);
        assert!(run(Rule::BadAccept, "seed_echo.pcapng").is_empty());
        // No handshake captured: nothing to judge.
        assert!(run(Rule::BadAccept, "midstream.pcap").is_empty());
    }

    #[test]
    fn abnormal_close_rule() {
        // close_codes: connection 8 is reset without a close frame.
        let f = run(Rule::AbnormalClose, "close_codes.pcapng");
        assert_eq!(conns(&f), vec![8]);
        assert!(f[0].detail.contains("1006"), "{}", f[0].detail);
        assert!(run(Rule::AbnormalClose, "seed_echo.pcapng").is_empty());
        // upgrade_rejected: the plain HTTP connections are not judged.
        assert!(run(Rule::AbnormalClose, "upgrade_rejected.pcap").is_empty());
        // A close frame the server never answered: the client sees 1006.
        let mut a = sample("seed_echo.pcapng");
        a.connections[0]
            .control
            .retain(|f| !(f.opcode == Opcode::Close && f.dir == Direction::ServerToClient));
        let f = evaluate(&a, &Rules::new(vec![Rule::AbnormalClose]));
        assert_eq!(conns(&f), vec![1]);
        assert!(
            f[0].detail.contains("never answered by the server"),
            "{}",
            f[0].detail
        );
    }

    #[test]
    fn close_code_rule() {
        let rule: Rule = "close-code=1011,4000-4999".parse().unwrap();
        let f = run(rule.clone(), "close_codes.pcapng");
        // Both directions echo the code: two findings per connection.
        assert_eq!(conns(&f), vec![4, 4, 6, 6]);
        assert!(run(rule, "seed_echo.pcapng").is_empty());
        let normal: Rule = "close-code=1000".parse().unwrap();
        assert_eq!(conns(&run(normal, "seed_echo.pcapng")), vec![1, 1]);
    }

    #[test]
    fn loss_rule() {
        let f = run(Rule::Loss, "truncated_snaplen.pcap");
        assert_eq!(conns(&f), vec![1]);
        assert!(f[0].detail.contains("snapshot length"), "{}", f[0].detail);
        // Lossy network, but every hole was filled by a retransmission.
        assert!(run(Rule::Loss, "lossy_netns.pcap").is_empty());
    }

    #[test]
    fn max_message_size_rule() {
        // sizes_py sends payloads up to 200 000 bytes.
        let f = run(Rule::MaxMessageSize(100_000), "sizes_py.pcap");
        assert!(!f.is_empty());
        assert!(
            f.iter()
                .all(|f| f.detail.contains("over the limit of 100000"))
        );
        assert!(run(Rule::MaxMessageSize(200_000), "sizes_py.pcap").is_empty());
    }

    #[test]
    fn require_subprotocol_rule() {
        let chat = Rule::RequireSubprotocol("chat".into());
        assert!(run(chat.clone(), "subprotocol.pcapng").is_empty());
        assert_eq!(conns(&run(chat.clone(), "seed_echo.pcapng")), vec![1]);
        let other = run(
            Rule::RequireSubprotocol("superchat".into()),
            "subprotocol.pcapng",
        );
        assert!(other[0].detail.contains("\"chat\""), "{}", other[0].detail);
        // Mid-stream: the handshake is unknown, so the requirement is not shown.
        let mid = run(chat, "midstream.pcap");
        assert!(mid[0].detail.contains("not captured"), "{}", mid[0].detail);
    }

    #[test]
    fn require_extension_rule() {
        let pmd = Rule::RequireExtension("permessage-deflate".into());
        assert!(run(pmd.clone(), "deflate_takeover.pcap").is_empty());
        assert!(
            run(
                Rule::RequireExtension("PerMessage-Deflate".into()),
                "node_ws_echo.pcapng"
            )
            .is_empty()
        );
        assert_eq!(conns(&run(pmd, "seed_echo.pcapng")), vec![1]);
    }

    #[test]
    fn no_websocket_rule() {
        assert!(run(Rule::NoWebsocket, "seed_echo.pcapng").is_empty());
        let mut a = sample("upgrade_rejected.pcap");
        a.connections.retain(|c| !c.is_websocket);
        let f = evaluate(&a, &Rules::new(vec![Rule::NoWebsocket]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].connection, None);
    }

    #[test]
    fn rules_combine_in_order() {
        let rules = Rules::new(vec![Rule::AbnormalClose, Rule::Violations]);
        let f = evaluate(&sample("close_codes.pcapng"), &rules);
        let got: Vec<(String, u32)> = f
            .iter()
            .map(|f| (f.rule.to_string(), f.connection.unwrap_or(0)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("abnormal-close".to_string(), 8),
                ("violations".to_string(), 9)
            ]
        );
    }
}
