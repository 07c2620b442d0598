//! Runs every `decode` case of InfluxData's cross-implementation line-protocol corpus
//! (`../shared/conformance/line-protocol-corpus.json`, see its README) through our parser and
//! compares accept/reject and every value (name, tags, typed fields, time in ns).
//!
//! The Go decoder rejects a whole input at its first bad line; we report per line, so an input
//! the corpus rejects must give at least one rejected line. A few cases differ on purpose: they
//! are listed in [`DELIBERATE`] with the reason, and the test asserts that exactly those cases
//! differ, so fixing one (or breaking another) fails the test until the list is updated.
//!
//! Run with `-- --nocapture` to see the counts; set `LP_CONFORMANCE_VERBOSE=1` to print every
//! differing case.
#![allow(clippy::disallowed_methods)] // tests may read files; the lint guards the core.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use base64::Engine as _;
use influxgate::write::line_protocol::{FieldValue, Line, parse_lines};
use influxgate::write::precision::Precision;
use serde_json::Value;

/// Why a group of cases differs from the Go reference decoder on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    /// InfluxDB (models/points.go) unescapes only `\"` and `\\` in string fields; the Go
    /// `lineprotocol` package also turns `\n`, `\r`, `\t` into control characters. We keep
    /// InfluxDB's behaviour, so a string written by an InfluxDB client reads back unchanged.
    StringEscapes,
    /// InfluxDB rejects `time` as a tag or field key; the Go decoder accepts it.
    TimeKey,
    /// A comment line may hold any character in InfluxDB; the Go decoder rejects comments with
    /// control characters (even a tab). We skip them as InfluxDB does.
    CommentControlChars,
}

/// The cases that differ on purpose, by corpus key.
const DELIBERATE: &[(&str, Why)] = &[
    ("0d72bd69a58fa1a3399cf61fc9fdc67c", Why::StringEscapes), // m v="\r"
    ("909116df4d304c2e9ad8a57300bc08d7", Why::StringEscapes), // m v="\t"
    ("ea7ad6289581283d56af6d43c72c2664", Why::StringEscapes), // m v="\n"
    ("2a6fa6f9c4bd199a093f88e94b542430", Why::TimeKey),       // cpu,tag0=v0,time=v0 value=1
    ("5f10c11304f37e8f65e1d9fc36c6fde3", Why::TimeKey),       // same, other default time
    ("dfa6432a639651d02910c4527badb15c", Why::CommentControlChars), // "#\x15..." comment lines
];

struct Case {
    key: String,
    text: Result<String, Vec<u8>>,
    precision: Precision,
    default_time: i64,
    expected: Result<Vec<Value>, String>,
}

fn load() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/line-protocol-corpus.json"
    );
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let corpus: Value = serde_json::from_str(&data).expect("corpus is JSON");
    let decode = corpus["decode"].as_object().expect("decode object");
    let mut cases = Vec::new();
    for (key, case) in decode {
        let input = &case["input"];
        let text = match &input["text"] {
            Value::String(s) => Ok(s.clone()),
            other => {
                let b64 = other["binary"].as_str().expect("binary text");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64");
                String::from_utf8(bytes).map_err(|e| e.into_bytes())
            }
        };
        let precision = match input["precision"].as_str().expect("precision") {
            "1ns" => Precision::Nanoseconds,
            "1us" | "1µs" => Precision::Microseconds,
            "1ms" => Precision::Milliseconds,
            "1s" => Precision::Seconds,
            p => panic!("{key}: unknown precision {p}"),
        };
        let default_time = input["defaultTime"].as_i64().expect("defaultTime");
        let output = &case["output"];
        let expected = match output.get("result") {
            Some(Value::Array(points)) => Ok(points.clone()),
            Some(Value::Null) => Ok(Vec::new()),
            _ => Err(output["error"].as_str().expect("error text").to_owned()),
        };
        cases.push(Case {
            key: key.clone(),
            text,
            precision,
            default_time,
            expected,
        });
    }
    cases
}

fn field_json(v: &FieldValue<'_>) -> Value {
    match v {
        FieldValue::Float(f) => serde_json::json!({ "float": f }),
        FieldValue::Integer(i) => serde_json::json!({ "int": i }),
        FieldValue::UInteger(u) => serde_json::json!({ "uint": u }),
        FieldValue::String(s) => serde_json::json!({ "string": s }),
        FieldValue::Boolean(b) => serde_json::json!({ "bool": b }),
    }
}

/// A point in the corpus' JSON shape, or why it cannot be one (timestamp overflow).
fn point_json(l: &Line<'_>, c: &Case) -> Result<Value, String> {
    let time = match l.timestamp {
        Some(ts) => c
            .precision
            .to_nanos(ts)
            .ok_or_else(|| format!("timestamp {ts} overflows in ns"))?,
        None => c.precision.truncate(c.default_time),
    };
    // The corpus lists tags sorted by key (as in a series key); we keep them as written.
    let mut tags: Vec<_> = l.tags.iter().collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| serde_json::json!({ "key": k, "value": v }))
        .collect();
    let fields: Vec<Value> = l
        .fields
        .iter()
        .map(|(k, v)| serde_json::json!({ "key": k, "value": field_json(v) }))
        .collect();
    Ok(serde_json::json!({ "time": time, "name": l.measurement, "tags": tags, "fields": fields }))
}

/// Compares two JSON values treating numbers by value (so `1` and `1.0` floats are equal).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                // The expected numbers come through serde_json, which (without its
                // `float_roundtrip` feature) may misread long mantissas by one ulp: e.g. the
                // corpus' `1.7976931348623157E+53` reads as `...155e53`. Our values are the
                // correctly rounded ones (Rust's parser), so allow exactly that one ulp.
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 1)
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `None` if we agree with the corpus, else a description of the difference.
fn check(c: &Case) -> Option<String> {
    let text = match &c.text {
        Ok(t) => t,
        Err(_) => {
            return match &c.expected {
                Err(_) => None,
                Ok(_) => Some("body is not UTF-8: we reject it, Go accepts".to_owned()),
            };
        }
    };
    let mut got = Vec::new();
    let mut errors = Vec::new();
    for item in parse_lines(text) {
        match item
            .map_err(|e| e.to_string())
            .and_then(|l| point_json(&l, c))
        {
            Ok(p) => got.push(p),
            Err(e) => errors.push(e),
        }
    }
    match &c.expected {
        Err(go) if errors.is_empty() => Some(format!("Go rejects ({go}), we accept {got:?}")),
        Err(_) => None,
        Ok(_) if !errors.is_empty() => Some(format!("Go accepts, we reject: {errors:?}")),
        Ok(want) if !same(&Value::Array(want.clone()), &Value::Array(got.clone())) => {
            Some(format!("values differ: want {want:?}, got {got:?}"))
        }
        Ok(_) => None,
    }
}

#[test]
fn corpus_decode_cases() {
    let cases = load();
    let verbose = std::env::var_os("LP_CONFORMANCE_VERBOSE").is_some();
    let deliberate: BTreeMap<&str, Why> = DELIBERATE.iter().copied().collect();
    assert_eq!(deliberate.len(), DELIBERATE.len(), "a key is listed twice");
    let (mut pass, mut accepts, mut rejects) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut differing = BTreeMap::new();
    for c in &cases {
        match check(c) {
            None => {
                pass += 1;
                if c.expected.is_ok() {
                    accepts += 1;
                } else {
                    rejects += 1;
                }
                if deliberate.contains_key(c.key.as_str()) {
                    unexpected.push(format!(
                        "{}: listed as deliberate but now agrees: remove it",
                        c.key
                    ));
                }
            }
            Some(diff) => {
                if verbose {
                    println!("DIFF {} {:?}\n    {diff}", c.key, c.text);
                }
                match deliberate.get(c.key.as_str()) {
                    Some(why) => *differing.entry(*why).or_insert(0usize) += 1,
                    None => unexpected.push(format!("{} {:?}: {diff}", c.key, c.text)),
                }
            }
        }
    }
    println!(
        "line-protocol corpus: {} decode cases, {pass} agree ({accepts} accepted, {rejects} rejected), {} deliberate differences {differing:?}, {} unexpected",
        cases.len(),
        differing.values().sum::<usize>(),
        unexpected.len()
    );
    for key in deliberate.keys() {
        assert!(
            cases.iter().any(|c| c.key == *key),
            "deliberate case {key} is not in the corpus"
        );
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
