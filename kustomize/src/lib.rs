//! A kustomize engine that builds overlays as `kustomize build` v5 does, safe to run in parallel.
//!
//! [`build`] reads a kustomization directory and returns its resources; [`build_yaml`] prints
//! them as `kustomize build` does. Nothing here is global: builds share no state, so any number
//! may run at once. Remote bases, helm charts and exec or container plugins are refused.
//!
//! Split by concept: [`loader`] (files, root restriction, cycles), `kustomization` (the file),
//! `resources_file`, `generators` and `hash`, `transformers`, `patches`, `name_reference`,
//! `replacements`, `vars` (deprecated, still built), `target` (the order kustomize runs them
//! in), `resolve` (what go-yaml reads a plain scalar as), `yaml` (input) and `emit` (output,
//! byte for byte as kustomize prints it). [`substitute`] is Flux's `postBuild` variable substitution over
//! built objects.

mod builtin_configs;
mod emit;
mod error;
mod fieldspec;
mod generators;
mod hash;
mod kustomization;
mod loader;
mod name_reference;
mod ordering;
mod patches;
mod replacements;
mod resolve;
mod resource;
mod resources_file;
mod target;
mod transformers;
mod vars;
mod yaml;

pub mod substitute;

use std::path::Path;

use serde_json::Value;

pub use error::Error;

use loader::Loader;
use target::{Accumulator, Target};

/// The annotation that keeps a resource out of the build output (kustomize's local config).
const LOCAL_CONFIG_ANNOTATION: &str = "config.kubernetes.io/local-config";

/// Builds the kustomization in `dir` as `kustomize build dir` does (load restrictions "root
/// only", no plugins): returns the resources, in kustomize's output order (input order).
/// When `boundary` is set, no file or base outside it is read (for Flux sources: the artifact
/// root). Errors with [`Error`], naming the file at fault.
pub fn build(dir: &Path, boundary: Option<&Path>) -> Result<Vec<Value>, Error> {
    let target = Target::load(Loader::new(dir, boundary)?)?;
    target
        .kustomization
        .check_openapi()
        .map_err(|message| Error::build(&target.file, message))?;
    let mut accumulator = target.accumulate(Accumulator::new())?;
    let resources = &mut accumulator.resources;
    for resource in resources.iter_mut().filter(|resource| resource.needs_hash) {
        let suffix = hash::content_hash(&resource.object);
        let name = format!("{}-{suffix}", resource.name());
        resource.store_previous_id();
        resource.set_metadata_str("name", &name);
    }
    name_reference::fix_name_references(resources, &accumulator.config.name_reference)
        .map_err(|message| Error::build(&target.file, message))?;
    vars::resolve_vars(
        resources,
        &accumulator.vars,
        &accumulator.config.var_reference,
    )
    .map_err(|message| Error::build(&target.file, message))?;
    let sort_options = target
        .kustomization
        .sort_options
        .clone()
        .map(serde_json::from_value)
        .transpose();
    let sort_options: Option<ordering::SortOptions> =
        sort_options.map_err(|error| Error::Malformed {
            path: target.file.clone(),
            message: error.to_string(),
        })?;
    ordering::sort(resources, sort_options.as_ref());
    Ok(accumulator
        .resources
        .into_iter()
        .map(|resource| resource.object)
        .filter(|object| {
            object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(LOCAL_CONFIG_ANNOTATION))
                .and_then(Value::as_str)
                != Some("true")
        })
        .collect())
}

/// Builds `dir` (see [`build`]) and prints the result as `kustomize build` does: each resource
/// as YAML with sorted keys, documents joined by `---`.
pub fn build_yaml(dir: &Path, boundary: Option<&Path>) -> Result<String, Error> {
    Ok(yaml::to_yaml_stream(&build(dir, boundary)?))
}

/// Prints resources as `kustomize build` does (see [`build_yaml`]).
pub fn to_yaml(resources: &[Value]) -> String {
    yaml::to_yaml_stream(resources)
}
