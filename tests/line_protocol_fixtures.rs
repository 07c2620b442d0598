//! Data-driven line-protocol cases: every `tests/fixtures/line_protocol/*.txt` file (format in the
//! README beside them). Each case's input is parsed and every yielded item is rendered to one row,
//! which must equal the case's expected rows (errors: line, column and a message substring).
#![allow(clippy::disallowed_methods)] // tests may read files; the lint guards the core.

use std::fmt::Write as _;
use std::path::Path;

use influxgate::write::line_protocol::{FieldValue, Line, LineError, parse_lines};

struct Case {
    file: String,
    name: String,
    input: String,
    expect: Vec<String>,
}

/// `<CR>`, `<LF>`, `<TAB>`, `<VT>`, `<NUL>` and `<DEL>` in an input stand for those bytes, so
/// fixture files stay plain text.
fn unmark(s: &str) -> String {
    s.replace("<CR>", "\r")
        .replace("<LF>", "\n")
        .replace("<TAB>", "\t")
        .replace("<VT>", "\u{b}")
        .replace("<NUL>", "\0")
        .replace("<DEL>", "\u{7f}")
}

fn load(dir: &Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("fixture file");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut current: Option<Case> = None;
        let mut section = "";
        let mut input: Vec<&str> = Vec::new();
        let mut finish = |c: Option<Case>, input: &mut Vec<&str>| {
            if let Some(mut c) = c {
                c.input = unmark(&input.join("\n"));
                assert!(
                    !c.expect.is_empty(),
                    "{}: case {:?} has no expectation",
                    c.file,
                    c.name
                );
                cases.push(c);
            }
            input.clear();
        };
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("=== ") {
                finish(current.take(), &mut input);
                current = Some(Case {
                    file: file.clone(),
                    name: name.trim().to_owned(),
                    input: String::new(),
                    expect: Vec::new(),
                });
                section = "";
            } else if line == "--- input" || line == "--- expect" {
                assert!(current.is_some(), "{file}: section before any `=== name`");
                section = &line[4..];
            } else if let Some(c) = current.as_mut() {
                match section {
                    "input" => input.push(line),
                    "expect" if !line.trim().is_empty() => c.expect.push(line.trim().to_owned()),
                    "expect" => {}
                    _ => assert!(
                        line.trim().is_empty() || line.starts_with('#'),
                        "{file}: text outside a section in {:?}",
                        c.name
                    ),
                }
            }
        }
        finish(current.take(), &mut input);
    }
    cases
}

fn render_value(v: &FieldValue<'_>) -> String {
    match v {
        FieldValue::Float(f) => format!("{f:?}"),
        FieldValue::Integer(i) => format!("{i}i"),
        FieldValue::UInteger(u) => format!("{u}u"),
        FieldValue::Boolean(b) => format!("{b}"),
        FieldValue::String(s) => format!("{s:?}"),
    }
}

/// `ok "name" tags{"k"="v" ...} fields{"k"=value ...} ts=N|none`, names quoted Rust-style.
fn render(item: &Result<Line<'_>, LineError>) -> String {
    match item {
        Ok(l) => {
            let mut s = format!("ok {:?} tags{{", l.measurement);
            for (n, (k, v)) in l.tags.iter().enumerate() {
                let sp = if n == 0 { "" } else { " " };
                let _ = write!(s, "{sp}{k:?}={v:?}");
            }
            s.push_str("} fields{");
            for (n, (k, v)) in l.fields.iter().enumerate() {
                let sp = if n == 0 { "" } else { " " };
                let _ = write!(s, "{sp}{k:?}={}", render_value(v));
            }
            match l.timestamp {
                Some(ts) => {
                    let _ = write!(s, "}} ts={ts}");
                }
                None => s.push_str("} ts=none"),
            }
            s
        }
        Err(e) => format!("err {}:{} {}", e.line, e.column, e.message),
    }
}

/// An `err L:C text` row matches an error at L:C whose message contains `text`; an `ok` row must
/// match exactly.
fn matches(want: &str, got: &str) -> bool {
    if let Some(w) = want.strip_prefix("err ") {
        let (pos, text) = w.split_once(' ').unwrap_or((w, ""));
        let Some(g) = got.strip_prefix("err ") else {
            return false;
        };
        let (gpos, gtext) = g.split_once(' ').unwrap_or((g, ""));
        pos == gpos && gtext.contains(text)
    } else {
        want == got
    }
}

#[test]
fn fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/line_protocol");
    let cases = load(&dir);
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(
            names.insert((c.file.clone(), c.name.clone())),
            "{}: duplicate case name {:?}",
            c.file,
            c.name
        );
        let got: Vec<String> = parse_lines(&c.input).map(|i| render(&i)).collect();
        // A lone `none` row expects no item at all.
        let expect: &[String] = if c.expect == ["none"] { &[] } else { &c.expect };
        let ok = got.len() == expect.len() && expect.iter().zip(&got).all(|(w, g)| matches(w, g));
        if !ok {
            failures.push(format!(
                "{} / {}\n  input:  {:?}\n  expect: {:#?}\n  got:    {:#?}",
                c.file, c.name, c.input, c.expect, got
            ));
        }
        // Every accepted point must also survive an encode/parse round trip.
        for item in parse_lines(&c.input).flatten() {
            let mut out = String::new();
            item.write_to(&mut out);
            let again: Vec<_> = parse_lines(&out).collect();
            if again.len() != 1 || again[0].as_ref() != Ok(&item) {
                failures.push(format!(
                    "{} / {}: round trip of {out:?} gave {again:?}",
                    c.file, c.name
                ));
            }
        }
    }
    println!(
        "line-protocol fixtures: {} cases, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(cases.len() >= 40, "only {} fixture cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
