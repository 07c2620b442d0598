//! The core's write contract end to end through `handle()`: auth, parameters, bodies, partial
//! writes, type checks and the Arrow batches handed to the host.

use std::collections::HashMap;
use std::io::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use base64::Engine as _;
use influxgate::auth::{Access, Permission, hash_token};
use influxgate::schema::EmptySchema;
use influxgate::{Action, ColumnType, Config, FieldType, Request, Response, Schema, handle};

const NOW: i64 = 1_700_000_000_123_456_789;

fn config() -> Config {
    let mut c = Config::default();
    c.tokens.add(
        "admin",
        "admintoken",
        vec![
            Permission::all(Access::Write),
            Permission::all(Access::Read),
        ],
    );
    c.tokens
        .add_hashed(
            "reader",
            &hash_token("readtoken"),
            vec![Permission {
                access: Access::Read,
                database: "*".into(),
            }],
        )
        .unwrap();
    c.tokens.add(
        "db1-writer",
        "db1token",
        vec![Permission {
            access: Access::Write,
            database: "db1".into(),
        }],
    );
    c.max_body_bytes = 64 * 1024;
    c
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: Vec<u8>,
}

fn post(path: &'static str, query: &'static str, body: &[u8]) -> Req<'static> {
    Req {
        method: "POST",
        path,
        query,
        headers: vec![("Authorization", "Token admintoken")],
        body: body.to_vec(),
    }
}

fn run_with(r: &Req<'_>, schema: &dyn Schema) -> Action {
    let req = Request {
        method: r.method,
        path: r.path,
        query: r.query,
        headers: &r.headers,
        body: &r.body,
    };
    handle(&req, NOW, &config(), schema)
}

fn run(r: &Req<'_>) -> Action {
    run_with(r, &EmptySchema)
}

/// The response a host would send (assuming storage succeeds).
fn response(a: &Action) -> &Response {
    match a {
        Action::Respond(r) => r,
        Action::Write(p) => &p.response,
        other => panic!("unexpected action {other:?}"),
    }
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)))
}

fn expect_error(a: &Action, status: u16, code: &str, contains: &str) {
    let r = response(a);
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    let v = json(r);
    assert_eq!(v["code"], code);
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains(contains), "message {msg:?} lacks {contains:?}");
}

fn plan(a: Action) -> influxgate::WritePlan {
    match a {
        Action::Write(p) => p,
        Action::Respond(r) => panic!(
            "expected a write, got {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ),
        other => panic!("unexpected {other:?}"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn batch<'p>(p: &'p influxgate::WritePlan, m: &str) -> &'p RecordBatch {
    &p.batches
        .iter()
        .find(|b| b.measurement == m)
        .unwrap_or_else(|| panic!("no batch {m}"))
        .batch
}

fn tag(b: &RecordBatch, col: &str, row: usize) -> Option<String> {
    let a = b
        .column_by_name(col)?
        .as_dictionary::<arrow_array::types::Int32Type>();
    if a.is_null(row) {
        return None;
    }
    let values = a.values().as_string::<i32>();
    Some(values.value(a.keys().value(row) as usize).to_string())
}

// ---- auth ----

#[test]
fn every_auth_scheme_is_accepted() {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("anyone:admintoken")
    );
    for header in ["Token admintoken", "Bearer admintoken", basic.as_str()] {
        let mut r = post("/api/v2/write", "bucket=b", b"m v=1 1\n");
        r.headers = vec![("Authorization", header)];
        assert_eq!(response(&run(&r)).status, 204, "{header}");
    }
    let mut r = post("/write", "db=b&u=ignored&p=admintoken", b"m v=1 1\n");
    r.headers.clear();
    assert_eq!(response(&run(&r)).status, 204);
}

#[test]
fn query_token_only_on_v1() {
    let mut r = post("/api/v2/write", "bucket=b&p=admintoken", b"m v=1 1\n");
    r.headers.clear();
    expect_error(&run(&r), 401, "unauthorized", "unauthorized access");
}

#[test]
fn auth_failures() {
    let mut r = post("/write", "db=b", b"m v=1 1\n");
    r.headers.clear();
    expect_error(&run(&r), 401, "unauthorized", "unauthorized");
    r.headers = vec![("Authorization", "Token wrong")];
    expect_error(&run(&r), 401, "unauthorized", "unauthorized");
    r.headers = vec![("Authorization", "Digest abc")];
    expect_error(&run(&r), 400, "invalid", "unknown scheme \"Digest\"");
    r.headers = vec![("Authorization", "Basic %%%")];
    expect_error(&run(&r), 400, "invalid", "base64");
    r.headers = vec![("Authorization", "Token readtoken")];
    expect_error(
        &run(&r),
        403,
        "forbidden",
        "write permission on database \"b\"",
    );
    r.headers = vec![("Authorization", "Token db1token")];
    expect_error(&run(&r), 403, "forbidden", "\"b\"");
    let mut ok = post("/write", "db=db1&rp=week", b"m v=1 1\n");
    ok.headers = vec![("Authorization", "Token db1token")];
    assert_eq!(plan(run(&ok)).database, "db1/week");
}

#[test]
fn ping_and_health_need_no_token() {
    let r = Req {
        method: "GET",
        path: "/ping",
        query: "",
        headers: vec![],
        body: vec![],
    };
    let resp = response(&run(&r)).clone();
    assert_eq!(resp.status, 204);
    assert!(resp.header("X-Influxdb-Version").is_some());
    let r = Req {
        method: "GET",
        path: "/health",
        query: "",
        headers: vec![],
        body: vec![],
    };
    let resp = response(&run(&r)).clone();
    assert_eq!(json(&resp)["status"], "pass");
}

#[test]
fn routing_errors() {
    let r = Req {
        method: "GET",
        path: "/write",
        query: "",
        headers: vec![],
        body: vec![],
    };
    expect_error(&run(&r), 405, "method not allowed", "GET");
    let r = Req {
        method: "GET",
        path: "/nope",
        query: "",
        headers: vec![],
        body: vec![],
    };
    expect_error(&run(&r), 404, "not found", "not found");
}

// ---- parameters ----

#[test]
fn parameter_errors_use_the_documented_wording() {
    expect_error(
        &run(&post("/api/v2/write", "org=o", b"m v=1")),
        400,
        "invalid",
        "missing bucket value",
    );
    expect_error(
        &run(&post("/api/v2/write", "bucket=b&precision=u", b"m v=1")),
        400,
        "invalid",
        "failed to deserialize org/bucket/precision in request: unknown variant `u`, expected one of `s`, `ms`, `us`, `ns`",
    );
    expect_error(
        &run(&post("/write", "db=b&precision=x", b"m v=1")),
        400,
        "invalid",
        "failed to deserialize db/rp/precision in request: unknown variant `x`",
    );
    expect_error(
        &run(&post("/write", "", b"m v=1")),
        400,
        "invalid",
        "database is required",
    );
    expect_error(
        &run(&post("/write", "db=a%20b", b"m v=1")),
        400,
        "invalid",
        "not allowed",
    );
}

// ---- bodies ----

#[test]
fn gzip_bodies_and_limits() {
    let mut r = post("/write", "db=b", &gzip(b"m v=1 1\nm v=2 2\n"));
    r.headers.push(("Content-Encoding", "gzip"));
    assert_eq!(plan(run(&r)).accepted, 2);

    let bomb = gzip(&vec![b'#'; 20 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "the bomb itself fits the raw limit");
    let mut r = post("/write", "db=b", &bomb);
    r.headers.push(("Content-Encoding", "gzip"));
    expect_error(&run(&r), 413, "request too large", "after decompression");

    let big = vec![b'#'; 64 * 1024 + 1];
    expect_error(
        &run(&post("/write", "db=b", &big)),
        413,
        "request too large",
        "65536 bytes",
    );

    let mut r = post("/write", "db=b", b"not gzip at all");
    r.headers.push(("Content-Encoding", "gzip"));
    expect_error(&run(&r), 400, "invalid", "invalid gzip body");

    // Just the magic bytes: a 400, not a panic.
    let mut r = post("/write", "db=b", &[0x1f, 0x8b]);
    r.headers.push(("Content-Encoding", "gzip"));
    expect_error(&run(&r), 400, "invalid", "invalid gzip body");

    let mut r = post("/write", "db=b", b"m v=1");
    r.headers.push(("Content-Encoding", "br"));
    expect_error(
        &run(&r),
        400,
        "invalid",
        "unsupported Content-Encoding \"br\"",
    );
}

#[test]
fn invalid_utf8_and_empty_bodies() {
    expect_error(
        &run(&post("/write", "db=b", b"m v=1 1\nm s=\"\xff\" 2")),
        400,
        "invalid",
        "line 2",
    );
    expect_error(
        &run(&post("/write", "db=b", b"")),
        400,
        "invalid",
        "writing requires points",
    );
    expect_error(
        &run(&post("/write", "db=b", b"\n# only a comment\n")),
        400,
        "invalid",
        "writing requires points",
    );
}

// ---- partial writes ----

const MIXED: &[u8] = b"cpu,host=a usage=1 10\ncpu,host=a usage= 11\n\ncpu,host=b usage=3 12\n";

#[test]
fn v1_partial_write_is_201_with_the_rejects() {
    let p = plan(run(&post("/write", "db=b", MIXED)));
    assert_eq!((p.accepted, p.rejected), (2, 1));
    assert_eq!(p.response.status, 201);
    let v = json(&p.response);
    assert_eq!(v["line"], 2);
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.starts_with("partial write of line protocol occurred"),
        "{msg}"
    );
    assert!(msg.contains("line 2"), "{msg}");
    assert!(msg.contains("cpu,host=a usage= 11"), "{msg}");
    assert_eq!(batch(&p, "cpu").num_rows(), 2);
}

#[test]
fn v2_partial_write_is_400_saying_partial() {
    let p = plan(run(&post("/api/v2/write", "bucket=b", MIXED)));
    assert_eq!(p.response.status, 400);
    assert!(
        json(&p.response)["message"]
            .as_str()
            .unwrap()
            .contains("partial write")
    );
    assert_eq!(
        batch(&p, "cpu").num_rows(),
        2,
        "good lines are still written"
    );
}

#[test]
fn nothing_written_is_400() {
    let a = run(&post("/write", "db=b", b"bad\nalso bad\n"));
    expect_error(&a, 400, "invalid", "failed to parse line protocol");
    assert_eq!(json(response(&a))["line"], 1);
    let a = run(&post("/api/v2/write", "bucket=b", b"bad\n"));
    expect_error(&a, 400, "invalid", "no data written");
}

#[test]
fn at_most_100_rejects_are_listed() {
    let body: String = (0..150).map(|i| format!("bad{i}\n")).collect();
    let a = run(&post("/write", "db=b", body.as_bytes()));
    let v = json(response(&a));
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("line 100"), "{msg}");
    assert!(!msg.contains("line 101"));
    assert!(msg.contains("and 50 more"));
}

// ---- types and batches ----

#[test]
fn batches_have_the_documented_schema() {
    let body = b"cpu,host=a,region=eu usage=1.5,n=3i,u=4u,ok=true,msg=\"hi\" 1000\ncpu,host=b usage=2 2000\nmem free=1i 5\n";
    let p = plan(run(&post("/write", "db=b", body)));
    assert_eq!(p.response.status, 204);
    let b = batch(&p, "cpu");
    let names: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["host", "region", "msg", "n", "ok", "u", "usage", "time"]
    );
    let dt = |c: &str| b.schema().field_with_name(c).unwrap().data_type().clone();
    assert_eq!(
        dt("host"),
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    );
    assert_eq!(dt("usage"), DataType::Float64);
    assert_eq!(dt("n"), DataType::Int64);
    assert_eq!(dt("u"), DataType::UInt64);
    assert_eq!(dt("ok"), DataType::Boolean);
    assert_eq!(dt("msg"), DataType::Utf8);
    assert_eq!(dt("time").to_string(), "Timestamp(ns, \"UTC\")");
    assert_eq!(tag(b, "host", 1).as_deref(), Some("b"));
    assert_eq!(tag(b, "region", 1), None);
    assert_eq!(
        b.column_by_name("usage")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(1),
        2.0
    );
    assert!(b.column_by_name("n").unwrap().is_null(1));
    assert_eq!(
        b.column_by_name("n")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        3
    );
    assert_eq!(
        b.column_by_name("u")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .value(0),
        4
    );
    let t = b
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!((t.value(0), t.value(1)), (1000, 2000));
    let mut new: Vec<_> = p
        .new_columns
        .iter()
        .map(|c| format!("{}.{}:{:?}", c.table, c.column, c.column_type))
        .collect();
    new.sort();
    assert!(
        new.contains(&"cpu.usage:Field(Float)".to_string()),
        "{new:?}"
    );
    assert!(new.contains(&"mem.free:Field(Integer)".to_string()));
    assert_eq!(new.len(), 8);
}

#[test]
fn precision_scales_and_missing_time_is_now_truncated() {
    let p = plan(run(&post(
        "/write",
        "db=b&precision=s",
        b"m v=1 3\nm v=2\nm v=3\n",
    )));
    let t = batch(&p, "m")
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .clone();
    assert_eq!(t.value(0), 3_000_000_000);
    assert_eq!(t.value(1), 1_700_000_000_000_000_000);
    assert_eq!(t.value(1), t.value(2), "one now per request");
    let p = plan(run(&post(
        "/api/v2/write",
        "bucket=b&precision=ms",
        b"m v=1\n",
    )));
    let t = batch(&p, "m")
        .column_by_name("time")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .value(0);
    assert_eq!(t, 1_700_000_000_123_000_000);
}

#[test]
fn out_of_range_timestamp_is_that_lines_error() {
    let p = plan(run(&post(
        "/write",
        "db=b&precision=h",
        b"m v=1 1\nm v=2 9223372036854775\n",
    )));
    assert_eq!((p.accepted, p.rejected), (1, 1));
    let msg = json(&p.response)["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("line 2") && msg.contains("out of range"),
        "{msg}"
    );
}

#[test]
fn type_conflicts_within_a_request() {
    let p = plan(run(&post(
        "/write",
        "db=b",
        b"m v=1 1\nm v=1i 2\nm v=2 3\nm,v=x w=1 4\n",
    )));
    assert_eq!((p.accepted, p.rejected), (2, 2));
    let msg = json(&p.response)["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("line 2: field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float"),
        "{msg}"
    );
    assert!(msg.contains("line 4: column conflict: \"v\""), "{msg}");
    assert_eq!(batch(&p, "m").num_rows(), 2);
}

struct Known(HashMap<(&'static str, &'static str, &'static str), ColumnType>);

impl Schema for Known {
    fn column(&self, db: &str, table: &str, column: &str) -> Option<ColumnType> {
        self.0
            .iter()
            .find(|((d, t, c), _)| *d == db && *t == table && *c == column)
            .map(|(_, ty)| *ty)
    }
}

#[test]
fn type_conflicts_across_requests_use_the_host_schema() {
    let known = Known(HashMap::from([
        (("b", "m", "v"), ColumnType::Field(FieldType::String)),
        (("b", "m", "host"), ColumnType::Tag),
    ]));
    let p = plan(run_with(
        &post(
            "/write",
            "db=b",
            b"m v=1 1\nm,host=a v=\"s\" 2\nm host=1 3\n",
        ),
        &known,
    ));
    assert_eq!((p.accepted, p.rejected), (1, 2));
    let msg = json(&p.response)["message"].as_str().unwrap().to_string();
    assert!(msg.contains("line 1: field type conflict"), "{msg}");
    assert!(msg.contains("line 3: column conflict"), "{msg}");
    assert!(p.new_columns.is_empty(), "{:?}", p.new_columns);
    // Another database has no such column.
    let p = plan(run_with(&post("/write", "db=other", b"m v=1 1\n"), &known));
    assert_eq!(p.rejected, 0);
}
