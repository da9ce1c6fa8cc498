//! `Alert` (`notification.sluice.dev/v1`): which events go to which Provider, with the fields of
//! Flux's `notification.toolkit.fluxcd.io/v1beta3` Alert.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

use super::references::{CrossNamespaceObjectReference, LocalObjectReference};

/// Desired state of an Alert (Flux's `AlertSpec`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "notification.sluice.dev",
    version = "v1",
    kind = "Alert",
    namespaced,
    status = "AlertStatus",
    category = "sluice",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider (same namespace) events are sent to.
    pub provider_ref: LocalObjectReference,
    /// Objects whose events this Alert forwards.
    pub event_sources: Vec<CrossNamespaceObjectReference>,
    /// Lowest severity forwarded: `info` forwards everything, `error` only errors; `info` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_severity: Option<EventSeverity>,
    /// Regular expressions; when set, only events whose message matches one are forwarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_list: Vec<String>,
    /// Regular expressions; events whose message matches one are dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// Metadata merged into every forwarded event.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_metadata: BTreeMap<String, String>,
    /// Short description added to events (deprecated in Flux in favour of `eventMetadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub summary: Option<String>,
    /// Stop forwarding events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Event severities (Flux's `eventSeverity` enum).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    /// Every event.
    #[default]
    Info,
    /// Error events only.
    Error,
}

/// Observed state of an Alert: `Ready` when the Provider exists and the regular expressions
/// compile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
}
