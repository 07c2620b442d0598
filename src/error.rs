//! The core's one error type. [`Error::status`] is the only place an HTTP status is chosen.

use crate::routes::Api;

/// Longest quoted value in a message; longer values are cut and end in `…`.
const QUOTE_MAX: usize = 64;

/// Quote a user-supplied value for an error message, cut short on a char boundary.
pub fn quote(value: &str) -> String {
    cut(value, QUOTE_MAX)
}

/// `value` cut to at most `max` bytes (on a char boundary), with `…` when cut, in double quotes.
pub fn cut(value: &str, max: usize) -> String {
    if value.len() <= max {
        return format!("{value:?}");
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", &value[..end])
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No credentials, or a token nobody issued.
    #[error("unauthorized access")]
    Unauthorized,
    /// An `Authorization` header we cannot read.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(String),
    /// A valid token without the permission the request needs.
    #[error(
        "token does not have {action} permission on database {}",
        quote(database)
    )]
    Forbidden {
        action: &'static str,
        database: String,
    },
    /// A bad query-string parameter; the message follows the seed documents' wording.
    #[error("{0}")]
    InvalidParameter(String),
    #[error("unsupported Content-Encoding {}: expected gzip or identity", quote(.0))]
    UnsupportedEncoding(String),
    #[error("invalid gzip body: {0}")]
    InvalidGzip(String),
    #[error("request body is not valid UTF-8: invalid byte at line {line}, byte offset {offset}")]
    InvalidUtf8 { line: usize, offset: usize },
    /// InfluxDB 2.x answers an empty write with this message.
    #[error("writing requires points")]
    EmptyBody,
    #[error("request body too large: the limit is {limit} bytes{}", if *.inflated { " after decompression" } else { "" })]
    TooLarge { limit: usize, inflated: bool },
    /// Some or all lines of a write were rejected.
    #[error("{message}")]
    WriteRejected {
        api: Api,
        partial: bool,
        first_line: usize,
        message: String,
    },
    #[error("path not found")]
    NotFound,
    #[error("method {} not allowed on {}", quote(method), quote(path))]
    MethodNotAllowed { method: String, path: String },
    /// The host's buffer is full; the client should retry later.
    #[error("write buffer is full, retry after {retry_after_secs}s")]
    Overloaded { retry_after_secs: u32 },
    /// Storage or an upstream is failing; acknowledged data is safe, new data is not taken.
    #[error("service unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after_secs: u32,
    },
    /// An edge host's upstream refused a forwarded write with this 4xx status.
    #[error("upstream rejected the write: {message}")]
    UpstreamRejected { status: u16, message: String },
    /// A query the client sent that we cannot run.
    #[error("{0}")]
    UnprocessableEntity(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The InfluxDB v2 error code, stable across releases.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::MalformedAuthorization(_)
            | Error::InvalidParameter(_)
            | Error::UnsupportedEncoding(_)
            | Error::InvalidGzip(_)
            | Error::InvalidUtf8 { .. }
            | Error::EmptyBody
            | Error::WriteRejected { .. } => "invalid",
            Error::TooLarge { .. } => "request too large",
            Error::NotFound => "not found",
            Error::MethodNotAllowed { .. } => "method not allowed",
            Error::Overloaded { .. } => "too many requests",
            Error::Unavailable { .. } => "unavailable",
            Error::UnprocessableEntity(_) => "unprocessable entity",
            Error::Internal(_) => "internal error",
            Error::UpstreamRejected { status, .. } => match status {
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not found",
                405 => "method not allowed",
                413 => "request too large",
                422 => "unprocessable entity",
                _ => "invalid",
            },
        }
    }

    /// The HTTP status for this error: the only status mapping in the core.
    pub fn status(&self) -> u16 {
        match self {
            // InfluxDB v1 answers a partial write with 201 and the rejects in the body.
            Error::WriteRejected {
                api: Api::V1,
                partial: true,
                ..
            } => 201,
            Error::Unauthorized => 401,
            Error::Forbidden { .. } => 403,
            Error::NotFound => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::TooLarge { .. } => 413,
            Error::UnprocessableEntity(_) => 422,
            Error::Overloaded { .. } => 429,
            Error::Internal(_) => 500,
            Error::Unavailable { .. } => 503,
            // The upstream's own status where InfluxDB has a code for it, else 400.
            Error::UpstreamRejected { status, .. } => match status {
                401 | 403 | 404 | 405 | 413 | 422 => *status,
                _ => 400,
            },
            Error::MalformedAuthorization(_)
            | Error::InvalidParameter(_)
            | Error::UnsupportedEncoding(_)
            | Error::InvalidGzip(_)
            | Error::InvalidUtf8 { .. }
            | Error::EmptyBody
            | Error::WriteRejected { .. } => 400,
        }
    }

    /// Seconds a client should wait before retrying, for 429 and 503.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Error::Overloaded { retry_after_secs }
            | Error::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The first rejected line of a write, reported as `"line"` in the body.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::WriteRejected { first_line, .. } => Some(*first_line),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(Error::Unauthorized.status(), 401);
        assert_eq!(Error::MalformedAuthorization("x".into()).status(), 400);
        let partial = |api| Error::WriteRejected {
            api,
            partial: true,
            first_line: 2,
            message: String::new(),
        };
        assert_eq!(partial(Api::V1).status(), 201);
        assert_eq!(partial(Api::V2).status(), 400);
        assert_eq!(
            Error::Overloaded {
                retry_after_secs: 1
            }
            .status(),
            429
        );
        assert_eq!(
            Error::Overloaded {
                retry_after_secs: 3
            }
            .retry_after(),
            Some(3)
        );
    }

    #[test]
    fn quotes_are_cut_on_char_boundaries() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "é".repeat(100);
        let q = quote(&long);
        assert!(q.ends_with('…'));
        assert!(q.len() < 80);
    }
}
