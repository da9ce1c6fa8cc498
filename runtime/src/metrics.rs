//! Prometheus metrics of the reconcile loop, in the text exposition format served on `/metrics`.
//!
//! Families: `sluice_reconcile_duration_seconds` (histogram, by kind and result),
//! `sluice_reconcile_errors_total` (counter, by kind and condition reason) and
//! `sluice_reconcile_queue_depth` (gauge, by kind: reconciles started and not yet finished;
//! kube-runtime keeps its scheduler queue private, so this counts what is in the workers).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// The metrics of one controller process; shared by all its controllers.
pub struct Metrics {
    registry: Mutex<Registry>,
    duration: Family<ResultLabels, Histogram>,
    errors: Family<ReasonLabels, Counter>,
    queue_depth: Family<KindLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let duration = Family::<ResultLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let errors = Family::<ReasonLabels, Counter>::default();
        let queue_depth = Family::<KindLabels, Gauge>::default();
        let mut registry = Registry::with_prefix("sluice");
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, by kind and result",
            duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by kind and condition reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_queue_depth",
            "Reconciles started and not yet finished, by kind",
            queue_depth.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            duration,
            errors,
            queue_depth,
        }
    }
}

impl Metrics {
    /// Counts a reconcile of `kind` as started; the returned guard counts it finished on drop.
    pub fn start(&self, kind: &str) -> InFlight {
        let gauge = self
            .queue_depth
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// Records one reconcile of `kind` that took `elapsed` and ended with `result`
    /// (`success`, `retry`, `stalled` or `suspended`).
    pub fn observe(&self, kind: &str, result: &str, elapsed: Duration) {
        let labels = ResultLabels {
            kind: kind.to_owned(),
            result: result.to_owned(),
        };
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one failed reconcile of `kind` with the condition `reason`.
    pub fn count_error(&self, kind: &str, reason: &str) {
        let labels = ReasonLabels {
            kind: kind.to_owned(),
            reason: reason.to_owned(),
        };
        self.errors.get_or_create(&labels).inc();
    }

    /// The metrics in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

/// A reconcile in flight; dropping it lowers the queue-depth gauge again.
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_family_with_its_labels() {
        let metrics = Metrics::default();
        {
            let _in_flight = metrics.start("GitRepository");
            assert!(
                metrics
                    .render()
                    .contains("sluice_reconcile_queue_depth{kind=\"GitRepository\"} 1")
            );
        }
        metrics.observe("GitRepository", "success", Duration::from_millis(20));
        metrics.count_error("GitRepository", "GitOperationFailed");
        let text = metrics.render();
        assert!(
            text.contains("sluice_reconcile_queue_depth{kind=\"GitRepository\"} 0"),
            "{text}"
        );
        assert!(text.contains(
            "sluice_reconcile_duration_seconds_count{kind=\"GitRepository\",result=\"success\"} 1"
        ));
        assert!(text.contains(
            "sluice_reconcile_errors_total{kind=\"GitRepository\",reason=\"GitOperationFailed\"} 1"
        ));
    }
}
