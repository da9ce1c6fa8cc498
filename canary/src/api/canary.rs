//! The `Canary` kind (`canary.sluice.dev/v1`): Flagger's `flagger.app/v1beta1` Canary with the same
//! field names, defaults and meaning, so that a Flagger Canary works after changing `apiVersion`.
//! Two fields are ours: `analysis.noData` and `analysis.consecutiveFailures`.
//!
//! Provider-specific objects that Sluice passes through without reading (Istio `trafficPolicy`,
//! `retries`, `headers`, `corsPolicy`, Gateway API `mirror`) are kept as free-form JSON, so that a
//! Flagger manifest still validates.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

/// What a Canary asks for, as Flagger's `CanarySpec` (reference docs/canary.md §1.1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "canary.sluice.dev",
    version = "v1",
    kind = "Canary",
    namespaced,
    status = "CanaryStatus",
    shortname = "canary",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".status.canaryWeight"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend","priority":1}"#,
    printcolumn = r#"{"name":"FailedChecks","type":"integer","jsonPath":".status.failedChecks","priority":1}"#,
    printcolumn = r#"{"name":"Interval","type":"string","jsonPath":".spec.analysis.interval","priority":1}"#,
    printcolumn = r#"{"name":"StepWeight","type":"integer","jsonPath":".spec.analysis.stepWeight","priority":1}"#,
    printcolumn = r#"{"name":"MaxWeight","type":"integer","jsonPath":".spec.analysis.maxWeight","priority":1}"#,
    printcolumn = r#"{"name":"LastTransitionTime","type":"string","jsonPath":".status.lastTransitionTime"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// Traffic router (`gatewayapi:v1`, `istio`, `kubernetes`, ...); overrides the controller's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Prometheus address for the built-in metrics; overrides the controller's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_server: Option<String>,
    /// The workload the user edits (a Deployment).
    pub target_ref: ObjectReference,
    /// The HorizontalPodAutoscaler copied to `<name>-primary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_ref: Option<AutoscalerReference>,
    /// The Ingress (NGINX, Skipper providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_ref: Option<ObjectReference>,
    /// The ApisixRoute (APISIX provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_ref: Option<ObjectReference>,
    /// The Gloo Upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ref: Option<ObjectReference>,
    /// How the Services and the router objects are generated.
    pub service: CanaryService,
    /// The validation process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<CanaryAnalysis>,
    /// Deprecated alias of `analysis`, read only when `analysis` is absent (as Flagger's `GetAnalysis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_analysis: Option<CanaryAnalysis>,
    /// Seconds the canary or primary may fail to progress before a rollback; default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Promote without analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_analysis: Option<bool>,
    /// Revert the target, the Service and the router objects when the Canary is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_on_deletion: Option<bool>,
    /// Pause the analysis without touching the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

impl CanarySpec {
    /// The analysis in force: `analysis`, else the deprecated `canaryAnalysis` (Flagger's `GetAnalysis`).
    pub fn effective_analysis(&self) -> Option<&CanaryAnalysis> {
        self.analysis.as_ref().or(self.canary_analysis.as_ref())
    }

    /// True when the analysis is skipped: `skipAnalysis: true`, or no analysis at all (Flagger's
    /// `SkipAnalysis`).
    pub fn skips_analysis(&self) -> bool {
        self.skip_analysis == Some(true) || self.effective_analysis().is_none()
    }
}

/// A reference to an object by `apiVersion`, `kind` and `name` (plus `namespace` for Gloo upstreams).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// API version of the referent, e.g. `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, e.g. `Deployment`.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; defaults to the Canary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The autoscaler to copy to the primary (`HorizontalPodAutoscaler` or KEDA `ScaledObject`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerReference {
    /// API version of the autoscaler, e.g. `autoscaling/v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `HorizontalPodAutoscaler` or `ScaledObject`.
    pub kind: String,
    /// Name of the autoscaler.
    pub name: String,
    /// KEDA trigger queries for the primary's ScaledObject, by trigger name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub primary_scaler_queries: BTreeMap<String, String>,
    /// Overrides of min/max replicas on the primary's copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_scaler_replicas: Option<ScalerReplicas>,
}

/// Replica bounds for the primary autoscaler.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalerReplicas {
    /// Minimum replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Maximum replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i32>,
}

/// How the apex, `-primary` and `-canary` Services and the route are generated (docs/canary.md §1.2).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryService {
    /// Apex name of the generated Services; defaults to `targetRef.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ClusterIP port.
    pub port: i32,
    /// Port name; default `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    /// Container port number or name; defaults to `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// `appProtocol` of the Service port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// `PreferClose`, `PreferSameZone` or `PreferSameNode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<String>,
    /// Add every other container port to the generated Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_discovery: Option<bool>,
    /// `clusterIP: None` on the generated Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headless: Option<bool>,
    /// HTTP timeout on the route (Istio, Gateway API), a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Gateway API `HTTPRouteTimeouts.backendRequest`, a Go duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_timeout: Option<String>,
    /// Istio gateways of the VirtualService.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Gateway API `parentRefs` of the HTTPRoute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_refs: Vec<ParentReference>,
    /// VirtualService hosts / HTTPRoute `hostnames`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Istio delegation (no hosts, no gateways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<bool>,
    /// Istio `trafficPolicy` for the generated DestinationRules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub traffic_policy: Option<serde_json::Value>,
    /// URI/header match on the generated route; Gateway API defaults to `PathPrefix /`.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_requests: Vec<HttpMatchRequest>,
    /// Rewrite of the URI or authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Istio `HTTPRetry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub retries: Option<serde_json::Value>,
    /// Istio request/response header operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub headers: Option<serde_json::Value>,
    /// Gateway API `HTTPRequestMirrorFilter` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_list")]
    pub mirror: Option<serde_json::Value>,
    /// Istio CORS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub cors_policy: Option<serde_json::Value>,
    /// App Mesh mesh name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_name: Option<String>,
    /// App Mesh backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
    /// Metadata of the apex Service and the router object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apex: Option<CustomMetadata>,
    /// Metadata of the `-primary` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<CustomMetadata>,
    /// Metadata of the `-canary` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CustomMetadata>,
    /// Label and annotation keys the controller must not add, change or remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmanaged_metadata: Option<UnmanagedMetadata>,
}

/// A Gateway API `ParentReference` (a Gateway, optionally one listener of it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    /// API group; default `gateway.networking.k8s.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind; default `Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace; defaults to the route's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the Gateway.
    pub name: String,
    /// Listener name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    /// Listener port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// An Istio-shaped `HTTPMatchRequest`, used by `service.match` and `analysis.match`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// Name of the match, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// Scheme match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    /// HTTP method match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Authority (host) match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Header matches, by header name (A/B testing uses these, e.g. `x-canary: {exact: insider}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Port match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Istio source workload labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Istio gateways the match applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Query parameter matches, by parameter name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// Case-insensitive URI match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    /// Headers that must not match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Istio source namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
}

/// One of `exact`, `prefix`, `suffix` or `regex`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    /// Exact value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// RE2 regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// Rewrite of the request before it reaches the backends.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    /// New URI (or prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// New authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Gateway API: `ReplacePrefixMatch` or `ReplaceFullPath`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub rewrite_type: Option<String>,
}

/// Labels and annotations for a generated object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomMetadata {
    /// Labels to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Metadata keys left alone by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnmanagedMetadata {
    /// Annotation keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// Label keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// The validation process (docs/canary.md §1.3), plus Sluice's `noData` and `consecutiveFailures`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAnalysis {
    /// Tick period, a Go duration (`s`/`m`); default 60s, minimum 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(m|s)"))]
    pub interval: Option<String>,
    /// Failed checks before rollback; values ≤ 0 mean 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i32>,
    /// Canary weight (0–100) at which promotion starts; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_weight: Option<u32>,
    /// Linear weight increment; wins over `stepWeights`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_weight: Option<u32>,
    /// Explicit ascending weights, e.g. `[1, 2, 10, 80]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_weights: Vec<u32>,
    /// Primary weight increment while Promoting; 0 sends all traffic back at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_weight_promotion: Option<u32>,
    /// Number of checks for A/B testing and Blue/Green.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// Mirror traffic to the canary (one pre-step for canary, the whole run for Blue/Green).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<bool>,
    /// Percentage (0–100) of mirrored requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_weight: Option<u32>,
    /// Percentage of primary replicas that must be available; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_ready_threshold: Option<u32>,
    /// Percentage of canary replicas that must be available; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_ready_threshold: Option<u32>,
    /// A/B testing header/cookie match.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_requests: Vec<HttpMatchRequest>,
    /// Cookie-based session affinity (Istio, Gateway API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<SessionAffinity>,
    /// Metric checks, run in order each analysis tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<CanaryMetric>,
    /// Webhooks: gates, load tests, notifications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<CanaryWebhook>,
    /// Alerts sent through AlertProviders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<CanaryAlert>,
    /// Sluice: what a metric with no data counts as; default `fail`, as Flagger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data: Option<NoDataPolicy>,
    /// Sluice: a passing tick resets `failedChecks` to 0; default false (Flagger counts cumulatively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<bool>,
}

/// What a metric check that returned no data (empty result or NaN) counts as.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NoDataPolicy {
    /// A failed check, as Flagger.
    #[default]
    Fail,
    /// Neither a pass nor a failure: the tick holds the weight and does not count.
    Skip,
}

/// Cookie-based session affinity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAffinity {
    /// Name of the cookie pinning users to the canary.
    pub cookie_name: String,
    /// Name of the cookie pinning users to the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_cookie_name: Option<String>,
    /// Cookie `Domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Cookie `HttpOnly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_only: Option<bool>,
    /// Cookie `Max-Age` in seconds; default 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// Cookie `Partitioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioned: Option<bool>,
    /// Cookie `Path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Cookie `SameSite`: `Strict`, `Lax` or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
    /// Cookie `Secure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
}

/// One metric check (docs/canary.md §1.4).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryMetric {
    /// `request-success-rate`, `request-duration` (built in) or any name with `templateRef`/`query`.
    pub name: String,
    /// Query window, a Go duration; default `1m`. Substituted as `{{ interval }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(m|s)"))]
    pub interval: Option<String>,
    /// Deprecated single bound: a minimum for `request-success-rate`, a maximum otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Inclusive bounds of a passing value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_range: Option<ThresholdRange>,
    /// The MetricTemplate holding the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<TemplateReference>,
    /// Values of `{{ variables.key }}` in the template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub template_variables: BTreeMap<String, String>,
    /// Deprecated inline PromQL for the default metrics server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// Inclusive `min`/`max` of a passing metric value (milliseconds for `request-duration`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdRange {
    /// Lowest passing value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest passing value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A reference to a MetricTemplate; the namespace defaults to the Canary's.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateReference {
    /// Name of the MetricTemplate.
    pub name: String,
    /// Namespace of the MetricTemplate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One webhook (docs/canary.md §1.5).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryWebhook {
    /// When the hook runs; absent means `rollout`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<HookType>,
    /// Name of the hook, for events.
    pub name: String,
    /// Address the controller POSTs to.
    pub url: String,
    /// Request timeout, a Go duration; default `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Retries after a failed call; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Skip TLS verification.
    #[serde(
        default,
        rename = "disableTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_tls: Option<bool>,
    /// Do not alert when this gate halts the analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_alert: Option<bool>,
    /// Sent as the payload's `metadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// When a webhook runs, as Flagger's hook types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HookType {
    /// Gate before the canary is scaled up; closed means Waiting.
    ConfirmRollout,
    /// Before any traffic, on the first analysis tick.
    PreRollout,
    /// Every analysis tick, before the metrics.
    Rollout,
    /// Gate before each weight increase.
    ConfirmTrafficIncrease,
    /// Gate before promotion; closed means WaitingPromotion.
    ConfirmPromotion,
    /// After Succeeded or Failed.
    PostRollout,
    /// A success means roll back now.
    Rollback,
    /// Every event the controller records.
    Event,
}

/// An alert sent through an AlertProvider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryAlert {
    /// Name of the alert.
    pub name: String,
    /// `info` (default), `warn` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The AlertProvider.
    pub provider_ref: TemplateReference,
}

/// Phases of a Canary (Flagger's CRD enum; the empty phase is an absent `status.phase`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum CanaryPhase {
    /// Creating the primary, the Services and the route.
    Initializing,
    /// Bootstrap done; waiting for a new revision.
    Initialized,
    /// A new revision waits on a `confirm-rollout` gate.
    Waiting,
    /// The analysis is running.
    Progressing,
    /// The analysis is done; waiting on a `confirm-promotion` gate.
    WaitingPromotion,
    /// The primary is rolling out the new template; traffic goes back to it.
    Promoting,
    /// All traffic is on the primary; the canary scales down.
    Finalising,
    /// The revision was promoted.
    Succeeded,
    /// The revision was rolled back.
    Failed,
    /// The Canary is being deleted and its changes reverted.
    Terminating,
    /// The revert on deletion finished.
    Terminated,
}

impl CanaryPhase {
    /// The phase name as written in `status.phase`, e.g. `WaitingPromotion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "Initializing",
            Self::Initialized => "Initialized",
            Self::Waiting => "Waiting",
            Self::Progressing => "Progressing",
            Self::WaitingPromotion => "WaitingPromotion",
            Self::Promoting => "Promoting",
            Self::Finalising => "Finalising",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Terminating => "Terminating",
            Self::Terminated => "Terminated",
        }
    }
}

impl std::fmt::Display for CanaryPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the controller observed and decided (docs/canary.md §1.8); its own condition is
/// `Promoted`, with the phase as reason.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// Current phase; absent before the first reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CanaryPhase>,
    /// Canary traffic weight (0–100), informational: the router object holds the live weight.
    #[serde(default)]
    pub canary_weight: u32,
    /// Failed checks of the current run.
    #[serde(default)]
    pub failed_checks: u32,
    /// Iterations done (A/B testing, Blue/Green).
    #[serde(default)]
    pub iterations: u32,
    /// Revision of the target at the last sync (see `analysis::revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_spec: Option<String>,
    /// Revision at the last Initialized or Succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promoted_spec: Option<String>,
    /// `configmap/<name>` or `secret/<name>` → hash of its data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tracked_configs: BTreeMap<String, String>,
    /// When the phase or a counter last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Session affinity cookie of the current run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_cookie: Option<String>,
    /// Session affinity cookie of the previous run, expired on the next promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_session_affinity_cookie: Option<String>,
    /// Session affinity cookie of the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_session_affinity_cookie: Option<String>,
}

/// Schema of a free-form JSON object kept as is (`x-kubernetes-preserve-unknown-fields`).
fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Schema of a list of free-form JSON objects kept as is.
fn free_form_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flagger's Gateway API e2e Canary (docs/canary.md §1.9) under our apiVersion.
    const GATEWAY_CANARY: &str = r#"
apiVersion: canary.sluice.dev/v1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service:
    port: 9898
    portName: http
    hosts: [www.example.com]
    gatewayRefs: [{name: gateway, namespace: istio-ingress}]
  analysis:
    interval: 15s
    threshold: 15
    maxWeight: 50
    stepWeight: 10
    metrics:
      - {name: error-rate, templateRef: {name: error-rate, namespace: flagger-system}, thresholdRange: {max: 1}, interval: 1m}
      - {name: latency, templateRef: {name: latency, namespace: flagger-system}, thresholdRange: {max: 0.5}, interval: 30s}
    webhooks:
      - {name: load-test, type: rollout, url: "http://flagger-loadtester.test/", timeout: 5s,
         metadata: {cmd: "hey -z 2m -q 10 -c 2 -host www.example.com http://gateway-istio.istio-ingress"}}
"#;

    #[test]
    fn flagger_gateway_canary_parses_with_its_fields() {
        let canary: Canary = serde_yaml_ng::from_str(GATEWAY_CANARY).expect("parses");
        let analysis = canary.spec.effective_analysis().expect("analysis");
        assert_eq!(
            canary.spec.service.gateway_refs[0].namespace.as_deref(),
            Some("istio-ingress")
        );
        assert_eq!(analysis.max_weight, Some(50));
        assert_eq!(
            analysis.metrics[1].threshold_range.and_then(|r| r.max),
            Some(0.5)
        );
        assert_eq!(analysis.webhooks[0].hook_type, Some(HookType::Rollout));
        assert!(!canary.spec.skips_analysis());
    }

    #[test]
    fn round_trip_keeps_the_manifest() {
        let canary: Canary = serde_yaml_ng::from_str(GATEWAY_CANARY).expect("parses");
        let json = serde_json::to_value(&canary).expect("serializes");
        let again: Canary = serde_json::from_value(json.clone()).expect("parses again");
        assert_eq!(again.spec, canary.spec);
        assert!(json["spec"]["analysis"].get("stepWeights").is_none());
    }

    #[test]
    fn deprecated_canary_analysis_is_read_when_analysis_is_absent() {
        let spec = CanarySpec {
            canary_analysis: Some(CanaryAnalysis {
                threshold: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(spec.effective_analysis().and_then(|a| a.threshold), Some(3));
        assert!(!spec.skips_analysis());
        assert!(CanarySpec::default().skips_analysis());
    }

    #[test]
    fn our_extras_and_flagger_renames_parse() {
        let analysis: CanaryAnalysis = serde_json::from_value(serde_json::json!({
            "noData": "skip", "consecutiveFailures": true,
            "match": [{"headers": {"x-canary": {"exact": "insider"}}}],
            "webhooks": [{"name": "gate", "url": "http://x/", "type": "confirm-promotion", "disableTLS": true}]
        }))
        .expect("parses");
        assert_eq!(analysis.no_data, Some(NoDataPolicy::Skip));
        assert_eq!(
            analysis.match_requests[0].headers["x-canary"]
                .exact
                .as_deref(),
            Some("insider")
        );
        assert_eq!(
            analysis.webhooks[0].hook_type,
            Some(HookType::ConfirmPromotion)
        );
        assert_eq!(analysis.webhooks[0].disable_tls, Some(true));
    }

    #[test]
    fn phase_serializes_as_flagger_names() {
        let status = CanaryStatus {
            phase: Some(CanaryPhase::WaitingPromotion),
            ..Default::default()
        };
        let json = serde_json::to_value(&status).expect("serializes");
        assert_eq!(json["phase"], "WaitingPromotion");
        assert_eq!(CanaryPhase::Finalising.to_string(), "Finalising");
    }
}
