//! `vars` (deprecated since kustomize v5, still built): a named field of one resource whose
//! value replaces `$(NAME)` in the fields the `varReference` field specs select (kustomize's
//! `ResAccumulator.MergeVars` / `ResolveVars` and `filters/refvar`).
//!
//! Each kustomization marks the resource its vars point at once its own transformers ran; the
//! values are read and substituted at the very end of the build, after name prefixes, hash
//! suffixes and name references, so a var holds the final name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::error::StepResult;
use super::fieldspec::{FieldSpec, apply_specs};
use super::replacements::field_value;
use super::resource::{Gvk, ResId, Resource};

/// One entry of `vars`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    pub fieldref: FieldRef,
}

/// The resource a var reads (kustomize's `types.Target`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjRef {
    pub api_version: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// The field a var reads; `metadata.name` when unset.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldRef {
    pub fieldpath: String,
}

impl Var {
    fn field_path(&self) -> &str {
        if self.fieldref.fieldpath.is_empty() {
            "metadata.name"
        } else {
            &self.fieldref.fieldpath
        }
    }

    /// The id the var points at: `apiVersion` when set, else `group`/`version`, exactly.
    fn target_id(&self) -> ResId {
        let reference = &self.objref;
        let (group, version) = match reference.api_version.split_once('/') {
            _ if reference.api_version.is_empty() => {
                (reference.group.clone(), reference.version.clone())
            }
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (reference.group.clone(), reference.api_version.clone()),
        };
        ResId {
            gvk: Gvk {
                group,
                version,
                kind: reference.kind.clone(),
            },
            name: reference.name.clone(),
            namespace: reference.namespace.clone(),
        }
    }
}

/// Marks the resource each of `vars` points at (matching any of its ids: exact gvk and name,
/// and namespace when the var sets one), then adds `vars` to `known`. Errors when a var matches
/// several resources, or its name is already known (kustomize's `MergeVars`).
pub fn merge_vars(
    resources: &mut [Resource],
    known: &mut Vec<Var>,
    vars: &[Var],
) -> StepResult<()> {
    for var in vars {
        let target = var.target_id();
        let matches_namespace = !target.namespace.is_empty() || target.gvk.is_cluster_scoped();
        let is_target = |id: &ResId| {
            id.name == target.name
                && id.gvk == target.gvk
                && (!matches_namespace || id.effective_namespace() == target.effective_namespace())
        };
        let matched: Vec<usize> = (0..resources.len())
            .filter(|&index| {
                let resource = &resources[index];
                resource.previous_ids.iter().any(is_target) || is_target(&resource.current_id())
            })
            .collect();
        match matched.as_slice() {
            [] => {}
            [index] => resources[*index].var_names.push(var.name.clone()),
            several => {
                return Err(format!(
                    "found {} resId matches for var {} (unable to disambiguate)",
                    several.len(),
                    var.name
                ));
            }
        }
    }
    merge_var_set(known, vars)
}

/// Adds `incoming` to `known`, refusing a name already there (kustomize's `VarSet.Merge`).
pub fn merge_var_set(known: &mut Vec<Var>, incoming: &[Var]) -> StepResult<()> {
    for var in incoming {
        if known.iter().any(|existing| existing.name == var.name) {
            return Err(format!("var '{}' already encountered", var.name));
        }
        known.push(var.clone());
    }
    Ok(())
}

/// Replaces `$(NAME)` by each var's value in the fields `specs` select (kustomize's
/// `ResolveVars`). Errors when a var's resource or field cannot be found, or a selected list
/// holds something other than strings.
pub fn resolve_vars(
    resources: &mut [Resource],
    vars: &[Var],
    specs: &[FieldSpec],
) -> StepResult<()> {
    let mut values = BTreeMap::new();
    for var in vars {
        values.insert(var.name.clone(), var_value(resources, var)?);
    }
    if values.is_empty() {
        return Ok(());
    }
    for resource in resources.iter_mut() {
        apply_specs(resource, specs, &mut |field| {
            substitute_field(field, &values)
        })?;
    }
    Ok(())
}

fn var_value(resources: &[Resource], var: &Var) -> StepResult<Value> {
    let resource = resources
        .iter()
        .find(|resource| resource.var_names.contains(&var.name))
        .ok_or_else(|| {
            format!(
                "var '{}' cannot be mapped to a field in the set of known resources",
                var.name
            )
        })?;
    field_value(&resource.object, var.field_path()).ok_or_else(|| {
        format!(
            "field specified in var '{}' not found in corresponding resource",
            var.name
        )
    })
}

/// Substitutes in a selected field: a string, each string value of a map, or each item of a
/// list of strings (kustomize's `refvar.Filter`).
fn substitute_field(field: &mut Value, values: &BTreeMap<String, Value>) -> StepResult<()> {
    match field {
        Value::String(text) => *field = substitute(text, values),
        Value::Object(map) => {
            for value in map.values_mut() {
                if let Value::String(text) = value {
                    *value = substitute(text, values);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let Value::String(text) = item else {
                    return Err("invalid value type expect a string".to_string());
                };
                *item = substitute(text, values);
            }
        }
        _ => {}
    }
    Ok(())
}

/// kustomize's `refvar.DoReplacements`: `$(NAME)` becomes the var's value (keeping its type
/// when it is the whole text), `$$` becomes `$`, unknown names and non-scalar values stay.
fn substitute(input: &str, values: &BTreeMap<String, Value>) -> Value {
    let mut output = String::new();
    let mut rest = input;
    while let Some(position) = rest.find('$') {
        let after = &rest[position + 1..];
        if after.is_empty() {
            break;
        }
        output.push_str(&rest[..position]);
        if let Some(stripped) = after.strip_prefix('$') {
            output.push('$');
            rest = stripped;
        } else if let Some((name, remainder)) = after
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
        {
            let mapped = values.get(name).filter(|value| is_primitive(value));
            if input.len() == name.len() + 3 {
                return mapped
                    .cloned()
                    .unwrap_or_else(|| Value::String(input.to_string()));
            }
            match mapped {
                Some(value) => output.push_str(&go_format(value)),
                None => output.push_str(&format!("$({name})")),
            }
            rest = remainder;
        } else {
            let width = after.chars().next().map_or(0, char::len_utf8);
            output.push('$');
            output.push_str(&after[..width]);
            rest = &after[width..];
        }
    }
    output.push_str(rest);
    Value::String(output)
}

fn is_primitive(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Go's `fmt.Sprintf("%v", value)` for a var's value (a string, number or boolean).
fn go_format(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn substitutes_like_kustomize() {
        let values = BTreeMap::from([
            ("A".to_string(), json!("svc")),
            ("P".to_string(), json!(8080)),
            ("M".to_string(), json!({"x": 1})),
        ]);
        assert_eq!(substitute("$(P)", &values), json!(8080));
        assert_eq!(
            substitute("http://$(A):$(P)/$(B) $$(A) $(M) $x $", &values),
            json!("http://svc:8080/$(B) $(A) $(M) $x $")
        );
    }

    #[test]
    fn resolves_a_var_into_selected_fields() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"}});
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"command": ["run", "--db=$(DB)"]}]}});
        let mut resources = vec![Resource::new(service), Resource::new(pod)];
        let var: Var = serde_json::from_value(
            json!({"name": "DB", "objref": {"kind": "Service", "name": "db", "apiVersion": "v1"}}),
        )
        .unwrap();
        let mut known = Vec::new();
        merge_vars(&mut resources, &mut known, std::slice::from_ref(&var)).unwrap();
        assert!(merge_var_set(&mut known, &[var]).is_err());
        let spec = FieldSpec::any_kind("spec/containers/command", false);
        resolve_vars(&mut resources, &known, &[spec]).unwrap();
        assert_eq!(
            resources[1].object["spec"]["containers"][0]["command"],
            json!(["run", "--db=db"])
        );
    }
}
