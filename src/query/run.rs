//! A query request as a plan of SQL jobs for the host, and the response once they ran.
//!
//! The core parses and translates; the host runs each [`SqlJob`] on its engine (the native
//! DataFusion engine, or an upstream influxgate for edge hosts) and hands the Arrow results
//! back to [`QueryPlan::respond`], which shapes them into InfluxQL series and renders them.

use arrow_array::RecordBatch;

use crate::query::influxql::{ParseError, parse_statements};
use crate::query::params::{V1Format, V1QueryParams, V3Format, V3QueryParams};
use crate::query::response::{
    StatementResult, V1Options, render_v1, render_v1_chunked, render_v1_error, render_v3_batches,
    render_v3_series,
};
use crate::query::shape::{Series, apply_all};
use crate::query::translate::{QuerySchema, SqlQuery, TranslateContext, Translation, translate};
use crate::response::Response;

/// How the answer is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    V1 {
        options: V1Options,
        chunked: bool,
        chunk_size: usize,
    },
    /// `/api/v3/query_influxql`.
    V3Series(V3Format),
    /// `/api/v3/query_sql`: the engine's rows as they are.
    V3Rows(V3Format),
}

/// One statement, planned.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// Run these queries and shape their results.
    Sql(Vec<SqlQuery>),
    /// Answered from the schema.
    Answer(Vec<Series>),
    /// A statement-level error (HTTP 200 with `results[i].error` in v1).
    Error(String),
    /// `/api/v3/query_sql`: the client's SQL, run as it is.
    RawSql(String),
}

/// Everything a query request needs the host to do.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// The request's storage database (`db` or `db/rp`; may be empty for v1).
    pub database: String,
    pub output: Output,
    pub statements: Vec<Planned>,
}

/// One SQL statement the host must run, in [`QueryPlan::jobs`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlJob<'a> {
    pub database: &'a str,
    pub sql: &'a str,
}

/// The outcome of one job: its rows, or the engine's error message.
pub type JobResult = Result<Vec<RecordBatch>, String>;

/// InfluxDB 1.x answers a query that does not parse with HTTP 400 `error parsing query: ...`.
fn parse_error(e: &ParseError) -> String {
    format!("error parsing query: {e}")
}

impl QueryPlan {
    /// Plan a v1 `/query`. A parse error is the whole request's error (400), as in InfluxDB.
    pub fn v1(
        params: &V1QueryParams,
        now_ns: i64,
        schema: &dyn QuerySchema,
    ) -> Result<Self, Response> {
        // influxdb-python decodes a msgpack body as one document, so a chunked answer (several
        // documents) is sent as JSON lines, which every client reads.
        let format = match (params.chunked, params.format) {
            (true, V1Format::MsgPack) => V1Format::Json,
            (_, f) => f,
        };
        let options = V1Options {
            format,
            epoch: params.epoch,
            pretty: params.pretty,
        };
        let output = Output::V1 {
            options,
            chunked: params.chunked,
            chunk_size: params.chunk_size,
        };
        let statements = parse_statements(&params.query)
            .map_err(|e| render_v1_error(&parse_error(&e), 400, options))?;
        let ctx = TranslateContext {
            database: &params.db,
            retention_policy: params.rp.as_deref(),
            now: now_ns,
            schema,
        };
        Ok(QueryPlan {
            database: crate::query::translate::storage_database(&params.db, params.rp.as_deref()),
            output,
            statements: statements.iter().map(|s| plan_statement(s, &ctx)).collect(),
        })
    }

    /// Plan `/api/v3/query_influxql`.
    pub fn v3_influxql(
        params: &V3QueryParams,
        now_ns: i64,
        schema: &dyn QuerySchema,
    ) -> Result<Self, crate::Error> {
        let statements = parse_statements(&params.query)
            .map_err(|e| crate::Error::InvalidParameter(parse_error(&e)))?;
        let ctx = TranslateContext {
            database: &params.db,
            retention_policy: None,
            now: now_ns,
            schema,
        };
        Ok(QueryPlan {
            database: params.db.clone(),
            output: Output::V3Series(params.format),
            statements: statements.iter().map(|s| plan_statement(s, &ctx)).collect(),
        })
    }

    /// Plan `/api/v3/query_sql`.
    pub fn v3_sql(params: &V3QueryParams) -> Self {
        QueryPlan {
            database: params.db.clone(),
            output: Output::V3Rows(params.format),
            statements: vec![Planned::RawSql(params.query.clone())],
        }
    }

    /// The SQL the host must run, in order; hand the results back in the same order.
    pub fn jobs(&self) -> Vec<SqlJob<'_>> {
        let mut jobs = Vec::new();
        for s in &self.statements {
            match s {
                Planned::Sql(queries) => jobs.extend(queries.iter().map(|q| SqlJob {
                    database: &self.database,
                    sql: &q.sql,
                })),
                Planned::RawSql(sql) => jobs.push(SqlJob {
                    database: &self.database,
                    sql,
                }),
                Planned::Answer(_) | Planned::Error(_) => {}
            }
        }
        jobs
    }

    /// Shape and render the results of [`QueryPlan::jobs`] (same order, same count).
    pub fn respond(&self, results: Vec<JobResult>) -> Response {
        let mut results = results.into_iter();
        let mut answers = Vec::with_capacity(self.statements.len());
        let mut raw: Option<Result<Vec<RecordBatch>, String>> = None;
        for (id, s) in self.statements.iter().enumerate() {
            let answer = match s {
                Planned::Answer(series) => StatementResult::ok(id, series.clone()),
                Planned::Error(msg) => StatementResult::error(id, msg.clone()),
                Planned::RawSql(_) => {
                    raw = results.next();
                    continue;
                }
                Planned::Sql(queries) => {
                    let mut batches = Vec::with_capacity(queries.len());
                    let mut failed = None;
                    for _ in queries {
                        match results.next() {
                            Some(Ok(b)) => batches.push(b),
                            Some(Err(e)) => failed = Some(e),
                            None => failed = Some("internal error: missing query result".into()),
                        }
                    }
                    match failed {
                        Some(e) => StatementResult::error(id, e),
                        None => {
                            let parts: Vec<_> = queries
                                .iter()
                                .zip(&batches)
                                .map(|(q, b)| (&q.plan, b.as_slice()))
                                .collect();
                            match apply_all(&parts) {
                                Ok(series) => StatementResult::ok(id, series),
                                Err(e) => StatementResult::error(id, e.to_string()),
                            }
                        }
                    }
                }
            };
            answers.push(answer);
        }
        match self.output {
            Output::V1 {
                options,
                chunked: false,
                ..
            } => render_v1(&answers, options),
            Output::V1 {
                options,
                chunked: true,
                chunk_size,
            } => render_v1_chunked(&answers, options, chunk_size),
            Output::V3Series(format) => {
                // v3 has no statement-level errors: the first one fails the request.
                if let Some(err) = answers.iter().find_map(|a| a.error.clone()) {
                    return Response::error(&crate::Error::InvalidParameter(err));
                }
                render_v3_series(&answers, format).unwrap_or_else(|e| Response::error(&e))
            }
            Output::V3Rows(format) => match raw {
                Some(Ok(batches)) => {
                    render_v3_batches(&batches, format).unwrap_or_else(|e| Response::error(&e))
                }
                Some(Err(e)) => Response::error(&crate::Error::InvalidParameter(e)),
                None => Response::error(&crate::Error::Internal("missing query result".into())),
            },
        }
    }
}

fn plan_statement(stmt: &crate::query::influxql::Statement, ctx: &TranslateContext<'_>) -> Planned {
    match translate(stmt, ctx) {
        Ok(Translation::Sql(queries)) => Planned::Sql(queries),
        Ok(Translation::Answer(series)) => Planned::Answer(series),
        Err(e) => Planned::Error(e.to_string()),
    }
}
