//! AMF0 values (Action Message Format 0, Adobe "AMF0 File Format
//! Specification", 2007), as carried by FLV script tags (`onMetaData`).
//!
//! Decoded into [`serde_json::Value`] so reports can show them as they are.
//! Untrusted input: every read is bounds-checked, nesting is limited to
//! [`MAX_DEPTH`], and a malformed value yields [`Amf0Error`], never a panic.

use serde_json::{Map, Number, Value};

/// Deepest nesting of objects/arrays decoded (bounds recursion).
pub const MAX_DEPTH: usize = 32;

/// Why a value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    /// The data ended inside a value.
    #[error("AMF0 data ends inside a value at offset {0}")]
    Truncated(usize),
    /// A type marker this decoder does not know (or that is reserved).
    #[error("unsupported AMF0 type marker 0x{marker:02x} at offset {offset}")]
    Unsupported {
        /// The marker byte.
        marker: u8,
        /// Where it was.
        offset: usize,
    },
    /// Objects nested deeper than [`MAX_DEPTH`].
    #[error("AMF0 values nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// A cursor over AMF0 bytes.
#[derive(Debug)]
pub struct Amf0Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Amf0Reader<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Amf0Reader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Amf0Error::Truncated(self.pos))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(Amf0Error::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn string_of(&mut self, len: usize) -> Result<String, Amf0Error> {
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// A UTF-8 string with a 16-bit length and no type marker (AMF0 §2.4:
    /// object property names are written this way).
    pub fn short_string(&mut self) -> Result<String, Amf0Error> {
        let n = self.u16()? as usize;
        self.string_of(n)
    }

    /// Decodes the next typed value.
    pub fn value(&mut self) -> Result<Value, Amf0Error> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep);
        }
        let offset = self.pos;
        let marker = self.u8()?;
        Ok(match marker {
            // §2.2 number: IEEE-754 double, big-endian.
            0x00 => num(self.f64()?),
            // §2.3 boolean.
            0x01 => Value::Bool(self.u8()? != 0),
            // §2.4 string.
            0x02 => Value::String(self.short_string()?),
            // §2.5 object: (name, value)* then an empty name + 0x09.
            0x03 => Value::Object(self.properties(depth)?),
            // §2.7 null, §2.8 undefined.
            0x05 | 0x06 => Value::Null,
            // §2.9 reference: an index into earlier objects; kept as a number.
            0x07 => json_reference(self.u16()?),
            // §2.10 ECMA array: a count hint, then properties like an object.
            0x08 => {
                let _count = self.u32()?;
                Value::Object(self.properties(depth)?)
            }
            // §2.12 strict array.
            0x0a => {
                let n = self.u32()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(self.value_at(depth + 1)?);
                }
                Value::Array(v)
            }
            // §2.13 date: ms since epoch + a (reserved) time zone.
            0x0b => {
                let ms = self.f64()?;
                let _tz = self.u16()?;
                num(ms)
            }
            // §2.14 long string, §2.17 XML document.
            0x0c | 0x0f => {
                let n = self.u32()? as usize;
                Value::String(self.string_of(n)?)
            }
            // §2.18 typed object: class name, then properties.
            0x10 => {
                let class = self.short_string()?;
                let mut m = self.properties(depth)?;
                m.insert("@class".into(), Value::String(class));
                Value::Object(m)
            }
            other => {
                return Err(Amf0Error::Unsupported {
                    marker: other,
                    offset,
                });
            }
        })
    }

    fn properties(&mut self, depth: usize) -> Result<Map<String, Value>, Amf0Error> {
        let mut m = Map::new();
        loop {
            let name = self.short_string()?;
            if name.is_empty() {
                // §2.11 object-end marker follows the empty name. Some
                // encoders end ECMA arrays without it at the end of the
                // data: accept that too.
                if self.is_empty() {
                    return Ok(m);
                }
                let offset = self.pos;
                let marker = self.u8()?;
                if marker == 0x09 {
                    return Ok(m);
                }
                return Err(Amf0Error::Unsupported { marker, offset });
            }
            let v = self.value_at(depth + 1)?;
            m.insert(name, v);
        }
    }
}

fn num(f: f64) -> Value {
    // Whole numbers print as integers (width: 160, not 160.0).
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn json_reference(i: u16) -> Value {
    let mut m = Map::new();
    m.insert("@ref".into(), Value::Number(Number::from(i)));
    Value::Object(m)
}

/// Decodes every value in `data` (a script tag body is typically the
/// string `onMetaData` followed by an ECMA array). Returns the values
/// decoded before an error, and the error if one stopped decoding.
pub fn decode_all(data: &[u8]) -> (Vec<Value>, Option<Amf0Error>) {
    let mut r = Amf0Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        match r.value() {
            Ok(v) => out.push(v),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(x: &str) -> Vec<u8> {
        let mut v = vec![0x02];
        v.extend_from_slice(&(x.len() as u16).to_be_bytes());
        v.extend_from_slice(x.as_bytes());
        v
    }

    fn prop(name: &str, val: &[u8]) -> Vec<u8> {
        let mut v = (name.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(val);
        v
    }

    fn number(f: f64) -> Vec<u8> {
        let mut v = vec![0x00];
        v.extend_from_slice(&f.to_be_bytes());
        v
    }

    #[test]
    fn on_metadata_ecma_array() {
        let mut d = s("onMetaData");
        d.extend_from_slice(&[0x08, 0, 0, 0, 3]);
        d.extend(prop("width", &number(160.0)));
        d.extend(prop("framerate", &number(14.5)));
        d.extend(prop("stereo", &[0x01, 0x01]));
        d.extend_from_slice(&[0, 0, 0x09]);
        let (vals, err) = decode_all(&d);
        assert_eq!(err, None);
        assert_eq!(
            vals,
            vec![
                json!("onMetaData"),
                json!({"width": 160, "framerate": 14.5, "stereo": true})
            ]
        );
    }

    #[test]
    fn strict_array_null_and_long_string() {
        let mut d = vec![0x0a, 0, 0, 0, 2, 0x05, 0x01, 0x00];
        d.extend_from_slice(&[0x0c, 0, 0, 0, 2, b'h', b'i']);
        let (vals, err) = decode_all(&d);
        assert_eq!(err, None);
        assert_eq!(vals, vec![json!([null, false]), json!("hi")]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut d = s("onMetaData");
        d.extend_from_slice(&[0x08, 0, 0, 0, 1]);
        d.extend(prop("duration", &number(4.0)));
        d.extend_from_slice(&[0, 0, 0x09]);
        // 13 = just after the whole "onMetaData" string: a valid prefix.
        for cut in (1..d.len() - 3).filter(|&c| c != 13) {
            let (_, err) = decode_all(&d[..cut]);
            assert!(err.is_some(), "cut at {cut} decoded without error");
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut d = Vec::new();
        for _ in 0..(MAX_DEPTH + 5) {
            d.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
        }
        d.push(0x05);
        assert_eq!(Amf0Reader::new(&d).value(), Err(Amf0Error::TooDeep));
    }

    #[test]
    fn unknown_marker_is_reported() {
        assert_eq!(
            Amf0Reader::new(&[0x0d]).value(),
            Err(Amf0Error::Unsupported {
                marker: 0x0d,
                offset: 0
            })
        );
    }
}
