//! The `kustomization.yaml` file: its fields (kustomize's `types.Kustomization`) and the fix-ups
//! kustomize applies to deprecated ones.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::fieldspec::FieldSpec;
use super::limits::Budget;

/// A kustomization (or component) file as written; deprecated fields are folded into their
/// replacements by [`Kustomization::fix_deprecated`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Kustomization {
    pub kind: String,
    pub resources: Vec<String>,
    pub bases: Vec<String>,
    pub components: Vec<String>,
    pub namespace: String,
    pub name_prefix: String,
    pub name_suffix: String,
    pub common_labels: BTreeMap<String, Value>,
    pub labels: Vec<Label>,
    pub common_annotations: BTreeMap<String, Value>,
    pub images: Vec<Image>,
    pub image_tags: Vec<Image>,
    pub replicas: Vec<Replica>,
    pub patches: Vec<Patch>,
    pub patches_strategic_merge: Vec<String>,
    pub patches_json6902: Vec<Patch>,
    pub config_map_generator: Vec<GeneratorArgs>,
    pub secret_generator: Vec<GeneratorArgs>,
    pub generator_options: Option<GeneratorOptions>,
    pub replacements: Vec<ReplacementEntry>,
    pub transformers: Vec<String>,
    pub generators: Vec<String>,
    pub validators: Vec<String>,
    pub configurations: Vec<String>,
    pub crds: Vec<String>,
    pub helm_charts: Vec<Value>,
    pub helm_chart_inflation_generator: Vec<Value>,
    pub vars: Vec<super::vars::Var>,
    pub sort_options: Option<Value>,
    pub build_metadata: Vec<String>,
    pub openapi: BTreeMap<String, Value>,
}

/// One entry of `labels`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Label {
    pub pairs: BTreeMap<String, Value>,
    pub include_selectors: bool,
    pub include_templates: bool,
    pub include_volume_claim_templates: bool,
    pub fields: Vec<FieldSpec>,
}

/// One entry of `images`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Image {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub tag_suffix: String,
    pub digest: String,
}

/// One entry of `replicas`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// A patch of `patches` or `patchesJson6902`: a file or inline text, and an optional target.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Patch {
    pub path: String,
    pub patch: String,
    pub target: Option<Selector>,
}

/// Which resources a patch or replacement applies to; empty fields match anything; `name`,
/// `namespace`, `kind` and the others are anchored regular expressions (kustomize's `Selector`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Selector {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
}

/// One entry of `configMapGenerator` or `secretGenerator`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeneratorArgs {
    pub name: String,
    pub namespace: String,
    pub behavior: String,
    pub files: Vec<String>,
    pub literals: Vec<String>,
    pub envs: Vec<String>,
    pub env: String,
    pub options: Option<GeneratorOptions>,
    #[serde(rename = "type")]
    pub secret_type: String,
}

/// `generatorOptions`, or the `options` of one generator.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeneratorOptions {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

/// One entry of `replacements`: inline, or a file of replacements at `path`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReplacementEntry {
    pub path: String,
    #[serde(flatten)]
    pub inline: Value,
}

/// The Kubernetes version of kustomize's built-in OpenAPI schema (kyaml's `DefaultOpenAPI`).
const BUILTIN_OPENAPI_VERSION: &str = "v1.21.2";

/// The top-level fields of a kustomization, as spelled in kustomize's `types.Kustomization`.
const FIELD_NAMES: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "imageTags",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "replacements",
    "transformers",
    "generators",
    "validators",
    "configurations",
    "crds",
    "helmCharts",
    "helmChartInflationGenerator",
    "helmGlobals",
    "vars",
    "sortOptions",
    "buildMetadata",
    "openapi",
];

/// Renames top-level keys that differ from a field name only by case to that field, as Go's
/// `encoding/json` (which kustomize reads the file with) matches field names.
fn match_field_names_ignoring_case(value: &mut Value) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    let misspelled: Vec<(String, &str)> = map
        .keys()
        .filter(|key| !FIELD_NAMES.contains(&key.as_str()))
        .filter_map(|key| {
            let field = FIELD_NAMES
                .iter()
                .find(|field| field.eq_ignore_ascii_case(key))?;
            Some((key.clone(), *field))
        })
        .collect();
    for (key, field) in misspelled {
        if let Some(child) = map.remove(&key) {
            map.entry(field.to_string()).or_insert(child);
        }
    }
}

impl Kustomization {
    /// Parses a kustomization file's text (field names matched ignoring case, as kustomize
    /// does), its aliases charged to `budget`. Errors with the YAML or field-type problem, or
    /// the [`limits`](super::limits) exceeded.
    pub fn parse(text: &str, budget: &Budget) -> Result<Self, String> {
        let value = super::yaml::parse_document(text, budget)?;
        let mut value = if value.is_null() {
            Value::Object(Default::default())
        } else {
            value
        };
        match_field_names_ignoring_case(&mut value);
        let mut kustomization: Self =
            serde_json::from_value(value).map_err(|error| error.to_string())?;
        kustomization.fix_deprecated();
        Ok(kustomization)
    }

    /// Folds deprecated fields into their replacements, as kustomize's `FixKustomization`:
    /// `bases` join `resources`, `imageTags` join `images`.
    fn fix_deprecated(&mut self) {
        self.resources.append(&mut self.bases);
        self.images.append(&mut self.image_tags);
    }

    /// Checks `openapi`: kustomize v5.8 has one built-in schema (Kubernetes v1.21.2) and errors
    /// when another version is asked for, or a version together with a custom schema `path`.
    pub fn check_openapi(&self) -> Result<(), String> {
        let Some(version) = self.openapi.get("version") else {
            return Ok(());
        };
        if self.openapi.contains_key("path") {
            return Err("builtin version and custom schema provided, cannot use both".to_string());
        }
        if version.as_str() != Some(BUILTIN_OPENAPI_VERSION) {
            return Err("the specified OpenAPI version is not built in".to_string());
        }
        Ok(())
    }

    /// Whether this file is a `Component`.
    pub fn is_component(&self) -> bool {
        self.kind == "Component"
    }

    /// The first field Sluice refuses (helm charts), as an error message.
    pub fn unsupported_field(&self) -> Option<&'static str> {
        if !self.helm_charts.is_empty() || !self.helm_chart_inflation_generator.is_empty() {
            return Some(
                "helmCharts are not supported (as in Flux, which runs kustomize without --enable-helm)",
            );
        }
        None
    }
}

/// A scalar label or annotation value as a string, as kustomize reads `commonLabels: {a: 1}`.
pub fn scalar_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
