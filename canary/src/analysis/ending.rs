//! How a run ends: rollback, failed promotion, promotion without analysis, and finalisation
//! (Flagger's `rollback`, the #1898 failed-promotion path, `shouldSkipAnalysis` and the Finalising
//! step; docs/canary.md §2.4, §2.7, §2.8).

use crate::api::canary::CanaryPhase;

use super::context::Context;
use super::transition::{Action, Transition};

/// Rolls back after `transition`'s events: routes 100/0, scales the canary to zero, and syncs the
/// status to Failed (counters at 0), then runs the post-rollout hooks. Warns about the threshold
/// first when `failedChecks` has reached it.
pub(crate) fn rollback(cx: &Context<'_>, transition: Transition) -> Transition {
    let failed_checks = transition.state.failed_checks;
    let transition = if cx.policy.threshold_reached(failed_checks) {
        transition.warn(format!(
            "Rolling back {} failed checks threshold reached {failed_checks}",
            cx.canary
        ))
    } else {
        transition
    };
    transition
        .route(0)
        .warn(format!("Canary failed! Scaling down {}", cx.canary))
        .then(Action::ScaleCanaryToZero)
        .sync(CanaryPhase::Failed)
        .then(Action::RunPostRolloutHooks)
}

/// The primary passed its progress deadline. While Promoting or Finalising the new revision is
/// already on its way to the primary, so all traffic goes to the (healthy) canary and the phase is
/// Failed with weight 100 (Flagger's fix for issue #1898); in any other phase, a rollback.
pub(crate) fn primary_failed(cx: &Context<'_>, transition: Transition) -> Transition {
    match transition.state.phase {
        Some(CanaryPhase::Promoting | CanaryPhase::Finalising) => transition
            .warn(format!(
                "Promotion failed! {} progress deadline exceeded, routing all traffic to canary",
                cx.primary
            ))
            .route(100)
            .enter(CanaryPhase::Failed, cx.iterations),
        _ => rollback(
            cx,
            transition.warn(format!(
                "Rolling back {} primary progress deadline exceeded",
                cx.canary
            )),
        ),
    }
}

/// `skipAnalysis`: routes 100/0, promotes, scales the canary to zero and succeeds at once.
pub(crate) fn promote_without_analysis(cx: &Context<'_>, transition: Transition) -> Transition {
    transition
        .route(0)
        .info(format!(
            "Copying {} template spec to {}",
            cx.target, cx.primary
        ))
        .then(Action::Promote)
        .then(Action::ScaleCanaryToZero)
        .enter(CanaryPhase::Succeeded, cx.iterations)
        .info(format!(
            "Promotion completed! Canary analysis was skipped for {}",
            cx.target
        ))
        .then(Action::RunPostRolloutHooks)
}

/// Finalising: all traffic is on the primary; scale the canary to zero and succeed.
pub(crate) fn finalise(cx: &Context<'_>, transition: Transition) -> Transition {
    transition
        .then(Action::ScaleCanaryToZero)
        .enter(CanaryPhase::Succeeded, cx.iterations)
        .then(Action::RunPostRolloutHooks)
        .info(format!("Promotion completed! Scaling down {}", cx.target))
}
