//! `filterTags`: which tags a policy considers, and the value it compares for each, as Flux's
//! ImagePolicy `filterTags.pattern` and `filterTags.extract` (Go's `Regexp.ExpandString`).
//!
//! The pattern is searched anywhere in the tag (unanchored). The extract template uses the
//! `regex` crate's `Captures::expand`, whose syntax is Go's: `$1`, `${1}`, `$name`, `${name}`,
//! `$$` for a dollar, and an unbraced name is as long as possible (`$1x` names group `1x`).
//! One deliberate difference: where Go silently expands a reference to a group the pattern lacks
//! into nothing (so every tag would become the same empty value), it is refused here as an
//! invalid extract. Tags are ASCII in OCI registries, so Go RE2 and Rust `regex` agree on them.

use std::borrow::Cow;

use regex::{Captures, Regex};

use super::Error;

/// A compiled `filterTags`: [`TagFilter::apply`] maps a tag to the value the policy compares.
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    /// `None` when there is neither a pattern nor an extract: every tag is kept as is.
    regex: Option<Regex>,
    extract: String,
}

impl TagFilter {
    /// Compiles `pattern` (empty matches every tag) and checks that `extract` (empty keeps the
    /// whole tag) refers only to groups the pattern defines.
    ///
    /// Errors: [`Error::InvalidPattern`] when the pattern is not a valid regular expression,
    /// [`Error::InvalidExtract`] when the template names a group the pattern does not define.
    pub fn new(pattern: &str, extract: &str) -> Result<Self, Error> {
        if pattern.is_empty() && extract.is_empty() {
            return Ok(Self::default());
        }
        let regex = Regex::new(pattern).map_err(|error| Error::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: one_line(&error),
        })?;
        if let Some(group) = unknown_group(&regex, extract) {
            return Err(Error::InvalidExtract {
                extract: extract.to_owned(),
                reason: format!("the pattern '{pattern}' has no group '{group}'"),
            });
        }
        Ok(Self {
            regex: Some(regex),
            extract: extract.to_owned(),
        })
    }

    /// Returns the value the policy compares for `tag`: the tag itself, or the expanded extract
    /// template; `None` when the pattern does not match (the tag is dropped).
    pub fn apply<'t>(&self, tag: &'t str) -> Option<Cow<'t, str>> {
        let Some(regex) = &self.regex else {
            return Some(Cow::Borrowed(tag));
        };
        if self.extract.is_empty() {
            return regex.is_match(tag).then_some(Cow::Borrowed(tag));
        }
        let captures = regex.captures(tag)?;
        Some(Cow::Owned(expand(&captures, &self.extract)))
    }

    /// Whether the filter keeps every tag unchanged.
    pub fn is_identity(&self) -> bool {
        self.regex.is_none()
    }
}

fn expand(captures: &Captures<'_>, template: &str) -> String {
    let mut value = String::new();
    captures.expand(template, &mut value);
    value
}

/// The regex error's own message, on one line (the `regex` crate draws a caret under the pattern
/// over several lines).
fn one_line(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("");
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

/// The first group the template refers to that `regex` lacks, as written (`1`, `name`).
fn unknown_group<'t>(regex: &Regex, template: &'t str) -> Option<&'t str> {
    template_references(template).find(|group| match group.parse::<usize>() {
        Ok(index) => index >= regex.captures_len(),
        Err(_) => !regex.capture_names().flatten().any(|name| name == *group),
    })
}

/// The group references of an expand template, by the rules of `Captures::expand`: `$$` is a
/// dollar; `${...}` holds any name up to `}`; an unbraced name is the longest run of ASCII
/// letters, digits and `_`; a `$` that starts neither is a literal dollar.
fn template_references(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        loop {
            let dollar = rest.find('$')?;
            let after = &rest[dollar + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                rest = tail;
                continue;
            }
            if let Some(braced) = after.strip_prefix('{')
                && let Some(end) = braced.find('}')
            {
                rest = &braced[end + 1..];
                return Some(&braced[..end]);
            }
            let length = after
                .bytes()
                .take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
                .count();
            rest = &after[length..];
            if length > 0 {
                return Some(&after[..length]);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(filter: &TagFilter, tags: &[&str]) -> Vec<String> {
        tags.iter()
            .filter_map(|tag| filter.apply(tag))
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn no_pattern_keeps_every_tag() {
        let filter = TagFilter::new("", "").unwrap();
        assert!(filter.is_identity());
        assert_eq!(kept(&filter, &["a", "b"]), ["a", "b"]);
    }

    #[test]
    fn a_pattern_is_searched_unanchored() {
        // Flux's filter_test.go: "^ver" keeps the ver* tags; "ver" alone matches anywhere.
        let tags = ["ver1", "ver2", "ver3", "rel1", "a-ver"];
        assert_eq!(
            kept(&TagFilter::new("^ver", "").unwrap(), &tags),
            ["ver1", "ver2", "ver3"]
        );
        assert_eq!(kept(&TagFilter::new("ver", "").unwrap(), &tags).len(), 4);
    }

    #[test]
    fn extract_expands_numbered_and_named_groups() {
        let tags = ["ver1", "ver22", "rel1"];
        for extract in ["$1", "${1}"] {
            let filter = TagFilter::new(r"ver(\d+)", extract).unwrap();
            assert_eq!(kept(&filter, &tags), ["1", "22"]);
        }
        for extract in ["$num", "${num}"] {
            let filter = TagFilter::new(r"ver(?P<num>\d+)", extract).unwrap();
            assert_eq!(kept(&filter, &tags), ["1", "22"]);
        }
        let filter = TagFilter::new(r"^(?P<branch>\w+)-(?P<ts>\d+)$", "${ts}.$branch-$$").unwrap();
        assert_eq!(kept(&filter, &["main-17"]), ["17.main-$"]);
    }

    #[test]
    fn an_invalid_pattern_is_reported_on_one_line() {
        let error = TagFilter::new("ver(", "").unwrap_err();
        assert!(matches!(error, Error::InvalidPattern { .. }));
        let message = error.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("unclosed group"), "{message}");
    }

    #[test]
    fn extract_must_name_groups_of_the_pattern() {
        for extract in ["$2", "${name}", "$1x", "v$other", "${}"] {
            let error = TagFilter::new(r"ver(\d+)", extract).unwrap_err();
            assert!(
                matches!(error, Error::InvalidExtract { .. }),
                "{extract}: {error}"
            );
        }
        for extract in ["$0", "$$1", "literal", "$", "${1", "$-"] {
            assert!(TagFilter::new(r"ver(\d+)", extract).is_ok(), "{extract}");
        }
    }
}
