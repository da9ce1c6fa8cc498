//! One tick of the analysis: Flagger's `advanceCanary` (docs/canary.md §2.4) as a pure function from
//! the Canary, the analysis state and the tick's observations to the next state and actions.

use crate::api::canary::{Canary, CanaryPhase};

use super::check::{CheckOutcome, Verdict};
use super::context::Context;
use super::ending;
use super::facts::{Fact, Facts, Gate, Missing, Readiness, need};
use super::phase::AnalysisState;
use super::strategy;
use super::transition::{Action, Transition};

/// What to do next with a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Observe this fact, set it in [`Facts`], and call [`decide`] again.
    Observe(Fact),
    /// The tick is decided: write the state and carry out the actions.
    Apply(Transition),
}

/// Decides one tick of `canary`'s analysis from its current `state` and the `facts` observed so
/// far, in Flagger's order:
///
/// 1. `suspend`: nothing changes.
/// 2. No phase or Initializing: Initialized once the primary is ready.
/// 3. Idle (Initialized, Succeeded, Failed without a new revision; Terminating): nothing changes.
/// 4. The primary must be ready (unless the analysis is skipped); past its deadline, rollback
///    (or, while Promoting/Finalising, a failed promotion to the canary).
/// 5. A new revision (or Waiting): behind `confirm-rollout`, Progressing at 0 (else Waiting).
/// 6. A new revision during Progressing/WaitingPromotion restarts the run.
/// 7. The canary must be ready; past its deadline, rollback.
/// 8. `skipAnalysis`: promote and succeed at once.
/// 9. A `rollback` hook answering ≤ 202 rolls back; Promoting shifts traffic back to the primary;
///    Finalising succeeds; `failedChecks >= threshold` rolls back.
/// 10. The checks: pre-rollout hooks on the first tick (weight 0, no iterations), otherwise rollout
///     hooks then metrics. A failure adds a failed check; a pass advances the strategy.
pub fn decide(canary: &Canary, state: &AnalysisState, facts: &Facts) -> Decision {
    match advance(&Context::of(canary), *state, facts) {
        Ok(transition) => Decision::Apply(transition),
        Err(Missing(fact)) => Decision::Observe(fact),
    }
}

/// Steps 1–10 of [`decide`].
fn advance(cx: &Context<'_>, state: AnalysisState, facts: &Facts) -> Result<Transition, Missing> {
    let hold = Transition::hold(state);
    if cx.suspended {
        return Ok(hold.info("skipping canary run as object is suspended"));
    }
    let phase = match state.phase {
        None | Some(CanaryPhase::Initializing) => return initialize(cx, hold, facts),
        Some(CanaryPhase::Terminating | CanaryPhase::Terminated) => return Ok(hold),
        Some(_) if !state.is_running() && !facts.revision_changed => return Ok(hold),
        Some(phase) => phase,
    };
    if !cx.skip_analysis {
        match need(&facts.primary, Fact::PrimaryReadiness)? {
            Readiness::Ready => {}
            Readiness::NotReady => return Ok(hold),
            Readiness::DeadlineExceeded => return Ok(ending::primary_failed(cx, hold)),
        }
    }
    if !matches!(
        phase,
        CanaryPhase::Progressing
            | CanaryPhase::WaitingPromotion
            | CanaryPhase::Promoting
            | CanaryPhase::Finalising
    ) {
        return start(cx, hold, facts);
    }
    if facts.revision_changed && state.is_analysing() {
        return Ok(restart(cx, hold));
    }
    match need(&facts.canary, Fact::CanaryReadiness)? {
        Readiness::Ready => {}
        Readiness::NotReady => return Ok(hold),
        Readiness::DeadlineExceeded => {
            let warned = hold.warn(format!(
                "Rolling back {} progress deadline exceeded",
                cx.canary
            ));
            return Ok(ending::rollback(cx, warned));
        }
    }
    if cx.skip_analysis {
        return Ok(ending::promote_without_analysis(cx, hold));
    }
    finish_or_analyse(cx, hold, phase, facts)
}

/// Steps 9–10 of [`decide`].
fn finish_or_analyse(
    cx: &Context<'_>,
    hold: Transition,
    phase: CanaryPhase,
    facts: &Facts,
) -> Result<Transition, Missing> {
    let state = hold.state;
    if state.is_analysing() && need(&facts.rollback_requested, Fact::RollbackHooks)? {
        return Ok(ending::rollback(
            cx,
            hold.warn(format!("Rolling back {} manual webhook invoked", cx.canary)),
        ));
    }
    match phase {
        CanaryPhase::Promoting => return Ok(strategy::shift_traffic_to_primary(cx, hold)),
        CanaryPhase::Finalising => return Ok(ending::finalise(cx, hold)),
        _ => {}
    }
    if cx.policy.threshold_reached(state.failed_checks) {
        return Ok(ending::rollback(cx, hold));
    }
    let (checked, verdict) = analyse(cx, hold, facts)?;
    match verdict {
        Verdict::Pass => strategy::advance(cx, checked, facts),
        Verdict::Fail(_) | Verdict::Hold => Ok(checked),
    }
}

/// Bootstrap: once the primary is ready, scale the target to zero and become Initialized.
fn initialize(cx: &Context<'_>, hold: Transition, facts: &Facts) -> Result<Transition, Missing> {
    Ok(match need(&facts.primary, Fact::PrimaryReadiness)? {
        Readiness::Ready => hold
            .then(Action::ScaleCanaryToZero)
            .sync(CanaryPhase::Initialized)
            .info(format!("Initialization done! {}", cx.canary)),
        Readiness::NotReady => hold,
        Readiness::DeadlineExceeded => ending::primary_failed(cx, hold),
    })
}

/// A new revision (or a Waiting one): behind `confirm-rollout`, scale the canary up and start a
/// run at Progressing; a closed gate means Waiting.
fn start(cx: &Context<'_>, hold: Transition, facts: &Facts) -> Result<Transition, Missing> {
    let synced = hold.sync(CanaryPhase::Progressing);
    Ok(match need(&facts.confirm_rollout, Fact::ConfirmRollout)? {
        Gate::Open => synced
            .info(format!("New revision detected! Scaling up {}", cx.target))
            .then(Action::ScaleCanaryUp),
        Gate::Closed => synced
            .enter(CanaryPhase::Waiting, cx.iterations)
            .warn(format!(
                "Halt {} advancement waiting for approval",
                cx.canary
            )),
    })
}

/// A new revision mid-run: all traffic back to the primary and a fresh Progressing run.
fn restart(cx: &Context<'_>, hold: Transition) -> Transition {
    hold.route(0).sync(CanaryPhase::Progressing).info(format!(
        "New revision detected! Restarting analysis for {}",
        cx.target
    ))
}

/// Runs the checks of a tick and counts the outcome. The first tick of a run (weight 0, no
/// iterations) runs only the pre-rollout hooks; later ticks run the rollout hooks, then the metrics.
fn analyse(
    cx: &Context<'_>,
    hold: Transition,
    facts: &Facts,
) -> Result<(Transition, Verdict), Missing> {
    let state = hold.state;
    let (mut checked, verdict) = if state.canary_weight == 0 && state.iterations == 0 {
        let started = hold.info(format!("Starting canary analysis for {}", cx.target));
        match need(&facts.pre_rollout, Fact::PreRolloutHooks)? {
            CheckOutcome::Pass => (started, Verdict::Pass),
            _ => (
                started.warn(format!(
                    "Halt {} advancement pre-rollout check failed",
                    cx.canary
                )),
                Verdict::Fail(0),
            ),
        }
    } else {
        match need(&facts.rollout_hooks, Fact::RolloutHooks)? {
            CheckOutcome::Pass => check_metrics(cx, hold, &need(&facts.metrics, Fact::Metrics)?),
            _ => (
                hold.warn(format!(
                    "Halt {} advancement external check failed",
                    cx.canary
                )),
                Verdict::Fail(0),
            ),
        }
    };
    checked.state.failed_checks = cx.policy.failed_checks_after(state.failed_checks, verdict);
    Ok((checked, verdict))
}

/// The verdict of the metric outcomes, with an event naming the metric that failed or had no data.
fn check_metrics(
    cx: &Context<'_>,
    hold: Transition,
    outcomes: &[CheckOutcome],
) -> (Transition, Verdict) {
    let verdict = cx.policy.verdict(outcomes);
    let checked = match verdict {
        Verdict::Pass => hold,
        Verdict::Fail(index) => {
            let metric = cx.metric_name(index);
            let message = match outcomes[index] {
                CheckOutcome::NoData => {
                    format!(
                        "Halt advancement no values found for metric {metric} probably {} is not receiving traffic",
                        cx.target
                    )
                }
                CheckOutcome::Error => format!("Metric query failed for {metric}"),
                _ => format!("Halt {} advancement {metric} check failed", cx.canary),
            };
            hold.warn(message)
        }
        Verdict::Hold => {
            let index = outcomes
                .iter()
                .position(|o| *o == CheckOutcome::NoData)
                .unwrap_or_default();
            let metric = cx.metric_name(index);
            hold.warn(format!(
                "Hold {} advancement no values found for metric {metric} (noData: skip)",
                cx.canary
            ))
        }
    };
    (checked, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::{CanaryAnalysis, HttpMatchRequest, NoDataPolicy};
    use crate::test_fixtures::{analysed_canary as canary, linear};
    use CanaryPhase::*;
    use CheckOutcome::{Fail, NoData, Pass};

    fn blue_green(iterations: u32) -> CanaryAnalysis {
        CanaryAnalysis {
            iterations: Some(iterations),
            threshold: Some(2),
            ..Default::default()
        }
    }

    fn at(
        phase: CanaryPhase,
        canary_weight: u32,
        failed_checks: u32,
        iterations: u32,
    ) -> AnalysisState {
        AnalysisState {
            phase: Some(phase),
            canary_weight,
            failed_checks,
            iterations,
        }
    }

    fn healthy() -> Facts {
        Facts {
            revision_changed: false,
            primary: Some(Readiness::Ready),
            canary: Some(Readiness::Ready),
            confirm_rollout: Some(Gate::Open),
            rollback_requested: Some(false),
            pre_rollout: Some(Pass),
            rollout_hooks: Some(Pass),
            metrics: Some(vec![Pass]),
            confirm_traffic_increase: Some(Gate::Open),
            confirm_promotion: Some(Gate::Open),
        }
    }

    fn with_metrics(outcomes: &[CheckOutcome]) -> Facts {
        Facts {
            metrics: Some(outcomes.to_vec()),
            ..healthy()
        }
    }

    fn apply(canary: &Canary, state: AnalysisState, facts: &Facts) -> Transition {
        match decide(canary, &state, facts) {
            Decision::Apply(transition) => transition,
            Decision::Observe(fact) => panic!("unexpected request for {fact:?}"),
        }
    }

    fn next(canary: &Canary, state: AnalysisState, facts: &Facts) -> AnalysisState {
        apply(canary, state, facts).state
    }

    fn has(transition: &Transition, action: &Action) -> bool {
        transition.actions.contains(action)
    }

    fn mentions(transition: &Transition, text: &str) -> bool {
        transition
            .event_messages()
            .iter()
            .any(|message| message.contains(text))
    }

    /// Runs ticks with the same facts until `phase` (at most 50 ticks), returning every state.
    fn run_until(
        canary: &Canary,
        mut state: AnalysisState,
        facts: &Facts,
        phase: CanaryPhase,
    ) -> Vec<AnalysisState> {
        let mut states = Vec::new();
        while state.phase != Some(phase) && states.len() < 50 {
            state = next(canary, state, facts);
            states.push(state);
        }
        states
    }

    #[test]
    fn suspended_canary_changes_nothing() {
        let mut suspended = canary(linear(10, 50, 1));
        suspended.spec.suspend = Some(true);
        let state = at(Progressing, 20, 0, 0);
        let transition = apply(&suspended, state, &Facts::default());
        assert_eq!(transition.state, state);
        assert_eq!(
            transition.event_messages(),
            ["skipping canary run as object is suspended"]
        );
    }

    #[test]
    fn bootstrap_waits_for_the_primary_then_initializes() {
        let canary = canary(linear(10, 50, 1));
        let fresh = AnalysisState {
            phase: None,
            ..AnalysisState::at(Initializing)
        };
        assert_eq!(
            decide(&canary, &fresh, &Facts::default()),
            Decision::Observe(Fact::PrimaryReadiness)
        );
        let waiting = Facts {
            primary: Some(Readiness::NotReady),
            ..Facts::default()
        };
        assert_eq!(next(&canary, fresh, &waiting), fresh);
        let done = apply(&canary, AnalysisState::at(Initializing), &healthy());
        assert_eq!(done.state, AnalysisState::at(Initialized));
        assert!(has(&done, &Action::ScaleCanaryToZero) && has(&done, &Action::SyncRevision));
        assert!(mentions(&done, "Initialization done! podinfo.test"));
    }

    #[test]
    fn idle_phases_ask_nothing_without_a_new_revision() {
        let canary = canary(linear(10, 50, 1));
        for phase in [Initialized, Succeeded, Failed, Terminating, Terminated] {
            let state = AnalysisState::at(phase);
            assert_eq!(
                decide(&canary, &state, &Facts::default()),
                Decision::Apply(Transition::hold(state)),
                "{phase}"
            );
        }
    }

    #[test]
    fn new_revision_scales_up_and_starts_progressing_from_every_idle_phase() {
        let canary = canary(linear(10, 50, 1));
        for phase in [Initialized, Succeeded, Failed] {
            let facts = Facts {
                revision_changed: true,
                ..healthy()
            };
            let transition = apply(&canary, AnalysisState::at(phase), &facts);
            assert_eq!(transition.state, AnalysisState::at(Progressing), "{phase}");
            assert!(
                has(&transition, &Action::ScaleCanaryUp) && has(&transition, &Action::SyncRevision)
            );
            assert!(mentions(
                &transition,
                "New revision detected! Scaling up podinfo.test"
            ));
        }
    }

    #[test]
    fn facts_are_asked_in_flagger_order() {
        let canary = canary(linear(10, 50, 1));
        let mut facts = Facts {
            revision_changed: true,
            ..Facts::default()
        };
        let initialized = AnalysisState::at(Initialized);
        assert_eq!(
            decide(&canary, &initialized, &facts),
            Decision::Observe(Fact::PrimaryReadiness)
        );
        facts.primary = Some(Readiness::Ready);
        assert_eq!(
            decide(&canary, &initialized, &facts),
            Decision::Observe(Fact::ConfirmRollout)
        );

        let mut facts = Facts {
            primary: Some(Readiness::Ready),
            ..Facts::default()
        };
        let progressing = at(Progressing, 10, 0, 0);
        let expected = [
            Fact::CanaryReadiness,
            Fact::RollbackHooks,
            Fact::RolloutHooks,
            Fact::Metrics,
            Fact::ConfirmTrafficIncrease,
        ];
        for fact in expected {
            assert_eq!(
                decide(&canary, &progressing, &facts),
                Decision::Observe(fact)
            );
            let full = healthy();
            match fact {
                Fact::CanaryReadiness => facts.canary = full.canary,
                Fact::RollbackHooks => facts.rollback_requested = full.rollback_requested,
                Fact::RolloutHooks => facts.rollout_hooks = full.rollout_hooks,
                Fact::Metrics => facts.metrics = full.metrics,
                _ => facts.confirm_traffic_increase = full.confirm_traffic_increase,
            }
        }
        assert_eq!(next(&canary, progressing, &facts).canary_weight, 20);
    }

    #[test]
    fn confirm_rollout_gate_holds_in_waiting_until_it_opens() {
        let canary = canary(linear(10, 50, 1));
        let closed = Facts {
            revision_changed: true,
            confirm_rollout: Some(Gate::Closed),
            ..healthy()
        };
        let waiting = apply(&canary, AnalysisState::at(Succeeded), &closed);
        assert_eq!(waiting.state, AnalysisState::at(Waiting));
        assert!(
            mentions(&waiting, "waiting for approval") && !has(&waiting, &Action::ScaleCanaryUp)
        );
        let still_closed = Facts {
            revision_changed: false,
            ..closed
        };
        assert_eq!(
            next(&canary, waiting.state, &still_closed),
            AnalysisState::at(Waiting)
        );
        let opened = apply(&canary, waiting.state, &healthy());
        assert_eq!(opened.state, AnalysisState::at(Progressing));
        assert!(has(&opened, &Action::ScaleCanaryUp));
    }

    #[test]
    fn first_analysis_tick_runs_only_pre_rollout_hooks() {
        let canary = canary(linear(10, 50, 3));
        let start = AnalysisState::at(Progressing);
        let facts = Facts {
            metrics: None,
            rollout_hooks: None,
            ..healthy()
        };
        let advanced = apply(&canary, start, &facts);
        assert_eq!(advanced.state, at(Progressing, 10, 0, 0));
        assert!(has(
            &advanced,
            &Action::SetRoutes {
                primary: 90,
                canary: 10
            }
        ));
        assert!(mentions(
            &advanced,
            "Starting canary analysis for podinfo.test"
        ));
        let failing = Facts {
            pre_rollout: Some(Fail),
            ..facts
        };
        assert_eq!(next(&canary, start, &failing), at(Progressing, 0, 1, 0));
    }

    #[test]
    fn passing_ticks_raise_the_weight_and_failing_ticks_count() {
        let canary = canary(linear(10, 50, 3));
        assert_eq!(
            next(&canary, at(Progressing, 10, 1, 0), &healthy()),
            at(Progressing, 20, 1, 0)
        );
        let failed = apply(
            &canary,
            at(Progressing, 10, 1, 0),
            &with_metrics(&[Pass, Fail]),
        );
        assert_eq!(failed.state, at(Progressing, 10, 2, 0));
        assert!(
            failed.actions.iter().all(|a| matches!(a, Action::Event(_))),
            "no route change on failure"
        );
        let hook_failed = Facts {
            rollout_hooks: Some(Fail),
            metrics: None,
            ..healthy()
        };
        assert_eq!(
            next(&canary, at(Progressing, 10, 0, 0), &hook_failed),
            at(Progressing, 10, 1, 0)
        );
    }

    #[test]
    fn threshold_rolls_back_on_the_tick_after_the_last_failure() {
        let canary = canary(linear(10, 50, 2));
        let reached = next(&canary, at(Progressing, 30, 1, 0), &with_metrics(&[Fail]));
        assert_eq!(reached, at(Progressing, 30, 2, 0));
        let rollback = apply(
            &canary,
            reached,
            &Facts {
                metrics: None,
                ..healthy()
            },
        );
        assert_eq!(rollback.state, AnalysisState::at(Failed));
        assert!(has(
            &rollback,
            &Action::SetRoutes {
                primary: 100,
                canary: 0
            }
        ));
        assert!(
            has(&rollback, &Action::ScaleCanaryToZero)
                && has(&rollback, &Action::RunPostRolloutHooks)
        );
        assert!(mentions(
            &rollback,
            "Rolling back podinfo.test failed checks threshold reached 2"
        ));
        assert!(mentions(
            &rollback,
            "Canary failed! Scaling down podinfo.test"
        ));
    }

    #[test]
    fn threshold_applies_in_waiting_promotion_too() {
        let canary = canary(linear(10, 50, 1));
        assert_eq!(
            next(&canary, at(WaitingPromotion, 50, 1, 0), &healthy()).phase,
            Some(Failed)
        );
    }

    #[test]
    fn failed_checks_are_cumulative_unless_consecutive() {
        let cumulative = canary(linear(10, 50, 3));
        assert_eq!(
            next(&cumulative, at(Progressing, 10, 2, 0), &healthy()),
            at(Progressing, 20, 2, 0)
        );
        let consecutive = canary(CanaryAnalysis {
            consecutive_failures: Some(true),
            ..linear(10, 50, 3)
        });
        assert_eq!(
            next(&consecutive, at(Progressing, 10, 2, 0), &healthy()),
            at(Progressing, 20, 0, 0)
        );
        assert_eq!(
            next(
                &consecutive,
                at(Progressing, 10, 2, 0),
                &with_metrics(&[Fail])
            ),
            at(Progressing, 10, 3, 0)
        );
    }

    #[test]
    fn no_data_fails_by_default_and_holds_under_skip() {
        let strict = canary(linear(10, 50, 3));
        let counted = apply(&strict, at(Progressing, 10, 0, 0), &with_metrics(&[NoData]));
        assert_eq!(counted.state, at(Progressing, 10, 1, 0));
        assert!(mentions(&counted, "no values found"));
        let lenient = canary(CanaryAnalysis {
            no_data: Some(NoDataPolicy::Skip),
            consecutive_failures: Some(true),
            ..linear(10, 50, 3)
        });
        let held = apply(
            &lenient,
            at(Progressing, 10, 2, 0),
            &with_metrics(&[Pass, NoData]),
        );
        assert_eq!(
            held.state,
            at(Progressing, 10, 2, 0),
            "neither advance, nor count, nor reset"
        );
        assert!(mentions(&held, "noData: skip"));
        assert_eq!(
            next(
                &lenient,
                at(Progressing, 10, 0, 0),
                &with_metrics(&[NoData, Fail])
            ),
            at(Progressing, 10, 1, 0)
        );
    }

    #[test]
    fn rollback_hook_rolls_back_while_analysing() {
        let canary = canary(linear(10, 50, 5));
        let asked = Facts {
            rollback_requested: Some(true),
            ..healthy()
        };
        for state in [at(Progressing, 20, 0, 0), at(WaitingPromotion, 50, 0, 0)] {
            let rollback = apply(&canary, state, &asked);
            assert_eq!(rollback.state, AnalysisState::at(Failed));
            assert!(mentions(&rollback, "manual webhook invoked"));
        }
        let promoting = at(Promoting, 50, 0, 0);
        assert_eq!(
            next(&canary, promoting, &asked).phase,
            Some(Finalising),
            "not asked while Promoting"
        );
    }

    #[test]
    fn new_revision_mid_run_restarts_from_zero() {
        let canary = canary(linear(10, 50, 5));
        let facts = Facts {
            revision_changed: true,
            ..healthy()
        };
        for state in [at(Progressing, 30, 2, 0), at(WaitingPromotion, 50, 1, 0)] {
            let restart = apply(&canary, state, &facts);
            assert_eq!(restart.state, AnalysisState::at(Progressing));
            assert!(
                has(
                    &restart,
                    &Action::SetRoutes {
                        primary: 100,
                        canary: 0
                    }
                ) && has(&restart, &Action::SyncRevision)
            );
            assert!(mentions(&restart, "Restarting analysis for podinfo.test"));
        }
        assert_eq!(
            next(&canary, at(Promoting, 50, 0, 0), &facts).phase,
            Some(Finalising),
            "Promoting goes on"
        );
    }

    #[test]
    fn workloads_not_ready_hold_and_deadlines_roll_back() {
        let canary = canary(linear(10, 50, 5));
        let state = at(Progressing, 20, 1, 0);
        let slow_canary = Facts {
            canary: Some(Readiness::NotReady),
            ..healthy()
        };
        assert_eq!(apply(&canary, state, &slow_canary), Transition::hold(state));
        let slow_primary = Facts {
            primary: Some(Readiness::NotReady),
            ..healthy()
        };
        assert_eq!(
            apply(&canary, state, &slow_primary),
            Transition::hold(state)
        );
        let dead_canary = Facts {
            canary: Some(Readiness::DeadlineExceeded),
            ..healthy()
        };
        let rollback = apply(&canary, state, &dead_canary);
        assert_eq!(rollback.state, AnalysisState::at(Failed));
        assert!(mentions(&rollback, "progress deadline exceeded"));
        let dead_primary = Facts {
            primary: Some(Readiness::DeadlineExceeded),
            ..healthy()
        };
        assert_eq!(
            next(&canary, state, &dead_primary),
            AnalysisState::at(Failed)
        );
    }

    #[test]
    fn primary_deadline_during_promotion_routes_everything_to_the_canary() {
        let canary = canary(linear(10, 50, 5));
        let dead_primary = Facts {
            primary: Some(Readiness::DeadlineExceeded),
            ..healthy()
        };
        for phase in [Promoting, Finalising] {
            let failed = apply(&canary, at(phase, 50, 0, 0), &dead_primary);
            assert_eq!(failed.state, at(Failed, 100, 0, 0), "{phase}");
            assert!(has(
                &failed,
                &Action::SetRoutes {
                    primary: 0,
                    canary: 100
                }
            ));
            assert!(
                !has(&failed, &Action::ScaleCanaryToZero),
                "the canary keeps serving"
            );
        }
    }

    #[test]
    fn max_weight_promotes_behind_the_promotion_gate() {
        let canary = canary(linear(20, 50, 5));
        let promote = apply(&canary, at(Progressing, 60, 1, 0), &healthy());
        assert_eq!(promote.state, at(Promoting, 60, 1, 0));
        assert!(has(&promote, &Action::Promote));
        assert!(mentions(
            &promote,
            "Copying podinfo.test template spec to podinfo-primary.test"
        ));

        let closed = Facts {
            confirm_promotion: Some(Gate::Closed),
            ..healthy()
        };
        let waiting = apply(&canary, at(Progressing, 60, 0, 0), &closed);
        assert_eq!(
            waiting.state,
            at(WaitingPromotion, 60, 0, 0),
            "holds the weight"
        );
        assert!(mentions(&waiting, "waiting for promotion approval"));
        let still = apply(&canary, waiting.state, &closed);
        assert_eq!(still.state, waiting.state);
        assert!(
            !mentions(&still, "waiting for promotion approval"),
            "warned once"
        );
        let no_traffic_gate = Facts {
            confirm_traffic_increase: None,
            ..healthy()
        };
        assert_eq!(
            next(&canary, waiting.state, &no_traffic_gate),
            at(Promoting, 60, 0, 0)
        );
    }

    #[test]
    fn traffic_increase_gate_holds_the_weight_without_counting() {
        let canary = canary(linear(10, 50, 5));
        let closed = Facts {
            confirm_traffic_increase: Some(Gate::Closed),
            ..healthy()
        };
        let held = apply(&canary, at(Progressing, 20, 1, 0), &closed);
        assert_eq!(held.state, at(Progressing, 20, 1, 0));
        assert!(mentions(&held, "waiting for traffic increase approval"));
        assert_eq!(
            next(&canary, at(Progressing, 50, 0, 0), &closed),
            at(Progressing, 50, 0, 0),
            "also blocks promotion"
        );
    }

    #[test]
    fn promotion_returns_traffic_at_once_or_by_steps() {
        let at_once = canary(linear(20, 50, 5));
        let routed = apply(
            &at_once,
            at(Promoting, 60, 0, 0),
            &Facts {
                primary: Some(Readiness::Ready),
                canary: Some(Readiness::Ready),
                ..Facts::default()
            },
        );
        assert_eq!(routed.state, AnalysisState::at(Finalising));
        assert!(has(
            &routed,
            &Action::SetRoutes {
                primary: 100,
                canary: 0
            }
        ));

        let stepped = canary(CanaryAnalysis {
            step_weight_promotion: Some(25),
            ..linear(20, 50, 5)
        });
        let weights: Vec<(Option<CanaryPhase>, u32)> =
            run_until(&stepped, at(Promoting, 60, 0, 0), &healthy(), Finalising)
                .iter()
                .map(|s| (s.phase, s.canary_weight))
                .collect();
        assert_eq!(
            weights,
            [
                (Some(Promoting), 35),
                (Some(Promoting), 10),
                (Some(Finalising), 0)
            ]
        );
    }

    #[test]
    fn finalising_scales_down_and_succeeds() {
        let canary = canary(linear(20, 50, 5));
        let done = apply(&canary, at(Finalising, 0, 1, 0), &healthy());
        assert_eq!(done.state, at(Succeeded, 0, 1, 0));
        assert!(has(&done, &Action::ScaleCanaryToZero) && has(&done, &Action::RunPostRolloutHooks));
        assert!(mentions(
            &done,
            "Promotion completed! Scaling down podinfo.test"
        ));
    }

    #[test]
    fn skip_analysis_promotes_without_checks() {
        let mut skipped = canary(linear(10, 50, 1));
        skipped.spec.skip_analysis = Some(true);
        let facts = Facts {
            canary: Some(Readiness::Ready),
            ..Facts::default()
        };
        let done = apply(&skipped, at(Progressing, 0, 0, 0), &facts);
        assert_eq!(done.state, AnalysisState::at(Succeeded));
        assert!(has(&done, &Action::Promote) && has(&done, &Action::ScaleCanaryToZero));
        assert!(mentions(
            &done,
            "Canary analysis was skipped for podinfo.test"
        ));
    }

    #[test]
    fn step_weights_drive_the_canary() {
        let canary = canary(CanaryAnalysis {
            step_weights: vec![5, 25, 70],
            threshold: Some(1),
            ..Default::default()
        });
        let weights: Vec<u32> = run_until(
            &canary,
            AnalysisState::at(Progressing),
            &healthy(),
            Promoting,
        )
        .iter()
        .map(|s| s.canary_weight)
        .collect();
        assert_eq!(weights, [5, 25, 70, 70]);
    }

    #[test]
    fn without_any_step_the_run_stays_at_zero() {
        let canary = canary(CanaryAnalysis {
            threshold: Some(1),
            ..Default::default()
        });
        let state = at(Progressing, 0, 0, 0);
        assert_eq!(next(&canary, state, &healthy()), state);
    }

    #[test]
    fn blue_green_counts_iterations_then_routes_all_then_promotes() {
        let canary = canary(blue_green(3));
        let states = run_until(
            &canary,
            AnalysisState::at(Progressing),
            &healthy(),
            Succeeded,
        );
        let trace: Vec<(CanaryPhase, u32, u32)> = states
            .iter()
            .map(|s| (s.phase.expect("phase"), s.canary_weight, s.iterations))
            .collect();
        assert_eq!(
            trace,
            [
                (Progressing, 0, 1),
                (Progressing, 0, 2),
                (Progressing, 0, 3),
                (Progressing, 100, 4),
                (Promoting, 100, 4),
                (Finalising, 0, 0),
                (Succeeded, 0, 0)
            ]
        );
    }

    #[test]
    fn blue_green_waiting_promotion_runs_one_more_iteration() {
        let canary = canary(blue_green(3));
        let closed = Facts {
            confirm_promotion: Some(Gate::Closed),
            ..healthy()
        };
        let waiting = next(&canary, at(Progressing, 0, 0, 3), &closed);
        assert_eq!(waiting, at(WaitingPromotion, 0, 0, 2));
        let again = next(&canary, waiting, &closed);
        assert_eq!(again, at(WaitingPromotion, 0, 0, 3));
        assert_eq!(
            next(&canary, again, &healthy()),
            at(WaitingPromotion, 100, 0, 4)
        );
    }

    #[test]
    fn ab_testing_routes_matched_traffic_and_promotes_after_iterations() {
        let analysis = CanaryAnalysis {
            match_requests: vec![HttpMatchRequest::default()],
            ..blue_green(2)
        };
        let canary = canary(analysis);
        let states = run_until(
            &canary,
            AnalysisState::at(Progressing),
            &healthy(),
            Promoting,
        );
        let trace: Vec<(CanaryPhase, u32, u32)> = states
            .iter()
            .map(|s| (s.phase.expect("phase"), s.canary_weight, s.iterations))
            .collect();
        assert_eq!(
            trace,
            [
                (Progressing, 100, 1),
                (Progressing, 100, 2),
                (Promoting, 100, 2)
            ]
        );
    }
}
