//! Which rows of a Parquet file hold which series. Files are sorted by series (tags, then time:
//! `merge::dedup_sort`), so a file is a few runs of rows with the same tag values. A query's
//! conditions on tags are evaluated once per run instead of once per row, and the scan reads
//! only the matching runs as a row selection: no page-index pruning (DataFusion builds and
//! casts statistics arrays for every page of a dictionary-typed tag, about 300 µs for a day
//! file), no row filter, and the tag columns are not even decoded.
//!
//! The index is computed once per file (files never change) from its tag columns. A file
//! whose rows are not grouped by series (more than [`MAX_RUNS`] runs) gets no index; it is
//! filtered the usual way.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{partition, take_record_batch};
use datafusion::common::Result;
use datafusion::parquet::arrow::arrow_reader::RowSelection;
use datafusion::physical_expr::PhysicalExpr;

/// Runs of a file above which an index is not worth keeping (the file is not grouped by series).
pub const MAX_RUNS: usize = 1 << 16;

/// The runs of rows with equal tags in one file.
#[derive(Debug)]
pub struct SeriesIndex {
    /// One row per run: its tag values (the table's tag columns when the index was computed).
    series: RecordBatch,
    /// `[start, end)` row numbers of each run, in file order.
    runs: Vec<Range<usize>>,
    /// Rows of the file.
    rows: usize,
}

/// The rows of a file that satisfy a condition on tags.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Every row: nothing to select.
    All,
    /// No row: the file need not be read.
    Nothing,
    /// Some rows.
    Rows(RowSelection),
}

impl SeriesIndex {
    /// The index of a file whose tag columns (every row, in file order) are `tags`; `None` if
    /// it has more than [`MAX_RUNS`] runs.
    pub fn from_tags(tags: &RecordBatch) -> Result<Option<Self>> {
        let rows = tags.num_rows();
        let runs: Vec<Range<usize>> = if rows == 0 {
            Vec::new()
        } else if tags.num_columns() == 0 {
            std::iter::once(0..rows).collect()
        } else {
            partition(tags.columns())?.ranges()
        };
        if runs.len() > MAX_RUNS {
            return Ok(None);
        }
        let starts = UInt64Array::from_iter_values(runs.iter().map(|r| r.start as u64));
        let series = take_record_batch(tags, &starts)?;
        Ok(Some(SeriesIndex { series, runs, rows }))
    }

    /// The schema the conditions are evaluated against: the tag columns.
    pub fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.series.schema()
    }

    /// Memory held, for the cache's budget.
    pub fn size(&self) -> usize {
        self.series.get_array_memory_size() + self.runs.len() * size_of::<Range<usize>>()
    }

    /// The rows where `predicate` (over [`Self::schema`]) is true; null counts as false, as in
    /// a `WHERE` clause.
    pub fn select(&self, predicate: &Arc<dyn PhysicalExpr>) -> Result<Selection> {
        let value = predicate
            .evaluate(&self.series)?
            .into_array(self.series.num_rows())?;
        let keep = value.as_boolean_opt().ok_or_else(|| {
            datafusion::common::DataFusionError::Internal(format!(
                "tag condition gave {} instead of booleans",
                value.data_type()
            ))
        })?;
        let chosen = |i: usize| keep.is_valid(i) && keep.value(i);
        let n = (0..keep.len()).filter(|i| chosen(*i)).count();
        if n == 0 {
            return Ok(Selection::Nothing);
        }
        if n == keep.len() {
            return Ok(Selection::All);
        }
        // Adjacent chosen runs become one range.
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(n);
        for (i, r) in self.runs.iter().enumerate() {
            if !chosen(i) {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => ranges.push(r.clone()),
            }
        }
        Ok(Selection::Rows(RowSelection::from_consecutive_ranges(
            ranges.into_iter(),
            self.rows,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, DictionaryArray};
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::{col, lit};
    use datafusion::prelude::SessionContext;

    fn tags(host: &[Option<&str>], rack: &[Option<&str>]) -> RecordBatch {
        let h: DictionaryArray<Int32Type> = host.iter().copied().collect();
        let r: DictionaryArray<Int32Type> = rack.iter().copied().collect();
        RecordBatch::try_from_iter(vec![
            ("host", Arc::new(h) as ArrayRef),
            ("rack", Arc::new(r) as ArrayRef),
        ])
        .unwrap()
    }

    fn select(index: &SeriesIndex, e: datafusion::logical_expr::Expr) -> Selection {
        let schema = DFSchema::try_from(index.schema().as_ref().clone()).unwrap();
        let p = SessionContext::new()
            .state()
            .create_physical_expr(e, &schema)
            .unwrap();
        index.select(&p).unwrap()
    }

    fn rows(s: &Selection) -> Vec<Range<usize>> {
        match s {
            Selection::Rows(r) => r.iter().fold((0, Vec::new()), |(at, mut v), sel| {
                if !sel.skip {
                    v.push(at..at + sel.row_count);
                }
                (at + sel.row_count, v)
            }),
            _ => (0, Vec::new()),
        }
        .1
    }

    #[test]
    fn runs_of_equal_tags_are_selected_by_a_condition() {
        let b = tags(
            &[
                Some("a"),
                Some("a"),
                Some("a"),
                Some("b"),
                Some("b"),
                None,
                None,
            ],
            &[
                Some("1"),
                Some("1"),
                Some("2"),
                Some("2"),
                Some("2"),
                Some("2"),
                None,
            ],
        );
        let index = SeriesIndex::from_tags(&b).unwrap().unwrap();
        assert_eq!(index.runs, vec![0..2, 2..3, 3..5, 5..6, 6..7]);
        assert_eq!(rows(&select(&index, col("host").eq(lit("a")))), vec![0..3]);
        assert_eq!(rows(&select(&index, col("rack").eq(lit("2")))), vec![2..6]);
        assert_eq!(
            rows(&select(
                &index,
                col("host").eq(lit("a")).and(col("rack").eq(lit("2")))
            )),
            vec![2..3]
        );
        // Null tags never equal anything; `IS NULL` finds them.
        assert_eq!(rows(&select(&index, col("host").is_null())), vec![5..7]);
        assert_eq!(
            select(&index, col("host").eq(lit("zzz"))),
            Selection::Nothing
        );
        assert_eq!(
            select(
                &index,
                col("host").not_eq(lit("zzz")).or(col("host").is_null())
            ),
            Selection::All
        );
    }

    #[test]
    fn an_empty_file_has_no_runs_and_nothing_to_read() {
        let index = SeriesIndex::from_tags(&tags(&[], &[])).unwrap().unwrap();
        assert!(index.runs.is_empty());
        assert_eq!(select(&index, col("host").is_null()), Selection::Nothing);
    }

    #[test]
    fn a_file_not_grouped_by_series_gets_no_index() {
        let host: Vec<Option<String>> = (0..=MAX_RUNS)
            .map(|i| Some(format!("h{}", i % 2)))
            .collect();
        let host: Vec<Option<&str>> = host.iter().map(|s| s.as_deref()).collect();
        let rack = vec![Some("r"); host.len()];
        assert!(
            SeriesIndex::from_tags(&tags(&host, &rack))
                .unwrap()
                .is_none()
        );
    }
}
