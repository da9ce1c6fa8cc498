//! Flux-style status conditions: `Ready`, `Reconciling` and `Stalled`, with reasons that kstatus
//! understands (`Ready=True` is Current, `Reconciling=True` is InProgress, `Stalled=True` is
//! Failed), as Flux's `fluxcd/pkg/runtime/conditions` sets them.
//!
//! Everything here is a pure function over a `Vec<Condition>`; the reconcilers write the result.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition every Sluice object carries: `True` when the last reconcile succeeded.
pub const READY: &str = "Ready";
/// `True` while a reconcile is under way or waits for a retry (kstatus: InProgress).
pub const RECONCILING: &str = "Reconciling";
/// `True` when the object cannot be reconciled until its spec changes (kstatus: Failed).
pub const STALLED: &str = "Stalled";

/// Reason of `Ready=True` after a successful reconcile (Flux: `meta.SucceededReason`).
pub const SUCCEEDED: &str = "Succeeded";
/// Reason of `Reconciling=True` while work is under way (Flux: `meta.ProgressingReason`).
pub const PROGRESSING: &str = "Progressing";
/// Reason of `Reconciling=True` after an error that a retry may fix (Flux:
/// `meta.ProgressingWithRetryReason`).
pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";

/// The outcome of one reconcile, as the conditions must tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done: `Ready=True`; `Reconciling` and `Stalled` are removed.
    Ready {
        /// The `Ready` message, e.g. `Applied revision: main@sha1:<hash>`.
        message: String,
    },
    /// Under way (for example waiting for health checks): `Reconciling=True`, `Ready=Unknown`.
    Progressing {
        /// The `Reconciling` and `Ready` message: what is under way.
        message: String,
    },
    /// Failed, and a retry with backoff may fix it: `Ready=False` with `reason`,
    /// `Reconciling=True` (`ProgressingWithRetry`), `Stalled` removed.
    Retrying {
        /// The `Ready=False` reason, e.g. `GitOperationFailed`.
        reason: String,
        /// The `Ready=False` message: the error.
        message: String,
    },
    /// Failed, and only a change of spec can fix it: `Ready=False` and `Stalled=True`, both with
    /// `reason`; `Reconciling` removed.
    Stalled {
        /// The `Ready=False` and `Stalled=True` reason, e.g. `InvalidSemverRange`.
        reason: String,
        /// The `Ready=False` and `Stalled=True` message: the error.
        message: String,
    },
}

/// Sets `conditions` to tell `outcome` for an object at `generation`, at time `now`.
///
/// A condition keeps its `lastTransitionTime` while its status does not change, as the
/// Kubernetes API conventions require; every condition it sets carries `observedGeneration`.
pub fn apply_outcome(
    conditions: &mut Vec<Condition>,
    outcome: &Outcome,
    generation: Option<i64>,
    now: &Time,
) {
    let mut set = |type_: &str, status: &str, reason: &str, message: &str| {
        set_condition(
            conditions,
            Condition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: reason.to_owned(),
                message: message.to_owned(),
                observed_generation: generation,
                last_transition_time: now.clone(),
            },
        )
    };
    match outcome {
        Outcome::Ready { message } => {
            set(READY, "True", SUCCEEDED, message);
            remove_condition(conditions, RECONCILING);
            remove_condition(conditions, STALLED);
        }
        Outcome::Progressing { message } => {
            set(RECONCILING, "True", PROGRESSING, message);
            set(READY, "Unknown", PROGRESSING, message);
            remove_condition(conditions, STALLED);
        }
        Outcome::Retrying { reason, message } => {
            set(RECONCILING, "True", PROGRESSING_WITH_RETRY, message);
            set(READY, "False", reason, message);
            remove_condition(conditions, STALLED);
        }
        Outcome::Stalled { reason, message } => {
            set(STALLED, "True", reason, message);
            set(READY, "False", reason, message);
            remove_condition(conditions, RECONCILING);
        }
    }
}

/// Inserts or replaces the condition of `new.type_`, keeping the old `lastTransitionTime` when
/// the status is unchanged.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

/// Removes the condition of `type_`, if any.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// The condition of `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether `Ready=True` and was observed at `generation` (what `kubectl wait` and kstatus check).
pub fn is_ready_at(conditions: &[Condition], generation: Option<i64>) -> bool {
    find(conditions, READY)
        .is_some_and(|c| c.status == "True" && c.observed_generation == generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn retrying() -> Outcome {
        Outcome::Retrying {
            reason: "GitOperationFailed".into(),
            message: "unreachable".into(),
        }
    }

    #[test]
    fn ready_removes_reconciling_and_stalled() {
        let mut conditions = Vec::new();
        apply_outcome(
            &mut conditions,
            &Outcome::Stalled {
                reason: "InvalidRange".into(),
                message: "bad".into(),
            },
            Some(1),
            &time(1),
        );
        assert!(find(&conditions, STALLED).is_some());
        apply_outcome(
            &mut conditions,
            &Outcome::Ready {
                message: "ok".into(),
            },
            Some(2),
            &time(2),
        );
        assert_eq!(conditions.len(), 1);
        assert!(is_ready_at(&conditions, Some(2)));
        assert!(!is_ready_at(&conditions, Some(1)));
    }

    #[test]
    fn retrying_sets_ready_false_with_reason_and_reconciling() {
        let mut conditions = Vec::new();
        apply_outcome(&mut conditions, &retrying(), Some(3), &time(1));
        let ready = find(&conditions, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "GitOperationFailed")
        );
        assert_eq!(ready.observed_generation, Some(3));
        let reconciling = find(&conditions, RECONCILING).unwrap();
        assert_eq!(reconciling.reason, PROGRESSING_WITH_RETRY);
    }

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let mut conditions = Vec::new();
        apply_outcome(&mut conditions, &retrying(), Some(1), &time(10));
        apply_outcome(&mut conditions, &retrying(), Some(1), &time(20));
        assert_eq!(
            find(&conditions, READY).unwrap().last_transition_time,
            time(10)
        );
        apply_outcome(
            &mut conditions,
            &Outcome::Ready {
                message: "ok".into(),
            },
            Some(1),
            &time(30),
        );
        assert_eq!(
            find(&conditions, READY).unwrap().last_transition_time,
            time(30)
        );
    }
}
