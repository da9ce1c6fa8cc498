//! Gitea's REST API v1 (also Forgejo's): commit statuses and pull requests.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::rest::RestClient;
use super::{
    CommitState, CommitStatus, ForgeError, PullRequest, PullRequestContent, RepositoryRef,
};

/// A client of one Gitea repository.
pub struct GiteaClient {
    rest: RestClient,
    repo: String,
}

#[derive(Deserialize)]
struct GiteaStatus {
    context: String,
    status: CommitState,
    #[serde(default)]
    description: String,
    #[serde(default)]
    target_url: Option<String>,
}

#[derive(Deserialize)]
struct GiteaBranch {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: String,
    /// The repository the branch is in; 0 when Gitea leaves it out (a deleted fork).
    #[serde(default)]
    repo_id: i64,
}

#[derive(Deserialize)]
struct GiteaPull {
    number: u64,
    html_url: String,
    title: String,
    state: String,
    #[serde(default)]
    merged: bool,
    head: GiteaBranch,
    base: GiteaBranch,
}

impl GiteaPull {
    /// Whether the head branch is in the base repository (not a fork, nor a deleted fork).
    fn same_repository(&self) -> bool {
        self.head.repo_id != 0 && self.head.repo_id == self.base.repo_id
    }
}

impl From<GiteaPull> for PullRequest {
    fn from(pull: GiteaPull) -> Self {
        PullRequest {
            same_repository: pull.same_repository(),
            number: pull.number,
            url: pull.html_url,
            head_sha: pull.head.sha,
            head: pull.head.name,
            base: pull.base.name,
            title: pull.title,
            open: pull.state == "open",
            merged: pull.merged,
        }
    }
}

impl GiteaClient {
    /// A client of `repository`, authenticated with the API token `token`.
    pub(super) fn new(
        repository: RepositoryRef,
        token: &str,
        timeout: Duration,
    ) -> Result<Self, ForgeError> {
        let api = format!("{}/api/v1", repository.origin());
        let rest = RestClient::new(api, ("Authorization", format!("token {token}")), timeout)?;
        Ok(GiteaClient {
            rest,
            repo: format!("/repos/{}", repository.full_name()),
        })
    }

    pub(super) async fn check(&self) -> Result<(), ForgeError> {
        self.rest.send(Method::GET, &self.repo, None).await
    }

    pub(super) async fn set_commit_status(
        &self,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let body = json!({
            "context": status.context,
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url.clone().unwrap_or_default(),
        });
        let path = format!("{}/statuses/{sha}", self.repo);
        self.rest.send(Method::POST, &path, Some(&body)).await
    }

    pub(super) async fn commit_statuses(&self, sha: &str) -> Result<Vec<CommitStatus>, ForgeError> {
        let path = format!("{}/commits/{sha}/status", self.repo);
        #[derive(Deserialize)]
        struct Combined {
            #[serde(default)]
            statuses: Option<Vec<GiteaStatus>>,
        }
        let combined: Combined = self.rest.get(&path).await?;
        Ok(combined
            .statuses
            .unwrap_or_default()
            .into_iter()
            .map(|status| CommitStatus {
                context: status.context,
                state: status.status,
                description: status.description,
                target_url: status.target_url.filter(|url| !url.is_empty()),
            })
            .collect())
    }

    pub(super) async fn upsert_pull_request(
        &self,
        content: &PullRequestContent,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/pulls?state=open&limit=50", self.repo);
        let open: Vec<GiteaPull> = self.rest.get(&path).await?;
        let body = json!({"title": content.title, "body": content.body, "head": content.head, "base": content.base});
        match open.into_iter().find(|pull| {
            pull.same_repository()
                && pull.head.name == content.head
                && pull.base.name == content.base
        }) {
            Some(existing) => {
                let path = format!("{}/pulls/{}", self.repo, existing.number);
                let edit = json!({"title": content.title, "body": content.body});
                self.rest
                    .call::<GiteaPull>(Method::PATCH, &path, Some(&edit))
                    .await
                    .map(Into::into)
            }
            None => {
                let path = format!("{}/pulls", self.repo);
                self.rest
                    .call::<GiteaPull>(Method::POST, &path, Some(&body))
                    .await
                    .map(Into::into)
            }
        }
    }

    pub(super) async fn pull_request(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/pulls/{number}", self.repo);
        self.rest.get::<GiteaPull>(&path).await.map(Into::into)
    }

    pub(super) async fn merge_pull_request(
        &self,
        number: u64,
        head_sha: &str,
    ) -> Result<(), ForgeError> {
        let path = format!("{}/pulls/{number}/merge", self.repo);
        let body = json!({"Do": "merge", "head_commit_id": head_sha});
        self.rest.send(Method::POST, &path, Some(&body)).await
    }

    pub(super) async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        let path = format!("{}/issues/{number}/comments", self.repo);
        self.rest
            .send(Method::POST, &path, Some(&json!({"body": body})))
            .await
    }
}
