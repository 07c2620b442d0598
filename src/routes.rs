//! Route paths, in one place, and the single `(method, path)` dispatch.

use crate::error::Error;

pub const PING: &str = "/ping";
pub const HEALTH: &str = "/health";
pub const METRICS: &str = "/metrics";
pub const WRITE_V1: &str = "/write";
pub const WRITE_V2: &str = "/api/v2/write";
pub const QUERY_V1: &str = "/query";
pub const QUERY_SQL_V3: &str = "/api/v3/query_sql";
pub const QUERY_INFLUXQL_V3: &str = "/api/v3/query_influxql";
/// influxgate's internal write endpoint for edge hosts: Arrow IPC batches (see `upstream`).
pub const WRITE_ARROW: &str = "/api/v3/internal/write_arrow";
/// influxgate's internal SQL endpoint for edge hosts: the body is SQL, the answer an Arrow IPC
/// stream (see `upstream`).
pub const QUERY_ARROW: &str = "/api/v3/internal/query_arrow";
/// The catalog as JSON for edge hosts, which translate InfluxQL without storage of their own.
pub const SCHEMA: &str = "/api/v3/internal/schema";
/// The browser playground, served by hosts that embed it.
pub const PLAYGROUND: &str = "/";

/// Which InfluxDB API flavour a request speaks: it decides parameter names and response shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V1,
    V2,
    V3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Ping,
    Health,
    Metrics,
    Write(Api),
    /// Batches already parsed at the edge, as an Arrow envelope.
    WriteArrow,
    QueryV1,
    /// SQL translated at the edge, answered as Arrow IPC.
    QueryArrow,
    Schema,
    QuerySqlV3,
    QueryInfluxqlV3,
    Playground,
    /// A CORS preflight for any path.
    Preflight,
}

impl Route {
    /// Whether `?p=` query-string authentication is honoured (v1 `/write` and `/query` only).
    pub fn allows_query_token(self) -> bool {
        matches!(self, Route::Write(Api::V1) | Route::QueryV1)
    }
}

/// The one dispatch: a known path with the wrong method is 405, an unknown path 404.
pub fn route(method: &str, path: &str) -> Result<Route, Error> {
    // Clients (Telegraf's v1 output, some proxies) send a trailing slash.
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let route = match (method, path) {
        ("GET" | "HEAD", PING) => Route::Ping,
        ("GET" | "HEAD", HEALTH) => Route::Health,
        ("GET", METRICS) => Route::Metrics,
        ("POST", WRITE_V1) => Route::Write(Api::V1),
        ("POST", WRITE_V2) => Route::Write(Api::V2),
        ("POST", WRITE_ARROW) => Route::WriteArrow,
        ("POST", QUERY_ARROW) => Route::QueryArrow,
        ("GET", SCHEMA) => Route::Schema,
        ("GET" | "POST", QUERY_V1) => Route::QueryV1,
        ("GET" | "POST", QUERY_SQL_V3) => Route::QuerySqlV3,
        ("GET" | "POST", QUERY_INFLUXQL_V3) => Route::QueryInfluxqlV3,
        ("GET" | "HEAD", p)
            if matches!(p, PLAYGROUND | "/index.html" | "/app.js" | "/style.css")
                || p.starts_with("/pkg/") =>
        {
            Route::Playground
        }
        ("OPTIONS", _) => Route::Preflight,
        (
            _,
            PING | HEALTH | METRICS | WRITE_V1 | WRITE_V2 | WRITE_ARROW | QUERY_ARROW | SCHEMA
            | QUERY_V1 | QUERY_SQL_V3 | QUERY_INFLUXQL_V3 | PLAYGROUND,
        ) => {
            return Err(Error::MethodNotAllowed {
                method: method.to_string(),
                path: path.to_string(),
            });
        }
        _ => return Err(Error::NotFound),
    };
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch() {
        assert_eq!(route("POST", "/write"), Ok(Route::Write(Api::V1)));
        assert_eq!(route("POST", "/write/"), Ok(Route::Write(Api::V1)));
        assert_eq!(route("POST", "/api/v2/write"), Ok(Route::Write(Api::V2)));
        assert_eq!(route("HEAD", "/ping"), Ok(Route::Ping));
        assert_eq!(route("GET", "/"), Ok(Route::Playground));
        assert_eq!(route("GET", "/nope"), Err(Error::NotFound));
        assert!(matches!(
            route("GET", "/write"),
            Err(Error::MethodNotAllowed { .. })
        ));
        assert_eq!(route("GET", SCHEMA), Ok(Route::Schema));
        assert!(matches!(
            route("POST", SCHEMA),
            Err(Error::MethodNotAllowed { .. })
        ));
        assert!(Route::Write(Api::V1).allows_query_token());
        assert!(!Route::Write(Api::V2).allows_query_token());
    }
}
