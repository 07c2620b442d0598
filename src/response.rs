//! Responses the core asks the host to send.

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn no_content() -> Self {
        Response {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".to_string())],
            body: value.to_string().into_bytes(),
        }
    }

    /// The InfluxDB-style error body `{"code","message"[,"line"]}` with its status and, for 429
    /// and 503, `Retry-After`.
    pub fn error(err: &Error) -> Self {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), err.code().into());
        body.insert("message".into(), err.to_string().into());
        if let Some(line) = err.line() {
            body.insert("line".into(), line.into());
        }
        let mut resp = Response::json(err.status(), &serde_json::Value::Object(body));
        if let Some(secs) = err.retry_after() {
            resp.headers.push(("Retry-After", secs.to_string()));
        }
        resp
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl From<&Error> for Response {
    fn from(err: &Error) -> Self {
        Response::error(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let r = Response::error(&Error::Unavailable {
            message: "store down".into(),
            retry_after_secs: 5,
        });
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("5"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["code"], "unavailable");
        assert_eq!(v["message"], "service unavailable: store down");
        assert!(v.get("line").is_none());
    }
}
