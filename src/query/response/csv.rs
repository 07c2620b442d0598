//! CSV as InfluxDB 1.x's `csvFormatter` writes it (`name,tags,time,<columns>`, a blank line and a
//! new header between statements and whenever a statement's columns change).

use super::{Doc, Value, epoch_time};
use crate::query::params::Epoch;

/// The formatter's state, kept across the documents of a chunked response like 1.x does.
#[derive(Debug, Default)]
pub(crate) struct CsvState {
    statement_id: Option<usize>,
}

/// Go `encoding/csv`: quote a field containing `"`, `,`, `\r` or `\n`, or starting with a
/// space; `""` inside quotes.
fn push_field(out: &mut String, field: &str) {
    let needs = !field.is_empty()
        && (field == "\\."
            || field
                .bytes()
                .any(|c| matches!(c, b'"' | b',' | b'\r' | b'\n'))
            || field.chars().next().is_some_and(char::is_whitespace));
    if !needs {
        out.push_str(field);
        return;
    }
    out.push('"');
    for c in field.chars() {
        if c == '"' {
            out.push_str("\"\"");
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

fn push_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, f);
    }
    out.push('\n');
}

/// Escape a tag key or value as in a series key (`models.Tags.HashKey`).
fn escape_tag(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn cell(v: &Value, epoch: Option<Epoch>) -> String {
    match v {
        Value::Null => String::new(),
        Value::Float(f) => {
            if f.is_nan() {
                "NaN".into()
            } else if f.is_infinite() {
                if *f > 0.0 { "+Inf" } else { "-Inf" }.into()
            } else {
                // Go's FormatFloat(v, 'f', -1, 64) is Rust's shortest `{}`.
                format!("{f}")
            }
        }
        Value::Integer(i) => i.to_string(),
        Value::Unsigned(u) => u.to_string(),
        Value::String(s) => s.clone(),
        Value::Boolean(b) => if *b { "true" } else { "false" }.into(),
        Value::Time(ns) => match epoch {
            Some(e) => epoch_time(*ns, e).to_string(),
            None => ns.to_string(),
        },
    }
}

impl CsvState {
    pub fn render(&mut self, doc: &Doc<'_>, epoch: Option<Epoch>) -> Vec<u8> {
        let mut out = String::new();
        let results = match doc {
            Doc::Error(msg) => {
                push_record(&mut out, ["error"]);
                push_record(&mut out, [*msg]);
                return out.into_bytes();
            }
            Doc::Results(r) => r,
        };
        for result in results {
            if self.statement_id != Some(result.statement_id) {
                // Statements without series (and errors) print nothing.
                let Some(first) = result.series.first() else {
                    continue;
                };
                if self.statement_id.is_some() {
                    out.push('\n');
                }
                self.statement_id = Some(result.statement_id);
                push_record(
                    &mut out,
                    ["name", "tags"]
                        .into_iter()
                        .chain(first.series.columns.iter().map(String::as_str)),
                );
            }
            for (i, s) in result.series.iter().enumerate() {
                if i > 0 && result.series[i - 1].series.columns != s.series.columns {
                    out.push('\n');
                    push_record(
                        &mut out,
                        ["name", "tags"]
                            .into_iter()
                            .chain(s.series.columns.iter().map(String::as_str)),
                    );
                }
                let mut tags = String::new();
                for (k, v) in s.sorted_tags() {
                    // HashKey skips tags with an empty value.
                    if v.is_empty() {
                        continue;
                    }
                    if !tags.is_empty() {
                        tags.push(',');
                    }
                    escape_tag(&mut tags, k);
                    tags.push('=');
                    escape_tag(&mut tags, v);
                }
                for row in s.values() {
                    let mut cells: Vec<String> = Vec::with_capacity(row.len() + 2);
                    cells.push(s.series.name.clone());
                    cells.push(tags.clone());
                    cells.extend(row.iter().map(|v| cell(v, epoch)));
                    push_record(&mut out, cells.iter().map(String::as_str));
                }
            }
        }
        out.into_bytes()
    }
}
