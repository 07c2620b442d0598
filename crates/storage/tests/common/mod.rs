#![allow(dead_code, clippy::disallowed_methods)]

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::Int32Type;
use arrow::util::display::array_value_to_string;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use influxgate_storage::{Storage, StorageConfig};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// 2024-01-01T00:00:00Z in ns.
pub const T0: i64 = 1_704_067_200_000_000_000;
pub const SEC: i64 = 1_000_000_000;
pub const DAY: i64 = 86_400 * SEC;

/// A column of a test batch.
pub enum Col {
    Tag(Vec<Option<&'static str>>),
    F(Vec<Option<f64>>),
    I(Vec<Option<i64>>),
    U(Vec<Option<u64>>),
    S(Vec<Option<&'static str>>),
    B(Vec<Option<bool>>),
}

/// A batch with the given columns plus `time`.
pub fn batch(cols: Vec<(&str, Col)>, times: Vec<i64>) -> RecordBatch {
    let mut arrays: Vec<(String, ArrayRef)> = cols
        .into_iter()
        .map(|(n, c)| {
            let a: ArrayRef = match c {
                Col::Tag(v) => Arc::new(v.into_iter().collect::<DictionaryArray<Int32Type>>()),
                Col::F(v) => Arc::new(Float64Array::from(v)),
                Col::I(v) => Arc::new(Int64Array::from(v)),
                Col::U(v) => Arc::new(UInt64Array::from(v)),
                Col::S(v) => Arc::new(StringArray::from(v)),
                Col::B(v) => Arc::new(BooleanArray::from(v)),
            };
            (n.to_string(), a)
        })
        .collect();
    arrays.push((
        "time".into(),
        Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")),
    ));
    RecordBatch::try_from_iter(arrays).unwrap()
}

/// Rows as `col=value` strings (null columns left out), in batch order.
pub fn render(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut parts = Vec::new();
            for (i, f) in b.schema().fields().iter().enumerate() {
                let c = b.column(i);
                if c.is_valid(r) {
                    let v = if f.name() == "time" {
                        let t = c
                            .as_any()
                            .downcast_ref::<TimestampNanosecondArray>()
                            .unwrap()
                            .value(r);
                        t.to_string()
                    } else if let Some(f) = c.as_any().downcast_ref::<Float64Array>() {
                        f.value(r).to_string()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    };
                    parts.push(format!("{}={v}", f.name()));
                }
            }
            out.push(parts.join(","));
        }
    }
    out
}

pub fn total_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A config over a local directory with background work effectively off (tests drive it).
pub fn config(dir: &std::path::Path, store: Arc<dyn ObjectStore>) -> StorageConfig {
    let mut c = StorageConfig::new(store, Path::from("data"), dir.join("wal"));
    c.persist_max_age = Duration::from_secs(3600);
    c.persist_threshold_bytes = usize::MAX;
    c.compaction_interval = None;
    c.retention_interval = None;
    // Dropped files go at once, so tests see the store as the index says.
    c.delete_grace = Duration::ZERO;
    c
}

pub fn local_store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    let root = dir.join("store");
    std::fs::create_dir_all(&root).unwrap();
    Arc::new(LocalFileSystem::new_with_prefix(&root).unwrap())
}

pub async fn open_local(dir: &std::path::Path) -> Storage {
    Storage::open(config(dir, local_store(dir))).await.unwrap()
}

/// An object store whose puts fail while `failing` is set.
#[derive(Debug)]
pub struct FlakyStore {
    pub inner: Arc<dyn ObjectStore>,
    pub failing: AtomicBool,
}

impl FlakyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            failing: AtomicBool::new(false),
        })
    }
    pub fn set_failing(&self, f: bool) {
        self.failing.store(f, Ordering::SeqCst);
    }
    fn check(&self) -> object_store::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            Err(object_store::Error::Generic {
                store: "flaky",
                source: "injected put failure".into(),
            })
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for FlakyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flaky({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
