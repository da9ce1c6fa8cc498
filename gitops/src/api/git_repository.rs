//! `GitRepository` (`source.sluice.dev/v1`): a Git repository to fetch at an interval and store
//! as a tarball artifact, with the fields of Flux's `source.toolkit.fluxcd.io/v1` GitRepository.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

use super::references::LocalObjectReference;

/// Desired state of a GitRepository, field for field as Flux's `GitRepositorySpec` (v1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.sluice.dev",
    version = "v1",
    kind = "GitRepository",
    namespaced,
    status = "GitRepositoryStatus",
    shortname = "gitrepo",
    category = "sluice",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// Repository URL: `http://`, `https://` or `ssh://`, as Flux's pattern (`git://` and
    /// scp-like `user@host:repo` are refused); `file://` is admitted here but fetched only by a
    /// controller run with `--allow-file-sources` (see `sluice_gitops::source::policy`).
    #[schemars(regex(pattern = r"^(http|https|ssh|file)://.*$"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^(http|https|ssh|file)://.*$')",
        "message": "url must be an http://, https:// or ssh:// URL (git:// and scp-like addresses are refused as in Flux; file:// only on a controller run with --allow-file-sources)"
    }]))]
    pub url: String,
    /// Secret in the same namespace with the credentials: `username`/`password`, `bearerToken`,
    /// `ca.crt`, `tls.crt`/`tls.key`, or `identity`/`known_hosts` for SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Identity provider used for authentication; `generic` (the Secret) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<GitProvider>,
    /// Service account whose workload identity authenticates (only with `aws`/`azure` providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// How often to check the remote, as a Go duration (e.g. `1m`).
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
    /// Timeout of Git operations (clone, fetch) as a Go duration; `60s` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<String>,
    /// Which ref to check out; branch `master` when absent (Flux's default).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    /// Verify the OpenPGP/SSH signature of the commit or tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitRepositoryVerification>,
    /// Secret with `address`, `username`, `password` of a proxy to use for Git operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// `.gitignore`-style patterns that replace the default exclusion list of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop reconciling this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Check out Git submodules too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse_submodules: bool,
    /// Other GitRepositories whose artifacts are copied into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<GitRepositoryInclude>,
    /// Only these directories are checked out and stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparse_checkout: Vec<String>,
}

/// Identity providers a GitRepository authenticates with (Flux's `provider` enum).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    /// Credentials from `secretRef`.
    #[default]
    Generic,
    /// AWS CodeCommit workload identity.
    Aws,
    /// Azure DevOps workload identity.
    Azure,
    /// GitHub App credentials from `secretRef`.
    Github,
}

/// The Git reference to check out. Precedence as in Flux: `commit` > `name` > `semver` > `tag` >
/// `branch`; `commit` together with `branch` checks out the branch and requires the commit in it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryRef {
    /// Branch name, e.g. `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag name, e.g. `v1.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Semver range over the tags, e.g. `>=1.0.0 <2.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Full reference name, e.g. `refs/pull/420/head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Signature verification settings (Flux's `GitRepositoryVerification`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// What to verify; `HEAD` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<VerificationMode>,
    /// Secret whose `*.asc` keys are PGP public keys and `*.sshpub` keys SSH authorized keys.
    pub secret_ref: LocalObjectReference,
}

/// What a GitRepository verifies the signature of (Flux's `verify.mode` enum).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum VerificationMode {
    /// The commit at the head of the ref.
    #[default]
    #[serde(rename = "HEAD")]
    Head,
    /// The tag object.
    Tag,
    /// Both the tag and the commit it points to.
    TagAndHEAD,
}

/// Another GitRepository whose artifact is copied into this one (Flux's `GitRepositoryInclude`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryInclude {
    /// The GitRepository, in the same namespace.
    pub repository: LocalObjectReference,
    /// Directory of the included artifact to copy; its root when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    /// Directory to copy into; the included repository's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}

/// Observed state of a GitRepository (Flux's `GitRepositoryStatus`); its own conditions are
/// `ArtifactInStorage`, `FetchFailed`, ...
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// The artifact of the last successful reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The artifacts of `spec.include` that went into `artifact`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_artifacts: Vec<Artifact>,
    /// `spec.ignore` used to build `artifact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    /// `spec.recurseSubmodules` used to build `artifact`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed_recurse_submodules: bool,
    /// `spec.include` used to build `artifact`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_include: Vec<GitRepositoryInclude>,
    /// `spec.sparseCheckout` used to build `artifact`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_sparse_checkout: Vec<String>,
    /// Verification mode that passed for `artifact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_verification_mode: Option<VerificationMode>,
}

/// A stored source tarball (Flux's `meta.Artifact`), served over HTTP to consumers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Path relative to the storage root: `gitrepository/<namespace>/<name>/<hash>.tar.gz`.
    pub path: String,
    /// HTTP address of the tarball.
    pub url: String,
    /// Source revision, e.g. `main@sha1:<40 hex>`, `v1.2.0@sha1:<hash>`, `sha1:<hash>`.
    pub revision: String,
    /// Digest of the tarball bytes, e.g. `sha256:<64 hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"))]
    pub digest: Option<String>,
    /// When the artifact was last written.
    pub last_update_time: Time,
    /// Size of the tarball in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Free-form metadata about the artifact.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}
