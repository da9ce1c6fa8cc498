//! A kustomize engine that builds overlays as `kustomize build` v5 does, safe to run in parallel.
//!
//! [`build`] reads a kustomization directory and returns its resources; [`build_yaml`] prints
//! them as `kustomize build` does. Nothing here is global: builds share no state, so any number
//! may run at once. Remote bases, helm charts and exec or container plugins are refused.
//!
//! The files may come from an attacker (a tenant's repository): every figure that bounds what a
//! build may cost (file size, YAML aliases and nesting, substitution) is in [`limits`], and
//! [`build_with`] takes a deadline after which the build stops.
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
pub mod limits;
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
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

pub use error::Error;

use limits::Budget;

use loader::Loader;
use target::{Accumulator, Target};

/// The names kustomize recognises as a kustomization file, in its order (kustomize's
/// `konfig.RecognizedKustomizationFileNames`): a directory holding one of them is a
/// kustomization, and [`build`] refuses a directory holding more than one.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The annotation that keeps a resource out of the build output (kustomize's local config).
const LOCAL_CONFIG_ANNOTATION: &str = "config.kubernetes.io/local-config";

/// How a build runs (see [`build_with`]); the default has no deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// When the build must stop: checked before every file load and every build step (each
    /// resource, generator, component, transformer and patch, and each final pass), so a build
    /// past it returns [`Error::Deadline`] within one step and frees its thread. `None`: no time
    /// limit (the [`limits`] on sizes still apply).
    pub deadline: Option<Instant>,
}

/// Builds the kustomization in `dir` as `kustomize build dir` does (load restrictions "root
/// only", no plugins): returns the resources, in kustomize's output order (input order).
/// When `boundary` is set, no file or base outside it is read (for Flux sources: the artifact
/// root). Errors with [`Error`], naming the file at fault. No deadline: see [`build_with`].
pub fn build(dir: &Path, boundary: Option<&Path>) -> Result<Vec<Value>, Error> {
    build_with(dir, boundary, &BuildOptions::default())
}

/// Builds `dir` as [`build`] does, stopping with [`Error::Deadline`] (naming the file or
/// kustomization it was at) once `options.deadline` has passed. Inputs past the [`limits`] fail
/// with [`Error::Limit`] (file size) or [`Error::Malformed`] (YAML aliases and nesting).
pub fn build_with(
    dir: &Path,
    boundary: Option<&Path>,
    options: &BuildOptions,
) -> Result<Vec<Value>, Error> {
    let budget = Arc::new(Budget::new(options.deadline));
    let target = Target::load(Loader::new(dir, boundary, Arc::clone(&budget))?)?;
    target
        .kustomization
        .check_openapi()
        .map_err(|message| Error::build(&target.file, message))?;
    let mut accumulator = target.accumulate(Accumulator::new())?;
    let resources = &mut accumulator.resources;
    for resource in resources.iter_mut().filter(|resource| resource.needs_hash) {
        budget.check(&target.file)?;
        let suffix = hash::content_hash(&resource.object);
        let name = format!("{}-{suffix}", resource.name());
        resource.store_previous_id();
        resource.set_metadata_str("name", &name);
    }
    budget.check(&target.file)?;
    let fixed =
        name_reference::fix_name_references(resources, &accumulator.config.name_reference, &budget);
    budget.check(&target.file)?;
    fixed.map_err(|message| Error::build(&target.file, message))?;
    budget.check(&target.file)?;
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
    budget.check(&target.file)?;
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
/// as YAML with sorted keys, documents joined by `---`. No deadline: see [`build_yaml_with`].
pub fn build_yaml(dir: &Path, boundary: Option<&Path>) -> Result<String, Error> {
    build_yaml_with(dir, boundary, &BuildOptions::default())
}

/// Builds `dir` with `options` (see [`build_with`]) and prints the result as [`build_yaml`]
/// does. The deadline covers the build, not the printing (linear in the output).
pub fn build_yaml_with(
    dir: &Path,
    boundary: Option<&Path>,
    options: &BuildOptions,
) -> Result<String, Error> {
    Ok(yaml::to_yaml_stream(&build_with(dir, boundary, options)?))
}

/// Prints resources as `kustomize build` does (see [`build_yaml`]).
pub fn to_yaml(resources: &[Value]) -> String {
    yaml::to_yaml_stream(resources)
}
