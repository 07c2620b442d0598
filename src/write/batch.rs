//! Parsed points into Arrow `RecordBatch`es, one per measurement, with field types checked.
//!
//! Schema (DESIGN §4): tags `Dictionary(Int32, Utf8)`, fields Float64/Int64/UInt64/Utf8/Boolean,
//! all nullable, then a non-null `time` `Timestamp(Nanosecond, "UTC")`. Columns are ordered tags
//! by name, fields by name, then `time`, so equal inputs give equal schemas.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::types::{
    ArrowPrimitiveType, Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type,
};
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Int32Array, PrimitiveArray, RecordBatch, StringArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use hashbrown::HashTable;

use crate::error::{cut, quote};
use crate::schema::{ColumnType, FieldType, Schema};
use crate::write::line_protocol::{
    FieldValue, Line, LineError, Peeked, PointSink, parse_lines, same,
};
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
    build_with(body, database, precision, now_ns, schema, max_listed, true)
}

/// [`build`], with the fast path (a line parsed straight into its table's columns when it has
/// the table's previous keys) on or off; tests check both give the same.
fn build_with(
    body: &str,
    database: &str,
    precision: Precision,
    now_ns: i64,
    schema: &dyn Schema,
    max_listed: usize,
    fast: bool,
) -> ParsedWrite {
    let default_time = precision.truncate(now_ns);
    let mut tables: Vec<TableBuilder<'_>> = Vec::new();
    let mut table_index: HashMap<String, usize> = HashMap::new();
    let mut out = ParsedWrite::default();

    let mut lines = parse_lines(body);
    let mut point = Line::default();
    while let Some(peeked) = lines.peek() {
        if fast && let Some(idx) = fast_table(&tables, &table_index, peeked) {
            let table = &mut tables[idx];
            if let Some(point) = lines.point_into(peeked, table)
                && let Ok(time) = resolve_time(point.timestamp, precision, default_time)
            {
                lines.consume(point);
                table.finish_row(time);
                table.project(lines.offset(), body.len());
                out.accepted += 1;
                continue;
            }
            // Not the table's usual layout, or a bad line: the general path decides.
            table.undo_row();
        }
        let Some(item) = lines.next_into(&mut point) else {
            break;
        };
        let (line, column, message) = match item {
            Ok(()) => {
                let appended =
                    resolve_time(point.timestamp, precision, default_time).and_then(|time| {
                        let idx = table_for(&mut tables, &mut table_index, &point.measurement);
                        tables[idx].append(&point, time, database, schema)?;
                        Ok(idx)
                    });
                match appended {
                    Ok(idx) => {
                        tables[idx].project(lines.offset(), body.len());
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

/// Rows a table has when it projects its size (see [`TableBuilder::project`]).
const PROJECT_AT_ROWS: usize = 32;
/// Most rows a projection reserves: bodies sorted by measurement would otherwise have every
/// table reserve for all the lines after its first. Beyond this, columns grow by doubling.
const PROJECT_MAX_ROWS: usize = 8192;

/// Tables a request usually writes; up to this many are found by comparing names, which is
/// cheaper than hashing the measurement of every line.
const FEW_TABLES: usize = 16;

/// The index of `measurement`'s builder, if it has one.
fn find_table(
    tables: &[TableBuilder<'_>],
    index: &HashMap<String, usize>,
    measurement: &str,
) -> Option<usize> {
    if tables.len() <= FEW_TABLES {
        tables
            .iter()
            .position(|t| same(t.name.as_bytes(), measurement.as_bytes()))
    } else {
        index.get(measurement).copied()
    }
}

/// The index of `measurement`'s builder, created if new.
fn table_for(
    tables: &mut Vec<TableBuilder<'_>>,
    index: &mut HashMap<String, usize>,
    measurement: &str,
) -> usize {
    if let Some(i) = find_table(tables, index, measurement) {
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

/// The table a peeked line would go to, if it may take the fast path: a plain measurement whose
/// table has a layout (the keys of its last line) to match.
fn fast_table(
    tables: &[TableBuilder<'_>],
    index: &HashMap<String, usize>,
    peeked: Peeked<'_>,
) -> Option<usize> {
    let idx = find_table(tables, index, peeked.measurement?)?;
    (!tables[idx].layout.is_empty()).then_some(idx)
}

fn resolve_time(
    timestamp: Option<i64>,
    precision: Precision,
    default_time: i64,
) -> Result<i64, String> {
    match timestamp {
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
    /// Keys into `values`, by the hash of the value: a lookup compares with [`same`] instead
    /// of the `memcmp` call a `HashMap<Cow<str>, _>` makes per probe.
    index: HashTable<i32>,
    hasher: foldhash::fast::FixedState,
    /// Key of the last value appended (`usize::MAX` before the first).
    last: usize,
    /// The row that added the newest value.
    newest_row: usize,
}

/// The hash a tag value is indexed by; lookup, insert (and rehash) and removal must agree.
#[inline(always)]
fn value_hash(hasher: &foldhash::fast::FixedState, value: &str) -> u64 {
    hasher.hash_one(value.as_bytes())
}

impl<'a> TagColumn<'a> {
    fn new() -> Self {
        TagColumn {
            keys: Vec::new(),
            nulls: NullBufferBuilder::new(0),
            values: Vec::new(),
            index: HashTable::new(),
            hasher: Default::default(),
            last: usize::MAX,
            newest_row: 0,
        }
    }

    // A `Cow` rather than `&str`: a value borrowed from the body is kept borrowed.
    #[allow(clippy::ptr_arg)]
    fn append(&mut self, value: &Cow<'a, str>) {
        self.append_with(value, || value.clone());
    }

    /// [`TagColumn::append`] of a value borrowed from the body (the fast path's).
    fn append_str(&mut self, value: &'a str) {
        self.append_with(value, || Cow::Borrowed(value));
    }

    /// Append `value`; `owned` makes the value kept when it is new to the column.
    #[inline(always)]
    fn append_with(&mut self, value: &str, owned: impl FnOnce() -> Cow<'a, str>) {
        let key = match self.values.get(self.last) {
            Some(prev) if same(prev.as_bytes(), value.as_bytes()) => self.last,
            _ => {
                let bytes = value.as_bytes();
                let hash = value_hash(&self.hasher, value);
                let values = &self.values;
                let key = match self
                    .index
                    .find(hash, |&k| same(values[k as usize].as_bytes(), bytes))
                {
                    Some(&k) => k as usize,
                    None => {
                        let k = self.values.len();
                        self.newest_row = self.keys.len();
                        self.values.push(owned());
                        let (values, hasher) = (&self.values, &self.hasher);
                        // A body holds far fewer than 2^31 lines, so keys fit.
                        self.index.insert_unique(hash, k as i32, |&k| {
                            value_hash(hasher, &values[k as usize])
                        });
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

    /// Drop the rows from `len` on, with the value the last of them added, if any. Only ever
    /// one row is dropped, and a row adds at most one value to a column.
    fn truncate(&mut self, len: usize) {
        if self.keys.len() <= len {
            return;
        }
        if self.newest_row >= len
            && let Some(v) = self.values.pop()
        {
            let popped = self.values.len() as i32;
            if let Ok(entry) = self
                .index
                .find_entry(value_hash(&self.hasher, &v), |&k| k == popped)
            {
                entry.remove();
            }
            // The value now newest was added by an earlier row (or, at row 0, by none left).
            self.newest_row = 0;
        }
        self.keys.truncate(len);
        self.nulls.truncate(len);
        self.last = usize::MAX;
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

/// A primitive column: values and validity, truncated when a line is undone.
struct Primitive<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
}

impl<T: ArrowPrimitiveType> Primitive<T> {
    fn new() -> Self {
        Primitive {
            values: Vec::new(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    #[inline(always)]
    fn push(&mut self, v: T::Native) {
        self.values.push(v);
        self.nulls.append_non_null();
    }

    fn push_nulls(&mut self, n: usize) {
        self.values
            .resize(self.values.len() + n, T::Native::default());
        self.nulls.append_n_nulls(n);
    }

    fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
        self.nulls.truncate(len);
    }

    fn finish(mut self) -> PrimitiveArray<T> {
        PrimitiveArray::new(ScalarBuffer::from(self.values), self.nulls.finish())
    }
}

/// A string column: bytes, offsets and validity.
struct Strings {
    bytes: Vec<u8>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Strings {
    fn push(&mut self, v: &str) {
        self.bytes.extend_from_slice(v.as_bytes());
        // A body is far below 2 GiB (the body limit), so offsets fit.
        self.offsets.push(self.bytes.len() as i32);
        self.nulls.append_non_null();
    }

    fn push_nulls(&mut self, n: usize) {
        let end = self.bytes.len() as i32;
        self.offsets.resize(self.offsets.len() + n, end);
        self.nulls.append_n_nulls(n);
    }

    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len + 1);
        self.bytes.truncate(self.offsets[len] as usize);
        self.nulls.truncate(len);
    }

    fn finish(mut self) -> StringArray {
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        StringArray::new(offsets, Buffer::from_vec(self.bytes), self.nulls.finish())
    }
}

struct Booleans {
    values: BooleanBufferBuilder,
    nulls: NullBufferBuilder,
}

enum ColumnData<'a> {
    Tag(TagColumn<'a>),
    Float(Primitive<Float64Type>),
    Integer(Primitive<Int64Type>),
    UInteger(Primitive<UInt64Type>),
    String(Strings),
    Boolean(Booleans),
}

impl ColumnData<'_> {
    fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Tag | ColumnType::Time => ColumnData::Tag(TagColumn::new()),
            ColumnType::Field(FieldType::Float) => ColumnData::Float(Primitive::new()),
            ColumnType::Field(FieldType::Integer) => ColumnData::Integer(Primitive::new()),
            ColumnType::Field(FieldType::UInteger) => ColumnData::UInteger(Primitive::new()),
            ColumnType::Field(FieldType::String) => ColumnData::String(Strings {
                bytes: Vec::new(),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            }),
            ColumnType::Field(FieldType::Boolean) => ColumnData::Boolean(Booleans {
                values: BooleanBufferBuilder::new(0),
                nulls: NullBufferBuilder::new(0),
            }),
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnData::Tag(b) => b.keys.len(),
            ColumnData::Float(b) => b.values.len(),
            ColumnData::Integer(b) => b.values.len(),
            ColumnData::UInteger(b) => b.values.len(),
            ColumnData::String(b) => b.offsets.len() - 1,
            ColumnData::Boolean(b) => b.values.len(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnData::Tag(b) => b.finish(),
            ColumnData::Float(b) => Arc::new(b.finish()),
            ColumnData::Integer(b) => Arc::new(b.finish()),
            ColumnData::UInteger(b) => Arc::new(b.finish()),
            ColumnData::String(b) => Arc::new(b.finish()),
            ColumnData::Boolean(mut b) => {
                Arc::new(BooleanArray::new(b.values.finish(), b.nulls.finish()))
            }
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ColumnData::Tag(b) => b.append_nulls(n),
            ColumnData::Float(b) => b.push_nulls(n),
            ColumnData::Integer(b) => b.push_nulls(n),
            ColumnData::UInteger(b) => b.push_nulls(n),
            ColumnData::String(b) => b.push_nulls(n),
            ColumnData::Boolean(b) => {
                b.values.append_n(n, false);
                b.nulls.append_n_nulls(n);
            }
        }
    }

    /// Room for `n` more rows.
    fn reserve(&mut self, n: usize) {
        match self {
            ColumnData::Tag(b) => b.keys.reserve(n),
            ColumnData::Float(b) => b.values.reserve(n),
            ColumnData::Integer(b) => b.values.reserve(n),
            ColumnData::UInteger(b) => b.values.reserve(n),
            ColumnData::String(b) => {
                let rows = b.offsets.len() - 1;
                let mean = b.bytes.len().div_ceil(rows.max(1));
                b.offsets.reserve(n);
                b.bytes.reserve(n.saturating_mul(mean));
            }
            ColumnData::Boolean(b) => b.values.reserve(n),
        }
    }

    /// Drop the rows from `len` on.
    fn truncate(&mut self, len: usize) {
        match self {
            ColumnData::Tag(b) => b.truncate(len),
            ColumnData::Float(b) => b.truncate(len),
            ColumnData::Integer(b) => b.truncate(len),
            ColumnData::UInteger(b) => b.truncate(len),
            ColumnData::String(b) => b.truncate(len),
            ColumnData::Boolean(b) => {
                b.values.truncate(len);
                b.nulls.truncate(len);
            }
        }
    }

    /// Append `value` if it has the column's type; `false` (nothing appended) if not.
    #[inline(always)]
    fn try_append(&mut self, value: &FieldValue<'_>) -> bool {
        match (self, value) {
            (ColumnData::Float(b), FieldValue::Float(v)) => b.push(*v),
            (ColumnData::Integer(b), FieldValue::Integer(v)) => b.push(*v),
            (ColumnData::UInteger(b), FieldValue::UInteger(v)) => b.push(*v),
            (ColumnData::String(b), FieldValue::String(v)) => b.push(v),
            (ColumnData::Boolean(b), FieldValue::Boolean(v)) => {
                b.values.append(*v);
                b.nulls.append_non_null();
            }
            _ => return false,
        }
        true
    }

    fn append_field(&mut self, value: &FieldValue<'_>) {
        // Types are checked before any value is appended.
        if !self.try_append(value) {
            self.append_nulls(1);
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
    /// How many of `layout` are tags.
    layout_tags: usize,
    time: Vec<i64>,
    rows: usize,
}

impl<'a> TableBuilder<'a> {
    fn new(name: &str) -> Self {
        TableBuilder {
            name: name.to_string(),
            columns: Vec::new(),
            index: HashMap::new(),
            layout: Vec::new(),
            layout_tags: 0,
            time: Vec::new(),
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
        self.layout_tags = line.tags.len();
        self.finish_row(time);
        Ok(())
    }

    /// Undo what a line that did not complete (see [`PointSink`]) appended.
    fn undo_row(&mut self) {
        for &i in &self.layout {
            self.columns[i].data.truncate(self.rows);
        }
    }

    /// Once the table has [`PROJECT_AT_ROWS`] rows, reserve room in its columns for the rows the
    /// rest of the body likely holds (its share so far of the `consumed` bytes of a `total`-byte
    /// body), at most [`PROJECT_MAX_ROWS`]: growing by doubling reallocated every column about
    /// ten times per 1,000-line request (4% of the server's CPU under ingest, in realloc).
    #[inline]
    fn project(&mut self, consumed: usize, total: usize) {
        if self.rows != PROJECT_AT_ROWS || consumed == 0 {
            return;
        }
        let projected = (self.rows as u64 * total as u64 / consumed as u64) as usize;
        let more = projected
            .saturating_add(projected / 16)
            .min(PROJECT_MAX_ROWS)
            .saturating_sub(self.rows);
        if more == 0 {
            return;
        }
        self.time.reserve(more);
        for col in &mut self.columns {
            col.data.reserve(more);
        }
    }

    /// Count the row and pad the columns the line did not name with nulls.
    fn finish_row(&mut self, time: i64) {
        self.rows += 1;
        self.time.push(time);
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
        let time = PrimitiveArray::<TimestampNanosecondType>::new(self.time.into(), None);
        arrays.push(Arc::new(time.with_timezone("UTC")));
        let schema = Arc::new(ArrowSchema::new(fields));
        // The builders above produce exactly these types and lengths.
        let batch = RecordBatch::try_new(schema, arrays).expect("columns match their schema");
        TableBatch {
            measurement: self.name,
            batch,
        }
    }
}

/// A line with the table's last keys goes straight into the columns of its layout.
impl<'a> PointSink<'a> for TableBuilder<'a> {
    fn tag_count(&self) -> usize {
        self.layout_tags
    }

    fn field_count(&self) -> usize {
        self.layout.len() - self.layout_tags
    }

    #[inline(always)]
    fn key(&self, k: usize) -> &str {
        &self.columns[self.layout[k]].name
    }

    #[inline(always)]
    fn tag(&mut self, k: usize, value: &'a str) {
        if let ColumnData::Tag(b) = &mut self.columns[self.layout[k]].data {
            b.append_str(value);
        }
    }

    #[inline(always)]
    fn field(&mut self, k: usize, value: FieldValue<'a>) -> bool {
        let i = self.layout[self.layout_tags + k];
        self.columns[i].data.try_append(&value)
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

    /// At its 32nd row a table reserves room for its share of the whole body (here 32 rows in
    /// the first 1,000 of 32,000 bytes: 1,024 rows, +1/16), capped at `PROJECT_MAX_ROWS`; only
    /// once.
    #[test]
    fn projection_reserves_the_tables_share_once() {
        let mut t = TableBuilder::new("m");
        t.rows = PROJECT_AT_ROWS;
        t.time = vec![0; PROJECT_AT_ROWS];
        t.project(1_000, 32_000);
        let want = PROJECT_AT_ROWS * 32;
        assert!(
            t.time.capacity() >= want + want / 16,
            "{}",
            t.time.capacity()
        );
        assert!(t.time.capacity() < 2 * want, "{}", t.time.capacity());
        let before = t.time.capacity();
        t.rows += 1;
        t.project(1_100, 32_000);
        assert_eq!(t.time.capacity(), before, "projects once");

        let mut big = TableBuilder::new("m");
        big.rows = PROJECT_AT_ROWS;
        big.project(1, 1 << 40);
        assert!(
            big.time.capacity() <= 2 * PROJECT_MAX_ROWS,
            "{}",
            big.time.capacity()
        );
    }

    /// Rows written past the projection (two interleaved tables, a string field and a field
    /// that first appears after it) all come out as written.
    #[test]
    fn rows_after_the_projection_are_kept() {
        let mut body = String::new();
        for i in 0..1000 {
            let extra = if i >= 500 {
                format!(",late={i}i")
            } else {
                String::new()
            };
            body += &format!("a,h=h{} s=\"v{i}\"{extra} {i}\n", i % 7);
            body += &format!("b v={i} {i}\n");
        }
        let w = build(&body, "db", Precision::Nanoseconds, 0, &EmptySchema, 10);
        assert_eq!(w.accepted, 2000, "{:?}", w.rejected);
        let a = w.batches.iter().find(|b| b.measurement == "a").unwrap();
        let s = a.batch.column_by_name("s").unwrap().as_string::<i32>();
        let late = a.batch.column_by_name("late").unwrap();
        for i in 0..1000 {
            assert_eq!(s.value(i), format!("v{i}"));
            assert_eq!(late.is_valid(i), i >= 500, "row {i}");
        }
        let b = w.batches.iter().find(|b| b.measurement == "b").unwrap();
        let v = b
            .batch
            .column_by_name("v")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!((0..1000).all(|i| v.value(i) == i as f64));
    }

    /// One random line for `fast_path_matches_general_path`: a few measurements, tag and field
    /// keys, values of every type and many ways to be wrong. Its keys rarely repeat a table's
    /// layout, so `fast_or_random_line` mixes in lines that do.
    fn random_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let measurement = prop::sample::select(vec!["m", "n", "m\\ x", "", "m,"]);
        let tag = (
            prop::sample::select(vec!["a", "b", "c", "a\\=", "time", "f"]),
            prop::sample::select(vec!["x", "y", "z", "x\\ y", "", "x=y", "new1", "new2"]),
        );
        let field = (
            prop::sample::select(vec!["f", "g", "h", "f\\ ", "time", "a"]),
            prop::sample::select(vec![
                "1",
                "-2.5",
                "3i",
                "4u",
                "t",
                "FALSE",
                "\"s\"",
                "\"a\\\"b\"",
                "\"l\nm\"",
                "bad",
                "1e999",
                "",
                "9i9",
                "\"open",
            ]),
        );
        let time = prop::sample::select(vec![
            "",
            " 5",
            " -7",
            " 99999999999999999999",
            " 9223372036854775807",
            " 5 x",
            "  ",
        ]);
        (
            measurement,
            prop::collection::vec(tag, 0..4),
            prop::collection::vec(field, 0..4),
            time,
            prop::sample::select(vec!["\n", "\r\n", "\n\n", "\n# c\n"]),
        )
            .prop_map(|(m, tags, fields, time, end)| {
                let mut s = m.to_string();
                for (k, v) in tags {
                    s += &format!(",{k}={v}");
                }
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s += &format!(" {}{time}{end}", fields.join(","));
                s
            })
    }

    /// Mostly lines of one layout (`m,a=.. f=..`), so the fast path runs often, with values and
    /// timestamps that make it give up at its last steps.
    fn fast_or_random_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let template = (
            prop::sample::select(vec!["x", "y", "new1"]),
            prop::sample::select(vec!["1", "-2.5", "1e999", "2i", "bad", "\"s\""]),
            prop::sample::select(vec![
                "",
                " 5",
                " 9223372036854775807",
                " 99999999999999999999",
            ]),
        )
            .prop_map(|(a, f, t)| format!("m,a={a} f={f}{t}\n"));
        prop_oneof![2 => random_line(), 3 => template]
    }

    proptest::proptest! {
        /// Lines parsed straight into their table's columns (and undone when they stop
        /// matching) give exactly what the general path gives: batches, new columns and rejects.
        #[test]
        fn fast_path_matches_general_path(
            lines in proptest::collection::vec(fast_or_random_line(), 1..40),
            precision in proptest::sample::select(vec![Precision::Nanoseconds, Precision::Seconds]),
        ) {
            let body = lines.concat();
            let fast = build_with(&body, "db", precision, 77, &EmptySchema, 100, true);
            let slow = build_with(&body, "db", precision, 77, &EmptySchema, 100, false);
            proptest::prop_assert_eq!(fast.accepted, slow.accepted);
            proptest::prop_assert_eq!(fast.rejected_count, slow.rejected_count);
            proptest::prop_assert_eq!(&fast.rejected, &slow.rejected);
            proptest::prop_assert_eq!(&fast.new_columns, &slow.new_columns);
            proptest::prop_assert_eq!(fast.batches.len(), slow.batches.len());
            for (f, s) in fast.batches.iter().zip(&slow.batches) {
                proptest::prop_assert_eq!(&f.measurement, &s.measurement);
                proptest::prop_assert_eq!(&f.batch, &s.batch, "{}", body);
                // Undone lines leave no unused dictionary values behind.
                for (fc, sc) in f.batch.columns().iter().zip(s.batch.columns()) {
                    if let Some(fd) = fc.as_dictionary_opt::<Int32Type>() {
                        let sd = sc.as_dictionary::<Int32Type>();
                        proptest::prop_assert_eq!(fd.values(), sd.values());
                    }
                }
            }
        }
    }

    /// A line undone half-way through the fast path takes back the tag value it added, and
    /// only that one, even when the next undone line added none.
    #[test]
    fn undone_lines_keep_earlier_tag_values() {
        let body = "m,a=x f=1 1\n\
                    m,a=y f=2 2\n\
                    m,a=new f=2i 3\n\
                    m,a=x f=\"s\" 4\n\
                    m,a=z f=3 5\n";
        let w = build(body, "db", Precision::Nanoseconds, 0, &EmptySchema, 10);
        assert_eq!(
            w.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
        let a = w.batches[0].batch.column_by_name("a").unwrap();
        let a = a.as_dictionary::<Int32Type>();
        let values: Vec<_> = a
            .downcast_dict::<StringArray>()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(values, vec![Some("x"), Some("y"), Some("z")]);
        assert_eq!(a.values().len(), 3, "\"new\" was taken back");
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
