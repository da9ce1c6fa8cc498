//! The apply stages of a build, as Flux's kustomize-controller runs them: first the objects
//! others depend on being served (CustomResourceDefinitions, Namespaces, ClusterRoles), applied
//! and waited for; then kinds ending in `Class`; then everything else. Inside a stage, objects
//! are sorted by Flux's kind order ([`crate::inventory::apply_order`]). Pure.

use serde_json::Value;

use crate::inventory::{ObjMetadata, apply_order};

/// Kinds of the first stage.
const CLUSTER_DEFINITIONS: [&str; 3] = ["CustomResourceDefinition", "Namespace", "ClusterRole"];

/// The identity of a built object: its namespace (empty when not set), name, group and kind.
pub fn identity(object: &Value) -> ObjMetadata {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version
        .rsplit_once('/')
        .map(|(group, _)| group)
        .unwrap_or_default();
    ObjMetadata {
        namespace: object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        group: group.to_string(),
        kind: object["kind"].as_str().unwrap_or_default().to_string(),
    }
}

/// The version part of an object's apiVersion (`apps/v1` -> `v1`).
pub fn version(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    api_version
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `objects` split into the non-empty stages, in the order to apply them.
pub fn stages(objects: Vec<Value>) -> Vec<Vec<Value>> {
    let mut split: [Vec<Value>; 3] = Default::default();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let stage = if CLUSTER_DEFINITIONS.contains(&kind) {
            0
        } else if kind.ends_with("Class") {
            1
        } else {
            2
        };
        split[stage].push(object);
    }
    split
        .into_iter()
        .filter(|stage| !stage.is_empty())
        .map(|mut stage| {
            stage.sort_by(|a, b| apply_order(&identity(a), &identity(b)));
            stage
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(api_version: &str, kind: &str, name: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "apps"}})
    }

    #[test]
    fn definitions_first_classes_next_then_the_rest_in_kind_order() {
        let objects = vec![
            object("apps/v1", "Deployment", "web"),
            object("networking.k8s.io/v1", "IngressClass", "nginx"),
            object("v1", "Namespace", "apps"),
            object("v1", "Service", "web"),
            object(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "x.example.com",
            ),
            object("v1", "ServiceAccount", "web"),
        ];
        let kinds: Vec<Vec<String>> = stages(objects)
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|o| o["kind"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                vec!["CustomResourceDefinition".to_string(), "Namespace".into()],
                vec!["IngressClass".into()],
                vec![
                    "ServiceAccount".into(),
                    "Service".into(),
                    "Deployment".into()
                ],
            ]
        );
    }

    #[test]
    fn identity_splits_group_and_version() {
        let deployment = object("apps/v1", "Deployment", "web");
        assert_eq!(
            identity(&deployment).to_string(),
            "apps_web_apps_Deployment"
        );
        assert_eq!(version(&deployment), "v1");
        assert_eq!(identity(&object("v1", "Service", "web")).group, "");
    }
}
