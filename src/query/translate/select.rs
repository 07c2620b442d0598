//! SELECT → one SQL query (and shaping plan) per measurement.

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::ast::{BinaryOperator, Expr as Sql, Query, SelectItem};

use super::functions::{
    ColKind, ExprTr, MULTI_ROW, SELECTORS, Scope, TRANSFORMS, Ty, bare_vars, base_name,
    check_function, is_aggregate, percentile_arg, selector_order, walk_calls,
};
use super::plan::{
    FillPlan, FillValue, OutputColumn, PlanKind, PostOp, ShapePlan, Transform, Window,
};
use super::regex::Regex as NameRegex;
use super::sqlb::{
    SelectParts, agg, and_all, cast, col, derived, func, int_lit, is_not_null, item, or_all, order,
    query, select, str_lit, table, table_function, window,
};
use super::time::{NS_PER_H, NS_PER_S, sql_interval};
use super::where_clause::{TimeRange, condition, split_condition, ts};
use super::{SqlQuery, TranslateContext, TranslateError, invalid, storage_database, unsupported};
use crate::query::influxql::{
    BinaryOp, Call, DataType, Dimension, Expr, Fill, Literal, MeasurementName, MeasurementNameKind,
    Order, SelectStatement, Source, TimeOffset, VarRef, WildcardType,
};
use crate::schema::FieldType;

pub(crate) fn translate_select(
    s: &SelectStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Vec<SqlQuery>, TranslateError> {
    let (range, conds) = split_condition(s.condition.as_ref(), ctx.now)?;
    let mut out = Vec::new();
    for scope in resolve_sources(&s.from, ctx, range)? {
        if let Some(b) = build(s, &scope, range, &conds, ctx)? {
            out.push(SqlQuery {
                sql: b.query.to_string(),
                plan: b.plan,
            });
        }
    }
    Ok(out)
}

/// The storage database a FROM item reads (`FROM db.rp.m` overrides the request's).
fn source_database(
    m: &MeasurementName,
    ctx: &TranslateContext<'_>,
) -> Result<String, TranslateError> {
    let db = m.database.as_deref().unwrap_or(ctx.database);
    if db.is_empty() {
        return invalid("database name required");
    }
    let rp = match (&m.database, &m.retention_policy) {
        (_, Some(rp)) => Some(rp.as_str()),
        (Some(_), None) => None,
        (None, None) => ctx.retention_policy,
    };
    Ok(storage_database(db, rp))
}

/// Measurements matching a name or regex, sorted.
pub(crate) fn matching_measurements(
    m: &MeasurementName,
    db: &str,
    ctx: &TranslateContext<'_>,
) -> Result<Vec<String>, TranslateError> {
    let mut all = ctx.schema.measurements(db);
    all.sort();
    Ok(match &m.name {
        MeasurementNameKind::Name(n) => all.into_iter().filter(|x| x == n).collect(),
        MeasurementNameKind::Regex(r) => {
            let re = NameRegex::new(&r.0).map_err(TranslateError::Invalid)?;
            all.into_iter().filter(|x| re.is_match(x)).collect()
        }
    })
}

pub(crate) fn table_scope(db: &str, name: &str, ctx: &TranslateContext<'_>) -> Scope {
    Scope {
        name: name.to_owned(),
        from: table(Some(db), name),
        tags: ctx.schema.tag_keys(db, name).into_iter().collect(),
        fields: ctx.schema.field_keys(db, name).into_iter().collect(),
        last_rows: ctx
            .schema
            .last_rows_function()
            .map(|f| table_function(f, &[db, name])),
    }
}

fn resolve_sources(
    from: &[Source],
    ctx: &TranslateContext<'_>,
    outer: TimeRange,
) -> Result<Vec<Scope>, TranslateError> {
    let mut tables = BTreeMap::new();
    let mut subs = Vec::new();
    for src in from {
        match src {
            Source::Measurement(m) => {
                let db = source_database(m, ctx)?;
                for name in matching_measurements(m, &db, ctx)? {
                    tables.insert((name.clone(), db.clone()), ());
                }
            }
            Source::Subquery(inner) => {
                if let Some(scope) = subquery_scope(inner, ctx, outer)? {
                    subs.push(scope);
                }
            }
        }
    }
    let mut scopes: Vec<Scope> = tables
        .into_keys()
        .map(|(name, db)| table_scope(&db, &name, ctx))
        .collect();
    scopes.extend(subs);
    Ok(scopes)
}

/// A subquery becomes a derived table whose tags are its GROUP BY tags and whose fields are
/// its output columns. Only shaping-free subqueries nest: what the plan would do after SQL
/// (fill other than null/none, transformations, per-series limits) cannot run inside SQL.
fn subquery_scope(
    inner: &SelectStatement,
    ctx: &TranslateContext<'_>,
    outer: TimeRange,
) -> Result<Option<Scope>, TranslateError> {
    // InfluxDB hands the outer time range down to the subquery.
    let (irange, iconds) = split_condition(inner.condition.as_ref(), ctx.now)?;
    let range = irange.intersect(outer);
    let scopes = resolve_sources(&inner.from, ctx, range)?;
    if scopes.len() > 1 {
        return unsupported("a subquery reading several measurements");
    }
    let Some(scope) = scopes.into_iter().next() else {
        return Ok(None);
    };
    let Some(b) = build(inner, &scope, range, &iconds, ctx)? else {
        return Ok(None);
    };
    let p = &b.plan;
    if p.columns.iter().any(|c| c.transform.is_some()) {
        return unsupported("transformations inside a subquery");
    }
    if p.window.is_some() && !matches!(p.fill, FillPlan::Null | FillPlan::None) {
        return unsupported(format!("fill({}) inside a subquery", p.fill));
    }
    if p.limit.is_some() || p.offset.is_some() {
        return unsupported("LIMIT/OFFSET per series inside a subquery with GROUP BY tags");
    }
    if p.slimit.is_some() || p.soffset.is_some() {
        return unsupported("SLIMIT/SOFFSET inside a subquery");
    }
    Ok(Some(Scope {
        name: p.name.clone(),
        from: derived(b.query, "subquery"),
        tags: b.tags.into_iter().collect(),
        fields: b
            .columns
            .into_iter()
            .map(|(n, t)| (n, t.field_type()))
            .collect(),
        last_rows: None,
    }))
}

/// A translated SELECT over one scope.
pub(crate) struct Built {
    pub query: Query,
    pub plan: ShapePlan,
    /// GROUP BY tags, in result order.
    pub tags: Vec<String>,
    /// Value columns: SQL alias and type.
    pub columns: Vec<(String, Ty)>,
}

/// One output column before translation.
struct Col {
    name: String,
    expr: Expr,
    transform: Option<(String, Transform)>,
    post: Vec<PostOp>,
}

fn numeric_only(func: &str) -> bool {
    !matches!(
        func,
        "count" | "first" | "last" | "mode" | "distinct" | "sample" | "elapsed"
    )
}

/// Replaces a wildcard or regex argument of every call in `e` with `field`.
fn substitute_wildcard(e: &Expr, field: &str) -> Expr {
    match e {
        Expr::Call(c) => Expr::Call(Call {
            name: c.name.clone(),
            args: c
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| match a {
                    Expr::Wildcard(_) | Expr::Literal(Literal::Regex(_)) if i == 0 => {
                        Expr::var(field)
                    }
                    other => substitute_wildcard(other, field),
                })
                .collect(),
        }),
        Expr::Binary(b) => Expr::binary(
            substitute_wildcard(&b.lhs, field),
            b.op,
            substitute_wildcard(&b.rhs, field),
        ),
        Expr::Paren(i) => Expr::Paren(Box::new(substitute_wildcard(i, field))),
        other => other.clone(),
    }
}

/// The wildcard or regex argument of a call in `e`, with the innermost call's name.
fn call_wildcard(e: &Expr) -> Option<(&Expr, &str)> {
    match e {
        Expr::Call(c) => {
            if let Some(a @ (Expr::Wildcard(_) | Expr::Literal(Literal::Regex(_)))) = c.args.first()
            {
                return Some((a, &c.name));
            }
            c.args.iter().find_map(call_wildcard)
        }
        Expr::Binary(b) => call_wildcard(&b.lhs).or_else(|| call_wildcard(&b.rhs)),
        Expr::Paren(i) => call_wildcard(i),
        _ => None,
    }
}

/// Expands `*`, `*::field`, `*::tag`, `/re/` and `fn(*)`, and names the columns like InfluxDB
/// (`mean`, `mean_1`, `mean_usage_idle`).
fn expand_fields(
    s: &SelectStatement,
    scope: &Scope,
    group_tags: &BTreeSet<String>,
) -> Result<Vec<(Expr, String)>, TranslateError> {
    let mut out: Vec<(Expr, Option<String>)> = Vec::new();
    let tag_ref = |t: &str| {
        Expr::VarRef(VarRef {
            name: t.to_owned(),
            data_type: Some(DataType::Tag),
        })
    };
    for f in &s.fields {
        match f.expr.unparen() {
            Expr::Wildcard(kind) => {
                let mut names: Vec<(String, Expr)> = Vec::new();
                if *kind != Some(WildcardType::Tag) {
                    names.extend(scope.fields.keys().map(|k| (k.clone(), Expr::var(k))));
                }
                if *kind != Some(WildcardType::Field) {
                    names.extend(
                        scope
                            .tags
                            .iter()
                            .filter(|t| !group_tags.contains(*t))
                            .map(|t| (t.clone(), tag_ref(t))),
                    );
                }
                names.sort_by(|a, b| a.0.cmp(&b.0));
                out.extend(names.into_iter().map(|(_, e)| (e, None)));
            }
            Expr::Literal(Literal::Regex(r)) => {
                let re = NameRegex::new(&r.0).map_err(TranslateError::Invalid)?;
                let mut names: Vec<(String, Expr)> = scope
                    .fields
                    .keys()
                    .filter(|k| re.is_match(k))
                    .map(|k| (k.clone(), Expr::var(k)))
                    .collect();
                names.extend(
                    scope
                        .tags
                        .iter()
                        .filter(|t| !group_tags.contains(*t) && re.is_match(t))
                        .map(|t| (t.clone(), tag_ref(t))),
                );
                names.sort_by(|a, b| a.0.cmp(&b.0));
                out.extend(names.into_iter().map(|(_, e)| (e, None)));
            }
            Expr::VarRef(v) if v.name == "time" => {}
            e => {
                if let Some((arg, inner_fn)) = call_wildcard(e) {
                    let re = match arg {
                        Expr::Literal(Literal::Regex(r)) => {
                            Some(NameRegex::new(&r.0).map_err(TranslateError::Invalid)?)
                        }
                        _ => None,
                    };
                    let outer = base_name(e);
                    for (field, ty) in &scope.fields {
                        if re.as_ref().is_some_and(|re| !re.is_match(field)) {
                            continue;
                        }
                        if numeric_only(inner_fn)
                            && !matches!(
                                ty,
                                FieldType::Float | FieldType::Integer | FieldType::UInteger
                            )
                        {
                            continue;
                        }
                        let prefix = f.alias.clone().unwrap_or_else(|| outer.clone());
                        out.push((
                            substitute_wildcard(e, field),
                            Some(format!("{prefix}_{field}")),
                        ));
                    }
                } else {
                    out.push((f.expr.clone(), f.alias.clone()));
                }
            }
        }
    }
    // InfluxDB's column naming: the first use of a name keeps it, later ones get `_1`, `_2`...
    let mut seen: BTreeSet<String> = BTreeSet::new();
    seen.insert("time".into());
    let mut named = Vec::new();
    for (e, alias) in out {
        let base = alias.unwrap_or_else(|| base_name(&e));
        let mut name = base.clone();
        let mut n = 0;
        while seen.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        seen.insert(name.clone());
        named.push((e, name));
    }
    Ok(named)
}

fn duration_arg(c: &Call, i: usize, default: i64) -> Result<i64, TranslateError> {
    match c.args.get(i) {
        None => Ok(default),
        Some(Expr::Literal(Literal::Duration(d))) if d.nanos > 0 => Ok(d.nanos),
        Some(other) => invalid(format!(
            "second argument to {} must be a duration, got {other}",
            c.name
        )),
    }
}

/// Splits a transformation (possibly followed by `* / + -` with a number) off a field.
/// A field split into its SQL part, its transformation and the arithmetic after it.
type Split = (Expr, Option<(String, Transform)>, Vec<PostOp>);

fn split_transform(e: &Expr, window: Option<Window>) -> Result<Split, TranslateError> {
    let mut post = Vec::new();
    let mut cur = e.unparen();
    // `transform(...) op number`, possibly repeated.
    let mut ops = Vec::new();
    while let Expr::Binary(b) = cur {
        let v = match b.rhs.unparen() {
            Expr::Literal(Literal::Integer(i)) => *i as f64,
            Expr::Literal(Literal::Number(f)) => *f,
            _ => break,
        };
        let op = match b.op {
            BinaryOp::Add => '+',
            BinaryOp::Sub => '-',
            BinaryOp::Mul => '*',
            BinaryOp::Div => '/',
            _ => break,
        };
        if !matches!(b.lhs.unparen(), Expr::Call(c) if TRANSFORMS.contains(&c.name.as_str()))
            && !matches!(b.lhs.unparen(), Expr::Binary(_))
        {
            break;
        }
        ops.push(PostOp { op, value: v });
        cur = b.lhs.unparen();
    }
    let Expr::Call(c) = cur else {
        return Ok((e.clone(), None, vec![]));
    };
    if !TRANSFORMS.contains(&c.name.as_str()) {
        return Ok((e.clone(), None, vec![]));
    }
    ops.reverse();
    post.extend(ops);
    let name = c.name.as_str();
    let inner = c.args.first().ok_or_else(|| {
        TranslateError::Invalid(format!(
            "invalid number of arguments for {name}, expected at least 1, got 0"
        ))
    })?;
    let mut nested = false;
    walk_calls(inner, &mut |ic| {
        nested |= TRANSFORMS.contains(&ic.name.as_str())
    });
    if nested {
        return unsupported(format!("a transformation nested inside {name}()"));
    }
    let default_unit = window.map_or(NS_PER_S, |w| w.every);
    let t = match name {
        "derivative" | "non_negative_derivative" => Transform::Derivative {
            unit: duration_arg(c, 1, default_unit)?,
            non_negative: name.starts_with("non_negative"),
        },
        "difference" | "non_negative_difference" => Transform::Difference {
            non_negative: name.starts_with("non_negative"),
        },
        "moving_average" => match c.args.get(1) {
            Some(Expr::Literal(Literal::Integer(n))) if *n >= 1 => {
                Transform::MovingAverage { n: *n as u64 }
            }
            _ => {
                return invalid(
                    "second argument for moving_average must be an integer greater than 0",
                );
            }
        },
        "cumulative_sum" => Transform::CumulativeSum,
        _ => Transform::Elapsed {
            unit: duration_arg(c, 1, 1)?,
        },
    };
    let mut has_agg = false;
    walk_calls(inner, &mut |ic| has_agg |= is_aggregate(&ic.name));
    if window.is_some() && !has_agg {
        return invalid(format!(
            "aggregate function required inside the call to {name}"
        ));
    }
    if window.is_none() && has_agg {
        return invalid(format!("{name} aggregate requires a GROUP BY interval"));
    }
    Ok((inner.clone(), Some((name.to_owned(), t)), post))
}

/// Whether `e` calls a selector returning several rows (`count(distinct(x))` is one value).
fn has_multi_row(e: &Expr) -> bool {
    match e {
        Expr::Call(c) if MULTI_ROW.contains(&c.name.as_str()) => true,
        Expr::Call(c) if c.name == "count" => c.args.iter().any(|a| {
            !matches!(a.unparen(), Expr::Call(d) if d.name == "distinct") && has_multi_row(a)
        }),
        Expr::Call(c) => c.args.iter().any(has_multi_row),
        Expr::Binary(b) => has_multi_row(&b.lhs) || has_multi_row(&b.rhs),
        Expr::Paren(i) | Expr::Neg(i) => has_multi_row(i),
        _ => false,
    }
}

/// Whether an aggregate call reads a field this scope has.
fn call_has_field(tr: &ExprTr<'_>, call: &Call) -> Result<bool, TranslateError> {
    let distinct_name = match call.args.first().map(Expr::unparen) {
        Some(Expr::Distinct(n)) => Some(n.clone()),
        Some(Expr::Call(d)) if d.name == "distinct" => match d.args.first() {
            Some(Expr::VarRef(v)) => Some(v.name.clone()),
            _ => None,
        },
        _ => None,
    };
    if let Some(n) = distinct_name {
        return Ok(matches!(
            tr.scope.resolve(&VarRef {
                name: n,
                data_type: None
            }),
            ColKind::Field(_)
        ));
    }
    if call.name == "distinct" {
        return Ok(false);
    }
    Ok(tr.agg_field(call)?.is_some())
}

fn fill_plan(f: Option<Fill>) -> FillPlan {
    match f {
        None | Some(Fill::Null) => FillPlan::Null,
        Some(Fill::None) => FillPlan::None,
        Some(Fill::Previous) => FillPlan::Previous,
        Some(Fill::Linear) => FillPlan::Linear,
        Some(Fill::Integer(i)) => FillPlan::Value(FillValue::Integer(i)),
        Some(Fill::Number(v)) => FillPlan::Value(FillValue::Float(v)),
    }
}

/// A tag column; a tag this scope lacks is an all-null column (InfluxDB's `''`).
fn tag_col(scope: &Scope, t: &str) -> Sql {
    if scope.tags.contains(t) {
        col(t)
    } else {
        cast(super::sqlb::null(), sqlparser::ast::DataType::Varchar(None))
    }
}

/// A unique SQL alias for an output column (tags and `time` keep their names).
fn alias_for(name: &str, taken: &mut BTreeSet<String>) -> String {
    let mut a = name.to_owned();
    let mut n = 0;
    while taken.contains(&a) {
        n += 1;
        a = format!("{name}__{n}");
    }
    taken.insert(a.clone());
    a
}

pub(crate) fn build(
    s: &SelectStatement,
    scope: &Scope,
    range: TimeRange,
    conds: &[&Expr],
    ctx: &TranslateContext<'_>,
) -> Result<Option<Built>, TranslateError> {
    // GROUP BY.
    let mut win = None;
    let mut group_tags = BTreeSet::new();
    for d in &s.group_by {
        match d {
            Dimension::Time { interval, offset } => {
                if win.is_some() {
                    return invalid("multiple time dimensions");
                }
                if interval.nanos <= 0 {
                    return invalid("time dimension must have a positive duration");
                }
                let off = match offset {
                    None => 0,
                    Some(TimeOffset::Duration(d)) => d.nanos,
                    Some(TimeOffset::Now) => ctx.now,
                };
                win = Some(Window {
                    every: interval.nanos,
                    offset: off.rem_euclid(interval.nanos),
                });
            }
            Dimension::Tag(t) => {
                if t == "time" {
                    return invalid("time() is a function and expects at least one argument");
                }
                group_tags.insert(t.clone());
            }
            Dimension::Wildcard => group_tags.extend(scope.tags.iter().cloned()),
            Dimension::Regex(r) => {
                let re = NameRegex::new(&r.0).map_err(TranslateError::Invalid)?;
                group_tags.extend(scope.tags.iter().filter(|t| re.is_match(t)).cloned());
            }
        }
    }
    if let (Some(w), Some(tz)) = (win, &s.timezone) {
        let utc = matches!(tz.as_str(), "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z");
        // Zones are whole hours from UTC except a few (:30, :45): buckets dividing an hour
        // fall on the same instants in UTC and local time for the common zones.
        if !utc && NS_PER_H % w.every != 0 {
            return unsupported(format!(
                "tz('{tz}') with GROUP BY time({}): buckets are aligned in UTC",
                super::time::format_duration(w.every)
            ));
        }
    }
    let tags: Vec<String> = group_tags.iter().cloned().collect();

    // Fields.
    let fields = expand_fields(s, scope, &group_tags)?;
    if fields.is_empty() {
        return invalid("statement must have at least one field in select clause");
    }
    let mut cols = Vec::new();
    for (e, name) in &fields {
        let mut names_ok = Ok(());
        walk_calls(e, &mut |c| {
            if names_ok.is_ok() {
                names_ok = check_function(&c.name);
            }
        });
        names_ok?;
        let (expr, transform, post) = split_transform(e, win)?;
        cols.push(Col {
            name: name.clone(),
            expr,
            transform,
            post,
        });
    }

    // Kind of query.
    let mut agg_calls: Vec<&Call> = Vec::new();
    for c in &cols {
        walk_calls(&c.expr, &mut |call| {
            if is_aggregate(&call.name) {
                agg_calls.push(call);
            }
        });
    }
    let multi = cols
        .iter()
        .position(|c| matches!(&c.expr, Expr::Distinct(_)))
        .or_else(|| cols.iter().position(|c| has_multi_row(&c.expr)));
    if win.is_some() && agg_calls.is_empty() && multi.is_none() {
        return invalid("GROUP BY requires at least one aggregate function");
    }

    // `last()` over all time, filtered by tags only, needs each series' last rows only.
    let last_scope = (win.is_none()
        && range.start.is_none()
        && range.end.is_none()
        && multi.is_none()
        && !agg_calls.is_empty()
        && agg_calls.iter().all(|c| c.name == "last"))
    .then(|| scope.over_last_rows(conds))
    .flatten();
    let scope = last_scope.as_ref().unwrap_or(scope);

    let mut where_ = range_for(s, range, win, ctx);
    for c in conds {
        where_.push(condition(c, scope)?);
    }

    let mut plan = ShapePlan {
        kind: PlanKind::Select,
        name: scope.name.clone(),
        tags: tags.clone(),
        columns: vec![],
        window: None,
        start: None,
        end: None,
        fill: fill_plan(s.fill),
        descending: s.order_by == Some(Order::Desc),
        limit: s.limit,
        offset: s.offset,
        slimit: s.slimit,
        soffset: s.soffset,
        tz: s.timezone.clone(),
        drop_null_rows: false,
    };
    let r = effective_range(range, win, ctx);
    plan.start = r.start;
    plan.end = r.end;

    if let Some(i) = multi {
        return multi_row(s, scope, &cols, i, &tags, win, where_, plan).map(Some);
    }
    if agg_calls.is_empty() {
        raw(scope, &cols, &tags, where_, plan)
    } else {
        aggregate(scope, &cols, &tags, &agg_calls, win, r, where_, plan)
    }
}

/// The range the SQL reads: GROUP BY time queries without an upper bound stop at `now()`,
/// as in InfluxDB 1.x.
fn effective_range(range: TimeRange, win: Option<Window>, ctx: &TranslateContext<'_>) -> TimeRange {
    let mut r = range;
    if win.is_some() && r.end.is_none() {
        r.end = Some(ctx.now.saturating_add(1));
    }
    r
}

fn range_for(
    _s: &SelectStatement,
    range: TimeRange,
    win: Option<Window>,
    ctx: &TranslateContext<'_>,
) -> Vec<Sql> {
    effective_range(range, win, ctx).sql()
}

fn order_by(tags: &[String], plan: &ShapePlan) -> Vec<sqlparser::ast::OrderByExpr> {
    let mut o: Vec<_> = tags.iter().map(|t| order(col(t), true)).collect();
    o.push(order(col("time"), !plan.descending));
    o
}

/// Pushes LIMIT/OFFSET into the SQL when one SQL row is one output row of one series.
fn push_limit(
    plan: &mut ShapePlan,
    tags: &[String],
    row_exact: bool,
) -> (Option<u64>, Option<u64>) {
    if tags.is_empty() && row_exact {
        (plan.limit.take(), plan.offset.take())
    } else {
        (None, None)
    }
}

fn field_refs<'a>(e: &'a Expr, scope: &Scope, fields: &mut Vec<&'a VarRef>, unknown: &mut bool) {
    let mut vars = Vec::new();
    bare_vars(e, &mut vars);
    for v in vars {
        match scope.resolve(v) {
            ColKind::Field(_) => fields.push(v),
            ColKind::Unknown => *unknown = true,
            ColKind::Tag => {}
        }
    }
}

fn raw(
    scope: &Scope,
    cols: &[Col],
    tags: &[String],
    mut where_: Vec<Sql>,
    mut plan: ShapePlan,
) -> Result<Option<Built>, TranslateError> {
    let tr = ExprTr {
        scope,
        aggregate: false,
    };
    let mut fields = Vec::new();
    let mut unknown = false;
    for c in cols {
        field_refs(&c.expr, scope, &mut fields, &mut unknown);
    }
    if fields.is_empty() {
        if unknown {
            // None of the selected fields exists in this measurement: no series.
            return Ok(None);
        }
        return invalid("statement must have at least one field in select clause");
    }
    // InfluxDB returns a row only where at least one selected field has a value.
    let mut seen = BTreeSet::new();
    let present: Vec<Sql> = fields
        .iter()
        .filter(|v| seen.insert(v.name.clone()))
        .map(|v| is_not_null(col(&v.name)))
        .collect();
    let present = or_all(present).expect("at least one field");
    where_.push(present);

    let mut taken: BTreeSet<String> = tags.iter().cloned().collect();
    taken.insert("time".into());
    let mut proj = vec![item(col("time"), "time")];
    proj.extend(tags.iter().map(|t| item(tag_col(scope, t), t)));
    let mut out_cols = Vec::new();
    for c in cols {
        let (sql, ty) = tr.value(&c.expr)?;
        let alias = alias_for(&c.name, &mut taken);
        proj.push(item(sql, &alias));
        plan.columns.push(OutputColumn {
            name: c.name.clone(),
            source: proj.len() - 1,
            transform: c.transform.as_ref().map(|t| t.1),
            post: c.post.clone(),
            null_fill: None,
        });
        out_cols.push((alias, ty));
    }
    let transforms = cols.iter().any(|c| c.transform.is_some());
    let (limit, offset) = push_limit(&mut plan, tags, !transforms);
    let body = select(SelectParts {
        projection: proj,
        from: vec![scope.from.clone()],
        selection: and_all(where_),
        ..Default::default()
    });
    Ok(Some(Built {
        query: query(body, order_by(tags, &plan), limit, offset),
        plan,
        tags: tags.to_vec(),
        columns: out_cols,
    }))
}

fn bucket(w: Window) -> Sql {
    func(
        "date_bin",
        vec![
            Sql::Interval(sqlparser::ast::Interval {
                value: Box::new(str_lit(&sql_interval(w.every))),
                leading_field: None,
                leading_precision: None,
                last_field: None,
                fractional_seconds_precision: None,
            }),
            col("time"),
            ts(w.offset),
        ],
    )
}

#[allow(clippy::too_many_arguments)]
fn aggregate(
    scope: &Scope,
    cols: &[Col],
    tags: &[String],
    agg_calls: &[&Call],
    win: Option<Window>,
    range: TimeRange,
    where_: Vec<Sql>,
    mut plan: ShapePlan,
) -> Result<Option<Built>, TranslateError> {
    let tr = ExprTr {
        scope,
        aggregate: true,
    };
    // A lone selector (first, last, min, max, percentile) without GROUP BY time returns its
    // point's time and lets plain fields ride along from that point, as in InfluxDB.
    let selector = (agg_calls.len() == 1 && SELECTORS.contains(&agg_calls[0].name.as_str()))
        .then(|| agg_calls[0]);
    let mut any_field = false;
    for call in agg_calls {
        any_field |= call_has_field(&tr, call)?;
    }
    if !any_field {
        return Ok(None);
    }
    let point = |f: &Sql| -> Result<Sql, TranslateError> {
        let c = selector.expect("checked");
        let (x, _, _) = tr.agg_field(c)?.expect("field exists");
        Ok(if c.name == "percentile" {
            agg(
                "influx_percentile_at",
                // Time breaks ties between equal values (the earliest point, as InfluxDB).
                vec![x, f.clone(), col("time"), percentile_arg(c)?],
                false,
                vec![],
                None,
            )
        } else {
            let (o, filt) = selector_order(&c.name, &x);
            agg("first_value", vec![f.clone()], false, o, Some(filt))
        })
    };
    let selector_has_field = match selector {
        Some(c) => tr.agg_field(c)?.is_some(),
        None => false,
    };
    let time_sql = match (win, selector) {
        (Some(w), _) => bucket(w),
        (None, Some(_)) if selector_has_field => point(&col("time"))?,
        // InfluxDB reports an aggregate over the whole range at the range's start (epoch 0
        // when unbounded).
        _ => ts(range.start.unwrap_or(0)),
    };
    let mut taken: BTreeSet<String> = tags.iter().cloned().collect();
    taken.insert("time".into());
    let mut proj = vec![item(time_sql, "time")];
    proj.extend(tags.iter().map(|t| item(tag_col(scope, t), t)));
    let mut out_cols = Vec::new();
    for c in cols {
        let (sql, ty) = match &c.expr {
            Expr::VarRef(v) if selector.is_some() && win.is_none() => {
                let (f, ty) = ExprTr {
                    scope,
                    aggregate: false,
                }
                .var(v)?;
                if selector_has_field {
                    (point(&f)?, ty)
                } else {
                    (f, ty)
                }
            }
            e => {
                let mut vars = Vec::new();
                bare_vars(e, &mut vars);
                if !vars.is_empty() {
                    return invalid("mixing aggregate and non-aggregate queries is not supported");
                }
                tr.value(e)?
            }
        };
        let alias = alias_for(&c.name, &mut taken);
        proj.push(item(sql, &alias));
        let is_count = matches!(c.expr.unparen(), Expr::Call(call) if call.name == "count");
        plan.columns.push(OutputColumn {
            name: c.name.clone(),
            source: proj.len() - 1,
            transform: c.transform.as_ref().map(|t| t.1),
            post: c.post.clone(),
            // InfluxDB fills empty windows of count() with 0 under fill(null).
            null_fill: (is_count && win.is_some() && c.transform.is_none())
                .then_some(FillValue::Integer(0)),
        });
        out_cols.push((alias, ty));
    }
    let mut group_by = Vec::new();
    if let Some(w) = win {
        group_by.push(bucket(w));
    }
    group_by.extend(tags.iter().map(|t| tag_col(scope, t)));
    plan.window = win;
    plan.drop_null_rows = win.is_none();
    let transforms = cols.iter().any(|c| c.transform.is_some());
    let row_exact = !transforms && (win.is_none() || plan.fill == FillPlan::None);
    let (limit, offset) = push_limit(&mut plan, tags, row_exact && win.is_some());
    // Without any GROUP BY, SQL aggregates an empty input to one row (count 0); InfluxDB
    // returns no series.
    let having = group_by.is_empty().then(|| {
        super::sqlb::binop(
            agg("count", vec![int_lit(1)], false, vec![], None),
            BinaryOperator::Gt,
            int_lit(0),
        )
    });
    let body = select(SelectParts {
        projection: proj,
        from: vec![scope.from.clone()],
        selection: and_all(where_),
        group_by,
        having,
        ..Default::default()
    });
    Ok(Some(Built {
        query: query(body, order_by(tags, &plan), limit, offset),
        plan,
        tags: tags.to_vec(),
        columns: out_cols,
    }))
}

/// top(), bottom(), sample() and distinct(): several rows per group, picked with window
/// functions (top/bottom/sample) or GROUP BY (distinct).
#[allow(clippy::too_many_arguments)]
fn multi_row(
    _s: &SelectStatement,
    scope: &Scope,
    cols: &[Col],
    idx: usize,
    tags: &[String],
    win: Option<Window>,
    mut where_: Vec<Sql>,
    mut plan: ShapePlan,
) -> Result<Built, TranslateError> {
    let main = &cols[idx];
    let (fname, field, extra): (String, VarRef, Vec<Expr>) = match &main.expr {
        Expr::Distinct(n) => (
            "distinct".into(),
            VarRef {
                name: n.clone(),
                data_type: None,
            },
            vec![],
        ),
        Expr::Call(c) if MULTI_ROW.contains(&c.name.as_str()) => match c.args.first() {
            Some(Expr::VarRef(v)) => (c.name.clone(), v.clone(), c.args[1..].to_vec()),
            Some(Expr::Distinct(n)) if c.name == "distinct" => (
                "distinct".into(),
                VarRef {
                    name: n.clone(),
                    data_type: None,
                },
                vec![],
            ),
            _ => return invalid(format!("expected field argument in {}()", c.name)),
        },
        Expr::Call(c) => {
            return unsupported(format!("{}() of a multi-row selector", c.name));
        }
        other => {
            return invalid(format!(
                "{other}: a selector returning several rows cannot be part of an expression"
            ));
        }
    };
    if main.transform.is_some() {
        return unsupported(format!("a transformation of {fname}()"));
    }
    for (i, c) in cols.iter().enumerate() {
        if i == idx {
            continue;
        }
        let ok = fname != "distinct" && matches!(c.expr, Expr::VarRef(_));
        if !ok {
            return invalid(format!(
                "selector function {fname}() cannot be combined with other functions"
            ));
        }
    }
    let x = match scope.resolve(&field) {
        ColKind::Field(t) => {
            let ty = Ty::from_field(t);
            if matches!(fname.as_str(), "top" | "bottom")
                && !matches!(ty, Ty::Float | Ty::Integer | Ty::Unsigned)
            {
                return invalid(format!("{fname}() requires a numeric field"));
            }
            (col(&field.name), ty)
        }
        _ => {
            // The field is absent here: no points, no series.
            return Ok(Built {
                query: query(
                    select(SelectParts {
                        projection: vec![item(ts(0), "time")],
                        from: vec![scope.from.clone()],
                        selection: Some(super::sqlb::bool_lit(false)),
                        ..Default::default()
                    }),
                    vec![],
                    None,
                    None,
                ),
                plan,
                tags: tags.to_vec(),
                columns: vec![],
            });
        }
    };
    where_.push(is_not_null(x.0.clone()));
    let mut taken: BTreeSet<String> = tags.iter().cloned().collect();
    taken.insert("time".into());

    if fname == "distinct" {
        let time_sql = match win {
            Some(w) => bucket(w),
            None => ts(plan.start.unwrap_or(0)),
        };
        let alias = alias_for(&main.name, &mut taken);
        let mut proj = vec![item(time_sql, "time")];
        proj.extend(tags.iter().map(|t| item(tag_col(scope, t), t)));
        proj.push(item(x.0.clone(), &alias));
        let mut group_by = Vec::new();
        if let Some(w) = win {
            group_by.push(bucket(w));
        }
        group_by.extend(tags.iter().map(|t| tag_col(scope, t)));
        group_by.push(x.0.clone());
        plan.columns.push(OutputColumn {
            name: main.name.clone(),
            source: proj.len() - 1,
            transform: None,
            post: vec![],
            null_fill: None,
        });
        let mut ob = order_by(tags, &plan);
        ob.push(order(col(&alias), true));
        let (limit, offset) = push_limit(&mut plan, tags, true);
        let body = select(SelectParts {
            projection: proj,
            from: vec![scope.from.clone()],
            selection: and_all(where_),
            group_by,
            ..Default::default()
        });
        return Ok(Built {
            query: query(body, ob, limit, offset),
            plan,
            tags: tags.to_vec(),
            columns: vec![(alias, x.1)],
        });
    }

    // top/bottom/sample: N is the last argument; top/bottom may name tags before it.
    let n = match extra.last() {
        Some(Expr::Literal(Literal::Integer(n))) if *n > 0 => *n,
        _ => {
            return invalid(format!(
                "expected integer as last argument in {fname}(), found {}",
                extra
                    .last()
                    .map_or_else(|| "none".to_owned(), |e| e.to_string())
            ));
        }
    };
    let mut tag_args = Vec::new();
    for a in &extra[..extra.len() - 1] {
        match a {
            Expr::VarRef(v) if fname != "sample" => tag_args.push(v.name.clone()),
            other => {
                return invalid(format!(
                    "only fields or tags are allowed in {fname}(), found {other}"
                ));
            }
        }
    }
    let rank_order = |x: &Sql| -> Vec<sqlparser::ast::OrderByExpr> {
        match fname.as_str() {
            "top" => vec![order(x.clone(), false), order(col("time"), true)],
            "bottom" => vec![order(x.clone(), true), order(col("time"), true)],
            _ => vec![order(func("random", vec![]), true)],
        }
    };
    let main_alias = alias_for(&main.name, &mut taken);
    // Innermost: the candidate points with the columns every level carries.
    let mut carried: Vec<String> = vec!["time".into()];
    let mut proj = vec![item(col("time"), "time")];
    for t in tags {
        proj.push(item(tag_col(scope, t), t));
        carried.push(t.clone());
    }
    proj.push(item(x.0.clone(), &main_alias));
    carried.push(main_alias.clone());
    let mut tag_arg_aliases = Vec::new();
    for t in &tag_args {
        let a = alias_for(t, &mut taken);
        proj.push(item(tag_col(scope, t), &a));
        carried.push(a.clone());
        tag_arg_aliases.push((t.clone(), a));
    }
    let mut aux = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        if i == idx {
            continue;
        }
        let Expr::VarRef(v) = &c.expr else {
            unreachable!("checked above")
        };
        let (sql, ty) = ExprTr {
            scope,
            aggregate: false,
        }
        .var(v)?;
        let a = alias_for(&c.name, &mut taken);
        proj.push(item(sql, &a));
        carried.push(a.clone());
        aux.push((c.name.clone(), a, ty));
    }
    let bucket_alias = "__bucket";
    if let Some(w) = win {
        proj.push(item(bucket(w), bucket_alias));
    }
    // Level 1 partitions by the bucket expression (a window cannot use a sibling alias);
    // level 2 by the carried `__bucket` column.
    let mut partition: Vec<Sql> = win.map(bucket).into_iter().collect();
    partition.extend(tags.iter().map(|t| tag_col(scope, t)));
    let mut partition2: Vec<Sql> = Vec::new();
    if win.is_some() {
        partition2.push(col(bucket_alias));
    }
    partition2.extend(tags.iter().map(|t| col(t)));
    let carry_items = |extra_cols: &[&str]| -> Vec<SelectItem> {
        let mut v: Vec<SelectItem> = carried.iter().map(|c| item(col(c), c)).collect();
        for e in extra_cols {
            v.push(item(col(e), e));
        }
        v
    };
    let rank =
        |partition: Vec<Sql>, x: &Sql| window("row_number", vec![], partition, rank_order(x));
    let bucket_cols: Vec<&str> = if win.is_some() {
        vec![bucket_alias]
    } else {
        vec![]
    };

    // Level 1: rank within (bucket, group tags, tag arguments); with tag arguments keep each
    // tag value's best point, as InfluxDB's top(field, tag, N) does.
    let mut stage = {
        let mut p1 = partition.clone();
        p1.extend(tag_args.iter().map(|t| tag_col(scope, t)));
        let mut pr = proj.clone();
        pr.push(item(
            rank(
                if tag_args.is_empty() {
                    partition.clone()
                } else {
                    p1
                },
                &x.0,
            ),
            "__rank",
        ));
        query(
            select(SelectParts {
                projection: pr,
                from: vec![scope.from.clone()],
                selection: and_all(where_),
                ..Default::default()
            }),
            vec![],
            None,
            None,
        )
    };
    if !tag_args.is_empty() {
        let mut pr = carry_items(&bucket_cols);
        pr.push(item(rank(partition2, &col(&main_alias)), "__rank"));
        stage = query(
            select(SelectParts {
                projection: pr,
                from: vec![derived(stage, "ranked")],
                selection: Some(super::sqlb::binop(
                    col("__rank"),
                    BinaryOperator::Eq,
                    int_lit(1),
                )),
                ..Default::default()
            }),
            vec![],
            None,
            None,
        );
    }
    let outer_proj = carry_items(&[]);
    plan.columns.push(OutputColumn {
        name: main.name.clone(),
        source: tags.len() + 1,
        transform: None,
        post: vec![],
        null_fill: None,
    });
    let mut out_cols = vec![(main_alias.clone(), x.1)];
    let mut src = tags.len() + 2;
    for (t, a) in &tag_arg_aliases {
        plan.columns.push(OutputColumn {
            name: t.clone(),
            source: src,
            transform: None,
            post: vec![],
            null_fill: None,
        });
        out_cols.push((a.clone(), Ty::Tag));
        src += 1;
    }
    for (name, a, ty) in aux {
        plan.columns.push(OutputColumn {
            name,
            source: src,
            transform: None,
            post: vec![],
            null_fill: None,
        });
        out_cols.push((a, ty));
        src += 1;
    }
    let (limit, offset) = push_limit(&mut plan, tags, true);
    let body = select(SelectParts {
        projection: outer_proj,
        from: vec![derived(stage, "ranked")],
        selection: Some(super::sqlb::binop(
            col("__rank"),
            BinaryOperator::LtEq,
            int_lit(n),
        )),
        ..Default::default()
    });
    Ok(Built {
        query: query(body, order_by(tags, &plan), limit, offset),
        plan,
        tags: tags.to_vec(),
        columns: out_cols,
    })
}
