//! Judging a metric value against its threshold (docs/canary.md §1.4): `thresholdRange` bounds are
//! inclusive; the deprecated `threshold` is a minimum for `request-success-rate` and a maximum for
//! every other metric; no value (empty result or NaN) is `NoData`.

use crate::analysis::check::CheckOutcome;
use crate::api::canary::CanaryMetric;

use super::builtin::BuiltinMetric;

/// The outcome of `metric` for the queried `value` (`None` for an empty result). The value is in
/// the metric's threshold units: milliseconds for `request-duration` (see
/// [`BuiltinMetric::threshold_value`]), percent for `request-success-rate`.
pub fn evaluate(metric: &CanaryMetric, value: Option<f64>) -> CheckOutcome {
    let Some(value) = value.filter(|v| !v.is_nan()) else {
        return CheckOutcome::NoData;
    };
    let in_range = metric.threshold_range.is_none_or(|range| {
        range.min.is_none_or(|min| value >= min) && range.max.is_none_or(|max| value <= max)
    });
    let within_deprecated = metric.threshold.is_none_or(|threshold| {
        if BuiltinMetric::from_name(&metric.name) == Some(BuiltinMetric::RequestSuccessRate) {
            value >= threshold
        } else {
            value <= threshold
        }
    });
    if in_range && within_deprecated {
        CheckOutcome::Pass
    } else {
        CheckOutcome::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::ThresholdRange;

    fn ranged(min: Option<f64>, max: Option<f64>) -> CanaryMetric {
        CanaryMetric {
            name: "error-rate".into(),
            threshold_range: Some(ThresholdRange { min, max }),
            ..Default::default()
        }
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let metric = ranged(Some(99.0), Some(100.0));
        assert_eq!(evaluate(&metric, Some(99.0)), CheckOutcome::Pass);
        assert_eq!(evaluate(&metric, Some(100.0)), CheckOutcome::Pass);
        assert_eq!(evaluate(&metric, Some(98.9)), CheckOutcome::Fail);
        assert_eq!(evaluate(&metric, Some(100.1)), CheckOutcome::Fail);
    }

    #[test]
    fn open_ended_ranges() {
        assert_eq!(
            evaluate(&ranged(None, Some(1.0)), Some(-5.0)),
            CheckOutcome::Pass
        );
        assert_eq!(
            evaluate(&ranged(Some(1.0), None), Some(1e9)),
            CheckOutcome::Pass
        );
        assert_eq!(evaluate(&ranged(None, None), Some(3.0)), CheckOutcome::Pass);
    }

    #[test]
    fn empty_and_nan_are_no_data() {
        assert_eq!(
            evaluate(&ranged(None, Some(1.0)), None),
            CheckOutcome::NoData
        );
        assert_eq!(
            evaluate(&ranged(None, Some(1.0)), Some(f64::NAN)),
            CheckOutcome::NoData
        );
    }

    #[test]
    fn deprecated_threshold_is_a_minimum_only_for_success_rate() {
        let success = CanaryMetric {
            name: "request-success-rate".into(),
            threshold: Some(99.0),
            ..Default::default()
        };
        assert_eq!(evaluate(&success, Some(99.5)), CheckOutcome::Pass);
        assert_eq!(evaluate(&success, Some(98.0)), CheckOutcome::Fail);
        let duration = CanaryMetric {
            name: "request-duration".into(),
            threshold: Some(500.0),
            ..Default::default()
        };
        assert_eq!(evaluate(&duration, Some(400.0)), CheckOutcome::Pass);
        assert_eq!(evaluate(&duration, Some(501.0)), CheckOutcome::Fail);
    }
}
