//! Query templates with Flagger's variables (docs/canary.md §1.7): `{{ name }}`, `{{ namespace }}`,
//! `{{ target }}`, `{{ service }}`, `{{ ingress }}`, `{{ route }}`, `{{ interval }}` and
//! `{{ variables.key }}`. Flagger renders with Go `text/template` and `missingkey=error`; Sluice
//! renders the same syntax with minijinja in strict mode, so an unknown name or variable is an error.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::api::canary::{Canary, CanaryMetric};

/// Flagger's default metric window.
pub const DEFAULT_METRIC_INTERVAL: &str = "1m";

/// Why a query could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse, or names a variable that is not defined.
    #[error("rendering the metric query: {0:#}")]
    Render(#[from] minijinja::Error),
}

/// The values a query template can use, as Flagger's `MetricTemplateModel`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueryContext {
    /// The Canary's name.
    pub name: String,
    /// The Canary's namespace.
    pub namespace: String,
    /// `targetRef.name`.
    pub target: String,
    /// `service.name`, else the target.
    pub service: String,
    /// `ingressRef.name`, else the target.
    pub ingress: String,
    /// `routeRef.name`, else the target.
    pub route: String,
    /// The metric's `interval`, default `1m`.
    pub interval: String,
    /// The metric's `templateVariables`.
    pub variables: BTreeMap<String, String>,
}

impl QueryContext {
    /// The context of `metric` in `canary`, with Flagger's defaults (namespace `default` when the
    /// Canary has none).
    pub fn of(canary: &Canary, metric: &CanaryMetric) -> Self {
        let spec = &canary.spec;
        let target = spec.target_ref.name.clone();
        let or_target = |name: Option<&String>| name.cloned().unwrap_or_else(|| target.clone());
        Self {
            name: canary.metadata.name.clone().unwrap_or_default(),
            namespace: canary
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            service: or_target(spec.service.name.as_ref()),
            ingress: or_target(spec.ingress_ref.as_ref().map(|r| &r.name)),
            route: or_target(spec.route_ref.as_ref().map(|r| &r.name)),
            interval: metric
                .interval
                .clone()
                .unwrap_or_else(|| DEFAULT_METRIC_INTERVAL.to_owned()),
            variables: metric.template_variables.clone(),
            target,
        }
    }
}

/// Renders `query` with `context`. Returns the query text; errors with
/// [`TemplateError::Render`] on a syntax error or an undefined name.
pub fn render(query: &str, context: &QueryContext) -> Result<String, TemplateError> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    Ok(environment.render_str(query, minijinja::value::Serde(context))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::{CanarySpec, ObjectReference};

    fn context() -> QueryContext {
        QueryContext {
            name: "podinfo".into(),
            namespace: "test".into(),
            target: "podinfo".into(),
            service: "podinfo".into(),
            ingress: "podinfo".into(),
            route: "podinfo".into(),
            interval: "30s".into(),
            variables: BTreeMap::from([("direction".to_owned(), "inbound".to_owned())]),
        }
    }

    #[test]
    fn renders_flagger_variables_inside_promql_braces() {
        let query = r#"sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",direction="{{ variables.direction }}"}[{{ interval }}]))"#;
        assert_eq!(
            render(query, &context()).expect("renders"),
            r#"sum(rate(istio_requests_total{destination_workload_namespace="test",destination_workload=~"podinfo",direction="inbound"}[30s]))"#
        );
    }

    #[test]
    fn spacing_inside_the_braces_does_not_matter() {
        assert_eq!(
            render("{{namespace}}/{{  route }}", &context()).expect("renders"),
            "test/podinfo"
        );
    }

    #[test]
    fn unknown_names_and_variables_are_errors() {
        assert!(render("{{ deployment }}", &context()).is_err());
        assert!(render("{{ variables.missing }}", &context()).is_err());
        assert!(render("{{ namespace ", &context()).is_err());
    }

    #[test]
    fn context_defaults_follow_flagger() {
        let mut canary = Canary::new(
            "podinfo-canary",
            CanarySpec {
                target_ref: ObjectReference {
                    kind: "Deployment".into(),
                    name: "podinfo".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        canary.spec.ingress_ref = Some(ObjectReference {
            kind: "Ingress".into(),
            name: "web".into(),
            ..Default::default()
        });
        let metric = CanaryMetric {
            name: "latency".into(),
            ..Default::default()
        };
        let context = QueryContext::of(&canary, &metric);
        assert_eq!(context.name, "podinfo-canary");
        assert_eq!(context.namespace, "default");
        assert_eq!(
            (
                context.service.as_str(),
                context.ingress.as_str(),
                context.route.as_str()
            ),
            ("podinfo", "web", "podinfo")
        );
        assert_eq!(context.interval, "1m");
    }
}
