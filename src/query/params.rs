//! `/query` (v1) and `/api/v3/query_*` parameters.

use crate::error::{Error, quote};
use crate::request::{Params, Request};
use crate::write::params::database_name;

/// How a v1 response is encoded, from the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Format {
    Json,
    Csv,
    MsgPack,
}

/// `epoch`: integer times in this unit instead of RFC3339 strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Epoch {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ns" | "n" => Epoch::Nanoseconds,
            "u" | "µ" | "us" => Epoch::Microseconds,
            "ms" => Epoch::Milliseconds,
            "s" => Epoch::Seconds,
            "m" => Epoch::Minutes,
            "h" => Epoch::Hours,
            _ => return None,
        })
    }

    /// Nanoseconds per unit.
    pub fn divisor(self) -> i64 {
        match self {
            Epoch::Nanoseconds => 1,
            Epoch::Microseconds => 1_000,
            Epoch::Milliseconds => 1_000_000,
            Epoch::Seconds => 1_000_000_000,
            Epoch::Minutes => 60_000_000_000,
            Epoch::Hours => 3_600_000_000_000,
        }
    }
}

/// A v1 `/query` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1QueryParams {
    pub query: String,
    /// `db`, may be empty: statements may name their database (`FROM db.rp.m`, `SHOW ... ON db`).
    pub db: String,
    pub rp: Option<String>,
    pub epoch: Option<Epoch>,
    pub chunked: bool,
    /// Rows per chunk when `chunked`; InfluxDB's default is 10,000.
    pub chunk_size: usize,
    pub format: V1Format,
    /// `pretty=true`: indented JSON.
    pub pretty: bool,
}

/// InfluxDB 1.x's default chunk size.
pub const DEFAULT_CHUNK_SIZE: usize = 10_000;

/// The parameters of a query request: the query string plus, for a form POST, the body; a POST
/// with `Content-Type: application/vnd.influxql` carries the query itself as its body.
pub fn request_params<'a>(req: &Request<'a>) -> (Params<'a>, Option<&'a str>) {
    let mut params = req.params();
    let content_type = req.header("Content-Type").unwrap_or("");
    let mut raw_query = None;
    if req.method == "POST" {
        if content_type.starts_with("application/vnd.influxql") {
            raw_query = std::str::from_utf8(req.body).ok();
        } else if content_type.starts_with("application/x-www-form-urlencoded")
            || content_type.is_empty()
        {
            params.extend_form(req.body);
        }
    }
    (params, raw_query)
}

impl V1QueryParams {
    pub fn parse(req: &Request<'_>) -> Result<Self, Error> {
        let (params, raw) = request_params(req);
        let query = match (params.get("q"), raw) {
            (Some(q), _) if !q.trim().is_empty() => q.to_string(),
            (_, Some(q)) if !q.trim().is_empty() => q.to_string(),
            // InfluxDB 1.x: `missing required parameter "q"`.
            _ => {
                return Err(Error::InvalidParameter(
                    "missing required parameter \"q\"".into(),
                ));
            }
        };
        let epoch = match params.get("epoch") {
            None | Some("") => None,
            Some(e) => Some(Epoch::parse(e).ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "invalid epoch {}: expected one of ns, u, µ, ms, s, m, h",
                    quote(e)
                ))
            })?),
        };
        let chunked = matches!(params.get("chunked"), Some("true") | Some("1"));
        let chunk_size = match params.get("chunk_size") {
            None | Some("") => DEFAULT_CHUNK_SIZE,
            Some(n) => n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "invalid chunk_size {}: expected a positive integer",
                    quote(n)
                ))
            })?,
        };
        let db = params.get("db").unwrap_or("").to_string();
        if !db.is_empty() {
            database_name(&db, None)?;
        }
        let rp = params
            .get("rp")
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let accept = req.header("Accept").unwrap_or("");
        let format = if accept.contains("application/x-msgpack") {
            V1Format::MsgPack
        } else if accept.contains("application/csv") || accept.contains("text/csv") {
            V1Format::Csv
        } else {
            V1Format::Json
        };
        Ok(V1QueryParams {
            query,
            db,
            rp,
            epoch,
            chunked,
            chunk_size,
            format,
            pretty: params.get("pretty") == Some("true"),
        })
    }

    /// The storage database the request's `db` and `rp` name (`db/rp` for a non-default rp).
    pub fn database(&self) -> Result<String, Error> {
        database_name(&self.db, self.rp.as_deref())
    }
}

/// `format` of the v3 query API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Format {
    Json,
    JsonLines,
    Csv,
    Pretty,
    Parquet,
}

/// A `/api/v3/query_sql` or `/api/v3/query_influxql` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3QueryParams {
    pub db: String,
    pub query: String,
    pub format: V3Format,
}

impl V3QueryParams {
    /// From the query string, a form body, or a JSON body `{"db", "q", "format"}`.
    pub fn parse(req: &Request<'_>) -> Result<Self, Error> {
        let json: Option<serde_json::Value> = if req.method == "POST"
            && req
                .header("Content-Type")
                .is_some_and(|c| c.starts_with("application/json"))
        {
            Some(serde_json::from_slice(req.body).map_err(|e| {
                Error::InvalidParameter(format!("request body is not valid JSON: {e}"))
            })?)
        } else {
            None
        };
        let (params, _) = request_params(req);
        let get = |key: &str| -> Option<String> {
            json.as_ref()
                .and_then(|j| j.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .or_else(|| params.get(key).map(str::to_string))
        };
        let db = get("db")
            .filter(|d| !d.is_empty())
            .ok_or_else(|| Error::InvalidParameter("missing required parameter \"db\"".into()))?;
        let query = get("q")
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| Error::InvalidParameter("missing required parameter \"q\"".into()))?;
        let format = match get("format").as_deref() {
            None | Some("json") => V3Format::Json,
            Some("jsonl") => V3Format::JsonLines,
            Some("csv") => V3Format::Csv,
            Some("pretty") => V3Format::Pretty,
            Some("parquet") => V3Format::Parquet,
            Some(other) => {
                return Err(Error::InvalidParameter(format!(
                    "invalid format {}: expected one of json, jsonl, csv, pretty, parquet",
                    quote(other)
                )));
            }
        };
        Ok(V3QueryParams { db, query, format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        query: &'a str,
        headers: &'a [(&'a str, &'a str)],
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            method,
            path: "/query",
            query,
            headers,
            body,
        }
    }

    #[test]
    fn v1_get_and_form_post() {
        let p = V1QueryParams::parse(&req(
            "GET",
            "db=telegraf&q=SHOW+DATABASES&epoch=ms&chunked=true&chunk_size=5",
            &[],
            b"",
        ))
        .unwrap();
        assert_eq!(p.query, "SHOW DATABASES");
        assert_eq!(p.epoch, Some(Epoch::Milliseconds));
        assert!(p.chunked);
        assert_eq!(p.chunk_size, 5);
        assert_eq!(p.format, V1Format::Json);
        let h = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/x-msgpack"),
        ];
        let p =
            V1QueryParams::parse(&req("POST", "db=d", &h, b"q=SELECT+*+FROM+cpu&rp=week")).unwrap();
        assert_eq!(p.query, "SELECT * FROM cpu");
        assert_eq!(p.database().unwrap(), "d/week");
        assert_eq!(p.format, V1Format::MsgPack);
        let h = [("Content-Type", "application/vnd.influxql")];
        let p = V1QueryParams::parse(&req("POST", "db=d", &h, b"SELECT 1")).unwrap();
        assert_eq!(p.query, "SELECT 1");
    }

    #[test]
    fn v1_errors() {
        let e = V1QueryParams::parse(&req("GET", "db=d", &[], b"")).unwrap_err();
        assert_eq!(e.to_string(), "missing required parameter \"q\"");
        let e = V1QueryParams::parse(&req("GET", "q=x&epoch=y", &[], b"")).unwrap_err();
        assert!(e.to_string().contains("invalid epoch \"y\""));
        let e = V1QueryParams::parse(&req("GET", "q=x&chunk_size=0", &[], b"")).unwrap_err();
        assert!(e.to_string().contains("chunk_size"));
    }

    #[test]
    fn v3_params() {
        let p = V3QueryParams::parse(&req("GET", "db=d&q=select+1&format=csv", &[], b"")).unwrap();
        assert_eq!((p.db.as_str(), p.format), ("d", V3Format::Csv));
        let h = [("Content-Type", "application/json")];
        let p = V3QueryParams::parse(&req(
            "POST",
            "",
            &h,
            br#"{"db":"x","q":"select 2","format":"jsonl"}"#,
        ))
        .unwrap();
        assert_eq!(
            (p.query.as_str(), p.format),
            ("select 2", V3Format::JsonLines)
        );
        assert!(V3QueryParams::parse(&req("GET", "q=1", &[], b"")).is_err());
        assert!(V3QueryParams::parse(&req("GET", "db=d&q=1&format=xml", &[], b"")).is_err());
    }
}
