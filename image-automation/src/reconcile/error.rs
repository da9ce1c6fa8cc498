//! Why an automation reconcile failed, with Flux's condition reasons: `Stalled` for what only a
//! spec change can fix, `Ready=False` with backoff for the rest.

use sluice_git::{FetchError, PushError};
use sluice_runtime::ReconcileError;
use sluice_runtime::references::AccessDenied;

use crate::git::automation_run::RunError;

/// A failed reconcile.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// `sourceRef` names another namespace under `--no-cross-namespace-refs` (Stalled
    /// `AccessDenied`, Flux's message).
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// `spec.git` is missing or cannot give a push branch (Stalled `InvalidSourceConfiguration`).
    #[error("invalid source configuration: {0}")]
    InvalidSourceConfiguration(String),
    /// The GitRepository or a Secret could not be read (`SourceManagerFailed`).
    #[error("{what}: {message}")]
    SourceManager {
        /// What was read.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// `policySelector` is not a valid label selector (Stalled `InvalidPolicySelector`).
    #[error("invalid policy selector: {0}")]
    InvalidPolicySelector(String),
    /// The ImagePolicies could not be listed (`ReconciliationFailed`).
    #[error("listing ImagePolicies: {0}")]
    Policies(kube::Error),
    /// The Git run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The run's thread panicked or was cancelled.
    #[error("the Git run did not finish: {0}")]
    Join(String),
}

const ACCESS_DENIED_SIGNS: [&str; 8] = [
    "401",
    "403",
    "Unauthorized",
    "Forbidden",
    "Permission denied",
    "Authentication failed",
    "Host key verification failed",
    "refuses to use a given identity",
];

impl ReconcileError for AutomationError {
    /// Flux's reasons (reference section 1.3), plus `InvalidMessageTemplate` for a template
    /// that does not parse or render.
    fn reason(&self) -> String {
        match self {
            Self::AccessDenied(_) => "AccessDenied",
            Self::InvalidSourceConfiguration(_) => "InvalidSourceConfiguration",
            Self::SourceManager { .. } => "SourceManagerFailed",
            Self::InvalidPolicySelector(_) => "InvalidPolicySelector",
            Self::Policies(_) | Self::Join(_) => "ReconciliationFailed",
            Self::Run(error) => run_reason(error),
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        matches!(
            self,
            Self::AccessDenied(_)
                | Self::InvalidSourceConfiguration(_)
                | Self::InvalidPolicySelector(_)
                | Self::Run(RunError::CommitMessage(_) | RunError::InvalidUpdatePath(_))
        )
    }
}

fn run_reason(error: &RunError) -> &'static str {
    match error {
        RunError::Auth(_) | RunError::Push(PushError::AccessDenied(_)) => "AccessDenied",
        RunError::Fetch(FetchError::Transport { message, .. })
            if ACCESS_DENIED_SIGNS
                .iter()
                .any(|sign| message.contains(sign)) =>
        {
            "AccessDenied"
        }
        RunError::CommitMessage(error) if error.is_removed_field() => "RemovedTemplateField",
        RunError::CommitMessage(_) => "InvalidMessageTemplate",
        RunError::InvalidUpdatePath(_) => "InvalidUpdateStrategy",
        RunError::Update(_) | RunError::UnreadableFiles(_) => "UpdateFailed",
        RunError::CheckoutRef(_) | RunError::CheckoutNotFound(_) => "InvalidSourceConfiguration",
        _ => "GitOperationFailed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit_message::CommitMessageError;

    #[test]
    fn template_errors_stall_and_auth_failures_are_access_denied() {
        let removed = AutomationError::Run(RunError::CommitMessage(
            CommitMessageError::RemovedUpdatedField,
        ));
        assert_eq!(removed.reason(), "RemovedTemplateField");
        assert!(removed.is_stalled());
        let denied = AutomationError::Run(RunError::Fetch(FetchError::Transport {
            url: "http://h/r".into(),
            message: "Received HTTP status 401".into(),
        }));
        assert_eq!(denied.reason(), "AccessDenied");
        assert!(!denied.is_stalled());
        let unparseable = AutomationError::Run(RunError::UnreadableFiles(vec![(
            "a.yaml".into(),
            "bad".into(),
        )]));
        assert_eq!(unparseable.reason(), "UpdateFailed");
    }

    #[test]
    fn a_refused_source_stalls_as_access_denied() {
        let refused = AutomationError::from(AccessDenied {
            kind: "GitRepository".into(),
            namespace: "podinfo".into(),
            name: "podinfo".into(),
        });
        assert_eq!(refused.reason(), "AccessDenied");
        assert!(refused.is_stalled());
        assert_eq!(
            refused.to_string(),
            "cannot access GitRepository/podinfo/podinfo, cross-namespace references have been blocked"
        );
    }
}
