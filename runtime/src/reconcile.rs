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
    /// When to reconcile again; `None` means the object's `spec.interval` after a success, and
    /// its retry interval or the backoff after a failure (see [`Reconciled::next_reconcile`]).
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

    /// Ends a failed reconcile that should be looked at again after `after` whatever the
    /// object's retry interval, as Flux's `--requeue-dependency` does for sources and
    /// dependencies that are not ready yet.
    pub fn failed_retrying_after(error: E, after: Duration) -> Self {
        Reconciled {
            requeue_after: Some(after),
            ..Self::failed(error)
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

impl<E: ReconcileError> Reconciled<E> {
    /// When to reconcile the object again, `None` meaning only when it changes: after
    /// `requeue_after` when set; else after `interval` on success; never for a stalled error;
    /// after `retry_interval` on another error when the kind has one (Flux's
    /// `spec.retryInterval`), else after `backoff` (the runtime's exponential delay).
    pub fn next_reconcile(
        &self,
        interval: Duration,
        retry_interval: Option<Duration>,
        backoff: Duration,
    ) -> Option<Duration> {
        match &self.outcome {
            Err(error) if error.is_stalled() => None,
            _ if self.requeue_after.is_some() => self.requeue_after,
            Ok(_) => Some(interval),
            Err(_) => Some(retry_interval.unwrap_or(backoff)),
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

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Transient;

    impl ReconcileError for Transient {
        fn reason(&self) -> String {
            "GitOperationFailed".into()
        }
        fn is_stalled(&self) -> bool {
            false
        }
    }

    #[test]
    fn failures_retry_at_the_retry_interval_or_back_off_and_stalls_wait() {
        let (interval, retry, backoff) = (
            Duration::from_secs(600),
            Some(Duration::from_secs(60)),
            Duration::from_secs(2),
        );
        let failed = Reconciled::failed(Transient);
        assert_eq!(
            failed.next_reconcile(interval, retry, backoff),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            failed.next_reconcile(interval, None, backoff),
            Some(backoff)
        );
        let waiting = Reconciled::failed_retrying_after(Transient, Duration::from_secs(30));
        assert_eq!(
            waiting.next_reconcile(interval, retry, backoff),
            Some(Duration::from_secs(30))
        );
        let stalled = Reconciled::failed(BadRange("x".into()));
        assert_eq!(stalled.next_reconcile(interval, retry, backoff), None);
        let ready = Reconciled::<Transient>::ready("ok");
        assert_eq!(
            ready.next_reconcile(interval, retry, backoff),
            Some(interval)
        );
        let progressing = Reconciled::<Transient>::progressing("wait", Duration::from_secs(5));
        assert_eq!(
            progressing.next_reconcile(interval, retry, backoff),
            Some(Duration::from_secs(5))
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
