//! The component's configuration, read once per instance from environment variables.
//!
//! Plain environment variables (`wasi:cli/environment`) rather than Spin variables, so the same
//! component runs under Spin (`[component.X] environment = {...}`) and under
//! `wasmtime serve --env NAME=VALUE`. Names and meanings are the Cloudflare Worker's:
//!
//! | name | |
//! |---|---|
//! | `INFLUXGATE_TOKENS` | JSON like the native tokens file: `{"tokens":[{"name","sha256"\|"token","permissions":[{"access","database"}]}]}` |
//! | `INFLUXGATE_TOKEN` | one admin token (read + write on every database), clear or `sha256:<hex>` |
//! | `INFLUXGATE_WITHOUT_AUTH` | `true`: accept requests without a token (local experiments only) |
//! | `MAX_BODY_BYTES` | raw and inflated body limit (default 10 MiB) |
//! | `UPSTREAM_URL` | base URL of the upstream, e.g. `https://influx.example.com` (required) |
//! | `UPSTREAM_KIND` | `influxgate` (Arrow envelope, default) or `influxdb` (v2 write API, gzip line protocol) |
//! | `UPSTREAM_TOKEN` | token sent upstream as `Authorization: Token …` |
//! | `UPSTREAM_TIMEOUT_MS` | upstream timeout (default 10000) |
//! | `RETRY_AFTER_SECS` | `Retry-After` of a 503 when the upstream fails (default 5) |

use influxgate::Config;
use influxgate::auth::{Access, Permission, TokenStore};

#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    pub upstream: Upstream,
    pub retry_after_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// An influxgate native server: Arrow envelope on the internal endpoint.
    Influxgate,
    /// Any InfluxDB v2/v3-compatible write API: gzip line protocol at ns precision.
    Influxdb,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub kind: UpstreamKind,
    /// Without a trailing `/`.
    pub url: String,
    pub token: Option<String>,
    pub timeout_ms: u32,
}

#[derive(serde::Deserialize)]
struct TokenFile {
    tokens: Vec<TokenSpec>,
}

#[derive(serde::Deserialize)]
struct TokenSpec {
    name: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    token: Option<String>,
    permissions: Vec<Permission>,
}

/// The tokens of `INFLUXGATE_TOKENS` (JSON) and `INFLUXGATE_TOKEN` (one admin token).
pub fn tokens(json: Option<&str>, single: Option<&str>) -> Result<TokenStore, String> {
    let mut store = TokenStore::default();
    if let Some(json) = json {
        let file: TokenFile = serde_json::from_str(json)
            .map_err(|e| format!("INFLUXGATE_TOKENS is not valid: {e}"))?;
        for spec in file.tokens {
            match (spec.sha256, spec.token) {
                (Some(digest), _) => store
                    .add_hashed(&spec.name, &digest, spec.permissions)
                    .map_err(|e| format!("INFLUXGATE_TOKENS: {e}"))?,
                (None, Some(token)) => store.add(&spec.name, &token, spec.permissions),
                (None, None) => {
                    return Err(format!(
                        "INFLUXGATE_TOKENS: token {:?} has neither \"sha256\" nor \"token\"",
                        spec.name
                    ));
                }
            }
        }
    }
    if let Some(token) = single {
        let admin = vec![
            Permission::all(Access::Read),
            Permission::all(Access::Write),
        ];
        if token.starts_with("sha256:") {
            store
                .add_hashed("admin", token, admin)
                .map_err(|e| format!("INFLUXGATE_TOKEN: {e}"))?;
        } else {
            store.add("admin", token, admin);
        }
    }
    Ok(store)
}

impl Settings {
    /// Read the settings through `var` (an environment lookup); empty values count as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
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
        let tokens = tokens(
            get("INFLUXGATE_TOKENS").as_deref(),
            get("INFLUXGATE_TOKEN").as_deref(),
        )?;
        let auth_disabled = get("INFLUXGATE_WITHOUT_AUTH").is_some_and(|v| v == "true");
        if tokens.is_empty() && !auth_disabled {
            return Err(
                "no tokens: set INFLUXGATE_TOKEN or INFLUXGATE_TOKENS (or INFLUXGATE_WITHOUT_AUTH=true)"
                    .into(),
            );
        }
        let max_body_bytes = usize::try_from(number(
            "MAX_BODY_BYTES",
            influxgate::config::DEFAULT_MAX_BODY_BYTES as u64,
        )?)
        .map_err(|_| "MAX_BODY_BYTES is too large".to_string())?;
        let config = Config {
            tokens,
            auth_disabled,
            max_body_bytes,
            build: "influxgate-spin".to_string(),
            ..Config::default()
        };
        let url = get("UPSTREAM_URL")
            .ok_or("UPSTREAM_URL is not set")?
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
        Ok(Settings {
            config,
            upstream: Upstream {
                kind,
                url,
                token: get("UPSTREAM_TOKEN"),
                timeout_ms: small("UPSTREAM_TIMEOUT_MS", 10_000)?,
            },
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
        let s = Settings::from_lookup(env(&[
            ("INFLUXGATE_TOKEN", "t"),
            ("INFLUXGATE_TOKENS", r#"{"tokens":[{"name":"r","token":"rt","permissions":[{"access":"read","database":"db"}]}]}"#),
            ("UPSTREAM_URL", "http://127.0.0.1:9/"),
            ("UPSTREAM_KIND", "influxdb"),
            ("UPSTREAM_TOKEN", "up"),
            ("UPSTREAM_TIMEOUT_MS", "250"),
            ("RETRY_AFTER_SECS", "7"),
            ("MAX_BODY_BYTES", "100"),
        ]))
        .unwrap();
        assert_eq!(s.upstream.url, "http://127.0.0.1:9");
        assert_eq!(s.upstream.kind, UpstreamKind::Influxdb);
        assert_eq!(s.upstream.token.as_deref(), Some("up"));
        assert_eq!(s.upstream.timeout_ms, 250);
        assert_eq!(s.retry_after_secs, 7);
        assert_eq!(s.config.max_body_bytes, 100);
        assert_eq!(s.config.tokens.len(), 2);
    }

    #[test]
    fn refuses_bad_settings() {
        assert!(Settings::from_lookup(env(&[("INFLUXGATE_TOKEN", "t")])).is_err());
        assert!(Settings::from_lookup(env(&[("UPSTREAM_URL", "http://x")])).is_err());
        assert!(
            Settings::from_lookup(env(&[
                ("INFLUXGATE_TOKEN", "t"),
                ("UPSTREAM_URL", "http://x"),
                ("UPSTREAM_KIND", "mongo"),
            ]))
            .is_err()
        );
        assert!(
            Settings::from_lookup(env(&[
                ("INFLUXGATE_WITHOUT_AUTH", "true"),
                ("UPSTREAM_URL", "http://x"),
                ("RETRY_AFTER_SECS", "-1"),
            ]))
            .is_err()
        );
    }
}
