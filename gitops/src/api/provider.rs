//! `Provider` (`notification.sluice.dev/v1`): where events are sent and commit statuses are
//! written, with the fields of Flux's `notification.toolkit.fluxcd.io/v1beta3` Provider, limited
//! to the Git forges and the generic webhook.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

use super::references::LocalObjectReference;

/// Desired state of a Provider (Flux's `ProviderSpec`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "notification.sluice.dev",
    version = "v1",
    kind = "Provider",
    namespaced,
    status = "ProviderStatus",
    category = "sluice",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// The kind of receiver.
    #[serde(rename = "type")]
    pub provider_type: ProviderType,
    /// Address of the receiver: for forges the repository URL (GitLab: may be the project ID
    /// URL), for `generic` the webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub address: Option<String>,
    /// Channel, room or topic of chat receivers; kept for Flux compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub channel: Option<String>,
    /// Secret in the same namespace with the `token` (and optionally `address`, `headers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with `ca.crt` (and optionally `tls.crt`/`tls.key`) to trust the receiver's TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Timeout of a call to the receiver, as a Go duration; `15s` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<String>,
    /// Stop sending to this provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Receiver kinds Sluice supports (a subset of Flux's `type` enum).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    /// GitHub commit statuses and pull requests.
    Github,
    /// GitLab commit statuses and merge requests.
    Gitlab,
    /// Gitea commit statuses and pull requests.
    Gitea,
    /// JSON POST of the event to `address`.
    #[default]
    Generic,
}

/// Observed state of a Provider: `Ready` when the Secret and address are usable.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
}
