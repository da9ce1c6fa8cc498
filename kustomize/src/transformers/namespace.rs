//! The namespace transformer (kustomize's `NamespaceTransformer` and its namespace filter).

use serde_json::Value;

use super::super::error::StepResult;
use super::super::fieldspec::{FieldSpec, walk};
use super::super::resource::Resource;
use super::set_scalar;

/// Sets `namespace` on every namespaced resource and on the fields of `specs`, as kustomize v5:
/// a `v1` Namespace is renamed to it, RoleBinding and ClusterRoleBinding subjects named
/// `default` get it; with `unset_only`, fields that already hold a namespace keep it.
/// Errors when two resources end with the same id.
pub fn set_namespace(
    resources: &mut [Resource],
    namespace: &str,
    specs: &[FieldSpec],
    unset_only: bool,
) -> StepResult<()> {
    for resource in resources.iter_mut() {
        resource.store_previous_id();
        let mut setter = |field: &mut Value| -> StepResult<()> {
            if unset_only && field.as_str().is_some_and(|current| !current.is_empty()) {
                return Ok(());
            }
            set_scalar(field, namespace)
        };
        let gvk = resource.gvk();
        if !gvk.is_cluster_scoped() {
            walk(
                &mut resource.object,
                &["metadata".to_string(), "namespace".to_string()],
                true,
                &mut setter,
            )?;
        }
        let is_core_v1 = resource.api_version() == "v1";
        let is_role_binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
        if is_role_binding {
            set_default_subjects(&mut resource.object, &mut setter)?;
        }
        for spec in specs.iter().filter(|spec| spec.selects(&gvk)) {
            let skipped = spec.path == "metadata/namespace"
                || (spec.path == "metadata/name" && !is_core_v1)
                || (is_role_binding && spec.path == "subjects/namespace");
            if !skipped {
                walk(
                    &mut resource.object,
                    &spec.segments(),
                    spec.create,
                    &mut setter,
                )?;
            }
        }
    }
    ensure_unique_ids(resources, "namespace transformation produces ID conflict")
}

fn set_default_subjects(
    object: &mut Value,
    setter: &mut dyn FnMut(&mut Value) -> StepResult<()>,
) -> StepResult<()> {
    let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for subject in subjects
        .iter_mut()
        .filter(|subject| subject.get("name").and_then(Value::as_str) == Some("default"))
    {
        if let Some(map) = subject.as_object_mut() {
            setter(map.entry("namespace").or_insert(Value::Null))?;
        }
    }
    Ok(())
}

/// Errors with `message` and the ids when two resources share their current id.
pub(crate) fn ensure_unique_ids(resources: &[Resource], message: &str) -> StepResult<()> {
    for (index, resource) in resources.iter().enumerate() {
        let id = resource.current_id();
        if resources[..index]
            .iter()
            .any(|other| other.current_id().same_as(&id))
        {
            return Err(format!(
                "{message}: two resources are now {}",
                id.describe()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_namespaced_resources_only() {
        let mut resources = vec![
            Resource::new(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            ),
            Resource::new(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
            ),
        ];
        set_namespace(&mut resources, "prod", &[], false).unwrap();
        assert_eq!(resources[0].namespace(), "prod");
        assert_eq!(resources[1].namespace(), "");
    }
}
