//! WHERE: time conditions become a range (InfluxDB's rules), the rest becomes SQL with
//! InfluxDB's semantics for absent tags and fields.

use sqlparser::ast::{BinaryOperator, Expr as Sql};

use super::functions::{ColKind, ExprTr, Scope, Ty};
use super::regex::Regex as NameRegex;
use super::sqlb::{and, binop, bool_lit, col, func, int_lit, is_null, nested, or, str_lit};
use super::time::{MAX_TIME, MIN_TIME, parse_rfc3339};
use super::{TranslateError, invalid, unsupported};
use crate::query::influxql::{BinaryOp, Expr, Literal};

/// A time range `[start, end)` in nanoseconds; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl TimeRange {
    pub fn intersect(self, o: TimeRange) -> TimeRange {
        TimeRange {
            start: match (self.start, o.start) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            end: match (self.end, o.end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// `"time" >= .. AND "time" < ..` conditions.
    pub fn sql(self) -> Vec<Sql> {
        let mut out = Vec::new();
        if let Some(s) = self.start.filter(|&s| s > MIN_TIME) {
            out.push(binop(col("time"), BinaryOperator::GtEq, ts(s)));
        }
        if let Some(e) = self.end.filter(|&e| e <= MAX_TIME) {
            out.push(binop(col("time"), BinaryOperator::Lt, ts(e)));
        }
        out
    }
}

/// A nanosecond timestamp literal.
pub(crate) fn ts(ns: i64) -> Sql {
    func("to_timestamp_nanos", vec![int_lit(ns)])
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time"))
}

fn mentions_time(e: &Expr) -> bool {
    match e {
        Expr::VarRef(v) => v.name.eq_ignore_ascii_case("time"),
        Expr::Binary(b) => mentions_time(&b.lhs) || mentions_time(&b.rhs),
        Expr::Paren(i) | Expr::Neg(i) => mentions_time(i),
        _ => false,
    }
}

/// Splits a condition into its time range and the other top-level conjuncts.
pub(crate) fn split_condition(
    cond: Option<&Expr>,
    now: i64,
) -> Result<(TimeRange, Vec<&Expr>), TranslateError> {
    let mut range = TimeRange::default();
    let mut rest = Vec::new();
    let mut stack: Vec<&Expr> = cond.into_iter().collect();
    while let Some(e) = stack.pop() {
        let e = e.unparen();
        if let Expr::Binary(b) = e {
            if b.op == BinaryOp::And {
                stack.push(&b.rhs);
                stack.push(&b.lhs);
                continue;
            }
            if b.op.is_comparison() && (is_time(&b.lhs) || is_time(&b.rhs)) {
                range = range.intersect(time_condition(b.op, &b.lhs, &b.rhs, now)?);
                continue;
            }
        }
        if mentions_time(e) {
            return unsupported(format!(
                "time condition {e}: time may only be compared in top-level AND conditions"
            ));
        }
        rest.push(e);
    }
    Ok((range, rest))
}

fn time_condition(
    op: BinaryOp,
    lhs: &Expr,
    rhs: &Expr,
    now: i64,
) -> Result<TimeRange, TranslateError> {
    let (op, value) = if is_time(lhs) {
        (op, rhs)
    } else {
        let flipped = match op {
            BinaryOp::Lt => BinaryOp::Gt,
            BinaryOp::LtEq => BinaryOp::GtEq,
            BinaryOp::Gt => BinaryOp::Lt,
            BinaryOp::GtEq => BinaryOp::LtEq,
            o => o,
        };
        (flipped, lhs)
    };
    let t = time_value(value, now)?;
    let mut r = TimeRange::default();
    match op {
        BinaryOp::Gt => r.start = Some(t.saturating_add(1)),
        BinaryOp::GtEq => r.start = Some(t),
        BinaryOp::Lt => r.end = Some(t),
        BinaryOp::LtEq => r.end = Some(t.saturating_add(1)),
        BinaryOp::Eq => {
            r.start = Some(t);
            r.end = Some(t.saturating_add(1));
        }
        other => {
            return unsupported(format!("time condition with operator {}", other.as_str()));
        }
    }
    Ok(r)
}

/// Evaluates a time expression: RFC3339 strings, integer nanoseconds, durations (nanoseconds
/// since the epoch), `now()` and `+`/`-` of those.
pub(crate) fn time_value(e: &Expr, now: i64) -> Result<i64, TranslateError> {
    match e.unparen() {
        Expr::Literal(Literal::String(s)) => parse_rfc3339(s)
            .ok_or_else(|| TranslateError::Invalid(format!("invalid time literal '{s}'"))),
        Expr::Literal(Literal::Integer(i)) => Ok(*i),
        Expr::Literal(Literal::Number(f)) => Ok(*f as i64),
        Expr::Literal(Literal::Duration(d)) => Ok(d.nanos),
        e if e.is_now() => Ok(now),
        Expr::Binary(b) if matches!(b.op, BinaryOp::Add | BinaryOp::Sub) => {
            let l = time_value(&b.lhs, now)?;
            let r = time_value(&b.rhs, now)?;
            Ok(if b.op == BinaryOp::Add {
                l.saturating_add(r)
            } else {
                l.saturating_sub(r)
            })
        }
        other => invalid(format!("invalid time expression {other}")),
    }
}

/// Translates a non-time condition.
pub(crate) fn condition(e: &Expr, scope: &Scope) -> Result<Sql, TranslateError> {
    match e {
        Expr::Paren(inner) => Ok(nested(condition(inner, scope)?)),
        Expr::Binary(b) if b.op == BinaryOp::And => {
            Ok(and(condition(&b.lhs, scope)?, condition(&b.rhs, scope)?))
        }
        Expr::Binary(b) if b.op == BinaryOp::Or => {
            Ok(or(condition(&b.lhs, scope)?, condition(&b.rhs, scope)?))
        }
        Expr::Binary(b) if b.op.is_comparison() => compare(&b.lhs, b.op, &b.rhs, scope),
        Expr::Literal(Literal::Boolean(v)) => Ok(bool_lit(*v)),
        Expr::VarRef(v) => match scope.resolve(v) {
            ColKind::Field(crate::schema::FieldType::Boolean) => Ok(col(&v.name)),
            _ => invalid(format!("invalid condition {e}: expected a comparison")),
        },
        Expr::BindParam(p) => invalid(format!("missing parameter: {p}")),
        other => invalid(format!("invalid condition {other}: expected a comparison")),
    }
}

fn cmp_op(op: BinaryOp) -> BinaryOperator {
    match op {
        BinaryOp::Eq => BinaryOperator::Eq,
        BinaryOp::NotEq => BinaryOperator::NotEq,
        BinaryOp::Lt => BinaryOperator::Lt,
        BinaryOp::LtEq => BinaryOperator::LtEq,
        BinaryOp::Gt => BinaryOperator::Gt,
        BinaryOp::GtEq => BinaryOperator::GtEq,
        BinaryOp::EqRegex => BinaryOperator::PGRegexMatch,
        _ => BinaryOperator::PGRegexNotMatch,
    }
}

/// Whether `pattern` matches the empty string, i.e. a missing tag; `None` when the core's
/// matcher cannot tell.
fn matches_empty(pattern: &str) -> Option<bool> {
    NameRegex::new(pattern).ok().map(|r| r.is_match(""))
}

fn compare(lhs: &Expr, op: BinaryOp, rhs: &Expr, scope: &Scope) -> Result<Sql, TranslateError> {
    let tr = ExprTr {
        scope,
        aggregate: false,
    };
    // Put the variable on the left (`'a' = host` is `host = 'a'`).
    let (lhs, op, rhs) = match (lhs.unparen(), rhs.unparen()) {
        (l @ Expr::Literal(_), r @ Expr::VarRef(_)) => {
            let op = match op {
                BinaryOp::Lt => BinaryOp::Gt,
                BinaryOp::LtEq => BinaryOp::GtEq,
                BinaryOp::Gt => BinaryOp::Lt,
                BinaryOp::GtEq => BinaryOp::LtEq,
                o => o,
            };
            (r, op, l)
        }
        (l, r) => (l, op, r),
    };
    if matches!(op, BinaryOp::EqRegex | BinaryOp::NotEqRegex) {
        let Expr::Literal(Literal::Regex(re)) = rhs else {
            return invalid(format!("expected a regex after {}, got {rhs}", op.as_str()));
        };
        let Expr::VarRef(v) = lhs else {
            return invalid(format!(
                "expected a tag or field before {}, got {lhs}",
                op.as_str()
            ));
        };
        let negated = op == BinaryOp::NotEqRegex;
        let pattern = str_lit(&re.0);
        return Ok(match scope.resolve(v) {
            // A series without the tag has the value '' in InfluxDB.
            ColKind::Tag => {
                let c = col(&v.name);
                let m = binop(c.clone(), cmp_op(op), pattern);
                match (matches_empty(&re.0), negated) {
                    (Some(true), false) => or(is_null(c), m),
                    (Some(false), true) => or(is_null(c), m),
                    (Some(_), _) => m,
                    // Unknown to the core's matcher: let the engine test ''.
                    (None, _) => or(
                        m,
                        and(is_null(c), binop(str_lit(""), cmp_op(op), str_lit(&re.0))),
                    ),
                }
            }
            ColKind::Field(crate::schema::FieldType::String) => {
                binop(col(&v.name), cmp_op(op), pattern)
            }
            // InfluxDB: a regex never matches a non-string field.
            ColKind::Field(_) => bool_lit(false),
            ColKind::Unknown => match matches_empty(&re.0) {
                Some(m) => bool_lit(m != negated),
                None => binop(str_lit(""), cmp_op(op), pattern),
            },
        });
    }
    if let (Expr::VarRef(v), Expr::Literal(lit)) = (lhs, rhs) {
        match (scope.resolve(v), lit) {
            (ColKind::Tag, Literal::String(s)) => {
                let c = col(&v.name);
                let cmp = binop(c.clone(), cmp_op(op), str_lit(s));
                // A missing tag compares as ''.
                let empty_holds = match op {
                    BinaryOp::Eq => s.is_empty(),
                    BinaryOp::NotEq => !s.is_empty(),
                    BinaryOp::Lt => !s.is_empty(),
                    BinaryOp::LtEq => true,
                    BinaryOp::Gt => false,
                    _ => s.is_empty(),
                };
                return Ok(if empty_holds {
                    or(is_null(c), cmp)
                } else {
                    cmp
                });
            }
            (ColKind::Tag, _) => return Ok(bool_lit(false)),
            (ColKind::Unknown, Literal::String(s)) => {
                let holds = match op {
                    BinaryOp::Eq => s.is_empty(),
                    BinaryOp::NotEq | BinaryOp::Lt => !s.is_empty(),
                    BinaryOp::LtEq => true,
                    _ => s.is_empty() && op == BinaryOp::GtEq,
                };
                return Ok(bool_lit(holds));
            }
            (ColKind::Unknown, _) => return Ok(bool_lit(false)),
            (ColKind::Field(t), lit) => {
                let ft = Ty::from_field(t);
                let lit_string = matches!(lit, Literal::String(_));
                let lit_bool = matches!(lit, Literal::Boolean(_));
                // InfluxDB: comparing across kinds (a number with a string) matches nothing.
                if (ft == Ty::String) != lit_string || (ft == Ty::Boolean) != lit_bool {
                    return Ok(bool_lit(false));
                }
            }
        }
    }
    let (l, lt) = tr.value(lhs)?;
    let (r, rt) = tr.value(rhs)?;
    if lt == Ty::Unknown || rt == Ty::Unknown {
        // An absent value compares false.
        return Ok(bool_lit(false));
    }
    Ok(binop(l, cmp_op(op), r))
}
