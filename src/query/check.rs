//! Syntax tree → typed expression: every field name is resolved in the
//! field table, every literal is parsed as the type of the field it is
//! compared with, and every operator is checked against that type, so that
//! evaluation cannot fail. Errors carry the span of the offending operand.

use super::error::FilterError;
use super::fields::{FType, FieldRef, lookup, suggestions};
use super::lexer::CmpOp;
use super::parser::{Member, Operand, Syntax};
use regex::bytes::{Regex, RegexBuilder};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// Compiled size of one regular expression (the `regex` crate's NFA and
/// lazy DFA budgets): matching stays linear in the text, and memory bounded.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most `matches` in one filter (each may take [`REGEX_SIZE_LIMIT`] twice).
pub const MAX_REGEXES: usize = 16;

/// A literal, parsed as the type of its field.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// Integer.
    U(u64),
    /// Number (seconds; JSON numbers).
    F(f64),
    /// Boolean.
    B(bool),
    /// Text or bytes (compared byte for byte).
    Bytes(Vec<u8>),
    /// An IPv4 network (prefix 32: one address).
    Net4(Ipv4Addr, u8),
    /// An IPv6 network (prefix 128: one address).
    Net6(Ipv6Addr, u8),
    /// JSON `null`.
    Null,
}

/// The right side of a comparison.
#[derive(Debug, Clone)]
pub enum Rhs {
    /// A value.
    Lit(Lit),
    /// Another field (`tcp.srcport == tcp.dstport`).
    Field(FieldRef),
    /// A compiled regular expression (`matches`).
    Regex(Box<Regex>),
}

/// A member of an `in` set.
#[derive(Debug, Clone, PartialEq)]
pub enum SetItem {
    /// One value.
    One(Lit),
    /// From..to, both included.
    Range(Lit, Lit),
}

/// The typed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// All true.
    And(Vec<Expr>),
    /// Any true.
    Or(Vec<Expr>),
    /// An odd number true.
    Xor(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// The field has a value.
    Exists(FieldRef),
    /// A comparison.
    Cmp(FieldRef, CmpOp, Rhs),
    /// Membership; `true` negates (`not in`).
    In(FieldRef, Vec<SetItem>, bool),
}

struct Checker {
    regexes: usize,
}

/// Type-checks a syntax tree.
pub fn check(s: &Syntax) -> Result<Expr, FilterError> {
    Checker { regexes: 0 }.expr(s)
}

fn field_of(op: &Operand) -> Option<FieldRef> {
    match op {
        Operand::Word(w, _) => lookup(w),
        Operand::Str(..) => None,
    }
}

fn unknown(op: &Operand) -> FilterError {
    match op {
        Operand::Word(w, span) => {
            let mut m = format!("\"{w}\" is neither a field nor a protocol name");
            let near = suggestions(w);
            if !near.is_empty() {
                m.push_str(&format!(" (did you mean {}?)", near.join(", ")));
            }
            FilterError::new(m, span.clone())
        }
        Operand::Str(_, span) => FilterError::new(
            "a string cannot be tested on its own: compare a field with it",
            span.clone(),
        ),
    }
}

impl Checker {
    fn expr(&mut self, s: &Syntax) -> Result<Expr, FilterError> {
        Ok(match s {
            Syntax::And(v) => Expr::And(self.all(v)?),
            Syntax::Or(v) => Expr::Or(self.all(v)?),
            Syntax::Xor(v) => Expr::Xor(self.all(v)?),
            Syntax::Not(e) => Expr::Not(Box::new(self.expr(e)?)),
            Syntax::Exists(op) => Expr::Exists(field_of(op).ok_or_else(|| unknown(op))?),
            Syntax::Compare(l, op, r, span) => self.compare(l, *op, r, span)?,
            Syntax::In(l, members, neg, _) => {
                let f = field_of(l).ok_or_else(|| unknown(l))?;
                let mut items = Vec::with_capacity(members.len());
                for m in members {
                    items.push(match m {
                        Member::One(v) => SetItem::One(literal(&f, v)?),
                        Member::Range(lo, hi) => {
                            if !orderable(f.ty()) {
                                return Err(FilterError::new(
                                    format!(
                                        "{} ({}) has no order: a range cannot hold it",
                                        f.name(),
                                        f.ty().name()
                                    ),
                                    lo.span().start..hi.span().end,
                                ));
                            }
                            SetItem::Range(literal(&f, lo)?, literal(&f, hi)?)
                        }
                    });
                }
                if f.ty() == FType::Proto {
                    return Err(proto_only(&f, l.span()));
                }
                Expr::In(f, items, *neg)
            }
        })
    }

    fn all(&mut self, v: &[Syntax]) -> Result<Vec<Expr>, FilterError> {
        v.iter().map(|s| self.expr(s)).collect()
    }

    fn compare(
        &mut self,
        l: &Operand,
        op: CmpOp,
        r: &Operand,
        span: &Range<usize>,
    ) -> Result<Expr, FilterError> {
        let (lf, rf) = (field_of(l), field_of(r));
        // `10 < frame.number`: the field goes left.
        let (f, fop, op_other, other_field) = match (lf, rf) {
            (Some(f), other) => (f, l, r, other),
            (None, Some(_)) if !matches!(op, CmpOp::Contains | CmpOp::Matches) => {
                return self.compare_swapped(r, op.flipped(), l);
            }
            (None, _) => return Err(unknown(l)),
        };
        let ty = f.ty();
        if ty == FType::Proto {
            return Err(proto_only(&f, fop.span()));
        }
        if op.is_ordering() && !orderable(ty) {
            return Err(FilterError::new(
                format!(
                    "{} ({}) cannot be ordered: use == or !=",
                    f.name(),
                    ty.name()
                ),
                span.clone(),
            ));
        }
        if op == CmpOp::Contains && !matches!(ty, FType::Str | FType::Bytes | FType::Json) {
            return Err(FilterError::new(
                format!(
                    "\"contains\" needs a string or bytes field; {} is a {}",
                    f.name(),
                    ty.name()
                ),
                span.clone(),
            ));
        }
        if op == CmpOp::Matches {
            if !matches!(ty, FType::Str | FType::Json) {
                return Err(FilterError::new(
                    format!(
                        "\"matches\" needs a string field; {} is a {}",
                        f.name(),
                        ty.name()
                    ),
                    span.clone(),
                ));
            }
            return self.regex(f, op_other);
        }
        if let Some(g) = other_field {
            if g.ty() != ty || g.ty() == FType::Proto {
                return Err(FilterError::new(
                    format!(
                        "{} ({}) and {} ({}) cannot be compared",
                        f.name(),
                        ty.name(),
                        g.name(),
                        g.ty().name()
                    ),
                    span.clone(),
                ));
            }
            return Ok(Expr::Cmp(f, op, Rhs::Field(g)));
        }
        let lit = if op == CmpOp::Contains && ty == FType::Json {
            match op_other {
                Operand::Str(b, _) => Lit::Bytes(b.clone()),
                Operand::Word(_, s) => {
                    return Err(FilterError::new(
                        "\"contains\" takes a quoted string here",
                        s.clone(),
                    ));
                }
            }
        } else {
            literal(&f, op_other)?
        };
        Ok(Expr::Cmp(f, op, Rhs::Lit(lit)))
    }

    fn compare_swapped(
        &mut self,
        fop: &Operand,
        op: CmpOp,
        lit: &Operand,
    ) -> Result<Expr, FilterError> {
        let span = lit.span().start.min(fop.span().start)..lit.span().end.max(fop.span().end);
        self.compare(fop, op, lit, &span)
    }

    fn regex(&mut self, f: FieldRef, r: &Operand) -> Result<Expr, FilterError> {
        let Operand::Str(pat, span) = r else {
            return Err(FilterError::new(
                "\"matches\" takes a quoted regular expression",
                r.span(),
            ));
        };
        self.regexes += 1;
        if self.regexes > MAX_REGEXES {
            return Err(FilterError::new(
                format!("a filter holds at most {MAX_REGEXES} regular expressions"),
                span.clone(),
            ));
        }
        let pat = std::str::from_utf8(pat)
            .map_err(|_| FilterError::new("the regular expression is not UTF-8", span.clone()))?;
        let re = RegexBuilder::new(pat)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(64)
            .build()
            .map_err(|e| {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                FilterError::new(format!("bad regular expression: {first}"), span.clone())
            })?;
        Ok(Expr::Cmp(f, CmpOp::Matches, Rhs::Regex(Box::new(re))))
    }
}

fn proto_only(f: &FieldRef, span: Range<usize>) -> FilterError {
    FilterError::new(
        format!(
            "{} is a protocol: test it alone (\"{}\"), without an operator",
            f.name(),
            f.name()
        ),
        span,
    )
}

fn orderable(t: FType) -> bool {
    !matches!(t, FType::Bool | FType::Proto)
}

/// Parses `op` as a value of field `f`.
pub fn literal(f: &FieldRef, op: &Operand) -> Result<Lit, FilterError> {
    let ty = f.ty();
    let bad = |what: &str| {
        let shown = match op {
            Operand::Word(w, _) => w.clone(),
            Operand::Str(b, _) => format!("\"{}\"", String::from_utf8_lossy(b)),
        };
        FilterError::new(
            format!(
                "{shown} is not a valid {what} for {} ({})",
                f.name(),
                ty.name()
            ),
            op.span(),
        )
    };
    let text: &str = match op {
        Operand::Word(w, _) => w,
        Operand::Str(b, _) => match ty {
            FType::Str | FType::Bytes => return Ok(Lit::Bytes(b.clone())),
            FType::Json => return Ok(Lit::Bytes(b.clone())),
            _ => std::str::from_utf8(b).map_err(|_| bad("value"))?,
        },
    };
    match ty {
        FType::Uint => {
            let lower = text.to_ascii_lowercase();
            if let Some((_, v)) = f.names().iter().find(|(n, _)| *n == lower) {
                return Ok(Lit::U(*v));
            }
            parse_uint(text)
                .map(Lit::U)
                .ok_or_else(|| bad("unsigned integer"))
        }
        FType::Float => text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Lit::F)
            .ok_or_else(|| bad("number of seconds")),
        FType::Bool => match text {
            "1" | "true" | "True" | "TRUE" => Ok(Lit::B(true)),
            "0" | "false" | "False" | "FALSE" => Ok(Lit::B(false)),
            _ => Err(bad("boolean (1, 0, true, false)")),
        },
        FType::Str => Ok(Lit::Bytes(text.as_bytes().to_vec())),
        FType::Bytes => parse_bytes(text)
            .map(Lit::Bytes)
            .ok_or_else(|| bad("byte string (aa:bb:cc)")),
        FType::Ipv4 => {
            let (a, p) = split_prefix(text, 32).ok_or_else(|| bad("IPv4 address or network"))?;
            a.parse()
                .map(|a| Lit::Net4(a, p))
                .map_err(|_| bad("IPv4 address or network"))
        }
        FType::Ipv6 => {
            let (a, p) = split_prefix(text, 128).ok_or_else(|| bad("IPv6 address or network"))?;
            a.parse()
                .map(|a| Lit::Net6(a, p))
                .map_err(|_| bad("IPv6 address or network"))
        }
        FType::Json => match text {
            "true" => Ok(Lit::B(true)),
            "false" => Ok(Lit::B(false)),
            "null" => Ok(Lit::Null),
            t => t
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Lit::F)
                .ok_or_else(|| bad("JSON value (a number, true, false, null or a quoted string)")),
        },
        FType::Proto => Err(proto_only(f, op.span())),
    }
}

/// Wireshark's integer literals: decimal, `0x` hex, `0b` binary, leading-0 octal.
fn parse_uint(t: &str) -> Option<u64> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        u64::from_str_radix(b, 2).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else if t.bytes().all(|c| c.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// `aa:bb:cc`, `aa-bb-cc`, `aa.bb.cc`, or one byte `aa`.
fn parse_bytes(t: &str) -> Option<Vec<u8>> {
    let sep = t.chars().find(|c| matches!(c, ':' | '-' | '.'));
    let parts: Vec<&str> = match sep {
        Some(s) => t.split(s).collect(),
        None => vec![t],
    };
    parts
        .iter()
        .map(|p| {
            (p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect()
}

fn split_prefix(t: &str, max: u8) -> Option<(&str, u8)> {
    match t.split_once('/') {
        None => Some((t, max)),
        Some((a, p)) => {
            let p: u8 = p.parse().ok()?;
            (p <= max && p.to_string().len() <= 3).then_some((a, p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{lexer::lex, parser::parse};
    use super::*;

    fn c(s: &str) -> Result<Expr, FilterError> {
        check(&parse(&lex(s)?, s.len())?).map_err(|e| e.with_expr(s))
    }

    #[test]
    fn literals_follow_the_field_type() {
        assert!(c("tcp.port == 0x50").is_ok());
        assert!(c("websocket.opcode == text").is_ok());
        assert!(c("websocket.opcode == \"Ping\"").is_ok());
        assert!(c("ip.addr == 10.0.0.0/8").is_ok());
        assert!(c("ipv6.addr == fe80::/10").is_ok());
        assert!(c("websocket.masking_key == 01:02:03:04").is_ok());
        assert!(c("frame.time_relative >= 1.5").is_ok());
        assert!(c("json.a == null or json.b == true or json.c >= -3.5").is_ok());
        let e = c("tcp.port == 1.5").unwrap_err();
        assert_eq!(e.span, 12..15);
        assert!(e.message.contains("unsigned integer"));
        assert!(c("ip.addr == 10.0.0.0/33").is_err());
        assert!(c("ip.addr == fe80::1").is_err());
        assert!(c("websocket.fin == 2").is_err());
        assert!(c("json.a == bare").is_err());
    }

    #[test]
    fn operators_follow_the_field_type() {
        assert!(
            c("websocket.fin > 0")
                .unwrap_err()
                .message
                .contains("ordered")
        );
        assert!(
            c("tcp.port contains 80")
                .unwrap_err()
                .message
                .contains("contains")
        );
        assert!(c("tcp.port matches \"8\"").is_err());
        assert!(
            c("websocket == 1")
                .unwrap_err()
                .message
                .contains("protocol")
        );
        assert!(
            c("websocket.payload.text matches \"(\"")
                .unwrap_err()
                .message
                .contains("regular")
        );
        assert!(c("websocket.payload.text matches bare").is_err());
        assert!(c("tcp.srcport == tcp.dstport").is_ok());
        assert!(c("tcp.srcport == ip.src").is_err());
        assert!(c("100 <= frame.number").is_ok());
        assert!(c("websocket.fin in {0..1}").is_err());
        assert!(c("tcp.port in {80, 443, 8000..8080}").is_ok());
    }

    #[test]
    fn unknown_fields_are_located_with_suggestions() {
        let e = c("tcp.port == 1 && websocket.close.status_code == 1000").unwrap_err();
        assert_eq!(e.span, 17..44);
        assert!(e.message.contains("websocket.payload.close.status_code"));
        assert!(c("\"x\"").is_err());
    }

    #[test]
    fn regexes_are_bounded() {
        let many = vec!["websocket.payload.text matches \"a\""; MAX_REGEXES + 1].join(" or ");
        assert!(c(&many).unwrap_err().message.contains("at most"));
        let huge = format!("websocket.payload.text matches \"{}\"", "(a{1000}){1000}");
        assert!(c(&huge).is_err());
    }

    #[test]
    fn integer_literals() {
        assert_eq!(parse_uint("010"), Some(8));
        assert_eq!(parse_uint("0b101"), Some(5));
        assert_eq!(parse_uint("0"), Some(0));
        assert_eq!(parse_uint("-1"), None);
        assert_eq!(parse_bytes("aa:BB"), Some(vec![0xaa, 0xbb]));
        assert_eq!(parse_bytes("aab"), None);
    }
}
