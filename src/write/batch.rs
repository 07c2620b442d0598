//! Parsed points into Arrow `RecordBatch`es, one per measurement, with field types checked.
//!
//! Schema (DESIGN §4): tags `Dictionary(Int32, Utf8)`, fields Float64/Int64/UInt64/Utf8/Boolean,
//! all nullable, then a non-null `time` `Timestamp(Nanosecond, "UTC")`. Columns are ordered tags
//! by name, fields by name, then `time`, so equal inputs give equal schemas.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_buffer::{NullBufferBuilder, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};

use crate::error::{cut, quote};
use crate::schema::{ColumnType, FieldType, Schema};
use crate::write::line_protocol::{FieldValue, Line, LineError, parse_lines, same};
use crate::write::precision::Precision;

/// The name of the time column in every table.
pub const TIME_COLUMN: &str = "time";
/// Longest excerpt of a rejected line quoted in a response.
const LINE_EXCERPT: usize = 120;

/// The Arrow type of a field column.
pub fn field_data_type(ty: FieldType) -> DataType {
    match ty {
        FieldType::Float => DataType::Float64,
        FieldType::Integer => DataType::Int64,
        FieldType::UInteger => DataType::UInt64,
        FieldType::String => DataType::Utf8,
        FieldType::Boolean => DataType::Boolean,
    }
}

/// The Arrow type of a tag column.
pub fn tag_data_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The Arrow type of the time column.
pub fn time_data_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The accepted points of one measurement.
#[derive(Debug, Clone)]
pub struct TableBatch {
    pub measurement: String,
    pub batch: RecordBatch,
}

/// A column the host's schema did not know yet; the host records it with the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewColumn {
    pub table: String,
    pub column: String,
    pub column_type: ColumnType,
}

/// A rejected line: where, what, and an excerpt of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based physical line number.
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
    /// The line, cut to a readable length.
    pub text: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {} in {}", self.message, self.text)
    }
}

/// Everything a write body turned into.
#[derive(Debug, Clone, Default)]
pub struct ParsedWrite {
    pub batches: Vec<TableBatch>,
    pub new_columns: Vec<NewColumn>,
    pub accepted: usize,
    /// The first rejects, up to the listing limit.
    pub rejected: Vec<Rejected>,
    /// How many lines were rejected in all.
    pub rejected_count: usize,
}

/// Parse `body` and build batches for `database`, checking types against `schema` and against
/// earlier lines of the same body. `now_ns` (truncated to `precision`) stamps points without a
/// timestamp, the same value for the whole request. At most `max_listed` rejects are kept.
pub fn build(
    body: &str,
    database: &str,
    precision: Precision,
    now_ns: i64,
    schema: &dyn Schema,
    max_listed: usize,
) -> ParsedWrite {
    let default_time = precision.truncate(now_ns);
    let mut tables: Vec<TableBuilder<'_>> = Vec::new();
    let mut table_index: HashMap<String, usize> = HashMap::new();
    let mut out = ParsedWrite::default();

    let mut lines = parse_lines(body);
    let mut point = Line::default();
    while let Some(item) = lines.next_into(&mut point) {
        let (line, column, message) = match item {
            Ok(()) => {
                let appended = resolve_time(&point, precision, default_time).and_then(|time| {
                    let idx = table_for(&mut tables, &mut table_index, &point.measurement);
                    tables[idx].append(&point, time, database, schema)
                });
                match appended {
                    Ok(()) => {
                        out.accepted += 1;
                        continue;
                    }
                    Err(message) => (lines.point_line(), None, message),
                }
            }
            Err(LineError {
                line,
                column,
                message,
            }) => (line, Some(column), message),
        };
        out.rejected_count += 1;
        if out.rejected.len() < max_listed {
            out.rejected.push(Rejected {
                line,
                column,
                message,
                text: String::new(),
            });
        }
    }
    fill_excerpts(body, &mut out.rejected);

    for table in tables {
        if table.rows == 0 {
            continue;
        }
        for (column, column_type) in table.new_columns() {
            out.new_columns.push(NewColumn {
                table: table.name.clone(),
                column,
                column_type,
            });
        }
        out.batches.push(table.finish());
    }
    out
}

/// Tables a request usually writes; up to this many are found by comparing names, which is
/// cheaper than hashing the measurement of every line.
const FEW_TABLES: usize = 16;

/// The index of `measurement`'s builder, created if new.
fn table_for(
    tables: &mut Vec<TableBuilder<'_>>,
    index: &mut HashMap<String, usize>,
    measurement: &str,
) -> usize {
    if tables.len() <= FEW_TABLES {
        if let Some(i) = tables
            .iter()
            .position(|t| same(t.name.as_bytes(), measurement.as_bytes()))
        {
            return i;
        }
    } else if let Some(&i) = index.get(measurement) {
        return i;
    }
    tables.push(TableBuilder::new(measurement));
    let i = tables.len() - 1;
    if tables.len() > FEW_TABLES {
        if index.is_empty() {
            index.extend(tables.iter().enumerate().map(|(i, t)| (t.name.clone(), i)));
        } else {
            index.insert(measurement.to_string(), i);
        }
    }
    i
}

fn resolve_time(line: &Line<'_>, precision: Precision, default_time: i64) -> Result<i64, String> {
    match line.timestamp {
        None => Ok(default_time),
        Some(ts) => precision.to_nanos(ts).ok_or_else(|| {
            format!(
                "timestamp {ts} is out of range for precision {}: it must lie between 1677-09-21 and 2262-04-11",
                precision.as_str()
            )
        }),
    }
}

/// Fill in each reject's excerpt from its physical line.
fn fill_excerpts(body: &str, rejected: &mut [Rejected]) {
    let mut lines = body.split('\n').enumerate();
    let mut current: Option<(usize, &str)> = None;
    for r in rejected.iter_mut() {
        while current.is_none_or(|(n, _)| n + 1 < r.line) {
            match lines.next() {
                Some(l) => current = Some(l),
                None => break,
            }
        }
        if let Some((n, text)) = current
            && n + 1 == r.line
        {
            r.text = cut(text.strip_suffix('\r').unwrap_or(text), LINE_EXCERPT);
        }
    }
}

/// A tag column being built: dictionary keys into the distinct values of the request.
/// Arrow's `StringDictionaryBuilder` hashes and copies every row's value; here a row repeating
/// the column's previous value (a region, a datacenter) is not hashed at all, and values stay
/// borrowed from the body until the batch is finished.
struct TagColumn<'a> {
    keys: Vec<i32>,
    nulls: NullBufferBuilder,
    values: Vec<Cow<'a, str>>,
    index: HashMap<Cow<'a, str>, i32, foldhash::fast::FixedState>,
    /// Key of the last value appended (`usize::MAX` before the first).
    last: usize,
}

impl<'a> TagColumn<'a> {
    fn new() -> Self {
        TagColumn {
            keys: Vec::new(),
            nulls: NullBufferBuilder::new(0),
            values: Vec::new(),
            index: HashMap::default(),
            last: usize::MAX,
        }
    }

    // A `Cow` rather than `&str`: a value borrowed from the body is kept borrowed.
    #[allow(clippy::ptr_arg)]
    fn append(&mut self, value: &Cow<'a, str>) {
        let key = match self.values.get(self.last) {
            Some(prev) if same(prev.as_bytes(), value.as_bytes()) => self.last,
            _ => {
                let key = match self.index.get(value.as_ref()) {
                    Some(&k) => k as usize,
                    None => {
                        let k = self.values.len();
                        self.values.push(value.clone());
                        // A body holds far fewer than 2^31 lines, so keys fit.
                        self.index.insert(value.clone(), k as i32);
                        k
                    }
                };
                self.last = key;
                key
            }
        };
        self.keys.push(key as i32);
        self.nulls.append_non_null();
    }

    fn append_nulls(&mut self, n: usize) {
        self.keys.resize(self.keys.len() + n, 0);
        self.nulls.append_n_nulls(n);
    }

    fn finish(mut self) -> ArrayRef {
        let keys = Int32Array::new(ScalarBuffer::from(self.keys), self.nulls.finish());
        let values = StringArray::from_iter_values(self.values.iter());
        // Every key indexes `values`.
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
                .expect("keys index the values"),
        )
    }
}

enum ColumnData<'a> {
    Tag(TagColumn<'a>),
    Float(Float64Builder),
    Integer(Int64Builder),
    UInteger(UInt64Builder),
    String(StringBuilder),
    Boolean(BooleanBuilder),
}

impl ColumnData<'_> {
    fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Tag | ColumnType::Time => ColumnData::Tag(TagColumn::new()),
            ColumnType::Field(FieldType::Float) => ColumnData::Float(Float64Builder::new()),
            ColumnType::Field(FieldType::Integer) => ColumnData::Integer(Int64Builder::new()),
            ColumnType::Field(FieldType::UInteger) => ColumnData::UInteger(UInt64Builder::new()),
            ColumnType::Field(FieldType::String) => ColumnData::String(StringBuilder::new()),
            ColumnType::Field(FieldType::Boolean) => ColumnData::Boolean(BooleanBuilder::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnData::Tag(b) => b.keys.len(),
            ColumnData::Float(b) => b.len(),
            ColumnData::Integer(b) => b.len(),
            ColumnData::UInteger(b) => b.len(),
            ColumnData::String(b) => b.len(),
            ColumnData::Boolean(b) => b.len(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnData::Tag(b) => b.finish(),
            ColumnData::Float(mut b) => Arc::new(b.finish()),
            ColumnData::Integer(mut b) => Arc::new(b.finish()),
            ColumnData::UInteger(mut b) => Arc::new(b.finish()),
            ColumnData::String(mut b) => Arc::new(b.finish()),
            ColumnData::Boolean(mut b) => Arc::new(b.finish()),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ColumnData::Tag(b) => b.append_nulls(n),
            ColumnData::Float(b) => b.append_nulls(n),
            ColumnData::Integer(b) => b.append_nulls(n),
            ColumnData::UInteger(b) => b.append_nulls(n),
            ColumnData::String(b) => (0..n).for_each(|_| b.append_null()),
            ColumnData::Boolean(b) => b.append_nulls(n),
        }
    }

    fn append_field(&mut self, value: &FieldValue<'_>) {
        match (self, value) {
            (ColumnData::Float(b), FieldValue::Float(v)) => b.append_value(*v),
            (ColumnData::Integer(b), FieldValue::Integer(v)) => b.append_value(*v),
            (ColumnData::UInteger(b), FieldValue::UInteger(v)) => b.append_value(*v),
            (ColumnData::String(b), FieldValue::String(v)) => b.append_value(v),
            (ColumnData::Boolean(b), FieldValue::Boolean(v)) => b.append_value(*v),
            // Types are checked before any value is appended.
            (col, _) => col.append_nulls(1),
        }
    }
}

fn value_type(value: &FieldValue<'_>) -> FieldType {
    match value {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::UInteger(_) => FieldType::UInteger,
        FieldValue::String(_) => FieldType::String,
        FieldValue::Boolean(_) => FieldType::Boolean,
    }
}

struct Column<'a> {
    name: String,
    column_type: ColumnType,
    /// Whether the host's schema already had it.
    known: bool,
    data: ColumnData<'a>,
}

struct TableBuilder<'a> {
    name: String,
    columns: Vec<Column<'a>>,
    index: HashMap<String, usize>,
    /// Column indices of the last appended line's tags, then fields. Lines of one measurement
    /// usually repeat their keys (Telegraf's do), so checking the names against this layout
    /// replaces two hash lookups per key.
    layout: Vec<usize>,
    time: TimestampNanosecondBuilder,
    rows: usize,
}

impl<'a> TableBuilder<'a> {
    fn new(name: &str) -> Self {
        TableBuilder {
            name: name.to_string(),
            columns: Vec::new(),
            index: HashMap::new(),
            layout: Vec::new(),
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            rows: 0,
        }
    }

    /// The type `name` already has in this request or in the host's schema.
    fn existing(&self, name: &str, database: &str, schema: &dyn Schema) -> Option<ColumnType> {
        match self.index.get(name) {
            Some(&i) => Some(self.columns[i].column_type),
            None => schema.column(database, &self.name, name),
        }
    }

    /// Whether `line` has the last appended line's keys in the same order, with the same field
    /// types: then it needs no further check (that line passed them all).
    fn same_layout(&self, line: &Line<'a>) -> bool {
        let keys = line
            .tags
            .iter()
            .map(|(k, _)| k)
            .chain(line.fields.iter().map(|(k, _)| k));
        self.layout.len() == line.tags.len() + line.fields.len()
            && keys
                .zip(&self.layout)
                .all(|(k, &i)| same(self.columns[i].name.as_bytes(), k.as_bytes()))
            && line
                .fields
                .iter()
                .zip(&self.layout[line.tags.len()..])
                .all(|((_, v), &i)| self.columns[i].column_type == ColumnType::Field(value_type(v)))
    }

    /// Check the whole line first, then append it, so a rejected line leaves nothing behind.
    fn append(
        &mut self,
        line: &Line<'a>,
        time: i64,
        database: &str,
        schema: &dyn Schema,
    ) -> Result<(), String> {
        if self.same_layout(line) {
            for ((_, value), &i) in line.tags.iter().zip(&self.layout) {
                if let ColumnData::Tag(b) = &mut self.columns[i].data {
                    b.append(value);
                }
            }
            for ((_, value), &i) in line.fields.iter().zip(&self.layout[line.tags.len()..]) {
                self.columns[i].data.append_field(value);
            }
            self.finish_row(time);
            return Ok(());
        }
        for (key, _) in &line.tags {
            if line.fields.iter().any(|(f, _)| f == key) {
                return Err(format!(
                    "{} is both a tag and a field in this line: a column is either a tag or a field",
                    quote(key)
                ));
            }
            match self.existing(key, database, schema) {
                None | Some(ColumnType::Tag) => {}
                Some(other) => return Err(conflict(key, &self.name, ColumnType::Tag, other)),
            }
        }
        for (key, value) in &line.fields {
            let ty = ColumnType::Field(value_type(value));
            match self.existing(key, database, schema) {
                None => {}
                Some(t) if t == ty => {}
                Some(other) => return Err(conflict(key, &self.name, ty, other)),
            }
        }
        let mut layout = std::mem::take(&mut self.layout);
        layout.clear();
        for (key, value) in &line.tags {
            let i = self.column(key, ColumnType::Tag, database, schema);
            if let ColumnData::Tag(b) = &mut self.columns[i].data {
                b.append(value);
            }
            layout.push(i);
        }
        for (key, value) in &line.fields {
            let i = self.column(key, ColumnType::Field(value_type(value)), database, schema);
            self.columns[i].data.append_field(value);
            layout.push(i);
        }
        self.layout = layout;
        self.finish_row(time);
        Ok(())
    }

    /// Count the row and pad the columns the line did not name with nulls.
    fn finish_row(&mut self, time: i64) {
        self.rows += 1;
        self.time.append_value(time);
        if self.layout.len() == self.columns.len() {
            // The line named every column (layout indices are distinct).
            return;
        }
        for col in &mut self.columns {
            let missing = self.rows - col.data.len();
            if missing > 0 {
                col.data.append_nulls(missing);
            }
        }
    }

    /// The index of column `name`, creating it (back-filled with nulls) if new.
    fn column(&mut self, name: &str, ty: ColumnType, database: &str, schema: &dyn Schema) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let mut data = ColumnData::new(ty);
        data.append_nulls(self.rows);
        let i = self.columns.len();
        self.columns.push(Column {
            name: name.to_string(),
            column_type: ty,
            known: schema.column(database, &self.name, name).is_some(),
            data,
        });
        self.index.insert(name.to_string(), i);
        i
    }

    fn new_columns(&self) -> Vec<(String, ColumnType)> {
        self.columns
            .iter()
            .filter(|c| !c.known)
            .map(|c| (c.name.clone(), c.column_type))
            .collect()
    }

    fn finish(mut self) -> TableBatch {
        let mut columns = std::mem::take(&mut self.columns);
        columns.sort_by(|a, b| {
            let rank = |c: &Column<'_>| matches!(c.column_type, ColumnType::Field(_)) as u8;
            (rank(a), &a.name).cmp(&(rank(b), &b.name))
        });
        let mut fields = Vec::with_capacity(columns.len() + 1);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 1);
        for col in columns {
            let data_type = match col.column_type {
                ColumnType::Field(ft) => field_data_type(ft),
                ColumnType::Tag | ColumnType::Time => tag_data_type(),
            };
            fields.push(Field::new(&col.name, data_type, true));
            arrays.push(col.data.finish());
        }
        fields.push(Field::new(TIME_COLUMN, time_data_type(), false));
        arrays.push(Arc::new(self.time.finish()));
        let schema = Arc::new(ArrowSchema::new(fields));
        // The builders above produce exactly these types and lengths.
        let batch = RecordBatch::try_new(schema, arrays).expect("columns match their schema");
        TableBatch {
            measurement: self.name,
            batch,
        }
    }
}

/// InfluxDB 1.x wording: `field type conflict: input field "x" on measurement "m" is type
/// integer, already exists as type float`.
fn conflict(key: &str, table: &str, got: ColumnType, existing: ColumnType) -> String {
    let describe = |t: ColumnType| match t {
        ColumnType::Tag => "a tag".to_string(),
        ColumnType::Time => "the time column".to_string(),
        ColumnType::Field(f) => format!("type {f}"),
    };
    match (got, existing) {
        (ColumnType::Field(_), ColumnType::Field(_)) => format!(
            "field type conflict: input field {} on measurement {} is {}, already exists as {}",
            quote(key),
            quote(table),
            describe(got),
            describe(existing)
        ),
        _ => format!(
            "column conflict: {} on measurement {} is written as {}, but already exists as {}",
            quote(key),
            quote(table),
            describe(got),
            describe(existing)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EmptySchema;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int32Type};

    /// Tag columns: a value repeated from the previous row, a value seen earlier, a missing tag
    /// (null, also before the column's first value) and an escaped value (owned, not borrowed)
    /// all come out as written.
    #[test]
    fn tag_dictionary_values_and_nulls() {
        let body = "m v=0 0\n\
                    m,h=a,r=x v=1 1\n\
                    m,h=a,r=y v=2 2\n\
                    m,h=b v=3 3\n\
                    m,h=a,r=x v=4 4\n\
                    m,h=c\\ d,r=x v=5 5\n";
        let w = build(body, "db", Precision::Nanoseconds, 0, &EmptySchema, 10);
        assert_eq!(w.accepted, 6, "{:?}", w.rejected);
        let b = &w.batches[0].batch;
        let strings = |name: &str| -> Vec<Option<String>> {
            let d = b.column_by_name(name).unwrap().as_dictionary::<Int32Type>();
            let values = d.downcast_dict::<StringArray>().unwrap();
            values.into_iter().map(|v| v.map(str::to_string)).collect()
        };
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            strings("h"),
            vec![None, s("a"), s("a"), s("b"), s("a"), s("c d")]
        );
        assert_eq!(
            strings("r"),
            vec![None, s("x"), s("y"), None, s("x"), s("x")]
        );
        let h = b.column_by_name("h").unwrap().as_dictionary::<Int32Type>();
        assert_eq!(h.values().len(), 3, "each distinct value once");
    }

    /// Lines repeating the previous line's keys take the fast path; any change in keys, order
    /// or field type goes through the full checks.
    #[test]
    fn repeated_and_changing_layouts() {
        let body = "m,h=a x=1,y=2i 1\n\
                    m,h=b x=3,y=4i 2\n\
                    m,h=c y=5i,x=6 3\n\
                    m x=\"s\" 4\n\
                    m,h=d x=7 5\n\
                    m,h=e x=8,y=1.5 6\n\
                    m,h=f x=9,h=1 7\n";
        let w = build(body, "db", Precision::Nanoseconds, 0, &EmptySchema, 10);
        assert_eq!(w.accepted, 4);
        assert_eq!(
            w.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![4, 6, 7]
        );
        let b = &w.batches[0].batch;
        assert_eq!(b.num_rows(), 4);
        let x = b.column_by_name("x").unwrap().as_primitive::<Float64Type>();
        assert_eq!(x.values().to_vec(), vec![1.0, 3.0, 6.0, 7.0]);
        let y = b.column_by_name("y").unwrap();
        assert_eq!(y.null_count(), 1);
        assert!(y.is_null(3));
        let h = b.column_by_name("h").unwrap().as_dictionary::<Int32Type>();
        let names: Vec<_> = h
            .downcast_dict::<StringArray>()
            .unwrap()
            .into_iter()
            .map(|v| v.unwrap().to_string())
            .collect();
        assert_eq!(names, vec!["a", "b", "c", "d"]);
    }
}
