//! `configMapGenerator` and `secretGenerator`: ConfigMaps and Secrets made from files, literals
//! and env files, and how they meet resources of the same name (behavior create, merge, replace).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::error::{Error, StepResult};
use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::loader::Loader;
use super::resource::{Behavior, Resource, metadata_mut};

/// Which object a generator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratedKind {
    ConfigMap,
    Secret,
}

/// Makes the ConfigMap or Secret of one generator entry, reading its files through `loader`;
/// `global` is the kustomization's `generatorOptions`. Errors on unreadable files, malformed
/// literals or env lines, duplicate keys, or an unknown behavior.
pub fn generate(
    loader: &Loader,
    kind: GeneratedKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
) -> Result<Resource, Error> {
    let malformed = |message: String| Error::Malformed {
        path: loader.root().to_path_buf(),
        message,
    };
    let pairs = collect_pairs(loader, args)?;
    let mut data = Map::new();
    for (key, value) in pairs {
        if data.contains_key(&key) {
            return Err(malformed(format!(
                "configmap/secret {}: duplicate key '{key}'",
                args.name
            )));
        }
        let value = match kind {
            GeneratedKind::ConfigMap => value,
            GeneratedKind::Secret => base64(value.as_bytes()),
        };
        data.insert(key, Value::String(value));
    }
    let options = merged_options(global, args.options.as_ref());
    let mut object = match kind {
        GeneratedKind::ConfigMap => json!({"apiVersion": "v1", "kind": "ConfigMap"}),
        GeneratedKind::Secret => {
            let secret_type = if args.secret_type.is_empty() {
                "Opaque"
            } else {
                &args.secret_type
            };
            json!({"apiVersion": "v1", "kind": "Secret", "type": secret_type})
        }
    };
    if !data.is_empty() {
        object["data"] = Value::Object(data);
    }
    if options.immutable == Some(true) {
        object["immutable"] = json!(true);
    }
    let metadata = metadata_mut(&mut object);
    metadata.insert("name".into(), json!(args.name));
    if !args.namespace.is_empty() {
        metadata.insert("namespace".into(), json!(args.namespace));
    }
    for (field, pairs) in [
        ("labels", &options.labels),
        ("annotations", &options.annotations),
    ] {
        if !pairs.is_empty() {
            metadata.insert(field.into(), json!(pairs));
        }
    }
    let mut resource = Resource::new(object);
    resource.needs_hash = options.disable_name_suffix_hash != Some(true);
    resource.behavior = Some(parse_behavior(&args.behavior).map_err(malformed)?);
    Ok(resource)
}

fn parse_behavior(text: &str) -> StepResult<Behavior> {
    match text {
        "" | "create" => Ok(Behavior::Create),
        "merge" => Ok(Behavior::Merge),
        "replace" => Ok(Behavior::Replace),
        other => Err(format!("unknown generator behavior '{other}'")),
    }
}

fn merged_options(
    global: Option<&GeneratorOptions>,
    local: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut options = global.cloned().unwrap_or_default();
    if let Some(local) = local {
        options.labels.extend(local.labels.clone());
        options.annotations.extend(local.annotations.clone());
        if local.disable_name_suffix_hash.is_some() {
            options.disable_name_suffix_hash = local.disable_name_suffix_hash;
        }
        if local.immutable.is_some() {
            options.immutable = local.immutable;
        }
    }
    options
}

/// The key/value pairs of a generator, in kustomize's order: env files, literals, files.
fn collect_pairs(loader: &Loader, args: &GeneratorArgs) -> Result<Vec<(String, String)>, Error> {
    let malformed = |message: String| Error::Malformed {
        path: loader.root().to_path_buf(),
        message,
    };
    let mut pairs = Vec::new();
    let env_files = args
        .envs
        .iter()
        .chain(std::iter::once(&args.env).filter(|env| !env.is_empty()));
    for env_file in env_files {
        let (path, text) = loader.read(env_file)?;
        let parsed = parse_env_file(&text).map_err(|message| Error::Malformed { path, message })?;
        pairs.extend(parsed);
    }
    for literal in &args.literals {
        pairs.push(parse_literal(literal).map_err(malformed)?);
    }
    for file in &args.files {
        let (key, relative) = match file.split_once('=') {
            Some((key, relative)) => (key.to_string(), relative),
            None => (
                file.rsplit('/').next().unwrap_or(file).to_string(),
                file.as_str(),
            ),
        };
        let (_, text) = loader.read(relative)?;
        pairs.push((key, text));
    }
    Ok(pairs)
}

/// Parses a `KEY=VALUE` literal; surrounding matching quotes of the value are dropped.
fn parse_literal(literal: &str) -> StepResult<(String, String)> {
    let Some((key, value)) = literal.split_once('=') else {
        return Err(format!(
            "invalid literal source {literal}, expected key=value"
        ));
    };
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|quote| {
            value
                .strip_prefix(*quote)
                .and_then(|rest| rest.strip_suffix(*quote))
                .filter(|_| value.len() >= 2)
        })
        .unwrap_or(value);
    Ok((key.to_string(), unquoted.to_string()))
}

/// Parses an env file: `KEY=VALUE` lines, blank lines and `#` comments skipped.
fn parse_env_file(text: &str) -> StepResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (number, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: missing '=' in '{line}'", number + 1));
        };
        if key.contains(char::is_whitespace) {
            return Err(format!("line {}: key '{key}' has whitespace", number + 1));
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let bits = u32::from(triple[0]) << 16 | u32::from(triple[1]) << 8 | u32::from(triple[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(bits >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Adds a generated resource to `resources` following its behavior, as kustomize's
/// `appendReplaceOrMerge`: `create` appends (an existing id is an error), `merge` merges data,
/// labels and annotations into the existing one, `replace` replaces it keeping its name.
pub fn absorb(resources: &mut Vec<Resource>, mut generated: Resource) -> StepResult<()> {
    let id = generated.current_id();
    let position = resources
        .iter()
        .position(|existing| existing.matches_any_id(&id));
    let behavior = generated.behavior.unwrap_or_default();
    match (position, behavior) {
        (None, Behavior::Create) => {
            resources.push(generated);
            Ok(())
        }
        (None, _) => Err(format!(
            "id {} does not exist; cannot merge or replace",
            id.describe()
        )),
        (Some(_), Behavior::Create) => Err(format!(
            "id {} exists; behavior must be merge or replace",
            id.describe()
        )),
        (Some(index), behavior) => {
            let old = &resources[index];
            if behavior == Behavior::Merge {
                for field in ["data", "binaryData"] {
                    merge_maps(&mut generated.object, &old.object, field);
                }
            }
            for field in ["labels", "annotations"] {
                merge_maps(
                    metadata_value(&mut generated.object),
                    old.object.get("metadata").unwrap_or(&Value::Null),
                    field,
                );
            }
            generated.set_metadata_str("name", old.name());
            if old.namespace().is_empty() {
                metadata_mut(&mut generated.object).remove("namespace");
            } else {
                generated.set_metadata_str("namespace", old.namespace());
            }
            generated.previous_ids = old.previous_ids.clone();
            generated.prefixes = old.prefixes.clone();
            generated.suffixes = old.suffixes.clone();
            resources[index] = generated;
            Ok(())
        }
    }
}

fn metadata_value(object: &mut Value) -> &mut Value {
    metadata_mut(object);
    &mut object["metadata"]
}

/// Puts into `target[field]` the entries of `source[field]` it lacks.
fn merge_maps(target: &mut Value, source: &Value, field: &str) {
    let Some(old) = source.get(field).and_then(Value::as_object) else {
        return;
    };
    let mut merged: BTreeMap<String, Value> = old.clone().into_iter().collect();
    if let Some(new) = target.get(field).and_then(Value::as_object) {
        merged.extend(new.iter().map(|(key, value)| (key.clone(), value.clone())));
    }
    if let Some(map) = target.as_object_mut() {
        map.insert(
            field.to_string(),
            Value::Object(merged.into_iter().collect()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals_and_env_files() {
        assert_eq!(
            parse_literal("a=\"b c\"").unwrap(),
            ("a".into(), "b c".into())
        );
        assert_eq!(
            parse_env_file("# c\nA=1\n\nB=x=y\n").unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert!(parse_literal("novalue").is_err());
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b"admin"), "YWRtaW4=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn merge_behavior_keeps_base_data_and_name() {
        let mut base = Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-cm"}, "data": {"a": "1"}}),
        );
        base.previous_ids.push(super::super::resource::ResId {
            gvk: base.gvk(),
            name: "cm".into(),
            namespace: String::new(),
        });
        let mut overlay = Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"b": "2"}}),
        );
        overlay.behavior = Some(Behavior::Merge);
        let mut resources = vec![base];
        absorb(&mut resources, overlay).unwrap();
        assert_eq!(resources[0].object["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(resources[0].name(), "p-cm");
    }
}
