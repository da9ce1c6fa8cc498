//! The seam where pull requests plug in: after a run pushed to a branch other than the checkout
//! branch, the reconciler asks a [`PullRequests`] to open (or update) the one pull request of the
//! automation, through a `notification.sluice.dev/v1` Provider (GitHub, GitLab, Gitea). The
//! provider clients are not part of this crate yet; [`NoPullRequests`] does nothing.

use futures::future::BoxFuture;

/// The pull request an automation wants: from `head_branch` into `base_branch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestRequest {
    /// Namespace of the automation (where its Provider must live).
    pub automation_namespace: String,
    /// Name of the automation; one pull request per automation.
    pub automation_name: String,
    /// The repository URL (from the GitRepository).
    pub repository_url: String,
    /// The branch pushed to (`git.push.branch`).
    pub head_branch: String,
    /// The checkout branch the change is for.
    pub base_branch: String,
    /// The pushed commit's SHA.
    pub commit: String,
    /// The commit message: first line as title, the rest as body.
    pub message: String,
}

/// Opens or updates pull requests.
pub trait PullRequests: Send + Sync {
    /// Opens the automation's pull request for `request`, or updates the open one.
    ///
    /// Errors: a message for the automation's condition (the push itself succeeded).
    fn open_or_update(&self, request: PullRequestRequest) -> BoxFuture<'_, Result<(), String>>;
}

/// Opens no pull request (until the Provider clients exist).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPullRequests;

impl PullRequests for NoPullRequests {
    /// Does nothing and succeeds.
    fn open_or_update(&self, _request: PullRequestRequest) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}
