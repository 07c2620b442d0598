//! Rendering query answers the way InfluxDB does.
//!
//! v1 `/query` ([`render_v1`], [`render_v1_chunks`], [`render_v1_error`]): byte-for-byte what
//! InfluxDB 1.x's `services/httpd` formatters write for JSON (Go `encoding/json`, including its
//! number formatting, HTML escaping and `pretty=true` indentation), CSV (`name,tags,time,...`) and
//! MessagePack (tinylib/msgp encoding, times as extension type 5 unless `epoch` is given), and
//! chunked responses (one document per series slice of at most `chunk_size` rows, `"partial":true`
//! on all but the last of a series and of a statement).
//!
//! v3 `/api/v3/query_sql` and `/api/v3/query_influxql` ([`render_v3_batches`],
//! [`render_v3_series`]): `json` (an array of row objects, nulls omitted), `jsonl`, `csv` and
//! `pretty` (an ASCII table). `parquet` is left to the host (the core has no Parquet writer):
//! these functions answer it with [`Error::Internal`].

mod csv;
mod json;
mod msgpack;
#[cfg(test)]
mod tests;
mod time;
mod v3;

use core::ops::Range;

use crate::error::Error;
use crate::query::params::{DEFAULT_CHUNK_SIZE, Epoch, V1Format, V3Format};
use crate::response::Response;

pub use time::{format_rfc3339_nano, format_rfc3339_offset};
pub use v3::{render_v3_batches, render_v3_series};

pub use crate::query::shape::{Series, Value};

/// The answer to one statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatementResult {
    pub statement_id: usize,
    pub series: Vec<Series>,
    /// A statement-level error (`results[i].error`, HTTP 200).
    pub error: Option<String>,
}

impl StatementResult {
    pub fn ok(statement_id: usize, series: Vec<Series>) -> Self {
        StatementResult {
            statement_id,
            series,
            error: None,
        }
    }

    pub fn error(statement_id: usize, message: impl Into<String>) -> Self {
        StatementResult {
            statement_id,
            series: Vec::new(),
            error: Some(message.into()),
        }
    }
}

/// How a v1 response is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Options {
    pub format: V1Format,
    /// Integer times in this unit; `None` is RFC3339 (JSON), nanoseconds (CSV), a msgpack time
    /// extension (msgpack).
    pub epoch: Option<Epoch>,
    /// `pretty=true`: indented JSON (ignored by CSV and msgpack, as in InfluxDB).
    pub pretty: bool,
}

impl V1Options {
    pub fn new(format: V1Format) -> Self {
        V1Options {
            format,
            epoch: None,
            pretty: false,
        }
    }
}

/// The `Content-Type` InfluxDB 1.x answers for a format.
pub fn v1_content_type(format: V1Format) -> &'static str {
    match format {
        V1Format::Json => "application/json",
        V1Format::Csv => "text/csv",
        V1Format::MsgPack => "application/x-msgpack",
    }
}

/// A slice of a series: what one document (chunk) carries.
#[derive(Debug, Clone)]
pub(crate) struct SeriesView<'a> {
    pub series: &'a Series,
    pub rows: Range<usize>,
    pub partial: bool,
}

impl SeriesView<'_> {
    pub fn values(&self) -> &[Vec<Value>] {
        &self.series.values[self.rows.clone()]
    }

    /// Tags sorted by key, as Go prints a `map[string]string`.
    pub fn sorted_tags(&self) -> Vec<(&str, &str)> {
        let mut t: Vec<(&str, &str)> = self
            .series
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        t.sort_by(|a, b| a.0.cmp(b.0));
        t.dedup_by(|a, b| a.0 == b.0);
        t
    }
}

/// A statement's result (or a slice of it) in one document.
#[derive(Debug, Clone)]
pub(crate) struct ResultView<'a> {
    pub statement_id: usize,
    pub series: Vec<SeriesView<'a>>,
    pub error: Option<&'a str>,
    pub partial: bool,
}

/// One response document: `{"results":[...]}` or `{"error":"..."}`.
#[derive(Debug, Clone)]
pub(crate) enum Doc<'a> {
    Results(Vec<ResultView<'a>>),
    Error(&'a str),
}

fn whole(results: &[StatementResult]) -> Doc<'_> {
    Doc::Results(
        results
            .iter()
            .map(|r| ResultView {
                statement_id: r.statement_id,
                series: r
                    .series
                    .iter()
                    .map(|s| SeriesView {
                        series: s,
                        rows: 0..s.values.len(),
                        partial: false,
                    })
                    .collect(),
                error: r.error.as_deref(),
                partial: false,
            })
            .collect(),
    )
}

/// Series InfluxDB 1.x answers in one piece even when chunking: those of the SHOW statements it
/// executes directly (DATABASES, RETENTION POLICIES, MEASUREMENTS, TAG KEYS, TAG VALUES). SHOW
/// SERIES and SHOW FIELD KEYS run as queries and are chunked like SELECT.
fn unchunked(s: &Series) -> bool {
    let cols: Vec<&str> = s.columns.iter().map(String::as_str).collect();
    match cols.as_slice() {
        ["time", ..] => false,
        ["key", "value"] | ["tagKey"] | ["name", "duration", ..] => true,
        ["name"] => matches!(s.name.as_str(), "measurements" | "databases"),
        _ => false,
    }
}

/// InfluxDB 1.x's chunking: a statement without series or with an error is one document; a
/// series is split into slices of `chunk_size` rows, each its own document, `partial` on the
/// series when more of it follows and on the result when more of the statement follows.
fn chunk(results: &[StatementResult], chunk_size: usize) -> Vec<Doc<'_>> {
    let size = if chunk_size == 0 {
        DEFAULT_CHUNK_SIZE
    } else {
        chunk_size
    };
    let mut docs = Vec::new();
    for r in results {
        if r.error.is_some() || r.series.is_empty() {
            docs.push(Doc::Results(vec![ResultView {
                statement_id: r.statement_id,
                series: Vec::new(),
                error: r.error.as_deref(),
                partial: false,
            }]));
            continue;
        }
        for (si, s) in r.series.iter().enumerate() {
            let n = s.values.len();
            let size = if unchunked(s) { n.max(1) } else { size };
            let mut start = 0;
            loop {
                let end = (start + size).min(n);
                let last_of_series = end >= n;
                let last_of_statement = last_of_series && si + 1 == r.series.len();
                docs.push(Doc::Results(vec![ResultView {
                    statement_id: r.statement_id,
                    series: vec![SeriesView {
                        series: s,
                        rows: start..end,
                        partial: !last_of_series,
                    }],
                    error: None,
                    partial: !last_of_statement,
                }]));
                if last_of_series {
                    break;
                }
                start = end;
            }
        }
    }
    docs
}

fn render_docs(docs: &[Doc<'_>], opts: V1Options) -> Vec<Vec<u8>> {
    match opts.format {
        V1Format::Json => docs
            .iter()
            .map(|d| json::render(d, opts.epoch, opts.pretty))
            .collect(),
        V1Format::MsgPack => docs
            .iter()
            .map(|d| msgpack::render(d, opts.epoch))
            .collect(),
        V1Format::Csv => {
            let mut state = csv::CsvState::default();
            docs.iter().map(|d| state.render(d, opts.epoch)).collect()
        }
    }
}

fn response(body: Vec<u8>, format: V1Format) -> Response {
    Response {
        status: 200,
        headers: vec![("Content-Type", v1_content_type(format).to_string())],
        body,
    }
}

/// The whole (unchunked) v1 response: HTTP 200, statement errors inside the body.
pub fn render_v1(results: &[StatementResult], opts: V1Options) -> Response {
    let body = render_docs(&[whole(results)], opts).concat();
    response(body, opts.format)
}

/// A chunked v1 response (`chunked=true`): the documents in order, each complete in itself
/// (JSON and CSV end with a newline; msgpack documents follow each other directly). A host that
/// streams sends each element as it goes; [`render_v1_chunked`] concatenates them.
pub fn render_v1_chunks(
    results: &[StatementResult],
    opts: V1Options,
    chunk_size: usize,
) -> Vec<Vec<u8>> {
    render_docs(&chunk(results, chunk_size), opts)
}

/// [`render_v1_chunks`] as one response body.
pub fn render_v1_chunked(
    results: &[StatementResult],
    opts: V1Options,
    chunk_size: usize,
) -> Response {
    response(
        render_v1_chunks(results, opts, chunk_size).concat(),
        opts.format,
    )
}

/// A request-level error body as InfluxDB 1.x writes it (`{"error":"..."}`, CSV `error\n...`,
/// msgpack `{"error": ...}`) with `status` (1.x uses 400 for a query that does not parse, 401/403
/// for auth, 500 otherwise).
pub fn render_v1_error(message: &str, status: u16, opts: V1Options) -> Response {
    let body = render_docs(&[Doc::Error(message)], opts).concat();
    let mut r = response(body, opts.format);
    r.status = status;
    r
}

/// `format=parquet` is not rendered by the core.
pub(crate) fn parquet_unsupported() -> Error {
    Error::Internal("format=parquet is rendered by the native host, not the core".into())
}

pub(crate) fn v3_content_type(format: V3Format) -> &'static str {
    match format {
        V3Format::Json => "application/json",
        V3Format::JsonLines => "application/jsonl",
        V3Format::Csv => "text/csv",
        V3Format::Pretty => "text/plain; charset=utf-8",
        V3Format::Parquet => "application/vnd.apache.parquet",
    }
}

/// Integer time in `epoch` units (Go integer division truncates toward zero).
pub(crate) fn epoch_time(ns: i64, epoch: Epoch) -> i64 {
    ns / epoch.divisor()
}
