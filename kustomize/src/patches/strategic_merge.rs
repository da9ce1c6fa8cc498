//! Strategic merge patches without OpenAPI documents, as kustomize's kyaml `merge2` does them:
//! built-in kinds merge their lists by the Kubernetes merge keys (containers by name, ports by
//! port, volume mounts by path, ...); other kinds merge lists whose items all have a `name`.

use serde_json::{Map, Value};

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListStrategy {
    /// Items are matched by this key and merged; new items are appended.
    Keyed(&'static str),
    /// Scalars are unioned (`finalizers`).
    Union,
    /// The patch's list replaces the resource's.
    Replace,
}

/// `apiVersion`s and kinds of kustomize's bundled Kubernetes schema whose lists merge by the
/// Kubernetes merge keys (any other kind uses `name` when every item has one).
const BUILT_IN_KINDS: &[(&str, &[&str])] = &[
    (
        "v1",
        &[
            "Pod",
            "Service",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Namespace",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "ReplicationController",
            "PodTemplate",
            "Endpoints",
            "LimitRange",
            "ResourceQuota",
            "Node",
        ],
    ),
    (
        "apps/v1",
        &[
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ControllerRevision",
        ],
    ),
    ("apps/v1beta1", &["Deployment", "StatefulSet"]),
    (
        "apps/v1beta2",
        &["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"],
    ),
    (
        "extensions/v1beta1",
        &[
            "Deployment",
            "DaemonSet",
            "ReplicaSet",
            "Ingress",
            "NetworkPolicy",
        ],
    ),
    ("batch/v1", &["Job", "CronJob"]),
    ("batch/v1beta1", &["CronJob"]),
    ("autoscaling/v1", &["HorizontalPodAutoscaler"]),
    ("autoscaling/v2beta1", &["HorizontalPodAutoscaler"]),
    ("autoscaling/v2beta2", &["HorizontalPodAutoscaler"]),
    (
        "networking.k8s.io/v1",
        &["Ingress", "NetworkPolicy", "IngressClass"],
    ),
    ("networking.k8s.io/v1beta1", &["Ingress", "IngressClass"]),
    (
        "rbac.authorization.k8s.io/v1",
        &["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"],
    ),
    ("policy/v1", &["PodDisruptionBudget"]),
    (
        "policy/v1beta1",
        &["PodDisruptionBudget", "PodSecurityPolicy"],
    ),
    ("storage.k8s.io/v1", &["StorageClass"]),
    (
        "admissionregistration.k8s.io/v1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
    ),
    ("apiextensions.k8s.io/v1", &["CustomResourceDefinition"]),
    ("scheduling.k8s.io/v1", &["PriorityClass"]),
];

fn is_built_in(api_version: &str, kind: &str) -> bool {
    BUILT_IN_KINDS
        .iter()
        .any(|(version, kinds)| *version == api_version && kinds.contains(&kind))
}

/// The merge strategy Kubernetes declares for `field` inside `parent` (the field holding the
/// map that holds the list).
fn built_in_strategy(parent: &str, field: &str) -> ListStrategy {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "secrets" => ListStrategy::Keyed("name"),
        "volumeMounts" => ListStrategy::Keyed("mountPath"),
        "volumeDevices" => ListStrategy::Keyed("devicePath"),
        "hostAliases" => ListStrategy::Keyed("ip"),
        "topologySpreadConstraints" => ListStrategy::Keyed("topologyKey"),
        "ownerReferences" => ListStrategy::Keyed("uid"),
        "conditions" => ListStrategy::Keyed("type"),
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            ListStrategy::Keyed("containerPort")
        }
        "ports" if parent == "spec" => ListStrategy::Keyed("port"),
        "finalizers" => ListStrategy::Union,
        _ => ListStrategy::Replace,
    }
}

/// Whether a strategic merge patch document deletes the whole resource (`$patch: delete`).
pub fn deletes_resource(patch: &Value) -> bool {
    patch.get("$patch").and_then(Value::as_str) == Some("delete")
}

/// Merges `patch` into `target`, both whole resources. Null values delete fields; `$patch:
/// replace|delete`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder`
/// directives are honoured as kyaml does.
pub fn merge_resource(target: &mut Value, patch: &Value) {
    let built_in = is_built_in(
        target
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(""),
        target.get("kind").and_then(Value::as_str).unwrap_or(""),
    );
    let merger = Merger { built_in };
    merger.merge_value(target, patch, "", "");
}

struct Merger {
    built_in: bool,
}

impl Merger {
    fn merge_value(&self, target: &mut Value, patch: &Value, parent: &str, field: &str) {
        match (target, patch) {
            (Value::Object(target), Value::Object(patch)) => self.merge_map(target, patch, field),
            (target @ Value::Array(_), Value::Array(items)) => {
                let Value::Array(existing) = target else {
                    return;
                };
                let merged = self.merge_list(existing, items, parent, field);
                *target = Value::Array(merged);
            }
            (target, patch) => *target = clean(patch),
        }
    }

    fn merge_map(&self, target: &mut Map<String, Value>, patch: &Map<String, Value>, field: &str) {
        if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
            *target = clean_map(patch);
            return;
        }
        for (key, value) in patch {
            if let Some(list_field) = key.strip_prefix("$deleteFromPrimitiveList/") {
                if let (Some(Value::Array(items)), Value::Array(removed)) =
                    (target.get_mut(list_field), value)
                {
                    items.retain(|item| !removed.contains(item));
                }
                continue;
            }
            if key.starts_with('$') {
                continue;
            }
            match (target.get_mut(key), value) {
                (_, Value::Null) => {
                    target.remove(key);
                }
                (_, Value::Object(inner)) if deletes_resource(value) && inner.len() == 1 => {
                    target.remove(key);
                }
                (Some(existing), value) if !existing.is_null() => {
                    self.merge_value(existing, value, field, key)
                }
                (_, value) => {
                    target.insert(key.clone(), clean(value));
                }
            }
        }
        if let Some(Value::Array(retained)) = patch.get("$retainKeys") {
            target.retain(|key, _| retained.iter().any(|kept| kept.as_str() == Some(key)));
        }
    }

    fn strategy(
        &self,
        existing: &[Value],
        patch: &[Value],
        parent: &str,
        field: &str,
    ) -> ListStrategy {
        if self.built_in {
            return built_in_strategy(parent, field);
        }
        let all_named = |items: &[Value]| items.iter().all(|item| item.get("name").is_some());
        let has_items = !existing.is_empty() || !patch.is_empty();
        if has_items && all_named(existing) && all_named(patch) {
            ListStrategy::Keyed("name")
        } else {
            ListStrategy::Replace
        }
    }

    fn merge_list(
        &self,
        existing: &[Value],
        patch: &[Value],
        parent: &str,
        field: &str,
    ) -> Vec<Value> {
        if patch
            .iter()
            .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"))
        {
            return patch
                .iter()
                .filter(|item| item.get("$patch").is_none())
                .map(clean)
                .collect();
        }
        match self.strategy(existing, patch, parent, field) {
            ListStrategy::Replace => patch.iter().map(clean).collect(),
            ListStrategy::Union => {
                let mut merged = existing.to_vec();
                merged.extend(
                    patch
                        .iter()
                        .filter(|item| !existing.contains(item))
                        .cloned(),
                );
                merged
            }
            ListStrategy::Keyed(key) => self.merge_keyed(existing, patch, field, key),
        }
    }

    /// Merges lists of keyed items as kyaml does when patching (`MergeOptionsListPrepend`): the
    /// patch's items first, in patch order (merged into the matching existing item, or new),
    /// then the existing items the patch does not name, in their order.
    fn merge_keyed(
        &self,
        existing: &[Value],
        patch: &[Value],
        field: &str,
        key: &str,
    ) -> Vec<Value> {
        let mut named = vec![false; existing.len()];
        let mut merged = Vec::with_capacity(existing.len() + patch.len());
        for item in patch {
            let position = existing
                .iter()
                .position(|candidate| same_item(candidate, item, key));
            if let Some(index) = position {
                if named[index] {
                    continue;
                }
                named[index] = true;
            }
            match position {
                _ if deletes_resource(item) => {}
                Some(index) => {
                    let mut value = existing[index].clone();
                    self.merge_value(&mut value, item, field, field);
                    merged.push(value);
                }
                None => merged.push(clean(item)),
            }
        }
        let unnamed = existing
            .iter()
            .zip(named)
            .filter(|(_, named)| !named)
            .map(|(item, _)| item.clone());
        merged.extend(unnamed);
        merged
    }
}

fn same_item(candidate: &Value, item: &Value, key: &str) -> bool {
    let same_key = candidate.get(key).is_some() && candidate.get(key) == item.get(key);
    let protocol = |value: &Value| {
        value
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_string()
    };
    same_key && (key != "containerPort" && key != "port" || protocol(candidate) == protocol(item))
}

/// `value` without strategic-merge directives (`$patch`, `$setElementOrder/...`, ...).
fn clean(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(clean_map(map)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| !deletes_resource(item))
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn clean_map(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(key, _)| !key.starts_with('$'))
        .map(|(key, value)| (key.clone(), clean(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec})
    }

    #[test]
    fn merges_containers_by_name_and_replaces_args() {
        let mut target = deployment(json!({"template": {"spec": {"containers": [
            {"name": "a", "image": "x", "args": ["1"], "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "y"}]}}}));
        let patch = deployment(json!({"template": {"spec": {"containers": [
            {"name": "a", "args": ["2"], "ports": [{"containerPort": 81}]},
            {"name": "c", "image": "z"}]}}}));
        merge_resource(&mut target, &patch);
        let containers = &target["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers[0],
            json!({"name": "a", "image": "x", "args": ["2"], "ports": [{"containerPort": 81}, {"containerPort": 80}]})
        );
        assert_eq!(containers[1]["name"], "c");
        assert_eq!(containers[2]["name"], "b");
    }

    #[test]
    fn deletes_with_null_and_directives() {
        let mut target = deployment(
            json!({"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}),
        );
        let patch = deployment(
            json!({"replicas": null, "template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}),
        );
        merge_resource(&mut target, &patch);
        assert_eq!(
            target["spec"],
            json!({"template": {"spec": {"containers": [{"name": "a"}]}}})
        );
    }

    #[test]
    fn custom_kinds_merge_named_lists_only() {
        let mut target = json!({"apiVersion": "x/v1", "kind": "X", "spec": {"items": [{"name": "a", "v": 1}], "tags": ["a"]}});
        let patch = json!({"apiVersion": "x/v1", "kind": "X", "spec": {"items": [{"name": "a", "w": 2}], "tags": ["b"]}});
        merge_resource(&mut target, &patch);
        assert_eq!(
            target["spec"],
            json!({"items": [{"name": "a", "v": 1, "w": 2}], "tags": ["b"]})
        );
    }
}
