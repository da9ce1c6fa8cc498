//! What a reconciler returns and how the runtime turns it into status, events and a requeue.
//!
//! The reconcilers stay thin and never write conditions themselves: they return a [`Reconciled`]
//! and the runtime sets `Ready`/`Reconciling`/`Stalled`, `observedGeneration` and
//! `lastHandledReconcileAt` (as Flux's `patch.SerialPatcher` does) in one server-side apply of
//! the status.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::conditions::Outcome;

/// An error a reconcile can end with. Its [`reason`](ReconcileError::reason) becomes the
/// `Ready=False` reason; [`is_stalled`](ReconcileError::is_stalled) tells whether a retry can fix
/// it (`false`: `Reconciling=True` and backoff) or only a spec change can (`true`: `Stalled=True`,
/// no retry until the object changes).
pub trait ReconcileError: std::error::Error + Send + Sync + 'static {
    /// A CamelCase condition reason, e.g. `GitOperationFailed`.
    fn reason(&self) -> String;
    /// Whether only a change of the object's spec can fix this error.
    fn is_stalled(&self) -> bool;
}

/// The result of one reconcile.
#[derive(Debug)]
pub struct Reconciled<E> {
    /// Status fields to set besides the conditions, as JSON (a `null` removes a field). Fields
    /// not named here keep their current values.
    pub status: Map<String, Value>,
    /// Success (`Ready` or still `Progressing`) or the error the conditions report.
    pub outcome: Result<Outcome, E>,
    /// When to reconcile again after a success; `None` means the object's `spec.interval`.
    pub requeue_after: Option<Duration>,
}

impl<E> Reconciled<E> {
    /// A successful reconcile: `Ready=True` with `message`.
    pub fn ready(message: impl Into<String>) -> Self {
        Self::from_outcome(Ok(Outcome::Ready {
            message: message.into(),
        }))
    }

    /// A reconcile still under way (`Reconciling=True`), to be looked at again after `after`.
    pub fn progressing(message: impl Into<String>, after: Duration) -> Self {
        Reconciled {
            requeue_after: Some(after),
            ..Self::from_outcome(Ok(Outcome::Progressing {
                message: message.into(),
            }))
        }
    }

    /// A failed reconcile.
    pub fn failed(error: E) -> Self {
        Self::from_outcome(Err(error))
    }

    /// Ends a reconcile with `result`: `Ok(message)` is [`Reconciled::ready`].
    pub fn from_result(result: Result<String, E>) -> Self {
        match result {
            Ok(message) => Self::ready(message),
            Err(error) => Self::failed(error),
        }
    }

    /// Adds the fields of `status` (any serializable struct of the kind's status, `None` fields
    /// skipped by serde) to the status to write. A value that does not serialize to a JSON object
    /// is ignored.
    pub fn with_status(mut self, status: &impl Serialize) -> Self {
        if let Ok(Value::Object(fields)) = serde_json::to_value(status) {
            self.status.extend(fields);
        }
        self
    }

    fn from_outcome(outcome: Result<Outcome, E>) -> Self {
        Reconciled {
            status: Map::new(),
            outcome,
            requeue_after: None,
        }
    }
}

/// The outcome the conditions must tell for `outcome`.
pub fn conditions_outcome<E: ReconcileError>(outcome: &Result<Outcome, E>) -> Outcome {
    match outcome {
        Ok(outcome) => outcome.clone(),
        Err(error) if error.is_stalled() => Outcome::Stalled {
            reason: error.reason(),
            message: error.to_string(),
        },
        Err(error) => Outcome::Retrying {
            reason: error.reason(),
            message: error.to_string(),
        },
    }
}

/// Merges `fields` into `current` status: a `null` removes the field, anything else replaces it.
pub fn merge_status(current: &mut Map<String, Value>, fields: Map<String, Value>) {
    for (key, value) in fields {
        if value.is_null() {
            current.remove(&key);
        } else {
            current.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("range {0} is invalid")]
    struct BadRange(String);

    impl ReconcileError for BadRange {
        fn reason(&self) -> String {
            "InvalidSemverRange".into()
        }
        fn is_stalled(&self) -> bool {
            true
        }
    }

    #[test]
    fn stalled_errors_stall_and_carry_their_reason() {
        let outcome = conditions_outcome::<BadRange>(&Err(BadRange(">=x".into())));
        assert_eq!(
            outcome,
            Outcome::Stalled {
                reason: "InvalidSemverRange".into(),
                message: "range >=x is invalid".into()
            }
        );
    }

    #[test]
    fn merge_keeps_unnamed_fields_and_removes_nulls() {
        let mut current = serde_json::json!({"a": 1, "b": 2, "c": 3})
            .as_object()
            .unwrap()
            .clone();
        let fields = serde_json::json!({"b": null, "c": 4})
            .as_object()
            .unwrap()
            .clone();
        merge_status(&mut current, fields);
        assert_eq!(Value::Object(current), serde_json::json!({"a": 1, "c": 4}));
    }

    #[test]
    fn with_status_adds_serialized_fields() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Status {
            last_applied_revision: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            artifact: Option<String>,
        }
        let status = Status {
            last_applied_revision: Some("main@sha1:abc".into()),
            artifact: None,
        };
        let reconciled = Reconciled::<BadRange>::ready("ok").with_status(&status);
        assert_eq!(
            Value::Object(reconciled.status),
            serde_json::json!({"lastAppliedRevision": "main@sha1:abc"})
        );
    }
}
