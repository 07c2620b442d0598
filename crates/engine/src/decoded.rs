//! Decoded columns of recently read files, and the scan that slices them.
//!
//! Files never change once written, so a column decoded once can serve every later query: a
//! repeated dashboard query then slices Arrow arrays instead of decompressing and decoding
//! Parquet pages again (lz4, page headers, buffer zeroing and copies were about a third of a
//! one-host `mean()`; BENCHMARKS.md, Queries, session 16). Columns are kept per (file,
//! column), least recently used out first, within `QueryLimits::decoded_cache_bytes`; a file
//! whose projected columns would take more than a quarter of the budget, or past half of it
//! for the whole scan, is read from Parquet as before (the provider decides, see
//! [`DecodedCache::admits`]). The price: the first query of a file decodes whole columns,
//! where Parquet would decode only the pages of the series it selects.
//!
//! [`DecodedScanExec`] reads a list of files (each with the row ranges its series index chose)
//! from the cache, decoding the columns it lacks through the Parquet scan and keeping them. It
//! applies no predicate: what the provider reports `Exact` is applied above it (`FilterExec`)
//! or by the row ranges, and DataFusion applies the `Inexact` filters itself.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, collect,
};
use futures::{StreamExt, TryStreamExt};

use crate::lru::ByteLru;

/// The cache: decoded columns by (file path, column name), least recently used out first.
#[derive(Debug, Default)]
pub struct DecodedCache {
    columns: ByteLru<(String, String), ArrayRef>,
}

impl DecodedCache {
    /// Change the budget (0 turns the cache off); columns over it leave at the next insert.
    pub fn set_budget(&self, bytes: usize) {
        self.columns.set_budget(bytes);
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> usize {
        self.columns.used_bytes()
    }

    /// Whether one file's columns of about `bytes` decoded bytes, in a scan whose files so far
    /// (this one included) take `scan_bytes`, are worth keeping: at most a quarter of the
    /// budget for the file, so one file cannot flush the others, and half for the scan.
    pub fn admits(&self, bytes: usize, scan_bytes: usize) -> bool {
        let budget = self.columns.budget();
        bytes <= budget / 4 && scan_bytes <= budget / 2
    }

    fn get(&self, path: &str, column: &str) -> Option<ArrayRef> {
        self.columns.get(&(path.to_string(), column.to_string()))
    }

    fn insert(&self, path: &str, column: &str, array: ArrayRef) {
        let size = array.get_array_memory_size();
        self.columns
            .insert((path.to_string(), column.to_string()), array, size);
    }
}

/// One file of a [`DecodedScanExec`].
#[derive(Debug, Clone)]
pub struct DecodedFile {
    pub path: String,
    pub size: u64,
    /// The rows to read, in order (`None`: every row).
    pub rows: Option<Vec<Range<usize>>>,
}

/// Decodes the columns of a file the cache lacks: `(file, table columns) -> the columns`, in
/// the table's types, every row in file order.
pub type Decode = Arc<
    dyn Fn(&DecodedFile, Vec<usize>) -> Result<(Arc<dyn ExecutionPlan>, SchemaRef)> + Send + Sync,
>;

/// A scan of files through the [`DecodedCache`]: one partition per group of files.
pub struct DecodedScanExec {
    groups: Vec<Vec<DecodedFile>>,
    /// The table's schema (what `projection` indexes).
    table: SchemaRef,
    projection: Vec<usize>,
    cache: Arc<DecodedCache>,
    decode: Decode,
    props: Arc<PlanProperties>,
}

impl fmt::Debug for DecodedScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedScanExec")
            .field("groups", &self.groups)
            .field("projection", &self.projection)
            .finish_non_exhaustive()
    }
}

impl DecodedScanExec {
    /// A scan of `groups` (one partition each) returning the table columns `projection`.
    pub fn try_new(
        groups: Vec<Vec<DecodedFile>>,
        table: SchemaRef,
        projection: Vec<usize>,
        cache: Arc<DecodedCache>,
        decode: Decode,
    ) -> Result<Self> {
        let schema = Arc::new(table.project(&projection)?);
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(DecodedScanExec {
            groups,
            table,
            projection,
            cache,
            decode,
            props: Arc::new(props),
        })
    }
}

/// The batches of one file: its columns `columns` (table positions; every row) sliced to
/// `rows`, at most `batch_rows` rows each, as `schema`.
fn slices(
    schema: &SchemaRef,
    columns: &[ArrayRef],
    file_rows: usize,
    rows: Option<&[Range<usize>]>,
    batch_rows: usize,
) -> Result<Vec<RecordBatch>> {
    let whole = 0..file_rows;
    let ranges = rows.unwrap_or(std::slice::from_ref(&whole));
    let mut out = Vec::new();
    for r in ranges {
        let end = r.end.min(file_rows);
        let mut start = r.start;
        while start < end {
            let n = (end - start).min(batch_rows.max(1));
            let cols = columns.iter().map(|c| c.slice(start, n)).collect();
            let options = RecordBatchOptions::new().with_row_count(Some(n));
            out.push(RecordBatch::try_new_with_options(
                schema.clone(),
                cols,
                &options,
            )?);
            start += n;
        }
    }
    Ok(out)
}

/// The columns `wanted` (table positions) of `file`, from the cache or decoded and kept, and
/// the file's number of rows.
async fn columns(
    file: &DecodedFile,
    wanted: &[usize],
    table: &SchemaRef,
    cache: &DecodedCache,
    decode: &Decode,
    ctx: Arc<TaskContext>,
) -> Result<(Vec<ArrayRef>, usize)> {
    // With no column wanted (`count(*)`) the time column gives the number of rows.
    let probe: Vec<usize> = if wanted.is_empty() {
        table
            .index_of(influxgate_storage::TIME_COLUMN)
            .map(|i| vec![i])
            .unwrap_or_else(|_| vec![0])
    } else {
        wanted.to_vec()
    };
    let name = |i: usize| table.field(i).name().as_str();
    let mut found: Vec<Option<ArrayRef>> = probe
        .iter()
        .map(|i| cache.get(&file.path, name(*i)))
        .collect();
    // (position in `probe`, table column) of the columns to decode.
    let missing: Vec<(usize, usize)> = probe
        .iter()
        .enumerate()
        .filter(|(at, _)| found[*at].is_none())
        .map(|(at, i)| (at, *i))
        .collect();
    if !missing.is_empty() {
        let (plan, schema) = decode(file, missing.iter().map(|(_, i)| *i).collect())?;
        let batches = collect(plan, ctx).await?;
        for (k, (at, i)) in missing.into_iter().enumerate() {
            let parts: Vec<&dyn datafusion::arrow::array::Array> =
                batches.iter().map(|b| b.column(k).as_ref()).collect();
            let array = if parts.is_empty() {
                datafusion::arrow::array::new_empty_array(schema.field(k).data_type())
            } else {
                concat(&parts)?
            };
            cache.insert(&file.path, name(i), array.clone());
            found[at] = Some(array);
        }
    }
    let found: Vec<ArrayRef> = found.into_iter().flatten().collect();
    let rows = found.first().map_or(0, |a| a.len());
    if wanted.is_empty() {
        return Ok((Vec::new(), rows));
    }
    Ok((found, rows))
}

impl DisplayAs for DecodedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<Vec<&str>> = self
            .groups
            .iter()
            .map(|g| g.iter().map(|f| f.path.as_str()).collect())
            .collect();
        write!(
            f,
            "DecodedScanExec: file_groups={groups:?}, projection={:?}",
            self.projection
        )
    }
}

impl ExecutionPlan for DecodedScanExec {
    fn name(&self) -> &'static str {
        "DecodedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = self.props.eq_properties.schema().clone();
        let files = self.groups.get(partition).cloned().unwrap_or_default();
        let (table, wanted) = (self.table.clone(), self.projection.clone());
        let (cache, decode) = (self.cache.clone(), self.decode.clone());
        let batch_rows = context.session_config().batch_size();
        let out = schema.clone();
        let stream = futures::stream::iter(files)
            .then(move |file| {
                let (table, wanted, cache, decode, ctx, out) = (
                    table.clone(),
                    wanted.clone(),
                    cache.clone(),
                    decode.clone(),
                    context.clone(),
                    out.clone(),
                );
                async move {
                    let (cols, rows) =
                        columns(&file, &wanted, &table, &cache, &decode, ctx).await?;
                    let batches = slices(&out, &cols, rows, file.rows.as_deref(), batch_rows)?;
                    Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(
                        batches.into_iter().map(Ok),
                    ))
                }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn ints(n: i64) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(0..n))
    }

    #[test]
    fn least_recently_used_columns_leave_first_within_the_budget() {
        let c = DecodedCache::default();
        let size = ints(100).get_array_memory_size();
        c.set_budget(size * 2 + size / 2);
        assert!(c.admits(size / 2, size) && !c.admits(size, size));
        assert!(
            !c.admits(size / 2, size * 2),
            "the scan as a whole takes half at most"
        );
        c.insert("a", "x", ints(100));
        c.insert("b", "x", ints(100));
        assert!(c.get("a", "x").is_some()); // a is now newer than b
        c.insert("c", "x", ints(100));
        assert!(c.get("b", "x").is_none(), "b was the least recently used");
        assert_eq!(c.get("a", "x").unwrap().len(), 100);
        assert!(c.get("c", "x").is_some());
        assert!(c.get("a", "y").is_none(), "columns are kept apart");
        assert_eq!(c.used_bytes(), size * 2);
        c.insert("a", "x", ints(100));
        assert_eq!(
            c.used_bytes(),
            size * 2,
            "replacing a column does not count it twice"
        );
        c.set_budget(0);
        c.insert("d", "x", ints(1));
        assert_eq!(c.used_bytes(), 0, "a zero budget empties the cache");
    }

    #[test]
    fn slices_follow_the_row_ranges_in_batches() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let cols = [ints(10)];
        let b = slices(&schema, &cols, 10, Some(&[1..4, 6..10]), 3).unwrap();
        let got: Vec<Vec<i64>> = b
            .iter()
            .map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect();
        assert_eq!(got, vec![vec![1, 2, 3], vec![6, 7, 8], vec![9]]);
        let all = slices(&schema, &cols, 10, None, 8192).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].num_rows(), 10);
        // No column (count(*)): batches still carry their row counts.
        let empty = Arc::new(Schema::empty());
        let b = slices(&empty, &[], 10, Some(std::slice::from_ref(&(2..7))), 4).unwrap();
        assert_eq!(
            b.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
            vec![4, 1]
        );
    }
}
