//! SHOW statements: answered from the schema where it knows enough, otherwise SQL over the
//! measurement tables (tag values, series, measurements filtered by a WHERE).

use std::collections::BTreeSet;

use sqlparser::ast::DataType as SqlType;

use super::functions::Scope;
use super::plan::{OutputColumn, PlanKind, ShapePlan};
use super::regex::Regex as NameRegex;
use super::select::{matching_measurements, table_scope};
use super::sqlb::{
    SelectParts, and_all, cast, col, int_lit, is_not_null, item, order, query, select, str_lit,
    union_all,
};
use super::time::format_go_duration;
use super::where_clause::{condition, split_condition};
use super::{
    SqlQuery, TranslateContext, TranslateError, Translation, invalid, storage_database, unsupported,
};
use crate::query::influxql::{
    Expr, MeasurementName, MeasurementNameKind, ShowFieldKeysStatement, ShowMeasurementsStatement,
    ShowRetentionPoliciesStatement, ShowSeriesStatement, ShowTagKeysStatement,
    ShowTagValuesStatement, WithKey,
};
use crate::query::shape::{Series, Value};

fn db_of(on: &Option<String>, ctx: &TranslateContext<'_>) -> Result<String, TranslateError> {
    match on {
        Some(db) => Ok(storage_database(db, ctx.retention_policy)),
        None if ctx.database.is_empty() => invalid("database name required"),
        None => Ok(storage_database(ctx.database, ctx.retention_policy)),
    }
}

fn page<T>(v: Vec<T>, limit: Option<u64>, offset: Option<u64>) -> Vec<T> {
    let off = offset.unwrap_or(0) as usize;
    let lim = limit.map_or(usize::MAX, |l| l as usize);
    v.into_iter().skip(off).take(lim).collect()
}

fn strings(vals: impl IntoIterator<Item = String>) -> Vec<Vec<Value>> {
    vals.into_iter().map(|s| vec![Value::String(s)]).collect()
}

/// The measurements a SHOW's FROM names (all when empty), sorted.
fn measurements_of(
    from: &[MeasurementName],
    db: &str,
    ctx: &TranslateContext<'_>,
) -> Result<Vec<String>, TranslateError> {
    if from.is_empty() {
        let mut all = ctx.schema.measurements(db);
        all.sort();
        return Ok(all);
    }
    let mut set = BTreeSet::new();
    for m in from {
        if m.database.is_some() || m.retention_policy.is_some() {
            return unsupported("a qualified measurement in SHOW ... FROM (use ON)");
        }
        set.extend(matching_measurements(m, db, ctx)?);
    }
    Ok(set.into_iter().collect())
}

pub(crate) fn databases(ctx: &TranslateContext<'_>) -> Translation {
    let mut dbs: Vec<String> = ctx
        .schema
        .databases()
        .into_iter()
        .filter(|d| !d.contains('/'))
        .collect();
    dbs.sort();
    dbs.dedup();
    Translation::Answer(vec![Series {
        name: "databases".into(),
        tags: vec![],
        columns: vec!["name".into()],
        values: strings(dbs),
    }])
}

pub(crate) fn retention_policies(
    s: &ShowRetentionPoliciesStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    let db = match &s.on {
        Some(db) => db.clone(),
        None if ctx.database.is_empty() => return invalid("database name required"),
        None => ctx.database.to_owned(),
    };
    let all = ctx.schema.databases();
    if !all.is_empty()
        && !all
            .iter()
            .any(|d| d == &db || d.starts_with(&format!("{db}/")))
    {
        return invalid(format!("database not found: {db}"));
    }
    // Every database has InfluxDB's default policy `autogen` (infinite, 7-day shard groups);
    // each `db/rp` storage database is one more, non-default policy.
    let row = |name: &str, default: bool| {
        vec![
            Value::String(name.into()),
            Value::String("0s".into()),
            Value::String(format_go_duration(168 * 3600 * 1_000_000_000)),
            Value::Integer(1),
            Value::Boolean(default),
        ]
    };
    let mut values = vec![row("autogen", true)];
    let mut rps: Vec<&str> = all
        .iter()
        .filter_map(|d| d.strip_prefix(&format!("{db}/")).map(|_| d.as_str()))
        .collect();
    rps.sort();
    for d in rps {
        values.push(row(&d[db.len() + 1..], false));
    }
    Ok(Translation::Answer(vec![Series {
        name: String::new(),
        tags: vec![],
        columns: [
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]
        .map(String::from)
        .to_vec(),
        values,
    }]))
}

fn plan(
    kind: PlanKind,
    name: &str,
    columns: &[&str],
    limit: Option<u64>,
    offset: Option<u64>,
) -> ShapePlan {
    ShapePlan {
        kind,
        name: name.to_owned(),
        tags: vec![],
        columns: columns
            .iter()
            .enumerate()
            .map(|(i, c)| OutputColumn {
                name: (*c).to_owned(),
                source: i,
                transform: None,
                post: vec![],
                null_fill: None,
            })
            .collect(),
        window: None,
        start: None,
        end: None,
        fill: super::plan::FillPlan::None,
        descending: false,
        limit,
        offset,
        slimit: None,
        soffset: None,
        tz: None,
        drop_null_rows: false,
    }
}

/// The rows a SHOW over one measurement reads: its last rows when the condition has no time
/// range and looks at tags only (every series has at least one), else all of them.
fn show_scope(
    scope: Scope,
    cond: Option<&Expr>,
    ctx: &TranslateContext<'_>,
) -> Result<Scope, TranslateError> {
    let (range, rest) = split_condition(cond, ctx.now)?;
    if range.start.is_none()
        && range.end.is_none()
        && let Some(s) = scope.over_last_rows(&rest)
    {
        return Ok(s);
    }
    Ok(scope)
}

/// The SQL WHERE of a SHOW over one measurement (time conditions bound the data read).
fn show_where(
    cond: Option<&Expr>,
    scope: &Scope,
    ctx: &TranslateContext<'_>,
) -> Result<Vec<sqlparser::ast::Expr>, TranslateError> {
    let (range, rest) = split_condition(cond, ctx.now)?;
    let mut w = range.sql();
    for c in rest {
        w.push(condition(c, scope)?);
    }
    Ok(w)
}

pub(crate) fn measurements(
    s: &ShowMeasurementsStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    let db = db_of(&s.on, ctx)?;
    let mut names = ctx.schema.measurements(&db);
    names.sort();
    if let Some(m) = &s.with_measurement {
        names = match &m.name {
            MeasurementNameKind::Name(n) => names.into_iter().filter(|x| x == n).collect(),
            MeasurementNameKind::Regex(r) => {
                let re = NameRegex::new(&r.0).map_err(TranslateError::Invalid)?;
                names.into_iter().filter(|x| re.is_match(x)).collect()
            }
        };
    }
    let Some(cond) = &s.condition else {
        let values = strings(page(names, s.limit, s.offset));
        if values.is_empty() {
            return Ok(Translation::Answer(vec![]));
        }
        return Ok(Translation::Answer(vec![Series {
            name: "measurements".into(),
            tags: vec![],
            columns: vec!["name".into()],
            values,
        }]));
    };
    // WHERE needs the data: one probe per measurement; the shaping step merges the names
    // (and applies LIMIT/OFFSET over the merged list).
    let mut out = Vec::new();
    for name in names {
        let scope = table_scope(&db, &name, ctx);
        let body = select(SelectParts {
            projection: vec![item(str_lit(&name), "name")],
            from: vec![scope.from.clone()],
            selection: and_all(show_where(Some(cond), &scope, ctx)?),
            ..Default::default()
        });
        out.push(SqlQuery {
            sql: query(body, vec![], Some(1), None).to_string(),
            plan: plan(
                PlanKind::Measurements,
                "measurements",
                &["name"],
                s.limit,
                s.offset,
            ),
        });
    }
    Ok(Translation::Sql(out))
}

pub(crate) fn tag_keys(
    s: &ShowTagKeysStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    if s.condition.is_some() {
        return unsupported("SHOW TAG KEYS with WHERE");
    }
    let db = db_of(&s.on, ctx)?;
    let mut series = Vec::new();
    for m in measurements_of(&s.from, &db, ctx)? {
        let mut keys = ctx.schema.tag_keys(&db, &m);
        keys.sort();
        let values = strings(page(keys, s.limit, s.offset));
        if !values.is_empty() {
            series.push(Series {
                name: m,
                tags: vec![],
                columns: vec!["tagKey".into()],
                values,
            });
        }
    }
    Ok(Translation::Answer(page(series, s.slimit, s.soffset)))
}

pub(crate) fn field_keys(
    s: &ShowFieldKeysStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    let db = db_of(&s.on, ctx)?;
    let mut series = Vec::new();
    for m in measurements_of(&s.from, &db, ctx)? {
        let mut keys = ctx.schema.field_keys(&db, &m);
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let values: Vec<Vec<Value>> = page(keys, s.limit, s.offset)
            .into_iter()
            .map(|(k, t)| vec![Value::String(k), Value::String(t.as_str().into())])
            .collect();
        if !values.is_empty() {
            series.push(Series {
                name: m,
                tags: vec![],
                columns: vec!["fieldKey".into(), "fieldType".into()],
                values,
            });
        }
    }
    Ok(Translation::Answer(series))
}

fn key_matches(k: &WithKey, key: &str) -> Result<bool, TranslateError> {
    Ok(match k {
        WithKey::Eq(x) => key == x,
        WithKey::NotEq(x) => key != x,
        WithKey::EqRegex(r) => NameRegex::new(&r.0)
            .map_err(TranslateError::Invalid)?
            .is_match(key),
        WithKey::NotEqRegex(r) => !NameRegex::new(&r.0)
            .map_err(TranslateError::Invalid)?
            .is_match(key),
        WithKey::In(keys) => keys.iter().any(|x| x == key),
    })
}

pub(crate) fn tag_values(
    s: &ShowTagValuesStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    let db = db_of(&s.on, ctx)?;
    let mut out = Vec::new();
    for m in measurements_of(&s.from, &db, ctx)? {
        let scope = show_scope(table_scope(&db, &m, ctx), s.condition.as_ref(), ctx)?;
        let mut keys = Vec::new();
        for k in &scope.tags {
            if key_matches(&s.with_key, k)? {
                keys.push(k.clone());
            }
        }
        if keys.is_empty() {
            continue;
        }
        let cond = show_where(s.condition.as_ref(), &scope, ctx)?;
        let mut body = None;
        for k in &keys {
            let mut w = cond.clone();
            w.push(is_not_null(col(k)));
            let sel = select(SelectParts {
                distinct: true,
                projection: vec![
                    item(str_lit(k), "key"),
                    item(cast(col(k), SqlType::Varchar(None)), "value"),
                ],
                from: vec![scope.from.clone()],
                selection: and_all(w),
                ..Default::default()
            });
            body = Some(match body {
                None => sel,
                Some(prev) => union_all(prev, sel),
            });
        }
        let q = query(
            body.expect("at least one key"),
            vec![order(col("key"), true), order(col("value"), true)],
            s.limit,
            s.offset,
        );
        out.push(SqlQuery {
            sql: q.to_string(),
            plan: plan(PlanKind::TagValues, &m, &["key", "value"], None, None),
        });
    }
    Ok(Translation::Sql(out))
}

pub(crate) fn series(
    s: &ShowSeriesStatement,
    ctx: &TranslateContext<'_>,
) -> Result<Translation, TranslateError> {
    let db = db_of(&s.on, ctx)?;
    let mut out = Vec::new();
    for m in measurements_of(&s.from, &db, ctx)? {
        let scope = show_scope(table_scope(&db, &m, ctx), s.condition.as_ref(), ctx)?;
        let tags: Vec<String> = scope.tags.iter().cloned().collect();
        let w = show_where(s.condition.as_ref(), &scope, ctx)?;
        let (proj, limit) = if tags.is_empty() {
            // A measurement without tags is one series.
            (vec![item(int_lit(1), "present")], Some(1))
        } else {
            (
                tags.iter()
                    .map(|t| item(cast(col(t), SqlType::Varchar(None)), t))
                    .collect(),
                None,
            )
        };
        let body = select(SelectParts {
            distinct: true,
            projection: proj,
            from: vec![scope.from.clone()],
            selection: and_all(w),
            ..Default::default()
        });
        let order_by = tags.iter().map(|t| order(col(t), true)).collect();
        let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        let mut p = plan(PlanKind::Series, &m, &tag_refs, s.limit, s.offset);
        p.tags = tags.clone();
        out.push(SqlQuery {
            sql: query(body, order_by, limit, None).to_string(),
            plan: p,
        });
    }
    Ok(Translation::Sql(out))
}
