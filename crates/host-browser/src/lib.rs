//! wasm-bindgen exports of the influxgate core for the browser playground (`www/`).
//!
//! Thin on purpose: every decision (parameters, parsing, type checks, status codes, messages,
//! InfluxQL parsing and translation) is the core's. This crate only builds the request the
//! server would receive, calls the core, and reports what it did as JSON text for `app.js`.
//! The clock is JavaScript's: callers pass `now_ms`.
//!
//! The `*_json` functions return [`serde_json::Value`] and are what native tests call; the
//! `#[wasm_bindgen]` wrappers serialise them.
// wasm-bindgen's generated glue contains `unsafe` blocks; this crate writes none itself.
#![allow(unsafe_code)]

use influxgate::query::influxql::{self, ParseError};
use influxgate::query::translate::time::civil_from_days;
use influxgate::routes::{self, Api};
use influxgate::schema::EmptySchema;
use influxgate::write::batch::{self, ParsedWrite};
use influxgate::write::line_protocol::FieldValue;
use influxgate::write::params::WriteParams;
use influxgate::write::rows;
use influxgate::{Action, Config, Request, Response, handle};
use serde_json::{Value, json};
use wasm_bindgen::prelude::wasm_bindgen;

/// At most this many accepted points are listed (the counts are always exact).
pub const MAX_LISTED_POINTS: usize = 1000;

/// The crate version, shown by the page.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Check a write body as the server would: see [`check_write_json`]. Returns JSON text.
#[wasm_bindgen]
pub fn check_write(body: &str, api: &str, precision: &str, db: &str, now_ms: f64) -> String {
    check_write_json(body, api, precision, db, now_ms).to_string()
}

/// Parse and translate InfluxQL: see [`translate_json`]. Returns JSON text.
#[wasm_bindgen]
pub fn translate(query: &str, db: &str, rp: &str, schema_json: &str, now_ms: f64) -> String {
    translate_json(query, db, rp, schema_json, now_ms).to_string()
}

/// Milliseconds since the epoch (JavaScript's `Date.now()`) to nanoseconds.
fn now_ns(now_ms: f64) -> i64 {
    if !now_ms.is_finite() {
        return 0;
    }
    // Whole milliseconds exactly (an f64 holds every ms of i64's range), then the fraction:
    // `now_ms * 1e6` alone would round at this magnitude. `as` saturates out of range.
    let whole = now_ms.trunc();
    (whole as i64)
        .saturating_mul(1_000_000)
        .saturating_add(((now_ms - whole) * 1_000_000.0) as i64)
}

/// The config of a server with authentication disabled, so the answer is the server's answer
/// to an authorised request.
fn config() -> Config {
    Config {
        auth_disabled: true,
        build: format!("influxgate-{}", env!("CARGO_PKG_VERSION")),
        ..Config::default()
    }
}

/// The query string the page would send: v1 `db` + `precision`, v2 `bucket` + `precision`.
pub fn write_query(api: Api, precision: &str, db: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair(if api == Api::V2 { "bucket" } else { "db" }, db);
    if !precision.is_empty() {
        q.append_pair("precision", precision);
    }
    q.finish()
}

/// `body` as a `POST /write` (`api` = `"v1"`) or `POST /api/v2/write` (`"v2"`) to database
/// `db` with `precision` (empty: the default) at `now_ms`. Returns
///
/// ```json
/// {"request": {"method", "path", "query"},
///  "response": {"status", "headers": [[name, value]], "body"},
///  "accepted", "rejected_count",
///  "points": [{"measurement", "tags": [[k, v]], "fields": [{"name", "type", "value"}],
///              "time_ns": "…", "time": "RFC3339"}], "points_truncated",
///  "rejected": [{"line", "column", "message", "text"}]}
/// ```
///
/// `response` is exactly what `handle()` answers (with auth disabled); the points and rejects
/// come from the same core batch builder at the same `now`, with an empty schema (the page has
/// no catalog). When the parameters themselves are refused, `points` and `rejected` are empty.
pub fn check_write_json(body: &str, api: &str, precision: &str, db: &str, now_ms: f64) -> Value {
    let api = if api.eq_ignore_ascii_case("v2") {
        Api::V2
    } else {
        Api::V1
    };
    let path = if api == Api::V2 {
        routes::WRITE_V2
    } else {
        routes::WRITE_V1
    };
    let query = write_query(api, precision, db);
    let now = now_ns(now_ms);
    let config = config();
    let req = Request {
        method: "POST",
        path,
        query: &query,
        headers: &[("Content-Type", "text/plain; charset=utf-8")],
        body: body.as_bytes(),
    };
    let response = match handle(&req, now, &config, &EmptySchema) {
        Action::Respond(r) => r,
        Action::Write(plan) => plan.response,
        _ => Response::no_content(),
    };

    // The per-line detail: the same builder `handle` ran, when the parameters are valid.
    let detail = WriteParams::parse(api, &req.params()).ok().map(|wp| {
        batch::build(
            body,
            &wp.database,
            wp.precision,
            now,
            &EmptySchema,
            influxgate::config::MAX_LISTED_ERRORS,
        )
    });
    let detail = detail.unwrap_or_default();
    json!({
        "request": {"method": req.method, "path": path, "query": query},
        "response": response_json(&response),
        "accepted": detail.accepted,
        "rejected_count": detail.rejected_count,
        "points": points_json(&detail),
        "points_truncated": detail.accepted > MAX_LISTED_POINTS,
        "rejected": detail.rejected.iter().map(|r| json!({
            "line": r.line,
            "column": r.column,
            "message": r.message,
            "text": r.text,
        })).collect::<Vec<_>>(),
    })
}

fn response_json(r: &Response) -> Value {
    json!({
        "status": r.status,
        "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": String::from_utf8_lossy(&r.body),
    })
}

/// The accepted points, read back from the Arrow batches (grouped by measurement).
fn points_json(parsed: &ParsedWrite) -> Vec<Value> {
    let mut out = Vec::new();
    for tb in &parsed.batches {
        for row in 0..tb.batch.num_rows() {
            if out.len() == MAX_LISTED_POINTS {
                return out;
            }
            let p = rows::point(&tb.measurement, &tb.batch, row);
            let fields: Vec<Value> = p
                .fields
                .iter()
                .map(|(name, v)| {
                    let (ty, value) = field_json(v);
                    json!({"name": name, "type": ty, "value": value})
                })
                .collect();
            let ns = p.timestamp.unwrap_or(0);
            out.push(json!({
                "measurement": p.measurement,
                "tags": p.tags.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                "fields": fields,
                // As text: JavaScript numbers cannot hold every i64.
                "time_ns": ns.to_string(),
                "time": rfc3339_nanos(ns),
            }));
        }
    }
    out
}

/// A field's type name and its value as display text (integers as text keep all 64 bits).
fn field_json(v: &FieldValue<'_>) -> (&'static str, Value) {
    match v {
        FieldValue::Float(f) => ("float", Value::String(f.to_string())),
        FieldValue::Integer(i) => ("integer", Value::String(i.to_string())),
        FieldValue::UInteger(u) => ("unsigned", Value::String(u.to_string())),
        FieldValue::String(s) => ("string", Value::String(s.to_string())),
        FieldValue::Boolean(b) => ("boolean", Value::String(b.to_string())),
    }
}

/// `ns` since the epoch as RFC3339 with nanoseconds, e.g. `2023-11-14T22:13:20.000000001Z`.
pub fn rfc3339_nanos(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// `query` parsed and translated for database `db` (retention policy `rp`, empty: default)
/// against the schema in `schema_json` at `now_ms`. Returns
///
/// ```json
/// {"ok": true, "statements": ["canonical InfluxQL"], "results": [see translate_statements]}
/// {"ok": false, "stage": "parse"|"schema"|"translate", "error": "…",
///  "line", "column", "offset", "offset_utf16"}
/// ```
///
/// Positions are present for parse errors only; `offset_utf16` indexes a JavaScript string.
pub fn translate_json(query: &str, db: &str, rp: &str, schema_json: &str, now_ms: f64) -> Value {
    let statements = match influxql::parse_statements(query) {
        Ok(s) => s,
        Err(e) => return parse_error_json(query, &e),
    };
    if statements.is_empty() {
        return json!({"ok": false, "stage": "parse", "error": "empty query, nothing to run"});
    }
    let canonical: Vec<String> = statements.iter().map(ToString::to_string).collect();
    let rp = (!rp.is_empty()).then_some(rp);
    match translate_statements(&statements, db, rp, schema_json, now_ns(now_ms)) {
        Ok(mut t) => {
            t["ok"] = Value::Bool(true);
            t["statements"] = json!(canonical);
            t
        }
        Err((stage, error)) => json!({
            "ok": false,
            "stage": stage,
            "error": error,
            "statements": canonical,
        }),
    }
}

fn parse_error_json(query: &str, e: &ParseError) -> Value {
    let offset = e.offset.min(query.len());
    let offset_utf16 = query
        .get(..offset)
        .map_or(0, |prefix| prefix.encode_utf16().count());
    json!({
        "ok": false,
        "stage": "parse",
        "error": e.to_string(),
        "line": e.line,
        "column": e.column,
        "offset": offset,
        "offset_utf16": offset_utf16,
    })
}

/// The one place the page's InfluxQL panel meets the core's translator. Per statement:
/// `{"statement", "queries": [{"sql", "plan", "plan_text", "range"}]}` or
/// `{"statement", "answer": ["series", …]}` (SHOW statements the schema answers); or
/// `(stage, message)`.
fn translate_statements(
    statements: &[influxql::Statement],
    db: &str,
    rp: Option<&str>,
    schema_json: &str,
    now_ns: i64,
) -> Result<Value, (&'static str, String)> {
    use influxgate::query::translate::{self as tr, JsonSchema, TranslateContext, Translation};

    let schema = JsonSchema::from_json(schema_json).map_err(|e| ("schema", e))?;
    let ctx = TranslateContext {
        database: db,
        retention_policy: rp,
        now: now_ns,
        schema: &schema,
    };
    let mut results = Vec::new();
    for (i, stmt) in statements.iter().enumerate() {
        let t = tr::translate(stmt, &ctx)
            .map_err(|e| ("translate", format!("statement {i} ({stmt}): {e}")))?;
        results.push(match t {
            Translation::Sql(queries) => json!({
                "statement": stmt.to_string(),
                "queries": queries.iter().map(|q| json!({
                    "sql": q.sql,
                    "plan": q.plan,
                    "plan_text": q.plan.to_string(),
                    "range": [q.plan.start.map(rfc3339_nanos), q.plan.end.map(rfc3339_nanos)],
                })).collect::<Vec<_>>(),
            }),
            Translation::Answer(series) => json!({
                "statement": stmt.to_string(),
                "answer": series.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        });
    }
    Ok(json!({ "results": results }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: f64 = 1_700_000_000_123.0;

    #[test]
    fn partial_v1_write_lists_points_and_rejects() {
        let body =
            "cpu,host=a usage=1.5,n=3i 1700000000\ncpu,host=b usage=oops 1700000001\nmem free=7u\n";
        let v = check_write_json(body, "v1", "s", "mydb", NOW_MS);
        assert_eq!(v["request"]["query"], "db=mydb&precision=s");
        assert_eq!(v["accepted"], 2);
        assert_eq!(v["rejected_count"], 1);
        assert_eq!(v["response"]["status"], 201);
        let rej = &v["rejected"][0];
        assert_eq!(rej["line"], 2);
        assert!(rej["text"].as_str().unwrap().contains("oops"));
        let body: Value = serde_json::from_str(v["response"]["body"].as_str().unwrap()).unwrap();
        assert!(body["message"].as_str().unwrap().contains("line 2"));
        let cpu = &v["points"][0];
        assert_eq!(cpu["measurement"], "cpu");
        assert_eq!(cpu["tags"][0], json!(["host", "a"]));
        assert_eq!(cpu["time_ns"], "1700000000000000000");
        assert_eq!(cpu["time"], "2023-11-14T22:13:20.000000000Z");
        let types: Vec<_> = cpu["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["type"].clone())
            .collect();
        assert!(types.contains(&json!("float")) && types.contains(&json!("integer")));
        let mem = &v["points"][1];
        assert_eq!(
            mem["fields"][0],
            json!({"name": "free", "type": "unsigned", "value": "7"})
        );
        // No timestamp: the request's time truncated to the precision.
        assert_eq!(mem["time_ns"], "1700000000000000000");
    }

    #[test]
    fn v2_answers_like_the_server() {
        let ok = check_write_json("cpu v=1 1", "v2", "ns", "b", NOW_MS);
        assert_eq!(ok["response"]["status"], 204);
        assert_eq!(ok["request"]["path"], "/api/v2/write");
        let bad = check_write_json("cpu v=1 1", "v2", "x", "b", NOW_MS);
        assert_eq!(bad["response"]["status"], 400);
        assert_eq!(bad["points"], json!([]));
        let none = check_write_json("cpu v=1 1", "v2", "", "", NOW_MS);
        assert!(
            none["response"]["body"]
                .as_str()
                .unwrap()
                .contains("missing bucket value")
        );
        let all_bad = check_write_json("cpu\n", "v2", "", "b", NOW_MS);
        assert_eq!(all_bad["response"]["status"], 400);
        assert_eq!(all_bad["rejected"][0]["line"], 1);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            rfc3339_nanos(951_782_400_000_000_005),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(rfc3339_nanos(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(rfc3339_nanos(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    }

    const SCHEMA: &str = r#"{"cpu": {"tags": ["host"], "fields": {"usage": "float"}}}"#;

    #[test]
    fn translates_to_sql_and_shaping() {
        let q = "SELECT mean(usage) FROM cpu WHERE time >= now() - 1h GROUP BY time(5m), host; SHOW MEASUREMENTS";
        let v = translate_json(q, "mydb", "", SCHEMA, NOW_MS);
        assert_eq!(v["ok"], true, "{v}");
        let sel = &v["results"][0]["queries"][0];
        let sql = sel["sql"].as_str().unwrap();
        assert!(sql.contains(r#""mydb"."cpu""#), "{sql}");
        assert_eq!(sel["plan"]["tags"], json!(["host"]));
        assert_eq!(sel["plan"]["window"]["every"], 300_000_000_000_i64);
        assert_eq!(sel["range"][0], "2023-11-14T21:13:20.123000000Z");
        assert!(
            v["results"][1]["answer"][0]
                .as_str()
                .unwrap()
                .contains("cpu")
        );
        let bad = translate_json("SELECT nope(usage) FROM cpu", "mydb", "", SCHEMA, NOW_MS);
        assert_eq!(bad["stage"], "translate", "{bad}");
        let schema = translate_json("SELECT usage FROM cpu", "mydb", "", "{", NOW_MS);
        assert_eq!(schema["stage"], "schema", "{schema}");
    }

    #[test]
    fn parse_errors_carry_positions() {
        let v = translate_json("SELECT \"é\" FROMM cpu", "db", "", "{}", NOW_MS);
        assert_eq!(v["ok"], false);
        assert_eq!(v["stage"], "parse");
        assert_eq!(v["line"], 1);
        // `é` is two bytes, one UTF-16 unit.
        assert_eq!(
            v["offset"].as_u64().unwrap(),
            v["offset_utf16"].as_u64().unwrap() + 1
        );
    }
}
