//! Whether a Deployment is ready, as Flagger's `IsPrimaryReady`/`IsCanaryReady` (docs/canary.md §2.4):
//! rolled out at its current generation, with `readyThreshold`% of the updated replicas available;
//! past its progress deadline (the Deployment's `Progressing` condition with reason
//! `ProgressDeadlineExceeded`) it will not become ready.

use k8s_openapi::api::apps::v1::Deployment;

use crate::analysis::Readiness;

/// Flagger's default `primaryReadyThreshold`/`canaryReadyThreshold`, in percent.
pub const DEFAULT_READY_THRESHOLD: u32 = 100;

/// The readiness of `deployment` with `ready_threshold` percent of its updated replicas required
/// to be available.
pub fn readiness(deployment: &Deployment, ready_threshold: u32) -> Readiness {
    let status = deployment.status.clone().unwrap_or_default();
    let deadline_exceeded = status.conditions.iter().flatten().any(|condition| {
        condition.type_.as_deref() == Some("Progressing")
            && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return Readiness::DeadlineExceeded;
    }
    let generation = deployment.metadata.generation.unwrap_or(0);
    if status.observed_generation.unwrap_or(0) < generation {
        return Readiness::NotReady;
    }
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let required = i64::from(updated) * i64::from(ready_threshold);
    if updated < wanted || i64::from(available) * 100 < required {
        return Readiness::NotReady;
    }
    Readiness::Ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "generation": 2},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": status,
        }))
        .expect("deployment")
    }

    #[test]
    fn ready_when_every_updated_replica_is_available() {
        let ready = deployment(
            2,
            json!({"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(readiness(&ready, 100), Readiness::Ready);
        let rolling = deployment(
            2,
            json!({"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1}),
        );
        assert_eq!(readiness(&rolling, 100), Readiness::NotReady);
        assert_eq!(readiness(&rolling, 50), Readiness::Ready);
    }

    #[test]
    fn an_unobserved_generation_is_not_ready() {
        let stale = deployment(
            1,
            json!({"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        assert_eq!(readiness(&stale, 100), Readiness::NotReady);
    }

    #[test]
    fn a_scaled_to_zero_deployment_is_ready() {
        let idle = deployment(0, json!({"observedGeneration": 2}));
        assert_eq!(readiness(&idle, 100), Readiness::Ready);
    }

    #[test]
    fn the_progress_deadline_is_final() {
        let stuck = deployment(
            1,
            json!({
                "observedGeneration": 2,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
            }),
        );
        assert_eq!(readiness(&stuck, 100), Readiness::DeadlineExceeded);
    }
}
