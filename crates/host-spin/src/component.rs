//! The wasi:http entry point and the I/O: body, clock, environment, outbound HTTP.

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use http_body_util::{BodyExt as _, Full};
use influxgate::response::Response as CoreResponse;
use influxgate::upstream::exchange::{Exchange, Step};
use influxgate::upstream::forward::{Answer, Outgoing};
use influxgate::upstream::settings::{EdgeSettings as Settings, Mode};
use influxgate::{Action, Error, Request as CoreRequest};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::wasip3::clocks::{monotonic_clock, system_clock};

thread_local! {
    /// The environment is fixed for an instance's life: read it once.
    static SETTINGS: OnceCell<Result<Rc<Settings>, String>> = const { OnceCell::new() };
}

fn settings() -> Result<Rc<Settings>, String> {
    SETTINGS.with(|cell| {
        cell.get_or_init(|| {
            let env = spin_sdk::wasip3::cli::environment::get_environment();
            Settings::from_lookup(
                |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
                "influxgate-spin",
                false,
            )
            .map(Rc::new)
        })
        .clone()
    })
}

/// Nanoseconds since the Unix epoch, from `wasi:clocks/system-clock`.
fn now_ns() -> i64 {
    let t = system_clock::now();
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nanoseconds))
}

#[spin_sdk::http_service]
async fn handler(req: Request) -> impl IntoResponse {
    let resp = match settings() {
        Ok(s) => serve(req, &s).await,
        Err(why) => {
            eprintln!("influxgate-spin configuration: {why}");
            CoreResponse::error(&Error::Internal(format!("configuration: {why}")))
        }
    };
    to_http(resp)
}

/// Read the body, stopping once it exceeds `limit` (the core then answers 413).
async fn read_body(
    body: &mut spin_sdk::wasip3::http_compat::IncomingRequestBody,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Error::InvalidParameter(format!("reading the body: {e:?}")))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() > limit {
                out.truncate(limit + 1);
                break;
            }
        }
    }
    Ok(out)
}

async fn serve(req: Request, s: &Settings) -> CoreResponse {
    let now_ns = now_ns();
    let (parts, mut body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = match read_body(&mut body, s.config.max_body_bytes).await {
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
    // Settings refuse every mode but `upstream` here (`allow_r2` is false).
    let Mode::Upstream(up) = &s.mode else {
        return CoreResponse::error(&Error::Internal("mode r2 is the Worker's".into()));
    };
    // The core's exchange says what to send upstream; this only sends it.
    let (mut ex, mut step) = Exchange::start(&core_req, now_ns, &s.config, up, s.retry_after_secs);
    loop {
        match step {
            Step::Send(out) => {
                let answer = send(out, up.timeout_ms).await;
                step = ex.answer(&core_req, &s.config, answer);
            }
            Step::Respond(r) => return r,
            Step::Local(action) => return respond(action),
        }
    }
}

/// Send `out`; `Err` on a timeout or a connection error.
async fn send(out: Outgoing, timeout_ms: u32) -> Answer {
    let mut builder = http::Request::builder().method(out.method).uri(&out.url);
    for (k, v) in &out.headers {
        builder = builder.header(*k, v);
    }
    let req = builder
        .body(Full::new(Bytes::from(out.body)))
        .map_err(|e| format!("upstream request: {e}"))?;
    let exchange = async {
        let resp = spin_sdk::http::send(req)
            .await
            .map_err(|e| format!("upstream unreachable: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .map_err(|e| format!("reading the upstream answer: {e:?}"))?;
        Ok((status, body))
    };
    let timeout = Duration::from_millis(u64::from(timeout_ms));
    let timer = monotonic_clock::wait_for(timeout.as_nanos() as u64);
    futures::select! {
        answer = exchange.fuse() => answer,
        () = timer.fuse() => Err(format!("upstream timed out after {timeout_ms} ms")),
    }
}

/// The response for an action that needs no upstream.
fn respond(action: Action) -> CoreResponse {
    match action {
        Action::Respond(r) => r,
        // No metrics registry at the edge (an instance may live for one request).
        Action::Metrics => CoreResponse {
            status: 200,
            headers: vec![(
                "Content-Type",
                "text/plain; version=0.0.4; charset=utf-8".to_string(),
            )],
            body: b"# influxgate-spin keeps no metrics\n".to_vec(),
        },
        Action::Playground => CoreResponse::error(&Error::NotFound),
        Action::Write(plan) => plan.failed(&Error::Internal("write without a sink".into())),
        // The internal endpoint of a native server; the edge has no engine.
        Action::QueryArrow { .. } => CoreResponse::error(&Error::NotFound),
        other => CoreResponse::error(&Error::Internal(format!("unsupported action {other:?}"))),
    }
}

fn to_http(resp: CoreResponse) -> http::Response<Full<Bytes>> {
    let mut builder = http::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(*k, v);
    }
    builder
        .body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| {
            let mut r = http::Response::new(Full::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}
