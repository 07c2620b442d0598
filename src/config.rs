//! Configuration the host hands the core with every request.

use crate::auth::TokenStore;

/// Default body limit, raw and inflated: 10 MiB, as InfluxDB's default max body size.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// InfluxDB lists at most 100 rejected points in a write response.
pub const MAX_LISTED_ERRORS: usize = 100;

#[derive(Debug, Clone)]
pub struct Config {
    pub tokens: TokenStore,
    /// Accept every request without credentials (local experiments only).
    pub auth_disabled: bool,
    /// Whether `/ping` and `/health` need a token (InfluxDB answers them without one).
    pub ping_requires_auth: bool,
    pub max_body_bytes: usize,
    /// The version reported in `X-Influxdb-Version` and `/health`.
    pub version: String,
    pub build: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tokens: TokenStore::default(),
            auth_disabled: false,
            ping_requires_auth: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            version: env!("CARGO_PKG_VERSION").to_string(),
            build: "influxgate".to_string(),
        }
    }
}
