//! The status fields every Sluice kind shares, written once: each kind's status embeds a
//! [`ReconcileStatus`] with `#[serde(flatten)]`, so the fields stay at the top of `status` in
//! Flux's shape (`status.conditions`, `status.observedGeneration`,
//! `status.lastHandledReconcileAt`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The reconcile bookkeeping of an object's status, as Flux's `meta.ReconcileRequestStatus`,
/// `ObservedGeneration` and `Conditions` (the runtime's `write_status` sets all three).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileStatus {
    /// `Ready`, `Reconciling` and `Stalled`, as kstatus reads them, and the kind's own
    /// conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `metadata.generation` last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Value of the `reconcile.sluice.dev/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Default, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct KindStatus {
        #[serde(flatten)]
        reconcile: ReconcileStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_applied_revision: Option<String>,
    }

    #[test]
    fn flattened_fields_stay_at_the_top_of_the_status() {
        let text = serde_json::json!({
            "observedGeneration": 3,
            "lastHandledReconcileAt": "now",
            "lastAppliedRevision": "main@sha1:abc"
        });
        let status: KindStatus = serde_json::from_value(text.clone()).unwrap();
        assert_eq!(status.reconcile.observed_generation, Some(3));
        assert_eq!(serde_json::to_value(&status).unwrap(), text);
        assert_eq!(
            serde_json::to_value(KindStatus::default()).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn the_schema_lists_the_fields_as_the_status_own_properties() {
        let schema = serde_json::to_value(schemars::schema_for!(KindStatus)).unwrap();
        let mut properties: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        properties.sort();
        assert_eq!(
            properties,
            [
                "conditions",
                "lastAppliedRevision",
                "lastHandledReconcileAt",
                "observedGeneration"
            ]
        );
        assert!(schema.get("required").is_none());
    }
}
