//! Whether a `dependsOn` Kustomization is ready, as Flux checks it: its status observed the
//! current generation, `Ready=True`, and when it builds from the same source, it applied that
//! source's current revision. Pure.

use crate::api::Kustomization;
use sluice_runtime::conditions;

/// Why `dependency` is not ready, or `None` when it is. `source_revision` is the current
/// artifact revision of the source when the dependency uses the same source as the dependent.
pub fn not_ready_reason(
    dependency: &Kustomization,
    source_revision: Option<&str>,
) -> Option<String> {
    let Some(status) = &dependency.status else {
        return Some("it has no status yet".into());
    };
    if status.reconcile.observed_generation != dependency.metadata.generation {
        return Some("its latest generation has not been reconciled".into());
    }
    if !conditions::is_ready_at(&status.reconcile.conditions, dependency.metadata.generation) {
        return Some("it is not Ready".into());
    }
    match source_revision {
        Some(revision) if status.last_applied_revision.as_deref() != Some(revision) => {
            Some(format!("it has not applied revision {revision} yet"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dependency(ready: &str, observed: i64, applied: &str) -> Kustomization {
        serde_json::from_value(json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
            "metadata": {"name": "infra", "namespace": "ns", "generation": 2},
            "spec": {"interval": "1m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}},
            "status": {"observedGeneration": observed, "lastAppliedRevision": applied,
                "conditions": [{"type": "Ready", "status": ready, "reason": "x", "message": "",
                    "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
        }))
        .unwrap()
    }

    #[test]
    fn ready_at_the_latest_revision_is_ready() {
        assert_eq!(
            not_ready_reason(&dependency("True", 2, "main@sha1:a"), Some("main@sha1:a")),
            None
        );
        assert_eq!(
            not_ready_reason(&dependency("True", 2, "main@sha1:a"), None),
            None
        );
    }

    #[test]
    fn stale_generation_not_ready_or_old_revision_is_not_ready() {
        assert!(not_ready_reason(&dependency("True", 1, "main@sha1:a"), None).is_some());
        assert!(not_ready_reason(&dependency("False", 2, "main@sha1:a"), None).is_some());
        let old = not_ready_reason(&dependency("True", 2, "main@sha1:a"), Some("main@sha1:b"));
        assert!(old.unwrap().contains("main@sha1:b"));
    }
}
