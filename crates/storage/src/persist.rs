//! Turning buffered rows into Parquet files and reading them back.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, TimestampNanosecondArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::catalog::TIME_COLUMN;
use crate::error::{Result, StorageError};
use crate::layout::{self, day_of};

/// The Parquet codec of written files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParquetCodec {
    /// Zstandard level 3: the smallest files.
    #[default]
    Zstd,
    Snappy,
    /// LZ4 (Parquet's `LZ4_RAW`): the fastest to write and read, larger files.
    Lz4,
}

/// A data file in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub path: Path,
    pub database: String,
    pub table: String,
    /// Days since 1970-01-01 (UTC) of every row in the file.
    pub day: i64,
    /// Higher sequence = later writes.
    pub seq: u64,
    pub size: u64,
}

impl FileMeta {
    /// `YYYY-MM-DD` of the file's rows.
    pub fn date(&self) -> String {
        layout::format_day(self.day)
    }
}

/// A file encoded and ready to upload.
#[derive(Debug, Clone)]
pub(crate) struct EncodedFile {
    pub meta: FileMeta,
    pub bytes: Bytes,
    pub rows: usize,
}

/// Split a batch into one batch per UTC day of its `time` column (ascending days).
pub fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>> {
    let time = batch
        .column_by_name(TIME_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| StorageError::Catalog("batch without a nanosecond time column".into()))?;
    let (Some(lo), Some(hi)) = (arrow::compute::min(time), arrow::compute::max(time)) else {
        return Ok(Vec::new());
    };
    // The usual batch holds one day: no per-row days to compute and sort.
    if day_of(lo) == day_of(hi) {
        return Ok(vec![(day_of(lo), batch.clone())]);
    }
    let days: Vec<i64> = time.values().iter().map(|t| day_of(*t)).collect();
    let mut distinct = days.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 1 {
        return Ok(distinct.into_iter().map(|d| (d, batch.clone())).collect());
    }
    distinct
        .into_iter()
        .map(|d| {
            let mask: BooleanArray = days.iter().map(|x| Some(*x == d)).collect();
            Ok((d, filter_record_batch(batch, &mask)?))
        })
        .collect()
}

/// Rows per Parquet data page (at most; the writer checks every 1,024 rows). Files are sorted
/// by series, so with small pages the page index narrows a one-series query to a few pages of
/// every column instead of whole column chunks (a tag column compresses to one huge page).
const PAGE_ROWS: usize = 8192;

/// Encode one sorted batch as a Parquet file.
pub fn encode_parquet(batch: &RecordBatch, codec: ParquetCodec) -> Result<Bytes> {
    let compression = match codec {
        ParquetCodec::Zstd => Compression::ZSTD(ZstdLevel::try_new(3)?),
        ParquetCodec::Snappy => Compression::SNAPPY,
        ParquetCodec::Lz4 => Compression::LZ4_RAW,
    };
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_created_by(format!("influxgate-storage {}", env!("CARGO_PKG_VERSION")));
    // Numeric fields and time rarely repeat exactly: trying a dictionary for
    // them cost ~4% of ingest CPU (profiled) for no smaller files. Tags and
    // strings keep it.
    for field in batch.schema().fields() {
        let path = || ColumnPath::from(field.name().as_str());
        match field.data_type() {
            // Tags: no min/max. Comparing every row's string cost 3% of ingest CPU, and
            // queries never prune by them: the engine selects a file's rows by its series
            // index, built from the tag columns themselves (`engine::series_index`).
            DataType::Dictionary(..) => {
                props = props.set_column_statistics_enabled(path(), EnabledStatistics::None);
            }
            DataType::Utf8 | DataType::LargeUtf8 => {}
            _ => props = props.set_column_dictionary_enabled(path(), false),
        }
    }
    let props = props.build();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(Bytes::from(out))
}

/// Encode the (deduplicated, sorted) rows of one table as one file per day.
pub(crate) fn encode_files(
    prefix: &Path,
    database: &str,
    table: &str,
    batch: &RecordBatch,
    seq: u64,
    codec: ParquetCodec,
) -> Result<Vec<EncodedFile>> {
    split_by_day(batch)?
        .into_iter()
        .map(|(day, rows)| {
            let bytes = encode_parquet(&rows, codec)?;
            let id = uuid::Uuid::now_v7().simple().to_string();
            Ok(EncodedFile {
                meta: FileMeta {
                    path: layout::file_path(prefix, database, table, day, seq, &id),
                    database: database.to_string(),
                    table: table.to_string(),
                    day,
                    seq,
                    size: bytes.len() as u64,
                },
                rows: rows.num_rows(),
                bytes,
            })
        })
        .collect()
}

/// Read a whole Parquet file (one GET, then decoded off the async threads).
pub async fn read_parquet(
    store: &Arc<dyn ObjectStore>,
    meta: &FileMeta,
) -> Result<Vec<RecordBatch>> {
    let bytes = store.get(&meta.path).await?.bytes().await?;
    tokio::task::spawn_blocking(move || decode_parquet(bytes))
        .await
        .map_err(|e| StorageError::Catalog(format!("parquet decoder panicked: {e}")))?
}

/// Decode a whole Parquet file.
pub fn decode_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, DictionaryArray, Float64Array};
    use arrow::datatypes::Int32Type;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::serialized_reader::ReadOptionsBuilder;

    /// One batch per UTC day, ascending, each keeping its rows' order; a one-day batch is
    /// returned whole and an empty one gives nothing.
    #[test]
    fn split_by_day_groups_rows_by_utc_day() {
        const DAY: i64 = 86_400_000_000_000;
        let batch = |times: Vec<i64>| {
            let x = Float64Array::from_iter_values((0..times.len()).map(|i| i as f64));
            RecordBatch::try_from_iter(vec![
                ("x", Arc::new(x) as ArrayRef),
                (
                    TIME_COLUMN,
                    Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC"))
                        as ArrayRef,
                ),
            ])
            .unwrap()
        };
        let xs = |b: &RecordBatch| -> Vec<f64> {
            let x = b.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
            x.values().to_vec()
        };
        assert!(split_by_day(&batch(vec![])).unwrap().is_empty());

        let one = batch(vec![DAY * 3 + 5, DAY * 3, DAY * 4 - 1]);
        let split = split_by_day(&one).unwrap();
        assert_eq!(split.len(), 1);
        assert_eq!(split[0].0, 3);
        assert_eq!(split[0].1, one);

        // Days 2, -1 (before 1970) and 2 again, 0: rows keep their order within a day.
        let mixed = batch(vec![DAY * 2 + 1, -1, DAY * 2, 0, DAY * 2 + 7]);
        let split = split_by_day(&mixed).unwrap();
        let days: Vec<i64> = split.iter().map(|(d, _)| *d).collect();
        assert_eq!(days, vec![-1, 0, 2]);
        assert_eq!(xs(&split[0].1), vec![1.0]);
        assert_eq!(xs(&split[1].1), vec![3.0]);
        assert_eq!(xs(&split[2].1), vec![0.0, 2.0, 4.0]);
    }

    /// Every column, tags included, is cut into pages of at most about `PAGE_ROWS` rows, so the
    /// page index can select one series' rows of a sorted file.
    #[test]
    fn columns_have_small_pages_with_an_index() {
        let n = 5 * PAGE_ROWS;
        let host: DictionaryArray<Int32Type> = (0..n)
            .map(|i| Some(format!("host{:02}", i * 10 / n)))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_deref())
            .collect();
        let batch = RecordBatch::try_from_iter(vec![
            ("host", Arc::new(host) as ArrayRef),
            (
                "x",
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))) as ArrayRef,
            ),
            (
                TIME_COLUMN,
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(0..n as i64).with_timezone("UTC"),
                ) as ArrayRef,
            ),
        ])
        .unwrap();
        let bytes = encode_parquet(&batch, ParquetCodec::Zstd).unwrap();
        let options = ReadOptionsBuilder::new().with_page_index().build();
        let rows: usize = decode_parquet(bytes.clone())
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, n);
        let reader = SerializedFileReader::new_with_options(bytes, options).unwrap();
        let offsets = reader
            .metadata()
            .offset_index()
            .expect("offset index written");
        // Numbers and time have min/max; tags have none (see `encode_parquet`).
        let chunks = reader.metadata().row_group(0).columns();
        assert!(chunks[0].statistics().is_none(), "host");
        assert!(
            chunks[1]
                .statistics()
                .is_some_and(|s| s.min_bytes_opt().is_some())
        );
        assert!(chunks[2].statistics().is_some(), "time");
        for (col, name) in ["host", "x", "time"].iter().enumerate() {
            let pages = offsets[0][col].page_locations().len();
            assert!(
                (5..=6).contains(&pages),
                "{name}: {pages} pages for {n} rows"
            );
        }
    }
}
