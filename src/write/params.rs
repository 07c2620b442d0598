//! v1 `/write` and v2 `/api/v2/write` parameters.

use crate::error::{Error, quote};
use crate::request::Params;
use crate::routes::Api;
use crate::write::precision::Precision;

/// Where and how to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteParams {
    /// The storage database: `db`, or `db/rp` for a non-default retention policy.
    pub database: String,
    pub precision: Precision,
}

impl WriteParams {
    pub fn parse(api: Api, params: &Params<'_>) -> Result<Self, Error> {
        match api {
            Api::V1 | Api::V3 => Self::parse_v1(params),
            Api::V2 => Self::parse_v2(params),
        }
    }

    /// `db` required, `rp`, `precision` (`ns n us u µ ms s m h`); `consistency` and `u` ignored.
    fn parse_v1(params: &Params<'_>) -> Result<Self, Error> {
        let precision = match params.get("precision") {
            None | Some("") => Precision::Nanoseconds,
            Some(p) => Precision::parse_v1(p).ok_or_else(|| {
                unknown_precision(
                    "db/rp/precision",
                    p,
                    "`ns`, `n`, `us`, `u`, `µ`, `ms`, `s`, `m`, `h`",
                )
            })?,
        };
        let db = params.get("db").unwrap_or("");
        if db.is_empty() {
            // InfluxDB 1.x: `database is required`; Clustered/Serverless word it as a namespace
            // length error. We keep the 1.x wording, which clients and users recognise.
            return Err(Error::InvalidParameter("database is required".to_string()));
        }
        let database = database_name(db, params.get("rp"))?;
        Ok(WriteParams {
            database,
            precision,
        })
    }

    /// `bucket` required, `org` non-empty if given (ignored), `orgID` ignored, `precision`.
    fn parse_v2(params: &Params<'_>) -> Result<Self, Error> {
        let precision = match params.get("precision") {
            None | Some("") => Precision::Nanoseconds,
            Some(p) => Precision::parse_v2(p).ok_or_else(|| {
                unknown_precision("org/bucket/precision", p, "`s`, `ms`, `us`, `ns`")
            })?,
        };
        if params.get("org") == Some("") {
            return Err(Error::InvalidParameter(
                "failed to deserialize org/bucket/precision in request: org must not be empty"
                    .to_string(),
            ));
        }
        let bucket = params.get("bucket").unwrap_or("");
        if bucket.is_empty() {
            return Err(Error::InvalidParameter("missing bucket value".to_string()));
        }
        // A v2 bucket may be written `db/rp`, the v1 mapping InfluxDB's DBRP uses.
        let database = match bucket.split_once('/') {
            Some((db, rp)) => database_name(db, Some(rp))?,
            None => database_name(bucket, None)?,
        };
        Ok(WriteParams {
            database,
            precision,
        })
    }
}

fn unknown_precision(what: &str, value: &str, expected: &str) -> Error {
    // Wording from the seed documents:
    // failed to deserialize db/rp/precision in request: unknown variant `u`, expected one of ...
    let shown: String = value.chars().take(32).collect();
    Error::InvalidParameter(format!(
        "failed to deserialize {what} in request: unknown variant `{shown}`, expected one of {expected}"
    ))
}

/// The storage database for a v1 `db` and `rp`: `autogen`, `default` and empty mean none.
pub fn database_name(db: &str, rp: Option<&str>) -> Result<String, Error> {
    check_name("database", db)?;
    match rp {
        None | Some("") | Some("autogen") | Some("default") => Ok(db.to_string()),
        Some(rp) => {
            check_name("retention policy", rp)?;
            let full = format!("{db}/{rp}");
            if full.len() > 64 {
                return Err(Error::InvalidParameter(format!(
                    "namespace name length must be between 1 and 64 characters: {} is {} characters",
                    quote(&full),
                    full.len()
                )));
            }
            Ok(full)
        }
    }
}

/// Database names: 1-64 characters of letters, digits, `_` and `-`.
fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let len = name.chars().count();
    if len == 0 || len > 64 {
        return Err(Error::InvalidParameter(format!(
            "namespace name length must be between 1 and 64 characters: {what} {} is {len} characters",
            quote(name)
        )));
    }
    if let Some((pos, c)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(Error::InvalidParameter(format!(
            "invalid {what} name {}: character {c:?} at position {} is not allowed (use letters, digits, `_` and `-`)",
            quote(name),
            pos + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(q: &str) -> Result<WriteParams, Error> {
        WriteParams::parse(Api::V1, &Params::parse(q))
    }
    fn v2(q: &str) -> Result<WriteParams, Error> {
        WriteParams::parse(Api::V2, &Params::parse(q))
    }
    fn msg(r: Result<WriteParams, Error>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn v1_params() {
        let p = v1("db=telegraf&rp=autogen&precision=u&consistency=all&u=x").unwrap();
        assert_eq!(p.database, "telegraf");
        assert_eq!(p.precision, Precision::Microseconds);
        assert_eq!(v1("db=t&rp=week").unwrap().database, "t/week");
        assert_eq!(v1("db=t&rp=default").unwrap().database, "t");
        assert_eq!(v1("db=t&rp=").unwrap().database, "t");
        assert_eq!(msg(v1("precision=s")), "database is required");
        assert_eq!(
            msg(v1("db=t&precision=x")),
            "failed to deserialize db/rp/precision in request: unknown variant `x`, expected one of `ns`, `n`, `us`, `u`, `µ`, `ms`, `s`, `m`, `h`"
        );
        assert!(msg(v1("db=a.b")).contains("character '.' at position 2"));
        assert!(msg(v1(&format!("db={}", "a".repeat(65)))).contains("between 1 and 64"));
    }

    #[test]
    fn v2_params() {
        let p = v2("bucket=b&org=o&orgID=123&precision=ms").unwrap();
        assert_eq!(p.database, "b");
        assert_eq!(p.precision, Precision::Milliseconds);
        assert_eq!(v2("bucket=db/rp").unwrap().database, "db/rp");
        assert_eq!(msg(v2("org=o")), "missing bucket value");
        assert!(msg(v2("bucket=b&org=")).contains("org must not be empty"));
        assert_eq!(
            msg(v2("bucket=b&precision=u")),
            "failed to deserialize org/bucket/precision in request: unknown variant `u`, expected one of `s`, `ms`, `us`, `ns`"
        );
    }
}
