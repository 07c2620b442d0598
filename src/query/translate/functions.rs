//! InfluxQL expressions and function calls → SQL expressions.
//!
//! Aggregates map to DataFusion built-ins where their semantics match InfluxDB's and to the
//! engine's UDAFs otherwise (`influx_mode`, `influx_integral`, `influx_percentile`,
//! `influx_percentile_at`; see `crates/engine/README.md`).

use std::collections::{BTreeMap, BTreeSet};

use sqlparser::ast::{BinaryOperator, Expr as Sql, OrderByExpr, TableWithJoins, UnaryOperator};

use super::sqlb::{
    agg, binop, bool_lit, cast, col, double, float_lit, func, int_lit, is_not_null, nested, null,
    order, str_lit,
};
use super::time::NS_PER_S;
use super::{TranslateError, invalid, unsupported};
use crate::query::influxql::{BinaryOp, Call, DataType, Expr, Literal, VarRef};
use crate::schema::FieldType;

/// The rows a SELECT reads: a measurement's table or a subquery.
pub(crate) struct Scope {
    /// The series name.
    pub name: String,
    /// The FROM item.
    pub from: TableWithJoins,
    pub tags: BTreeSet<String>,
    pub fields: BTreeMap<String, FieldType>,
    /// The FROM item of the measurement's last rows (see
    /// [`super::QuerySchema::last_rows_function`]), if the backend has them.
    pub last_rows: Option<TableWithJoins>,
}

/// What a name refers to in a [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColKind {
    Tag,
    Field(FieldType),
    /// Neither: InfluxDB treats it as a missing value (a tag with value `''`).
    Unknown,
}

impl Scope {
    /// This scope reading the last rows instead, when it has them and `only_tags` (the
    /// conditions) reference tags only.
    pub fn over_last_rows(&self, conds: &[&Expr]) -> Option<Scope> {
        let from = self.last_rows.clone()?;
        let mut vars = Vec::new();
        for c in conds {
            bare_vars(c, &mut vars);
        }
        if vars.iter().any(|v| self.resolve(v) != ColKind::Tag) {
            return None;
        }
        Some(Scope {
            name: self.name.clone(),
            from,
            tags: self.tags.clone(),
            fields: self.fields.clone(),
            last_rows: None,
        })
    }

    pub fn resolve(&self, v: &VarRef) -> ColKind {
        let tag = self.tags.contains(&v.name);
        let field = self.fields.get(&v.name).copied();
        match v.data_type {
            Some(DataType::Tag) => {
                if tag {
                    ColKind::Tag
                } else {
                    ColKind::Unknown
                }
            }
            // A field wins over a tag of the same name, as in InfluxDB.
            _ => match (field, tag) {
                (Some(t), _) => ColKind::Field(t),
                (None, true) if v.data_type.is_none() => ColKind::Tag,
                _ => ColKind::Unknown,
            },
        }
    }
}

/// The type of a translated expression, as far as the translator needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    Tag,
    Unknown,
}

impl Ty {
    pub fn from_field(t: FieldType) -> Ty {
        match t {
            FieldType::Float => Ty::Float,
            FieldType::Integer => Ty::Integer,
            FieldType::UInteger => Ty::Unsigned,
            FieldType::String => Ty::String,
            FieldType::Boolean => Ty::Boolean,
        }
    }

    /// The field type a subquery column of this type has for the outer query.
    pub fn field_type(self) -> FieldType {
        match self {
            Ty::Integer => FieldType::Integer,
            Ty::Unsigned => FieldType::UInteger,
            Ty::String | Ty::Tag => FieldType::String,
            Ty::Boolean => FieldType::Boolean,
            Ty::Float | Ty::Unknown => FieldType::Float,
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Ty::Float | Ty::Integer | Ty::Unsigned)
    }
}

pub(crate) const AGGREGATES: &[&str] = &[
    "count", "mean", "median", "mode", "spread", "stddev", "sum", "integral",
];
pub(crate) const SELECTORS: &[&str] = &["first", "last", "min", "max", "percentile"];
/// Selectors returning several rows per group.
pub(crate) const MULTI_ROW: &[&str] = &["top", "bottom", "sample", "distinct"];
pub(crate) const TRANSFORMS: &[&str] = &[
    "derivative",
    "non_negative_derivative",
    "difference",
    "non_negative_difference",
    "moving_average",
    "cumulative_sum",
    "elapsed",
];
const MATH: &[&str] = &[
    "abs", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "exp", "ln", "log", "log2",
    "log10", "sqrt", "pow", "floor", "ceil", "round",
];
/// InfluxQL functions influxgate knows but does not translate.
const NOT_TRANSLATED: &[&str] = &[
    "holt_winters",
    "holt_winters_with_fit",
    "chande_momentum_oscillator",
    "exponential_moving_average",
    "double_exponential_moving_average",
    "triple_exponential_moving_average",
    "triple_exponential_derivative",
    "kaufmans_efficiency_ratio",
    "kaufmans_adaptive_moving_average",
    "relative_strength_index",
];

pub(crate) fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name) || SELECTORS.contains(&name) || MULTI_ROW.contains(&name)
}

/// Checks a call name: known and translated, or a clear error.
pub(crate) fn check_function(name: &str) -> Result<(), TranslateError> {
    if is_aggregate(name) || TRANSFORMS.contains(&name) || MATH.contains(&name) {
        Ok(())
    } else if NOT_TRANSLATED.contains(&name) {
        unsupported(format!("function {name}()"))
    } else if name == "now" {
        invalid("now() may only be used in a time condition")
    } else {
        invalid(format!("undefined function {name}()"))
    }
}

/// The column name InfluxDB gives an unaliased field (`influxql.Field.Name`).
pub(crate) fn base_name(e: &Expr) -> String {
    match e {
        Expr::VarRef(v) => v.name.clone(),
        Expr::Call(c) => c.name.clone(),
        Expr::Distinct(_) => "distinct".into(),
        Expr::Binary(b) => {
            let (l, r) = (base_name(&b.lhs), base_name(&b.rhs));
            match (l.is_empty(), r.is_empty()) {
                (false, false) => format!("{l}_{r}"),
                (false, true) => l,
                _ => r,
            }
        }
        Expr::Paren(inner) | Expr::Neg(inner) => base_name(inner),
        _ => String::new(),
    }
}

/// Calls every function call in `e`, outermost first.
pub(crate) fn walk_calls<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Call)) {
    match e {
        Expr::Call(c) => {
            f(c);
            for a in &c.args {
                walk_calls(a, f);
            }
        }
        Expr::Binary(b) => {
            walk_calls(&b.lhs, f);
            walk_calls(&b.rhs, f);
        }
        Expr::Paren(i) | Expr::Neg(i) => walk_calls(i, f),
        _ => {}
    }
}

/// Variable references outside any aggregate call.
pub(crate) fn bare_vars<'a>(e: &'a Expr, out: &mut Vec<&'a VarRef>) {
    match e {
        Expr::VarRef(v) => out.push(v),
        Expr::Call(c) if is_aggregate(&c.name) => {}
        Expr::Call(c) => c.args.iter().for_each(|a| bare_vars(a, out)),
        Expr::Binary(b) => {
            bare_vars(&b.lhs, out);
            bare_vars(&b.rhs, out);
        }
        Expr::Paren(i) | Expr::Neg(i) => bare_vars(i, out),
        _ => {}
    }
}

/// Translates expressions over one scope.
pub(crate) struct ExprTr<'a> {
    pub scope: &'a Scope,
    /// Whether aggregate calls are allowed (an aggregate query).
    pub aggregate: bool,
}

impl ExprTr<'_> {
    /// A column reference, with InfluxQL's `::type` casts.
    pub fn var(&self, v: &VarRef) -> Result<(Sql, Ty), TranslateError> {
        if v.name == "time" {
            return invalid("time may not be used in a field expression");
        }
        Ok(match self.scope.resolve(v) {
            ColKind::Tag => (col(&v.name), Ty::Tag),
            ColKind::Unknown => (null(), Ty::Unknown),
            ColKind::Field(t) => {
                let c = col(&v.name);
                let ty = Ty::from_field(t);
                // InfluxDB converts between numeric types and yields nothing for other casts.
                match (v.data_type, ty) {
                    (Some(DataType::Float), Ty::Integer | Ty::Unsigned) => {
                        (cast(c, double()), Ty::Float)
                    }
                    (Some(DataType::Integer), Ty::Float | Ty::Unsigned) => {
                        (cast(c, sqlparser::ast::DataType::BigInt(None)), Ty::Integer)
                    }
                    (Some(DataType::Unsigned), Ty::Float | Ty::Integer) => (
                        cast(c, sqlparser::ast::DataType::BigIntUnsigned(None)),
                        Ty::Unsigned,
                    ),
                    (Some(DataType::Float), Ty::Float)
                    | (Some(DataType::Integer), Ty::Integer)
                    | (Some(DataType::Unsigned), Ty::Unsigned)
                    | (Some(DataType::String), Ty::String)
                    | (Some(DataType::Boolean), Ty::Boolean)
                    | (None | Some(DataType::Field), _) => (c, ty),
                    _ => (null(), Ty::Unknown),
                }
            }
        })
    }

    pub fn literal(l: &Literal) -> Result<(Sql, Ty), TranslateError> {
        Ok(match l {
            Literal::Integer(i) => (int_lit(*i), Ty::Integer),
            Literal::Number(f) => (float_lit(*f), Ty::Float),
            Literal::String(s) => (str_lit(s), Ty::String),
            Literal::Boolean(b) => (bool_lit(*b), Ty::Boolean),
            Literal::Duration(d) => (int_lit(d.nanos), Ty::Integer),
            Literal::Regex(r) => return invalid(format!("unexpected regex {r} in an expression")),
        })
    }

    /// A value expression (select field, or an operand in WHERE).
    pub fn value(&self, e: &Expr) -> Result<(Sql, Ty), TranslateError> {
        match e {
            Expr::VarRef(v) => {
                if self.aggregate {
                    return invalid("mixing aggregate and non-aggregate queries is not supported");
                }
                self.var(v)
            }
            Expr::Literal(l) => Self::literal(l),
            Expr::Paren(inner) => {
                let (s, t) = self.value(inner)?;
                Ok((nested(s), t))
            }
            Expr::Neg(inner) => {
                let (s, t) = self.value(inner)?;
                Ok((
                    Sql::UnaryOp {
                        op: UnaryOperator::Minus,
                        expr: Box::new(s),
                    },
                    t,
                ))
            }
            Expr::Binary(b) => {
                let (l, lt) = self.value(&b.lhs)?;
                let (r, rt) = self.value(&b.rhs)?;
                arith(l, lt, b.op, r, rt)
            }
            Expr::Call(c) => self.call(c),
            Expr::Wildcard(_) => invalid("unexpected wildcard in an expression"),
            Expr::Distinct(_) => invalid("distinct is only allowed as the only field"),
            Expr::BindParam(p) => invalid(format!("missing parameter: {p}")),
        }
    }

    fn call(&self, c: &Call) -> Result<(Sql, Ty), TranslateError> {
        check_function(&c.name)?;
        if MATH.contains(&c.name.as_str()) {
            return self.math(c);
        }
        if TRANSFORMS.contains(&c.name.as_str()) {
            return unsupported(format!(
                "{}() nested inside another expression other than `* / + -` with a number",
                c.name
            ));
        }
        if MULTI_ROW.contains(&c.name.as_str()) {
            return invalid(format!(
                "selector function {}() cannot be combined with other functions",
                c.name
            ));
        }
        if !self.aggregate {
            return invalid(format!("{}() is an aggregate", c.name));
        }
        self.aggregate_call(c)
    }

    fn math(&self, c: &Call) -> Result<(Sql, Ty), TranslateError> {
        let want = match c.name.as_str() {
            "atan2" | "pow" | "log" => 2,
            _ => 1,
        };
        if c.args.len() != want {
            return invalid(format!(
                "invalid number of arguments for {}, expected {want}, got {}",
                c.name,
                c.args.len()
            ));
        }
        let mut args = Vec::new();
        let mut ty = Ty::Float;
        for a in &c.args {
            let (s, t) = self.value(a)?;
            if !(t.numeric() || t == Ty::Unknown) {
                return invalid(format!("{}() requires a numeric argument", c.name));
            }
            ty = t;
            args.push(s);
        }
        let ty = match c.name.as_str() {
            // abs, floor, ceil, round keep integers integral in InfluxDB.
            "abs" | "floor" | "ceil" | "round" if ty != Ty::Float => ty,
            _ => Ty::Float,
        };
        let sql = match c.name.as_str() {
            // InfluxQL's log(x, base) is DataFusion's log(base, x).
            "log" => {
                args.swap(0, 1);
                func("log", args)
            }
            "pow" => func("power", args),
            "floor" | "ceil" | "round" if ty != Ty::Float => args.remove(0),
            name => func(name, args),
        };
        Ok((sql, ty))
    }

    /// The single field an aggregate reads; `None` when it does not exist in this scope.
    pub fn agg_field(&self, c: &Call) -> Result<Option<(Sql, Ty, String)>, TranslateError> {
        let arg = c.args.first().ok_or_else(|| {
            TranslateError::Invalid(format!(
                "invalid number of arguments for {}, expected at least 1, got 0",
                c.name
            ))
        })?;
        let v = match arg.unparen() {
            Expr::VarRef(v) => v,
            Expr::Call(inner) if c.name == "count" && inner.name == "distinct" => {
                return invalid("internal: count(distinct()) handled by caller");
            }
            other => {
                return invalid(format!(
                    "expected field argument in {}(), got {other}",
                    c.name
                ));
            }
        };
        match self.scope.resolve(v) {
            ColKind::Field(_) => {
                let tr = ExprTr {
                    scope: self.scope,
                    aggregate: false,
                };
                let (s, t) = tr.var(v)?;
                Ok(Some((s, t, v.name.clone())))
            }
            // InfluxDB aggregates fields only; a tag or an unknown name has no points.
            ColKind::Tag | ColKind::Unknown => Ok(None),
        }
    }

    fn aggregate_call(&self, c: &Call) -> Result<(Sql, Ty), TranslateError> {
        let name = c.name.as_str();
        // count(DISTINCT x) and count(distinct(x)).
        if name == "count" {
            let distinct_of = match c.args.first().map(Expr::unparen) {
                Some(Expr::Distinct(n)) => Some(VarRef {
                    name: n.clone(),
                    data_type: None,
                }),
                Some(Expr::Call(inner)) if inner.name == "distinct" => {
                    match inner.args.first().map(Expr::unparen) {
                        Some(Expr::VarRef(v)) if inner.args.len() == 1 => Some(v.clone()),
                        _ => return invalid("expected field argument in distinct()"),
                    }
                }
                _ => None,
            };
            if let Some(v) = distinct_of {
                return Ok(match self.scope.resolve(&v) {
                    ColKind::Field(_) => (
                        agg("count", vec![col(&v.name)], true, vec![], None),
                        Ty::Integer,
                    ),
                    _ => (null(), Ty::Integer),
                });
            }
        }
        let (nargs_min, nargs_max) = match name {
            "percentile" => (2, 2),
            "integral" => (1, 2),
            _ => (1, 1),
        };
        if c.args.len() < nargs_min || c.args.len() > nargs_max {
            return invalid(format!(
                "invalid number of arguments for {name}, expected {nargs_min}, got {}",
                c.args.len()
            ));
        }
        if let Some(Expr::Call(inner)) = c.args.first().map(Expr::unparen) {
            return unsupported(format!("{name}() of {}()", inner.name));
        }
        let Some((x, ty, _)) = self.agg_field(c)? else {
            return Ok((cast(null(), double()), Ty::Unknown));
        };
        let numeric = |ty: Ty| -> Result<(), TranslateError> {
            if ty.numeric() {
                Ok(())
            } else {
                invalid(format!("unsupported {name}() over a non-numeric field"))
            }
        };
        Ok(match name {
            "count" => (agg("count", vec![x], false, vec![], None), Ty::Integer),
            "mean" => {
                numeric(ty)?;
                (agg("avg", vec![x], false, vec![], None), Ty::Float)
            }
            "median" => {
                numeric(ty)?;
                (
                    agg("median", vec![to_double(x, ty)], false, vec![], None),
                    Ty::Float,
                )
            }
            "mode" => (agg("influx_mode", vec![x], false, vec![], None), ty),
            "spread" => {
                numeric(ty)?;
                (
                    binop(
                        agg("max", vec![x.clone()], false, vec![], None),
                        BinaryOperator::Minus,
                        agg("min", vec![x], false, vec![], None),
                    ),
                    ty,
                )
            }
            "stddev" => {
                numeric(ty)?;
                (
                    agg("stddev", vec![to_double(x, ty)], false, vec![], None),
                    Ty::Float,
                )
            }
            "sum" => {
                numeric(ty)?;
                (agg("sum", vec![x], false, vec![], None), ty)
            }
            "integral" => {
                numeric(ty)?;
                let unit = match c.args.get(1) {
                    None => NS_PER_S,
                    Some(Expr::Literal(Literal::Duration(d))) if d.nanos > 0 => d.nanos,
                    Some(other) => {
                        return invalid(format!(
                            "second argument to integral must be a duration, got {other}"
                        ));
                    }
                };
                (
                    agg(
                        "influx_integral",
                        vec![to_double(x, ty), col("time"), int_lit(unit)],
                        false,
                        vec![],
                        None,
                    ),
                    Ty::Float,
                )
            }
            "min" | "max" => {
                if !(ty.numeric() || ty == Ty::Boolean) {
                    return invalid(format!("unsupported {name}() over a string field"));
                }
                (agg(name, vec![x], false, vec![], None), ty)
            }
            "first" | "last" => {
                let (order_by, filter) = selector_order(name, &x);
                (
                    agg("first_value", vec![x], false, order_by, Some(filter)),
                    ty,
                )
            }
            "percentile" => {
                numeric(ty)?;
                let p = percentile_arg(c)?;
                (
                    agg("influx_percentile", vec![x, p], false, vec![], None),
                    ty,
                )
            }
            _ => return unsupported(format!("{name}()")),
        })
    }
}

fn to_double(x: Sql, ty: Ty) -> Sql {
    if ty == Ty::Float {
        x
    } else {
        cast(x, double())
    }
}

pub(crate) fn percentile_arg(c: &Call) -> Result<Sql, TranslateError> {
    match c.args.get(1) {
        Some(Expr::Literal(Literal::Integer(i))) => Ok(int_lit(*i)),
        Some(Expr::Literal(Literal::Number(f))) => Ok(float_lit(*f)),
        other => invalid(format!(
            "expected float argument in percentile(), got {}",
            other.map(|e| e.to_string()).unwrap_or_default()
        )),
    }
}

/// The order picking a selector's point (ties go to the earliest point, as InfluxDB's
/// reducers do) and the filter skipping rows where the field is absent.
pub(crate) fn selector_order(name: &str, x: &Sql) -> (Vec<OrderByExpr>, Sql) {
    let t = col("time");
    let order_by = match name {
        "first" => vec![order(t, true)],
        "last" => vec![order(t, false)],
        "min" => vec![order(x.clone(), true), order(t, true)],
        _ => vec![order(x.clone(), false), order(t, true)],
    };
    (order_by, is_not_null(x.clone()))
}

/// `l op r` for value expressions, with InfluxQL's numeric rules.
pub(crate) fn arith(
    l: Sql,
    lt: Ty,
    op: BinaryOp,
    r: Sql,
    rt: Ty,
) -> Result<(Sql, Ty), TranslateError> {
    let ty = match (lt, rt) {
        (Ty::Float, _) | (_, Ty::Float) => Ty::Float,
        (Ty::Integer, Ty::Integer) => Ty::Integer,
        (Ty::Unsigned, Ty::Unsigned | Ty::Integer) | (Ty::Integer, Ty::Unsigned) => Ty::Unsigned,
        (Ty::Boolean, Ty::Boolean) => Ty::Boolean,
        _ => Ty::Unknown,
    };
    let sop = match op {
        BinaryOp::Add => BinaryOperator::Plus,
        BinaryOp::Sub => BinaryOperator::Minus,
        BinaryOp::Mul => BinaryOperator::Multiply,
        BinaryOp::Mod => BinaryOperator::Modulo,
        BinaryOp::BitAnd => BinaryOperator::BitwiseAnd,
        BinaryOp::BitOr => BinaryOperator::BitwiseOr,
        BinaryOp::BitXor => BinaryOperator::BitwiseXor,
        BinaryOp::Div => {
            // InfluxQL division is always floating point (`5 / 2` is 2.5).
            let l = if ty == Ty::Float {
                l
            } else {
                cast(l, double())
            };
            return Ok((binop(l, BinaryOperator::Divide, r), Ty::Float));
        }
        other => {
            return invalid(format!(
                "invalid operator {} in a field expression",
                other.as_str()
            ));
        }
    };
    if matches!(op, BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor)
        && !matches!(ty, Ty::Integer | Ty::Unsigned | Ty::Boolean | Ty::Unknown)
    {
        return invalid(format!("bitwise {} requires integer operands", op.as_str()));
    }
    if ty == Ty::Boolean && !matches!(op, BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor) {
        return invalid(format!("invalid operator {} on booleans", op.as_str()));
    }
    Ok((binop(l, sop, r), ty))
}
