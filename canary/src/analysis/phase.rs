//! The part of the Canary status the state machine reads and writes, and what entering a phase
//! does to it (Flagger's `setStatusPhase` side effects, docs/canary.md §1.8).

use crate::api::canary::{CanaryPhase, CanaryStatus};

/// The analysis state: phase and counters. `canary_weight` is the live canary weight of the
/// routes (Flagger reads it from the router object each tick), so the state machine keeps it while
/// WaitingPromotion holds `maxWeight`, where Flagger's informational status field shows 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisState {
    /// Current phase; `None` before the first reconcile.
    pub phase: Option<CanaryPhase>,
    /// Canary traffic weight, 0–100.
    pub canary_weight: u32,
    /// Failed checks of the current run.
    pub failed_checks: u32,
    /// Iterations done (A/B testing, Blue/Green).
    pub iterations: u32,
}

impl AnalysisState {
    /// A state in `phase` with every counter at 0.
    pub fn at(phase: CanaryPhase) -> Self {
        Self {
            phase: Some(phase),
            canary_weight: 0,
            failed_checks: 0,
            iterations: 0,
        }
    }

    /// Reads the state from a Canary status; pass the router's live weight as `canary_weight`
    /// when the controller has it.
    pub fn from_status(status: &CanaryStatus, canary_weight: u32) -> Self {
        Self {
            phase: status.phase,
            canary_weight,
            failed_checks: status.failed_checks,
            iterations: status.iterations,
        }
    }

    /// The state after moving to `phase`, as Flagger's `setStatusPhase`: iterations go to 0 for
    /// every phase but Progressing, Waiting and Promoting, and to `analysis_iterations - 1` for
    /// WaitingPromotion (so that Blue/Green and A/B runs one more iteration before asking again).
    pub fn enter(self, phase: CanaryPhase, analysis_iterations: u32) -> Self {
        let iterations = match phase {
            CanaryPhase::Progressing | CanaryPhase::Waiting | CanaryPhase::Promoting => {
                self.iterations
            }
            CanaryPhase::WaitingPromotion => analysis_iterations.saturating_sub(1),
            _ => 0,
        };
        Self {
            phase: Some(phase),
            iterations,
            ..self
        }
    }

    /// True in the phases where an analysis run is under way and every tick advances it
    /// (Flagger's `shouldAdvance` list): Progressing, Waiting, WaitingPromotion, Promoting, Finalising.
    pub fn is_running(&self) -> bool {
        matches!(
            self.phase,
            Some(
                CanaryPhase::Progressing
                    | CanaryPhase::Waiting
                    | CanaryPhase::WaitingPromotion
                    | CanaryPhase::Promoting
                    | CanaryPhase::Finalising
            )
        )
    }

    /// True in Progressing and WaitingPromotion, where the checks run, a new revision restarts the
    /// run and the threshold and rollback hooks apply.
    pub fn is_analysing(&self) -> bool {
        matches!(
            self.phase,
            Some(CanaryPhase::Progressing | CanaryPhase::WaitingPromotion)
        )
    }
}

/// The `Promoted` condition of a phase: status (`True`, `False`, `Unknown`) and message, as Flagger's
/// `MakeStatusConditions` (docs/canary.md §1.8). The reason is the phase name.
pub fn promoted_condition(phase: CanaryPhase) -> (&'static str, &'static str) {
    match phase {
        CanaryPhase::Initialized => ("True", "Deployment initialization completed."),
        CanaryPhase::Succeeded => (
            "True",
            "Canary analysis completed successfully, promotion finished.",
        ),
        CanaryPhase::Failed => (
            "False",
            "Canary analysis failed, Deployment scaled to zero.",
        ),
        CanaryPhase::Progressing => (
            "Unknown",
            "New revision detected, progressing canary analysis.",
        ),
        CanaryPhase::Waiting | CanaryPhase::WaitingPromotion => {
            ("Unknown", "Waiting for approval.")
        }
        CanaryPhase::Promoting => (
            "Unknown",
            "Canary analysis completed, starting primary rolling update.",
        ),
        CanaryPhase::Finalising => (
            "Unknown",
            "Canary analysis completed, routing all traffic to primary.",
        ),
        CanaryPhase::Initializing => (
            "Unknown",
            "New Deployment detected, starting initialization.",
        ),
        CanaryPhase::Terminating | CanaryPhase::Terminated => {
            ("Unknown", "Canary is being deleted.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> AnalysisState {
        AnalysisState {
            phase: Some(CanaryPhase::Progressing),
            canary_weight: 40,
            failed_checks: 2,
            iterations: 3,
        }
    }

    #[test]
    fn entering_keeps_iterations_only_in_running_phases() {
        for phase in [
            CanaryPhase::Progressing,
            CanaryPhase::Waiting,
            CanaryPhase::Promoting,
        ] {
            assert_eq!(busy().enter(phase, 5).iterations, 3, "{phase}");
        }
        for phase in [
            CanaryPhase::Finalising,
            CanaryPhase::Succeeded,
            CanaryPhase::Failed,
            CanaryPhase::Initialized,
        ] {
            assert_eq!(busy().enter(phase, 5).iterations, 0, "{phase}");
        }
    }

    #[test]
    fn waiting_promotion_rewinds_one_iteration_and_holds_weight() {
        let state = busy().enter(CanaryPhase::WaitingPromotion, 5);
        assert_eq!(
            (state.iterations, state.canary_weight, state.failed_checks),
            (4, 40, 2)
        );
        assert_eq!(busy().enter(CanaryPhase::WaitingPromotion, 0).iterations, 0);
    }

    #[test]
    fn running_and_analysing_phases() {
        assert!(AnalysisState::at(CanaryPhase::Finalising).is_running());
        assert!(!AnalysisState::at(CanaryPhase::Finalising).is_analysing());
        assert!(AnalysisState::at(CanaryPhase::WaitingPromotion).is_analysing());
        assert!(!AnalysisState::at(CanaryPhase::Succeeded).is_running());
        assert!(
            !AnalysisState {
                phase: None,
                ..busy()
            }
            .is_running()
        );
    }

    #[test]
    fn promoted_condition_is_true_only_when_promoted() {
        assert_eq!(promoted_condition(CanaryPhase::Succeeded).0, "True");
        assert_eq!(promoted_condition(CanaryPhase::Failed).0, "False");
        assert_eq!(
            promoted_condition(CanaryPhase::WaitingPromotion),
            ("Unknown", "Waiting for approval.")
        );
    }

    #[test]
    fn from_status_takes_the_live_weight() {
        let status = CanaryStatus {
            phase: Some(CanaryPhase::Progressing),
            canary_weight: 0,
            failed_checks: 1,
            iterations: 2,
            ..Default::default()
        };
        let state = AnalysisState::from_status(&status, 30);
        assert_eq!(
            (state.canary_weight, state.failed_checks, state.iterations),
            (30, 1, 2)
        );
    }
}
