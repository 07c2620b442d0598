//! Runs the InfluxQL translation cases in `tests/influxql/*.case` (see
//! `tests/influxql/README.md`). `UPDATE_CASES=1 cargo test --test influxql_translate` rewrites
//! the expectations from the current output; review the diff by hand.

#![allow(clippy::disallowed_methods)] // tests read and (with UPDATE_CASES) write case files

use std::path::{Path, PathBuf};

use influxgate::query::influxql::parse_statements;
use influxgate::query::translate::{
    JsonSchema, TranslateContext, Translation, time::parse_rfc3339, translate,
};

/// `now()` of every case without a `now:` line.
const DEFAULT_NOW: &str = "2024-01-01T00:00:00Z";

#[derive(Debug, Default)]
struct Case {
    name: String,
    query: String,
    db: String,
    rp: Option<String>,
    now: Option<String>,
    /// `last_rows: yes`: the backend has the `last_rows` table function.
    last_rows: bool,
    /// Expected `sql:`/`plan:`/`answer:`/`error:` lines, key and text.
    expect: Vec<(String, String)>,
}

fn parse_cases(text: &str) -> Result<(Vec<String>, Vec<Case>), String> {
    let mut header = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix("# ") {
            cases.push(Case {
                name: name.trim().to_owned(),
                ..Case::default()
            });
            continue;
        }
        if line.trim().is_empty() || line.starts_with("//") {
            if cases.is_empty() {
                header.push(line.to_owned());
            }
            continue;
        }
        let Some(case) = cases.last_mut() else {
            header.push(line.to_owned());
            continue;
        };
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("line {}: expected `key: value`", n + 1))?;
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match key {
            "query" => case.query = value,
            "db" => case.db = value,
            "rp" => case.rp = Some(value),
            "now" => case.now = Some(value),
            "last_rows" => case.last_rows = value == "yes",
            "sql" | "plan" | "answer" | "error" => case.expect.push((key.to_owned(), value)),
            other => return Err(format!("line {}: unknown key {other:?}", n + 1)),
        }
    }
    Ok((header, cases))
}

fn actual(case: &Case, schema: &JsonSchema) -> Vec<(String, String)> {
    let with_last_rows;
    let schema = if case.last_rows {
        with_last_rows = schema.clone().with_last_rows("last_rows");
        &with_last_rows
    } else {
        schema
    };
    let now = parse_rfc3339(case.now.as_deref().unwrap_or(DEFAULT_NOW)).expect("valid now");
    let stmts = match parse_statements(&case.query) {
        Ok(s) => s,
        Err(e) => return vec![("error".into(), format!("parse error: {e}"))],
    };
    let ctx = TranslateContext {
        database: &case.db,
        retention_policy: case.rp.as_deref(),
        now,
        schema,
    };
    let mut out = Vec::new();
    for stmt in &stmts {
        match translate(stmt, &ctx) {
            Err(e) => out.push(("error".into(), e.to_string())),
            Ok(Translation::Sql(qs)) if qs.is_empty() => out.push(("sql".into(), "(none)".into())),
            Ok(Translation::Sql(qs)) => {
                for q in qs {
                    out.push(("sql".into(), q.sql));
                    out.push(("plan".into(), q.plan.to_string()));
                }
            }
            Ok(Translation::Answer(series)) if series.is_empty() => {
                out.push(("answer".into(), "(empty)".into()))
            }
            Ok(Translation::Answer(series)) => {
                for s in series {
                    out.push(("answer".into(), s.to_string()));
                }
            }
        }
    }
    out
}

fn matches(expect: &[(String, String)], got: &[(String, String)]) -> bool {
    if expect.len() != got.len() {
        return false;
    }
    expect.iter().zip(got).all(|((ek, ev), (gk, gv))| {
        ek == gk
            && if ek == "error" {
                gv.contains(ev.as_str())
            } else {
                ev == gv
            }
    })
}

fn render(header: &[String], cases: &[Case]) -> String {
    let mut s = String::new();
    for h in header {
        s.push_str(h);
        s.push('\n');
    }
    for c in cases {
        if !s.is_empty() && !s.ends_with("\n\n") {
            s.push('\n');
        }
        s.push_str(&format!("# {}\nquery: {}\ndb: {}\n", c.name, c.query, c.db));
        if let Some(rp) = &c.rp {
            s.push_str(&format!("rp: {rp}\n"));
        }
        if let Some(now) = &c.now {
            s.push_str(&format!("now: {now}\n"));
        }
        if c.last_rows {
            s.push_str("last_rows: yes\n");
        }
        for (k, v) in &c.expect {
            s.push_str(&format!("{k}: {v}\n"));
        }
    }
    s
}

pub fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/influxql")
}

#[test]
fn influxql_translation_cases() {
    let dir = case_dir();
    let schema = JsonSchema::from_json(
        &std::fs::read_to_string(dir.join("schema.json")).expect("schema.json"),
    )
    .expect("valid schema");
    let update = std::env::var_os("UPDATE_CASES").is_some_and(|v| v == "1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("case dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read case file");
        let (header, mut cases) =
            parse_cases(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for case in &mut cases {
            total += 1;
            assert!(
                !case.query.is_empty(),
                "{}: case {:?} has no query",
                file.display(),
                case.name
            );
            let got = actual(case, &schema);
            if matches(&case.expect, &got) {
                continue;
            }
            if update {
                // Keep a still-matching error substring; otherwise take the new output.
                case.expect = got;
            } else {
                let fmt = |v: &[(String, String)]| {
                    v.iter()
                        .map(|(k, v)| format!("  {k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                failures.push(format!(
                    "{} :: {}\nquery: {}\nexpected:\n{}\nactual:\n{}",
                    file.file_name().unwrap().to_string_lossy(),
                    case.name,
                    case.query,
                    fmt(&case.expect),
                    fmt(&got)
                ));
            }
        }
        if update {
            std::fs::write(file, render(&header, &cases)).expect("write case file");
        }
    }
    assert!(total >= 1, "no cases found in {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed (UPDATE_CASES=1 rewrites expectations):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{total} InfluxQL translation cases passed");
}

/// `translate_text` (behind `influxgate translate`): SQL and plan per statement, or an error
/// with the parse position.
#[test]
fn translate_text_formats_statements_and_errors() {
    use influxgate::query::translate::translate_text;
    let schema = JsonSchema::from_json(r#"{"cpu": {"tags": ["host"], "fields": {"v": "float"}}}"#)
        .expect("valid schema");
    let out = translate_text(
        "SELECT v FROM cpu; SHOW MEASUREMENTS",
        "db",
        None,
        &schema,
        0,
    )
    .expect("translates");
    assert!(
        out.contains("-- statement 0: SELECT v FROM cpu\nsql: SELECT"),
        "{out}"
    );
    assert!(out.contains("plan: series=cpu columns=[v=$1]"), "{out}");
    assert!(
        out.contains("-- statement 1: SHOW MEASUREMENTS\nanswer:"),
        "{out}"
    );
    let err = translate_text("SELECT FROM cpu", "db", None, &schema, 0).unwrap_err();
    assert!(
        err.starts_with("parse error:") && err.contains("line 1, char"),
        "{err}"
    );
    let err = translate_text("SELECT v FROM cpu", "", None, &schema, 0).unwrap_err();
    assert!(err.contains("database name required"), "{err}");
}
