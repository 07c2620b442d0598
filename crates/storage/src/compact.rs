//! Compaction: merge the files of a (db, table, day) into one deduplicated, sorted file.
//!
//! A day is compacted once it has at least `compaction_min_files` files of which at least two are
//! smaller than `compaction_small_file_bytes`, or once it is cold (ended, and no file added, at
//! least `compaction_cold_after` ago) with two files or more: past days end as one file each,
//! which is what queries over them open (InfluxDB 3 likewise fully compacts partitions that stop
//! changing). All files of the day are merged (merging only some could reorder writes: the output
//! takes the highest input sequence). Crash-safe order: the new file is written first, then the
//! index is switched, then the inputs are deleted (after `delete_grace`, for queries that listed
//! them: see `graveyard`); a crash in between leaves duplicates that reads deduplicate and the
//! next compaction removes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::Inner;
use crate::buffer::TableKey;
use crate::error::Result;
use crate::layout;
use crate::merge;
use crate::persist::{self, FileMeta};
use crate::retention;
use object_store::ObjectStoreExt;

/// Compact every eligible (db, table, day) at wall-clock time `now_ns`; returns how many were
/// compacted.
pub(crate) async fn compact(inner: &Inner, now_ns: i64) -> Result<usize> {
    let _guard = inner.maintenance.lock().await;
    let min_files = inner.config.compaction_min_files.max(2);
    let small = inner.config.compaction_small_file_bytes;
    let cold_after = inner.config.compaction_cold_after;
    let groups: Vec<(TableKey, i64, Vec<FileMeta>)> = {
        let files = inner.files.read().expect("files lock");
        let mut last = inner.last_persisted.lock().expect("last_persisted lock");
        if let Some(after) = cold_after {
            // Entries older than the rule's horizon no longer matter: bounded memory.
            last.retain(|_, at| at.elapsed() < after);
        }
        let mut out = Vec::new();
        for (key, v) in files.iter() {
            let mut by_day: BTreeMap<i64, Vec<FileMeta>> = BTreeMap::new();
            for f in v {
                by_day.entry(f.day).or_default().push(f.clone());
            }
            for (day, fs) in by_day {
                let smalls = fs.iter().filter(|f| f.size < small).count();
                let busy = fs.len() >= min_files && smalls >= 2;
                let cold = cold_after.is_some_and(|after| {
                    let total: u64 = fs.iter().map(|f| f.size).sum();
                    fs.len() >= 2
                        && total < small.saturating_mul(4)
                        // "Ended `after` ago" is retention's test with `after` as the period.
                        && retention::expired(day, now_ns, retention::duration_ns(after))
                        && !last.contains_key(&(key.clone(), day))
                });
                if busy || cold {
                    out.push((key.clone(), day, fs));
                }
            }
        }
        out
    };
    let mut done = 0;
    for ((db, table), day, inputs) in groups {
        compact_one(inner, &db, &table, day, inputs).await?;
        done += 1;
    }
    Ok(done)
}

async fn compact_one(
    inner: &Inner,
    db: &str,
    table: &str,
    day: i64,
    inputs: Vec<FileMeta>,
) -> Result<()> {
    let store = &inner.config.object_store;
    let mut batches = Vec::new();
    for f in &inputs {
        batches.extend(persist::read_parquet(store, f).await?);
    }
    let seq = inputs.iter().map(|f| f.seq).max().unwrap_or(0);
    let codec = inner.config.codec;
    let merged = tokio::task::spawn_blocking(move || -> Result<Option<bytes::Bytes>> {
        match merge::dedup_sort(&batches, None)? {
            Some(b) => Ok(Some(persist::encode_parquet(&b, codec)?)),
            None => Ok(None),
        }
    })
    .await
    .map_err(|e| crate::StorageError::Catalog(format!("compaction task panicked: {e}")))??;

    let output = match merged {
        Some(bytes) => {
            let id = uuid::Uuid::now_v7().simple().to_string();
            let path = layout::file_path(&inner.config.prefix, db, table, day, seq, &id);
            let size = bytes.len() as u64;
            store.put(&path, bytes.into()).await?;
            Some(FileMeta {
                path,
                database: db.to_string(),
                table: table.to_string(),
                day,
                seq,
                size,
            })
        }
        None => None,
    };
    {
        let mut files = inner.files.write().expect("files lock");
        let v = files
            .entry((db.to_string(), table.to_string()))
            .or_default();
        v.retain(|f| !inputs.iter().any(|i| i.path == f.path));
        if let Some(o) = output {
            v.push(o);
        }
        v.sort_by(|a, b| (a.seq, &a.path).cmp(&(b.seq, &b.path)));
        inner.files_version.fetch_add(1, Ordering::AcqRel);
    }
    inner.graveyard.bury(inputs.iter().map(|f| f.path.clone()));
    inner.sweep(false).await;
    inner.metrics.compactions.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(db, table, day, inputs = inputs.len(), "compacted");
    Ok(())
}
