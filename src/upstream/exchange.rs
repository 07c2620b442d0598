//! One request at an edge host in mode `upstream`, as a sans-I/O exchange: the core says what to
//! send, the host sends it and hands back the answer, until the core has the response. Every
//! edge host (Worker, Spin component) drives it with the same few lines:
//!
//! ```ignore
//! let (mut ex, mut step) = Exchange::start(&req, now_ns, &config, &upstream, retry_after_secs);
//! let response = loop {
//!     match step {
//!         Step::Send(out) => step = ex.answer(&req, &config, send(out).await),
//!         Step::Respond(r) => break r,
//!         Step::Local(action) => break host_specific(action),
//!     }
//! };
//! ```
//!
//! For an authenticated InfluxQL request the upstream's catalog is fetched first (the translator
//! needs measurements, tags and fields); then the core handles the request with it. A write is
//! forwarded once; a query sends one request per SQL job.

use crate::config::Config;
use crate::handler::{Action, WritePlan, handle, wants_query_schema};
use crate::query::run::{JobResult, QueryPlan};
use crate::request::Request;
use crate::response::Response;
use crate::schema::{EmptySchema, Schema};

use super::forward::{
    Answer, Outgoing, Upstream, UpstreamKind, query_outcome, schema_outcome, write_outcome,
};

/// What the host does next.
#[derive(Debug)]
pub enum Step {
    /// Send this and pass the answer to [`Exchange::answer`].
    Send(Outgoing),
    /// The response for the client; the exchange is over.
    Respond(Response),
    /// An action with nothing to forward (metrics, playground, ...): the host's own business.
    Local(Action),
}

#[derive(Debug)]
enum State {
    Schema {
        now_ns: i64,
    },
    Write(WritePlan),
    Query {
        plan: QueryPlan,
        results: Vec<JobResult>,
    },
    Done,
}

/// The state of one request between upstream round trips.
#[derive(Debug)]
pub struct Exchange<'u> {
    upstream: &'u Upstream,
    retry_after_secs: u32,
    state: State,
}

impl<'u> Exchange<'u> {
    /// Begin handling `req` at `now_ns`.
    pub fn start(
        req: &Request<'_>,
        now_ns: i64,
        config: &Config,
        upstream: &'u Upstream,
        retry_after_secs: u32,
    ) -> (Self, Step) {
        let mut ex = Exchange {
            upstream,
            retry_after_secs,
            state: State::Done,
        };
        if upstream.kind == UpstreamKind::Influxgate && wants_query_schema(req, config) {
            return match upstream.schema_request() {
                Ok(out) => {
                    ex.state = State::Schema { now_ns };
                    (ex, Step::Send(out))
                }
                Err(e) => (ex, Step::Respond(Response::error(&e))),
            };
        }
        let step = ex.handle(req, now_ns, config, &EmptySchema);
        (ex, step)
    }

    /// The upstream answered (or did not) the request of the last [`Step::Send`]; `req` and
    /// `config` are the ones given to [`Exchange::start`].
    pub fn answer(&mut self, req: &Request<'_>, config: &Config, answer: Answer) -> Step {
        let retry = self.retry_after_secs;
        match std::mem::replace(&mut self.state, State::Done) {
            State::Schema { now_ns } => match schema_outcome(answer, retry) {
                Ok(schema) => self.handle(req, now_ns, config, &schema),
                Err(resp) => Step::Respond(resp),
            },
            State::Write(plan) => Step::Respond(write_outcome(&plan, answer, retry)),
            State::Query { plan, mut results } => match query_outcome(answer, retry) {
                Ok(result) => {
                    results.push(result);
                    self.next_job(plan, results)
                }
                Err(resp) => Step::Respond(resp),
            },
            State::Done => Step::Respond(Response::error(&crate::Error::Internal(
                "upstream answer after the exchange ended".into(),
            ))),
        }
    }

    fn handle(
        &mut self,
        req: &Request<'_>,
        now_ns: i64,
        config: &Config,
        schema: &dyn Schema,
    ) -> Step {
        match handle(req, now_ns, config, schema) {
            Action::Respond(r) => Step::Respond(r),
            Action::Write(plan) => match self.upstream.write_request(&plan) {
                Ok(out) => {
                    self.state = State::Write(plan);
                    Step::Send(out)
                }
                Err(e) => Step::Respond(plan.failed(&e)),
            },
            Action::Query(plan) => match self.upstream.supports_queries() {
                Ok(()) => self.next_job(plan, Vec::new()),
                Err(e) => Step::Respond(Response::error(&e)),
            },
            other => Step::Local(other),
        }
    }

    /// Send the next SQL job, or render the answer once every job has its result.
    fn next_job(&mut self, plan: QueryPlan, results: Vec<JobResult>) -> Step {
        let next = plan
            .jobs()
            .get(results.len())
            .map(|job| self.upstream.query_request(job.database, job.sql));
        match next {
            None => Step::Respond(plan.respond(results)),
            Some(Err(e)) => Step::Respond(Response::error(&e)),
            Some(Ok(out)) => {
                self.state = State::Query { plan, results };
                Step::Send(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::translate::JsonSchema;
    use crate::upstream::encode_ipc;
    use arrow_array::{Float64Array, RecordBatch, TimestampNanosecondArray};
    use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
    use std::sync::Arc;

    fn setup() -> (Config, Upstream) {
        let mut config = Config::default();
        config.tokens.add_admin("t").unwrap();
        let up = Upstream {
            kind: UpstreamKind::Influxgate,
            url: "http://up".into(),
            token: None,
            timeout_ms: 100,
        };
        (config, up)
    }

    const AUTH: &[(&str, &str)] = &[("Authorization", "Token t")];

    #[test]
    fn write_is_forwarded_then_answered() {
        let (config, up) = setup();
        let req = Request {
            method: "POST",
            path: "/api/v2/write",
            query: "bucket=db",
            headers: AUTH,
            body: b"m v=1 1\n",
        };
        let (mut ex, step) = Exchange::start(&req, 0, &config, &up, 5);
        let Step::Send(out) = step else {
            panic!("{step:?}")
        };
        assert!(out.url.contains("/api/v3/internal/write_arrow?db=db"));
        match ex.answer(&req, &config, Ok((204, vec![]))) {
            Step::Respond(r) => assert_eq!(r.status, 204),
            other => panic!("{other:?}"),
        }
        let (mut ex, _) = Exchange::start(&req, 0, &config, &up, 5);
        match ex.answer(&req, &config, Err("down".into())) {
            Step::Respond(r) => assert_eq!((r.status, r.header("Retry-After")), (503, Some("5"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn influxql_fetches_the_schema_then_runs_each_job() {
        let (config, up) = setup();
        let req = Request {
            method: "GET",
            path: "/query",
            query: "db=db&epoch=s&q=SELECT+*+FROM+cpu",
            headers: AUTH,
            body: b"",
        };
        let (mut ex, step) = Exchange::start(&req, 0, &config, &up, 5);
        let Step::Send(out) = step else {
            panic!("{step:?}")
        };
        assert_eq!(out.method, "GET");
        assert!(out.url.contains("/api/v3/internal/schema"));
        let schema = JsonSchema::from_json(
            r#"{"databases":{"db":{"cpu":{"tags":[],"fields":{"v":"float"}}}}}"#,
        )
        .unwrap();
        let step = ex.answer(&req, &config, Ok((200, schema.to_json().into_bytes())));
        let Step::Send(out) = step else {
            panic!("{step:?}")
        };
        assert!(out.url.contains("/api/v3/internal/query_arrow?db=db"));
        let sql = String::from_utf8(out.body).unwrap();
        assert!(sql.contains("\"v\""), "{sql}");
        let rows = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![
                Field::new(
                    "time",
                    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                    false,
                ),
                Field::new("v", DataType::Float64, true),
            ])),
            vec![
                Arc::new(TimestampNanosecondArray::from(vec![1_000_000_000]).with_timezone("UTC")),
                Arc::new(Float64Array::from(vec![2.5])),
            ],
        )
        .unwrap();
        let ipc = encode_ipc(&[rows]).unwrap();
        match ex.answer(&req, &config, Ok((200, ipc))) {
            Step::Respond(r) => {
                assert_eq!(r.status, 200);
                let body = String::from_utf8(r.body).unwrap();
                assert!(body.contains(r#""columns":["time","v"]"#), "{body}");
                assert!(body.contains("[1,2.5]"), "{body}");
            }
            other => panic!("{other:?}"),
        }
        // An upstream without queries: refused before anything is sent.
        let lp = Upstream {
            kind: UpstreamKind::Influxdb,
            ..up.clone()
        };
        match Exchange::start(&req, 0, &config, &lp, 5).1 {
            Step::Respond(r) => assert_eq!(r.status, 422),
            other => panic!("{other:?}"),
        }
        // /ping is answered by the core, with no upstream call.
        let ping = Request {
            method: "GET",
            path: "/ping",
            query: "",
            headers: &[],
            body: b"",
        };
        assert!(matches!(
            Exchange::start(&ping, 0, &config, &up, 5).1,
            Step::Respond(r) if r.status == 204
        ));
    }
}
