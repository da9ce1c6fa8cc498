//! The replica count transformer (kustomize's `ReplicaCountTransformer`).

use serde_json::Value;

use super::super::error::StepResult;
use super::super::fieldspec::{FieldSpec, walk};
use super::super::resource::Resource;

/// Sets `count` in the fields of `specs` of every resource whose current or original name is
/// `name`. Errors when no resource has that name, as kustomize does.
pub fn set_replicas(
    resources: &mut [Resource],
    name: &str,
    count: i64,
    specs: &[FieldSpec],
) -> StepResult<()> {
    let mut matched = false;
    for resource in resources.iter_mut() {
        if resource.name() != name && resource.original_id().name != name {
            continue;
        }
        let gvk = resource.gvk();
        for spec in specs.iter().filter(|spec| spec.selects(&gvk)) {
            matched = true;
            walk(
                &mut resource.object,
                &spec.segments(),
                spec.create,
                &mut |field: &mut Value| {
                    *field = Value::Number(count.into());
                    Ok(())
                },
            )?;
        }
    }
    if matched {
        Ok(())
    } else {
        Err(format!(
            "resource with name {name} does not match a config with the following GVK [{}]",
            describe_specs(specs)
        ))
    }
}

fn describe_specs(specs: &[FieldSpec]) -> String {
    specs
        .iter()
        .map(|spec| spec.kind.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}
