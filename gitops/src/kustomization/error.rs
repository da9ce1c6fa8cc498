//! Why a Kustomization reconcile failed, with Flux's condition reasons.

use sluice_runtime::ReconcileError;
use sluice_runtime::redact::Redactor;
use sluice_runtime::references::AccessDenied;

/// Errors of a Kustomization reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A duration field is not a Go duration.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// A cross-namespace reference is blocked by `--no-cross-namespace-refs` (terminal).
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// The source does not exist or has no artifact yet.
    #[error("{0}")]
    SourceNotReady(String),
    /// A `dependsOn` Kustomization is not ready.
    #[error("{0}")]
    DependencyNotReady(String),
    /// The artifact could not be downloaded, verified or unpacked.
    #[error("{0}")]
    ArtifactFailed(String),
    /// The build failed; nothing was applied.
    #[error("{0}")]
    BuildFailed(String),
    /// An object could not be applied (includes RBAC refusals of the impersonated account).
    #[error("{0}")]
    ReconciliationFailed(String),
    /// An object could not be pruned.
    #[error("{0}")]
    PruneFailed(String),
    /// An object did not become healthy in time, or failed.
    #[error("{0}")]
    HealthCheckFailed(String),
    /// A new source revision arrived while health checks were running.
    #[error("health check canceled: new revision {0} is available")]
    HealthCheckCanceled(String),
}

impl Error {
    /// This error with each Secret value `redactor` holds replaced by `*****` in its message
    /// (an API server's refusal quotes the values it refused, substituted ones included).
    pub fn redacted(self, redactor: &Redactor) -> Self {
        if redactor.is_empty() {
            return self;
        }
        let redact = |message: String| redactor.redact(&message);
        match self {
            Error::InvalidSpec(message) => Error::InvalidSpec(redact(message)),
            Error::AccessDenied(denied) => Error::AccessDenied(denied),
            Error::SourceNotReady(message) => Error::SourceNotReady(redact(message)),
            Error::DependencyNotReady(message) => Error::DependencyNotReady(redact(message)),
            Error::ArtifactFailed(message) => Error::ArtifactFailed(redact(message)),
            Error::BuildFailed(message) => Error::BuildFailed(redact(message)),
            Error::ReconciliationFailed(message) => Error::ReconciliationFailed(redact(message)),
            Error::PruneFailed(message) => Error::PruneFailed(redact(message)),
            Error::HealthCheckFailed(message) => Error::HealthCheckFailed(redact(message)),
            Error::HealthCheckCanceled(revision) => Error::HealthCheckCanceled(redact(revision)),
        }
    }
}

impl ReconcileError for Error {
    fn reason(&self) -> String {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::AccessDenied(_) => "AccessDenied",
            Error::SourceNotReady(_) => "ArtifactFailed",
            Error::DependencyNotReady(_) => "DependencyNotReady",
            Error::ArtifactFailed(_) => "ArtifactFailed",
            Error::BuildFailed(_) => "BuildFailed",
            Error::ReconciliationFailed(_) => "ReconciliationFailed",
            Error::PruneFailed(_) => "PruneFailed",
            Error::HealthCheckFailed(_) => "HealthCheckFailed",
            Error::HealthCheckCanceled(_) => "HealthCheckCanceled",
        }
        .into()
    }

    fn is_stalled(&self) -> bool {
        matches!(self, Error::InvalidSpec(_) | Error::AccessDenied(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_reaches_every_message() {
        let redactor = Redactor::new(["hunter22"]);
        let failed = Error::ReconciliationFailed(
            "ConfigMap/a/b apply failed (Invalid) metadata.labels: Invalid value: \"hunter22\""
                .into(),
        )
        .redacted(&redactor);
        assert_eq!(failed.reason(), "ReconciliationFailed");
        assert!(!failed.to_string().contains("hunter22"));
        assert!(failed.to_string().contains("\"*****\""));
        let built = Error::BuildFailed("hunter22".into()).redacted(&Redactor::default());
        assert_eq!(built.to_string(), "hunter22");
    }
}
