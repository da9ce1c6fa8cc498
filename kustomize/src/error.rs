//! The errors a kustomize build can end with.

use std::path::PathBuf;

/// Why a build failed. Every variant names the file or directory at fault, as `kustomize build`
/// does, so that a person can fix it; none of them is transient (a retry of the same input fails
/// the same way).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A directory has no `kustomization.yaml`, `kustomization.yml` or `Kustomization`.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{0}'"
    )]
    MissingKustomization(PathBuf),
    /// A directory has more than one kustomization file.
    #[error("found multiple kustomization files under: {0}")]
    MultipleKustomizations(PathBuf),
    /// A file is not valid YAML, or does not have the shape its field needs.
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    /// A file load that leaves the directory the build may read from (kustomize's
    /// `LoadRestrictionsRootOnly`).
    #[error("security; file '{path}' is not in or below '{root}'")]
    OutsideRoot { path: PathBuf, root: PathBuf },
    /// A kustomization includes itself, directly or through other bases.
    #[error("cycle detected: '{0}' includes itself")]
    Cycle(PathBuf),
    /// A feature Sluice refuses: remote bases, helm charts, exec and container plugins.
    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    /// A build step failed on the resources (conflicts, unmatched patches, bad replacements).
    #[error("{path}: {message}")]
    Build { path: PathBuf, message: String },
}

impl Error {
    /// Wraps a build-step failure `message` as coming from the kustomization in `dir`.
    pub(crate) fn build(dir: &std::path::Path, message: impl Into<String>) -> Self {
        Self::Build {
            path: dir.to_path_buf(),
            message: message.into(),
        }
    }
}

/// The failure of one transformation step, before it is tied to the kustomization that ran it.
pub(crate) type StepResult<T> = Result<T, String>;
