//! InfluxDB line protocol: our own nom parser.
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line,
//! with InfluxDB's escaping rules. [`Lines`] walks a whole body and yields every point or the
//! error of every bad line with its physical (1-based) line number; blank and comment lines are
//! skipped but counted.

use std::borrow::Cow;

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
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// The timestamp as written, not yet scaled by the precision.
    pub timestamp: Option<i64>,
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
