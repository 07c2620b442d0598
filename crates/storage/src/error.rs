//! The one error type of the storage crate.

use influxgate::ColumnType;

/// Everything that can go wrong in storage. `code()` is stable and is what callers match on to map
/// an error to an HTTP status (`overloaded` → 429, `unavailable` → 503, `schema_conflict` → 400 for
/// the offending line, the rest → 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A column already exists in the catalog with another type.
    #[error(
        "conflicting column type for {column:?} in {database:?}.{table:?}: already {existing}, write has {requested}"
    )]
    SchemaConflict {
        database: String,
        table: String,
        column: String,
        existing: ColumnTypeName,
        requested: ColumnTypeName,
    },
    /// A batch does not have the shape the write path produces.
    #[error("invalid batch for {database:?}.{table:?}: {message}")]
    InvalidBatch {
        database: String,
        table: String,
        message: String,
    },
    /// The in-memory buffer is full and persisting cannot keep up: retry later (429).
    #[error("write buffer is full, retry after {retry_after_secs}s")]
    Overloaded { retry_after_secs: u64 },
    /// The object store is failing and the buffer is full, or the WAL cannot be written (503).
    #[error("storage unavailable, retry after {retry_after_secs}s: {reason}")]
    Unavailable {
        retry_after_secs: u64,
        reason: String,
    },
    /// The storage was shut down.
    #[error("storage is shut down")]
    ShutDown,
    /// Local WAL / catalog I/O failed.
    #[error("WAL I/O error: {0}")]
    Wal(#[from] std::io::Error),
    /// A WAL segment could not be decoded (beyond a torn tail, which is tolerated).
    #[error("corrupt WAL: {0}")]
    CorruptWal(String),
    /// The object store failed.
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Parquet encoding or decoding failed.
    #[error("parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow (IPC, compute) failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The catalog could not be (de)serialized.
    #[error("catalog error: {0}")]
    Catalog(String),
    /// A configuration value (e.g. an object store URL) is not usable.
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

/// A printable column type, e.g. `tag`, `float`, `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnTypeName(pub ColumnType);

impl std::fmt::Display for ColumnTypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ColumnType::Tag => f.write_str("tag"),
            ColumnType::Time => f.write_str("time"),
            ColumnType::Field(t) => write!(f, "{t}"),
        }
    }
}

impl StorageError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::SchemaConflict { .. } => "schema_conflict",
            StorageError::InvalidBatch { .. } => "invalid_batch",
            StorageError::Overloaded { .. } => "overloaded",
            StorageError::Unavailable { .. } => "unavailable",
            StorageError::ShutDown => "shut_down",
            StorageError::Wal(_) => "wal_io",
            StorageError::CorruptWal(_) => "corrupt_wal",
            StorageError::ObjectStore(_) => "object_store",
            StorageError::Parquet(_) => "parquet",
            StorageError::Arrow(_) => "arrow",
            StorageError::Catalog(_) => "catalog",
            StorageError::Config(_) => "config",
        }
    }

    /// `Retry-After` seconds for the retryable errors.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            StorageError::Overloaded { retry_after_secs }
            | StorageError::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
