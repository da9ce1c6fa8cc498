//! What a plain (unquoted) YAML scalar means to go-yaml: its `resolve` function, in the v3
//! flavour kustomize reads resources with (only `true`/`false` are booleans) and the v2 flavour
//! it prints them with (YAML 1.1: `yes`, `on`, `n` are booleans too, and base-60 floats exist).

use std::sync::OnceLock;

use regex::Regex;

/// Which go-yaml's rules to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// go-yaml v3 (kyaml's reader): YAML 1.2 booleans.
    V3,
    /// go-yaml v2 (kustomize's printer): YAML 1.1 booleans and base-60 floats.
    V2,
}

/// What a plain scalar resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    /// An integer literal: its sign and magnitude (within i64 or u64).
    Int {
        negative: bool,
        magnitude: u64,
    },
    Float(f64),
    /// A timestamp: go-yaml v3 keeps it as its text, v2 quotes it when printing.
    Timestamp,
    /// A YAML 1.1 base-60 float (`12:30`), which go-yaml v2 quotes when printing.
    Base60,
    /// The merge key `<<`.
    Merge,
    Str,
}

const NULL_WORDS: &[&str] = &["", "~", "null", "Null", "NULL"];
const TRUE_WORDS: &[&str] = &["true", "True", "TRUE"];
const FALSE_WORDS: &[&str] = &["false", "False", "FALSE"];
const YAML11_TRUE_WORDS: &[&str] = &["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"];
const YAML11_FALSE_WORDS: &[&str] = &["n", "N", "no", "No", "NO", "off", "Off", "OFF"];

/// Resolves the plain scalar `text` as go-yaml's `resolve` does (no explicit tag).
pub fn resolve(text: &str, flavour: Flavour) -> Resolved {
    let yaml11 = flavour == Flavour::V2;
    if NULL_WORDS.contains(&text) {
        return Resolved::Null;
    }
    if TRUE_WORDS.contains(&text) || yaml11 && YAML11_TRUE_WORDS.contains(&text) {
        return Resolved::Bool(true);
    }
    if FALSE_WORDS.contains(&text) || yaml11 && YAML11_FALSE_WORDS.contains(&text) {
        return Resolved::Bool(false);
    }
    if let Some(float) = special_float(text) {
        return Resolved::Float(float);
    }
    if text == "<<" {
        return Resolved::Merge;
    }
    match text.as_bytes().first() {
        Some(b'.') if patterns().dot_float.is_match(text) => {
            text.parse().map_or(Resolved::Str, Resolved::Float)
        }
        Some(b'0'..=b'9' | b'+' | b'-') => resolve_numeric(text, yaml11),
        _ => Resolved::Str,
    }
}

/// True when go-yaml v2 reads `text`, unquoted, back as the same string: `kustomize build`
/// prints such strings bare when their characters allow it, and double-quotes the others.
pub fn plain_reads_as_string(text: &str) -> bool {
    resolve(text, Flavour::V2) == Resolved::Str
}

fn special_float(text: &str) -> Option<f64> {
    match text {
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Timestamps, then Go integer literals (after removing `_`), YAML floats, binary and (v3)
/// `0o` octal, then (v2) base-60 floats.
fn resolve_numeric(text: &str, yaml11: bool) -> Resolved {
    if is_timestamp(text) {
        return Resolved::Timestamp;
    }
    let plain = text.replace('_', "");
    if let Some(integer) = go_integer(&plain) {
        return integer;
    }
    if patterns().yaml_float.is_match(&plain)
        && let Ok(float) = plain.parse()
    {
        return Resolved::Float(float);
    }
    if yaml11 && text.contains(':') && patterns().base60_float.is_match(text) {
        return Resolved::Base60;
    }
    Resolved::Str
}

struct Patterns {
    dot_float: Regex,
    yaml_float: Regex,
    base60_float: Regex,
    timestamp: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| Patterns {
        dot_float: built_in(r"^\.[0-9]+([eE][-+]?[0-9]+)?$"),
        yaml_float: built_in(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
            ,
        base60_float: built_in(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            ,
        timestamp: built_in(
            r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]{1,9})?(?:Z|[-+][0-9]{2}:[0-9]{2}))|(?: ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]{1,9})?))?$",
        )
        ,
    })
}

/// Compiles one of the constant patterns above (a panic here is a typo, caught by the tests).
fn built_in(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|error| panic!("built-in pattern {pattern}: {error}"))
}

/// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)`, as go-yaml calls them: an
/// optional sign, a base prefix (`0x`, `0o`, `0b`, or a leading `0` for octal), in range.
fn go_integer(plain: &str) -> Option<Resolved> {
    let (negative, unsigned) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, plain),
    };
    let magnitude = go_integer_magnitude(unsigned)?;
    let fits = if negative {
        magnitude <= 1u128 << 63
    } else {
        magnitude < 1u128 << 63 || (plain == unsigned && magnitude <= u128::from(u64::MAX))
    };
    let magnitude = u64::try_from(magnitude).ok().filter(|_| fits)?;
    Some(Resolved::Int {
        negative,
        magnitude,
    })
}

/// The magnitude of an unsigned Go integer literal with base prefix (`0x`, `0o`, `0b`, leading
/// `0` for octal), or None when it is not one (or exceeds 128 bits).
fn go_integer_magnitude(text: &str) -> Option<u128> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (octal, 8)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (binary, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix).ok()
}

/// One of go-yaml v2's timestamp layouts (`2006-1-2`, with `T15:4:5.999999999Z07:00` or
/// ` 15:4:5.999999999`), with Go's range checks on each field.
fn is_timestamp(text: &str) -> bool {
    let Some(captures) = patterns().timestamp.captures(text) else {
        return false;
    };
    let field = |index: usize| {
        captures
            .get(index)
            .and_then(|m| m.as_str().parse::<u32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (field(1), field(2), field(3)) else {
        return false;
    };
    let date_valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    let time_valid = [(4, 5, 6), (7, 8, 9)]
        .iter()
        .all(|&(h, m, s)| match field(h) {
            None => true,
            Some(hour) => hour < 24 && field(m).unwrap_or(60) < 60 && field(s).unwrap_or(60) < 60,
        });
    date_valid && time_valid
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_read_back_as_strings_stay_plain() {
        for text in [
            "x",
            "abc",
            "n1",
            "1.2.3",
            "2024-13-01",
            "0x",
            "1e",
            "+",
            "-",
            "v1",
            "08a",
        ] {
            assert!(plain_reads_as_string(text), "{text}");
        }
    }

    #[test]
    fn strings_go_yaml_reads_as_other_types_are_quoted() {
        for text in [
            "",
            "y",
            "NO",
            "on",
            "~",
            "<<",
            ".5",
            "1",
            "-1",
            "0x1F",
            "0o17",
            "0755",
            "08",
            "1_000",
            "1e3",
            "1.",
            "0b101",
            "12:30",
            "2024-01-02",
            "2024-1-2T3:04:05Z",
            "2024-02-29 10:00:00",
            "18446744073709551615",
        ] {
            assert!(!plain_reads_as_string(text), "{text}");
        }
        assert!(plain_reads_as_string("2023-02-29"));
        assert!(plain_reads_as_string("0xFFFFFFFFFFFFFFFFFF"));
    }

    #[test]
    fn v3_reads_yaml_1_2_booleans_and_go_integers() {
        assert_eq!(resolve("yes", Flavour::V3), Resolved::Str);
        assert_eq!(resolve("True", Flavour::V3), Resolved::Bool(true));
        let int = |negative, magnitude| Resolved::Int {
            negative,
            magnitude,
        };
        assert_eq!(resolve("0755", Flavour::V3), int(false, 493));
        assert_eq!(resolve("-0x10", Flavour::V3), int(true, 16));
        assert_eq!(resolve("1_000", Flavour::V3), int(false, 1000));
        assert_eq!(resolve("09", Flavour::V3), Resolved::Float(9.0));
        assert_eq!(resolve("1.5e3", Flavour::V3), Resolved::Float(1500.0));
        assert_eq!(resolve("12:30", Flavour::V3), Resolved::Str);
        assert_eq!(resolve("2024-01-02", Flavour::V3), Resolved::Timestamp);
    }
}
