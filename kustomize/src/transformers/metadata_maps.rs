//! The label and annotation transformers (kustomize's `LabelTransformer` and
//! `AnnotationsTransformer`): string maps merged into the fields of their field specs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::super::error::StepResult;
use super::super::fieldspec::{FieldSpec, apply_specs};
use super::super::resource::Resource;

/// Merges `pairs` into every map field that `specs` select (creating it where a spec says so).
/// Errors when a selected field is not a map.
pub fn add_pairs(
    resources: &mut [Resource],
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> StepResult<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for resource in resources.iter_mut() {
        apply_specs(resource, specs, &mut |field: &mut Value| {
            if field.is_null() {
                *field = Value::Object(Map::new());
            }
            let Some(map) = field.as_object_mut() else {
                return Err(format!("expected a map to add {pairs:?} to, found {field}"));
            };
            for (key, value) in pairs {
                map.insert(key.clone(), Value::String(value.clone()));
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_labels_where_specs_say() {
        let mut resources = vec![Resource::new(
            json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"}}),
        )];
        let pairs = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let specs = [
            FieldSpec::any_kind("metadata/labels", true),
            FieldSpec::any_kind("spec/selector", false),
        ];
        add_pairs(&mut resources, &pairs, &specs).unwrap();
        assert_eq!(
            resources[0].object["metadata"]["labels"],
            json!({"app": "web"})
        );
        assert!(resources[0].object.get("spec").is_none());
    }
}
