//! GitHub (and GitHub Enterprise at `https://HOST/api/v3`) through the octocrab crate.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Limited;
use octocrab::models::{IssueState, StatusState};
use octocrab::params::State;
use octocrab::params::pulls::MergeMethod;
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::service::middleware::reqwest_connector::ReqwestConnector;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};
use reqwest::header::{HeaderValue, USER_AGENT};
use tower::util::MapResponseLayer;

use super::{
    CommitState, CommitStatus, ForgeError, MAX_ANSWER_BYTES, PullRequest, PullRequestContent,
    RepositoryRef,
};

/// A client of one GitHub repository.
pub struct GitHubClient {
    octocrab: Octocrab,
    api: String,
    owner: String,
    name: String,
}

impl GitHubClient {
    /// A client of `repository` with the personal access token `token`: octocrab over a
    /// `reqwest` client whose requests are bounded by `timeout`, reading no answer past
    /// [`MAX_ANSWER_BYTES`] (octocrab's default stack reads answers whole).
    ///
    /// Errors: [`ForgeError::Unreachable`] when the API address or the token cannot be sent as
    /// HTTP, or the HTTP client cannot be built.
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
        let unusable = |what: &str, error: &dyn std::error::Error| ForgeError::Unreachable {
            forge: api.clone(),
            message: format!("{what}: {error}"),
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| unusable("HTTP client", &error))?;
        let base_uri: http::Uri = api
            .parse()
            .map_err(|error| unusable("API address", &error))?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|error| unusable("token", &error))?;
        authorization.set_sensitive(true);
        let capped = MapResponseLayer::new(|response: http::Response<_>| {
            response.map(|body| Limited::new(body, MAX_ANSWER_BYTES))
        });
        let user_agent = vec![(USER_AGENT, HeaderValue::from_static("sluice"))];
        let octocrab = OctocrabBuilder::new_empty()
            .with_service(ReqwestConnector::new(http))
            .with_layer(&capped)
            .with_layer(&ExtraHeadersLayer::new(Arc::new(user_agent)))
            .with_layer(&BaseUriLayer::new(base_uri.clone()))
            .with_layer(&AuthHeaderLayer::new(
                Some(authorization),
                base_uri.clone(),
                base_uri,
            ))
            .with_auth(AuthState::None)
            .build()
            .unwrap_or_else(|never| match never {});
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
                message: sluice_runtime::error_text::chain(&other),
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
        let ours = open.items.into_iter().find(same_repository);
        let pull = match ours {
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

    pub(super) async fn merge_pull_request(
        &self,
        number: u64,
        head_sha: &str,
    ) -> Result<(), ForgeError> {
        let pulls = self.octocrab.pulls(&self.owner, &self.name);
        let merge = pulls
            .merge(number)
            .method(MergeMethod::Merge)
            .sha(head_sha)
            .send()
            .await;
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

/// Whether `pull`'s head branch is in its base repository (not a fork, nor a deleted fork).
fn same_repository(pull: &octocrab::models::pulls::PullRequest) -> bool {
    let head = pull.head.repo.as_ref().map(|repo| repo.id);
    head.is_some() && head == pull.base.repo.as_ref().map(|repo| repo.id)
}

fn convert(pull: octocrab::models::pulls::PullRequest) -> PullRequest {
    PullRequest {
        same_repository: same_repository(&pull),
        number: pull.number,
        url: pull.html_url.map(|url| url.to_string()).unwrap_or_default(),
        head_sha: pull.head.sha,
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
