//! GROUP BY a tag without DataFusion's row-format fallback.
//!
//! Tags are `Dictionary(Int32, Utf8)` columns. DataFusion's fast grouping (one column or
//! several, vectorized) does not take dictionaries, so `GROUP BY host` converted every row to
//! its row format and compared bytes: about a third of a `max()` per host over a million rows
//! (BENCHMARKS.md). [`TagGroupRule`] groups by `CAST(tag AS Utf8View)` instead: the cast keeps
//! the dictionary's string buffer and writes one 16-byte view per row, and string views group
//! on the vectorized path. The column keeps its name and qualifier; its type in the result is
//! `Utf8View`, which every response writer reads like a string.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;

/// Groups by string views of dictionary-encoded string columns (see the module docs).
#[derive(Debug, Default)]
pub struct TagGroupRule;

impl AnalyzerRule for TagGroupRule {
    fn name(&self) -> &str {
        "influx_tag_group"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        // A rewritten aggregate changes a column's type, so every node above it (and, being
        // simple, every node visited after it) recomputes its schema.
        let mut changed = false;
        let plan = plan.transform_up_with_subqueries(|plan| {
            let plan = match plan {
                LogicalPlan::Aggregate(aggregate) => {
                    let out = rewrite_aggregate(aggregate)?;
                    changed |= out.transformed;
                    out.data
                }
                other if changed => other.recompute_schema()?,
                other => return Ok(Transformed::no(other)),
            };
            Ok(Transformed::new_transformed(plan, changed))
        })?;
        if !plan.transformed {
            return Ok(plan.data);
        }
        // Expressions above were coerced for the dictionary type (`host <> 'c'` in a HAVING,
        // a join key, a UNION's other side): coerce again for string views.
        TypeCoercion::new().analyze(plan.data, config)
    }
}

fn is_dictionary_string(t: &DataType) -> bool {
    matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8))
}

fn rewrite_aggregate(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let schema: &DFSchema = aggregate.input.schema();
    let mut changed = false;
    let mut group_expr = Vec::with_capacity(aggregate.group_expr.len());
    for e in &aggregate.group_expr {
        match e {
            Expr::Column(c) if is_dictionary_string(&e.get_type(schema)?) => {
                changed = true;
                let cast = Expr::Cast(Cast::new(Box::new(e.clone()), DataType::Utf8View));
                group_expr.push(cast.alias_qualified(c.relation.clone(), c.name.clone()));
            }
            // Grouping sets and the like keep their columns.
            other => group_expr.push(other.clone()),
        }
    }
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let Aggregate {
        input, aggr_expr, ..
    } = aggregate;
    Ok(Transformed::yes(LogicalPlan::Aggregate(
        Aggregate::try_new(input, group_expr, aggr_expr)?,
    )))
}
