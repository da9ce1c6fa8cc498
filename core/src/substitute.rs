//! Post-build variable substitution (`spec.postBuild`), as Flux's kustomize-controller runs it:
//! the bash-like `${var}` expansion of `fluxcd/pkg/envsubst` (a fork of `drone/envsubst`) in
//! strict mode (the `StrictPostBuildSubstitutions` default since Flux v1.9: a variable without a
//! default that is not set is an error), over each built object's YAML.
//!
//! Grammar, as that parser reads it (quirks included, since Flux users' manifests rely on them):
//! - `${var}`; `$var` without braces is left alone. `$${var}` writes `${var}` (outside `${...}`,
//!   `$$` writes `$`).
//! - defaults `${var:=word}`, `${var:-word}`, `${var=word}`, `${var:+word}`, `${var:?word}`: all
//!   give `word` when `var` is unset **or empty** (the fork does not tell them apart); `word`
//!   may hold nested `${...}`. `${var-word}` is not supported and fails ("missing closing brace").
//! - `${#var}` length in bytes, `${var^}`, `${var^^}`, `${var,}`, `${var,,}` case,
//!   `${var:pos}`, `${var:pos:len}` byte substring, `${var/a/b}`, `${var//a/b}`,
//!   `${var/#a/b}`, `${var/%a/b}` replace (`\/` and `\\` escape in the patterns),
//!   `${var#glob}`, `${var##glob}`, `${var%glob}`, `${var%%glob}` trims (`*` also matches `/`;
//!   the suffix forms match the reversed pattern against the reversed value, so bracket classes
//!   do not work there, as in Flux).
//!
//! Variable names must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`; values lose their newlines
//! (Flux strips them when loading variables). Objects labelled or annotated
//! `kustomize.sluice.dev/substitute: disabled` are left alone.
//!
//! Written here rather than taken from crates.io: `envsubst` (coreos) only knows `${VAR}` with no
//! defaults, `subst` uses `${VAR:default}` (not bash's `:=`/`:-`) and neither has strict mode,
//! `$$` escaping or drone's operator set. Substring and length work on bytes as Go does; a cut
//! inside a multi-byte character is written as U+FFFD where Go would write the raw bytes.

use std::collections::BTreeMap;

use serde_json::Value;

/// Label or annotation key that turns substitution off for one object (Flux's
/// `kustomize.toolkit.fluxcd.io/substitute`).
pub const SUBSTITUTE_KEY: &str = "kustomize.sluice.dev/substitute";

/// Value of [`SUBSTITUTE_KEY`] that turns substitution off.
pub const DISABLED: &str = "disabled";

/// Why substitution failed; the messages are Flux's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A variable name does not match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidVariableName(String),
    /// `${name}` (or a transformation of it) references a variable that is not set and has no
    /// default.
    #[error("variable not set (strict mode): {0:?}")]
    VariableNotSet(String),
    /// Malformed `${...}` expression.
    #[error("bad substitution")]
    BadSubstitution,
    /// `${name` followed by something that is not an operator nor `}`.
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    #[error("unable to parse variable name")]
    ParseVariableName,
    /// A function argument could not be read (e.g. unterminated default).
    #[error("unable to parse substitution within function")]
    ParseFuncSubstitution,
    /// A default operator could not be read.
    #[error("unable to parse default function")]
    ParseDefaultFunction,
    /// The object could not be written as YAML, or the substituted text is not valid YAML.
    #[error("YAML: {0}")]
    Yaml(String),
}

/// Variables by name.
pub type Variables = BTreeMap<String, String>;

/// Substitutes `vars` into one built object, as kustomize-controller does after `kustomize
/// build`: the object is written as YAML, expanded with [`expand`], and read back, so
/// `replicas: ${REPLICAS}` with `REPLICAS=3` becomes the number 3. Returns the object unchanged
/// when it is labelled or annotated [`SUBSTITUTE_KEY`]`: disabled` or when `vars` is empty.
/// Fails with [`Error::InvalidVariableName`], the errors of [`expand`], or [`Error::Yaml`].
pub fn substitute_resource(resource: &Value, vars: &Variables) -> Result<Value, Error> {
    if is_disabled(resource) || vars.is_empty() {
        return Ok(resource.clone());
    }
    let vars = loaded_variables(vars)?;
    let yaml = serde_yaml_ng::to_string(resource).map_err(|e| Error::Yaml(e.to_string()))?;
    let expanded = expand(&yaml, &vars)?;
    serde_yaml_ng::from_str(&expanded).map_err(|e| Error::Yaml(e.to_string()))
}

/// Substitutes `vars` into the text of one YAML document (as `flux envsubst` does per
/// document), unless the document is labelled or annotated [`SUBSTITUTE_KEY`]`: disabled`, in
/// which case it is returned as is. Text that does not parse as YAML is substituted. Fails with
/// [`Error::InvalidVariableName`] or the errors of [`expand`].
pub fn substitute_document(document: &str, vars: &Variables) -> Result<String, Error> {
    let parsed: Result<Value, _> = serde_yaml_ng::from_str(document);
    if parsed.is_ok_and(|value| is_disabled(&value)) {
        return Ok(document.to_string());
    }
    expand(document, &loaded_variables(vars)?)
}

/// Whether `resource` carries [`SUBSTITUTE_KEY`]`: disabled` as a label or an annotation.
pub fn is_disabled(resource: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|field| resource["metadata"][field][SUBSTITUTE_KEY].as_str() == Some(DISABLED))
}

/// Checks every name of `vars` and returns the variables with newlines removed from the values,
/// as Flux loads them; fails with [`Error::InvalidVariableName`].
fn loaded_variables(vars: &Variables) -> Result<Variables, Error> {
    vars.iter()
        .map(|(name, value)| {
            if is_valid_name(name) {
                Ok((name.clone(), value.replace('\n', "")))
            } else {
                Err(Error::InvalidVariableName(name.clone()))
            }
        })
        .collect()
}

/// `^[_[:alpha:]][_[:alpha:][:digit:]]*$` (ASCII classes, as in Go's regexp).
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Expands every `${...}` of `text` with `vars` in strict mode (see the module doc for the
/// grammar). Fails with [`Error::VariableNotSet`] naming the first unset variable without a
/// default, or with one of the syntax errors ([`Error::BadSubstitution`],
/// [`Error::MissingClosingBrace`], ...).
pub fn expand(text: &str, vars: &Variables) -> Result<String, Error> {
    let nodes = Parser::new(text).parse_all()?;
    let mut out = String::with_capacity(text.len());
    for node in &nodes {
        out.push_str(&evaluate(node, vars)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parse tree and evaluation.

/// A piece of parsed text.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Literal text.
    Text(String),
    /// `${param<op><args>}`.
    Func {
        param: String,
        op: String,
        args: Vec<Node>,
    },
}

/// Operators that take care of an unset variable themselves.
const DEFAULT_OPERATORS: [&str; 8] = ["-", "+", "=", "?", ":-", ":+", ":=", ":?"];

fn evaluate(node: &Node, vars: &Variables) -> Result<String, Error> {
    match node {
        Node::Text(text) => Ok(text.clone()),
        Node::Func { param, op, args } => evaluate_func(param, op, args, vars),
    }
}

/// Evaluates the arguments first (so an unset variable in an unused default still fails, as
/// in drone), then the operator on the variable's value.
fn evaluate_func(param: &str, op: &str, args: &[Node], vars: &Variables) -> Result<String, Error> {
    let args = args
        .iter()
        .map(|arg| evaluate(arg, vars))
        .collect::<Result<Vec<_>, _>>()?;
    let value = match vars.get(param) {
        Some(value) => value.as_str(),
        None if DEFAULT_OPERATORS.contains(&op) => "",
        None => return Err(Error::VariableNotSet(param.to_string())),
    };
    Ok(apply(op, value, &args))
}

/// drone/envsubst's `lookupFunc`: what each operator does with the value and its arguments.
fn apply(op: &str, value: &str, args: &[String]) -> String {
    let arg = |i: usize| args.get(i).map(String::as_str);
    match op {
        "," => map_first(value, |c| c.to_lowercase().collect()),
        ",," => value.to_lowercase(),
        "^" => map_first(value, |c| c.to_uppercase().collect()),
        "^^" => value.to_uppercase(),
        "#" if args.is_empty() => value.len().to_string(),
        "#" => trim_prefix(value, arg(0), Match::Shortest),
        "##" => trim_prefix(value, arg(0), Match::Longest),
        "%" => trim_suffix(value, arg(0), Match::Shortest),
        "%%" => trim_suffix(value, arg(0), Match::Longest),
        ":" => substring(value, arg(0), arg(1)),
        "/#" => match (arg(0), arg(1)) {
            (Some(from), Some(to)) if value.starts_with(from) => value.replacen(from, to, 1),
            _ => value.to_string(),
        },
        "/%" => match (arg(0), arg(1)) {
            (Some(from), Some(to)) => match value.strip_suffix(from) {
                Some(stem) => format!("{stem}{to}"),
                None => value.to_string(),
            },
            _ => value.to_string(),
        },
        "/" => arg(0).map_or(value.to_string(), |from| {
            value.replacen(from, arg(1).unwrap_or(""), 1)
        }),
        "//" => arg(0).map_or(value.to_string(), |from| {
            value.replace(from, arg(1).unwrap_or(""))
        }),
        _ if value.is_empty() && !args.is_empty() => args.concat(),
        _ => value.to_string(),
    }
}

fn map_first(value: &str, map: impl Fn(char) -> String) -> String {
    let mut chars = value.chars();
    chars
        .next()
        .map_or_else(String::new, |first| map(first) + chars.as_str())
}

/// `${var:pos}` / `${var:pos:len}` over bytes, as drone's `toSubstr`: a position or length that
/// is not an integer returns the value whole; negative positions count from the end, negative
/// lengths drop characters from the end.
fn substring(value: &str, pos: Option<&str>, len: Option<&str>) -> String {
    let bytes = value.as_bytes();
    let size = bytes.len() as i64;
    let Some(Ok(pos)) = pos.map(str::parse::<i64>) else {
        return value.to_string();
    };
    let start = if pos < 0 { (size + pos).max(0) } else { pos };
    let end = match len.map(str::parse::<i64>) {
        None => size,
        Some(Err(_)) => return value.to_string(),
        Some(Ok(len)) if len < 0 => size + len,
        Some(Ok(len)) => start.saturating_add(len).min(size),
    };
    if start >= size || end < start {
        return String::new();
    }
    String::from_utf8_lossy(&bytes[start as usize..end as usize]).into_owned()
}

#[derive(Clone, Copy, PartialEq)]
enum Match {
    Shortest,
    Longest,
}

/// Removes the shortest or longest non-empty prefix of `value` matching the glob `pattern`;
/// the value whole when nothing matches or the pattern is malformed.
fn trim_prefix(value: &str, pattern: Option<&str>, which: Match) -> String {
    let Some(glob) = pattern.and_then(Glob::parse) else {
        return value.to_string();
    };
    let chars: Vec<char> = value.chars().collect();
    let matches = |n: &usize| glob.matches(&chars[..*n]);
    let matched = match which {
        Match::Longest => (1..=chars.len()).rev().find(matches),
        Match::Shortest => (1..=chars.len()).find(matches),
    };
    matched.map_or_else(|| value.to_string(), |n| chars[n..].iter().collect())
}

/// The suffix variant of [`trim_prefix`], done as drone does: on the reversed value with the
/// reversed pattern.
fn trim_suffix(value: &str, pattern: Option<&str>, which: Match) -> String {
    let reversed_pattern = pattern.map(reverse);
    let trimmed = trim_prefix(&reverse(value), reversed_pattern.as_deref(), which);
    reverse(&trimmed)
}

fn reverse(text: &str) -> String {
    text.chars().rev().collect()
}

// ---------------------------------------------------------------------------------------------
// Glob patterns of the trim operators (Go's `path.Match` syntax, with `*` also matching `/`).

#[derive(Debug, Clone, PartialEq)]
enum GlobToken {
    AnySequence,
    AnyChar,
    Literal(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

struct Glob(Vec<GlobToken>);

impl Glob {
    /// Reads a pattern; `None` when malformed (unterminated class, dangling `\`, a class
    /// starting with `-` or `]`).
    fn parse(pattern: &str) -> Option<Self> {
        let mut chars = pattern.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => GlobToken::AnySequence,
                '?' => GlobToken::AnyChar,
                '\\' => GlobToken::Literal(chars.next()?),
                '[' => Self::class(&mut chars)?,
                other => GlobToken::Literal(other),
            });
        }
        Some(Self(tokens))
    }

    fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<GlobToken> {
        let negated = chars.next_if_eq(&'^').is_some();
        let mut ranges = Vec::new();
        loop {
            if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                return Some(GlobToken::Class { negated, ranges });
            }
            let low = Self::class_char(chars)?;
            let high = match chars.next_if_eq(&'-') {
                Some(_) => Self::class_char(chars)?,
                None => low,
            };
            ranges.push((low, high));
        }
    }

    fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
        match chars.next()? {
            '-' | ']' => None,
            '\\' => chars.next(),
            c => Some(c),
        }
    }

    fn matches(&self, text: &[char]) -> bool {
        Self::match_tokens(&self.0, text)
    }

    fn match_tokens(tokens: &[GlobToken], text: &[char]) -> bool {
        let Some((token, rest)) = tokens.split_first() else {
            return text.is_empty();
        };
        if *token == GlobToken::AnySequence {
            return (0..=text.len()).any(|skip| Self::match_tokens(rest, &text[skip..]));
        }
        let Some((&c, text_rest)) = text.split_first() else {
            return false;
        };
        let hit = match token {
            GlobToken::AnyChar => true,
            GlobToken::Literal(literal) => c == *literal,
            GlobToken::Class { negated, ranges } => {
                ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
            }
            GlobToken::AnySequence => false,
        };
        hit && Self::match_tokens(rest, text_rest)
    }
}

// ---------------------------------------------------------------------------------------------
// Scanner and parser, mirroring drone/envsubst's `parse` package step for step (its scanner
// modes and escape rules decide which texts are errors, so they are kept as they are).

type Accept = fn(char, usize) -> bool;

const SCAN_IDENT: u8 = 1;
const SCAN_LBRACK: u8 = 2;
const SCAN_RBRACK: u8 = 4;
const SCAN_ESCAPE: u8 = 8;
const ESCAPE_DOLLAR: u8 = 1;
const ESCAPE_BACKSLASH: u8 = 2;

#[derive(Debug, PartialEq)]
enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

struct Parser {
    buf: Vec<char>,
    pos: usize,
    start: usize,
    width: usize,
    mode: u8,
    escapes: u8,
    accept: Accept,
}

impl Parser {
    fn new(text: &str) -> Self {
        Self {
            buf: text.chars().collect(),
            pos: 0,
            start: 0,
            width: 0,
            mode: 0,
            escapes: ESCAPE_DOLLAR,
            accept: |_, _| true,
        }
    }

    // Scanner.

    fn read(&mut self) -> Option<char> {
        let c = self.buf.get(self.pos).copied();
        self.width = usize::from(c.is_some());
        self.pos += self.width;
        c
    }

    fn unread(&mut self) {
        self.pos -= self.width;
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.read();
        self.unread();
        c
    }

    /// Drops the character just read; the one after it counts as read (drone's `skip`).
    fn skip(&mut self) {
        self.buf.remove(self.pos - 1);
    }

    fn token_text(&self) -> String {
        self.buf[self.start..self.pos].iter().collect()
    }

    fn scan(&mut self) -> Token {
        self.start = self.pos;
        let Some(c) = self.read() else {
            return Token::Eof;
        };
        if self.scan_lbrack(c) {
            Token::Lbrack
        } else if self.scan_rbrack(c) {
            Token::Rbrack
        } else if self.scan_ident(c) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn scan_ident(&mut self, first: char) -> bool {
        if self.mode & SCAN_IDENT == 0 {
            return false;
        }
        if self.scan_escaped(first) {
            self.skip();
        } else if !(self.accept)(first, self.pos - self.start) {
            return false;
        }
        while let Some(c) = self.read() {
            if self.scan_lbrack(c) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(c) {
                self.skip();
                continue;
            }
            if !(self.accept)(c, self.pos - self.start) {
                self.unread();
                break;
            }
        }
        true
    }

    fn scan_lbrack(&mut self, c: char) -> bool {
        if self.mode & SCAN_LBRACK == 0 || c != '$' {
            return false;
        }
        if self.read() == Some('{') {
            return true;
        }
        self.unread();
        false
    }

    fn scan_rbrack(&self, c: char) -> bool {
        self.mode & SCAN_RBRACK != 0 && c == '}'
    }

    fn scan_escaped(&mut self, c: char) -> bool {
        if self.mode & SCAN_ESCAPE == 0 {
            return false;
        }
        match c {
            '$' if self.escapes & ESCAPE_DOLLAR != 0 => self.peek() == Some('$'),
            '\\' if self.escapes & ESCAPE_BACKSLASH != 0 => {
                matches!(self.peek(), Some('/' | '\\'))
            }
            _ => false,
        }
    }

    /// Scans one token with `accept` and `mode` and returns its text if it is an identifier.
    fn scan_ident_with(&mut self, accept: Accept, mode: u8) -> Option<String> {
        self.accept = accept;
        self.mode = mode;
        (self.scan() == Token::Ident).then(|| self.token_text())
    }

    // Parser.

    fn parse_all(mut self) -> Result<Vec<Node>, Error> {
        let mut nodes = Vec::new();
        loop {
            self.accept = |_, _| true;
            self.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
            self.escapes = ESCAPE_DOLLAR;
            match self.scan() {
                Token::Ident => nodes.push(Node::Text(self.token_text())),
                Token::Lbrack => nodes.push(self.parse_func()?),
                Token::Eof => return Ok(nodes),
                Token::Illegal | Token::Rbrack => return Err(Error::BadSubstitution),
            }
        }
    }

    fn parse_func(&mut self) -> Result<Node, Error> {
        self.escapes = ESCAPE_DOLLAR | ESCAPE_BACKSLASH;
        if self.peek() == Some('#') {
            return self.parse_len_func();
        }
        let param = self
            .scan_ident_with(accept_ident, SCAN_IDENT)
            .ok_or(Error::ParseVariableName)?;
        match self.peek() {
            Some(':') => return self.parse_default_or_substr(param),
            Some('=') => return self.parse_default_func(param),
            Some(',' | '^') => return self.parse_casing_func(param),
            Some('/') => return self.parse_replace_func(param),
            Some('#') => return self.parse_remove_func(param, |c, i| c == '#' && i < 3),
            Some('%') => return self.parse_remove_func(param, |c, i| c == '%' && i < 3),
            _ => {}
        }
        self.accept = accept_ident;
        self.mode = SCAN_RBRACK;
        match self.scan() {
            Token::Rbrack => Ok(func(param, String::new(), Vec::new())),
            _ => Err(Error::MissingClosingBrace),
        }
    }

    fn parse_param(&mut self, accept: Accept, mode: u8) -> Result<Node, Error> {
        self.accept = accept;
        self.mode = mode | SCAN_LBRACK;
        match self.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.token_text())),
            Token::Eof | Token::Illegal => Err(Error::ParseFuncSubstitution),
        }
    }

    fn parse_default_or_substr(&mut self, param: String) -> Result<Node, Error> {
        self.read();
        let next = self.peek();
        self.unread();
        match next {
            Some('=' | '-' | '?' | '+') => self.parse_default_func(param),
            _ => self.parse_substr_func(param),
        }
    }

    fn parse_substr_func(&mut self, param: String) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(|c, i| i == 1 && c == ':', SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let mut args = vec![self.parse_param(|c, _| c != ':' && c != '}', SCAN_IDENT)?];
        self.accept = |c, _| c == ':';
        self.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.scan() {
            Token::Rbrack => return Ok(func(param, op, args)),
            Token::Ident => {}
            _ => return Err(Error::BadSubstitution),
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_remove_func(&mut self, param: String, accept: Accept) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(accept, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let args = vec![self.parse_param(accept_not_closing, SCAN_IDENT)?];
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_replace_func(&mut self, param: String) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(accept_replace_op, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let pattern = if self.peek() == Some('/') {
            Node::Text(String::new())
        } else {
            self.parse_param(|c, _| c != '/', SCAN_IDENT | SCAN_ESCAPE)?
        };
        let mut args = vec![pattern];
        self.scan_ident_with(|c, _| c == '/', SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        if self.peek() != Some('}') {
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        }
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_default_func(&mut self, param: String) -> Result<Node, Error> {
        let accept: Accept = if self.peek() == Some('=') {
            |c, i| i == 1 && c == '='
        } else {
            accept_default_op
        };
        let op = self
            .scan_ident_with(accept, SCAN_IDENT)
            .ok_or(Error::ParseDefaultFunction)?;
        let mut args = Vec::new();
        while self.peek() != Some('}') {
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        }
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_casing_func(&mut self, param: String) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(|c, i| (c == ',' || c == '^') && i < 3, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(func(param, op, Vec::new()))
    }

    fn parse_len_func(&mut self) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(|c, i| c == '#' && i == 1, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let param = self
            .scan_ident_with(accept_ident, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(func(param, op, Vec::new()))
    }

    fn consume_rbrack(&mut self) -> Result<(), Error> {
        self.mode = SCAN_RBRACK;
        match self.scan() {
            Token::Rbrack => Ok(()),
            _ => Err(Error::BadSubstitution),
        }
    }
}

fn func(param: String, op: String, args: Vec<Node>) -> Node {
    Node::Func { param, op, args }
}

fn accept_ident(c: char, _: usize) -> bool {
    c.is_alphabetic() || c.is_numeric() || c == '_'
}

fn accept_not_closing(c: char, _: usize) -> bool {
    c != '}'
}

fn accept_default_op(c: char, i: usize) -> bool {
    (i == 1 && c == ':') || (i == 2 && matches!(c, '=' | '-' | '?' | '+'))
}

fn accept_replace_op(c: char, i: usize) -> bool {
    (i == 1 && c == '/') || (i == 2 && matches!(c, '/' | '#' | '%'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expanded(text: &str, pairs: &[(&str, &str)]) -> String {
        expand(text, &vars(pairs)).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn replaces_braced_variables_only() {
        let v = [("cluster", "prod"), ("region", "eu-1")];
        assert_eq!(
            expanded("name: app-${cluster}-${region}", &v),
            "name: app-prod-eu-1"
        );
        assert_eq!(expanded("plain $cluster text", &v), "plain $cluster text");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let v = [("empty", ""), ("set", "x")];
        assert_eq!(expanded("${missing:=a}", &v), "a");
        assert_eq!(expanded("${missing:-b}", &v), "b");
        assert_eq!(expanded("${missing=c}", &v), "c");
        assert_eq!(expanded("${empty:-d}", &v), "d");
        assert_eq!(expanded("${set:=e}", &v), "x");
        assert_eq!(expanded("${missing:=}", &v), "");
    }

    #[test]
    fn defaults_may_nest_variables() {
        let v = [("default_var", "foo1")];
        assert_eq!(
            expanded("foo: ${var=prefix${default_var}-suffix}", &v),
            "foo: prefixfoo1-suffix"
        );
        assert_eq!(expanded("${a:=${b:=deep}}", &[]), "deep");
    }

    #[test]
    fn strict_mode_names_the_missing_variable() {
        assert_eq!(
            expand("replicas: ${REPLICAS}", &vars(&[])),
            Err(Error::VariableNotSet("REPLICAS".into()))
        );
        for transformed in [
            "${#missing}",
            "${missing^^}",
            "${missing:0:2}",
            "${missing/a/b}",
            "${missing%.*}",
        ] {
            assert_eq!(
                expand(transformed, &vars(&[])),
                Err(Error::VariableNotSet("missing".into())),
                "{transformed}"
            );
        }
    }

    #[test]
    fn an_unset_variable_in_an_unused_default_still_fails() {
        assert_eq!(
            expand("${set:=${missing}}", &vars(&[("set", "x")])),
            Err(Error::VariableNotSet("missing".into()))
        );
    }

    #[test]
    fn double_dollar_escapes() {
        let v = [("var01", "abc")];
        assert_eq!(expanded("$${var01}", &v), "${var01}");
        assert_eq!(expanded("a$$b", &v), "a$b");
        assert_eq!(
            expanded("some text ${var01}$${var$${var01}$var01${var01}", &v),
            "some text abc${var${var01}$var01abc"
        );
        assert_eq!(expanded("$${x:=${var01}}", &v), "${x:=abc}");
    }

    #[test]
    fn syntax_errors_match_drone() {
        let none = vars(&[("a", "1")]);
        assert_eq!(expand("${a", &none), Err(Error::MissingClosingBrace));
        assert_eq!(
            expand("${a-default}", &none),
            Err(Error::MissingClosingBrace)
        );
        assert_eq!(expand("${}", &none), Err(Error::ParseVariableName));
        assert_eq!(expand("${ a}", &none), Err(Error::ParseVariableName));
        assert_eq!(
            expand("${a:=unterminated", &none),
            Err(Error::ParseFuncSubstitution)
        );
        assert_eq!(expand("${a/x}", &none), Err(Error::BadSubstitution));
    }

    #[test]
    fn string_operators_follow_drone() {
        let v = [
            ("s", "abcdEFGH28ij"),
            ("path_name", "/home/bozo/ideas/thoughts.for.today"),
            ("z", "abcABC123ABCabc"),
            ("f", "bash.string.txt"),
            ("p", "/path/to/file"),
        ];
        assert_eq!(expanded("${#s}", &v), "12");
        assert_eq!(
            expanded("${s^}|${s^^}|${s,}|${s,,}", &v),
            "AbcdEFGH28ij|ABCDEFGH28IJ|abcdEFGH28ij|abcdefgh28ij"
        );
        assert_eq!(expanded("${path_name:11}", &v), "ideas/thoughts.for.today");
        assert_eq!(expanded("${path_name:11:5}", &v), "ideas");
        assert_eq!(expanded("${s:-4}", &v), "abcdEFGH28ij");
        assert_eq!(expanded("${s:1:-1}", &v), "bcdEFGH28i");
        assert_eq!(
            expanded("${z/abc/xyz}|${z//abc/xyz}", &v),
            "xyzABC123ABCabc|xyzABC123ABCxyz"
        );
        assert_eq!(
            expanded("${z/#abc/XYZ}|${z/%abc/XYZ}", &v),
            "XYZABC123ABCabc|abcABC123ABCXYZ"
        );
        assert_eq!(
            expanded("${f#*.}|${f##*.}|${f%.*}|${f%%.*}", &v),
            "string.txt|txt|bash.string|bash"
        );
        assert_eq!(expanded("${p#*/}|${p##*/}", &v), "path/to/file|file");
        assert_eq!(expanded(r"${p//\//-}", &v), "-path-to-file");
    }

    #[test]
    fn substring_position_outside_the_value_is_empty() {
        let v = [("s", "abc")];
        assert_eq!(expanded("[${s:5}]", &v), "[]");
        assert_eq!(expanded("[${s:x}]", &v), "[abc]");
    }

    #[test]
    fn glob_classes_and_escapes() {
        let v = [("f", "v1.2.3-rc1")];
        assert_eq!(expanded("${f#[a-z]}", &v), "1.2.3-rc1");
        assert_eq!(expanded("${f%-rc?}", &v), "v1.2.3");
        // Suffix trims reverse the pattern, as drone does, which breaks bracket classes.
        assert_eq!(expanded("${f%-[a-z]*}", &v), "v1.2.3-rc1");
        assert_eq!(expanded("${f#[}", &v), "v1.2.3-rc1");
    }

    #[test]
    fn resource_substitution_restores_yaml_types() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app-${cluster}"},
            "spec": {"replicas": "${replicas}", "paused": "${paused:=false}"}
        });
        let out = substitute_resource(
            &deployment,
            &vars(&[("cluster", "prod"), ("replicas", "3")]),
        )
        .expect("substituted");
        assert_eq!(out["metadata"]["name"], "app-prod");
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["spec"]["paused"], false);
    }

    #[test]
    fn resource_values_lose_newlines() {
        let config = json!({"kind": "ConfigMap", "data": {"key": "${value}"}});
        let out = substitute_resource(&config, &vars(&[("value", "a\nb\n")])).expect("substituted");
        assert_eq!(out["data"]["key"], "ab");
    }

    #[test]
    fn disabled_resources_and_empty_variables_leave_objects_alone() {
        for field in ["labels", "annotations"] {
            let object = json!({
                "kind": "ConfigMap",
                "metadata": {"name": "x", field: {SUBSTITUTE_KEY: DISABLED}},
                "data": {"script": "echo ${HOME}"}
            });
            assert_eq!(
                substitute_resource(&object, &vars(&[("a", "1")])),
                Ok(object.clone())
            );
        }
        let object = json!({"kind": "ConfigMap", "data": {"script": "echo ${HOME}"}});
        assert_eq!(
            substitute_resource(&object, &Variables::new()),
            Ok(object.clone())
        );
        assert_eq!(
            substitute_resource(&object, &vars(&[("a", "1")])),
            Err(Error::VariableNotSet("HOME".into()))
        );
    }

    #[test]
    fn invalid_variable_names_are_rejected() {
        let object = json!({"kind": "ConfigMap"});
        for bad in ["1abc", "a-b", "", "a.b"] {
            assert_eq!(
                substitute_resource(&object, &vars(&[(bad, "x")])),
                Err(Error::InvalidVariableName(bad.into()))
            );
        }
        assert!(substitute_resource(&object, &vars(&[("_ok_1", "x"), ("OK", "y")])).is_ok());
    }

    #[test]
    fn document_substitution_respects_the_disable_annotation() {
        let disabled = format!(
            "kind: ConfigMap\nmetadata:\n  annotations:\n    {SUBSTITUTE_KEY}: disabled\ndata:\n  a: ${{x}}\n"
        );
        assert_eq!(
            substitute_document(&disabled, &vars(&[])),
            Ok(disabled.clone())
        );
        let enabled = "kind: ConfigMap\ndata:\n  a: ${x}\n";
        assert_eq!(
            substitute_document(enabled, &vars(&[("x", "1")])),
            Ok("kind: ConfigMap\ndata:\n  a: 1\n".to_string())
        );
    }
}
