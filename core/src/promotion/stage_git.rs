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
    /// The stage's folder from the repository root (`spec.stages[].path`); the root when `None`.
    pub path: Option<String>,
    /// The setter marker's policy, `NAMESPACE:NAME`.
    pub policy: String,
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
    /// No marker of the policy under the path needed a change: the stage is on the image already.
    NothingToChange,
}

/// The Git operations a Pipeline needs. Both are blocking (call them from a blocking thread).
pub trait StageGit: Send + Sync + 'static {
    /// Reads the image named by the setter markers of `policy` (`NAMESPACE:NAME`) in the YAML
    /// files under `root/path`: `NAME:TAG[@DIGEST]` from a whole-image marker, or composed from
    /// `:name`, `:tag` and `:digest` markers (just the tag when only `:tag` markers exist).
    ///
    /// Returns `Ok(None)` when no marker of the policy is found. Errors: a file holding markers
    /// cannot be read or parsed, or the markers disagree; the message names the file.
    fn stage_image(
        &self,
        root: &Path,
        path: Option<&str>,
        policy: &str,
    ) -> Result<Option<String>, String>;

    /// Writes `write.image` into every marker of `write.policy` under `write.path`, on top of
    /// the head of `write.base_branch`, as one commit pushed to `write.head_branch`.
    ///
    /// Errors: fetching, parsing, committing or pushing failed; nothing was pushed then.
    fn promote(&self, write: &PromotionWrite) -> Result<PromotionWritten, String>;
}
