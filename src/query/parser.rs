//! Tokens → syntax tree. Grammar (Wireshark's, `epan/dfilter/grammar.lemon`,
//! with its precedence: `not` binds tightest, then `and`, `xor`, `or`):
//!
//! ```text
//! expr    := xor (("or" | "||") xor)*
//! xor     := and (("xor" | "^^") and)*
//! and     := unary (("and" | "&&") unary)*
//! unary   := ("not" | "!") unary | "(" expr ")" | test
//! test    := operand (cmp operand | ["not"] "in" set)?   -- a lone field tests existence
//! set     := "{" member ("," member)* "}"
//! member  := operand | operand ".." operand | WORD_WITH_DOTDOT   -- `1..5`
//! operand := WORD | STRING
//! ```
//!
//! `and`/`or`/`xor` chains are kept flat (n-ary), so a long chain costs no
//! recursion; nesting (parentheses, `not`) is capped at [`MAX_DEPTH`].

use super::error::FilterError;
use super::lexer::{CmpOp, Tok, Token};
use std::ops::Range;

/// Deepest nesting of parentheses and `not` accepted: bounds the recursion
/// of the parser, the type checker and the evaluator.
pub const MAX_DEPTH: usize = 64;
/// Most members in one `in {…}` set.
pub const MAX_SET: usize = 4096;

/// A word or a string, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A field name or an unquoted literal.
    Word(String, Range<usize>),
    /// A quoted string.
    Str(Vec<u8>, Range<usize>),
}

impl Operand {
    /// Where it is.
    pub fn span(&self) -> Range<usize> {
        match self {
            Operand::Word(_, s) | Operand::Str(_, s) => s.clone(),
        }
    }
}

/// One member of a set.
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    /// A value.
    One(Operand),
    /// `low..high`, both included.
    Range(Operand, Operand),
}

/// The untyped tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Syntax {
    /// All true.
    And(Vec<Syntax>),
    /// Any true.
    Or(Vec<Syntax>),
    /// An odd number true.
    Xor(Vec<Syntax>),
    /// Negation.
    Not(Box<Syntax>),
    /// A lone operand: the field exists.
    Exists(Operand),
    /// `left op right`.
    Compare(Operand, CmpOp, Operand, Range<usize>),
    /// `operand in {…}`; `true` for `not in`.
    In(Operand, Vec<Member>, bool, Range<usize>),
}

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    end: usize,
}

/// Parses the tokens of an expression of `len` bytes.
pub fn parse(toks: &[Token], len: usize) -> Result<Syntax, FilterError> {
    if toks.is_empty() {
        return Err(FilterError::new("the filter is empty", 0..len));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: len,
    };
    let e = p.or(0)?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) if t.tok == Tok::RParen => Err(FilterError::new(
            "\")\" without a matching \"(\"",
            t.span.clone(),
        )),
        Some(t) => Err(FilterError::new(
            format!(
                "{} was unexpected here (expected \"and\", \"or\" or the end)",
                t.tok.describe()
            ),
            t.span.clone(),
        )),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn here(&self) -> Range<usize> {
        self.toks
            .get(self.pos)
            .map_or(self.end..self.end, |t| t.span.clone())
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn chain(
        &mut self,
        depth: usize,
        sep: &Tok,
        item: fn(&mut Self, usize) -> Result<Syntax, FilterError>,
        build: fn(Vec<Syntax>) -> Syntax,
    ) -> Result<Syntax, FilterError> {
        let first = item(self, depth)?;
        if self.peek() != Some(sep) {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.peek() == Some(sep) {
            self.pos += 1;
            all.push(item(self, depth)?);
        }
        Ok(build(all))
    }

    fn or(&mut self, depth: usize) -> Result<Syntax, FilterError> {
        self.chain(depth, &Tok::Or, Self::xor, Syntax::Or)
    }

    fn xor(&mut self, depth: usize) -> Result<Syntax, FilterError> {
        self.chain(depth, &Tok::Xor, Self::and, Syntax::Xor)
    }

    fn and(&mut self, depth: usize) -> Result<Syntax, FilterError> {
        self.chain(depth, &Tok::And, Self::unary, Syntax::And)
    }

    fn unary(&mut self, depth: usize) -> Result<Syntax, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(FilterError::new(
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
                self.here(),
            ));
        }
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Syntax::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                let open = self.here();
                self.pos += 1;
                let e = self.or(depth + 1)?;
                match self.peek() {
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => Err(FilterError::new(
                        format!(
                            "\"(\" at offset {} is never closed: expected \")\"",
                            open.start
                        ),
                        self.here(),
                    )),
                }
            }
            _ => self.test(),
        }
    }

    fn operand(&mut self, what: &str) -> Result<Operand, FilterError> {
        let here = self.here();
        match self.next().map(|t| (&t.tok, t.span.clone())) {
            Some((Tok::Word(w), s)) => Ok(Operand::Word(w.clone(), s)),
            Some((Tok::Str(b), s)) => Ok(Operand::Str(b.clone(), s)),
            Some((t, s)) => Err(FilterError::new(
                format!("expected {what}, found {}", t.describe()),
                s,
            )),
            None => Err(FilterError::new(
                format!("expected {what}, found the end of the filter"),
                here,
            )),
        }
    }

    fn test(&mut self) -> Result<Syntax, FilterError> {
        let left = self.operand("a field, \"not\" or \"(\"")?;
        let start = left.span().start;
        match self.peek() {
            Some(Tok::Cmp(op)) => {
                let op = *op;
                self.pos += 1;
                let right = self.operand("a value or a field")?;
                let span = start..right.span().end;
                Ok(Syntax::Compare(left, op, right, span))
            }
            Some(Tok::In) => {
                self.pos += 1;
                self.set(left, false)
            }
            Some(Tok::Not) if self.toks.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::In) => {
                self.pos += 2;
                self.set(left, true)
            }
            _ => Ok(Syntax::Exists(left)),
        }
    }

    fn set(&mut self, left: Operand, negated: bool) -> Result<Syntax, FilterError> {
        let start = left.span().start;
        if self.peek() != Some(&Tok::LBrace) {
            return Err(FilterError::new("expected \"{\" after \"in\"", self.here()));
        }
        self.pos += 1;
        let mut members = Vec::new();
        loop {
            if members.len() >= MAX_SET {
                return Err(FilterError::new(
                    format!("a set holds at most {MAX_SET} members"),
                    self.here(),
                ));
            }
            let m = self.operand("a value")?;
            members.push(split_range(m)?);
            match self.peek() {
                Some(Tok::RBrace) => {
                    let end = self.here().end;
                    self.pos += 1;
                    return Ok(Syntax::In(left, members, negated, start..end));
                }
                Some(Tok::Comma) => self.pos += 1,
                _ => {
                    return Err(FilterError::new(
                        "expected \",\" or \"}\": set members are separated by commas (as in Wireshark 4)",
                        self.here(),
                    ));
                }
            }
        }
    }
}

/// `1..5` (one word) or `"a".."b"` is a range.
fn split_range(m: Operand) -> Result<Member, FilterError> {
    if let Operand::Word(w, span) = &m
        && let Some(at) = w.find("..")
    {
        let (lo, hi) = (&w[..at], &w[at + 2..]);
        if lo.is_empty() || hi.is_empty() || hi.contains("..") {
            return Err(FilterError::new(
                "a range is written low..high",
                span.clone(),
            ));
        }
        let s = span.start;
        return Ok(Member::Range(
            Operand::Word(lo.to_string(), s..s + at),
            Operand::Word(hi.to_string(), s + at + 2..span.end),
        ));
    }
    Ok(Member::One(m))
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn p(s: &str) -> Result<Syntax, FilterError> {
        parse(&lex(s)?, s.len())
    }

    #[test]
    fn precedence_and_chains() {
        let Syntax::Or(v) = p("a or b and c or d").unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 3);
        assert!(matches!(v[1], Syntax::And(ref x) if x.len() == 2));
        assert!(
            matches!(p("!a && b").unwrap(), Syntax::And(ref x) if matches!(x[0], Syntax::Not(_)))
        );
        assert!(
            matches!(p("x not in {1, 2..3, 4}").unwrap(), Syntax::In(_, ref m, true, _) if m.len() == 3)
        );
        assert!(p("x in {1 2}").unwrap_err().message.contains("commas"));
    }

    #[test]
    fn errors_point_at_the_token() {
        assert_eq!(p("a == ").unwrap_err().span, 5..5);
        assert_eq!(p("(a == 1").unwrap_err().span, 7..7);
        assert_eq!(p("a == 1)").unwrap_err().span, 6..7);
        assert_eq!(p("a == 1 b").unwrap_err().span, 7..8);
        assert_eq!(p("a in 1").unwrap_err().span, 5..6);
        assert_eq!(p("a in {}").unwrap_err().span, 6..7);
        assert_eq!(p("a in {1..}").unwrap_err().span, 6..9);
        assert!(p("").is_err() && p("   ").is_err());
    }

    #[test]
    fn depth_is_capped_and_long_chains_are_flat() {
        let deep = "(".repeat(100) + "a" + &")".repeat(100);
        assert!(p(&deep).unwrap_err().message.contains("nests deeper"));
        let nots = "!".repeat(100) + "a";
        assert!(p(&nots).is_err());
        let ok = "(".repeat(MAX_DEPTH - 1) + "a" + &")".repeat(MAX_DEPTH - 1);
        assert!(p(&ok).is_ok());
        let chain = vec!["a"; 100_000].join(" && ");
        assert!(matches!(p(&chain).unwrap(), Syntax::And(v) if v.len() == 100_000));
    }

    #[test]
    fn set_size_is_capped() {
        let big = format!("a in {{{}}}", vec!["1"; MAX_SET + 1].join(","));
        assert!(p(&big).unwrap_err().message.contains("at most"));
    }
}
