//! Small constructors for the sqlparser AST, so the translator reads as SQL and never
//! concatenates strings. Every identifier is double-quoted (InfluxDB names are case-sensitive
//! and may be SQL keywords, e.g. `time`, `value`, `user`).

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Distinct, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
    LimitClause, ObjectName, Offset, OffsetRows, OrderBy, OrderByExpr, OrderByKind, OrderByOptions,
    Query, Select, SelectFlavor, SelectItem, SetExpr, SetOperator, SetQuantifier, TableAlias,
    TableFactor, TableFunctionArgs, TableWithJoins, UnaryOperator, Value, WindowSpec, WindowType,
    helpers::attached_token::AttachedToken,
};

pub(crate) fn ident(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// A column reference `"name"`.
pub(crate) fn col(name: &str) -> Expr {
    Expr::Identifier(ident(name))
}

pub(crate) fn str_lit(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_owned()))
}

pub(crate) fn int_lit(n: i64) -> Expr {
    if n < 0 {
        // Printed as `-5`, which every SQL parser reads back as the same literal.
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: Box::new(Expr::value(Value::Number(
                n.unsigned_abs().to_string(),
                false,
            ))),
        }
    } else {
        Expr::value(Value::Number(n.to_string(), false))
    }
}

pub(crate) fn uint_lit(n: u64) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

pub(crate) fn float_lit(f: f64) -> Expr {
    let mut s = format!("{f:?}");
    if !s.contains(['.', 'e', 'E']) {
        s.push_str(".0");
    }
    if let Some(abs) = s.strip_prefix('-') {
        return Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: Box::new(Expr::value(Value::Number(abs.to_owned(), false))),
        };
    }
    Expr::value(Value::Number(s, false))
}

pub(crate) fn bool_lit(b: bool) -> Expr {
    Expr::value(Value::Boolean(b))
}

pub(crate) fn null() -> Expr {
    Expr::value(Value::Null)
}

pub(crate) fn binop(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

pub(crate) fn nested(e: Expr) -> Expr {
    Expr::Nested(Box::new(e))
}

pub(crate) fn and(left: Expr, right: Expr) -> Expr {
    binop(left, BinaryOperator::And, right)
}

pub(crate) fn or(left: Expr, right: Expr) -> Expr {
    nested(binop(left, BinaryOperator::Or, right))
}

/// `a AND b AND ...`, or `None` for no conditions.
pub(crate) fn and_all(exprs: Vec<Expr>) -> Option<Expr> {
    exprs.into_iter().reduce(and)
}

/// `(a OR b OR ...)`, parenthesised once.
pub(crate) fn or_all(exprs: Vec<Expr>) -> Option<Expr> {
    let n = exprs.len();
    let e = exprs
        .into_iter()
        .reduce(|l, r| binop(l, BinaryOperator::Or, r))?;
    Some(if n > 1 { nested(e) } else { e })
}

pub(crate) fn is_null(e: Expr) -> Expr {
    Expr::IsNull(Box::new(e))
}

pub(crate) fn is_not_null(e: Expr) -> Expr {
    Expr::IsNotNull(Box::new(e))
}

pub(crate) fn cast(e: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(e),
        data_type,
        array: false,
        format: None,
    }
}

pub(crate) fn double() -> DataType {
    DataType::DoublePrecision
}

/// A function call with plain arguments.
pub(crate) fn func(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(call(name, args))
}

pub(crate) fn call(name: &str, args: Vec<Expr>) -> Function {
    Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }
}

/// An aggregate call: `name([DISTINCT] args [ORDER BY ...]) [FILTER (WHERE ...)]`.
pub(crate) fn agg(
    name: &str,
    args: Vec<Expr>,
    distinct: bool,
    order_by: Vec<OrderByExpr>,
    filter: Option<Expr>,
) -> Expr {
    let mut f = call(name, args);
    if let FunctionArguments::List(list) = &mut f.args {
        if distinct {
            list.duplicate_treatment = Some(sqlparser::ast::DuplicateTreatment::Distinct);
        }
        if !order_by.is_empty() {
            list.clauses.push(FunctionArgumentClause::OrderBy(order_by));
        }
    }
    f.filter = filter.map(Box::new);
    Expr::Function(f)
}

/// A window call: `name(args) OVER (PARTITION BY ... ORDER BY ...)`.
pub(crate) fn window(
    name: &str,
    args: Vec<Expr>,
    partition_by: Vec<Expr>,
    order_by: Vec<OrderByExpr>,
) -> Expr {
    let mut f = call(name, args);
    f.over = Some(WindowType::WindowSpec(WindowSpec {
        window_name: None,
        partition_by,
        order_by,
        window_frame: None,
    }));
    Expr::Function(f)
}

pub(crate) fn order(expr: Expr, asc: bool) -> OrderByExpr {
    OrderByExpr {
        expr,
        options: OrderByOptions {
            asc: Some(asc),
            nulls_first: None,
        },
        with_fill: None,
    }
}

/// `"schema"."table"` (or just `"table"` with no schema).
pub(crate) fn table(schema: Option<&str>, name: &str) -> TableWithJoins {
    let mut parts = Vec::new();
    if let Some(s) = schema {
        parts.push(ident(s));
    }
    parts.push(ident(name));
    TableWithJoins {
        relation: TableFactor::Table {
            name: ObjectName::from(parts),
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_hints: vec![],
        },
        joins: vec![],
    }
}

/// `name('arg', ...)`: a table function called with string arguments.
pub(crate) fn table_function(name: &str, args: &[&str]) -> TableWithJoins {
    let mut t = table(None, name);
    if let TableFactor::Table {
        name: n, args: a, ..
    } = &mut t.relation
    {
        // Unquoted: DataFusion looks table functions up by the name as written.
        *n = ObjectName::from(vec![Ident::new(name)]);
        *a = Some(TableFunctionArgs {
            args: args
                .iter()
                .map(|v| FunctionArg::Unnamed(FunctionArgExpr::Expr(str_lit(v))))
                .collect(),
            settings: None,
        });
    }
    t
}

/// `(subquery) AS "alias"`.
pub(crate) fn derived(subquery: Query, alias: &str) -> TableWithJoins {
    TableWithJoins {
        relation: TableFactor::Derived {
            lateral: false,
            subquery: Box::new(subquery),
            alias: Some(TableAlias {
                explicit: true,
                name: ident(alias),
                columns: vec![],
                at: None,
            }),
            sample: None,
        },
        joins: vec![],
    }
}

pub(crate) fn item(expr: Expr, alias: &str) -> SelectItem {
    SelectItem::ExprWithAlias {
        expr,
        alias: ident(alias),
    }
}

/// The parts of one `SELECT` the translator fills in.
#[derive(Default)]
pub(crate) struct SelectParts {
    pub distinct: bool,
    pub projection: Vec<SelectItem>,
    pub from: Vec<TableWithJoins>,
    pub selection: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub qualify: Option<Expr>,
}

pub(crate) fn select(p: SelectParts) -> SetExpr {
    SetExpr::Select(Box::new(Select {
        select_token: AttachedToken::empty(),
        optimizer_hints: vec![],
        distinct: p.distinct.then_some(Distinct::Distinct),
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection: p.projection,
        exclude: None,
        into: None,
        from: p.from,
        lateral_views: vec![],
        prewhere: None,
        selection: p.selection,
        connect_by: vec![],
        group_by: GroupByExpr::Expressions(p.group_by, vec![]),
        cluster_by: vec![],
        distribute_by: vec![],
        sort_by: vec![],
        having: p.having,
        named_window: vec![],
        qualify: p.qualify,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    }))
}

pub(crate) fn union_all(left: SetExpr, right: SetExpr) -> SetExpr {
    SetExpr::SetOperation {
        left: Box::new(left),
        op: SetOperator::Union,
        set_quantifier: SetQuantifier::All,
        right: Box::new(right),
    }
}

pub(crate) fn query(
    body: SetExpr,
    order_by: Vec<OrderByExpr>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> Query {
    let limit_clause = (limit.is_some() || offset.is_some()).then(|| LimitClause::LimitOffset {
        limit: limit.map(uint_lit),
        offset: offset.map(|o| Offset {
            value: uint_lit(o),
            rows: OffsetRows::None,
        }),
        limit_by: vec![],
    });
    Query {
        with: None,
        body: Box::new(body),
        order_by: (!order_by.is_empty()).then_some(OrderBy {
            kind: OrderByKind::Expressions(order_by),
            interpolate: None,
        }),
        limit_clause,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }
}
