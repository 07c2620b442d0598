//! Applies a [`ShapePlan`] to the Arrow result of its SQL: rows become InfluxQL series (one per
//! tag set), empty GROUP BY time windows are filled, transformations run over each series, and
//! per-series LIMIT/OFFSET and SLIMIT/SOFFSET are applied. Only `arrow-array`/`arrow-schema`,
//! so it runs wherever the core does (wasm included).

mod transform;

use core::fmt;
use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use crate::query::translate::plan::{FillPlan, FillValue, PlanKind, ShapePlan};
use crate::query::translate::time::bucket_start;

/// One value of a result row. The writers (JSON, CSV, msgpack) render it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Boolean(bool),
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    String(String),
    /// A timestamp in nanoseconds since the epoch (the `time` column).
    #[serde(skip)]
    Time(i64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Unsigned(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl From<FillValue> for Value {
    fn from(v: FillValue) -> Self {
        match v {
            FillValue::Integer(i) => Value::Integer(i),
            FillValue::Float(f) => Value::Float(f),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Unsigned(u) => write!(f, "{u}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Time(t) => f.write_str(&crate::query::translate::time::format_rfc3339(*t)),
        }
    }
}

/// One InfluxQL series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The measurement (empty for SHOW SERIES and SHOW RETENTION POLICIES).
    pub name: String,
    /// The GROUP BY tag set, sorted by key.
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name={:?}", self.name)?;
        if !self.tags.is_empty() {
            f.write_str(" tags={")?;
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str("}")?;
        }
        write!(f, " columns=[{}] values=[", self.columns.join(","))?;
        for (i, row) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str("[")?;
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str("]")?;
        }
        f.write_str("]")
    }
}

/// Why a result could not be shaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("result has {found} columns, the plan needs column {needed}")]
    MissingColumn { needed: usize, found: usize },
    #[error("unsupported result column type {0}")]
    UnsupportedType(String),
    #[error(
        "too many points in the group by interval ({0} windows); maybe you forgot to specify a where time clause?"
    )]
    TooManyWindows(u64),
}

/// Windows one query may fill; beyond this InfluxDB 1.x also refuses (`max-select-buckets`).
pub const MAX_FILLED_WINDOWS: u64 = 10_000_000;

/// Reads one cell as a [`Value`].
pub fn cell(array: &dyn Array, row: usize) -> Result<Value, ShapeError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Boolean(array.as_boolean().value(row)),
        DataType::Int8 => Value::Integer(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Value::Integer(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Value::Integer(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Value::Integer(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Value::Unsigned(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Value::Unsigned(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Value::Unsigned(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => Value::Unsigned(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => Value::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(row).to_owned()),
        DataType::Utf8View => Value::String(array.as_string_view().value(row).to_owned()),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value(row)
                    .saturating_mul(1_000_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value(row)
                    .saturating_mul(1_000_000),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(row)
                    .saturating_mul(1_000),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            Value::Time(v)
        }
        DataType::Dictionary(_, _) => {
            // One key at its type: `normalized_keys()` would convert every key of the array
            // for each cell (quadratic in the rows of a batch).
            let dict = array.as_any_dictionary();
            match dict_key(dict.keys(), row) {
                Some(key) if key < dict.values().len() => cell(dict.values().as_ref(), key)?,
                _ => Value::Null,
            }
        }
        other => return Err(ShapeError::UnsupportedType(other.to_string())),
    })
}

/// One result column, its type resolved once: the common types read directly, the rest
/// through [`cell`].
enum Reader<'a> {
    Float(&'a arrow_array::Float64Array),
    Integer(&'a arrow_array::Int64Array),
    Time(&'a arrow_array::TimestampNanosecondArray),
    Any(&'a dyn Array),
}

impl<'a> Reader<'a> {
    fn new(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Float64 => Reader::Float(array.as_primitive()),
            DataType::Int64 => Reader::Integer(array.as_primitive()),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Reader::Time(array.as_primitive()),
            _ => Reader::Any(array),
        }
    }

    #[inline]
    fn get(&self, row: usize) -> Result<Value, ShapeError> {
        Ok(match self {
            Reader::Float(a) if a.is_valid(row) => Value::Float(a.value(row)),
            Reader::Integer(a) if a.is_valid(row) => Value::Integer(a.value(row)),
            Reader::Time(a) if a.is_valid(row) => Value::Time(a.value(row)),
            Reader::Float(_) | Reader::Integer(_) | Reader::Time(_) => Value::Null,
            Reader::Any(a) => return cell(*a, row),
        })
    }
}

/// The values index of row `row` of a dictionary array's `keys` (any integer key type).
pub(crate) fn dict_key(keys: &dyn Array, row: usize) -> Option<usize> {
    if keys.is_null(row) {
        return None;
    }
    macro_rules! key {
        ($($t:ty),*) => {
            $(if let Some(k) = keys.as_primitive_opt::<$t>() {
                return usize::try_from(k.value(row)).ok();
            })*
        };
    }
    key!(
        Int32Type, Int8Type, Int16Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
    );
    None
}

fn tag_string(v: Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A row of a SELECT result: time and the plan's columns.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub time: i64,
    pub vals: Vec<Value>,
}

/// Shapes one query's result. Several queries of one statement: use [`apply_all`].
pub fn apply(plan: &ShapePlan, batches: &[RecordBatch]) -> Result<Vec<Series>, ShapeError> {
    apply_all(&[(plan, batches)])
}

/// Shapes the results of all queries of one statement, in order, and applies what spans them:
/// SLIMIT/SOFFSET over all series, and the merged lists of SHOW SERIES / SHOW MEASUREMENTS.
pub fn apply_all(parts: &[(&ShapePlan, &[RecordBatch])]) -> Result<Vec<Series>, ShapeError> {
    let mut out = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut merged: Option<&ShapePlan> = None;
    for (plan, batches) in parts {
        match plan.kind {
            PlanKind::Select => out.extend(select(plan, batches)?),
            PlanKind::TagValues => {
                let mut values = Vec::new();
                for b in *batches {
                    for r in 0..b.num_rows() {
                        let mut row = Vec::new();
                        for c in &plan.columns {
                            let col = column(b, c.source)?;
                            row.push(match cell(col, r)? {
                                Value::Null => Value::String(String::new()),
                                v => v,
                            });
                        }
                        values.push(row);
                    }
                }
                if !values.is_empty() {
                    out.push(Series {
                        name: plan.name.clone(),
                        tags: vec![],
                        columns: plan.columns.iter().map(|c| c.name.clone()).collect(),
                        values,
                    });
                }
            }
            PlanKind::Series => {
                merged = Some(plan);
                let mut any = false;
                for b in *batches {
                    for r in 0..b.num_rows() {
                        any = true;
                        let mut key = escape_key(&plan.name, false);
                        for c in &plan.columns {
                            if plan.tags.is_empty() {
                                break;
                            }
                            let v = tag_string(cell(column(b, c.source)?, r)?);
                            if !v.is_empty() {
                                key.push(',');
                                key.push_str(&escape_key(&c.name, true));
                                key.push('=');
                                key.push_str(&escape_key(&v, true));
                            }
                        }
                        keys.push(key);
                    }
                }
                let _ = any;
            }
            PlanKind::Measurements => {
                merged = Some(plan);
                if batches.iter().any(|b| b.num_rows() > 0) {
                    names.push(plan.name_of_measurement_probe(batches)?);
                }
            }
        }
    }
    if let Some(p) = merged {
        let (list, name, column) = if p.kind == PlanKind::Series {
            keys.sort();
            keys.dedup();
            (keys, String::new(), "key")
        } else {
            names.sort();
            (names, "measurements".to_owned(), "name")
        };
        let list = page(list, p.limit, p.offset);
        if !list.is_empty() {
            out.push(Series {
                name,
                tags: vec![],
                columns: vec![column.into()],
                values: list.into_iter().map(|s| vec![Value::String(s)]).collect(),
            });
        }
        return Ok(out);
    }
    let (slimit, soffset) = parts
        .first()
        .map_or((None, None), |(p, _)| (p.slimit, p.soffset));
    Ok(page(out, slimit, soffset))
}

impl ShapePlan {
    fn name_of_measurement_probe(&self, batches: &[RecordBatch]) -> Result<String, ShapeError> {
        for b in batches {
            if b.num_rows() > 0 {
                return Ok(tag_string(cell(column(b, 0)?, 0)?));
            }
        }
        Ok(String::new())
    }
}

/// Line-protocol escaping of a series key part.
fn escape_key(s: &str, tag: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ',' || c == ' ' || (tag && c == '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn page<T>(v: Vec<T>, limit: Option<u64>, offset: Option<u64>) -> Vec<T> {
    let off = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let lim = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    v.into_iter().skip(off).take(lim).collect()
}

fn column(b: &RecordBatch, i: usize) -> Result<&dyn Array, ShapeError> {
    if i >= b.num_columns() {
        return Err(ShapeError::MissingColumn {
            needed: i,
            found: b.num_columns(),
        });
    }
    Ok(b.column(i).as_ref())
}

fn select(plan: &ShapePlan, batches: &[RecordBatch]) -> Result<Vec<Series>, ShapeError> {
    // Group rows by tag set; BTreeMap orders series by tag values like InfluxDB.
    let mut groups: BTreeMap<Vec<String>, Vec<Row>> = BTreeMap::new();
    // Rows of one series come together (the SQL orders by tags): collect a run, then file it,
    // instead of a map lookup per row.
    let mut run_tags: Option<Vec<String>> = None;
    let mut run: Vec<Row> = Vec::new();
    let mut min_t = i64::MAX;
    let mut max_t = i64::MIN;
    for b in batches {
        // Each column's type is looked at once per batch, not once per cell.
        let time_col = Reader::new(column(b, 0)?);
        let tag_cols = (0..plan.tags.len())
            .map(|i| column(b, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let val_cols = plan
            .columns
            .iter()
            .map(|c| column(b, c.source).map(Reader::new))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            let time = match time_col.get(r)? {
                Value::Time(t) | Value::Integer(t) => t,
                _ => 0,
            };
            min_t = min_t.min(time);
            max_t = max_t.max(time);
            // One spare slot: the time is put in front when the row becomes output.
            let mut vals = Vec::with_capacity(plan.columns.len() + 1);
            for c in &val_cols {
                vals.push(c.get(r)?);
            }
            if plan.drop_null_rows && vals.iter().all(Value::is_null) {
                continue;
            }
            let mut tags = Vec::with_capacity(tag_cols.len());
            for c in &tag_cols {
                tags.push(tag_string(cell(*c, r)?));
            }
            if run_tags.as_ref() != Some(&tags)
                && let Some(t) = run_tags.replace(tags)
            {
                groups.entry(t).or_default().append(&mut run);
            }
            run.push(Row { time, vals });
        }
    }
    if let Some(t) = run_tags {
        groups.entry(t).or_default().append(&mut run);
    }
    let windows = match plan.window {
        Some(w) if plan.fill != FillPlan::None && !groups.is_empty() => {
            let first = bucket_start(plan.start.unwrap_or(min_t), w.every, w.offset);
            let last = bucket_start(
                plan.end.map_or(max_t, |e| e.saturating_sub(1)),
                w.every,
                w.offset,
            );
            let n = if last < first {
                0
            } else {
                ((last - first) / w.every) as u64 + 1
            };
            if n.saturating_mul(groups.len() as u64) > MAX_FILLED_WINDOWS {
                return Err(ShapeError::TooManyWindows(
                    n.saturating_mul(groups.len() as u64),
                ));
            }
            Some((first, n, w.every))
        }
        _ => None,
    };
    let has_transform = plan.columns.iter().any(|c| c.transform.is_some());
    let mut out = Vec::new();
    for (tags, mut rows) in groups {
        if let Some((first, n, every)) = windows {
            rows = fill(plan, rows, first, n, every);
        }
        if has_transform || plan.columns.iter().any(|c| !c.post.is_empty()) {
            transform::apply(plan, &mut rows);
            if has_transform {
                rows.retain(|r| !r.vals.iter().all(Value::is_null));
            }
        }
        let rows = page(rows, plan.limit, plan.offset);
        if rows.is_empty() {
            continue;
        }
        let mut columns = vec!["time".to_owned()];
        columns.extend(plan.columns.iter().map(|c| c.name.clone()));
        out.push(Series {
            name: plan.name.clone(),
            tags: plan.tags.iter().cloned().zip(tags).collect(),
            columns,
            values: rows
                .into_iter()
                .map(|r| {
                    let mut v = r.vals;
                    v.insert(0, Value::Time(r.time));
                    v
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Densifies one series to every window in `[first, first + n*every)`, filling per column as
/// InfluxDB's fill iterators do (each column separately).
fn fill(plan: &ShapePlan, mut rows: Vec<Row>, first: i64, n: u64, every: i64) -> Vec<Row> {
    // Usually already in time order (the SQL sorts by time); a stable sort would still
    // allocate its scratch space.
    if !rows.is_sorted_by_key(|r| r.time) {
        rows.sort_by_key(|r| r.time);
    }
    let ncols = plan.columns.len();
    let mut dense: Vec<Row> = Vec::with_capacity(n as usize);
    let mut it = rows.into_iter().peekable();
    // present[i * ncols + c]: window i had a value in column c.
    let mut present: Vec<bool> = Vec::with_capacity(n as usize * ncols);
    for i in 0..n {
        let t = first.saturating_add(every.saturating_mul(i as i64));
        // Rows before the first window (a range start inside a window) belong to it.
        let mut row = None;
        while let Some(r) = it.peek() {
            if r.time < t.saturating_add(every) {
                let r = it.next().expect("peeked");
                if r.time >= t || i == 0 {
                    row = Some(r);
                }
            } else {
                break;
            }
        }
        let vals = row.map_or_else(
            || {
                let mut v = Vec::with_capacity(ncols + 1);
                v.resize(ncols, Value::Null);
                v
            },
            |r| r.vals,
        );
        present.extend(vals.iter().map(|v| !v.is_null()));
        dense.push(Row { time: t, vals });
    }
    for (c, col) in plan.columns.iter().enumerate() {
        match plan.fill {
            FillPlan::None => {}
            FillPlan::Null => {
                if let Some(v) = col.null_fill {
                    for r in &mut dense {
                        if r.vals[c].is_null() {
                            r.vals[c] = v.into();
                        }
                    }
                }
            }
            FillPlan::Value(v) => {
                for r in &mut dense {
                    if r.vals[c].is_null() {
                        r.vals[c] = v.into();
                    }
                }
            }
            FillPlan::Previous => {
                let mut prev = Value::Null;
                for r in &mut dense {
                    if r.vals[c].is_null() {
                        r.vals[c] = prev.clone();
                    } else {
                        prev = r.vals[c].clone();
                    }
                }
            }
            FillPlan::Linear => {
                let mut last: Option<usize> = None;
                for i in 0..dense.len() {
                    if !present[i * ncols + c] {
                        continue;
                    }
                    if let Some(p) = last
                        && i > p + 1
                    {
                        let (a, b) = (dense[p].vals[c].clone(), dense[i].vals[c].clone());
                        for (k, row) in dense.iter_mut().enumerate().take(i).skip(p + 1) {
                            row.vals[c] = interpolate(&a, &b, k - p, i - p);
                        }
                    }
                    last = Some(i);
                }
            }
        }
    }
    if plan.descending {
        dense.reverse();
    }
    dense
}

/// The value `step` of `steps` between `a` and `b`; integers stay integers (InfluxDB's
/// linear fill on an integer column truncates).
fn interpolate(a: &Value, b: &Value, step: usize, steps: usize) -> Value {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => {
            Value::Integer(x + (y - x) * step as i64 / steps as i64)
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Value::Float(x + (y - x) * step as f64 / steps as f64),
            _ => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests;
