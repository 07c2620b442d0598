//! InfluxQL selectors (`max()`, `min()`, `first()`, `last()` and the values riding along with
//! them) without DataFusion's general `first_value(x ORDER BY ...)`.
//!
//! The translator writes a selector as `first_value(out ORDER BY key DESC|ASC[, "time" ASC])
//! FILTER (WHERE key IS NOT NULL)`: `out` at the row with the greatest (or least) `key`, ties
//! going to the earliest time. DataFusion's grouped `first_value` compares rows through a
//! dynamic lexicographic comparator, about 23 ns a row (24 ms of a 36 ms `max()` per host over
//! a million rows, BENCHMARKS.md). [`SelectorRule`] replaces exactly that shape by
//! [`Selector`], whose accumulator compares the key's native values; anything else is left to
//! `first_value`. The SQL text stays plain DataFusion, so it still runs anywhere.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, PrimitiveArray,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{
    ArrowNativeTypeOp, ArrowPrimitiveType, DataType, Field, FieldRef, Float64Type, Int64Type,
    TimeUnit, TimestampNanosecondType, UInt64Type,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::tree_node::TransformedResult;
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err, not_impl_err};
use datafusion::logical_expr::expr::{
    AggregateFunction, AggregateFunctionParams, Alias, NullTreatment,
};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, Aggregate, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, ExprSchemable,
    GroupsAccumulator, LogicalPlan, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// `influx_selector_{max,min}[_tb](out, key[, time])`: `out` at the row whose `key` is the
/// greatest (`max`) or least (`min`); `_tb` breaks ties by the least `time`, otherwise the
/// first row met wins (as `first_value` with one ordering key). Rows with a null key are
/// skipped (the rule only uses it where none can reach it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    name: &'static str,
    greatest: bool,
    tie_break: bool,
    signature: Signature,
}

impl Selector {
    /// The selector picking the greatest (`greatest`) or least key, ties to the least time
    /// when `tie_break` (a third argument) is given.
    pub fn new(greatest: bool, tie_break: bool) -> Self {
        let name = match (greatest, tie_break) {
            (true, false) => "influx_selector_max",
            (true, true) => "influx_selector_max_tb",
            (false, false) => "influx_selector_min",
            (false, true) => "influx_selector_min_tb",
        };
        Selector {
            name,
            greatest,
            tie_break,
            signature: Signature::any(2 + usize::from(tie_break), Volatility::Immutable),
        }
    }

    fn groups(&self, out: &DataType, key: &DataType) -> Result<Box<dyn GroupsAccumulator + Sync>> {
        let config = Config {
            greatest: self.greatest,
            tie_break: self.tie_break,
            out: out.clone(),
            key: key.clone(),
        };
        Ok(match key {
            DataType::Float64 => Box::new(Groups::<Float64Type>::new(config)?),
            DataType::Int64 => Box::new(Groups::<Int64Type>::new(config)?),
            DataType::UInt64 => Box::new(Groups::<UInt64Type>::new(config)?),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                Box::new(Groups::<TimestampNanosecondType>::new(config)?)
            }
            other => return exec_err!("{}: unsupported key type {other}", self.name),
        })
    }
}

/// Key types the accumulator compares natively.
fn supported_key(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float64
            | DataType::Int64
            | DataType::UInt64
            | DataType::Timestamp(TimeUnit::Nanosecond, _)
    )
}

impl AggregateUDFImpl for Selector {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        let (out, key) = (
            args.expr_fields[0].data_type(),
            args.expr_fields[1].data_type(),
        );
        Ok(Box::new(OneGroup(self.groups(out, key)?)))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        let field = |suffix: &str, t: &DataType| {
            Arc::new(Field::new(
                format!("{}_{suffix}", args.name),
                t.clone(),
                true,
            ))
        };
        Ok(vec![
            field("out", args.input_fields[0].data_type()),
            field("key", args.input_fields[1].data_type()),
            field("time", &DataType::Int64),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs<'_>) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs<'_>,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let groups = self.groups(
            args.expr_fields[0].data_type(),
            args.expr_fields[1].data_type(),
        )?;
        Ok(groups)
    }
}

struct Config {
    greatest: bool,
    tie_break: bool,
    out: DataType,
    key: DataType,
}

/// No row chosen for the group in this batch yet.
const NONE: usize = usize::MAX;

/// Per group: the best key so far, its time, the `out` value of its row.
struct Groups<K: ArrowPrimitiveType> {
    config: Config,
    keys: Vec<K::Native>,
    times: Vec<i64>,
    outs: Vec<ScalarValue>,
    set: Vec<bool>,
    null_out: ScalarValue,
    /// Scratch of one batch: the best row per group, and the groups it touched.
    best_row: Vec<usize>,
    touched: Vec<usize>,
}

impl<K: ArrowPrimitiveType> Groups<K> {
    fn new(config: Config) -> Result<Self> {
        let null_out = ScalarValue::try_from(&config.out)?;
        Ok(Groups {
            config,
            keys: Vec::new(),
            times: Vec::new(),
            outs: Vec::new(),
            set: Vec::new(),
            null_out,
            best_row: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Whether (`k`, `t`) beats the current best (`bk`, `bt`).
    #[inline]
    fn better(&self, k: K::Native, t: i64, bk: K::Native, bt: i64) -> bool {
        match k.compare(bk) {
            Ordering::Greater => self.config.greatest,
            Ordering::Less => !self.config.greatest,
            Ordering::Equal => self.config.tie_break && t < bt,
        }
    }

    /// The batch's best row per group over `rows`, monomorphized per direction and tie-break
    /// (the comparison is the whole cost of a selector).
    fn scan<const GREATEST: bool, const TIE_BREAK: bool>(
        &mut self,
        rows: impl Iterator<Item = usize>,
        groups: &[usize],
        keys: &[K::Native],
        times: &[i64],
    ) {
        let (best_row, touched) = (&mut self.best_row, &mut self.touched);
        for row in rows {
            let g = groups[row];
            let best = best_row[g];
            if best == NONE {
                best_row[g] = row;
                touched.push(g);
                continue;
            }
            let (k, bk) = (keys[row], keys[best]);
            let wins = if GREATEST { k.is_gt(bk) } else { k.is_lt(bk) };
            if wins || (TIE_BREAK && k.is_eq(bk) && times[row] < times[best]) {
                best_row[g] = row;
            }
        }
    }

    fn scan_rows(
        &mut self,
        rows: impl Iterator<Item = usize>,
        groups: &[usize],
        keys: &[K::Native],
        times: Option<&[i64]>,
    ) {
        match (self.config.greatest, times) {
            (true, Some(t)) => self.scan::<true, true>(rows, groups, keys, t),
            (false, Some(t)) => self.scan::<false, true>(rows, groups, keys, t),
            (true, None) => self.scan::<true, false>(rows, groups, keys, &[]),
            (false, None) => self.scan::<false, false>(rows, groups, keys, &[]),
        }
    }

    fn resize(&mut self, n: usize) {
        self.keys.resize(n, K::Native::default());
        self.times.resize(n, 0);
        self.outs.resize(n, self.null_out.clone());
        self.set.resize(n, false);
        self.best_row.resize(n, NONE);
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<K::Native>, Vec<i64>, Vec<ScalarValue>, Vec<bool>) {
        let taken = (
            emit_to.take_needed(&mut self.keys),
            emit_to.take_needed(&mut self.times),
            emit_to.take_needed(&mut self.outs),
            emit_to.take_needed(&mut self.set),
        );
        self.best_row.truncate(self.keys.len());
        taken
    }
}

impl<K: ArrowPrimitiveType> GroupsAccumulator for Groups<K> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        // `OneGroup` calls with no columns to create its group.
        if values.len() < 2 {
            return Ok(());
        }
        let out = &values[0];
        let keys = values[1].as_primitive::<K>();
        let key_values: &[K::Native] = keys.values();
        let times: Option<&[i64]> = match values.get(2) {
            Some(t) if self.config.tie_break => Some(time_values(t)?),
            _ => None,
        };
        // Rows that count: the FILTER is true and the key is not null, as one bitmap.
        let mut valid: Option<BooleanBuffer> = keys.nulls().map(|n| n.inner().clone());
        if let Some(f) = opt_filter {
            let passed = match f.nulls() {
                Some(n) => f.values() & n.inner(),
                None => f.values().clone(),
            };
            valid = Some(match valid {
                Some(v) => &v & &passed,
                None => passed,
            });
        }
        match &valid {
            None => self.scan_rows(0..group_indices.len(), group_indices, key_values, times),
            Some(v) => self.scan_rows(v.set_indices(), group_indices, key_values, times),
        }
        let time_at = |row: usize| times.map_or(0, |t| t[row]);
        let touched = std::mem::take(&mut self.touched);
        for &g in &touched {
            let row = std::mem::replace(&mut self.best_row[g], NONE);
            let (k, t) = (keys.value(row), time_at(row));
            if !self.set[g] || self.better(k, t, self.keys[g], self.times[g]) {
                self.keys[g] = k;
                self.times[g] = t;
                self.outs[g] = ScalarValue::try_from_array(out, row)?;
                self.set[g] = true;
            }
        }
        self.touched = touched;
        self.touched.clear();
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (_, _, outs, _) = self.take(emit_to);
        ScalarValue::iter_to_array(outs)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (keys, times, outs, set) = self.take(emit_to);
        let out = if outs.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.config.out)
        } else {
            ScalarValue::iter_to_array(outs)?
        };
        let keys = PrimitiveArray::<K>::new(keys.into(), Some(set.iter().copied().collect()))
            .with_data_type(self.config.key.clone());
        let times = Int64Array::new(times.into(), Some(set.into_iter().collect()));
        Ok(vec![out, Arc::new(keys), Arc::new(times)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        // A state row is (out, key, time) with a null key for an empty group: the same shape
        // as the input.
        self.update_batch(values, group_indices, None, total_num_groups)
    }

    fn convert_to_state(
        &self,
        _values: &[ArrayRef],
        _opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Only called when `supports_convert_to_state` says so, and it does not.
        not_impl_err!("influx selectors do not skip partial aggregation")
    }

    fn size(&self) -> usize {
        self.keys.capacity() * size_of::<K::Native>()
            + self.times.capacity() * size_of::<i64>()
            + ScalarValue::size_of_vec(&self.outs)
            + self.set.capacity()
            + (self.best_row.capacity() + self.touched.capacity()) * size_of::<usize>()
    }
}

/// The values of a tie-break column: nanosecond timestamps or integers, both `i64`.
fn time_values(a: &ArrayRef) -> Result<&[i64]> {
    Ok(match a.data_type() {
        DataType::Int64 => a.as_primitive::<Int64Type>().values(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            a.as_primitive::<TimestampNanosecondType>().values()
        }
        other => return exec_err!("influx selector: unsupported time type {other}"),
    })
}

/// The accumulator of an aggregate without GROUP BY: one group.
struct OneGroup(Box<dyn GroupsAccumulator + Sync>);

impl std::fmt::Debug for OneGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneGroup")
    }
}

impl OneGroup {
    /// Make sure the one group exists even when no row came (a partition without rows still
    /// evaluates, or hands on its empty state).
    fn ensure_group(&mut self) {
        self.0.update_batch(&[], &[], None, 1).ok();
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; n], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.ensure_group();
        let out = self.0.evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.ensure_group();
        let state = self.0.state(EmitTo::All)?;
        state
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; n], 1)
    }
}

/// The UDAFs [`SelectorRule`] plans with.
pub fn udafs() -> Vec<AggregateUDF> {
    [(true, false), (true, true), (false, false), (false, true)]
        .into_iter()
        .map(|(greatest, tie_break)| AggregateUDF::from(Selector::new(greatest, tie_break)))
        .collect()
}

/// Rewrites `first_value(out ORDER BY key [ASC|DESC][, time ASC])` into a [`Selector`] when
/// no null key can reach it (the key is not nullable, or the call filters `key IS NOT NULL`),
/// the key has a native type and the tie-break column is a non-null timestamp or integer.
#[derive(Debug, Default)]
pub struct SelectorRule;

impl AnalyzerRule for SelectorRule {
    fn name(&self) -> &str {
        "influx_selector"
    }

    // An analyzer rule: the optimizer's common-subexpression elimination would otherwise have
    // moved the `key IS NOT NULL` filter into a projection before we see it.
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite_plan).data()
    }
}

fn rewrite_plan(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Aggregate(aggregate) = plan else {
        return Ok(Transformed::no(plan));
    };
    let schema = aggregate.input.schema().clone();
    let mut changed = false;
    let aggr_expr = aggregate
        .aggr_expr
        .iter()
        .map(|e| match rewrite_expr(e, &schema)? {
            Some(new) => {
                changed = true;
                Ok(new)
            }
            None => Ok(e.clone()),
        })
        .collect::<Result<Vec<_>>>()?;
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let Aggregate {
        input, group_expr, ..
    } = aggregate;
    Ok(Transformed::yes(LogicalPlan::Aggregate(
        Aggregate::try_new(input, group_expr, aggr_expr)?,
    )))
}

/// The selector call replacing `e`, aliased to `e`'s name so the plan's schema is unchanged.
fn rewrite_expr(e: &Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let (inner, name) = match e {
        Expr::Alias(Alias { expr, name, .. }) => (expr.as_ref(), name.clone()),
        other => (other, other.schema_name().to_string()),
    };
    let Expr::AggregateFunction(AggregateFunction { func, params }) = inner else {
        return Ok(None);
    };
    let AggregateFunctionParams {
        args,
        distinct,
        filter,
        order_by,
        null_treatment,
    } = params;
    let respects_nulls = !matches!(null_treatment, Some(NullTreatment::IgnoreNulls));
    if func.name() != "first_value"
        || *distinct
        || !respects_nulls
        || args.len() != 1
        || order_by.is_empty()
        || order_by.len() > 2
    {
        return Ok(None);
    }
    let key = &order_by[0];
    if !supported_key(&key.expr.get_type(schema)?) {
        return Ok(None);
    }
    let filters_null_keys =
        matches!(filter.as_deref(), Some(Expr::IsNotNull(x)) if **x == key.expr);
    if key.expr.nullable(schema)? && !filters_null_keys {
        return Ok(None);
    }
    let mut call_args = vec![args[0].clone(), key.expr.clone()];
    if let Some(time) = order_by.get(1) {
        let integer_like = matches!(
            time.expr.get_type(schema)?,
            DataType::Int64 | DataType::Timestamp(TimeUnit::Nanosecond, _)
        );
        if !time.asc || !integer_like || time.expr.nullable(schema)? {
            return Ok(None);
        }
        call_args.push(time.expr.clone());
    }
    let tie_break = call_args.len() == 3;
    let udaf = Arc::new(AggregateUDF::from(Selector::new(!key.asc, tie_break)));
    let call = Expr::AggregateFunction(AggregateFunction::new_udf(
        udaf,
        call_args,
        false,
        filter.clone(),
        Vec::new(),
        None,
    ));
    Ok(Some(call.alias(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Float64Array};

    fn one_group() -> OneGroup {
        let s = Selector::new(true, false);
        OneGroup(s.groups(&DataType::Float64, &DataType::Int64).unwrap())
    }

    /// A partial aggregate over a partition without rows hands on an empty state (it used to
    /// index an empty array and panic), and merging it changes nothing.
    #[test]
    fn the_state_of_a_group_without_rows_is_empty() {
        let mut empty = one_group();
        let state = empty.state().unwrap();
        assert_eq!(state.len(), 3);
        assert!(state[1].is_null(), "no key: {state:?}");
        let mut full = one_group();
        let out: ArrayRef = Arc::new(Float64Array::from(vec![1.5, 2.5]));
        let key: ArrayRef = Arc::new(Int64Array::from(vec![10, 20]));
        full.update_batch(&[out, key]).unwrap();
        let arrays: Vec<ArrayRef> = state.iter().map(|v| v.to_array().unwrap()).collect();
        full.merge_batch(&arrays).unwrap();
        assert_eq!(full.evaluate().unwrap(), ScalarValue::Float64(Some(2.5)));
        assert!(one_group().evaluate().unwrap().is_null());
        assert!(arrays[0].is_null(0));
    }
}
