//! The edge hosts' configuration, read once per instance through a name → value lookup (Worker
//! vars and secrets, or `wasi:cli/environment` under Spin and `wasmtime serve`).
//!
//! | name | |
//! |---|---|
//! | `INFLUXGATE_TOKENS` | a [`crate::auth::TokenFile`] as JSON (secret) |
//! | `INFLUXGATE_TOKEN` | one admin token (read + write on every database), clear or `sha256:<hex>` (secret) |
//! | `INFLUXGATE_WITHOUT_AUTH` | `true`: accept requests without a token (local experiments only) |
//! | `MAX_BODY_BYTES` | raw and inflated body limit (default 10 MiB) |
//! | `MODE` | `upstream` (default) or `r2` (Worker only) |
//! | `UPSTREAM_URL` | base URL of the upstream, e.g. `https://influx.example.com` |
//! | `UPSTREAM_KIND` | `influxgate` (Arrow envelope, default) or `influxdb` (v2 write API, gzip line protocol) |
//! | `UPSTREAM_TOKEN` | token sent upstream as `Authorization: Token …` (secret) |
//! | `UPSTREAM_TIMEOUT_MS` | upstream timeout (default 10000) |
//! | `RETRY_AFTER_SECS` | `Retry-After` of a 503 when the upstream or the bucket fails (default 5) |
//! | `R2_PREFIX` | key prefix inside the bucket in mode `r2` (default none) |

use crate::auth::TokenStore;
use crate::config::{Config, DEFAULT_MAX_BODY_BYTES};

use super::forward::{Upstream, UpstreamKind};

/// What an edge host does with accepted writes.
#[derive(Debug)]
pub enum Mode {
    Upstream(Upstream),
    /// Parquet objects in a bucket binding, under this prefix (empty or ending in `/`).
    R2 {
        prefix: String,
    },
}

#[derive(Debug)]
pub struct EdgeSettings {
    pub config: Config,
    pub mode: Mode,
    pub retry_after_secs: u32,
}

impl EdgeSettings {
    /// Read the settings through `var`; empty values count as unset. `build` names the host in
    /// `X-Influxdb-Build`; `allow_r2` says whether this build can write Parquet itself.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        build: &str,
        allow_r2: bool,
    ) -> Result<EdgeSettings, String> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("{name} must be a non-negative integer, not {v:?}")),
            }
        };
        let small = |name: &str, default: u32| -> Result<u32, String> {
            u32::try_from(number(name, u64::from(default))?)
                .map_err(|_| format!("{name} is too large"))
        };
        let mut tokens = TokenStore::default();
        if let Some(json) = get("INFLUXGATE_TOKENS") {
            tokens
                .add_json(&json)
                .map_err(|e| format!("INFLUXGATE_TOKENS is not valid: {e}"))?;
        }
        if let Some(token) = get("INFLUXGATE_TOKEN") {
            tokens
                .add_admin(&token)
                .map_err(|e| format!("INFLUXGATE_TOKEN: {e}"))?;
        }
        let auth_disabled = get("INFLUXGATE_WITHOUT_AUTH").is_some_and(|v| v == "true");
        if tokens.is_empty() && !auth_disabled {
            return Err(
                "no tokens: set INFLUXGATE_TOKEN or INFLUXGATE_TOKENS (or INFLUXGATE_WITHOUT_AUTH=true)"
                    .into(),
            );
        }
        let max_body_bytes =
            usize::try_from(number("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64)?)
                .map_err(|_| "MAX_BODY_BYTES is too large".to_string())?;
        let config = Config {
            tokens,
            auth_disabled,
            max_body_bytes,
            build: build.to_string(),
            ..Config::default()
        };
        let mode = match get("MODE").as_deref().unwrap_or("upstream") {
            "upstream" => {
                let url = get("UPSTREAM_URL")
                    .ok_or("MODE is upstream but UPSTREAM_URL is not set")?
                    .trim_end_matches('/')
                    .to_string();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("UPSTREAM_URL must be an http(s) URL, not {url:?}"));
                }
                let kind = match get("UPSTREAM_KIND").as_deref().unwrap_or("influxgate") {
                    "influxgate" => UpstreamKind::Influxgate,
                    "influxdb" => UpstreamKind::Influxdb,
                    other => {
                        return Err(format!(
                            "UPSTREAM_KIND must be influxgate or influxdb, not {other:?}"
                        ));
                    }
                };
                Mode::Upstream(Upstream {
                    kind,
                    url,
                    token: get("UPSTREAM_TOKEN"),
                    timeout_ms: small("UPSTREAM_TIMEOUT_MS", 10_000)?,
                })
            }
            "r2" if allow_r2 => {
                let prefix = get("R2_PREFIX").unwrap_or_default();
                let trimmed = prefix.trim_matches('/');
                Mode::R2 {
                    prefix: if trimmed.is_empty() {
                        String::new()
                    } else {
                        format!("{trimmed}/")
                    },
                }
            }
            "r2" => return Err("MODE r2 is not available in this build".into()),
            other => return Err(format!("MODE must be upstream or r2, not {other:?}")),
        };
        Ok(EdgeSettings {
            config,
            mode,
            retry_after_secs: small("RETRY_AFTER_SECS", 5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn reads_everything() {
        let s = EdgeSettings::from_lookup(
            env(&[
                ("INFLUXGATE_TOKEN", "t"),
                (
                    "INFLUXGATE_TOKENS",
                    r#"{"tokens":[{"name":"r","token":"rt","permissions":[{"access":"read","database":"db"}]}]}"#,
                ),
                ("UPSTREAM_URL", "http://127.0.0.1:9/"),
                ("UPSTREAM_KIND", "influxdb"),
                ("UPSTREAM_TOKEN", "up"),
                ("UPSTREAM_TIMEOUT_MS", "250"),
                ("RETRY_AFTER_SECS", "7"),
                ("MAX_BODY_BYTES", "100"),
            ]),
            "test-build",
            false,
        )
        .unwrap();
        let Mode::Upstream(up) = &s.mode else {
            panic!("{:?}", s.mode)
        };
        assert_eq!(up.url, "http://127.0.0.1:9");
        assert_eq!(up.kind, UpstreamKind::Influxdb);
        assert_eq!(up.token.as_deref(), Some("up"));
        assert_eq!(up.timeout_ms, 250);
        assert_eq!(s.retry_after_secs, 7);
        assert_eq!(s.config.max_body_bytes, 100);
        assert_eq!(s.config.tokens.len(), 2);
        assert_eq!(s.config.build, "test-build");
        let s = EdgeSettings::from_lookup(
            env(&[
                ("INFLUXGATE_WITHOUT_AUTH", "true"),
                ("MODE", "r2"),
                ("R2_PREFIX", "/a/b/"),
            ]),
            "w",
            true,
        )
        .unwrap();
        assert!(matches!(&s.mode, Mode::R2 { prefix } if prefix == "a/b/"));
    }

    #[test]
    fn refuses_bad_settings() {
        let bad =
            |pairs: &[(&str, &str)], r2| EdgeSettings::from_lookup(env(pairs), "b", r2).is_err();
        assert!(bad(&[("INFLUXGATE_TOKEN", "t")], false));
        assert!(bad(&[("UPSTREAM_URL", "http://x")], false));
        assert!(bad(
            &[("INFLUXGATE_TOKEN", "t"), ("UPSTREAM_URL", "ftp://x")],
            false
        ));
        assert!(bad(
            &[
                ("INFLUXGATE_TOKEN", "t"),
                ("UPSTREAM_URL", "http://x"),
                ("UPSTREAM_KIND", "mongo"),
            ],
            false
        ));
        assert!(bad(
            &[
                ("INFLUXGATE_WITHOUT_AUTH", "true"),
                ("UPSTREAM_URL", "http://x"),
                ("RETRY_AFTER_SECS", "-1"),
            ],
            false
        ));
        assert!(bad(&[("INFLUXGATE_TOKEN", "t"), ("MODE", "r2")], false));
        assert!(bad(&[("INFLUXGATE_TOKENS", "{"), ("MODE", "r2")], true));
    }
}
