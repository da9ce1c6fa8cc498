//! The Pipeline reconciler, thin: it observes every stage ([`super::observe`]), asks the pure
//! planner ([`super::plan`]) what to do, does it (push a promotion branch and open its pull
//! request, merge, or comment a failure), and returns the per-stage status.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::error::PipelineError;
use super::evidence::{Evidence, failure_comment};
use super::image_cache::StageImageCache;
use super::observe::{Observed, observe, promotion_branch};
use super::plan::{Action, Plan, image_location, plan};
use super::stage_git::{PromotionWrite, PromotionWritten, promote};
use crate::api::{Pipeline, PipelineStatus, PullRequest, PullRequestState, StageStatus};
use sluice_gitops::api::git_repository::GitRepository;
use sluice_gitops::kustomization::artifact::ArtifactCache;
use sluice_gitops::notification::Notifier;
use sluice_gitops::source::policy;
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::{Context, REQUESTED_AT_ANNOTATION, Reconcilable, Reconciled};

/// A Pipeline's interval when `spec.interval` is absent.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// How soon a Pipeline looks again while a stage waits on something that moves by itself (a
/// Kustomization applying, a canary analysing, statuses turning green).
pub const WAIT_POLL: Duration = Duration::from_secs(5);

/// The Pipeline controller's state.
pub struct PipelineState {
    /// `--allow-file-sources`: whether a `file://` source may be fetched and pushed to (never in
    /// a shared cluster; see `sluice_gitops::source::policy`).
    pub allow_file_sources: bool,
    /// Source artifacts, shared with nothing else but cached by URL.
    pub artifacts: ArtifactCache,
    /// The stage images last read per Pipeline, so that polls do not unpack the artifact again.
    pub images: StageImageCache,
    /// Scratch root: unpacked artifacts and the Git work caches (`<root>/<ns>/<name>/<stage>`).
    pub workdir: PathBuf,
    /// Where the canary results of stages go, for Alerts selecting Canaries.
    pub notifier: Option<Notifier>,
}

impl Reconcilable for Pipeline {
    fn interval(&self) -> Duration {
        self.spec
            .interval
            .as_deref()
            .and_then(|text| parse_go_duration(text).ok())
            .unwrap_or(DEFAULT_INTERVAL)
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

/// Reconciles one Pipeline: observe, plan, act, report.
pub async fn reconcile(
    pipeline: Arc<Pipeline>,
    context: Arc<Context<PipelineState>>,
) -> Reconciled<PipelineError> {
    let observed = match observe(&pipeline, &context).await {
        Ok(observed) => observed,
        Err(error) => return Reconciled::failed(error),
    };
    if let Some(notifier) = &context.state.notifier {
        for event in &observed.canary_events {
            notifier.publish(event.clone());
        }
    }
    let mut decided = plan(&pipeline.spec.stages, &observed.facts);
    let acted = act(&pipeline, &context, &observed, &mut decided).await;
    let previous = pipeline.status.clone().unwrap_or_default().stages;
    let status = PipelineStatus {
        stages: with_transition_times(&previous, decided.stages.clone()),
        ..PipelineStatus::default()
    };
    let outcome = match (acted, failed_stage(&decided)) {
        (Err(error), _) => Reconciled::failed(error),
        (Ok(()), Some((stage, message))) => {
            Reconciled::failed(PipelineError::StageFailed { stage, message })
        }
        (Ok(()), None) => summary(&pipeline, &decided),
    };
    outcome.with_status(&status)
}

/// Ready with a one-line summary of where the promotion stands; looks again soon while
/// something waits.
fn summary(pipeline: &Pipeline, decided: &Plan) -> Reconciled<PipelineError> {
    let waiting: Vec<String> = decided
        .stages
        .iter()
        .filter_map(|stage| {
            stage
                .waiting_for
                .as_ref()
                .map(|why| format!("{} waits for {why}", stage.name))
        })
        .collect();
    if waiting.is_empty() {
        return Reconciled::ready("every stage runs its promoted image");
    }
    let mut ready = Reconciled::ready(waiting.join("; "));
    ready.requeue_after = Some(WAIT_POLL.min(pipeline.interval()));
    ready
}

fn failed_stage(decided: &Plan) -> Option<(String, String)> {
    decided.stages.iter().find_map(|stage| {
        let message = stage.waiting_for.as_ref()?.strip_prefix("stage failed: ")?;
        Some((stage.name.clone(), message.to_owned()))
    })
}

/// Carries each stage's `lastTransitionTime` over when its entry did not change.
fn with_transition_times(previous: &[StageStatus], stages: Vec<StageStatus>) -> Vec<StageStatus> {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    stages
        .into_iter()
        .map(|mut stage| {
            let before = previous.iter().find(|old| old.name == stage.name);
            stage.last_transition_time = match before {
                Some(old)
                    if StageStatus {
                        last_transition_time: None,
                        ..old.clone()
                    } == stage =>
                {
                    old.last_transition_time.clone()
                }
                _ => Some(now.clone()),
            };
            stage
        })
        .collect()
}

/// Does the plan's actions, recording pull requests in `decided.stages`.
async fn act(
    pipeline: &Pipeline,
    context: &Context<PipelineState>,
    observed: &Observed,
    decided: &mut Plan,
) -> Result<(), PipelineError> {
    for action in decided.actions.clone() {
        match action {
            Action::OpenPullRequest { from, to, image } => {
                let written =
                    push_promotion(pipeline, context, observed, decided, (from, to), image).await?;
                let opened = decided.stages[to].pull_request.as_ref();
                if let Some(pull) = opened.filter(|_| written.commit().is_some()) {
                    let number = pull.number;
                    decided.stages[to].waiting_for =
                        Some(format!("pull request #{number} to be merged"));
                    let note = format!(
                        "opened pull request #{number} into stage {}",
                        pipeline.spec.stages[to].name
                    );
                    context
                        .publish_event(pipeline, false, "PullRequestOpened", &note)
                        .await;
                }
            }
            Action::RestorePullRequest {
                from,
                to,
                image,
                number,
                found,
            } => {
                let written =
                    push_promotion(pipeline, context, observed, decided, (from, to), image).await?;
                // Already there: the branch holds Sluice's change and the forge had not caught
                // up, or the status did not know the commit; pushed: someone moved the branch.
                if let PromotionWritten::Pushed(pushed) = written {
                    return Err(PipelineError::PromotionBranchMoved {
                        stage: pipeline.spec.stages[to].name.clone(),
                        number,
                        found: found.unwrap_or_else(|| "unknown".into()),
                        pushed,
                    });
                }
            }
            Action::Merge { to, number, head } => {
                observed.forge.merge_pull_request(number, &head).await?;
                if let Some(pull) = decided.stages[to].pull_request.as_mut() {
                    pull.state = PullRequestState::Merged;
                }
                request_source_fetch(context, &observed.source).await?;
                let note = format!(
                    "merged pull request #{number} at {head} into stage {}",
                    pipeline.spec.stages[to].name
                );
                context
                    .publish_event(pipeline, false, "PullRequestMerged", &note)
                    .await;
            }
            Action::ReportFailure {
                stage,
                number,
                message,
            } => {
                let already = pipeline
                    .status
                    .as_ref()
                    .and_then(|status| status.stages.get(stage))
                    .and_then(|old| old.waiting_for.clone());
                if already != decided.stages[stage].waiting_for {
                    let name = &pipeline.spec.stages[stage].name;
                    let body = failure_comment(&pipeline_key(pipeline), name, &message);
                    let body = observed.secrets.redact(&body);
                    observed.forge.comment(number, &body).await?;
                }
            }
        }
    }
    Ok(())
}

/// Pushes the promotion branch moving stage `to` to `image` (force-pushed: whatever else is on
/// it is replaced) and, when it holds the change, opens (or updates) its pull request, recorded
/// in `decided` with the commit it must be merged at. Returns what was written.
///
/// Errors: the stage is invalid, the commit cannot be written or pushed, or the forge fails.
async fn push_promotion(
    pipeline: &Pipeline,
    context: &Context<PipelineState>,
    observed: &Observed,
    decided: &mut Plan,
    (from, to): (usize, usize),
    image: String,
) -> Result<PromotionWritten, PipelineError> {
    let stages = &pipeline.spec.stages;
    let evidence = Evidence {
        pipeline: pipeline_key(pipeline),
        from_stage: stages[from].name.clone(),
        to_stage: stages[to].name.clone(),
        image: image.clone(),
        revision: observed.revision.clone(),
        kustomization: stages[from].kustomization_ref.name.clone(),
        statuses: observed.statuses.clone(),
        canary: stages[from]
            .canary_ref
            .as_ref()
            .zip(observed.facts[from].canary_phase.clone())
            .map(|(canary, phase)| (canary.name.clone(), phase)),
    };
    policy::check_url(&observed.source.spec.url, context.state.allow_file_sources)?;
    let write = PromotionWrite {
        work_dir: context
            .state
            .workdir
            .join("git")
            .join(pipeline.namespace().unwrap_or_default())
            .join(pipeline.name_any())
            .join(&stages[to].name),
        url: observed.source.spec.url.clone(),
        // The CRD admits only Go durations here.
        timeout: policy::git_timeout(observed.source.spec.timeout.as_deref())
            .unwrap_or(policy::DEFAULT_TIMEOUT),
        credentials: observed.credentials.clone(),
        base_branch: observed.base_branch.clone(),
        head_branch: promotion_branch(pipeline, &stages[to].name),
        location: image_location(&stages[to])?,
        image,
        message: observed.secrets.redact(&evidence.commit_message()),
        author: ("Sluice".into(), "sluice@sluice.dev".into()),
    };
    let head_branch = write.head_branch.clone();
    let written = tokio::task::spawn_blocking(move || promote(&write))
        .await
        .map_err(|error| PipelineError::Blocking(error.to_string()))??;
    let Some(commit) = written.commit() else {
        decided.stages[to].waiting_for = None;
        return Ok(written);
    };
    let pull = observed
        .forge
        .upsert_pull_request(&sluice_gitops::forge::PullRequestContent {
            head: head_branch,
            base: observed.base_branch.clone(),
            title: observed.secrets.redact(&evidence.title()),
            body: observed.secrets.redact(&evidence.body()),
        })
        .await?;
    decided.stages[to].pull_request = Some(PullRequest {
        number: pull.number,
        url: pull.url,
        state: PullRequestState::Open,
        pushed_commit: Some(commit.to_owned()),
    });
    Ok(written)
}

/// Asks the source for an immediate fetch after a merge, through its requested-at annotation.
async fn request_source_fetch(
    context: &Context<PipelineState>,
    source: &GitRepository,
) -> Result<(), PipelineError> {
    let api: Api<GitRepository> = Api::namespaced(
        context.client.clone(),
        &source.namespace().unwrap_or_default(),
    );
    let patch = json!({"metadata": {"annotations": {
        REQUESTED_AT_ANNOTATION: jiff::Timestamp::now().to_string()
    }}});
    api.patch(
        &source.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|error| PipelineError::Source(error.to_string()))?;
    Ok(())
}

fn pipeline_key(pipeline: &Pipeline) -> String {
    format!(
        "{}/{}",
        pipeline.namespace().unwrap_or_default(),
        pipeline.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, waiting: Option<&str>) -> StageStatus {
        StageStatus {
            name: name.into(),
            image: Some("app:1".into()),
            waiting_for: waiting.map(str::to_owned),
            ..StageStatus::default()
        }
    }

    #[test]
    fn transition_times_move_only_when_a_stage_changes() {
        let then =
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH);
        let previous = vec![
            StageStatus {
                last_transition_time: Some(then.clone()),
                ..stage("dev", None)
            },
            StageStatus {
                last_transition_time: Some(then.clone()),
                ..stage("qa", None)
            },
        ];
        let next =
            with_transition_times(&previous, vec![stage("dev", None), stage("qa", Some("x"))]);
        assert_eq!(next[0].last_transition_time, Some(then.clone()));
        assert_ne!(next[1].last_transition_time, Some(then));
    }

    #[test]
    fn a_failed_stage_is_named_from_the_plan() {
        let decided = Plan {
            stages: vec![
                stage("dev", Some("stage failed: Deployment podinfo not ready")),
                stage("qa", None),
            ],
            actions: Vec::new(),
        };
        assert_eq!(
            failed_stage(&decided),
            Some(("dev".into(), "Deployment podinfo not ready".into()))
        );
    }
}
