//! Counters the server exports (Prometheus).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the WAL latency histograms' buckets; `+Inf` is implied.
pub const FSYNC_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A latency histogram over [`FSYNC_BUCKETS`].
#[derive(Debug, Default)]
pub(crate) struct Latency {
    buckets: [AtomicU64; FSYNC_BUCKETS.len() + 1],
    count: AtomicU64,
    nanos: AtomicU64,
}

impl Latency {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = FSYNC_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(FSYNC_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn histogram(&self) -> Histogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(FSYNC_BUCKETS.len() + 1);
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let le = FSYNC_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((le, cumulative));
        }
        Histogram {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// A group commit's write and fsync.
    pub fsync: Latency,
    /// How long a write waited for its entry's group commit once its rows were ready.
    pub commit_wait: Latency,
    pub wal_entries: AtomicU64,
    pub persisted_files: AtomicU64,
    pub persisted_rows: AtomicU64,
    pub persist_errors: AtomicU64,
    pub compactions: AtomicU64,
    pub retention_deleted_files: AtomicU64,
    pub rejected_overloaded: AtomicU64,
    pub rejected_unavailable: AtomicU64,
}

/// A Prometheus-style histogram: cumulative `(le, count)` buckets ending with `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

/// A point-in-time copy of the storage metrics.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StorageMetrics {
    /// WAL group commit latency (its write and fsync).
    pub wal_fsync_seconds: Histogram,
    /// How long writes waited for their group commit once their rows were ready (the part of
    /// a write's latency that durability adds).
    pub wal_commit_wait_seconds: Histogram,
    /// Number of WAL fsyncs (= group commits).
    pub wal_fsyncs: u64,
    /// WAL entries (write requests) committed.
    pub wal_entries: u64,
    /// Bytes held in the buffer (including in-flight writes).
    pub buffer_bytes: u64,
    /// Rows held in the buffer.
    pub buffer_rows: u64,
    /// Parquet files written by persists (cumulative).
    pub persisted_files: u64,
    /// Rows written by persists (cumulative, after dedup).
    pub persisted_rows: u64,
    /// Failed persist attempts (cumulative).
    pub persist_errors: u64,
    /// Parquet files currently in the file index.
    pub files: u64,
    /// Compactions done (one per (db, table, day) merged).
    pub compactions: u64,
    /// Files dropped by retention (deleted from the store after `delete_grace`).
    pub retention_deleted_files: u64,
    /// Writes rejected with `Overloaded` / `Unavailable`.
    pub rejected_overloaded: u64,
    pub rejected_unavailable: u64,
}
