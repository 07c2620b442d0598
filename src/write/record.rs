//! A write request as a write-ahead log keeps it: the raw body and every argument its parse
//! depends on, so parsing it again on replay gives the same batches.

use crate::error::Error;
use crate::schema::Schema;
use crate::write::batch::{self, ParsedWrite};
use crate::write::gzip::decode_body;
use crate::write::precision::Precision;

/// One line-protocol write, before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord<'a> {
    /// The storage database (`db` or `db/rp`).
    pub database: String,
    pub precision: Precision,
    /// Arrival time: stamps lines without a timestamp.
    pub now_ns: i64,
    /// `Content-Encoding` of `body` (gzip is inflated by [`WriteRecord::parse`]).
    pub content_encoding: Option<&'a str>,
    /// Limit of the body, inflated or not (a gzip bomb fails the same way on replay).
    pub max_body_bytes: usize,
    pub body: &'a [u8],
}

impl WriteRecord<'_> {
    /// Inflate, check UTF-8 and parse the body into batches, checking types against `schema`.
    /// The result depends only on the record and `schema`; at most `max_listed` rejects are kept.
    pub fn parse(&self, schema: &dyn Schema, max_listed: usize) -> Result<ParsedWrite, Error> {
        let body = decode_body(self.body, self.content_encoding, self.max_body_bytes)?;
        let text = std::str::from_utf8(&body).map_err(|e| {
            let offset = e.valid_up_to();
            let line = 1 + body[..offset].iter().filter(|&&b| b == b'\n').count();
            Error::InvalidUtf8 { line, offset }
        })?;
        if text.trim().is_empty() {
            return Err(Error::EmptyBody);
        }
        Ok(batch::build(
            text,
            &self.database,
            self.precision,
            self.now_ns,
            schema,
            max_listed,
        ))
    }
}
