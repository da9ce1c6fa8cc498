//! The alphabetical and numerical orders of Flux's ImagePolicy, and how `asc`/`desc` turn an
//! order into "which value is later".
//!
//! - alphabetical: byte-wise comparison of the values (Go's `sort.Strings`); `asc` makes the
//!   greatest value the latest, `desc` the least.
//! - numerical: values read as 64-bit floats, as Go's `strconv.ParseFloat`; `asc` makes the
//!   largest number the latest, `desc` the smallest.

use std::cmp::Ordering;

use crate::api::image_policy::SortOrder;

/// How `left` ranks against `right` in "lateness" under `order`: `Greater` means `left` is the
/// later one. `natural` is the values' ascending comparison.
pub fn lateness(order: SortOrder, natural: Ordering) -> Ordering {
    match order {
        SortOrder::Asc => natural,
        SortOrder::Desc => natural.reverse(),
    }
}

/// Reads `value` as a number the way Go's `strconv.ParseFloat(value, 64)` accepts it: decimal
/// with optional sign, fraction and exponent (`-3`, `1.5`, `.5`, `2e3`), `inf`/`infinity`/`nan`
/// in any case. Returns `None` otherwise, and for a finite literal beyond the float range
/// (Go returns an error there). Hexadecimal floats (`0x1p3`), which Go also accepts, are not
/// read. NaN, should a tag spell it, orders above every other number (`f64::total_cmp`).
pub fn parse_number(value: &str) -> Option<f64> {
    let number: f64 = value.parse().ok()?;
    let spelled_infinite = value.to_ascii_lowercase().contains("inf");
    (number.is_finite() || number.is_nan() || spelled_infinite).then_some(number)
}

/// Compares two numbers in ascending order, NaN above everything.
pub fn compare_numbers(left: f64, right: f64) -> Ordering {
    left.total_cmp(&right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desc_reverses_which_value_is_later() {
        assert_eq!(lateness(SortOrder::Asc, "b".cmp("a")), Ordering::Greater);
        assert_eq!(lateness(SortOrder::Desc, "b".cmp("a")), Ordering::Less);
    }

    #[test]
    fn numbers_are_read_as_go_parse_float_reads_them() {
        assert_eq!(parse_number("-62"), Some(-62.0));
        assert_eq!(parse_number("47.40896403322944"), Some(47.40896403322944));
        assert_eq!(parse_number("1606364286"), Some(1606364286.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("2e3"), Some(2000.0));
        assert_eq!(parse_number("Inf"), Some(f64::INFINITY));
        for text in ["1a", "b", "", "1e400", "1_000", " 1"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
    }

    #[test]
    fn numbers_compare_by_value_not_by_length() {
        assert_eq!(compare_numbers(9.0, 10.0), Ordering::Less);
        assert_eq!(compare_numbers(-1.5, -2.0), Ordering::Greater);
    }
}
