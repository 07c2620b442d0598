//! The engine over real storage: rows written through `Storage::write` are queried with SQL, from
//! the write buffer, from Parquet files, and from both, deduplicated (the later write wins field
//! by field), with day partitions outside the time range never read.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::object_store::ObjectStoreExt;
use influxgate_engine::{Engine, QueryLimits};
use influxgate_storage::{Storage, StorageConfig, object_store_from_url};

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000_000_000;
const SEC: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SEC;

struct Fixture {
    _dir: tempfile::TempDir,
    storage: Arc<Storage>,
    engine: Engine,
}

async fn open() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/parquet", dir.path().display());
    let (store, prefix) = object_store_from_url(&url, Vec::<(String, String)>::new()).unwrap();
    let mut config = StorageConfig::new(store, prefix, dir.path().join("wal"));
    // Persist only when the test says so.
    config.persist_max_age = Duration::from_secs(3600);
    config.persist_threshold_bytes = 1 << 30;
    config.compaction_interval = None;
    config.retention_interval = None;
    let storage = Arc::new(Storage::open(config).await.unwrap());
    let engine = Engine::new(storage.clone());
    Fixture {
        _dir: dir,
        storage,
        engine,
    }
}

enum Col {
    Tag(Vec<&'static str>),
    F(Vec<Option<f64>>),
    I(Vec<Option<i64>>),
    S(Vec<Option<&'static str>>),
}

fn batch(cols: Vec<(&str, Col)>, times: Vec<i64>) -> RecordBatch {
    let mut arrays: Vec<(String, ArrayRef)> = cols
        .into_iter()
        .map(|(n, c)| {
            let a: ArrayRef = match c {
                Col::Tag(v) => Arc::new(v.into_iter().collect::<DictionaryArray<Int32Type>>()),
                Col::F(v) => Arc::new(Float64Array::from(v)),
                Col::I(v) => Arc::new(Int64Array::from(v)),
                Col::S(v) => Arc::new(StringArray::from(v)),
            };
            (n.to_string(), a)
        })
        .collect();
    arrays.push((
        "time".into(),
        Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")),
    ));
    RecordBatch::try_from_iter(arrays).unwrap()
}

/// A fixture whose `cpu` table holds [`first_write`] in one Parquet file, nothing buffered.
async fn open_with_first_file() -> Fixture {
    let f = open().await;
    write(&f, "cpu", first_write()).await;
    f.storage.flush().await.unwrap();
    f
}

async fn write(f: &Fixture, table: &str, b: RecordBatch) {
    f.storage
        .write("db", vec![(table.to_string(), b)], &[])
        .await
        .unwrap();
}

/// An engine over the fixture's storage that reads every file from the store as Parquet (no
/// decoded columns or whole files kept).
fn parquet_only(f: &Fixture) -> Engine {
    let limits = QueryLimits {
        decoded_cache_bytes: 0,
        parquet_cache_bytes: 0,
        ..QueryLimits::default()
    };
    Engine::with_config(f.storage.clone(), Default::default(), limits)
}

async fn query(f: &Fixture, sql: &str) -> String {
    let batches = f.engine.sql("db", sql).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

fn first_write() -> RecordBatch {
    batch(
        vec![
            ("host", Col::Tag(vec!["a", "b", "a"])),
            ("usage", Col::F(vec![Some(1.0), Some(2.0), Some(3.0)])),
            ("n", Col::I(vec![Some(10), Some(20), Some(30)])),
        ],
        vec![T0, T0, T0 + SEC],
    )
}

/// Overwrites (a, T0): `usage` only, `n` keeps its value; adds (b, T0+1s).
fn second_write() -> RecordBatch {
    batch(
        vec![
            ("host", Col::Tag(vec!["a", "b"])),
            ("usage", Col::F(vec![Some(1.5), Some(4.0)])),
        ],
        vec![T0, T0 + SEC],
    )
}

const MERGED: &str = "\
+------+----+-------+----------------------+
| host | n  | usage | time                 |
+------+----+-------+----------------------+
| a    | 10 | 1.5   | 2024-01-01T00:00:00Z |
| a    | 30 | 3.0   | 2024-01-01T00:00:01Z |
| b    | 20 | 2.0   | 2024-01-01T00:00:00Z |
| b    |    | 4.0   | 2024-01-01T00:00:01Z |
+------+----+-------+----------------------+";

const ALL: &str = r#"SELECT host, n, usage, time FROM "db"."cpu" ORDER BY host, time"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_only() {
    let f = open().await;
    write(&f, "cpu", first_write()).await;
    write(&f, "cpu", second_write()).await;
    assert_eq!(query(&f, ALL).await, MERGED);
    let s = f.engine.last_scan("db", "cpu").unwrap();
    assert_eq!((s.files_total, s.buffer_rows), (0, 4));
    // Unqualified names resolve in the query's database.
    let b = f
        .engine
        .sql("db", "SELECT count(*) AS c FROM cpu")
        .await
        .unwrap();
    assert!(
        pretty_format_batches(&b)
            .unwrap()
            .to_string()
            .contains("| 4 |")
    );
    assert!(f.engine.sql("db", "SELECT * FROM nope").await.is_err());
    assert!(f.engine.sql("other", "SELECT * FROM cpu").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_only() {
    let f = open().await;
    write(&f, "cpu", first_write()).await;
    write(&f, "cpu", second_write()).await;
    f.storage.flush().await.unwrap();
    assert_eq!(query(&f, ALL).await, MERGED);
    let s = f.engine.last_scan("db", "cpu").unwrap();
    assert_eq!(
        (
            s.files_total,
            s.files_scanned,
            s.files_merged,
            s.buffer_rows
        ),
        (1, 1, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_buffer_deduplicated() {
    let f = open_with_first_file().await;
    write(&f, "cpu", second_write()).await;
    assert_eq!(query(&f, ALL).await, MERGED);
    let s = f.engine.last_scan("db", "cpu").unwrap();
    assert_eq!(
        (
            s.files_total,
            s.files_scanned,
            s.files_merged,
            s.buffer_rows
        ),
        (1, 0, 1, 2)
    );
    // Two files of the same day are merged too, the later file winning.
    f.storage.flush().await.unwrap();
    assert_eq!(query(&f, ALL).await, MERGED);
    let s = f.engine.last_scan("db", "cpu").unwrap();
    assert_eq!(
        (
            s.files_total,
            s.files_scanned,
            s.files_merged,
            s.buffer_rows
        ),
        (2, 0, 2, 0)
    );
    // Aggregates see the merged rows.
    let out = query(
        &f,
        r#"SELECT host, sum(usage) AS s, count(n) AS c FROM "db"."cpu" GROUP BY host ORDER BY host"#,
    )
    .await;
    assert!(out.contains("| a    | 4.5 | 2 |"), "{out}");
    assert!(out.contains("| b    | 6.0 | 1 |"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_filters_apply_after_deduplication() {
    let f = open_with_first_file().await;
    // (a, T0) now has usage -1: a filter on usage must see the new value, not the file's.
    write(
        &f,
        "cpu",
        batch(
            vec![
                ("host", Col::Tag(vec!["a"])),
                ("usage", Col::F(vec![Some(-1.0)])),
            ],
            vec![T0],
        ),
    )
    .await;
    let out = query(
        &f,
        r#"SELECT host, usage, time FROM "db"."cpu" WHERE usage > 0 AND host = 'a' ORDER BY time"#,
    )
    .await;
    assert_eq!(
        out,
        "\
+------+-------+----------------------+
| host | usage | time                 |
+------+-------+----------------------+
| a    | 3.0   | 2024-01-01T00:00:01Z |
+------+-------+----------------------+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_range_prunes_day_partitions() {
    let f = open().await;
    for day in 0..3 {
        let t = T0 + day * DAY;
        write(
            &f,
            "cpu",
            batch(
                vec![
                    ("host", Col::Tag(vec!["a", "b"])),
                    (
                        "usage",
                        Col::F(vec![Some(day as f64), Some(10.0 + day as f64)]),
                    ),
                ],
                vec![t, t + 60 * SEC],
            ),
        )
        .await;
    }
    f.storage.flush().await.unwrap();
    assert_eq!(f.storage.list_files("db", "cpu").len(), 3);
    // Buffered rows of a fourth day, outside the range.
    write(
        &f,
        "cpu",
        batch(
            vec![
                ("host", Col::Tag(vec!["a"])),
                ("usage", Col::F(vec![Some(99.0)])),
            ],
            vec![T0 + 3 * DAY],
        ),
    )
    .await;
    let sql = r#"SELECT host, usage FROM "db"."cpu" WHERE time >= to_timestamp_nanos(1704153600000000000) AND time < to_timestamp_nanos(1704240000000000000) ORDER BY host"#;
    let out = query(&f, sql).await;
    assert_eq!(
        out,
        "\
+------+-------+
| host | usage |
+------+-------+
| a    | 1.0   |
| b    | 11.0  |
+------+-------+"
    );
    let s = f.engine.last_scan("db", "cpu").unwrap();
    assert_eq!(
        (
            s.files_total,
            s.files_pruned_by_day,
            s.files_scanned,
            s.buffer_rows
        ),
        (3, 2, 1, 0)
    );
    assert_eq!(s.time_range, (T0 + DAY, T0 + 2 * DAY - 1));
    // The plan reads exactly one file; it lies wholly inside the range, so no time filter is
    // evaluated on its rows (the scan answers the time bounds exactly).
    let plan = f.engine.explain("db", sql).await.unwrap();
    assert_eq!(plan.matches(".parquet").count(), 1, "{plan}");
    assert!(!plan.contains("predicate="), "{plan}");
    assert!(!plan.contains("FilterExec"), "{plan}");
    // A range crossing the file (its second row only) is filtered exactly, and prunes.
    let sql = r#"SELECT host, usage FROM "db"."cpu" WHERE time > to_timestamp_nanos(1704153600000000000) AND time < to_timestamp_nanos(1704240000000000000) ORDER BY host"#;
    let out = query(&f, sql).await;
    assert_eq!(
        out,
        "\
+------+-------+
| host | usage |
+------+-------+
| b    | 11.0  |
+------+-------+"
    );
    let plan = f.engine.explain("db", sql).await.unwrap();
    assert_eq!(plan.matches(".parquet").count(), 1, "{plan}");
    // (A file read from Parquet: DataFusion moves the scan's exact filter into the reader's
    // row filter; decoded columns are filtered above the scan.)
    assert!(
        plan.contains("predicate=") || plan.contains("FilterExec: time@"),
        "{plan}"
    );
    // A time condition the scan cannot answer exactly (OR) still prunes, and DataFusion
    // filters it.
    let sql = r#"SELECT host, usage FROM "db"."cpu" WHERE time = to_timestamp_nanos(1704153600000000000) OR time = to_timestamp_nanos(1704153660000000000) ORDER BY host"#;
    let out = query(&f, sql).await;
    assert!(
        out.contains("| a    | 1.0   |") && out.contains("| b    | 11.0  |"),
        "{out}"
    );
    assert_eq!(
        f.engine.last_scan("db", "cpu").unwrap().files_pruned_by_day,
        2
    );
    // Without a time range every day is read, the buffer included.
    let out = query(&f, r#"SELECT count(*) AS c FROM "db"."cpu""#).await;
    assert!(out.contains("| 7 |"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_columns_and_tags_across_files_and_buffer() {
    let f = open_with_first_file().await;
    write(
        &f,
        "cpu",
        batch(
            vec![
                ("host", Col::Tag(vec!["c"])),
                ("region", Col::Tag(vec!["eu"])),
                ("label", Col::S(vec![Some("x")])),
            ],
            vec![T0 + 2 * DAY],
        ),
    )
    .await;
    let out = query(
        &f,
        r#"SELECT host, region, label, usage FROM "db"."cpu" ORDER BY time, host"#,
    )
    .await;
    assert_eq!(
        out,
        "\
+------+--------+-------+-------+
| host | region | label | usage |
+------+--------+-------+-------+
| a    |        |       | 1.0   |
| b    |        |       | 2.0   |
| a    |        |       | 3.0   |
| c    | eu     | x     |       |
+------+--------+-------+-------+"
    );
    let out = query(
        &f,
        r#"SELECT DISTINCT host FROM "db"."cpu" WHERE region IS NULL ORDER BY host"#,
    )
    .await;
    assert!(out.contains("| a    |") && out.contains("| b    |") && !out.contains("| c "));
}

/// `n` rows of host `h`, one per second from `from`, with `usage = base + i`.
fn run_of(h: &'static str, from: i64, n: usize, base: f64) -> RecordBatch {
    batch(
        vec![
            ("host", Col::Tag(vec![h; n])),
            (
                "usage",
                Col::F((0..n).map(|i| Some(base + i as f64)).collect()),
            ),
        ],
        (0..n as i64).map(|i| from + i * SEC).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partly_overlapping_sources_merge_only_their_overlap() {
    let f = open().await;
    // File 1: seconds 0..10. File 2: seconds 8..20, rewriting 8 and 9. Buffer: 18..25,
    // rewriting 18 and 19. Contested windows: [8, 9] and [18, 19].
    write(&f, "cpu", run_of("a", T0, 10, 0.0)).await;
    f.storage.flush().await.unwrap();
    write(&f, "cpu", run_of("a", T0 + 8 * SEC, 12, 100.0)).await;
    f.storage.flush().await.unwrap();
    write(&f, "cpu", run_of("a", T0 + 18 * SEC, 7, 1000.0)).await;
    let expected: Vec<f64> = (0..8)
        .map(|i| i as f64)
        .chain((0..10).map(|i| 100.0 + i as f64))
        .chain((0..7).map(|i| 1000.0 + i as f64))
        .collect();
    let out = f
        .engine
        .sql(
            "db",
            r#"SELECT usage FROM "db"."cpu" WHERE host = 'a' ORDER BY time"#,
        )
        .await
        .unwrap();
    let got: Vec<f64> = out
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(got, expected);
    let s = f.engine.last_scan("db", "cpu").unwrap();
    assert_eq!(
        (
            s.files_total,
            s.files_merged,
            s.files_partial,
            s.rows_merged
        ),
        (2, 2, 2, 4),
        "{s:?}"
    );
    // Without the time column in the projection, and aggregated.
    let out = query(
        &f,
        r#"SELECT count(*) AS c, sum(usage) AS s, count(DISTINCT host) AS h FROM "db"."cpu""#,
    )
    .await;
    let sum: f64 = expected.iter().sum();
    assert!(out.contains(&format!("| 25 | {sum:.1} | 1 |")), "{out}");
    // A time range that excludes one window still merges correctly.
    let out = query(
        &f,
        r#"SELECT count(*) AS c, min(usage) AS m FROM "db"."cpu" WHERE time >= to_timestamp_nanos(1704067209000000000)"#,
    )
    .await;
    assert!(out.contains("| 16 | 101.0 |"), "{out}");
    // Both files cross the range (seconds 2..14).
    let out = query(
        &f,
        r#"SELECT count(*) AS c, min(usage) AS m, max(usage) AS x FROM "db"."cpu" WHERE time >= to_timestamp_nanos(1704067202000000000) AND time < to_timestamp_nanos(1704067215000000000)"#,
    )
    .await;
    assert!(out.contains("| 13 | 2.0 | 106.0 |"), "{out}");
    // Both files wholly inside the range (seconds 0..19), the buffer crossing it.
    let out = query(
        &f,
        r#"SELECT count(*) AS c, sum(usage) AS s FROM "db"."cpu" WHERE time >= to_timestamp_nanos(1704067200000000000) AND time <= to_timestamp_nanos(1704067219000000000)"#,
    )
    .await;
    assert!(out.contains("| 20 | 3074.0 |"), "{out}");
}

#[test]
fn contested_windows() {
    use influxgate_engine::provider::contested;
    assert_eq!(contested(&[(0, 9), (10, 20)]), vec![]);
    assert_eq!(contested(&[(0, 10), (10, 20)]), vec![(10, 10)]);
    assert_eq!(
        contested(&[(8, 19), (0, 9), (18, 24)]),
        vec![(8, 9), (18, 19)]
    );
    assert_eq!(contested(&[(0, 100), (10, 20), (15, 30)]), vec![(10, 30)]);
    assert_eq!(contested(&[(0, 5)]), vec![]);
    assert_eq!(contested(&[(i64::MIN, i64::MAX), (-5, 5)]), vec![(-5, 5)]);
    assert_eq!(
        contested(&[(i64::MIN, i64::MAX), (i64::MIN, i64::MAX)]),
        vec![(i64::MIN, i64::MAX)]
    );
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `last()` of `x` with `y` riding along, and the hosts present, over `from`.
async fn lasts(f: &Fixture, from: &str) -> String {
    query(
        f,
        &format!(
            "SELECT host, \
               first_value(time ORDER BY time DESC) FILTER (WHERE x IS NOT NULL) AS t, \
               first_value(x ORDER BY time DESC) FILTER (WHERE x IS NOT NULL) AS x, \
               first_value(y ORDER BY time DESC) FILTER (WHERE x IS NOT NULL) AS y, \
               first_value(y ORDER BY time DESC) FILTER (WHERE y IS NOT NULL) AS last_y \
             FROM {from} GROUP BY host ORDER BY host"
        ),
    )
    .await
}

fn xy(
    hosts: Vec<&'static str>,
    x: Vec<Option<f64>>,
    y: Vec<Option<i64>>,
    t: Vec<i64>,
) -> RecordBatch {
    batch(
        vec![
            ("host", Col::Tag(hosts)),
            ("x", Col::F(x)),
            ("y", Col::I(y)),
        ],
        t,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_rows_answer_like_the_table() {
    let f = open().await;
    let table = r#""db"."cpu""#;
    let last = "last_rows('db', 'cpu')";
    // File 1 (day 0): a at 1..3, b at 2.
    write(
        &f,
        "cpu",
        xy(
            vec!["a", "a", "a", "b"],
            vec![Some(1.0), Some(2.0), Some(3.0), Some(20.0)],
            vec![Some(10), Some(11), None, Some(200)],
            vec![T0 + SEC, T0 + 2 * SEC, T0 + 3 * SEC, T0 + 2 * SEC],
        ),
    )
    .await;
    f.storage.flush().await.unwrap();
    assert_eq!(lasts(&f, last).await, lasts(&f, table).await);
    // File 2 rewrites y of (a, 3s): the point x's last value comes from now carries y = 99,
    // though file 2's own latest y is later (5s). Day 1 gets c.
    write(
        &f,
        "cpu",
        xy(
            vec!["a", "a", "c"],
            vec![None, None, Some(7.0)],
            vec![Some(99), Some(12), None],
            vec![T0 + 3 * SEC, T0 + 5 * SEC, T0 + DAY],
        ),
    )
    .await;
    f.storage.flush().await.unwrap();
    let want = lasts(&f, table).await;
    assert!(
        squash(&want).contains("| a | 2024-01-01T00:00:03Z | 3.0 | 99 | 12 |"),
        "{want}"
    );
    assert_eq!(lasts(&f, last).await, want);
    // Buffered rows overlapping file 2, and a new series.
    write(
        &f,
        "cpu",
        xy(
            vec!["a", "d"],
            vec![Some(4.0), Some(1.5)],
            vec![None, Some(5)],
            vec![T0 + 4 * SEC, T0 + 4 * SEC],
        ),
    )
    .await;
    let want = lasts(&f, table).await;
    assert!(
        squash(&want).contains("| a | 2024-01-01T00:00:04Z | 4.0 | | 12 |"),
        "{want}"
    );
    assert_eq!(lasts(&f, last).await, want);
    // A few rows per series, the same series and tag values.
    let rows = query(&f, &format!("SELECT count(*) AS n FROM {last}")).await;
    // a: x at 4s, y at 5s; b, c, d: one point each.
    assert!(rows.contains("| 5 |"), "{rows}");
    let hosts = |from: &str| format!("SELECT DISTINCT host FROM {from} ORDER BY host");
    assert_eq!(
        query(&f, &hosts(last)).await,
        query(&f, &hosts(table)).await
    );
    // Buffered rows newer than every file (the usual case) take the cached answer of the
    // files plus the buffer's: right before and after the cache is filled, and after the file
    // set changes.
    f.storage.flush().await.unwrap();
    assert_eq!(lasts(&f, last).await, lasts(&f, table).await);
    write(
        &f,
        "cpu",
        xy(
            vec!["c", "e"],
            vec![Some(8.0), None],
            vec![None, Some(6)],
            vec![T0 + DAY + SEC, T0 + DAY + SEC],
        ),
    )
    .await;
    let want = lasts(&f, table).await;
    assert!(squash(&want).contains("| e |"), "{want}");
    assert_eq!(lasts(&f, last).await, want);
    assert_eq!(lasts(&f, last).await, want);
    f.storage.flush().await.unwrap();
    assert_eq!(lasts(&f, last).await, want);
    // Bad calls are plan errors, not panics.
    for bad in [
        "SELECT * FROM last_rows('db')",
        "SELECT * FROM last_rows('db', 'nope')",
        "SELECT * FROM last_rows(1, 2)",
    ] {
        assert!(f.engine.sql("db", bad).await.is_err(), "{bad}");
    }
}

/// A query planned before a compaction runs after it: the files it listed are out of the index
/// but still in the store for the storage's delete grace, so it reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_planned_before_a_compaction_still_reads_its_files() {
    let f = open().await;
    for i in 0..4 {
        write(
            &f,
            "cpu",
            xy(
                vec!["a", "b"],
                vec![Some(i as f64), Some(10.0 + i as f64)],
                vec![None, None],
                vec![T0 + i * SEC, T0 + i * SEC],
            ),
        )
        .await;
        f.storage.flush().await.unwrap();
    }
    let sql = "SELECT count(x) AS n, sum(x) AS s FROM cpu";
    let plan = f.engine.physical_plan("db", sql).await.unwrap();
    assert_eq!(f.storage.compact().await.unwrap(), 1);
    assert_eq!(f.storage.list_files("db", "cpu").len(), 1);
    let ctx = f.engine.session("db");
    let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
        .await
        .unwrap();
    let got = pretty_format_batches(&batches).unwrap().to_string();
    assert!(got.contains("| 8 | 52.0 |"), "{got}");
    assert_eq!(query(&f, sql).await, got);
}

/// A repeated statement reuses its optimized plan but still reads the current rows, is planned
/// again once the table gains a column, and a statement calling `now()` is never kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_statements_reuse_plans_and_see_new_rows_and_columns() {
    let f = open().await;
    write(&f, "cpu", first_write()).await;
    let star = r#"SELECT * FROM "db"."cpu" ORDER BY host, time"#;
    let before = query(&f, star).await;
    assert_eq!(f.engine.cached_plans(), 1);
    assert_eq!(query(&f, star).await, before);
    assert_eq!(f.engine.cached_plans(), 1);

    // New rows, in files and in the buffer, with the cached plan.
    f.storage.flush().await.unwrap();
    write(&f, "cpu", second_write()).await;
    assert_eq!(query(&f, ALL).await, MERGED);
    assert_eq!(query(&f, ALL).await, MERGED);

    // A new column: `*` now includes it.
    write(
        &f,
        "cpu",
        batch(
            vec![
                ("host", Col::Tag(vec!["c"])),
                ("region", Col::Tag(vec!["eu"])),
            ],
            vec![T0 + 2 * SEC],
        ),
    )
    .await;
    let after = query(&f, star).await;
    assert!(!before.contains("region"), "{before}");
    assert!(
        after.contains("region") && after.contains("| c "),
        "{after}"
    );

    // `now()` is folded into a constant by the optimizer: such plans are not kept.
    let kept = f.engine.cached_plans();
    let now = r#"SELECT count(*) AS n FROM "db"."cpu" WHERE time < now()"#;
    assert!(query(&f, now).await.contains("| 5 |"));
    assert_eq!(f.engine.cached_plans(), kept);
}

/// A statement repeated while nothing changes runs its kept physical plan again; a write, a
/// persist and a compaction each make it plan again and read the new state; a TopK plan (its
/// dynamic filter cannot be reset) is never run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_plans_are_reused_only_while_the_data_is_unchanged() {
    let f = open_with_first_file().await;
    let sql = r#"SELECT host, count(*) AS n, sum(usage) AS s FROM "db"."cpu" GROUP BY host ORDER BY host"#;
    let first = query(&f, sql).await;
    assert_eq!(f.engine.physical_plan_reuses(), 0);
    assert_eq!(query(&f, sql).await, first);
    assert_eq!(query(&f, sql).await, first);
    assert_eq!(
        f.engine.physical_plan_reuses(),
        1,
        "planned twice, then reused"
    );

    // A write: the buffer changed, so the new rows are read by a new plan.
    write(&f, "cpu", second_write()).await;
    let written = query(&f, sql).await;
    assert_ne!(written, first);
    assert_eq!(f.engine.physical_plan_reuses(), 1);
    assert_eq!(query(&f, sql).await, written);
    assert_eq!(f.engine.physical_plan_reuses(), 2);

    // A persist and a compaction move the rows: same answer, from new plans.
    f.storage.flush().await.unwrap();
    assert_eq!(query(&f, sql).await, written);
    assert_eq!(f.engine.physical_plan_reuses(), 2);
    f.storage.compact().await.unwrap();
    assert_eq!(query(&f, sql).await, written);

    let top = r#"SELECT host, usage FROM "db"."cpu" ORDER BY time DESC, host LIMIT 1"#;
    let reuses = f.engine.physical_plan_reuses();
    let once = query(&f, top).await;
    for _ in 0..3 {
        assert_eq!(query(&f, top).await, once);
    }
    assert_eq!(f.engine.physical_plan_reuses(), reuses);
}

/// After a filtered query, the session's metadata cache holds each file's footer with its page
/// index, so the next query neither reads nor parses the page index again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_indexes_are_cached_with_the_footer() {
    use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
    let f = open_with_first_file().await;
    let files = f.storage.list_files("db", "cpu");
    assert_eq!(files.len(), 1);
    let got = query(
        &f,
        r#"SELECT usage FROM "db"."cpu" WHERE host = 'a' ORDER BY time"#,
    )
    .await;
    assert!(got.contains("| 3.0 "), "{got}");
    let cache = f
        .engine
        .session("db")
        .runtime_env()
        .cache_manager
        .get_file_metadata_cache();
    let entry = cache.get(&files[0].path).expect("footer cached");
    let md = entry
        .file_metadata
        .as_any()
        .downcast_ref::<CachedParquetMetaData>()
        .expect("Parquet metadata")
        .parquet_metadata()
        .clone();
    assert!(md.column_index().is_some() && md.offset_index().is_some());
}

/// DataFusion's filter pushdown appends the filter above a scan to the predicate the provider
/// already gave it; each Parquet scan evaluates each condition once (and still prunes with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_predicates_hold_each_condition_once() {
    let mut f = open_with_first_file().await;
    // Files read from Parquet (decoded columns would apply no predicate at all).
    f.engine = parquet_only(&f);
    // One file wholly inside, one crossing the time range (a FilterExec of the provider's own
    // sits between them and the filter DataFusion pushes down). A field condition: tag
    // conditions are the scan's own (series selections), never pushed down.
    for sql in [
        r#"SELECT usage FROM "db"."cpu" WHERE usage > 2"#,
        r#"SELECT usage FROM "db"."cpu" WHERE usage > 2 AND time > to_timestamp_nanos(1704067200000000000)"#,
    ] {
        let plan = f.engine.explain("db", sql).await.unwrap();
        let scan = plan
            .lines()
            .find(|l| l.contains("DataSourceExec") && l.contains(".parquet"))
            .unwrap_or_else(|| panic!("no Parquet scan in {plan}"));
        let predicate = scan
            .split(", predicate=")
            .nth(1)
            .and_then(|p| p.split(", pruning_predicate=").next())
            .unwrap_or_else(|| panic!("no predicate in {scan}"));
        assert_eq!(predicate.matches("usage@").count(), 1, "{scan}");
    }
    let got = query(&f, r#"SELECT usage FROM "db"."cpu" WHERE usage > 2"#).await;
    assert!(got.contains("| 3.0 ") && !got.contains("| 2.0 "), "{got}");
}

/// `n` rows of each of `hosts` (racks `r0`, `r1` alternating), one per second from `from`.
fn hosts_batch(hosts: &[&'static str], from: i64, n: usize) -> RecordBatch {
    let mut host = Vec::new();
    let mut rack = Vec::new();
    let mut usage = Vec::new();
    let mut times = Vec::new();
    for (h, name) in hosts.iter().enumerate() {
        for i in 0..n {
            host.push(*name);
            rack.push(if h % 2 == 0 { "r0" } else { "r1" });
            usage.push(Some((h * 1000 + i) as f64));
            times.push(from + i as i64 * SEC);
        }
    }
    batch(
        vec![
            ("host", Col::Tag(host)),
            ("rack", Col::Tag(rack)),
            ("usage", Col::F(usage)),
        ],
        times,
    )
}

/// Conditions on tags select whole series of the files read directly (their series index):
/// the Parquet scan neither prunes nor filters by them, a file without a matching series is
/// not read, and the answers are those of the same conditions row by row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_conditions_select_series_of_files() {
    let f = open().await;
    write(&f, "cpu", hosts_batch(&["a", "b", "c", "d"], T0, 50)).await;
    write(&f, "cpu", hosts_batch(&["a", "b"], T0 + DAY, 50)).await;
    f.storage.flush().await.unwrap();
    assert_eq!(f.storage.list_files("db", "cpu").len(), 2);
    let sum = |hosts: &[usize], n: usize| -> f64 {
        hosts
            .iter()
            .flat_map(|h| (0..n).map(move |i| (h * 1000 + i) as f64))
            .sum()
    };
    let cases: Vec<(&str, usize, f64, usize)> = vec![
        // (condition, rows, sum(usage), files skipped by the index)
        ("host = 'c'", 50, sum(&[2], 50), 1),
        (
            "host IN ('a', 'd')",
            150,
            sum(&[0, 3], 50) + sum(&[0], 50),
            0,
        ),
        (
            "host <> 'a' AND rack = 'r1'",
            150,
            sum(&[1, 3], 50) + sum(&[1], 50),
            0,
        ),
        ("host ~ '^[cd]$'", 100, sum(&[2, 3], 50), 1),
        ("host = 'zzz'", 0, 0.0, 2),
        // Not a tag-only condition: filtered row by row.
        ("(host = 'c' OR usage < 1)", 52, sum(&[2], 50) + 0.0, 0),
    ];
    for (cond, rows, total, skipped) in cases {
        let sql = format!(
            r#"SELECT count(*) AS n, coalesce(sum(usage), 0) AS s FROM "db"."cpu" WHERE {cond}"#
        );
        let out = query(&f, &sql).await;
        assert!(
            out.contains(&format!("| {rows} ")) && out.contains(&format!(" {total:.1} ")),
            "{cond}: want {rows} rows summing to {total}: {out}"
        );
        let s = f.engine.last_scan("db", "cpu").unwrap();
        assert_eq!(s.files_pruned_by_tags, skipped, "{cond}: {s:?}");
    }
    // The scan reads the chosen series' rows without a predicate on the tag.
    let plan = f
        .engine
        .explain("db", r#"SELECT usage FROM "db"."cpu" WHERE host = 'b'"#)
        .await
        .unwrap();
    let scan = plan
        .lines()
        .find(|l| l.contains("ScanExec") && l.contains(".parquet"))
        .unwrap_or_else(|| panic!("no scan of a file in {plan}"));
    assert!(!scan.contains("predicate="), "{scan}");
    assert!(!plan.contains("FilterExec"), "{plan}");
    // With rows still buffered and a day merged, the same answers.
    write(&f, "cpu", hosts_batch(&["c"], T0 + 10 * SEC, 5)).await;
    let out = query(
        &f,
        r#"SELECT count(*) AS n FROM "db"."cpu" WHERE host = 'c' AND rack = 'r0'"#,
    )
    .await;
    assert!(out.contains("| 50 |"), "{out}");
}

/// A file whose rows are not grouped into few series (more runs than an index keeps) is
/// filtered by tag conditions row by row, with the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_conditions_without_a_series_index() {
    let f = open().await;
    let n = influxgate_engine::series_index::MAX_RUNS + 10;
    let names: Vec<&'static str> = (0..n)
        .map(|i| &*Box::leak(format!("h{i:06}").into_boxed_str()))
        .collect();
    write(&f, "cpu", hosts_batch(&names, T0, 1)).await;
    f.storage.flush().await.unwrap();
    let out = query(
        &f,
        r#"SELECT host, usage FROM "db"."cpu" WHERE host = 'h000007' OR host = 'h065540'"#,
    )
    .await;
    assert!(
        out.contains("| h000007 | 7000.0 ") && out.contains("| h065540 | 65540000.0 "),
        "{out}"
    );
    assert_eq!(out.lines().count(), 6, "{out}");
}

/// A scanned file is read once whole and served from memory afterwards, with the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanned_files_are_kept_in_memory() {
    let f = open_with_first_file().await;
    let files = f.storage.list_files("db", "cpu");
    assert_eq!(f.engine.parquet_cache_used(), 0);
    let sql = r#"SELECT host, usage FROM "db"."cpu" WHERE host = 'a' ORDER BY time"#;
    let first = query(&f, sql).await;
    assert!(first.contains("| a    | 3.0   |"), "{first}");
    assert_eq!(f.engine.parquet_cache_used() as u64, files[0].size);
    // Served from memory now: the file's bytes in the store no longer matter.
    let (store, _) = f.storage.object_store();
    ObjectStoreExt::delete(&store, &files[0].path)
        .await
        .unwrap();
    assert_eq!(query(&f, sql).await, first);
}

/// Queries only: DDL, `COPY ... TO` (which would write server files) and `SET` are refused
/// with an error, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_other_than_queries_are_refused() {
    let f = open().await;
    write(&f, "cpu", first_write()).await;
    let out = f._dir.path().join("copied.csv");
    for sql in [
        format!(
            r#"COPY (SELECT * FROM "db"."cpu") TO '{}' STORED AS CSV"#,
            out.display()
        ),
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/hostname'".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
        r#"INSERT INTO "db"."cpu" (host) VALUES ('x')"#.to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        let e = f.engine.sql("db", &sql).await.expect_err(&sql).to_string();
        assert!(
            e.contains("not supported") || e.contains("Only queries"),
            "{sql}: {e}"
        );
    }
    assert!(!out.exists());
    // Queries and EXPLAIN still run.
    assert_eq!(query(&f, ALL).await.lines().count(), 7);
    assert!(query(&f, &format!("EXPLAIN {ALL}")).await.contains("plan"));
}

/// Files read through the decoded-column cache answer exactly as when read from Parquet:
/// series selections, time ranges crossing files, merged days, new columns, `count(*)`, field
/// filters; and once decoded, a file's columns are served from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_columns_answer_like_parquet() {
    let mut f = open().await;
    // No whole files kept: what is served from memory below comes from decoded columns.
    let limits = QueryLimits {
        parquet_cache_bytes: 0,
        ..QueryLimits::default()
    };
    f.engine = Engine::with_config(f.storage.clone(), Default::default(), limits);
    write(&f, "cpu", hosts_batch(&["a", "b", "c"], T0, 40)).await;
    f.storage.flush().await.unwrap();
    write(&f, "cpu", hosts_batch(&["b", "d"], T0 + DAY, 30)).await;
    f.storage.flush().await.unwrap();
    // A later day file with a new column, and rows still buffered that overlap the first day.
    write(
        &f,
        "cpu",
        batch(
            vec![
                ("host", Col::Tag(vec!["a", "e"])),
                ("rack", Col::Tag(vec!["r9", "r9"])),
                ("usage", Col::F(vec![Some(-1.0), Some(-2.0)])),
                ("load", Col::I(vec![Some(7), None])),
            ],
            vec![T0 + 2 * DAY, T0 + 2 * DAY + SEC],
        ),
    )
    .await;
    f.storage.flush().await.unwrap();
    write(&f, "cpu", hosts_batch(&["a"], T0 + 5 * SEC, 3)).await;
    let parquet = parquet_only(&f);
    let sqls = [
        r#"SELECT * FROM "db"."cpu" ORDER BY host, time"#,
        r#"SELECT host, usage FROM "db"."cpu" WHERE host = 'b' ORDER BY time"#,
        r#"SELECT count(*) AS n FROM "db"."cpu""#,
        r#"SELECT count(*) AS n FROM "db"."cpu" WHERE host IN ('a', 'd')"#,
        r#"SELECT host, time, usage, load FROM "db"."cpu" WHERE time >= to_timestamp_nanos(1704067210000000000) AND time < to_timestamp_nanos(1704153615000000000) ORDER BY host, time"#,
        r#"SELECT host, max(usage) AS m, sum(load) AS l FROM "db"."cpu" WHERE usage > 5 GROUP BY host ORDER BY host"#,
        r#"SELECT rack, count(usage) AS n FROM "db"."cpu" WHERE host <> 'c' GROUP BY rack ORDER BY rack"#,
        // The days without buffered rows: files read directly, nothing merged.
        r#"SELECT * FROM "db"."cpu" WHERE time >= to_timestamp_nanos(1704153600000000000) ORDER BY host, time"#,
    ];
    let mut answers = Vec::new();
    for sql in sqls {
        let want = pretty_format_batches(&parquet.sql("db", sql).await.unwrap())
            .unwrap()
            .to_string();
        let got = query(&f, sql).await;
        assert_eq!(got, want, "{sql}");
        answers.push(want);
    }
    assert!(answers[2].contains("| 182 |"), "{}", answers[2]);
    let plan = f.engine.explain("db", sqls[1]).await.unwrap();
    assert!(plan.contains("DecodedScanExec"), "{plan}");
    // Files whose columns do not fit the budget are read from Parquet, with the same answers.
    let small = QueryLimits {
        decoded_cache_bytes: 4096,
        ..QueryLimits::default()
    };
    let small = Engine::with_config(f.storage.clone(), Default::default(), small);
    let plan = small.explain("db", sqls[0]).await.unwrap();
    assert!(plan.contains("DataSourceExec"), "{plan}");
    for (sql, want) in sqls.iter().zip(&answers) {
        let got = pretty_format_batches(&small.sql("db", sql).await.unwrap()).unwrap();
        assert_eq!(&got.to_string(), want, "{sql}");
    }
    assert!(f.engine.decoded_cache_used() > 0);
    // Files read directly are served from memory now: their bytes in the store no longer
    // matter (the first day, merged with buffered rows, is read from Parquet).
    let (store, _) = f.storage.object_store();
    for file in f.storage.list_files("db", "cpu") {
        if file.day > T0 / DAY {
            ObjectStoreExt::delete(&store, &file.path).await.unwrap();
        }
    }
    let (sql, want) = (sqls[7], &answers[7]);
    assert!(want.contains("| e    | r9   |"), "{want}");
    assert_eq!(&query(&f, sql).await, want, "{sql}");
    assert!(parquet.sql("db", sql).await.is_err(), "the files are gone");
}
