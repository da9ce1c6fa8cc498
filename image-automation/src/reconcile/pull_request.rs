//! The pull request of an automation that pushes to a branch other than its checkout branch:
//! one per automation, opened or updated through the forge of the `notification.sluice.dev/v1`
//! Provider that `spec.git.push.pullRequest.providerRef` names (in the automation's namespace),
//! with the commit message's first line as title and the rest as body.

use kube::{Api, Client};
use sluice_gitops::api::provider::Provider;
use sluice_gitops::forge::{PullRequest, PullRequestContent};
use sluice_gitops::notification::credentials::{forge_client, forge_kind};

/// The pull request an automation wants: from `head_branch` into `base_branch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestRequest {
    /// Namespace of the automation, where its Provider must live.
    pub namespace: String,
    /// The Provider's name.
    pub provider: String,
    /// The branch pushed to (`git.push.branch`).
    pub head_branch: String,
    /// The checkout branch the change is for.
    pub base_branch: String,
    /// The commit message: first line as title, the rest as body.
    pub message: String,
}

/// Opens the automation's pull request for `request`, or updates the open one, reading the
/// Provider and its token Secret with `client`.
///
/// Errors: a message for the automation's condition (the push itself succeeded): the Provider
/// is missing, is not a Git forge, its Secret is unusable, or the forge refused.
pub async fn open_or_update(
    client: &Client,
    request: &PullRequestRequest,
) -> Result<PullRequest, String> {
    let providers: Api<Provider> = Api::namespaced(client.clone(), &request.namespace);
    let provider = providers
        .get(&request.provider)
        .await
        .map_err(|error| format!("reading Provider {}: {error}", request.provider))?;
    let kind = forge_kind(provider.spec.provider_type).ok_or_else(|| {
        format!(
            "Provider {} is not a Git forge (github, gitlab, gitea)",
            request.provider
        )
    })?;
    let forge = forge_client(client, &provider, kind)
        .await
        .map_err(|error| error.to_string())?;
    forge
        .upsert_pull_request(&content(request))
        .await
        .map_err(|error| format!("opening the pull request: {error}"))
}

/// The title (the message's first line) and body (the rest) of the pull request.
fn content(request: &PullRequestRequest) -> PullRequestContent {
    let (title, body) = request
        .message
        .split_once('\n')
        .unwrap_or((&request.message, ""));
    PullRequestContent {
        head: request.head_branch.clone(),
        base: request.base_branch.clone(),
        title: title.trim().to_owned(),
        body: body.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_gives_title_and_body() {
        let request = PullRequestRequest {
            namespace: "team".into(),
            provider: "gitea".into(),
            head_branch: "auto".into(),
            base_branch: "main".into(),
            message: "Update podinfo to 6.5.1\n\nFiles:\n- apps/dev/kustomization.yaml".into(),
        };
        let content = content(&request);
        assert_eq!(content.title, "Update podinfo to 6.5.1");
        assert_eq!(content.body, "Files:\n- apps/dev/kustomization.yaml");
        assert_eq!(
            (content.head.as_str(), content.base.as_str()),
            ("auto", "main")
        );
    }
}
