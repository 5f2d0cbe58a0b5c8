//! Tokens of the display-filter language, as Wireshark's scanner
//! (`epan/dfilter/scanner.l`) cuts them: operators in symbols or words,
//! quoted strings with C escapes, and *words*, runs of the characters that
//! field names and unquoted literals are made of (`ip.addr`, `10.0.0.0/8`,
//! `fe80::1`, `aa:bb:cc:dd`, `1..5`). Whether a word is a field or a value
//! is decided later, against the field table.

use super::error::FilterError;
use std::ops::Range;

/// A comparison operator (Wireshark 4 semantics, see `docs/display-filter.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`, `eq`, `any_eq`: some value equals.
    Eq,
    /// `!=`, `ne`, `all_ne`: there are values and none equals.
    AllNe,
    /// `~=`, `!==`, `any_ne`: some value differs.
    AnyNe,
    /// `===`, `all_eq`: there are values and all equal.
    AllEq,
    /// `<`, `lt`.
    Lt,
    /// `<=`, `le`.
    Le,
    /// `>`, `gt`.
    Gt,
    /// `>=`, `ge`.
    Ge,
    /// `contains`.
    Contains,
    /// `matches`, `~`: a regular expression finds a match.
    Matches,
}

impl CmpOp {
    /// The operator with its operands swapped (`1 < x` is `x > 1`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }

    /// True for the operators that need an order on values.
    pub fn is_ordering(self) -> bool {
        matches!(self, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge)
    }
}

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A field name or an unquoted literal.
    Word(String),
    /// A quoted string, escapes resolved (bytes, as `"\xff"` may not be UTF-8).
    Str(Vec<u8>),
    /// A comparison operator.
    Cmp(CmpOp),
    /// `in`.
    In,
    /// `and`, `&&`.
    And,
    /// `or`, `||`.
    Or,
    /// `xor`, `^^`.
    Xor,
    /// `not`, `!`.
    Not,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `,` (between set members).
    Comma,
}

impl Tok {
    /// How an error message names it.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("\"{w}\""),
            Tok::Str(_) => "a string".into(),
            Tok::Cmp(_) => "an operator".into(),
            Tok::In => "\"in\"".into(),
            Tok::And => "\"and\"".into(),
            Tok::Or => "\"or\"".into(),
            Tok::Xor => "\"xor\"".into(),
            Tok::Not => "\"not\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::Comma => "\",\"".into(),
        }
    }
}

/// A token and the bytes of the expression it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where it is.
    pub span: Range<usize>,
}

/// Characters of a word: field names (`websocket.payload.text`) and
/// unquoted literals (addresses, CIDR prefixes, byte strings, ranges).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/')
}

fn keyword(w: &str) -> Option<Tok> {
    Some(match w {
        "and" => Tok::And,
        "or" => Tok::Or,
        "xor" => Tok::Xor,
        "not" => Tok::Not,
        "in" => Tok::In,
        "eq" | "any_eq" => Tok::Cmp(CmpOp::Eq),
        "ne" | "all_ne" => Tok::Cmp(CmpOp::AllNe),
        "any_ne" => Tok::Cmp(CmpOp::AnyNe),
        "all_eq" => Tok::Cmp(CmpOp::AllEq),
        "lt" => Tok::Cmp(CmpOp::Lt),
        "le" => Tok::Cmp(CmpOp::Le),
        "gt" => Tok::Cmp(CmpOp::Gt),
        "ge" => Tok::Cmp(CmpOp::Ge),
        "contains" => Tok::Cmp(CmpOp::Contains),
        "matches" => Tok::Cmp(CmpOp::Matches),
        _ => return None,
    })
}

const SYMBOLS: &[(&str, Tok)] = &[
    ("===", Tok::Cmp(CmpOp::AllEq)),
    ("!==", Tok::Cmp(CmpOp::AnyNe)),
    ("==", Tok::Cmp(CmpOp::Eq)),
    ("!=", Tok::Cmp(CmpOp::AllNe)),
    ("~=", Tok::Cmp(CmpOp::AnyNe)),
    ("<=", Tok::Cmp(CmpOp::Le)),
    (">=", Tok::Cmp(CmpOp::Ge)),
    ("&&", Tok::And),
    ("||", Tok::Or),
    ("^^", Tok::Xor),
    ("<", Tok::Cmp(CmpOp::Lt)),
    (">", Tok::Cmp(CmpOp::Gt)),
    ("~", Tok::Cmp(CmpOp::Matches)),
    ("!", Tok::Not),
    ("(", Tok::LParen),
    (")", Tok::RParen),
    ("{", Tok::LBrace),
    ("}", Tok::RBrace),
    (",", Tok::Comma),
];

/// Cuts `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut i = 0;
    'outer: while i < src.len() {
        let rest = &src[i..];
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        for (sym, tok) in SYMBOLS {
            if rest.starts_with(sym) {
                out.push(Token {
                    tok: tok.clone(),
                    span: i..i + sym.len(),
                });
                i += sym.len();
                continue 'outer;
            }
        }
        if c == '"' {
            let (bytes, len) = string(rest, i)?;
            out.push(Token {
                tok: Tok::Str(bytes),
                span: i..i + len,
            });
            i += len;
            continue;
        }
        if is_word_char(c) {
            let len = word_len(rest, i)?;
            let w = &rest[..len];
            let tok = keyword(w).unwrap_or_else(|| Tok::Word(w.to_string()));
            out.push(Token {
                tok,
                span: i..i + len,
            });
            i += len;
            continue;
        }
        return Err(FilterError::new(
            format!("unexpected character \"{c}\""),
            i..i + c.len_utf8(),
        ));
    }
    Ok(out)
}

/// Length of the word at the start of `rest`. A `json.` path may hold
/// subscripts, `json.items[0].id` or `json["odd key"]`, taken whole.
fn word_len(rest: &str, at: usize) -> Result<usize, FilterError> {
    let b = rest.as_bytes();
    let mut n = 0;
    loop {
        while let Some(&c) = b.get(n) {
            if !is_word_char(char::from(c)) {
                break;
            }
            n += 1;
        }
        let is_json = rest[..n] == *"json" || rest[..n].starts_with("json.");
        if !(is_json && b.get(n) == Some(&b'[')) {
            return Ok(n);
        }
        // A subscript: up to the matching `]`, skipping quoted strings.
        let open = n;
        n += 1;
        loop {
            match b.get(n) {
                None => {
                    return Err(FilterError::new(
                        "\"[\" is never closed",
                        at + open..at + open + 1,
                    ));
                }
                Some(b']') => {
                    n += 1;
                    break;
                }
                Some(b'"') => {
                    let (_, len) = string(&rest[n..], at + n)?;
                    n += len;
                }
                Some(_) => n += 1,
            }
        }
    }
}

/// A double-quoted string at the start of `rest`: its bytes and its length
/// in the source. Escapes: `\\ \" \n \t \r \0 \a \b \f \v \xHH` and octal
/// `\NNN`, as Wireshark's.
pub fn string(rest: &str, at: usize) -> Result<(Vec<u8>, usize), FilterError> {
    let b = rest.as_bytes();
    let mut out = Vec::new();
    let mut n = 1;
    loop {
        match b.get(n) {
            None => {
                return Err(FilterError::new(
                    "the string is never closed",
                    at..at + rest.len(),
                ));
            }
            Some(b'"') => return Ok((out, n + 1)),
            Some(b'\\') => {
                let esc = n;
                let bad = |len: usize| {
                    FilterError::new(
                        "bad escape in string",
                        at + esc..at + (esc + len).min(rest.len()),
                    )
                };
                let Some(&e) = b.get(n + 1) else {
                    return Err(bad(1));
                };
                n += 2;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'x' => {
                        let hex = rest.get(n..n + 2).ok_or_else(|| bad(2))?;
                        let v = u8::from_str_radix(hex, 16).map_err(|_| bad(4))?;
                        out.push(v);
                        n += 2;
                    }
                    b'0'..=b'7' => {
                        let mut v: u32 = u32::from(e - b'0');
                        let mut k = 0;
                        while k < 2 {
                            match b.get(n) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    n += 1;
                                    k += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(u8::try_from(v).map_err(|_| bad(k + 2))?);
                    }
                    _ => {
                        // `\"`, `\\` and any other character stand for themselves.
                        let ch = rest[n - 1..].chars().next().unwrap_or('\\');
                        let mut buf = [0; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        n += ch.len_utf8() - 1;
                    }
                }
            }
            Some(&c) => {
                out.push(c);
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_symbols_and_keywords() {
        assert_eq!(
            toks("ip.addr==10.0.0.0/8&&!tcp.port in {80,443..445}"),
            vec![
                Tok::Word("ip.addr".into()),
                Tok::Cmp(CmpOp::Eq),
                Tok::Word("10.0.0.0/8".into()),
                Tok::And,
                Tok::Not,
                Tok::Word("tcp.port".into()),
                Tok::In,
                Tok::LBrace,
                Tok::Word("80".into()),
                Tok::Comma,
                Tok::Word("443..445".into()),
                Tok::RBrace,
            ]
        );
        assert_eq!(toks("a ne b")[1], Tok::Cmp(CmpOp::AllNe));
        assert_eq!(toks("a !== b")[1], Tok::Cmp(CmpOp::AnyNe));
        assert_eq!(toks("a ~ \"x\"")[1], Tok::Cmp(CmpOp::Matches));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            toks(r#""a\"b\\c\x41\101\n""#),
            vec![Tok::Str(b"a\"b\\cAA\n".to_vec())]
        );
        assert_eq!(toks("\"é\""), vec![Tok::Str("é".as_bytes().to_vec())]);
        assert!(lex("\"open").is_err());
        assert!(lex(r#""\x4""#).is_err());
        assert!(lex(r#""\777""#).is_err());
    }

    #[test]
    fn json_subscripts_stay_in_the_word() {
        assert_eq!(
            toks(r#"json.items[0].id == json["a ]b"].c"#),
            vec![
                Tok::Word("json.items[0].id".into()),
                Tok::Cmp(CmpOp::Eq),
                Tok::Word(r#"json["a ]b"].c"#.into()),
            ]
        );
        let e = lex("json.a[0").unwrap_err();
        assert_eq!(e.span, 6..7);
    }

    #[test]
    fn bad_character_is_located() {
        let e = lex("a == 1 @").unwrap_err();
        assert_eq!(e.span, 7..8);
    }
}
