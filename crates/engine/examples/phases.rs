#![allow(clippy::disallowed_methods)]
//! Time the phases of one InfluxQL query over an existing data directory (perf work).
use std::sync::Arc;
use std::time::{Duration, Instant};

use influxgate::query::influxql::parse_statements;
use influxgate::query::params::V1Format;
use influxgate::query::response::{StatementResult, V1Options, render_v1};
use influxgate::query::shape::apply_all;
use influxgate::query::translate::{TranslateContext, Translation, translate};
use influxgate::{ColumnType, FieldType};
use influxgate_engine::Engine;
use influxgate_storage::{Catalog, Storage, StorageConfig, object_store_from_url};

struct CatalogSchema(Arc<Catalog>);
impl influxgate::query::translate::QuerySchema for CatalogSchema {
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let q = &args[2];
    let n: usize = args.get(3).map_or(200, |s| s.parse().unwrap());
    let db = "bench";
    let url = format!("file://{}/parquet", dir.display());
    let (store, prefix) = object_store_from_url(&url, Vec::<(String, String)>::new()).unwrap();
    let mut config = StorageConfig::new(store, prefix, dir.join("wal"));
    config.compaction_interval = None;
    config.retention_interval = None;
    let storage = Arc::new(Storage::open(config).await.unwrap());
    let engine = Engine::from_env(storage.clone(), Default::default()).unwrap();
    let mut t = [Duration::ZERO; 5];
    for i in 0..n + 5 {
        let a = Instant::now();
        let stmts = parse_statements(q).unwrap();
        let schema = CatalogSchema(storage.catalog());
        let ctx = TranslateContext {
            database: db,
            retention_policy: None,
            now: 0,
            schema: &schema,
        };
        let Ok(Translation::Sql(queries)) = translate(&stmts[0], &ctx) else {
            panic!()
        };
        if i == 0 {
            for s in &queries {
                println!("{}", s.sql);
            }
        }
        let b = Instant::now();
        let mut plans = Vec::new();
        if std::env::var_os("PLAN").is_some() {
            for s in &queries {
                plans.push(engine.physical_plan(db, &s.sql).await.unwrap());
            }
        }
        drop(plans);
        let c = Instant::now();
        let mut parts = Vec::new();
        for s in &queries {
            parts.push(engine.sql(db, &s.sql).await.unwrap());
        }
        let d = Instant::now();
        let refs: Vec<_> = queries
            .iter()
            .zip(&parts)
            .map(|(q, b)| (&q.plan, b.as_slice()))
            .collect();
        let series = apply_all(&refs).unwrap();
        let e = Instant::now();
        let r = render_v1(
            &[StatementResult::ok(0, series)],
            V1Options::new(V1Format::Json),
        );
        let f = Instant::now();
        if i == 0 {
            println!("{} bytes", r.body.len());
        }
        if i >= 5 {
            for (k, x) in [b - a, c - b, d - c, e - d, f - e].into_iter().enumerate() {
                t[k] += x;
            }
        }
    }
    let names = [
        "translate",
        "physical plan",
        "plan+execute",
        "shape",
        "render",
    ];
    for (k, x) in t.iter().enumerate() {
        println!(
            "{:14} {:8.3} ms",
            names[k],
            x.as_secs_f64() * 1000.0 / n as f64
        );
    }
}
