//! `write` latency under load: 16 concurrent writers, each writing 1,000-row batches.
//!
//! ```text
//! cargo run --release -p influxgate-storage --example wal_latency -- [writers] [writes-per-writer] [data-dir]
//! ```
//!
//! Prints p50/p90/p99/max latency of acknowledged writes, throughput, and the WAL fsync count
//! (group commit: far fewer fsyncs than writes). The data dir defaults to a temporary directory.
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray,
};
use arrow::datatypes::Int32Type;
use influxgate_storage::{Storage, StorageConfig, StorageError, object_store_from_url};

const ROWS: usize = 1_000;

fn batch(writer: usize, n: usize) -> RecordBatch {
    let base = 1_704_067_200_000_000_000i64 + (n as i64) * 1_000_000_000;
    let names: Vec<String> = (0..ROWS)
        .map(|i| format!("host-{writer}-{}", i % 100))
        .collect();
    let hosts: DictionaryArray<Int32Type> = names.iter().map(|s| Some(s.as_str())).collect();
    let regions: DictionaryArray<Int32Type> =
        (0..ROWS).map(|i| Some(["eu", "us", "ap"][i % 3])).collect();
    let usage = Float64Array::from_iter_values((0..ROWS).map(|i| i as f64 * 0.5));
    let count = Int64Array::from_iter_values((0..ROWS).map(|i| i as i64));
    let time = TimestampNanosecondArray::from_iter_values((0..ROWS).map(|i| base + i as i64 / 100))
        .with_timezone("UTC");
    RecordBatch::try_from_iter(vec![
        ("host", Arc::new(hosts) as ArrayRef),
        ("region", Arc::new(regions) as ArrayRef),
        ("usage", Arc::new(usage) as ArrayRef),
        ("count", Arc::new(count) as ArrayRef),
        ("time", Arc::new(time) as ArrayRef),
    ])
    .expect("batch")
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), StorageError> {
    let args: Vec<String> = std::env::args().collect();
    let writers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let per_writer: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let (store, prefix) = object_store_from_url(
        &format!("file://{}/store", dir.display()),
        Vec::<(String, String)>::new(),
    )?;
    let config = StorageConfig::new(store, prefix, dir.join("wal"));
    let storage = Arc::new(Storage::open(config).await?);

    // warm-up: creates the catalog entries
    storage
        .write("bench", vec![("cpu".into(), batch(0, 0))], &[])
        .await?;

    let mut tasks = Vec::new();
    let gate = Arc::new(tokio::sync::Barrier::new(writers + 1));
    for w in 0..writers {
        let storage = storage.clone();
        // batches are built before the clock starts: only `write` is measured
        let batches: Vec<RecordBatch> = (0..per_writer).map(|n| batch(w, n)).collect();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let mut lat = Vec::with_capacity(per_writer);
            let mut rejected = 0usize;
            for b in batches {
                loop {
                    let t = Instant::now();
                    match storage
                        .write("bench", vec![("cpu".into(), b.clone())], &[])
                        .await
                    {
                        Ok(()) => {
                            lat.push(t.elapsed());
                            break;
                        }
                        Err(StorageError::Overloaded { .. }) => {
                            rejected += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok((lat, rejected))
        }));
    }
    gate.wait().await;
    let started = Instant::now();
    let mut all = Vec::new();
    let mut rejected = 0;
    for t in tasks {
        let (lat, r) = t.await.expect("writer task")?;
        all.extend(lat);
        rejected += r;
    }
    let elapsed = started.elapsed();
    all.sort();
    let m = storage.metrics();
    let writes = all.len();
    println!(
        "{writers} writers x {per_writer} writes x {ROWS} rows: {writes} writes in {:.2}s ({:.0} rows/s)",
        elapsed.as_secs_f64(),
        (writes * ROWS) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "write latency: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(&all, 0.50),
        pct(&all, 0.90),
        pct(&all, 0.99),
        all[writes - 1]
    );
    println!(
        "WAL: {} entries, {} fsyncs (mean {:.2?}), overloaded retries {rejected}, persisted files {} rows {}",
        m.wal_entries,
        m.wal_fsyncs,
        Duration::from_secs_f64(m.wal_fsync_seconds.sum_seconds / m.wal_fsyncs.max(1) as f64),
        m.persisted_files,
        m.persisted_rows
    );
    storage.shutdown().await?;
    Ok(())
}
