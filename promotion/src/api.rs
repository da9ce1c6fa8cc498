//! `Pipeline` (`promotion.sluice.dev/v1`): Sluice's own promotion object (Flux has none). An
//! ordered list of stages (dev -> qa -> prod); when a stage's Kustomization (and canary) is
//! healthy on the image it runs, the next stage's image reference in Git is bumped through a pull
//! request on the Provider's forge, merged automatically or by a person, and gated on commit
//! statuses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sluice_gitops::api::kustomization::CrossNamespaceSourceReference;
use sluice_gitops::api::references::LocalObjectReference;
use sluice_runtime::ReconcileStatus;

/// Desired state of a Pipeline.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "promotion.sluice.dev",
    version = "v1",
    kind = "Pipeline",
    namespaced,
    status = "PipelineStatus",
    category = "sluice",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// The GitRepository holding every stage's manifests; promotions are pull requests against it.
    pub source_ref: CrossNamespaceSourceReference,
    /// The Provider (same namespace, a forge type) used to open pull requests and read commit
    /// statuses.
    pub provider_ref: LocalObjectReference,
    /// Stages in promotion order; an image moves from stage N to stage N+1.
    #[schemars(length(min = 1))]
    pub stages: Vec<Stage>,
    /// How often the stages are looked at when nothing is moving, a Go duration; `1m` when
    /// absent. While a stage waits on something under way (an apply, a canary, statuses), the
    /// Pipeline looks every 5 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Stop promoting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// One environment of a Pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.branch)",
    "message": "stages[].branch is not supported yet: every stage lives on the source's branch (a branch per stage would need a source per branch)"
}]))]
pub struct Stage {
    /// Stage name, unique in the Pipeline, e.g. `dev`.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// The Kustomization (same namespace) that deploys this stage.
    pub kustomization_ref: LocalObjectReference,
    /// A Canary (same namespace) that must have succeeded on the image before it moves on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_ref: Option<LocalObjectReference>,
    /// Where this stage's image reference lives in Git.
    pub image: StageImage,
    /// Branch of this stage when each stage has its own branch. Not supported yet: the schema
    /// refuses it at admission, so every stage lives on the source's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Folder of this stage's overlay in the repository, e.g. `./apps/staging`; relative and
    /// inside it (no `..`, not absolute), else the Pipeline is refused with `InvalidStage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether the promotion pull request into this stage merges by itself once its statuses are
    /// green; `manual` when absent.
    #[serde(default)]
    pub approval: Approval,
    /// Commit status contexts that must be `success` on the promotion commit Sluice pushed
    /// (the pull request's head) before it merges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_statuses: Vec<String>,
}

/// Where a stage's image reference is written: exactly one of `policy` or `kustomizeImage`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageImage {
    /// Image policy setter marker `<namespace>:<name>`, as in a `# {"$imagepolicy": "..."}`
    /// comment of image automation; every field carrying this marker under the stage's `path`
    /// is rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// An `images` entry of a kustomization file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize_image: Option<KustomizeImageRef>,
}

/// An `images` entry of a `kustomization.yaml` in the repository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeImageRef {
    /// Path of the kustomization file in the repository, e.g. `apps/prod/kustomization.yaml`;
    /// relative and inside it, as a stage's `path`.
    pub path: String,
    /// The `name` of the `images` entry to rewrite.
    pub name: String,
}

/// How a promotion pull request is merged.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Merged by Sluice once the required statuses are green.
    Auto,
    /// Left open for a person to merge.
    #[default]
    Manual,
}

/// The two ways a stage names its image reference, as [`StageImage::target`] returns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageTarget<'a> {
    /// The setter marker `<namespace>:<name>`.
    Policy(&'a str),
    /// A kustomization file's `images` entry.
    KustomizeImage(&'a KustomizeImageRef),
}

/// Why a stage's `image` does not name exactly one target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageImageError {
    /// Neither `policy` nor `kustomizeImage` is set.
    #[error("stage image sets neither policy nor kustomizeImage")]
    Missing,
    /// Both `policy` and `kustomizeImage` are set.
    #[error("stage image sets both policy and kustomizeImage")]
    Ambiguous,
}

impl StageImage {
    /// Returns the one target this image names, or [`StageImageError`] when it names none or
    /// both (the CRD schema cannot express "exactly one").
    pub fn target(&self) -> Result<ImageTarget<'_>, StageImageError> {
        match (&self.policy, &self.kustomize_image) {
            (Some(policy), None) => Ok(ImageTarget::Policy(policy)),
            (None, Some(entry)) => Ok(ImageTarget::KustomizeImage(entry)),
            (None, None) => Err(StageImageError::Missing),
            (Some(_), Some(_)) => Err(StageImageError::Ambiguous),
        }
    }
}

/// Observed state of a Pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// One entry per stage, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageStatus>,
}

/// Where one stage stands.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    /// Stage name.
    pub name: String,
    /// Image the stage runs, e.g. `ghcr.io/org/app:1.2.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Source revision the stage's Kustomization last applied, e.g. `main@sha1:<hash>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The open or last promotion pull request into this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
    /// What the promotion into this stage waits for, for people, e.g. `status
    /// kustomization/apps-qa to be success`; absent when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// When this entry last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// A promotion pull (merge) request on the forge.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Number of the pull request.
    pub number: u64,
    /// Web address of the pull request.
    pub url: String,
    /// `open`, `merged` or `closed`.
    pub state: PullRequestState,
    /// The commit Sluice last pushed to the promotion branch (SHA-1, hex): the required
    /// statuses are read on it, and the pull request is merged only while its head is this
    /// commit (the forge is told so and refuses when the branch moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_commit: Option<String>,
}

/// States of a pull request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PullRequestState {
    /// Open, not merged.
    #[default]
    Open,
    /// Merged.
    Merged,
    /// Closed without merging.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(policy: Option<&str>, entry: Option<KustomizeImageRef>) -> StageImage {
        StageImage {
            policy: policy.map(str::to_string),
            kustomize_image: entry,
        }
    }

    #[test]
    fn stage_image_names_exactly_one_target() {
        let entry = KustomizeImageRef {
            path: "apps/prod/kustomization.yaml".into(),
            name: "podinfo".into(),
        };
        assert_eq!(
            image(Some("apps:podinfo"), None).target(),
            Ok(ImageTarget::Policy("apps:podinfo"))
        );
        assert_eq!(
            image(None, Some(entry.clone())).target(),
            Ok(ImageTarget::KustomizeImage(&entry))
        );
        assert_eq!(image(None, None).target(), Err(StageImageError::Missing));
        assert_eq!(
            image(Some("apps:podinfo"), Some(entry)).target(),
            Err(StageImageError::Ambiguous)
        );
    }

    #[test]
    fn approval_defaults_to_manual() {
        let stage: Stage = serde_json::from_value(serde_json::json!({
            "name": "prod",
            "kustomizationRef": {"name": "apps-prod"},
            "image": {"policy": "apps:podinfo"}
        }))
        .expect("stage parses");
        assert_eq!(stage.approval, Approval::Manual);
    }
}
