//! The errors a kustomize build can end with.

use std::path::PathBuf;

/// Why a build failed. Every variant names the file or directory at fault, as `kustomize build`
/// does, so that a person can fix it; none of them is transient (a retry of the same input fails
/// the same way) except [`Error::Deadline`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
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
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file load that leaves the directory the build may read from (kustomize's
    /// `LoadRestrictionsRootOnly`).
    #[error("security; file '{path}' is not in or below '{root}'")]
    OutsideRoot {
        /// The file asked for.
        path: PathBuf,
        /// The directory it must be in or below.
        root: PathBuf,
    },
    /// A kustomization includes itself, directly or through other bases.
    #[error("cycle detected: '{0}' includes itself")]
    Cycle(PathBuf),
    /// A feature Sluice refuses: remote bases, helm charts, exec and container plugins.
    #[error("{path}: {message}")]
    Unsupported {
        /// The kustomization file that asks for it.
        path: PathBuf,
        /// What is refused.
        message: String,
    },
    /// A build step failed on the resources (conflicts, unmatched patches, bad replacements).
    #[error("{path}: {message}")]
    Build {
        /// The kustomization file or directory whose build failed.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An input exceeds one of the [`limits`](crate::limits): a file larger than
    /// [`MAX_FILE_BYTES`](crate::limits::MAX_FILE_BYTES), or not a regular file. The limits the
    /// YAML reader enforces (aliases, nesting) come as [`Error::Malformed`] of the file.
    #[error("{path}: {message}")]
    Limit {
        /// The file refused.
        path: PathBuf,
        /// Which limit, with its figure.
        message: String,
    },
    /// The build ran past its [`deadline`](crate::BuildOptions::deadline) and stopped. The only
    /// transient error: a retry with more time may succeed.
    #[error("{path}: build deadline exceeded")]
    Deadline {
        /// The file it was about to load, or the kustomization whose step it was about to run.
        path: PathBuf,
    },
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
