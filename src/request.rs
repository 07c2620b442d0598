//! The request as the core sees it: borrowed from whatever the host received.

use std::borrow::Cow;

/// A request: method, path, raw query string, headers and the (already size-capped) body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string without the `?`.
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The decoded query-string parameters. For a form POST (`/query`), hosts may append the
    /// form body's parameters with [`Params::extend_form`].
    pub fn params(&self) -> Params<'a> {
        Params::parse(self.query)
    }
}

/// Decoded `key=value` parameters; the first occurrence of a key wins.
#[derive(Debug, Clone, Default)]
pub struct Params<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Params<'a> {
    pub fn parse(query: &'a str) -> Self {
        Params {
            pairs: form_urlencoded::parse(query.as_bytes()).collect(),
        }
    }

    pub fn extend_form(&mut self, body: &'a [u8]) {
        self.pairs.extend(form_urlencoded::parse(body));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_decode_and_first_wins() {
        let p = Params::parse("db=my%20db&precision=s&db=other&p=a%2Bb&q=SELECT+1");
        assert_eq!(p.get("db"), Some("my db"));
        assert_eq!(p.get("p"), Some("a+b"));
        assert_eq!(p.get("q"), Some("SELECT 1"));
        assert_eq!(p.get("rp"), None);
    }

    #[test]
    fn headers_are_case_insensitive() {
        let h = [("content-encoding", "gzip")];
        let r = Request {
            method: "POST",
            path: "/write",
            query: "",
            headers: &h,
            body: b"",
        };
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert_eq!(r.header("Authorization"), None);
    }
}
