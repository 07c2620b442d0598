//! InfluxQL → SQL translation.
//!
//! [`translate`] turns one parsed statement into SQL for the DataFusion engine (built as a
//! `sqlparser` AST and printed, never concatenated) plus a [`ShapePlan`] for what SQL cannot
//! express, which [`crate::query::shape`] applies to the Arrow result. SHOW statements the
//! schema can answer come back as [`Translation::Answer`] without any SQL.
//!
//! Storage model the SQL targets (see `crates/engine/README.md`): one table per measurement,
//! named after it, in a schema named after the storage database (`"telegraf"."cpu"`,
//! `"telegraf/short"."cpu"`); tags are `Dictionary(Int32, Utf8)`, fields typed columns, `time`
//! `Timestamp(Nanosecond, "UTC")`.
//!
//! Several measurements (`FROM cpu, mem` or `FROM /re/`) give one SQL query per measurement,
//! in name order, because each measurement is its own series name with its own columns.

mod functions;
pub mod plan;
pub mod regex;
pub mod schema;
mod select;
mod show;
mod sqlb;
pub mod time;
mod where_clause;

use core::fmt;

pub use plan::{FillPlan, FillValue, OutputColumn, PlanKind, PostOp, ShapePlan, Transform, Window};
pub use schema::{EmptyQuerySchema, JsonSchema, MeasurementSchema, QuerySchema};

use crate::query::influxql::{Statement, parse_statements};
use crate::query::shape::Series;

/// What a translation needs besides the statement.
#[derive(Clone, Copy)]
pub struct TranslateContext<'a> {
    /// The request's `db` (may be empty when every source is qualified).
    pub database: &'a str,
    /// The request's `rp`; `autogen`, `default` and empty mean none.
    pub retention_policy: Option<&'a str>,
    /// The query's `now()`, in nanoseconds since the epoch.
    pub now: i64,
    /// The catalog.
    pub schema: &'a dyn QuerySchema,
}

impl fmt::Debug for TranslateContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TranslateContext")
            .field("database", &self.database)
            .field("retention_policy", &self.retention_policy)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The result of translating one statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Translation {
    /// Run each query and shape its result with its plan; concatenate the series in order
    /// (see [`crate::query::shape::apply_all`]). No query at all means an empty result.
    Sql(Vec<SqlQuery>),
    /// The schema answered the statement.
    Answer(Vec<Series>),
}

/// One SQL query and how to shape its result.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlQuery {
    /// The SQL text (DataFusion dialect).
    pub sql: String,
    /// How its rows become series.
    pub plan: ShapePlan,
}

/// Why a statement cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A construct influxgate does not translate, named.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A statement InfluxDB itself rejects (the message follows InfluxDB's wording).
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn unsupported<T>(what: impl Into<String>) -> Result<T, TranslateError> {
    Err(TranslateError::Unsupported(what.into()))
}

pub(crate) fn invalid<T>(what: impl Into<String>) -> Result<T, TranslateError> {
    Err(TranslateError::Invalid(what.into()))
}

/// The storage database for a v1 `db` and `rp`: `db`, or `db/rp` for a non-default policy.
pub fn storage_database(db: &str, rp: Option<&str>) -> String {
    match rp {
        None | Some("" | "autogen" | "default") => db.to_owned(),
        Some(rp) => format!("{db}/{rp}"),
    }
}

/// Translates one statement.
pub fn translate(
    stmt: &Statement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    match stmt {
        Statement::Select(s) => select::translate_select(s, ctx).map(Translation::Sql),
        Statement::ShowDatabases => Ok(show::databases(ctx)),
        Statement::ShowRetentionPolicies(s) => show::retention_policies(s, ctx),
        Statement::ShowMeasurements(s) => show::measurements(s, ctx),
        Statement::ShowTagKeys(s) => show::tag_keys(s, ctx),
        Statement::ShowTagValues(s) => show::tag_values(s, ctx),
        Statement::ShowFieldKeys(s) => show::field_keys(s, ctx),
        Statement::ShowSeries(s) => show::series(s, ctx),
    }
}

/// Formats a translation for people: the SQL and plan of each query, or the answer's series.
pub fn format_translation(t: &Translation) -> String {
    let mut out = String::new();
    match t {
        Translation::Sql(queries) if queries.is_empty() => out.push_str("-- no matching data\n"),
        Translation::Sql(queries) => {
            for q in queries {
                out.push_str("sql: ");
                out.push_str(&q.sql);
                out.push_str("\nplan: ");
                out.push_str(&q.plan.to_string());
                out.push('\n');
            }
        }
        Translation::Answer(series) => {
            out.push_str("answer:");
            if series.is_empty() {
                out.push_str(" (empty)");
            }
            out.push('\n');
            for s in series {
                out.push_str("  ");
                out.push_str(&s.to_string());
                out.push('\n');
            }
        }
    }
    out
}

/// Parses and translates `query` (several statements allowed) and formats the result of each,
/// for `influxgate translate`. A parse error names its position; a translation error names the
/// statement.
pub fn translate_text(
    query: &str,
    db: &str,
    rp: Option<&str>,
    schema: &dyn QuerySchema,
    now: i64,
) -> Result<String, String> {
    let stmts = parse_statements(query).map_err(|e| format!("parse error: {e}"))?;
    let ctx = TranslateContext {
        database: db,
        retention_policy: rp,
        now,
        schema,
    };
    let mut out = String::new();
    for (i, stmt) in stmts.iter().enumerate() {
        let t = translate(stmt, &ctx).map_err(|e| format!("statement {i}: {stmt}: {e}"))?;
        out.push_str(&format!("-- statement {i}: {stmt}\n"));
        out.push_str(&format_translation(&t));
    }
    Ok(out)
}
