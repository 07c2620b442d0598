//! Mode `r2`: accepted batches as Parquet objects in an R2 bucket, in the native storage's layout
//! (`crates/storage/src/layout.rs`), so the native server can use the bucket as its object store:
//!
//! ```text
//! <prefix><db>/<table>/<YYYY-MM-DD>/<seq:020>-<id>.parquet   one file per table and UTC day
//! <prefix>_catalog.json                                      the catalog mirror (column types)
//! ```
//!
//! The catalog mirror has the storage crate's `Catalog` JSON shape. It is read before a write (it
//! is the core's schema, so a field keeps its first type across requests) and updated with an
//! etag-conditional put before any data file that needs new columns is written.

use std::cell::Cell;
use std::collections::BTreeMap;

use arrow_array::{Array, BooleanArray, RecordBatch, TimestampNanosecondArray};
use influxgate::write::batch::TIME_COLUMN;
use influxgate::{ColumnType, Error, Schema, WritePlan};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use worker::{Bucket, Conditional};

pub const CATALOG_OBJECT: &str = "_catalog.json";
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// The storage crate's catalog, same JSON.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    pub databases: BTreeMap<String, DatabaseSchema>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DatabaseSchema {
    pub tables: BTreeMap<String, TableSchema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnType>,
}

impl Schema for Catalog {
    fn column(&self, database: &str, table: &str, column: &str) -> Option<ColumnType> {
        self.databases
            .get(database)?
            .tables
            .get(table)?
            .columns
            .get(column)
            .copied()
    }
}

/// The catalog as read, with the etag to update it conditionally.
pub struct Loaded {
    pub catalog: Catalog,
    etag: Option<String>,
}

fn storage_error(what: &str, e: impl std::fmt::Display, retry_after_secs: u32) -> Error {
    Error::Unavailable {
        message: format!("R2 {what} failed: {e}"),
        retry_after_secs,
    }
}

pub async fn load_catalog(bucket: &Bucket, prefix: &str, retry: u32) -> Result<Loaded, Error> {
    let key = format!("{prefix}{CATALOG_OBJECT}");
    let Some(obj) = bucket
        .get(key)
        .execute()
        .await
        .map_err(|e| storage_error("catalog read", e, retry))?
    else {
        return Ok(Loaded {
            catalog: Catalog::default(),
            etag: None,
        });
    };
    let etag = obj.etag();
    let bytes = match obj.body() {
        Some(body) => body
            .bytes()
            .await
            .map_err(|e| storage_error("catalog read", e, retry))?,
        None => Vec::new(),
    };
    let catalog = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Internal(format!(
            "the catalog object {prefix}{CATALOG_OBJECT} is not valid: {e}"
        ))
    })?;
    Ok(Loaded {
        catalog,
        etag: Some(etag),
    })
}

/// Add the plan's new columns to the catalog mirror (conditional put, re-read and re-checked on
/// a concurrent change), then write one Parquet object per table and day. `Ok` only when every
/// put succeeded.
pub async fn store(
    bucket: &Bucket,
    prefix: &str,
    mut loaded: Loaded,
    plan: &WritePlan,
    now_ns: i64,
    retry: u32,
) -> Result<(), Error> {
    let mut attempt = 0;
    while !plan.new_columns.is_empty() {
        let mut next = loaded.catalog.clone();
        let db = next.databases.entry(plan.database.clone()).or_default();
        let mut changed = false;
        for c in &plan.new_columns {
            let cols = &mut db.tables.entry(c.table.clone()).or_default().columns;
            match cols.get(&c.column) {
                None => {
                    cols.insert(c.column.clone(), c.column_type);
                    changed = true;
                }
                Some(t) if *t == c.column_type => {}
                Some(t) => {
                    return Err(Error::InvalidParameter(format!(
                        "column conflict: {:?} on measurement {:?} is {:?}, already exists as {:?}",
                        c.column, c.table, c.column_type, t
                    )));
                }
            }
        }
        if !changed && loaded.etag.is_some() {
            break;
        }
        let body = serde_json::to_vec_pretty(&next).map_err(|e| Error::Internal(e.to_string()))?;
        let mut put = bucket.put(format!("{prefix}{CATALOG_OBJECT}"), body);
        if let Some(etag) = &loaded.etag {
            put = put.only_if(Conditional {
                etag_matches: Some(etag.clone()),
                ..Conditional::default()
            });
        }
        let done = put
            .execute()
            .await
            .map_err(|e| storage_error("catalog write", e, retry))?;
        if done.is_some() {
            break;
        }
        // Someone else changed the catalog: read it again and re-check.
        attempt += 1;
        if attempt >= 5 {
            return Err(storage_error(
                "catalog write",
                "too many concurrent changes",
                retry,
            ));
        }
        loaded = load_catalog(bucket, prefix, retry).await?;
    }

    let seq = next_seq(now_ns);
    let mut puts = Vec::new();
    for tb in &plan.batches {
        for (day, rows) in split_by_day(&tb.batch)? {
            let bytes = encode_parquet(&rows)?;
            let key = format!(
                "{prefix}{}/{}/{}/{seq:020}-{}.parquet",
                path_part(&plan.database),
                path_part(&tb.measurement),
                format_day(day),
                random_id()
            );
            puts.push(async move { bucket.put(key, bytes).execute().await });
        }
    }
    for result in futures_util::future::join_all(puts).await {
        result.map_err(|e| storage_error("put", e, retry))?;
    }
    Ok(())
}

thread_local! {
    static LAST_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// File sequence: the write time in ns, strictly increasing within the isolate (later writes
/// win on equal series and time, as in the native storage).
fn next_seq(now_ns: i64) -> u64 {
    LAST_SEQ.with(|last| {
        let seq = (now_ns.max(0) as u64).max(last.get() + 1);
        last.set(seq);
        seq
    })
}

fn random_id() -> String {
    let a = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    let b = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    format!("{a:014x}{b:014x}")
}

/// A path segment encoded as `object_store`'s `PathPart` does (`/` → `%2F`, `%` → `%25`, …).
pub fn path_part(s: &str) -> String {
    if s == "." {
        return "%2E".into();
    }
    if s == ".." {
        return "%2E%2E".into();
    }
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if !(0x20..0x7f).contains(&b) || b"/\\{^}%`]\">[~<#|*?".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Rows of `batch` per UTC day of their time, in day order, row order kept.
fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, Error> {
    let time = batch
        .column_by_name(TIME_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| Error::Internal("batch without a nanosecond time column".into()))?;
    let days: Vec<i64> = time
        .values()
        .iter()
        .map(|t| t.div_euclid(NANOS_PER_DAY))
        .collect();
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
            arrow_select::filter::filter_record_batch(batch, &mask)
                .map(|b| (d, b))
                .map_err(|e| Error::Internal(format!("split by day: {e}")))
        })
        .collect()
}

fn encode_parquet(batch: &RecordBatch) -> Result<Vec<u8>, Error> {
    let fail = |e: parquet::errors::ParquetError| Error::Internal(format!("parquet: {e}"));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("influxgate-worker {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).map_err(fail)?;
    w.write(batch).map_err(fail)?;
    w.close().map_err(fail)?;
    Ok(out)
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), Howard Hinnant's algorithm.
pub fn format_day(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_storage_crate() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(-1), "1969-12-31");
        assert_eq!(format_day(19_723), "2024-01-01");
        assert_eq!(path_part("db/rp"), "db%2Frp");
        assert_eq!(path_part("cpu load%"), "cpu load%25");
        assert_eq!(path_part(".."), "%2E%2E");
        assert_eq!(path_part("é"), "%C3%A9");
    }
}
