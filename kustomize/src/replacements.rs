//! `replacements`: copy a field of one resource into fields of others (kustomize's
//! `ReplacementTransformer`).

use serde::Deserialize;
use serde_json::Value;

use super::error::{Error, StepResult};
use super::kustomization::{ReplacementEntry, Selector};
use super::limits::Budget;
use super::loader::Loader;
use super::patches::selector::select;
use super::resource::Resource;

/// One replacement: a source field and where it goes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Replacement {
    pub source: Source,
    pub targets: Vec<Target>,
}

/// The resource and field a replacement copies from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Source {
    #[serde(flatten)]
    pub selector: Selector,
    pub field_path: String,
    pub options: Options,
}

/// Resources and fields a replacement writes to.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target {
    pub select: Selector,
    pub reject: Vec<Selector>,
    pub field_paths: Vec<String>,
    pub options: Options,
}

/// Delimiter and index to replace part of a value; whether to create missing fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Options {
    pub delimiter: String,
    pub index: i64,
    pub create: bool,
}

/// Reads the `replacements` entries: inline ones, and files of replacements (`path`).
pub fn load(loader: &Loader, entries: &[ReplacementEntry]) -> Result<Vec<Replacement>, Error> {
    let mut replacements = Vec::new();
    for entry in entries {
        if entry.path.is_empty() {
            let replacement =
                serde_json::from_value(entry.inline.clone()).map_err(|error| Error::Malformed {
                    path: loader.root().to_path_buf(),
                    message: error.to_string(),
                })?;
            replacements.push(replacement);
            continue;
        }
        let (path, text) = loader.read(&entry.path)?;
        let malformed = |message: String| Error::Malformed {
            path: path.clone(),
            message,
        };
        for document in super::yaml::parse_documents(&text, loader.budget()).map_err(malformed)? {
            let items = if let Value::Array(items) = document {
                items
            } else {
                vec![document]
            };
            for item in items {
                replacements.push(
                    serde_json::from_value(item).map_err(|error| malformed(error.to_string()))?,
                );
            }
        }
    }
    Ok(replacements)
}

/// Applies every replacement in order, stopping when `budget`'s deadline has passed. Errors
/// when a source selects no or several resources, or its field is missing, or a target field
/// is missing and not to be created; or when a copy would pass the
/// [`limits`](super::limits) (each value written is charged to `budget`, see
/// [`Budget::charge_insertion`]: replacements chained through each other double a resource
/// at every step).
pub fn apply(
    resources: &mut [Resource],
    replacements: &[Replacement],
    budget: &Budget,
) -> StepResult<()> {
    for replacement in replacements {
        if budget.expired() {
            return Err("build deadline exceeded".to_string());
        }
        let value = source_value(resources, &replacement.source)?;
        for target in &replacement.targets {
            apply_target(resources, target, &value, budget)?;
        }
    }
    Ok(())
}

fn source_value(resources: &[Resource], source: &Source) -> StepResult<Value> {
    let selected = select(resources, &source.selector)?;
    let [index] = selected.as_slice() else {
        return Err(format!(
            "{} resources selected by replacement source {:?}; expected exactly one",
            selected.len(),
            source.selector
        ));
    };
    let path = if source.field_path.is_empty() {
        "metadata.name"
    } else {
        &source.field_path
    };
    let mut object = resources[*index].object.clone();
    let mut found = None;
    visit(&mut object, &split_field_path(path), false, &mut |value| {
        found = Some(value.clone())
    })?;
    let value = found.ok_or_else(|| {
        format!(
            "fieldPath `{path}` is missing for replacement source {}",
            resources[*index].current_id().describe()
        )
    })?;
    match (&value, source.options.delimiter.as_str()) {
        (Value::String(text), delimiter) if !delimiter.is_empty() => {
            let parts: Vec<&str> = text.split(delimiter).collect();
            let part = usize::try_from(source.options.index)
                .ok()
                .and_then(|index| parts.get(index));
            part.map(|part| Value::String(part.to_string()))
                .ok_or_else(|| "options.index out of bounds for replacement source".to_string())
        }
        _ => Ok(value),
    }
}

fn apply_target(
    resources: &mut [Resource],
    target: &Target,
    value: &Value,
    budget: &Budget,
) -> StepResult<()> {
    let selected = select(resources, &target.select)?;
    for index in selected {
        let rejected = target.reject.iter().any(|reject| {
            select(&resources[index..=index], reject).is_ok_and(|hit| !hit.is_empty())
        });
        if rejected {
            continue;
        }
        for path in &target.field_paths {
            let mut hit = false;
            let segments = split_field_path(path);
            let mut refused = None;
            visit(
                &mut resources[index].object,
                &segments,
                target.options.create,
                &mut |field| {
                    hit = true;
                    let written = replaced(field, value, &target.options);
                    match budget.charge_insertion(&written, segments.len(), true) {
                        Ok(()) => *field = written,
                        Err(message) => refused = Some(message),
                    }
                },
            )?;
            if let Some(message) = refused {
                return Err(message);
            }
            if !hit && !target.options.create {
                return Err(format!(
                    "unable to find field \"{path}\" in replacement target {}",
                    resources[index].current_id().describe()
                ));
            }
        }
    }
    Ok(())
}

fn replaced(current: &Value, value: &Value, options: &Options) -> Value {
    let (Value::String(text), false) = (current, options.delimiter.is_empty()) else {
        return value.clone();
    };
    let mut parts: Vec<String> = text
        .split(options.delimiter.as_str())
        .map(str::to_string)
        .collect();
    let replacement = super::kustomization::scalar_string(value);
    match usize::try_from(options.index) {
        Ok(index) if index < parts.len() => parts[index] = replacement,
        Ok(_) => parts.push(replacement),
        Err(_) => parts.insert(0, replacement),
    }
    Value::String(parts.join(&options.delimiter))
}

/// The value at a kyaml field path (`spec.ports[0].port`, `spec.containers.[name=web].image`)
/// of `object`, as kyaml's `RNode.GetFieldValue` reads it; None when the path reaches nothing.
pub fn field_value(object: &Value, path: &str) -> Option<Value> {
    let segments: Vec<String> = split_field_path(path)
        .into_iter()
        .flat_map(split_slice_index)
        .collect();
    let mut copy = object.clone();
    let mut found = None;
    visit(&mut copy, &segments, false, &mut |value| {
        found = Some(value.clone())
    })
    .ok()?;
    found
}

/// kyaml's `convertSliceIndex`: `ports[0]` is the field `ports`, then item `0`.
fn split_slice_index(segment: String) -> Vec<String> {
    let indexed = segment
        .strip_suffix(']')
        .and_then(|rest| rest.rsplit_once('['))
        .filter(|(_, index)| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
        .map(|(field, index)| (field.to_string(), index.to_string()));
    match indexed {
        Some((field, index)) if field.is_empty() => vec![index],
        Some((field, index)) => vec![field, index],
        None => vec![segment],
    }
}

/// Splits a kyaml field path on dots outside brackets: `a.[name=x].b` → `a`, `[name=x]`, `b`.
fn split_field_path(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    for character in path.chars() {
        match character {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                segments.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(character);
    }
    segments.push(current);
    segments
        .into_iter()
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// Calls `found` on each field `segments` reach: `[key=value]` picks list items, `*` every item
/// or field, `[key]` or `key` a map field. Creates missing map fields when `create`.
fn visit(
    value: &mut Value,
    segments: &[String],
    create: bool,
    found: &mut dyn FnMut(&mut Value),
) -> StepResult<()> {
    let Some((first, rest)) = segments.split_first() else {
        found(value);
        return Ok(());
    };
    if let Some((key, wanted)) = first
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|s| s.split_once('='))
    {
        for item in value.as_array_mut().into_iter().flatten() {
            if item
                .get(key)
                .map(super::kustomization::scalar_string)
                .as_deref()
                == Some(wanted)
            {
                visit(item, rest, create, found)?;
            }
        }
        return Ok(());
    }
    if first == "*" {
        match value {
            Value::Array(items) => items
                .iter_mut()
                .try_for_each(|item| visit(item, rest, create, found))?,
            Value::Object(map) => map
                .values_mut()
                .try_for_each(|item| visit(item, rest, create, found))?,
            _ => {}
        }
        return Ok(());
    }
    let key = first.trim_start_matches('[').trim_end_matches(']');
    if let (Value::Array(items), Ok(index)) = (&mut *value, key.parse::<usize>()) {
        return match items.get_mut(index) {
            Some(item) => visit(item, rest, create, found),
            None => Ok(()),
        };
    }
    match value {
        Value::Object(map) => match map.get_mut(key) {
            Some(child) => visit(child, rest, create, found),
            None if create => {
                let initial = if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Default::default())
                };
                visit(
                    map.entry(key.to_string()).or_insert(initial),
                    rest,
                    create,
                    found,
                )
            }
            None => Ok(()),
        },
        Value::Null if create => {
            *value = Value::Object(Default::default());
            visit(value, segments, create, found)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn copies_a_field_into_selected_containers() {
        let mut resources = vec![
            Resource::new(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "nginx:2"}}),
            ),
            Resource::new(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}),
            ),
        ];
        let replacement: Replacement = serde_json::from_value(json!({
            "source": {"kind": "ConfigMap", "name": "c", "fieldPath": "data.image"},
            "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.[name=web].image"]}]
        })).unwrap();
        apply(&mut resources, &[replacement], &Budget::new(None)).unwrap();
        assert_eq!(
            resources[1].object["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
    }
}
