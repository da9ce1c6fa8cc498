//! The `kustomization.yaml` file: its fields (kustomize's `types.Kustomization`) and the fix-ups
//! kustomize applies to deprecated ones.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::fieldspec::FieldSpec;

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
    pub vars: Vec<Value>,
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

impl Kustomization {
    /// Parses a kustomization file's text. Errors with the YAML or field-type problem.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value = super::yaml::parse_document(text)?;
        let value = if value.is_null() {
            Value::Object(Default::default())
        } else {
            value
        };
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

    /// Whether this file is a `Component`.
    pub fn is_component(&self) -> bool {
        self.kind == "Component"
    }

    /// The first field Sluice refuses (helm charts, vars), as an error message.
    pub fn unsupported_field(&self) -> Option<&'static str> {
        if !self.helm_charts.is_empty() || !self.helm_chart_inflation_generator.is_empty() {
            return Some(
                "helmCharts are not supported (as in Flux, which runs kustomize without --enable-helm)",
            );
        }
        if !self.vars.is_empty() {
            return Some("vars are not supported (deprecated in kustomize v5): use replacements");
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
