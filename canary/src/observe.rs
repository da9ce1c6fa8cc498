//! Answers the state machine's questions one at a time (`Decision::Observe`): workload readiness
//! from the watch cache, webhook gates and checks, and the metric checks. Each failure's reason
//! is kept for the tick's events and the Ready message, cut to [`REASON_CHARS`] (a tenant's URL
//! or a server's message cannot grow a condition without bound).

use std::collections::BTreeMap;

use sluice_runtime::references::CrossNamespace;

use crate::analysis::{CheckOutcome, Fact, Facts, Gate, Readiness};
use crate::api::Canary;
use crate::api::canary::{CanaryWebhook, HookType};
use crate::caches::cached;
use crate::metric_check;
use crate::names::Names;
use crate::readiness::{DEFAULT_READY_THRESHOLD, readiness};
use crate::shared::Shared;
use crate::webhook::{self, HookResult, Payload};

/// The most characters of one failure reason kept.
pub const REASON_CHARS: usize = 512;

/// `reason` cut to [`REASON_CHARS`] characters, an ellipsis marking a cut.
fn bounded(reason: String) -> String {
    match reason.char_indices().nth(REASON_CHARS) {
        Some((end, _)) => format!("{}...", &reason[..end]),
        None => reason,
    }
}

/// What one tick observes with.
pub struct Observer<'a> {
    /// The Canary.
    pub canary: &'a Canary,
    /// Its objects' names.
    pub names: &'a Names,
    /// The shared services.
    pub shared: &'a Shared,
    /// The webhook payload of this tick.
    pub payload: Payload,
    /// Why checks failed this tick, in order.
    pub failures: Vec<String>,
    /// Whether a metric's `templateRef` may name another namespace (`--no-cross-namespace-refs`).
    pub cross_namespace: CrossNamespace,
}

impl Observer<'_> {
    /// Observes `fact` and records it in `facts`.
    pub async fn observe(&mut self, fact: Fact, facts: &mut Facts) {
        match fact {
            Fact::PrimaryReadiness => {
                facts.primary =
                    Some(self.readiness(&self.names.primary, |a| a.primary_ready_threshold))
            }
            Fact::CanaryReadiness => {
                facts.canary =
                    Some(self.readiness(&self.names.target, |a| a.canary_ready_threshold))
            }
            Fact::ConfirmRollout => {
                facts.confirm_rollout = Some(self.gate(HookType::ConfirmRollout).await)
            }
            Fact::RollbackHooks => facts.rollback_requested = Some(self.rollback_requested().await),
            Fact::PreRolloutHooks => {
                facts.pre_rollout = Some(self.check(HookType::PreRollout).await)
            }
            Fact::RolloutHooks => facts.rollout_hooks = Some(self.check(HookType::Rollout).await),
            Fact::Metrics => facts.metrics = Some(self.metrics().await),
            Fact::ConfirmTrafficIncrease => {
                facts.confirm_traffic_increase =
                    Some(self.gate(HookType::ConfirmTrafficIncrease).await);
            }
            Fact::ConfirmPromotion => {
                facts.confirm_promotion = Some(self.gate(HookType::ConfirmPromotion).await)
            }
        }
    }

    fn hooks(&self) -> &[CanaryWebhook] {
        self.canary
            .spec
            .effective_analysis()
            .map_or(&[], |analysis| analysis.webhooks.as_slice())
    }

    /// Readiness of the Deployment `name` from the cache; missing or not yet showing the
    /// controller's last write is not ready.
    fn readiness(
        &self,
        name: &str,
        threshold: fn(&crate::api::canary::CanaryAnalysis) -> Option<u32>,
    ) -> Readiness {
        let Some(deployment) = cached(&self.shared.caches.deployments, &self.names.namespace, name)
        else {
            return Readiness::NotReady;
        };
        if self
            .shared
            .is_stale(&self.names.namespace, name, deployment.metadata.generation)
        {
            return Readiness::NotReady;
        }
        let threshold = self
            .canary
            .spec
            .effective_analysis()
            .and_then(threshold)
            .unwrap_or(DEFAULT_READY_THRESHOLD);
        readiness(&deployment, threshold)
    }

    async fn call(&mut self, hook_type: HookType) -> Vec<HookResult> {
        let results = self
            .shared
            .webhooks
            .call_all(self.hooks(), hook_type, &self.payload)
            .await;
        if let Some(failure) = webhook::failure(&results) {
            self.failures.push(bounded(failure));
        }
        results
    }

    async fn gate(&mut self, hook_type: HookType) -> Gate {
        webhook::gate(&self.call(hook_type).await)
    }

    async fn check(&mut self, hook_type: HookType) -> CheckOutcome {
        webhook::outcome(&self.call(hook_type).await)
    }

    /// Any rollback hook answering ≤ 202 asks for a rollback; failures are the normal answer.
    async fn rollback_requested(&self) -> bool {
        for hook in webhook::of_type(self.hooks(), HookType::Rollback) {
            if self
                .shared
                .webhooks
                .call(hook, &self.payload)
                .await
                .succeeded
            {
                return true;
            }
        }
        false
    }

    /// The metric checks in order, stopping after the first failure or error, as Flagger.
    async fn metrics(&mut self) -> Vec<CheckOutcome> {
        let metrics = self
            .canary
            .spec
            .effective_analysis()
            .map_or(&[][..], |analysis| analysis.metrics.as_slice());
        let checker = metric_check::Checker {
            caches: &self.shared.caches,
            prometheus: &self.shared.prometheus,
            credentials: &self.shared.credentials,
            default_server: &self.shared.settings.metrics_server,
            cross_namespace: self.cross_namespace,
        };
        let mut outcomes = Vec::new();
        for metric in metrics {
            let result = metric_check::check(self.canary, metric, &checker).await;
            tracing::debug!(canary = %self.names.target, metric = %metric.name, reason = %result.reason, "metric check");
            outcomes.push(result.outcome);
            if result.outcome != CheckOutcome::Pass {
                self.failures.push(bounded(result.reason));
            }
            if matches!(result.outcome, CheckOutcome::Fail | CheckOutcome::Error) {
                break;
            }
        }
        outcomes
    }
}

/// The payload of this tick's hook calls.
pub fn payload(canary: &Canary, phase: &str, checksum: &str) -> Payload {
    Payload {
        name: canary.metadata.name.clone().unwrap_or_default(),
        namespace: canary.metadata.namespace.clone().unwrap_or_default(),
        phase: phase.to_owned(),
        checksum: checksum.to_owned(),
        metadata: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut() {
        assert_eq!(bounded("short".into()), "short");
        let long = bounded("é".repeat(REASON_CHARS + 10));
        assert_eq!(long.chars().count(), REASON_CHARS + 3);
        assert!(long.ends_with("..."));
    }
}
