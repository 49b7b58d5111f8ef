//! The `--where` language: text → [`Expr`], with errors that point at the column.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use super::expr::{CompareOp, Expr, Literal, Member, Path, Predicate, Target, Test};

/// The operators, as listed in messages.
const OPERATORS: &str = "= != =~ !~ contains < <= > >= in exists";

/// Words that mean something in the language wherever they stand as a bare word.
const STRUCTURAL_KEYWORDS: [&str; 6] = ["and", "or", "not", "in", "exists", "contains"];

const REGEX_NEEDS_QUOTES: &str =
    "quote a regex that contains parentheses, commas, quotes or spaces, as in '^(Get|List)'";

/// Deeper nesting of `(` and `not` than this is refused instead of exhausting the stack.
const MAX_NESTING: usize = 100;

/// Why an expression could not be parsed, and where (a 1-based column counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// 1-based, in characters (not bytes); one past the last character when the input ended too early.
    pub column: usize,
    pub input: String,
}

/// One line: `{message} at column {column}: {input up to the column} <-- HERE {rest}`.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep it one line and free of terminal control characters; one character stays one character.
        let chars: Vec<char> = self
            .input
            .chars()
            .map(|c| {
                if c.is_whitespace() {
                    ' '
                } else if c.is_control() {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
        let split = self.column.saturating_sub(1).min(chars.len());
        let before: String = chars[..split].iter().collect();
        let after: String = chars[split..].iter().collect();
        let (before, after) = (before.trim_end(), after.trim());
        write!(f, "{} at column {}: ", self.message, self.column)?;
        if !before.is_empty() {
            write!(f, "{before} ")?;
        }
        f.write_str("<-- HERE")?;
        if !after.is_empty() {
            write!(f, " {after}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Parses a filter expression (DESIGN §2). Every path becomes a [`Target::Record`].
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser { input, chars: input.chars().collect(), pos: 0, prev: None, nesting: 0 };
    parser.skip_ws();
    if parser.at_end() {
        return Err(parser.error(0, "empty expression"));
    }
    let expr = parser.parse_or()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(expr),
        Some(')') => Err(parser.error(parser.pos, "unbalanced parenthesis: this ')' has no matching '('")),
        Some(_) => Err(parser.unexpected("expected 'and', 'or' or the end of the expression")),
    }
}

/// Reads a comma-separated list of field paths, as `--columns` and `--count-by` take them: each path in
/// the syntax of `--where`, so that `requestParameters."x-amz-acl"` names the same field everywhere
/// (and a quoted name may hold a comma). Spaces around the commas are allowed.
pub fn parse_paths(input: &str) -> Result<Vec<Path>, ParseError> {
    let mut parser = Parser { input, chars: input.chars().collect(), pos: 0, prev: None, nesting: 0 };
    let mut paths = Vec::new();
    loop {
        parser.skip_ws();
        if matches!(parser.peek(), None | Some(',')) {
            return Err(parser.error(parser.pos, "empty column name"));
        }
        paths.push(parser.parse_path()?);
        let path_end = parser.pos;
        parser.skip_ws();
        match parser.peek() {
            None => return Ok(paths),
            Some(',') => parser.pos += 1,
            Some(c) if parser.pos == path_end && !ends_bare_word(c) => return Err(parser.odd_name_character(c)),
            Some(_) => return Err(parser.unexpected("expected ',' or the end of the list")),
        }
    }
}

/// A value as written: the text after unquoting, whether it was quoted, and its 0-based character index.
struct Value {
    text: String,
    quoted: bool,
    at: usize,
}

struct Parser<'a> {
    input: &'a str,
    chars: Vec<char>,
    pos: usize,
    /// The last keyword or punctuation consumed, for "expected … after '…'".
    prev: Option<&'static str>,
    nesting: usize,
}

fn is_keyword(lower: &str) -> bool {
    STRUCTURAL_KEYWORDS.contains(&lower) || matches!(lower, "true" | "false" | "null")
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '=' | '!' | '~' | '<' | '>')
}

fn ends_bare_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"' | '\'')
}

impl Parser<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError { message: message.into(), column: at + 1, input: self.input.to_owned() }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The end (exclusive) of the run of characters from `from` that satisfy `keep`.
    fn run_end(&self, from: usize, keep: impl Fn(char) -> bool) -> usize {
        let mut end = from;
        while end < self.chars.len() && keep(self.chars[end]) {
            end += 1;
        }
        end
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    /// The name-like word at the current position (empty if none).
    fn word(&self) -> String {
        self.text(self.pos, self.run_end(self.pos, is_name_char))
    }

    /// Consumes the keyword `kw` (any case) if it stands next, as a whole word.
    fn eat_keyword(&mut self, kw: &'static str) -> bool {
        self.skip_ws();
        if self.word().eq_ignore_ascii_case(kw) {
            self.pos += kw.len();
            self.prev = Some(kw);
            true
        } else {
            false
        }
    }

    /// "unexpected 'x': {expected}" at the current (non-end) position, quoting the word or character there.
    fn unexpected(&self, expected: &str) -> ParseError {
        let end = self.run_end(self.pos, |c| !ends_bare_word(c)).max(self.pos + 1);
        let shown: String = self.text(self.pos, end.min(self.chars.len())).chars().take(40).collect();
        self.error(self.pos, format!("unexpected '{shown}': {expected}"))
    }

    fn parse_or(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.parse_and()?];
        while self.eat_keyword("or") {
            parts.push(self.parse_and()?);
        }
        Ok(Expr::or(parts))
    }

    fn parse_and(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.parse_unary()?];
        while self.eat_keyword("and") {
            parts.push(self.parse_unary()?);
        }
        Ok(Expr::and(parts))
    }

    fn parse_unary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err(match self.prev {
                Some(prev) => self.error(self.pos, format!("expected an expression after '{prev}'")),
                None => self.error(self.pos, "empty expression"),
            });
        };
        let not = self.word().eq_ignore_ascii_case("not") && self.chars.get(self.pos + 3) != Some(&'.');
        if c == '(' || not {
            if self.nesting >= MAX_NESTING {
                return Err(
                    self.error(self.pos, format!("expression nested too deeply (more than {MAX_NESTING} levels)"))
                );
            }
            self.nesting += 1;
            let result = if c == '(' { self.parse_group() } else { self.parse_not() };
            self.nesting -= 1;
            return result;
        }
        match c {
            ')' if self.prev == Some("(") => Err(self.error(self.pos, "empty parentheses: expected an expression")),
            ')' if self.nesting == 0 => {
                Err(self.error(self.pos, "unbalanced parenthesis: this ')' has no matching '('"))
            }
            ')' => Err(self.error(self.pos, format!("expected an expression after '{}'", self.prev.unwrap_or("(")))),
            _ => self.parse_predicate(),
        }
    }

    fn parse_not(&mut self) -> Result<Expr, ParseError> {
        self.pos += "not".len();
        self.prev = Some("not");
        Ok(Expr::Not(Box::new(self.parse_unary()?)))
    }

    fn parse_group(&mut self) -> Result<Expr, ParseError> {
        let open = self.pos;
        self.pos += 1;
        self.prev = Some("(");
        let inner = self.parse_or()?;
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                self.prev = Some(")");
                Ok(inner)
            }
            None => {
                Err(self
                    .error(self.pos, format!("unbalanced parenthesis: missing ')' for the '(' of column {}", open + 1)))
            }
            Some(_) => Err(self.unexpected("expected 'and', 'or' or ')'")),
        }
    }

    fn parse_predicate(&mut self) -> Result<Expr, ParseError> {
        let path = self.parse_path()?;
        let path_end = self.pos;
        self.skip_ws();
        let expected_operator = || format!("expected an operator ({OPERATORS}) after {path}");
        let Some(c) = self.peek() else {
            return Err(self.error(self.pos, expected_operator()));
        };
        let test = if is_name_char(c) {
            let word = self.word();
            match word.to_ascii_lowercase().as_str() {
                "exists" => {
                    self.pos += word.chars().count();
                    self.prev = Some("exists");
                    Test::Exists
                }
                "contains" => {
                    self.pos += word.chars().count();
                    self.prev = Some("contains");
                    let value = self.parse_value("contains", &path)?;
                    Test::Contains(value.text)
                }
                "in" => {
                    self.pos += word.chars().count();
                    self.prev = Some("in");
                    Test::In(self.parse_list(&path)?)
                }
                _ => return Err(self.error(self.pos, expected_operator())),
            }
        } else if is_operator_char(c) {
            let start = self.pos;
            let end = self.run_end(start, is_operator_char);
            let op: &'static str = match self.text(start, end).as_str() {
                "=" => "=",
                "!=" => "!=",
                "=~" => "=~",
                "!~" => "!~",
                "<" => "<",
                "<=" => "<=",
                ">" => ">",
                ">=" => ">=",
                other => return Err(self.error(start, unknown_operator(other))),
            };
            self.pos = end;
            self.prev = Some(op);
            let value = self.parse_value(op, &path)?;
            match op {
                "=~" | "!~" if !value.quoted && self.peek() == Some('(') => {
                    return Err(self.error(value.at, REGEX_NEEDS_QUOTES));
                }
                "=~" | "!~" => match Regex::new(&value.text) {
                    Ok(regex) => Test::Regex { regex, negate: op == "!~" },
                    Err(e) => return Err(self.error(value.at, format!("invalid regex: {}", one_line_regex_error(&e)))),
                },
                _ => {
                    let op = match op {
                        "=" => CompareOp::Eq,
                        "!=" => CompareOp::Ne,
                        "<" => CompareOp::Lt,
                        "<=" => CompareOp::Le,
                        ">" => CompareOp::Gt,
                        _ => CompareOp::Ge,
                    };
                    Test::Compare(op, Self::literal(&value))
                }
            }
        } else if self.pos == path_end && !ends_bare_word(c) {
            return Err(self.odd_name_character(c));
        } else {
            return Err(self.error(self.pos, expected_operator()));
        };
        Ok(Expr::Pred(Predicate { target: Target::Record(path), test }))
    }

    /// A character right after a path that cannot be part of a bare name, such as the `-` of `x-amz-acl`.
    fn odd_name_character(&self, c: char) -> ParseError {
        self.error(
            self.pos,
            format!("unexpected '{c}' in a field name: quote names with other characters, as in requestParameters.\"x-amz-acl\""),
        )
    }

    /// `name ( "." name )*`, where a name is a run of letters, digits and `_`, or a double-quoted string.
    fn parse_path(&mut self) -> Result<Path, ParseError> {
        let mut segments = Vec::new();
        loop {
            let start = self.pos;
            match self.peek() {
                Some('"') => segments.push(self.parse_double_quoted()?),
                Some(c) if is_name_char(c) => {
                    let word = self.word();
                    if segments.is_empty() {
                        let lower = word.to_ascii_lowercase();
                        if is_keyword(&lower) {
                            return Err(self.error(
                                start,
                                format!(
                                    "expected a field path, found the keyword '{word}' (write \"{word}\" if it is a \
                                     field name)"
                                ),
                            ));
                        }
                    }
                    self.pos += word.chars().count();
                    segments.push(word);
                }
                _ if !segments.is_empty() => {
                    return Err(self.error(start, "expected a field name after '.'"));
                }
                Some('\'') => {
                    return Err(self.error(start, "expected a field path: quote field names with double quotes"));
                }
                Some(c) if is_operator_char(c) => {
                    return Err(self.error(start, format!("expected a field path before '{c}'")));
                }
                Some(c) => return Err(self.error(start, format!("expected a field path, found '{c}'"))),
                None => return Err(self.error(start, "expected a field path")),
            }
            if self.peek() == Some('.') {
                self.pos += 1;
            } else {
                return Ok(Path { segments });
            }
        }
    }

    /// The value after an operator (or in a list): a quoted string or a bare word.
    fn parse_value(&mut self, after: &str, path: &Path) -> Result<Value, ParseError> {
        self.skip_ws();
        let at = self.pos;
        match self.peek() {
            None => Err(self.error(at, format!("expected a value after '{after}'"))),
            Some('(') if matches!(after, "=~" | "!~") => Err(self.error(at, REGEX_NEEDS_QUOTES)),
            Some(c @ ('(' | ')' | ',')) => {
                Err(self.error(at, format!("expected a value after '{after}', found '{c}'")))
            }
            Some('"') => Ok(Value { text: self.parse_double_quoted()?, quoted: true, at }),
            Some('\'') => Ok(Value { text: self.parse_single_quoted()?, quoted: true, at }),
            Some(_) => {
                let end = self.run_end(at, |c| !ends_bare_word(c));
                let text = self.text(at, end);
                let lower = text.to_ascii_lowercase();
                if lower == "null" {
                    return Err(self.error(
                        at,
                        format!(
                            "null never matches: write `{path} exists` or `not {path} exists` (or \"null\" for the text)"
                        ),
                    ));
                }
                if STRUCTURAL_KEYWORDS.contains(&lower.as_str()) {
                    return Err(self.error(
                        at,
                        format!("expected a value after '{after}', found the keyword '{text}' (write \"{text}\" for the text)"),
                    ));
                }
                self.pos = end;
                Ok(Value { text, quoted: false, at })
            }
        }
    }

    /// What a value means where a literal is wanted (comparisons and list items).
    fn literal(value: &Value) -> Literal {
        let text = &value.text;
        if value.quoted {
            Literal::String(text.clone())
        } else if text.eq_ignore_ascii_case("true") {
            Literal::Bool(true)
        } else if text.eq_ignore_ascii_case("false") {
            Literal::Bool(false)
        } else if let Some(number) = json_number(text) {
            Literal::Number { value: number, text: text.clone() }
        } else {
            Literal::String(text.clone())
        }
    }

    /// `( value ( "," value )* )` after `in`.
    fn parse_list(&mut self, path: &Path) -> Result<Vec<Member>, ParseError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            let message = format!("expected '(' after 'in', as in {path} in (10.0.0.0/8, 203.0.113.5)");
            return Err(self.error(self.pos, message));
        }
        let open = self.pos;
        self.pos += 1;
        let mut members = Vec::new();
        let mut after = "(";
        loop {
            self.skip_ws();
            if members.is_empty() && self.peek() == Some(')') {
                return Err(self.error(self.pos, "empty list: 'in ( )' needs at least one value"));
            }
            let value = self.parse_value(after, path)?;
            members.push(self.member(&value)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    after = ",";
                }
                Some(')') => {
                    self.pos += 1;
                    self.prev = Some(")");
                    return Ok(members);
                }
                None => {
                    return Err(self.error(
                        self.pos,
                        format!("unbalanced parenthesis: missing ')' for the list opened in column {}", open + 1),
                    ))
                }
                Some(_) => return Err(self.unexpected("expected ',' or ')' after a value in the list")),
            }
        }
    }

    fn member(&self, value: &Value) -> Result<Member, ParseError> {
        let text = value.text.as_str();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Member::Network(net));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Member::Address(ip));
        }
        if looks_like_network(text) {
            return Err(self.error(value.at, format!("invalid IP network '{text}'")));
        }
        Ok(Member::Value(Self::literal(value)))
    }

    /// A `"…"` string with JSON-like escapes; the current character is the opening quote.
    fn parse_double_quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        let mut out = String::new();
        let mut i = open + 1;
        loop {
            let Some(&c) = self.chars.get(i) else {
                return Err(self.error(open, "unterminated string: missing the closing '\"'"));
            };
            match c {
                '"' => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let Some(&e) = self.chars.get(i + 1) else {
                        return Err(self.error(open, "unterminated string: missing the closing '\"'"));
                    };
                    i += 2;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        'u' => {
                            let (ch, next) = self.unicode_escape(i - 2)?;
                            out.push(ch);
                            i = next;
                        }
                        other => {
                            return Err(self.error(
                                i - 2,
                                format!(
                                    "unknown escape '\\{other}' in a double-quoted string (write \\\\ for a backslash, \
                                     or use single quotes, where backslashes stay as written)"
                                ),
                            ))
                        }
                    }
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }

    /// `\uXXXX` (with surrogate pairs) or `\u{X…}` starting at the backslash at `at`; returns the
    /// character and the index after the escape.
    fn unicode_escape(&self, at: usize) -> Result<(char, usize), ParseError> {
        let bad = |why: &str| self.error(at, format!("invalid \\u escape: {why}"));
        let hex4 = |from: usize| -> Option<u32> {
            let digits = self.chars.get(from..from + 4)?;
            if digits.iter().all(char::is_ascii_hexdigit) {
                u32::from_str_radix(&digits.iter().collect::<String>(), 16).ok()
            } else {
                None
            }
        };
        let start = at + 2;
        if self.chars.get(start) == Some(&'{') {
            let end = self.run_end(start + 1, |c| c.is_ascii_hexdigit());
            if self.chars.get(end) != Some(&'}') || end == start + 1 || end - start - 1 > 6 {
                return Err(bad("expected 1 to 6 hex digits in \\u{…}"));
            }
            let code = u32::from_str_radix(&self.text(start + 1, end), 16).map_err(|_| bad("not hexadecimal"))?;
            let ch = char::from_u32(code).ok_or_else(|| bad("not a Unicode scalar value"))?;
            return Ok((ch, end + 1));
        }
        let Some(code) = hex4(start) else {
            return Err(bad("expected 4 hex digits after \\u"));
        };
        match code {
            0xD800..=0xDBFF => {
                let low = (self.chars.get(start + 4) == Some(&'\\') && self.chars.get(start + 5) == Some(&'u'))
                    .then(|| hex4(start + 6))
                    .flatten()
                    .filter(|low| (0xDC00..=0xDFFF).contains(low));
                let Some(low) = low else {
                    return Err(bad("a high surrogate must be followed by a \\uDC00-\\uDFFF low surrogate"));
                };
                let code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                let ch = char::from_u32(code).ok_or_else(|| bad("not a Unicode scalar value"))?;
                Ok((ch, start + 10))
            }
            0xDC00..=0xDFFF => Err(bad("lone low surrogate")),
            _ => Ok((char::from_u32(code).ok_or_else(|| bad("not a Unicode scalar value"))?, start + 4)),
        }
    }

    /// A `'…'` string: `\'` and `\\` are escapes, any other backslash stays as written.
    fn parse_single_quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        let mut out = String::new();
        let mut i = open + 1;
        loop {
            match self.chars.get(i) {
                None => return Err(self.error(open, "unterminated string: missing the closing \"'\"")),
                Some('\'') => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some('\\') if matches!(self.chars.get(i + 1), Some('\'' | '\\')) => {
                    out.push(self.chars[i + 1]);
                    i += 2;
                }
                Some(&c) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }
}

/// The message for operator characters that are not an operator (`==`, `<>`…).
fn unknown_operator(op: &str) -> String {
    let instead = match op {
        "==" | "===" => Some("="),
        "!==" | "<>" | "=!" => Some("!="),
        "=<" => Some("<="),
        "=>" => Some(">="),
        "~" | "~=" | "==~" => Some("=~"),
        "!=~" | "~!" => Some("!~"),
        _ => None,
    };
    if let Some(instead) = instead {
        return format!("unknown operator '{op}': use '{instead}'");
    }
    if op == "!" {
        return "unknown operator '!': use '!=', or 'not' before the field to negate a test".to_owned();
    }
    let valid_prefix = ["!=", "=~", "!~", "<=", ">=", "=", "<", ">"].into_iter().find(|v| op.starts_with(v));
    match valid_prefix {
        Some(v) => format!(
            "unknown operator '{op}' (operators are {OPERATORS}); if the value starts with '{}', put a space after \
             '{v}' or quote the value",
            &op[v.len()..v.len() + 1]
        ),
        None => format!("unknown operator '{op}' (operators are {OPERATORS})"),
    }
}

/// The regex crate's (multi-line) error reduced to its one-line reason.
fn one_line_regex_error(error: &regex::Error) -> String {
    let text = error.to_string();
    if let Some(reason) = text.lines().rev().find_map(|line| line.trim_start().strip_prefix("error: ")) {
        return reason.trim().to_owned();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A JSON number (`-12`, `3.5`, `1e3`; no `+`, no leading zeros, no `inf`/`NaN`), as a finite f64.
fn json_number(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    let int_digits = digits(&mut i);
    if int_digits == 0 || (int_digits > 1 && b[int_start] == b'0') {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Text that was evidently meant as an IP network: a `/`, a `.` or `:`, a digit, and nothing but hex
/// digits, `.`, `:` and `/`.
fn looks_like_network(text: &str) -> bool {
    text.contains('/')
        && text.contains(['.', ':'])
        && text.contains(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/' | '-' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and prints back (expr.rs's Display), which shows the tree's shape.
    fn show(input: &str) -> String {
        match parse(input) {
            Ok(expr) => expr.to_string(),
            Err(e) => panic!("{input:?} failed: {e}"),
        }
    }

    fn pred(input: &str) -> Predicate {
        match parse(input) {
            Ok(Expr::Pred(p)) => p,
            other => panic!("{input:?} is not one predicate: {other:?}"),
        }
    }

    fn literal(input: &str) -> Literal {
        match pred(input).test {
            Test::Compare(_, literal) => literal,
            other => panic!("{input:?} is not a comparison: {other:?}"),
        }
    }

    fn members(input: &str) -> Vec<Member> {
        match pred(input).test {
            Test::In(members) => members,
            other => panic!("{input:?} is not a list: {other:?}"),
        }
    }

    /// The error's message, column and one-line Display.
    fn fail(input: &str) -> (String, usize, String) {
        match parse(input) {
            Ok(expr) => panic!("{input:?} parsed as {expr}"),
            Err(e) => {
                assert_eq!(e.input, input);
                (e.message.clone(), e.column, e.to_string())
            }
        }
    }

    fn path(segments: &[&str]) -> Target {
        Target::Record(Path::new(segments.iter().copied()))
    }

    #[test]
    fn every_operator() {
        let ops = [
            ("=", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ];
        for (text, op) in ops {
            for input in [format!("a {text} x"), format!("a{text}x")] {
                let p = pred(&input);
                assert_eq!(p.target, path(&["a"]));
                assert!(matches!(p.test, Test::Compare(o, Literal::String(ref s)) if o == op && s == "x"), "{input}");
            }
        }
        let p = pred("errorCode =~ \"AccessDenied|UnauthorizedOperation\"");
        assert!(
            matches!(&p.test, Test::Regex { regex, negate: false } if regex.as_str() == "AccessDenied|UnauthorizedOperation")
        );
        let p = pred("userAgent!~^aws-cli");
        assert!(matches!(&p.test, Test::Regex { regex, negate: true } if regex.as_str() == "^aws-cli"));
        assert!(matches!(pred("userAgent contains Boto3").test, Test::Contains(ref s) if s == "Boto3"));
        assert!(matches!(pred("userAgent CONTAINS 'a b'").test, Test::Contains(ref s) if s == "a b"));
        assert!(matches!(pred("a contains 1.50").test, Test::Contains(ref s) if s == "1.50"));
        assert!(matches!(pred("a contains TRUE").test, Test::Contains(ref s) if s == "TRUE"));
        assert!(matches!(pred("errorCode exists").test, Test::Exists));
        assert_eq!(members("a in (x)"), vec![Member::Value(Literal::String("x".into()))]);
        assert_eq!(show("eventName=ConsoleLogin"), "eventName = \"ConsoleLogin\"");
        assert_eq!(show("eventTime >= \"2024-07-22T00:00:00Z\""), "eventTime >= \"2024-07-22T00:00:00Z\"");
        assert_eq!(show("a=~'(?i)denied'"), "a =~ \"(?i)denied\"");
        assert_eq!(show("(a =~ ^x)"), "a =~ \"^x\"");
        assert_eq!(show("a =~ '\\d+'"), "a =~ \"\\\\d+\"");
    }

    #[test]
    fn precedence_and_flattening() {
        let e = parse("a = 1 or b = 2 and c = 3").unwrap();
        let Expr::Or(parts) = &e else { panic!("{e:?}") };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[0], Expr::Pred(_)));
        assert!(matches!(&parts[1], Expr::And(inner) if inner.len() == 2));
        assert_eq!(e.to_string(), "a = 1 or (b = 2 and c = 3)");

        let e = parse("not a exists and b exists").unwrap();
        let Expr::And(parts) = &e else { panic!("{e:?}") };
        assert!(matches!(&parts[0], Expr::Not(inner) if matches!(**inner, Expr::Pred(_))));
        assert!(matches!(&parts[1], Expr::Pred(_)));
        assert_eq!(e.to_string(), "not a exists and b exists");

        let e = parse("a exists and b exists and c exists").unwrap();
        assert!(matches!(&e, Expr::And(p) if p.len() == 3));
        let e = parse("a exists or b exists or c exists or d exists").unwrap();
        assert!(matches!(&e, Expr::Or(p) if p.len() == 4));
        assert_eq!(
            show("a exists and b exists or c exists and d exists"),
            "(a exists and b exists) or (c exists and d exists)"
        );
        assert_eq!(show("not not a exists"), "not not a exists");
    }

    #[test]
    fn parentheses() {
        assert_eq!(show("(a = 1 or b = 2) and c = 3"), "(a = 1 or b = 2) and c = 3");
        assert_eq!(show("((a exists))"), "a exists");
        assert_eq!(show("(a exists and b exists) and c exists"), "a exists and b exists and c exists");
        assert_eq!(show("not (a exists or b exists)"), "not (a exists or b exists)");
        assert_eq!(show("not(a exists)"), "not a exists");
        assert_eq!(show("(a=1)and(b=2)"), "a = 1 and b = 2");
        assert_eq!(show("  a exists  "), "a exists");
        assert_eq!(show("a\texists\nand\r\nb exists"), "a exists and b exists");
    }

    #[test]
    fn keywords_are_case_insensitive_paths_are_not() {
        assert_eq!(
            show("NOT a EXISTS AND b Exists OR c In (1) aNd d CONTAINS x"),
            show("not a exists and b exists or c in (1) and d contains x")
        );
        assert_eq!(literal("a = TRUE"), Literal::Bool(true));
        assert_eq!(literal("a = False"), Literal::Bool(false));
        assert_eq!(pred("ErrorCode exists").target, path(&["ErrorCode"]));
        assert_eq!(pred("errorCode exists").target, path(&["errorCode"]));
        // Words that merely start with a keyword are names.
        assert_eq!(pred("notes exists").target, path(&["notes"]));
        assert_eq!(pred("android = x").target, path(&["android"]));
        assert_eq!(pred("orders exists").target, path(&["orders"]));
        // After a dot a keyword is just a name.
        assert_eq!(pred("a.in.exists exists").target, path(&["a", "in", "exists"]));
    }

    #[test]
    fn values_are_typed() {
        assert_eq!(literal("a = -12"), Literal::Number { value: -12.0, text: "-12".into() });
        assert_eq!(literal("a = 3.5"), Literal::Number { value: 3.5, text: "3.5".into() });
        assert_eq!(literal("a = 1e3"), Literal::Number { value: 1000.0, text: "1e3".into() });
        assert_eq!(literal("a = 0"), Literal::Number { value: 0.0, text: "0".into() });
        assert_eq!(literal("a = 123456789012"), Literal::Number { value: 123456789012.0, text: "123456789012".into() });
        for s in ["012345678901", "+5", ".5", "5.", "1e", "inf", "NaN", "1e999", "0x10", "1.2.3", "-"] {
            assert_eq!(literal(&format!("a = {s}")), Literal::String(s.into()), "{s}");
        }
        assert_eq!(literal("a = \"12\""), Literal::String("12".into()));
        assert_eq!(literal("a = 'true'"), Literal::String("true".into()));
        assert_eq!(literal("a = \"null\""), Literal::String("null".into()));
        assert_eq!(literal("a = AccessDenied"), Literal::String("AccessDenied".into()));
        for word in ["ec2.amazonaws.com", "arn:aws:iam::123:role/x", "203.0.113.0/24", "2001:db8::/32", "a=b", "x!~y"] {
            assert_eq!(literal(&format!("a = {word}")), Literal::String(word.into()), "{word}");
        }
        assert_eq!(literal("userName = 山田太郎"), Literal::String("山田太郎".into()));
    }

    #[test]
    fn quoted_values_and_escapes() {
        assert_eq!(
            literal(r#"a = "say \"hi\"\\ \n\t\r\/ \u00e9 \u65e5 \ud83d\ude00 \u{1F600} \0""#),
            Literal::String("say \"hi\"\\ \n\t\r/ é 日 😀 😀 \0".into())
        );
        assert_eq!(literal(r"a = 'it\'s \\ \d \n'"), Literal::String(r"it's \ \d \n".into()));
        assert_eq!(literal("a = ''"), Literal::String(String::new()));
        assert_eq!(
            literal("a = \"with (parens), commas and 'quotes'\""),
            Literal::String("with (parens), commas and 'quotes'".into())
        );
        assert_eq!(literal("a='x y'"), Literal::String("x y".into()));
        assert_eq!(literal("a = \"and\""), Literal::String("and".into()));
    }

    #[test]
    fn quoted_path_segments() {
        assert_eq!(pred("requestParameters.\"x-amz-acl\" = private").target, path(&["requestParameters", "x-amz-acl"]));
        assert_eq!(pred("\"a b\".\"c.d\".e exists").target, path(&["a b", "c.d", "e"]));
        assert_eq!(pred("\"and\" = 1").target, path(&["and"]));
        assert_eq!(
            pred("userIdentity.sessionContext.sessionIssuer.userName = AdminRole").target,
            path(&["userIdentity", "sessionContext", "sessionIssuer", "userName"])
        );
        assert_eq!(pred("tlsDetails.tlsVersion=TLSv1.2").target, path(&["tlsDetails", "tlsVersion"]));
        assert_eq!(pred("日本.語 exists").target, path(&["日本", "語"]));
        assert_eq!(pred("resources.0.ARN exists").target, path(&["resources", "0", "ARN"]));
    }

    #[test]
    fn lists_of_paths() {
        let paths = |input: &str| -> Vec<Vec<String>> {
            parse_paths(input).unwrap_or_else(|e| panic!("{input:?}: {e}")).into_iter().map(|p| p.segments).collect()
        };
        assert_eq!(paths("user"), [vec!["user"]]);
        assert_eq!(
            paths(r#" eventName , requestParameters."x-amz-acl","a,b".c "#),
            [vec!["eventName"], vec!["requestParameters", "x-amz-acl"], vec!["a,b", "c"]]
        );
        let fail = |input: &str| parse_paths(input).unwrap_err().to_string();
        assert_eq!(fail("a,,b"), "empty column name at column 3: a, <-- HERE ,b");
        assert_eq!(fail("a,"), "empty column name at column 3: a, <-- HERE");
        assert_eq!(fail(""), "empty column name at column 1: <-- HERE");
        assert_eq!(fail("a..b"), "expected a field name after '.' at column 3: a. <-- HERE .b");
        assert!(fail("a.x-y").starts_with("unexpected '-' in a field name: quote names"), "{}", fail("a.x-y"));
        assert_eq!(fail("a b"), "unexpected 'b': expected ',' or the end of the list at column 3: a <-- HERE b");
        assert!(fail("in").starts_with("expected a field path, found the keyword 'in'"));
    }

    #[test]
    fn in_lists() {
        let net = |s: &str| Member::Network(s.parse().unwrap());
        let addr = |s: &str| Member::Address(s.parse().unwrap());
        assert_eq!(
            members(
                "sourceIPAddress in (203.0.113.0/24, 2001:db8::/32, \"10.0.0.0/8\", 203.0.113.5, ::1, '2001:db8::7')"
            ),
            vec![
                net("203.0.113.0/24"),
                net("2001:db8::/32"),
                net("10.0.0.0/8"),
                addr("203.0.113.5"),
                addr("::1"),
                addr("2001:db8::7")
            ]
        );
        assert_eq!(
            members("a IN(x,'y z' , 3,true , ec2.amazonaws.com)"),
            vec![
                Member::Value(Literal::String("x".into())),
                Member::Value(Literal::String("y z".into())),
                Member::Value(Literal::Number { value: 3.0, text: "3".into() }),
                Member::Value(Literal::Bool(true)),
                Member::Value(Literal::String("ec2.amazonaws.com".into())),
            ]
        );
        assert_eq!(
            show("sourceIPAddress in (203.0.113.0/24) or errorCode exists"),
            "sourceIPAddress in (203.0.113.0/24) or errorCode exists"
        );
        // Not networks: no digit or no dot/colon, or other characters.
        assert_eq!(members("a in (add/dead)"), vec![Member::Value(Literal::String("add/dead".into()))]);
        assert_eq!(members("a in (10.0.0.0/8x)"), vec![Member::Value(Literal::String("10.0.0.0/8x".into()))]);
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("", "empty expression", 1, "empty expression at column 1: <-- HERE"),
            ("   ", "empty expression", 1, "empty expression at column 1: <-- HERE"),
            ("errorCode = ", "expected a value after '='", 13, "expected a value after '=' at column 13: errorCode = <-- HERE"),
            ("errorCode =", "expected a value after '='", 12, "expected a value after '=' at column 12: errorCode = <-- HERE"),
            ("a contains", "expected a value after 'contains'", 11, "expected a value after 'contains' at column 11: a contains <-- HERE"),
            ("a = )", "expected a value after '=', found ')'", 5, "expected a value after '=', found ')' at column 5: a = <-- HERE )"),
            (
                "errorCode AccessDenied",
                "expected an operator (= != =~ !~ contains < <= > >= in exists) after errorCode",
                11,
                "expected an operator (= != =~ !~ contains < <= > >= in exists) after errorCode at column 11: errorCode <-- HERE AccessDenied",
            ),
            ("errorCode", "expected an operator (= != =~ !~ contains < <= > >= in exists) after errorCode", 10, "expected an operator (= != =~ !~ contains < <= > >= in exists) after errorCode at column 10: errorCode <-- HERE"),
            ("(a = 1", "unbalanced parenthesis: missing ')' for the '(' of column 1", 7, "unbalanced parenthesis: missing ')' for the '(' of column 1 at column 7: (a = 1 <-- HERE"),
            ("a = 1)", "unbalanced parenthesis: this ')' has no matching '('", 6, "unbalanced parenthesis: this ')' has no matching '(' at column 6: a = 1 <-- HERE )"),
            ("a exists and )", "unbalanced parenthesis: this ')' has no matching '('", 14, "unbalanced parenthesis: this ')' has no matching '(' at column 14: a exists and <-- HERE )"),
            ("()", "empty parentheses: expected an expression", 2, "empty parentheses: expected an expression at column 2: ( <-- HERE )"),
            ("a = \"abc", "unterminated string: missing the closing '\"'", 5, "unterminated string: missing the closing '\"' at column 5: a = <-- HERE \"abc"),
            ("a = 'abc\\'", "unterminated string: missing the closing \"'\"", 5, "unterminated string: missing the closing \"'\" at column 5: a = <-- HERE 'abc\\'"),
            ("\"a = 1", "unterminated string: missing the closing '\"'", 1, "unterminated string: missing the closing '\"' at column 1: <-- HERE \"a = 1"),
            ("a == 1", "unknown operator '==': use '='", 3, "unknown operator '==': use '=' at column 3: a <-- HERE == 1"),
            ("a <> 1", "unknown operator '<>': use '!='", 3, "unknown operator '<>': use '!=' at column 3: a <-- HERE <> 1"),
            ("a ~ x", "unknown operator '~': use '=~'", 3, "unknown operator '~': use '=~' at column 3: a <-- HERE ~ x"),
            ("a = 1 b", "unexpected 'b': expected 'and', 'or' or the end of the expression", 7, "unexpected 'b': expected 'and', 'or' or the end of the expression at column 7: a = 1 <-- HERE b"),
            ("(a = 1 b = 2)", "unexpected 'b': expected 'and', 'or' or ')'", 8, "unexpected 'b': expected 'and', 'or' or ')' at column 8: (a = 1 <-- HERE b = 2)"),
            ("and = 1", "expected a field path, found the keyword 'and' (write \"and\" if it is a field name)", 1, "expected a field path, found the keyword 'and' (write \"and\" if it is a field name) at column 1: <-- HERE and = 1"),
            ("a exists or EXISTS", "expected a field path, found the keyword 'EXISTS' (write \"EXISTS\" if it is a field name)", 13, "expected a field path, found the keyword 'EXISTS' (write \"EXISTS\" if it is a field name) at column 13: a exists or <-- HERE EXISTS"),
            ("not", "expected an expression after 'not'", 4, "expected an expression after 'not' at column 4: not <-- HERE"),
            ("a exists and not ", "expected an expression after 'not'", 18, "expected an expression after 'not' at column 18: a exists and not <-- HERE"),
            ("a exists and", "expected an expression after 'and'", 13, "expected an expression after 'and' at column 13: a exists and <-- HERE"),
            ("a exists or", "expected an expression after 'or'", 12, "expected an expression after 'or' at column 12: a exists or <-- HERE"),
            ("a = null", "null never matches: write `a exists` or `not a exists` (or \"null\" for the text)", 5, "null never matches: write `a exists` or `not a exists` (or \"null\" for the text) at column 5: a = <-- HERE null"),
            ("a in (x, NULL)", "null never matches: write `a exists` or `not a exists` (or \"null\" for the text)", 10, "null never matches: write `a exists` or `not a exists` (or \"null\" for the text) at column 10: a in (x, <-- HERE NULL)"),
            ("a = or b = 1", "expected a value after '=', found the keyword 'or' (write \"or\" for the text)", 5, "expected a value after '=', found the keyword 'or' (write \"or\" for the text) at column 5: a = <-- HERE or b = 1"),
            ("a =~ \"(x\"", "invalid regex: unclosed group", 6, "invalid regex: unclosed group at column 6: a =~ <-- HERE \"(x\""),
            ("a !~ [z-a]", "invalid regex: invalid character class range, the start must be <= the end", 6, "invalid regex: invalid character class range, the start must be <= the end at column 6: a !~ <-- HERE [z-a]"),
            ("a in (10.0.0.0/33)", "invalid IP network '10.0.0.0/33'", 7, "invalid IP network '10.0.0.0/33' at column 7: a in ( <-- HERE 10.0.0.0/33)"),
            ("a in (10.0.0.0/-1)", "invalid IP network '10.0.0.0/-1'", 7, "invalid IP network '10.0.0.0/-1' at column 7: a in ( <-- HERE 10.0.0.0/-1)"),
            ("a in (x, \"2001:db8::/129\")", "invalid IP network '2001:db8::/129'", 10, "invalid IP network '2001:db8::/129' at column 10: a in (x, <-- HERE \"2001:db8::/129\")"),
            ("a in ()", "empty list: 'in ( )' needs at least one value", 7, "empty list: 'in ( )' needs at least one value at column 7: a in ( <-- HERE )"),
            ("a in ( ", "expected a value after '('", 8, "expected a value after '(' at column 8: a in ( <-- HERE"),
            ("a in (1,)", "expected a value after ',', found ')'", 9, "expected a value after ',', found ')' at column 9: a in (1, <-- HERE )"),
            ("a in (1", "unbalanced parenthesis: missing ')' for the list opened in column 6", 8, "unbalanced parenthesis: missing ')' for the list opened in column 6 at column 8: a in (1 <-- HERE"),
            ("a in (1 2)", "unexpected '2': expected ',' or ')' after a value in the list", 9, "unexpected '2': expected ',' or ')' after a value in the list at column 9: a in (1 <-- HERE 2)"),
            ("a in 1", "expected '(' after 'in', as in a in (10.0.0.0/8, 203.0.113.5)", 6, "expected '(' after 'in', as in a in (10.0.0.0/8, 203.0.113.5) at column 6: a in <-- HERE 1"),
            ("a =~ (?i)x", REGEX_NEEDS_QUOTES, 6, "quote a regex that contains parentheses, commas, quotes or spaces, as in '^(Get|List)' at column 6: a =~ <-- HERE (?i)x"),
            ("a !~ ^(x|y)$", REGEX_NEEDS_QUOTES, 6, "quote a regex that contains parentheses, commas, quotes or spaces, as in '^(Get|List)' at column 6: a !~ <-- HERE ^(x|y)$"),
            ("a. = 1", "expected a field name after '.'", 3, "expected a field name after '.' at column 3: a. <-- HERE = 1"),
            ("x-amz = 1", "unexpected '-' in a field name: quote names with other characters, as in requestParameters.\"x-amz-acl\"", 2, "unexpected '-' in a field name: quote names with other characters, as in requestParameters.\"x-amz-acl\" at column 2: x <-- HERE -amz = 1"),
            ("= 1", "expected a field path before '='", 1, "expected a field path before '=' at column 1: <-- HERE = 1"),
            ("'a' = 1", "expected a field path: quote field names with double quotes", 1, "expected a field path: quote field names with double quotes at column 1: <-- HERE 'a' = 1"),
            ("a = \"\\d\"", "unknown escape '\\d' in a double-quoted string (write \\\\ for a backslash, or use single quotes, where backslashes stay as written)", 6, "unknown escape '\\d' in a double-quoted string (write \\\\ for a backslash, or use single quotes, where backslashes stay as written) at column 6: a = \" <-- HERE \\d\""),
            ("a = \"\\u12\"", "invalid \\u escape: expected 4 hex digits after \\u", 6, "invalid \\u escape: expected 4 hex digits after \\u at column 6: a = \" <-- HERE \\u12\""),
            ("a = \"\\ud800x\"", "invalid \\u escape: a high surrogate must be followed by a \\uDC00-\\uDFFF low surrogate", 6, "invalid \\u escape: a high surrogate must be followed by a \\uDC00-\\uDFFF low surrogate at column 6: a = \" <-- HERE \\ud800x\""),
        ];
        for &(input, message, column, display) in cases {
            let (m, c, d) = fail(input);
            assert_eq!((m.as_str(), c, d.as_str()), (message, column, display), "input {input:?}");
        }
    }

    #[test]
    fn columns_count_characters() {
        let (m, c, d) = fail("userName = 山田 and 日本 語");
        assert_eq!(m, "expected an operator (= != =~ !~ contains < <= > >= in exists) after 日本");
        assert_eq!(c, 22);
        assert!(d.ends_with("at column 22: userName = 山田 and 日本 <-- HERE 語"), "{d}");
        let (_, c, d) = fail("userName = \"山田");
        assert_eq!(c, 12);
        assert!(d.ends_with("userName = <-- HERE \"山田"), "{d}");
        let (_, c, _) = fail("(日本 = 語");
        assert_eq!(c, 8);
        let (_, c, d) = fail("a = 1\nb = 2");
        assert_eq!(c, 7);
        assert!(!d.contains('\n') && d.ends_with("a = 1 <-- HERE b = 2"), "{d}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}a exists{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(fail(&deep).0.starts_with("expression nested too deeply"));
        assert!(fail(&"not ".repeat(100_000)).0.starts_with("expression nested too deeply"));
        let fine = format!("{}a exists{}", "(".repeat(50), ")".repeat(50));
        assert_eq!(show(&fine), "a exists");
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "a = 1 or b = 2 and c = 3",
            "not (a exists or b.\"c d\" = 'x\\'y') and e in (10.0.0.0/8, \"v\", 3, false, ::1)",
            "a =~ '\\bx\\b' and b !~ \"\\u001b\" and c contains \"\\\"q\\\"\"",
            "a = \"line\\nbreak\\u0000\" and b >= 1.5e-3",
        ] {
            let once = show(input);
            assert_eq!(show(&once), once, "{input}");
        }
    }

    /// Random and truncated strings over the language's characters never panic, and every error
    /// points inside (or just past) the input and prints on one line.
    #[test]
    fn never_panics() {
        const PIECES: &[&str] = &[
            "a",
            "b.c",
            "\"x y\"",
            "'q'",
            "'",
            "\"",
            "\\",
            "\\u",
            "\\ud83d",
            "\\u{",
            "}",
            "=",
            "!=",
            "=~",
            "!~",
            "<",
            "<=",
            ">",
            ">=",
            "==",
            "!",
            "~",
            "contains",
            "in",
            "exists",
            "and",
            "or",
            "not",
            "AND",
            "Not",
            "(",
            ")",
            ",",
            ".",
            " ",
            "\t",
            "\n",
            "1",
            "-2.5e3",
            "true",
            "null",
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "1.2.3.4/99",
            "日本",
            "語",
            "[",
            "*",
            "+",
            "(?",
            "é",
            "\u{0}",
            "\u{1b}",
        ];
        let samples = [
            "a = 1 or b = 2 and c = 3",
            "not (userIdentity.\"x-y\" =~ '(?i)^a\\d' and b in (10.0.0.0/8, \"::1\", 3)) or c contains \"\\u65e5\"",
            "userName = \"山田\\n\" and 日本 exists",
        ];
        let check = |input: &str| match parse(input) {
            Ok(expr) => {
                let printed = expr.to_string();
                match parse(&printed) {
                    Ok(again) => assert_eq!(again.to_string(), printed, "{input:?}"),
                    Err(e) => panic!("{input:?} printed as {printed:?}, which does not parse: {e}"),
                }
            }
            Err(e) => {
                assert!(e.column >= 1 && e.column <= input.chars().count() + 1, "{input:?}: {e:?}");
                let line = e.to_string();
                assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
            }
        };
        for sample in samples {
            let chars: Vec<char> = sample.chars().collect();
            for end in 0..=chars.len() {
                check(&chars[..end].iter().collect::<String>());
                check(&chars[end..].iter().collect::<String>());
            }
        }
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let mut input = String::new();
            for _ in 0..len {
                input.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
                if next() % 3 == 0 {
                    input.push(' ');
                }
            }
            check(&input);
        }
    }
}
