//! The nom parsers for one point.
//!
//! Every parser takes the rest of the body as `&[u8]` (always a suffix of the body, so the offset
//! of any position is `body.len() - rest.len()`) and returns nom's `IResult` with [`PErr`], which
//! records where the problem is and a human message. Names and values are sliced out of the
//! original `&str`, so nothing is copied unless an escape has to be undone. The hot loops are
//! table-driven byte scanners (see `scan.rs`) used as custom nom parsers.

use std::borrow::Cow;
use std::fmt::Write as _;

use nom::bytes::complete::{take_until, take_while};
use nom::error::{ErrorKind, ParseError};
use nom::{Err as NomErr, IResult, Parser};

use super::scan::{
    self, CONTROL, KEY_ESC, KEY_STOP, MEAS_ESC, MEAS_STOP, STR_STOP, VALUE_END, is, run_until,
    scan_name,
};
use super::{FieldValue, Line, MAX_STRING_LEN, PointSink};

/// A parse failure: where (as the length of the input left at that point) and what.
#[derive(Debug)]
pub(super) struct PErr {
    pub(super) rest: usize,
    pub(super) message: String,
}

impl ParseError<&[u8]> for PErr {
    fn from_error_kind(input: &[u8], kind: ErrorKind) -> Self {
        PErr {
            rest: input.len(),
            message: format!("unexpected input ({kind:?})"),
        }
    }

    fn append(_: &[u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a [u8], T, PErr>;
type Fields<'a> = Vec<(Cow<'a, str>, FieldValue<'a>)>;

fn fail<T>(at: &[u8], message: String) -> Res<'_, T> {
    Err(NomErr::Failure(PErr {
        rest: at.len(),
        message,
    }))
}

/// Longest excerpt of offending text quoted in a message, in bytes.
const QUOTE_MAX: usize = 40;

/// `s` as a quoted, escaped excerpt, cut short (at a char boundary) with `…` if long.
pub(super) fn quote(s: &str) -> String {
    if s.len() <= QUOTE_MAX {
        return format!("{s:?}");
    }
    let mut end = QUOTE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut q = format!("{:?}", &s[..end]);
    q.insert(q.len() - 1, '…');
    q
}

/// Describes the byte at the start of `i` for a message.
fn found(i: &[u8]) -> String {
    match i.first() {
        None => "the end of the input".to_owned(),
        Some(b'\n') | Some(b'\r') => "the end of the line".to_owned(),
        Some(&b) if b < 0x80 => format!("{:?}", char::from(b)),
        Some(_) => "a non-ASCII character".to_owned(),
    }
}

fn is_eol(i: &[u8]) -> bool {
    matches!(i.first(), None | Some(b'\n') | Some(b'\r'))
}

/// The body being parsed; turns byte positions back into `&str` slices.
#[derive(Clone, Copy)]
pub(super) struct Src<'a> {
    pub(super) s: &'a str,
}

impl<'a> Src<'a> {
    /// The `n` bytes at the start of `i` as a `&str` of the body. Every caller cuts at an ASCII
    /// delimiter (or the end), so the slice is always on char boundaries.
    #[inline(always)]
    fn text(self, i: &'a [u8], n: usize) -> &'a str {
        let a = self.s.len() - i.len();
        &self.s[a..a + n]
    }

    /// A name (measurement, tag key or value, field key): its raw text unescaped if needed.
    #[inline(always)]
    fn name(self, i: &'a [u8], stop: u8, esc: u8) -> (&'a [u8], &'a str, Cow<'a, str>) {
        let (n, escaped) = scan_name(i, stop, esc);
        let raw = self.text(i, n);
        let value = if escaped {
            Cow::Owned(scan::unescape_name(raw, esc))
        } else {
            Cow::Borrowed(raw)
        };
        (&i[n..], raw, value)
    }

    /// One whole point, from its first byte through its line ending (which is consumed), into
    /// `line` (whose vectors are cleared and reused, so a body allocates them once). Returns the
    /// number of raw newlines inside its string fields.
    pub(super) fn point(self, i: &'a [u8], line: &mut Line<'a>) -> Res<'a, usize> {
        line.tags.clear();
        line.fields.clear();
        let (mut i, measurement) = self.measurement(i)?;
        line.measurement = measurement;
        let tags = &mut line.tags;
        while let Some((b',', rest)) = i.split_first() {
            let (r, tag) = self.tag(rest)?;
            tags.push(tag);
            i = r;
        }
        if tags.len() > 1
            && let Some(dup) = duplicate(tags, |t| &t.0)
        {
            let dup = quote(&tags[dup].0);
            return fail(
                i,
                format!("duplicate tag key {dup}: each tag key may appear once per line"),
            );
        }
        // One or more spaces, then the field set.
        let (i, _) = take_while(|b| b == b' ').parse(i)?;
        let (i, newlines) = self.field_set(i, &mut line.fields)?;
        let (i, timestamp) = self.timestamp(i)?;
        let (i, ()) = line_end(i)?;
        line.timestamp = timestamp;
        Ok((i, newlines))
    }

    /// The rest of a point after its measurement, straight into `sink`, if the point has
    /// exactly the keys the sink expects (same order, no escapes in keys) and parses cleanly;
    /// returns what follows its line ending and its timestamp. `None` as soon as anything
    /// differs: the sink may then hold part of the point, and the caller undoes it and parses
    /// the point with [`Src::point`], which finds and words any error. The sink's keys passed
    /// every check of `point` once (no `time`, no duplicates), so matching them is enough.
    #[inline(always)]
    pub(super) fn point_into<S: PointSink<'a>>(
        self,
        mut i: &'a [u8],
        sink: &mut S,
    ) -> Option<(&'a [u8], Option<i64>)> {
        let tags = sink.tag_count();
        for k in 0..tags {
            let (&b',', rest) = i.split_first()? else {
                return None;
            };
            let (n, escaped) = scan_name(rest, KEY_STOP, KEY_ESC);
            if escaped || !scan::same(&rest[..n], sink.key(k).as_bytes()) {
                return None;
            }
            let (&b'=', vi) = rest[n..].split_first()? else {
                return None;
            };
            // A plain `&str`, not the `Cow` of `name`: building the `Cow` and moving it on
            // stalled on store forwarding (6% of the fast path's samples).
            let (n, escaped) = scan_name(vi, KEY_STOP, KEY_ESC);
            let rest = &vi[n..];
            if n == 0 || escaped || !matches!(rest.first(), Some(b',' | b' ')) {
                return None;
            }
            sink.tag(k, self.text(vi, n));
            i = rest;
        }
        if i.first() != Some(&b' ') {
            return None;
        }
        let (mut i, _) = take_while::<_, _, PErr>(|b| b == b' ').parse(i).ok()?;
        let fields = sink.field_count();
        for k in 0..fields {
            let (n, escaped) = scan_name(i, KEY_STOP, KEY_ESC);
            if escaped || !scan::same(&i[..n], sink.key(tags + k).as_bytes()) {
                return None;
            }
            let (&b'=', vi) = i[n..].split_first()? else {
                return None;
            };
            let (rest, (value, newlines)) = self.field_value(vi, self.text(i, n)).ok()?;
            // Raw newlines in a string move the line count: left to `point`.
            if newlines > 0 || !sink.field(k, value) {
                return None;
            }
            i = match rest.first() {
                Some(b',') if k + 1 < fields => &rest[1..],
                Some(b' ' | b'\n' | b'\r') | None if k + 1 == fields => rest,
                _ => return None,
            };
        }
        let (i, timestamp) = self.timestamp(i).ok()?;
        let (i, ()) = line_end(i).ok()?;
        Some((i, timestamp))
    }

    fn measurement(self, i: &'a [u8]) -> Res<'a, Cow<'a, str>> {
        let (rest, raw, name) = self.name(i, MEAS_STOP, MEAS_ESC);
        match rest.first() {
            Some(b',') | Some(b' ') if !raw.is_empty() => Ok((rest, name)),
            _ if raw.is_empty() => fail(
                i,
                format!(
                    "missing measurement name: expected a name at the start of the line, found {}",
                    found(i)
                ),
            ),
            Some(&b) if is(b, CONTROL) && !is_eol(rest) => fail(
                rest,
                format!(
                    "invalid control character {} in measurement {}",
                    found(rest),
                    quote(raw)
                ),
            ),
            _ => fail(
                rest,
                format!(
                    "missing field set after measurement {}: expected a space then field=value",
                    quote(raw)
                ),
            ),
        }
    }

    fn tag(self, i: &'a [u8]) -> Res<'a, (Cow<'a, str>, Cow<'a, str>)> {
        let (rest, raw_key, key) = self.name(i, KEY_STOP, KEY_ESC);
        if raw_key.is_empty() {
            return fail(
                i,
                format!(
                    "missing tag key after \",\": expected key=value, found {}",
                    found(i)
                ),
            );
        }
        let Some((b'=', vi)) = rest.split_first() else {
            return fail(
                rest,
                format!(
                    "expected \"=\" after tag key {}, found {}",
                    quote(raw_key),
                    found(rest)
                ),
            );
        };
        if key == "time" {
            return fail(
                i,
                "invalid tag key \"time\": time is reserved for the timestamp".to_owned(),
            );
        }
        let (rest, raw_val, value) = self.name(vi, KEY_STOP, KEY_ESC);
        if raw_val.is_empty() {
            return fail(
                vi,
                format!(
                    "missing value for tag key {}, found {}",
                    quote(raw_key),
                    found(vi)
                ),
            );
        }
        match rest.first() {
            Some(b',') | Some(b' ') => Ok((rest, (key, value))),
            Some(b'=') => fail(
                rest,
                format!(
                    "unescaped \"=\" in value of tag {}: write it as \\=",
                    quote(raw_key)
                ),
            ),
            _ if is_eol(rest) => fail(
                rest,
                format!(
                    "missing field set after tag {}: expected a space then field=value",
                    quote(raw_key)
                ),
            ),
            _ => fail(
                rest,
                format!(
                    "invalid control character {} in value of tag {}",
                    found(rest),
                    quote(raw_key)
                ),
            ),
        }
    }

    fn field_set(self, mut i: &'a [u8], fields: &mut Fields<'a>) -> Res<'a, usize> {
        let mut newlines = 0;
        loop {
            let (rest, raw_key, key) = self.name(i, KEY_STOP, KEY_ESC);
            if raw_key.is_empty() {
                let what = if fields.is_empty() {
                    "at least one field"
                } else {
                    "a field after \",\""
                };
                return fail(
                    i,
                    format!(
                        "missing field key: expected {what} as key=value, found {}",
                        found(i)
                    ),
                );
            }
            let Some((b'=', vi)) = rest.split_first() else {
                return fail(
                    rest,
                    format!(
                        "expected \"=\" after field key {}, found {}",
                        quote(raw_key),
                        found(rest)
                    ),
                );
            };
            if key == "time" {
                return fail(
                    i,
                    "invalid field key \"time\": time is reserved for the timestamp".to_owned(),
                );
            }
            let (rest, (value, nl)) = self.field_value(vi, raw_key)?;
            newlines += nl;
            fields.push((key, value));
            match rest.first() {
                Some(b',') => i = &rest[1..],
                Some(b' ') | Some(b'\n') | Some(b'\r') | None => {
                    i = rest;
                    break;
                }
                Some(_) => {
                    let mut msg = format!(
                        "unexpected {} after value of field {}: expected \",\", a space or the end of the line",
                        found(rest),
                        quote(raw_key)
                    );
                    if nl > 0 {
                        let _ = write!(
                            msg,
                            " (its string value runs over {} line breaks: is a closing quote missing?)",
                            nl
                        );
                    }
                    return fail(rest, msg);
                }
            }
        }
        if fields.len() > 1
            && let Some(dup) = duplicate(fields, |f| &f.0)
        {
            let dup = quote(&fields[dup].0);
            return fail(
                i,
                format!("duplicate field key {dup}: each field may appear once per line"),
            );
        }
        Ok((i, newlines))
    }

    #[inline(always)]
    fn field_value(self, i: &'a [u8], key: &str) -> Res<'a, (FieldValue<'a>, usize)> {
        match i.first() {
            Some(b'"') => self.string(&i[1..], key),
            Some(b'-' | b'.' | b'0'..=b'9') => {
                let (rest, v) = self.number(i, key)?;
                Ok((rest, (v, 0)))
            }
            Some(b't' | b'T' | b'f' | b'F') => {
                let n = run_until(i, VALUE_END);
                let v = match &i[..n] {
                    b"t" | b"T" | b"true" | b"True" | b"TRUE" => true,
                    b"f" | b"F" | b"false" | b"False" | b"FALSE" => false,
                    _ => {
                        return fail(
                            i,
                            format!(
                                "invalid boolean field value {} for field {}: expected t, T, true, True, TRUE, f, F, false, False or FALSE",
                                quote(self.text(i, n)),
                                quote(key)
                            ),
                        );
                    }
                };
                Ok((&i[n..], (FieldValue::Boolean(v), 0)))
            }
            Some(b',' | b' ') | None => fail(i, format!("missing value for field {}", quote(key))),
            Some(b'\n' | b'\r') => fail(i, format!("missing value for field {}", quote(key))),
            Some(_) => {
                let n = run_until(i, VALUE_END);
                fail(
                    i,
                    format!(
                        "invalid value {} for field {}: expected a number (1.5), an integer (1i), an unsigned integer (1u), a boolean (true) or a \"string\"",
                        quote(self.text(i, n)),
                        quote(key)
                    ),
                )
            }
        }
    }

    #[inline(always)]
    fn number(self, i: &'a [u8], key: &str) -> Res<'a, FieldValue<'a>> {
        let n = run_until(i, VALUE_END);
        let tok = &i[..n];
        let value = match tok[n - 1] {
            b'i' => match scan::parse_i64(&tok[..n - 1]) {
                Ok(v) => FieldValue::Integer(v),
                Err(range) => {
                    let why = if range {
                        "out of range: integers must be between -9223372036854775808i and 9223372036854775807i"
                    } else {
                        "expected digits with an optional leading - then i, like 42i or -7i"
                    };
                    let text = quote(self.text(i, n));
                    return fail(
                        i,
                        format!(
                            "invalid integer field value {text} for field {}: {why}",
                            quote(key)
                        ),
                    );
                }
            },
            b'u' => match scan::parse_digits(&tok[..n - 1]) {
                Some(v) => FieldValue::UInteger(v),
                None => {
                    let why = if scan::all_digits(&tok[..n - 1]) {
                        "out of range: unsigned integers must be at most 18446744073709551615u"
                    } else {
                        "expected digits then u, like 42u"
                    };
                    let text = quote(self.text(i, n));
                    return fail(
                        i,
                        format!(
                            "invalid unsigned field value {text} for field {}: {why}",
                            quote(key)
                        ),
                    );
                }
            },
            _ => {
                if let Some(v) = scan::parse_short_float(tok) {
                    return Ok((&i[n..], FieldValue::Float(v)));
                }
                let text = self.text(i, n);
                let parsed = if scan::is_float_syntax(tok) {
                    text.parse::<f64>().ok()
                } else {
                    None
                };
                match parsed {
                    Some(v) if v.is_finite() => FieldValue::Float(v),
                    Some(_) => {
                        return fail(
                            i,
                            format!(
                                "float field value {} for field {} is out of range: expected a magnitude below 1.8e308",
                                quote(text),
                                quote(key)
                            ),
                        );
                    }
                    None => {
                        return fail(
                            i,
                            format!(
                                "invalid float field value {} for field {}: expected a number like 1, -2.5 or 1e3",
                                quote(text),
                                quote(key)
                            ),
                        );
                    }
                }
            }
        };
        Ok((&i[n..], value))
    }

    /// A string field value; `i` starts just after the opening quote.
    fn string(self, i: &'a [u8], key: &str) -> Res<'a, (FieldValue<'a>, usize)> {
        let mut p = 0;
        let mut escaped = false;
        loop {
            p += run_until(&i[p..], STR_STOP);
            match i.get(p) {
                Some(b'"') => break,
                Some(_) => {
                    // A backslash: `\"` and `\\` are escapes, any other backslash is literal.
                    if matches!(i.get(p + 1), Some(b'"' | b'\\')) {
                        escaped = true;
                        p += 2;
                    } else {
                        p += 1;
                    }
                }
                None => {
                    // Point at the opening quote.
                    let at = &self.s.as_bytes()[self.s.len() - i.len() - 1..];
                    return fail(
                        at,
                        format!(
                            "unterminated string value for field {}: expected a closing double quote (write a quote inside a string as \\\")",
                            quote(key)
                        ),
                    );
                }
            }
        }
        let raw = self.text(i, p);
        let value = if escaped {
            Cow::Owned(scan::unescape_string(raw))
        } else {
            Cow::Borrowed(raw)
        };
        if value.len() > MAX_STRING_LEN {
            let at = &self.s.as_bytes()[self.s.len() - i.len() - 1..];
            return fail(
                at,
                format!(
                    "string value for field {} is {} bytes: longer than the limit of {MAX_STRING_LEN} bytes (1 MiB)",
                    quote(key),
                    value.len()
                ),
            );
        }
        let newlines = raw.bytes().filter(|&b| b == b'\n').count();
        Ok((&i[p + 1..], (FieldValue::String(value), newlines)))
    }

    /// Spaces, then an optional timestamp and spaces.
    fn timestamp(self, i: &'a [u8]) -> Res<'a, Option<i64>> {
        let (i, _) = take_while(|b| b == b' ').parse(i)?;
        if is_eol(i) {
            return Ok((i, None));
        }
        let n = run_until(i, VALUE_END);
        match scan::parse_i64(&i[..n]) {
            Ok(ts) => {
                let (rest, _) = take_while(|b| b == b' ').parse(&i[n..])?;
                if !is_eol(rest) {
                    // `rest` is not empty here, and the excerpt ends at an ASCII byte or the end.
                    let extra = quote(self.text(rest, run_until(rest, VALUE_END).max(1)));
                    return fail(
                        rest,
                        format!(
                            "unexpected text {extra} after the timestamp: expected the end of the line"
                        ),
                    );
                }
                Ok((rest, Some(ts)))
            }
            Err(range) => {
                let text = quote(self.text(i, n));
                let why = if range {
                    "out of range for a 64-bit integer"
                } else {
                    "expected an integer like 1700000000000000000 or -5"
                };
                fail(i, format!("invalid timestamp {text}: {why}"))
            }
        }
    }
}

/// The line ending: `\n`, `\r\n`, or `\r` / nothing at the end of the input.
fn line_end(i: &[u8]) -> Res<'_, ()> {
    match i {
        [] | [b'\r'] => Ok((&i[i.len()..], ())),
        [b'\n', rest @ ..] | [b'\r', b'\n', rest @ ..] => Ok((rest, ())),
        _ => {
            let mut msg = String::from("unexpected ");
            let _ = write!(msg, "{}: expected the end of the line", found(i));
            if i[0] == b'\r' {
                msg.push_str(" (a carriage return is only allowed right before a newline)");
            }
            fail(i, msg)
        }
    }
}

/// Index of a later item whose key repeats an earlier one, if any.
fn duplicate<T>(items: &[T], key: impl Fn(&T) -> &Cow<'_, str>) -> Option<usize> {
    if items.len() <= 32 {
        for j in 1..items.len() {
            let kj = key(&items[j]);
            if items[..j]
                .iter()
                .any(|x| scan::same(key(x).as_bytes(), kj.as_bytes()))
            {
                return Some(j);
            }
        }
        return None;
    }
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by(|&a, &b| key(&items[a]).cmp(key(&items[b])).then(a.cmp(&b)));
    idx.windows(2)
        .find(|w| key(&items[w[0]]) == key(&items[w[1]]))
        .map(|w| w[1])
}

/// Offset of the first `\n` in `i` (memchr-backed, through nom's `take_until`).
pub(super) fn find_newline(i: &[u8]) -> Option<usize> {
    take_until::<_, _, PErr>(&b"\n"[..])
        .parse(i)
        .ok()
        .map(|(_, before)| before.len())
}
