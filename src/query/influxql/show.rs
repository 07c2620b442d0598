//! `SHOW ...` statements.

use super::{
    ParseError,
    ast::{
        ShowFieldKeysStatement, ShowMeasurementsStatement, ShowRetentionPoliciesStatement,
        ShowSeriesStatement, ShowTagKeysStatement, ShowTagValuesStatement, Statement, WithKey,
    },
    expr::parse_expr,
    lexer::{Parser, Punct, Tok},
    select::{opt_int, parse_measurement, parse_measurements, unsupported},
};

/// Parses the statement after `SHOW` (at byte `at`).
pub(crate) fn parse_show(p: &mut Parser<'_>, at: usize) -> Result<Statement, ParseError> {
    let t = p.peek()?.clone();
    let word = match &t.tok {
        Tok::Ident(s) => s.to_ascii_uppercase(),
        _ => return Err(p.unexpected(&t, "DATABASES, MEASUREMENTS, TAG, FIELD, SERIES, RETENTION")),
    };
    // Two-word forms: check the second word before committing.
    match word.as_str() {
        "DATABASES" => {
            p.next()?;
            Ok(Statement::ShowDatabases)
        }
        "MEASUREMENTS" => {
            p.next()?;
            show_measurements(p).map(Statement::ShowMeasurements)
        }
        "SERIES" => {
            p.next()?;
            if p.peek()?.is_kw("CARDINALITY") || p.peek()?.is_kw("EXACT") {
                return Err(unsupported(p, "SHOW SERIES", at)?);
            }
            show_series(p).map(Statement::ShowSeries)
        }
        "TAG" => {
            p.next()?;
            if p.peek()?.is_kw("KEYS") {
                p.next()?;
                if p.peek()?.is_kw("CARDINALITY") || p.peek()?.is_kw("EXACT") {
                    return Err(unsupported(p, "SHOW TAG KEYS", at)?);
                }
                show_tag_keys(p).map(Statement::ShowTagKeys)
            } else if p.peek()?.is_kw("VALUES") {
                p.next()?;
                if p.peek()?.is_kw("CARDINALITY") || p.peek()?.is_kw("EXACT") {
                    return Err(unsupported(p, "SHOW TAG VALUES", at)?);
                }
                show_tag_values(p).map(Statement::ShowTagValues)
            } else if p.peek()?.is_kw("KEY") {
                Err(unsupported(p, "SHOW TAG", at)?)
            } else {
                let t = p.next()?;
                Err(p.unexpected(&t, "KEYS, VALUES"))
            }
        }
        "FIELD" => {
            p.next()?;
            if p.peek()?.is_kw("KEYS") {
                p.next()?;
                show_field_keys(p).map(Statement::ShowFieldKeys)
            } else if p.peek()?.is_kw("KEY") {
                Err(unsupported(p, "SHOW FIELD", at)?)
            } else {
                let t = p.next()?;
                Err(p.unexpected(&t, "KEYS"))
            }
        }
        "RETENTION" => {
            p.next()?;
            p.expect_kw("POLICIES")?;
            let on = opt_on(p)?;
            Ok(Statement::ShowRetentionPolicies(
                ShowRetentionPoliciesStatement { on },
            ))
        }
        "MEASUREMENT" | "CONTINUOUS" | "DIAGNOSTICS" | "GRANTS" | "QUERIES" | "SHARD"
        | "SHARDS" | "STATS" | "SUBSCRIPTIONS" | "USERS" => Err(unsupported(p, "SHOW", at)?),
        _ => Err(p.unexpected(&t, "DATABASES, MEASUREMENTS, TAG, FIELD, SERIES, RETENTION")),
    }
}

fn opt_on(p: &mut Parser<'_>) -> Result<Option<String>, ParseError> {
    if p.eat_kw("ON")? {
        Ok(Some(p.ident("identifier")?))
    } else {
        Ok(None)
    }
}

fn opt_from(p: &mut Parser<'_>) -> Result<Vec<super::ast::MeasurementName>, ParseError> {
    if p.eat_kw("FROM")? {
        parse_measurements(p)
    } else {
        Ok(Vec::new())
    }
}

fn opt_where(p: &mut Parser<'_>) -> Result<Option<super::ast::Expr>, ParseError> {
    if p.eat_kw("WHERE")? {
        Ok(Some(parse_expr(p)?))
    } else {
        Ok(None)
    }
}

fn show_measurements(p: &mut Parser<'_>) -> Result<ShowMeasurementsStatement, ParseError> {
    let on = opt_on(p)?;
    let with_measurement = if p.eat_kw("WITH")? {
        p.expect_kw("MEASUREMENT")?;
        let t = p.next()?;
        if !(t.is_punct(Punct::Eq) || t.is_punct(Punct::EqRegex)) {
            return Err(p.unexpected(&t, "=, =~"));
        }
        Some(parse_measurement(p)?)
    } else {
        None
    };
    let condition = opt_where(p)?;
    let limit = opt_int(p, "LIMIT")?;
    let offset = opt_int(p, "OFFSET")?;
    Ok(ShowMeasurementsStatement {
        on,
        with_measurement,
        condition,
        limit,
        offset,
    })
}

fn show_tag_keys(p: &mut Parser<'_>) -> Result<ShowTagKeysStatement, ParseError> {
    let on = opt_on(p)?;
    let from = opt_from(p)?;
    let condition = opt_where(p)?;
    let limit = opt_int(p, "LIMIT")?;
    let offset = opt_int(p, "OFFSET")?;
    let slimit = opt_int(p, "SLIMIT")?;
    let soffset = opt_int(p, "SOFFSET")?;
    Ok(ShowTagKeysStatement {
        on,
        from,
        condition,
        limit,
        offset,
        slimit,
        soffset,
    })
}

fn show_tag_values(p: &mut Parser<'_>) -> Result<ShowTagValuesStatement, ParseError> {
    let on = opt_on(p)?;
    let from = opt_from(p)?;
    p.expect_kw("WITH")?;
    p.expect_kw("KEY")?;
    let t = p.next()?;
    let with_key = match t.tok {
        Tok::Punct(Punct::Eq) => WithKey::Eq(p.ident("identifier")?),
        Tok::Punct(Punct::NotEq) => WithKey::NotEq(p.ident("identifier")?),
        Tok::Punct(op @ (Punct::EqRegex | Punct::NotEqRegex)) => {
            let Some(re) = p.regex()? else {
                let t = p.next()?;
                return Err(p.unexpected(&t, "regex"));
            };
            if op == Punct::EqRegex {
                WithKey::EqRegex(re)
            } else {
                WithKey::NotEqRegex(re)
            }
        }
        Tok::Ident(ref s) if s.eq_ignore_ascii_case("IN") => {
            p.expect_punct(Punct::LParen, "(")?;
            let mut keys = vec![p.ident("identifier")?];
            while p.eat_punct(Punct::Comma)? {
                keys.push(p.ident("identifier")?);
            }
            p.expect_punct(Punct::RParen, ")")?;
            WithKey::In(keys)
        }
        _ => return Err(p.unexpected(&t, "=, !=, =~, !~, IN")),
    };
    let condition = opt_where(p)?;
    let limit = opt_int(p, "LIMIT")?;
    let offset = opt_int(p, "OFFSET")?;
    Ok(ShowTagValuesStatement {
        on,
        from,
        with_key,
        condition,
        limit,
        offset,
    })
}

fn show_field_keys(p: &mut Parser<'_>) -> Result<ShowFieldKeysStatement, ParseError> {
    let on = opt_on(p)?;
    let from = opt_from(p)?;
    let limit = opt_int(p, "LIMIT")?;
    let offset = opt_int(p, "OFFSET")?;
    Ok(ShowFieldKeysStatement {
        on,
        from,
        limit,
        offset,
    })
}

fn show_series(p: &mut Parser<'_>) -> Result<ShowSeriesStatement, ParseError> {
    let on = opt_on(p)?;
    let from = opt_from(p)?;
    let condition = opt_where(p)?;
    let limit = opt_int(p, "LIMIT")?;
    let offset = opt_int(p, "OFFSET")?;
    Ok(ShowSeriesStatement {
        on,
        from,
        condition,
        limit,
        offset,
    })
}
