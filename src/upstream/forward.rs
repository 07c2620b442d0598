//! What the edge hosts (Worker, Spin component) send upstream and what the answers mean, defined
//! once. Pure: a host only carries out an [`Outgoing`] request and hands back the [`Answer`].
//!
//! - writes: [`Upstream::write_request`], then [`write_outcome`]; the client is answered only
//!   once the upstream accepted the batch;
//! - InfluxQL at the edge: [`Upstream::schema_request`] / [`schema_outcome`] give the translator
//!   the upstream's catalog, then each SQL job goes out as [`Upstream::query_request`] and comes
//!   back through [`query_outcome`].

use crate::error::Error;
use crate::handler::WritePlan;
use crate::query::run::JobResult;
use crate::query::translate::JsonSchema;
use crate::response::Response;
use crate::routes::{QUERY_ARROW, SCHEMA, WRITE_ARROW, WRITE_V2};
use crate::write::rows::to_line_protocol;

use super::{ARROW_ENVELOPE_CONTENT_TYPE, decode_ipc, encode_batches};

/// Where an edge host forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// An influxgate native server: Arrow envelope on the internal endpoints, queries too.
    Influxgate,
    /// Any InfluxDB v2/v3-compatible write API: gzip line protocol at ns precision; no queries.
    Influxdb,
}

/// An upstream and how to reach it.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub kind: UpstreamKind,
    /// Base URL without a trailing `/`.
    pub url: String,
    /// Sent as `Authorization: Token …`.
    pub token: Option<String>,
    pub timeout_ms: u32,
}

/// A request for the host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// How the upstream answered: its status and body, or why there was no answer (connection
/// error, timeout).
pub type Answer = Result<(u16, Vec<u8>), String>;

/// Percent-encode a query-string value.
pub fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// `data` as one gzip member (RFC 1952), fast compression: edge CPU is scarce.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 1);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

impl Upstream {
    fn outgoing(
        &self,
        method: &'static str,
        path: &str,
        query: String,
        mut headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Outgoing {
        if let Some(t) = &self.token {
            headers.push(("Authorization", format!("Token {t}")));
        }
        Outgoing {
            method,
            url: format!("{}{path}?{query}", self.url),
            headers,
            body,
        }
    }

    /// Whether this upstream runs queries: an InfluxDB upstream only takes writes, so a query
    /// at the edge is refused (422) before anything is translated or sent.
    pub fn supports_queries(&self) -> Result<(), Error> {
        match self.kind {
            UpstreamKind::Influxgate => Ok(()),
            UpstreamKind::Influxdb => Err(Error::UnprocessableEntity(
                "queries at the edge need an influxgate upstream (UPSTREAM_KIND=influxgate)".into(),
            )),
        }
    }

    /// The upstream request carrying an accepted write.
    pub fn write_request(&self, plan: &WritePlan) -> Result<Outgoing, Error> {
        let db = percent_encode(&plan.database);
        Ok(match self.kind {
            UpstreamKind::Influxgate => self.outgoing(
                "POST",
                WRITE_ARROW,
                format!("db={db}"),
                vec![("Content-Type", ARROW_ENVELOPE_CONTENT_TYPE.to_string())],
                encode_batches(&plan.batches)?,
            ),
            UpstreamKind::Influxdb => self.outgoing(
                "POST",
                WRITE_V2,
                format!("bucket={db}&precision=ns"),
                vec![
                    ("Content-Type", "text/plain; charset=utf-8".to_string()),
                    ("Content-Encoding", "gzip".to_string()),
                ],
                gzip(to_line_protocol(&plan.batches).as_bytes()),
            ),
        })
    }

    /// The upstream request for one SQL job of a query.
    pub fn query_request(&self, database: &str, sql: &str) -> Result<Outgoing, Error> {
        self.supports_queries()?;
        Ok(self.outgoing(
            "POST",
            QUERY_ARROW,
            format!("db={}", percent_encode(database)),
            vec![("Content-Type", "application/sql".to_string())],
            sql.as_bytes().to_vec(),
        ))
    }

    /// The request for the upstream's catalog (every database the upstream token may read).
    pub fn schema_request(&self) -> Result<Outgoing, Error> {
        self.supports_queries()?;
        Ok(self.outgoing("GET", SCHEMA, String::new(), vec![], vec![]))
    }
}

/// The `message` of an InfluxDB JSON error body, else the body itself, cut to 1,000 bytes.
pub fn upstream_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string());
    let mut end = msg.len().min(1000);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    msg[..end].to_string()
}

/// 5xx, 429 (the upstream's buffer is full) and no answer at all: the client retries later.
fn unavailable(answer: &Answer, retry_after_secs: u32) -> Option<Error> {
    let message = match answer {
        Ok((status, body)) if *status >= 500 || *status == 429 || *status < 200 => {
            format!("upstream answered {status}: {}", upstream_message(body))
        }
        Ok(_) => return None,
        Err(why) => why.clone(),
    };
    Some(Error::Unavailable {
        message,
        retry_after_secs,
    })
}

/// The client's response once the upstream answered a forwarded write (or did not).
pub fn write_outcome(plan: &WritePlan, answer: Answer, retry_after_secs: u32) -> Response {
    let err = match (&answer, unavailable(&answer, retry_after_secs)) {
        (_, Some(e)) => e,
        (Ok((status, _)), None) if (200..300).contains(status) => return plan.response.clone(),
        (Ok((status, body)), None) => Error::UpstreamRejected {
            status: *status,
            message: upstream_message(body),
        },
        (Err(_), None) => unreachable!("no answer is unavailable"),
    };
    // Keep the core's `X-Influxdb-*` headers on the error too.
    let mut resp = plan.failed(&err);
    for (k, v) in &plan.response.headers {
        if k.starts_with("X-Influxdb") && resp.header(k).is_none() {
            resp.headers.push((k, v.clone()));
        }
    }
    resp
}

/// One SQL job's answer: its rows, a statement error (an upstream 4xx, shown in
/// `results[i].error` as InfluxDB does), or the 503 that ends the whole query.
pub fn query_outcome(answer: Answer, retry_after_secs: u32) -> Result<JobResult, Response> {
    if let Some(e) = unavailable(&answer, retry_after_secs) {
        return Err(Response::error(&e));
    }
    match answer {
        Ok((status, body)) if (200..300).contains(&status) => Ok(decode_ipc(&body)),
        Ok((_, body)) => Ok(Err(upstream_message(&body))),
        Err(_) => unreachable!("no answer is unavailable"),
    }
}

/// The upstream's catalog, for the translator. Any failure is a 503: without the schema the
/// query cannot be planned, and the fault is the upstream's or the edge's configuration.
pub fn schema_outcome(answer: Answer, retry_after_secs: u32) -> Result<JsonSchema, Response> {
    let fail = |message: String| {
        Response::error(&Error::Unavailable {
            message,
            retry_after_secs,
        })
    };
    if let Some(e) = unavailable(&answer, retry_after_secs) {
        return Err(Response::error(&e));
    }
    match answer {
        Ok((200, body)) => {
            let text = String::from_utf8_lossy(&body);
            JsonSchema::from_json(&text).map_err(|e| fail(format!("upstream schema: {e}")))
        }
        Ok((status, body)) => Err(fail(format!(
            "upstream refused the schema request ({status}): {}",
            upstream_message(&body)
        ))),
        Err(_) => unreachable!("no answer is unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::translate::QuerySchema;
    use crate::schema::{EmptySchema, FieldType};
    use crate::{Action, Config, Request, handle};

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
        let o = up(UpstreamKind::Influxgate).write_request(&p).unwrap();
        assert_eq!(
            o.url,
            "http://up:1/api/v3/internal/write_arrow?db=my-db%2Fweek"
        );
        assert_eq!(o.method, "POST");
        assert!(o.body.starts_with(b"IGW1"));
        assert!(o.headers.contains(&("Authorization", "Token tok".into())));
        let o = up(UpstreamKind::Influxdb).write_request(&p).unwrap();
        assert_eq!(
            o.url,
            "http://up:1/api/v2/write?bucket=my-db%2Fweek&precision=ns"
        );
        let text = crate::write::gzip::gunzip(&o.body, 1 << 20).unwrap();
        assert_eq!(text, b"cpu,host=a usage=1.0 10000000000\n");
        assert_eq!(percent_encode("a b/c~é"), "a%20b%2Fc~%C3%A9");
        let q = up(UpstreamKind::Influxgate)
            .query_request("db/rp", "SELECT 1")
            .unwrap();
        assert_eq!(q.url, "http://up:1/api/v3/internal/query_arrow?db=db%2Frp");
        assert_eq!(q.body, b"SELECT 1");
        assert!(
            up(UpstreamKind::Influxdb)
                .query_request("db", "SELECT 1")
                .is_err()
        );
        let s = up(UpstreamKind::Influxgate).schema_request().unwrap();
        assert_eq!(
            (s.method, s.url.as_str()),
            ("GET", "http://up:1/api/v3/internal/schema?")
        );
        assert!(up(UpstreamKind::Influxdb).schema_request().is_err());
    }

    /// What an edge host sends is what a native server's core accepts, `db/rp` included.
    #[test]
    fn forwarded_write_is_accepted_upstream() {
        let p = plan();
        let o = up(UpstreamKind::Influxgate).write_request(&p).unwrap();
        let (path, query) = o.url["http://up:1".len()..].split_once('?').unwrap();
        let mut config = Config::default();
        config.tokens.add_admin("tok").unwrap();
        let req = Request {
            method: o.method,
            path,
            query,
            headers: &[
                ("Authorization", "Token tok"),
                ("Content-Type", ARROW_ENVELOPE_CONTENT_TYPE),
            ],
            body: &o.body,
        };
        match handle(&req, 0, &config, &EmptySchema) {
            Action::Write(w) => {
                assert_eq!(w.database, "my-db/week");
                assert_eq!(w.accepted, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn write_answers() {
        let p = plan();
        assert_eq!(write_outcome(&p, Ok((204, vec![])), 5).status, 204);
        let r = write_outcome(&p, Ok((503, b"{\"message\":\"busy\"}".to_vec())), 5);
        assert_eq!((r.status, r.header("Retry-After")), (503, Some("5")));
        assert!(String::from_utf8_lossy(&r.body).contains("busy"));
        let r = write_outcome(&p, Err("connection refused".into()), 3);
        assert_eq!((r.status, r.header("Retry-After")), (503, Some("3")));
        assert!(r.header("X-Influxdb-Version").is_some());
        assert_eq!(write_outcome(&p, Ok((429, vec![])), 5).status, 503);
        let r = write_outcome(
            &p,
            Ok((401, b"{\"message\":\"unauthorized access\"}".to_vec())),
            5,
        );
        assert_eq!(r.status, 401);
        let r = write_outcome(&p, Ok((409, b"conflict".to_vec())), 5);
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["message"], "upstream rejected the write: conflict");
        assert_eq!(v["code"], "invalid");
    }

    #[test]
    fn query_and_schema_answers() {
        assert!(matches!(query_outcome(Ok((400, b"bad".to_vec())), 5), Ok(Err(m)) if m == "bad"));
        let r = query_outcome(Err("down".into()), 5).unwrap_err();
        assert_eq!((r.status, r.header("Retry-After")), (503, Some("5")));
        let doc = br#"{"databases":{"db":{"cpu":{"tags":["host"],"fields":{"usage":"float"}}}}}"#;
        let s = schema_outcome(Ok((200, doc.to_vec())), 5).unwrap();
        assert_eq!(s.measurements("db"), vec!["cpu".to_string()]);
        assert_eq!(
            s.field_keys("db", "cpu"),
            vec![("usage".to_string(), FieldType::Float)]
        );
        let r = schema_outcome(Ok((401, b"{\"message\":\"no\"}".to_vec())), 5).unwrap_err();
        assert_eq!(r.status, 503);
        assert!(String::from_utf8_lossy(&r.body).contains("(401): no"));
        assert_eq!(
            schema_outcome(Ok((200, b"[".to_vec())), 5)
                .unwrap_err()
                .status,
            503
        );
        assert_eq!(
            schema_outcome(Err("down".into()), 5).unwrap_err().status,
            503
        );
    }
}
