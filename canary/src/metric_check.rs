//! Running one metric check of an analysis tick: find the query (built-in, MetricTemplate from
//! the watch cache, or inline `query`), render it with Flagger's variables, ask Prometheus, and
//! judge the value (docs/canary.md §1.4, §1.7). Each check ends in one of four outcomes, with a reason
//! for events and the status.

use std::collections::BTreeMap;

use sluice_runtime::error_text;
use sluice_runtime::references::{AccessDenied, CrossNamespace, resolve_namespace};

use crate::analysis::CheckOutcome;
use crate::api::Canary;
use crate::api::canary::{CanaryMetric, TemplateReference};
use crate::api::metric_template::MetricProviderType;
use crate::caches::{Caches, cached};
use crate::credentials::SecretCredentials;
use crate::metrics::builtin::BuiltinMetric;
use crate::metrics::template::{QueryContext, render};
use crate::metrics::threshold::evaluate;
use crate::prometheus::Prometheus;

/// The outcome of one check and why.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    /// Pass, fail, no data or error.
    pub outcome: CheckOutcome,
    /// The value, the bounds, or what went wrong.
    pub reason: String,
}

/// Where and what to query.
struct Query {
    address: String,
    headers: BTreeMap<String, Vec<String>>,
    /// `namespace/name` of the provider's `secretRef`.
    secret: Option<(String, String)>,
    template: String,
    builtin: Option<BuiltinMetric>,
}

/// The clients and settings a check uses.
pub struct Checker<'a> {
    /// The watch caches (MetricTemplates, Secrets).
    pub caches: &'a Caches,
    /// The Prometheus client.
    pub prometheus: &'a Prometheus,
    /// The credentials of the providers' `secretRef`s.
    pub credentials: &'a SecretCredentials,
    /// The server of built-ins and inline queries without `spec.metricsServer`.
    pub default_server: &'a str,
    /// Whether a `templateRef` may name another namespace (`--no-cross-namespace-refs`).
    pub cross_namespace: CrossNamespace,
}

/// The namespace of the MetricTemplate `reference` of `canary` names (the canary's own when
/// absent), if `policy` lets the canary use it, by the shared rule of
/// [`sluice_runtime::references`] (Flagger's `-no-cross-namespace-refs`).
///
/// Errors: [`AccessDenied`] when the lockdown is on and the template is in another namespace.
pub fn template_namespace(
    canary: &Canary,
    reference: &TemplateReference,
    policy: CrossNamespace,
) -> Result<String, AccessDenied> {
    resolve_namespace(
        canary.metadata.namespace.as_deref().unwrap_or_default(),
        "MetricTemplate",
        &reference.name,
        reference.namespace.as_deref(),
        policy,
    )
}

/// Checks every `analysis.metrics[].templateRef` of `canary` is one `policy` lets it use, before
/// a tick reads any template (or its provider's Secret).
///
/// Errors: [`AccessDenied`] naming the first template in another namespace under the lockdown.
pub fn check_template_refs(canary: &Canary, policy: CrossNamespace) -> Result<(), AccessDenied> {
    canary
        .spec
        .effective_analysis()
        .map_or(&[][..], |analysis| analysis.metrics.as_slice())
        .iter()
        .filter_map(|metric| metric.template_ref.as_ref())
        .try_for_each(|reference| template_namespace(canary, reference, policy).map(drop))
}

/// Runs `metric` of `canary`: built-ins and inline queries go to `spec.metricsServer`, else
/// `default_server`; templates to their provider's address, authenticated with its `secretRef`
/// (a Secret that is missing or holds no credentials makes the check an error).
pub async fn check(canary: &Canary, metric: &CanaryMetric, checker: &Checker<'_>) -> MetricResult {
    let Checker {
        caches,
        prometheus,
        credentials,
        default_server,
        cross_namespace,
    } = checker;
    let server = canary
        .spec
        .metrics_server
        .as_deref()
        .unwrap_or(default_server);
    let query = match resolve(canary, metric, caches, server, *cross_namespace) {
        Ok(query) => query,
        Err(reason) => return error(reason),
    };
    let rendered = match render(&query.template, &QueryContext::of(canary, metric)) {
        Ok(rendered) => rendered,
        Err(render_error) => return error(format!("metric {}: {render_error}", metric.name)),
    };
    let authorization = match &query.secret {
        None => None,
        Some((namespace, name)) => {
            let header = credentials
                .get(caches, namespace, name)
                .await
                .and_then(|credentials| credentials.authorization());
            match header {
                Ok(header) => Some(header),
                Err(reason) => return error(format!("metric {}: {reason}", metric.name)),
            }
        }
    };
    match prometheus
        .instant_value(&query.address, &query.headers, authorization, &rendered)
        .await
    {
        Ok(value) => {
            let value = value.map(|v| {
                query
                    .builtin
                    .map_or(v, |builtin| builtin.threshold_value(v))
            });
            judged(metric, value)
        }
        Err(query_error) => error(format!(
            "metric {}: {}",
            metric.name,
            error_text::chain(&query_error)
        )),
    }
}

fn judged(metric: &CanaryMetric, value: Option<f64>) -> MetricResult {
    let outcome = evaluate(metric, value);
    let reason = match value {
        None => format!("metric {}: no values found", metric.name),
        Some(value) => {
            let range = metric.threshold_range.unwrap_or_default();
            format!(
                "metric {} value {value} (min {}, max {})",
                metric.name,
                range.min.map_or("-".into(), |min| min.to_string()),
                range.max.map_or("-".into(), |max| max.to_string()),
            )
        }
    };
    MetricResult { outcome, reason }
}

fn error(reason: String) -> MetricResult {
    MetricResult {
        outcome: CheckOutcome::Error,
        reason,
    }
}

/// The query of `metric`: its MetricTemplate (which wins, where `policy` lets it be; its
/// provider's Secret always in the template's own namespace), its inline query, or the built-in.
fn resolve(
    canary: &Canary,
    metric: &CanaryMetric,
    caches: &Caches,
    server: &str,
    policy: CrossNamespace,
) -> Result<Query, String> {
    let on_server = |template: String, builtin| Query {
        address: server.to_owned(),
        headers: BTreeMap::new(),
        secret: None,
        template,
        builtin,
    };
    if let Some(reference) = &metric.template_ref {
        let namespace = template_namespace(canary, reference, policy)
            .map_err(|denied| format!("metric {}: {denied}", metric.name))?;
        let template =
            cached(&caches.metric_templates, &namespace, &reference.name).ok_or_else(|| {
                format!(
                    "metric {}: MetricTemplate {namespace}/{} not found",
                    metric.name, reference.name
                )
            })?;
        let provider = &template.spec.provider;
        if provider.provider_type != MetricProviderType::Prometheus {
            return Err(format!(
                "metric {}: provider {:?} is not supported, only prometheus",
                metric.name, provider.provider_type
            ));
        }
        return Ok(Query {
            address: provider
                .address
                .clone()
                .unwrap_or_else(|| server.to_owned()),
            headers: provider.headers.clone(),
            secret: provider.secret_ref.as_ref().map(|secret| {
                let namespace = template.metadata.namespace.clone().unwrap_or_default();
                (namespace, secret.name.clone())
            }),
            template: template.spec.query.clone(),
            builtin: None,
        });
    }
    if let Some(query) = &metric.query {
        return Ok(on_server(query.clone(), None));
    }
    BuiltinMetric::of(metric)
        .map(|builtin| on_server(builtin.query().to_owned(), Some(builtin)))
        .ok_or_else(|| {
            format!(
                "metric {}: no usable metrics template and query were configured",
                metric.name
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::ThresholdRange;

    fn metric(min: Option<f64>, max: Option<f64>) -> CanaryMetric {
        CanaryMetric {
            name: "error-rate".into(),
            threshold_range: Some(ThresholdRange { min, max }),
            ..Default::default()
        }
    }

    fn canary_with_template(namespace: Option<&str>) -> Canary {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "canary.sluice.dev/v1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "attacker"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                "service": {"port": 9898},
                "analysis": {"interval": "1m", "threshold": 2, "metrics": [
                    {"name": "request-success-rate", "interval": "1m"},
                    {"name": "error-rate", "interval": "1m",
                        "templateRef": {"name": "error-rate", "namespace": namespace}}]}},
        }))
        .unwrap()
    }

    #[test]
    fn a_template_of_another_namespace_is_refused_only_under_the_lockdown() {
        let borrowed = canary_with_template(Some("victim"));
        assert!(check_template_refs(&borrowed, CrossNamespace::Allowed).is_ok());
        assert_eq!(
            check_template_refs(&borrowed, CrossNamespace::Denied)
                .unwrap_err()
                .to_string(),
            "cannot access MetricTemplate/victim/error-rate, cross-namespace references have been blocked"
        );
        for own in [None, Some("attacker")] {
            let canary = canary_with_template(own);
            assert!(check_template_refs(&canary, CrossNamespace::Denied).is_ok());
            let reference = TemplateReference {
                name: "error-rate".into(),
                namespace: own.map(str::to_owned),
            };
            assert_eq!(
                template_namespace(&canary, &reference, CrossNamespace::Denied),
                Ok("attacker".to_owned())
            );
        }
    }

    #[test]
    fn the_reason_names_the_value_and_the_bounds() {
        let result = judged(&metric(None, Some(1.0)), Some(2.5));
        assert_eq!(result.outcome, CheckOutcome::Fail);
        assert_eq!(result.reason, "metric error-rate value 2.5 (min -, max 1)");
        let empty = judged(&metric(None, Some(1.0)), None);
        assert_eq!(
            (empty.outcome, empty.reason.as_str()),
            (CheckOutcome::NoData, "metric error-rate: no values found")
        );
    }
}
