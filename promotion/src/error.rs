//! Why a Pipeline reconcile failed; each becomes the `Ready=False` reason and message.

use sluice_gitops::forge::ForgeError;
use sluice_gitops::notification::credentials::CredentialsError;
use sluice_runtime::ReconcileError;
use sluice_runtime::references::AccessDenied;

use crate::stage_git::StageGitError;

/// Errors of a Pipeline reconcile.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source's URL is refused (`file://` without `--allow-file-sources`, `git://`, ...).
    #[error(transparent)]
    SourceUrl(#[from] sluice_gitops::source::policy::UrlError),
    /// The GitRepository is missing, has no artifact yet, or could not be patched.
    #[error("source: {0}")]
    Source(String),
    /// `--no-cross-namespace-refs` forbids a reference's namespace (the sourceRef's, or a stage
    /// image policy's).
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// The Provider is missing, not a Git host, or its credentials are unusable.
    #[error("provider {name}: {message}")]
    Provider {
        /// The Provider's name.
        name: String,
        /// Why.
        message: String,
    },
    /// The Provider's token does not work or the forge is unreachable.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// A stage's image could not be read from the source artifact.
    #[error("reading stage images: {0}")]
    Images(#[source] StageGitError),
    /// The scratch folder for the unpacked artifact could not be made.
    #[error("scratch folder: {0}")]
    Scratch(#[source] std::io::Error),
    /// A stage names its image in a way Sluice cannot promote (yet).
    #[error("stage {stage}: {message}")]
    InvalidStage {
        /// The stage.
        stage: String,
        /// Why.
        message: String,
    },
    /// The promotion commit could not be written or pushed; nothing was pushed.
    #[error("promotion commit: {0}")]
    Git(#[from] StageGitError),
    /// The head of a promotion pull request was not the commit Sluice pushed (someone pushed to
    /// its branch): it was not merged, and Sluice's commit was pushed again.
    #[error(
        "stage {stage}: the head of pull request #{number} was {found}, not the commit Sluice \
         pushed: it was not merged, and Sluice pushed its commit {pushed} again"
    )]
    PromotionBranchMoved {
        /// The stage the pull request promotes into.
        stage: String,
        /// The pull request.
        number: u64,
        /// The commit its head was at, as the forge said.
        found: String,
        /// The commit Sluice pushed in its place.
        pushed: String,
    },
    /// A blocking task (reading stage images, writing a promotion) panicked or was cancelled.
    #[error("blocking task: {0}")]
    Blocking(String),
    /// A stage's Kustomization or canary failed: the promotion stops here.
    #[error("stage {stage} failed: {message}")]
    StageFailed {
        /// The stage.
        stage: String,
        /// The Kustomization's or canary's message.
        message: String,
    },
    /// The API server could not be read.
    #[error("{what}: {source}")]
    Kube {
        /// What was read.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl From<CredentialsError> for PipelineError {
    fn from(error: CredentialsError) -> Self {
        match error {
            CredentialsError::Forge(forge) => PipelineError::Forge(forge),
            other => PipelineError::Provider {
                name: String::new(),
                message: other.to_string(),
            },
        }
    }
}

impl ReconcileError for PipelineError {
    fn reason(&self) -> String {
        match self {
            PipelineError::Source(_) => "SourceNotReady",
            PipelineError::AccessDenied(_) => "AccessDenied",
            PipelineError::Provider { .. } | PipelineError::Forge(_) => "ProviderFailed",
            PipelineError::Images(_) => "InvalidStageImage",
            PipelineError::SourceUrl(_) => "URLInvalid",
            PipelineError::InvalidStage { .. } => "InvalidStage",
            PipelineError::Git(_) => "GitOperationFailed",
            PipelineError::PromotionBranchMoved { .. } => "PromotionBranchMoved",
            PipelineError::Scratch(_) | PipelineError::Blocking(_) => "InternalError",
            PipelineError::StageFailed { .. } => "StageFailed",
            PipelineError::Kube { .. } => "ReadFailed",
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        matches!(
            self,
            PipelineError::AccessDenied(_)
                | PipelineError::InvalidStage { .. }
                | PipelineError::SourceUrl(_)
        )
    }
}
