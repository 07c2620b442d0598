//! The bindings and the exported functions (wasm32 only: the export names of a component
//! are not valid symbol names for a native shared library).

use arrow_array::RecordBatch;
use influxgate::auth::TokenStore;
use influxgate::query::influxql::parse_statements;
use influxgate::query::params::{Epoch, V1Format};
use influxgate::query::response::{
    Series, StatementResult, V1Options, Value, render_v1, render_v1_error,
};
use influxgate::query::shape::apply_all;
use influxgate::query::translate::{
    JsonSchema, ShapePlan, TranslateContext, Translation, translate,
};
use influxgate::request::Params;
use influxgate::routes::Api;
use influxgate::schema::EmptySchema;
use influxgate::upstream::decode_ipc;
use influxgate::write::batch::{self, Rejected, TableBatch};
use influxgate::write::gzip::decode_body;
use influxgate::write::line_protocol::FieldValue;
use influxgate::write::params::WriteParams;
use influxgate::write::rows::{point, to_line_protocol};
use influxgate::{Action, Config, Request};

wit_bindgen::generate!({
    world: "core",
    path: "../../wit",
});

use exports::influxgate::core::gateway::{self, Action as WitAction, WriteEffect};
use exports::influxgate::core::influxql::{
    self, QueryError, Series as WitSeries, SqlQuery, SqlResult,
    StatementResult as WitStatementResult, TranslatedStatement, Translation as WitTranslation,
    V1Format as WitV1Format, Value as WitValue,
};
use exports::influxgate::core::types::{HttpRequest, HttpResponse};
use exports::influxgate::core::write::{
    self, Api as WitApi, FieldValue as WitField, LineError, Point, WriteRequest, WriteResult,
};

/// The exported component.
pub struct Component;

export!(Component);

fn http_response(r: influxgate::Response) -> HttpResponse {
    HttpResponse {
        status: r.status,
        headers: r
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        body: r.body,
    }
}

fn limit(max: Option<u64>) -> usize {
    max.and_then(|m| usize::try_from(m).ok())
        .unwrap_or(influxgate::config::DEFAULT_MAX_BODY_BYTES)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn points(batches: &[TableBatch]) -> Vec<Point> {
    let mut out = Vec::new();
    for tb in batches {
        for row in 0..tb.batch.num_rows() {
            let p = point(&tb.measurement, &tb.batch, row);
            out.push(Point {
                measurement: p.measurement.to_string(),
                tags: p
                    .tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                fields: p
                    .fields
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            FieldValue::Float(f) => WitField::Float(*f),
                            FieldValue::Integer(i) => WitField::Integer(*i),
                            FieldValue::UInteger(u) => WitField::Unsigned(*u),
                            FieldValue::String(s) => WitField::String(s.to_string()),
                            FieldValue::Boolean(b) => WitField::Boolean(*b),
                        };
                        (k.to_string(), v)
                    })
                    .collect(),
                time_ns: p.timestamp.unwrap_or_default(),
            });
        }
    }
    out
}

fn line_error(r: &Rejected) -> LineError {
    LineError {
        line: count(r.line),
        column: r.column.map(count),
        message: r.message.clone(),
        text: r.text.clone(),
    }
}

/// The rejected lines of a write, parsed again (only done when some line was rejected).
fn rejects(api: Api, req: &WriteRequest, now_ns: i64) -> Vec<LineError> {
    let Ok(wp) = WriteParams::parse(api, &Params::parse(&req.query)) else {
        return Vec::new();
    };
    let encoding = header(&req.headers, "Content-Encoding");
    let Ok(body) = decode_body(&req.body, encoding, limit(req.max_body_bytes)) else {
        return Vec::new();
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return Vec::new();
    };
    let parsed = batch::build(
        text,
        &wp.database,
        wp.precision,
        now_ns,
        &EmptySchema,
        influxgate::config::MAX_LISTED_ERRORS,
    );
    parsed.rejected.iter().map(line_error).collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl write::Guest for Component {
    fn parse_write(req: WriteRequest) -> WriteResult {
        let api = match req.api {
            WitApi::V1 => Api::V1,
            WitApi::V2 => Api::V2,
        };
        let config = Config {
            auth_disabled: true,
            max_body_bytes: limit(req.max_body_bytes),
            ..Config::default()
        };
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let core_req = Request {
            method: "POST",
            path: match api {
                Api::V2 => influxgate::routes::WRITE_V2,
                _ => influxgate::routes::WRITE_V1,
            },
            query: &req.query,
            headers: &headers,
            body: &req.body,
        };
        match influxgate::handle(&core_req, req.now_ns, &config, &EmptySchema) {
            Action::Write(plan) => WriteResult {
                errors: if plan.rejected > 0 {
                    rejects(api, &req, req.now_ns)
                } else {
                    Vec::new()
                },
                points: points(&plan.batches),
                line_protocol: to_line_protocol(&plan.batches),
                accepted: count(plan.accepted),
                rejected: count(plan.rejected),
                database: plan.database,
                response: http_response(plan.response),
            },
            other => {
                let response = match other {
                    Action::Respond(r) => r,
                    _ => influxgate::Response::error(&influxgate::Error::Internal(
                        "unexpected action for a write".into(),
                    )),
                };
                // Every line rejected: the 400 names them; list them as records too.
                let errors = if response.status == 400
                    && response.body.starts_with(b"{")
                    && serde_json::from_slice::<serde_json::Value>(&response.body)
                        .is_ok_and(|v| v.get("line").is_some())
                {
                    rejects(api, &req, req.now_ns)
                } else {
                    Vec::new()
                };
                let database = WriteParams::parse(api, &Params::parse(&req.query))
                    .map(|wp| wp.database)
                    .unwrap_or_default();
                WriteResult {
                    database,
                    points: Vec::new(),
                    line_protocol: String::new(),
                    accepted: 0,
                    rejected: count(errors.len()),
                    errors,
                    response: http_response(response),
                }
            }
        }
    }
}

fn config(c: &gateway::Config) -> Result<Config, String> {
    let mut store = TokenStore::default();
    if let Some(json) = &c.tokens_json {
        store
            .add_json(json)
            .map_err(|e| format!("tokens-json is not valid: {e}"))?;
    }
    if let Some(token) = &c.admin_token {
        store
            .add_admin(token)
            .map_err(|e| format!("admin-token: {e}"))?;
    }
    Ok(Config {
        tokens: store,
        auth_disabled: c.without_auth,
        max_body_bytes: limit(c.max_body_bytes),
        build: "influxgate-core-component".to_string(),
        ..Config::default()
    })
}

impl gateway::Guest for Component {
    fn handle(c: gateway::Config, req: HttpRequest, now_ns: i64) -> Result<WitAction, String> {
        let config = config(&c)?;
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let core_req = Request {
            method: &req.method,
            path: &req.path,
            query: &req.query,
            headers: &headers,
            body: &req.body,
        };
        Ok(
            match influxgate::handle(&core_req, now_ns, &config, &EmptySchema) {
                Action::Respond(r) => WitAction::Respond(http_response(r)),
                Action::Metrics => WitAction::Metrics,
                Action::Write(plan) => match influxgate::upstream::encode_batches(&plan.batches) {
                    Ok(envelope) => WitAction::Write(WriteEffect {
                        line_protocol: to_line_protocol(&plan.batches),
                        arrow_envelope: envelope,
                        accepted: count(plan.accepted),
                        rejected: count(plan.rejected),
                        database: plan.database,
                        response: http_response(plan.response),
                    }),
                    Err(e) => WitAction::Respond(http_response(plan.failed(&e))),
                },
                // No playground in a bare core; anything newer is answered as not found.
                _ => WitAction::Respond(http_response(influxgate::Response::error(
                    &influxgate::Error::NotFound,
                ))),
            },
        )
    }
}

fn to_wit_value(v: &Value) -> WitValue {
    match v {
        Value::Null => WitValue::Null,
        Value::Boolean(b) => WitValue::Boolean(*b),
        Value::Integer(i) => WitValue::Integer(*i),
        Value::Unsigned(u) => WitValue::Unsigned(*u),
        Value::Float(f) => WitValue::Float(*f),
        Value::String(s) => WitValue::String(s.clone()),
        Value::Time(t) => WitValue::Time(*t),
    }
}

fn from_wit_value(v: WitValue) -> Value {
    match v {
        WitValue::Null => Value::Null,
        WitValue::Boolean(b) => Value::Boolean(b),
        WitValue::Integer(i) => Value::Integer(i),
        WitValue::Unsigned(u) => Value::Unsigned(u),
        WitValue::Float(f) => Value::Float(f),
        WitValue::String(s) => Value::String(s),
        WitValue::Time(t) => Value::Time(t),
    }
}

fn to_wit_series(s: &Series) -> WitSeries {
    WitSeries {
        name: s.name.clone(),
        tags: s.tags.clone(),
        columns: s.columns.clone(),
        values: s
            .values
            .iter()
            .map(|row| row.iter().map(to_wit_value).collect())
            .collect(),
    }
}

fn from_wit_series(s: WitSeries) -> Series {
    Series {
        name: s.name,
        tags: s.tags,
        columns: s.columns,
        values: s
            .values
            .into_iter()
            .map(|row| row.into_iter().map(from_wit_value).collect())
            .collect(),
    }
}

fn query_error(e: &influxgate::query::influxql::ParseError) -> QueryError {
    QueryError {
        message: e.to_string(),
        line: e.line,
        column: e.column,
    }
}

/// The series of one statement from its SQL results.
fn shape(parts: Vec<SqlResult>) -> Result<Vec<Series>, String> {
    let mut plans = Vec::with_capacity(parts.len());
    let mut batches = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let plan: ShapePlan = serde_json::from_str(&part.plan_json)
            .map_err(|e| format!("result {i}: invalid plan-json: {e}"))?;
        let b = decode_ipc(&part.arrow_ipc)
            .map_err(|e| format!("result {i}: invalid Arrow IPC stream: {e}"))?;
        plans.push(plan);
        batches.push(b);
    }
    let refs: Vec<(&ShapePlan, &[RecordBatch])> = plans
        .iter()
        .zip(&batches)
        .map(|(p, b)| (p, b.as_slice()))
        .collect();
    apply_all(&refs).map_err(|e| e.to_string())
}

impl influxql::Guest for Component {
    fn parse(query: String) -> Result<Vec<String>, QueryError> {
        parse_statements(&query)
            .map(|stmts| stmts.iter().map(ToString::to_string).collect())
            .map_err(|e| query_error(&e))
    }

    fn translate(
        query: String,
        database: String,
        retention_policy: Option<String>,
        now_ns: i64,
        schema_json: String,
    ) -> Result<Vec<TranslatedStatement>, QueryError> {
        let stmts = parse_statements(&query).map_err(|e| query_error(&e))?;
        let schema = if schema_json.trim().is_empty() {
            Ok(JsonSchema::default())
        } else {
            JsonSchema::from_json(&schema_json)
        };
        let schema = schema.map_err(|e| QueryError {
            message: format!("schema-json: {e}"),
            line: 0,
            column: 0,
        })?;
        let ctx = TranslateContext {
            database: &database,
            retention_policy: retention_policy.as_deref(),
            now: now_ns,
            schema: &schema,
        };
        Ok(stmts
            .iter()
            .map(|stmt| TranslatedStatement {
                statement: stmt.to_string(),
                translation: match translate(stmt, &ctx) {
                    Ok(Translation::Sql(queries)) => queries
                        .into_iter()
                        .map(|q| {
                            serde_json::to_string(&q.plan)
                                .map(|plan_json| SqlQuery {
                                    sql: q.sql,
                                    plan_json,
                                })
                                .map_err(|e| format!("plan: {e}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(WitTranslation::Sql),
                    Ok(Translation::Answer(series)) => Ok(WitTranslation::Answer(
                        series.iter().map(to_wit_series).collect(),
                    )),
                    Err(e) => Err(e.to_string()),
                },
            })
            .collect())
    }

    fn render_v1(
        results: Vec<WitStatementResult>,
        format: WitV1Format,
        epoch: Option<String>,
        pretty: bool,
    ) -> HttpResponse {
        let format = match format {
            WitV1Format::Json => V1Format::Json,
            WitV1Format::Csv => V1Format::Csv,
            WitV1Format::Msgpack => V1Format::MsgPack,
        };
        let mut opts = V1Options::new(format);
        opts.pretty = pretty;
        if let Some(e) = epoch.as_deref().filter(|e| !e.is_empty()) {
            match Epoch::parse(e) {
                Some(e) => opts.epoch = Some(e),
                None => {
                    return http_response(render_v1_error(
                        &format!("invalid epoch {e:?}"),
                        400,
                        opts,
                    ));
                }
            }
        }
        let results: Vec<StatementResult> = results
            .into_iter()
            .enumerate()
            .map(|(id, r)| match r {
                WitStatementResult::Error(msg) => StatementResult::error(id, msg),
                WitStatementResult::Answer(series) => {
                    StatementResult::ok(id, series.into_iter().map(from_wit_series).collect())
                }
                WitStatementResult::Rows(parts) => match shape(parts) {
                    Ok(series) => StatementResult::ok(id, series),
                    Err(msg) => StatementResult::error(id, msg),
                },
            })
            .collect();
        http_response(render_v1(&results, opts))
    }
}
