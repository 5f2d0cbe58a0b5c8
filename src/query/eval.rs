//! Evaluation of a typed expression on a [`Subject`], with Wireshark's
//! semantics for fields that have several values (one per frame, per
//! address, per packet): a comparison holds if it holds for **any** value,
//! except `!=` (`all_ne`), which needs values and none equal, and `===`
//! (`all_eq`), which needs values and all equal. A comparison on a field
//! with no value is false, whatever the operator (Wireshark 4, "Display
//! Filter Reference: the != operator").

use super::check::{Expr, Lit, Rhs, SetItem};
use super::fields::FieldRef;
use super::lexer::CmpOp;
use super::subject::{Subject, Val};
use serde_json::Value;
use std::cmp::Ordering;
use std::net::{Ipv4Addr, Ipv6Addr};

/// True if `e` holds for `s`.
pub fn eval(e: &Expr, s: &Subject<'_>) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, s)),
        Expr::Or(v) => v.iter().any(|e| eval(e, s)),
        Expr::Xor(v) => v.iter().filter(|e| eval(e, s)).count() % 2 == 1,
        Expr::Not(e) => !eval(e, s),
        Expr::Exists(f) => f.exists(s),
        Expr::In(f, items, neg) => {
            let vals = values(f, s);
            let hit = vals.iter().any(|v| items.iter().any(|i| member(v, i)));
            // `not in` is "all values outside", on a field that has values.
            if *neg { !vals.is_empty() && !hit } else { hit }
        }
        Expr::Cmp(f, op, rhs) => {
            let vals = values(f, s);
            match rhs {
                Rhs::Regex(re) => vals.iter().any(|v| match v {
                    Val::S(t) => re.is_match(t.as_bytes()),
                    Val::J(Value::String(t)) => re.is_match(t.as_bytes()),
                    _ => false,
                }),
                Rhs::Lit(l) => quantify(*op, &vals, |v, o| test_lit(v, o, l)),
                Rhs::Field(g) => {
                    let others = values(g, s);
                    let mut pairs = vals.iter().flat_map(|v| others.iter().map(move |w| (v, w)));
                    if others.is_empty() || vals.is_empty() {
                        return false;
                    }
                    match op {
                        CmpOp::AllNe => pairs.all(|(v, w)| !test_val(v, CmpOp::Eq, w)),
                        CmpOp::AnyNe => pairs.any(|(v, w)| !test_val(v, CmpOp::Eq, w)),
                        CmpOp::AllEq => pairs.all(|(v, w)| test_val(v, CmpOp::Eq, w)),
                        _ => pairs.any(|(v, w)| test_val(v, *op, w)),
                    }
                }
            }
        }
    }
}

fn values<'s>(f: &FieldRef, s: &'s Subject<'s>) -> Vec<Val<'s>> {
    let mut v = Vec::new();
    f.values(s, &mut v);
    v
}

/// Applies the quantifier of `op` over `vals`; `t(v, op)` tests one value
/// with a plain operator (`Eq` for the equality family).
fn quantify(op: CmpOp, vals: &[Val<'_>], t: impl Fn(&Val<'_>, CmpOp) -> bool) -> bool {
    match op {
        CmpOp::AllNe => !vals.is_empty() && vals.iter().all(|v| !t(v, CmpOp::Eq)),
        CmpOp::AnyNe => vals.iter().any(|v| !t(v, CmpOp::Eq)),
        CmpOp::AllEq => !vals.is_empty() && vals.iter().all(|v| t(v, CmpOp::Eq)),
        _ => vals.iter().any(|v| t(v, op)),
    }
}

fn member(v: &Val<'_>, i: &SetItem) -> bool {
    match i {
        SetItem::One(l) => test_lit(v, CmpOp::Eq, l),
        SetItem::Range(lo, hi) => test_lit(v, CmpOp::Ge, lo) && test_lit(v, CmpOp::Le, hi),
    }
}

fn ordered(o: Option<Ordering>, op: CmpOp) -> bool {
    let Some(o) = o else { return false };
    match op {
        CmpOp::Eq | CmpOp::AllEq => o == Ordering::Equal,
        CmpOp::AllNe | CmpOp::AnyNe => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
        CmpOp::Contains | CmpOp::Matches => false,
    }
}

fn in_net4(a: Ipv4Addr, net: Ipv4Addr, p: u8) -> bool {
    let mask = if p == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(p))
    };
    u32::from(a) & mask == u32::from(net) & mask
}

fn in_net6(a: Ipv6Addr, net: Ipv6Addr, p: u8) -> bool {
    let mask = if p == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(p))
    };
    u128::from(a) & mask == u128::from(net) & mask
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || memchr::memmem::find(hay, needle).is_some()
}

/// One value against one literal with a plain operator.
fn test_lit(v: &Val<'_>, op: CmpOp, l: &Lit) -> bool {
    let eqish = matches!(op, CmpOp::Eq | CmpOp::AllEq);
    match (v, l) {
        (Val::U(a), Lit::U(b)) => ordered(Some(a.cmp(b)), op),
        (Val::F(a), Lit::F(b)) => ordered(a.partial_cmp(b), op),
        (Val::B(a), Lit::B(b)) => ordered(Some(a.cmp(b)), op),
        (Val::S(a), Lit::Bytes(b)) => bytes_op(a.as_bytes(), op, b),
        (Val::By(a), Lit::Bytes(b)) => bytes_op(a, op, b),
        (Val::V4(a), Lit::Net4(n, p)) if eqish && *p < 32 => in_net4(*a, *n, *p),
        (Val::V4(a), Lit::Net4(n, _)) => ordered(Some(a.cmp(n)), op),
        (Val::V6(a), Lit::Net6(n, p)) if eqish && *p < 128 => in_net6(*a, *n, *p),
        (Val::V6(a), Lit::Net6(n, _)) => ordered(Some(a.cmp(n)), op),
        (Val::J(j), l) => json_lit(j, op, l),
        _ => false,
    }
}

fn bytes_op(a: &[u8], op: CmpOp, b: &[u8]) -> bool {
    match op {
        CmpOp::Contains => contains(a, b),
        _ => ordered(Some(a.cmp(b)), op),
    }
}

fn json_lit(j: &Value, op: CmpOp, l: &Lit) -> bool {
    match (j, l) {
        (Value::Number(n), Lit::F(b)) => ordered(n.as_f64().and_then(|a| a.partial_cmp(b)), op),
        (Value::String(s), Lit::Bytes(b)) => bytes_op(s.as_bytes(), op, b),
        (Value::Bool(a), Lit::B(b)) => ordered(Some(a.cmp(b)), op),
        (Value::Null, Lit::Null) => ordered(Some(Ordering::Equal), op),
        // `json.obj contains "key"`: the object has that key.
        (Value::Object(m), Lit::Bytes(b)) if op == CmpOp::Contains => {
            std::str::from_utf8(b).is_ok_and(|k| m.contains_key(k))
        }
        _ => false,
    }
}

/// One value against a value of another field (same type).
fn test_val(a: &Val<'_>, op: CmpOp, b: &Val<'_>) -> bool {
    let o = match (a, b) {
        (Val::U(x), Val::U(y)) => Some(x.cmp(y)),
        (Val::F(x), Val::F(y)) => x.partial_cmp(y),
        (Val::B(x), Val::B(y)) => Some(x.cmp(y)),
        (Val::S(x), Val::S(y)) if op == CmpOp::Contains => {
            return contains(x.as_bytes(), y.as_bytes());
        }
        (Val::S(x), Val::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Val::By(x), Val::By(y)) if op == CmpOp::Contains => return contains(x, y),
        (Val::By(x), Val::By(y)) => Some(x.cmp(y)),
        (Val::V4(x), Val::V4(y)) => Some(x.cmp(y)),
        (Val::V6(x), Val::V6(y)) => Some(x.cmp(y)),
        (Val::J(x), Val::J(y)) => {
            return match (x, y) {
                (Value::Number(p), Value::Number(q)) => ordered(
                    p.as_f64()
                        .and_then(|p| q.as_f64().and_then(|q| p.partial_cmp(&q))),
                    op,
                ),
                (Value::String(p), Value::String(q)) => bytes_op(p.as_bytes(), op, q.as_bytes()),
                _ => matches!(op, CmpOp::Eq | CmpOp::AllEq) && x == y,
            };
        }
        _ => None,
    };
    ordered(o, op)
}
