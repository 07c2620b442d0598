//! A physical optimizer rule that drops repeated conjuncts from Parquet scan predicates.
//!
//! The measurement provider gives each Parquet scan the query's filters as its predicate (for
//! pruning, also where DataFusion cannot push filters down), and reports them `Inexact`.
//! DataFusion's filter pushdown then appends the same filters from the `FilterExec` above to
//! the scan's predicate without looking for them, so a scan evaluated `host = 'x' AND host =
//! 'x'`: row-group statistics, the page index and the row filter each twice.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// See the module documentation. Runs after DataFusion's own rules.
#[derive(Debug, Default)]
pub struct DedupScanPredicates;

impl PhysicalOptimizerRule for DedupScanPredicates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| Ok(dedup(&node).map_or(Transformed::no(node), Transformed::yes)))
            .data()
    }

    fn name(&self) -> &str {
        "dedup_scan_predicates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` with its Parquet predicate's repeated conjuncts removed; `None` if it has none.
fn dedup(node: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let node: &dyn ExecutionPlan = node.as_ref();
    let exec = node.downcast_ref::<DataSourceExec>()?;
    let config =
        (exec.data_source().as_ref() as &dyn std::any::Any).downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().as_ref() as &dyn std::any::Any;
    let parquet = source.downcast_ref::<ParquetSource>()?;
    let predicate = config.file_source().filter()?;
    let parts = split_conjunction(&predicate);
    let mut unique: Vec<&Arc<dyn PhysicalExpr>> = Vec::with_capacity(parts.len());
    for p in &parts {
        if !unique.iter().any(|u| u.as_ref() == p.as_ref()) {
            unique.push(p);
        }
    }
    if unique.len() == parts.len() {
        return None;
    }
    let source = parquet.with_predicate(conjunction(unique.into_iter().cloned()));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(source))
        .build();
    Some(DataSourceExec::from_data_source(config))
}
