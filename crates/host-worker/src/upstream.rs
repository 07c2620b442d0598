//! Sending what the core prepared ([`influxgate::upstream::forward`]) with the Worker's `fetch`.

use std::time::Duration;

use futures_util::future::{Either, select};
use influxgate::upstream::forward::{Answer, Outgoing};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// Send `out`; `Err` on a timeout or a connection error.
pub async fn send(out: Outgoing, timeout_ms: u32) -> Answer {
    let headers = Headers::new();
    for (k, v) in &out.headers {
        headers.set(k, v).map_err(|e| format!("header {k}: {e}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(if out.method == "GET" {
        Method::Get
    } else {
        Method::Post
    })
    .with_headers(headers);
    if !out.body.is_empty() {
        init.with_body(Some(js_sys::Uint8Array::from(out.body.as_slice()).into()));
    }
    let req =
        Request::new_with_init(&out.url, &init).map_err(|e| format!("upstream request: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(req);
    let sent = Box::pin(async {
        let mut resp = fetch
            .send_with_signal(&signal)
            .await
            .map_err(|e| format!("upstream unreachable: {e}"))?;
        let status = resp.status_code();
        let body = resp.bytes().await.unwrap_or_default();
        Ok((status, body))
    });
    let timeout = Delay::from(Duration::from_millis(u64::from(timeout_ms)));
    match select(sent, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("upstream timed out after {timeout_ms} ms"))
        }
    }
}
