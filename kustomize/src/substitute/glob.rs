//! Glob patterns of the trim operators (Go's `path.Match` syntax, with `*` also matching `/`),
//! matched without backtracking.
//!
//! A trim needs every prefix of the value that the pattern matches (the shortest or the longest
//! non-empty one), so [`Glob::matching_prefixes`] runs the pattern as a Thompson automaton over
//! the value once: the set of pattern positions reachable after each character, one step per
//! (character, position), O(value × pattern) in all, whatever the pattern. The recursive matcher
//! it replaces tried every split of the value at every `*`, exponential in the stars:
//! `${V##*a*a*a*a*a*a*a*b}` over a long value never finished; drone/envsubst calls Go's
//! `path.Match` once per prefix, quadratic in the value.
//!
//! Written here because no crate fits: `glob-match` and `globset` treat `/` as a separator
//! (Go's `*` here crosses it, as drone's trims do), `wildmatch` has no bracket classes, and all
//! of them (and `regex`, to which `globset` compiles) answer whether one whole text matches, or
//! find leftmost-first matches; none gives the matching prefixes of one text in one pass
//! (regex-automata documents leftmost-longest as unsupported), so using them would mean one
//! match per prefix, quadratic again.

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

pub(super) struct Glob(Vec<GlobToken>);

impl Glob {
    /// Reads a pattern; `None` when malformed (unterminated class, dangling `\`, a class
    /// starting with `-` or `]`). Consecutive `*` are read as one (they match the same texts).
    pub(super) fn parse(pattern: &str) -> Option<Self> {
        let mut chars = pattern.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            if c == '*' && tokens.last() == Some(&GlobToken::AnySequence) {
                continue;
            }
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

    /// The lengths (in characters, ascending) of the prefixes of `text` that the pattern
    /// matches whole, the empty prefix included. One pass over `text`, stopping when no pattern
    /// position is reachable any more: at most `text.len() × (tokens + 1)` steps.
    pub(super) fn matching_prefixes(&self, text: &[char]) -> Vec<usize> {
        let tokens = &self.0;
        let end = tokens.len();
        // reached[i]: the first i tokens match the characters read so far.
        let mut reached = vec![false; end + 1];
        let mut next = vec![false; end + 1];
        reached[0] = true;
        self.close(&mut reached);
        let mut lengths = Vec::new();
        if reached[end] {
            lengths.push(0);
        }
        for (read, &c) in text.iter().enumerate() {
            next.fill(false);
            for (position, token) in tokens.iter().enumerate() {
                if !reached[position] {
                    continue;
                }
                match token {
                    GlobToken::AnySequence => next[position] = true,
                    token if token.accepts(c) => next[position + 1] = true,
                    _ => {}
                }
            }
            self.close(&mut next);
            std::mem::swap(&mut reached, &mut next);
            if reached[end] {
                lengths.push(read + 1);
            }
            if !reached.contains(&true) {
                break;
            }
        }
        lengths
    }

    /// Adds the positions reachable without reading: past a `*`, which may match nothing
    /// (consecutive stars are one token, so one step past each is enough).
    fn close(&self, reached: &mut [bool]) {
        for (position, token) in self.0.iter().enumerate() {
            if reached[position] && *token == GlobToken::AnySequence {
                reached[position + 1] = true;
            }
        }
    }
}

impl GlobToken {
    /// Whether this single-character token matches `c` (never for `*`).
    fn accepts(&self, c: char) -> bool {
        match self {
            GlobToken::AnyChar => true,
            GlobToken::Literal(literal) => c == *literal,
            GlobToken::Class { negated, ranges } => {
                ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
            }
            GlobToken::AnySequence => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn prefixes(pattern: &str, text: &str) -> Vec<usize> {
        let chars: Vec<char> = text.chars().collect();
        Glob::parse(pattern)
            .expect("valid pattern")
            .matching_prefixes(&chars)
    }

    #[test]
    fn finds_every_matching_prefix() {
        assert_eq!(prefixes("*.", "a.b.c"), vec![2, 4]);
        assert_eq!(prefixes("*", "ab"), vec![0, 1, 2]);
        assert_eq!(prefixes("", "ab"), vec![0]);
        assert_eq!(prefixes("a?c", "abcd"), vec![3]);
        assert_eq!(prefixes("[a-c]*[^x]", "bxyz"), vec![3, 4]);
        assert_eq!(prefixes("\\*/", "*/x*/"), vec![2]);
        assert_eq!(prefixes("**a***b", "aabb"), vec![3, 4]);
        assert_eq!(prefixes("*/", "é/ü/"), vec![2, 4]);
        assert!(prefixes("x", "abc").is_empty());
    }

    #[test]
    fn many_stars_over_a_long_value_stay_linear() {
        // Exponential for the backtracking matcher: every split of 10,000 characters at each
        // of seven stars. Here at most 10,000 × 16 steps (well under a millisecond); the bound
        // below is only a guard against a return to backtracking.
        let value = "a".repeat(10_000);
        let started = Instant::now();
        assert!(prefixes("*a*a*a*a*a*a*a*b", &value).is_empty());
        let mut with_b = value.clone();
        with_b.push('b');
        assert_eq!(prefixes("*a*a*a*a*a*a*a*b", &with_b), vec![10_001]);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
