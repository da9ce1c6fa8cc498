//! What one tick decides: the next analysis state and the actions the controller carries out, in
//! order.

use crate::api::canary::CanaryPhase;

use super::phase::AnalysisState;
use super::step::TOTAL_WEIGHT;

/// A side effect for the controller, in Flagger's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the route weights (percent, summing to 100).
    SetRoutes {
        /// Weight of `<service>-primary`.
        primary: u32,
        /// Weight of `<service>-canary`.
        canary: u32,
    },
    /// Resume the target's autoscaler and scale the target up from zero (Flagger's `ScaleFromZero`).
    ScaleCanaryUp,
    /// Pause the target's autoscaler and scale the target to zero replicas.
    ScaleCanaryToZero,
    /// Copy the target's pod template (and its ConfigMaps/Secrets) to `<target>-primary`.
    Promote,
    /// Record the target's current revision as `lastAppliedSpec` and `trackedConfigs`
    /// (Flagger's `SyncStatus`); entering Initialized or Succeeded also copies it to `lastPromotedSpec`.
    SyncRevision,
    /// Call the `post-rollout` hooks with the new phase.
    RunPostRolloutHooks,
    /// Record a Kubernetes Event on the Canary (and send alerts for warnings).
    Event(Event),
}

/// A Kubernetes Event's type and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub severity: Severity,
    /// Flagger's wording, e.g. `Advance podinfo.test canary weight 10`.
    pub message: String,
}

/// The type of an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Progress.
    Normal,
    /// A halt, a failure or a rollback.
    Warning,
}

/// The outcome of one tick: the next state and the actions, in the order to carry them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state to write back.
    pub state: AnalysisState,
    /// The side effects.
    pub actions: Vec<Action>,
}

impl Transition {
    /// No change from `state` and no action yet.
    pub fn hold(state: AnalysisState) -> Self {
        Self {
            state,
            actions: Vec::new(),
        }
    }

    /// Adds `action`.
    pub fn then(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// Adds a `Normal` event.
    pub fn info(self, message: impl Into<String>) -> Self {
        self.then(Action::Event(Event {
            severity: Severity::Normal,
            message: message.into(),
        }))
    }

    /// Adds a `Warning` event.
    pub fn warn(self, message: impl Into<String>) -> Self {
        self.then(Action::Event(Event {
            severity: Severity::Warning,
            message: message.into(),
        }))
    }

    /// Routes `canary` percent to the canary and the rest to the primary, and records the weight.
    pub fn route(mut self, canary: u32) -> Self {
        self.state.canary_weight = canary;
        self.then(Action::SetRoutes {
            primary: TOTAL_WEIGHT.saturating_sub(canary),
            canary,
        })
    }

    /// Moves to `phase` with Flagger's side effects on the counters (see `AnalysisState::enter`).
    pub fn enter(mut self, phase: CanaryPhase, analysis_iterations: u32) -> Self {
        self.state = self.state.enter(phase, analysis_iterations);
        self
    }

    /// Replaces the state with a fresh run of `phase` (failed checks and iterations at 0), as
    /// Flagger's `SyncStatus`, and records the current revision. The weight stays: it lives in the
    /// routes, which only [`Transition::route`] changes.
    pub fn sync(mut self, phase: CanaryPhase) -> Self {
        self.state = AnalysisState {
            canary_weight: self.state.canary_weight,
            ..AnalysisState::at(phase)
        };
        self.then(Action::SyncRevision)
    }

    /// The messages of the events, in order (for logs and tests).
    pub fn event_messages(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|action| match action {
                Action::Event(event) => Some(event.message.as_str()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_sets_both_weights_and_the_state() {
        let transition = Transition::hold(AnalysisState::at(CanaryPhase::Progressing)).route(30);
        assert_eq!(transition.state.canary_weight, 30);
        assert_eq!(
            transition.actions,
            [Action::SetRoutes {
                primary: 70,
                canary: 30
            }]
        );
    }

    #[test]
    fn sync_resets_counters_keeps_routes_and_records_the_revision() {
        let state = AnalysisState {
            phase: Some(CanaryPhase::Progressing),
            canary_weight: 20,
            failed_checks: 2,
            iterations: 1,
        };
        let transition = Transition::hold(state).sync(CanaryPhase::Failed);
        assert_eq!(
            transition.state,
            AnalysisState {
                canary_weight: 20,
                ..AnalysisState::at(CanaryPhase::Failed)
            }
        );
        assert_eq!(transition.actions, [Action::SyncRevision]);
    }

    #[test]
    fn events_keep_their_order_and_severity() {
        let transition = Transition::hold(AnalysisState::at(CanaryPhase::Progressing))
            .info("a")
            .warn("b");
        assert_eq!(transition.event_messages(), ["a", "b"]);
        assert!(matches!(
            &transition.actions[1],
            Action::Event(Event {
                severity: Severity::Warning,
                ..
            })
        ));
    }
}
