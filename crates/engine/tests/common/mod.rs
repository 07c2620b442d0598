//! Shared by test binaries that need a storage and nothing more of it.

use std::path::Path;
use std::sync::Arc;

use influxgate_storage::{Storage, StorageConfig, object_store_from_url};

/// A storage with its Parquet files and WAL under `dir`, default settings.
pub async fn storage_in(dir: &Path) -> Arc<Storage> {
    let url = format!("file://{}/parquet", dir.display());
    let (store, prefix) = object_store_from_url(&url, Vec::<(String, String)>::new()).unwrap();
    Arc::new(
        Storage::open(StorageConfig::new(store, prefix, dir.join("wal")))
            .await
            .unwrap(),
    )
}
