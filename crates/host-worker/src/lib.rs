//! influxgate as a Cloudflare Worker: a thin adapter around the core.
//!
//! It collects the body (at most the limit + 1 bytes, so the core can answer 413), calls
//! [`influxgate::handle`] with the request time, carries out the core's action with the Worker's
//! bindings (forward to an upstream, or Parquet into R2), and returns the response. Validation,
//! auth, parsing and error shaping are the core's. Configuration: [`settings`].

// The clock ban in clippy.toml is for the core; a host reads the time (from the JS `Date`).
#![allow(clippy::disallowed_methods)]

mod settings;
mod upstream;

#[cfg(feature = "r2")]
mod r2;

use std::cell::OnceCell;
use std::rc::Rc;

use futures_util::StreamExt;
use influxgate::response::Response as CoreResponse;
use influxgate::upstream::exchange::{Exchange, Step};
use influxgate::upstream::forward::Upstream;
use influxgate::upstream::settings::{EdgeSettings as Settings, Mode};
use influxgate::{Action, Error, Request as CoreRequest};
use worker::{Context, Env, Request, Response, ResponseBuilder, event};

thread_local! {
    /// Vars and secrets are fixed for an isolate's life: parse them once.
    static SETTINGS: OnceCell<Result<Rc<Settings>, String>> = const { OnceCell::new() };
}

fn settings(env: &Env) -> Result<Rc<Settings>, String> {
    SETTINGS.with(|cell| {
        cell.get_or_init(|| settings::from_env(env).map(Rc::new))
            .clone()
    })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let resp = match settings(&env) {
        Ok(s) => serve(req, &env, &s).await,
        Err(why) => {
            worker::console_error!("influxgate-worker configuration: {why}");
            CoreResponse::error(&Error::Internal(format!("worker configuration: {why}")))
        }
    };
    to_worker(resp)
}

/// Read the body, stopping once it exceeds `limit` (the core then answers 413).
async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(body); // no body (GET, HEAD)
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::InvalidParameter(format!("reading the body: {e}")))?;
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            body.truncate(limit + 1);
            break;
        }
    }
    Ok(body)
}

async fn serve(mut req: Request, env: &Env, s: &Settings) -> CoreResponse {
    let now_ns = (js_sys::Date::now() as i64).saturating_mul(1_000_000);
    let method = req.method().to_string();
    let path = req.path();
    let query = req
        .url()
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req.headers().entries().collect();
    let body = match read_body(&mut req, s.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return CoreResponse::error(&e),
    };
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let core_req = CoreRequest {
        method: &method,
        path: &path,
        query: &query,
        headers: &header_refs,
        body: &body,
    };
    match &s.mode {
        Mode::Upstream(up) => serve_upstream(&core_req, now_ns, s, up).await,
        #[cfg(feature = "r2")]
        Mode::R2 { prefix } => serve_r2(&core_req, now_ns, env, s, prefix).await,
        #[cfg(not(feature = "r2"))]
        Mode::R2 { .. } => {
            let _ = env;
            unreachable!("settings refuse MODE=r2 without the r2 feature")
        }
    }
}

/// Mode `upstream`: the core's [`Exchange`] says what to send (the upstream's schema for
/// InfluxQL, the forwarded write, each SQL job); this only sends it.
async fn serve_upstream(
    req: &CoreRequest<'_>,
    now_ns: i64,
    s: &Settings,
    up: &Upstream,
) -> CoreResponse {
    let (mut ex, mut step) = Exchange::start(req, now_ns, &s.config, up, s.retry_after_secs);
    loop {
        match step {
            Step::Send(out) => {
                let answer = upstream::send(out, up.timeout_ms).await;
                step = ex.answer(req, &s.config, answer);
            }
            Step::Respond(r) => return r,
            Step::Local(action) => return respond(action),
        }
    }
}

#[cfg(feature = "r2")]
async fn serve_r2(
    req: &CoreRequest<'_>,
    now_ns: i64,
    env: &Env,
    s: &Settings,
    prefix: &str,
) -> CoreResponse {
    use influxgate::handle;
    use influxgate::routes::{Route, route};
    use influxgate::schema::EmptySchema;
    let retry = s.retry_after_secs;
    // Only writes need the catalog (the core's schema); read it only for them.
    if !matches!(
        route(req.method, req.path),
        Ok(Route::Write(_) | Route::WriteArrow)
    ) {
        return respond(handle(req, now_ns, &s.config, &EmptySchema));
    }
    let bucket = match env.bucket(settings::R2_BINDING) {
        Ok(b) => b,
        Err(e) => {
            return CoreResponse::error(&Error::Internal(format!(
                "R2 binding {} is missing: {e}",
                settings::R2_BINDING
            )));
        }
    };
    let loaded = match r2::load_catalog(&bucket, prefix, retry).await {
        Ok(l) => l,
        Err(e) => return CoreResponse::error(&e),
    };
    match handle(req, now_ns, &s.config, &loaded.catalog) {
        Action::Write(plan) => match r2::store(&bucket, prefix, loaded, &plan, now_ns, retry).await
        {
            Ok(()) => plan.response,
            Err(e) => {
                worker::console_error!("influxgate-worker r2 write: {e}");
                plan.failed(&e)
            }
        },
        other => respond(other),
    }
}

/// The response for an action that needs no storage.
fn respond(action: Action) -> CoreResponse {
    match action {
        Action::Respond(r) => r,
        // No metrics registry at the edge (each isolate is short-lived): an empty exposition.
        Action::Metrics => CoreResponse {
            status: 200,
            headers: vec![(
                "Content-Type",
                "text/plain; version=0.0.4; charset=utf-8".to_string(),
            )],
            body: b"# influxgate-worker keeps no metrics; see the Cloudflare dashboard\n".to_vec(),
        },
        Action::Playground => CoreResponse::error(&Error::NotFound),
        // The internal query endpoint is the native server's, not the edge's.
        Action::QueryArrow { .. } => CoreResponse::error(&Error::NotFound),
        Action::Query(_) => CoreResponse::error(&Error::UnprocessableEntity(
            "queries are not served in mode r2: query an influxgate server that reads the bucket"
                .into(),
        )),
        Action::Write(plan) => plan.failed(&Error::Internal("write without a sink".into())),
        other => CoreResponse::error(&Error::Internal(format!("unsupported action {other:?}"))),
    }
}

fn to_worker(resp: CoreResponse) -> worker::Result<Response> {
    let mut builder = ResponseBuilder::new().with_status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.with_header(k, v)?;
    }
    // 204/304 must not carry a body, not even an empty one.
    Ok(if resp.body.is_empty() {
        builder.empty()
    } else {
        builder.fixed(resp.body)
    })
}
