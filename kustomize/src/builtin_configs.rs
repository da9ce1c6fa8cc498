//! Built-in transformer and generator configurations listed under `transformers:` and
//! `generators:` (`apiVersion: builtin`, `kind: LabelTransformer`, ...). Exec and container
//! plugins (any other apiVersion) are refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::Error;
use super::fieldspec::FieldSpec;
use super::generators::{self, GeneratedKind};
use super::kustomization::{GeneratorArgs, Image, Replica, Selector};
use super::loader::{Entry, Loader};
use super::patches::{self, PatchBody};
use super::target::{Accumulator, Target};
use super::transformers::{images, metadata_maps, names, namespace, replicas};

/// The configuration objects an entry of `transformers:` or `generators:` names: inline YAML,
/// a file, or a kustomization directory whose build yields them.
pub fn load_configs(loader: &Loader, entry: &str) -> Result<Vec<Value>, Error> {
    let malformed = |message: String| Error::Malformed {
        path: loader.root().to_path_buf(),
        message,
    };
    if entry.contains('\n') || entry.contains(": ") {
        return super::yaml::parse_documents(entry, loader.budget()).map_err(malformed);
    }
    match loader.entry(entry)? {
        Entry::File(path, text) => super::yaml::parse_documents(&text, loader.budget())
            .map_err(|message| Error::Malformed { path, message }),
        Entry::Directory(dir) => {
            let built = Target::load(loader.child(&dir)?)?.accumulate(Accumulator::new())?;
            Ok(built
                .resources
                .into_iter()
                .map(|resource| resource.object)
                .collect())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Config {
    labels: BTreeMap<String, Value>,
    annotations: BTreeMap<String, Value>,
    field_specs: Vec<FieldSpec>,
    prefix: String,
    suffix: String,
    unset_only: bool,
    image_tag: Image,
    replica: Replica,
    patch: String,
    path: String,
    paths: Vec<String>,
    patches: String,
    json_op: String,
    target: Option<Selector>,
    replacements: Vec<super::kustomization::ReplacementEntry>,
}

fn parse<T: DeserializeOwned>(loader: &Loader, config: &Value) -> Result<T, Error> {
    serde_json::from_value(config.clone()).map_err(|error| Error::Malformed {
        path: loader.root().to_path_buf(),
        message: error.to_string(),
    })
}

fn kind_of(loader: &Loader, config: &Value) -> Result<String, Error> {
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = config
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if api_version != "builtin" && !api_version.is_empty() {
        return Err(Error::Unsupported {
            path: loader.root().to_path_buf(),
            message: format!(
                "plugin {api_version}/{kind} is not supported: only built-in transformers and generators are"
            ),
        });
    }
    Ok(kind)
}

/// Runs one built-in generator configuration (`ConfigMapGenerator`, `SecretGenerator`).
pub fn run_generator(
    loader: &Loader,
    config: &Value,
    accumulator: &mut Accumulator,
) -> Result<(), Error> {
    let kind = match kind_of(loader, config)?.as_str() {
        "ConfigMapGenerator" => GeneratedKind::ConfigMap,
        "SecretGenerator" => GeneratedKind::Secret,
        other => return Err(unsupported(loader, other)),
    };
    let mut args: GeneratorArgs = parse(loader, config)?;
    args.name = config
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    args.namespace = config
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let generated = generators::generate(loader, kind, &args, None)?;
    generators::absorb(&mut accumulator.resources, generated)
        .map_err(|message| build_error(loader, message))
}

fn unsupported(loader: &Loader, kind: &str) -> Error {
    Error::Unsupported {
        path: loader.root().to_path_buf(),
        message: format!("built-in plugin '{kind}' is not supported here"),
    }
}

fn build_error(loader: &Loader, message: String) -> Error {
    Error::build(loader.root(), message)
}

/// Runs one built-in transformer configuration on the accumulated resources.
pub fn run_transformer(
    loader: &Loader,
    config: &Value,
    accumulator: &mut Accumulator,
) -> Result<(), Error> {
    let kind = kind_of(loader, config)?;
    let settings: Config = parse(loader, config)?;
    let resources = &mut accumulator.resources;
    let fail = |message: String| {
        let deadline = loader.budget().check(loader.root());
        deadline
            .err()
            .unwrap_or_else(|| build_error(loader, message))
    };
    match kind.as_str() {
        "LabelTransformer" => {
            metadata_maps::add_pairs(resources, &strings(&settings.labels), &settings.field_specs)
                .map_err(fail)
        }
        "AnnotationsTransformer" => metadata_maps::add_pairs(
            resources,
            &strings(&settings.annotations),
            &settings.field_specs,
        )
        .map_err(fail),
        "NamespaceTransformer" => {
            let target = config
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            namespace::set_namespace(
                resources,
                target,
                &settings.field_specs,
                settings.unset_only,
            )
            .map_err(fail)
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            if !settings.prefix.is_empty() {
                names::add_affix(
                    resources,
                    names::Affix::Prefix,
                    &settings.prefix,
                    &settings.field_specs,
                )
                .map_err(fail)?;
            }
            if !settings.suffix.is_empty() {
                names::add_affix(
                    resources,
                    names::Affix::Suffix,
                    &settings.suffix,
                    &settings.field_specs,
                )
                .map_err(fail)?;
            }
            Ok(())
        }
        "ImageTagTransformer" => {
            images::set_images(resources, &settings.image_tag, &settings.field_specs).map_err(fail)
        }
        "ReplicaCountTransformer" => replicas::set_replicas(
            resources,
            &settings.replica.name,
            settings.replica.count,
            &settings.field_specs,
        )
        .map_err(fail),
        "PatchTransformer" => {
            let body = patch_body(loader, &settings.path, &settings.patch)?;
            patches::apply_patch(resources, &body, settings.target.as_ref(), loader.budget())
                .map_err(fail)
        }
        "PatchJson6902Transformer" => {
            let body = patch_body(loader, &settings.path, &settings.json_op)?;
            patches::apply_json6902(
                resources,
                &body,
                &settings.target.clone().unwrap_or_default(),
                loader.budget(),
            )
            .map_err(fail)
        }
        "PatchStrategicMergeTransformer" => {
            let mut bodies = Vec::new();
            for path in &settings.paths {
                bodies.push(patch_body(loader, path, "")?);
            }
            if !settings.patches.is_empty() {
                bodies.push(patch_body(loader, "", &settings.patches)?);
            }
            bodies
                .iter()
                .try_for_each(|body| patches::apply_patch(resources, body, None, loader.budget()))
                .map_err(fail)
        }
        "ReplacementTransformer" => {
            let list = super::replacements::load(loader, &settings.replacements)?;
            super::replacements::apply(resources, &list, loader.budget()).map_err(fail)
        }
        other => Err(unsupported(loader, other)),
    }
}

fn patch_body(loader: &Loader, path: &str, text: &str) -> Result<PatchBody, Error> {
    let (file, content) = if text.is_empty() {
        loader.read(path)?
    } else {
        (loader.root().to_path_buf(), text.to_string())
    };
    patches::parse_patch(&content, loader.budget()).map_err(|message| Error::Malformed {
        path: file,
        message,
    })
}

fn strings(pairs: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.clone(), super::kustomization::scalar_string(value)))
        .collect()
}
