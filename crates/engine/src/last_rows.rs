//! The `last_rows('database', 'table')` table function: the rows of a measurement that hold,
//! for some series, the latest value of some field (deduplicated like the table itself; see
//! [`influxgate_storage::merge::last_rows`]). Same columns as the table, a few rows per series.
//!
//! The InfluxQL translator reads it instead of the table when the answer only depends on those
//! rows: `last()` without a time range, and the series and tag values present (`SHOW TAG
//! VALUES`, `SHOW SERIES` without a time condition). InfluxDB 1.x answers these from its
//! series index and the last TSM block; InfluxDB 3 has its last-value and distinct-value
//! caches. Here each Parquet file's rows are summarised once and kept.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use influxgate_storage::Storage;

use crate::provider::{MeasurementTable, Shared};

/// The function's name in SQL.
pub const LAST_ROWS: &str = "last_rows";

/// `last_rows('database', 'table')`.
#[derive(Debug)]
pub struct LastRowsFunction {
    pub(crate) storage: Arc<Storage>,
    pub(crate) shared: Arc<Shared>,
}

fn string_arg(args: &[Expr], i: usize) -> Result<&str> {
    match args.get(i) {
        Some(Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        )) => Ok(s),
        _ => Err(DataFusionError::Plan(format!(
            "{LAST_ROWS}('database', 'table') takes two string literals"
        ))),
    }
}

/// The two arguments of a call.
pub(crate) fn db_and_table(exprs: &[Expr]) -> Result<(&str, &str)> {
    if exprs.len() != 2 {
        return Err(DataFusionError::Plan(format!(
            "{LAST_ROWS}('database', 'table') takes two arguments, got {}",
            exprs.len()
        )));
    }
    Ok((string_arg(exprs, 0)?, string_arg(exprs, 1)?))
}

impl TableFunctionImpl for LastRowsFunction {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> Result<Arc<dyn TableProvider>> {
        let (db, table) = db_and_table(args.exprs())?;
        let t = MeasurementTable::with_shared(self.storage.clone(), db, table, self.shared.clone())
            .ok_or_else(|| DataFusionError::Plan(format!("table '{db}.{table}' not found")))?;
        Ok(Arc::new(LastRowsTable(t)))
    }
}

/// The rows of [`MeasurementTable::last_rows`], computed when scanned.
#[derive(Debug)]
struct LastRowsTable(MeasurementTable);

#[async_trait]
impl TableProvider for LastRowsTable {
    fn schema(&self) -> SchemaRef {
        TableProvider::schema(&self.0)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.0.last_rows(state).await?;
        MemorySourceConfig::try_new_exec(&[vec![rows]], self.schema(), projection.cloned())
            .map(|e| e as Arc<dyn ExecutionPlan>)
    }
}
