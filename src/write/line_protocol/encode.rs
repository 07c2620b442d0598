//! Encoding a [`Line`] back to canonical line protocol.

use std::fmt::{self, Write as _};

use super::scan::{KEY_ESC, MEAS_ESC, is};
use super::{FieldValue, Line};

/// Appends `s` with a backslash before every byte of class `esc`.
fn escape_into(out: &mut String, s: &str, esc: u8) {
    let b = s.as_bytes();
    let mut seg = 0;
    for (p, &c) in b.iter().enumerate() {
        if is(c, esc) {
            out.push_str(&s[seg..p]);
            out.push('\\');
            seg = p;
        }
    }
    out.push_str(&s[seg..]);
}

fn escape_string_into(out: &mut String, s: &str) {
    let mut seg = 0;
    for (p, c) in s.bytes().enumerate() {
        if c == b'"' || c == b'\\' {
            out.push_str(&s[seg..p]);
            out.push('\\');
            seg = p;
        }
    }
    out.push_str(&s[seg..]);
}

impl FieldValue<'_> {
    /// Appends the value as written in line protocol (`1.5`, `1i`, `1u`, `true`, `"s"`).
    pub fn write_to(&self, out: &mut String) {
        match self {
            // `{:?}` is the shortest text that parses back to the same f64, and always has a
            // `.` or an exponent, so it cannot be mistaken for anything but a float.
            FieldValue::Float(v) => {
                let _ = write!(out, "{v:?}");
            }
            FieldValue::Integer(v) => {
                let _ = write!(out, "{v}i");
            }
            FieldValue::UInteger(v) => {
                let _ = write!(out, "{v}u");
            }
            FieldValue::Boolean(v) => out.push_str(if *v { "true" } else { "false" }),
            FieldValue::String(s) => {
                out.push('"');
                escape_string_into(out, s);
                out.push('"');
            }
        }
    }
}

impl Line<'_> {
    /// Appends the point as canonical line protocol, escaped as needed, without a line ending.
    /// The timestamp is written as-is when present.
    ///
    /// The output parses back to an equal point for every point [`parse_lines`](super::parse_lines)
    /// can produce. Some hand-built points have no line-protocol form at all and are written
    /// anyway: empty names, names with control characters or ending in a backslash, a
    /// measurement starting with `#`, non-finite floats, or no fields.
    pub fn write_to(&self, out: &mut String) {
        escape_into(out, &self.measurement, MEAS_ESC);
        for (k, v) in &self.tags {
            out.push(',');
            escape_into(out, k, KEY_ESC);
            out.push('=');
            escape_into(out, v, KEY_ESC);
        }
        out.push(' ');
        for (n, (k, v)) in self.fields.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            escape_into(out, k, KEY_ESC);
            out.push('=');
            v.write_to(out);
        }
        if let Some(ts) = self.timestamp {
            let _ = write!(out, " {ts}");
        }
    }
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}
