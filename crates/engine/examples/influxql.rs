//! InfluxQL through the whole query path without the HTTP server: line protocol is written into
//! a fresh storage, then every query read from stdin (one per line, optional leading
//! `@epoch=<unit>` and `@csv`) is parsed, translated, run by the engine, shaped and rendered as
//! InfluxDB 1.x would answer `/query`; each answer is printed as one JSON line
//! `{"status":200,"body":"..."}`. `tests/reference/run.py --engine-example` uses it to compare
//! with a real InfluxDB before the server's `/query` is wired.
//!
//!     cargo run -p influxgate-engine --example influxql -- --db ref --lp data.lp [--flush] < queries
#![allow(clippy::disallowed_methods)]

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use influxgate::FieldType;
use influxgate::query::influxql::parse_statements;
use influxgate::query::params::{Epoch, V1Format};
use influxgate::query::response::{StatementResult, V1Options, render_v1, render_v1_error};
use influxgate::query::shape::apply_all;
use influxgate::query::translate::{QuerySchema, TranslateContext, Translation, translate};
use influxgate::write::batch::build;
use influxgate::write::precision::Precision;
use influxgate::{ColumnType, Schema};
use influxgate_engine::Engine;
use influxgate_storage::{Catalog, NewColumn, Storage, StorageConfig, object_store_from_url};

struct CatalogSchema(Arc<Catalog>);

impl QuerySchema for CatalogSchema {
    fn measurements(&self, db: &str) -> Vec<String> {
        self.0
            .database(db)
            .map(|d| d.tables.keys().cloned().collect())
            .unwrap_or_default()
    }
    fn tag_keys(&self, db: &str, m: &str) -> Vec<String> {
        self.0
            .table(db, m)
            .map(|t| {
                t.columns
                    .iter()
                    .filter(|(_, c)| **c == ColumnType::Tag)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
    fn field_keys(&self, db: &str, m: &str) -> Vec<(String, FieldType)> {
        self.0
            .table(db, m)
            .map(|t| {
                t.columns
                    .iter()
                    .filter_map(|(k, c)| match c {
                        ColumnType::Field(f) => Some((k.clone(), *f)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    fn databases(&self) -> Vec<String> {
        self.0.databases.keys().cloned().collect()
    }
}

async fn answer(engine: &Engine, db: &str, line: &str) -> (u16, Vec<u8>) {
    let mut opts = V1Options::new(V1Format::Json);
    let mut q = line.trim();
    while let Some(rest) = q.strip_prefix('@') {
        let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Some(e) = word.strip_prefix("epoch=") {
            opts.epoch = Epoch::parse(e);
        } else if word == "csv" {
            opts.format = V1Format::Csv;
        }
        q = tail.trim();
    }
    let statements = match parse_statements(q) {
        Ok(s) => s,
        Err(e) => {
            let r = render_v1_error(&format!("error parsing query: {e}"), 400, opts);
            return (r.status, r.body);
        }
    };
    let catalog = engine.storage().catalog();
    let schema = CatalogSchema(catalog);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let ctx = TranslateContext {
        database: db,
        retention_policy: None,
        now,
        schema: &schema,
    };
    let mut results = Vec::new();
    for (i, stmt) in statements.iter().enumerate() {
        let r = match translate(stmt, &ctx) {
            Err(e) => StatementResult::error(i, e.to_string()),
            Ok(Translation::Answer(series)) => StatementResult::ok(i, series),
            Ok(Translation::Sql(queries)) => {
                let mut parts = Vec::new();
                let mut err = None;
                for sq in &queries {
                    match engine.sql(db, &sq.sql).await {
                        Ok(b) => parts.push(b),
                        Err(e) => {
                            err = Some(format!("{e} (sql: {})", sq.sql));
                            break;
                        }
                    }
                }
                match err {
                    Some(e) => StatementResult::error(i, e),
                    None => {
                        let refs: Vec<_> = queries
                            .iter()
                            .zip(&parts)
                            .map(|(q, b)| (&q.plan, b.as_slice()))
                            .collect();
                        match apply_all(&refs) {
                            Ok(series) => StatementResult::ok(i, series),
                            Err(e) => StatementResult::error(i, e.to_string()),
                        }
                    }
                }
            }
        };
        let failed = r.error.is_some();
        results.push(r);
        if failed {
            break;
        }
    }
    let r = render_v1(&results, opts);
    (r.status, r.body)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let db = arg("--db").unwrap_or_else(|| "ref".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}/parquet", dir.path().display());
    let (store, prefix) =
        object_store_from_url(&url, Vec::<(String, String)>::new()).expect("store");
    let mut config = StorageConfig::new(store, prefix, dir.path().join("wal"));
    config.persist_max_age = Duration::from_secs(3600);
    config.compaction_interval = None;
    config.retention_interval = None;
    let storage = Arc::new(Storage::open(config).await.expect("storage"));
    for path in args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i > 0 && args[i - 1] == "--lp")
    {
        let body = std::fs::read_to_string(path.1).expect("line protocol file");
        // Each blank-line separated block is one write, so later blocks overwrite earlier ones.
        for block in body.split("\n\n") {
            let catalog = storage.catalog();
            let parsed = build(
                block,
                &db,
                Precision::Seconds,
                0,
                &*catalog as &dyn Schema,
                100,
            );
            assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
            let cols: Vec<NewColumn> = parsed
                .new_columns
                .iter()
                .map(|c| NewColumn::new(c.table.clone(), c.column.clone(), c.column_type))
                .collect();
            let batches = parsed
                .batches
                .into_iter()
                .map(|t| (t.measurement, t.batch))
                .collect();
            storage.write(&db, batches, &cols).await.expect("write");
            if args.iter().any(|a| a == "--flush") {
                storage.flush().await.expect("flush");
            }
        }
    }
    let engine = Engine::new(storage.clone());
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        if line.trim().is_empty() {
            continue;
        }
        let (status, body) = answer(&engine, &db, &line).await;
        let out = serde_json::json!({"status": status, "body": String::from_utf8_lossy(&body)});
        println!("{out}");
    }
}
