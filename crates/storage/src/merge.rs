//! Schema unification, deduplication and sorting of rows.
//!
//! Rows are identified by their series (all tag values, a missing tag being null) and time. When
//! several rows share both, the later one wins field by field: a later non-null field overwrites,
//! a later null keeps the earlier value. "Later" is the order of the input batches (oldest first)
//! and, within a batch, row order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Int32Array, RecordBatch,
    RecordBatchOptions, StringArray, UInt32Array, new_null_array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::compute::{cast, filter_record_batch, take};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimestampNanosecondType};
use arrow::row::{RowConverter, SortField};
use influxgate::ColumnType;

use crate::catalog::{TIME_COLUMN, column_type_of, data_type_of};
use crate::error::Result;

/// The union of the columns of `schemas`, ordered tags (by name), fields (by name), `time`.
pub fn unified_schema<'a>(schemas: impl IntoIterator<Item = &'a Schema>) -> SchemaRef {
    let mut cols: BTreeMap<String, ColumnType> = BTreeMap::new();
    for s in schemas {
        for f in s.fields() {
            if let Some(t) = column_type_of(f.name(), f.data_type()) {
                cols.entry(f.name().clone()).or_insert(t);
            }
        }
    }
    schema_of(&cols)
}

/// The Arrow schema of a set of columns, ordered tags, fields, `time`.
pub fn schema_of(cols: &BTreeMap<String, ColumnType>) -> SchemaRef {
    let tags = cols.iter().filter(|(_, t)| **t == ColumnType::Tag);
    let fields = cols
        .iter()
        .filter(|(_, t)| matches!(t, ColumnType::Field(_)));
    let mut out: Vec<Field> = tags
        .chain(fields)
        .map(|(n, t)| Field::new(n, data_type_of(*t), true))
        .collect();
    out.push(Field::new(
        TIME_COLUMN,
        data_type_of(ColumnType::Time),
        false,
    ));
    Arc::new(Schema::new(out))
}

/// `batch` with the columns of `schema`, in its order: missing columns are all-null.
pub fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => Ok(cast(c, f.data_type())?),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Deduplicate and sort `batches` (oldest first) into one batch of `schema` (or the unified schema
/// of the batches), sorted by (tags, time). `None` when there are no rows.
pub fn dedup_sort(
    batches: &[RecordBatch],
    schema: Option<SchemaRef>,
) -> Result<Option<RecordBatch>> {
    let schema =
        schema.unwrap_or_else(|| unified_schema(batches.iter().map(|b| b.schema_ref().as_ref())));
    let aligned = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| align(b, &schema))
        .collect::<Result<Vec<_>>>()?;
    if aligned.is_empty() {
        return Ok(None);
    }
    Ok(Some(dedup_sort_batches(&schema, &aligned)?))
}

/// Deduplicate and sort one batch whose row order is write order.
pub fn dedup_sort_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    dedup_sort_batches(&batch.schema(), std::slice::from_ref(batch))
}

/// The rows of `batches` (each of `schema`, oldest first, rows in write order) deduplicated and
/// sorted by (tags, time) into one batch. Tag columns are not joined: each input dictionary's
/// values are ranked once among the distinct values of all inputs, which gives both the sort
/// key and the output's one dictionary (joining the inputs' dictionaries and sorting their
/// values, repeats included, was most of the join's cost, itself 4% of the server under ingest).
/// Other columns are joined, then taken in output order (gathering them straight from the
/// inputs measured slower: every row is a pointer chase into another small batch).
fn dedup_sort_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let column = |c: usize| -> Result<ArrayRef> {
        Ok(match batches {
            [one] => one.column(c).clone(),
            _ => {
                let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
                arrow::compute::concat(&parts)?
            }
        })
    };
    let mut tag_cols = Vec::new();
    let mut field_cols = Vec::new();
    let mut time_col = None;
    for (i, f) in schema.fields().iter().enumerate() {
        match column_type_of(f.name(), f.data_type()) {
            Some(ColumnType::Tag) => tag_cols.push(i),
            Some(ColumnType::Time) => time_col = Some(i),
            _ => field_cols.push(i),
        }
    }
    let time_array = time_col.map(column).transpose()?;
    let zeros;
    let time: &[i64] = match time_array
        .as_ref()
        .and_then(|t| t.as_primitive_opt::<TimestampNanosecondType>())
    {
        Some(t) => t.values(),
        None => {
            zeros = vec![0i64; n];
            &zeros
        }
    };
    // Per tag column: its merged dictionary and every row's rank in it (write order).
    let merged: Vec<Option<(MergedTag, Vec<u32>)>> = tag_cols
        .iter()
        .map(|&c| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            MergedTag::new(&parts).map(|m| {
                let ranks = m.row_ranks(&parts, n);
                (m, ranks)
            })
        })
        .collect();
    let (series, n_series) = match merged_codes(&merged, n) {
        Some(codes) => dense_ranks(codes.into_iter()),
        None => {
            let joined = tag_cols
                .iter()
                .map(|&c| column(c))
                .collect::<Result<Vec<ArrayRef>>>()?;
            let fields = joined
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect();
            series_ranks(&joined, fields, n)?
        }
    };
    // Bucket the rows by series (in tag order), then sort each bucket by time. Both keep write
    // order among equal keys; rows usually arrive in time order per series, so the stable sort
    // of each bucket mostly finds one run.
    let mut starts = vec![0usize; n_series + 1];
    for s in &series {
        starts[*s as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut order = vec![0u32; n];
    let mut next = starts.clone();
    for (row, s) in series.iter().enumerate() {
        order[next[*s as usize]] = row as u32;
        next[*s as usize] += 1;
    }
    let mut groups: Vec<(usize, usize)> = Vec::with_capacity(n); // [start, end) in `order`
    let mut keyed: Vec<(i64, u32)> = Vec::new();
    for w in starts.windows(2) {
        let bucket = &mut order[w[0]..w[1]];
        if !bucket.is_sorted_by_key(|r| time[*r as usize]) {
            // Concurrent writers interleave a series' times. Rows of a bucket ascend, so
            // sorting (time, row) pairs keeps write order among equal times, like a stable
            // sort, without looking each row's time up at every comparison.
            keyed.clear();
            keyed.extend(bucket.iter().map(|r| (time[*r as usize], *r)));
            keyed.sort_unstable();
            for (slot, (_, r)) in bucket.iter_mut().zip(&keyed) {
                *slot = *r;
            }
        }
        let mut start = w[0];
        for i in w[0] + 1..=w[1] {
            if i == w[1] || time[order[i] as usize] != time[order[start] as usize] {
                groups.push((start, i));
                start = i;
            }
        }
    }
    // Each output row's source: the first row of its group (all rows of a group share tags and
    // time), or for a field the group's latest row where it is set (else none: null).
    let unique = groups.len() == n;
    let first: Vec<u32> = if unique {
        order.clone()
    } else {
        groups.iter().map(|(s, _)| order[*s]).collect()
    };
    let first_idx = UInt32Array::from(first.clone());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let tag = tag_cols.iter().position(|t| *t == c);
        if let Some(Some((m, ranks))) = tag.map(|t| &merged[t]) {
            columns.push(m.gather(ranks, &first));
            continue;
        }
        let col = match (Some(c) == time_col, &time_array) {
            (true, Some(t)) => t.clone(),
            _ => column(c)?,
        };
        if !unique && field_cols.contains(&c) {
            let idx: UInt32Array = groups
                .iter()
                .map(|(s, e)| {
                    order[*s..*e]
                        .iter()
                        .rev()
                        .copied()
                        .find(|r| col.is_valid(*r as usize))
                })
                .collect();
            columns.push(take(&col, &idx, None)?);
        } else {
            columns.push(take(&col, &first_idx, None)?);
        }
    }
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(groups.len())),
    )?)
}

/// One tag column (dictionaries of strings, one per input batch) under one dictionary: the
/// distinct values of all inputs in byte order, and each input dictionary entry's rank in it
/// (0 for a null value, else 1 + its index).
struct MergedTag {
    values: ArrayRef,
    /// Per distinct input dictionary: each entry's rank.
    ranks: Vec<Vec<u32>>,
    /// Per input part: its dictionary's index in `ranks`.
    part_dict: Vec<usize>,
}

impl MergedTag {
    /// `None` unless every part is a dictionary of strings with `i32` keys.
    fn new(parts: &[&dyn Array]) -> Option<Self> {
        let dicts = parts
            .iter()
            .map(|p| {
                let d = p.as_dictionary_opt::<Int32Type>()?;
                d.values().as_string_opt::<i32>()
            })
            .collect::<Option<Vec<_>>>()?;
        let mut ids: HashMap<&str, u32, foldhash::fast::RandomState> = HashMap::default();
        let mut distinct: Vec<&str> = Vec::new();
        // A writer usually sends the same tag values in the same order every time (an agent's
        // hosts, cpus, devices): a dictionary equal to the previous part's is hashed once.
        let mut part_dict = Vec::with_capacity(dicts.len());
        let mut dict_ids: Vec<Vec<u32>> = Vec::new();
        let mut last: Option<&StringArray> = None;
        for values in &dicts {
            if !last.is_some_and(|l| same_strings(l, values)) {
                dict_ids.push(
                    (0..values.len())
                        .map(|i| {
                            if values.is_null(i) {
                                return u32::MAX;
                            }
                            *ids.entry(values.value(i)).or_insert_with(|| {
                                distinct.push(values.value(i));
                                distinct.len() as u32 - 1
                            })
                        })
                        .collect(),
                );
                last = Some(values);
            }
            part_dict.push(dict_ids.len() - 1);
        }
        let mut sorted: Vec<u32> = (0..distinct.len() as u32).collect();
        sorted.sort_unstable_by_key(|id| distinct[*id as usize]);
        let mut rank_of = vec![0u32; distinct.len()];
        for (r, id) in sorted.iter().enumerate() {
            rank_of[*id as usize] = r as u32 + 1;
        }
        let values = StringArray::from_iter_values(sorted.iter().map(|id| distinct[*id as usize]));
        let ranks = dict_ids
            .into_iter()
            .map(|ids| {
                ids.into_iter()
                    .map(|id| {
                        if id == u32::MAX {
                            0
                        } else {
                            rank_of[id as usize]
                        }
                    })
                    .collect()
            })
            .collect();
        Some(MergedTag {
            values: Arc::new(values),
            ranks,
            part_dict,
        })
    }

    /// Number of ranks (null included).
    fn cardinality(&self) -> u64 {
        self.values.len() as u64 + 1
    }

    /// The rank of every row of `parts` (as given to `new`), in order.
    fn row_ranks(&self, parts: &[&dyn Array], n: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        for (p, d) in parts.iter().zip(&self.part_dict) {
            let ranks = &self.ranks[*d];
            let keys = p.as_dictionary::<Int32Type>().keys();
            out.extend(keys.iter().map(|k| {
                k.and_then(|k| usize::try_from(k).ok())
                    .and_then(|k| ranks.get(k).copied())
                    .unwrap_or(0)
            }));
        }
        out
    }

    /// The rows `at` (indices into `row_ranks`) as one dictionary array over the merged values.
    fn gather(&self, row_ranks: &[u32], at: &[u32]) -> ArrayRef {
        let ranks: Vec<u32> = at.iter().map(|r| row_ranks[*r as usize]).collect();
        let keys: Vec<i32> = ranks.iter().map(|r| *r as i32 - 1).collect();
        let nulls = ranks
            .contains(&0)
            .then(|| NullBuffer::from(BooleanBuffer::collect_bool(ranks.len(), |i| ranks[i] != 0)));
        let keys = Int32Array::new(ScalarBuffer::from(keys), nulls);
        // Every non-null key indexes `values`.
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, self.values.clone())
                .expect("keys index the merged values"),
        )
    }
}

/// Whether two string arrays without nulls hold the same values: their offsets (relative to
/// the first) and their value bytes compared as they are, without hashing or slicing a value.
fn same_strings(a: &StringArray, b: &StringArray) -> bool {
    if a.len() != b.len() || a.null_count() > 0 || b.null_count() > 0 {
        return false;
    }
    let (oa, ob) = (a.value_offsets(), b.value_offsets());
    let (a0, b0) = (oa[0], ob[0]);
    let (an, bn) = (oa[oa.len() - 1], ob[ob.len() - 1]);
    oa.iter().zip(ob).all(|(x, y)| x - a0 == y - b0)
        && a.value_data()[a0 as usize..an as usize] == b.value_data()[b0 as usize..bn as usize]
}

/// Each row's tag values as one number in their sort order, from the ranks of every tag column
/// in its merged dictionary; `None` if a column has none or the combination does not fit in 64
/// bits.
fn merged_codes(merged: &[Option<(MergedTag, Vec<u32>)>], n: usize) -> Option<Vec<u64>> {
    let mut codes = vec![0u64; n];
    let mut span: u64 = 1;
    for m in merged {
        let (m, ranks) = m.as_ref()?;
        let card = m.cardinality();
        span = span.checked_mul(card)?;
        for (code, r) in codes.iter_mut().zip(ranks) {
            *code = *code * card + u64::from(*r);
        }
    }
    Some(codes)
}

/// Each row's series (its tag values) as a dense number in the tags' sort order (the order
/// of the row format: nulls first), and the number of series.
fn series_ranks(
    tag_cols: &[ArrayRef],
    sort_fields: Vec<SortField>,
    n: usize,
) -> Result<(Vec<u32>, usize)> {
    if tag_cols.is_empty() {
        return Ok((vec![0; n], usize::from(n > 0)));
    }
    if let Some(codes) = dictionary_codes(tag_cols, n) {
        return Ok(dense_ranks(codes.into_iter()));
    }
    row_ranks(tag_cols, sort_fields, n)
}

/// Each row's tag values as one number in their sort order, for tag columns that are
/// dictionaries of strings (as the write buffer makes them): each column's distinct values
/// are ranked once (0 for null, then byte order), and a row's ranks are combined column after
/// column. `None` for other column types, or when the combination would not fit in 64 bits.
/// Cheaper than encoding every row in the row format and hashing the bytes (that was about
/// half of sorting a persist).
fn dictionary_codes(tag_cols: &[ArrayRef], n: usize) -> Option<Vec<u64>> {
    let mut codes = vec![0u64; n];
    let mut span: u64 = 1;
    for c in tag_cols {
        let d = c.as_dictionary_opt::<Int32Type>()?;
        let values = d.values().as_string_opt::<i32>()?;
        let value = |i: usize| values.is_valid(i).then(|| values.value(i));
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_unstable_by(|a, b| value(*a).cmp(&value(*b)));
        // Equal strings (a dictionary may repeat a value) share a rank; null stays 0.
        let mut rank = vec![0u64; values.len()];
        let (mut r, mut prev) = (0u64, None);
        for i in order {
            if let Some(v) = value(i) {
                if prev != Some(v) {
                    r += 1;
                    prev = Some(v);
                }
                rank[i] = r;
            }
        }
        let card = r + 1;
        span = span.checked_mul(card)?;
        let keys = d.keys();
        for (row, code) in codes.iter_mut().enumerate() {
            let k = if keys.is_valid(row) {
                usize::try_from(keys.value(row))
                    .ok()
                    .and_then(|k| rank.get(k).copied())
                    .unwrap_or(0)
            } else {
                0
            };
            *code = *code * card + k;
        }
    }
    Some(codes)
}

/// Dense ranks of `keys` (0 for the smallest), and the number of distinct keys.
fn dense_ranks<K: std::hash::Hash + Ord + Copy>(
    keys: impl ExactSizeIterator<Item = K>,
) -> (Vec<u32>, usize) {
    let mut ids: HashMap<K, u32, foldhash::fast::RandomState> = HashMap::default();
    let mut distinct: Vec<K> = Vec::new();
    let mut out = Vec::with_capacity(keys.len());
    // Rows of a series usually come together: compare with the previous row first.
    let mut prev: Option<(K, u32)> = None;
    for key in keys {
        let id = match prev {
            Some((k, id)) if k == key => id,
            _ => *ids.entry(key).or_insert_with(|| {
                distinct.push(key);
                distinct.len() as u32 - 1
            }),
        };
        prev = Some((key, id));
        out.push(id);
    }
    let mut by_key: Vec<u32> = (0..distinct.len() as u32).collect();
    by_key.sort_unstable_by_key(|id| distinct[*id as usize]);
    let mut rank = vec![0u32; distinct.len()];
    for (r, id) in by_key.iter().enumerate() {
        rank[*id as usize] = r as u32;
    }
    out.iter_mut().for_each(|id| *id = rank[*id as usize]);
    (out, distinct.len())
}

/// [`series_ranks`] through the row format, for any tag column type.
fn row_ranks(
    tag_cols: &[ArrayRef],
    sort_fields: Vec<SortField>,
    n: usize,
) -> Result<(Vec<u32>, usize)> {
    let rows = RowConverter::new(sort_fields)?.convert_columns(tag_cols)?;
    Ok(dense_ranks((0..n).map(|i| rows.row(i).data())))
}

/// The rows of `batch` that hold, for some series, the latest non-null value of some field
/// (the latest time; on equal times the later row), in input order.
///
/// Every query that only reads each series' last value of each field, and the fields of the
/// point it comes from, answers the same over these rows as over all of them: InfluxQL's
/// `last()`, the series and tag values present. `last_rows` of the concatenation of such row
/// sets is the row set of the union, as long as no two inputs share a (series, time).
pub fn last_rows(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let n = batch.num_rows();
    let mut tag_cols = Vec::new();
    let mut sort_fields = Vec::new();
    let mut field_cols = Vec::new();
    let mut time = None;
    for (i, f) in schema.fields().iter().enumerate() {
        match column_type_of(f.name(), f.data_type()) {
            Some(ColumnType::Tag) => {
                tag_cols.push(batch.column(i).clone());
                sort_fields.push(SortField::new(f.data_type().clone()));
            }
            Some(ColumnType::Time) => {
                time = batch
                    .column(i)
                    .as_primitive_opt::<TimestampNanosecondType>()
                    .map(|t| t.values().clone());
            }
            _ => field_cols.push(batch.column(i).clone()),
        }
    }
    let Some(time) = time else {
        return Ok(batch.clone());
    };
    let (series, n_series) = series_ranks(&tag_cols, sort_fields, n)?;
    // Per series and field: the row of its latest non-null value.
    let mut keep = vec![false; n];
    let mut best: Vec<Option<u32>> = vec![None; n_series];
    for c in &field_cols {
        best.iter_mut().for_each(|b| *b = None);
        for i in 0..n {
            if c.is_valid(i) {
                let b = &mut best[series[i] as usize];
                if b.is_none_or(|r| time[i] >= time[r as usize]) {
                    *b = Some(i as u32);
                }
            }
        }
        for r in best.iter().flatten() {
            keep[*r as usize] = true;
        }
    }
    if keep.iter().all(|k| *k) {
        return Ok(batch.clone());
    }
    Ok(filter_record_batch(batch, &BooleanArray::from(keep))?)
}

/// Whether a data type is the tag type (dictionary of strings).
pub fn is_tag_type(dt: &DataType) -> bool {
    matches!(dt, DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        AsArray, DictionaryArray, Float64Array, Int64Array, TimestampNanosecondArray,
    };
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};

    fn b(tags: Vec<Option<&str>>, x: Vec<Option<f64>>, t: Vec<i64>) -> RecordBatch {
        let tags: DictionaryArray<Int32Type> = tags.into_iter().collect();
        RecordBatch::try_from_iter(vec![
            ("k", Arc::new(tags) as ArrayRef),
            ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
            (
                "time",
                Arc::new(TimestampNanosecondArray::from(t).with_timezone("UTC")) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn later_wins_field_by_field_and_sorts() {
        let first = b(
            vec![Some("b"), Some("a"), None, Some("a")],
            vec![Some(1.0), Some(2.0), Some(3.0), None],
            vec![5, 9, 9, 1],
        );
        // second batch lacks `x` and adds `y`
        let second = RecordBatch::try_from_iter(vec![
            (
                "k",
                Arc::new(
                    vec![Some("a"), Some("a"), Some("b")]
                        .into_iter()
                        .collect::<DictionaryArray<Int32Type>>(),
                ) as ArrayRef,
            ),
            (
                "y",
                Arc::new(Int64Array::from(vec![Some(7), None, Some(8)])) as ArrayRef,
            ),
            (
                "time",
                Arc::new(TimestampNanosecondArray::from(vec![9, 9, 6]).with_timezone("UTC"))
                    as ArrayRef,
            ),
        ])
        .unwrap();
        let third = b(vec![Some("a")], vec![Some(20.0)], vec![9]);
        let out = dedup_sort(&[first, second, third], None).unwrap().unwrap();
        let names: Vec<_> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["k", "x", "y", "time"]);
        let k = out.column(0).as_dictionary::<Int32Type>();
        let keys: Vec<Option<&str>> = (0..out.num_rows())
            .map(|i| {
                k.is_valid(i).then(|| {
                    k.values()
                        .as_string::<i32>()
                        .value(k.keys().value(i) as usize)
                })
            })
            .collect();
        let x: Vec<Option<f64>> = out.column(1).as_primitive::<Float64Type>().iter().collect();
        let y: Vec<Option<i64>> = out.column(2).as_primitive::<Int64Type>().iter().collect();
        let t: Vec<i64> = out
            .column(3)
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        assert_eq!(keys, [None, Some("a"), Some("a"), Some("b"), Some("b")]);
        assert_eq!(t, [9, 1, 9, 5, 6]);
        assert_eq!(x, [Some(3.0), None, Some(20.0), Some(1.0), None]);
        assert_eq!(y, [None, None, Some(7), None, Some(8)]);
    }

    #[test]
    fn last_rows_keep_each_series_latest_value_of_each_field() {
        // Series a: x latest at 9, y latest at 5 (null at 9). Series b: x at 3 only. A null
        // series (no tag) is its own series.
        let batch = RecordBatch::try_from_iter(vec![
            (
                "k",
                Arc::new(
                    vec![Some("a"), Some("a"), Some("b"), Some("a"), None, None]
                        .into_iter()
                        .collect::<DictionaryArray<Int32Type>>(),
                ) as ArrayRef,
            ),
            (
                "x",
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(4.0),
                    Some(5.0),
                    None,
                ])) as ArrayRef,
            ),
            (
                "y",
                Arc::new(Int64Array::from(vec![
                    Some(10),
                    Some(20),
                    None,
                    None,
                    None,
                    Some(60),
                ])) as ArrayRef,
            ),
            (
                "time",
                Arc::new(
                    TimestampNanosecondArray::from(vec![1, 5, 3, 9, 2, 1]).with_timezone("UTC"),
                ) as ArrayRef,
            ),
        ])
        .unwrap();
        let out = last_rows(&batch).unwrap();
        let t: Vec<i64> = out
            .column(3)
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        // Row 0 (a, 1) is nobody's latest; the others are someone's.
        assert_eq!(t, [5, 3, 9, 2, 1]);
        // Applying it again changes nothing; a batch without fields' nulls keeps one row per
        // series.
        assert_eq!(last_rows(&out).unwrap().num_rows(), 5);
        let dense = b(
            vec![Some("a"), Some("a"), Some("b")],
            vec![Some(1.0), Some(2.0), Some(3.0)],
            vec![7, 8, 1],
        );
        let out = last_rows(&dense).unwrap();
        let x: Vec<Option<f64>> = out.column(1).as_primitive::<Float64Type>().iter().collect();
        assert_eq!(x, [Some(2.0), Some(3.0)]);
    }

    #[test]
    fn empty_and_unique_inputs() {
        assert!(dedup_sort(&[], None).unwrap().is_none());
        let one = b(
            vec![Some("z"), Some("a")],
            vec![Some(1.0), Some(2.0)],
            vec![1, 1],
        );
        let out = dedup_sort(std::slice::from_ref(&one), None)
            .unwrap()
            .unwrap();
        assert_eq!(out.num_rows(), 2);
        let x: Vec<Option<f64>> = out.column(1).as_primitive::<Float64Type>().iter().collect();
        assert_eq!(x, [Some(2.0), Some(1.0)]);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use arrow::array::{DictionaryArray, Float64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Float64Type, Int32Type};
    use proptest::prelude::*;

    type Row = (Option<u8>, Option<u8>, i64, Option<f64>, Option<f64>);
    /// (tag a, tag b, time) -> (x, y) of the model.
    type Model = BTreeMap<(Option<String>, Option<String>, i64), (Option<f64>, Option<f64>)>;

    fn batch(rows: &[Row]) -> RecordBatch {
        let tag = |f: fn(&Row) -> Option<u8>| {
            let names: Vec<Option<String>> =
                rows.iter().map(|r| f(r).map(|v| format!("v{v}"))).collect();
            let d: DictionaryArray<Int32Type> = names.iter().map(|s| s.as_deref()).collect();
            Arc::new(d) as ArrayRef
        };
        RecordBatch::try_from_iter(vec![
            ("a", tag(|r| r.0)),
            ("b", tag(|r| r.1)),
            (
                "x",
                Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()) as ArrayRef,
            ),
            (
                "y",
                Arc::new(rows.iter().map(|r| r.4).collect::<Float64Array>()) as ArrayRef,
            ),
            (
                "time",
                Arc::new(
                    TimestampNanosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())
                        .with_timezone("UTC"),
                ) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    /// Parts whose dictionaries equal the previous part's (sliced or not) share its ranks; a
    /// dictionary with the same values in another order, or another value, does not.
    #[test]
    fn equal_dictionaries_of_consecutive_parts_are_ranked_once() {
        let strings = |v: &[&str]| StringArray::from(v.to_vec());
        let ab = strings(&["a", "b"]);
        assert!(same_strings(&ab, &strings(&["a", "b"])));
        assert!(same_strings(&ab, &strings(&["x", "a", "b"]).slice(1, 2)));
        assert!(!same_strings(&ab, &strings(&["b", "a"])));
        assert!(!same_strings(&ab, &strings(&["a", "bb"])));
        assert!(!same_strings(&ab, &strings(&["ab", ""])));
        assert!(!same_strings(
            &ab,
            &StringArray::from(vec![Some("a"), None])
        ));
        // Parts 0 and 1 have one dictionary, part 2 the same values in another order, part 3
        // another value.
        let dict = |keys: Vec<i32>, values: &[&str]| -> ArrayRef {
            Arc::new(DictionaryArray::new(
                Int32Array::from(keys),
                Arc::new(strings(values)),
            ))
        };
        let parts = [
            dict(vec![1, 0], &["b", "c"]),
            dict(vec![0, 0], &["b", "c"]),
            dict(vec![0, 1], &["c", "b"]),
            dict(vec![1], &["b", "a"]),
        ];
        let refs: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
        let m = MergedTag::new(&refs).unwrap();
        assert_eq!(m.part_dict, vec![0, 0, 1, 2]);
        assert_eq!(strings_of(&m.values), ["a", "b", "c"]);
        // Row values c b | b b | c b | a as ranks (1 + index in a, b, c).
        assert_eq!(m.row_ranks(&refs, 7), vec![3, 2, 2, 2, 3, 2, 1]);
    }

    fn strings_of(a: &ArrayRef) -> Vec<&str> {
        a.as_string::<i32>().iter().map(Option::unwrap).collect()
    }

    fn tag_strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let d = b.column_by_name(name).unwrap().as_dictionary::<Int32Type>();
        let v = d.downcast_dict::<StringArray>().unwrap();
        v.into_iter().map(|s| s.map(str::to_string)).collect()
    }

    proptest! {
        /// Ranks from dictionary codes equal those of the row format, with repeated and null
        /// dictionary values and null keys.
        #[test]
        fn dictionary_ranks_match_the_row_format(
            cols in prop::collection::vec(
                (prop::collection::vec(prop::option::of("[ab]{0,2}"), 1..6),
                 prop::collection::vec(prop::option::of(0usize..8), 40)),
                1..4),
        ) {
            let tag_cols: Vec<ArrayRef> = cols
                .iter()
                .map(|(values, keys)| {
                    let values = StringArray::from(values.clone());
                    let keys: Int32Array = keys
                        .iter()
                        .map(|k| k.map(|k| (k % values.len()) as i32))
                        .collect();
                    Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap())
                        as ArrayRef
                })
                .collect();
            let fields: Vec<SortField> =
                tag_cols.iter().map(|c| SortField::new(c.data_type().clone())).collect();
            let codes = dictionary_codes(&tag_cols, 40).expect("dictionaries of strings");
            prop_assert_eq!(dense_ranks(codes.into_iter()), row_ranks(&tag_cols, fields, 40).unwrap());
        }

        /// The sorted, deduplicated batch equals a model: a map from (tags, time) in sort order
        /// (null before any value) to the fields, each overwritten by later non-null values.
        #[test]
        ///
        /// The same rows cut into several batches (oldest first, as the buffer holds a write per
        /// batch, each with its own dictionaries) give the same batch.
        fn dedup_sort_batch_matches_a_model(rows in prop::collection::vec(
            (prop::option::of(0u8..4), prop::option::of(0u8..3), -3i64..4,
             prop::option::of(-5.0f64..5.0), prop::option::of(-5.0f64..5.0)), 0..60),
            cuts in prop::collection::vec(0usize..60, 0..5)) {
            let mut model = Model::new();
            for r in &rows {
                let e = model
                    .entry((r.0.map(|v| format!("v{v}")), r.1.map(|v| format!("v{v}")), r.2))
                    .or_default();
                if r.3.is_some() { e.0 = r.3; }
                if r.4.is_some() { e.1 = r.4; }
            }
            let out = dedup_sort_batch(&batch(&rows)).unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([rows.len()]) {
                parts.push(batch(&rows[from..c]));
                from = c;
            }
            match dedup_sort(&parts, None).unwrap() {
                Some(joined) => prop_assert_eq!(joined.columns(), out.columns()),
                None => prop_assert_eq!(out.num_rows(), 0),
            }
            let a = tag_strings(&out, "a");
            let b = tag_strings(&out, "b");
            let x = out.column_by_name("x").unwrap().as_primitive::<Float64Type>();
            let y = out.column_by_name("y").unwrap().as_primitive::<Float64Type>();
            let t = out.column_by_name("time").unwrap().as_primitive::<TimestampNanosecondType>();
            let got: Vec<_> = (0..out.num_rows())
                .map(|i| {
                    let f = |c: &arrow::array::PrimitiveArray<Float64Type>| c.is_valid(i).then(|| c.value(i));
                    ((a[i].clone(), b[i].clone(), t.value(i)), (f(x), f(y)))
                })
                .collect();
            let want: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
