//! The Git side of a promotion, as a trait: reading the image a stage's files name, and writing
//! a commit that moves a stage to another image onto a promotion branch.
//!
//! Why a trait: the setters (Flux's `$imagepolicy` markers, byte-preserving) and the Git
//! machinery (gix fetch and commit, `git push`) live in the image-automation crate, which
//! depends on this one. The `sluice` binary hands its implementation
//! (`sluice_image_automation::promotion::SetterStageGit`) to [`crate::controller`], so the
//! Pipeline reconciler reuses exactly the code image automation runs, without a dependency
//! cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a stage's image is written in the repository (the Pipeline's `stages[].image`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageLocation {
    /// The setter markers of `policy` (`NAMESPACE:NAME`) in the YAML files under `path` (from
    /// the repository root; the root when `None`).
    Markers {
        /// The stage's folder.
        path: Option<String>,
        /// The markers' policy.
        policy: String,
    },
    /// The `images:` entry named `name` of the kustomization file `file` (from the root): its
    /// `newName`, `newTag` and `digest`.
    ImagesEntry {
        /// The kustomization file.
        file: String,
        /// The entry's `name`.
        name: String,
    },
}

/// One promotion commit to write and push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromotionWrite {
    /// A folder of the controller's own, reused between runs as a Git work cache.
    pub work_dir: PathBuf,
    /// The repository URL (the GitRepository's `spec.url`).
    pub url: String,
    /// The GitRepository's `secretRef` data (`username`/`password`, `bearerToken`, `identity`,
    /// `known_hosts`, as Flux's source-controller reads it), when it names one.
    pub credentials: Option<BTreeMap<String, Vec<u8>>>,
    /// The branch the pull request merges into; the commit's parent is its head.
    pub base_branch: String,
    /// The promotion branch to (force-)push, e.g. `sluice/promote/podinfo/qa`.
    pub head_branch: String,
    /// Where the stage's image is written.
    pub location: ImageLocation,
    /// The image to write, `NAME:TAG[@DIGEST]`.
    pub image: String,
    /// The commit message.
    pub message: String,
    /// Commit author name and email.
    pub author: (String, String),
}

/// What a promotion write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromotionWritten {
    /// A commit was pushed to the promotion branch (its SHA-1, hex).
    Pushed(String),
    /// The promotion branch already holds this change; nothing was pushed.
    AlreadyThere,
    /// Nothing at the location needed a change: the stage is on the image already.
    NothingToChange,
}

/// The Git operations a Pipeline needs. Both are blocking (call them from a blocking thread).
pub trait StageGit: Send + Sync + 'static {
    /// Reads the image written at `location` in the repository checked out at `root`:
    /// `NAME:TAG[@DIGEST]` from a whole-image marker, or composed from the `:name`, `:tag` and
    /// `:digest` markers (or an `images:` entry's `newName`, `newTag` and `digest`), just the
    /// tag when no name is written.
    ///
    /// Returns `Ok(None)` when nothing is found there. Errors: a file cannot be read or parsed,
    /// or two markers disagree; the message names the file.
    fn stage_image(&self, root: &Path, location: &ImageLocation) -> Result<Option<String>, String>;

    /// Writes `write.image` at `write.location`, on top of the head of `write.base_branch`, as
    /// one commit pushed to `write.head_branch`.
    ///
    /// Errors: fetching, parsing, committing or pushing failed; nothing was pushed then.
    fn promote(&self, write: &PromotionWrite) -> Result<PromotionWritten, String>;
}
