//! What the controller observes during one tick, and how the state machine asks for it.
//!
//! Observations are costly (webhook calls, Prometheus queries) and some have side effects (load
//! tests), so the state machine asks for them one at a time, in Flagger's order: `decide` returns
//! `Decision::Observe(fact)` for the first fact it needs that is still `None`; the caller fills it
//! in and calls again. A replay fills everything up front.

use super::check::CheckOutcome;

/// Whether a workload (the primary or the canary Deployment) is ready, as Flagger's
/// `IsPrimaryReady`/`IsCanaryReady`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `readyThreshold`% of the updated replicas are available.
    Ready,
    /// Still rolling out: wait for the next tick (Flagger's retriable error).
    NotReady,
    /// Not ready past `progressDeadlineSeconds`: roll back (Flagger's non-retriable error).
    DeadlineExceeded,
}

/// The combined answer of every webhook of one gate type; a gate without hooks is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Every hook of that type answered ≤ 202 (or there is none).
    Open,
    /// A hook of that type failed: halt.
    Closed,
}

/// A fact the state machine needs to decide a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fact {
    /// Readiness of `<target>-primary`.
    PrimaryReadiness,
    /// Readiness of the target (canary) Deployment.
    CanaryReadiness,
    /// The `confirm-rollout` hooks.
    ConfirmRollout,
    /// The `rollback` hooks: does any of them answer ≤ 202 (roll back now)?
    RollbackHooks,
    /// The `pre-rollout` hooks, combined.
    PreRolloutHooks,
    /// The `rollout` hooks (and typeless hooks), combined.
    RolloutHooks,
    /// The metric checks, in `analysis.metrics` order.
    Metrics,
    /// The `confirm-traffic-increase` hooks.
    ConfirmTrafficIncrease,
    /// The `confirm-promotion` hooks.
    ConfirmPromotion,
}

/// The observations of one tick; `None` means not observed yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The target's revision differs from both `lastAppliedSpec` and `lastPromotedSpec`, or its
    /// tracked ConfigMaps/Secrets changed (see `revision::Revision::differs_from`). Always known.
    pub revision_changed: bool,
    /// See [`Fact::PrimaryReadiness`].
    pub primary: Option<Readiness>,
    /// See [`Fact::CanaryReadiness`].
    pub canary: Option<Readiness>,
    /// See [`Fact::ConfirmRollout`].
    pub confirm_rollout: Option<Gate>,
    /// See [`Fact::RollbackHooks`]: `true` means a rollback hook asked for a rollback.
    pub rollback_requested: Option<bool>,
    /// See [`Fact::PreRolloutHooks`].
    pub pre_rollout: Option<CheckOutcome>,
    /// See [`Fact::RolloutHooks`].
    pub rollout_hooks: Option<CheckOutcome>,
    /// See [`Fact::Metrics`]: one outcome per metric, in order (checks after a failure may be left
    /// out, as Flagger stops at the first failure).
    pub metrics: Option<Vec<CheckOutcome>>,
    /// See [`Fact::ConfirmTrafficIncrease`].
    pub confirm_traffic_increase: Option<Gate>,
    /// See [`Fact::ConfirmPromotion`].
    pub confirm_promotion: Option<Gate>,
}

/// A fact that is needed and not yet observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Missing(pub Fact);

/// Returns the observed value of `fact`, or `Missing(fact)` when it is `None`.
pub(crate) fn need<T: Clone>(value: &Option<T>, fact: Fact) -> Result<T, Missing> {
    value.clone().ok_or(Missing(fact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_returns_the_value_or_names_the_missing_fact() {
        assert_eq!(
            need(&Some(Gate::Open), Fact::ConfirmRollout),
            Ok(Gate::Open)
        );
        assert_eq!(
            need::<Gate>(&None, Fact::ConfirmPromotion),
            Err(Missing(Fact::ConfirmPromotion))
        );
    }
}
