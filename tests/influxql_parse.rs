//! InfluxQL parser: round trips, ASTs, errors, depth limits and a property test.

use influxgate::query::influxql::{
    BinaryOp, Dimension, Duration, Expr, Fill, Literal, MAX_NESTING, MeasurementName,
    MeasurementNameKind, Order, ParseErrorKind, Regex, Source, Statement, TimeOffset, WithKey,
    parse_expr, parse_statement, parse_statements,
};

/// Parses, prints, re-parses; the trees must be equal and printing must be stable.
fn round_trip(q: &str) -> String {
    let ast = parse_statements(q).unwrap_or_else(|e| panic!("parse {q:?}: {e}"));
    let printed: Vec<String> = ast.iter().map(ToString::to_string).collect();
    let printed = printed.join("; ");
    let again = parse_statements(&printed)
        .unwrap_or_else(|e| panic!("reparse {printed:?} (from {q:?}): {e}"));
    assert_eq!(ast, again, "round trip of {q:?} via {printed:?}");
    let printed2: Vec<String> = again.iter().map(ToString::to_string).collect();
    assert_eq!(printed, printed2.join("; "), "printing is stable for {q:?}");
    printed
}

fn select(q: &str) -> influxgate::query::influxql::SelectStatement {
    match parse_statement(q).unwrap_or_else(|e| panic!("parse {q:?}: {e}")) {
        Statement::Select(s) => *s,
        other => panic!("not a select: {other:?}"),
    }
}

const QUERIES: &[&str] = &[
    // field lists
    "SELECT * FROM cpu",
    "SELECT *::field FROM cpu",
    "SELECT *::tag, *::field FROM cpu",
    "SELECT value FROM cpu",
    "SELECT \"value\" FROM \"cpu\"",
    "SELECT value, host FROM cpu",
    "SELECT value::float, host::tag, n::integer, s::string, b::boolean, u::unsigned, f::field FROM cpu",
    "SELECT /^v/ FROM cpu",
    "SELECT /a\\/b/ FROM cpu",
    "SELECT value AS v FROM cpu",
    "SELECT value AS \"my value\" FROM cpu",
    "SELECT value AS \"select\" FROM cpu",
    "SELECT a + b FROM m",
    "SELECT a + b * c FROM m",
    "SELECT (a + b) * c FROM m",
    "SELECT a - b - c FROM m",
    "SELECT a - (b - c) FROM m",
    "SELECT a / b % c FROM m",
    "SELECT a & b | c ^ d FROM m",
    "SELECT -a FROM m",
    "SELECT -a * 2 FROM m",
    "SELECT - -a FROM m",
    "SELECT -(a + b) FROM m",
    "SELECT a * -1 FROM m",
    "SELECT a - -1 FROM m",
    "SELECT 1, 1.5, -2, -2.25, 'str', true, false, 5m FROM m",
    "SELECT .5 FROM m",
    "SELECT -9223372036854775808 FROM m",
    "SELECT 9223372036854775807 FROM m",
    "SELECT 123456789012345678901234567890.5 FROM m",
    "SELECT mean(value) FROM cpu",
    "SELECT MEAN(value) FROM cpu",
    "SELECT mean(value) AS mean_value FROM cpu",
    "SELECT count(*) FROM cpu",
    "SELECT count(distinct(host)) FROM cpu",
    "SELECT count(DISTINCT host) FROM cpu",
    "SELECT DISTINCT host FROM cpu",
    "SELECT distinct(host) FROM cpu",
    "SELECT derivative(mean(value), 1s) FROM cpu GROUP BY time(1m)",
    "SELECT non_negative_derivative(max(bytes), 10s) * 8 FROM net GROUP BY time(10s), host",
    "SELECT top(value, host, 3) FROM cpu",
    "SELECT bottom(value, 3), host FROM cpu",
    "SELECT percentile(value, 95) FROM cpu",
    "SELECT percentile(value, 99.9) FROM cpu",
    "SELECT moving_average(mean(v), 5) FROM m GROUP BY time(1h)",
    "SELECT holt_winters(first(v), 10, 4) FROM m GROUP BY time(1d)",
    "SELECT now() FROM m",
    "SELECT f() FROM m",
    "SELECT f(a, b, c, d, e) FROM m",
    "SELECT cumulative_sum(mean(a)) / 2 + 1 FROM m GROUP BY time(5m)",
    "SELECT mean(a) + mean(b) AS total FROM m WHERE time > now() - 1h GROUP BY time(1m)",
    "SELECT cpu.value FROM cpu",
    "SELECT \"a\".\"b\".\"c\" FROM cpu",
    "SELECT \"with \\\"quote\\\"\" FROM cpu",
    "SELECT \"back\\\\slash\", \"new\\nline\" FROM cpu",
    "SELECT \"température\" FROM \"mesure\"",
    "SELECT \"1abc\", _under, \"from\" FROM m",
    // sources
    "SELECT v FROM db.rp.m",
    "SELECT v FROM db..m",
    "SELECT v FROM rp.m",
    "SELECT v FROM \"my db\".\"my rp\".\"my m\"",
    "SELECT v FROM /cpu.*/",
    "SELECT v FROM db.rp./^cpu/",
    "SELECT v FROM db../^cpu/",
    "SELECT v FROM cpu, mem, disk",
    "SELECT v FROM cpu, /^m/",
    "SELECT max(mean) FROM (SELECT mean(value) FROM cpu GROUP BY time(1m), host)",
    "SELECT a FROM (SELECT b AS a FROM (SELECT c AS b FROM m))",
    "SELECT a FROM (SELECT a FROM m WHERE x = 1), other",
    // where
    "SELECT v FROM m WHERE host = 'a'",
    "SELECT v FROM m WHERE host != 'a'",
    "SELECT v FROM m WHERE host <> 'a'",
    "SELECT v FROM m WHERE v < 1 AND v <= 2 AND v > 3 AND v >= 4",
    "SELECT v FROM m WHERE host =~ /^a/",
    "SELECT v FROM m WHERE host !~ /^a\\/b$/",
    "SELECT v FROM m WHERE a = 1 OR b = 2 AND c = 3",
    "SELECT v FROM m WHERE (a = 1 OR b = 2) AND c = 3",
    "SELECT v FROM m WHERE ((a = 1))",
    "SELECT v FROM m WHERE host = 'it\\'s'",
    "SELECT v FROM m WHERE host = 'a\\\\b'",
    "SELECT v FROM m WHERE host = 'line\\nbreak'",
    "SELECT v FROM m WHERE host = 'say \\\"hi\\\"'",
    "SELECT v FROM m WHERE time > '2024-01-01T00:00:00Z'",
    "SELECT v FROM m WHERE time >= '2024-01-01T00:00:00.123456789Z' AND time < '2024-01-02T00:00:00+02:00'",
    "SELECT v FROM m WHERE time > 1704067200000000000",
    "SELECT v FROM m WHERE time > now() - 1h",
    "SELECT v FROM m WHERE time > now() - 1h30m",
    "SELECT v FROM m WHERE time > now() - 90m AND time < now() + 5s",
    "SELECT v FROM m WHERE time > now() - 10ns AND time > now() - 10u AND time > now() - 10µ",
    "SELECT v FROM m WHERE time > now() - 10ms OR time > now() - 3d OR time > now() - 2w",
    "SELECT v FROM m WHERE time > -1h",
    "SELECT v FROM m WHERE time > now() - 0s",
    "SELECT v FROM m WHERE v = true AND w = false",
    "SELECT v FROM m WHERE v = -1.5",
    "SELECT v FROM m WHERE host = $host AND time > $start",
    "SELECT v FROM m WHERE host = $\"my param\"",
    "SELECT v FROM m WHERE \"host\"::tag = 'a' AND \"v\"::field > 0",
    "SELECT v FROM m WHERE a = b = c",
    "SELECT v FROM m WHERE a + 1 > b * 2",
    // group by, fill, order, limits, tz
    "SELECT mean(v) FROM m GROUP BY time(1m)",
    "SELECT mean(v) FROM m GROUP BY time(1h, 15m)",
    "SELECT mean(v) FROM m GROUP BY time(1h, -15m)",
    "SELECT mean(v) FROM m GROUP BY time(1h, now())",
    "SELECT mean(v) FROM m GROUP BY time(1m), host, \"region\"",
    "SELECT mean(v) FROM m GROUP BY *",
    "SELECT mean(v) FROM m GROUP BY /^h/",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(null)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(none)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(previous)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(linear)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(0)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(-1)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(1.5)",
    "SELECT mean(v) FROM m GROUP BY time(1m) fill(-0.5)",
    "SELECT mean(v) FROM m fill(0)",
    "SELECT v FROM m ORDER BY time DESC",
    "SELECT v FROM m ORDER BY time ASC",
    "SELECT v FROM m ORDER BY time",
    "SELECT v FROM m ORDER BY DESC",
    "SELECT v FROM m LIMIT 10",
    "SELECT v FROM m LIMIT 10 OFFSET 5",
    "SELECT v FROM m GROUP BY host SLIMIT 2 SOFFSET 1",
    "SELECT v FROM m LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4",
    "SELECT v FROM m tz('America/Chicago')",
    "SELECT mean(v) FROM m WHERE time > now() - 1d GROUP BY time(1h), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('Europe/Paris')",
    // Grafana-style dashboard queries
    "SELECT mean(\"value\") FROM \"cpu\" WHERE (\"host\" =~ /^(a|b)$/) AND time >= now() - 6h GROUP BY time(1m), \"host\" fill(null)",
    "SELECT mean(\"usage_idle\") FROM \"autogen\".\"cpu\" WHERE (\"cpu\" = 'cpu-total' AND \"host\" =~ /^server-(01|02)$/) AND time >= 1704067200000ms and time <= 1704153600000ms GROUP BY time(30s), \"host\" fill(null)",
    "SELECT non_negative_derivative(mean(\"bytes_recv\"), 1s) * 8 AS \"in\" FROM \"net\" WHERE \"host\" =~ /^$host$/ AND time >= now() - 24h and time <= now() GROUP BY time(1m), \"interface\" fill(none)",
    "SELECT last(\"value\") FROM \"temperature\" WHERE time >= now() - 5m GROUP BY \"room\"",
    "SELECT 100 - mean(\"usage_idle\") FROM \"cpu\" WHERE time > now() - 1h GROUP BY time(10s) fill(previous)",
    "SELECT sum(\"count\") FROM \"requests\" WHERE \"status\" =~ /^5\\d\\d$/ AND $timeFilter GROUP BY time(1m) fill(0)",
    // several statements, comments, case
    "SELECT a FROM m; SELECT b FROM n",
    "SELECT a FROM m;",
    ";;SELECT a FROM m;;SELECT b FROM n;",
    "select mean(v) from m where time > now() - 1h group by time(1m) fill(null) order by time desc limit 1",
    "SeLeCt v FrOm m",
    "SELECT a -- comment\nFROM m",
    "SELECT /* inline */ a FROM m /* trailing */",
    "SELECT a\r\nFROM m\r\nWHERE b = 1",
    // SHOW
    "SHOW DATABASES",
    "show databases",
    "SHOW MEASUREMENTS",
    "SHOW MEASUREMENTS ON db",
    "SHOW MEASUREMENTS WITH MEASUREMENT = cpu",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^c/",
    "SHOW MEASUREMENTS ON db WITH MEASUREMENT =~ /^c/ WHERE host = 'a' LIMIT 10 OFFSET 2",
    "SHOW MEASUREMENTS WHERE \"region\" =~ /us/",
    "SHOW TAG KEYS",
    "SHOW TAG KEYS ON db",
    "SHOW TAG KEYS FROM cpu",
    "SHOW TAG KEYS ON db FROM cpu, /^m/ WHERE host = 'a' LIMIT 1 OFFSET 2 SLIMIT 3 SOFFSET 4",
    "SHOW TAG VALUES WITH KEY = host",
    "SHOW TAG VALUES WITH KEY = \"host\"",
    "SHOW TAG VALUES WITH KEY != host",
    "SHOW TAG VALUES WITH KEY <> host",
    "SHOW TAG VALUES WITH KEY =~ /^h/",
    "SHOW TAG VALUES WITH KEY !~ /^h/",
    "SHOW TAG VALUES WITH KEY IN (host, region)",
    "SHOW TAG VALUES ON db FROM cpu WITH KEY IN (\"host\") WHERE region = 'us' LIMIT 5 OFFSET 1",
    "SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\" WHERE \"region\" =~ /^$region$/",
    "SHOW FIELD KEYS",
    "SHOW FIELD KEYS ON db",
    "SHOW FIELD KEYS FROM cpu",
    "SHOW FIELD KEYS ON db FROM db.rp.cpu LIMIT 1 OFFSET 1",
    "SHOW SERIES",
    "SHOW SERIES ON db FROM cpu WHERE host = 'a' LIMIT 10 OFFSET 10",
    "SHOW RETENTION POLICIES",
    "SHOW RETENTION POLICIES ON \"my db\"",
    "SHOW DATABASES; SHOW MEASUREMENTS; SELECT a FROM m",
];

#[test]
fn round_trips() {
    for q in QUERIES {
        round_trip(q);
    }
    assert!(QUERIES.len() >= 150, "{}", QUERIES.len());
}

#[test]
fn canonical_forms() {
    let cases = [
        ("select * from cpu", "SELECT * FROM cpu"),
        ("SELECT MEAN(x) FROM m", "SELECT mean(x) FROM m"),
        (
            "SELECT x FROM m WHERE time > now() - 90m",
            "SELECT x FROM m WHERE time > now() - 90m",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 1h30m",
            "SELECT x FROM m WHERE time > now() - 90m",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 60m",
            "SELECT x FROM m WHERE time > now() - 1h",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 7d",
            "SELECT x FROM m WHERE time > now() - 1w",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 1000ms",
            "SELECT x FROM m WHERE time > now() - 1s",
        ),
        (
            "SELECT x FROM m WHERE time > now() - 5µ",
            "SELECT x FROM m WHERE time > now() - 5u",
        ),
        (
            "SELECT x FROM m WHERE a <> 1",
            "SELECT x FROM m WHERE a != 1",
        ),
        (
            "SELECT x FROM m WHERE a = 1 and b = 2 or c = 3",
            "SELECT x FROM m WHERE a = 1 AND b = 2 OR c = 3",
        ),
        ("SELECT \"x\" FROM \"m\"", "SELECT x FROM m"),
        (
            "SELECT \"from\" FROM \"select\"",
            "SELECT \"from\" FROM \"select\"",
        ),
        (
            "SELECT x FROM m ORDER BY time",
            "SELECT x FROM m ORDER BY time ASC",
        ),
        (
            "SELECT x FROM m ORDER BY desc",
            "SELECT x FROM m ORDER BY time DESC",
        ),
        ("SELECT 1.0, 2.50, .5 FROM m", "SELECT 1.0, 2.5, 0.5 FROM m"),
        ("SELECT - 5, -(5) FROM m", "SELECT -5, -(5) FROM m"),
        (
            "SELECT x FROM m WHERE h =~ /a\\/b/",
            "SELECT x FROM m WHERE h =~ /a\\/b/",
        ),
        ("SELECT a.b FROM m", "SELECT \"a.b\" FROM m"),
        ("SELECT x FROM m fill(NULL)", "SELECT x FROM m fill(null)"),
        (
            "SHOW TAG VALUES WITH KEY <> host",
            "SHOW TAG VALUES WITH KEY != host",
        ),
        (
            "SHOW MEASUREMENTS WITH MEASUREMENT = /x/",
            "SHOW MEASUREMENTS WITH MEASUREMENT =~ /x/",
        ),
        ("SELECT x FROM m tz('a\\'b')", "SELECT x FROM m tz('a\\'b')"),
    ];
    for (q, want) in cases {
        assert_eq!(round_trip(q), want, "{q}");
    }
}

#[test]
fn ast_shapes() {
    let s = select(
        "SELECT mean(\"value\") AS m FROM db..\"cpu\", rp./^x/ WHERE host =~ /^(a|b)$/ AND time >= now() - 6h GROUP BY time(1m, 30s), \"host\" fill(previous) ORDER BY time DESC LIMIT 3 tz('UTC')",
    );
    assert_eq!(s.fields.len(), 1);
    assert_eq!(s.fields[0].alias.as_deref(), Some("m"));
    let Expr::Call(call) = &s.fields[0].expr else {
        panic!()
    };
    assert_eq!(call.name, "mean");
    assert_eq!(call.args, vec![Expr::var("value")]);
    assert_eq!(
        s.from[0],
        Source::Measurement(MeasurementName {
            database: Some("db".into()),
            retention_policy: None,
            name: MeasurementNameKind::Name("cpu".into()),
        })
    );
    assert_eq!(
        s.from[1],
        Source::Measurement(MeasurementName {
            database: None,
            retention_policy: Some("rp".into()),
            name: MeasurementNameKind::Regex(Regex("^x".into())),
        })
    );
    let Some(Expr::Binary(and)) = &s.condition else {
        panic!()
    };
    assert_eq!(and.op, BinaryOp::And);
    let Expr::Binary(re) = &and.lhs else { panic!() };
    assert_eq!(re.op, BinaryOp::EqRegex);
    assert_eq!(
        re.rhs,
        Expr::Literal(Literal::Regex(Regex("^(a|b)$".into())))
    );
    let Expr::Binary(time) = &and.rhs else {
        panic!()
    };
    assert_eq!(time.op, BinaryOp::GtEq);
    let Expr::Binary(minus) = &time.rhs else {
        panic!()
    };
    assert!(minus.lhs.is_now());
    assert_eq!(
        minus.rhs,
        Expr::Literal(Literal::Duration(Duration::from_nanos(6 * Duration::HOUR)))
    );
    assert_eq!(
        s.group_by,
        vec![
            Dimension::Time {
                interval: Duration::from_nanos(Duration::MINUTE),
                offset: Some(TimeOffset::Duration(Duration::from_nanos(
                    30 * Duration::SECOND
                ))),
            },
            Dimension::Tag("host".into()),
        ]
    );
    assert_eq!(s.fill, Some(Fill::Previous));
    assert_eq!(s.order_by, Some(Order::Desc));
    assert_eq!(s.limit, Some(3));
    assert_eq!(s.timezone.as_deref(), Some("UTC"));
}

#[test]
fn precedence() {
    let e = parse_expr("a + b * c - d").unwrap();
    // (a + (b * c)) - d
    let Expr::Binary(sub) = &e else { panic!() };
    assert_eq!(sub.op, BinaryOp::Sub);
    let Expr::Binary(add) = &sub.lhs else {
        panic!()
    };
    assert_eq!(add.op, BinaryOp::Add);
    let Expr::Binary(mul) = &add.rhs else {
        panic!()
    };
    assert_eq!(mul.op, BinaryOp::Mul);

    let e = parse_expr("a = 1 OR b = 2 AND c = 3").unwrap();
    let Expr::Binary(or) = &e else { panic!() };
    assert_eq!(or.op, BinaryOp::Or);
    let Expr::Binary(and) = &or.rhs else { panic!() };
    assert_eq!(and.op, BinaryOp::And);

    let e = parse_expr("a | b & c").unwrap();
    let Expr::Binary(or) = &e else { panic!() };
    assert_eq!(or.op, BinaryOp::BitOr);

    assert_eq!(
        parse_expr("-5").unwrap(),
        Expr::Literal(Literal::Integer(-5))
    );
    assert_eq!(
        parse_expr("-1h").unwrap(),
        Expr::Literal(Literal::Duration(Duration::from_nanos(-Duration::HOUR)))
    );
    assert_eq!(
        parse_expr("-x").unwrap(),
        Expr::Neg(Box::new(Expr::var("x")))
    );
    assert_eq!(
        parse_expr("-9223372036854775808").unwrap(),
        Expr::Literal(Literal::Integer(i64::MIN))
    );
    assert_eq!(
        parse_expr("1h30m").unwrap(),
        Expr::Literal(Literal::Duration(Duration::from_nanos(
            90 * Duration::MINUTE
        )))
    );
}

#[test]
fn hand_built_trees_print_needed_parens() {
    let sum = Expr::binary(Expr::var("a"), BinaryOp::Add, Expr::var("b"));
    let e = Expr::binary(sum.clone(), BinaryOp::Mul, Expr::var("c"));
    assert_eq!(e.to_string(), "(a + b) * c");
    let e = Expr::binary(Expr::var("c"), BinaryOp::Sub, sum.clone());
    assert_eq!(e.to_string(), "c - (a + b)");
    assert_eq!(Expr::Neg(Box::new(sum)).to_string(), "-(a + b)");
}

#[test]
fn show_statements() {
    let Statement::ShowTagValues(s) = parse_statement(
        "SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, \"region\") WHERE a = 'b'",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(s.on.as_deref(), Some("db"));
    assert_eq!(
        s.with_key,
        WithKey::In(vec!["host".into(), "region".into()])
    );
    assert!(s.condition.is_some());
    assert_eq!(
        parse_statement("SHOW DATABASES;").unwrap(),
        Statement::ShowDatabases
    );
}

#[test]
fn multiple_statements() {
    assert_eq!(
        parse_statements("SELECT a FROM m; SHOW DATABASES;")
            .unwrap()
            .len(),
        2
    );
    assert_eq!(parse_statements("").unwrap(), vec![]);
    assert_eq!(parse_statements(" ; ; -- nothing\n").unwrap(), vec![]);
    assert!(parse_statement("SELECT a FROM m; SELECT b FROM m").is_err());
    assert!(parse_statement("").is_err());
}

fn err(q: &str) -> influxgate::query::influxql::ParseError {
    match parse_statements(q) {
        Ok(s) => panic!("{q:?} parsed: {s:?}"),
        Err(e) => e,
    }
}

#[test]
fn error_positions_and_messages() {
    let e = err("SELECT value FROMM cpu");
    assert_eq!((e.line, e.column, e.offset), (1, 14, 13));
    assert_eq!(
        e.to_string(),
        "found FROMM, expected FROM at line 1, char 14"
    );

    let e = err("SELECT value\nFROM cpu\nWHERE host = ");
    assert_eq!((e.line, e.column), (3, 14));
    assert!(e.to_string().contains("found EOF"), "{e}");

    let e = err("SELECT a FROM m WHERE x = 'unterminated");
    assert_eq!((e.line, e.column), (1, 27));
    assert!(e.to_string().contains("unterminated string"), "{e}");

    let e = err("SELECT a FROM m WHERE x = 'bad \\q escape'");
    assert!(e.to_string().contains("bad escape"), "{e}");

    let e = err("SELECT a FROM m WHERE x =~ /abc");
    assert!(e.to_string().contains("unterminated regex"), "{e}");

    let e = err("SELECT a FROM m WHERE time > now() - 5x");
    assert!(e.to_string().contains("invalid duration 5x"), "{e}");

    let e = err("SELECT 1e FROM m");
    assert!(e.to_string().contains("invalid duration 1e"), "{e}");
    let e = err("SELECT a FROM m WHERE time > now() - 5µs");
    assert!(e.to_string().contains("invalid duration 5µs"), "{e}");

    let e = err("SELECT a FROM m WHERE x > 99999999999999999999");
    assert!(e.to_string().contains("integer out of range"), "{e}");

    let e = err("SELECT a FROM m WHERE x > 9223372036854775808");
    assert!(e.to_string().contains("integer out of range"), "{e}");

    let e = err("SELECT FROM m");
    assert!(
        e.to_string().starts_with("found FROM, expected identifier"),
        "{e}"
    );

    let e = err("SELECT a FROM select");
    assert!(
        e.to_string()
            .starts_with("found select, expected identifier"),
        "{e}"
    );

    let e = err("SELECT a FROM m GROUP BY time(1m) fill(foo)");
    assert!(
        e.to_string()
            .starts_with("found foo, expected null, none, previous, linear, number"),
        "{e}"
    );

    let e = err("SELECT a FROM m ORDER BY host");
    assert!(e.to_string().contains("only ORDER BY time"), "{e}");

    let e = err("SELECT a FROM m LIMIT -1");
    assert!(
        e.to_string().starts_with("found -, expected integer"),
        "{e}"
    );

    let e = err("SELECT a FROM m extra");
    assert!(
        e.to_string().starts_with("found extra, expected ; or EOF"),
        "{e}"
    );

    let e = err(&format!("SELECT a FROM m WHERE x = 1 {}", "y".repeat(100)));
    let ParseErrorKind::Unexpected { found, .. } = &e.kind else {
        panic!("{e:?}")
    };
    assert!(found.len() < 40 && found.ends_with("..."), "{found}");

    let e = err("SELECT a FROM m WHERE x = 1 /* open comment");
    assert!(e.to_string().contains("unterminated comment"), "{e}");

    let e = err("SELECT a FROM m WHERE x = #");
    assert!(e.to_string().starts_with("found #"), "{e}");

    let e = err("WHAT");
    assert_eq!(
        e.to_string(),
        "found WHAT, expected SELECT, SHOW at line 1, char 1"
    );

    let e = err("SHOW WHAT");
    assert!(
        e.to_string().starts_with("found WHAT, expected DATABASES"),
        "{e}"
    );

    let e = err("SHOW TAG VALUES FROM cpu");
    assert!(e.to_string().starts_with("found EOF, expected WITH"), "{e}");

    // Columns count characters, not bytes.
    let e = err("SELECT \"é\" FROM ~");
    assert_eq!(e.column, 17);
    assert_eq!(e.offset, 17);
}

#[test]
fn unsupported_statements() {
    let cases = [
        ("DROP MEASUREMENT cpu", "DROP MEASUREMENT"),
        ("drop database db", "DROP DATABASE"),
        ("DROP SERIES FROM cpu", "DROP SERIES"),
        ("DROP RETENTION POLICY rp ON db", "DROP RETENTION POLICY"),
        ("CREATE DATABASE db", "CREATE DATABASE"),
        (
            "CREATE RETENTION POLICY rp ON db DURATION 1d REPLICATION 1",
            "CREATE RETENTION POLICY",
        ),
        (
            "CREATE CONTINUOUS QUERY cq ON db BEGIN SELECT 1 END",
            "CREATE CONTINUOUS QUERY",
        ),
        ("CREATE USER u WITH PASSWORD 'p'", "CREATE USER"),
        ("DELETE FROM cpu WHERE time < now()", "DELETE"),
        ("GRANT ALL ON db TO u", "GRANT ALL"),
        ("REVOKE ALL PRIVILEGES FROM u", "REVOKE ALL PRIVILEGES"),
        (
            "ALTER RETENTION POLICY rp ON db DEFAULT",
            "ALTER RETENTION POLICY",
        ),
        ("SET PASSWORD FOR u = 'x'", "SET PASSWORD"),
        ("KILL QUERY 1", "KILL QUERY"),
        ("EXPLAIN SELECT a FROM m", "EXPLAIN"),
        ("EXPLAIN ANALYZE SELECT a FROM m", "EXPLAIN ANALYZE"),
        ("SHOW USERS", "SHOW USERS"),
        ("SHOW GRANTS FOR u", "SHOW GRANTS"),
        ("SHOW QUERIES", "SHOW QUERIES"),
        ("SHOW SHARDS", "SHOW SHARDS"),
        ("SHOW SHARD GROUPS", "SHOW SHARD GROUPS"),
        ("SHOW STATS", "SHOW STATS"),
        ("SHOW DIAGNOSTICS", "SHOW DIAGNOSTICS"),
        ("SHOW SUBSCRIPTIONS", "SHOW SUBSCRIPTIONS"),
        ("SHOW CONTINUOUS QUERIES", "SHOW CONTINUOUS QUERIES"),
        (
            "SHOW MEASUREMENT CARDINALITY",
            "SHOW MEASUREMENT CARDINALITY",
        ),
        (
            "SHOW MEASUREMENT EXACT CARDINALITY",
            "SHOW MEASUREMENT EXACT CARDINALITY",
        ),
        ("SHOW SERIES CARDINALITY", "SHOW SERIES CARDINALITY"),
        (
            "SHOW SERIES EXACT CARDINALITY ON db",
            "SHOW SERIES EXACT CARDINALITY",
        ),
        ("SHOW TAG KEY CARDINALITY", "SHOW TAG KEY CARDINALITY"),
        (
            "SHOW TAG VALUES CARDINALITY WITH KEY = host",
            "SHOW TAG VALUES CARDINALITY",
        ),
        ("SHOW FIELD KEY CARDINALITY", "SHOW FIELD KEY CARDINALITY"),
        ("SELECT a INTO b FROM m", "SELECT INTO"),
        ("SELECT a FROM m; DROP MEASUREMENT m", "DROP MEASUREMENT"),
    ];
    for (q, name) in cases {
        let e = err(q);
        assert_eq!(
            e.kind,
            ParseErrorKind::Unsupported {
                statement: name.into()
            },
            "{q}: {e}"
        );
        assert!(
            e.to_string().starts_with(&format!(
                "{name} is not supported by InfluxDB 3 / influxgate at line 1"
            )),
            "{e}"
        );
    }
}

#[test]
fn depth_limits() {
    // 100k open parentheses: a clean error, no stack overflow.
    let q = format!("SELECT {} FROM m", "(".repeat(100_000));
    let e = err(&q);
    assert_eq!(e.kind, ParseErrorKind::TooDeep { limit: MAX_NESTING });
    let q = format!("SELECT a FROM m WHERE {}", "-".repeat(100_000) + "x");
    assert!(matches!(
        err(&q).kind,
        ParseErrorKind::TooDeep { .. } | ParseErrorKind::Unexpected { .. }
    ));
    let q = format!("SELECT a FROM m WHERE {}x", "- ".repeat(100_000));
    assert!(matches!(err(&q).kind, ParseErrorKind::TooDeep { .. }));
    let q = format!(
        "SELECT {}x{} FROM m",
        "f(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(matches!(err(&q).kind, ParseErrorKind::TooDeep { .. }));
    let q = format!(
        "SELECT a FROM {}m{}",
        "(SELECT a FROM ".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(matches!(err(&q).kind, ParseErrorKind::TooDeep { .. }));
    // Long flat chains: fine up to the expression depth limit, then an error (not a crash).
    let ok = format!(
        "SELECT a FROM m WHERE {}",
        vec!["host = 'x'"; 500].join(" OR ")
    );
    round_trip(&ok);
    let deep = format!(
        "SELECT a FROM m WHERE {}",
        vec!["host = 'x'"; 100_000].join(" OR ")
    );
    assert!(matches!(err(&deep).kind, ParseErrorKind::TooDeep { .. }));
    // Nesting up to the limit works.
    let q = format!(
        "SELECT {}a{} FROM m",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    round_trip(&q);
    let q = format!(
        "SELECT {}a{} FROM m",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    assert!(matches!(err(&q).kind, ParseErrorKind::TooDeep { .. }));
}

mod prop {
    use influxgate::query::influxql::{
        BinaryOp, Call, DataType, Dimension, Duration, Expr, Field, Fill, Literal, MeasurementName,
        MeasurementNameKind, Order, Regex, SelectStatement, ShowTagValuesStatement, Source,
        Statement, TimeOffset, VarRef, WildcardType, WithKey, parse_statement,
    };
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z_][a-z0-9_]{0,6}",
            1 => Just("time".to_string()),
            1 => prop::sample::select(vec!["select", "FROM", "and", "true", "key", "fill", "tz", "now"])
                .prop_map(str::to_string),
            2 => "\\PC{0,8}",
            1 => "[a-z \"'\\\\.\n/-]{0,6}",
        ]
    }

    fn regex() -> impl Strategy<Value = Regex> {
        // Parsed regexes never end with a lone backslash, contain a newline or start with `*`
        // (`/*` opens a comment).
        "[a-z^$.|()/\\\\*+ é]{0,8}".prop_filter_map("unparseable regex", |s| {
            (!s.ends_with('\\') && !s.starts_with('*')).then_some(Regex(s))
        })
    }

    fn finite() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            (-1000i32..1000).prop_map(|v| f64::from(v) / 8.0),
        ]
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            any::<i64>().prop_map(Literal::Integer),
            finite().prop_map(Literal::Number),
            "\\PC{0,8}".prop_map(Literal::String),
            "[a-z'\"\\\\\n]{0,5}".prop_map(Literal::String),
            any::<bool>().prop_map(Literal::Boolean),
            any::<i64>().prop_map(|n| Literal::Duration(Duration::from_nanos(n))),
            (0i64..1000)
                .prop_map(|n| Literal::Duration(Duration::from_nanos(n * Duration::MINUTE))),
            regex().prop_map(Literal::Regex),
        ]
    }

    fn data_type() -> impl Strategy<Value = Option<DataType>> {
        prop::option::of(prop::sample::select(vec![
            DataType::Float,
            DataType::Integer,
            DataType::Unsigned,
            DataType::String,
            DataType::Boolean,
            DataType::Field,
            DataType::Tag,
        ]))
    }

    fn leaf() -> impl Strategy<Value = Expr> {
        prop_oneof![
            (name(), data_type())
                .prop_map(|(name, data_type)| Expr::VarRef(VarRef { name, data_type })),
            prop::option::of(prop::sample::select(vec![
                WildcardType::Field,
                WildcardType::Tag
            ]))
            .prop_map(Expr::Wildcard),
            literal().prop_map(Expr::Literal),
            name().prop_map(Expr::Distinct),
            name().prop_map(Expr::BindParam),
        ]
    }

    const OPS: &[BinaryOp] = &[
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
        BinaryOp::BitAnd,
        BinaryOp::BitOr,
        BinaryOp::BitXor,
        BinaryOp::Eq,
        BinaryOp::NotEq,
        BinaryOp::Lt,
        BinaryOp::LtEq,
        BinaryOp::Gt,
        BinaryOp::GtEq,
        BinaryOp::EqRegex,
        BinaryOp::NotEqRegex,
        BinaryOp::And,
        BinaryOp::Or,
    ];

    fn prec(e: &Expr) -> u8 {
        match e {
            Expr::Binary(b) => b.op.precedence(),
            _ => u8::MAX,
        }
    }

    fn paren(e: Expr) -> Expr {
        Expr::Paren(Box::new(e))
    }

    /// Expressions shaped as the parser builds them: explicit `Paren` wherever precedence
    /// needs one, negation folded into numeric literals.
    fn expr() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                (inner.clone(), prop::sample::select(OPS), inner.clone()).prop_map(|(l, op, r)| {
                    let l = if prec(&l) < op.precedence() {
                        paren(l)
                    } else {
                        l
                    };
                    let r = if prec(&r) <= op.precedence() {
                        paren(r)
                    } else {
                        r
                    };
                    Expr::binary(l, op, r)
                }),
                inner.clone().prop_map(|e| match e {
                    Expr::Literal(
                        Literal::Integer(_) | Literal::Number(_) | Literal::Duration(_),
                    ) => {
                        Expr::Neg(Box::new(paren(e)))
                    }
                    Expr::Binary(_) => Expr::Neg(Box::new(paren(e))),
                    e => Expr::Neg(Box::new(e)),
                }),
                inner.clone().prop_map(paren),
                (
                    prop::sample::select(vec!["mean", "count", "distinct", "top", "now", "f_2"]),
                    prop::collection::vec(inner, 0..4)
                )
                    .prop_map(|(name, args)| Expr::Call(Call {
                        name: name.into(),
                        args
                    })),
            ]
        })
    }

    fn measurement() -> impl Strategy<Value = MeasurementName> {
        (
            prop::option::of(name()),
            prop::option::of(name()),
            prop_oneof![
                name().prop_map(MeasurementNameKind::Name),
                regex().prop_map(MeasurementNameKind::Regex)
            ],
        )
            .prop_map(|(database, retention_policy, name)| MeasurementName {
                database,
                retention_policy,
                name,
            })
    }

    fn dimension() -> impl Strategy<Value = Dimension> {
        prop_oneof![
            (
                0i64..=i64::MAX,
                prop::option::of(prop_oneof![
                    any::<i64>().prop_map(|n| TimeOffset::Duration(Duration::from_nanos(n))),
                    Just(TimeOffset::Now),
                ])
            )
                .prop_map(|(n, offset)| Dimension::Time {
                    interval: Duration::from_nanos(n),
                    offset
                }),
            name().prop_map(Dimension::Tag),
            regex().prop_map(Dimension::Regex),
            Just(Dimension::Wildcard),
        ]
    }

    fn fill() -> impl Strategy<Value = Option<Fill>> {
        prop::option::of(prop_oneof![
            Just(Fill::Null),
            Just(Fill::None),
            Just(Fill::Previous),
            Just(Fill::Linear),
            any::<i64>().prop_map(Fill::Integer),
            finite().prop_map(Fill::Number),
        ])
    }

    fn small() -> impl Strategy<Value = Option<u64>> {
        prop::option::of(prop_oneof![0u64..100, Just(i64::MAX as u64)])
    }

    fn select_with(source: BoxedStrategy<Source>) -> impl Strategy<Value = SelectStatement> {
        (
            prop::collection::vec((expr(), prop::option::of(name())), 1..3),
            prop::collection::vec(source, 1..3),
            prop::option::of(expr()),
            prop::collection::vec(dimension(), 0..3),
            fill(),
            prop::option::of(prop::sample::select(vec![Order::Asc, Order::Desc])),
            (small(), small(), small(), small()),
            prop::option::of("\\PC{0,10}"),
        )
            .prop_map(
                |(
                    fields,
                    from,
                    condition,
                    group_by,
                    fill,
                    order_by,
                    (limit, offset, slimit, soffset),
                    timezone,
                )| {
                    SelectStatement {
                        fields: fields
                            .into_iter()
                            .map(|(expr, alias)| Field { expr, alias })
                            .collect(),
                        from,
                        condition,
                        group_by,
                        fill,
                        order_by,
                        limit,
                        offset,
                        slimit,
                        soffset,
                        timezone,
                    }
                },
            )
    }

    fn select() -> impl Strategy<Value = SelectStatement> {
        let plain = measurement().prop_map(Source::Measurement).boxed();
        let inner = select_with(plain.clone()).prop_map(|s| Source::Subquery(Box::new(s)));
        select_with(prop_oneof![3 => plain, 1 => inner].boxed())
    }

    fn statement() -> impl Strategy<Value = Statement> {
        prop_oneof![
            4 => select().prop_map(|s| Statement::Select(Box::new(s))),
            1 => (
                prop::option::of(name()),
                prop::collection::vec(measurement(), 0..3),
                prop_oneof![
                    name().prop_map(WithKey::Eq),
                    name().prop_map(WithKey::NotEq),
                    regex().prop_map(WithKey::EqRegex),
                    regex().prop_map(WithKey::NotEqRegex),
                    prop::collection::vec(name(), 1..3).prop_map(WithKey::In),
                ],
                prop::option::of(expr()),
                small(),
                small(),
            )
                .prop_map(|(on, from, with_key, condition, limit, offset)| {
                    Statement::ShowTagValues(ShowTagValuesStatement { on, from, with_key, condition, limit, offset })
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn print_parse_identity(stmt in statement()) {
            let printed = stmt.to_string();
            let parsed = parse_statement(&printed);
            prop_assert!(parsed.is_ok(), "{printed:?}: {parsed:?}");
            let parsed = parsed.unwrap();
            prop_assert_eq!(&parsed, &stmt, "{}", printed);
            prop_assert_eq!(parsed.to_string(), printed);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,60}") {
            let _ = influxgate::query::influxql::parse_statements(&s);
        }

        #[test]
        fn token_soup_round_trips(parts in prop::collection::vec(prop::sample::select(vec![
            "SELECT", "FROM", "WHERE", "GROUP BY", "fill(", "time(", "m", "\"q\"", "1", "1.5", "-", "+", "*",
            "/", "/x/", "(", ")", ",", "=", "=~", "AND", "OR", "now()", "1h", "'s'", "::tag", ".", "..",
            "LIMIT", "ORDER BY", "DESC", "tz(", ";", "SHOW", "TAG", "VALUES", "WITH KEY", "IN", "mean(",
        ]), 1..24)) {
            let q = parts.join(" ");
            if let Ok(stmts) = influxgate::query::influxql::parse_statements(&q) {
                for s in stmts {
                    let printed = s.to_string();
                    prop_assert_eq!(parse_statement(&printed).ok(), Some(s), "{} via {}", q, printed);
                }
            }
        }
    }
}
