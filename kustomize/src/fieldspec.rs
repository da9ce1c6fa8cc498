//! Field specs: which field of which kinds a transformer touches (kustomize's `FieldSpec` and
//! `TransformerConfig`), with kustomize's built-in defaults, and the walk that applies them.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::StepResult;
use super::limits::Budget;
use super::resource::{Gvk, Resource};

/// A field path in the resources of a group/version/kind (empty parts match any), and whether
/// the transformer creates the field when it is missing.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: String,
    pub create: bool,
}

/// A kind that other resources refer to by name, and the fields that hold those references.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct NameBackReference {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub field_specs: Vec<FieldSpec>,
}

/// The field specs of every built-in transformer (kustomize's `TransformerConfig`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub volume_claim_template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackReference>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub var_reference: Vec<FieldSpec>,
}

const DEFAULT_FIELD_SPECS: &str = include_str!("default_field_specs.yaml");

impl TransformerConfig {
    /// kustomize's built-in configuration (from `builtinpluginconsts`, kustomize v5.8).
    pub fn defaults() -> Self {
        let value = super::yaml::parse_document(DEFAULT_FIELD_SPECS, &Budget::new(None))
            .unwrap_or(Value::Null);
        serde_json::from_value(value).unwrap_or_default()
    }

    /// Parses a `configurations` file, its aliases charged to `budget`. Errors with the YAML or
    /// shape problem, or the [`limits`](super::limits) exceeded.
    pub fn parse(text: &str, budget: &Budget) -> Result<Self, String> {
        let value = super::yaml::parse_document(text, budget)?;
        let value = if value.is_null() {
            Value::Object(Map::new())
        } else {
            value
        };
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    /// Adds the specs of `other` that this configuration lacks (kustomize's `MergeConfig`).
    pub fn merge(&mut self, other: &TransformerConfig) {
        merge_specs(&mut self.name_prefix, &other.name_prefix);
        merge_specs(&mut self.name_suffix, &other.name_suffix);
        merge_specs(&mut self.common_labels, &other.common_labels);
        merge_specs(&mut self.labels, &other.labels);
        merge_specs(&mut self.template_labels, &other.template_labels);
        merge_specs(
            &mut self.volume_claim_template_labels,
            &other.volume_claim_template_labels,
        );
        merge_specs(&mut self.common_annotations, &other.common_annotations);
        merge_specs(&mut self.namespace, &other.namespace);
        merge_specs(&mut self.images, &other.images);
        merge_specs(&mut self.replicas, &other.replicas);
        merge_specs(&mut self.var_reference, &other.var_reference);
        for reference in &other.name_reference {
            let same_kind = self.name_reference.iter_mut().find(|existing| {
                existing.group == reference.group
                    && existing.version == reference.version
                    && existing.kind == reference.kind
            });
            match same_kind {
                Some(existing) => merge_specs(&mut existing.field_specs, &reference.field_specs),
                None => self.name_reference.push(reference.clone()),
            }
        }
    }
}

/// Appends to `specs` each spec of `more` it does not hold yet.
pub fn merge_specs(specs: &mut Vec<FieldSpec>, more: &[FieldSpec]) {
    for spec in more {
        if !specs
            .iter()
            .any(|existing| existing.path == spec.path && existing.gvk() == spec.gvk())
        {
            specs.push(spec.clone());
        }
    }
}

impl FieldSpec {
    /// A spec for `path` in every kind.
    pub fn any_kind(path: &str, create: bool) -> Self {
        Self {
            path: path.to_string(),
            create,
            ..Self::default()
        }
    }

    /// The gvk selector of this spec.
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }

    /// Whether the spec applies to resources of `gvk`.
    pub fn selects(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.gvk())
    }

    /// The path split in fields: `/` separates, `\/` is a literal slash, `[]` marks a list.
    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field-spec path on unescaped `/`, dropping `[]` list markers.
pub fn split_path(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(character) = chars.next() {
        match character {
            '\\' if chars.peek() == Some(&'/') => {
                current.push('/');
                chars.next();
            }
            '/' => segments.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    segments.push(current);
    segments
        .into_iter()
        .map(|segment| segment.trim_end_matches("[]").to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Calls `apply` on every field of `object` that `segments` reach, descending into every
/// element of lists on the way. A missing field is created (as `Value::Null`, for `apply` to
/// fill) when `create`, and skipped otherwise; intermediate maps are created when `create`.
pub fn walk(
    object: &mut Value,
    segments: &[String],
    create: bool,
    apply: &mut dyn FnMut(&mut Value) -> StepResult<()>,
) -> StepResult<()> {
    let Some((first, rest)) = segments.split_first() else {
        return apply(object);
    };
    match object {
        Value::Array(items) => {
            for item in items {
                walk(item, segments, create, apply)?;
            }
            Ok(())
        }
        Value::Object(map) => match map.get_mut(first.as_str()) {
            Some(Value::Null) if !rest.is_empty() && create => {
                let child = map.entry(first.clone()).or_insert(Value::Null);
                *child = Value::Object(Map::new());
                walk(child, rest, create, apply)
            }
            Some(Value::Null) if !rest.is_empty() => Ok(()),
            Some(child) => walk(child, rest, create, apply),
            None if create => {
                let initial = if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                let child = map.entry(first.clone()).or_insert(initial);
                walk(child, rest, create, apply)?;
                if child.is_null()
                    || child.as_object().is_some_and(Map::is_empty) && !rest.is_empty()
                {
                    map.remove(first.as_str());
                }
                Ok(())
            }
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Applies `apply` to every field of `resource` selected by any of `specs`.
pub fn apply_specs(
    resource: &mut Resource,
    specs: &[FieldSpec],
    apply: &mut dyn FnMut(&mut Value) -> StepResult<()>,
) -> StepResult<()> {
    let gvk = resource.gvk();
    for spec in specs.iter().filter(|spec| spec.selects(&gvk)) {
        walk(&mut resource.object, &spec.segments(), spec.create, apply)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_hold_kustomizes_specs() {
        let config = TransformerConfig::defaults();
        assert!(
            config
                .common_labels
                .iter()
                .any(|spec| spec.path == "spec/selector/matchLabels")
        );
        assert!(
            config
                .name_reference
                .iter()
                .any(|reference| reference.kind == "ConfigMap")
        );
        assert!(!config.images.is_empty());
    }

    #[test]
    fn splits_escaped_slashes() {
        assert_eq!(
            split_path("metadata/annotations/a.io\\/b"),
            vec!["metadata", "annotations", "a.io/b"]
        );
        assert_eq!(
            split_path("spec/containers[]/image"),
            vec!["spec", "containers", "image"]
        );
    }

    #[test]
    fn walks_lists_and_creates_when_asked() {
        let mut object = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        let mut seen = Vec::new();
        walk(
            &mut object,
            &split_path("spec/containers/image"),
            false,
            &mut |value| {
                seen.push(value.clone());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![json!("a"), json!("b")]);
        walk(
            &mut object,
            &split_path("metadata/labels"),
            true,
            &mut |value| {
                *value = json!({"x": "y"});
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(object["metadata"]["labels"], json!({"x": "y"}));
    }
}
