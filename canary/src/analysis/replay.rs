//! `sluice canary plan`: replays a Canary's analysis offline on the controller's own state
//! machine, from a newly detected revision, with one metric outcome per analysis tick and every
//! other observation healthy (workloads ready, gates open, hooks passing).

use std::fmt::Write as _;

use crate::api::canary::{Canary, CanaryPhase};

use super::check::CheckOutcome;
use super::facts::{Fact, Facts, Gate, Readiness};
use super::phase::AnalysisState;
use super::tick::{Decision, decide};

/// Why a replay could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A tick changed nothing and took no outcome, so every later tick would be the same.
    #[error(
        "the analysis stalls at tick {tick} in phase {phase} (is the canary suspended, or has it no stepWeight, stepWeights or iterations?)"
    )]
    Stalled {
        /// The tick that changed nothing.
        tick: usize,
        /// The phase it stayed in.
        phase: String,
    },
    /// The state machine asked for a fact a replay does not provide (a bug in the replay).
    #[error("the replay cannot answer {0:?}")]
    Unanswered(Fact),
}

/// The state after one replayed tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayTick {
    /// Tick number, from 1.
    pub tick: usize,
    /// The state the tick left.
    pub state: AnalysisState,
}

/// Replays `canary`'s analysis from Initialized with a new revision. Each tick that checks metrics
/// takes the next outcome of `outcomes` (the same outcome for every metric of that tick); ticks that
/// check no metrics (detection, pre-rollout, promotion) take none. Stops after Succeeded or Failed,
/// or before a tick that needs an outcome when none is left. Returns the state after each tick.
///
/// Errors: [`ReplayError::Stalled`] when a tick changes nothing without taking an outcome.
pub fn replay(canary: &Canary, outcomes: &[CheckOutcome]) -> Result<Vec<ReplayTick>, ReplayError> {
    let mut state = AnalysisState::at(CanaryPhase::Initialized);
    let mut outcomes = outcomes.iter().copied();
    let mut ticks = Vec::new();
    loop {
        let tick = ticks.len() + 1;
        let mut facts = healthy_facts(tick == 1);
        let next = loop {
            match decide(canary, &state, &facts) {
                Decision::Apply(transition) => break Some(transition.state),
                Decision::Observe(Fact::Metrics) => match outcomes.next() {
                    Some(outcome) => facts.metrics = Some(vec![outcome]),
                    None => break None,
                },
                Decision::Observe(fact) => return Err(ReplayError::Unanswered(fact)),
            }
        };
        let Some(next) = next else { return Ok(ticks) };
        if next == state && facts.metrics.is_none() {
            return Err(ReplayError::Stalled {
                tick,
                phase: phase_name(next),
            });
        }
        ticks.push(ReplayTick { tick, state: next });
        if matches!(
            next.phase,
            Some(CanaryPhase::Succeeded | CanaryPhase::Failed)
        ) {
            return Ok(ticks);
        }
        state = next;
    }
}

/// One line per tick, `tick=N phase=PHASE weight=W failedChecks=F`, then the final phase alone
/// (Initialized when no tick ran).
pub fn render(ticks: &[ReplayTick]) -> String {
    let mut text = String::new();
    for ReplayTick { tick, state } in ticks {
        let _ = writeln!(
            text,
            "tick={tick} phase={} weight={} failedChecks={}",
            phase_name(*state),
            state.canary_weight,
            state.failed_checks
        );
    }
    let last = ticks
        .last()
        .map_or(AnalysisState::at(CanaryPhase::Initialized), |t| t.state);
    let _ = writeln!(text, "{}", phase_name(last));
    text
}

/// Every observation healthy; `revision_changed` only on the first tick.
fn healthy_facts(revision_changed: bool) -> Facts {
    Facts {
        revision_changed,
        primary: Some(Readiness::Ready),
        canary: Some(Readiness::Ready),
        confirm_rollout: Some(Gate::Open),
        rollback_requested: Some(false),
        pre_rollout: Some(CheckOutcome::Pass),
        rollout_hooks: Some(CheckOutcome::Pass),
        metrics: None,
        confirm_traffic_increase: Some(Gate::Open),
        confirm_promotion: Some(Gate::Open),
    }
}

/// The phase's name, or empty for none.
fn phase_name(state: AnalysisState) -> String {
    state
        .phase
        .map(|phase| phase.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::NoDataPolicy;
    use crate::test_fixtures::{analysed_canary as canary, linear};
    use CheckOutcome::{Fail, NoData, Pass};

    fn summary(ticks: &[ReplayTick]) -> Vec<(CanaryPhase, u32, u32)> {
        ticks
            .iter()
            .map(|t| {
                (
                    t.state.phase.expect("phase"),
                    t.state.canary_weight,
                    t.state.failed_checks,
                )
            })
            .collect()
    }

    #[test]
    fn passing_run_walks_the_weights_and_promotes() {
        let ticks = replay(&canary(linear(20, 50, 2)), &[Pass, Pass, Pass, Pass]).expect("replays");
        use CanaryPhase::*;
        assert_eq!(
            summary(&ticks),
            [
                (Progressing, 0, 0),
                (Progressing, 20, 0),
                (Progressing, 40, 0),
                (Progressing, 60, 0),
                (Promoting, 60, 0),
                (Finalising, 0, 0),
                (Succeeded, 0, 0)
            ]
        );
        assert_eq!(
            ticks.iter().map(|t| t.tick).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7]
        );
    }

    #[test]
    fn failures_reach_the_threshold_and_roll_back_on_the_next_tick() {
        let ticks = replay(&canary(linear(10, 50, 2)), &[Pass, Fail, Fail, Pass]).expect("replays");
        let summary = summary(&ticks);
        assert_eq!(
            summary[2..],
            [
                (CanaryPhase::Progressing, 20, 0),
                (CanaryPhase::Progressing, 20, 1),
                (CanaryPhase::Progressing, 20, 2),
                (CanaryPhase::Failed, 0, 0)
            ]
        );
    }

    #[test]
    fn replay_stops_when_outcomes_run_out() {
        let ticks = replay(&canary(linear(10, 50, 2)), &[Pass]).expect("replays");
        assert_eq!(
            ticks.last().map(|t| (t.tick, t.state.canary_weight)),
            Some((3, 20))
        );
        assert!(render(&ticks).ends_with("\nProgressing\n"));
    }

    #[test]
    fn nodata_follows_the_policy() {
        let mut skip = linear(10, 20, 1);
        skip.no_data = Some(NoDataPolicy::Skip);
        let held = replay(&canary(skip), &[NoData, NoData, Pass]).expect("replays");
        assert_eq!(
            summary(&held)[2..5],
            [
                (CanaryPhase::Progressing, 10, 0),
                (CanaryPhase::Progressing, 10, 0),
                (CanaryPhase::Progressing, 20, 0)
            ]
        );
        let failed = replay(&canary(linear(10, 20, 1)), &[NoData, Pass]).expect("replays");
        assert_eq!(
            failed.last().map(|t| t.state.phase),
            Some(Some(CanaryPhase::Failed))
        );
    }

    #[test]
    fn skip_analysis_succeeds_on_the_second_tick() {
        let mut spec = canary(linear(10, 50, 1));
        spec.spec.skip_analysis = Some(true);
        let ticks = replay(&spec, &[]).expect("replays");
        assert_eq!(
            summary(&ticks),
            [
                (CanaryPhase::Progressing, 0, 0),
                (CanaryPhase::Succeeded, 0, 0)
            ]
        );
    }

    #[test]
    fn suspended_canary_stalls() {
        let mut spec = canary(linear(10, 50, 1));
        spec.spec.suspend = Some(true);
        assert!(matches!(
            replay(&spec, &[Pass]),
            Err(ReplayError::Stalled { tick: 1, .. })
        ));
    }

    #[test]
    fn render_prints_one_line_per_tick_and_the_final_phase() {
        let ticks = replay(&canary(linear(50, 50, 1)), &[Pass]).expect("replays");
        assert_eq!(
            render(&ticks),
            "tick=1 phase=Progressing weight=0 failedChecks=0\n\
             tick=2 phase=Progressing weight=50 failedChecks=0\n\
             tick=3 phase=Promoting weight=50 failedChecks=0\n\
             tick=4 phase=Finalising weight=0 failedChecks=0\n\
             tick=5 phase=Succeeded weight=0 failedChecks=0\n\
             Succeeded\n"
        );
        assert_eq!(render(&[]), "Initialized\n");
    }
}
