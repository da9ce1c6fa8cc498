//! Small reference types shared by several kinds, with the field names of Flux's
//! `github.com/fluxcd/pkg/apis/meta` package (`LocalObjectReference`,
//! `NamespacedObjectKindReference`, ...) so YAML moves over unchanged.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an object in the referrer's own namespace, by name (Flux's
/// `meta.LocalObjectReference`), e.g. `secretRef: {name: git-credentials}`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to an object by name and optional namespace (Flux's
/// `meta.NamespacedObjectReference`); `namespace` defaults to the referrer's.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectReference {
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent; the referrer's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to an object of any kind by apiVersion, kind, name and optional namespace (Flux's
/// `meta.NamespacedObjectKindReference`), as used by Kustomization `healthChecks`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// API version of the referent, e.g. `apps/v1`; any version of the kind's group when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, e.g. `Deployment`.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; the referrer's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to objects of one kind, possibly in another namespace, possibly by label (Flux's
/// notification `CrossNamespaceObjectReference`), as used by Alert `eventSources`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, e.g. `Kustomization`, `GitRepository`.
    pub kind: String,
    /// Name of the referent; `*` matches every object of the kind (then `matchLabels` may filter).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent; the referrer's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels the referents must carry; only meaningful with `name: "*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}
