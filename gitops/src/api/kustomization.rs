//! `Kustomization` (`kustomize.sluice.dev/v1`): build a path of a source artifact with kustomize,
//! substitute variables, apply the result, prune what left it and wait for health, with the
//! fields of Flux's `kustomize.toolkit.fluxcd.io/v1` Kustomization (without `decryption`,
//! `kubeConfig` and the CEL fields).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;
use sluice_runtime::references::{AccessDenied, CrossNamespace, resolve_namespace};

use super::references::NamespacedObjectKindReference;

/// Desired state of a Kustomization, field for field as Flux's `KustomizationSpec` (v1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kustomize.sluice.dev",
    version = "v1",
    kind = "Kustomization",
    namespaced,
    status = "KustomizationStatus",
    shortname = "ks",
    category = "sluice",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// The source whose artifact holds the manifests.
    pub source_ref: CrossNamespaceSourceReference,
    /// Directory of the artifact to build, relative to its root; the root when absent. Without a
    /// `kustomization.yaml` there, one listing every manifest is generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to reconcile, as a Go duration (e.g. `10m`).
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
    /// Delay before retrying a failed reconcile, as a Go duration; `interval` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub retry_interval: Option<String>,
    /// Time allowed for fetch, build, apply and health checks, as a Go duration; `interval`
    /// minus 30s (at least 30s) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub timeout: Option<String>,
    /// Delete objects that left the build (and all objects when this Kustomization is deleted).
    pub prune: bool,
    /// What to do with the applied objects when this Kustomization is deleted; `MirrorPrune`
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Wait for every applied object to become ready; overrides `healthChecks`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// Objects whose readiness decides this Kustomization's health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<NamespacedObjectKindReference>,
    /// Kustomizations that must be ready before this one is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    /// Service account (in this namespace) to impersonate for every API call made for this
    /// Kustomization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Namespace set on every namespaced object (kustomize's `namespace`); must exist or be built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// Prefix added to every object name (kustomize's `namePrefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_prefix: Option<String>,
    /// Suffix added to every object name (kustomize's `nameSuffix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_suffix: Option<String>,
    /// Labels and annotations stamped on every object after the build, overriding existing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Strategic-merge or JSON6902 patches (kustomize's `patches`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Image overrides (kustomize's `images`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Kustomize components, relative to `path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Variable substitution run on every object after the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Delete and recreate objects whose immutable fields changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Stop reconciling this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// The source a Kustomization builds from (Flux's `CrossNamespaceSourceReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the source, e.g. `source.sluice.dev/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the source; `GitRepository` when absent (Flux's default for image automations).
    #[serde(default)]
    pub kind: SourceKind,
    /// Name of the source.
    pub name: String,
    /// Namespace of the source; the Kustomization's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl CrossNamespaceSourceReference {
    /// The namespace of the source a referrer in `referrer_namespace` names (its own when
    /// `namespace` is absent), if `policy` lets it, by the one rule of
    /// [`sluice_runtime::references`].
    ///
    /// Errors: [`AccessDenied`] when the lockdown is on and the source is in another namespace.
    pub fn resolve_namespace(
        &self,
        referrer_namespace: &str,
        policy: CrossNamespace,
    ) -> Result<String, AccessDenied> {
        resolve_namespace(
            referrer_namespace,
            self.kind.as_str(),
            &self.name,
            self.namespace.as_deref(),
            policy,
        )
    }
}

/// Kinds of source a Kustomization can build from. Sluice serves only `GitRepository`; Flux's
/// `OCIRepository`, `Bucket` and `ExternalArtifact` are not accepted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    /// A `source.sluice.dev/v1` GitRepository.
    #[default]
    GitRepository,
}

impl SourceKind {
    /// The kind's name, e.g. `GitRepository`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::GitRepository => "GitRepository",
        }
    }
}

/// What happens to applied objects when the Kustomization is deleted (Flux's `deletionPolicy`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete them if `prune` is true, keep them otherwise.
    #[default]
    MirrorPrune,
    /// Delete them whatever `prune` says.
    Delete,
    /// Delete them and wait until they are gone (bounded by `timeout`).
    WaitForTermination,
    /// Keep them.
    Orphan,
}

/// A Kustomization this one depends on (Flux's `DependencyReference`, without `readyExpr`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    /// Name of the Kustomization.
    pub name: String,
    /// Namespace of the Kustomization; this one's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Labels and annotations stamped on every applied object (Flux's `CommonMetadata`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonMetadata {
    /// Labels to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A kustomize patch with an optional target selector (kustomize's `types.Patch`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// A strategic-merge patch or a JSON6902 patch, as YAML or JSON text.
    pub patch: String,
    /// Objects the patch applies to; for a strategic-merge patch, the patch's own identity when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Which objects a patch applies to (kustomize's `types.Selector`); name and namespace are
/// regular expressions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group, e.g. `apps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version, e.g. `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind, e.g. `Deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Label selector, e.g. `app=podinfo,tier!=db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Annotation selector, in label-selector syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// An image override (kustomize's `images` entry).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image name to match, without tag, e.g. `ghcr.io/stefanprodan/podinfo`.
    pub name: String,
    /// Replacement name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Replacement digest (wins over `newTag`), e.g. `sha256:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Variable substitution after the build (Flux's `PostBuild`); see [`sluice_kustomize::substitute`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables by name; win over `substituteFrom`. Names must match
    /// `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in this namespace) whose data keys are variables; later entries
    /// win over earlier ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

/// A ConfigMap or Secret holding substitution variables (Flux's `SubstituteReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// Name of the object, in the Kustomization's namespace.
    pub name: String,
    /// Carry on without it when it does not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// Kinds that can hold substitution variables.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    /// Variables from `data`.
    #[default]
    ConfigMap,
    /// Variables from `data`, base64-decoded.
    Secret,
}

/// Observed state of a Kustomization (Flux's `KustomizationStatus`, without `history`); its own
/// condition is `Healthy`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// Source revision last applied successfully, e.g. `main@sha1:<hash>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// Source revision of the last reconcile attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The objects applied by the last reconcile, in apply order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,
}

/// The objects a Kustomization applied (Flux's `ResourceInventory`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInventory {
    /// One entry per object.
    #[serde(default)]
    pub entries: Vec<ResourceRef>,
}

/// One applied object (Flux's `ResourceRef`); see [`crate::inventory`] for the id format.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// `<namespace>_<name>_<group>_<kind>`, e.g. `default_podinfo_apps_Deployment`.
    pub id: String,
    /// API version of the object, e.g. `v1`.
    pub v: String,
}
