//! InfluxQL (InfluxDB 1.x dialect) parser.
//!
//! [`parse_statements`] turns a query string into [`ast::Statement`]s. Each AST node prints back
//! as canonical InfluxQL with `Display`, and `parse(print(ast)) == ast` for every parsed tree.
//! Statements InfluxDB 3 does not run (`SELECT .. INTO`, `CREATE`, `DROP`, `DELETE`, `GRANT`,
//! `SHOW USERS`, ...) are rejected with [`ParseErrorKind::Unsupported`] naming the statement.
//!
//! Nesting (parentheses, calls, subqueries, unary minus) is limited to [`MAX_NESTING`] levels and
//! expression trees to [`MAX_EXPR_DEPTH`] levels, so hostile input cannot overflow the stack
//! while parsing, printing, comparing or dropping a tree.

pub mod ast;
mod expr;
mod lexer;
mod select;
mod show;

use core::fmt;

pub use ast::*;

/// Maximum syntactic nesting: parentheses, function calls, subqueries and unary minus.
pub const MAX_NESTING: usize = 64;

/// Maximum depth of an expression tree (long `a OR b OR c ...` chains build deep trees).
pub const MAX_EXPR_DEPTH: usize = 1024;

/// Parses `;`-separated statements. Empty statements are skipped (so a trailing `;` is fine),
/// and input with no statement at all gives an empty list, as in InfluxDB; the caller decides
/// whether that is an error.
pub fn parse_statements(input: &str) -> Result<Vec<Statement>, ParseError> {
    let mut p = lexer::Parser::new(input);
    select::parse_statements(&mut p)
}

/// Parses exactly one statement (an optional trailing `;` is allowed).
pub fn parse_statement(input: &str) -> Result<Statement, ParseError> {
    let mut p = lexer::Parser::new(input);
    select::parse_single_statement(&mut p)
}

/// Parses a standalone expression (e.g. a `WHERE` condition), mostly for tests and tools.
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let mut p = lexer::Parser::new(input);
    let e = expr::parse_expr(&mut p)?;
    p.expect_eof()?;
    Ok(e)
}

/// An InfluxQL parse error with its position.
///
/// Displays like InfluxDB: `found FROMM, expected FROM at line 1, char 10`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line}, char {column}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// Byte offset into the input.
    pub offset: usize,
}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A token other than the expected one(s). `found` is the offending text, cut short
    /// (`EOF` at the end of input); `expected` lists alternatives such as `FROM` or
    /// `identifier, string`.
    Unexpected {
        /// The text found, cut short.
        found: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A statement influxgate does not run, such as `DROP MEASUREMENT`.
    Unsupported {
        /// The statement's name, such as `DROP MEASUREMENT`.
        statement: String,
    },
    /// Nesting or expression depth over the limit.
    TooDeep {
        /// The limit that was hit.
        limit: usize,
    },
    /// A malformed token or value: bad escape, unterminated string, integer out of range,
    /// invalid duration, bad `fill()` argument, ...
    Invalid(String),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unexpected { found, expected } => write!(f, "found {found}, expected {expected}"),
            Self::Unsupported { statement } => {
                write!(f, "{statement} is not supported by InfluxDB 3 / influxgate")
            }
            Self::TooDeep { limit } => write!(f, "query nested too deeply (limit {limit})"),
            Self::Invalid(msg) => f.write_str(msg),
        }
    }
}
