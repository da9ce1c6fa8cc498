//! `ImageRepository` (`image.sluice.dev/v1`): an image whose registry tags are scanned on an
//! interval, with the fields and meanings of Flux's `image.toolkit.fluxcd.io/v1` ImageRepository.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

/// What Flux's exclusion list holds when the field is not set: it hides cosign's `.sig` tags.
pub const DEFAULT_EXCLUSION_LIST: &str = r"^.*\.sig$";

/// The desired state of an ImageRepository: which image to scan, how often, with which
/// credentials, and which tags to drop before storing them.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[kube(
    group = "image.sluice.dev",
    version = "v1",
    kind = "ImageRepository",
    namespaced,
    status = "ImageRepositoryStatus",
    shortname = "imgrepo",
    shortname = "imagerepo",
    category = "all",
    category = "sluice",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image"}"#,
    printcolumn = r#"{"name":"Tags","type":"integer","jsonPath":".status.lastScanResult.tagCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Last scan","type":"string","jsonPath":".status.lastScanResult.scanTime","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// Repository address without scheme and without tag, e.g. `ghcr.io/org/app` or `alpine`
    /// (canonicalised to `index.docker.io/library/alpine`); `host:port/path` is allowed.
    pub image: String,
    /// Time between scans, as a Go duration (`5m`, `1h30m`).
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
    /// Timeout of one scan (credentials and tag listing together), as a Go duration without
    /// hours; defaults to `interval`, with a floor of 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<String>,
    /// A Secret of type `kubernetes.io/dockerconfigjson` with the registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Service account whose `imagePullSecrets` are used (provider `generic`), or whose
    /// workload identity is used (providers `aws`, `azure`, `gcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// A Secret with `tls.crt` and `tls.key` (mutual TLS) and/or `ca.crt` for the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// A Secret with `address` (required), `username` and `password` of an HTTP(S) or SOCKS5
    /// proxy; it overrides the `HTTPS_PROXY`/`ALL_PROXY` environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// Allow a plain-HTTP registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Regular expressions of tags dropped before storing; setting the list replaces the
    /// default `^.*\.sig$`, it does not add to it.
    #[serde(default = "default_exclusion_list")]
    #[schemars(length(max = 25))]
    pub exclusion_list: Vec<String>,
    /// Who provides the registry credentials.
    #[serde(default)]
    pub provider: RegistryProvider,
    /// Which namespaces' ImagePolicies may reference this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// Stop scanning; a scan in flight finishes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// A Secret with a `token` that enables this repository's registry webhook: the controller
    /// publishes `status.webhookPath` (`/hooks/registry/<sha256 of token + name + namespace>`,
    /// as Flux's Receiver derives its `webhookPath`), and a `POST` there scans this repository,
    /// and only it, at once. Without it, no webhook triggers this repository (a Sluice
    /// extension: Flux needs a separate Receiver object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_ref: Option<LocalObjectReference>,
}

impl ImageRepositorySpec {
    /// The names of the Secrets the spec references, in its own namespace: `secretRef`,
    /// `certSecretRef`, `proxySecretRef` and `webhookSecretRef`, in that order, those set only.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        [
            &self.secret_ref,
            &self.cert_secret_ref,
            &self.proxy_secret_ref,
            &self.webhook_secret_ref,
        ]
        .into_iter()
        .flatten()
        .map(|reference| reference.name.as_str())
    }
}

/// Returns Flux's default exclusion list: `["^.*\.sig$"]`.
pub fn default_exclusion_list() -> Vec<String> {
    vec![DEFAULT_EXCLUSION_LIST.to_owned()]
}

/// A reference to an object, by name, in the namespace of the object that holds it.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
pub struct LocalObjectReference {
    /// The object's name.
    pub name: String,
}

/// Who provides the registry credentials, as Flux's `spec.provider`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RegistryProvider {
    /// `secretRef` or the service account's `imagePullSecrets`.
    #[default]
    Generic,
    /// Amazon ECR (private and public).
    Aws,
    /// Azure Container Registry.
    Azure,
    /// Google Container Registry and Artifact Registry.
    Gcp,
}

/// The namespaces allowed to reference an object, as Flux's `acl.AccessFrom`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// A namespace is allowed when any of these selectors matches its labels.
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Labels a namespace must carry; `matchLabels: {}` matches every namespace.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Every label here must be on the namespace with the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// What the controller observed on its last scan of an ImageRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// The image name after canonicalisation, e.g. `index.docker.io/library/alpine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    /// The outcome of the last successful scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
    /// The exclusion list the last scan applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_exclusion_list: Vec<String>,
    /// The path under the controller's HTTP address whose `POST` scans this repository
    /// (`/hooks/registry/<sha256 hex>`), when `spec.webhookSecretRef` is set and valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
}

/// The tags one scan stored, summarised.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// How many tags were stored (after the exclusion list).
    pub tag_count: i64,
    /// When the scan happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<Time>,
    /// A stable hash of the stored tag set; ImagePolicies re-evaluate only when it changes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// A sample: the first 10 tags in descending byte-wise order (not semver order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_spec_takes_flux_defaults() {
        let spec: ImageRepositorySpec =
            serde_json::from_value(serde_json::json!({"image": "alpine", "interval": "5m"}))
                .unwrap();
        assert_eq!(spec.exclusion_list, vec![r"^.*\.sig$".to_owned()]);
        assert_eq!(spec.provider, RegistryProvider::Generic);
        assert!(!spec.insecure && !spec.suspend);
        let written = serde_json::to_value(&spec).unwrap();
        assert_eq!(written["provider"], "generic");
        assert!(written.get("timeout").is_none(), "None fields are omitted");
    }

    #[test]
    fn an_explicit_exclusion_list_replaces_the_default() {
        let spec: ImageRepositorySpec = serde_json::from_value(serde_json::json!({
            "image": "ghcr.io/org/app", "interval": "1h", "exclusionList": ["^dev-"],
            "provider": "aws", "accessFrom": {"namespaceSelectors": [{"matchLabels": {}}]}
        }))
        .unwrap();
        assert_eq!(spec.exclusion_list, vec!["^dev-".to_owned()]);
        assert_eq!(spec.provider, RegistryProvider::Aws);
        let selectors = spec.access_from.unwrap().namespace_selectors;
        assert_eq!(selectors[0].match_labels, Some(BTreeMap::new()));
    }

    #[test]
    fn the_referenced_secrets_are_named() {
        let spec: ImageRepositorySpec = serde_json::from_value(serde_json::json!({
            "image": "r.io/app", "interval": "1h", "secretRef": {"name": "pull"},
            "proxySecretRef": {"name": "proxy"}, "serviceAccountName": "builder",
            "webhookSecretRef": {"name": "hook"}
        }))
        .unwrap();
        assert_eq!(
            spec.secret_names().collect::<Vec<_>>(),
            ["pull", "proxy", "hook"]
        );
    }
}
