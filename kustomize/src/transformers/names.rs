//! The name prefix and suffix transformers (kustomize's `PrefixTransformer` and
//! `SuffixTransformer`).

use serde_json::Value;

use super::super::error::StepResult;
use super::super::fieldspec::{FieldSpec, walk};
use super::super::resource::{Gvk, Resource};
use super::set_scalar;

/// Whether the name change is a prefix or a suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affix {
    Prefix,
    Suffix,
}

/// Kinds whose names kustomize never prefixes or suffixes.
fn is_skipped(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// Adds `affix` (`text`) to the fields of `specs` (by default `metadata/name`) of every resource
/// but CRDs, APIServices and Namespaces, recording it for name references as kustomize does.
pub fn add_affix(
    resources: &mut [Resource],
    affix: Affix,
    text: &str,
    specs: &[FieldSpec],
) -> StepResult<()> {
    for resource in resources.iter_mut() {
        let original = resource.original_id();
        if is_skipped(&original.gvk) {
            continue;
        }
        for spec in specs
            .iter()
            .filter(|spec| original.gvk.is_selected_by(&spec.gvk()))
        {
            if spec.path == "metadata/name" {
                match affix {
                    Affix::Prefix => resource.prefixes.push(text.to_string()),
                    Affix::Suffix => resource.suffixes.push(text.to_string()),
                }
                if !text.is_empty() {
                    resource.store_previous_id();
                }
            }
            walk(
                &mut resource.object,
                &spec.segments(),
                spec.create,
                &mut |field: &mut Value| {
                    let current = field.as_str().unwrap_or("").to_string();
                    let renamed = match affix {
                        Affix::Prefix => format!("{text}{current}"),
                        Affix::Suffix => format!("{current}{text}"),
                    };
                    set_scalar(field, &renamed)
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefixes_names_but_not_namespaces() {
        let mut resources = vec![
            Resource::new(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            ),
            Resource::new(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
            ),
        ];
        add_affix(
            &mut resources,
            Affix::Prefix,
            "p-",
            &[FieldSpec::any_kind("metadata/name", true)],
        )
        .unwrap();
        assert_eq!(resources[0].name(), "p-a");
        assert_eq!(resources[0].previous_ids[0].name, "a");
        assert_eq!(resources[1].name(), "ns");
    }
}
