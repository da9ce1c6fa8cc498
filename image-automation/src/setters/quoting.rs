//! How a new value is written in place of a scalar: in the scalar's own quoting style, except that
//! a plain scalar whose new value would not read back as that string is double-quoted (Flux's
//! `FormatNonStringStyle`: YAML 1.1 non-strings such as `1.10`, `123`, `on` are quoted).

use std::sync::LazyLock;

use regex::Regex;
use saphyr::{Scalar, ScalarStyle, YamlData};

use super::document::load_documents;

/// YAML 1.1 plain scalars that are not strings, as go-yaml v2 (which kyaml uses for this check)
/// resolves them: booleans, nulls, integers (binary, octal, decimal, hexadecimal, and the
/// sexagesimal form of the YAML 1.1 spec), floats, infinities, NaN and timestamps.
static YAML_1_1_NON_STRING: LazyLock<Regex> = LazyLock::new(|| {
    let patterns = [
        r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
        r"~|null|Null|NULL",
        r"[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)",
        r"[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+",
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?",
        r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?",
    ];
    #[allow(clippy::expect_used)] // the patterns are constants covered by the tests below
    Regex::new(&format!("^(?:{})$", patterns.join("|"))).expect("YAML 1.1 patterns compile")
});

/// The source text for `value` written in `style`: `'…'` (doubling `'`), `"…"` (escaping `\`,
/// `"` and control characters), or plain when `value` reads back as the same string in YAML 1.1
/// and 1.2, double-quoted otherwise. Block styles are written double-quoted.
pub fn render_scalar(value: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::Plain if reads_back_as_plain_string(value) => value.to_owned(),
        _ => double_quoted(value),
    }
}

fn reads_back_as_plain_string(value: &str) -> bool {
    if value.is_empty() || YAML_1_1_NON_STRING.is_match(value) {
        return false;
    }
    let probe = format!("key: {value}\n");
    let Ok(documents) = load_documents(&probe) else {
        return false;
    };
    let read_back = documents.first().and_then(|document| match &document.data {
        YamlData::Mapping(mapping) => mapping.values().next().map(|node| node.data.clone()),
        _ => None,
    });
    match read_back {
        Some(YamlData::Representation(text, ScalarStyle::Plain, None)) => {
            text == value && matches!(Scalar::parse_from_cow(value.into()), Scalar::String(_))
        }
        _ => false,
    }
}

fn double_quoted(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            control if control.is_control() => {
                quoted.push_str(&format!("\\u{:04x}", u32::from(control)))
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_styles_are_kept() {
        assert_eq!(
            render_scalar("app:v1", ScalarStyle::SingleQuoted),
            "'app:v1'"
        );
        assert_eq!(render_scalar("it's", ScalarStyle::SingleQuoted), "'it''s'");
        assert_eq!(
            render_scalar("app:v1", ScalarStyle::DoubleQuoted),
            "\"app:v1\""
        );
        assert_eq!(
            render_scalar("a\"b\\c\n", ScalarStyle::DoubleQuoted),
            r#""a\"b\\c\n""#
        );
    }

    #[test]
    fn plain_strings_stay_plain() {
        for value in [
            "ghcr.io/org/app:1.2.3",
            "v1.0.1",
            "sha256:6745aaad",
            "index.repo.fake/updated",
            "1.2.3",
            "1.0-rc1",
        ] {
            assert_eq!(render_scalar(value, ScalarStyle::Plain), value);
        }
    }

    #[test]
    fn plain_values_that_would_not_read_back_as_strings_are_double_quoted() {
        for value in [
            "1.10",
            "123",
            "0777",
            "on",
            "2024-01-15",
            "yes",
            "null",
            "~",
            "1e3",
            "0x1F",
            "1:20",
            ".inf",
            "",
            "a #b",
            "- x",
            "a: b",
            "'x",
        ] {
            assert_eq!(
                render_scalar(value, ScalarStyle::Plain),
                double_quoted(value),
                "{value}"
            );
        }
    }
}
