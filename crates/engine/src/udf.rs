//! Functions the translated InfluxQL needs and DataFusion lacks (see `README.md`), and a
//! planning-only session over empty tables built from a [`QuerySchema`].
//!
//! Every UDAF here collects its input rows and computes the result once per group. That is
//! simple and exact; these aggregates (mode, percentile, integral) need all values of a group
//! anyway (percentile and mode sort or count them, integral orders by time).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{
    MemorySchemaProvider, SchemaProvider, TableFunctionArgs, TableFunctionImpl, TableProvider,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use influxgate::FieldType;
use influxgate::query::translate::QuerySchema;

/// Which InfluxQL aggregate a [`Collect`] UDAF computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `influx_mode(x)`: the most frequent value; ties go to the smallest value (InfluxDB
    /// 1.x sorts the points by value and keeps the first run of the greatest length).
    Mode,
    /// `influx_percentile(x, p)`: nearest rank as InfluxDB: sort ascending, take element
    /// `floor(n * p / 100 + 0.5) - 1`; out of range gives null.
    Percentile,
    /// `influx_percentile_at(x, other, time, p)`: `other` at the point `influx_percentile`
    /// picks (its time, or a field riding along with the selector); of equal values the
    /// earliest point, as InfluxDB reading a series in time order, whatever order the rows
    /// come in (files of a day are scanned in no particular order).
    PercentileAt,
    /// `influx_integral(x, time, unit_ns)`: trapezoidal area under the points in time order,
    /// divided by the unit (InfluxDB's integral() without interpolation at window edges).
    Integral,
}

/// A UDAF that gathers its arguments' values per group and reduces them at the end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Collect {
    kind: Kind,
    signature: Signature,
}

impl Collect {
    fn new(kind: Kind) -> Self {
        let n = match kind {
            Kind::Mode => 1,
            Kind::Percentile => 2,
            Kind::Integral => 3,
            Kind::PercentileAt => 4,
        };
        Collect {
            kind,
            signature: Signature::any(n, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for Collect {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Mode => "influx_mode",
            Kind::Percentile => "influx_percentile",
            Kind::PercentileAt => "influx_percentile_at",
            Kind::Integral => "influx_integral",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Mode | Kind::Percentile => args[0].clone(),
            Kind::PercentileAt => args[1].clone(),
            Kind::Integral => DataType::Float64,
        })
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        let types = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect::<Vec<_>>();
        Ok(Box::new(Gather {
            kind: self.kind,
            columns: vec![Vec::new(); types.len()],
            types,
            return_type: args.return_type().clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(args
            .input_fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Arc::new(Field::new(
                    format!("{}_{i}", args.name),
                    DataType::List(Arc::new(Field::new_list_field(f.data_type().clone(), true))),
                    true,
                ))
            })
            .collect())
    }
}

#[derive(Debug)]
struct Gather {
    kind: Kind,
    types: Vec<DataType>,
    /// One vector per argument; row `i` of every vector is one input row.
    columns: Vec<Vec<ScalarValue>>,
    return_type: DataType,
}

impl Gather {
    fn push_row(&mut self, arrays: &[ArrayRef], row: usize) -> Result<()> {
        // InfluxDB reduces only the points that have the field.
        if arrays[0].is_null(row) {
            return Ok(());
        }
        for (c, a) in arrays.iter().enumerate() {
            self.columns[c].push(ScalarValue::try_from_array(a, row)?);
        }
        Ok(())
    }

    /// Row indices sorted by the first argument's value (stable: equal values keep input
    /// order), equal values by `time` when given.
    fn sorted(&self, time: Option<usize>) -> Vec<usize> {
        let v = &self.columns[0];
        let mut idx: Vec<usize> = (0..v.len()).collect();
        let cmp = |a: &ScalarValue, b: &ScalarValue| {
            a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
        };
        idx.sort_by(|&a, &b| {
            cmp(&v[a], &v[b]).then_with(|| match time {
                Some(t) => cmp(&self.columns[t][a], &self.columns[t][b]),
                None => std::cmp::Ordering::Equal,
            })
        });
        idx
    }

    fn percentile_index(&self, n: usize) -> Result<Option<usize>> {
        let p = match self.columns.last().and_then(|c| c.first()) {
            Some(p) => match p {
                ScalarValue::Float64(Some(v)) => *v,
                ScalarValue::Int64(Some(v)) => *v as f64,
                other => match other.cast_to(&DataType::Float64)? {
                    ScalarValue::Float64(Some(v)) => v,
                    _ => return Ok(None),
                },
            },
            None => return Ok(None),
        };
        let i = (n as f64 * p / 100.0 + 0.5).floor() as i64 - 1;
        Ok((i >= 0 && (i as usize) < n).then_some(i as usize))
    }
}

fn f64_of(v: &ScalarValue) -> Option<f64> {
    match v.cast_to(&DataType::Float64).ok()? {
        ScalarValue::Float64(x) => x,
        _ => None,
    }
}

fn i64_of(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampNanosecond(x, _) | ScalarValue::Int64(x) => *x,
        other => match other.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(x) => x,
            _ => None,
        },
    }
}

impl Accumulator for Gather {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for row in 0..values[0].len() {
            self.push_row(values, row)?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let null = ScalarValue::try_from(&self.return_type)?;
        let n = self.columns[0].len();
        if n == 0 {
            return Ok(null);
        }
        match self.kind {
            Kind::Mode => {
                let idx = self.sorted(None);
                let v = &self.columns[0];
                let (mut best, mut best_len) = (idx[0], 0usize);
                let mut i = 0;
                while i < idx.len() {
                    let mut j = i;
                    while j < idx.len() && v[idx[j]] == v[idx[i]] {
                        j += 1;
                    }
                    if j - i > best_len {
                        best_len = j - i;
                        best = idx[i];
                    }
                    i = j;
                }
                Ok(v[best].clone())
            }
            Kind::Percentile | Kind::PercentileAt => {
                let time = (self.kind == Kind::PercentileAt).then_some(2);
                let idx = self.sorted(time);
                let Some(i) = self.percentile_index(n)? else {
                    return Ok(null);
                };
                let col = if self.kind == Kind::Percentile { 0 } else { 1 };
                self.columns[col][idx[i]].cast_to(&self.return_type)
            }
            Kind::Integral => {
                let unit = self.columns[2]
                    .first()
                    .and_then(i64_of)
                    .unwrap_or(1_000_000_000);
                if unit <= 0 {
                    return exec_err!("influx_integral: unit must be positive");
                }
                let mut pts: Vec<(i64, f64)> = (0..n)
                    .filter_map(|i| {
                        Some((i64_of(&self.columns[1][i])?, f64_of(&self.columns[0][i])?))
                    })
                    .collect();
                pts.sort_by_key(|p| p.0);
                let mut area = 0.0;
                for w in pts.windows(2) {
                    let (t0, v0) = w[0];
                    let (t1, v1) = w[1];
                    area += (v0 + v1) / 2.0 * ((t1 - t0) as f64 / unit as f64);
                }
                Ok(ScalarValue::Float64(Some(area)))
            }
        }
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .columns
                .iter()
                .map(|c| c.iter().map(ScalarValue::size).sum::<usize>())
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .columns
            .iter()
            .zip(&self.types)
            .map(|(c, t)| ScalarValue::List(ScalarValue::new_list_nullable(c, t)))
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states
            .iter()
            .map(|s| {
                s.as_any()
                    .downcast_ref::<ListArray>()
                    .expect("state is a list")
            })
            .collect();
        for row in 0..lists[0].len() {
            if lists[0].is_null(row) {
                continue;
            }
            let values: Vec<ArrayRef> = lists.iter().map(|l| l.value(row)).collect();
            self.update_batch(&values)?;
        }
        Ok(())
    }
}

/// The InfluxQL UDAFs, to register on every session that runs translated SQL.
pub fn udafs() -> Vec<AggregateUDF> {
    [
        Kind::Mode,
        Kind::Percentile,
        Kind::PercentileAt,
        Kind::Integral,
    ]
    .into_iter()
    .map(|k| AggregateUDF::from(Collect::new(k)))
    .collect()
}

/// Registers every function the translator's SQL may call that DataFusion lacks.
pub fn register_udfs(ctx: &SessionContext) {
    for f in udafs().into_iter().chain(crate::selector::udafs()) {
        ctx.register_udaf(f);
    }
}

/// The Arrow schema of a measurement's table in the storage model: tags
/// `Dictionary(Int32, Utf8)`, fields by type, `time` `Timestamp(Nanosecond, "UTC")`.
pub fn measurement_schema(tags: &[String], fields: &[(String, FieldType)]) -> SchemaRef {
    let mut cols: Vec<Field> = tags
        .iter()
        .map(|t| {
            Field::new(
                t,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            )
        })
        .collect();
    for (name, t) in fields {
        let dt = match t {
            FieldType::Float => DataType::Float64,
            FieldType::Integer => DataType::Int64,
            FieldType::UInteger => DataType::UInt64,
            FieldType::String => DataType::Utf8,
            FieldType::Boolean => DataType::Boolean,
        };
        cols.push(Field::new(name, dt, true));
    }
    cols.push(Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        false,
    ));
    Arc::new(Schema::new(cols))
}

/// A session with the UDAFs and one empty table per measurement of `schema`, in a schema per
/// database of the default catalog: enough to plan (not run) translated SQL.
pub fn planning_session(schema: &dyn QuerySchema) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    register_udfs(&ctx);
    let catalog = ctx
        .catalog("datafusion")
        .expect("the default catalog exists");
    let mut tables = HashMap::new();
    for db in schema.databases() {
        let provider = Arc::new(MemorySchemaProvider::new());
        for m in schema.measurements(&db) {
            let s = measurement_schema(&schema.tag_keys(&db, &m), &schema.field_keys(&db, &m));
            let table = Arc::new(MemTable::try_new(
                s.clone(),
                vec![vec![RecordBatch::new_empty(s)]],
            )?);
            tables.insert(
                (db.clone(), m.clone()),
                table.clone() as Arc<dyn TableProvider>,
            );
            provider.register_table(m, table)?;
        }
        catalog.register_schema(&db, provider)?;
    }
    ctx.register_udtf(crate::last_rows::LAST_ROWS, Arc::new(EmptyLastRows(tables)));
    Ok(ctx)
}

/// `last_rows('db', 'table')` of a planning session: the empty table itself.
#[derive(Debug)]
struct EmptyLastRows(HashMap<(String, String), Arc<dyn TableProvider>>);

impl TableFunctionImpl for EmptyLastRows {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> Result<Arc<dyn TableProvider>> {
        let (db, table) = crate::last_rows::db_and_table(args.exprs())?;
        self.0
            .get(&(db.to_owned(), table.to_owned()))
            .cloned()
            .ok_or_else(|| DataFusionError::Plan(format!("table '{db}.{table}' not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

    /// Of equal values `influx_percentile_at` picks the earliest point, whatever the order
    /// of the rows (files of a day are scanned in no particular order).
    #[test]
    fn percentile_ties_go_to_the_earliest_point() {
        let new = || Gather {
            kind: Kind::PercentileAt,
            types: vec![],
            columns: vec![Vec::new(); 4],
            return_type: DataType::Utf8,
        };
        let x: ArrayRef = Arc::new(Float64Array::from(vec![5.0, 1.0, 5.0, 5.0]));
        let other: ArrayRef = Arc::new(StringArray::from(vec!["late", "low", "early", "mid"]));
        let time: ArrayRef = Arc::new(Int64Array::from(vec![30, 10, 5, 20]));
        let p: ArrayRef = Arc::new(Int64Array::from(vec![90; 4]));
        let mut g = new();
        g.update_batch(&[x.clone(), other.clone(), time.clone(), p.clone()])
            .unwrap();
        // n = 4, rank floor(4 * 0.9 + 0.5) - 1 = 3: the last of the sorted values, a tie of
        // three 5.0s ordered by time: 5 (early), 20, 30.
        assert_eq!(g.evaluate().unwrap(), ScalarValue::from("late"));
        let p50: ArrayRef = Arc::new(Int64Array::from(vec![50; 4]));
        let mut g = new();
        g.update_batch(&[x, other, time, p50]).unwrap();
        assert_eq!(g.evaluate().unwrap(), ScalarValue::from("early"));
    }
}
