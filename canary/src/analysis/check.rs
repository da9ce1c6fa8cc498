//! Outcomes of webhooks and metric checks, and how one tick's outcomes combine into a verdict.
//!
//! As Flagger (docs/canary.md §2.7) a tick fails at its first failing check, and `failedChecks` grows by
//! one per failing tick. Sluice's extras: `noData: skip` makes a metric with no data hold the tick
//! (no advance, no failure), and `consecutiveFailures: true` resets `failedChecks` on a passing tick.

use std::str::FromStr;

use crate::api::canary::{CanaryAnalysis, NoDataPolicy};

/// The outcome of one check (a webhook call or a metric query) in one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The hook answered ≤ 202, or the metric value was within its threshold range.
    Pass,
    /// The hook answered > 202, or the metric value was out of range.
    Fail,
    /// The query returned an empty result or NaN (Flagger's "no values found").
    NoData,
    /// The check could not run: transport error, render error, missing template.
    Error,
}

impl CheckOutcome {
    /// The lowercase name used on the command line: `pass`, `fail`, `nodata`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NoData => "nodata",
            Self::Error => "error",
        }
    }
}

/// An outcome name that is none of `pass`, `fail`, `nodata`, `error`.
#[derive(Debug, thiserror::Error)]
#[error("unknown check outcome {0:?}: expected pass, fail, nodata or error")]
pub struct ParseOutcomeError(String);

impl FromStr for CheckOutcome {
    type Err = ParseOutcomeError;

    /// Parses `pass`, `fail`, `nodata` (or `no-data`) and `error`, ignoring case and spaces.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pass" => Ok(Self::Pass),
            "fail" => Ok(Self::Fail),
            "nodata" | "no-data" => Ok(Self::NoData),
            "error" => Ok(Self::Error),
            _ => Err(ParseOutcomeError(text.to_owned())),
        }
    }
}

/// What one analysis tick concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed: the strategy may advance.
    Pass,
    /// A check failed (index into the outcomes given): one more failed check, no advance.
    Fail(usize),
    /// No failure, but a metric had no data under `noData: skip`: no advance, not counted.
    Hold,
}

/// The analysis settings that decide how outcomes count, with Flagger's defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckPolicy {
    /// Failed checks that trigger a rollback (≥ 1).
    pub threshold: u32,
    /// What a metric with no data counts as.
    pub no_data: NoDataPolicy,
    /// Whether a passing tick resets `failedChecks`.
    pub consecutive_failures: bool,
}

impl CheckPolicy {
    /// Reads the policy from an analysis: `threshold` ≤ 0 or absent means 1 (Flagger's
    /// `GetAnalysisThreshold`), `noData` defaults to `fail`, `consecutiveFailures` to false.
    pub fn of(analysis: Option<&CanaryAnalysis>) -> Self {
        let threshold = analysis
            .and_then(|a| a.threshold)
            .filter(|t| *t > 0)
            .unwrap_or(1);
        Self {
            threshold: u32::try_from(threshold).unwrap_or(1),
            no_data: analysis.and_then(|a| a.no_data).unwrap_or_default(),
            consecutive_failures: analysis
                .and_then(|a| a.consecutive_failures)
                .unwrap_or(false),
        }
    }

    /// True when `failed_checks` has reached the threshold, so the next tick rolls back.
    pub fn threshold_reached(&self, failed_checks: u32) -> bool {
        failed_checks >= self.threshold
    }

    /// Combines the outcomes of one tick's checks, in the order they ran: the first `Fail` or
    /// `Error` (or `NoData` under `noData: fail`) fails the tick; a `NoData` under `noData: skip`
    /// holds it unless a later check fails; otherwise the tick passes. No outcomes is a pass.
    pub fn verdict(&self, outcomes: &[CheckOutcome]) -> Verdict {
        let mut verdict = Verdict::Pass;
        for (index, outcome) in outcomes.iter().enumerate() {
            match (outcome, self.no_data) {
                (CheckOutcome::Pass, _) => {}
                (CheckOutcome::NoData, NoDataPolicy::Skip) => verdict = Verdict::Hold,
                _ => return Verdict::Fail(index),
            }
        }
        verdict
    }

    /// The failed-check counter after a tick with `verdict`: +1 on a failure, reset to 0 on a pass
    /// when `consecutiveFailures` is on, unchanged otherwise.
    pub fn failed_checks_after(&self, failed_checks: u32, verdict: Verdict) -> u32 {
        match verdict {
            Verdict::Fail(_) => failed_checks.saturating_add(1),
            Verdict::Pass if self.consecutive_failures => 0,
            Verdict::Pass | Verdict::Hold => failed_checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckOutcome::{Error, Fail, NoData, Pass};

    fn policy(no_data: NoDataPolicy, consecutive_failures: bool) -> CheckPolicy {
        CheckPolicy {
            threshold: 3,
            no_data,
            consecutive_failures,
        }
    }

    #[test]
    fn outcomes_parse_from_their_names() {
        for outcome in [Pass, Fail, NoData, Error] {
            assert_eq!(
                outcome.as_str().parse::<CheckOutcome>().expect("parses"),
                outcome
            );
        }
        assert_eq!(" No-Data ".parse::<CheckOutcome>().expect("parses"), NoData);
        assert!("maybe".parse::<CheckOutcome>().is_err());
    }

    #[test]
    fn threshold_defaults_to_one_when_absent_or_not_positive() {
        assert_eq!(CheckPolicy::of(None).threshold, 1);
        for (threshold, expected) in [(Some(0), 1), (Some(-4), 1), (Some(5), 5), (None, 1)] {
            let analysis = CanaryAnalysis {
                threshold,
                ..Default::default()
            };
            assert_eq!(CheckPolicy::of(Some(&analysis)).threshold, expected);
        }
    }

    #[test]
    fn extras_default_to_flagger_behaviour() {
        let policy = CheckPolicy::of(Some(&CanaryAnalysis::default()));
        assert_eq!(policy.no_data, NoDataPolicy::Fail);
        assert!(!policy.consecutive_failures);
    }

    #[test]
    fn first_failure_fails_the_tick() {
        let policy = policy(NoDataPolicy::Fail, false);
        assert_eq!(policy.verdict(&[Pass, Fail, Error]), Verdict::Fail(1));
        assert_eq!(policy.verdict(&[Error]), Verdict::Fail(0));
        assert_eq!(policy.verdict(&[Pass, Pass]), Verdict::Pass);
        assert_eq!(policy.verdict(&[]), Verdict::Pass);
    }

    #[test]
    fn no_data_fails_under_fail_and_holds_under_skip() {
        assert_eq!(
            policy(NoDataPolicy::Fail, false).verdict(&[Pass, NoData]),
            Verdict::Fail(1)
        );
        let skip = policy(NoDataPolicy::Skip, false);
        assert_eq!(skip.verdict(&[NoData, Pass]), Verdict::Hold);
        assert_eq!(skip.verdict(&[NoData, Fail]), Verdict::Fail(1));
    }

    #[test]
    fn counter_is_cumulative_unless_consecutive() {
        let cumulative = policy(NoDataPolicy::Fail, false);
        assert_eq!(cumulative.failed_checks_after(2, Verdict::Pass), 2);
        assert_eq!(cumulative.failed_checks_after(2, Verdict::Fail(0)), 3);
        let consecutive = policy(NoDataPolicy::Skip, true);
        assert_eq!(consecutive.failed_checks_after(2, Verdict::Pass), 0);
        assert_eq!(consecutive.failed_checks_after(2, Verdict::Hold), 2);
    }

    #[test]
    fn threshold_is_reached_at_equality() {
        let policy = policy(NoDataPolicy::Fail, false);
        assert!(!policy.threshold_reached(2));
        assert!(policy.threshold_reached(3));
    }
}
