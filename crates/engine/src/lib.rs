//! DataFusion engine (see issue 4).
#![allow(clippy::disallowed_methods)]

pub mod data_cache;
pub mod date_bin;
pub mod decoded;
pub mod engine;
pub mod group_keys;
pub mod last_rows;
mod lru;
mod plan_cache;
pub mod provider;
pub mod scan_predicates;
pub mod selector;
pub mod series_index;
pub mod udf;

pub use engine::{CATALOG, Engine, EngineError, QueryLimits};
pub use last_rows::LAST_ROWS;
pub use provider::{MeasurementTable, STORE_URL, ScanStats, Shared, StorageCatalog};
