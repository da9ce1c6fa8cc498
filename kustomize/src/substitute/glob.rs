//! Glob patterns of the trim operators (Go's `path.Match` syntax, with `*` also matching `/`).

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
    /// starting with `-` or `]`).
    pub(super) fn parse(pattern: &str) -> Option<Self> {
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

    pub(super) fn matches(&self, text: &[char]) -> bool {
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
