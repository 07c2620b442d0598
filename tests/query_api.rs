//! The core's query contract through `handle()`: auth, parse errors, schema answers, SQL jobs
//! and their results rendered as InfluxDB does.

use influxgate::auth::{Access, Permission};
use influxgate::query::translate::{JsonSchema, QuerySchema};
use influxgate::{Action, ColumnType, Config, Request, Response, Schema, handle};

struct Catalog(JsonSchema);

impl Schema for Catalog {
    fn column(&self, _: &str, _: &str, _: &str) -> Option<ColumnType> {
        None
    }
    fn query_schema(&self) -> Option<&dyn QuerySchema> {
        Some(&self.0)
    }
}

fn catalog() -> Catalog {
    Catalog(
        JsonSchema::from_json(
            r#"{"cpu": {"tags": ["host"], "fields": {"usage": "float"}}, "mem": {"fields": {"free": "integer"}}}"#,
        )
        .unwrap(),
    )
}

fn config() -> Config {
    let mut c = Config::default();
    c.tokens.add(
        "r",
        "reader",
        vec![Permission {
            access: Access::Read,
            database: "db".into(),
        }],
    );
    c.tokens
        .add("w", "writer", vec![Permission::all(Access::Write)]);
    c
}

fn run(method: &str, query: &str, headers: &[(&str, &str)]) -> Action {
    let req = Request {
        method,
        path: "/query",
        query,
        headers,
        body: b"",
    };
    handle(&req, 1_700_000_000_000_000_000, &config(), &catalog())
}

fn body(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

const AUTH: &[(&str, &str)] = &[("Authorization", "Token reader")];

#[test]
fn read_permission_is_needed() {
    match run(
        "GET",
        "db=db&q=SHOW+MEASUREMENTS",
        &[("Authorization", "Token writer")],
    ) {
        Action::Respond(r) => assert_eq!(r.status, 403),
        other => panic!("{other:?}"),
    }
    match run("GET", "db=other&q=SHOW+MEASUREMENTS", AUTH) {
        Action::Respond(r) => assert_eq!(r.status, 403),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parse_errors_are_400_like_influxdb() {
    let Action::Respond(r) = run("GET", "db=db&q=SELEKT+1", AUTH) else {
        panic!()
    };
    assert_eq!(r.status, 400);
    let msg = body(&r)["error"].as_str().unwrap().to_string();
    assert!(msg.starts_with("error parsing query: "), "{msg}");
}

#[test]
fn schema_answers_need_no_sql() {
    let Action::Query(plan) = run("GET", "db=db&q=SHOW+MEASUREMENTS", AUTH) else {
        panic!()
    };
    assert!(plan.jobs().is_empty());
    let r = plan.respond(vec![]);
    assert_eq!(r.status, 200);
    assert_eq!(
        body(&r),
        serde_json::json!({"results": [{"statement_id": 0, "series": [
            {"name": "measurements", "columns": ["name"], "values": [["cpu"], ["mem"]]}]}]})
    );
}

#[test]
fn selects_become_sql_jobs_and_engine_errors_become_statement_errors() {
    let Action::Query(plan) = run(
        "GET",
        "db=db&q=SELECT+usage+FROM+cpu%3B+SHOW+MEASUREMENTS%3B+SELECT+nope(usage)+FROM+cpu",
        AUTH,
    ) else {
        panic!()
    };
    let jobs = plan.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].sql.contains("\"cpu\""), "{}", jobs[0].sql);
    let r = plan.respond(vec![Err("engine exploded".into())]);
    let v = body(&r);
    assert_eq!(v["results"][0]["error"], "engine exploded");
    assert_eq!(v["results"][1]["series"][0]["name"], "measurements");
    assert!(
        v["results"][2]["error"].as_str().unwrap().contains("nope"),
        "{v}"
    );
}

#[test]
fn empty_results_look_like_influxdb() {
    let Action::Query(plan) = run("GET", "db=db&q=SELECT+usage+FROM+cpu", AUTH) else {
        panic!()
    };
    let r = plan.respond(vec![Ok(vec![])]);
    assert_eq!(
        body(&r),
        serde_json::json!({"results": [{"statement_id": 0}]})
    );
}

/// The schema endpoint edge hosts fetch before translating: the host's catalog as JSON, only
/// for a token that may read, and readable back as a `JsonSchema` that answers like the original.
#[test]
fn schema_endpoint_for_edge_hosts() {
    let multi = JsonSchema::from_json(
        r#"{"databases": {"db": {"cpu": {"tags": ["host", "region"], "fields": {"usage": "float"}}},
                          "other": {"mem": {"fields": {"free": "integer"}}}}}"#,
    )
    .unwrap();
    let get = |query: &str, token: &str| {
        let auth = format!("Token {token}");
        let headers = [("Authorization", auth.as_str())];
        let req = Request {
            method: "GET",
            path: influxgate::routes::SCHEMA,
            query,
            headers: &headers,
            body: b"",
        };
        match handle(&req, 0, &config(), &multi) {
            Action::Respond(r) => r,
            other => panic!("{other:?}"),
        }
    };
    let r = get("db=db", "reader");
    assert_eq!(r.status, 200);
    let back = JsonSchema::from_json(std::str::from_utf8(&r.body).unwrap()).unwrap();
    assert_eq!(back.databases(), vec!["db".to_string()]);
    assert_eq!(back.tag_keys("db", "cpu"), vec!["host", "region"]);
    assert_eq!(
        back.column("db", "cpu", "usage"),
        Some(ColumnType::Field(influxgate::FieldType::Float))
    );
    assert_eq!(back.column("db", "cpu", "host"), Some(ColumnType::Tag));
    assert_eq!(back.column("db", "cpu", "time"), Some(ColumnType::Time));
    assert_eq!(back.column("db", "cpu", "nope"), None);
    // Every database needs read on all; the reader may read `db` only.
    assert_eq!(get("", "reader").status, 403);
    assert_eq!(get("db=other", "reader").status, 403);
    assert_eq!(get("db=db", "nobody").status, 401);
    let mut admin = config();
    admin.tokens.add_admin("admin").unwrap();
    let req = Request {
        method: "GET",
        path: influxgate::routes::SCHEMA,
        query: "",
        headers: &[("Authorization", "Token admin")],
        body: b"",
    };
    let Action::Respond(r) = handle(&req, 0, &admin, &multi) else {
        panic!("not answered")
    };
    let all = JsonSchema::from_json(std::str::from_utf8(&r.body).unwrap()).unwrap();
    assert_eq!(all, multi);
    assert_eq!(all.last_rows_function(), None);
    // A backend with the last-rows table function says so; the edge's translation then uses it.
    let with = multi.clone().with_last_rows("last_rows");
    let Action::Respond(r) = handle(&req, 0, &admin, &with) else {
        panic!("not answered")
    };
    let back = JsonSchema::from_json(std::str::from_utf8(&r.body).unwrap()).unwrap();
    assert_eq!(back.last_rows_function(), Some("last_rows"));
    assert_eq!(back, with);
}

/// An edge host asks for the schema only for an authenticated InfluxQL query.
#[test]
fn edge_fetches_the_schema_only_for_authenticated_influxql() {
    let c = config();
    let wants = |method, path, query, headers: &[(&str, &str)]| {
        influxgate::handler::wants_query_schema(
            &Request {
                method,
                path,
                query,
                headers,
                body: b"",
            },
            &c,
        )
    };
    assert!(wants("GET", "/query", "q=SHOW+DATABASES", AUTH));
    assert!(wants("GET", "/query", "q=x&p=reader", &[]));
    assert!(wants("POST", "/api/v3/query_influxql", "db=db&q=x", AUTH));
    assert!(!wants("GET", "/api/v3/query_influxql", "q=x&p=reader", &[]));
    assert!(!wants(
        "GET",
        "/query",
        "q=x",
        &[("Authorization", "Token wrong")]
    ));
    assert!(!wants("GET", "/api/v3/query_sql", "db=db&q=x", AUTH));
    assert!(!wants("POST", "/write", "db=db", AUTH));
}
