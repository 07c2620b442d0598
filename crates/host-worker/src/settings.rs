//! The Worker's configuration: [`EdgeSettings`] (the core's table of names) read from the
//! Worker's vars and secrets, once per isolate. Secrets: `INFLUXGATE_TOKENS`, `INFLUXGATE_TOKEN`,
//! `UPSTREAM_TOKEN`; everything else may be a var.

use influxgate::upstream::settings::EdgeSettings;
use worker::Env;

/// The R2 binding name of mode `r2`.
#[cfg_attr(not(feature = "r2"), allow(dead_code))]
pub const R2_BINDING: &str = "DATA";

/// A var or secret as a string (both are plain string bindings).
fn get(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

pub fn from_env(env: &Env) -> Result<EdgeSettings, String> {
    EdgeSettings::from_lookup(
        |name| get(env, name),
        "influxgate-worker",
        cfg!(feature = "r2"),
    )
}
