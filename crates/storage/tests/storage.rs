#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use influxgate::{ColumnType, FieldType, Schema as _};
use influxgate_storage::{NewColumn, Storage, StorageError};
use object_store::ObjectStoreExt as _;

fn cpu(host: &'static str, v: f64, t: i64) -> Vec<(String, arrow::array::RecordBatch)> {
    vec![(
        "cpu".to_string(),
        batch(
            vec![
                ("host", Col::Tag(vec![Some(host)])),
                ("v", Col::F(vec![Some(v)])),
            ],
            vec![t],
        ),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_scan_round_trip_mixed_types_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_local(dir.path()).await;
    let b1 = batch(
        vec![
            ("host", Col::Tag(vec![Some("a"), Some("b"), None])),
            ("f", Col::F(vec![Some(1.5), None, Some(-2.0)])),
            ("i", Col::I(vec![Some(-7), Some(8), None])),
            ("s", Col::S(vec![None, Some("x y"), Some("")])),
        ],
        vec![T0 + 2 * SEC, T0 + SEC, T0],
    );
    // a later batch with another column subset: a new tag and new field types
    let b2 = batch(
        vec![
            ("region", Col::Tag(vec![Some("eu")])),
            ("u", Col::U(vec![Some(u64::MAX)])),
            ("b", Col::B(vec![Some(true)])),
        ],
        vec![T0 + 3 * SEC],
    );
    let new = [NewColumn::new(
        "cpu",
        "f",
        ColumnType::Field(FieldType::Float),
    )];
    s.write("db", vec![("cpu".into(), b1)], &new).await.unwrap();
    s.write("db", vec![("cpu".into(), b2)], &[]).await.unwrap();

    let rows = render(&s.scan("db", "cpu").await.unwrap());
    assert_eq!(
        rows,
        vec![
            format!("f=-2,s=,time={T0}"),
            format!(
                "region=eu,b=true,u=18446744073709551615,time={}",
                T0 + 3 * SEC
            ),
            format!("host=a,f=1.5,i=-7,time={}", T0 + 2 * SEC),
            format!("host=b,i=8,s=x y,time={}", T0 + SEC),
        ]
    );
    let scanned = s.scan("db", "cpu").await.unwrap();
    let names: Vec<String> = scanned[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["host", "region", "b", "f", "i", "s", "u", "time"]);

    let cat = s.catalog();
    assert_eq!(cat.column("db", "cpu", "host"), Some(ColumnType::Tag));
    assert_eq!(
        cat.column("db", "cpu", "u"),
        Some(ColumnType::Field(FieldType::UInteger))
    );
    assert_eq!(cat.column("db", "cpu", "time"), Some(ColumnType::Time));

    // the same after persisting, read back from Parquet
    s.flush().await.unwrap();
    assert_eq!(s.metrics().buffer_rows, 0);
    assert_eq!(s.list_files("db", "cpu").len(), 1);
    assert_eq!(render(&s.scan("db", "cpu").await.unwrap()), rows);
    assert!(s.scan("db", "nope").await.unwrap().is_empty());
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_later_write_wins_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), local_store(dir.path()));
    cfg.compaction_min_files = 2;
    let s = Storage::open(cfg).await.unwrap();
    let first = batch(
        vec![
            ("host", Col::Tag(vec![Some("a"), None])),
            ("x", Col::F(vec![Some(1.0), Some(5.0)])),
            ("y", Col::I(vec![Some(2), None])),
        ],
        vec![T0, T0],
    );
    let second = batch(
        vec![
            ("host", Col::Tag(vec![Some("a"), Some("a")])),
            ("x", Col::F(vec![Some(10.0), None])),
            ("y", Col::I(vec![None, None])),
            ("z", Col::S(vec![None, Some("late")])),
        ],
        vec![T0, T0],
    );
    let want = vec![
        format!("x=5,time={T0}"),
        format!("host=a,x=10,y=2,z=late,time={T0}"),
    ];

    // in the buffer
    s.write("db", vec![("m".into(), first.clone())], &[])
        .await
        .unwrap();
    s.write("db", vec![("m".into(), second.clone())], &[])
        .await
        .unwrap();
    assert_eq!(render(&s.scan("db", "m").await.unwrap()), want);
    assert_eq!(render(&s.buffer_snapshot("db", "m").unwrap()), want);

    // across file and buffer
    let dir2 = tempfile::tempdir().unwrap();
    let mut cfg = config(dir2.path(), local_store(dir2.path()));
    cfg.compaction_min_files = 2;
    let s2 = Storage::open(cfg).await.unwrap();
    s2.write("db", vec![("m".into(), first)], &[])
        .await
        .unwrap();
    s2.flush().await.unwrap();
    s2.write("db", vec![("m".into(), second)], &[])
        .await
        .unwrap();
    assert_eq!(render(&s2.scan("db", "m").await.unwrap()), want);
    // across two files, then after compaction
    s2.flush().await.unwrap();
    assert_eq!(s2.list_files("db", "m").len(), 2);
    assert_eq!(render(&s2.scan("db", "m").await.unwrap()), want);
    assert_eq!(s2.compact().await.unwrap(), 1);
    assert_eq!(s2.list_files("db", "m").len(), 1);
    assert_eq!(render(&s2.scan("db", "m").await.unwrap()), want);
    // a write newer than the compacted file still wins
    s2.write("db", cpu_like("m", "a", 99.0, T0), &[])
        .await
        .unwrap();
    s2.flush().await.unwrap();
    assert_eq!(s2.compact().await.unwrap(), 1);
    assert_eq!(
        render(&s2.scan("db", "m").await.unwrap()),
        vec![
            format!("x=5,time={T0}"),
            format!("host=a,x=99,y=2,z=late,time={T0}"),
        ]
    );
}

fn cpu_like(
    table: &str,
    host: &'static str,
    x: f64,
    t: i64,
) -> Vec<(String, arrow::array::RecordBatch)> {
    vec![(
        table.to_string(),
        batch(
            vec![
                ("host", Col::Tag(vec![Some(host)])),
                ("x", Col::F(vec![Some(x)])),
            ],
            vec![t],
        ),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_conflicts_within_and_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = local_store(dir.path());
    {
        let s = Storage::open(config(dir.path(), store.clone()))
            .await
            .unwrap();
        s.write("db", cpu("a", 1.0, T0), &[]).await.unwrap();
        let int_v = vec![(
            "cpu".to_string(),
            batch(vec![("v", Col::I(vec![Some(1)]))], vec![T0]),
        )];
        let err = s.write("db", int_v.clone(), &[]).await.unwrap_err();
        assert_eq!(err.code(), "schema_conflict");
        assert!(
            matches!(&err, StorageError::SchemaConflict { column, .. } if column == "v"),
            "{err}"
        );
        // a tag named like an existing field
        let tag_v = vec![(
            "cpu".to_string(),
            batch(vec![("v", Col::Tag(vec![Some("x")]))], vec![T0]),
        )];
        assert_eq!(
            s.write("db", tag_v, &[]).await.unwrap_err().code(),
            "schema_conflict"
        );
        // new_columns disagreeing with the batch
        let bad = [NewColumn::new(
            "cpu",
            "w",
            ColumnType::Field(FieldType::Boolean),
        )];
        let w = vec![(
            "cpu".to_string(),
            batch(vec![("w", Col::S(vec![Some("s")]))], vec![T0]),
        )];
        assert_eq!(
            s.write("db", w, &bad).await.unwrap_err().code(),
            "schema_conflict"
        );
        // another table or database may use another type
        let mut other = int_v.clone();
        other[0].0 = "mem".into();
        s.write("db", other, &[]).await.unwrap();
        s.write("db2", int_v, &[]).await.unwrap();
        // rejected writes left nothing behind
        assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 1);
        assert_eq!(s.catalog().column("db", "cpu", "w"), None);
    } // dropped without flush

    let int_v = || {
        vec![(
            "cpu".to_string(),
            batch(vec![("v", Col::I(vec![Some(1)]))], vec![T0]),
        )]
    };
    let s = Storage::open(config(dir.path(), store.clone()))
        .await
        .unwrap();
    assert_eq!(
        s.write("db", int_v(), &[]).await.unwrap_err().code(),
        "schema_conflict"
    );
    s.shutdown().await.unwrap();

    // a fresh data directory against the same store finds the catalog mirror
    let dir2 = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir2.path(), store)).await.unwrap();
    assert_eq!(
        s.write("db", int_v(), &[]).await.unwrap_err().code(),
        "schema_conflict"
    );
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_conflicting_new_columns() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open_local(dir.path()).await);
    for round in 0..20 {
        let col: &'static str = Box::leak(format!("c{round}").into_boxed_str());
        let f = {
            let s = s.clone();
            tokio::spawn(async move {
                let b = batch(vec![(col, Col::F(vec![Some(1.0)]))], vec![T0]);
                s.write("db", vec![("m".into(), b)], &[]).await
            })
        };
        let i = {
            let s = s.clone();
            tokio::spawn(async move {
                let b = batch(vec![(col, Col::I(vec![Some(1)]))], vec![T0 + 1]);
                s.write("db", vec![("m".into(), b)], &[]).await
            })
        };
        let (f, i) = (f.await.unwrap(), i.await.unwrap());
        assert!(f.is_ok() != i.is_ok(), "exactly one wins: {f:?} {i:?}");
        let loser = if f.is_ok() { i } else { f };
        assert_eq!(loser.unwrap_err().code(), "schema_conflict");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_replay_after_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open_local(dir.path()).await;
        for i in 0..30 {
            s.write("db", cpu("a", i as f64, T0 + i * SEC), &[])
                .await
                .unwrap();
        }
        // part of it persisted, the rest only in the WAL
        s.flush().await.unwrap();
        for i in 30..50 {
            s.write("db", cpu("b", i as f64, T0 + i * SEC), &[])
                .await
                .unwrap();
        }
        s.write("db", cpu("a", -1.0, T0), &[]).await.unwrap(); // overwrites a file row
        // no flush, no shutdown: dropped like a crash
    }
    let s = open_local(dir.path()).await;
    assert_eq!(s.metrics().buffer_rows, 21);
    let rows = render(&s.scan("db", "cpu").await.unwrap());
    assert_eq!(rows.len(), 50);
    assert_eq!(rows[0], format!("host=a,v=-1,time={T0}"));
    assert_eq!(rows[49], format!("host=b,v=49,time={}", T0 + 49 * SEC));
    // and again, after a second crash with nothing new
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(
        s.scan("db", "cpu")
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        50
    );
}

fn wal_segments(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_is_truncated_after_persist() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_local(dir.path()).await;
    for i in 0..10 {
        s.write("db", cpu("a", 1.0, T0 + i), &[]).await.unwrap();
    }
    let before = wal_segments(dir.path());
    assert_eq!(before.len(), 1);
    let seg = dir.path().join("wal").join(&before[0]);
    assert!(std::fs::metadata(&seg).unwrap().len() > 1000);
    s.flush().await.unwrap();
    let after = wal_segments(dir.path());
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(
        after, before,
        "the written segment is deleted, a fresh one is current"
    );
    assert!(
        std::fs::metadata(dir.path().join("wal").join(&after[0]))
            .unwrap()
            .len()
            <= 4096,
        "only its header block"
    );
    assert!(
        dir.path().join("wal/spare.wal.free").exists(),
        "the persisted segment is kept for reuse"
    );
    // a write during the next cycle goes to the new segment, which survives until persisted
    s.write("db", cpu("a", 2.0, T0 + 100), &[]).await.unwrap();
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(s.metrics().buffer_rows, 1);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 11);
    // The reopened WAL writes to the spare: the first segment's (persisted) frames are still
    // in it, after the header. Replay must read only the one new row from it.
    let current = wal_segments(dir.path());
    let recycled = dir.path().join("wal").join(current.last().unwrap());
    assert!(std::fs::metadata(&recycled).unwrap().len() > 1000);
    s.write("db", cpu("a", 3.0, T0 + 200), &[]).await.unwrap();
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(s.metrics().buffer_rows, 2);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 12);
    s.flush().await.unwrap();
    assert_eq!(wal_segments(dir.path()).len(), 1);
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(s.metrics().buffer_rows, 0);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 12);
}

fn find_parquet(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(find_parquet(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_follow_the_layout_and_are_plain_parquet() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let s = open_local(dir.path()).await;
    // one batch spanning two days (UTC), unsorted
    let b = batch(
        vec![
            ("host", Col::Tag(vec![Some("b"), Some("a"), Some("a")])),
            ("v", Col::F(vec![Some(1.0), Some(2.0), Some(3.0)])),
        ],
        vec![T0 + DAY + 5, T0 + DAY - 1, T0],
    );
    s.write("mydb/rp", vec![("cpu".into(), b)], &[])
        .await
        .unwrap();
    s.flush().await.unwrap();

    let files = s.list_files("mydb/rp", "cpu");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].date(), "2024-01-01");
    assert_eq!(files[1].date(), "2024-01-02");
    let on_disk = find_parquet(&dir.path().join("store"));
    assert_eq!(on_disk.len(), 2);
    let mut total = 0;
    for (i, p) in on_disk.iter().enumerate() {
        let rel = p.strip_prefix(dir.path().join("store")).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(parts.len(), 5, "{parts:?}");
        assert_eq!(parts[0], "data");
        assert_eq!(parts[1], "mydb%2Frp");
        assert_eq!(parts[2], "cpu");
        assert_eq!(parts[3], ["2024-01-01", "2024-01-02"][i]);
        let name = &parts[4];
        let (seq, rest) = name.split_once('-').unwrap();
        assert_eq!(seq.len(), 20);
        assert!(seq.parse::<u64>().is_ok() && rest.ends_with(".parquet"));

        // read back with the plain parquet reader, no influxgate code involved
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        total += total_rows(&batches);
        let rows = render(&batches);
        if i == 0 {
            assert_eq!(
                rows,
                vec![
                    format!("host=a,v=3,time={T0}"),
                    format!("host=a,v=2,time={}", T0 + DAY - 1)
                ]
            );
        } else {
            assert_eq!(rows, vec![format!("host=b,v=1,time={}", T0 + DAY + 5)]);
        }
        let schema = batches[0].schema();
        assert_eq!(
            schema.field_with_name("time").unwrap().data_type(),
            &arrow::datatypes::DataType::Timestamp(
                arrow::datatypes::TimeUnit::Nanosecond,
                Some("UTC".into())
            )
        );
    }
    assert_eq!(total, 3);
    assert_eq!(s.metrics().persisted_rows, 3);
    assert_eq!(s.metrics().persisted_files, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_all_acked_and_present() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open_local(dir.path()).await);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let host: &'static str = Box::leak(format!("h{w}").into_boxed_str());
            for i in 0..50 {
                s.write("db", cpu(host, i as f64, T0 + i * SEC), &[])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = s.metrics();
    assert_eq!(m.wal_entries, 800);
    assert!(m.wal_fsyncs >= 1 && m.wal_fsyncs <= 800, "{m:?}");
    assert_eq!(m.wal_fsync_seconds.buckets.last().unwrap().1, m.wal_fsyncs);
    // Every committed write's wait for its group commit is observed (zero when it was logged
    // before its rows were ready).
    assert_eq!(m.wal_commit_wait_seconds.count, 800);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 800);
    s.flush().await.unwrap();
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_returns_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), local_store(dir.path()));
    cfg.max_buffer_bytes = 16;
    let s = Storage::open(cfg).await.unwrap();
    // An empty buffer takes any write and a full one refuses the next. The first write also
    // wakes the persister, which may empty the buffer before the next write on a loaded
    // machine (seen once in a full test run): write until refused.
    let mut acked = 0;
    let err = loop {
        match s.write("db", cpu("a", 1.0, T0 + acked), &[]).await {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 50, "never refused");
    };
    assert_eq!(err.code(), "overloaded");
    assert_eq!(err.retry_after_secs(), Some(1));
    assert!(matches!(err, StorageError::Overloaded { .. }));
    assert_eq!(s.metrics().rejected_overloaded, 1);
    // the rejected write is not there
    assert_eq!(
        total_rows(&s.scan("db", "cpu").await.unwrap()),
        acked as usize
    );
    s.flush().await.unwrap();
    assert_eq!(s.metrics().buffer_bytes, 0);
    s.write("db", cpu("a", 2.0, T0 + acked), &[]).await.unwrap();
    assert_eq!(
        total_rows(&s.scan("db", "cpu").await.unwrap()),
        acked as usize + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_object_store_keeps_acked_data_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = FlakyStore::new(local_store(dir.path()));
    let one = cpu("a", 0.0, T0)[0].1.get_array_memory_size();
    let mut cfg = config(dir.path(), flaky.clone());
    cfg.max_buffer_bytes = one * 10;
    cfg.persist_check_interval = Duration::from_millis(20);
    cfg.persist_threshold_bytes = one * 2;
    cfg.persist_retry_max_backoff = Duration::from_millis(200);
    let s = Storage::open(cfg).await.unwrap();
    flaky.set_failing(true);

    let mut acked = 0;
    let err = loop {
        match s
            .write("db", cpu("a", acked as f64, T0 + acked * SEC), &[])
            .await
        {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        if acked == 3 {
            // make sure a persist attempt failed before the buffer fills up
            assert_eq!(s.flush().await.unwrap_err().code(), "object_store");
        }
        assert!(acked < 100, "never refused");
    };
    assert!(acked >= 5, "acked {acked}");
    assert_eq!(err.code(), "unavailable", "{err}");
    assert!(err.retry_after_secs().unwrap() >= 1);
    assert!(s.metrics().persist_errors >= 1);
    assert!(s.list_files("db", "cpu").is_empty());
    // everything acked is readable meanwhile
    assert_eq!(
        total_rows(&s.scan("db", "cpu").await.unwrap()),
        acked as usize
    );

    flaky.set_failing(false);
    s.flush().await.unwrap();
    assert!(!s.list_files("db", "cpu").is_empty());
    assert_eq!(s.metrics().buffer_rows, 0);
    assert_eq!(
        total_rows(&s.scan("db", "cpu").await.unwrap()),
        acked as usize
    );
    s.write("db", cpu("a", -1.0, T0 - SEC), &[]).await.unwrap();
    s.shutdown().await.unwrap();

    let s = Storage::open(config(dir.path(), flaky.clone()))
        .await
        .unwrap();
    assert_eq!(
        total_rows(&s.scan("db", "cpu").await.unwrap()),
        acked as usize + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_store_then_crash_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = FlakyStore::new(local_store(dir.path()));
    {
        let s = Storage::open(config(dir.path(), flaky.clone()))
            .await
            .unwrap();
        s.write("db", cpu("a", 1.0, T0), &[]).await.unwrap();
        flaky.set_failing(true);
        assert!(s.flush().await.is_err());
        s.write("db", cpu("a", 2.0, T0 + 1), &[]).await.unwrap();
    }
    flaky.set_failing(false);
    let s = Storage::open(config(dir.path(), flaky)).await.unwrap();
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 2);
    s.flush().await.unwrap();
    assert_eq!(wal_segments(dir.path()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_files_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), local_store(dir.path()));
    cfg.compaction_min_files = 3;
    let s = Storage::open(cfg).await.unwrap();
    for round in 0..4 {
        for h in ["a", "b"] {
            s.write("db", cpu(h, round as f64, T0 + round * SEC), &[])
                .await
                .unwrap();
        }
        // the same point every round: only the last value survives
        s.write("db", cpu("c", round as f64, T0), &[])
            .await
            .unwrap();
        // another day
        s.write("db", cpu("a", round as f64, T0 + 2 * DAY), &[])
            .await
            .unwrap();
        s.flush().await.unwrap();
    }
    assert_eq!(s.list_files("db", "cpu").len(), 8);
    let before = render(&s.scan("db", "cpu").await.unwrap());
    assert_eq!(before.len(), 10);
    assert!(before.contains(&format!("host=c,v=3,time={T0}")));
    assert_eq!(s.compact().await.unwrap(), 2);
    let files = s.list_files("db", "cpu");
    assert_eq!(files.len(), 2);
    assert_eq!(render(&s.scan("db", "cpu").await.unwrap()), before);
    assert_eq!(
        find_parquet(&dir.path().join("store")).len(),
        2,
        "inputs deleted"
    );
    assert_eq!(s.compact().await.unwrap(), 0, "nothing left to compact");
    assert_eq!(s.metrics().compactions, 2);
    // the index survives a restart (it is the store listing)
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(s.list_files("db", "cpu"), files);
    assert_eq!(render(&s.scan("db", "cpu").await.unwrap()), before);
}

/// Compacted inputs leave the index at once but stay in the store for `delete_grace`: a query
/// that listed them just before still reads them. Shutdown deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_inputs_stay_readable_for_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), local_store(dir.path()));
    cfg.compaction_min_files = 2;
    cfg.delete_grace = Duration::from_secs(3600);
    let s = Storage::open(cfg).await.unwrap();
    for round in 0..2 {
        s.write("db", cpu("a", round as f64, T0 + round * SEC), &[])
            .await
            .unwrap();
        s.flush().await.unwrap();
    }
    let listed = s.list_files("db", "cpu");
    assert_eq!(listed.len(), 2);
    assert_eq!(s.compact().await.unwrap(), 1);
    assert_eq!(s.list_files("db", "cpu").len(), 1);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 2);
    let (store, _) = s.object_store();
    for f in &listed {
        let bytes = store.get(&f.path).await.unwrap().bytes().await.unwrap();
        assert!(!bytes.is_empty(), "{} still readable", f.path);
    }
    assert_eq!(find_parquet(&dir.path().join("store")).len(), 3);
    s.shutdown().await.unwrap();
    assert_eq!(find_parquet(&dir.path().join("store")).len(), 1);
}

/// A past day that stopped receiving files is merged into one file even below
/// `compaction_min_files`; today's files and a day that just got a file are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_days_end_as_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), local_store(dir.path()));
    cfg.compaction_min_files = 100;
    cfg.compaction_cold_after = Some(Duration::from_millis(300));
    let s = Storage::open(cfg).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    for round in 0..2 {
        s.write("db", cpu("a", round as f64, T0 + round * SEC), &[])
            .await
            .unwrap();
        s.write("db", cpu("a", round as f64, now + round), &[])
            .await
            .unwrap();
        s.flush().await.unwrap();
    }
    let before = render(&s.scan("db", "cpu").await.unwrap());
    assert_eq!(s.list_files("db", "cpu").len(), 4);
    assert_eq!(
        s.compact().await.unwrap(),
        0,
        "the past day just got a file"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.compact().await.unwrap(), 1, "only the past day is cold");
    let days: Vec<i64> = s.list_files("db", "cpu").iter().map(|f| f.day).collect();
    let (t0_day, today) = (T0.div_euclid(DAY), now.div_euclid(DAY));
    assert_eq!(days.iter().filter(|d| **d == t0_day).count(), 1);
    assert_eq!(days.iter().filter(|d| **d == today).count(), 2);
    assert_eq!(render(&s.scan("db", "cpu").await.unwrap()), before);
    assert_eq!(s.compact().await.unwrap(), 0, "one file per cold day: done");

    // A late write to the compacted day makes it busy again until it cools down.
    s.write("db", cpu("b", 9.0, T0), &[]).await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(s.compact().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.compact().await.unwrap(), 1);
    assert_eq!(s.list_files("db", "cpu").len(), 3);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 5);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_days() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_local(dir.path()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    s.write("db", cpu("a", 1.0, now - 10 * DAY), &[])
        .await
        .unwrap();
    s.write("db", cpu("a", 2.0, now - 3 * DAY), &[])
        .await
        .unwrap();
    s.write("db", cpu("a", 3.0, now), &[]).await.unwrap();
    s.write("other", cpu("a", 1.0, now - 10 * DAY), &[])
        .await
        .unwrap();
    s.flush().await.unwrap();
    assert_eq!(s.retention("db"), None);
    assert_eq!(
        s.enforce_retention().await.unwrap(),
        0,
        "keep forever by default"
    );

    s.set_retention("db", Duration::from_secs(5 * 86_400))
        .await
        .unwrap();
    assert_eq!(s.enforce_retention().await.unwrap(), 1);
    let rows = render(&s.scan("db", "cpu").await.unwrap());
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r.contains("v=1,")));
    assert_eq!(total_rows(&s.scan("other", "cpu").await.unwrap()), 1);
    assert_eq!(find_parquet(&dir.path().join("store")).len(), 3);
    assert_eq!(s.metrics().retention_deleted_files, 1);
    drop(s);
    let s = open_local(dir.path()).await;
    assert_eq!(s.retention("db"), Some(Duration::from_secs(5 * 86_400)));
    s.clear_retention("db").await.unwrap();
    assert_eq!(s.retention("db"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_persist_by_age_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), local_store(dir.path()));
    cfg.persist_max_age = Duration::from_millis(100);
    cfg.persist_check_interval = Duration::from_millis(20);
    let s = Storage::open(cfg).await.unwrap();
    s.write("db", cpu("a", 1.0, T0), &[]).await.unwrap();
    let mut waited = 0;
    while s.metrics().persisted_files == 0 {
        assert!(waited < 200, "not persisted in time");
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += 1;
    }
    assert_eq!(s.list_files("db", "cpu").len(), 1);
    assert_eq!(total_rows(&s.scan("db", "cpu").await.unwrap()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_batches_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_local(dir.path()).await;
    let no_time = arrow::array::RecordBatch::try_from_iter(vec![(
        "v",
        Arc::new(arrow::array::Float64Array::from(vec![1.0])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let err = s
        .write("db", vec![("m".into(), no_time)], &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_batch");
    s.shutdown().await.unwrap();
    assert_eq!(
        s.write("db", cpu("a", 1.0, T0), &[])
            .await
            .unwrap_err()
            .code(),
        "shut_down"
    );
}
