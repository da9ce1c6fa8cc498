//! GitLab's REST API v4: commit statuses and merge requests. The project is addressed by its
//! URL-encoded path (`group%2Fsub%2Fapp`), as GitLab accepts in place of its numeric id.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::rest::RestClient;
use super::{
    CommitState, CommitStatus, ForgeError, PullRequest, PullRequestContent, RepositoryRef,
};

/// A client of one GitLab project.
pub struct GitLabClient {
    rest: RestClient,
    project: String,
}

#[derive(Deserialize)]
struct GitLabStatus {
    name: String,
    status: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
}

impl From<GitLabStatus> for CommitStatus {
    /// GitLab's `failed` is a failure, `canceled` and `skipped` an error, `running`, `created`
    /// and any other state pending.
    fn from(status: GitLabStatus) -> Self {
        CommitStatus {
            state: match status.status.as_str() {
                "success" => CommitState::Success,
                "failed" => CommitState::Failure,
                "canceled" | "skipped" => CommitState::Error,
                _ => CommitState::Pending,
            },
            context: status.name,
            description: status.description.unwrap_or_default(),
            target_url: status.target_url,
        }
    }
}

#[derive(Deserialize)]
struct GitLabMergeRequest {
    iid: u64,
    web_url: String,
    title: String,
    state: String,
    source_branch: String,
    target_branch: String,
    #[serde(default)]
    sha: Option<String>,
    source_project_id: u64,
    target_project_id: u64,
}

impl From<GitLabMergeRequest> for PullRequest {
    fn from(request: GitLabMergeRequest) -> Self {
        PullRequest {
            number: request.iid,
            url: request.web_url,
            head_sha: request.sha.unwrap_or_default(),
            same_repository: request.source_project_id == request.target_project_id,
            head: request.source_branch,
            base: request.target_branch,
            title: request.title,
            open: request.state == "opened",
            merged: request.state == "merged",
        }
    }
}

impl GitLabClient {
    /// A client of `repository`, authenticated with the access token `token`.
    pub(super) fn new(
        repository: RepositoryRef,
        token: &str,
        timeout: Duration,
    ) -> Result<Self, ForgeError> {
        let api = format!("{}/api/v4", repository.origin());
        let rest = RestClient::new(api, ("PRIVATE-TOKEN", token.to_owned()), timeout)?;
        let project = format!("/projects/{}", repository.full_name().replace('/', "%2F"));
        Ok(GitLabClient { rest, project })
    }

    pub(super) async fn check(&self) -> Result<(), ForgeError> {
        self.rest.send(Method::GET, &self.project, None).await
    }

    pub(super) async fn set_commit_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let state = match status.state {
            CommitState::Pending => "pending",
            CommitState::Success => "success",
            CommitState::Failure | CommitState::Error => "failed",
        };
        let body = json!({
            "state": state,
            "name": status.context,
            "description": status.description,
            "target_url": status.target_url,
        });
        let path = format!("{}/statuses/{sha}", self.project);
        self.rest.send(Method::POST, &path, Some(&body)).await
    }

    pub(super) async fn commit_statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, ForgeError> {
        let path = format!(
            "{}/repository/commits/{sha}/statuses?per_page=100",
            self.project
        );
        let statuses: Vec<GitLabStatus> = self.rest.get(&path).await?;
        Ok(statuses.into_iter().map(Into::into).collect())
    }

    pub(super) async fn upsert_pull_request(
        &self,
        content: &PullRequestContent,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!(
            "{}/merge_requests?state=opened&source_branch={}&target_branch={}",
            self.project, content.head, content.base
        );
        let open: Vec<GitLabMergeRequest> = self.rest.get(&path).await?;
        let ours = open
            .into_iter()
            .find(|request| request.source_project_id == request.target_project_id);
        let request = match ours {
            Some(existing) => {
                let path = format!("{}/merge_requests/{}", self.project, existing.iid);
                let edit = json!({"title": content.title, "description": content.body});
                self.rest
                    .call::<GitLabMergeRequest>(Method::PUT, &path, Some(&edit))
                    .await?
            }
            None => {
                let path = format!("{}/merge_requests", self.project);
                let body = json!({
                    "source_branch": content.head,
                    "target_branch": content.base,
                    "title": content.title,
                    "description": content.body,
                });
                self.rest
                    .call::<GitLabMergeRequest>(Method::POST, &path, Some(&body))
                    .await?
            }
        };
        Ok(request.into())
    }

    pub(super) async fn pull_request(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/merge_requests/{number}", self.project);
        self.rest
            .get::<GitLabMergeRequest>(&path)
            .await
            .map(Into::into)
    }

    pub(super) async fn merge_pull_request(
        &self,
        number: u64,
        head_sha: &str,
    ) -> Result<(), ForgeError> {
        let path = format!("{}/merge_requests/{number}/merge", self.project);
        let body = json!({"sha": head_sha});
        self.rest.send(Method::PUT, &path, Some(&body)).await
    }

    pub(super) async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let path = format!("{}/merge_requests/{number}/notes", self.project);
        self.rest
            .send(Method::POST, &path, Some(&json!({"body": body})))
            .await
    }
}
