//! Statement lists, statement dispatch (including the unsupported statements) and `SELECT`.

use super::{
    ParseError, ParseErrorKind,
    ast::{
        Dimension, Duration, Field, Fill, MeasurementName, MeasurementNameKind, Order,
        SelectStatement, Source, Statement, TimeOffset,
    },
    expr::parse_expr,
    lexer::{Parser, Punct, Tok, Token},
    show,
};

/// Words that may follow an unsupported statement's first keyword in its name
/// (`DROP RETENTION POLICY`, `SHOW SHARD GROUPS`, `CREATE CONTINUOUS QUERY`, ...).
const NAME_WORDS: &[&str] = &[
    "ALL",
    "ANALYZE",
    "CARDINALITY",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DIAGNOSTICS",
    "EXACT",
    "FIELD",
    "GRANTS",
    "GROUPS",
    "KEY",
    "KEYS",
    "MEASUREMENT",
    "MEASUREMENTS",
    "PASSWORD",
    "POLICIES",
    "POLICY",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "RETENTION",
    "SERIES",
    "SHARD",
    "SHARDS",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "USER",
    "USERS",
    "VALUES",
    "VERBOSE",
];

/// Statement keywords InfluxQL knows but influxgate does not run.
const UNSUPPORTED_FIRST: &[&str] = &[
    "ALTER", "CREATE", "DELETE", "DROP", "EXPLAIN", "GRANT", "KILL", "REVOKE", "SET",
];

/// Builds the `Unsupported` error for a statement starting with `first` (already consumed, at
/// byte `at`), collecting the following name words (`DROP MEASUREMENT`).
pub(crate) fn unsupported(
    p: &mut Parser<'_>,
    first: &str,
    at: usize,
) -> Result<ParseError, ParseError> {
    let mut name = first.to_ascii_uppercase();
    for _ in 0..3 {
        let t = p.peek()?;
        let word = match &t.tok {
            Tok::Ident(s) if NAME_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) => {
                s.to_ascii_uppercase()
            }
            _ => break,
        };
        p.next()?;
        name.push(' ');
        name.push_str(&word);
    }
    Ok(p.error_at(at, ParseErrorKind::Unsupported { statement: name }))
}

/// Parses `;`-separated statements until the end of input.
pub(crate) fn parse_statements(p: &mut Parser<'_>) -> Result<Vec<Statement>, ParseError> {
    let mut out = Vec::new();
    loop {
        while p.eat_punct(Punct::Semicolon)? {}
        if p.peek()?.tok == Tok::Eof {
            return Ok(out);
        }
        out.push(parse_statement(p)?);
        let t = p.peek()?.clone();
        if t.tok != Tok::Eof && !t.is_punct(Punct::Semicolon) {
            return Err(p.unexpected(&t, "; or EOF"));
        }
    }
}

/// Parses exactly one statement with an optional trailing `;`.
pub(crate) fn parse_single_statement(p: &mut Parser<'_>) -> Result<Statement, ParseError> {
    let s = parse_statement(p)?;
    p.eat_punct(Punct::Semicolon)?;
    let t = p.peek()?.clone();
    if t.tok != Tok::Eof {
        return Err(p.unexpected(&t, "EOF (only one statement allowed)"));
    }
    Ok(s)
}

/// Parses one statement.
fn parse_statement(p: &mut Parser<'_>) -> Result<Statement, ParseError> {
    let t = p.next()?;
    if t.is_kw("SELECT") {
        return Ok(Statement::Select(Box::new(parse_select_body(p)?)));
    }
    if t.is_kw("SHOW") {
        return show::parse_show(p, t.start);
    }
    if let Tok::Ident(s) = &t.tok
        && UNSUPPORTED_FIRST.iter().any(|w| w.eq_ignore_ascii_case(s))
    {
        let s = s.clone();
        return Err(unsupported(p, &s, t.start)?);
    }
    Err(p.unexpected(&t, "SELECT, SHOW"))
}

/// Parses a `SELECT` statement after the `SELECT` keyword.
pub(crate) fn parse_select_body(p: &mut Parser<'_>) -> Result<SelectStatement, ParseError> {
    let fields = parse_fields(p)?;
    let t = p.peek()?.clone();
    if t.is_kw("INTO") {
        return Err(p.error_at(
            t.start,
            ParseErrorKind::Unsupported {
                statement: "SELECT INTO".into(),
            },
        ));
    }
    p.expect_kw("FROM")?;
    let from = parse_sources(p)?;
    let condition = if p.eat_kw("WHERE")? {
        Some(parse_expr(p)?)
    } else {
        None
    };
    let group_by = if p.eat_kw("GROUP")? {
        p.expect_kw("BY")?;
        parse_dimensions(p)?
    } else {
        Vec::new()
    };
    let fill = parse_fill(p)?;
    let order_by = parse_order_by(p)?;
    let limit = opt_int(p, "LIMIT")?;
    let offset = opt_int(p, "OFFSET")?;
    let slimit = opt_int(p, "SLIMIT")?;
    let soffset = opt_int(p, "SOFFSET")?;
    let timezone = parse_tz(p)?;
    Ok(SelectStatement {
        fields,
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
    })
}

/// `KW <integer>` if the next token is `KW`.
pub(crate) fn opt_int(p: &mut Parser<'_>, kw: &str) -> Result<Option<u64>, ParseError> {
    if p.eat_kw(kw)? {
        Ok(Some(p.unsigned("integer")?))
    } else {
        Ok(None)
    }
}

fn parse_fields(p: &mut Parser<'_>) -> Result<Vec<Field>, ParseError> {
    let mut fields = Vec::new();
    loop {
        let expr = parse_expr(p)?;
        let alias = if p.eat_kw("AS")? {
            Some(p.ident("identifier")?)
        } else {
            None
        };
        fields.push(Field { expr, alias });
        if !p.eat_punct(Punct::Comma)? {
            return Ok(fields);
        }
    }
}

fn parse_sources(p: &mut Parser<'_>) -> Result<Vec<Source>, ParseError> {
    let mut sources = Vec::new();
    loop {
        if p.peek()?.is_punct(Punct::LParen) {
            p.next()?;
            p.enter()?;
            p.expect_kw("SELECT")?;
            let sub = parse_select_body(p)?;
            p.expect_punct(Punct::RParen, ")")?;
            p.leave();
            sources.push(Source::Subquery(Box::new(sub)));
        } else {
            sources.push(Source::Measurement(parse_measurement(p)?));
        }
        if !p.eat_punct(Punct::Comma)? {
            return Ok(sources);
        }
    }
}

/// Parses comma-separated measurements (no subqueries), as in `SHOW ... FROM`.
pub(crate) fn parse_measurements(p: &mut Parser<'_>) -> Result<Vec<MeasurementName>, ParseError> {
    let mut out = vec![parse_measurement(p)?];
    while p.eat_punct(Punct::Comma)? {
        out.push(parse_measurement(p)?);
    }
    Ok(out)
}

/// Parses `[db.[rp].]name` or `[db.[rp].]/regex/`.
pub(crate) fn parse_measurement(p: &mut Parser<'_>) -> Result<MeasurementName, ParseError> {
    // Up to three segments; `None` is the empty retention policy of `db..m`.
    let mut segments: Vec<Option<String>> = Vec::new();
    let name = loop {
        if let Some(re) = p.regex()? {
            break MeasurementNameKind::Regex(re);
        }
        let ident = p.ident("identifier, regex")?;
        if segments.len() < 2 && p.peek()?.is_punct(Punct::Dot) {
            p.next()?;
            segments.push(Some(ident));
            if segments.len() == 1 && p.peek()?.is_punct(Punct::Dot) {
                p.next()?;
                segments.push(None);
            }
            continue;
        }
        break MeasurementNameKind::Name(ident);
    };
    let (database, retention_policy) = match segments.len() {
        0 => (None, None),
        1 => (None, segments.pop().flatten()),
        _ => {
            let rp = segments.pop().flatten();
            (segments.pop().flatten(), rp)
        }
    };
    Ok(MeasurementName {
        database,
        retention_policy,
        name,
    })
}

/// Parses a duration literal, optionally negative.
fn parse_duration_arg(p: &mut Parser<'_>, allow_negative: bool) -> Result<Duration, ParseError> {
    let neg = allow_negative && p.eat_punct(Punct::Minus)?;
    let t = p.next()?;
    let Tok::Duration(n) = t.tok else {
        return Err(p.unexpected(&t, "duration"));
    };
    let n = if neg { -n } else { n };
    i64::try_from(n).map(Duration::from_nanos).map_err(|_| {
        p.error_at(
            t.start,
            ParseErrorKind::Invalid("duration out of range".into()),
        )
    })
}

fn parse_dimensions(p: &mut Parser<'_>) -> Result<Vec<Dimension>, ParseError> {
    let mut dims = Vec::new();
    loop {
        dims.push(parse_dimension(p)?);
        if !p.eat_punct(Punct::Comma)? {
            return Ok(dims);
        }
    }
}

fn parse_dimension(p: &mut Parser<'_>) -> Result<Dimension, ParseError> {
    if let Some(re) = p.regex()? {
        return Ok(Dimension::Regex(re));
    }
    if p.eat_punct(Punct::Star)? {
        return Ok(Dimension::Wildcard);
    }
    if p.peek()?.is_kw("time") {
        let t = p.next()?;
        if p.eat_punct(Punct::LParen)? {
            let interval = parse_duration_arg(p, false)?;
            let offset = if p.eat_punct(Punct::Comma)? {
                if p.peek()?.is_kw("now") {
                    p.next()?;
                    p.expect_punct(Punct::LParen, "(")?;
                    p.expect_punct(Punct::RParen, ")")?;
                    Some(TimeOffset::Now)
                } else {
                    Some(TimeOffset::Duration(parse_duration_arg(p, true)?))
                }
            } else {
                None
            };
            p.expect_punct(Punct::RParen, ")")?;
            return Ok(Dimension::Time { interval, offset });
        }
        let _ = t;
        return Ok(Dimension::Tag("time".into()));
    }
    Ok(Dimension::Tag(p.ident("identifier, time(..), regex, *")?))
}

/// Whether the next tokens are the bare identifier `name` followed by `(`.
fn peek_call(p: &mut Parser<'_>, name: &str) -> Result<Option<Token>, ParseError> {
    if p.peek()?.is_kw(name) {
        let t = p.next()?;
        p.expect_punct(Punct::LParen, "(")?;
        Ok(Some(t))
    } else {
        Ok(None)
    }
}

fn parse_fill(p: &mut Parser<'_>) -> Result<Option<Fill>, ParseError> {
    if peek_call(p, "fill")?.is_none() {
        return Ok(None);
    }
    let neg = p.eat_punct(Punct::Minus)?;
    let t = p.next()?;
    let fill = match &t.tok {
        Tok::Ident(s) if !neg && s.eq_ignore_ascii_case("null") => Fill::Null,
        Tok::Ident(s) if !neg && s.eq_ignore_ascii_case("none") => Fill::None,
        Tok::Ident(s) if !neg && s.eq_ignore_ascii_case("previous") => Fill::Previous,
        Tok::Ident(s) if !neg && s.eq_ignore_ascii_case("linear") => Fill::Linear,
        Tok::Integer(n) => {
            let v = i128::from(*n);
            let v = if neg { -v } else { v };
            Fill::Integer(i64::try_from(v).map_err(|_| {
                p.error_at(
                    t.start,
                    ParseErrorKind::Invalid("integer out of range".into()),
                )
            })?)
        }
        Tok::Number(v) => Fill::Number(if neg { -v } else { *v }),
        _ => return Err(p.unexpected(&t, "null, none, previous, linear, number")),
    };
    p.expect_punct(Punct::RParen, ")")?;
    Ok(Some(fill))
}

fn parse_order_by(p: &mut Parser<'_>) -> Result<Option<Order>, ParseError> {
    if !p.eat_kw("ORDER")? {
        return Ok(None);
    }
    p.expect_kw("BY")?;
    let t = p.peek()?.clone();
    let named_time = match &t.tok {
        Tok::Ident(s) if s.eq_ignore_ascii_case("time") => true,
        Tok::QuotedIdent(s) if s == "time" => true,
        Tok::Ident(s) if s.eq_ignore_ascii_case("ASC") || s.eq_ignore_ascii_case("DESC") => false,
        Tok::Ident(_) | Tok::QuotedIdent(_) => {
            return Err(p.error_at(
                t.start,
                ParseErrorKind::Invalid("only ORDER BY time supported at this time".into()),
            ));
        }
        _ => return Err(p.unexpected(&t, "time, ASC, DESC")),
    };
    if named_time {
        p.next()?;
    }
    let order = if p.eat_kw("DESC")? {
        Order::Desc
    } else {
        p.eat_kw("ASC")?;
        Order::Asc
    };
    if p.peek()?.is_punct(Punct::Comma) {
        let t = p.peek()?.clone();
        return Err(p.error_at(
            t.start,
            ParseErrorKind::Invalid("only ORDER BY time supported at this time".into()),
        ));
    }
    Ok(Some(order))
}

fn parse_tz(p: &mut Parser<'_>) -> Result<Option<String>, ParseError> {
    if peek_call(p, "tz")?.is_none() {
        return Ok(None);
    }
    let t = p.next()?;
    let Tok::Str(name) = t.tok else {
        return Err(p.unexpected(&t, "string"));
    };
    p.expect_punct(Punct::RParen, ")")?;
    Ok(Some(name))
}
