//! Name references: after prefixes, suffixes, namespaces and hash suffixes change names, fields
//! that refer to a resource by name (volumes, envFrom, roleRef, scaleTargetRef, ...) are
//! rewritten to the new name, as kustomize's `nameReferenceTransformer` and `nameref.Filter`.

use serde_json::Value;

use super::error::StepResult;
use super::fieldspec::{NameBackReference, walk};
use super::limits::Budget;
use super::resource::{Gvk, ResId, Resource};

/// What name reference needs to know of a possible referral.
struct Referral {
    current: ResId,
    previous: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Referral {
    fn of(resource: &Resource) -> Self {
        Self {
            current: resource.current_id(),
            previous: resource.previous_ids.clone(),
            prefixes: resource.prefixes.clone(),
            suffixes: resource.suffixes.clone(),
        }
    }
}

/// Rewrites, in every resource, the name fields listed by `back_references` that name a
/// resource whose name changed during the build. Errors when a reference is ambiguous, or
/// stops ("build deadline exceeded") once `budget`'s deadline has passed: the work is
/// quadratic in the resources (each resource against every other), so the deadline is checked
/// before each resource.
pub fn fix_name_references(
    resources: &mut [Resource],
    back_references: &[NameBackReference],
    budget: &Budget,
) -> StepResult<()> {
    let referrals: Vec<Referral> = resources.iter().map(Referral::of).collect();
    for (index, resource) in resources.iter_mut().enumerate() {
        if budget.expired() {
            return Err("build deadline exceeded".to_string());
        }
        let referrer = &referrals[index];
        let original_gvk = resource.original_id().gvk;
        let reachable = reachable_referrals(resource, &referrals);
        for back_reference in back_references {
            let target = Gvk {
                group: back_reference.group.clone(),
                version: back_reference.version.clone(),
                kind: back_reference.kind.clone(),
            };
            for spec in back_reference
                .field_specs
                .iter()
                .filter(|spec| original_gvk.is_selected_by(&spec.gvk()))
            {
                let role_ref = spec
                    .path
                    .ends_with("roleRef/name")
                    .then(|| role_ref_gvk(&resource.object))
                    .flatten();
                let candidates: Vec<&Referral> = reachable
                    .iter()
                    .copied()
                    .filter(|referral| {
                        referral
                            .previous
                            .iter()
                            .any(|id| id.gvk.is_selected_by(&target))
                    })
                    .filter(|referral| {
                        role_ref.as_ref().is_none_or(|gvk| {
                            referral
                                .previous
                                .iter()
                                .any(|id| id.gvk.is_selected_by(gvk))
                        })
                    })
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                walk(
                    &mut resource.object,
                    &spec.segments(),
                    false,
                    &mut |field: &mut Value| update_reference(field, referrer, &candidates),
                )?;
            }
        }
    }
    Ok(())
}

fn update_reference(
    field: &mut Value,
    referrer: &Referral,
    candidates: &[&Referral],
) -> StepResult<()> {
    match field {
        Value::String(name) => {
            if let Some(referral) = select_referral(name, referrer, candidates.to_vec(), false)? {
                *name = referral.current.name.clone();
            }
            Ok(())
        }
        Value::Object(map) => {
            let Some(name) = map.get("name").and_then(Value::as_str).map(str::to_string) else {
                return Ok(());
            };
            let in_namespace: Vec<&Referral> = match map.get("namespace").and_then(Value::as_str) {
                None => candidates.to_vec(),
                Some(namespace) => {
                    let by_original: Vec<&Referral> = candidates
                        .iter()
                        .copied()
                        .filter(|c| original(c).namespace == namespace)
                        .collect();
                    if by_original.is_empty() {
                        candidates
                            .iter()
                            .copied()
                            .filter(|c| c.current.namespace == namespace)
                            .collect()
                    } else {
                        by_original
                    }
                }
            };
            if let Some(referral) = select_referral(&name, referrer, in_namespace, true)? {
                map.insert("name".into(), Value::String(referral.current.name.clone()));
                if !referral.current.namespace.is_empty() {
                    map.insert(
                        "namespace".into(),
                        Value::String(referral.current.namespace.clone()),
                    );
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|item| update_reference(item, referrer, candidates)),
        _ => Ok(()),
    }
}

fn original(referral: &Referral) -> &ResId {
    referral.previous.first().unwrap_or(&referral.current)
}

/// kustomize's `selectReferral`: the one candidate the old name can mean, if any.
fn select_referral<'a>(
    old_name: &str,
    referrer: &Referral,
    candidates: Vec<&'a Referral>,
    with_namespace: bool,
) -> StepResult<Option<&'a Referral>> {
    let referrer_scoped = referrer.current.gvk.is_cluster_scoped();
    let mut candidates: Vec<&Referral> = candidates
        .into_iter()
        .filter(|c| c.previous.iter().any(|id| id.name == old_name))
        .filter(|c| {
            referrer_scoped
                || c.current.gvk.is_cluster_scoped()
                || c.current.gvk.kind == "ServiceAccount"
                || c.current.effective_namespace() == referrer.current.effective_namespace()
        })
        .collect();
    if candidates.len() == 1 {
        return Ok(candidates.pop());
    }
    candidates.retain(|c| affixes_equal(c, referrer, true));
    if candidates.len() > 1 {
        candidates.retain(|c| affixes_equal(c, referrer, false));
    }
    match candidates.as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(only)),
        [first, rest @ ..] => {
            let identical = rest.iter().all(|c| {
                c.current.name == first.current.name
                    && (!with_namespace || c.current.namespace == first.current.namespace)
            });
            if identical {
                Ok(Some(first))
            } else {
                let ids: Vec<String> = candidates.iter().map(|c| c.current.describe()).collect();
                Err(format!(
                    "found multiple possible referrals: {}",
                    ids.join(", ")
                ))
            }
        }
    }
}

fn affixes_equal(candidate: &Referral, referrer: &Referral, allow_empty: bool) -> bool {
    let equal = |a: &[String], b: &[String]| {
        (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b)
    };
    equal(&candidate.prefixes, &referrer.prefixes) && equal(&candidate.suffixes, &referrer.suffixes)
}

/// kustomize's `SameEndingSubSlice`: the shorter list is the tail of the longer one.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn role_ref_gvk(object: &Value) -> Option<Gvk> {
    let role_ref = object.get("roleRef")?;
    Some(Gvk {
        group: role_ref.get("apiGroup")?.as_str()?.to_string(),
        version: String::new(),
        kind: role_ref.get("kind")?.as_str()?.to_string(),
    })
}

/// The referrals `resource` may point at (kustomize's `SubsetThatCouldBeReferencedByResource`).
fn reachable_referrals<'a>(resource: &Resource, referrals: &'a [Referral]) -> Vec<&'a Referral> {
    let id = resource.current_id();
    if id.gvk.is_cluster_scoped() {
        return referrals.iter().collect();
    }
    let subject_namespaces: Vec<&str> = if resource.kind() == "RoleBinding" {
        resource
            .object
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|subject| subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
            .filter_map(|subject| subject.get("namespace").and_then(Value::as_str))
            .collect()
    } else {
        Vec::new()
    };
    referrals
        .iter()
        .filter(|referral| {
            referral.current.gvk.is_cluster_scoped()
                || referral.current.effective_namespace() == id.effective_namespace()
                || subject_namespaces.contains(&referral.current.namespace.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldspec::TransformerConfig;
    use serde_json::json;

    #[test]
    fn rewrites_config_map_volume_after_rename() {
        let mut config_map = Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}),
        );
        config_map.store_previous_id();
        config_map.set_metadata_str("name", "cm-abc");
        let deployment = Resource::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}}}),
        );
        let mut resources = vec![config_map, deployment];
        fix_name_references(
            &mut resources,
            &TransformerConfig::defaults().name_reference,
            &Budget::new(None),
        )
        .unwrap();
        assert_eq!(
            resources[1].object["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
            "cm-abc"
        );
    }
}
