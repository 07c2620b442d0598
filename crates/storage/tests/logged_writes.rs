//! Line-protocol writes logged as request records before they are parsed
//! (`Storage::log_write` + `LoggedWrite::commit`): replay parses them again, and entries enter
//! the buffer in log order whatever order their parses finish in.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::*;
use influxgate::handler::WriteRecord;
use influxgate::write::precision::Precision;
use influxgate_storage::{LoggedWrite, NewColumn, Storage};

fn record(body: &str) -> WriteRecord<'_> {
    WriteRecord {
        database: "db".into(),
        precision: Precision::Seconds,
        now_ns: T0 + 7 * SEC,
        content_encoding: None,
        max_body_bytes: 1 << 20,
        body: body.as_bytes(),
    }
}

/// Parse `r` against the storage's catalog and commit the rows, as the server does.
async fn commit(s: &Storage, logged: &mut LoggedWrite, r: &WriteRecord<'_>) {
    let parsed = r.parse(&*s.catalog(), 10).unwrap();
    assert_eq!(parsed.rejected_count, 0, "{:?}", parsed.rejected);
    let batches = parsed
        .batches
        .into_iter()
        .map(|b| (b.measurement, b.batch))
        .collect();
    let cols: Vec<NewColumn> = parsed.new_columns.iter().map(NewColumn::from).collect();
    logged.commit(&r.database, batches, &cols).await.unwrap();
}

async fn rows(s: &Storage, table: &str) -> Vec<String> {
    render(&s.scan("db", table).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_requests_are_parsed_again_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = T0 / SEC + 1;
    let plain = format!("cpu,host=a v=1 {t1}\ncpu,host=b v=2\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"mem,host=a used=5i\n").unwrap();
    let gz = gz.finish().unwrap();
    let expected_cpu = vec![
        format!("host=a,v=1,time={}", t1 * SEC),
        format!("host=b,v=2,time={}", T0 + 7 * SEC),
    ];
    {
        let s = open_local(dir.path()).await;
        let r = record(&plain);
        let mut l = s.log_write(&r).unwrap();
        commit(&s, &mut l, &r).await;

        let mut r = record("");
        r.body = &gz;
        r.content_encoding = Some("gzip");
        let mut l = s.log_write(&r).unwrap();
        commit(&s, &mut l, &r).await;

        // Rejected by its parse: logged, then dropped; replay rejects it again.
        let bad = record("cpu,host=c v=\"now a string\"\nnot line protocol\n");
        drop(s.log_write(&bad).unwrap());

        assert_eq!(rows(&s, "cpu").await, expected_cpu);
        // no flush, no shutdown: dropped like a crash
    }
    let s = open_local(dir.path()).await;
    assert_eq!(rows(&s, "cpu").await, expected_cpu);
    assert_eq!(
        rows(&s, "mem").await,
        vec![format!("host=a,used=5,time={}", T0 + 7 * SEC)]
    );
    assert_eq!(s.metrics().buffer_rows, 3);
    // The replayed columns are in the catalog, so a conflicting write is refused.
    let r = record("mem,host=a used=1.5\n");
    let parsed = r.parse(&*s.catalog(), 10).unwrap();
    assert_eq!((parsed.accepted, parsed.rejected_count), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_enter_the_buffer_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let t = T0 / SEC;
    let first = format!("cpu,host=a v=1 {t}\n");
    let second = format!("cpu,host=a v=2 {t}\n");
    {
        let s = std::sync::Arc::new(open_local(dir.path()).await);
        let mut a = s.log_write(&record(&first)).unwrap();
        let mut b = s.log_write(&record(&second)).unwrap();
        // The second entry's parse finishes first: it waits for the first entry.
        let s2 = s.clone();
        let second2 = second.clone();
        let b_done = tokio::spawn(async move {
            commit(&s2, &mut b, &record(&second2)).await;
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !b_done.is_finished(),
            "acknowledged before an earlier entry"
        );
        assert!(rows(&s, "cpu").await.is_empty());
        commit(&s, &mut a, &record(&first)).await;
        b_done.await.unwrap();
        // Log order decides, not commit order: the second write wins.
        assert_eq!(
            rows(&s, "cpu").await,
            vec![format!("host=a,v=2,time={}", t * SEC)]
        );
    }
    let s = open_local(dir.path()).await;
    assert_eq!(
        rows(&s, "cpu").await,
        vec![format!("host=a,v=2,time={}", t * SEC)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_waits_for_entries_logged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = T0 / SEC;
    let body = format!("cpu,host=a v=1 {t}\n");
    let s = std::sync::Arc::new(open_local(dir.path()).await);
    let mut l = s.log_write(&record(&body)).unwrap();
    let s2 = s.clone();
    let flushed = tokio::spawn(async move { s2.flush().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !flushed.is_finished(),
        "snapshot taken before a logged entry resolved"
    );
    commit(&s, &mut l, &record(&body)).await;
    flushed.await.unwrap().unwrap();
    // The entry went into the snapshot: it is in a file and the buffer is empty.
    assert_eq!(s.list_files("db", "cpu").len(), 1);
    assert_eq!(s.metrics().buffer_rows, 0);
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(s.metrics().buffer_rows, 0);
    assert_eq!(
        rows(&s, "cpu").await,
        vec![format!("host=a,v=1,time={}", t * SEC)]
    );
}

/// Storage whose group commits wait up to a minute for announced writes.
async fn patient_storage(dir: &std::path::Path) -> Storage {
    let mut c = config(dir, local_store(dir));
    c.group_commit_wait = Duration::from_secs(60);
    Storage::open(c).await.unwrap()
}

/// While a write is announced (its body still being read), a group commit waits for its entry,
/// so one fsync covers both; a withdrawn announcement releases the waiting group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_writes_share_a_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = patient_storage(dir.path()).await;
    let fsyncs = |s: &Storage| s.metrics().wal_fsyncs;
    let before = fsyncs(&s);
    let second = s.expect_write();
    let third = s.expect_write();
    let r1 = record("cpu v=1 1\n");
    let mut l1 = s.log_write(&r1).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fsyncs(&s),
        before,
        "the group waits for the announced writes"
    );
    let body = bytes::Bytes::from_static(b"cpu v=2 2\n");
    let r2 = WriteRecord {
        body: &body,
        ..record("")
    };
    let mut l2 = second.log(&r2, body.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fsyncs(&s), before, "one announced write is still to come");
    // Withdrawn (a bad token, say): nothing else is expected, the group is written.
    drop(third);
    commit(&s, &mut l1, &r1).await;
    commit(&s, &mut l2, &r2).await;
    assert_eq!(fsyncs(&s) - before, 1, "one fsync for both entries");
    assert_eq!(rows(&s, "cpu").await.len(), 2);
}

/// A group waits for announced writes only while none of its writers waits for the log: once
/// one has its rows, the group is written without the announced entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_writer_ends_the_group_wait() {
    let dir = tempfile::tempdir().unwrap();
    let s = patient_storage(dir.path()).await;
    let before = s.metrics().wal_fsyncs;
    let announced = s.expect_write();
    let r1 = record("cpu v=1 1\n");
    let mut l1 = s.log_write(&r1).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.metrics().wal_fsyncs, before, "the group waits");
    // Within seconds, not the 60 s wait: the announced write is still expected.
    tokio::time::timeout(Duration::from_secs(10), commit(&s, &mut l1, &r1))
        .await
        .expect("the commit ends the group's wait");
    assert_eq!(s.metrics().wal_fsyncs - before, 1);
    assert_eq!(rows(&s, "cpu").await.len(), 1);
    // The announced write still logs and commits (in a group of its own).
    let body = bytes::Bytes::from_static(b"cpu v=2 2\n");
    let r2 = WriteRecord {
        body: &body,
        ..record("")
    };
    let mut l2 = announced.log(&r2, body.clone()).unwrap();
    commit(&s, &mut l2, &r2).await;
    assert_eq!(rows(&s, "cpu").await.len(), 2);
}

/// The WAL writer thread runs at the configured nice value (19, the lowest priority, is allowed
/// whatever the test runs at, so the test needs no privilege).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_thread_takes_its_nice_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), local_store(dir.path()));
    c.wal_thread_nice = Some(19);
    let s = Storage::open(c).await.unwrap();
    // (comm, nice) of every thread of this process: `stat` field 19, the 17th after "(comm)".
    let threads = || -> Vec<(String, i64)> {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap();
        tasks
            .filter_map(|t| {
                let stat = std::fs::read_to_string(t.ok()?.path().join("stat")).ok()?;
                let (head, rest) = stat.rsplit_once(") ")?;
                let comm = head.split_once(" (")?.1.to_string();
                Some((comm, rest.split(' ').nth(16)?.parse().ok()?))
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // Other tests' storages run beside this one, at other values.
    while !threads().contains(&("influxgate-wal".to_string(), 19)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no WAL thread at nice 19: {:?}",
            threads()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It still writes.
    let r = record("cpu v=1 1\n");
    let mut l = s.log_write(&r).unwrap();
    commit(&s, &mut l, &r).await;
    assert_eq!(rows(&s, "cpu").await.len(), 1);
}
