//! End to end over real rows: InfluxQL → translated SQL → DataFusion (with the UDAFs) →
//! shaping → series. Checks the semantics the planning test cannot: bucketing, selectors,
//! percentile/mode/integral, fill and transformations.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use influxgate::FieldType;
use influxgate::query::influxql::parse_statements;
use influxgate::query::shape::apply_all;
use influxgate::query::translate::{JsonSchema, TranslateContext, Translation, translate};
use influxgate_engine::udf::{measurement_schema, register_udfs};

const M: i64 = 60_000_000_000;

fn schema() -> JsonSchema {
    JsonSchema::from_json(
        r#"{"databases": {"db": {"cpu": {"tags": ["host"],
            "fields": {"usage_idle": "float", "n": "integer"}}}}}"#,
    )
    .unwrap()
}

fn session() -> SessionContext {
    let ctx = SessionContext::new();
    register_udfs(&ctx);
    let s = measurement_schema(
        &["host".into()],
        &[
            ("n".into(), FieldType::Integer),
            ("usage_idle".into(), FieldType::Float),
        ],
    );
    let host: DictionaryArray<Int32Type> = ["a", "a", "b", "a", "b"].into_iter().collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(host),
        Arc::new(Int64Array::from(vec![
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            None,
        ])),
        Arc::new(Float64Array::from(vec![10.0, 30.0, 20.0, 50.0, 40.0])),
        Arc::new(
            TimestampNanosecondArray::from(vec![0, M, 2 * M, 12 * M, 13 * M]).with_timezone("UTC"),
        ),
    ];
    let batch = RecordBatch::try_new(s.clone(), cols).unwrap();
    let provider = Arc::new(MemorySchemaProvider::new());
    provider
        .register_table(
            "cpu".into(),
            Arc::new(MemTable::try_new(s, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
    ctx.catalog("datafusion")
        .unwrap()
        .register_schema("db", provider)
        .unwrap();
    ctx
}

/// The series of `q` as `Series` display lines.
async fn run(ctx: &SessionContext, q: &str) -> Vec<String> {
    let schema = schema();
    let tctx = TranslateContext {
        database: "db",
        retention_policy: None,
        now: 30 * M,
        schema: &schema,
    };
    let stmt = &parse_statements(q).unwrap()[0];
    let series = match translate(stmt, &tctx).unwrap() {
        Translation::Answer(s) => s,
        Translation::Sql(queries) => {
            let mut results = Vec::new();
            for sq in &queries {
                let df = ctx
                    .sql(&sq.sql)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", sq.sql));
                results.push(df.collect().await.unwrap());
            }
            let parts: Vec<_> = queries
                .iter()
                .zip(&results)
                .map(|(sq, b)| (&sq.plan, b.as_slice()))
                .collect();
            apply_all(&parts).unwrap()
        }
    };
    series.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn translated_queries_return_influxdb_results() {
    let ctx = session();
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT mean(usage_idle) FROM cpu WHERE time >= 0 AND time < 30m GROUP BY time(10m)",
            &[
                r#"name="cpu" columns=[time,mean] values=[[1970-01-01T00:00:00Z,20.0],[1970-01-01T00:10:00Z,45.0],[1970-01-01T00:20:00Z,null]]"#,
            ],
        ),
        (
            "SELECT count(n) FROM cpu WHERE time >= 0 AND time < 20m GROUP BY time(10m), host",
            &[
                r#"name="cpu" tags={host=a} columns=[time,count] values=[[1970-01-01T00:00:00Z,2],[1970-01-01T00:10:00Z,1]]"#,
                r#"name="cpu" tags={host=b} columns=[time,count] values=[[1970-01-01T00:00:00Z,1],[1970-01-01T00:10:00Z,0]]"#,
            ],
        ),
        (
            "SELECT max(usage_idle), host FROM cpu",
            &[r#"name="cpu" columns=[time,max,host] values=[[1970-01-01T00:12:00Z,50.0,"a"]]"#],
        ),
        (
            "SELECT first(usage_idle) FROM cpu",
            &[r#"name="cpu" columns=[time,first] values=[[1970-01-01T00:00:00Z,10.0]]"#],
        ),
        (
            "SELECT percentile(usage_idle, 50) FROM cpu",
            &[r#"name="cpu" columns=[time,percentile] values=[[1970-01-01T00:01:00Z,30.0]]"#],
        ),
        (
            "SELECT mode(n), spread(usage_idle) FROM cpu",
            &[r#"name="cpu" columns=[time,mode,spread] values=[[1970-01-01T00:00:00Z,1,40.0]]"#],
        ),
        (
            "SELECT integral(usage_idle, 1m) FROM cpu WHERE host = 'a'",
            &[r#"name="cpu" columns=[time,integral] values=[[1970-01-01T00:00:00Z,460.0]]"#],
        ),
        (
            "SELECT top(usage_idle, 2) FROM cpu",
            &[
                r#"name="cpu" columns=[time,top] values=[[1970-01-01T00:12:00Z,50.0],[1970-01-01T00:13:00Z,40.0]]"#,
            ],
        ),
        (
            "SELECT top(usage_idle, host, 2) FROM cpu",
            &[
                r#"name="cpu" columns=[time,top,host] values=[[1970-01-01T00:12:00Z,50.0,"a"],[1970-01-01T00:13:00Z,40.0,"b"]]"#,
            ],
        ),
        (
            "SELECT usage_idle FROM cpu WHERE host =~ /^b$/ AND time > 1m",
            &[
                r#"name="cpu" columns=[time,usage_idle] values=[[1970-01-01T00:02:00Z,20.0],[1970-01-01T00:13:00Z,40.0]]"#,
            ],
        ),
        (
            "SELECT derivative(mean(usage_idle), 10m) FROM cpu WHERE time >= 0 GROUP BY time(10m) fill(none)",
            &[r#"name="cpu" columns=[time,derivative] values=[[1970-01-01T00:10:00Z,25.0]]"#],
        ),
        ("SELECT count(usage_idle) FROM cpu WHERE time > 1h", &[]),
        (
            "SELECT usage_idle FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1",
            &[
                r#"name="cpu" tags={host=a} columns=[time,usage_idle] values=[[1970-01-01T00:12:00Z,50.0]]"#,
                r#"name="cpu" tags={host=b} columns=[time,usage_idle] values=[[1970-01-01T00:13:00Z,40.0]]"#,
            ],
        ),
        (
            "SELECT mean(m) FROM (SELECT max(usage_idle) AS m FROM cpu GROUP BY host)",
            &[r#"name="cpu" columns=[time,mean] values=[[1970-01-01T00:00:00Z,45.0]]"#],
        ),
        (
            "SHOW TAG VALUES WITH KEY = host",
            &[r#"name="cpu" columns=[key,value] values=[["host","a"],["host","b"]]"#],
        ),
        (
            "SHOW SERIES",
            &[r#"name="" columns=[key] values=[["cpu,host=a"],["cpu,host=b"]]"#],
        ),
    ];
    let mut failures = Vec::new();
    for (q, want) in cases {
        let got = run(&ctx, q).await;
        if got != *want {
            failures.push(format!("{q}\n  want: {want:?}\n  got:  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
