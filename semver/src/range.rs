//! Semver ranges with the syntax and meaning of Go's Masterminds/semver v3 (v3.5), which Flux's
//! ImagePolicy uses; not Cargo's (the `semver` crate's `VersionReq` differs: no `||`, no space
//! AND, no hyphen ranges, other pre-release and `^0.x` rules). No Rust crate implements the
//! Masterminds semantics, so the grammar is written here; versions and their comparison come
//! from the `semver` crate.
//!
//! Grammar: alternatives joined by `||`; each is one or more comparisons separated by spaces or
//! commas (AND). A comparison is an operator (`=` or none, `!=`, `>`, `<`, `>=`, `=>`, `<=`,
//! `=<`, `~`, `~>`, `^`), optional spaces and a version `[v]X[.Y[.Z]][-pre][+build]` whose
//! numbers may be `x`, `X` or `*`; or a hyphen range `A - B` (spaces around `-` required) that
//! means `>= A, <= B`. A missing or wildcard part makes the comparison "dirty" and widens it as
//! Masterminds does: `1.2` and `1.2.x` mean `>=1.2.0 <1.3.0`, `~1` means `>=1.0.0 <2.0.0`,
//! `^0.2` means `>=0.2.0 <0.3.0`, `^0.x` means `>=0.0.0 <1.0.0`, `>1.2` means `>=1.3.0`,
//! `<=2.x` means `<3.0.0`. An empty range is invalid, as in Flux.
//!
//! Pre-releases: a version with a pre-release satisfies an alternative only when one of that
//! alternative's comparisons names a pre-release (`>=1.0.0-0 <2.0.0` admits `1.5.0-rc.1`, `>=1.0.0`
//! does not), as Masterminds v3.4+ does for AND groups.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

use crate::version::precedence;

/// The longest range accepted, in bytes (Masterminds' `MaxConstraintLen`).
pub const MAX_RANGE_LEN: usize = 512;
/// The most `||` alternatives accepted (Masterminds' `MaxConstraintGroups`).
pub const MAX_ALTERNATIVES: usize = 32;

/// Why a range is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    /// The range is longer than [`MAX_RANGE_LEN`].
    #[error("the range is {length} bytes long; at most {MAX_RANGE_LEN} are accepted")]
    TooLong {
        /// The range's length in bytes.
        length: usize,
    },
    /// The range has more than [`MAX_ALTERNATIVES`] alternatives.
    #[error(
        "the range has {count} alternatives joined by '||'; at most {MAX_ALTERNATIVES} are accepted"
    )]
    TooManyAlternatives {
        /// How many alternatives were found.
        count: usize,
    },
    /// An alternative does not follow the grammar.
    #[error("'{alternative}' is not a valid comparison: {problem} at byte {at}")]
    Syntax {
        /// The alternative (text between `||`) at fault, trimmed.
        alternative: String,
        /// What was expected or found.
        problem: &'static str,
        /// The byte offset of the problem within the untrimmed alternative.
        at: usize,
    },
}

/// A parsed range: [`SemverRange::matches`] tells whether a version satisfies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemverRange {
    text: String,
    alternatives: Vec<Alternative>,
}

/// Comparisons that must all hold (one `||` operand).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alternative {
    comparisons: Vec<Comparison>,
    /// Whether a comparison names a pre-release, which lets pre-release versions in.
    admits_prereleases: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    Tilde,
    Caret,
}

/// Which parts of a comparison's version were missing or wildcards (Masterminds' "dirty").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wildcard {
    /// `1.2.3`: every part given.
    None,
    /// `1.2`, `1.2.x`: the patch is open.
    Patch,
    /// `1`, `1.x`: minor and patch are open.
    Minor,
    /// `*`, `x`: the major is open too (Masterminds then only sets "dirty").
    Major,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparison {
    operator: Operator,
    /// The version with open parts set to 0; build metadata dropped.
    bound: Version,
    wildcard: Wildcard,
}

impl SemverRange {
    /// Parses `text` (see the module doc for the grammar).
    ///
    /// Errors: [`RangeError`] when the text is empty, too long, has too many alternatives, or
    /// any alternative is not a list of comparisons (e.g. `1.0.0p`, `1x`, `-1`, `a`, `>1<2`).
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        if text.len() > MAX_RANGE_LEN {
            return Err(RangeError::TooLong { length: text.len() });
        }
        let count = text.split("||").count();
        if count > MAX_ALTERNATIVES {
            return Err(RangeError::TooManyAlternatives { count });
        }
        let alternatives = text
            .split("||")
            .map(parse_alternative)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            alternatives,
        })
    }

    /// The range as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `version` satisfies the range: some alternative's comparisons all hold, and the
    /// version has no pre-release unless that alternative names one.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|alternative| alternative.matches(version))
    }
}

impl Alternative {
    fn matches(&self, version: &Version) -> bool {
        (version.pre.is_empty() || self.admits_prereleases)
            && self
                .comparisons
                .iter()
                .all(|comparison| comparison.matches(version))
    }
}

impl Comparison {
    /// Masterminds' per-operator rules (`constraintTildeOrEqual`, `constraintCaret`, ...).
    fn matches(&self, version: &Version) -> bool {
        let order = precedence(version, &self.bound);
        match self.operator {
            Operator::Equal if self.wildcard == Wildcard::None => order == Ordering::Equal,
            Operator::Equal | Operator::Tilde => self.tilde(version, order),
            Operator::NotEqual => self.not_equal(version, order),
            Operator::Greater => self.greater(version, order),
            Operator::Less => order == Ordering::Less,
            Operator::GreaterOrEqual => order != Ordering::Less,
            Operator::LessOrEqual => self.less_or_equal(version, order),
            Operator::Caret => self.caret(version, order),
        }
    }

    fn not_equal(&self, version: &Version, order: Ordering) -> bool {
        let bound = &self.bound;
        match self.wildcard {
            Wildcard::None | Wildcard::Major => order != Ordering::Equal,
            Wildcard::Minor => version.major != bound.major,
            Wildcard::Patch => {
                version.major != bound.major
                    || version.minor != bound.minor
                    || version.pre != bound.pre
            }
        }
    }

    fn greater(&self, version: &Version, order: Ordering) -> bool {
        let bound = &self.bound;
        match self.wildcard {
            Wildcard::None | Wildcard::Major => order == Ordering::Greater,
            Wildcard::Minor => version.major > bound.major,
            Wildcard::Patch => (version.major, version.minor) > (bound.major, bound.minor),
        }
    }

    fn less_or_equal(&self, version: &Version, order: Ordering) -> bool {
        let bound = &self.bound;
        match self.wildcard {
            Wildcard::None => order != Ordering::Greater,
            Wildcard::Minor => version.major <= bound.major,
            Wildcard::Patch | Wildcard::Major => {
                (version.major, version.minor) <= (bound.major, bound.minor)
            }
        }
    }

    fn tilde(&self, version: &Version, order: Ordering) -> bool {
        let bound = &self.bound;
        if order == Ordering::Less {
            return false;
        }
        let bound_is_zero = (bound.major, bound.minor, bound.patch) == (0, 0, 0);
        if bound_is_zero && matches!(self.wildcard, Wildcard::None | Wildcard::Major) {
            return true;
        }
        version.major == bound.major
            && (version.minor == bound.minor || self.wildcard == Wildcard::Minor)
    }

    fn caret(&self, version: &Version, order: Ordering) -> bool {
        let bound = &self.bound;
        if order == Ordering::Less {
            return false;
        }
        if bound.major > 0 || self.wildcard == Wildcard::Minor {
            return version.major == bound.major;
        }
        if version.major > 0 {
            return false;
        }
        if bound.minor > 0 || self.wildcard == Wildcard::Patch {
            return version.minor == bound.minor;
        }
        version.minor == 0 && version.patch == bound.patch
    }
}

/// Parses one `||` operand.
fn parse_alternative(text: &str) -> Result<Alternative, RangeError> {
    let mut cursor = Cursor { text, at: 0 };
    let mut comparisons = Vec::new();
    cursor.skip_spaces();
    loop {
        cursor.comparison_or_hyphen_range(&mut comparisons)?;
        let spaced = cursor.skip_spaces();
        if cursor.at_end() {
            break;
        }
        if cursor.eat(",") {
            cursor.skip_spaces();
        } else if !spaced {
            return Err(cursor.error("expected a space or a comma between comparisons"));
        }
    }
    let admits_prereleases = comparisons
        .iter()
        .any(|comparison| !comparison.bound.pre.is_empty());
    Ok(Alternative {
        comparisons,
        admits_prereleases,
    })
}

/// A position in one alternative's text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

/// A version as written in a range: parts may be missing or wildcards.
struct PartialVersion {
    parts: [Option<u64>; 3],
    wildcard: Wildcard,
    pre: Prerelease,
}

const OPERATORS: [(&str, Operator); 11] = [
    ("!=", Operator::NotEqual),
    (">=", Operator::GreaterOrEqual),
    ("=>", Operator::GreaterOrEqual),
    ("<=", Operator::LessOrEqual),
    ("=<", Operator::LessOrEqual),
    ("~>", Operator::Tilde),
    ("=", Operator::Equal),
    (">", Operator::Greater),
    ("<", Operator::Less),
    ("~", Operator::Tilde),
    ("^", Operator::Caret),
];

impl Cursor<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn at_end(&self) -> bool {
        self.at == self.text.len()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    /// Skips Go's `\s` characters; returns whether any were skipped.
    fn skip_spaces(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')) {
            self.at += 1;
        }
        self.at > start
    }

    /// Takes the longest run of bytes satisfying `accept`.
    fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &str {
        let start = self.at;
        while self.peek().is_some_and(&accept) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    fn error(&self, problem: &'static str) -> RangeError {
        RangeError::Syntax {
            alternative: self.text.trim().to_owned(),
            problem,
            at: self.at,
        }
    }

    /// Reads `[op] version` or `A - B`, appending one or two comparisons.
    fn comparison_or_hyphen_range(&mut self, into: &mut Vec<Comparison>) -> Result<(), RangeError> {
        let operator = self.operator();
        self.skip_spaces();
        let version = self.partial_version()?;
        if operator.is_none() && self.hyphen()? {
            let upper = self.partial_version()?;
            into.push(version.comparison(Operator::GreaterOrEqual));
            into.push(upper.comparison(Operator::LessOrEqual));
        } else {
            into.push(version.comparison(operator.unwrap_or(Operator::Equal)));
        }
        Ok(())
    }

    fn operator(&mut self) -> Option<Operator> {
        OPERATORS
            .iter()
            .find(|(token, _)| self.eat(token))
            .map(|(_, operator)| *operator)
    }

    /// Consumes ` - ` (spaces required on both sides) when it follows; leaves anything else.
    fn hyphen(&mut self) -> Result<bool, RangeError> {
        let start = self.at;
        if self.skip_spaces() && self.eat("-") {
            if self.skip_spaces() {
                return Ok(true);
            }
            return Err(self.error("expected a space after '-' in a hyphen range"));
        }
        self.at = start;
        Ok(false)
    }

    /// Reads `[v]X[.Y[.Z]][-pre][+build]`; numbers may be `x`, `X`, `*` and have leading zeros.
    fn partial_version(&mut self) -> Result<PartialVersion, RangeError> {
        self.eat("v");
        let mut parts = [None; 3];
        let mut wildcard = Wildcard::None;
        for (index, part) in parts.iter_mut().enumerate() {
            if index > 0 && !self.eat(".") {
                break;
            }
            *part = self.version_number()?;
            if part.is_none() && wildcard == Wildcard::None {
                wildcard = [Wildcard::Major, Wildcard::Minor, Wildcard::Patch][index];
            }
        }
        if parts[1].is_none() && wildcard == Wildcard::None {
            wildcard = Wildcard::Minor;
        } else if parts[2].is_none() && wildcard == Wildcard::None {
            wildcard = Wildcard::Patch;
        }
        let pre = self
            .identifiers('-', Prerelease::new)?
            .unwrap_or(Prerelease::EMPTY);
        self.identifiers('+', BuildMetadata::new)?;
        Ok(PartialVersion {
            parts,
            wildcard,
            pre,
        })
    }

    /// Reads a number, or a wildcard (`None`).
    fn version_number(&mut self) -> Result<Option<u64>, RangeError> {
        let start = self.at;
        let word = self.take_while(|byte| byte.is_ascii_digit() || b"xX*|".contains(&byte));
        match word {
            "" => Err(self.error("expected a version number")),
            "x" | "X" | "*" => Ok(None),
            digits if digits.bytes().all(|byte| byte.is_ascii_digit()) => digits
                .parse()
                .map(Some)
                .map_err(|_| self.error("version number too large")),
            _ => {
                self.at = start;
                Err(self.error("a version number is digits or one of 'x', 'X', '*'"))
            }
        }
    }

    /// Reads `marker` and dot-separated identifiers when `marker` is followed by one; returns
    /// `None` (consuming nothing) otherwise.
    fn identifiers<T>(
        &mut self,
        marker: char,
        parse: fn(&str) -> Result<T, semver::Error>,
    ) -> Result<Option<T>, RangeError> {
        let is_identifier = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.';
        let rest = self.rest().as_bytes();
        if rest.first() != Some(&(marker as u8)) || !rest.get(1).is_some_and(|&b| is_identifier(b))
        {
            return Ok(None);
        }
        self.at += 1;
        let start = self.at;
        let text = self.take_while(is_identifier);
        parse(text).map(Some).map_err(|_| {
            self.at = start;
            self.error("invalid pre-release or build identifiers")
        })
    }
}

impl PartialVersion {
    fn comparison(&self, operator: Operator) -> Comparison {
        let [major, minor, patch] = self.parts.map(|part| part.unwrap_or(0));
        let (major, minor, patch) = match self.wildcard {
            Wildcard::None => (major, minor, patch),
            Wildcard::Patch => (major, minor, 0),
            Wildcard::Minor => (major, 0, 0),
            Wildcard::Major => (0, 0, 0),
        };
        let mut bound = Version::new(major, minor, patch);
        bound.pre = self.pre.clone();
        Comparison {
            operator,
            bound,
            wildcard: self.wildcard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn check(range: &str, versions: &[(&str, bool)]) {
        let parsed = SemverRange::parse(range).unwrap_or_else(|error| panic!("{range}: {error}"));
        for (text, expected) in versions {
            assert_eq!(
                parsed.matches(&version(text)),
                *expected,
                "'{range}' against {text}"
            );
        }
    }

    /// Single comparisons, from Masterminds' `TestConstraintCheck` (versions written in full).
    #[test]
    fn single_comparisons_follow_masterminds() {
        let cases: &[(&str, &str, bool)] = &[
            ("=2.0.0", "1.2.3", false),
            ("=2.0.0", "2.0.0", true),
            ("=2.0", "1.2.3", false),
            ("=2.0", "2.0.0", true),
            ("=2.0", "2.0.1", true),
            ("4.1", "4.1.0", true),
            ("!=4.1.0", "4.1.0", false),
            ("!=4.1.0", "4.1.1", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1", "4.1.1", false),
            ("!=4.1", "5.1.0-alpha.1", false),
            ("!=4.1-alpha", "4.1.0", true),
            ("!=4.1", "5.1.0", true),
            ("<11", "0.1.0", true),
            ("<11", "11.1.0", false),
            ("<1.1", "0.1.0", true),
            ("<1.1", "1.1.0", false),
            ("<1.1", "1.1.1", false),
            ("<=11", "1.2.3", true),
            ("<=11", "12.2.3", false),
            ("<=11", "11.2.3", true),
            ("<=1.1", "1.2.3", false),
            ("<=1.1", "0.1.0", true),
            ("<=1.1", "1.1.0", true),
            ("<=1.1", "1.1.1", true),
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            (">0", "0.0.0", false),
            (">0", "1.0.0", true),
            (">0", "0.0.1-alpha", false),
            (">0.0", "0.0.1-alpha", false),
            (">0-0", "0.0.1-alpha", false),
            (">0.0-0", "0.0.1-alpha", false),
            (">0", "0.0.0-alpha", false),
            (">0-0", "0.0.0-alpha", false),
            (">0.0.0-0", "0.0.0-alpha", true),
            (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
            (">1.2.3-alpha.1", "1.3.3-alpha.2", true),
            (">11", "11.1.0", false),
            (">11.1", "11.1.0", false),
            (">11.1", "11.1.1", false),
            (">11.1", "11.2.1", true),
            (">=11", "11.1.2", true),
            (">=11.1", "11.1.2", true),
            (">=11.1", "11.0.2", false),
            (">=1.1", "4.1.0", true),
            (">=1.1", "1.1.0", true),
            (">=1.1", "0.0.9", false),
            (">=0", "0.0.1-alpha", false),
            (">=0.0", "0.0.1-alpha", false),
            (">=0-0", "0.0.1-alpha", true),
            (">=0.0-0", "0.0.1-alpha", true),
            (">=0", "0.0.0-alpha", false),
            (">=0-0", "0.0.0-alpha", true),
            (">=0.0.0-0", "0.0.0-alpha", true),
            (">=0.0.0-0", "1.2.3", true),
            (">=0.0.0-0", "3.4.5-beta.1", true),
            ("<0", "0.0.0-alpha", false),
            ("<0-z", "0.0.0-alpha", true),
            (">=0", "0.0.0", true),
            ("=0", "1.0.0", false),
            ("*", "1.0.0", true),
            ("*", "4.5.6", true),
            ("*", "1.2.3-alpha.1", false),
            ("*-0", "1.2.3-alpha.1", true),
            ("2.*", "1.0.0", false),
            ("2.*", "3.4.5", false),
            ("2.*", "2.1.1", true),
            ("2.1.*", "2.1.1", true),
            ("2.1.*", "2.2.1", false),
            ("2", "1.0.0", false),
            ("2", "3.4.5", false),
            ("2", "2.1.1", true),
            ("2.1", "2.1.1", true),
            ("2.1", "2.2.1", false),
            ("~1.2.3", "1.2.4", true),
            ("~1.2.3", "1.3.4", false),
            ("~1.2", "1.2.4", true),
            ("~1.2", "1.3.4", false),
            ("~1", "1.2.4", true),
            ("~1", "2.3.4", false),
            ("~0.2.3", "0.2.5", true),
            ("~0.2.3", "0.3.5", false),
            ("~1.2.3-beta.2", "1.2.3-beta.4", true),
            ("~1.2.3-beta.2", "1.2.4-beta.2", true),
            ("~1.2.3-beta.2", "1.3.4-beta.2", false),
            ("^1.2.3", "1.8.9", true),
            ("^1.2.3", "2.8.9", false),
            ("^1.2.3", "1.2.1", false),
            ("^1.1.0", "2.1.0", false),
            ("^1.2.0", "2.2.1", false),
            ("^1.2.0", "1.2.1-alpha.1", false),
            ("^1.2.0-alpha.0", "1.2.1-alpha.1", true),
            ("^1.2.0-alpha.0", "1.2.1-alpha.0", true),
            ("^1.2.0-alpha.2", "1.2.0-alpha.1", false),
            ("^1.2", "1.8.9", true),
            ("^1.2", "2.8.9", false),
            ("^1", "1.8.9", true),
            ("^1", "2.8.9", false),
            ("^0.2.3", "0.2.5", true),
            ("^0.2.3", "0.5.6", false),
            ("^0.2", "0.2.5", true),
            ("^0.2", "0.5.6", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.3", true),
            ("^0.0", "0.1.4", false),
            ("^0.0", "1.0.4", false),
            ("^0", "0.2.3", true),
            ("^0", "1.1.4", false),
            ("^0.2.3-beta.2", "0.2.3-beta.4", true),
            ("^0.2.3-beta.2", "0.2.4-beta.2", true),
            ("^0.2.3-beta.2", "0.3.4-beta.2", false),
            ("^0.2.3-beta.2", "0.2.3-beta.2", true),
        ];
        for (range, text, expected) in cases {
            check(range, &[(text, *expected)]);
        }
    }

    /// Whole ranges, from Masterminds' `TestConstraintsCheck` (versions written in full).
    #[test]
    fn ranges_follow_masterminds() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "1.2.3", true),
            ("~0.0.0", "1.2.3", true),
            ("0.x.x", "1.2.3", false),
            ("0.0.x", "1.2.3", false),
            ("0.0.0", "1.2.3", false),
            ("^0.0.0", "1.2.3", false),
            ("= 2.0", "1.2.3", false),
            ("= 2.0", "2.0.0", true),
            ("4.1.x", "4.1.3", true),
            ("1.x", "1.4.0", true),
            ("!=4.1-alpha", "4.1.0-alpha", false),
            ("!=4.1-alpha", "4.1.1-alpha", false),
            ("!=4.x", "5.1.0", true),
            ("!=4.x", "4.1.0", false),
            ("!=4.1.x", "4.2.0", true),
            ("!=4.2.x", "4.2.3", false),
            ("<1.x", "1.1.1", false),
            ("<1.x", "0.1.1", true),
            ("<1.x", "2.0.0", false),
            ("<1.1.x", "1.2.1", false),
            ("<1.1.x", "1.1.500", false),
            ("<1.1.x", "1.0.500", true),
            ("<1.2.x", "1.1.1", true),
            (">=1.1", "4.1.0-beta", false),
            ("<=1.1", "0.1.0-alpha", false),
            ("<=1.1-a", "0.1.0-alpha", true),
            ("<=1.x", "1.1.0", true),
            ("<=2.x", "3.0.0", false),
            ("<=1.1.x", "1.2.500", false),
            ("<=4.5", "3.4.0", true),
            ("<=4.5", "3.7.0", true),
            ("<=4.5", "4.6.3", false),
            (">1.1, <2", "1.1.1", false),
            (">1.1, <2", "1.2.1", true),
            (">1.1, <3", "4.3.2", false),
            (">=1.1, <2, !=1.2.3", "1.2.3", false),
            (">1.1 <2", "1.2.1", true),
            (">1.1    <3", "4.3.2", false),
            (">=1.1    <2    !=1.2.3", "1.2.3", false),
            (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
            (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", false),
            (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
            (">=1.1 <2 !=1.2.3 || > 3", "4.1.2", true),
            ("> 1.1, <     2", "1.1.1", false),
            (">   1.1, <2", "1.2.1", true),
            (">= 1.1, <2, != 1.2.3 || >= 3", "3.0.0", true),
            (">= 1.1 < 2 !=1.2.3 || > 3", "3.0.0", false),
            ("1.1 - 2", "1.1.1", true),
            ("1.5.0 - 4.5", "3.7.0", true),
            ("1.1-3", "4.3.2", false),
            ("^1.1", "1.1.1", true),
            ("^1.1", "4.3.2", false),
            ("^1.x", "1.1.1", true),
            ("^2.x", "1.1.1", false),
            ("^1.x", "2.1.1", false),
            ("^1.x", "1.1.1-beta1", false),
            ("^1.1.2-alpha", "1.2.1-beta1", true),
            ("^1.2.x-alpha", "1.1.1-beta1", false),
            ("^0.0.1", "0.0.1", true),
            ("^0.0.1", "0.3.1", false),
            ("~*", "2.1.1", true),
            ("~1", "2.1.1", false),
            ("~1", "1.3.5", true),
            ("~1", "1.4.0", true),
            ("~1.x", "2.1.1", false),
            ("~1.x", "1.3.5", true),
            ("~1.1", "1.1.1-alpha", false),
            ("~1.1-alpha", "1.1.1-beta", true),
            ("~1.1.1-beta", "1.1.1-alpha", false),
            ("~1.1.1-beta", "1.1.1", true),
            ("~1.2.3", "1.2.2", false),
            ("~1.3", "2.4.5", false),
            ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true),
            ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", true),
            ("v1.2.3", "1.2.3", true),
            ("=>1.2, =<1.3", "1.3.9", true),
            ("~>1.2", "1.2.7", true),
        ];
        for (range, text, expected) in cases {
            check(range, &[(text, *expected)]);
        }
    }

    /// One pre-release comparison lets pre-releases in for its whole AND group, not for the
    /// other `||` alternatives (Masterminds PR #267).
    #[test]
    fn a_prerelease_bound_opens_its_alternative_to_prereleases() {
        // 2.0.0-rc.1 precedes 2.0.0, so it is below the upper bound once pre-releases are in.
        check(
            ">=1.0.0-0 <2.0.0",
            &[("1.5.0-rc.1", true), ("2.0.0-rc.1", true), ("2.0.0", false)],
        );
        check(
            ">= 1.2.3 < 2.0.0-beta || > 3",
            &[
                ("1.5.0-alpha", true),
                ("2.0.0-alpha", true),
                ("4.0.0-alpha", false),
                ("4.0.0", true),
            ],
        );
        check(">=1.0.0", &[("1.5.0-rc.1", false)]);
    }

    /// Equivalences documented in Masterminds' README, checked over a grid of versions.
    #[test]
    fn documented_shorthands_mean_what_the_readme_says() {
        let pairs = [
            ("1.2 - 1.4.5", ">= 1.2, <= 1.4.5"),
            ("2.3.4 - 4.5", ">= 2.3.4, <= 4.5"),
            ("1.2.x", ">= 1.2.0, < 1.3.0"),
            (">= 1.2.x", ">= 1.2.0"),
            ("<= 2.x", "< 3"),
            ("*", ">= 0.0.0"),
            ("~1.2.3", ">= 1.2.3, < 1.3.0"),
            ("~1", ">= 1, < 2"),
            ("~2.3", ">= 2.3, < 2.4"),
            ("~1.2.x", ">= 1.2.0, < 1.3.0"),
            ("~1.x", ">= 1, < 2"),
            ("^1.2.3", ">= 1.2.3, < 2.0.0"),
            ("^1.2.x", ">= 1.2.0, < 2.0.0"),
            ("^2.3", ">= 2.3, < 3"),
            ("^2.x", ">= 2.0.0, < 3"),
            ("^0.2.3", ">=0.2.3 <0.3.0"),
            ("^0.2", ">=0.2.0 <0.3.0"),
            ("^0.0.3", ">=0.0.3 <0.0.4"),
            ("^0.0", ">=0.0.0 <0.1.0"),
            ("^0", ">=0.0.0 <1.0.0"),
            ("^0.x", ">=0.0.0 <1.0.0"),
            (">1.2", ">=1.3.0"),
            ("v1.x || v3.1", "1.x || 3.1.x"),
        ];
        let grid: Vec<Version> = (0..4)
            .flat_map(|major| {
                (0..6).flat_map(move |minor| (0..6).map(move |patch| (major, minor, patch)))
            })
            .map(|(major, minor, patch)| Version::new(major, minor, patch))
            .chain(["1.2.3-rc.1", "0.2.4-beta"].map(version))
            .collect();
        for (short, long) in pairs {
            let (short_range, long_range) = (
                SemverRange::parse(short).unwrap(),
                SemverRange::parse(long).unwrap(),
            );
            for version in &grid {
                assert_eq!(
                    short_range.matches(version),
                    long_range.matches(version),
                    "'{short}' and '{long}' disagree on {version}"
                );
            }
        }
    }

    /// Valid and invalid ranges from Flux's `TestNewSemVer` and Masterminds' `TestNewConstraint`,
    /// with the number of alternatives and of comparisons in the first one.
    #[test]
    fn ranges_parse_as_masterminds_and_flux_expect() {
        let valid = [
            ("1.0.x", 1, 1),
            ("^1.0", 1, 1),
            ("=1.0.0", 1, 1),
            ("~1.0", 1, 1),
            (">=1.0", 1, 1),
            (">0,<2.0", 1, 2),
            (">= 1.1", 1, 1),
            (">40.50.60, < 50.70", 1, 2),
            ("2.0", 1, 1),
            ("v2.3.5-20161202202307-sha.e8fc5e5", 1, 1),
            (">= 1.2.3 < 2.0", 1, 2),
            (">= 1.2.3 < 2.0 || => 3.0 < 4", 2, 2),
            (">= 1.2.3, < 2.0 || => 3.0, < 4", 2, 2),
            ("3 - 4 || => 3.0, < 4", 2, 2),
            ("12.3.34 ~1.2.3", 1, 2),
            ("1.0.0 - 2.0.0, <=2.0.0", 1, 3),
            ("1.2.3+build.7", 1, 1),
            (">=01.2", 1, 1),
        ];
        for (text, alternatives, comparisons) in valid {
            let range = SemverRange::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(range.alternatives.len(), alternatives, "{text}");
            assert_eq!(
                range.alternatives[0].comparisons.len(),
                comparisons,
                "{text}"
            );
            assert_eq!(range.as_str(), text);
        }
        let invalid = [
            "1.0.0p",
            "1x",
            "x1",
            "-1",
            "a",
            "",
            " ",
            ">= bar",
            "BAR >= 1.2.3",
            "12.3.4.1234",
            "12.23.4.1234",
            "12.3.34.1234",
            "12.3.34~ 1.2.3",
            ">1<2",
            "1.2,",
            ",1.2",
            "1 || ",
            "1 -2",
            "1 - ",
            ">1 - 2",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3+",
            "V1.2",
            "99999999999999999999999",
            "> = 1",
            "1.2.3 - 2 - 3",
        ];
        for text in invalid {
            assert!(
                SemverRange::parse(text).is_err(),
                "'{text}' should be invalid"
            );
        }
    }

    #[test]
    fn oversized_ranges_are_refused() {
        let long = format!(">={}", "1".repeat(MAX_RANGE_LEN));
        assert_eq!(
            SemverRange::parse(&long),
            Err(RangeError::TooLong {
                length: MAX_RANGE_LEN + 2
            })
        );
        let many = vec!["1"; MAX_ALTERNATIVES + 1].join("||");
        assert_eq!(
            SemverRange::parse(&many),
            Err(RangeError::TooManyAlternatives {
                count: MAX_ALTERNATIVES + 1
            })
        );
        assert!(SemverRange::parse(&vec!["1"; MAX_ALTERNATIVES].join("||")).is_ok());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let error = SemverRange::parse(">=1.0 || 1.0.0p").unwrap_err();
        assert_eq!(
            error.to_string(),
            "'1.0.0p' is not a valid comparison: expected a space or a comma between comparisons at byte 6"
        );
    }
}
