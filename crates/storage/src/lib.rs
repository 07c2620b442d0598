//! influxgate storage: a write-ahead log with group commit, an in-memory buffer, Parquet files on
//! an object store, a catalog, compaction and retention. See `README.md` for the on-disk layout.
#![allow(clippy::disallowed_methods)]

pub mod buffer;
pub mod catalog;
pub mod compact;
pub mod error;
mod graveyard;
pub mod layout;
pub mod local_store;
pub mod merge;
pub mod metrics;
pub mod persist;
pub mod retention;
pub mod store;
pub mod wal;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit};
use bytes::Bytes;
use futures::TryStreamExt;
use influxgate::ColumnType;
use influxgate::handler::WriteRecord;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub use influxgate;

pub use crate::buffer::TableKey;
pub use crate::catalog::{Catalog, DatabaseSchema, NewColumn, TIME_COLUMN, TableSchema};
pub use crate::error::{ColumnTypeName, Result, StorageError};
pub use crate::local_store::SyncedLocalFileSystem;
pub use crate::metrics::{FSYNC_BUCKETS, Histogram, StorageMetrics};
pub use crate::persist::{FileMeta, ParquetCodec};
pub use crate::store::object_store_from_url;

/// The nice value the WAL writer thread asks for by default ([`StorageConfig::wal_thread_nice`]).
pub const DEFAULT_WAL_THREAD_NICE: i32 = -10;

use crate::buffer::{Buffer, Snapshot};
use crate::catalog::{CatalogStore, column_type_of};
use crate::metrics::Metrics;
use crate::persist::EncodedFile;
use crate::wal::{WalCommand, WalWriter};

/// How the storage is set up. Build with [`StorageConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StorageConfig {
    /// Where Parquet files (and the catalog mirror) go.
    pub object_store: Arc<dyn ObjectStore>,
    /// Path prefix inside the object store.
    pub prefix: Path,
    /// Local directory of the WAL segments and `catalog.json` (always local disk).
    pub wal_dir: PathBuf,
    /// Longest a WAL group commit waits for the entries of announced writes
    /// ([`Storage::expect_write`]) before it is written without them.
    pub group_commit_wait: Duration,
    /// Nice value the WAL writer thread asks for (Linux; -20 highest, 19 lowest). A write waits
    /// for its group commit, and the thread that writes and syncs it sleeps on the disk between
    /// short bursts of work: above the parse and persist threads it runs as soon as the disk
    /// answers instead of waiting for a time slice. Raising a priority needs `CAP_SYS_NICE` (or
    /// `RLIMIT_NICE`); without it the thread keeps its normal priority. `None` leaves it as is.
    pub wal_thread_nice: Option<i32>,
    /// Buffered bytes (unpersisted, including in-flight writes) above which writes are refused
    /// with `Overloaded` (or `Unavailable` while the object store is failing). A write into an
    /// empty buffer is always accepted, however large.
    pub max_buffer_bytes: usize,
    /// Persist when the active buffer holds this many bytes…
    pub persist_threshold_bytes: usize,
    /// …or when its oldest write is this old.
    pub persist_max_age: Duration,
    /// How often the persister checks the thresholds.
    pub persist_check_interval: Duration,
    /// Upper bound of the exponential backoff between failing persist attempts.
    pub persist_retry_max_backoff: Duration,
    /// Codec of written Parquet files.
    pub codec: ParquetCodec,
    /// Background compaction period; `None` disables it (`Storage::compact` still works).
    pub compaction_interval: Option<Duration>,
    /// A (db, table, day) is compacted once it has at least this many files (min 2)…
    pub compaction_min_files: usize,
    /// …of which at least this many are smaller than `compaction_small_file_bytes`.
    pub compaction_small_file_bytes: u64,
    /// A day that ended this long ago and got no new file for this long is "cold": once it has
    /// two files or more (together under 4 x `compaction_small_file_bytes`) they are merged into
    /// one, so queries over past days open one file per day. `None` disables this rule.
    pub compaction_cold_after: Option<Duration>,
    /// Background retention period; `None` disables it (`Storage::enforce_retention` still works).
    pub retention_interval: Option<Duration>,
    /// Retention of databases without their own (`None` = keep forever).
    pub default_retention: Option<Duration>,
    /// How long a file dropped from the index (compacted, expired) stays in the object store
    /// for queries that listed it before; deleted by the first background pass after that.
    pub delete_grace: Duration,
}

impl StorageConfig {
    pub fn new(
        object_store: Arc<dyn ObjectStore>,
        prefix: Path,
        wal_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            object_store,
            prefix,
            wal_dir: wal_dir.into(),
            group_commit_wait: Duration::from_millis(2),
            wal_thread_nice: Some(DEFAULT_WAL_THREAD_NICE),
            max_buffer_bytes: 1 << 30,
            persist_threshold_bytes: 128 << 20,
            persist_max_age: Duration::from_secs(60),
            persist_check_interval: Duration::from_millis(250),
            persist_retry_max_backoff: Duration::from_secs(30),
            codec: ParquetCodec::Zstd,
            compaction_interval: Some(Duration::from_secs(300)),
            compaction_min_files: 4,
            compaction_small_file_bytes: 64 << 20,
            compaction_cold_after: Some(Duration::from_secs(15 * 60)),
            retention_interval: Some(Duration::from_secs(3600)),
            default_retention: None,
            delete_grace: Duration::from_secs(60),
        }
    }

    /// A config whose object store comes from a URL (see [`object_store_from_url`]).
    pub fn from_url<I, K, V>(url: &str, options: I, wal_dir: impl Into<PathBuf>) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let (store, prefix) = object_store_from_url(url, options)?;
        Ok(Self::new(store, prefix, wal_dir))
    }
}

/// The durable storage of the native server. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Storage {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    wal_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

pub(crate) struct Inner {
    pub(crate) config: StorageConfig,
    pub(crate) catalog: CatalogStore,
    pub(crate) buffer: Arc<Mutex<Buffer>>,
    /// Files per table, ascending `seq`.
    pub(crate) files: RwLock<BTreeMap<TableKey, Vec<FileMeta>>>,
    /// Buffered + in-flight bytes.
    pub(crate) bytes: Arc<AtomicUsize>,
    pub(crate) next_seq: AtomicU64,
    /// Bumped (under the write lock) whenever `files` changes.
    pub(crate) files_version: AtomicU64,
    /// When a persist last added a file to a (table, day); compaction's "cold day" rule.
    pub(crate) last_persisted: Mutex<HashMap<(TableKey, i64), Instant>>,
    wal_tx: std::sync::mpsc::Sender<WalCommand>,
    /// Writes announced by [`Storage::expect_write`] that have not logged yet.
    wal_incoming: Arc<AtomicUsize>,
    /// Logged entries in log order, shared with the WAL thread: writers resolve their own.
    wal_queue: Arc<Mutex<wal::Queue>>,
    /// Id of the next logged WAL entry (ids only match `Resolve`s to entries while running).
    next_wal_id: AtomicU64,
    /// Held for a whole persist cycle; holds the encoded files of a snapshot whose upload failed.
    persist: tokio::sync::Mutex<Option<Vec<(EncodedFile, bool)>>>,
    /// Compaction and retention never run at the same time.
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    store_failing: AtomicBool,
    backoff_secs: AtomicU64,
    persist_notify: Notify,
    /// Files dropped from the index, deleted after `delete_grace`.
    pub(crate) graveyard: graveyard::Graveyard,
    closed: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("store", &self.config.object_store.to_string())
            .field("prefix", &self.config.prefix)
            .field("wal_dir", &self.config.wal_dir)
            .finish_non_exhaustive()
    }
}

/// Memory a batch is accounted for in the buffer.
fn batch_bytes(b: &RecordBatch) -> usize {
    if b.num_rows() == 0 {
        0
    } else {
        b.get_array_memory_size()
    }
}

impl Storage {
    /// Open (or create) the storage: load the catalog, list the files, replay the WAL, start the
    /// WAL writer and the background persister, compactor and retention tasks.
    pub async fn open(config: StorageConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.wal_dir)?;
        let store = config.object_store.clone();
        let prefix = config.prefix.clone();

        // Catalog: local file, else the object store's mirror.
        let fallback = if config.wal_dir.join("catalog.json").exists() {
            None
        } else {
            match store.get(&layout::catalog_path(&prefix)).await {
                Ok(r) => Some(
                    serde_json::from_slice::<Catalog>(&r.bytes().await?)
                        .map_err(|e| StorageError::Catalog(format!("catalog mirror: {e}")))?,
                ),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        };
        let catalog = CatalogStore::open(&config.wal_dir, fallback)?;

        // File index.
        let listing: Vec<_> = store
            .list((!prefix.is_root()).then_some(&prefix))
            .try_collect()
            .await?;
        let mut files: BTreeMap<TableKey, Vec<FileMeta>> = BTreeMap::new();
        let mut max_seq = 0;
        for meta in listing {
            if let Some(p) = layout::parse_file_path(&prefix, &meta.location) {
                max_seq = max_seq.max(p.seq);
                files
                    .entry((p.database.clone(), p.table.clone()))
                    .or_default()
                    .push(FileMeta {
                        path: meta.location,
                        database: p.database,
                        table: p.table,
                        day: p.day,
                        seq: p.seq,
                        size: meta.size,
                    });
            }
        }
        for v in files.values_mut() {
            v.sort_by(|a, b| (a.seq, &a.path).cmp(&(b.seq, &b.path)));
        }

        // WAL replay.
        let wal_dir = config.wal_dir.clone();
        let segments = wal::list_segments(&wal_dir)?;
        let mut buffer = Buffer::default();
        let now = Instant::now();
        let mut catalog_changed = false;
        let mut replayed = 0usize;
        for id in &segments {
            for entry in wal::read_segment(&wal::segment_path(&wal_dir, *id))? {
                let Some((database, batches, new_columns)) = replay_entry(&catalog, entry) else {
                    continue;
                };
                let mut cols = new_columns;
                cols.extend(derived_columns(&batches));
                catalog_changed |= catalog.merge_replayed(&database, &cols);
                replayed += batches.iter().map(|(_, b)| b.num_rows()).sum::<usize>();
                buffer.insert(&database, &batches, now);
            }
        }
        if catalog_changed {
            catalog.save_blocking()?;
        }
        let last = segments.last().copied().unwrap_or(0);
        if replayed == 0 && last > 0 {
            wal::delete_segments_up_to(&wal_dir, last)?;
        }
        if replayed > 0 {
            tracing::info!(rows = replayed, segments = segments.len(), "replayed WAL");
        }
        let bytes = Arc::new(AtomicUsize::new(buffer.totals().0));
        let buffer = Arc::new(Mutex::new(buffer));
        let metrics = Arc::new(Metrics::default());

        let wal_queue = wal::Queue::new(buffer.clone(), bytes.clone(), metrics.clone());
        let wal_incoming = Arc::new(AtomicUsize::new(0));
        let writer = WalWriter::new(
            wal_dir,
            last + 1,
            wal_queue.clone(),
            metrics.clone(),
            wal_incoming.clone(),
            config.group_commit_wait,
        )?;
        let (wal_tx, wal_rx) = std::sync::mpsc::channel();
        let nice = config.wal_thread_nice;
        let wal_thread = std::thread::Builder::new()
            .name("influxgate-wal".into())
            .spawn(move || {
                if let Some(nice) = nice {
                    wal::set_thread_nice(nice);
                }
                writer.run(wal_rx)
            })?;

        let inner = Arc::new(Inner {
            config,
            catalog,
            buffer,
            files: RwLock::new(files),
            bytes,
            next_seq: AtomicU64::new(max_seq + 1),
            files_version: AtomicU64::new(0),
            last_persisted: Mutex::new(HashMap::new()),
            wal_tx,
            wal_incoming,
            wal_queue,
            next_wal_id: AtomicU64::new(0),
            persist: tokio::sync::Mutex::new(None),
            maintenance: tokio::sync::Mutex::new(()),
            store_failing: AtomicBool::new(false),
            backoff_secs: AtomicU64::new(1),
            persist_notify: Notify::new(),
            graveyard: graveyard::Graveyard::default(),
            closed: AtomicBool::new(false),
            metrics,
        });
        let mut tasks = vec![tokio::spawn(persister(inner.clone()))];
        if let Some(every) = inner.config.compaction_interval {
            let inner = inner.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = compact::compact(&inner, retention::now_ns()).await {
                        tracing::warn!("compaction failed: {e}");
                    }
                }
            }));
        }
        if let Some(every) = inner.config.retention_interval {
            let inner = inner.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = retention::enforce(&inner, retention::now_ns()).await {
                        tracing::warn!("retention failed: {e}");
                    }
                }
            }));
        }
        Ok(Self {
            inner,
            tasks: Mutex::new(tasks),
            wal_thread: Mutex::new(Some(wal_thread)),
        })
    }

    /// Write the batches of one request. Returns once the rows are in the fsynced WAL and visible
    /// to `scan`. `new_columns` are the columns the request introduces (as the core computed them
    /// against the catalog snapshot); the batches' own columns are validated too, so a concurrent
    /// writer that added the same column with another type gets `SchemaConflict`.
    pub async fn write(
        &self,
        database: &str,
        batches: Vec<(String, RecordBatch)>,
        new_columns: &[NewColumn],
    ) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(StorageError::ShutDown);
        }
        let cols = checked_columns(&inner.catalog.snapshot(), database, &batches, new_columns)?;
        let size: usize = batches.iter().map(|(_, b)| batch_bytes(b)).sum();
        inner.reserve(size)?;
        let mut reservation = Reservation {
            bytes: &inner.bytes,
            size,
        };
        if let Some(cols) = cols {
            inner.catalog.ensure(database, &cols).await?;
        }
        let frame = wal::encode_frame(database, &batches)?;
        let id = inner.next_wal_id.fetch_add(1, Ordering::Relaxed);
        inner
            .wal_tx
            .send(WalCommand::Log {
                id,
                frame: frame.into(),
            })
            .map_err(|_| StorageError::ShutDown)?;
        // From here the WAL writer owns the reservation (it releases it if the write fails).
        reservation.size = 0;
        inner.commit_rows(id, database, batches, size).await
    }

    /// Start a line-protocol write: admit it (buffer room for its body), then append the record
    /// to the WAL. The caller parses the body while the WAL syncs, then finishes with
    /// [`LoggedWrite::commit`] (or drops the handle when the parse stores nothing). Replay parses
    /// the record again, so what is committed must be `record.parse` against the catalog.
    pub fn log_write(&self, record: &WriteRecord<'_>) -> Result<LoggedWrite> {
        log_write(&self.inner, record, None)
    }

    /// Announce a line-protocol write whose body is still being read, before
    /// [`ExpectedWrite::log`]: while writes are announced, a group commit waits (briefly) for
    /// their entries, so one fsync covers them. Drop the handle if the write ends without
    /// logging.
    pub fn expect_write(&self) -> ExpectedWrite {
        self.inner.wal_incoming.fetch_add(1, Ordering::AcqRel);
        ExpectedWrite {
            inner: self.inner.clone(),
            pending: true,
        }
    }

    /// A snapshot of the catalog (cheap: an `Arc`).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.snapshot()
    }

    /// All rows of a table (files + buffer), deduplicated, sorted by (tags, time), with the
    /// table's full schema (tags, fields, `time`). Empty when the table has no rows.
    pub async fn scan(&self, database: &str, table: &str) -> Result<Vec<RecordBatch>> {
        let mut attempt = 0;
        loop {
            // Buffer first, then files: a persist finishing in between can only duplicate rows
            // (which dedup removes), never hide them.
            let buffered = self.inner.buffer_batches(database, table);
            let files = self.list_files(database, table);
            let mut batches = Vec::new();
            let mut failed = None;
            for f in &files {
                match persist::read_parquet(&self.inner.config.object_store, f).await {
                    Ok(b) => batches.extend(b),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                // A compaction or retention may have removed the file meanwhile: try again.
                attempt += 1;
                if attempt < 5 && self.list_files(database, table) != files {
                    continue;
                }
                return Err(e);
            }
            batches.extend(buffered);
            let schema = self.table_schema(database, table, &batches);
            return Ok(merge::dedup_sort(&batches, Some(schema))?
                .into_iter()
                .collect());
        }
    }

    /// The buffered (unpersisted) rows of a table, deduplicated and sorted, with the table's full
    /// schema. Together with `list_files` this is what a query engine needs: rows in the buffer
    /// are newer than rows in files.
    pub fn buffer_snapshot(&self, database: &str, table: &str) -> Result<Vec<RecordBatch>> {
        let batches = self.inner.buffer_batches(database, table);
        let schema = self.table_schema(database, table, &batches);
        Ok(merge::dedup_sort(&batches, Some(schema))?
            .into_iter()
            .collect())
    }

    /// Changes whenever what [`Storage::buffer_snapshot`] or [`Storage::list_files`] return may
    /// have changed (a write, a persist, a compaction, retention): a query planned at one
    /// version reads the same data as long as the version is the same.
    pub fn data_version(&self) -> (u64, u64) {
        let buffer = self.inner.buffer.lock().expect("buffer lock").version();
        (buffer, self.inner.files_version.load(Ordering::Acquire))
    }

    /// The Parquet files of a table, oldest writes first (ascending `seq`).
    pub fn list_files(&self, database: &str, table: &str) -> Vec<FileMeta> {
        self.inner
            .files
            .read()
            .expect("files lock")
            .get(&(database.to_string(), table.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Tables that have files or buffered rows.
    pub fn tables_with_data(&self) -> Vec<TableKey> {
        let mut keys: Vec<TableKey> = self
            .inner
            .files
            .read()
            .expect("files lock")
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        keys.extend(self.inner.buffer.lock().expect("buffer lock").tables());
        keys.sort();
        keys.dedup();
        keys
    }

    /// The object store and prefix the files live in.
    pub fn object_store(&self) -> (Arc<dyn ObjectStore>, Path) {
        (
            self.inner.config.object_store.clone(),
            self.inner.config.prefix.clone(),
        )
    }

    /// Persist everything acknowledged so far. Fails if the object store fails (the data stays
    /// in the WAL and buffer, and the background persister keeps retrying).
    pub async fn flush(&self) -> Result<()> {
        self.inner.persist_cycle(true).await
    }

    /// Merge small files now (what the background compactor does). Returns the number of
    /// (db, table, day) groups compacted.
    pub async fn compact(&self) -> Result<usize> {
        compact::compact(&self.inner, retention::now_ns()).await
    }

    /// Drop files older than their database's retention from the index now (the object store
    /// deletes them after `delete_grace`). Returns the number of files dropped.
    pub async fn enforce_retention(&self) -> Result<usize> {
        retention::enforce(&self.inner, retention::now_ns()).await
    }

    /// Keep `database`'s data for `period` (whole days are dropped once entirely older).
    pub async fn set_retention(&self, database: &str, period: Duration) -> Result<()> {
        let secs = period.as_secs().max(1);
        self.inner
            .catalog
            .update(|c| {
                c.databases
                    .entry(database.to_string())
                    .or_default()
                    .retention_secs = Some(secs)
            })
            .await
    }

    /// Keep `database`'s data forever (or for the configured default).
    pub async fn clear_retention(&self, database: &str) -> Result<()> {
        self.inner
            .catalog
            .update(|c| {
                if let Some(db) = c.databases.get_mut(database) {
                    db.retention_secs = None;
                }
            })
            .await
    }

    /// The retention in force for `database`.
    pub fn retention(&self, database: &str) -> Option<Duration> {
        self.inner.retention_of(&self.catalog(), database)
    }

    /// Current metrics.
    pub fn metrics(&self) -> StorageMetrics {
        let m = &self.inner.metrics;
        let hist = m.fsync.histogram();
        let (_, rows) = self.inner.buffer.lock().expect("buffer lock").totals();
        let files = self
            .inner
            .files
            .read()
            .expect("files lock")
            .values()
            .map(Vec::len)
            .sum::<usize>();
        StorageMetrics {
            wal_fsyncs: hist.count,
            wal_fsync_seconds: hist,
            wal_commit_wait_seconds: m.commit_wait.histogram(),
            wal_entries: m.wal_entries.load(Ordering::Relaxed),
            buffer_bytes: self.inner.bytes.load(Ordering::Relaxed) as u64,
            buffer_rows: rows as u64,
            persisted_files: m.persisted_files.load(Ordering::Relaxed),
            persisted_rows: m.persisted_rows.load(Ordering::Relaxed),
            persist_errors: m.persist_errors.load(Ordering::Relaxed),
            files: files as u64,
            compactions: m.compactions.load(Ordering::Relaxed),
            retention_deleted_files: m.retention_deleted_files.load(Ordering::Relaxed),
            rejected_overloaded: m.rejected_overloaded.load(Ordering::Relaxed),
            rejected_unavailable: m.rejected_unavailable.load(Ordering::Relaxed),
        }
    }

    /// Refuse new writes, persist everything, stop the background tasks and the WAL writer.
    /// Returns the flush result: if it failed, the data is still in the WAL and is replayed on
    /// the next open.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        let flushed = self.flush().await;
        self.stop();
        self.inner.sweep(true).await;
        let thread = self.wal_thread.lock().expect("wal thread").take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        flushed
    }

    fn stop(&self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
        let _ = self.inner.wal_tx.send(WalCommand::Stop);
    }

    fn table_schema(
        &self,
        database: &str,
        table: &str,
        batches: &[RecordBatch],
    ) -> arrow::datatypes::SchemaRef {
        let catalog = self.catalog();
        let known = catalog
            .table(database, table)
            .map(TableSchema::arrow_schema);
        merge::unified_schema(
            known
                .iter()
                .chain(batches.iter().map(|b| b.schema_ref().as_ref())),
        )
    }
}

impl Drop for Storage {
    /// Stops the background work without persisting (like a crash: the WAL has everything).
    fn drop(&mut self) {
        self.stop();
    }
}

/// Releases reserved buffer bytes unless handed over.
struct Reservation<'a> {
    bytes: &'a AtomicUsize,
    size: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.size > 0 {
            self.bytes.fetch_sub(self.size, Ordering::AcqRel);
        }
    }
}

/// A write announced to the WAL's group commit (see [`Storage::expect_write`]).
#[derive(Debug)]
#[must_use = "dropping it withdraws the announcement"]
pub struct ExpectedWrite {
    inner: Arc<Inner>,
    pending: bool,
}

impl ExpectedWrite {
    /// [`Storage::log_write`] for the announced write. `body` holds the record's body bytes
    /// (the request's own buffer: the WAL writes it from there instead of copying it).
    pub fn log(mut self, record: &WriteRecord<'_>, body: Bytes) -> Result<LoggedWrite> {
        let inner = self.inner.clone();
        log_write(&inner, record, Some((&mut self, body)))
    }

    /// No longer expected; called just before the entry is sent (a group that then sees no
    /// other expected write is written at once, with this entry or without it).
    fn arrived(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.inner.wal_incoming.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for ExpectedWrite {
    fn drop(&mut self) {
        if self.pending && self.inner.wal_incoming.fetch_sub(1, Ordering::AcqRel) == 1 {
            // A group may be waiting for this write's entry.
            let _ = self.inner.wal_tx.send(WalCommand::Nudge);
        }
    }
}

/// [`Storage::log_write`], for an announced write or not.
fn log_write(
    inner: &Arc<Inner>,
    record: &WriteRecord<'_>,
    expected: Option<(&mut ExpectedWrite, Bytes)>,
) -> Result<LoggedWrite> {
    if inner.closed.load(Ordering::Acquire) {
        return Err(StorageError::ShutDown);
    }
    let reserved = record.body.len();
    inner.reserve(reserved)?;
    let id = inner.next_wal_id.fetch_add(1, Ordering::Relaxed);
    let logged = LoggedWrite {
        inner: inner.clone(),
        id,
        reserved,
        resolved: false,
    };
    let frame = match expected {
        Some((e, body)) => {
            // Not the record's own bytes: copy those (never happens with the server).
            let same = body.as_ptr() == record.body.as_ptr() && body.len() == record.body.len();
            let body = if same {
                body
            } else {
                Bytes::copy_from_slice(record.body)
            };
            let frame = wal::request_frame(record, body);
            e.arrived();
            frame
        }
        None => wal::request_frame(record, Bytes::copy_from_slice(record.body)),
    };
    inner
        .wal_tx
        .send(WalCommand::Log { id, frame })
        .map_err(|_| StorageError::ShutDown)?;
    Ok(logged)
}

/// A line-protocol write whose record is in the WAL (see [`Storage::log_write`]).
#[derive(Debug)]
#[must_use = "dropping it stores nothing of the write"]
pub struct LoggedWrite {
    inner: Arc<Inner>,
    id: u64,
    /// Buffer bytes held for this write.
    reserved: usize,
    resolved: bool,
}

impl LoggedWrite {
    /// Store the rows the record's parse produced. Returns once they are durable and visible.
    /// `SchemaConflict` (a concurrent writer added one of the new columns with another type)
    /// leaves the handle usable: parse the record again against the new catalog and retry, as
    /// replay would.
    pub async fn commit(
        &mut self,
        database: &str,
        batches: Vec<(String, RecordBatch)>,
        new_columns: &[NewColumn],
    ) -> Result<()> {
        let inner = &self.inner;
        let catalog = inner.catalog.snapshot();
        if let Some(cols) = checked_columns(&catalog, database, &batches, new_columns)? {
            inner.catalog.ensure(database, &cols).await?;
        }
        // The body's size was admitted; the rows may take more or less.
        let size: usize = batches.iter().map(|(_, b)| batch_bytes(b)).sum();
        if size >= self.reserved {
            inner
                .bytes
                .fetch_add(size - self.reserved, Ordering::AcqRel);
        } else {
            inner
                .bytes
                .fetch_sub(self.reserved - size, Ordering::AcqRel);
        }
        self.reserved = 0;
        self.resolved = true;
        inner.commit_rows(self.id, database, batches, size).await
    }
}

impl Drop for LoggedWrite {
    /// Nothing (more) is stored now; the WAL moves past the entry. Replay parses it again: a
    /// write that failed here after being logged may be visible after a restart, wholly.
    fn drop(&mut self) {
        if self.reserved > 0 {
            self.inner.bytes.fetch_sub(self.reserved, Ordering::AcqRel);
        }
        if !self.resolved {
            let inner = &self.inner;
            wal::resolve(
                &inner.wal_queue,
                &inner.wal_tx,
                self.id,
                wal::Outcome::Nothing,
            );
        }
    }
}

/// What a replayed WAL entry stores: database, rows per table, new columns.
type Replayed = (String, Vec<(String, RecordBatch)>, Vec<NewColumn>);

/// A WAL entry's database, rows and new columns; `None` when it stores nothing.
fn replay_entry(catalog: &CatalogStore, entry: wal::WalEntry) -> Option<Replayed> {
    match entry {
        wal::WalEntry::Rows { database, batches } => Some((database, batches, Vec::new())),
        wal::WalEntry::Request(record) => {
            let parsed = record
                .as_record()
                .parse(&*catalog.snapshot(), 0)
                .inspect_err(|e| tracing::debug!("WAL replay: request rejected again: {e}"))
                .ok()?;
            let batches = parsed
                .batches
                .into_iter()
                .map(|b| (b.measurement, b.batch))
                .collect();
            let cols = parsed.new_columns.iter().map(NewColumn::from).collect();
            Some((record.database, batches, cols))
        }
    }
}

/// Validate the batches and list the columns the catalog must be checked and extended with:
/// `None` when `catalog` already has every one of them with its type (the usual write: no list
/// to build and sort), else every column they use or introduce, sorted; two types for one column
/// is a `SchemaConflict`.
fn checked_columns(
    catalog: &Catalog,
    database: &str,
    batches: &[(String, RecordBatch)],
    new_columns: &[NewColumn],
) -> Result<Option<Vec<NewColumn>>> {
    for (table, b) in batches {
        validate_batch(database, table, b)?;
    }
    if new_columns.is_empty() && all_known(catalog, database, batches) {
        return Ok(None);
    }
    let mut cols = new_columns.to_vec();
    cols.extend(derived_columns(batches));
    let mut seen: HashMap<(&str, &str), ColumnType> = HashMap::new();
    for c in &cols {
        if let Some(t) = seen.insert((&c.table, &c.column), c.column_type)
            && t != c.column_type
        {
            return Err(StorageError::SchemaConflict {
                database: database.to_string(),
                table: c.table.clone(),
                column: c.column.clone(),
                existing: ColumnTypeName(t),
                requested: ColumnTypeName(c.column_type),
            });
        }
    }
    cols.sort_by(|a, b| (&a.table, &a.column).cmp(&(&b.table, &b.column)));
    cols.dedup();
    Ok(Some(cols))
}

/// Whether `catalog` has every column of the batches, with the type it has there.
fn all_known(catalog: &Catalog, database: &str, batches: &[(String, RecordBatch)]) -> bool {
    let Some(db) = catalog.database(database) else {
        return false;
    };
    batches.iter().all(|(table, b)| {
        db.tables.get(table).is_some_and(|t| {
            b.schema_ref().fields().iter().all(|f| {
                column_type_of(f.name(), f.data_type())
                    .is_some_and(|ty| t.columns.get(f.name()) == Some(&ty))
            })
        })
    })
}

/// The columns the batches have, as catalog entries.
fn derived_columns(batches: &[(String, RecordBatch)]) -> Vec<NewColumn> {
    let mut out = Vec::new();
    for (table, b) in batches {
        for f in b.schema_ref().fields() {
            if let Some(t) = column_type_of(f.name(), f.data_type()) {
                out.push(NewColumn::new(table.clone(), f.name().clone(), t));
            }
        }
    }
    out
}

fn validate_batch(database: &str, table: &str, b: &RecordBatch) -> Result<()> {
    let bad = |message: String| StorageError::InvalidBatch {
        database: database.to_string(),
        table: table.to_string(),
        message,
    };
    if table.is_empty() {
        return Err(bad("empty table name".into()));
    }
    let time = b
        .column_by_name(TIME_COLUMN)
        .ok_or_else(|| bad("no time column".into()))?;
    if !matches!(
        time.data_type(),
        DataType::Timestamp(TimeUnit::Nanosecond, _)
    ) {
        return Err(bad(format!("time column has type {}", time.data_type())));
    }
    if time.null_count() > 0 {
        return Err(bad("time column has nulls".into()));
    }
    for f in b.schema_ref().fields() {
        match column_type_of(f.name(), f.data_type()) {
            Some(ColumnType::Time) if f.name() != TIME_COLUMN => {
                return Err(bad(format!("unexpected timestamp column {:?}", f.name())));
            }
            Some(_) => {}
            None => {
                return Err(bad(format!(
                    "column {:?} has unsupported type {}",
                    f.name(),
                    f.data_type()
                )));
            }
        }
    }
    Ok(())
}

impl Inner {
    fn buffer_batches(&self, database: &str, table: &str) -> Vec<RecordBatch> {
        self.buffer
            .lock()
            .expect("buffer lock")
            .table_batches(database, table)
    }

    pub(crate) fn retention_of(&self, catalog: &Catalog, database: &str) -> Option<Duration> {
        catalog
            .database(database)
            .and_then(|d| d.retention_secs)
            .map(Duration::from_secs)
            .or(self.config.default_retention)
    }

    fn reserve(&self, size: usize) -> Result<()> {
        let prev = self.bytes.fetch_add(size, Ordering::AcqRel);
        if prev > 0 && prev + size > self.config.max_buffer_bytes {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            self.persist_notify.notify_one();
            if self.store_failing.load(Ordering::Acquire) {
                self.metrics
                    .rejected_unavailable
                    .fetch_add(1, Ordering::Relaxed);
                return Err(StorageError::Unavailable {
                    retry_after_secs: self.backoff_secs.load(Ordering::Relaxed).max(1),
                    reason: "object store is failing and the write buffer is full".into(),
                });
            }
            self.metrics
                .rejected_overloaded
                .fetch_add(1, Ordering::Relaxed);
            return Err(StorageError::Overloaded {
                retry_after_secs: 1,
            });
        }
        Ok(())
    }

    /// Hand the rows of logged entry `id` (holding `size` reserved bytes) to the WAL writer and
    /// wait until they are durable and visible.
    async fn commit_rows(
        &self,
        id: u64,
        database: &str,
        batches: Vec<(String, RecordBatch)>,
        size: usize,
    ) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        let outcome = wal::Outcome::Rows {
            database: database.to_string(),
            batches,
            bytes: size,
            reply,
        };
        if !wal::resolve(&self.wal_queue, &self.wal_tx, id, outcome) {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(StorageError::ShutDown);
        }
        rx.await.map_err(|_| StorageError::ShutDown)??;
        if self.should_snapshot() {
            self.persist_notify.notify_one();
        }
        Ok(())
    }

    fn should_snapshot(&self) -> bool {
        let (bytes, rows, since) = self.buffer.lock().expect("buffer lock").active_stats();
        rows > 0
            && (bytes >= self.config.persist_threshold_bytes
                || since.is_some_and(|t| t.elapsed() >= self.config.persist_max_age)
                || self.bytes.load(Ordering::Relaxed) >= self.config.max_buffer_bytes / 2)
    }

    fn has_pending(&self) -> bool {
        self.buffer
            .lock()
            .expect("buffer lock")
            .persisting()
            .is_some()
    }

    /// Persist a pending snapshot, then (if `force` or a threshold is reached) a new one.
    async fn persist_cycle(&self, force: bool) -> Result<()> {
        let mut pending = self.persist.lock().await;
        let existing = self.buffer.lock().expect("buffer lock").persisting();
        if let Some(snap) = existing {
            self.persist_snapshot(snap, &mut pending).await?;
        }
        if force || self.should_snapshot() {
            let seq = self.next_seq.fetch_add(1, Ordering::AcqRel);
            let (reply, rx) = oneshot::channel();
            self.wal_tx
                .send(WalCommand::Snapshot { seq, reply })
                .map_err(|_| StorageError::ShutDown)?;
            if let Some(snap) = rx.await.map_err(|_| StorageError::ShutDown)?? {
                self.persist_snapshot(snap, &mut pending).await?;
            }
        }
        Ok(())
    }

    async fn persist_snapshot(
        &self,
        snap: Arc<Snapshot>,
        pending: &mut Option<Vec<(EncodedFile, bool)>>,
    ) -> Result<()> {
        if pending.is_none() {
            let prefix = self.config.prefix.clone();
            let codec = self.config.codec;
            let s = snap.clone();
            let files = tokio::task::spawn_blocking(move || -> Result<Vec<EncodedFile>> {
                let mut out = Vec::new();
                for ((db, table), t) in &s.tables {
                    if let Some(batch) = merge::dedup_sort(&t.batches, None)? {
                        out.extend(persist::encode_files(
                            &prefix, db, table, &batch, s.seq, codec,
                        )?);
                    }
                }
                Ok(out)
            })
            .await
            .map_err(|e| StorageError::Catalog(format!("persist task panicked: {e}")))??;
            *pending = Some(files.into_iter().map(|f| (f, false)).collect());
        }
        let uploads = pending.as_mut().expect("encoded");
        for (f, done) in uploads.iter_mut() {
            if *done {
                continue;
            }
            let put = self
                .config
                .object_store
                .put(&f.meta.path, PutPayload::from_bytes(f.bytes.clone()))
                .await;
            if let Err(e) = put {
                self.store_failing.store(true, Ordering::Release);
                self.metrics.persist_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
            *done = true;
        }
        let uploads = pending.take().expect("encoded");
        let rows: usize = uploads.iter().map(|(f, _)| f.rows).sum();
        {
            let mut files = self.files.write().expect("files lock");
            for (f, _) in &uploads {
                let v = files
                    .entry((f.meta.database.clone(), f.meta.table.clone()))
                    .or_default();
                v.push(f.meta.clone());
                v.sort_by(|a, b| (a.seq, &a.path).cmp(&(b.seq, &b.path)));
            }
            self.files_version.fetch_add(1, Ordering::AcqRel);
            let now = Instant::now();
            let mut last = self.last_persisted.lock().expect("last_persisted lock");
            for (f, _) in &uploads {
                let key = (f.meta.database.clone(), f.meta.table.clone());
                last.insert((key, f.meta.day), now);
            }
            drop(last);
            let freed = self.buffer.lock().expect("buffer lock").finish_snapshot();
            self.bytes.fetch_sub(freed, Ordering::AcqRel);
        }
        self.store_failing.store(false, Ordering::Release);
        self.metrics
            .persisted_files
            .fetch_add(uploads.len() as u64, Ordering::Relaxed);
        self.metrics
            .persisted_rows
            .fetch_add(rows as u64, Ordering::Relaxed);
        // Mirror the catalog so a node with an empty data dir finds it (best effort).
        if let Ok(json) = serde_json::to_vec_pretty(&*self.catalog.snapshot()) {
            let path = layout::catalog_path(&self.config.prefix);
            if let Err(e) = self.config.object_store.put(&path, json.into()).await {
                tracing::warn!("could not mirror the catalog: {e}");
            }
        }
        let dir = self.config.wal_dir.clone();
        let last = snap.last_segment;
        tokio::task::spawn_blocking(move || wal::delete_segments_up_to(&dir, last))
            .await
            .map_err(|e| StorageError::Catalog(format!("WAL truncation panicked: {e}")))??;
        Ok(())
    }
}

/// The background persister: checks the thresholds, persists, retries with backoff on failure.
async fn persister(inner: Arc<Inner>) {
    let min = Duration::from_millis(100);
    let mut backoff = min;
    loop {
        tokio::select! {
            () = inner.persist_notify.notified() => {}
            () = tokio::time::sleep(inner.config.persist_check_interval) => {}
        }
        inner.sweep(false).await;
        if !inner.has_pending() && !inner.should_snapshot() {
            continue;
        }
        match inner.persist_cycle(false).await {
            Ok(()) => {
                backoff = min;
                inner.backoff_secs.store(1, Ordering::Relaxed);
            }
            Err(StorageError::ShutDown) => return,
            Err(e) => {
                tracing::warn!(retry_in = ?backoff, "persist failed: {e}");
                inner
                    .backoff_secs
                    .store(backoff.as_secs().max(1), Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(inner.config.persist_retry_max_backoff.max(min));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int64Array, TimestampNanosecondArray};
    use influxgate::schema::FieldType;

    fn batch(field: ArrayRef) -> RecordBatch {
        let time = TimestampNanosecondArray::from(vec![1]).with_timezone("UTC");
        RecordBatch::try_from_iter(vec![
            ("x", field),
            (TIME_COLUMN, Arc::new(time) as ArrayRef),
        ])
        .unwrap()
    }

    /// A write skips the catalog update only when every column is there with its type.
    #[test]
    fn all_known_needs_every_column_with_its_type() {
        let floats = batch(Arc::new(Float64Array::from(vec![1.0])));
        let ints = batch(Arc::new(Int64Array::from(vec![1])));
        let mut catalog = Catalog::default();
        let table = |name: &str| vec![(name.to_string(), floats.clone())];
        assert!(!all_known(&catalog, "db", &table("cpu")), "no database");
        let cols = checked_columns(&catalog, "db", &table("cpu"), &[]).unwrap();
        catalog::apply(&mut catalog, "db", &cols.expect("all new"));
        // Known now: nothing to check against the catalog or add to it.
        assert!(
            checked_columns(&catalog, "db", &table("cpu"), &[])
                .unwrap()
                .is_none()
        );
        assert!(all_known(&catalog, "db", &table("cpu")));
        assert!(!all_known(&catalog, "db", &table("mem")), "unknown table");
        assert!(
            !all_known(&catalog, "other", &table("cpu")),
            "unknown database"
        );
        let conflicting = vec![("cpu".to_string(), ints)];
        assert!(!all_known(&catalog, "db", &conflicting), "another type");
        let wider = RecordBatch::try_from_iter(vec![
            ("x", floats.column(0).clone()),
            ("y", Arc::new(Float64Array::from(vec![2.0])) as ArrayRef),
            (TIME_COLUMN, floats.column(1).clone()),
        ])
        .unwrap();
        assert!(
            !all_known(&catalog, "db", &[("cpu".to_string(), wider)]),
            "new column"
        );
        // What the catalog holds: x as a float, and the time column.
        let cpu = catalog.table("db", "cpu").unwrap();
        assert_eq!(cpu.columns["x"], ColumnType::Field(FieldType::Float));
        assert_eq!(cpu.columns[TIME_COLUMN], ColumnType::Time);
    }
}
