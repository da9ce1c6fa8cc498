//! The built-in metrics `request-success-rate` and `request-duration` for the Gateway API router.
//! Flagger's `gatewayapi` provider uses its "http" observer (docs/canary.md §2.11,
//! `pkg/metrics/observers/http.go`): the queries read the application's own
//! `http_request_duration_seconds` histogram, so the app must be instrumented. The queries match
//! the primary's pods as well as the canary's (`<target>-…` also matches `<target>-primary-…`).

use crate::api::canary::CanaryMetric;

/// Flagger's `request-success-rate` for Gateway API: the percentage (0–100) of non-5xx requests.
pub const REQUEST_SUCCESS_RATE_QUERY: &str = concat!(
    r#"sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}","#,
    r#"kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",status!~"5.*"}[{{ interval }}]))"#,
    r#" / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}","#,
    r#"kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) * 100"#,
);

/// Flagger's `request-duration` for Gateway API: the p99 latency in seconds.
pub const REQUEST_DURATION_QUERY: &str = concat!(
    r#"histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{"#,
    r#"kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}"#,
    r#"[{{ interval }}])) by (le))"#,
);

/// A metric Flagger knows by name, without template or query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinMetric {
    /// `request-success-rate`, percent.
    RequestSuccessRate,
    /// `request-duration`, compared in milliseconds.
    RequestDuration,
}

impl BuiltinMetric {
    /// The built-in metric of that name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "request-success-rate" => Some(Self::RequestSuccessRate),
            "request-duration" => Some(Self::RequestDuration),
            _ => None,
        }
    }

    /// The built-in a metric check uses: its name is built in and it has neither `templateRef` nor
    /// `query` (those win, as in Flagger).
    pub fn of(metric: &CanaryMetric) -> Option<Self> {
        if metric.template_ref.is_some() || metric.query.is_some() {
            return None;
        }
        Self::from_name(&metric.name)
    }

    /// The query template, to render with `metrics::template::render`.
    pub fn query(self) -> &'static str {
        match self {
            Self::RequestSuccessRate => REQUEST_SUCCESS_RATE_QUERY,
            Self::RequestDuration => REQUEST_DURATION_QUERY,
        }
    }

    /// The query result in threshold units: the success rate as is; the duration from seconds to
    /// whole milliseconds, truncated, as Flagger's `time.Duration(int64(value*1000)) * time.Millisecond`.
    pub fn threshold_value(self, query_result: f64) -> f64 {
        match self {
            Self::RequestSuccessRate => query_result,
            Self::RequestDuration => (query_result * 1000.0).trunc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::TemplateReference;
    use crate::metrics::template::{QueryContext, render};

    fn context() -> QueryContext {
        QueryContext {
            namespace: "test".into(),
            target: "podinfo".into(),
            interval: "1m".into(),
            ..Default::default()
        }
    }

    #[test]
    fn success_rate_query_renders_as_flagger() {
        assert_eq!(
            render(BuiltinMetric::RequestSuccessRate.query(), &context()).expect("renders"),
            "sum(rate(http_request_duration_seconds_count{kubernetes_namespace=\"test\",kubernetes_pod_name=~\"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\",status!~\"5.*\"}[1m])) / sum(rate(http_request_duration_seconds_count{kubernetes_namespace=\"test\",kubernetes_pod_name=~\"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"}[1m])) * 100"
        );
    }

    #[test]
    fn duration_query_renders_as_flagger() {
        assert_eq!(
            render(BuiltinMetric::RequestDuration.query(), &context()).expect("renders"),
            "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace=\"test\",kubernetes_pod_name=~\"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"}[1m])) by (le))"
        );
    }

    #[test]
    fn builtins_are_found_by_name_unless_a_query_is_given() {
        let plain = CanaryMetric {
            name: "request-duration".into(),
            ..Default::default()
        };
        assert_eq!(
            BuiltinMetric::of(&plain),
            Some(BuiltinMetric::RequestDuration)
        );
        let templated = CanaryMetric {
            template_ref: Some(TemplateReference {
                name: "x".into(),
                namespace: None,
            }),
            ..plain.clone()
        };
        assert_eq!(BuiltinMetric::of(&templated), None);
        assert_eq!(BuiltinMetric::from_name("error-rate"), None);
    }

    #[test]
    fn duration_is_compared_in_whole_milliseconds() {
        assert_eq!(
            BuiltinMetric::RequestDuration.threshold_value(0.2519),
            251.0
        );
        assert_eq!(
            BuiltinMetric::RequestSuccessRate.threshold_value(99.5),
            99.5
        );
    }
}
