//! The engine's analyzer rules must not change answers: `SelectorRule` (selector.rs) gives
//! exactly what DataFusion's `first_value(... ORDER BY ...)` gives, and `TagGroupRule`
//! (group_keys.rs) what grouping by the dictionary column gives, on data with ties, nulls,
//! several partitions and batches.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use datafusion::arrow::array::{
    DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use influxgate_engine::group_keys::TagGroupRule;
use influxgate_engine::selector::SelectorRule;

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn table(seed: u64) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "host",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
        Field::new("f", DataType::Float64, true),
        Field::new("i", DataType::Int64, true),
        Field::new("u", DataType::UInt64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
    ]));
    let mut rng = Lcg(seed);
    let mut next_time = 0i64;
    // Three partitions of several batches each: partial states get merged.
    let partitions = (0..3)
        .map(|_| {
            (0..4)
                .map(|_| {
                    let n = 1 + rng.next(700) as usize;
                    let mut times = Vec::with_capacity(n);
                    for _ in 0..n {
                        // Unique times, not in order.
                        next_time += 1;
                        times.push(next_time * 1000 - rng.next(1000) as i64 * 7_000_000);
                    }
                    let maybe = |rng: &mut Lcg| rng.next(5) != 0;
                    let hosts: DictionaryArray<Int32Type> = (0..n)
                        .map(|_| Some(["a", "b", "c", "d", "e"][rng.next(5) as usize]))
                        .collect();
                    let f: Float64Array = (0..n)
                        .map(|_| maybe(&mut rng).then(|| rng.next(20) as f64 - 9.5))
                        .collect();
                    let i: Int64Array = (0..n)
                        .map(|_| maybe(&mut rng).then(|| rng.next(30) as i64 - 15))
                        .collect();
                    let u: UInt64Array = (0..n)
                        .map(|_| maybe(&mut rng).then(|| rng.next(25)))
                        .collect();
                    let s: StringArray = (0..n)
                        .map(|_| maybe(&mut rng).then(|| format!("s{}", rng.next(1000))))
                        .collect();
                    let t = TimestampNanosecondArray::from(times).with_timezone("UTC");
                    RecordBatch::try_new(
                        schema.clone(),
                        vec![
                            Arc::new(hosts),
                            Arc::new(f),
                            Arc::new(i),
                            Arc::new(u),
                            Arc::new(s),
                            Arc::new(t),
                        ],
                    )
                    .unwrap()
                })
                .collect()
        })
        .collect();
    MemTable::try_new(schema, partitions).unwrap()
}

async fn run(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

fn session(seed: u64, rule: bool) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
    influxgate_engine::udf::register_udfs(&ctx);
    if rule {
        ctx.add_analyzer_rule(Arc::new(SelectorRule));
        ctx.add_analyzer_rule(Arc::new(TagGroupRule));
    }
    ctx.register_table("m", Arc::new(table(seed))).unwrap();
    ctx
}

/// The translator's selector shapes (max/min with time tie-break, first/last by time), with
/// values of every type riding along.
fn selects(key: &str) -> String {
    let sel = |out: &str, order: &str| {
        format!("first_value({out} ORDER BY {order}) FILTER (WHERE {key} IS NOT NULL)")
    };
    let by_time = |out: &str, dir: &str| {
        format!("first_value({out} ORDER BY \"time\" {dir}) FILTER (WHERE {key} IS NOT NULL)")
    };
    [
        sel("\"time\"", &format!("{key} DESC, \"time\" ASC")),
        sel(key, &format!("{key} DESC, \"time\" ASC")),
        sel("s", &format!("{key} DESC, \"time\" ASC")),
        sel("host", &format!("{key} DESC, \"time\" ASC")),
        sel("\"time\"", &format!("{key} ASC, \"time\" ASC")),
        sel("s", &format!("{key} ASC, \"time\" ASC")),
        sel(key, &format!("{key} ASC")),
        by_time(key, "DESC"),
        by_time("\"time\"", "DESC"),
        by_time(key, "ASC"),
        by_time("s", "ASC"),
        // No FILTER: `time` is not nullable, so nothing to skip.
        "first_value(s ORDER BY \"time\" DESC)".to_string(),
        format!("max({key})"),
    ]
    .join(", ")
}

#[tokio::test]
async fn selectors_answer_as_first_value_does() {
    for seed in 1..=6 {
        let (with, without) = (session(seed, true), session(seed, false));
        for key in ["f", "i", "u"] {
            let s = selects(key);
            for sql in [
                format!("SELECT host, {s} FROM m GROUP BY host ORDER BY host"),
                format!("SELECT {s} FROM m"),
                format!(
                    "SELECT date_bin(INTERVAL '1 second', \"time\") AS b, {s} FROM m \
                     GROUP BY b ORDER BY b"
                ),
                format!("SELECT {s} FROM m WHERE \"time\" < to_timestamp_nanos(0)"),
            ] {
                let plan = run(&with, &format!("EXPLAIN {sql}")).await;
                assert!(
                    plan.contains("influx_selector_max_tb"),
                    "not rewritten: {plan}"
                );
                assert!(
                    plan.contains("influx_selector_min("),
                    "not rewritten: {plan}"
                );
                let (got, want) = (run(&with, &sql).await, run(&without, &sql).await);
                assert_eq!(got, want, "seed {seed}: {sql}");
            }
        }
    }
}

#[tokio::test]
async fn shapes_it_cannot_answer_stay_first_value() {
    let ctx = session(1, true);
    for sql in [
        // A nullable key without the IS NOT NULL filter: NULLS FIRST would pick a null.
        "SELECT first_value(s ORDER BY f DESC) FROM m",
        // A string key.
        "SELECT first_value(f ORDER BY s DESC) FILTER (WHERE s IS NOT NULL) FROM m",
        // A descending tie-break.
        "SELECT first_value(s ORDER BY f DESC, \"time\" DESC) FILTER (WHERE f IS NOT NULL) FROM m",
    ] {
        let plan = run(&ctx, &format!("EXPLAIN {sql}")).await;
        assert!(!plan.contains("influx_selector"), "{sql}: {plan}");
        assert!(plan.contains("first_value"), "{sql}: {plan}");
        run(&ctx, sql).await;
    }
}

#[tokio::test]
async fn grouping_by_a_tag_answers_as_grouping_by_the_dictionary() {
    for seed in 1..=3 {
        let (with, without) = (session(seed, true), session(seed, false));
        for sql in [
            "SELECT host, count(*), sum(f) FROM m GROUP BY host ORDER BY host",
            "SELECT host, date_bin(INTERVAL '1 second', \"time\") AS b, max(i) FROM m \
             GROUP BY host, b ORDER BY host, b",
            "SELECT m.host AS h, avg(u) FROM m GROUP BY m.host HAVING m.host <> 'c' ORDER BY h",
            "SELECT host, n FROM (SELECT host, count(s) AS n FROM m GROUP BY host) \
             WHERE host IN ('a', 'e') ORDER BY host",
            "SELECT host, count(*) AS n FROM m WHERE f > 0 GROUP BY host \
             UNION ALL SELECT host, count(*) AS n FROM m WHERE f <= 0 GROUP BY host \
             ORDER BY host, n",
            "SELECT a.host, a.n, b.n FROM (SELECT host, count(*) AS n FROM m GROUP BY host) a \
             JOIN (SELECT host, max(i) AS n FROM m GROUP BY host) b ON a.host = b.host \
             ORDER BY a.host",
            "SELECT count(DISTINCT host) FROM m",
        ] {
            let (got, want) = (run(&with, sql).await, run(&without, sql).await);
            assert_eq!(got, want, "seed {seed}: {sql}");
        }
    }
    let ctx = session(1, true);
    let plan = run(&ctx, "EXPLAIN SELECT host, count(*) FROM m GROUP BY host").await;
    assert!(plan.contains("Utf8View"), "not rewritten: {plan}");
    let batches = ctx
        .sql("SELECT host, count(*) FROM m GROUP BY host")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).name(), "host");
    assert_eq!(schema.field(0).data_type(), &DataType::Utf8View);
}
