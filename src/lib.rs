//! influxgate core: the sans-I/O heart of an InfluxDB-compatible gateway.
//!
//! Given a request (method, path, query string, headers, body), the current time and the
//! configuration, [`handle`] authenticates, routes and validates it and returns an [`Action`]:
//! a response to send, or batches to make durable before the prepared response is sent.
//! Nothing here reads a clock, touches files or the network, or spawns threads, which is what
//! lets the same code run in a Cloudflare Worker, a Spin component, the browser and the native
//! server (enforced by `clippy.toml`'s `disallowed-methods` and the dependency list).

pub mod auth;
pub mod config;
pub mod error;
pub mod handler;
pub mod query;
pub mod request;
pub mod response;
pub mod routes;
pub mod schema;
pub mod upstream;
pub mod write;

pub use config::Config;
pub use error::Error;
pub use handler::{Action, PendingWrite, Staged, WritePlan, handle, stage};
pub use request::Request;
pub use response::Response;
pub use schema::{ColumnType, FieldType, Schema};
