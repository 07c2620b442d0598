//! InfluxDB line protocol: our own nom parser.
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line,
//! with InfluxDB's escaping rules. [`Lines`] walks a whole body and yields every point or the
//! error of every bad line with its physical (1-based) line number; blank and comment lines are
//! skipped but counted.
//!
//! # Grammar (as InfluxDB and InfluxData's reference decoder accept it)
//!
//! - Leading spaces are skipped; a line whose first non-space byte is `#` is a comment; blank
//!   lines are skipped. Lines end with `\n` or `\r\n` (a `\r` is also accepted at the very end of
//!   the body). Sections are separated by one or more spaces; trailing spaces are allowed.
//! - Measurement: non-empty; `\,` and `\ ` are escapes. Tag keys, tag values and field keys:
//!   non-empty; `\,` `\=` `\ ` are escapes. Any other backslash is a literal byte and scanning
//!   goes on with the next byte, so `a\\ b` is `a\` followed by an escaped space (`\\` is not an
//!   escape in names, as in InfluxDB). ASCII control characters are rejected in names. A name
//!   cannot end with a backslash (it would escape the delimiter that follows it).
//! - Tag keys must be unique within a line (InfluxDB rejects `duplicate tags`), field keys too,
//!   and neither may be `time`. At least one field is required.
//! - Field values: floats `-? (digits [. digits*] | . digits) [eE [+-] digits]` (no `+` sign, no
//!   `NaN`/`Inf`, no hex; must be finite), integers `-?digits i` in i64 range, unsigned
//!   `digits u` in u64 range, booleans `t T true True TRUE f F false False FALSE`, and
//!   double-quoted strings where `\"` and `\\` are escapes, other backslashes are literal and raw
//!   newlines are allowed; a string may be at most [`MAX_STRING_LEN`] bytes once unescaped.
//! - Optional timestamp: a signed decimal i64, written as-is (the precision is applied later).
//!
//! # Errors and recovery
//!
//! A [`LineError`] names the physical line where the bad point starts and the byte column of the
//! problem, counted from the start of that physical line. After an error the parser always resumes
//! at the physical line following the one on which the bad point started. So a bad line never
//! swallows the next one, even with an unbalanced `"`: an unterminated string is reported at its
//! opening quote and the following lines are parsed on their own. The price: when a point whose
//! string spans several lines is bad, the continuation lines of that string are parsed (and most
//! likely rejected) as lines of their own.

use std::borrow::Cow;
use std::fmt;

mod encode;
mod parser;
mod scan;

pub(crate) use scan::same;

/// The largest string field value accepted, in bytes after unescaping (1 MiB).
pub const MAX_STRING_LEN: usize = 1 << 20;

/// A field value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    String(Cow<'a, str>),
    Boolean(bool),
}

/// One parsed point. Names and string values borrow from the body unless they had escapes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line<'a> {
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// The timestamp as written, not yet scaled by the precision.
    pub timestamp: Option<i64>,
}

/// Where [`Lines::point_into`] puts a point whose keys it knows in advance: a destination
/// expecting `tag_count` tags then `field_count` fields, keys in order.
pub(crate) trait PointSink<'a> {
    fn tag_count(&self) -> usize;
    fn field_count(&self) -> usize;
    /// The `k`-th expected key: tags first, then fields.
    fn key(&self, k: usize) -> &str;
    /// The value of the `k`-th tag (a value with escapes is left to the general path).
    fn tag(&mut self, k: usize, value: &'a str);
    /// The value of the `k`-th field; `false` (nothing taken) if its type is not the expected one.
    fn field(&mut self, k: usize, value: FieldValue<'a>) -> bool;
}

/// The start of the next point, found by [`Lines::peek`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peeked<'a> {
    /// The measurement, when it has no escapes (else left to [`Lines::next_into`]).
    pub measurement: Option<&'a str>,
    /// Offset of the byte after the measurement.
    after: usize,
}

/// A point [`Lines::point_into`] parsed, not yet consumed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParsedPoint {
    /// The timestamp as written.
    pub timestamp: Option<i64>,
    /// Offset of the byte after the point's line ending.
    end: usize,
}

/// Why a line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based physical line number of the line's first character in the body.
    pub line: usize,
    /// 1-based column (in bytes) inside that line where the problem was found.
    pub column: usize,
    /// What was wrong and what was expected, e.g. `invalid field value "1.2.3": expected a float`.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for LineError {}

/// Parses a whole body: every point or line error, in order. See the module docs for the rules.
pub fn parse_lines(body: &str) -> Lines<'_> {
    Lines {
        src: body,
        pos: 0,
        line: 1,
        line_start: 0,
        point_line: 0,
        tag_cap: 4,
        field_cap: 4,
    }
}

/// Iterator over the points of a body; see [`parse_lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    src: &'a str,
    /// Byte offset of the next thing to read.
    pos: usize,
    /// 1-based physical line number of `pos`.
    line: usize,
    /// Byte offset of the start of physical line `line`.
    line_start: usize,
    /// 1-based physical line where the last yielded point (or error) started.
    point_line: usize,
    /// Capacities for the next point's vectors: the previous point's counts, so a body of
    /// similar lines allocates each vector once per point, at the right size.
    tag_cap: usize,
    field_cap: usize,
}

impl<'a> Lines<'a> {
    /// Byte offset in the body of the next thing to read.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The physical line number (1-based) the iterator has reached.
    pub fn line_number(&self) -> usize {
        self.line
    }

    /// The physical line number (1-based) where the last yielded point or error started; hosts
    /// use it to report errors found after parsing (type conflicts, timestamp overflow).
    pub fn point_line(&self) -> usize {
        self.point_line
    }

    fn next_line_at(&mut self, pos: usize) {
        self.pos = pos;
        self.line += 1;
        self.line_start = pos;
    }

    /// Skips from `from` past the end of its physical line.
    fn skip_line(&mut self, from: usize) {
        let b = self.src.as_bytes();
        match parser::find_newline(&b[from..]) {
            Some(k) => self.next_line_at(from + k + 1),
            None => self.pos = b.len(),
        }
    }
}

impl<'a> Lines<'a> {
    /// Skips blank and comment lines; the offset of the next point's first byte, or `None` (and
    /// the iterator is done) at the end of the body.
    fn start(&mut self) -> Option<usize> {
        let b = self.src.as_bytes();
        loop {
            let mut p = self.pos;
            while p < b.len() && b[p] == b' ' {
                p += 1;
            }
            match b.get(p) {
                None => {
                    self.pos = b.len();
                    return None;
                }
                Some(b'\n') => self.next_line_at(p + 1),
                Some(b'\r') if p + 1 == b.len() => {
                    self.pos = b.len();
                    return None;
                }
                Some(b'\r') if b[p + 1] == b'\n' => self.next_line_at(p + 2),
                Some(b'#') => self.skip_line(p),
                Some(_) => return Some(p),
            }
        }
    }

    /// A point ended at offset `end`, holding `newlines` raw newlines in its strings.
    fn consumed(&mut self, end: usize, newlines: usize) {
        let b = self.src.as_bytes();
        self.pos = end;
        self.line += newlines;
        if b[end - 1] == b'\n' {
            self.line += 1;
            self.line_start = end;
        }
    }

    /// The next point's measurement, consuming nothing but the blank and comment lines before
    /// it; `None` at the end of the body.
    pub(crate) fn peek(&mut self) -> Option<Peeked<'a>> {
        let start = self.start()?;
        let i = &self.src.as_bytes()[start..];
        let (n, escaped) = scan::scan_name(i, scan::MEAS_STOP, scan::MEAS_ESC);
        let plain = n > 0 && !escaped && matches!(i.get(n), Some(b',' | b' '));
        Some(Peeked {
            measurement: plain.then(|| &self.src[start..start + n]),
            after: start + n,
        })
    }

    /// The peeked point straight into `sink` when it has exactly the keys the sink expects and
    /// is valid: then its timestamp (as written) and its end, to pass to [`Lines::consume`] once
    /// the caller accepts it. Otherwise `None`, and the sink may hold part of the point: the
    /// caller undoes that and reads the point with [`Lines::next_into`], which also reports its
    /// error. Nothing is consumed either way.
    pub(crate) fn point_into<S: PointSink<'a>>(
        &self,
        peeked: Peeked<'a>,
        sink: &mut S,
    ) -> Option<ParsedPoint> {
        let src = parser::Src { s: self.src };
        let (rest, timestamp) = src.point_into(&self.src.as_bytes()[peeked.after..], sink)?;
        Some(ParsedPoint {
            timestamp,
            end: self.src.len() - rest.len(),
        })
    }

    /// Move past a point that [`Lines::point_into`] parsed.
    pub(crate) fn consume(&mut self, point: ParsedPoint) {
        self.point_line = self.line;
        self.consumed(point.end, 0);
    }

    /// The next point parsed into `line`, reusing its vectors (no allocation per point unless a
    /// name or string has escapes), or the next line's error; `None` at the end of the body.
    /// After an error `line` holds whatever the bad line had parsed so far.
    pub fn next_into(&mut self, line: &mut Line<'a>) -> Option<Result<(), LineError>> {
        let b = self.src.as_bytes();
        let start = self.start()?;
        self.point_line = self.line;
        let src = parser::Src { s: self.src };
        match src.point(&b[start..], line) {
            Ok((rest, newlines)) => {
                self.consumed(b.len() - rest.len(), newlines);
                self.tag_cap = line.tags.len();
                self.field_cap = line.fields.len();
                Some(Ok(()))
            }
            Err(e) => {
                let (rest, message) = match e {
                    nom::Err::Error(e) | nom::Err::Failure(e) => (e.rest, e.message),
                    nom::Err::Incomplete(_) => (0, "incomplete input".to_owned()),
                };
                let at = b.len() - rest;
                let err = LineError {
                    line: self.line,
                    column: at - self.line_start + 1,
                    message,
                };
                self.skip_line(start);
                Some(Err(err))
            }
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Line {
            tags: Vec::with_capacity(self.tag_cap),
            fields: Vec::with_capacity(self.field_cap),
            ..Line::default()
        };
        Some(self.next_into(&mut line)?.map(|()| line))
    }
}

#[cfg(test)]
mod tests;
