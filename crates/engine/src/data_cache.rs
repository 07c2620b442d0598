//! Whole Parquet files kept in memory for the scans (files never change once written).
//!
//! DataFusion's Parquet reader fetches every column chunk or page range it needs from the
//! object store; on a local directory each fetch is a blocking read handed to another thread,
//! several per file and query. A file read once whole is served from memory afterwards. Least
//! recently used files leave first, within a byte budget (`QueryLimits::parquet_cache_bytes`);
//! a file larger than a quarter of the budget is never kept and is read by ranges as before.
//! InfluxDB 3 keeps a similar in-memory cache of recent Parquet files.

use std::ops::Range;
use std::sync::Arc;

use crate::lru::ByteLru;
use bytes::Bytes;
use datafusion::common::Result;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// The cache: whole files by path, least recently used out first.
#[derive(Debug, Default)]
pub struct ParquetDataCache {
    files: ByteLru<Path, Bytes>,
}

impl ParquetDataCache {
    /// Change the budget (0 turns the cache off); files over it leave at the next insert.
    pub fn set_budget(&self, bytes: usize) {
        self.files.set_budget(bytes);
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> usize {
        self.files.used_bytes()
    }

    /// Whether a file of `size` bytes would be kept.
    fn admits(&self, size: u64) -> bool {
        size > 0 && size <= self.files.budget() as u64 / 4
    }

    fn get(&self, path: &Path) -> Option<Bytes> {
        self.files.get(path)
    }

    fn insert(&self, path: Path, bytes: Bytes) {
        let size = bytes.len();
        self.files.insert(path, bytes, size);
    }
}

/// Readers that serve byte ranges from [`ParquetDataCache`] and everything else (metadata,
/// files the cache does not keep) from `inner`.
#[derive(Debug)]
pub struct DataCachingReaderFactory {
    pub inner: Arc<dyn ParquetFileReaderFactory>,
    pub store: Arc<dyn ObjectStore>,
    pub cache: Arc<ParquetDataCache>,
}

impl ParquetFileReaderFactory for DataCachingReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let path = file.object_meta.location.clone();
        let size = file.object_meta.size;
        let inner = self
            .inner
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(DataCachingReader {
            inner,
            store: self.store.clone(),
            cache: self.cache.clone(),
            path,
            size,
            data: None,
        }))
    }
}

struct DataCachingReader {
    inner: Box<dyn AsyncFileReader + Send>,
    store: Arc<dyn ObjectStore>,
    cache: Arc<ParquetDataCache>,
    path: Path,
    size: u64,
    /// The whole file once looked up: `Some(None)` if the cache does not keep it, so a failed
    /// or refused load is not tried again for every range.
    data: Option<Option<Bytes>>,
}

impl DataCachingReader {
    /// The whole file from the cache, loading it on a miss; `None` if the cache does not keep
    /// it (too large, or the read failed: the ranged reads report errors).
    async fn data(&mut self) -> Option<Bytes> {
        if self.data.is_none() {
            let loaded = load(&self.cache, self.store.as_ref(), &self.path, self.size).await;
            self.data = Some(loaded);
        }
        self.data.clone().flatten()
    }
}

/// `path` (of `size` bytes) from `cache`, read whole from `store` and kept on a miss.
async fn load(
    cache: &ParquetDataCache,
    store: &dyn ObjectStore,
    path: &Path,
    size: u64,
) -> Option<Bytes> {
    if !cache.admits(size) {
        return None;
    }
    if let Some(d) = cache.get(path) {
        return Some(d);
    }
    let d = store.get(path).await.ok()?.bytes().await.ok()?;
    if d.len() as u64 != size {
        return None;
    }
    cache.insert(path.clone(), d.clone());
    Some(d)
}

/// `range` of `data`, if inside it.
fn slice(data: &Bytes, range: &Range<u64>) -> Option<Bytes> {
    let (start, end) = (
        usize::try_from(range.start).ok()?,
        usize::try_from(range.end).ok()?,
    );
    (start <= end && end <= data.len()).then(|| data.slice(start..end))
}

impl AsyncFileReader for DataCachingReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        async move {
            if let Some(b) = self.data().await.and_then(|d| slice(&d, &range)) {
                return Ok(b);
            }
            self.inner.get_bytes(range).await
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        async move {
            if let Some(d) = self.data().await
                && let Some(all) = ranges.iter().map(|r| slice(&d, r)).collect()
            {
                return Ok(all);
            }
            self.inner.get_byte_ranges(ranges).await
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        self.inner.get_metadata(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_files_leave_first_within_the_budget() {
        let c = ParquetDataCache::default();
        c.set_budget(100);
        assert!(c.admits(25) && !c.admits(26) && !c.admits(0));
        let p = |s: &str| Path::from(s);
        c.insert(p("a"), Bytes::from(vec![0; 40]));
        c.insert(p("b"), Bytes::from(vec![1; 40]));
        assert!(c.get(&p("a")).is_some()); // a is now newer than b
        c.insert(p("c"), Bytes::from(vec![2; 40]));
        assert!(c.get(&p("b")).is_none(), "b was the least recently used");
        assert_eq!(c.get(&p("a")).unwrap()[0], 0);
        assert_eq!(c.get(&p("c")).unwrap()[0], 2);
        assert_eq!(c.used_bytes(), 80);
        c.set_budget(0);
        c.insert(p("d"), Bytes::from(vec![3; 1]));
        assert_eq!(c.used_bytes(), 0, "a zero budget empties the cache");
    }

    #[test]
    fn slices_stay_inside_the_file() {
        let d = Bytes::from_static(b"0123456789");
        assert_eq!(slice(&d, &(2..5)).unwrap(), Bytes::from_static(b"234"));
        assert!(slice(&d, &(5..11)).is_none());
        assert!(slice(&d, &Range { start: 6, end: 5 }).is_none());
    }
}
