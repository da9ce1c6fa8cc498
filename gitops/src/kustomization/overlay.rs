//! The Kustomization's own build fields written into the `kustomization.yaml` of `spec.path`, as
//! Flux's kustomize generator does before `kustomize build`: `targetNamespace` becomes
//! `namespace`, `namePrefix`/`nameSuffix` are set, `components`, `patches` and `images` are
//! appended; without a `kustomization.yaml` one is generated listing the manifests. Pure.

use serde_json::{Value, json};

use crate::api::kustomization::KustomizationSpec;

/// A `kustomization.yaml` listing `resources` (paths relative to its folder), as Flux generates
/// one for a folder of plain manifests.
pub fn generated(resources: Vec<String>) -> Value {
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    })
}

/// `kustomization` with the build fields of `spec` merged in (see the module doc).
pub fn with_flux_fields(mut kustomization: Value, spec: &KustomizationSpec) -> Value {
    let Some(fields) = kustomization.as_object_mut() else {
        return kustomization;
    };
    if let Some(namespace) = &spec.target_namespace {
        fields.insert("namespace".into(), json!(namespace));
    }
    if let Some(prefix) = &spec.name_prefix {
        fields.insert("namePrefix".into(), json!(prefix));
    }
    if let Some(suffix) = &spec.name_suffix {
        fields.insert("nameSuffix".into(), json!(suffix));
    }
    let mut append = |key: &str, values: Vec<Value>| {
        if values.is_empty() {
            return;
        }
        let list = fields.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.extend(values);
        }
    };
    append(
        "components",
        spec.components.iter().map(|c| json!(c)).collect(),
    );
    append("patches", spec.patches.iter().map(|p| json!(p)).collect());
    append("images", spec.images.iter().map(|i| json!(i)).collect());
    kustomization
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_fields_set_and_append() {
        let spec: KustomizationSpec = serde_json::from_value(json!({
            "interval": "1m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "r"},
            "targetNamespace": "apps", "namePrefix": "dev-",
            "images": [{"name": "nginx", "newTag": "1.27"}],
            "patches": [{"patch": "- op: add", "target": {"kind": "Deployment"}}],
        }))
        .unwrap();
        let base = json!({"resources": ["a.yaml"], "namespace": "old",
            "images": [{"name": "redis", "newTag": "7"}]});
        let merged = with_flux_fields(base, &spec);
        assert_eq!(merged["namespace"], "apps");
        assert_eq!(merged["namePrefix"], "dev-");
        assert_eq!(merged["images"].as_array().unwrap().len(), 2);
        assert_eq!(merged["images"][1]["newTag"], "1.27");
        assert_eq!(merged["patches"][0]["target"]["kind"], "Deployment");
        assert!(merged.get("components").is_none());
        assert!(merged.get("nameSuffix").is_none());
    }
}
