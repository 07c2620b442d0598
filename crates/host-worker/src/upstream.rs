//! Mode `upstream`: forward an accepted write and answer only once the upstream accepted it.

use std::time::Duration;

use futures_util::future::{Either, select};
use influxgate::response::Response as CoreResponse;
use influxgate::upstream::{ARROW_ENVELOPE_CONTENT_TYPE, encode_batches};
use influxgate::write::rows::to_line_protocol;
use influxgate::{Error, WritePlan};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::settings::{Upstream, UpstreamKind};

/// Percent-encode a query-string value.
pub(crate) fn enc(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A gzip member (RFC 1952) of `data`, fast compression: the Worker has little CPU to spare.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 1);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Forward `plan` and return the response for the client.
pub async fn forward(up: &Upstream, plan: &WritePlan, retry_after_secs: u32) -> CoreResponse {
    let unavailable = |message: String| {
        plan.failed(&Error::Unavailable {
            message,
            retry_after_secs,
        })
    };
    let (url, body, content_type, gzipped) = match up.kind {
        UpstreamKind::Influxgate => match encode_batches(&plan.batches) {
            Ok(b) => (
                format!(
                    "{}{}?db={}",
                    up.url,
                    influxgate::routes::WRITE_ARROW,
                    enc(&plan.database)
                ),
                b,
                ARROW_ENVELOPE_CONTENT_TYPE,
                false,
            ),
            Err(e) => return plan.failed(&e),
        },
        UpstreamKind::Influxdb => (
            format!(
                "{}{}?bucket={}&precision=ns",
                up.url,
                influxgate::routes::WRITE_V2,
                enc(&plan.database)
            ),
            gzip(to_line_protocol(&plan.batches).as_bytes()),
            "text/plain; charset=utf-8",
            true,
        ),
    };
    match send(up, &url, body, content_type, gzipped).await {
        Ok((status, _)) if (200..300).contains(&status) => plan.response.clone(),
        Ok((status, body)) if (400..500).contains(&status) && status != 429 => {
            client_error(status, &String::from_utf8_lossy(&body), &plan.response)
        }
        Ok((status, body)) => unavailable(format!(
            "upstream answered {status}: {}",
            upstream_message(&String::from_utf8_lossy(&body))
        )),
        Err(why) => unavailable(why),
    }
}

/// POST `body` to `url`; `Err` on a timeout or a connection error.
pub(crate) async fn send(
    up: &Upstream,
    url: &str,
    body: Vec<u8>,
    content_type: &str,
    gzipped: bool,
) -> Result<(u16, Vec<u8>), String> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| format!("header {k}: {e}"));
    set("Content-Type", content_type)?;
    if gzipped {
        set("Content-Encoding", "gzip")?;
    }
    if let Some(t) = &up.token {
        set("Authorization", &format!("Token {t}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    let req = Request::new_with_init(url, &init).map_err(|e| format!("upstream request: {e}"))?;
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
    let timeout = Delay::from(Duration::from_millis(u64::from(up.timeout_ms)));
    match select(sent, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("upstream timed out after {} ms", up.timeout_ms))
        }
    }
}

/// The `message` of an InfluxDB JSON error body, else the body itself (cut).
pub(crate) fn upstream_message(text: &str) -> String {
    let msg = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.trim().to_string());
    let mut end = msg.len().min(1000);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    msg[..end].to_string()
}

/// An upstream 4xx as the client's error: same status, InfluxDB JSON with the upstream's
/// message, and the core's version headers.
fn client_error(status: u16, text: &str, prepared: &CoreResponse) -> CoreResponse {
    let code = match status {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        405 => "method not allowed",
        413 => "request too large",
        422 => "unprocessable entity",
        _ => "invalid",
    };
    let status = if matches!(status, 401 | 403 | 404 | 405 | 413 | 422) {
        status
    } else {
        400
    };
    let mut resp = CoreResponse::json(
        status,
        &serde_json::json!({
            "code": code,
            "message": format!("upstream rejected the write: {}", upstream_message(text)),
        }),
    );
    for (k, v) in &prepared.headers {
        if k.starts_with("X-Influxdb") {
            resp.headers.push((k, v.clone()));
        }
    }
    resp
}
