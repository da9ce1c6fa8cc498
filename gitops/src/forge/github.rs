//! GitHub (and GitHub Enterprise at `https://HOST/api/v3`) through the octocrab crate.

use std::time::Duration;

use octocrab::Octocrab;
use octocrab::models::{IssueState, StatusState};
use octocrab::params::State;
use octocrab::params::pulls::MergeMethod;

use super::{
    CommitState, CommitStatus, ForgeError, PullRequest, PullRequestContent, RepositoryRef,
};

/// A client of one GitHub repository.
pub struct GitHubClient {
    octocrab: Octocrab,
    api: String,
    owner: String,
    name: String,
}

impl GitHubClient {
    /// A client of `repository` with the personal access token `token`.
    pub(super) fn new(
        repository: RepositoryRef,
        token: &str,
        timeout: Duration,
    ) -> Result<Self, ForgeError> {
        sluice_runtime::logging::install_crypto_provider();
        let api = if repository.host == "github.com" {
            "https://api.github.com".to_owned()
        } else {
            format!("{}/api/v3", repository.origin())
        };
        let unreachable = |error: octocrab::Error| ForgeError::Unreachable {
            forge: api.clone(),
            message: error.to_string(),
        };
        let octocrab = Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(unreachable)?
            .personal_token(token.to_owned())
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .build()
            .map_err(unreachable)?;
        Ok(GitHubClient {
            octocrab,
            api,
            owner: repository.owner,
            name: repository.name,
        })
    }

    fn error(&self, error: octocrab::Error) -> ForgeError {
        match error {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                if status == 401 || status == 403 {
                    ForgeError::Unauthorized {
                        forge: self.api.clone(),
                        message: source.message,
                    }
                } else {
                    ForgeError::Api {
                        forge: self.api.clone(),
                        status,
                        message: source.message,
                    }
                }
            }
            other => ForgeError::Unreachable {
                forge: self.api.clone(),
                message: other.to_string(),
            },
        }
    }

    pub(super) async fn check(&self) -> Result<(), ForgeError> {
        let repos = self.octocrab.repos(&self.owner, &self.name);
        repos
            .get()
            .await
            .map(|_| ())
            .map_err(|error| self.error(error))
    }

    pub(super) async fn set_commit_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let repos = self.octocrab.repos(&self.owner, &self.name);
        let mut request = repos
            .create_status(sha.to_owned(), to_github(status.state))
            .context(status.context.clone())
            .description(status.description.chars().take(140).collect());
        if let Some(url) = &status.target_url {
            request = request.target(url.clone());
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|error| self.error(error))
    }

    pub(super) async fn commit_statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, ForgeError> {
        let page = self
            .octocrab
            .repos(&self.owner, &self.name)
            .list_statuses(sha.to_owned())
            .per_page(100u8)
            .send()
            .await
            .map_err(|error| self.error(error))?;
        Ok(page
            .items
            .into_iter()
            .map(|status| CommitStatus {
                context: status.context.unwrap_or_default(),
                state: from_github(status.state),
                description: status.description.unwrap_or_default(),
                target_url: status.target_url,
            })
            .collect())
    }

    pub(super) async fn upsert_pull_request(
        &self,
        content: &PullRequestContent,
    ) -> Result<PullRequest, ForgeError> {
        let pulls = self.octocrab.pulls(&self.owner, &self.name);
        let open = pulls
            .list()
            .state(State::Open)
            .head(format!("{}:{}", self.owner, content.head))
            .base(content.base.clone())
            .send()
            .await
            .map_err(|error| self.error(error))?;
        let pull = match open.items.into_iter().next() {
            Some(existing) => {
                pulls
                    .update(existing.number)
                    .title(content.title.clone())
                    .body(content.body.clone())
                    .send()
                    .await
            }
            None => {
                pulls
                    .create(
                        content.title.clone(),
                        content.head.clone(),
                        content.base.clone(),
                    )
                    .body(content.body.clone())
                    .send()
                    .await
            }
        };
        pull.map(convert).map_err(|error| self.error(error))
    }

    pub(super) async fn pull_request(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let pulls = self.octocrab.pulls(&self.owner, &self.name);
        pulls
            .get(number)
            .await
            .map(convert)
            .map_err(|error| self.error(error))
    }

    pub(super) async fn merge_pull_request(&self, number: u64) -> Result<(), ForgeError> {
        let pulls = self.octocrab.pulls(&self.owner, &self.name);
        let merge = pulls.merge(number).method(MergeMethod::Merge).send().await;
        merge.map(|_| ()).map_err(|error| self.error(error))
    }

    pub(super) async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let issues = self.octocrab.issues(&self.owner, &self.name);
        issues
            .create_comment(number, body)
            .await
            .map(|_| ())
            .map_err(|error| self.error(error))
    }
}

fn convert(pull: octocrab::models::pulls::PullRequest) -> PullRequest {
    PullRequest {
        number: pull.number,
        url: pull.html_url.map(|url| url.to_string()).unwrap_or_default(),
        head: pull.head.ref_field,
        base: pull.base.ref_field,
        title: pull.title.unwrap_or_default(),
        open: pull.state == Some(IssueState::Open),
        merged: pull.merged_at.is_some(),
    }
}

fn to_github(state: CommitState) -> StatusState {
    match state {
        CommitState::Pending => StatusState::Pending,
        CommitState::Success => StatusState::Success,
        CommitState::Failure => StatusState::Failure,
        CommitState::Error => StatusState::Error,
    }
}

fn from_github(state: StatusState) -> CommitState {
    match state {
        StatusState::Pending => CommitState::Pending,
        StatusState::Success => CommitState::Success,
        StatusState::Failure => CommitState::Failure,
        // `error` and any state GitHub may add later.
        _ => CommitState::Error,
    }
}
