//! Why a Kustomization reconcile failed, with Flux's condition reasons.

use sluice_runtime::ReconcileError;

/// Errors of a Kustomization reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A duration field is not a Go duration.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// A cross-namespace reference is blocked by `--no-cross-namespace-refs` (terminal).
    #[error("{0}")]
    AccessDenied(String),
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
