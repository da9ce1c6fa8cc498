//! Keeping Secret values out of what Sluice shows: conditions, Events, logs, commit statuses,
//! pull requests. A controller that read Secret values (postBuild `substituteFrom` Secrets, a
//! Provider's token) makes a [`Redactor`] of them and passes every message that may echo them
//! (an API server's refusal quotes the field values it refused) through
//! [`Redactor::redact`], as Flux masks Secret values in its messages.

/// What a Secret value is replaced with.
pub const REDACTED: &str = "*****";

/// The shortest value that is redacted, in characters (4): shorter values (`1`, `on`, `yes`)
/// are too common in any message for their replacement to hide anything but the message.
pub const MIN_REDACTED_CHARS: usize = 4;

/// The Secret values in play; replaces each of their occurrences in a message by
/// [`REDACTED`]. Its `Debug` shows how many values it holds, never the values.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The values and their JSON-escaped forms (an API server quotes values as JSON strings),
    /// longest first so that a value containing another is replaced whole.
    values: Vec<String>,
}

impl Redactor {
    /// A redactor of `values`; values shorter than [`MIN_REDACTED_CHARS`] characters (after
    /// trimming whitespace) are left out.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut redactor = Self::default();
        redactor.extend(values);
        redactor
    }

    /// Adds `values` (as [`Redactor::new`] takes them).
    pub fn extend<I, S>(&mut self, values: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for value in values {
            let value = value.as_ref();
            if value.trim().chars().count() < MIN_REDACTED_CHARS {
                continue;
            }
            let quoted = serde_json::to_string(value).unwrap_or_default();
            let escaped = quoted
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .map(str::to_owned);
            let forms = [
                Some(value.to_owned()),
                escaped,
                Some(value.trim().to_owned()),
            ];
            for form in forms.into_iter().flatten() {
                if !self.values.contains(&form) {
                    self.values.push(form);
                }
            }
        }
        self.values
            .sort_by_key(|value| std::cmp::Reverse(value.len()));
    }

    /// Whether no value is redacted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `message` with every occurrence of every value replaced by [`REDACTED`].
    pub fn redact(&self, message: &str) -> String {
        let mut redacted = message.to_owned();
        for value in &self.values {
            if redacted.contains(value.as_str()) {
                redacted = redacted.replace(value.as_str(), REDACTED);
            }
        }
        redacted
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_value_is_replaced() {
        let redactor = Redactor::new(["hunter22", "s3cr3t-token"]);
        assert_eq!(
            redactor.redact("a: hunter22, b: \"s3cr3t-token\", again hunter22"),
            "a: *****, b: \"*****\", again *****"
        );
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }

    #[test]
    fn short_values_are_not_redacted_and_longer_ones_win() {
        let redactor = Redactor::new(["on", "abc", "password", "password-2"]);
        assert_eq!(redactor.redact("on abc"), "on abc");
        assert_eq!(redactor.redact("password-2 password"), "***** *****");
        assert!(Redactor::new(["  x "]).is_empty());
    }

    #[test]
    fn json_escaped_and_trimmed_forms_are_redacted_too() {
        let redactor = Redactor::new(["line \"one\"\n", "token\n"]);
        let quoted = r#"Invalid value: "line \"one\"\n": must be"#;
        assert_eq!(
            redactor.redact(quoted),
            r#"Invalid value: "*****": must be"#
        );
        assert_eq!(redactor.redact("bearer token"), "bearer *****");
    }

    #[test]
    fn debug_never_shows_the_values() {
        let shown = format!("{:?}", Redactor::new(["hunter22"]));
        assert!(!shown.contains("hunter22"), "{shown}");
    }
}
