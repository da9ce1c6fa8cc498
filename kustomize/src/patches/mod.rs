//! Patches: `patches`, `patchesStrategicMerge` and `patchesJson6902` (kustomize's
//! `PatchTransformer`, `PatchStrategicMergeTransformer` and `PatchJson6902Transformer`).

pub mod selector;
pub mod strategic_merge;

use json_patch::PatchOperation;
use serde_json::Value;

use super::error::StepResult;
use super::kustomization::Selector;
use super::limits::Budget;
use super::resource::{Gvk, ResId, Resource};

/// The content of one patch entry, already read and parsed.
#[derive(Clone, Debug)]
pub enum PatchBody {
    /// Strategic merge patch documents (whole or partial resources).
    StrategicMerge(Vec<Value>),
    /// RFC 6902 operations.
    Json6902(json_patch::Patch),
}

/// Parses a patch text: a YAML or JSON list is a JSON 6902 patch, anything else strategic merge
/// documents; aliases are charged to `budget`. Errors on malformed YAML or operations, or YAML
/// past the [`limits`](super::limits).
pub fn parse_patch(text: &str, budget: &Budget) -> StepResult<PatchBody> {
    let documents = super::yaml::parse_documents(text, budget)?;
    match documents.as_slice() {
        [Value::Array(_)] => {
            let operations = documents.into_iter().next().unwrap_or(Value::Null);
            serde_json::from_value(operations)
                .map(PatchBody::Json6902)
                .map_err(|error| format!("invalid JSON patch: {error}"))
        }
        _ => Ok(PatchBody::StrategicMerge(documents)),
    }
}

/// Applies one entry of `patches`: to the resources `target` selects, or (strategic merge
/// without target) to the resource each document names; JSON patch operations are charged to
/// `budget` (see [`apply_operations`]). Errors as kustomize does: a JSON patch without target,
/// a document matching no resource, a failing operation; or with the limit exceeded.
pub fn apply_patch(
    resources: &mut Vec<Resource>,
    body: &PatchBody,
    target: Option<&Selector>,
    budget: &Budget,
) -> StepResult<()> {
    match (body, target) {
        (PatchBody::Json6902(_), None) => Err("must specify a target for JSON patch".to_string()),
        (body, Some(target)) => {
            let selected = selector::select(resources, target)?;
            apply_to_indexes(resources, body, &selected, budget)
        }
        (PatchBody::StrategicMerge(documents), None) => {
            for document in documents {
                let index = find_patch_target(resources, document)?;
                apply_to_indexes(
                    resources,
                    &PatchBody::StrategicMerge(vec![document.clone()]),
                    &[index],
                    budget,
                )?;
            }
            Ok(())
        }
    }
}

/// Applies one entry of `patchesJson6902` (target required; a target matching nothing is not an
/// error, as in kustomize v5); operations are charged to `budget` (see [`apply_operations`]).
pub fn apply_json6902(
    resources: &mut Vec<Resource>,
    body: &PatchBody,
    target: &Selector,
    budget: &Budget,
) -> StepResult<()> {
    let selected = selector::select(resources, target)?;
    apply_to_indexes(resources, body, &selected, budget)
}

fn apply_to_indexes(
    resources: &mut Vec<Resource>,
    body: &PatchBody,
    indexes: &[usize],
    budget: &Budget,
) -> StepResult<()> {
    let mut deleted = Vec::new();
    for &index in indexes {
        let resource = &mut resources[index];
        match body {
            PatchBody::Json6902(operations) => {
                apply_operations(resource, operations, budget)?;
            }
            PatchBody::StrategicMerge(documents) => {
                for document in documents {
                    if strategic_merge::deletes_resource(document) {
                        deleted.push(index);
                        continue;
                    }
                    let mut patch = document.clone();
                    align_identity(&mut patch, resource);
                    strategic_merge::merge_resource(&mut resource.object, &patch);
                }
            }
        }
    }
    deleted.sort_unstable();
    for index in deleted.into_iter().rev() {
        resources.remove(index);
    }
    Ok(())
}

/// Applies RFC 6902 `operations` to `resource` one at a time (a failed one fails the build, so
/// the operations before it need no undoing), stopping when the deadline has passed. Before
/// each operation, what it inserts is charged to `budget`: an `add`, `replace`, `move` or `copy`
/// must keep the resource within [`MAX_DEPTH`](crate::limits::MAX_DEPTH), and a `copy` takes
/// its nodes from [`MAX_COPIED_NODES`](crate::limits::MAX_COPIED_NODES) (copying a resource
/// into itself doubles it). Errors as json-patch does, naming the operation.
fn apply_operations(
    resource: &mut Resource,
    operations: &[PatchOperation],
    budget: &Budget,
) -> StepResult<()> {
    let failed = |resource: &Resource, message: String| {
        format!(
            "applying JSON patch to {}: {message}",
            resource.current_id().describe()
        )
    };
    for (number, operation) in operations.iter().enumerate() {
        if budget.expired() {
            return Err(failed(resource, "build deadline exceeded".to_string()));
        }
        let object = &resource.object;
        let charged = match operation {
            PatchOperation::Add(add) => Some((&add.path, Some(&add.value), false)),
            PatchOperation::Replace(replace) => Some((&replace.path, Some(&replace.value), false)),
            PatchOperation::Move(moved) => {
                Some((&moved.path, object.pointer(moved.from.as_str()), false))
            }
            PatchOperation::Copy(copy) => {
                Some((&copy.path, object.pointer(copy.from.as_str()), true))
            }
            PatchOperation::Remove(_) | PatchOperation::Test(_) => None,
        };
        if let Some((path, Some(value), copied)) = charged {
            budget
                .charge_insertion(value, path.count(), copied)
                .map_err(|message| failed(resource, format!("operation '/{number}': {message}")))?;
        }
        json_patch::patch(&mut resource.object, std::slice::from_ref(operation)).map_err(
            |error| {
                failed(
                    resource,
                    format!(
                        "operation '/{number}' failed at path '{}': {}",
                        error.path, error.kind
                    ),
                )
            },
        )?;
    }
    Ok(())
}

/// Gives `patch` the identity of `resource`, so that a targeted patch never renames it.
fn align_identity(patch: &mut Value, resource: &Resource) {
    let Some(map) = patch.as_object_mut() else {
        return;
    };
    map.insert(
        "apiVersion".into(),
        Value::String(resource.api_version().to_string()),
    );
    map.insert("kind".into(), Value::String(resource.kind().to_string()));
    if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("name".into(), Value::String(resource.name().to_string()));
        if resource.namespace().is_empty() {
            metadata.remove("namespace");
        } else {
            metadata.insert(
                "namespace".into(),
                Value::String(resource.namespace().to_string()),
            );
        }
    }
}

/// The index of the one resource a strategic merge patch names by gvk, name and namespace
/// (current or earlier ids). Errors, in kustomize's words, when none or several match.
pub fn find_patch_target(resources: &[Resource], document: &Value) -> StepResult<usize> {
    let field = |pointer: &str| {
        document
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let id = ResId {
        gvk: Gvk::from_api_version(&field("/apiVersion"), &field("/kind")),
        name: field("/metadata/name"),
        namespace: field("/metadata/namespace"),
    };
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, resource)| resource.matches_any_id(&id))
        .map(|(index, _)| index)
        .collect();
    match matches.as_slice() {
        [index] => Ok(*index),
        [] => Err(format!(
            "no resource matches strategic merge patch \"{0}\": no matches for Id {0}; failed to find unique target for patch {0}",
            id.describe()
        )),
        _ => Err(format!(
            "multiple matches for Id {0}; failed to find unique target for patch {0}",
            id.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(name: &str) -> Resource {
        Resource::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {"replicas": 1}}),
        )
    }

    #[test]
    fn json_patch_applies_to_selected_resources() {
        let mut resources = vec![deployment("a"), deployment("b")];
        let body = parse_patch(
            "- op: replace\n  path: /spec/replicas\n  value: 3\n",
            &Budget::new(None),
        )
        .unwrap();
        let target = Selector {
            name: "a".into(),
            ..Selector::default()
        };
        apply_patch(&mut resources, &body, Some(&target), &Budget::new(None)).unwrap();
        assert_eq!(resources[0].object["spec"]["replicas"], 3);
        assert_eq!(resources[1].object["spec"]["replicas"], 1);
    }

    #[test]
    fn strategic_merge_without_target_needs_a_matching_resource() {
        let mut resources = vec![deployment("a")];
        let body = parse_patch(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: missing\n",
            &Budget::new(None),
        )
        .unwrap();
        let error = apply_patch(&mut resources, &body, None, &Budget::new(None)).unwrap_err();
        assert!(error.contains("no resource matches strategic merge patch"));
    }
}
