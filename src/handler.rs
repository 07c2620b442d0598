//! The core's entry point: a request in, an [`Action`] out.

use crate::auth::{Access, TokenEntry, credentials};
use crate::config::{Config, MAX_LISTED_ERRORS};
use crate::error::Error;
use crate::query::params::{V1QueryParams, V3QueryParams};
use crate::query::run::QueryPlan;
use crate::query::translate::{EmptyQuerySchema, JsonSchema};
use crate::request::{Params, Request};
use crate::response::Response;
use crate::routes::{Api, Route, route};
use crate::schema::Schema;
use crate::write::batch::{NewColumn, ParsedWrite, Rejected, TableBatch};
use crate::write::gzip::decode_body;
use crate::write::params::WriteParams;
pub use crate::write::record::WriteRecord;

/// What the host must do with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Send this response; nothing else to do.
    Respond(Response),
    /// Make these batches durable, then send `plan.response`. If storing fails, send the
    /// response for the storage error instead (see [`WritePlan::failed`]).
    Write(WritePlan),
    /// Render the host's own metrics (the request was authenticated).
    Metrics,
    /// Run `plan.jobs()` on the engine, then send `plan.respond(results)`.
    Query(QueryPlan),
    /// Run `sql` on the engine and answer its rows as an Arrow IPC stream
    /// ([`crate::upstream::encode_ipc`]); the internal endpoint edge hosts forward queries to.
    QueryArrow { database: String, sql: String },
    /// Serve the embedded browser playground, if the host has one.
    Playground,
}

/// An accepted write: the database, the batches per measurement and the response to send once
/// they are durable.
#[derive(Debug)]
pub struct WritePlan {
    pub database: String,
    pub batches: Vec<TableBatch>,
    pub new_columns: Vec<NewColumn>,
    pub accepted: usize,
    pub rejected: usize,
    pub response: Response,
}

impl WritePlan {
    /// The response when the host could not make the batches durable.
    pub fn failed(&self, err: &Error) -> Response {
        Response::error(err)
    }
}

/// Authenticate, route and validate `req` at time `now_ns` (ns since the epoch).
pub fn handle(req: &Request<'_>, now_ns: i64, config: &Config, schema: &dyn Schema) -> Action {
    let action = match dispatch(req, now_ns, config, schema) {
        Ok(action) => action,
        Err(err) => Action::Respond(Response::error(&err)),
    };
    finish(action, config)
}

fn finish(action: Action, config: &Config) -> Action {
    match action {
        // InfluxDB sends its version on every response; clients probe it.
        Action::Respond(resp) => Action::Respond(with_version(resp, config)),
        Action::Write(mut plan) => {
            plan.response = with_version(
                std::mem::replace(&mut plan.response, Response::no_content()),
                config,
            );
            Action::Write(plan)
        }
        other => other,
    }
}

/// A line-protocol write that passed routing, auth and parameter checks; its body is not parsed
/// yet. Hosts with a write-ahead log store [`PendingWrite::record`] first and parse while the log
/// syncs: parsing the record again later (replay) gives the same batches.
#[derive(Debug)]
pub struct PendingWrite<'a> {
    pub api: Api,
    pub record: WriteRecord<'a>,
}

impl PendingWrite<'_> {
    /// Parse the body against `schema`: what [`handle`] would have returned for this request.
    pub fn parse(&self, config: &Config, schema: &dyn Schema) -> Action {
        let action = match self.plan(schema) {
            Ok(plan) => Action::Write(plan),
            Err(e) => Action::Respond(Response::error(&e)),
        };
        finish(action, config)
    }

    /// The batches and the response, or the error when nothing at all can be written.
    fn plan(&self, schema: &dyn Schema) -> Result<WritePlan, Error> {
        let parsed = self.record.parse(schema, MAX_LISTED_ERRORS)?;
        let response = write_response(self.api, &parsed)?;
        Ok(WritePlan {
            database: self.record.database.clone(),
            batches: parsed.batches,
            new_columns: parsed.new_columns,
            accepted: parsed.accepted,
            rejected: parsed.rejected_count,
            response,
        })
    }

    /// The response for an error of the host's (storage) before the body was parsed.
    pub fn failed(&self, err: &Error, config: &Config) -> Response {
        with_version(Response::error(err), config)
    }
}

/// What [`stage`] found: a write to log and parse, or any other request's action.
#[derive(Debug)]
pub enum Staged<'a> {
    Write(PendingWrite<'a>),
    Done(Action),
}

/// Like [`handle`], but a valid line-protocol write comes back unparsed (see [`PendingWrite`]).
pub fn stage<'a>(
    req: &Request<'a>,
    now_ns: i64,
    config: &Config,
    schema: &dyn Schema,
) -> Staged<'a> {
    if let Ok(Route::Write(api)) = route(req.method, req.path) {
        let params = req.params();
        let pending = authenticate(config, req, Route::Write(api), &params)
            .and_then(|token| pending_write(req, api, token, &params, now_ns, config));
        return match pending {
            Ok(p) => Staged::Write(p),
            Err(e) => Staged::Done(finish(Action::Respond(Response::error(&e)), config)),
        };
    }
    Staged::Done(handle(req, now_ns, config, schema))
}

fn pending_write<'a>(
    req: &Request<'a>,
    api: Api,
    token: Option<&TokenEntry>,
    params: &Params<'_>,
    now_ns: i64,
    config: &Config,
) -> Result<PendingWrite<'a>, Error> {
    let wp = WriteParams::parse(api, params)?;
    authorize(token, Access::Write, &wp.database)?;
    Ok(PendingWrite {
        api,
        record: WriteRecord {
            database: wp.database,
            precision: wp.precision,
            now_ns,
            content_encoding: req.header("Content-Encoding"),
            max_body_bytes: config.max_body_bytes,
            body: req.body,
        },
    })
}

fn with_version(resp: Response, config: &Config) -> Response {
    resp.with_header("X-Influxdb-Version", config.version.clone())
        .with_header("X-Influxdb-Build", config.build.clone())
}

fn dispatch(
    req: &Request<'_>,
    now_ns: i64,
    config: &Config,
    schema: &dyn Schema,
) -> Result<Action, Error> {
    let route = route(req.method, req.path)?;
    match route {
        Route::Preflight => return Ok(Action::Respond(Response::no_content())),
        Route::Ping | Route::Health if !config.ping_requires_auth => {
            return Ok(Action::Respond(liveness(route, config)));
        }
        Route::Playground => return Ok(Action::Playground),
        _ => {}
    }
    let params = req.params();
    let token = authenticate(config, req, route, &params)?;
    match route {
        Route::Ping | Route::Health => Ok(Action::Respond(liveness(route, config))),
        Route::Metrics => Ok(Action::Metrics),
        Route::Write(api) => {
            let pending = pending_write(req, api, token, &params, now_ns, config)?;
            Ok(Action::Write(pending.plan(schema)?))
        }
        Route::WriteArrow => {
            // Edge hosts forward the storage name, `db` or `db/rp`, as `db`.
            let db = params.get("db").unwrap_or("");
            let (db, rp) = match db.split_once('/') {
                Some((db, rp)) => (db, Some(rp)),
                None => (db, params.get("rp")),
            };
            let database = crate::write::params::database_name(db, rp)?;
            authorize(token, Access::Write, &database)?;
            write_arrow(req, database, config, schema)
        }
        Route::QueryV1 => {
            let qp = V1QueryParams::parse(req)?;
            if !qp.db.is_empty() {
                authorize(token, Access::Read, &qp.database()?)?;
            } else {
                authorize(token, Access::Read, "*")?;
            }
            let qs = schema.query_schema().unwrap_or(&EmptyQuerySchema);
            Ok(match QueryPlan::v1(&qp, now_ns, qs) {
                Ok(plan) => Action::Query(plan),
                Err(resp) => Action::Respond(resp),
            })
        }
        Route::QuerySqlV3 | Route::QueryInfluxqlV3 => {
            let qp = V3QueryParams::parse(req)?;
            authorize(token, Access::Read, &qp.db)?;
            let qs = schema.query_schema().unwrap_or(&EmptyQuerySchema);
            Ok(Action::Query(if route == Route::QuerySqlV3 {
                QueryPlan::v3_sql(&qp)
            } else {
                QueryPlan::v3_influxql(&qp, now_ns, qs)?
            }))
        }
        Route::QueryArrow => {
            let database = params.get("db").unwrap_or("").to_string();
            authorize(
                token,
                Access::Read,
                if database.is_empty() { "*" } else { &database },
            )?;
            let sql = std::str::from_utf8(req.body)
                .map_err(|_| Error::InvalidParameter("SQL body is not valid UTF-8".into()))?;
            Ok(Action::QueryArrow {
                database,
                sql: sql.to_string(),
            })
        }
        Route::Schema => {
            let db = params.get("db").filter(|d| !d.is_empty());
            authorize(token, Access::Read, db.unwrap_or("*"))?;
            let qs = schema.query_schema().unwrap_or(&EmptyQuerySchema);
            let doc = JsonSchema::snapshot(qs, db).to_json();
            Ok(Action::Respond(Response {
                status: 200,
                headers: vec![("Content-Type", "application/json".to_string())],
                body: doc.into_bytes(),
            }))
        }
        Route::Preflight | Route::Playground => unreachable!("answered above"),
    }
}

/// Whether `req` is an authenticated InfluxQL query, for which an edge host fetches the schema
/// from its upstream before calling [`handle`] (and only then: a stranger cannot make it call).
pub fn wants_query_schema(req: &Request<'_>, config: &Config) -> bool {
    let Ok(route) = route(req.method, req.path) else {
        return false;
    };
    if !matches!(route, Route::QueryV1 | Route::QueryInfluxqlV3) {
        return false;
    }
    authenticate(config, req, route, &req.params()).is_ok()
}

/// `None` when auth is disabled; otherwise the token's entry or the 400/401. The `p`
/// parameter counts only on the routes where InfluxDB accepts it.
fn authenticate<'c>(
    config: &'c Config,
    req: &Request<'_>,
    route: Route,
    params: &Params<'_>,
) -> Result<Option<&'c TokenEntry>, Error> {
    if config.auth_disabled {
        return Ok(None);
    }
    let query_token = if route.allows_query_token() {
        params.get("p")
    } else {
        None
    };
    let token =
        credentials(req.header("Authorization"), query_token)?.ok_or(Error::Unauthorized)?;
    config
        .tokens
        .lookup(&token)
        .map(Some)
        .ok_or(Error::Unauthorized)
}

fn authorize(token: Option<&TokenEntry>, access: Access, database: &str) -> Result<(), Error> {
    match token {
        Some(t) if !t.allows(access, database) => Err(Error::Forbidden {
            action: access.as_str(),
            database: database.to_string(),
        }),
        _ => Ok(()),
    }
}

fn liveness(route: Route, config: &Config) -> Response {
    match route {
        Route::Health => Response::json(
            200,
            &serde_json::json!({
                "name": "influxgate",
                "message": "ready for queries and writes",
                "status": "pass",
                "checks": [],
                "version": config.version,
                "commit": config.build,
            }),
        ),
        _ => Response::no_content(),
    }
}

/// Batches parsed at the edge: decode, check types against the catalog, store as they are.
fn write_arrow(
    req: &Request<'_>,
    database: String,
    config: &Config,
    schema: &dyn Schema,
) -> Result<Action, Error> {
    let body = decode_body(
        req.body,
        req.header("Content-Encoding"),
        config.max_body_bytes,
    )?;
    let batches = crate::upstream::decode_batches(&body)?;
    let new_columns = crate::upstream::check_columns(&database, &batches, schema)?;
    let accepted = batches.iter().map(|b| b.batch.num_rows()).sum();
    Ok(Action::Write(WritePlan {
        database,
        batches,
        new_columns,
        accepted,
        rejected: 0,
        response: Response::no_content(),
    }))
}

/// The response for a parsed write, or the error when nothing at all can be written.
fn write_response(api: Api, parsed: &ParsedWrite) -> Result<Response, Error> {
    if parsed.rejected_count == 0 {
        if parsed.accepted == 0 {
            // Only comments and blank lines.
            return Err(Error::EmptyBody);
        }
        return Ok(Response::no_content());
    }
    let partial = parsed.accepted > 0;
    let err = Error::WriteRejected {
        api,
        partial,
        first_line: parsed.rejected.first().map_or(0, |r| r.line),
        message: rejection_message(api, partial, parsed),
    };
    if partial {
        Ok(Response::error(&err))
    } else {
        Err(err)
    }
}

/// Wording after the Serverless API reference: `no data written, errors encountered on
/// line(s): ...` (v2), `failed to parse line protocol: errors encountered on line(s): ...` (v1).
fn rejection_message(api: Api, partial: bool, parsed: &ParsedWrite) -> String {
    let lead = match (api, partial) {
        (_, true) => "partial write of line protocol occurred",
        (Api::V2, false) => "no data written",
        (_, false) => "failed to parse line protocol",
    };
    let listed: Vec<String> = parsed.rejected.iter().map(Rejected::to_string).collect();
    let mut msg = format!(
        "{lead}: {} of {} lines rejected, errors encountered on line(s): {}",
        parsed.rejected_count,
        parsed.rejected_count + parsed.accepted,
        listed.join("\n")
    );
    if parsed.rejected_count > parsed.rejected.len() {
        msg.push_str(&format!(
            "\n(and {} more rejected lines not listed)",
            parsed.rejected_count - parsed.rejected.len()
        ));
    }
    msg
}
