//! influxgate as a Spin component (`wasi:http/handler@0.3.0`, spin-sdk 7): a thin adapter
//! around the core, with the Cloudflare Worker's upstream mode.
//!
//! It collects the body (at most the limit + 1 bytes, so the core can answer 413), calls
//! [`influxgate::handle`] with the request time from `wasi:clocks`, and sends what the core
//! prepared ([`influxgate::upstream::forward`]) with outbound `wasi:http`: accepted writes are
//! answered only once the upstream accepted them (upstream down, 5xx or timeout: 503 with
//! `Retry-After`); InfluxQL is translated here with the upstream's schema and its SQL run
//! upstream. `/ping` and `/health` are answered locally. Configuration:
//! [`influxgate::upstream::settings`], from environment variables only, so the component runs
//! unchanged under Spin and under `wasmtime serve`.

#[cfg(target_arch = "wasm32")]
mod component;
