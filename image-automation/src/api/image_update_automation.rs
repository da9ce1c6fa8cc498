//! ImageUpdateAutomation (`image.sluice.dev/v1`): which Git repository to check out, where to look
//! for setter markers, how to commit and where to push; the fields of Flux's
//! `image.toolkit.fluxcd.io/v1` ImageUpdateAutomation (reference section 1.3), plus a report of the
//! markers found, applied and ignored in the last run.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_image_reflector::api::image_policy::ImageRef;
use sluice_runtime::ReconcileStatus;

/// The desired state of an ImageUpdateAutomation, as Flux's `ImageUpdateAutomationSpec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.sluice.dev",
    version = "v1",
    kind = "ImageUpdateAutomation",
    namespaced,
    status = "ImageUpdateAutomationStatus",
    shortname = "iua",
    shortname = "imgupd",
    shortname = "imgauto",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn = r#"{"name":"Last run","type":"string","jsonPath":".status.lastAutomationRunTime"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to clone and push to (URL, credentials, proxy and timeout come from it).
    pub source_ref: CrossNamespaceSourceReference,
    /// Checkout, commit and push settings; required in practice (missing → Stalled
    /// `InvalidSourceConfiguration`, as Flux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSpec>,
    /// Lower bound between two runs, a Go duration string ("1m", "30s").
    pub interval: String,
    /// Which ImagePolicies of this namespace are applied; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_selector: Option<LabelSelector>,
    /// How to update the files; Flux's default is `{strategy: Setters}` over the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateStrategy>,
    /// Stop running the automation; a run in flight finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// The GitRepository an automation works on, as Flux's `CrossNamespaceSourceReference`: the
/// reference a Kustomization uses.
pub use sluice_gitops::api::kustomization::{CrossNamespaceSourceReference, SourceKind};

/// Git settings of an automation, as Flux's `GitSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSpec {
    /// What to check out; the GitRepository's `.spec.ref` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    /// How to write the commit.
    pub commit: CommitSpec,
    /// Where to push; the checkout branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// The checkout override of an automation, as Flux's `GitCheckoutSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitCheckoutSpec {
    /// The Git reference to check out.
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// A Git reference, as Flux's `GitRepositoryRef`: the one GitRepository uses.
pub use sluice_gitops::api::git_repository::GitRepositoryRef;

/// How the commit is written, as Flux's `CommitSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    /// The commit author.
    pub author: CommitUser,
    /// Key used to sign the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    /// Go template of the commit message; Flux's default message when absent
    /// (see `commit_message::DEFAULT_MESSAGE_TEMPLATE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
    /// Values the template reads as `.Values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template_values: Option<BTreeMap<String, String>>,
}

/// A commit author, as Flux's `CommitUser`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitUser {
    /// Author name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Author email (required).
    pub email: String,
}

/// The secret holding a commit signing key, as Flux's `SigningKey`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    /// Secret in the automation's namespace: `git.asc` (+ `passphrase`) for GPG, `identity`
    /// (+ `password`) for SSH.
    pub secret_ref: LocalObjectReference,
}

/// A reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the referent.
    pub name: String,
}

/// Where the commit is pushed, as Flux's `PushSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSpec {
    /// Branch to push to; created from the checkout branch when absent on the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// An extra refspec to push, e.g. `refs/heads/main:refs/for/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refspec: Option<String>,
    /// Git push options, e.g. GitLab's `merge_request.create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// Open (or update) one pull request per automation from `branch` into the checkout branch,
    /// through a `notification.sluice.dev/v1` Provider of the automation's namespace (Sluice's
    /// addition; Flux leaves this to CI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestSpec>,
}

/// Where an automation opens its pull request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestSpec {
    /// The Provider (type github, gitlab or gitea) whose forge hosts the repository.
    pub provider_ref: sluice_gitops::api::references::LocalObjectReference,
}

/// How the files are updated, as Flux's `UpdateStrategy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// The only strategy: setter markers.
    #[serde(default)]
    pub strategy: UpdateStrategyName,
    /// Directory (inside the checkout) scanned for markers; the repository root when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The update strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpdateStrategyName {
    /// Rewrite the scalars marked with `# {"$imagepolicy": "NS:NAME[:field]"}`.
    #[default]
    Setters,
}

/// The observed state of an ImageUpdateAutomation, as Flux's status plus a marker report.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// Start of the last run (RFC 3339), even when it changed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_automation_run_time: Option<String>,
    /// SHA-1 of the last pushed commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_commit: Option<String>,
    /// Time of the last push (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<String>,
    /// Policy name → latest image considered in the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_policies: Option<BTreeMap<String, ImageRef>>,
    /// Checkout revision of the last run, e.g. `main@sha1:8084f1bb…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_revision: Option<String>,
    /// Markers found in the last run, with what was done with each (Sluice's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markers: Option<MarkerReport>,
}

/// The setter markers of the last run: every one found, the ones applied (value written or
/// already current) and the ones ignored with the reason.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkerReport {
    /// Every marker found.
    #[serde(default)]
    pub found: Vec<MarkerStatus>,
    /// Markers whose policy was known: the scalar holds the policy's latest value.
    #[serde(default)]
    pub applied: Vec<MarkerStatus>,
    /// Markers not applied, each with a reason.
    #[serde(default)]
    pub ignored: Vec<MarkerStatus>,
}

/// One marker in one file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkerStatus {
    /// File path relative to `update.path`.
    pub file: String,
    /// Line of the marked scalar, from 1.
    pub line: u32,
    /// The marker's setter, e.g. `flux-system:app:tag`.
    pub setter: String,
    /// Why the marker was ignored (only in `ignored`), e.g. `policy has no latest image yet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
