//! Tables over the stored data: one DataFusion table per (database, measurement), reading the
//! Parquet files of the object store plus the rows still in the write buffer, deduplicated the
//! way the storage does it (same series and time: the later write wins field by field).
//!
//! Scanning a table:
//!
//! 1. The time range of the query's filters (`time >= …`, `time < …`, …) selects the day
//!    partitions (`<db>/<table>/<YYYY-MM-DD>/`) to read; other days' files are never opened.
//! 2. A day with exactly one file and no buffered rows needs no deduplication (files are
//!    deduplicated when written and when compacted): its file is read by DataFusion's Parquet
//!    scan with the filters as a pruning predicate (row-group statistics), in parallel.
//! 3. A day with several files, or with files and buffered rows, is merged: its files are read
//!    (pruned and filtered by the conditions on tags and time only, which cannot change the
//!    outcome of deduplication), then merged with the buffered rows of that day by
//!    [`influxgate_storage::merge::dedup_sort`], oldest first (file `seq`, then the buffer).
//! 4. Buffered rows of days without files are already deduplicated by the storage.
//!
//! Exact time bounds and conditions on tags only are applied exactly by the scan (reported
//! `Exact`): files read directly select the matching series' rows through their
//! [`SeriesIndex`], merged and buffered rows are filtered. Other filters are reported
//! `Inexact`, so DataFusion still applies them above the scan.
//! [`ScanStats`] of the last scan (files pruned, read, merged) are kept for tests and `EXPLAIN`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::data_cache::{DataCachingReaderFactory, ParquetDataCache};
use crate::decoded::{Decode, DecodedCache, DecodedFile, DecodedScanExec};
use crate::series_index::{Selection, SeriesIndex};
use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimestampNanosecondType};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown, col, lit};
use datafusion::parquet::arrow::arrow_reader::RowSelection;
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use datafusion::parquet::file::statistics::Statistics;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{ExecutionPlan, collect};
use influxgate_storage::layout::{NANOS_PER_DAY, day_of};
use influxgate_storage::merge::{align, dedup_sort, last_rows};
use influxgate_storage::{FileMeta, Storage, StorageError, TIME_COLUMN};
use object_store::ObjectStore;

/// The URL the storage's object store is registered under in the session.
pub const STORE_URL: &str = "influxgate://store";

fn storage_err(e: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// What the last scan of a table did (for tests and diagnostics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Files of the table.
    pub files_total: usize,
    /// Files skipped because their day is outside the query's time range.
    pub files_pruned_by_day: usize,
    /// Files scanned directly (a day with one file and no buffered rows).
    pub files_scanned: usize,
    /// Files with rows read and merged with other files or buffered rows: those in a contested
    /// window, a time range where several sources of the day overlap.
    pub files_merged: usize,
    /// Files of days with several sources whose time ranges do not overlap, scanned directly.
    pub files_disjoint: usize,
    /// Files of those read directly outside the contested windows (and merged inside).
    pub files_partial: usize,
    /// Files read directly that were skipped because none of their series matches the
    /// conditions on tags (by their [`SeriesIndex`]).
    pub files_pruned_by_tags: usize,
    /// Buffered rows included (after the time range).
    pub buffer_rows: usize,
    /// Rows that came out of merging (rows of contested windows, deduplicated).
    pub rows_merged: usize,
    /// The time range `[lo, hi]` (inclusive, nanoseconds) the filters allow.
    pub time_range: (i64, i64),
}

/// State shared by the tables of a catalog.
#[derive(Debug, Default)]
pub struct Shared {
    /// The stats of the last scan of each table.
    pub stats: Mutex<BTreeMap<(String, String), ScanStats>>,
    /// What the footer of each file says (files never change).
    footers: Mutex<HashMap<String, Footer>>,
    /// The [`last_rows`] of each file (files never change), up to [`SUMMARY_BUDGET`] bytes.
    summaries: Mutex<Budgeted<String, RecordBatch>>,
    /// Whole files for the scans (`QueryLimits::parquet_cache_bytes`).
    pub data_cache: Arc<ParquetDataCache>,
    /// Decoded columns of files for the scans (`QueryLimits::decoded_cache_bytes`).
    pub decoded: Arc<DecodedCache>,
    /// The [`SeriesIndex`] of each file (files never change; `None`: not grouped by series),
    /// keyed by path and the table's number of tags (tags are only ever added), up to
    /// [`SUMMARY_BUDGET`] bytes.
    series: Mutex<SeriesIndexes>,
}

/// What a file's footer says, as the scans use it.
#[derive(Debug, Clone, Copy)]
struct Footer {
    /// `[min, max]` of the `time` column, from the statistics; the whole range if unknown.
    time: (i64, i64),
    /// Rows of the file; `None` if the footer could not be read.
    rows: Option<usize>,
}

/// (path, number of tags) -> the file's series index, if it has one.
type SeriesIndexes = Budgeted<(String, usize), Option<Arc<SeriesIndex>>>;

/// Bytes of file summaries kept in memory; past it, summaries are computed per query.
pub const SUMMARY_BUDGET: usize = 64 << 20;

/// Values computed from files (which never change), kept within [`SUMMARY_BUDGET`] bytes.
/// When full, everything is dropped first: entries of files compaction or retention removed go
/// with it, and the live ones are computed again on their next use.
#[derive(Debug)]
struct Budgeted<K, V> {
    by_key: HashMap<K, V>,
    bytes: usize,
}

impl<K, V> Default for Budgeted<K, V> {
    fn default() -> Self {
        Budgeted {
            by_key: HashMap::new(),
            bytes: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Budgeted<K, V> {
    fn get<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.by_key.get(key).cloned()
    }

    /// Keep `value` (`size` bytes) under `key`, unless it alone exceeds the budget or the key
    /// is already there.
    fn insert(&mut self, key: K, value: V, size: usize) {
        if size > SUMMARY_BUDGET || self.by_key.contains_key(&key) {
            return;
        }
        if self.bytes + size > SUMMARY_BUDGET {
            self.by_key.clear();
            self.bytes = 0;
        }
        self.bytes += size;
        self.by_key.insert(key, value);
    }
}

/// The catalog of the session: one schema per storage database.
#[derive(Debug)]
pub struct StorageCatalog {
    storage: Arc<Storage>,
    shared: Arc<Shared>,
}

impl StorageCatalog {
    pub fn new(storage: Arc<Storage>) -> Self {
        StorageCatalog {
            storage,
            shared: Arc::default(),
        }
    }

    /// The state shared by the catalog's tables (scan stats).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl CatalogProvider for StorageCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.storage.catalog().databases.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        // Unknown databases are empty schemas, so a query on them finds no table rather than
        // failing on the schema.
        Some(Arc::new(DatabaseSchema {
            storage: self.storage.clone(),
            database: name.to_string(),
            shared: self.shared.clone(),
        }))
    }
}

/// One storage database's tables.
#[derive(Debug)]
pub struct DatabaseSchema {
    storage: Arc<Storage>,
    database: String,
    shared: Arc<Shared>,
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        self.storage
            .catalog()
            .database(&self.database)
            .map(|d| d.tables.keys().cloned().collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.storage.catalog().table(&self.database, name).map(|t| {
            Arc::new(MeasurementTable {
                storage: self.storage.clone(),
                database: self.database.clone(),
                table: name.to_string(),
                schema: Arc::new(t.arrow_schema()),
                shared: self.shared.clone(),
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.storage.catalog().table(&self.database, name).is_some()
    }
}

/// One measurement: Parquet files plus buffered rows.
#[derive(Debug)]
pub struct MeasurementTable {
    storage: Arc<Storage>,
    database: String,
    table: String,
    schema: SchemaRef,
    shared: Arc<Shared>,
}

impl MeasurementTable {
    /// A table of `storage` (whose catalog must know it).
    pub fn try_new(storage: Arc<Storage>, database: &str, table: &str) -> Option<Self> {
        Self::with_shared(storage, database, table, Arc::default())
    }

    /// A table sharing the caches and stats of a catalog's other tables.
    pub fn with_shared(
        storage: Arc<Storage>,
        database: &str,
        table: &str,
        shared: Arc<Shared>,
    ) -> Option<Self> {
        let schema = Arc::new(storage.catalog().table(database, table)?.arrow_schema());
        Some(MeasurementTable {
            storage,
            database: database.to_string(),
            table: table.to_string(),
            schema,
            shared,
        })
    }

    fn is_tag(&self, name: &str) -> bool {
        self.schema
            .field_with_name(name)
            .is_ok_and(|f| matches!(f.data_type(), DataType::Dictionary(..)))
    }

    /// A filter that only looks at tags and time: applying it before deduplication cannot
    /// change the result, because those columns are the deduplication key.
    fn is_key_filter(&self, e: &Expr) -> bool {
        let cols = e.column_refs();
        !cols.is_empty()
            && cols
                .iter()
                .all(|c| c.name == TIME_COLUMN || self.is_tag(&c.name))
    }

    /// A filter that only looks at tags (and calls nothing volatile): the scan applies it
    /// exactly, per series where a file has a [`SeriesIndex`].
    fn is_tag_filter(&self, e: &Expr) -> bool {
        let cols = e.column_refs();
        !cols.is_empty() && cols.iter().all(|c| self.is_tag(&c.name)) && !e.is_volatile()
    }

    /// Positions of the tag columns in the table's schema.
    fn tag_indices(&self) -> Vec<usize> {
        (0..self.schema.fields().len())
            .filter(|i| self.is_tag(self.schema.field(*i).name()))
            .collect()
    }
}

/// Nanoseconds of a timestamp literal (any unit) or an integer.
fn literal_ns(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::TimestampNanosecond(Some(v), _) | ScalarValue::Int64(Some(v)) => Some(*v),
            ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
            ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
            ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
            _ => None,
        },
        Expr::Cast(c) => literal_ns(&c.expr),
        Expr::TryCast(c) => literal_ns(&c.expr),
        Expr::ScalarFunction(f) if f.name() == "to_timestamp_nanos" && f.args.len() == 1 => {
            literal_ns(&f.args[0])
        }
        _ => None,
    }
}

fn is_time_col(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == TIME_COLUMN,
        Expr::Cast(c) => is_time_col(&c.expr),
        _ => false,
    }
}

/// Whether `[lo, hi]` of [`time_range`] is exactly what `e` keeps: comparisons of the plain
/// `time` column with literals, joined by AND. The scan then applies the range itself (files
/// wholly inside it are read without evaluating it per row) and DataFusion adds no filter.
fn is_exact_time_bound(e: &Expr) -> bool {
    let plain_time = |e: &Expr| matches!(e, Expr::Column(c) if c.name == TIME_COLUMN);
    // Only the simplified form (the optimizer folds `to_timestamp_nanos(n)` and casts).
    let literal_ns = |e: &Expr| match e {
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => Some(*v),
        _ => None,
    };
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => is_exact_time_bound(left) && is_exact_time_bound(right),
            Operator::Eq | Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq => {
                let v = if plain_time(left) {
                    literal_ns(right)
                } else if plain_time(right) {
                    literal_ns(left)
                } else {
                    None
                };
                // The range saturates at the ends of i64: not exact there.
                v.is_some_and(|v| v != i64::MIN && v != i64::MAX)
            }
            _ => false,
        },
        Expr::Between(b) => {
            !b.negated
                && plain_time(&b.expr)
                && literal_ns(&b.low).is_some()
                && literal_ns(&b.high).is_some()
        }
        _ => false,
    }
}

/// `lo <= time <= hi`.
fn range_expr(lo: i64, hi: i64) -> Expr {
    let ts = |v: i64| {
        lit(ScalarValue::TimestampNanosecond(
            Some(v),
            Some("UTC".into()),
        ))
    };
    col(TIME_COLUMN).between(ts(lo), ts(hi))
}

/// The inclusive range `[lo, hi]` of `time` that `e` allows (unbounded sides saturate).
fn time_range(e: &Expr) -> (i64, i64) {
    let all = (i64::MIN, i64::MAX);
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                let (a, b) = (time_range(left), time_range(right));
                return (a.0.max(b.0), a.1.min(b.1));
            }
            if *op == Operator::Or {
                let (a, b) = (time_range(left), time_range(right));
                return (a.0.min(b.0), a.1.max(b.1));
            }
            let (op, v) = if is_time_col(left) {
                match literal_ns(right) {
                    Some(v) => (*op, v),
                    None => return all,
                }
            } else if is_time_col(right) {
                match (literal_ns(left), op.swap()) {
                    (Some(v), Some(op)) => (op, v),
                    _ => return all,
                }
            } else {
                return all;
            };
            match op {
                Operator::Eq => (v, v),
                Operator::Gt => (v.saturating_add(1), i64::MAX),
                Operator::GtEq => (v, i64::MAX),
                Operator::Lt => (i64::MIN, v.saturating_sub(1)),
                Operator::LtEq => (i64::MIN, v),
                _ => all,
            }
        }
        Expr::Between(b) if is_time_col(&b.expr) && !b.negated => {
            match (literal_ns(&b.low), literal_ns(&b.high)) {
                (Some(lo), Some(hi)) => (lo, hi),
                _ => all,
            }
        }
        _ => all,
    }
}

/// Keep the rows of `batch` for which `predicate` is true.
fn filter_batch(
    batch: &RecordBatch,
    predicate: Option<&Arc<dyn PhysicalExpr>>,
) -> Result<RecordBatch> {
    let Some(p) = predicate else {
        return Ok(batch.clone());
    };
    let mask = p.evaluate(batch)?.into_array(batch.num_rows())?;
    let mask = mask
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| DataFusionError::Internal("filter is not boolean".into()))?;
    Ok(filter_record_batch(batch, mask)?)
}

/// Rows of `batch` whose time is in `[lo, hi]` and whose day is in `days` (all days if `None`).
fn select_rows(batch: &RecordBatch, lo: i64, hi: i64, day: Option<i64>) -> Result<RecordBatch> {
    let Some(time) = batch
        .column_by_name(TIME_COLUMN)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
    else {
        return Ok(batch.clone());
    };
    let mask: BooleanArray = time
        .values()
        .iter()
        .map(|t| Some(*t >= lo && *t <= hi && day.is_none_or(|d| day_of(*t) == d)))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// The `time` values of `batch` (none if it has no time column).
fn times(batch: &RecordBatch) -> &[i64] {
    batch
        .column_by_name(TIME_COLUMN)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .map(|t| t.values().as_ref())
        .unwrap_or(&[])
}

/// `[min, max]` time of the buffered rows of each day.
fn buffer_ranges(buffered: &[RecordBatch]) -> BTreeMap<i64, (i64, i64)> {
    let mut out: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for b in buffered {
        for v in times(b) {
            let r = out.entry(day_of(*v)).or_insert((*v, *v));
            r.0 = r.0.min(*v);
            r.1 = r.1.max(*v);
        }
    }
    out
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The windows `[lo, hi]` (inclusive, ascending, disjoint) covered by two or more of `ranges`
/// (inclusive): only there can two sources hold the same (series, time).
pub fn contested(ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    // Sweep over starts and (exclusive) ends; i128 so `i64::MAX + 1` needs no saturation.
    let mut events: Vec<(i128, i32)> = Vec::with_capacity(ranges.len() * 2);
    for &(a, b) in ranges {
        if a <= b {
            events.push((a as i128, 1));
            events.push((b as i128 + 1, -1));
        }
    }
    // At equal points ends come first: `[a, b]` and `[b + 1, c]` do not overlap.
    events.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    let (mut depth, mut start) = (0, 0i128);
    for (p, d) in events {
        let before = depth;
        depth += d;
        if before < 2 && depth >= 2 {
            start = p;
        } else if before >= 2 && depth < 2 && p > start {
            out.push((start as i64, (p - 1) as i64));
        }
    }
    out
}

/// `time` inside one of `windows` (or, with `inside == false`, outside all of them).
fn windows_expr(windows: &[(i64, i64)], inside: bool) -> Expr {
    let any = windows
        .iter()
        .map(|(a, b)| range_expr(*a, *b))
        .reduce(Expr::or)
        .unwrap_or(lit(false));
    if inside {
        any
    } else {
        Expr::Not(Box::new(any))
    }
}

/// The rows of `batch` whose time is inside one of `windows` (or outside all, `inside == false`).
fn window_rows(batch: &RecordBatch, windows: &[(i64, i64)], inside: bool) -> Result<RecordBatch> {
    if windows.is_empty() {
        return Ok(if inside {
            batch.slice(0, 0)
        } else {
            batch.clone()
        });
    }
    let t = times(batch);
    if t.len() != batch.num_rows() {
        return Err(DataFusionError::Internal("merged rows without time".into()));
    }
    let mask: BooleanArray = t
        .iter()
        .map(|t| Some(windows.iter().any(|w| w.0 <= *t && *t <= w.1) == inside))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

impl MeasurementTable {
    /// `[min, max]` time of a file, from its footer (cached); the whole range if unknown.
    async fn file_time_range(&self, f: &FileMeta) -> (i64, i64) {
        self.footer(f).await.time
    }

    /// What the footer of `f` says, read once and kept.
    // `ParquetObjectReader` is deprecated in favour of custom readers; it is what the storage
    // crate reads files with, and reading one footer is all this needs.
    #[allow(deprecated)]
    async fn footer(&self, f: &FileMeta) -> Footer {
        let key = f.path.to_string();
        if let Some(r) = self
            .shared
            .footers
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
        {
            return r;
        }
        let (store, _) = self.storage.object_store();
        let mut reader = ParquetObjectReader::new(store, f.path.clone()).with_file_size(f.size);
        let (range, rows) = match reader.get_metadata(None).await {
            Ok(md) => {
                let mut range = Some((i64::MAX, i64::MIN));
                for rg in md.row_groups() {
                    let stats = rg
                        .columns()
                        .iter()
                        .find(|c| c.column_path().string() == TIME_COLUMN)
                        .and_then(|c| c.statistics());
                    match (stats, range) {
                        (Some(Statistics::Int64(s)), Some((lo, hi))) => {
                            range = match (s.min_opt(), s.max_opt()) {
                                (Some(a), Some(b)) => Some((lo.min(*a), hi.max(*b))),
                                _ => None,
                            };
                        }
                        _ => range = None,
                    }
                }
                (range, usize::try_from(md.file_metadata().num_rows()).ok())
            }
            Err(_) => (None, None),
        };
        let footer = Footer {
            time: range.unwrap_or((i64::MIN, i64::MAX)),
            rows,
        };
        if let Ok(mut m) = self.shared.footers.lock() {
            m.insert(key, footer);
        }
        footer
    }

    /// Whether every row of `f` lies in `[lo, hi]` (by its footer's statistics).
    async fn within(&self, f: &FileMeta, lo: i64, hi: i64) -> bool {
        let (a, b) = self.file_time_range(f).await;
        lo <= a && b <= hi
    }

    /// A direct read of `files` (each with the rows its series index selected, if any)
    /// keeping exactly the rows where `exact` holds: `prune` (the query's filters and `exact`)
    /// prunes and filters while decoding, and a `FilterExec` applies `exact` (rows outside
    /// contested windows, the time range, tag conditions of files without an index) exactly.
    fn exact_exec(
        &self,
        state: &dyn Session,
        files: &[(&FileMeta, Option<RowSelection>)],
        prune: Vec<Expr>,
        exact: Option<Expr>,
        projection: Option<&[usize]>,
        partitions: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let pred = conjunction(prune)
            .map(|e| state.create_physical_expr(e, &df_schema))
            .transpose()?;
        let all = || (0..self.schema.fields().len()).collect::<Vec<_>>();
        let Some(exact) = exact else {
            let read = projection.map_or_else(all, <[_]>::to_vec);
            return self.scan_exec(state, files, pred, read, partitions);
        };
        let wanted: Vec<usize> = projection.map_or_else(all, <[_]>::to_vec);
        // Read what the projection wants plus what `exact` looks at, then drop the latter.
        let mut read = wanted.clone();
        for c in exact.column_refs() {
            let i = self.schema.index_of(&c.name)?;
            if !read.contains(&i) {
                read.push(i);
            }
        }
        let scan = self.scan_exec(state, files, pred, read.clone(), partitions)?;
        let read_schema = DFSchema::try_from(self.schema.project(&read)?)?;
        let exact = state.create_physical_expr(exact, &read_schema)?;
        let out: Vec<usize> = (0..wanted.len()).collect();
        Ok(Arc::new(
            FilterExecBuilder::new(exact, scan)
                .apply_projection(Some(out))?
                .build()?,
        ))
    }

    /// A read of `files` keeping exactly the rows where `exact` (if any) and the tag conditions
    /// among `prune` hold. The tag conditions select whole series through each file's
    /// [`SeriesIndex`] (a file with no matching series is not read); only if some file has no
    /// index are they also checked row by row. `None` when no file is left; with the number of
    /// files left out.
    async fn files_exec(
        &self,
        state: &dyn Session,
        files: &[&FileMeta],
        prune: Vec<Expr>,
        exact: Option<Expr>,
        projection: Option<&[usize]>,
        partitions: usize,
    ) -> Result<(Option<Arc<dyn ExecutionPlan>>, usize)> {
        let (tag_filters, mut prune): (Vec<Expr>, Vec<Expr>) =
            prune.into_iter().partition(|e| self.is_tag_filter(e));
        let (chosen, indexed) = self.select_series(state, files, &tag_filters).await?;
        let skipped = files.len() - chosen.len();
        if chosen.is_empty() {
            return Ok((None, skipped));
        }
        // The rows of each file, for the decoded cache's admission (`scan_exec`).
        for (f, _) in &chosen {
            self.footer(f).await;
        }
        // With every file indexed the selections apply the tag conditions exactly: no pruning
        // or filtering by them. Otherwise they prune, and are checked row by row.
        let exact = if indexed {
            exact
        } else {
            prune.extend(tag_filters.iter().cloned());
            match (exact, conjunction(tag_filters)) {
                (Some(a), Some(b)) => Some(a.and(b)),
                (a, b) => a.or(b),
            }
        };
        let exec = self.exact_exec(state, &chosen, prune, exact, projection, partitions)?;
        Ok((Some(exec), skipped))
    }

    /// The rows of each of `files` where `tag_filters` (conditions on tags only) hold, from
    /// their series indexes; files without such rows are left out. The flag is false when
    /// some file has no index (it is then read whole).
    async fn select_series<'a>(
        &self,
        state: &dyn Session,
        files: &[&'a FileMeta],
        tag_filters: &[Expr],
    ) -> Result<(Vec<(&'a FileMeta, Option<RowSelection>)>, bool)> {
        let Some(cond) = conjunction(tag_filters.iter().cloned()) else {
            return Ok((files.iter().map(|f| (*f, None)).collect(), true));
        };
        let tag_schema = DFSchema::try_from(self.schema.project(&self.tag_indices())?)?;
        let pred = state.create_physical_expr(cond, &tag_schema)?;
        let mut chosen = Vec::with_capacity(files.len());
        let mut indexed = true;
        for f in files {
            let Some(index) = self.series_index(state, f).await else {
                indexed = false;
                chosen.push((*f, None));
                continue;
            };
            match index.select(&pred)? {
                Selection::All => chosen.push((*f, None)),
                Selection::Nothing => {}
                Selection::Rows(rows) => chosen.push((*f, Some(rows))),
            }
        }
        Ok((chosen, indexed))
    }

    /// The [`SeriesIndex`] of `f`, computed once from its tag columns and kept (within
    /// [`SUMMARY_BUDGET`]); `None` if its rows are not grouped by series or it could not be
    /// read (the scan then reports the error).
    async fn series_index(&self, state: &dyn Session, f: &FileMeta) -> Option<Arc<SeriesIndex>> {
        let tags = self.tag_indices();
        let key = (f.path.to_string(), tags.len());
        if let Some(index) = self.shared.series.lock().ok().and_then(|m| m.get(&key)) {
            return index;
        }
        let computed: Result<Option<SeriesIndex>> = async {
            let schema = Arc::new(self.schema.project(&tags)?);
            let exec = self.parquet_exec(state, &[(f, None)], None, Some(tags), 1)?;
            let batches = collect(exec, state.task_ctx()).await?;
            SeriesIndex::from_tags(&concat_batches(&schema, &batches)?)
        }
        .await;
        let index = computed.ok()?.map(Arc::new);
        if let Ok(mut m) = self.shared.series.lock() {
            let size = index.as_ref().map_or(0, |i| i.size()) + key.0.len() + 64;
            m.insert(key, index.clone(), size);
        }
        index
    }

    /// The time ranges of a day's sources (its files, then the buffer's) and their contested
    /// windows. Only where two sources' time ranges overlap can they hold the same (series,
    /// time); successive persists of data written in time order overlap little or not at all,
    /// so most rows need no merging.
    async fn day_sources(
        &self,
        files: &[&FileMeta],
        buffer: Option<&(i64, i64)>,
    ) -> (Vec<(i64, i64)>, Vec<(i64, i64)>) {
        let mut ranges = Vec::with_capacity(files.len() + 1);
        for f in files {
            ranges.push(self.file_time_range(f).await);
        }
        ranges.extend(buffer.copied());
        let windows = contested(&ranges);
        (ranges, windows)
    }

    fn cached(&self, key: &str) -> Option<RecordBatch> {
        self.shared.summaries.lock().ok().and_then(|m| m.get(key))
    }

    /// Keep `batch` under `key` (within [`SUMMARY_BUDGET`], see [`Budgeted`]).
    fn remember(&self, key: String, batch: &RecordBatch) {
        if let Ok(mut m) = self.shared.summaries.lock() {
            m.insert(key, batch.clone(), batch.get_array_memory_size());
        }
    }

    /// [`last_rows`] of one file, read whole once and kept (within [`SUMMARY_BUDGET`]).
    async fn file_summary(&self, state: &dyn Session, f: &FileMeta) -> Result<RecordBatch> {
        let key = format!("last {}", f.path);
        if let Some(b) = self.cached(&key) {
            return Ok(b);
        }
        let exec = self.parquet_exec(state, &[(f, None)], None, None, 1)?;
        let batches = collect(exec, state.task_ctx()).await?;
        let whole = concat_batches(&self.schema, &batches)?;
        let summary = last_rows(&whole).map_err(storage_err)?;
        self.remember(key, &summary);
        Ok(summary)
    }

    /// The deduplicated rows (every column) of `files` and `buffered` inside `windows`, oldest
    /// source first. Files never change, so without buffered rows the result is kept.
    async fn merged_windows(
        &self,
        state: &dyn Session,
        files: &[&FileMeta],
        windows: &[(i64, i64)],
        buffered: &[RecordBatch],
    ) -> Result<Option<RecordBatch>> {
        let key = buffered.is_empty().then(|| {
            let mut k = String::from("merged");
            for f in files {
                k.push(' ');
                k.push_str(f.path.as_ref());
            }
            for w in windows {
                k.push_str(&format!(" {}..{}", w.0, w.1));
            }
            k
        });
        if let Some(b) = key.as_deref().and_then(|k| self.cached(k)) {
            return Ok(Some(b));
        }
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let pred = state.create_physical_expr(windows_expr(windows, true), &df_schema)?;
        // One partition: files in order (oldest first), then the buffer; the later write wins.
        let files: Vec<_> = files.iter().map(|f| (*f, None)).collect();
        let exec = self.parquet_exec(state, &files, Some(pred), None, 1)?;
        let mut parts = Vec::new();
        for b in collect(exec, state.task_ctx()).await? {
            parts.push(window_rows(&b, windows, true)?);
        }
        for b in buffered {
            parts.push(window_rows(b, windows, true)?);
        }
        let merged = dedup_sort(&parts, Some(self.schema.clone())).map_err(storage_err)?;
        if let (Some(k), Some(m)) = (key, &merged) {
            self.remember(k, m);
        }
        Ok(merged)
    }

    /// [`last_rows`] of the whole table (every day, files and buffer, deduplicated): per file
    /// a cached summary; rows of the contested windows (where sources overlap) merged first,
    /// because only there can a point's fields come from several sources.
    pub async fn last_rows(&self, state: &dyn Session) -> Result<RecordBatch> {
        // The buffer before the files: a persist in between then shows its rows twice (merged
        // as a contested window) rather than not at all.
        let buffered = self
            .storage
            .buffer_snapshot(&self.database, &self.table)
            .map_err(storage_err)?
            .iter()
            .map(|b| align(b, &self.schema).map_err(storage_err))
            .collect::<Result<Vec<_>>>()?;
        let files = self.storage.list_files(&self.database, &self.table);
        let buffer_ranges = buffer_ranges(&buffered);
        // Usually the buffer holds only newer rows than any file: then the files' answer (kept
        // per file set, files never change) and the buffer's share no (series, time), and the
        // answer of their union is the reduction of the two.
        let mut buffer_overlaps = false;
        for f in &files {
            if let Some(b) = buffer_ranges.get(&f.day)
                && overlaps(*b, self.file_time_range(f).await)
            {
                buffer_overlaps = true;
                break;
            }
        }
        if buffer_overlaps {
            return self.last_rows_of(state, &files, &buffered).await;
        }
        let mut key = format!("\0last_rows\0{}\0{}", self.database, self.table);
        for f in &files {
            key.push('\0');
            key.push_str(f.path.as_ref());
        }
        let base = match self.cached(&key) {
            Some(b) => align(&b, &self.schema).map_err(storage_err)?,
            None => {
                let b = self.last_rows_of(state, &files, &[]).await?;
                self.remember(key, &b);
                b
            }
        };
        if buffered.is_empty() {
            return Ok(base);
        }
        let b = concat_batches(&self.schema, &buffered)?;
        let parts = [base, last_rows(&b).map_err(storage_err)?];
        last_rows(&concat_batches(&self.schema, &parts)?).map_err(storage_err)
    }

    /// [`MeasurementTable::last_rows`] over these files and buffered batches (aligned).
    async fn last_rows_of(
        &self,
        state: &dyn Session,
        files: &[FileMeta],
        buffered: &[RecordBatch],
    ) -> Result<RecordBatch> {
        let buffer_ranges = buffer_ranges(buffered);
        let mut by_day: BTreeMap<i64, Vec<&FileMeta>> = BTreeMap::new();
        for f in files {
            by_day.entry(f.day).or_default().push(f);
        }
        let mut parts: Vec<RecordBatch> = Vec::new();
        let mut windows: Vec<(i64, i64)> = Vec::new();
        for (day, files) in &by_day {
            let (ranges, day_windows) = self.day_sources(files, buffer_ranges.get(day)).await;
            if day_windows.is_empty() {
                continue;
            }
            let overlapping: Vec<&FileMeta> = files
                .iter()
                .zip(&ranges)
                .filter(|(_, r)| day_windows.iter().any(|w| overlaps(*w, **r)))
                .map(|(f, _)| *f)
                .collect();
            let day_buffer: &[RecordBatch] = if buffer_ranges.contains_key(day) {
                buffered
            } else {
                &[]
            };
            if let Some(m) = self
                .merged_windows(state, &overlapping, &day_windows, day_buffer)
                .await?
            {
                parts.push(last_rows(&m).map_err(storage_err)?);
            }
            windows.extend(day_windows);
        }
        // Outside the windows every (series, time) has one source.
        for f in files {
            let summary = self.file_summary(state, f).await?;
            parts.push(window_rows(&summary, &windows, false)?);
        }
        if !buffered.is_empty() {
            let b = concat_batches(&self.schema, buffered)?;
            parts.push(window_rows(
                &last_rows(&b).map_err(storage_err)?,
                &windows,
                false,
            )?);
        }
        let all = concat_batches(&self.schema, &parts)?;
        last_rows(&all).map_err(storage_err)
    }

    /// Put the footer and page index of `files` in the session's metadata cache. DataFusion's
    /// Parquet opener caches the footer it reads but not the page index it loads after it, so
    /// without this every query read and parsed the page index of every file again.
    async fn warm_metadata(&self, state: &dyn Session, files: impl Iterator<Item = &FileMeta>) {
        let (store, _) = self.storage.object_store();
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        for f in files {
            // The object metadata the opener checks cached entries against.
            let file = PartitionedFile::new(f.path.to_string(), f.size);
            // A failure shows again, with its context, when the scan reads the file.
            let _ = DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                .with_file_metadata_cache(Some(cache.clone()))
                .with_page_index_policy(Some(PageIndexPolicy::Optional))
                .fetch_metadata()
                .await;
        }
    }

    fn parquet_exec(
        &self,
        state: &dyn Session,
        files: &[(&FileMeta, Option<RowSelection>)],
        predicate: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<Vec<usize>>,
        partitions: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files: Vec<(String, u64, Option<RowSelection>)> = files
            .iter()
            .map(|(f, rows)| (f.path.to_string(), f.size, rows.clone()))
            .collect();
        self.parquet_reads(state)
            .exec(&files, predicate, projection, partitions)
    }

    fn parquet_reads(&self, state: &dyn Session) -> ParquetReads {
        let (store, _) = self.storage.object_store();
        ParquetReads {
            store,
            metadata: state.runtime_env().cache_manager.get_file_metadata_cache(),
            data_cache: self.shared.data_cache.clone(),
            schema: self.schema.clone(),
        }
    }

    /// Rows of `f` by its footer, if already known (see [`Self::file_time_range`]).
    fn known_rows(&self, f: &FileMeta) -> Option<usize> {
        let m = self.shared.footers.lock().ok()?;
        m.get(f.path.as_ref()).and_then(|x| x.rows)
    }

    /// Decoded bytes one row of the table columns `read` takes, roughly (for the decoded
    /// cache's admission).
    fn row_bytes(&self, read: &[usize]) -> usize {
        read.iter()
            .map(|i| match self.schema.field(*i).data_type() {
                DataType::Dictionary(k, _) => k.primitive_width().unwrap_or(4),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 24,
                DataType::Boolean => 1,
                t => t.primitive_width().unwrap_or(8),
            })
            .sum::<usize>()
            .max(1)
    }

    /// A read of `files` (each with its selected rows): files whose columns `read` fit the
    /// decoded cache are sliced from it ([`DecodedScanExec`]), the others are read from
    /// Parquet pruned by `predicate`.
    fn scan_exec(
        &self,
        state: &dyn Session,
        files: &[(&FileMeta, Option<RowSelection>)],
        predicate: Option<Arc<dyn PhysicalExpr>>,
        read: Vec<usize>,
        partitions: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let row_bytes = self.row_bytes(&read);
        // Files in order until their columns would take half the budget: a scan larger than
        // the cache would only evict its own columns again (and decode whole columns where
        // Parquet reads the selected pages); the rest is read from Parquet.
        let mut total = 0usize;
        let (decoded, parquet): (Vec<_>, Vec<_>) = files.iter().cloned().partition(|(f, _)| {
            let Some(bytes) = self.known_rows(f).map(|n| n.saturating_mul(row_bytes)) else {
                return false;
            };
            total = total.saturating_add(bytes);
            self.shared.decoded.admits(bytes, total)
        });
        let mut children = Vec::new();
        if !parquet.is_empty() {
            children.push(self.parquet_exec(
                state,
                &parquet,
                predicate,
                Some(read.clone()),
                partitions,
            )?);
        }
        if !decoded.is_empty() {
            let n = partitions.clamp(1, decoded.len());
            let mut groups: Vec<Vec<DecodedFile>> = vec![Vec::new(); n];
            for (i, (f, rows)) in decoded.into_iter().enumerate() {
                groups[i % n].push(DecodedFile {
                    path: f.path.to_string(),
                    size: f.size,
                    rows: rows.as_ref().map(selected_ranges),
                });
            }
            let reads = self.parquet_reads(state);
            let decode: Decode = Arc::new(move |f: &DecodedFile, columns: Vec<usize>| {
                let schema = Arc::new(reads.schema.project(&columns)?);
                let files = [(f.path.clone(), f.size, None)];
                Ok((reads.exec(&files, None, Some(columns), 1)?, schema))
            });
            children.push(Arc::new(DecodedScanExec::try_new(
                groups,
                self.schema.clone(),
                read,
                self.shared.decoded.clone(),
                decode,
            )?));
        }
        if children.len() == 1 {
            return Ok(children.remove(0));
        }
        UnionExec::try_new(children)
    }
}

/// The row ranges a selection keeps, in order.
fn selected_ranges(sel: &RowSelection) -> Vec<std::ops::Range<usize>> {
    let mut at = 0;
    let mut out = Vec::new();
    for s in sel.iter() {
        if !s.skip && s.row_count > 0 {
            out.push(at..at + s.row_count);
        }
        at += s.row_count;
    }
    out
}

/// What a Parquet scan of a table's files needs besides the files.
#[derive(Clone)]
struct ParquetReads {
    store: Arc<dyn ObjectStore>,
    metadata: Arc<FileMetadataCache>,
    data_cache: Arc<ParquetDataCache>,
    schema: SchemaRef,
}

impl ParquetReads {
    /// DataFusion's Parquet scan of `files` (path, size, selected rows).
    fn exec(
        &self,
        files: &[(String, u64, Option<RowSelection>)],
        predicate: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<Vec<usize>>,
        partitions: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Footers and page indexes are read once per file and kept in the session's
        // metadata cache (files never change): most of a small query's cost otherwise.
        let factory = DataCachingReaderFactory {
            inner: Arc::new(CachedParquetFileReaderFactory::new(
                self.store.clone(),
                self.metadata.clone(),
            )),
            store: self.store.clone(),
            cache: self.data_cache.clone(),
        };
        let mut source = ParquetSource::new(self.schema.clone())
            .with_parquet_file_reader_factory(Arc::new(factory));
        if let Some(p) = predicate {
            // Prune row groups and pages by statistics, and filter rows while decoding.
            source = source
                .with_predicate(p)
                .with_pushdown_filters(true)
                .with_enable_page_index(true)
                // Files are written without bloom filters (`persist`): skip looking for them.
                .with_bloom_filter_on_read(false);
        }
        // `partitions == 1` keeps the files' order (oldest writes first), which merging needs.
        let n = partitions.clamp(1, files.len().max(1));
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n];
        let mut sorted: Vec<&(String, u64, Option<RowSelection>)> = files.iter().collect();
        if n > 1 {
            // Largest first, round robin: roughly balanced partitions.
            sorted.sort_by_key(|(_, size, _)| std::cmp::Reverse(*size));
        }
        for (i, (path, size, rows)) in sorted.into_iter().enumerate() {
            let mut file = PartitionedFile::new(path.clone(), *size);
            if let Some(rows) = rows {
                // The series index's choice of rows (its tag conditions are then not pruned by).
                file = file.with_extension(ParquetRowSelection::new(rows.clone()));
            }
            groups[i % n].push(file);
        }
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::parse(STORE_URL)?, Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection)?
                .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

#[async_trait]
impl TableProvider for MeasurementTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if is_exact_time_bound(f) || self.is_tag_filter(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (lo, hi) = filters
            .iter()
            .map(time_range)
            .fold((i64::MIN, i64::MAX), |a, b| (a.0.max(b.0), a.1.min(b.1)));
        // Exact time bounds are the scan's to apply (`supports_filters_pushdown`): every source
        // keeps only `[lo, hi]`; files wholly inside it skip evaluating them per row.
        let (exact_bounds, other_filters): (Vec<Expr>, Vec<Expr>) =
            filters.iter().cloned().partition(is_exact_time_bound);
        let exact_time = !exact_bounds.is_empty();
        // Columns read for merging: the projection plus the deduplication key (every tag and
        // time). Fields merge column by column (later write wins per field), so a field the
        // query does not read can be left out without changing the others.
        let keep: Vec<usize> = (0..self.schema.fields().len())
            .filter(|i| {
                let f = self.schema.field(*i);
                projection.is_none_or(|p| p.contains(i))
                    || f.name() == TIME_COLUMN
                    || self.is_tag(f.name())
            })
            .collect();
        let merge_schema = Arc::new(self.schema.project(&keep)?);
        let merge_df_schema = DFSchema::try_from(merge_schema.as_ref().clone())?;
        let key_filter_expr =
            conjunction(filters.iter().filter(|f| self.is_key_filter(f)).cloned());
        // The tag/time filter against the merge schema (rows already read); merged files are
        // pruned by it and their contested windows.
        let merge_pred = key_filter_expr
            .clone()
            .map(|e| state.create_physical_expr(e, &merge_df_schema))
            .transpose()?;

        let mut stats = ScanStats {
            time_range: (lo, hi),
            ..ScanStats::default()
        };
        // Buffered rows in range (already deduplicated and sorted). The buffer before the files:
        // a persist in between then shows its rows in both (merged as a contested window)
        // rather than in neither.
        let full_buffer = if lo > hi {
            Vec::new()
        } else {
            self.storage
                .buffer_snapshot(&self.database, &self.table)
                .map_err(storage_err)?
                .iter()
                .map(|b| align(b, &self.schema).map_err(storage_err))
                .map(|b| b.and_then(|b| select_rows(&b, lo, hi, None)))
                .collect::<Result<Vec<_>>>()?
        };
        let buffered = full_buffer
            .iter()
            .map(|b| Ok(b.project(&keep)?))
            .collect::<Result<Vec<_>>>()?;
        let all_files = self.storage.list_files(&self.database, &self.table);
        stats.files_total = all_files.len();
        let (lo_day, hi_day) = (day_of(lo), day_of(hi));
        let mut by_day: BTreeMap<i64, Vec<&FileMeta>> = BTreeMap::new();
        for f in &all_files {
            if lo > hi || f.day < lo_day || f.day > hi_day {
                stats.files_pruned_by_day += 1;
            } else {
                by_day.entry(f.day).or_default().push(f);
            }
        }

        for b in &buffered {
            stats.buffer_rows += b.num_rows();
        }
        self.warm_metadata(state, by_day.values().flatten().copied())
            .await;

        let partitions = state.config().target_partitions();
        // Buffered time range per day.
        let buffer_ranges = buffer_ranges(&buffered);
        // Files read directly: `clean` ones overlap no other source; `partial` ones do, and are
        // read outside the contested windows only (their rows inside are merged).
        let mut clean: Vec<&FileMeta> = Vec::new();
        let mut partial: Vec<&FileMeta> = Vec::new();
        let mut memory: Vec<RecordBatch> = Vec::new();
        // Every contested window of every day (days do not overlap, so neither do windows).
        let mut windows: Vec<(i64, i64)> = Vec::new();
        for (day, files) in &by_day {
            if files.len() == 1 && !buffer_ranges.contains_key(day) {
                clean.push(files[0]);
                continue;
            }
            let (ranges, day_windows) = self.day_sources(files, buffer_ranges.get(day)).await;
            if day_windows.is_empty() {
                clean.extend(files.iter().copied());
                stats.files_disjoint += files.len();
                continue;
            }
            let mut to_merge: Vec<&FileMeta> = Vec::new();
            for (f, r) in files.iter().zip(&ranges) {
                if !day_windows.iter().any(|w| overlaps(*w, *r)) {
                    clean.push(f);
                    stats.files_disjoint += 1;
                    continue;
                }
                to_merge.push(f);
                // A file wholly inside one window has nothing to read directly.
                if !day_windows.iter().any(|w| w.0 <= r.0 && r.1 <= w.1) {
                    partial.push(f);
                }
            }
            stats.files_merged += to_merge.len();
            let day_buffer: &[RecordBatch] = if buffer_ranges.contains_key(day) {
                &full_buffer
            } else {
                &[]
            };
            if let Some(m) = self
                .merged_windows(state, &to_merge, &day_windows, day_buffer)
                .await?
            {
                let m = select_rows(&m.project(&keep)?, lo, hi, None)?;
                let m = filter_batch(&m, merge_pred.as_ref())?;
                stats.rows_merged += m.num_rows();
                memory.push(m);
            }
            windows.extend(day_windows);
        }
        // Buffered rows outside every window (already deduplicated by the storage).
        for b in &buffered {
            let rest = window_rows(b, &windows, false)?;
            if rest.num_rows() > 0 {
                memory.push(filter_batch(&rest, merge_pred.as_ref())?);
            }
        }
        stats.files_scanned = clean.len() - stats.files_disjoint;
        stats.files_partial = partial.len();

        let projection = projection.cloned();
        let mut children: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        // Without exact time bounds every filter is DataFusion's to check again, so no file
        // needs the range applied here.
        let (mut inside, mut crossing): (Vec<&FileMeta>, Vec<&FileMeta>) = (Vec::new(), Vec::new());
        for f in clean {
            if !exact_time || self.within(f, lo, hi).await {
                inside.push(f);
            } else {
                crossing.push(f);
            }
        }
        // (files, pruning filters, condition applied exactly above the scan)
        let mut groups: Vec<(Vec<&FileMeta>, Vec<Expr>, Option<Expr>)> = vec![
            (inside, other_filters.clone(), None),
            (crossing, filters.to_vec(), Some(range_expr(lo, hi))),
        ];
        if !partial.is_empty() {
            let outside = windows_expr(&windows, false);
            // As for clean files: the time bounds only where some file crosses them.
            let mut crosses = false;
            if exact_time {
                for f in &partial {
                    crosses |= !self.within(f, lo, hi).await;
                }
            }
            // `outside` is applied above the scan only: pages are sorted by series, so a
            // contested window (a few minutes of every series) never covers a whole page, and
            // pruning by it only cost evaluating the page index.
            groups.push(if crosses {
                (
                    partial,
                    filters.to_vec(),
                    Some(outside.and(range_expr(lo, hi))),
                )
            } else {
                (partial, other_filters.clone(), Some(outside))
            });
        }
        for (files, prune, exact) in groups {
            if files.is_empty() {
                continue;
            }
            let (exec, skipped) = self
                .files_exec(
                    state,
                    &files,
                    prune,
                    exact,
                    projection.as_deref(),
                    partitions,
                )
                .await?;
            stats.files_pruned_by_tags += skipped;
            children.extend(exec);
        }
        if let Ok(mut s) = self.shared.stats.lock() {
            s.insert((self.database.clone(), self.table.clone()), stats);
        }
        memory.retain(|b| b.num_rows() > 0);
        if !memory.is_empty() || children.is_empty() {
            // One partition per batch, so merged days are processed in parallel.
            let parts: Vec<Vec<RecordBatch>> = memory.into_iter().map(|b| vec![b]).collect();
            let parts = if parts.is_empty() {
                vec![vec![]]
            } else {
                parts
            };
            // The projection's columns, as positions in the merge schema.
            let in_merge = projection.map(|p| {
                p.iter()
                    .filter_map(|i| keep.iter().position(|k| k == i))
                    .collect::<Vec<_>>()
            });
            children.push(MemorySourceConfig::try_new_exec(
                &parts,
                merge_schema.clone(),
                in_merge,
            )?);
        }
        if children.len() == 1 {
            return Ok(children.remove(0));
        }
        UnionExec::try_new(children)
    }
}

/// A day's bounds, for tests: `[start, end)` in nanoseconds.
pub fn day_bounds(day: i64) -> (i64, i64) {
    (day * NANOS_PER_DAY, (day + 1) * NANOS_PER_DAY)
}
