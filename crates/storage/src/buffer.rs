//! The in-memory write buffer: rows acknowledged (in the WAL) but not yet persisted as Parquet.
//!
//! Inserts only append batches (cheap, done by the WAL writer right after the fsync). Rows are
//! deduplicated and sorted when they are read or persisted. A persist moves the whole active
//! buffer into a `Snapshot` (still visible to readers) while new writes go to a fresh active buffer
//! and a fresh WAL segment; once the snapshot's files are written, the snapshot is dropped and the
//! WAL segments it came from are deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;

/// `(database, table)`.
pub type TableKey = (String, String);

/// Rows of one table, in write order.
#[derive(Debug, Default, Clone)]
pub struct TableBuffer {
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    pub bytes: usize,
}

/// A frozen part of the buffer being persisted.
#[derive(Debug)]
pub struct Snapshot {
    /// File sequence number of the files this snapshot becomes.
    pub seq: u64,
    /// The last WAL segment whose entries are all in this snapshot (or in files).
    pub last_segment: u64,
    pub tables: BTreeMap<TableKey, TableBuffer>,
    pub bytes: usize,
    pub rows: usize,
}

#[derive(Debug, Default)]
pub struct Buffer {
    active: BTreeMap<TableKey, TableBuffer>,
    active_bytes: usize,
    active_rows: usize,
    active_since: Option<Instant>,
    persisting: Option<Arc<Snapshot>>,
    /// Changes whenever the rows [`Buffer::table_batches`] returns may have changed.
    version: u64,
}

impl Buffer {
    /// Append the batches of one acknowledged write.
    pub fn insert(&mut self, database: &str, batches: &[(String, RecordBatch)], now: Instant) {
        self.version += 1;
        for (table, batch) in batches {
            if batch.num_rows() == 0 {
                continue;
            }
            let bytes = batch.get_array_memory_size();
            let t = self
                .active
                .entry((database.to_string(), table.clone()))
                .or_default();
            t.batches.push(batch.clone());
            t.rows += batch.num_rows();
            t.bytes += bytes;
            self.active_bytes += bytes;
            self.active_rows += batch.num_rows();
        }
        if self.active_since.is_none() && self.active_rows > 0 {
            self.active_since = Some(now);
        }
    }

    /// Bytes and rows in the active part, and when its oldest write arrived.
    pub fn active_stats(&self) -> (usize, usize, Option<Instant>) {
        (self.active_bytes, self.active_rows, self.active_since)
    }

    /// Bytes and rows held in total (active + persisting).
    pub fn totals(&self) -> (usize, usize) {
        let (pb, pr) = self
            .persisting
            .as_ref()
            .map_or((0, 0), |s| (s.bytes, s.rows));
        (self.active_bytes + pb, self.active_rows + pr)
    }

    /// The snapshot being persisted, if any.
    pub fn persisting(&self) -> Option<Arc<Snapshot>> {
        self.persisting.clone()
    }

    /// Move the active part into a new snapshot. `None` (and nothing changes) when the active part
    /// is empty. Panics if a snapshot is already being persisted (the persister serialises this).
    pub fn take_snapshot(&mut self, seq: u64, last_segment: u64) -> Option<Arc<Snapshot>> {
        assert!(
            self.persisting.is_none(),
            "a snapshot is already persisting"
        );
        if self.active_rows == 0 {
            return None;
        }
        let snap = Arc::new(Snapshot {
            seq,
            last_segment,
            tables: std::mem::take(&mut self.active),
            bytes: std::mem::take(&mut self.active_bytes),
            rows: std::mem::take(&mut self.active_rows),
        });
        self.active_since = None;
        self.persisting = Some(snap.clone());
        Some(snap)
    }

    /// Drop the persisted snapshot; returns its byte size.
    pub fn finish_snapshot(&mut self) -> usize {
        self.version += 1;
        self.persisting.take().map_or(0, |s| s.bytes)
    }

    /// Changes whenever the buffered rows may have changed (a write, a finished persist).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// All buffered batches of a table, oldest first (persisting, then active).
    pub fn table_batches(&self, database: &str, table: &str) -> Vec<RecordBatch> {
        let key = (database.to_string(), table.to_string());
        let mut out = Vec::new();
        if let Some(t) = self.persisting.as_ref().and_then(|s| s.tables.get(&key)) {
            out.extend(t.batches.iter().cloned());
        }
        if let Some(t) = self.active.get(&key) {
            out.extend(t.batches.iter().cloned());
        }
        out
    }

    /// Tables with buffered rows.
    pub fn tables(&self) -> Vec<TableKey> {
        let mut keys: Vec<TableKey> = self.active.keys().cloned().collect();
        if let Some(s) = &self.persisting {
            keys.extend(s.tables.keys().cloned());
        }
        keys.sort();
        keys.dedup();
        keys
    }
}
