//! What a passing analysis tick does, per strategy (Flagger's `runCanary`, `runAB`,
//! `runBlueGreen`, the promotion gate and `runPromotionTrafficShift`; docs/canary.md §2.6, §2.8, §2.9).

use crate::api::canary::CanaryPhase;

use super::context::Context;
use super::facts::{Fact, Facts, Gate, Missing, need};
use super::step::{self, Strategy};
use super::transition::{Action, Transition};

/// Advances a run after a passing tick, by the strategy of the analysis.
pub(crate) fn advance(
    cx: &Context<'_>,
    transition: Transition,
    facts: &Facts,
) -> Result<Transition, Missing> {
    match Strategy::of(cx.analysis) {
        Strategy::Canary => canary(cx, transition, facts),
        Strategy::BlueGreen => blue_green(cx, transition, facts),
        Strategy::AbTesting => ab_testing(cx, transition, facts),
    }
}

/// Canary: behind the `confirm-traffic-increase` gate (not asked in WaitingPromotion), raise the
/// weight by the next step while below `maxWeight`; at or above it, promote behind the
/// `confirm-promotion` gate. Without any step configured, nothing moves.
fn canary(cx: &Context<'_>, transition: Transition, facts: &Facts) -> Result<Transition, Missing> {
    let weight = transition.state.canary_weight;
    let next = step::next_step_weight(cx.analysis, weight);
    if next == 0 {
        return Ok(transition);
    }
    if transition.state.phase != Some(CanaryPhase::WaitingPromotion)
        && need(
            &facts.confirm_traffic_increase,
            Fact::ConfirmTrafficIncrease,
        )? == Gate::Closed
    {
        return Ok(transition.warn(format!(
            "Halt {} advancement waiting for traffic increase approval",
            cx.canary
        )));
    }
    if weight < step::max_weight(cx.analysis) {
        let weight = step::increased_weight(weight, next);
        return Ok(transition
            .route(weight)
            .info(format!("Advance {} canary weight {weight}", cx.canary)));
    }
    promote_when_confirmed(cx, transition, facts)
}

/// Blue/Green: count iterations on test traffic; then, behind `confirm-promotion`, route all
/// traffic to the canary for one more tick; then promote.
fn blue_green(
    cx: &Context<'_>,
    transition: Transition,
    facts: &Facts,
) -> Result<Transition, Missing> {
    let done = transition.state.iterations;
    if cx.iterations > done {
        return Ok(next_iteration(cx, transition));
    }
    let (transition, gate) = confirm_promotion(cx, transition, facts)?;
    if gate == Gate::Closed {
        return Ok(transition);
    }
    if cx.iterations == done {
        let mut transition = transition
            .info("Routing all traffic to canary")
            .route(step::TOTAL_WEIGHT);
        transition.state.iterations = done.saturating_add(1);
        return Ok(transition);
    }
    Ok(promote(cx, transition))
}

/// A/B testing: route the matched traffic to the canary and count iterations; then promote
/// behind `confirm-promotion`.
fn ab_testing(
    cx: &Context<'_>,
    transition: Transition,
    facts: &Facts,
) -> Result<Transition, Missing> {
    if cx.iterations > transition.state.iterations {
        return Ok(next_iteration(cx, transition.route(step::TOTAL_WEIGHT)));
    }
    let (transition, gate) = confirm_promotion(cx, transition, facts)?;
    if gate == Gate::Closed || cx.iterations != transition.state.iterations {
        return Ok(transition);
    }
    Ok(promote(cx, transition))
}

/// Adds one iteration, with Flagger's event.
fn next_iteration(cx: &Context<'_>, mut transition: Transition) -> Transition {
    transition.state.iterations = transition.state.iterations.saturating_add(1);
    let message = format!(
        "Advance {} canary iteration {}/{}",
        cx.canary, transition.state.iterations, cx.iterations
    );
    transition.info(message)
}

/// Promotes behind the `confirm-promotion` gate.
fn promote_when_confirmed(
    cx: &Context<'_>,
    transition: Transition,
    facts: &Facts,
) -> Result<Transition, Missing> {
    let (transition, gate) = confirm_promotion(cx, transition, facts)?;
    Ok(match gate {
        Gate::Open => promote(cx, transition),
        Gate::Closed => transition,
    })
}

/// Asks the `confirm-promotion` gate. Closed moves to WaitingPromotion (once, with a warning),
/// where the checks keep running every tick and the weight holds.
fn confirm_promotion(
    cx: &Context<'_>,
    transition: Transition,
    facts: &Facts,
) -> Result<(Transition, Gate), Missing> {
    let gate = need(&facts.confirm_promotion, Fact::ConfirmPromotion)?;
    if gate == Gate::Open || transition.state.phase == Some(CanaryPhase::WaitingPromotion) {
        return Ok((transition, gate));
    }
    let waiting = transition
        .enter(CanaryPhase::WaitingPromotion, cx.iterations)
        .warn(format!(
            "Halt {} advancement waiting for promotion approval",
            cx.canary
        ));
    Ok((waiting, gate))
}

/// Copies the target's template to the primary and moves to Promoting.
fn promote(cx: &Context<'_>, transition: Transition) -> Transition {
    transition
        .info(format!(
            "Copying {} template spec to {}",
            cx.target, cx.primary
        ))
        .then(Action::Promote)
        .enter(CanaryPhase::Promoting, cx.iterations)
}

/// Promoting, once the primary has rolled out: with `stepWeightPromotion` 0, all traffic back to
/// the primary and Finalising; otherwise move one step of traffic back per tick and go to
/// Finalising when the canary reaches 0. (As Flagger, a canary already at 0 waits.)
pub(crate) fn shift_traffic_to_primary(cx: &Context<'_>, transition: Transition) -> Transition {
    let step = cx
        .analysis
        .and_then(|a| a.step_weight_promotion)
        .unwrap_or(0);
    if step == 0 {
        return transition
            .info("Routing all traffic to primary")
            .route(0)
            .enter(CanaryPhase::Finalising, cx.iterations);
    }
    let weight = transition.state.canary_weight;
    if weight == 0 {
        return transition;
    }
    let weight = step::promotion_weight(weight, step);
    let primary = step::TOTAL_WEIGHT - weight;
    let transition = transition
        .route(weight)
        .info(format!("Advance {} primary weight {primary}", cx.canary));
    if weight == 0 {
        transition.enter(CanaryPhase::Finalising, cx.iterations)
    } else {
        transition
    }
}
