//! Optimized logical plans of recent statements, so a repeated statement (a dashboard panel
//! refreshed over a fixed range, the same query from many clients) skips SQL parsing, the
//! analyzer and the optimizer: about half the planning time of a small query. Physical
//! planning still runs every time, so files and buffered rows are always read fresh.
//!
//! A plan is valid for the catalog snapshot it was planned against (tables resolve to the
//! columns they had then); the storage replaces the snapshot whenever a database, table or
//! column appears, and an entry of an older snapshot is planned again. Statements calling a
//! non-immutable function (`now()`, `random()`) are not kept: the optimizer folds them into
//! constants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use influxgate_storage::Catalog;

/// Entries kept; the cache starts over when full (cheap, and a working set of dashboards fits).
const ENTRIES: usize = 512;
/// Longer statements are planned every time rather than held in memory.
const MAX_SQL_BYTES: usize = 16 * 1024;

/// (database, statement) -> (catalog snapshot planned against, optimized plan).
type Entries = HashMap<(String, String), (Arc<Catalog>, LogicalPlan)>;

#[derive(Default)]
pub(crate) struct PlanCache {
    entries: Mutex<Entries>,
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
        let (planned_with, plan) = entries.get(&(database.to_string(), sql.to_string()))?;
        Arc::ptr_eq(planned_with, catalog).then(|| plan.clone())
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
                (catalog, optimized.clone()),
            );
        }
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
