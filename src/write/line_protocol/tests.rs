use super::*;

fn one(s: &str) -> Line<'_> {
    let mut it = parse_lines(s);
    let l = it
        .next()
        .expect("a point")
        .unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert!(it.next().is_none(), "{s:?}: more than one item");
    l
}

fn err(s: &str) -> LineError {
    let mut it = parse_lines(s);
    match it.next() {
        Some(Err(e)) => e,
        other => panic!("{s:?}: expected an error, got {other:?}"),
    }
}

#[test]
fn full_point_borrows_when_unescaped() {
    let l = one("cpu,host=a,region=eu usage=1.5,n=3i,u=4u,ok=t,s=\"hi\" 1700000000000000000");
    assert_eq!(l.measurement, "cpu");
    assert!(matches!(l.measurement, Cow::Borrowed(_)));
    assert_eq!(
        l.tags,
        vec![("host".into(), "a".into()), ("region".into(), "eu".into())]
    );
    assert_eq!(
        l.fields,
        vec![
            ("usage".into(), FieldValue::Float(1.5)),
            ("n".into(), FieldValue::Integer(3)),
            ("u".into(), FieldValue::UInteger(4)),
            ("ok".into(), FieldValue::Boolean(true)),
            ("s".into(), FieldValue::String("hi".into())),
        ]
    );
    assert!(matches!(
        &l.fields[4].1,
        FieldValue::String(Cow::Borrowed(_))
    ));
    assert_eq!(l.timestamp, Some(1_700_000_000_000_000_000));
}

#[test]
fn escapes() {
    let l = one(r#"c\ p\,u\=,t\ k\,\==v\ a\,l\= f\=k="a\"b\\c\d" -5"#);
    assert_eq!(l.measurement, r"c p,u\=");
    assert_eq!(l.tags[0], (Cow::from("t k,="), Cow::from("v a,l=")));
    assert_eq!(l.fields[0].0, "f=k");
    assert_eq!(l.fields[0].1, FieldValue::String(r#"a"b\c\d"#.into()));
    assert_eq!(l.timestamp, Some(-5));
    // `\\` is not an escape in names: a literal backslash, then `\ ` escapes the space.
    assert_eq!(one(r"m,t=a\\ b x=1").tags[0].1, r"a\ b");
}

#[test]
fn floats() {
    for (s, v) in [
        ("1", 1.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("-1.5e-3", -0.0015),
        ("1E5", 1e5),
        ("1e+2", 100.0),
    ] {
        assert_eq!(
            one(&format!("m x={s}")).fields[0].1,
            FieldValue::Float(v),
            "{s}"
        );
    }
    assert!(err("m x=+1").message.contains("invalid value \"+1\""));
    assert!(err("m x=NaN").message.contains("invalid value \"NaN\""));
    for s in [
        "1.2.3", "-Inf", "-NaN", "1e", ".", "-", "0x10", "1e400", "1_0", "1.5x",
    ] {
        let e = err(&format!("m x={s}"));
        assert_eq!(e.column, 5, "{s}: {e}");
        assert!(e.message.contains("float"), "{s}: {e}");
    }
    let e = err("m usage=1.2.3");
    assert_eq!(
        e.message,
        r#"invalid float field value "1.2.3" for field "usage": expected a number like 1, -2.5 or 1e3"#
    );
}

#[test]
fn integers_and_unsigned() {
    assert_eq!(
        one("m x=-9223372036854775808i").fields[0].1,
        FieldValue::Integer(i64::MIN)
    );
    assert_eq!(
        one("m x=18446744073709551615u").fields[0].1,
        FieldValue::UInteger(u64::MAX)
    );
    assert!(
        err("m x=9223372036854775808i")
            .message
            .contains("out of range")
    );
    assert!(
        err("m x=18446744073709551616u")
            .message
            .contains("out of range")
    );
    assert!(err("m x=-1u").message.contains("unsigned"));
    assert!(err("m x=1.5i").message.contains("integer"));
    assert!(err("m x=i").message.contains("invalid value"));
}

#[test]
fn booleans() {
    for t in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(
            one(&format!("m x={t}")).fields[0].1,
            FieldValue::Boolean(true)
        );
    }
    for f in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(
            one(&format!("m x={f}")).fields[0].1,
            FieldValue::Boolean(false)
        );
    }
    assert!(err("m x=tRUE").message.contains("boolean"));
    assert!(err("m x=yes").message.contains("invalid value"));
}

#[test]
fn structure_errors() {
    assert!(err("m").message.contains("missing field set"));
    assert!(err("m,t=a").message.contains("missing field set"));
    assert!(err(",t=a x=1").message.contains("missing measurement"));
    assert!(err("m,=a x=1").message.contains("missing tag key"));
    assert!(err("m,t= x=1").message.contains("missing value for tag"));
    assert!(
        err("m,t x=1")
            .message
            .contains("expected \"=\" after tag key")
    );
    assert!(
        err("m x")
            .message
            .contains("expected \"=\" after field key")
    );
    assert!(err("m x=").message.contains("missing value"));
    assert!(err("m x=1,").message.contains("missing field key"));
    assert!(err("m x=1 12a").message.contains("invalid timestamp"));
    assert!(err("m x=1 1 2").message.contains("after the timestamp"));
    assert!(err("m x=\"a\"b").message.contains("after value of field"));
    assert!(err("m\tx=1").message.contains("control character"));
    assert!(err("m x=1\ry=2").message.contains("carriage return"));
}

#[test]
fn reserved_and_duplicate_keys() {
    assert!(err("m,time=1 x=1").message.contains("time"));
    assert!(err("m time=1").message.contains("time"));
    assert!(
        err("m x=1,x=2")
            .message
            .contains("duplicate field key \"x\"")
    );
    assert!(
        err("m,a=1,a=2 x=1")
            .message
            .contains("duplicate tag key \"a\"")
    );
    // Many keys: the sorted path.
    let mut s = String::from("m ");
    for k in 0..40 {
        s.push_str(&format!("f{k}=1,"));
    }
    s.push_str("f7=2");
    assert!(err(&s).message.contains("duplicate field key \"f7\""));
    s.truncate(s.len() - 5);
    assert_eq!(one(&s).fields.len(), 40);
}

#[test]
fn blank_comment_crlf_and_line_numbers() {
    let body = "# c\r\n\r\n  m x=1\r\nm x=\"a\nb\"\nbad\n\n   m y=2 5  \r\n#end";
    let items: Vec<_> = parse_lines(body).collect();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[0].as_ref().unwrap().fields[0].1,
        FieldValue::Float(1.0)
    );
    assert_eq!(
        items[1].as_ref().unwrap().fields[0].1,
        FieldValue::String("a\nb".into())
    );
    let e = items[2].as_ref().unwrap_err();
    assert_eq!((e.line, e.column), (6, 4), "{e}");
    let l = items[3].as_ref().unwrap();
    assert_eq!(
        (l.fields[0].1.clone(), l.timestamp),
        (FieldValue::Float(2.0), Some(5))
    );
    assert!(one("m x=1\r").timestamp.is_none());
}

#[test]
fn error_recovery_resumes_on_next_line() {
    // The last quote is unbalanced: reported at its opening quote, nothing after it is lost.
    let body = "m x=1.2.3\nm x=2\nm s=\"unterminated\nm x=3";
    let items: Vec<_> = parse_lines(body).collect();
    assert_eq!(items.len(), 4);
    let e0 = items[0].as_ref().unwrap_err();
    assert_eq!((e0.line, e0.column), (1, 5));
    assert_eq!(
        items[1].as_ref().unwrap().fields[0].1,
        FieldValue::Float(2.0)
    );
    let e2 = items[2].as_ref().unwrap_err();
    assert_eq!((e2.line, e2.column), (3, 5), "{e2}");
    assert!(e2.message.contains("unterminated"));
    assert_eq!(
        items[3].as_ref().unwrap().fields[0].1,
        FieldValue::Float(3.0)
    );

    // An unbalanced quote followed by another string: the quotes pair up across lines, the error
    // shows up where the text after the "closing" quote makes no sense, and parsing resumes at
    // the line after the bad point's first line, so line 2 is not swallowed.
    let body = "m s=\"unterminated\nm x=2\nm y=\"ok\"";
    let items: Vec<_> = parse_lines(body).collect();
    assert_eq!(items.len(), 3);
    let e0 = items[0].as_ref().unwrap_err();
    assert_eq!(e0.line, 1);
    assert!(e0.message.contains("closing quote missing"), "{e0}");
    assert_eq!(
        items[1].as_ref().unwrap().fields[0].1,
        FieldValue::Float(2.0)
    );
    assert_eq!(
        items[2].as_ref().unwrap().fields[0].1,
        FieldValue::String("ok".into())
    );
}

#[test]
fn string_limit() {
    let ok = format!("m s=\"{}\"", "a".repeat(MAX_STRING_LEN));
    assert!(matches!(&one(&ok).fields[0].1, FieldValue::String(s) if s.len() == MAX_STRING_LEN));
    let escaped = format!("m s=\"{}\\\\\"", "a".repeat(MAX_STRING_LEN - 1));
    assert!(
        parse_lines(&escaped).next().unwrap().is_ok(),
        "the limit applies after unescaping"
    );
    let long = format!("m s=\"{}\"\nm x=1", "a".repeat(MAX_STRING_LEN + 1));
    let items: Vec<_> = parse_lines(&long).collect();
    assert!(items[0].as_ref().unwrap_err().message.contains("1 MiB"));
    assert!(items[1].is_ok());
}

#[test]
fn messages_quote_cut_short() {
    let long = "9".repeat(100);
    let e = err(&format!("m x={long}.1.2"));
    assert!(
        e.message.contains('…') && e.message.len() < 200,
        "{}",
        e.message
    );
    assert_eq!(e.to_string(), format!("line 1, column 5: {}", e.message));
}

#[test]
fn write_to_round_trips() {
    let src = r#"c\ p\,u,t\ k\,\==v\=a,h=é f\ k="q\"b\\s\x",i=-3i,u=7u,b=false,fl=0.1 -9"#;
    let l = one(src);
    let mut out = String::new();
    l.write_to(&mut out);
    assert_eq!(
        out,
        r#"c\ p\,u,t\ k\,\==v\=a,h=é f\ k="q\"b\\s\\x",i=-3i,u=7u,b=false,fl=0.1 -9"#
    );
    assert_eq!(one(&out), l);
    let f = one("m x=1e300,y=1,z=-0.0");
    let s = f.to_string();
    assert_eq!(s, "m x=1e300,y=1.0,z=-0.0");
    assert_eq!(one(&s), f);
}
