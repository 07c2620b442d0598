//! Parse + translate time of a typical Grafana dashboard query (issue 8's figure).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use influxgate::query::influxql::parse_statements;
use influxgate::query::translate::{JsonSchema, TranslateContext, translate};

const QUERY: &str = "SELECT mean(\"usage_idle\") FROM \"cpu\" WHERE (\"host\" =~ /^(web1|web2)$/) \
    AND time >= now() - 6h GROUP BY time(1m), \"host\" fill(null)";

fn parse_and_translate(c: &mut Criterion) {
    let schema = JsonSchema::from_json(
        r#"{"cpu": {"tags": ["host", "region"], "fields": {"usage_idle": "float", "usage_user": "float"}}}"#,
    )
    .expect("schema");
    let ctx = TranslateContext {
        database: "telegraf",
        retention_policy: None,
        now: 1_700_000_000_000_000_000,
        schema: &schema,
    };
    c.bench_function("influxql_parse_and_translate_dashboard_query", |b| {
        b.iter(|| {
            let stmts = parse_statements(black_box(QUERY)).expect("parses");
            translate(&stmts[0], &ctx).expect("translates")
        })
    });
}

criterion_group!(benches, parse_and_translate);
criterion_main!(benches);
