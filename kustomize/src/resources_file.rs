//! Reading a file of resources: YAML documents, `List` kinds flattened, each checked to be a
//! Kubernetes object.

use std::path::Path;

use serde_json::Value;

use super::error::Error;
use super::limits::Budget;
use super::resource::Resource;

/// The resources in the YAML `text` of the file at `path`, its aliases charged to `budget`.
/// Errors, naming the file, on malformed YAML, YAML past the [`limits`](super::limits), or a
/// document that is not an object with a kind and a name.
pub fn parse_resources(path: &Path, text: &str, budget: &Budget) -> Result<Vec<Resource>, Error> {
    let malformed = |message: String| Error::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let mut resources = Vec::new();
    for document in super::yaml::parse_documents(text, budget).map_err(malformed)? {
        for mut object in flatten_lists(document) {
            check_object(&object).map_err(malformed)?;
            stringify_metadata_maps(&mut object);
            resources.push(Resource::new(object));
        }
    }
    Ok(resources)
}

/// Turns numbers and booleans in `metadata.labels` and `metadata.annotations` into strings, as
/// kustomize reads them (Kubernetes' `map[string]string`).
fn stringify_metadata_maps(object: &mut Value) {
    for field in ["labels", "annotations"] {
        let Some(map) = object
            .pointer_mut(&format!("/metadata/{field}"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for value in map.values_mut() {
            if matches!(value, Value::Number(_) | Value::Bool(_)) {
                *value = Value::String(value.to_string());
            }
        }
    }
}

fn flatten_lists(document: Value) -> Vec<Value> {
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"));
    match document.get("items") {
        Some(Value::Array(items)) if is_list => {
            items.iter().cloned().flat_map(flatten_lists).collect()
        }
        _ if is_list && document.get("items").is_none() => Vec::new(),
        _ => vec![document],
    }
}

fn check_object(object: &Value) -> Result<(), String> {
    if !object.is_object() {
        return Err(format!("expected a Kubernetes object, found {object}"));
    }
    if object
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(format!("missing kind in object {object}"));
    }
    if object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(format!("missing metadata.name in object {object}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_lists_and_refuses_nameless_objects() {
        let text = "kind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n";
        assert_eq!(
            parse_resources(Path::new("f.yaml"), text, &Budget::new(None)).unwrap()[0].name(),
            "a"
        );
        assert!(
            parse_resources(Path::new("f.yaml"), "kind: ConfigMap\n", &Budget::new(None)).is_err()
        );
    }
}
