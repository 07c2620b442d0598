//! Expressions: precedence climbing over binary operators, unary minus, literals, variable
//! references with casts, calls, wildcards, regexes and bound parameters.

use super::{
    MAX_EXPR_DEPTH, ParseError, ParseErrorKind,
    ast::{BinaryOp, Call, DataType, Duration, Expr, Literal, VarRef, WildcardType, is_keyword},
    lexer::{Parser, Punct, Tok},
};

/// What an operand may start with, for error messages.
const OPERAND: &str = "identifier, string, number, bool";

/// Parses a full expression.
pub(crate) fn parse_expr(p: &mut Parser<'_>) -> Result<Expr, ParseError> {
    parse_binary(p, 1).map(|(e, _)| e)
}

/// The binary operator at the next token, if any.
fn peek_binary_op(p: &mut Parser<'_>) -> Result<Option<BinaryOp>, ParseError> {
    let t = p.peek()?;
    Ok(match &t.tok {
        Tok::Punct(punct) => match punct {
            Punct::Plus => Some(BinaryOp::Add),
            Punct::Minus => Some(BinaryOp::Sub),
            Punct::Star => Some(BinaryOp::Mul),
            Punct::Slash => Some(BinaryOp::Div),
            Punct::Percent => Some(BinaryOp::Mod),
            Punct::Amp => Some(BinaryOp::BitAnd),
            Punct::Pipe => Some(BinaryOp::BitOr),
            Punct::Caret => Some(BinaryOp::BitXor),
            Punct::Eq => Some(BinaryOp::Eq),
            Punct::NotEq => Some(BinaryOp::NotEq),
            Punct::Lt => Some(BinaryOp::Lt),
            Punct::LtEq => Some(BinaryOp::LtEq),
            Punct::Gt => Some(BinaryOp::Gt),
            Punct::GtEq => Some(BinaryOp::GtEq),
            Punct::EqRegex => Some(BinaryOp::EqRegex),
            Punct::NotEqRegex => Some(BinaryOp::NotEqRegex),
            _ => None,
        },
        Tok::Ident(s) if s.eq_ignore_ascii_case("AND") => Some(BinaryOp::And),
        Tok::Ident(s) if s.eq_ignore_ascii_case("OR") => Some(BinaryOp::Or),
        _ => None,
    })
}

fn check_depth(p: &Parser<'_>, depth: usize, at: usize) -> Result<usize, ParseError> {
    if depth > MAX_EXPR_DEPTH {
        Err(p.error_at(
            at,
            ParseErrorKind::TooDeep {
                limit: MAX_EXPR_DEPTH,
            },
        ))
    } else {
        Ok(depth)
    }
}

/// Precedence climbing: parses operators binding at least as tightly as `min_prec`.
/// Returns the expression and its tree depth.
fn parse_binary(p: &mut Parser<'_>, min_prec: u8) -> Result<(Expr, usize), ParseError> {
    let (mut lhs, mut depth) = parse_unary(p)?;
    while let Some(op) = peek_binary_op(p)? {
        let prec = op.precedence();
        if prec < min_prec {
            break;
        }
        let at = p.next()?.start;
        let (rhs, rdepth) = parse_binary(p, prec + 1)?;
        depth = check_depth(p, 1 + depth.max(rdepth), at)?;
        lhs = Expr::binary(lhs, op, rhs);
    }
    Ok((lhs, depth))
}

/// Negates a numeric literal, or returns `None` for anything else.
fn negate_literal(e: &Expr) -> Option<Result<Expr, &'static str>> {
    match e {
        Expr::Literal(Literal::Integer(v)) => Some(
            v.checked_neg()
                .map(|v| Expr::Literal(Literal::Integer(v)))
                .ok_or("integer out of range"),
        ),
        Expr::Literal(Literal::Number(v)) => Some(Ok(Expr::Literal(Literal::Number(-v)))),
        Expr::Literal(Literal::Duration(d)) => Some(
            d.nanos
                .checked_neg()
                .map(|n| Expr::Literal(Literal::Duration(Duration::from_nanos(n))))
                .ok_or("duration out of range"),
        ),
        _ => None,
    }
}

/// Parses a unary expression (operand with optional leading minus).
fn parse_unary(p: &mut Parser<'_>) -> Result<(Expr, usize), ParseError> {
    if !p.peek()?.is_punct(Punct::Minus) {
        return parse_operand(p);
    }
    let at = p.next()?.start;
    // `-9223372036854775808` and `-<i64::MAX+1>ns` only fit once negated.
    match p.peek()?.tok {
        Tok::Integer(n) if n == 1u64 << 63 => {
            p.next()?;
            return Ok((Expr::Literal(Literal::Integer(i64::MIN)), 1));
        }
        Tok::Duration(n) if n == 1i128 << 63 => {
            p.next()?;
            return Ok((
                Expr::Literal(Literal::Duration(Duration::from_nanos(i64::MIN))),
                1,
            ));
        }
        _ => {}
    }
    p.enter()?;
    let (inner, depth) = parse_unary(p)?;
    p.leave();
    match negate_literal(&inner) {
        Some(Ok(e)) => Ok((e, depth)),
        Some(Err(msg)) => Err(p.error_at(at, ParseErrorKind::Invalid(msg.into()))),
        None => Ok((Expr::Neg(Box::new(inner)), check_depth(p, depth + 1, at)?)),
    }
}

/// Parses the type after `::`.
fn parse_cast(p: &mut Parser<'_>) -> Result<DataType, ParseError> {
    let t = p.next()?;
    let ty = match &t.tok {
        Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
            "float" => Some(DataType::Float),
            "integer" => Some(DataType::Integer),
            "unsigned" => Some(DataType::Unsigned),
            "string" => Some(DataType::String),
            "boolean" => Some(DataType::Boolean),
            "field" => Some(DataType::Field),
            "tag" => Some(DataType::Tag),
            _ => None,
        },
        _ => None,
    };
    ty.ok_or_else(|| p.unexpected(&t, "float, integer, unsigned, string, boolean, field, tag"))
}

/// Parses a variable reference whose first segment `first` was already consumed: more
/// `.segment`s and an optional `::type`.
fn parse_var_ref(p: &mut Parser<'_>, first: String) -> Result<Expr, ParseError> {
    let mut name = first;
    while p.eat_punct(Punct::Dot)? {
        name.push('.');
        name.push_str(&p.ident("identifier")?);
    }
    let data_type = if p.eat_punct(Punct::DoubleColon)? {
        Some(parse_cast(p)?)
    } else {
        None
    };
    Ok(Expr::VarRef(VarRef { name, data_type }))
}

/// Parses call arguments after the opening parenthesis.
fn parse_call(p: &mut Parser<'_>, name: String) -> Result<(Expr, usize), ParseError> {
    let at = p.next()?.start; // `(`
    p.enter()?;
    let mut args = Vec::new();
    let mut depth = 0;
    if !p.eat_punct(Punct::RParen)? {
        loop {
            let (arg, d) = parse_binary(p, 1)?;
            depth = depth.max(d);
            args.push(arg);
            if p.eat_punct(Punct::RParen)? {
                break;
            }
            p.expect_punct(Punct::Comma, ", or )")?;
        }
    }
    p.leave();
    Ok((
        Expr::Call(Call { name, args }),
        check_depth(p, depth + 1, at)?,
    ))
}

/// Parses an operand.
fn parse_operand(p: &mut Parser<'_>) -> Result<(Expr, usize), ParseError> {
    if let Some(re) = p.regex()? {
        return Ok((Expr::Literal(Literal::Regex(re)), 1));
    }
    let t = p.next()?;
    let leaf = |e: Expr| Ok((e, 1));
    match t.tok {
        Tok::Punct(Punct::LParen) => {
            p.enter()?;
            let (inner, depth) = parse_binary(p, 1)?;
            p.expect_punct(Punct::RParen, ")")?;
            p.leave();
            Ok((
                Expr::Paren(Box::new(inner)),
                check_depth(p, depth + 1, t.start)?,
            ))
        }
        Tok::Punct(Punct::Star) => {
            if p.eat_punct(Punct::DoubleColon)? {
                let t2 = p.next()?;
                let ty = if t2.is_kw("field") {
                    WildcardType::Field
                } else if t2.is_kw("tag") {
                    WildcardType::Tag
                } else {
                    return Err(p.unexpected(&t2, "field, tag"));
                };
                leaf(Expr::Wildcard(Some(ty)))
            } else {
                leaf(Expr::Wildcard(None))
            }
        }
        Tok::Integer(n) => match i64::try_from(n) {
            Ok(v) => leaf(Expr::Literal(Literal::Integer(v))),
            Err(_) => Err(p.error_at(
                t.start,
                ParseErrorKind::Invalid("integer out of range".into()),
            )),
        },
        Tok::Number(v) => leaf(Expr::Literal(Literal::Number(v))),
        Tok::Duration(n) => match i64::try_from(n) {
            Ok(v) => leaf(Expr::Literal(Literal::Duration(Duration::from_nanos(v)))),
            Err(_) => Err(p.error_at(
                t.start,
                ParseErrorKind::Invalid("duration out of range".into()),
            )),
        },
        Tok::Str(s) => leaf(Expr::Literal(Literal::String(s))),
        Tok::BindParam(name) => leaf(Expr::BindParam(name)),
        Tok::QuotedIdent(s) => leaf(parse_var_ref(p, s)?),
        Tok::Ident(ref s) => {
            if s.eq_ignore_ascii_case("true") {
                return leaf(Expr::Literal(Literal::Boolean(true)));
            }
            if s.eq_ignore_ascii_case("false") {
                return leaf(Expr::Literal(Literal::Boolean(false)));
            }
            let is_distinct = s.eq_ignore_ascii_case("distinct");
            if p.peek()?.is_punct(Punct::LParen) && (is_distinct || !is_keyword(s)) {
                return parse_call(p, s.to_ascii_lowercase());
            }
            if is_distinct {
                return leaf(Expr::Distinct(p.ident("identifier")?));
            }
            if is_keyword(s) {
                return Err(p.unexpected(&t, OPERAND));
            }
            let name = s.clone();
            leaf(parse_var_ref(p, name)?)
        }
        _ => Err(p.unexpected(&t, OPERAND)),
    }
}
