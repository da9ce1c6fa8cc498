//! Gathers what a Pipeline's planner needs from the API server, the source artifact and the
//! forge: per stage the image its files name at the source's revision, its Kustomization's health
//! at that revision, its canary's phase, the pull request into it (only Sluice's own: from the
//! promotion branch of the repository itself, never from a fork) with the commit its head is at,
//! and whether the statuses it requires are green.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client, Resource, ResourceExt};
use sluice_canary::api::Canary;
use sluice_canary::api::canary::CanaryPhase;
use sluice_canary::names::primary_name;

use super::error::PipelineError;
use super::facts::{
    canary_event, kustomization_health, primary_runs, resolve_references, revision_sha,
    statuses_green,
};
use super::plan::{Health, StageFacts, image_location};
use super::reconciler::PipelineState;
use super::stage_git::{ImageLocation, stage_image};
use crate::api::{Pipeline, PullRequest, PullRequestState};
use sluice_gitops::api::git_repository::GitRepository;
use sluice_gitops::api::kustomization::Kustomization;
use sluice_gitops::api::provider::Provider;
use sluice_gitops::forge::{CommitStatus, Forge};
use sluice_gitops::notification::credentials::{forge_client, forge_kind};
use sluice_gitops::notification::{Event, InvolvedObject};
use sluice_runtime::Context;
use sluice_runtime::redact::Redactor;
use sluice_runtime::secrets::read_secret_data;

/// Everything a reconcile observed.
pub struct Observed {
    /// One entry per stage, in spec order.
    pub facts: Vec<StageFacts>,
    /// The source artifact's revision, `main@sha1:<hash>`.
    pub revision: String,
    /// The commit statuses of that revision.
    pub statuses: Vec<CommitStatus>,
    /// The GitRepository.
    pub source: GitRepository,
    /// Its `secretRef` data, when it names one.
    pub credentials: Option<BTreeMap<String, Vec<u8>>>,
    /// The branch promotions merge into.
    pub base_branch: String,
    /// The Provider's forge client.
    pub forge: Forge,
    /// The values of the source's credentials, which a promotion's commit, pull request and
    /// comments never show (the forge client keeps the Provider's token out of what it posts).
    pub secrets: Redactor,
    /// The result of each canary of a stage healthy at the revision, for Alerts.
    pub canary_events: Vec<Event>,
}

/// Observes `pipeline`.
///
/// Errors: a stage is invalid ([`image_location`], checked before anything is read), the source
/// is missing or has no artifact, the Provider is unusable, the forge cannot be read, a stage
/// image cannot be read, or the API server fails.
pub async fn observe(
    pipeline: &Pipeline,
    context: &Context<PipelineState>,
) -> Result<Observed, PipelineError> {
    let locations = pipeline
        .spec
        .stages
        .iter()
        .map(image_location)
        .collect::<Result<Vec<_>, _>>()?;
    let namespace = pipeline.namespace().unwrap_or_default();
    let client = &context.client;
    let source_namespace =
        resolve_references(&namespace, &pipeline.spec, context.cross_namespace())?;
    let source = source(pipeline, &source_namespace, context).await?;
    let artifact = source
        .status
        .as_ref()
        .and_then(|status| status.artifact.clone())
        .ok_or_else(|| {
            PipelineError::Source(format!(
                "GitRepository {} has no artifact yet",
                source.name_any()
            ))
        })?;
    let revision = artifact.revision.clone();
    let forge = forge(client, &namespace, &pipeline.spec.provider_ref.name).await?;
    let statuses = forge.commit_statuses(revision_sha(&revision)).await?;
    let images = stage_images(pipeline, context, &artifact, locations).await?;
    let previous = pipeline.status.clone().unwrap_or_default().stages;
    let mut facts = Vec::new();
    let mut canary_events = Vec::new();
    for (index, (stage, image)) in pipeline.spec.stages.iter().zip(images).enumerate() {
        let kustomization =
            get::<Kustomization>(client, &namespace, &stage.kustomization_ref.name).await?;
        let health =
            kustomization.map_or(Health::Progressing, |k| kustomization_health(&k, &revision));
        let canary = match (&stage.canary_ref, &image) {
            (Some(canary), Some(image)) => {
                Some(canary_phase(client, &namespace, &canary.name, image).await?)
            }
            _ => None,
        };
        let canary_phase = canary.as_ref().map(|(_, phase)| phase.clone());
        if let (Some((Some(object), phase)), Health::Healthy) = (canary, &health) {
            canary_events.push(canary_event(object, &phase, &revision));
        }
        let known = previous.get(index).and_then(|old| old.pull_request.clone());
        let expected = PullRequestBranches {
            head: promotion_branch(pipeline, &stage.name),
            base: base_branch(&source, &revision),
        };
        let (pull_request, pull_request_head) = match known {
            Some(known) => refresh(&forge, known, &expected).await?,
            None => (None, None),
        };
        let pinned = pull_request
            .as_ref()
            .filter(|pull| pull.state == PullRequestState::Open)
            .and_then(|pull| pull.pushed_commit.as_deref())
            .filter(|pushed| pull_request_head.as_deref() == Some(*pushed));
        let promotion_statuses = match pinned {
            Some(pushed) if !stage.required_statuses.is_empty() => {
                forge.commit_statuses(pushed).await?
            }
            _ => Vec::new(),
        };
        let source_kustomization = index
            .checked_sub(1)
            .map(|from| pipeline.spec.stages[from].kustomization_ref.name.as_str())
            .unwrap_or_default();
        facts.push(StageFacts {
            image,
            applied_revision: Some(revision.clone()),
            health,
            canary_phase,
            pull_request,
            pull_request_head,
            required_statuses_green: statuses_green(
                &stage.required_statuses,
                source_kustomization,
                &statuses,
                &promotion_statuses,
            ),
        });
    }
    let credentials = credentials(client, &source).await?;
    let secrets = Redactor::new(
        credentials
            .iter()
            .flatten()
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned()),
    );
    Ok(Observed {
        facts,
        canary_events,
        base_branch: base_branch(&source, &revision),
        credentials,
        secrets,
        revision,
        statuses,
        source,
        forge,
    })
}

/// The Pipeline's GitRepository, which is in `namespace`.
async fn source(
    pipeline: &Pipeline,
    namespace: &str,
    context: &Context<PipelineState>,
) -> Result<GitRepository, PipelineError> {
    let reference = &pipeline.spec.source_ref;
    get::<GitRepository>(&context.client, namespace, &reference.name)
        .await?
        .ok_or_else(|| {
            PipelineError::Source(format!(
                "GitRepository {namespace}/{} not found",
                reference.name
            ))
        })
}

/// The branch Sluice pushes the promotion into stage `stage` of `pipeline` to,
/// `sluice/promote/<pipeline>/<stage>`.
pub fn promotion_branch(pipeline: &Pipeline, stage: &str) -> String {
    format!("sluice/promote/{}/{stage}", pipeline.name_any())
}

/// The branch the source follows: `spec.ref.branch`, else the branch its revision names.
fn base_branch(source: &GitRepository, revision: &str) -> String {
    source
        .spec
        .reference
        .as_ref()
        .and_then(|reference| reference.branch.clone())
        .unwrap_or_else(|| revision.split('@').next().unwrap_or("main").to_owned())
}

/// The forge client of Provider `name`.
async fn forge(client: &Client, namespace: &str, name: &str) -> Result<Forge, PipelineError> {
    let provider_error = |message: String| PipelineError::Provider {
        name: name.to_owned(),
        message,
    };
    let provider = get::<Provider>(client, namespace, name)
        .await?
        .ok_or_else(|| provider_error("not found".into()))?;
    let kind = forge_kind(provider.spec.provider_type).ok_or_else(|| {
        provider_error("a Pipeline needs a Git host provider (github, gitlab, gitea)".into())
    })?;
    forge_client(client, &provider, kind)
        .await
        .map_err(|error| provider_error(error.to_string()))
}

/// The image each stage's files name at its `locations`, read from the source artifact unpacked
/// in a scratch folder.
async fn stage_images(
    pipeline: &Pipeline,
    context: &Context<PipelineState>,
    artifact: &sluice_gitops::api::git_repository::Artifact,
    locations: Vec<ImageLocation>,
) -> Result<Vec<Option<String>>, PipelineError> {
    let key = (
        artifact.revision.clone(),
        artifact.digest.clone(),
        locations.clone(),
    );
    let pipeline_key = format!(
        "{}/{}",
        pipeline.namespace().unwrap_or_default(),
        pipeline.name_any()
    );
    if let Some(images) = context.state.images.read(&pipeline_key, &key) {
        return Ok(images);
    }
    let scratch = std::fs::create_dir_all(&context.state.workdir)
        .and_then(|()| tempfile::tempdir_in(&context.state.workdir))
        .map_err(PipelineError::Scratch)?;
    context
        .state
        .artifacts
        .unpack(artifact, scratch.path())
        .await
        .map_err(|error| PipelineError::Source(error.to_string()))?;
    let images = tokio::task::spawn_blocking(move || {
        locations
            .iter()
            .map(|location| stage_image(scratch.path(), location))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|error| PipelineError::Blocking(error.to_string()))?
    .map_err(PipelineError::Images)?;
    context
        .state
        .images
        .remember(pipeline_key, key, images.clone());
    Ok(images)
}

/// Canary `name` (`None` when it does not exist) and its phase as the planner reads it:
/// `Succeeded` only when its primary also runs `image` (a canary still showing the previous
/// run's success reads as waiting).
async fn canary_phase(
    client: &Client,
    namespace: &str,
    name: &str,
    image: &str,
) -> Result<(Option<InvolvedObject>, String), PipelineError> {
    let Some(canary) = get::<Canary>(client, namespace, name).await? else {
        return Ok((None, "not found".into()));
    };
    let object = InvolvedObject {
        kind: Canary::kind(&()).into_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        api_version: Canary::api_version(&()).into_owned(),
        labels: canary.labels().clone(),
    };
    let phase = canary.status.as_ref().and_then(|status| status.phase);
    let Some(CanaryPhase::Succeeded) = phase else {
        let shown = phase.map_or("Pending", CanaryPhase::as_str);
        return Ok((Some(object), shown.to_owned()));
    };
    let primary_name = primary_name(&canary.spec.target_ref.name);
    let primary = get::<Deployment>(client, namespace, &primary_name).await?;
    let images: Vec<String> = primary
        .and_then(|deployment| deployment.spec.template.spec)
        .map(|pod| pod.containers.into_iter().filter_map(|c| c.image).collect())
        .unwrap_or_default();
    let phase = if primary_runs(image, &images) {
        CanaryPhase::Succeeded.to_string()
    } else {
        format!("Succeeded on a previous revision; {primary_name} does not run {image} yet")
    };
    Ok((Some(object), phase))
}

/// The branches a promotion pull request goes from and into.
struct PullRequestBranches {
    head: String,
    base: String,
}

/// The pull request `known` as the forge has it now, with the commit its head is at; `(None,
/// None)` when it is no longer Sluice's to look at: from a fork, or from or into other branches
/// than the promotion's (the status it was read from is the tenant's to write).
///
/// Errors: the forge cannot be read.
async fn refresh(
    forge: &Forge,
    known: PullRequest,
    expected: &PullRequestBranches,
) -> Result<(Option<PullRequest>, Option<String>), PipelineError> {
    let current = forge.pull_request(known.number).await?;
    if !current.same_repository || current.head != expected.head || current.base != expected.base {
        return Ok((None, None));
    }
    let state = match (current.merged, current.open) {
        (true, _) => PullRequestState::Merged,
        (false, true) => PullRequestState::Open,
        (false, false) => PullRequestState::Closed,
    };
    let pull = PullRequest {
        state,
        url: current.url,
        ..known
    };
    Ok((Some(pull), Some(current.head_sha)))
}

async fn credentials(
    client: &Client,
    source: &GitRepository,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, PipelineError> {
    let Some(reference) = &source.spec.secret_ref else {
        return Ok(None);
    };
    let namespace = source.namespace().unwrap_or_default();
    read_secret_data(client, &namespace, &reference.name)
        .await
        .map(Some)
        .map_err(kube_error(format!("Secret {namespace}/{}", reference.name)))
}

async fn get<K>(client: &Client, namespace: &str, name: &str) -> Result<Option<K>, PipelineError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(kube_error(format!("{} {namespace}/{name}", K::kind(&()))))
}

fn kube_error(what: String) -> impl FnOnce(kube::Error) -> PipelineError {
    move |source| PipelineError::Kube { what, source }
}
