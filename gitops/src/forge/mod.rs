//! Clients of the Git hosts' APIs (GitHub, GitLab, Gitea) for what Sluice asks of a forge: commit
//! statuses (Flux's notification-controller commit-status providers) and pull requests (image
//! automation on a branch, promotion between stages). GitHub goes through the `octocrab` crate;
//! GitLab and Gitea, which have no maintained Rust client, through `reqwest` on their REST APIs.
//!
//! A forge's address comes from a tenant's Provider, so a forge is not trusted: every call is
//! bounded by the Provider's `timeout` (its expiry drops the call and whatever it was doing), and
//! no answer is read past [`MAX_ANSWER_BYTES`].

mod gitea;
mod github;
mod gitlab;
mod repository;
mod rest;

pub use repository::{RepositoryError, RepositoryRef};

use std::time::Duration;

use sluice_runtime::redact::Redactor;

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

/// The largest answer body read from a forge, in bytes (1 MiB): a longer answer is an error,
/// read no further.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A pull (GitLab: merge) request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number within the repository (GitLab: the `iid`).
    pub number: u64,
    /// Its web address.
    pub url: String,
    /// The branch it merges.
    pub head: String,
    /// The commit its head branch is at (SHA-1, hex).
    pub head_sha: String,
    /// Whether its head branch is in the repository itself; `false` for a pull request from a
    /// fork (GitHub `head.repo`, GitLab `source_project_id`, Gitea `head.repo_id`), which
    /// Sluice never adopts or merges.
    pub same_repository: bool,
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
    /// This error with the values `redactor` holds replaced by `*****` in its messages (a
    /// forge's answer may quote the request, token included).
    pub fn redacted(self, redactor: &Redactor) -> Self {
        let redact = |text: String| redactor.redact(&text);
        match self {
            ForgeError::Unreachable { forge, message } => ForgeError::Unreachable {
                forge: redact(forge),
                message: redact(message),
            },
            ForgeError::Unauthorized { forge, message } => ForgeError::Unauthorized {
                forge: redact(forge),
                message: redact(message),
            },
            ForgeError::Api {
                forge,
                status,
                message,
            } => ForgeError::Api {
                forge: redact(forge),
                status,
                message: redact(message),
            },
            ForgeError::Repository(error) => ForgeError::Repository(error),
        }
    }

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

/// A client of one repository on one forge; each call is bounded by the timeout it was built
/// with.
pub struct Forge {
    client: Client,
    timeout: Duration,
    api: String,
    /// The token, kept out of every error and of everything posted (statuses, pull requests,
    /// comments), whatever a forge echoes back.
    token: Redactor,
}

/// The client of each kind of forge.
enum Client {
    /// Through octocrab.
    GitHub(github::GitHubClient),
    /// Through GitLab's REST API v4.
    GitLab(gitlab::GitLabClient),
    /// Through Gitea's REST API v1.
    Gitea(gitea::GiteaClient),
}

/// Calls `$method($args)` on the kind's client, bounded by the forge's timeout.
macro_rules! dispatch {
    ($forge:expr, $method:ident($($arg:expr),*)) => {
        $forge.bounded(async {
            match &$forge.client {
                Client::GitHub(client) => client.$method($($arg),*).await,
                Client::GitLab(client) => client.$method($($arg),*).await,
                Client::Gitea(client) => client.$method($($arg),*).await,
            }
        })
    };
}

impl Forge {
    /// A client of the repository at `address` (its web address, e.g.
    /// `https://github.com/org/fleet`, as a Flux Provider's `address`), authenticated by
    /// `token`, each call (with every request it makes) bounded by `timeout`, as Flux's
    /// Provider `timeout`.
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
        let api = repository.origin();
        let client = match kind {
            ForgeKind::GitHub => {
                Client::GitHub(github::GitHubClient::new(repository, token, timeout)?)
            }
            ForgeKind::GitLab => {
                Client::GitLab(gitlab::GitLabClient::new(repository, token, timeout)?)
            }
            ForgeKind::Gitea => Client::Gitea(gitea::GiteaClient::new(repository, token, timeout)?),
        };
        Ok(Forge {
            client,
            timeout,
            api,
            token: Redactor::new([token]),
        })
    }

    /// Runs `call`, dropping it (and whatever it was doing) when the timeout expires.
    ///
    /// Errors: `call`'s, the token redacted, or [`ForgeError::Unreachable`] when it did not
    /// finish in time.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, ForgeError>>,
    ) -> Result<T, ForgeError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(ForgeError::Unreachable {
                    forge: self.api.clone(),
                    message: format!("no answer within {:?}", self.timeout),
                })
            })
            .map_err(|error| error.redacted(&self.token))
    }

    /// Reads the repository, to check that the forge answers and accepts the token.
    ///
    /// Errors: as [`ForgeError`] (404 when the repository does not exist or the token cannot
    /// see it).
    pub async fn check(&self) -> Result<(), ForgeError> {
        dispatch!(self, check()).await
    }

    /// Posts `status` on commit `sha` (40 hex digits).
    ///
    /// Errors: as [`ForgeError`].
    pub async fn set_commit_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let status = &CommitStatus {
            description: self.token.redact(&status.description),
            ..status.clone()
        };
        dispatch!(self, set_commit_status(sha, status)).await
    }

    /// The newest status of each context on commit `sha`.
    ///
    /// Errors: as [`ForgeError`].
    pub async fn commit_statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, ForgeError> {
        let listed = dispatch!(self, commit_statuses(sha)).await?;
        Ok(newest_per_context(listed))
    }

    /// Opens a pull request for `content`, or, when one is open already from the same head branch
    /// of this repository into the same base, updates its title and body: one pull request per
    /// head branch. A pull request from a fork with the same branch name is never adopted.
    ///
    /// Errors: as [`ForgeError`].
    pub async fn upsert_pull_request(
        &self,
        content: &PullRequestContent,
    ) -> Result<PullRequest, ForgeError> {
        let content = &PullRequestContent {
            title: self.token.redact(&content.title),
            body: self.token.redact(&content.body),
            ..content.clone()
        };
        dispatch!(self, upsert_pull_request(content)).await
    }

    /// The pull request `number`.
    ///
    /// Errors: as [`ForgeError`] (404 when it does not exist).
    pub async fn pull_request(&self, number: u64) -> Result<PullRequest, ForgeError> {
        dispatch!(self, pull_request(number)).await
    }

    /// Merges pull request `number` with a merge commit, only while its head is commit
    /// `head_sha`: the forge refuses when the branch moved (GitHub and GitLab `sha`, Gitea
    /// `head_commit_id`).
    ///
    /// Errors: as [`ForgeError`] (e.g. 405/409 when it cannot be merged or its head is not
    /// `head_sha`).
    pub async fn merge_pull_request(&self, number: u64, head_sha: &str) -> Result<(), ForgeError> {
        dispatch!(self, merge_pull_request(number, head_sha)).await
    }

    /// Adds a comment with `body` (Markdown) to pull request `number`.
    ///
    /// Errors: as [`ForgeError`].
    pub async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let body = self.token.redact(body);
        let body = body.as_str();
        dispatch!(self, comment(number, body)).await
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
    use axum::body::{Body, Bytes};

    /// Serves, on 127.0.0.1, a hostile forge a tenant's Provider may name: an endless `200`
    /// answer to every call about repositories of the owner `endless` (whatever the API's
    /// prefix), and no answer at all to the others. Returns its origin.
    async fn hostile_forge() -> String {
        let app = axum::Router::new().fallback(|uri: http::Uri| async move {
            if !uri.path().contains("endless") {
                std::future::pending::<()>().await;
            }
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn an_endless_answer_is_read_no_further_than_the_cap() {
        let origin = hostile_forge().await;
        for kind in [ForgeKind::Gitea, ForgeKind::GitLab, ForgeKind::GitHub] {
            let forge = Forge::new(
                kind,
                &format!("{origin}/endless/fleet"),
                "token",
                Duration::from_secs(30),
            )
            .expect("a client");
            let started = std::time::Instant::now();
            let error = forge.check().await.expect_err("refused");
            let text = error.to_string();
            assert!(
                text.contains("larger than") || text.contains("length limit"),
                "{kind:?}: {text}"
            );
            assert!(started.elapsed() < Duration::from_secs(20), "{kind:?}");
        }
    }

    #[tokio::test]
    async fn a_forge_that_never_answers_is_given_up_at_the_timeout() {
        let origin = hostile_forge().await;
        for kind in [ForgeKind::Gitea, ForgeKind::GitHub] {
            let forge = Forge::new(
                kind,
                &format!("{origin}/silent/fleet"),
                "token",
                Duration::from_millis(300),
            )
            .expect("a client");
            let started = std::time::Instant::now();
            let error = forge.pull_request(1).await.expect_err("given up");
            assert!(matches!(error, ForgeError::Unreachable { .. }), "{error}");
            assert!(started.elapsed() < Duration::from_secs(5), "{kind:?}");
        }
    }

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

    #[tokio::test]
    async fn a_forge_that_echoes_the_token_never_gets_it_shown() {
        let app = axum::Router::new().fallback(|headers: http::HeaderMap| async move {
            let echoed: Vec<String> = headers
                .values()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect();
            let echoed = echoed.join(", ");
            (
                http::StatusCode::FORBIDDEN,
                format!("{{\"message\": {echoed:?}}}"),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        for kind in [ForgeKind::Gitea, ForgeKind::GitLab, ForgeKind::GitHub] {
            let forge = Forge::new(
                kind,
                &format!("http://{address}/org/fleet"),
                "s3cr3t-provider-token",
                Duration::from_secs(10),
            )
            .expect("a client");
            let text = forge.check().await.expect_err("refused").to_string();
            assert!(
                !text.contains("s3cr3t-provider-token") && text.contains("*****"),
                "{kind:?}: {text}"
            );
        }
    }
}
