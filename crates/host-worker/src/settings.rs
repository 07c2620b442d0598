//! The Worker's configuration, read once per isolate from its vars and secrets.
//!
//! | name | kind | |
//! |---|---|---|
//! | `INFLUXGATE_TOKENS` | secret | JSON like the native tokens file: `{"tokens":[{"name","sha256"\|"token","permissions":[{"access","database"}]}]}` |
//! | `INFLUXGATE_TOKEN` | secret | one admin token (read + write on every database), clear or `sha256:<hex>` |
//! | `INFLUXGATE_WITHOUT_AUTH` | var | `true`: accept requests without a token (local experiments only) |
//! | `MAX_BODY_BYTES` | var | raw and inflated body limit (default 10 MiB) |
//! | `MODE` | var | `upstream` (default) or `r2` |
//! | `UPSTREAM_URL` | var | base URL of the upstream, e.g. `https://influx.example.com` |
//! | `UPSTREAM_KIND` | var | `influxgate` (Arrow envelope, default) or `influxdb` (v2 write API, gzip line protocol) |
//! | `UPSTREAM_TOKEN` | secret | token sent upstream as `Authorization: Token …` |
//! | `UPSTREAM_TIMEOUT_MS` | var | upstream timeout (default 10000) |
//! | `RETRY_AFTER_SECS` | var | `Retry-After` of a 503 when the upstream or R2 fails (default 5) |
//! | `R2_PREFIX` | var | key prefix inside the bucket (default none) |

use influxgate::Config;
use influxgate::auth::{Access, Permission, TokenStore};
use worker::Env;

#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    pub mode: Mode,
    pub retry_after_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// An influxgate native server: Arrow envelope on the internal endpoint.
    Influxgate,
    /// Any InfluxDB v2/v3-compatible write API: gzip line protocol at ns precision.
    Influxdb,
}

#[derive(Debug)]
pub struct Upstream {
    pub kind: UpstreamKind,
    /// Without a trailing `/`.
    pub url: String,
    pub token: Option<String>,
    pub timeout_ms: u32,
}

#[derive(Debug)]
pub enum Mode {
    Upstream(Upstream),
    /// Parquet objects in the R2 binding `DATA`, under this prefix (empty or ending in `/`).
    R2 {
        #[cfg_attr(not(feature = "r2"), allow(dead_code))]
        prefix: String,
    },
}

/// The R2 binding name of mode `r2`.
#[cfg_attr(not(feature = "r2"), allow(dead_code))]
pub const R2_BINDING: &str = "DATA";

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

/// A var or secret as a string (both are plain string bindings); empty counts as unset.
fn get(env: &Env, name: &str) -> Option<String> {
    let v = env
        .var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()?;
    let v = v.trim().to_string();
    (!v.is_empty()).then_some(v)
}

fn number<T: std::str::FromStr>(env: &Env, name: &str, default: T) -> Result<T, String> {
    match get(env, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a non-negative integer, not {v:?}")),
    }
}

/// Add the tokens of `INFLUXGATE_TOKENS` (JSON) and `INFLUXGATE_TOKEN` (one admin token).
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
    pub fn from_env(env: &Env) -> Result<Settings, String> {
        let config = Config {
            tokens: tokens(
                get(env, "INFLUXGATE_TOKENS").as_deref(),
                get(env, "INFLUXGATE_TOKEN").as_deref(),
            )?,
            auth_disabled: get(env, "INFLUXGATE_WITHOUT_AUTH").is_some_and(|v| v == "true"),
            max_body_bytes: number(
                env,
                "MAX_BODY_BYTES",
                influxgate::config::DEFAULT_MAX_BODY_BYTES,
            )?,
            build: "influxgate-worker".to_string(),
            ..Config::default()
        };
        let retry_after_secs = number(env, "RETRY_AFTER_SECS", 5u32)?;
        let mode = match get(env, "MODE").as_deref().unwrap_or("upstream") {
            "upstream" => {
                let url = get(env, "UPSTREAM_URL")
                    .ok_or("MODE is upstream but UPSTREAM_URL is not set")?
                    .trim_end_matches('/')
                    .to_string();
                let kind = match get(env, "UPSTREAM_KIND").as_deref().unwrap_or("influxgate") {
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
                    token: get(env, "UPSTREAM_TOKEN"),
                    timeout_ms: number(env, "UPSTREAM_TIMEOUT_MS", 10_000u32)?,
                })
            }
            "r2" => {
                if !cfg!(feature = "r2") {
                    return Err(
                        "MODE is r2 but this build has no Parquet writer (feature r2)".into(),
                    );
                }
                let mut prefix = get(env, "R2_PREFIX").unwrap_or_default();
                let trimmed = prefix.trim_matches('/').to_string();
                prefix = if trimmed.is_empty() {
                    String::new()
                } else {
                    format!("{trimmed}/")
                };
                Mode::R2 { prefix }
            }
            other => return Err(format!("MODE must be upstream or r2, not {other:?}")),
        };
        Ok(Settings {
            config,
            mode,
            retry_after_secs,
        })
    }
}
