//! Go duration strings ("1h30m", "90s", "1.5m", "300ms", "0"), the form every Flux interval,
//! timeout and retry field takes.
//!
//! Parsing is delegated to the `go-duration` crate, a port of Go's `time.ParseDuration` grammar
//! (`[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, overflow past
//! `i64` nanoseconds rejected). Two differences from Go are handled here: the crate rejects the
//! unit-less `"0"` that Go accepts, and it returns a signed value where Sluice only takes
//! non-negative durations (a negative interval or timeout has no meaning for a reconciler).
//! `humantime` was not used: its syntax ("1h 30m", "1day") is not Go's.

use std::time::Duration;

use go_duration::GoDurationParseError;

/// Why a string is not a usable Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string does not follow Go's `time.ParseDuration` grammar (bad number, missing or
    /// unknown unit, overflow).
    #[error("invalid duration {input:?}: {reason}")]
    Invalid {
        /// The string as given.
        input: String,
        /// Go's own wording of the problem (e.g. `time: missing unit in duration`).
        reason: String,
    },
    /// The string is a valid Go duration but negative.
    #[error("negative duration {0:?} is not allowed")]
    Negative(String),
}

/// Parses `s` as Go's `time.ParseDuration` does and returns it as a [`Duration`].
///
/// Accepts `"0"` (and `"+0"`, `"-0"`) without a unit, as Go does. Returns
/// [`DurationError::Invalid`] for anything Go would reject and [`DurationError::Negative`] for a
/// valid duration below zero (e.g. `"-1s"`).
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationError> {
    if matches!(s, "0" | "+0" | "-0") {
        return Ok(Duration::ZERO);
    }
    let nanos = go_duration::parse_go_duration(s)
        .map_err(|error| invalid(s, &error))?
        .nanoseconds();
    let nanos = u64::try_from(nanos).map_err(|_| DurationError::Negative(s.to_string()))?;
    Ok(Duration::from_nanos(nanos))
}

fn invalid(input: &str, error: &GoDurationParseError) -> DurationError {
    DurationError::Invalid {
        input: input.to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Duration {
        parse_go_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_flux_interval_forms() {
        assert_eq!(parsed("1h30m"), Duration::from_secs(90 * 60));
        assert_eq!(parsed("90s"), Duration::from_secs(90));
        assert_eq!(parsed("1.5m"), Duration::from_secs(90));
        assert_eq!(parsed("300ms"), Duration::from_millis(300));
        assert_eq!(parsed("10m0s"), Duration::from_secs(600));
        assert_eq!(parsed("1h0m0s"), Duration::from_secs(3600));
    }

    #[test]
    fn parses_small_units_and_fractions() {
        assert_eq!(parsed("2us"), Duration::from_micros(2));
        assert_eq!(parsed("2µs"), Duration::from_micros(2));
        assert_eq!(parsed("7ns"), Duration::from_nanos(7));
        assert_eq!(parsed(".5s"), Duration::from_millis(500));
        assert_eq!(parsed("1.s"), Duration::from_secs(1));
    }

    #[test]
    fn accepts_unitless_zero_like_go() {
        assert_eq!(parsed("0"), Duration::ZERO);
        assert_eq!(parsed("+0"), Duration::ZERO);
        assert_eq!(parsed("0s"), Duration::ZERO);
    }

    #[test]
    fn rejects_what_go_rejects() {
        for input in [
            "",
            "1",
            "5d",
            "1h 30m",
            " 1s",
            "1m-30s",
            ".s",
            "s",
            "9223372036854775808ns",
        ] {
            assert!(
                matches!(parse_go_duration(input), Err(DurationError::Invalid { .. })),
                "{input:?} should be invalid"
            );
        }
    }

    #[test]
    fn rejects_negative_durations() {
        assert_eq!(
            parse_go_duration("-1s"),
            Err(DurationError::Negative("-1s".to_string()))
        );
    }
}
