//! The write-ahead log: local segment files of framed entries, written by one thread with group
//! commit.
//!
//! ```text
//! <wal-dir>/<segment:020>.wal   = "IGWAL\0\0\x01" frame*
//! frame                         = len:u32le crc32(payload):u32le payload
//! payload                       = version:u8(1) db:str n:u32 (table:str ipc:bytes)*n
//! str / bytes                   = len:u32le bytes
//! ```
//!
//! `ipc` is an Arrow IPC stream (schema + one batch). Writers encode their frame themselves, hand
//! it to the WAL thread and wait on a oneshot. The thread drains every pending request, writes all
//! frames with one `write`, `fdatasync`s once, appends the rows to the buffer, then answers all of
//! them. On open a fresh segment is started; the old ones are replayed and deleted once their rows
//! are persisted. A torn frame at the end of a segment (crash mid-write) ends that segment.

use std::fs::{File, OpenOptions};
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use tokio::sync::{mpsc, oneshot};

use crate::buffer::{Buffer, Snapshot};
use crate::error::{Result, StorageError};
use crate::metrics::Metrics;

const MAGIC: &[u8; 8] = b"IGWAL\0\0\x01";
const VERSION: u8 = 1;
/// Upper bound of bytes written per group commit.
const MAX_GROUP_BYTES: usize = 64 << 20;

/// One decoded WAL entry: one write request.
#[derive(Debug)]
pub struct WalEntry {
    pub database: String,
    pub batches: Vec<(String, RecordBatch)>,
}

/// Encode a write as a complete frame (header included).
pub fn encode_frame(database: &str, batches: &[(String, RecordBatch)]) -> Result<Vec<u8>> {
    // Sized up front: growing a multi-megabyte frame by doubling copied it several times.
    let estimate: usize = batches
        .iter()
        .map(|(t, b)| t.len() + 1024 + b.get_array_memory_size())
        .sum();
    let mut out = Vec::with_capacity(64 + database.len() + estimate);
    out.resize(8, 0);
    out.push(VERSION);
    put_bytes(&mut out, database.as_bytes());
    out.extend_from_slice(&(batches.len() as u32).to_le_bytes());
    for (table, batch) in batches {
        put_bytes(&mut out, table.as_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut w = StreamWriter::try_new(&mut out, batch.schema_ref())?;
        w.write(batch)?;
        w.finish()?;
        drop(w);
        let len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }
    let payload_len = (out.len() - 8) as u32;
    let crc = crc32fast::hash(&out[8..]);
    out[0..4].copy_from_slice(&payload_len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| StorageError::CorruptWal("entry truncated".into()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| StorageError::CorruptWal("invalid UTF-8".into()))
    }
}

/// Decode a frame's payload.
pub fn decode_payload(payload: &[u8]) -> Result<WalEntry> {
    let mut r = Reader { b: payload, at: 0 };
    let version = r.take(1)?[0];
    if version != VERSION {
        return Err(StorageError::CorruptWal(format!(
            "unknown entry version {version}"
        )));
    }
    let database = r.string()?;
    let n = r.u32()?;
    let mut batches = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let table = r.string()?;
        let ipc = r.bytes()?;
        for batch in StreamReader::try_new(Cursor::new(ipc), None)? {
            batches.push((table.clone(), batch?));
        }
    }
    Ok(WalEntry { database, batches })
}

/// The file of segment `id`.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

/// Segment ids in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Read all complete entries of a segment. A torn or corrupt tail ends the segment (logged).
pub fn read_segment(path: &Path) -> Result<Vec<WalEntry>> {
    let data = std::fs::read(path)?;
    if data.len() < MAGIC.len() {
        tracing::warn!(path = %path.display(), "WAL segment without header, ignored");
        return Ok(Vec::new());
    }
    if &data[..MAGIC.len()] != MAGIC {
        return Err(StorageError::CorruptWal(format!(
            "{}: bad magic",
            path.display()
        )));
    }
    let mut at = MAGIC.len();
    let mut entries = Vec::new();
    while at < data.len() {
        if data.len() - at < 8 {
            tracing::warn!(path = %path.display(), at, "torn WAL frame header, tail ignored");
            break;
        }
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4"));
        let Some(payload) = data.get(at + 8..at + 8 + len) else {
            tracing::warn!(path = %path.display(), at, "torn WAL frame, tail ignored");
            break;
        };
        if crc32fast::hash(payload) != crc {
            tracing::warn!(path = %path.display(), at, "WAL frame checksum mismatch, tail ignored");
            break;
        }
        entries.push(decode_payload(payload)?);
        at += 8 + len;
    }
    Ok(entries)
}

/// Delete segments with id <= `last`.
pub fn delete_segments_up_to(dir: &Path, last: u64) -> Result<usize> {
    let mut n = 0;
    for id in list_segments(dir)? {
        if id <= last {
            std::fs::remove_file(segment_path(dir, id))?;
            n += 1;
        }
    }
    if n > 0 {
        File::open(dir)?.sync_all()?;
    }
    Ok(n)
}

pub(crate) enum WalCommand {
    Append {
        frame: Vec<u8>,
        database: String,
        batches: Vec<(String, RecordBatch)>,
        /// Buffer bytes reserved for this write; released here if the write fails.
        bytes: usize,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Rotate to a new segment and move the active buffer into a snapshot with this `seq`.
    Snapshot {
        seq: u64,
        reply: oneshot::Sender<Result<Option<Arc<Snapshot>>>>,
    },
    /// Commit what is pending, then exit.
    Stop,
}

/// The WAL writer thread's state.
pub(crate) struct WalWriter {
    dir: PathBuf,
    segment: u64,
    file: File,
    offset: u64,
    broken: Option<String>,
    buffer: Arc<Mutex<Buffer>>,
    reserved: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

fn create_segment(dir: &Path, id: u64) -> Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(segment_path(dir, id))?;
    f.write_all(MAGIC)?;
    f.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

impl WalWriter {
    pub(crate) fn new(
        dir: PathBuf,
        segment: u64,
        buffer: Arc<Mutex<Buffer>>,
        reserved: Arc<AtomicUsize>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let file = create_segment(&dir, segment)?;
        Ok(Self {
            dir,
            segment,
            file,
            offset: MAGIC.len() as u64,
            broken: None,
            buffer,
            reserved,
            metrics,
        })
    }

    /// Run until every sender is gone.
    pub(crate) fn run(mut self, mut rx: mpsc::UnboundedReceiver<WalCommand>) {
        let mut appends = Vec::new();
        let mut others = Vec::new();
        while let Some(cmd) = rx.blocking_recv() {
            let mut group_bytes = 0;
            let mut next = Some(cmd);
            while let Some(cmd) = next.take() {
                match cmd {
                    WalCommand::Append { .. } => {
                        if let WalCommand::Append { frame, .. } = &cmd {
                            group_bytes += frame.len();
                        }
                        appends.push(cmd);
                    }
                    other => others.push(other),
                }
                if group_bytes < MAX_GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(&mut appends);
            for cmd in others.drain(..) {
                match cmd {
                    WalCommand::Snapshot { seq, reply } => {
                        let _ = reply.send(self.snapshot(seq));
                    }
                    WalCommand::Stop => return,
                    WalCommand::Append { .. } => unreachable!("appends are committed first"),
                }
            }
        }
    }

    fn commit(&mut self, appends: &mut Vec<WalCommand>) {
        if appends.is_empty() {
            return;
        }
        let result = self.write_group(appends);
        let now = Instant::now();
        if result.is_ok() {
            let mut buffer = self.buffer.lock().expect("buffer lock");
            for cmd in appends.iter() {
                if let WalCommand::Append {
                    database, batches, ..
                } = cmd
                {
                    buffer.insert(database, batches, now);
                }
            }
            self.metrics
                .wal_entries
                .fetch_add(appends.len() as u64, Ordering::Relaxed);
        }
        for cmd in appends.drain(..) {
            if let WalCommand::Append { reply, bytes, .. } = cmd {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        self.reserved.fetch_sub(bytes, Ordering::AcqRel);
                        Err(StorageError::Unavailable {
                            retry_after_secs: 5,
                            reason: format!("WAL write failed: {e}"),
                        })
                    }
                };
                let _ = reply.send(r);
            }
        }
    }

    fn write_group(&mut self, appends: &[WalCommand]) -> std::io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(std::io::Error::other(why.clone()));
        }
        let mut bytes = Vec::new();
        let mut single: Option<&[u8]> = None;
        for cmd in appends {
            if let WalCommand::Append { frame, .. } = cmd {
                if appends.len() == 1 {
                    single = Some(frame);
                } else {
                    bytes.extend_from_slice(frame);
                }
            }
        }
        let data = single.unwrap_or(&bytes);
        let result = self.file.write_all(data).and_then(|()| {
            let start = Instant::now();
            let r = self.file.sync_data();
            self.metrics.observe_fsync(start.elapsed());
            r
        });
        match result {
            Ok(()) => {
                self.offset += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut the partial write off so later frames stay readable; if even that fails,
                // refuse all further writes (the caller sees 503).
                let restored = self
                    .file
                    .set_len(self.offset)
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.offset)).map(|_| ()))
                    .and_then(|()| self.file.sync_all());
                if let Err(e2) = restored {
                    self.broken = Some(format!("WAL segment unusable after {e}: {e2}"));
                }
                Err(e)
            }
        }
    }

    fn snapshot(&mut self, seq: u64) -> Result<Option<Arc<Snapshot>>> {
        let mut buffer = self.buffer.lock().expect("buffer lock");
        if buffer.active_stats().1 == 0 {
            return Ok(None);
        }
        let next = self.segment + 1;
        let file = create_segment(&self.dir, next)?;
        let snap = buffer.take_snapshot(seq, self.segment);
        self.file = file;
        self.segment = next;
        self.offset = MAGIC.len() as u64;
        self.broken = None;
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, Float64Array, TimestampNanosecondArray};
    use arrow::datatypes::Int32Type;

    fn batch() -> RecordBatch {
        let host: DictionaryArray<Int32Type> = vec![Some("a"), None].into_iter().collect();
        RecordBatch::try_from_iter(vec![
            ("host", Arc::new(host) as _),
            (
                "v",
                Arc::new(Float64Array::from(vec![Some(1.5), None])) as _,
            ),
            (
                "time",
                Arc::new(TimestampNanosecondArray::from(vec![1, 2]).with_timezone("UTC")) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn frames_round_trip_and_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 7);
        let mut f = create_segment(dir.path(), 7).unwrap();
        let frame = encode_frame("db/rp", &[("m".into(), batch()), ("n".into(), batch())]).unwrap();
        f.write_all(&frame).unwrap();
        f.write_all(&frame).unwrap();
        f.write_all(&frame[..frame.len() - 3]).unwrap();
        let entries = read_segment(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].database, "db/rp");
        assert_eq!(entries[0].batches.len(), 2);
        assert_eq!(entries[0].batches[1].0, "n");
        assert_eq!(entries[0].batches[0].1, batch());
        assert_eq!(list_segments(dir.path()).unwrap(), vec![7]);

        // a flipped bit in the second frame ends the segment there
        let mut data = std::fs::read(&path).unwrap();
        let at = MAGIC.len() + frame.len() + 20;
        data[at] ^= 1;
        std::fs::write(&path, &data).unwrap();
        assert_eq!(read_segment(&path).unwrap().len(), 1);

        assert_eq!(delete_segments_up_to(dir.path(), 6).unwrap(), 0);
        assert_eq!(delete_segments_up_to(dir.path(), 7).unwrap(), 1);
        assert!(list_segments(dir.path()).unwrap().is_empty());
    }
}
