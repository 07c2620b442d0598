//! On-demand tokenizer and the parser state shared by the grammar modules.
//!
//! Tokens are lexed lazily because `/` is division after an operand but opens a regex where an
//! operand is expected; the grammar asks for a regex explicitly ([`Parser::regex`]).

use nom::{
    IResult, Parser as _,
    bytes::complete::{tag, take_until, take_while, take_while1},
    character::complete::{digit1, not_line_ending, satisfy},
    combinator::recognize,
    sequence::pair,
};

use super::{MAX_NESTING, ParseError, ParseErrorKind, ast::Regex};

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Punct {
    LParen,
    RParen,
    Comma,
    Semicolon,
    Dot,
    DoubleColon,
    Star,
    Plus,
    Minus,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    EqRegex,
    NotEqRegex,
}

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare identifier or keyword, as written.
    Ident(String),
    /// A double-quoted identifier, unescaped.
    QuotedIdent(String),
    /// A single-quoted string, unescaped.
    Str(String),
    /// An unsigned integer (sign is applied by the grammar).
    Integer(u64),
    /// A number with a fractional part.
    Number(f64),
    /// A duration in nanoseconds; may be `i64::MAX + 1` so that `-` can fold into it.
    Duration(i128),
    /// `$name`
    BindParam(String),
    Punct(Punct),
    Eof,
}

/// A token and its byte span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether this is the bare identifier/keyword `kw` (case-insensitive).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    pub fn is_punct(&self, p: Punct) -> bool {
        self.tok == Tok::Punct(p)
    }
}

/// Parser state: the input, the current byte position, one token of lookahead and the nesting
/// depth.
pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    peeked: Option<Token>,
    nesting: usize,
}

const MAX_DURATION: i128 = i64::MAX as i128 + 1;

type LexResult<'a, O> = IResult<&'a str, O, ()>;

fn line_comment(i: &str) -> LexResult<'_, &str> {
    recognize(pair(tag("--"), not_line_ending)).parse(i)
}

fn block_comment(i: &str) -> LexResult<'_, &str> {
    recognize((tag("/*"), take_until("*/"), tag("*/"))).parse(i)
}

fn spaces(i: &str) -> LexResult<'_, &str> {
    take_while1(|c: char| c == ' ' || c == '\t' || c == '\n' || c == '\r')(i)
}

fn bare_ident(i: &str) -> LexResult<'_, &str> {
    recognize(pair(
        satisfy(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

/// Parses the text of a duration token (`10m`, `1h30m`, `5µs`) into nanoseconds.
pub(crate) fn parse_duration_text(s: &str) -> Option<i128> {
    let mut rest = s;
    let mut total: i128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let (after, digits) = digit1::<_, ()>(rest).ok()?;
        let n: i128 = digits.parse().ok().filter(|n| *n <= MAX_DURATION)?;
        let (unit, after) = if let Some(a) = after.strip_prefix("ns") {
            (1, a)
        } else if let Some(a) = after.strip_prefix("ms") {
            (1_000_000, a)
        } else if let Some(a) = after.strip_prefix('u').or_else(|| after.strip_prefix('µ')) {
            (1_000, a)
        } else if let Some(a) = after.strip_prefix('s') {
            (1_000_000_000, a)
        } else if let Some(a) = after.strip_prefix('m') {
            (60_000_000_000, a)
        } else if let Some(a) = after.strip_prefix('h') {
            (3_600_000_000_000, a)
        } else if let Some(a) = after.strip_prefix('d') {
            (86_400_000_000_000, a)
        } else if let Some(a) = after.strip_prefix('w') {
            (604_800_000_000_000, a)
        } else {
            return None;
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        if total > MAX_DURATION {
            return None;
        }
        rest = after;
    }
    Some(total)
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            peeked: None,
            nesting: 0,
        }
    }

    /// The error for `kind` at byte `offset`.
    pub fn error_at(&self, offset: usize, kind: ParseErrorKind) -> ParseError {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        ParseError {
            kind,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            offset,
        }
    }

    fn invalid(&self, offset: usize, msg: &str) -> ParseError {
        self.error_at(offset, ParseErrorKind::Invalid(msg.into()))
    }

    /// The "found X, expected Y" error for `tok`.
    pub fn unexpected(&self, tok: &Token, expected: &str) -> ParseError {
        let found = if tok.tok == Tok::Eof {
            "EOF".to_string()
        } else {
            let text = &self.src[tok.start..tok.end];
            let mut cut: String = text.chars().take(24).collect();
            if cut.len() < text.len() {
                cut.push_str("...");
            }
            cut
        };
        self.error_at(
            tok.start,
            ParseErrorKind::Unexpected {
                found,
                expected: expected.to_string(),
            },
        )
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = &self.src[self.pos..];
            if let Ok((r, _)) = spaces(rest).or_else(|_| line_comment(rest)) {
                self.pos = self.src.len() - r.len();
            } else if rest.starts_with("/*") {
                match block_comment(rest) {
                    Ok((r, _)) => self.pos = self.src.len() - r.len(),
                    Err(_) => return Err(self.invalid(self.pos, "unterminated comment")),
                }
            } else {
                return Ok(());
            }
        }
    }

    /// Looks at the next token without consuming it.
    pub fn peek(&mut self) -> Result<&Token, ParseError> {
        if self.peeked.is_none() {
            self.skip_trivia()?;
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    /// Consumes and returns the next token.
    pub fn next(&mut self) -> Result<Token, ParseError> {
        self.peek()?;
        let t = self.peeked.take().expect("peeked");
        self.pos = t.end;
        Ok(t)
    }

    /// Consumes the next token if it is the keyword `kw`.
    pub fn eat_kw(&mut self, kw: &str) -> Result<bool, ParseError> {
        if self.peek()?.is_kw(kw) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consumes the keyword `kw` or fails.
    pub fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        let t = self.next()?;
        if t.is_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&t, kw))
        }
    }

    /// Consumes the next token if it is `p`.
    pub fn eat_punct(&mut self, p: Punct) -> Result<bool, ParseError> {
        if self.peek()?.is_punct(p) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consumes `p` or fails with "expected `what`".
    pub fn expect_punct(&mut self, p: Punct, what: &str) -> Result<(), ParseError> {
        let t = self.next()?;
        if t.is_punct(p) {
            Ok(())
        } else {
            Err(self.unexpected(&t, what))
        }
    }

    /// Fails unless the input is exhausted.
    pub fn expect_eof(&mut self) -> Result<(), ParseError> {
        let t = self.peek()?.clone();
        if t.tok == Tok::Eof {
            Ok(())
        } else {
            Err(self.unexpected(&t, "EOF"))
        }
    }

    /// Enters one nesting level (parenthesis, call, subquery, unary minus).
    pub fn enter(&mut self) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let at = self.peeked.as_ref().map_or(self.pos, |t| t.start);
            return Err(self.error_at(at, ParseErrorKind::TooDeep { limit: MAX_NESTING }));
        }
        Ok(())
    }

    /// Leaves a nesting level entered with [`Parser::enter`].
    pub fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// Parses an identifier: a quoted identifier, or a bare one that is not a keyword.
    pub fn ident(&mut self, expected: &str) -> Result<String, ParseError> {
        let t = self.next()?;
        match t.tok {
            Tok::QuotedIdent(s) => Ok(s),
            Tok::Ident(ref s) if !super::ast::is_keyword(s) => Ok(s.clone()),
            _ => Err(self.unexpected(&t, expected)),
        }
    }

    /// Parses a non-negative integer (for LIMIT and friends).
    pub fn unsigned(&mut self, what: &str) -> Result<u64, ParseError> {
        let t = self.next()?;
        match t.tok {
            Tok::Integer(n) if i64::try_from(n).is_ok() => Ok(n),
            _ => Err(self.unexpected(&t, what)),
        }
    }

    /// If the next token is `/`, lexes a regex starting there.
    pub fn regex(&mut self) -> Result<Option<Regex>, ParseError> {
        if !self.peek()?.is_punct(Punct::Slash) {
            return Ok(None);
        }
        let start = self.peeked.take().expect("peeked").start;
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    self.pos = start + 1 + i + 1;
                    return Ok(Some(Regex(out)));
                }
                '\n' => break,
                '\\' if self.src[start + 1 + i + 1..].starts_with('/') => {
                    chars.next();
                    out.push('/');
                }
                c => out.push(c),
            }
        }
        Err(self.invalid(start, "unterminated regex"))
    }

    /// Lexes a quoted string or identifier whose opening `quote` is at `start`.
    fn quoted(&self, start: usize, quote: char) -> Result<(String, usize), ParseError> {
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            let at = start + 1 + i;
            match c {
                c if c == quote => return Ok((out, at + 1)),
                '\n' => break,
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, c @ ('\\' | '"' | '\''))) => out.push(c),
                    _ => return Err(self.invalid(at, "bad escape")),
                },
                c => out.push(c),
            }
        }
        let what = if quote == '"' {
            "unterminated quoted identifier"
        } else {
            "unterminated string"
        };
        Err(self.invalid(start, what))
    }

    /// Lexes one token at `self.pos` (trivia already skipped).
    fn lex(&self) -> Result<Token, ParseError> {
        let start = self.pos;
        let rest = &self.src[start..];
        let tok = |tok: Tok, len: usize| {
            Ok(Token {
                tok,
                start,
                end: start + len,
            })
        };
        let Some(c) = rest.chars().next() else {
            return tok(Tok::Eof, 0);
        };
        if let Ok((r, id)) = bare_ident(rest) {
            return Ok(Token {
                tok: Tok::Ident(id.to_string()),
                start,
                end: self.src.len() - r.len(),
            });
        }
        if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
            return self.number(start);
        }
        let two = rest.get(..2).unwrap_or("");
        let p2 = match two {
            "::" => Some(Punct::DoubleColon),
            "!=" | "<>" => Some(Punct::NotEq),
            "<=" => Some(Punct::LtEq),
            ">=" => Some(Punct::GtEq),
            "=~" => Some(Punct::EqRegex),
            "!~" => Some(Punct::NotEqRegex),
            _ => None,
        };
        if let Some(p) = p2 {
            return tok(Tok::Punct(p), 2);
        }
        let p1 = match c {
            '(' => Punct::LParen,
            ')' => Punct::RParen,
            ',' => Punct::Comma,
            ';' => Punct::Semicolon,
            '.' => Punct::Dot,
            '*' => Punct::Star,
            '+' => Punct::Plus,
            '-' => Punct::Minus,
            '/' => Punct::Slash,
            '%' => Punct::Percent,
            '&' => Punct::Amp,
            '|' => Punct::Pipe,
            '^' => Punct::Caret,
            '=' => Punct::Eq,
            '<' => Punct::Lt,
            '>' => Punct::Gt,
            '"' => {
                let (s, end) = self.quoted(start, '"')?;
                return Ok(Token {
                    tok: Tok::QuotedIdent(s),
                    start,
                    end,
                });
            }
            '\'' => {
                let (s, end) = self.quoted(start, '\'')?;
                return Ok(Token {
                    tok: Tok::Str(s),
                    start,
                    end,
                });
            }
            '$' => {
                let after = &rest[1..];
                if let Ok((r, id)) = bare_ident(after) {
                    let end = self.src.len() - r.len();
                    return Ok(Token {
                        tok: Tok::BindParam(id.to_string()),
                        start,
                        end,
                    });
                }
                if after.starts_with('"') {
                    let (s, end) = self.quoted(start + 1, '"')?;
                    return Ok(Token {
                        tok: Tok::BindParam(s),
                        start,
                        end,
                    });
                }
                return Err(self.invalid(start, "expected parameter name after $"));
            }
            _ => {
                let t = Token {
                    tok: Tok::Punct(Punct::Dot),
                    start,
                    end: start + c.len_utf8(),
                };
                return Err(self.unexpected(&t, "valid token"));
            }
        };
        tok(Tok::Punct(p1), 1)
    }

    /// Lexes an integer, number or duration at `start`.
    fn number(&self, start: usize) -> Result<Token, ParseError> {
        let rest = &self.src[start..];
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let after_int = &rest[int_len..];
        // A fractional part: `.` followed by a digit.
        if after_int.starts_with('.') && after_int[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let frac = after_int[1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_int.len() - 1);
            let len = int_len + 1 + frac;
            let text = &rest[..len];
            let v: f64 = text
                .parse()
                .map_err(|_| self.invalid(start, "invalid number"))?;
            if !v.is_finite() {
                return Err(self.invalid(start, "number out of range"));
            }
            return Ok(Token {
                tok: Tok::Number(v),
                start,
                end: start + len,
            });
        }
        // A duration: digits followed by letters (and more digits/letters, `1h30m`).
        if after_int.starts_with(|c: char| c.is_ascii_alphabetic() || c == 'µ') {
            let tail = after_int
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == 'µ'))
                .unwrap_or(after_int.len());
            let len = int_len + tail;
            let text = &rest[..len];
            let nanos = parse_duration_text(text)
                .ok_or_else(|| self.invalid(start, &format!("invalid duration {text}")))?;
            return Ok(Token {
                tok: Tok::Duration(nanos),
                start,
                end: start + len,
            });
        }
        let text = &rest[..int_len];
        let v: u64 = text
            .parse()
            .map_err(|_| self.invalid(start, "integer out of range"))?;
        Ok(Token {
            tok: Tok::Integer(v),
            start,
            end: start + int_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_text("1ns"), Some(1));
        assert_eq!(parse_duration_text("3u"), Some(3_000));
        assert_eq!(parse_duration_text("3µ"), Some(3_000));
        assert_eq!(parse_duration_text("2ms"), Some(2_000_000));
        assert_eq!(parse_duration_text("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_text("1w1d"), Some(8 * 86_400_000_000_000));
        assert_eq!(
            parse_duration_text("9223372036854775807ns"),
            Some(i128::from(i64::MAX))
        );
        assert_eq!(
            parse_duration_text("9223372036854775808ns"),
            Some(MAX_DURATION)
        );
        for bad in [
            "",
            "1",
            "1x",
            "1us",
            "h",
            "1n",
            "99999999999w",
            "1h30",
            "9223372036854775809ns",
        ] {
            assert_eq!(parse_duration_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_and_positions() {
        let mut p = Parser::new("  SELECT\n\t\"a\\\"b\" <> 1.5e -- c\n/* d */ 'x'");
        assert!(p.next().unwrap().is_kw("select"));
        assert_eq!(p.next().unwrap().tok, Tok::QuotedIdent("a\"b".into()));
        assert!(p.next().unwrap().is_punct(Punct::NotEq));
        assert_eq!(p.next().unwrap().tok, Tok::Number(1.5));
        assert_eq!(p.next().unwrap().tok, Tok::Ident("e".into()));
        let t = p.next().unwrap();
        assert_eq!(t.tok, Tok::Str("x".into()));
        let e = p.error_at(t.start, ParseErrorKind::Invalid("x".into()));
        assert_eq!((e.line, e.column), (3, 9));
        assert_eq!(p.next().unwrap().tok, Tok::Eof);
    }
}
