//! Health of applied objects by kstatus rules (sigs.k8s.io/cli-utils `kstatus`), as Flux's
//! health checks read them: a stale `observedGeneration` is in progress; Deployments,
//! StatefulSets and DaemonSets are current when every replica is updated, ready and available;
//! Jobs when `Complete` (failed when `Failed`); any other object by its `Stalled`/`Ready`
//! conditions, and current without them. Pure: reads the live object.

use serde_json::Value;

/// The kstatus of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Reconciled and ready.
    Current,
    /// Not ready yet, with why.
    InProgress(String),
    /// Will not become ready without a change, with why.
    Failed(String),
}

/// The kstatus of the live `object`.
pub fn assess(object: &Value) -> Health {
    let generation = object["metadata"]["generation"].as_i64();
    let observed = object["status"]["observedGeneration"].as_i64();
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return Health::InProgress(format!(
            "observed generation {observed}, latest {generation}"
        ));
    }
    match object["kind"].as_str().unwrap_or_default() {
        "Deployment" => deployment(object),
        "StatefulSet" => stateful_set(object),
        "DaemonSet" => daemon_set(object),
        "Job" => job(object),
        _ => by_conditions(object),
    }
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn count(object: &Value, field: &str) -> i64 {
    object["status"][field].as_i64().unwrap_or(0)
}

fn deployment(object: &Value) -> Health {
    if object["status"].is_null() || object["status"]["observedGeneration"].is_null() {
        return Health::InProgress("Deployment status not observed yet".into());
    }
    if let Some(progressing) = condition(object, "Progressing")
        && progressing["reason"] == "ProgressDeadlineExceeded"
    {
        return Health::Failed(format!(
            "Progress deadline exceeded: {}",
            progressing["message"].as_str().unwrap_or_default()
        ));
    }
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let (updated, ready, available, total) = (
        count(object, "updatedReplicas"),
        count(object, "readyReplicas"),
        count(object, "availableReplicas"),
        count(object, "replicas"),
    );
    if updated < wanted {
        return Health::InProgress(format!("Updated: {updated}/{wanted}"));
    }
    if total > updated {
        return Health::InProgress(format!("Pending termination: {}", total - updated));
    }
    if available < wanted {
        return Health::InProgress(format!("Available: {available}/{wanted}"));
    }
    if ready < wanted {
        return Health::InProgress(format!("Ready: {ready}/{wanted}"));
    }
    Health::Current
}

fn stateful_set(object: &Value) -> Health {
    if object["status"]["observedGeneration"].is_null() {
        return Health::InProgress("StatefulSet status not observed yet".into());
    }
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = count(object, "readyReplicas");
    if ready < wanted {
        return Health::InProgress(format!("Ready: {ready}/{wanted}"));
    }
    let rolling = object["spec"]["updateStrategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let (current, update) = (
        &object["status"]["currentRevision"],
        &object["status"]["updateRevision"],
    );
    if rolling && current != update {
        return Health::InProgress(format!(
            "Waiting for revision {} to roll out",
            update.as_str().unwrap_or_default()
        ));
    }
    Health::Current
}

fn daemon_set(object: &Value) -> Health {
    if object["status"]["observedGeneration"].is_null() {
        return Health::InProgress("DaemonSet status not observed yet".into());
    }
    let desired = count(object, "desiredNumberScheduled");
    for (field, label) in [
        ("updatedNumberScheduled", "Updated"),
        ("numberAvailable", "Available"),
        ("numberReady", "Ready"),
    ] {
        let have = count(object, field);
        if have < desired {
            return Health::InProgress(format!("{label}: {have}/{desired}"));
        }
    }
    Health::Current
}

fn job(object: &Value) -> Health {
    let is_true = |type_: &str| condition(object, type_).is_some_and(|c| c["status"] == "True");
    if is_true("Failed") {
        let message = condition(object, "Failed")
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default();
        return Health::Failed(format!("Job failed: {message}"));
    }
    if is_true("Complete") {
        return Health::Current;
    }
    Health::InProgress(format!(
        "Job in progress: {} active, {} succeeded",
        count(object, "active"),
        count(object, "succeeded")
    ))
}

fn by_conditions(object: &Value) -> Health {
    let message = |c: &Value| c["message"].as_str().unwrap_or_default().to_string();
    if let Some(stalled) = condition(object, "Stalled").filter(|c| c["status"] == "True") {
        return Health::Failed(message(stalled));
    }
    match condition(object, "Ready") {
        Some(ready) if ready["status"] == "True" => Health::Current,
        Some(ready) => Health::InProgress(format!(
            "Ready={}: {}",
            ready["status"].as_str().unwrap_or("Unknown"),
            message(ready)
        )),
        None => Health::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, status: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": replicas}, "status": status})
    }

    #[test]
    fn a_deployment_is_current_only_when_all_replicas_are_available() {
        let ready = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2});
        assert_eq!(assess(&deployment(2, ready)), Health::Current);
        let waiting = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 0, "availableReplicas": 0});
        assert_eq!(
            assess(&deployment(2, waiting)),
            Health::InProgress("Available: 0/2".into())
        );
        let stale = json!({"observedGeneration": 1});
        assert!(
            matches!(assess(&deployment(0, stale)), Health::InProgress(m) if m.contains("generation"))
        );
        let scaled_to_zero = json!({"observedGeneration": 2});
        assert_eq!(assess(&deployment(0, scaled_to_zero)), Health::Current);
        let deadline = json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "took too long"}]});
        assert!(
            matches!(assess(&deployment(1, deadline)), Health::Failed(m) if m.contains("took too long"))
        );
    }

    #[test]
    fn jobs_and_ready_conditions() {
        let done = json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(assess(&done), Health::Current);
        let failed = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}});
        assert!(matches!(assess(&failed), Health::Failed(m) if m.contains("BackoffLimitExceeded")));
        let not_ready = json!({"kind": "Kustomization", "status": {"conditions": [{"type": "Ready", "status": "False", "message": "build failed"}]}});
        assert_eq!(
            assess(&not_ready),
            Health::InProgress("Ready=False: build failed".into())
        );
        assert_eq!(assess(&json!({"kind": "ConfigMap"})), Health::Current);
    }

    #[test]
    fn stateful_sets_and_daemon_sets_count_replicas() {
        let rolling = json!({"kind": "StatefulSet", "spec": {"replicas": 1}, "status": {"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"}});
        assert!(matches!(assess(&rolling), Health::InProgress(_)));
        let daemons = json!({"kind": "DaemonSet", "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2, "numberReady": 3}});
        assert_eq!(
            assess(&daemons),
            Health::InProgress("Available: 2/3".into())
        );
    }
}
