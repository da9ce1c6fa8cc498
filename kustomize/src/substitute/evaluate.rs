//! The parse tree of a substituted text and its evaluation: variables, defaults, and drone's
//! string operators (case, substring, replace, trims).

use super::glob::Glob;
use super::{Error, Variables};
use crate::limits::MAX_SUBSTITUTED_BYTES;

/// A piece of parsed text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
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

/// Evaluates the nodes of one text with `vars`, keeping count of the bytes it produces.
pub(super) struct Evaluator<'v> {
    vars: &'v Variables,
    produced: usize,
}

impl<'v> Evaluator<'v> {
    pub(super) fn new(vars: &'v Variables) -> Self {
        Self { vars, produced: 0 }
    }

    /// The text `node` expands to. Errors as drone does (an unset variable without default),
    /// or with [`Error::Limit`] once the texts this evaluator has produced, intermediate ones
    /// included, add up to more than [`MAX_SUBSTITUTED_BYTES`].
    pub(super) fn evaluate(&mut self, node: &Node) -> Result<String, Error> {
        let text = match node {
            Node::Text(text) => text.clone(),
            Node::Func { param, op, args } => self.evaluate_func(param, op, args)?,
        };
        self.produced = self.produced.saturating_add(text.len());
        if self.produced > MAX_SUBSTITUTED_BYTES {
            return Err(too_large());
        }
        Ok(text)
    }

    /// Evaluates the arguments first (so an unset variable in an unused default still fails,
    /// as in drone), then the operator on the variable's value.
    fn evaluate_func(&mut self, param: &str, op: &str, args: &[Node]) -> Result<String, Error> {
        let args = args
            .iter()
            .map(|arg| self.evaluate(arg))
            .collect::<Result<Vec<_>, _>>()?;
        let value = match self.vars.get(param) {
            Some(value) => value.as_str(),
            None if DEFAULT_OPERATORS.contains(&op) => "",
            None => return Err(Error::VariableNotSet(param.to_string())),
        };
        apply(op, value, &args)
    }
}

/// The error of a substitution whose output passes [`MAX_SUBSTITUTED_BYTES`].
fn too_large() -> Error {
    Error::Limit(format!(
        "substitution produces more than {MAX_SUBSTITUTED_BYTES} bytes; refused by sluice_kustomize::limits::MAX_SUBSTITUTED_BYTES"
    ))
}

/// `value` with every `from` replaced by `to` (between every character when `from` is empty,
/// as Go's `strings.Replace` does), refused before it is built when longer than
/// [`MAX_SUBSTITUTED_BYTES`].
fn replace_all(value: &str, from: &str, to: &str) -> Result<String, Error> {
    let count = if from.is_empty() {
        value.chars().count() + 1
    } else {
        value.matches(from).count()
    };
    let length = (value.len() - count * from.len()).saturating_add(count.saturating_mul(to.len()));
    if length > MAX_SUBSTITUTED_BYTES {
        return Err(too_large());
    }
    Ok(value.replace(from, to))
}

/// drone/envsubst's `lookupFunc`: what each operator does with the value and its arguments.
fn apply(op: &str, value: &str, args: &[String]) -> Result<String, Error> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let text = match op {
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
        "//" => match arg(0) {
            Some(from) => replace_all(value, from, arg(1).unwrap_or(""))?,
            None => value.to_string(),
        },
        _ if value.is_empty() && !args.is_empty() => args.concat(),
        _ => value.to_string(),
    };
    Ok(text)
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
/// the value whole when nothing matches or the pattern is malformed. One pass over `value`
/// (see [`Glob::matching_prefixes`]).
fn trim_prefix(value: &str, pattern: Option<&str>, which: Match) -> String {
    let Some(glob) = pattern.and_then(Glob::parse) else {
        return value.to_string();
    };
    let chars: Vec<char> = value.chars().collect();
    let mut lengths = glob
        .matching_prefixes(&chars)
        .into_iter()
        .filter(|&n| n > 0);
    let matched = match which {
        Match::Longest => lengths.next_back(),
        Match::Shortest => lengths.next(),
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
