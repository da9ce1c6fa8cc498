//! Clients of the Git hosts' APIs (GitHub, GitLab, Gitea) for what Sluice asks of a forge: commit
//! statuses (Flux's notification-controller commit-status providers) and pull requests (image
//! automation on a branch, promotion between stages). GitHub goes through the `octocrab` crate;
//! GitLab and Gitea, which have no maintained Rust client, through `reqwest` on their REST APIs.

mod gitea;
mod github;
mod gitlab;
mod repository;
mod rest;

pub use repository::{RepositoryError, RepositoryRef};

use std::time::Duration;

/// The state of a commit status, as GitHub names them (GitLab's `failed` is `Failure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitState {
    /// The check runs (Sluice posts it when an apply starts; Flux never does).
    Pending,
    /// The check passed.
    Success,
    /// The check failed.
    Failure,
    /// The check could not run.
    Error,
}

/// A commit status: one `context` (e.g. `kustomization/apps-dev`) with its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    /// The status' key; a newer status of the same context replaces the older one.
    pub context: String,
    /// Its state.
    pub state: CommitState,
    /// A one-line description (forges cut it at 140 characters).
    pub description: String,
    /// A link shown next to it, if any.
    pub target_url: Option<String>,
}

/// A pull (GitLab: merge) request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number within the repository (GitLab: the `iid`).
    pub number: u64,
    /// Its web address.
    pub url: String,
    /// The branch it merges.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    /// Its title.
    pub title: String,
    /// Whether it is still open.
    pub open: bool,
    /// Whether it was merged.
    pub merged: bool,
}

/// What a pull request should say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestContent {
    /// The branch to merge.
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// The title.
    pub title: String,
    /// The body (Markdown).
    pub body: String,
}

/// Errors talking to a forge.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge could not be reached (connection refused, DNS, timeout).
    #[error("{forge} is unreachable: {message}")]
    Unreachable {
        /// The forge's API address.
        forge: String,
        /// What failed.
        message: String,
    },
    /// The forge refused the token (401/403).
    #[error("{forge} refused the token: {message}")]
    Unauthorized {
        /// The forge's API address.
        forge: String,
        /// The forge's answer.
        message: String,
    },
    /// Any other refusal, with the forge's HTTP status and answer.
    #[error("{forge} answered {status}: {message}")]
    Api {
        /// The forge's API address.
        forge: String,
        /// The HTTP status code.
        status: u16,
        /// The forge's answer.
        message: String,
    },
    /// The repository address names no repository this forge understands.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl ForgeError {
    /// Whether retrying later may help (unreachable, rate limits, 5xx); a bad token or a bad
    /// address needs a change of the Provider or its Secret.
    pub fn is_transient(&self) -> bool {
        match self {
            ForgeError::Unreachable { .. } => true,
            ForgeError::Api { status, .. } => *status == 429 || *status >= 500,
            ForgeError::Unauthorized { .. } | ForgeError::Repository(_) => false,
        }
    }
}

/// The kinds of forge, as a Provider's `type` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeKind {
    /// github.com or GitHub Enterprise.
    GitHub,
    /// gitlab.com or a self-hosted GitLab.
    GitLab,
    /// Gitea or Forgejo.
    Gitea,
}

/// A client of one repository on one forge.
pub enum Forge {
    /// Through octocrab.
    GitHub(github::GitHubClient),
    /// Through GitLab's REST API v4.
    GitLab(gitlab::GitLabClient),
    /// Through Gitea's REST API v1.
    Gitea(gitea::GiteaClient),
}

impl Forge {
    /// A client of the repository at `address` (its web address, e.g.
    /// `https://github.com/org/fleet`, as a Flux Provider's `address`), authenticated by
    /// `token`, each request bounded by `timeout`.
    ///
    /// Errors: the address names no repository ([`ForgeError::Repository`]), or the HTTP client
    /// cannot be built.
    pub fn new(
        kind: ForgeKind,
        address: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Forge, ForgeError> {
        let repository = RepositoryRef::parse(address)?;
        Ok(match kind {
            ForgeKind::GitHub => {
                Forge::GitHub(github::GitHubClient::new(repository, token, timeout)?)
            }
            ForgeKind::GitLab => {
                Forge::GitLab(gitlab::GitLabClient::new(repository, token, timeout)?)
            }
            ForgeKind::Gitea => Forge::Gitea(gitea::GiteaClient::new(repository, token, timeout)?),
        })
    }

    /// Reads the repository, to check that the forge answers and accepts the token.
    ///
    /// Errors: as [`ForgeError`] (404 when the repository does not exist or the token cannot
    /// see it).
    pub async fn check(&self) -> Result<(), ForgeError> {
        match self {
            Forge::GitHub(client) => client.check().await,
            Forge::GitLab(client) => client.check().await,
            Forge::Gitea(client) => client.check().await,
        }
    }

    /// Posts `status` on commit `sha` (40 hex digits).
    ///
    /// Errors: as [`ForgeError`].
    pub async fn set_commit_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        match self {
            Forge::GitHub(client) => client.set_commit_status(sha, status).await,
            Forge::GitLab(client) => client.set_commit_status(sha, status).await,
            Forge::Gitea(client) => client.set_commit_status(sha, status).await,
        }
    }

    /// The newest status of each context on commit `sha`.
    ///
    /// Errors: as [`ForgeError`].
    pub async fn commit_statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, ForgeError> {
        let listed = match self {
            Forge::GitHub(client) => client.commit_statuses(sha).await,
            Forge::GitLab(client) => client.commit_statuses(sha).await,
            Forge::Gitea(client) => client.commit_statuses(sha).await,
        }?;
        Ok(newest_per_context(listed))
    }

    /// Opens a pull request for `content`, or, when one is open already from the same head into
    /// the same base, updates its title and body: one pull request per head branch.
    ///
    /// Errors: as [`ForgeError`].
    pub async fn upsert_pull_request(
        &self,
        content: &PullRequestContent,
    ) -> Result<PullRequest, ForgeError> {
        match self {
            Forge::GitHub(client) => client.upsert_pull_request(content).await,
            Forge::GitLab(client) => client.upsert_pull_request(content).await,
            Forge::Gitea(client) => client.upsert_pull_request(content).await,
        }
    }

    /// The pull request `number`.
    ///
    /// Errors: as [`ForgeError`] (404 when it does not exist).
    pub async fn pull_request(&self, number: u64) -> Result<PullRequest, ForgeError> {
        match self {
            Forge::GitHub(client) => client.pull_request(number).await,
            Forge::GitLab(client) => client.pull_request(number).await,
            Forge::Gitea(client) => client.pull_request(number).await,
        }
    }

    /// Merges pull request `number` with a merge commit.
    ///
    /// Errors: as [`ForgeError`] (e.g. 405/409 when it cannot be merged).
    pub async fn merge_pull_request(&self, number: u64) -> Result<(), ForgeError> {
        match self {
            Forge::GitHub(client) => client.merge_pull_request(number).await,
            Forge::GitLab(client) => client.merge_pull_request(number).await,
            Forge::Gitea(client) => client.merge_pull_request(number).await,
        }
    }

    /// Adds a comment with `body` (Markdown) to pull request `number`.
    ///
    /// Errors: as [`ForgeError`].
    pub async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        match self {
            Forge::GitHub(client) => client.comment(number, body).await,
            Forge::GitLab(client) => client.comment(number, body).await,
            Forge::Gitea(client) => client.comment(number, body).await,
        }
    }
}

/// The first status of each context in `statuses`, which the forges list newest first: a newer
/// status of a context replaces the older ones (GitHub's and GitLab's lists keep them all).
fn newest_per_context(statuses: Vec<CommitStatus>) -> Vec<CommitStatus> {
    let mut newest: Vec<CommitStatus> = Vec::new();
    for status in statuses {
        if newest.iter().all(|seen| seen.context != status.context) {
            newest.push(status);
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(context: &str, state: CommitState) -> CommitStatus {
        CommitStatus {
            context: context.to_owned(),
            state,
            description: String::new(),
            target_url: None,
        }
    }

    #[test]
    fn the_newest_status_of_each_context_is_kept() {
        let listed = vec![
            status("kustomization/apps", CommitState::Success),
            status("kustomization/infra", CommitState::Failure),
            status("kustomization/apps", CommitState::Pending),
        ];
        assert_eq!(
            newest_per_context(listed),
            [
                status("kustomization/apps", CommitState::Success),
                status("kustomization/infra", CommitState::Failure),
            ]
        );
    }
}
