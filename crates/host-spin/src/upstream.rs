//! Forwarding an accepted write upstream; the client is answered only once the upstream
//! accepted it. The request building and the answer mapping are pure (tested natively); only
//! [`crate::send`] does I/O.

use influxgate::response::Response as CoreResponse;
use influxgate::upstream::{ARROW_ENVELOPE_CONTENT_TYPE, encode_batches};
use influxgate::write::rows::to_line_protocol;
use influxgate::{Error, WritePlan};

use crate::settings::{Upstream, UpstreamKind};

/// A request to send upstream.
#[derive(Debug)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// How the upstream answered: its status and body, or why there was no answer.
pub type Answer = Result<(u16, Vec<u8>), String>;

/// Percent-encode a query-string value.
pub fn enc(v: &str) -> String {
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

/// A gzip member (RFC 1952) of `data`, fast compression.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 1);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The upstream request for `plan`.
pub fn prepare(up: &Upstream, plan: &WritePlan) -> Result<Outgoing, Error> {
    let mut headers = Vec::new();
    let (url, body) = match up.kind {
        UpstreamKind::Influxgate => {
            headers.push(("Content-Type", ARROW_ENVELOPE_CONTENT_TYPE.to_string()));
            (
                format!(
                    "{}{}?db={}",
                    up.url,
                    influxgate::routes::WRITE_ARROW,
                    enc(&plan.database)
                ),
                encode_batches(&plan.batches)?,
            )
        }
        UpstreamKind::Influxdb => {
            headers.push(("Content-Type", "text/plain; charset=utf-8".to_string()));
            headers.push(("Content-Encoding", "gzip".to_string()));
            (
                format!(
                    "{}{}?bucket={}&precision=ns",
                    up.url,
                    influxgate::routes::WRITE_V2,
                    enc(&plan.database)
                ),
                gzip(to_line_protocol(&plan.batches).as_bytes()),
            )
        }
    };
    if let Some(t) = &up.token {
        headers.push(("Authorization", format!("Token {t}")));
    }
    Ok(Outgoing { url, headers, body })
}

/// The client's response once the upstream answered (or did not).
pub fn outcome(plan: &WritePlan, answer: Answer, retry_after_secs: u32) -> CoreResponse {
    let unavailable = |message: String| {
        plan.failed(&Error::Unavailable {
            message,
            retry_after_secs,
        })
    };
    let resp = match answer {
        Ok((status, _)) if (200..300).contains(&status) => return plan.response.clone(),
        Ok((status, body)) if (400..500).contains(&status) && status != 429 => {
            client_error(status, &body)
        }
        Ok((status, body)) => unavailable(format!(
            "upstream answered {status}: {}",
            upstream_message(&body)
        )),
        Err(why) => unavailable(why),
    };
    with_version_headers(resp, &plan.response)
}

/// The core's `X-Influxdb-*` headers of `prepared`, on `resp`.
fn with_version_headers(mut resp: CoreResponse, prepared: &CoreResponse) -> CoreResponse {
    for (k, v) in &prepared.headers {
        if k.starts_with("X-Influxdb") && resp.header(k).is_none() {
            resp.headers.push((k, v.clone()));
        }
    }
    resp
}

/// The `message` of an InfluxDB JSON error body, else the body itself (cut to 1000 bytes).
pub fn upstream_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<serde_json::Value>(&text)
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

/// An upstream 4xx as the client's error: the same status where InfluxDB has a code for it,
/// else 400, with the upstream's message.
fn client_error(status: u16, body: &[u8]) -> CoreResponse {
    let (status, code) = match status {
        401 => (401, "unauthorized"),
        403 => (403, "forbidden"),
        404 => (404, "not found"),
        405 => (405, "method not allowed"),
        413 => (413, "request too large"),
        422 => (422, "unprocessable entity"),
        _ => (400, "invalid"),
    };
    CoreResponse::json(
        status,
        &serde_json::json!({
            "code": code,
            "message": format!("upstream rejected the write: {}", upstream_message(body)),
        }),
    )
}

/// The upstream request for one SQL job of a query (influxgate upstreams only).
pub fn prepare_query(up: &Upstream, database: &str, sql: &str) -> Result<Outgoing, Error> {
    if up.kind != UpstreamKind::Influxgate {
        return Err(Error::UnprocessableEntity(
            "queries at the edge need an influxgate upstream (UPSTREAM_KIND=influxgate)".into(),
        ));
    }
    let mut headers = vec![("Content-Type", "application/sql".to_string())];
    if let Some(t) = &up.token {
        headers.push(("Authorization", format!("Token {t}")));
    }
    Ok(Outgoing {
        url: format!(
            "{}{}?db={}",
            up.url,
            influxgate::routes::QUERY_ARROW,
            enc(database)
        ),
        headers,
        body: sql.as_bytes().to_vec(),
    })
}

/// One SQL job's answer: its rows, a statement error (upstream 4xx), or the 503 that ends the
/// whole query.
pub fn query_outcome(
    answer: Answer,
    retry_after_secs: u32,
) -> Result<influxgate::query::run::JobResult, CoreResponse> {
    match answer {
        Ok((status, body)) if (200..300).contains(&status) => {
            Ok(influxgate::upstream::decode_ipc(&body))
        }
        Ok((status, body)) if (400..500).contains(&status) && status != 429 => {
            Ok(Err(upstream_message(&body)))
        }
        Ok((status, body)) => Err(CoreResponse::error(&Error::Unavailable {
            message: format!("upstream answered {status}: {}", upstream_message(&body)),
            retry_after_secs,
        })),
        Err(message) => Err(CoreResponse::error(&Error::Unavailable {
            message,
            retry_after_secs,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use influxgate::schema::EmptySchema;
    use influxgate::{Action, Config, Request, handle};

    fn plan() -> WritePlan {
        let config = Config {
            auth_disabled: true,
            ..Config::default()
        };
        let req = Request {
            method: "POST",
            path: "/write",
            query: "db=my-db&rp=week&precision=s",
            headers: &[],
            body: b"cpu,host=a usage=1 10\n",
        };
        match handle(&req, 0, &config, &EmptySchema) {
            Action::Write(p) => p,
            other => panic!("{other:?}"),
        }
    }

    fn up(kind: UpstreamKind) -> Upstream {
        Upstream {
            kind,
            url: "http://up:1".into(),
            token: Some("tok".into()),
            timeout_ms: 100,
        }
    }

    #[test]
    fn requests_for_both_kinds() {
        let p = plan();
        let o = prepare(&up(UpstreamKind::Influxgate), &p).unwrap();
        assert_eq!(
            o.url,
            "http://up:1/api/v3/internal/write_arrow?db=my-db%2Fweek"
        );
        assert!(o.body.starts_with(b"IGW1"));
        assert!(o.headers.contains(&("Authorization", "Token tok".into())));
        let o = prepare(&up(UpstreamKind::Influxdb), &p).unwrap();
        assert_eq!(
            o.url,
            "http://up:1/api/v2/write?bucket=my-db%2Fweek&precision=ns"
        );
        let text = influxgate::write::gzip::gunzip(&o.body, 1 << 20).unwrap();
        assert_eq!(enc("a b/c~"), "a%20b%2Fc~");
        let q = prepare_query(&up(UpstreamKind::Influxgate), "db/rp", "SELECT 1").unwrap();
        assert_eq!(q.url, "http://up:1/api/v3/internal/query_arrow?db=db%2Frp");
        assert!(prepare_query(&up(UpstreamKind::Influxdb), "db", "SELECT 1").is_err());
        assert_eq!(text, b"cpu,host=a usage=1.0 10000000000\n");
    }

    #[test]
    fn answers() {
        let p = plan();
        assert_eq!(outcome(&p, Ok((204, vec![])), 5).status, 204);
        let r = outcome(&p, Ok((503, b"{\"message\":\"busy\"}".to_vec())), 5);
        assert_eq!((r.status, r.header("Retry-After")), (503, Some("5")));
        assert!(String::from_utf8_lossy(&r.body).contains("busy"));
        let r = outcome(&p, Err("connection refused".into()), 3);
        assert_eq!((r.status, r.header("Retry-After")), (503, Some("3")));
        assert!(r.header("X-Influxdb-Version").is_some());
        let r = outcome(&p, Ok((429, vec![])), 5);
        assert_eq!(r.status, 503);
        let r = outcome(
            &p,
            Ok((401, b"{\"message\":\"unauthorized access\"}".to_vec())),
            5,
        );
        assert_eq!(r.status, 401);
        let r = outcome(&p, Ok((409, b"conflict".to_vec())), 5);
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["message"], "upstream rejected the write: conflict");
        assert!(matches!(query_outcome(Ok((400, b"bad".to_vec())), 5), Ok(Err(m)) if m == "bad"));
        let r = query_outcome(Err("down".into()), 5).unwrap_err();
        assert_eq!((r.status, r.header("Retry-After")), (503, Some("5")));
    }
}
