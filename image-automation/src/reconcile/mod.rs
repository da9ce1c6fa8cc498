//! The ImageUpdateAutomation reconciler: gathers the inputs from the API server
//! ([`inputs`]), runs the Git side on a blocking thread ([`crate::git::automation_run`]), and
//! returns the status: `lastAutomationRunTime`, `observedSourceRevision`, `observedPolicies`,
//! the marker report and, after a push, `lastPushCommit`/`lastPushTime`, as Flux's.

pub mod error;
pub mod inputs;
pub mod marker_report;
pub mod pull_request;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::{Context, Reconcilable, Reconciled};

use crate::api::image_update_automation::{ImageUpdateAutomation, ImageUpdateAutomationStatus};
use crate::git::automation_run::{PushedCommit, RunOutcome, run_automation};
use error::AutomationError;
use inputs::{Inputs, gather_inputs};
use marker_report::marker_report;
use pull_request::PullRequestRequest;

/// The status fields read from the source repository, removed when the source is refused
/// (`--no-cross-namespace-refs`), so that nothing of another namespace stays shown.
const SOURCE_FIELDS: [&str; 4] = [
    "observedSourceRevision",
    "markers",
    "lastPushCommit",
    "lastPushTime",
];

/// The interval used when `spec.interval` does not parse (the CRD validates it).
const FALLBACK_INTERVAL: Duration = Duration::from_secs(60);

/// The controller's own state.
pub struct AutomationState {
    /// The work cache root (private to the process): one folder per automation, named by
    /// `sluice_gitops::controller::object_folder`.
    pub work_cache: PathBuf,
    /// `--allow-file-sources`: accept GitRepositories with `file://` URLs.
    pub allow_file_sources: bool,
}

impl Reconcilable for ImageUpdateAutomation {
    fn interval(&self) -> Duration {
        parse_go_duration(&self.spec.interval).unwrap_or(FALLBACK_INTERVAL)
    }

    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
}

/// Reconciles one automation: one run, then its status.
pub async fn reconcile(
    automation: Arc<ImageUpdateAutomation>,
    context: Arc<Context<AutomationState>>,
) -> Reconciled<AutomationError> {
    let started = jiff::Timestamp::now().to_string();
    let run_time = ImageUpdateAutomationStatus {
        last_automation_run_time: Some(started.clone()),
        ..Default::default()
    };
    match run(&automation, &context).await {
        Ok((inputs, outcome)) => {
            let status = ImageUpdateAutomationStatus {
                observed_source_revision: Some(outcome.checkout_revision.clone()),
                observed_policies: Some(inputs.observed_policies.clone()),
                markers: Some(marker_report(&outcome.update)),
                ..run_time
            };
            let Some(pushed) = outcome.pushed else {
                return Reconciled::ready("repository up-to-date").with_status(&status);
            };
            let summary = push_summary(&pushed);
            context
                .publish_event(automation.as_ref(), false, "Succeeded", &summary)
                .await;
            let message = match open_pull_request(&automation, &context, &inputs, &pushed).await {
                Ok(()) => summary,
                Err(problem) => format!("{summary}; pull request not opened: {problem}"),
            };
            let status = ImageUpdateAutomationStatus {
                last_push_commit: Some(pushed.commit.clone()),
                last_push_time: Some(started),
                ..status
            };
            Reconciled::ready(message).with_status(&status)
        }
        Err(error @ AutomationError::AccessDenied(_)) => {
            let mut refused = Reconciled::failed(error).with_status(&run_time);
            for field in SOURCE_FIELDS {
                refused
                    .status
                    .insert(field.to_owned(), serde_json::Value::Null);
            }
            refused
        }
        Err(error) => Reconciled::failed(error).with_status(&run_time),
    }
}

async fn run(
    automation: &ImageUpdateAutomation,
    context: &Context<AutomationState>,
) -> Result<(Inputs, RunOutcome), AutomationError> {
    let inputs = gather_inputs(
        &context.client,
        automation,
        &context.state,
        context.cross_namespace(),
    )
    .await?;
    let request = inputs.request.clone();
    let outcome = tokio::task::spawn_blocking(move || run_automation(&request))
        .await
        .map_err(|error| AutomationError::Join(error.to_string()))??;
    Ok((inputs, outcome))
}

/// Flux's push summary: `pushed commit '<7 chars>' to branch '<branch>'` and the message.
fn push_summary(pushed: &PushedCommit) -> String {
    let short = pushed.commit.get(..7).unwrap_or(&pushed.commit);
    format!(
        "pushed commit '{short}' to branch '{}'\n{}",
        pushed.branch, pushed.message
    )
}

/// Asks for the pull request when the push went to a branch other than the checkout branch.
async fn open_pull_request(
    automation: &ImageUpdateAutomation,
    context: &Context<AutomationState>,
    inputs: &Inputs,
    pushed: &PushedCommit,
) -> Result<(), String> {
    let request = &inputs.request;
    let wanted = automation
        .spec
        .git
        .as_ref()
        .and_then(|git| git.push.as_ref())
        .and_then(|push| push.pull_request.as_ref());
    let (true, Some(base_branch), Some(wanted)) = (
        request.push.separate_branch,
        request.checkout.branch(),
        wanted,
    ) else {
        return Ok(());
    };
    let request = PullRequestRequest {
        namespace: automation.namespace().unwrap_or_default(),
        provider: wanted.provider_ref.name.clone(),
        head_branch: pushed.branch.clone(),
        base_branch: base_branch.to_owned(),
        message: pushed.message.clone(),
    };
    pull_request::open_or_update(&context.client, &request)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_summary_is_fluxs() {
        let pushed = PushedCommit {
            commit: "8084f1bb0a8f2c3d".into(),
            branch: "main".into(),
            message: "Update app to 1.2.3".into(),
        };
        assert_eq!(
            push_summary(&pushed),
            "pushed commit '8084f1b' to branch 'main'\nUpdate app to 1.2.3"
        );
    }
}
