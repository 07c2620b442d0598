//! The InfluxDB 3 query API formats (`/api/v3/query_sql`, `/api/v3/query_influxql`): `json` (an
//! array of row objects, null columns omitted), `jsonl` (one object per line), `csv` (a header
//! and rows) and `pretty` (Arrow's ASCII table). Times print as Arrow prints them
//! (`2023-11-14T22:13:20.500`, with `Z` for a UTC column).

use core::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use super::time::format_arrow_timestamp;
use super::{StatementResult, Value, parquet_unsupported, v3_content_type};
use crate::error::Error;
use crate::query::params::V3Format;
use crate::query::shape::dict_key;
use crate::response::Response;

/// One cell of a v3 row.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// Nanoseconds; whether the column has a time zone (printed with `Z`).
    Time(i64, bool),
}

impl Cell {
    fn from_value(v: &Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Float(f) => Cell::Float(*f),
            Value::Integer(i) => Cell::Int(*i),
            Value::Unsigned(u) => Cell::UInt(*u),
            Value::String(s) => Cell::Str(s.clone()),
            Value::Boolean(b) => Cell::Bool(*b),
            Value::Time(ns) => Cell::Time(*ns, false),
        }
    }

    /// The text form used by `csv` and `pretty`.
    fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::UInt(u) => u.to_string(),
            Cell::Float(f) => float_text(*f),
            Cell::Str(s) => s.clone(),
            Cell::Time(ns, utc) => format_arrow_timestamp(*ns, *utc),
        }
    }

    fn json(&self, out: &mut String) {
        match self {
            Cell::Null => out.push_str("null"),
            Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Cell::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Cell::Float(f) if f.is_finite() => out.push_str(&float_text(*f)),
            Cell::Float(_) => out.push_str("null"),
            Cell::Str(s) => push_json_string(out, s),
            Cell::Time(..) => push_json_string(out, &self.text()),
        }
    }
}

/// Floats as Arrow's writers print them: always with a fraction or exponent (`2.0`, `1e-7`).
fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    format!("{f:?}")
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn ts_ns(v: i64, unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000_000),
        TimeUnit::Microsecond => v.saturating_mul(1_000),
        TimeUnit::Nanosecond => v,
    }
}

fn cell(array: &dyn Array, row: usize) -> Cell {
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Cell::Int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Cell::Int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Cell::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Cell::UInt(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Cell::UInt(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Cell::UInt(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => Cell::UInt(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => Cell::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Cell::Str(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Cell::Str(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Cell::Str(array.as_string_view().value(row).to_string()),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            let (s, _) = super::time::civil(i64::from(days) * 86_400_000_000_000);
            Cell::Str(s[..10].to_string())
        }
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            Cell::Time(ts_ns(v, unit), tz.is_some())
        }
        DataType::Dictionary(..) => {
            let Some(d) = array.as_any_dictionary_opt() else {
                return Cell::Null;
            };
            match dict_key(d.keys(), row) {
                Some(k) if k < d.values().len() => cell(d.values().as_ref(), k),
                _ => Cell::Null,
            }
        }
        other => Cell::Str(format!("<{other}>")),
    }
}

/// A table: column names and rows of cells.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

fn table_of_batches(batches: &[RecordBatch]) -> Table {
    let columns = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(b.columns().iter().map(|c| cell(c.as_ref(), r)).collect());
        }
    }
    Table { columns, rows }
}

/// InfluxQL series as InfluxDB 3's `query_influxql` rows: `iox::measurement` first, then the
/// series' columns (`time` first) with its GROUP BY tags after `time`.
fn table_of_series(results: &[StatementResult]) -> Table {
    let mut columns: Vec<String> = vec!["iox::measurement".into()];
    let add = |c: &str, columns: &mut Vec<String>| {
        if !columns.iter().any(|x| x == c) {
            columns.push(c.to_string());
        }
    };
    for r in results {
        for s in &r.series {
            let mut cols = s.columns.iter();
            if let Some(first) = s.columns.first().filter(|c| *c == "time") {
                add(first, &mut columns);
                cols.next();
            }
            for (k, _) in &s.tags {
                add(k, &mut columns);
            }
            for c in cols {
                add(c, &mut columns);
            }
        }
    }
    let mut rows = Vec::new();
    for r in results {
        for s in &r.series {
            let idx: Vec<usize> = s
                .columns
                .iter()
                .map(|c| columns.iter().position(|x| x == c).unwrap_or(0))
                .collect();
            let tag_idx: Vec<(usize, &str)> = s
                .tags
                .iter()
                .map(|(k, v)| (columns.iter().position(|x| x == k).unwrap_or(0), v.as_str()))
                .collect();
            for values in &s.values {
                let mut row = vec![Cell::Null; columns.len()];
                row[0] = Cell::Str(s.name.clone());
                for (i, v) in tag_idx.iter() {
                    row[*i] = Cell::Str((*v).to_string());
                }
                for (i, v) in idx.iter().zip(values) {
                    if *i != 0 {
                        row[*i] = Cell::from_value(v);
                    }
                }
                rows.push(row);
            }
        }
    }
    Table { columns, rows }
}

fn render_table(t: &Table, format: V3Format) -> Result<Response, Error> {
    let mut out = String::new();
    match format {
        V3Format::Json | V3Format::JsonLines => {
            let lines = format == V3Format::JsonLines;
            if !lines {
                out.push('[');
            }
            for (ri, row) in t.rows.iter().enumerate() {
                if ri > 0 && !lines {
                    out.push(',');
                }
                out.push('{');
                let mut first = true;
                for (c, v) in t.columns.iter().zip(row) {
                    if *v == Cell::Null {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    push_json_string(&mut out, c);
                    out.push(':');
                    v.json(&mut out);
                }
                out.push('}');
                if lines {
                    out.push('\n');
                }
            }
            if !lines {
                out.push(']');
            }
        }
        V3Format::Csv => {
            let line = |out: &mut String, fields: Vec<String>| {
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if f.contains(['"', ',', '\n', '\r']) {
                        out.push('"');
                        out.push_str(&f.replace('"', "\"\""));
                        out.push('"');
                    } else {
                        out.push_str(f);
                    }
                }
                out.push('\n');
            };
            line(&mut out, t.columns.clone());
            for row in &t.rows {
                line(&mut out, row.iter().map(Cell::text).collect());
            }
        }
        V3Format::Pretty => pretty(&mut out, t),
        V3Format::Parquet => return Err(parquet_unsupported()),
    }
    Ok(Response {
        status: 200,
        headers: vec![("Content-Type", v3_content_type(format).to_string())],
        body: out.into_bytes(),
    })
}

/// Arrow's `pretty_format_batches` layout.
fn pretty(out: &mut String, t: &Table) {
    let texts: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(Cell::text).collect())
        .collect();
    let widths: Vec<usize> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            texts
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let sep = |out: &mut String| {
        out.push('+');
        for w in &widths {
            out.push_str(&"-".repeat(w + 2));
            out.push('+');
        }
        out.push('\n');
    };
    let row = |out: &mut String, cells: &[String]| {
        out.push('|');
        for (c, w) in cells.iter().zip(&widths) {
            let pad = w - c.chars().count();
            out.push(' ');
            out.push_str(c);
            out.push_str(&" ".repeat(pad + 1));
            out.push('|');
        }
        out.push('\n');
    };
    sep(out);
    row(out, &t.columns);
    sep(out);
    for r in &texts {
        row(out, r);
    }
    if !texts.is_empty() {
        sep(out);
    }
}

/// A `/api/v3/query_sql` answer: the SQL result batches in `format`.
pub fn render_v3_batches(batches: &[RecordBatch], format: V3Format) -> Result<Response, Error> {
    render_table(&table_of_batches(batches), format)
}

/// A `/api/v3/query_influxql` answer: shaped series as rows with `iox::measurement`. A statement
/// error is returned as the error of the whole request.
pub fn render_v3_series(results: &[StatementResult], format: V3Format) -> Result<Response, Error> {
    if let Some(e) = results.iter().find_map(|r| r.error.as_deref()) {
        return Err(Error::InvalidParameter(e.to_string()));
    }
    render_table(&table_of_series(results), format)
}
