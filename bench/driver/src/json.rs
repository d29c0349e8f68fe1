//! Just enough JSON for the tools' one-line flat objects.

use std::collections::BTreeMap;

use bench_common::quote;

/// A value of a flat object.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// A flat JSON object.
#[derive(Clone, Debug, Default)]
pub struct Object(pub BTreeMap<String, Value>);

impl Object {
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn num(&self, key: &str) -> Option<f64> {
        match self.0.get(key) {
            Some(Value::Num(n)) => Some(*n),
            _ => None,
        }
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    pub fn set(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_string(), value);
    }
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&quote(k));
            s.push(':');
            match v {
                Value::Str(x) => s.push_str(&quote(x)),
                Value::Num(n) => s.push_str(&format!("{n}")),
                Value::Bool(b) => s.push_str(&b.to_string()),
                Value::Null => s.push_str("null"),
            }
        }
        s.push('}');
        s
    }
}

/// Parses one flat object: `{"k": "v", "n": 1.5, "b": true, "z": null}`.
pub fn parse(text: &str) -> Result<Object, String> {
    let mut p = Parser { s: text.trim().as_bytes(), i: 0 };
    p.expect(b'{')?;
    let mut obj = Object::default();
    p.ws();
    if p.peek() == Some(b'}') {
        return Ok(obj);
    }
    loop {
        p.ws();
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let value = match p.peek() {
            Some(b'"') => Value::Str(p.string()?),
            Some(b't') => p.word("true", Value::Bool(true))?,
            Some(b'f') => p.word("false", Value::Bool(false))?,
            Some(b'n') => p.word("null", Value::Null)?,
            _ => Value::Num(p.number()?),
        };
        obj.0.insert(key, value);
        p.ws();
        match p.next() {
            Some(b',') => continue,
            Some(b'}') => return Ok(obj),
            _ => return Err(format!("expected , or }} at {}", p.i)),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.next() == Some(c) { Ok(()) } else { Err(format!("expected {} at {}", c as char, self.i - 1)) }
    }
    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }
    fn number(&mut self) -> Result<f64, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap().parse().map_err(|_| format!("bad number at {start}"))
    }
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next() {
                None => return Err("unterminated string".into()),
                Some(b'"') => break,
                Some(b'\\') => match self.next() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'u') => {
                        let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4).ok_or("bad escape")?).unwrap();
                        let c = u32::from_str_radix(hex, 16).map_err(|_| "bad escape")?;
                        self.i += 4;
                        let mut buf = [0; 4];
                        out.extend_from_slice(char::from_u32(c).unwrap_or('?').encode_utf8(&mut buf).as_bytes());
                    }
                    Some(c) => out.push(c),
                    None => return Err("bad escape".into()),
                },
                Some(c) => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-8".into())
    }
}
