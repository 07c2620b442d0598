//! The InfluxQL abstract syntax tree.
//!
//! Every node implements [`Display`](fmt::Display), printing canonical InfluxQL: identifiers are
//! quoted only when needed, strings and regexes are escaped, durations use the largest exact unit
//! (as InfluxDB's `FormatDuration`). For any tree produced by the parser, `parse(print(ast)) ==
//! ast`. Parentheses written by the user are kept as [`Expr::Paren`] so that printing never has to
//! guess; hand-built trees are still printed with the parentheses their precedence needs.

use core::fmt;

/// One InfluxQL statement that influxgate runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT ...`
    Select(Box<SelectStatement>),
    /// `SHOW DATABASES`
    ShowDatabases,
    /// `SHOW MEASUREMENTS ...`
    ShowMeasurements(ShowMeasurementsStatement),
    /// `SHOW TAG KEYS ...`
    ShowTagKeys(ShowTagKeysStatement),
    /// `SHOW TAG VALUES ... WITH KEY ...`
    ShowTagValues(ShowTagValuesStatement),
    /// `SHOW FIELD KEYS ...`
    ShowFieldKeys(ShowFieldKeysStatement),
    /// `SHOW SERIES ...`
    ShowSeries(ShowSeriesStatement),
    /// `SHOW RETENTION POLICIES [ON db]`
    ShowRetentionPolicies(ShowRetentionPoliciesStatement),
}

/// `SELECT fields FROM sources [WHERE cond] [GROUP BY dims] [fill(..)] [ORDER BY time ASC|DESC]
/// [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n] [tz('..')]`
#[derive(Debug, Clone, PartialEq)]
pub struct SelectStatement {
    /// The projection, at least one field.
    pub fields: Vec<Field>,
    /// The sources, at least one.
    pub from: Vec<Source>,
    /// The `WHERE` condition.
    pub condition: Option<Expr>,
    /// The `GROUP BY` dimensions (empty when there is no `GROUP BY`).
    pub group_by: Vec<Dimension>,
    /// `fill(..)`; `None` when absent (InfluxDB's default is `fill(null)`).
    pub fill: Option<Fill>,
    /// `ORDER BY time ASC|DESC`; `None` when absent (default ascending).
    pub order_by: Option<Order>,
    /// `LIMIT n`: points per series.
    pub limit: Option<u64>,
    /// `OFFSET n`: points per series.
    pub offset: Option<u64>,
    /// `SLIMIT n`: number of series.
    pub slimit: Option<u64>,
    /// `SOFFSET n`: series to skip.
    pub soffset: Option<u64>,
    /// `tz('Area/City')`: the time zone name, unvalidated.
    pub timezone: Option<String>,
}

/// One projected expression, with an optional `AS alias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The expression.
    pub expr: Expr,
    /// The alias after `AS`.
    pub alias: Option<String>,
}

/// An expression (in the field list, `WHERE`, function arguments).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field or tag reference, possibly with a `::type` cast. Segmented references such as
    /// `cpu.value` are joined with `.` into one name (as InfluxDB does).
    VarRef(VarRef),
    /// `*`, `*::field` or `*::tag` (field list and function arguments).
    Wildcard(Option<WildcardType>),
    /// A literal value (including a regex `/re/`).
    Literal(Literal),
    /// `DISTINCT name` (as in `SELECT DISTINCT value` or `count(DISTINCT value)`).
    Distinct(String),
    /// A bound parameter `$name`, to be substituted from the request's `params`.
    BindParam(String),
    /// A function call; the name is lower-cased by the parser (`MEAN(x)` is `mean(x)`).
    /// `now()` is `Call { name: "now", args: [] }`.
    Call(Call),
    /// A binary operation.
    Binary(Box<BinaryExpr>),
    /// Unary minus of a non-literal (`-x`, `-(a + b)`); negative number and duration literals
    /// are folded into the literal instead.
    Neg(Box<Expr>),
    /// Parentheses as written.
    Paren(Box<Expr>),
}

/// A variable (field or tag) reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarRef {
    /// The name, unquoted.
    pub name: String,
    /// The `::type` cast, if any.
    pub data_type: Option<DataType>,
}

/// The type after `::` in a variable reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `::float`
    Float,
    /// `::integer`
    Integer,
    /// `::unsigned`
    Unsigned,
    /// `::string`
    String,
    /// `::boolean`
    Boolean,
    /// `::field`
    Field,
    /// `::tag`
    Tag,
}

/// The type after `*::`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WildcardType {
    /// `*::field`
    Field,
    /// `*::tag`
    Tag,
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer such as `42` or `-7` (also nanosecond timestamps).
    Integer(i64),
    /// A number with a fractional part such as `1.5` (always finite).
    Number(f64),
    /// A single-quoted string, unescaped (RFC3339 times are strings too).
    String(String),
    /// `true` / `false`.
    Boolean(bool),
    /// A duration such as `5m` or `-1h30m`.
    Duration(Duration),
    /// A regex `/re/`.
    Regex(Regex),
}

/// A duration in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration {
    /// Nanoseconds (may be negative).
    pub nanos: i64,
}

/// A regular expression as written between slashes, with `\/` unescaped to `/`; other
/// backslashes are kept verbatim. Not validated by the parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Regex(pub String);

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The lower-cased function name.
    pub name: String,
    /// The arguments (any number, possibly none).
    pub args: Vec<Expr>,
}

/// A binary operation `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// Left operand.
    pub lhs: Expr,
    /// Operator.
    pub op: BinaryOp,
    /// Right operand.
    pub rhs: Expr,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `=`
    Eq,
    /// `!=` (also written `<>`)
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `=~`
    EqRegex,
    /// `!~`
    NotEqRegex,
    /// `AND`
    And,
    /// `OR`
    Or,
}

impl BinaryOp {
    /// Binding strength, as InfluxDB: OR 1, AND 2, comparisons 3, `+ - | ^` 4, `* / % &` 5.
    /// All operators are left-associative.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And => 2,
            Self::Eq
            | Self::NotEq
            | Self::Lt
            | Self::LtEq
            | Self::Gt
            | Self::GtEq
            | Self::EqRegex
            | Self::NotEqRegex => 3,
            Self::Add | Self::Sub | Self::BitOr | Self::BitXor => 4,
            Self::Mul | Self::Div | Self::Mod | Self::BitAnd => 5,
        }
    }

    /// The operator as written in canonical InfluxQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
            Self::BitAnd => "&",
            Self::BitOr => "|",
            Self::BitXor => "^",
            Self::Eq => "=",
            Self::NotEq => "!=",
            Self::Lt => "<",
            Self::LtEq => "<=",
            Self::Gt => ">",
            Self::GtEq => ">=",
            Self::EqRegex => "=~",
            Self::NotEqRegex => "!~",
            Self::And => "AND",
            Self::Or => "OR",
        }
    }

    /// Whether this is a comparison (`= != < <= > >= =~ !~`).
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }
}

/// A `FROM` source.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A measurement name or regex, optionally qualified.
    Measurement(MeasurementName),
    /// `(SELECT ...)`
    Subquery(Box<SelectStatement>),
}

/// `[db.[rp].]name` or `[db.[rp].]/regex/`. `db..m` has a database and no retention policy;
/// `rp.m` has a retention policy and no database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MeasurementName {
    /// The database, if qualified.
    pub database: Option<String>,
    /// The retention policy, if qualified.
    pub retention_policy: Option<String>,
    /// The measurement name or regex.
    pub name: MeasurementNameKind,
}

/// A measurement given by name or by regex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MeasurementNameKind {
    /// An exact name.
    Name(String),
    /// `/regex/`
    Regex(Regex),
}

/// A `GROUP BY` dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// `time(interval[, offset])`
    Time {
        /// The bucket width.
        interval: Duration,
        /// The bucket offset.
        offset: Option<TimeOffset>,
    },
    /// A tag key.
    Tag(String),
    /// `/regex/` over tag keys.
    Regex(Regex),
    /// `*`: all tags.
    Wildcard,
}

/// The second argument of `GROUP BY time(..)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeOffset {
    /// A duration such as `15m` or `-5m`.
    Duration(Duration),
    /// `now()`: align buckets to the query's `now`.
    Now,
}

/// `fill(..)`
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// `fill(null)`
    Null,
    /// `fill(none)`
    None,
    /// `fill(previous)`
    Previous,
    /// `fill(linear)`
    Linear,
    /// `fill(<integer>)`
    Integer(i64),
    /// `fill(<number>)`
    Number(f64),
}

/// Sort order of `ORDER BY time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// `ASC`
    Asc,
    /// `DESC`
    Desc,
}

/// `SHOW MEASUREMENTS [ON db] [WITH MEASUREMENT =|=~ name|/re/] [WHERE ..] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowMeasurementsStatement {
    /// `ON db`
    pub on: Option<String>,
    /// `WITH MEASUREMENT = name` (a [`MeasurementNameKind::Name`]) or `=~ /re/` (a regex).
    pub with_measurement: Option<MeasurementName>,
    /// `WHERE` (on tags).
    pub condition: Option<Expr>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// `OFFSET n`
    pub offset: Option<u64>,
}

/// `SHOW TAG KEYS [ON db] [FROM ..] [WHERE ..] [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowTagKeysStatement {
    /// `ON db`
    pub on: Option<String>,
    /// `FROM` measurements (empty: all).
    pub from: Vec<MeasurementName>,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// `OFFSET n`
    pub offset: Option<u64>,
    /// `SLIMIT n`
    pub slimit: Option<u64>,
    /// `SOFFSET n`
    pub soffset: Option<u64>,
}

/// `SHOW TAG VALUES [ON db] [FROM ..] WITH KEY <op> .. [WHERE ..] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowTagValuesStatement {
    /// `ON db`
    pub on: Option<String>,
    /// `FROM` measurements (empty: all).
    pub from: Vec<MeasurementName>,
    /// `WITH KEY ...`
    pub with_key: WithKey,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// `OFFSET n`
    pub offset: Option<u64>,
}

/// The `WITH KEY` clause of `SHOW TAG VALUES`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WithKey {
    /// `= key`
    Eq(String),
    /// `!= key` (also `<>`)
    NotEq(String),
    /// `=~ /re/`
    EqRegex(Regex),
    /// `!~ /re/`
    NotEqRegex(Regex),
    /// `IN (k1, k2, ..)` (at least one key)
    In(Vec<String>),
}

/// `SHOW FIELD KEYS [ON db] [FROM ..] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShowFieldKeysStatement {
    /// `ON db`
    pub on: Option<String>,
    /// `FROM` measurements (empty: all).
    pub from: Vec<MeasurementName>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// `OFFSET n`
    pub offset: Option<u64>,
}

/// `SHOW SERIES [ON db] [FROM ..] [WHERE ..] [LIMIT n] [OFFSET n]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowSeriesStatement {
    /// `ON db`
    pub on: Option<String>,
    /// `FROM` measurements (empty: all).
    pub from: Vec<MeasurementName>,
    /// `WHERE`
    pub condition: Option<Expr>,
    /// `LIMIT n`
    pub limit: Option<u64>,
    /// `OFFSET n`
    pub offset: Option<u64>,
}

/// `SHOW RETENTION POLICIES [ON db]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShowRetentionPoliciesStatement {
    /// `ON db`
    pub on: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Convenience constructors and helpers
// ---------------------------------------------------------------------------------------------

impl Expr {
    /// A plain variable reference without a cast.
    pub fn var(name: impl Into<String>) -> Self {
        Self::VarRef(VarRef {
            name: name.into(),
            data_type: None,
        })
    }

    /// `lhs op rhs`.
    pub fn binary(lhs: Expr, op: BinaryOp, rhs: Expr) -> Self {
        Self::Binary(Box::new(BinaryExpr { lhs, op, rhs }))
    }

    /// Strips any number of enclosing [`Expr::Paren`].
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let Self::Paren(inner) = e {
            e = inner;
        }
        e
    }

    /// Whether this is the call `now()`.
    pub fn is_now(&self) -> bool {
        matches!(self, Self::Call(c) if c.name == "now" && c.args.is_empty())
    }
}

impl Duration {
    /// One nanosecond.
    pub const NANOSECOND: i64 = 1;
    /// One microsecond in nanoseconds.
    pub const MICROSECOND: i64 = 1_000;
    /// One millisecond in nanoseconds.
    pub const MILLISECOND: i64 = 1_000_000;
    /// One second in nanoseconds.
    pub const SECOND: i64 = 1_000_000_000;
    /// One minute in nanoseconds.
    pub const MINUTE: i64 = 60 * Self::SECOND;
    /// One hour in nanoseconds.
    pub const HOUR: i64 = 60 * Self::MINUTE;
    /// One day in nanoseconds.
    pub const DAY: i64 = 24 * Self::HOUR;
    /// One week in nanoseconds.
    pub const WEEK: i64 = 7 * Self::DAY;

    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self { nanos }
    }
}

// ---------------------------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------------------------

/// InfluxQL keywords (and `true`/`false`): identifiers spelled like these must be quoted.
pub const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CONTINUOUS",
    "CREATE",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FALSE",
    "FIELD",
    "FOR",
    "FROM",
    "FUTURE",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "PASSWORD",
    "PAST",
    "POLICIES",
    "POLICY",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SHOW",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "TRUE",
    "USER",
    "USERS",
    "VALUES",
    "VERBOSE",
    "WHERE",
    "WITH",
    "WRITE",
];

/// Whether `word` is an InfluxQL keyword (case-insensitive).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Displays an identifier, double-quoted and escaped when it is not a plain identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`) or is a keyword.
#[derive(Debug, Clone, Copy)]
pub struct Ident<'a>(pub &'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut chars = s.chars();
        let bare = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !is_keyword(s);
        if bare {
            return f.write_str(s);
        }
        f.write_str("\"")?;
        write_escaped(f, s, '"')?;
        f.write_str("\"")
    }
}

/// Displays a single-quoted, escaped string literal.
#[derive(Debug, Clone, Copy)]
pub struct QuotedString<'a>(pub &'a str);

impl fmt::Display for QuotedString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        write_escaped(f, self.0, '\'')?;
        f.write_str("'")
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str, quote: char) -> fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '\\' => "\\\\",
            '\n' => "\\n",
            '"' if quote == '"' => "\\\"",
            '\'' if quote == '\'' => "\\'",
            _ => continue,
        };
        f.write_str(&s[start..i])?;
        f.write_str(esc)?;
        start = i + c.len_utf8();
    }
    f.write_str(&s[start..])
}

fn comma_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn opt_kw(f: &mut fmt::Formatter<'_>, kw: &str, v: Option<u64>) -> fmt::Result {
    match v {
        Some(n) => write!(f, " {kw} {n}"),
        None => Ok(()),
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("/")?;
        let s = self.0.as_str();
        let mut start = 0;
        for (i, c) in s.char_indices() {
            if c == '/' {
                f.write_str(&s[start..i])?;
                f.write_str("\\/")?;
                start = i + 1;
            }
        }
        f.write_str(&s[start..])?;
        f.write_str("/")
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.nanos;
        if d == 0 {
            return f.write_str("0s");
        }
        let units: [(i64, &str); 7] = [
            (Self::WEEK, "w"),
            (Self::DAY, "d"),
            (Self::HOUR, "h"),
            (Self::MINUTE, "m"),
            (Self::SECOND, "s"),
            (Self::MILLISECOND, "ms"),
            (Self::MICROSECOND, "u"),
        ];
        for (unit, suffix) in units {
            if d % unit == 0 {
                return write!(f, "{}{suffix}", d / unit);
            }
        }
        write!(f, "{d}ns")
    }
}

/// Formats a finite float so that it lexes back as the same number literal (never as an
/// integer, never with an exponent).
pub(crate) fn fmt_number(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    let s = format!("{v}");
    if s.contains('.') || !v.is_finite() {
        f.write_str(&s)
    } else {
        write!(f, "{s}.0")
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(v) => write!(f, "{v}"),
            Self::Number(v) => fmt_number(f, *v),
            Self::String(s) => write!(f, "{}", QuotedString(s)),
            Self::Boolean(true) => f.write_str("true"),
            Self::Boolean(false) => f.write_str("false"),
            Self::Duration(d) => write!(f, "{d}"),
            Self::Regex(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::Unsigned => "unsigned",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Field => "field",
            Self::Tag => "tag",
        })
    }
}

impl fmt::Display for WildcardType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Field => "field",
            Self::Tag => "tag",
        })
    }
}

impl fmt::Display for VarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Ident(&self.name))?;
        if let Some(t) = self.data_type {
            write!(f, "::{t}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Call names come from bare identifiers (or `distinct`), so they are printed as is.
        write!(f, "{}(", self.name)?;
        comma_list(f, &self.args)?;
        f.write_str(")")
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Precedence of an expression when it appears as an operand; atoms bind tightest.
fn expr_precedence(e: &Expr) -> u8 {
    match e {
        Expr::Binary(b) => b.op.precedence(),
        // A negative literal or a unary minus binds tighter than any binary operator.
        _ => u8::MAX,
    }
}

impl fmt::Display for BinaryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.op.precedence();
        if expr_precedence(&self.lhs) < p {
            write!(f, "({})", self.lhs)?;
        } else {
            write!(f, "{}", self.lhs)?;
        }
        write!(f, " {} ", self.op)?;
        if expr_precedence(&self.rhs) <= p {
            write!(f, "({})", self.rhs)
        } else {
            write!(f, "{}", self.rhs)
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VarRef(v) => write!(f, "{v}"),
            Self::Wildcard(None) => f.write_str("*"),
            Self::Wildcard(Some(t)) => write!(f, "*::{t}"),
            Self::Literal(l) => write!(f, "{l}"),
            Self::Distinct(name) => write!(f, "DISTINCT {}", Ident(name)),
            Self::BindParam(name) => write!(f, "${}", Ident(name)),
            Self::Call(c) => write!(f, "{c}"),
            Self::Binary(b) => write!(f, "{b}"),
            Self::Neg(inner) => match inner.as_ref() {
                Expr::Binary(_) => write!(f, "-({inner})"),
                // A space keeps `- -x` from printing as the comment `--x`.
                other => {
                    let s = other.to_string();
                    if s.starts_with('-') {
                        write!(f, "- {s}")
                    } else {
                        write!(f, "-{s}")
                    }
                }
            },
            Self::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", Ident(alias))?;
        }
        Ok(())
    }
}

impl fmt::Display for MeasurementNameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(f, "{}", Ident(n)),
            Self::Regex(r) => write!(f, "{r}"),
        }
    }
}

impl fmt::Display for MeasurementName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.database, &self.retention_policy) {
            (Some(db), Some(rp)) => write!(f, "{}.{}.", Ident(db), Ident(rp))?,
            (Some(db), None) => write!(f, "{}..", Ident(db))?,
            (None, Some(rp)) => write!(f, "{}.", Ident(rp))?,
            (None, None) => {}
        }
        write!(f, "{}", self.name)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Measurement(m) => write!(f, "{m}"),
            Self::Subquery(s) => write!(f, "({s})"),
        }
    }
}

impl fmt::Display for TimeOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duration(d) => write!(f, "{d}"),
            Self::Now => f.write_str("now()"),
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time {
                interval,
                offset: None,
            } => write!(f, "time({interval})"),
            Self::Time {
                interval,
                offset: Some(o),
            } => write!(f, "time({interval}, {o})"),
            Self::Tag(t) => write!(f, "{}", Ident(t)),
            Self::Regex(r) => write!(f, "{r}"),
            Self::Wildcard => f.write_str("*"),
        }
    }
}

impl fmt::Display for Fill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("fill(null)"),
            Self::None => f.write_str("fill(none)"),
            Self::Previous => f.write_str("fill(previous)"),
            Self::Linear => f.write_str("fill(linear)"),
            Self::Integer(v) => write!(f, "fill({v})"),
            Self::Number(v) => {
                f.write_str("fill(")?;
                fmt_number(f, *v)?;
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Asc => "ASC",
            Self::Desc => "DESC",
        })
    }
}

impl fmt::Display for SelectStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        comma_list(f, &self.fields)?;
        f.write_str(" FROM ")?;
        comma_list(f, &self.from)?;
        if let Some(c) = &self.condition {
            write!(f, " WHERE {c}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            comma_list(f, &self.group_by)?;
        }
        if let Some(fill) = &self.fill {
            write!(f, " {fill}")?;
        }
        if let Some(o) = self.order_by {
            write!(f, " ORDER BY time {o}")?;
        }
        opt_kw(f, "LIMIT", self.limit)?;
        opt_kw(f, "OFFSET", self.offset)?;
        opt_kw(f, "SLIMIT", self.slimit)?;
        opt_kw(f, "SOFFSET", self.soffset)?;
        if let Some(tz) = &self.timezone {
            write!(f, " tz({})", QuotedString(tz))?;
        }
        Ok(())
    }
}

fn on_from(
    f: &mut fmt::Formatter<'_>,
    on: &Option<String>,
    from: &[MeasurementName],
) -> fmt::Result {
    if let Some(db) = on {
        write!(f, " ON {}", Ident(db))?;
    }
    if !from.is_empty() {
        f.write_str(" FROM ")?;
        comma_list(f, from)?;
    }
    Ok(())
}

fn where_clause(f: &mut fmt::Formatter<'_>, cond: &Option<Expr>) -> fmt::Result {
    match cond {
        Some(c) => write!(f, " WHERE {c}"),
        None => Ok(()),
    }
}

impl fmt::Display for ShowMeasurementsStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW MEASUREMENTS")?;
        on_from(f, &self.on, &[])?;
        if let Some(m) = &self.with_measurement {
            let op = match m.name {
                MeasurementNameKind::Name(_) => "=",
                MeasurementNameKind::Regex(_) => "=~",
            };
            write!(f, " WITH MEASUREMENT {op} {m}")?;
        }
        where_clause(f, &self.condition)?;
        opt_kw(f, "LIMIT", self.limit)?;
        opt_kw(f, "OFFSET", self.offset)
    }
}

impl fmt::Display for ShowTagKeysStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW TAG KEYS")?;
        on_from(f, &self.on, &self.from)?;
        where_clause(f, &self.condition)?;
        opt_kw(f, "LIMIT", self.limit)?;
        opt_kw(f, "OFFSET", self.offset)?;
        opt_kw(f, "SLIMIT", self.slimit)?;
        opt_kw(f, "SOFFSET", self.soffset)
    }
}

impl fmt::Display for WithKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eq(k) => write!(f, "WITH KEY = {}", Ident(k)),
            Self::NotEq(k) => write!(f, "WITH KEY != {}", Ident(k)),
            Self::EqRegex(r) => write!(f, "WITH KEY =~ {r}"),
            Self::NotEqRegex(r) => write!(f, "WITH KEY !~ {r}"),
            Self::In(keys) => {
                f.write_str("WITH KEY IN (")?;
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Ident(k))?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for ShowTagValuesStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW TAG VALUES")?;
        on_from(f, &self.on, &self.from)?;
        write!(f, " {}", self.with_key)?;
        where_clause(f, &self.condition)?;
        opt_kw(f, "LIMIT", self.limit)?;
        opt_kw(f, "OFFSET", self.offset)
    }
}

impl fmt::Display for ShowFieldKeysStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW FIELD KEYS")?;
        on_from(f, &self.on, &self.from)?;
        opt_kw(f, "LIMIT", self.limit)?;
        opt_kw(f, "OFFSET", self.offset)
    }
}

impl fmt::Display for ShowSeriesStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW SERIES")?;
        on_from(f, &self.on, &self.from)?;
        where_clause(f, &self.condition)?;
        opt_kw(f, "LIMIT", self.limit)?;
        opt_kw(f, "OFFSET", self.offset)
    }
}

impl fmt::Display for ShowRetentionPoliciesStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW RETENTION POLICIES")?;
        on_from(f, &self.on, &[])
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Select(s) => write!(f, "{s}"),
            Self::ShowDatabases => f.write_str("SHOW DATABASES"),
            Self::ShowMeasurements(s) => write!(f, "{s}"),
            Self::ShowTagKeys(s) => write!(f, "{s}"),
            Self::ShowTagValues(s) => write!(f, "{s}"),
            Self::ShowFieldKeys(s) => write!(f, "{s}"),
            Self::ShowSeries(s) => write!(f, "{s}"),
            Self::ShowRetentionPolicies(s) => write!(f, "{s}"),
        }
    }
}
