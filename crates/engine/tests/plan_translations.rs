//! Every SQL the translator produces for `tests/influxql/*.case` must plan in DataFusion
//! against the storage model's tables (empty MemTables built from `tests/influxql/schema.json`)
//! with the InfluxQL UDAFs registered. A failure here is invalid SQL, an unknown function or a
//! type error the case files alone cannot catch.

#![allow(clippy::disallowed_methods)] // a test reads its case files

use std::future::Future;
use std::path::{Path, PathBuf};

use influxgate::query::influxql::parse_statements;
use influxgate::query::translate::{
    JsonSchema, TranslateContext, Translation, time::parse_rfc3339, translate,
};
use influxgate_engine::udf::planning_session;

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/influxql")
}

/// One case's inputs; the expectations are the core test's.
#[derive(Default)]
struct Case {
    file: String,
    name: String,
    query: String,
    db: String,
    rp: Option<String>,
    now: Option<String>,
    last_rows: bool,
}

fn cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(case_dir())
        .expect("case dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).expect("read case");
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("# ") {
                out.push(Case {
                    file: file.clone(),
                    name: name.to_owned(),
                    ..Case::default()
                });
                continue;
            }
            let Some(last) = out.last_mut() else { continue };
            if let Some((k, v)) = line.split_once(": ") {
                match k {
                    "query" => last.query = v.to_owned(),
                    "db" => last.db = v.to_owned(),
                    "rp" => last.rp = Some(v.to_owned()),
                    "now" => last.now = Some(v.to_owned()),
                    "last_rows" => last.last_rows = v == "yes",
                    _ => {}
                }
            } else if line == "db:" {
                last.db = String::new();
            }
        }
    }
    out
}

/// Drives a future that never waits on I/O (planning against in-memory tables) to completion
/// without an async runtime.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[test]
fn every_translation_plans() {
    let schema = JsonSchema::from_json(
        &std::fs::read_to_string(case_dir().join("schema.json")).expect("schema.json"),
    )
    .expect("valid schema");
    let ctx = planning_session(&schema).expect("session");
    let with_last_rows = schema.clone().with_last_rows(influxgate_engine::LAST_ROWS);
    let mut planned = 0;
    let mut failures = Vec::new();
    let all = cases();
    for Case {
        file,
        name,
        query,
        db,
        rp,
        now,
        last_rows,
    } in &all
    {
        let now = parse_rfc3339(now.as_deref().unwrap_or("2024-01-01T00:00:00Z")).unwrap();
        let Ok(stmts) = parse_statements(query) else {
            continue;
        };
        let tctx = TranslateContext {
            database: db,
            retention_policy: rp.as_deref(),
            now,
            schema: if *last_rows { &with_last_rows } else { &schema },
        };
        for stmt in &stmts {
            let Ok(Translation::Sql(queries)) = translate(stmt, &tctx) else {
                continue;
            };
            for q in queries {
                match block_on(ctx.state().create_logical_plan(&q.sql)) {
                    Ok(_) => planned += 1,
                    Err(e) => {
                        failures.push(format!("{file} :: {name}\n  sql: {}\n  error: {e}", q.sql))
                    }
                }
            }
        }
    }
    assert!(
        planned > 100,
        "only {planned} SQL queries planned; are the cases there?"
    );
    assert!(
        failures.is_empty(),
        "{} of {} SQL queries failed to plan:\n{}",
        failures.len(),
        planned + failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{planned} translated SQL queries from {} cases planned",
        all.len()
    );
}
