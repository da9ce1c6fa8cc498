//! The `MetricTemplate` kind (`canary.sluice.dev/v1`): Flagger's MetricTemplate with the same
//! fields, a metrics provider plus a query template (docs/canary.md §1.7).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

/// A metrics provider and the query to send it, as Flagger's `MetricTemplateSpec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "canary.sluice.dev",
    version = "v1",
    kind = "MetricTemplate",
    namespaced,
    status = "MetricTemplateStatus",
    shortname = "mt",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider.type"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MetricTemplateSpec {
    /// Where the query goes.
    pub provider: MetricTemplateProvider,
    /// The query, with Flagger's variables (`{{ namespace }}`, `{{ target }}`, `{{ interval }}`,
    /// `{{ variables.x }}`, ...); see `metrics::template`.
    pub query: String,
}

/// A metrics server and how to reach it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricTemplateProvider {
    /// Kind of server; Sluice queries `prometheus` (Flagger also lists datadog, cloudwatch, ...).
    #[serde(rename = "type")]
    pub provider_type: MetricProviderType,
    /// Base URL of the server, e.g. `http://prometheus.monitoring:9090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Extra HTTP headers, by name (Go's `http.Header`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Vec<String>>,
    /// Secret in the template's namespace holding `token`, or `username` and `password`
    /// (and optionally `address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// Cloud region (CloudWatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Skip TLS certificate verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

/// Flagger's provider types (CRD enum).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricProviderType {
    /// Prometheus instant queries.
    #[default]
    Prometheus,
    /// InfluxDB.
    Influxdb,
    /// Datadog.
    Datadog,
    /// Kubernetes external metrics API.
    Externalmetrics,
    /// Google Cloud Monitoring.
    Stackdriver,
    /// AWS CloudWatch.
    Cloudwatch,
    /// New Relic.
    Newrelic,
    /// Graphite.
    Graphite,
    /// Dynatrace.
    Dynatrace,
    /// Keptn.
    Keptn,
    /// Splunk.
    Splunk,
}

/// A Secret in the same namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret.
    pub name: String,
}

/// What the controller observed about the template: conditions only, as Flagger's
/// MetricTemplate status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricTemplateStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagger_template_parses() {
        let template: MetricTemplate = serde_yaml_ng::from_str(
            r#"
apiVersion: canary.sluice.dev/v1
kind: MetricTemplate
metadata: {name: error-rate, namespace: flagger-system}
spec:
  provider:
    type: prometheus
    address: http://prometheus.istio-system:9090
    secretRef: {name: prom-auth}
    insecureSkipVerify: true
  query: |
    100 - sum(rate(istio_requests_total{destination_workload=~"{{ target }}"}[{{ interval }}]))
"#,
        )
        .expect("parses");
        assert_eq!(
            template.spec.provider.provider_type,
            MetricProviderType::Prometheus
        );
        assert_eq!(
            template
                .spec
                .provider
                .secret_ref
                .as_ref()
                .map(|s| s.name.as_str()),
            Some("prom-auth")
        );
        assert!(template.spec.query.contains("{{ interval }}"));
    }

    #[test]
    fn unknown_provider_type_is_rejected() {
        let parsed =
            serde_json::from_value::<MetricTemplateProvider>(serde_json::json!({"type": "zabbix"}));
        assert!(parsed.is_err());
    }
}
