//! A small backtracking regex matcher for the places the translator must match names itself
//! (measurement regexes in FROM, tag-key regexes in GROUP BY and WITH KEY, field regexes in
//! the select list). Data values are matched by the engine's regex, not here. Supports the
//! RE2 subset such patterns use: literals, escapes (`\d \w \s \D \W \S \b`-free), `.`, classes
//! `[a-z]`/`[^..]`, anchors `^ $`, groups `( )`/`(?: )`, `|`, quantifiers `* + ? {m,n}` (lazy
//! forms match the same set), and a leading `(?i)`.

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<ClassItem>, bool),
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, u32, Option<u32>),
}

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    alts: Vec<Vec<Node>>,
    icase: bool,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("invalid regex /{}/: {what}", self.src)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alts(&mut self) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![self.seq()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.seq()?);
        }
        Ok(alts)
    }

    fn seq(&mut self) -> Result<Vec<Node>, String> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantifier(atom)?;
            seq.push(atom);
        }
        Ok(seq)
    }

    fn quantifier(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let close = self.chars[self.pos..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| self.err("unclosed {"))?;
                let body: String = self.chars[self.pos + 1..self.pos + close].iter().collect();
                let parse = |s: &str| s.trim().parse::<u32>().map_err(|_| self.err("bad {m,n}"));
                let (min, max) = match body.split_once(',') {
                    None => {
                        let n = parse(&body)?;
                        (n, Some(n))
                    }
                    Some((a, "")) => (parse(a)?, None),
                    Some((a, b)) => (parse(a)?, Some(parse(b)?)),
                };
                self.pos += close;
                (min, max)
            }
            _ => return Ok(atom),
        };
        self.pos += 1;
        if self.peek() == Some('?') {
            self.pos += 1;
        }
        Ok(Node::Repeat(Box::new(atom), min, max))
    }

    fn escape(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or_else(|| self.err("trailing backslash"))?;
        self.pos += 1;
        Ok(match c {
            'd' => Node::Class(vec![ClassItem::Digit(true)], false),
            'D' => Node::Class(vec![ClassItem::Digit(true)], true),
            'w' => Node::Class(vec![ClassItem::Word(true)], false),
            'W' => Node::Class(vec![ClassItem::Word(true)], true),
            's' => Node::Class(vec![ClassItem::Space(true)], false),
            'S' => Node::Class(vec![ClassItem::Space(true)], true),
            'n' => Node::Char('\n'),
            't' => Node::Char('\t'),
            'A' => Node::Start,
            'z' => Node::End,
            c if c.is_ascii_alphanumeric() => return Err(self.err(&format!("unsupported \\{c}"))),
            c => Node::Char(c),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let c = self.peek().ok_or_else(|| self.err("unclosed ["))?;
            self.pos += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = if c == '\\' {
                let e = self.peek().ok_or_else(|| self.err("trailing backslash"))?;
                self.pos += 1;
                match e {
                    'd' => {
                        items.push(ClassItem::Digit(true));
                        continue;
                    }
                    'w' => {
                        items.push(ClassItem::Word(true));
                        continue;
                    }
                    's' => {
                        items.push(ClassItem::Space(true));
                        continue;
                    }
                    'D' => {
                        items.push(ClassItem::Digit(false));
                        continue;
                    }
                    'W' => {
                        items.push(ClassItem::Word(false));
                        continue;
                    }
                    'S' => {
                        items.push(ClassItem::Space(false));
                        continue;
                    }
                    'n' => '\n',
                    't' => '\t',
                    e => e,
                }
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let mut hi = self.peek().ok_or_else(|| self.err("unclosed ["))?;
                self.pos += 1;
                if hi == '\\' {
                    hi = self.peek().ok_or_else(|| self.err("trailing backslash"))?;
                    self.pos += 1;
                }
                items.push(ClassItem::Range(lo, hi));
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Node::Class(items, negated))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or_else(|| self.err("unexpected end"))?;
        self.pos += 1;
        Ok(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '\\' => self.escape()?,
            '[' => self.class()?,
            '(' => {
                if self.peek() == Some('?') {
                    if self.chars.get(self.pos + 1) == Some(&':') {
                        self.pos += 2;
                    } else {
                        return Err(self.err("unsupported group flag"));
                    }
                }
                let alts = self.alts()?;
                if self.peek() != Some(')') {
                    return Err(self.err("unclosed ("));
                }
                self.pos += 1;
                Node::Group(alts)
            }
            '*' | '+' | '?' => return Err(self.err("missing argument to repetition operator")),
            c => Node::Char(c),
        })
    }
}

impl Regex {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let (body, icase) = match pattern.strip_prefix("(?i)") {
            Some(rest) => (rest, true),
            None => (pattern, false),
        };
        let mut p = Parser {
            chars: body.chars().collect(),
            pos: 0,
            src: pattern,
        };
        let alts = p.alts()?;
        if p.pos != p.chars.len() {
            return Err(p.err("unexpected )"));
        }
        Ok(Regex { alts, icase })
    }

    /// Whether the pattern matches anywhere in `s` (Go's `MatchString`).
    pub fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = if self.icase {
            s.chars().flat_map(char::to_lowercase).collect()
        } else {
            s.chars().collect()
        };
        (0..=chars.len()).any(|start| {
            let k = &mut |_: usize| true;
            self.alts
                .iter()
                .any(|seq| self.match_seq(seq, &chars, start, k))
        })
    }

    fn match_seq(
        &self,
        seq: &[Node],
        s: &[char],
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let Some((node, rest)) = seq.split_first() else {
            return k(pos);
        };
        self.match_node(node, s, pos, &mut |p| self.match_seq(rest, s, p, k))
    }

    fn match_node(
        &self,
        node: &Node,
        s: &[char],
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        match node {
            Node::Start => pos == 0 && k(pos),
            Node::End => pos == s.len() && k(pos),
            Node::Group(alts) => alts.iter().any(|seq| self.match_seq(seq, s, pos, k)),
            Node::Repeat(inner, min, max) => self.repeat(inner, *min, *max, s, pos, 0, k),
            single => match s.get(pos) {
                Some(&c) if self.single(single, c) => k(pos + 1),
                _ => false,
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        inner: &Node,
        min: u32,
        max: Option<u32>,
        s: &[char],
        pos: usize,
        count: u32,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        // Greedy: try one more repetition first, then the continuation.
        if max.is_none_or(|m| count < m)
            && self.match_node(inner, s, pos, &mut |p| {
                p != pos && self.repeat(inner, min, max, s, p, count + 1, k)
            })
        {
            return true;
        }
        count >= min && k(pos)
    }

    fn single(&self, node: &Node, c: char) -> bool {
        match node {
            Node::Char(x) => {
                if self.icase {
                    x.to_lowercase().eq(c.to_lowercase())
                } else {
                    *x == c
                }
            }
            Node::Any => c != '\n',
            Node::Class(items, negated) => {
                let hit = items.iter().any(|it| match it {
                    ClassItem::Range(lo, hi) => {
                        (*lo..=*hi).contains(&c)
                            || (self.icase && c.to_uppercase().any(|u| (*lo..=*hi).contains(&u)))
                    }
                    ClassItem::Digit(p) => c.is_ascii_digit() == *p,
                    ClassItem::Word(p) => (c.is_alphanumeric() || c == '_') == *p,
                    ClassItem::Space(p) => c.is_whitespace() == *p,
                });
                hit != *negated
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(p: &str, s: &str) -> bool {
        Regex::new(p).unwrap().is_match(s)
    }

    #[test]
    fn matches() {
        assert!(m("cpu", "mycpu1"));
        assert!(m("^cpu$", "cpu"));
        assert!(!m("^cpu$", "cpu1"));
        assert!(m("^(cpu|mem)$", "mem"));
        assert!(m("^c.*u$", "cpu"));
        assert!(m("^[a-c]+\\d{2}$", "abc12"));
        assert!(!m("^[a-c]+\\d{2}$", "abc1"));
        assert!(m("^[^x]+$", "abc"));
        assert!(m("(?i)^CPU", "cpu_total"));
        assert!(m("^$", ""));
        assert!(m("a?b*$", ""));
        assert!(m("^usage_(idle|user)$", "usage_user"));
        assert!(m("^a.+?z$", "abz"));
        assert!(Regex::new("(").is_err());
        assert!(Regex::new("*a").is_err());
    }
}
