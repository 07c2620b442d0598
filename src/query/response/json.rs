//! JSON exactly as Go's `encoding/json` writes InfluxDB 1.x's `httpd.Response`.

use core::fmt::Write;

use super::time::format_rfc3339_nano;
use super::{Doc, Value, epoch_time};
use crate::query::params::Epoch;

/// A streaming writer producing `json.Marshal` or `json.MarshalIndent(v, "", "    ")` output.
pub(crate) struct JsonOut {
    pub buf: String,
    pretty: bool,
    /// Per open container: whether it has an element yet.
    stack: Vec<bool>,
    /// A key was just written: the next value follows it directly.
    after_key: bool,
}

impl JsonOut {
    pub fn new(pretty: bool) -> Self {
        JsonOut {
            buf: String::with_capacity(256),
            pretty,
            stack: Vec::new(),
            after_key: false,
        }
    }

    fn newline(&mut self) {
        self.buf.push('\n');
        for _ in 0..self.stack.len() {
            self.buf.push_str("    ");
        }
    }

    /// Separator before a new element (array value or object key).
    fn element(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if let Some(has) = self.stack.last_mut() {
            let had = *has;
            *has = true;
            if had {
                self.buf.push(',');
            }
            if self.pretty {
                self.newline();
            }
        }
    }

    pub fn begin_object(&mut self) {
        self.element();
        self.buf.push('{');
        self.stack.push(false);
    }

    pub fn begin_array(&mut self) {
        self.element();
        self.buf.push('[');
        self.stack.push(false);
    }

    fn end(&mut self, c: char) {
        let had = self.stack.pop().unwrap_or(false);
        if had && self.pretty {
            self.newline();
        }
        self.buf.push(c);
    }

    pub fn end_object(&mut self) {
        self.end('}');
    }

    pub fn end_array(&mut self) {
        self.end(']');
    }

    pub fn key(&mut self, k: &str) {
        self.element();
        escape_into(&mut self.buf, k);
        self.buf.push(':');
        if self.pretty {
            self.buf.push(' ');
        }
        self.after_key = true;
    }

    pub fn string(&mut self, s: &str) {
        self.element();
        escape_into(&mut self.buf, s);
    }

    pub fn raw(&mut self, s: &str) {
        self.element();
        self.buf.push_str(s);
    }

    pub fn int(&mut self, v: i64) {
        self.element();
        self.buf.push_str(itoa::Buffer::new().format(v));
    }

    pub fn uint(&mut self, v: u64) {
        self.element();
        self.buf.push_str(itoa::Buffer::new().format(v));
    }

    pub fn float(&mut self, v: f64) {
        self.element();
        push_go_float(&mut self.buf, v);
    }

    pub fn value(&mut self, v: &Value, epoch: Option<Epoch>) {
        match v {
            Value::Null => self.raw("null"),
            Value::Float(f) => self.float(*f),
            Value::Integer(i) => self.int(*i),
            Value::Unsigned(u) => self.uint(*u),
            Value::String(s) => self.string(s),
            Value::Boolean(b) => self.raw(if *b { "true" } else { "false" }),
            Value::Time(ns) => match epoch {
                Some(e) => self.int(epoch_time(*ns, e)),
                None => self.string(&format_rfc3339_nano(*ns)),
            },
        }
    }
}

/// Go's float64 encoding: shortest round-trip digits, `%f` style for 1e-6 <= |v| < 1e21,
/// otherwise `%e` style with a signed exponent of at least one digit (`1e+21`, `1e-7`).
/// NaN and infinities, which Go refuses to encode, are written as `null`.
pub(crate) fn push_go_float(buf: &mut String, v: f64) {
    if !v.is_finite() {
        buf.push_str("null");
        return;
    }
    let abs = v.abs();
    if abs == 0.0 {
        buf.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else if (1e-6..1e21).contains(&abs) {
        // Ryu's shortest digits (the same as Go's and std's), written without an exponent;
        // std's `{v}` does the same but is several times slower (it was ~6% of a mean()
        // query's server CPU over 1,440 rows).
        let mut ryu_buf = ryu::Buffer::new();
        let s = ryu_buf.format_finite(v);
        if s.contains('e') {
            push_plain_decimal(buf, s);
        } else {
            // Already plain (`0.001`, `12.5`); Go drops the `.0` of an integral value.
            buf.push_str(s.strip_suffix(".0").unwrap_or(s));
        }
    } else {
        let e = format!("{v:e}");
        match e.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => {
                buf.push_str(mant);
                buf.push_str("e+");
                buf.push_str(exp);
            }
            _ => buf.push_str(&e),
        }
    }
}

/// `s` (Ryu's output: `-`? digits with an optional `.` and `e<exp>`) as a plain decimal
/// without exponent or trailing fractional zeros: `1e16` -> `10000000000000000`, `100.0` ->
/// `100`, `1.5e-5` -> `0.000015`.
fn push_plain_decimal(buf: &mut String, s: &str) {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // At most 17 significant digits plus the zeros Ryu writes around them.
    let mut digits = [0u8; 48];
    let mut n = 0;
    for &d in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
        if n < digits.len() {
            digits[n] = d;
            n += 1;
        }
    }
    // Position of the decimal point within `digits`.
    let mut point = int_part.len() as i32 + exp;
    let lead = digits[..n].iter().take_while(|d| **d == b'0').count();
    let digits = &digits[lead..n];
    point -= lead as i32;
    let end = digits.len() - digits.iter().rev().take_while(|d| **d == b'0').count();
    let digits = core::str::from_utf8(&digits[..end]).unwrap_or("0");
    if neg {
        buf.push('-');
    }
    let len = digits.len() as i32;
    if point <= 0 {
        buf.push_str("0.");
        (0..-point).for_each(|_| buf.push('0'));
        buf.push_str(digits);
    } else if point >= len {
        buf.push_str(digits);
        (0..point - len).for_each(|_| buf.push('0'));
    } else {
        let (a, b) = digits.split_at(point as usize);
        buf.push_str(a);
        buf.push('.');
        buf.push_str(b);
    }
}

/// A JSON string as Go writes it: `\"`, `\\`, `\n`, `\r`, `\t`, other control characters and
/// `<`, `>`, `&`, U+2028, U+2029 as `\u00XX`/`\u2028`.
pub(crate) fn escape_into(buf: &mut String, s: &str) {
    buf.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_u = matches!(
            c,
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'
        );
        if esc.is_none() && !needs_u {
            continue;
        }
        buf.push_str(&s[start..i]);
        match esc {
            Some(e) => buf.push_str(e),
            None => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

/// One document followed by a newline, as InfluxDB's `jsonFormatter` writes it.
pub(crate) fn render(doc: &Doc<'_>, epoch: Option<Epoch>, pretty: bool) -> Vec<u8> {
    let mut out = JsonOut::new(pretty);
    if let Doc::Results(results) = doc {
        // Sized for ~16 bytes a value: growing a large answer by doubling copies it repeatedly.
        let cells: usize = results
            .iter()
            .flat_map(|r| &r.series)
            .map(|s| s.values().len() * s.series.columns.len())
            .sum();
        out.buf.reserve(cells.saturating_mul(16).min(64 << 20));
    }
    out.begin_object();
    match doc {
        Doc::Error(msg) => {
            out.key("error");
            out.string(msg);
        }
        Doc::Results(results) => {
            if !results.is_empty() {
                out.key("results");
                out.begin_array();
                for r in results {
                    out.begin_object();
                    out.key("statement_id");
                    out.uint(r.statement_id as u64);
                    if !r.series.is_empty() {
                        out.key("series");
                        out.begin_array();
                        for s in &r.series {
                            out.begin_object();
                            if !s.series.name.is_empty() {
                                out.key("name");
                                out.string(&s.series.name);
                            }
                            let tags = s.sorted_tags();
                            if !tags.is_empty() {
                                out.key("tags");
                                out.begin_object();
                                for (k, v) in tags {
                                    out.key(k);
                                    out.string(v);
                                }
                                out.end_object();
                            }
                            if !s.series.columns.is_empty() {
                                out.key("columns");
                                out.begin_array();
                                for c in &s.series.columns {
                                    out.string(c);
                                }
                                out.end_array();
                            }
                            let values = s.values();
                            if !values.is_empty() {
                                out.key("values");
                                out.begin_array();
                                for row in values {
                                    out.begin_array();
                                    for v in row {
                                        out.value(v, epoch);
                                    }
                                    out.end_array();
                                }
                                out.end_array();
                            }
                            if s.partial {
                                out.key("partial");
                                out.raw("true");
                            }
                            out.end_object();
                        }
                        out.end_array();
                    }
                    if r.partial {
                        out.key("partial");
                        out.raw("true");
                    }
                    if let Some(e) = r.error {
                        out.key("error");
                        out.string(e);
                    }
                    out.end_object();
                }
                out.end_array();
            }
        }
    }
    out.end_object();
    out.buf.push('\n');
    out.buf.into_bytes()
}
