//! Optimized logical plans of recent statements, so a repeated statement (a dashboard panel
//! refreshed over a fixed range, the same query from many clients) skips SQL parsing, the
//! analyzer and the optimizer: about half the planning time of a small query.
//!
//! The physical plan is kept too, for the storage's data version it read (files and buffered
//! rows are part of it): while nothing was written, persisted, compacted or expired, a repeated
//! statement skips physical planning and the physical optimizer as well; any change means
//! planning again, so files and buffered rows are always read fresh. Plans with dynamic filters
//! (TopK, hash joins, min/max aggregates) are not reused: DataFusion cannot reset them
//! (`reset_plan_states`). Each run of a plan adds its scans' metrics to it, so a physical plan
//! is reused a bounded number of times ([`FILE_RUNS`] / files read) and then planned again.
//!
//! A plan is valid for the catalog snapshot it was planned against (tables resolve to the
//! columns they had then); the storage replaces the snapshot whenever a database, table or
//! column appears, and an entry of an older snapshot is planned again. Statements calling a
//! non-immutable function (`now()`, `random()`) are not kept: the optimizer folds them into
//! constants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use influxgate_storage::Catalog;

/// Entries kept; the cache starts over when full (cheap, and a working set of dashboards fits).
const ENTRIES: usize = 512;
/// Longer statements are planned every time rather than held in memory.
const MAX_SQL_BYTES: usize = 16 * 1024;

/// Runs of cached physical plans × files they read, before they are planned again (every run
/// keeps a few KiB of metrics per file in the plan).
pub(crate) const FILE_RUNS: usize = 4096;

/// The storage's data version (`Storage::data_version`).
pub(crate) type DataVersion = (u64, u64);

struct Physical {
    version: DataVersion,
    plan: Arc<dyn ExecutionPlan>,
    runs_left: usize,
}

struct Entry {
    catalog: Arc<Catalog>,
    logical: LogicalPlan,
    physical: Option<Physical>,
}

/// (database, statement) -> plans.
type Entries = HashMap<(String, String), Entry>;

#[derive(Default)]
pub(crate) struct PlanCache {
    entries: Mutex<Entries>,
    /// Physical plans handed out again.
    reuses: std::sync::atomic::AtomicU64,
}

impl PlanCache {
    /// The optimized plan of `sql` in `database`, if planned against `catalog`.
    pub(crate) fn get(
        &self,
        database: &str,
        sql: &str,
        catalog: &Arc<Catalog>,
    ) -> Option<LogicalPlan> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(&(database.to_string(), sql.to_string()))?;
        Arc::ptr_eq(&e.catalog, catalog).then(|| e.logical.clone())
    }

    /// The physical plan of `sql`, if planned against `catalog` at data `version` and not used up.
    /// Run it through `reset_plan_states` first.
    pub(crate) fn get_physical(
        &self,
        database: &str,
        sql: &str,
        catalog: &Arc<Catalog>,
        version: DataVersion,
    ) -> Option<Arc<dyn ExecutionPlan>> {
        let mut entries = self.entries.lock().ok()?;
        let e = entries.get_mut(&(database.to_string(), sql.to_string()))?;
        if !Arc::ptr_eq(&e.catalog, catalog) {
            return None;
        }
        let p = e.physical.as_mut().filter(|p| p.version == version)?;
        if p.runs_left == 0 {
            e.physical = None;
            return None;
        }
        p.runs_left -= 1;
        self.reuses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(p.plan.clone())
    }

    /// Keep `plan`, the physical plan of a kept statement at data `version`, if reusable.
    pub(crate) fn put_physical(
        &self,
        database: &str,
        sql: &str,
        catalog: &Arc<Catalog>,
        version: DataVersion,
        plan: &Arc<dyn ExecutionPlan>,
    ) {
        let Some(files) = reusable_physical(plan) else {
            return;
        };
        if let Ok(mut entries) = self.entries.lock()
            && let Some(e) = entries.get_mut(&(database.to_string(), sql.to_string()))
            && Arc::ptr_eq(&e.catalog, catalog)
        {
            e.physical = Some(Physical {
                version,
                plan: plan.clone(),
                runs_left: FILE_RUNS / files.max(1),
            });
        }
    }

    /// Keep `optimized`, the plan of `sql` whose unoptimized form is `plan`, if reusable.
    pub(crate) fn put(
        &self,
        database: &str,
        sql: &str,
        catalog: Arc<Catalog>,
        plan: &LogicalPlan,
        optimized: &LogicalPlan,
    ) {
        if sql.len() > MAX_SQL_BYTES || !reusable(plan) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= ENTRIES {
                entries.clear();
            }
            entries.insert(
                (database.to_string(), sql.to_string()),
                Entry {
                    catalog,
                    logical: optimized.clone(),
                    physical: None,
                },
            );
        }
    }

    pub(crate) fn reuses(&self) -> u64 {
        self.reuses.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// A query (not `EXPLAIN` or `DESCRIBE`; DDL, DML and `SET` never get here, the engine refuses
/// them) whose functions all give the same answer for the same input.
fn reusable(plan: &LogicalPlan) -> bool {
    if matches!(
        plan,
        LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) | LogicalPlan::DescribeTable(_)
    ) {
        return false;
    }
    let mut immutable = true;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && f.func.signature().volatility != Volatility::Immutable
                {
                    immutable = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(if immutable {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    immutable
}

/// The number of files `plan` reads, if it can run again after `reset_plan_states`: no
/// operator produces a dynamic filter (TopK, hash join, min/max) that it pushed into its
/// input, which the reset does not reconnect.
fn reusable_physical(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let mut files = 0;
    let mut reusable = true;
    let _ = plan.apply(|node| {
        let node: &dyn ExecutionPlan = node.as_ref();
        if !node.dynamic_expressions_produced().is_empty() {
            reusable = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        if let Some(scan) = node.downcast_ref::<DataSourceExec>()
            && let Some(config) =
                (scan.data_source().as_ref() as &dyn std::any::Any).downcast_ref::<FileScanConfig>()
        {
            files += config.file_groups.iter().map(|g| g.len()).sum::<usize>();
        }
        Ok(TreeNodeRecursion::Continue)
    });
    reusable.then_some(files)
}
