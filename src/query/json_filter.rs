//! A small expression language to select messages by their fields and by
//! the JSON in their payload (`--where`).
//!
//! ```text
//! expr    := or
//! or      := and (("or" | "||") and)*
//! and     := unary (("and" | "&&") unary)*
//! unary   := ("not" | "!") unary | "(" expr ")" | compare
//! compare := operand (op operand)?          -- a lone operand tests truthiness
//! op      := "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains"
//! operand := path | "string" | 'string' | number | true | false | null
//! path    := ident ("." ident | "[" integer "]" | "[" "string" "]")*
//! ```
//!
//! Paths are looked up in a JSON object given by the caller; for messages
//! (see [`crate::payload::message_context`]) its keys are `json` (the text
//! payload parsed as JSON), `text`, `dir` (`c2s`/`s2c`), `opcode`, `len`,
//! `conn`, `index`, `complete`. Examples:
//!
//! ```text
//! json.type == "chat"
//! dir == "s2c" and json.payload.seq >= 100
//! json.tags contains "urgent" or not json.user
//! json.items[0].id != 3
//! ```
//!
//! Semantics: a path that does not exist is `null`. `==`/`!=` compare JSON
//! values (numbers numerically). `<`, `<=`, `>`, `>=` compare two numbers or
//! two strings and are false otherwise. `contains` is substring for strings,
//! element equality for arrays, and key presence for objects. A lone operand
//! is true unless it is `null`, `false`, missing, `0`, or `""`.

use serde_json::Value;
use std::fmt;

/// A parse error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in --where expression at offset {offset}: {what}")]
pub struct FilterError {
    /// Byte offset in the expression.
    pub offset: usize,
    /// What was wrong.
    pub what: String,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.name` or `["name"]`.
    Key(String),
    /// `[n]`.
    Index(usize),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
}

/// A value in an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A path into the context object.
    Path(Vec<Step>),
    /// A literal.
    Lit(Value),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A comparison.
    Cmp(Operand, Op, Operand),
    /// Truthiness of an operand.
    Truthy(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(Op),
    And,
    Or,
    Not,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Dot,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Op(o) => write!(f, "operator {o:?}"),
            Tok::And => f.write_str("`and`"),
            Tok::Or => f.write_str("`or`"),
            Tok::Not => f.write_str("`not`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBrack => f.write_str("`[`"),
            Tok::RBrack => f.write_str("`]`"),
            Tok::Dot => f.write_str("`.`"),
        }
    }
}

fn err(offset: usize, what: impl Into<String>) -> FilterError {
    FilterError {
        offset,
        what: what.into(),
    }
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let tok = match two {
            "==" => Some(Tok::Op(Op::Eq)),
            "!=" => Some(Tok::Op(Op::Ne)),
            "<=" => Some(Tok::Op(Op::Le)),
            ">=" => Some(Tok::Op(Op::Ge)),
            "&&" => Some(Tok::And),
            "||" => Some(Tok::Or),
            _ => None,
        };
        if let Some(t) = tok {
            it.next();
            it.next();
            out.push((i, t));
            continue;
        }
        let single = match c {
            '<' => Some(Tok::Op(Op::Lt)),
            '>' => Some(Tok::Op(Op::Gt)),
            '!' => Some(Tok::Not),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            '.' => Some(Tok::Dot),
            _ => None,
        };
        if let Some(t) = single {
            it.next();
            out.push((i, t));
            continue;
        }
        if c == '"' || c == '\'' {
            it.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some((_, ch)) = it.next() {
                if ch == c {
                    closed = true;
                    break;
                }
                if ch == '\\' {
                    match it.next() {
                        Some((_, 'n')) => s.push('\n'),
                        Some((_, 't')) => s.push('\t'),
                        Some((_, e)) => s.push(e),
                        None => break,
                    }
                } else {
                    s.push(ch);
                }
            }
            if !closed {
                return Err(err(i, "unterminated string"));
            }
            out.push((i, Tok::Str(s)));
            continue;
        }
        if c.is_ascii_digit() || c == '-' {
            let mut end = i;
            while let Some(&(j, d)) = it.peek() {
                let ok = d.is_ascii_digit()
                    || (j == i && d == '-')
                    || d == '.'
                    || d == 'e'
                    || d == 'E'
                    || ((d == '+' || d == '-') && matches!(src.get(j - 1..j), Some("e" | "E")));
                if !ok {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
            let text = src.get(i..end).unwrap_or("");
            let n: f64 = text
                .parse()
                .map_err(|_| err(i, format!("bad number `{text}`")))?;
            out.push((i, Tok::Num(n)));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let mut end = i;
            while let Some(&(j, d)) = it.peek() {
                if !(d.is_alphanumeric() || d == '_' || d == '$' || d == '-') {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
            let word = src.get(i..end).unwrap_or("");
            out.push((
                i,
                match word {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "contains" => Tok::Op(Op::Contains),
                    w => Tok::Ident(w.to_string()),
                },
            ));
            continue;
        }
        return Err(err(i, format!("unexpected character `{c}`")));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

/// Deepest nesting of parentheses/`not` accepted (bounds recursion).
const MAX_NESTING: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |(o, _)| *o)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut e = self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.next();
            e = Expr::Or(Box::new(e), Box::new(self.and(depth)?));
        }
        Ok(e)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut e = self.unary(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.next();
            e = Expr::And(Box::new(e), Box::new(self.unary(depth)?));
        }
        Ok(e)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth > MAX_NESTING {
            return Err(err(self.at(), "expression nested too deeply"));
        }
        match self.peek() {
            Some(Tok::Not) => {
                self.next();
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.next();
                let e = self.or(depth + 1)?;
                let at = self.at();
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(err(at, "expected `)`")),
                }
            }
            _ => {
                let left = self.operand()?;
                match self.peek() {
                    Some(Tok::Op(op)) => {
                        let op = *op;
                        self.next();
                        let right = self.operand()?;
                        Ok(Expr::Cmp(left, op, right))
                    }
                    _ => Ok(Expr::Truthy(left)),
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        let at = self.at();
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Lit(Value::String(s))),
            Some(Tok::Num(n)) => Ok(Operand::Lit(
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            )),
            Some(Tok::Ident(w)) => match w.as_str() {
                "true" => Ok(Operand::Lit(Value::Bool(true))),
                "false" => Ok(Operand::Lit(Value::Bool(false))),
                "null" => Ok(Operand::Lit(Value::Null)),
                _ => self.path(w),
            },
            Some(t) => Err(err(at, format!("expected a path or a value, found {t}"))),
            None => Err(err(at, "expected a path or a value, found the end")),
        }
    }

    fn path(&mut self, first: String) -> Result<Operand, FilterError> {
        let mut steps = vec![Step::Key(first)];
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.next();
                    let at = self.at();
                    match self.next() {
                        Some(Tok::Ident(k)) => steps.push(Step::Key(k)),
                        Some(Tok::Str(k)) => steps.push(Step::Key(k)),
                        _ => return Err(err(at, "expected a field name after `.`")),
                    }
                }
                Some(Tok::LBrack) => {
                    self.next();
                    let at = self.at();
                    match self.next() {
                        Some(Tok::Num(n)) if n >= 0.0 && n.fract() == 0.0 => {
                            steps.push(Step::Index(n as usize))
                        }
                        Some(Tok::Str(k)) => steps.push(Step::Key(k)),
                        _ => return Err(err(at, "expected an index or a quoted key in `[]`")),
                    }
                    let at = self.at();
                    if self.next() != Some(Tok::RBrack) {
                        return Err(err(at, "expected `]`"));
                    }
                }
                _ => return Ok(Operand::Path(steps)),
            }
        }
    }
}

impl Expr {
    /// Parses an expression.
    pub fn parse(src: &str) -> Result<Expr, FilterError> {
        let toks = lex(src)?;
        if toks.is_empty() {
            return Err(err(0, "empty expression"));
        }
        let mut p = Parser {
            toks,
            pos: 0,
            len: src.len(),
        };
        let e = p.or(0)?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(err(p.at(), format!("unexpected {t}"))),
        }
    }

    /// True if some path starts with the key `root` (lets callers skip
    /// work, e.g. parsing payloads as JSON, that the expression never uses).
    pub fn uses_root(&self, root: &str) -> bool {
        let op_uses = |o: &Operand| matches!(o, Operand::Path(s) if s.first() == Some(&Step::Key(root.to_string())));
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.uses_root(root) || b.uses_root(root),
            Expr::Not(a) => a.uses_root(root),
            Expr::Cmp(a, _, b) => op_uses(a) || op_uses(b),
            Expr::Truthy(a) => op_uses(a),
        }
    }

    /// Evaluates against `ctx` (normally a JSON object).
    pub fn matches(&self, ctx: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(ctx) && b.matches(ctx),
            Expr::Or(a, b) => a.matches(ctx) || b.matches(ctx),
            Expr::Not(a) => !a.matches(ctx),
            Expr::Truthy(o) => truthy(resolve(o, ctx)),
            Expr::Cmp(a, op, b) => compare(resolve(a, ctx), *op, resolve(b, ctx)),
        }
    }
}

static NULL: Value = Value::Null;

fn resolve<'a>(o: &'a Operand, ctx: &'a Value) -> &'a Value {
    match o {
        Operand::Lit(v) => v,
        Operand::Path(steps) => {
            let mut cur = ctx;
            for s in steps {
                let next = match s {
                    Step::Key(k) => cur.get(k.as_str()),
                    Step::Index(i) => cur.get(*i),
                };
                match next {
                    Some(v) => cur = v,
                    None => return &NULL,
                }
            }
            cur
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, op: Op, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = || -> Option<Ordering> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        }
    };
    match op {
        Op::Eq => equal(a, b),
        Op::Ne => !equal(a, b),
        Op::Lt => ord() == Some(Ordering::Less),
        Op::Le => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => ord() == Some(Ordering::Greater),
        Op::Ge => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
        Op::Contains => match (a, b) {
            (Value::String(x), Value::String(y)) => x.contains(y.as_str()),
            (Value::Array(xs), y) => xs.iter().any(|x| equal(x, y)),
            (Value::Object(m), Value::String(k)) => m.contains_key(k.as_str()),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(expr: &str, ctx: &Value) -> bool {
        Expr::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(ctx)
    }

    fn ctx() -> Value {
        json!({
            "dir": "s2c",
            "len": 42,
            "json": {
                "type": "chat",
                "seq": 7,
                "user": {"name": "ann", "tags": ["a", "b"]},
                "items": [{"id": 3}, {"id": 4}],
                "empty": "",
                "odd key": 1.5
            }
        })
    }

    #[test]
    fn comparisons() {
        let c = ctx();
        assert!(m(r#"json.type == "chat""#, &c));
        assert!(!m(r#"json.type == "join""#, &c));
        assert!(m(r#"json.type != 'join'"#, &c));
        assert!(m("json.seq == 7.0", &c));
        assert!(m(
            "json.seq > 6 and json.seq >= 7 and json.seq < 8 and json.seq <= 7",
            &c
        ));
        assert!(!m("json.seq > 7", &c));
        assert!(m(r#"json.type < "d""#, &c));
        assert!(!m(r#"json.seq < "8""#, &c), "number vs string never orders");
        assert!(m("json.items[1].id == 4", &c));
        assert!(m(r#"json["odd key"] == 1.5"#, &c));
        assert!(m(r#"json.user["name"] == "ann""#, &c));
        assert!(m("len == 42 and dir == \"s2c\"", &c));
        assert!(m("json.seq == -7 or json.seq == 7", &c));
    }

    #[test]
    fn contains_and_truthiness() {
        let c = ctx();
        assert!(m(r#"json.user.tags contains "b""#, &c));
        assert!(!m(r#"json.user.tags contains "z""#, &c));
        assert!(m(r#"json.type contains "ha""#, &c));
        assert!(m(r#"json.user contains "name""#, &c));
        assert!(m("json.user", &c));
        assert!(!m("json.empty", &c));
        assert!(!m("json.nothing", &c));
        assert!(m("not json.nothing", &c));
        assert!(m("json.nothing == null", &c));
        assert!(m("!json.nothing && json.seq", &c));
    }

    #[test]
    fn precedence_and_parentheses() {
        let c = ctx();
        // and binds tighter than or.
        assert!(m("false and false or true", &c));
        assert!(!m("false and (false or true)", &c));
        assert!(m("not false and true", &c));
        assert!(!m("not (false or true)", &c));
        assert!(m("json.seq == 1 || json.seq == 7", &c));
    }

    #[test]
    fn missing_paths_do_not_match_comparisons() {
        let c = ctx();
        assert!(!m("json.a.b.c == 1", &c));
        assert!(!m("json.items[9].id > 0", &c));
        assert!(!m("json.type[0] == \"c\"", &c));
        assert!(m("json.a.b != 1", &c));
    }

    #[test]
    fn parse_errors_name_the_offset() {
        for (src, off) in [
            ("json.type ==", 12),
            ("json.type == \"x", 13),
            ("(json.a", 7),
            ("json.a ]", 7),
            ("json.[0]", 5),
            ("json.a # 1", 7),
            ("", 0),
            ("json.items[-1]", 11),
        ] {
            let e = Expr::parse(src).expect_err(src);
            assert_eq!(e.offset, off, "{src}: {e}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "(".repeat(500) + "true" + &")".repeat(500);
        assert!(Expr::parse(&deep).is_err());
        let ok = "(".repeat(20) + "true" + &")".repeat(20);
        assert!(m(&ok, &Value::Null));
    }

    #[test]
    fn uses_root() {
        let e = Expr::parse(r#"dir == "c2s" and not json.x"#).unwrap();
        assert!(e.uses_root("json") && e.uses_root("dir") && !e.uses_root("len"));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any string parses or fails with an offset inside it; never panics.
        #[test]
        fn arbitrary_expressions_never_panic(src in "\\PC{0,40}") {
            match Expr::parse(&src) {
                Ok(e) => { let _ = e.matches(&serde_json::json!({"json": {"a": [1, "x"]}})); }
                Err(e) => prop_assert!(e.offset <= src.len()),
            }
        }
    }
}
