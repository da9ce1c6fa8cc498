//! Numbers as `kustomize build` prints them: kustomize turns each resource into JSON (Go's
//! `encoding/json`) and reads it back with go-yaml v2, so integral floats come out as integers
//! and the rest in Go's shortest `%g` form (`strconv.FormatFloat(f, 'g', -1, 64)`).

use serde_json::Number;

/// The text of `number` in `kustomize build` output.
pub fn number_text(number: &Number) -> String {
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    let float = number.as_f64().unwrap_or(0.0);
    if float.fract() == 0.0 && float.abs() < 9.2e18 {
        return format!("{}", float as i64);
    }
    go_shortest_g(float)
}

/// Go's `%g` with the shortest precision: exponent form when the exponent is below -4 or at
/// least 6 (`1e+21`, `1.5e-05`), decimal form otherwise.
fn go_shortest_g(float: f64) -> String {
    let scientific = format!("{float:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return format!("{float}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(float: f64) -> String {
        number_text(&Number::from_f64(float).unwrap())
    }

    #[test]
    fn prints_numbers_like_go() {
        assert_eq!(text(1.5), "1.5");
        assert_eq!(text(3.0), "3");
        assert_eq!(text(1e21), "1e+21");
        assert_eq!(text(0.000001), "1e-06");
        assert_eq!(text(0.0001), "0.0001");
        assert_eq!(text(1234567.5), "1.2345675e+06");
        assert_eq!(text(-0.25), "-0.25");
        assert_eq!(number_text(&Number::from(u64::MAX)), "18446744073709551615");
    }
}
