//! One kustomization directory and how it builds (kustomize's `KustTarget`): resources and
//! bases, generators, components, then the built-in transformers in kustomize's order.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use super::builtin_configs;
use super::error::{Error, StepResult};
use super::fieldspec::{FieldSpec, TransformerConfig, merge_specs};
use super::generators::{self, GeneratedKind};
use super::kustomization::{Kustomization, scalar_string};
use super::loader::{Entry, Loader};
use super::patches::{self, PatchBody};
use super::replacements;
use super::resource::{ResId, Resource};
use super::resources_file::parse_resources;
use super::transformers::{images, metadata_maps, names, namespace, replicas};
use super::vars::{Var, merge_var_set, merge_vars};

/// What a kustomization has built so far: its resources and the field specs in force.
pub struct Accumulator {
    pub resources: Vec<Resource>,
    pub config: TransformerConfig,
    /// The `vars` of this kustomization and everything it includes.
    pub vars: Vec<Var>,
}

impl Accumulator {
    /// An empty accumulator with kustomize's default field specs.
    pub fn new() -> Self {
        Self {
            resources: Vec::new(),
            config: TransformerConfig::defaults(),
            vars: Vec::new(),
        }
    }

    /// Appends `added`, refusing an id already present (kustomize's `AppendAll`). Linear in
    /// the resources (the ids are hashed as [`ResId::same_as`] compares them): comparing each
    /// added resource with every present one took minutes for a file of 10,000 resources, one
    /// step that no deadline could interrupt.
    pub fn append(&mut self, added: Vec<Resource>) -> StepResult<()> {
        let key = |id: &ResId| {
            (
                id.gvk.clone(),
                id.name.clone(),
                id.effective_namespace().to_string(),
            )
        };
        let mut present: HashSet<_> = self
            .resources
            .iter()
            .map(|existing| key(&existing.current_id()))
            .collect();
        for resource in added {
            let id = resource.current_id();
            if !present.insert(key(&id)) {
                return Err(format!(
                    "may not add resource with an already registered id: {}",
                    id.describe()
                ));
            }
            self.resources.push(resource);
        }
        Ok(())
    }
}

/// A loaded kustomization file and the loader of its directory.
pub struct Target {
    pub loader: Loader,
    pub file: PathBuf,
    pub kustomization: Kustomization,
}

impl Target {
    /// Loads the kustomization file of `loader`'s directory. Errors when it is missing,
    /// malformed, or uses a field Sluice refuses.
    pub fn load(loader: Loader) -> Result<Self, Error> {
        let (file, text) = loader.kustomization_file()?;
        let kustomization =
            Kustomization::parse(&text, loader.budget()).map_err(|message| Error::Malformed {
                path: file.clone(),
                message,
            })?;
        if let Some(message) = kustomization.unsupported_field() {
            return Err(Error::Unsupported {
                path: file,
                message: message.to_string(),
            });
        }
        Ok(Self {
            loader,
            file,
            kustomization,
        })
    }

    /// Errors with [`Error::Deadline`] naming this kustomization once the build's deadline has
    /// passed: called before each step.
    fn check_deadline(&self) -> Result<(), Error> {
        self.loader.budget().check(&self.file)
    }

    fn fail(&self, message: String) -> Error {
        Error::Build {
            path: self.file.clone(),
            message,
        }
    }

    /// Builds this kustomization on top of `accumulator` (empty for a base, the parent's for a
    /// component), as kustomize's `accumulateTarget`.
    pub fn accumulate(&self, mut accumulator: Accumulator) -> Result<Accumulator, Error> {
        for path in &self.kustomization.resources {
            self.accumulate_resource(&mut accumulator, path)?;
        }
        for path in &self.kustomization.configurations {
            let (file, text) = self.loader.read(path)?;
            let config =
                TransformerConfig::parse(&text, self.loader.budget()).map_err(|message| {
                    Error::Malformed {
                        path: file,
                        message,
                    }
                })?;
            accumulator.config.merge(&config);
        }
        self.run_generators(&mut accumulator)?;
        for path in &self.kustomization.components {
            accumulator = self.accumulate_directory(accumulator, path, true)?;
        }
        self.run_transformers(&mut accumulator)?;
        self.check_deadline()?;
        let Accumulator {
            resources, vars, ..
        } = &mut accumulator;
        merge_vars(resources, vars, &self.kustomization.vars)
            .map_err(|message| self.fail(format!("merging vars: {message}")))?;
        Ok(accumulator)
    }

    fn accumulate_resource(&self, accumulator: &mut Accumulator, path: &str) -> Result<(), Error> {
        match self.loader.entry(path)? {
            Entry::File(file, text) => {
                let resources = parse_resources(&file, &text, self.loader.budget())?;
                accumulator
                    .append(resources)
                    .map_err(|message| self.fail(message))
            }
            Entry::Directory(_) => {
                let built = self.accumulate_directory(Accumulator::new(), path, false)?;
                accumulator.config.merge(&built.config);
                merge_var_set(&mut accumulator.vars, &built.vars)
                    .map_err(|message| self.fail(message))?;
                accumulator
                    .append(built.resources)
                    .map_err(|message| self.fail(message))
            }
        }
    }

    fn accumulate_directory(
        &self,
        accumulator: Accumulator,
        path: &str,
        component: bool,
    ) -> Result<Accumulator, Error> {
        let Entry::Directory(dir) = self.loader.entry(path)? else {
            return Err(self.fail(format!("'{path}' must be a directory")));
        };
        let child = Target::load(self.loader.child(&dir)?)?;
        if component != child.kustomization.is_component() {
            let expected = if component {
                "expected kind 'Component'"
            } else {
                "expected kind != 'Component'"
            };
            return Err(Error::Malformed {
                path: child.file.clone(),
                message: format!("{expected} for path '{}'", dir.display()),
            });
        }
        child.accumulate(accumulator)
    }

    fn run_generators(&self, accumulator: &mut Accumulator) -> Result<(), Error> {
        let options = self.kustomization.generator_options.as_ref();
        let entries = self
            .kustomization
            .config_map_generator
            .iter()
            .map(|args| (GeneratedKind::ConfigMap, args));
        let entries = entries.chain(
            self.kustomization
                .secret_generator
                .iter()
                .map(|args| (GeneratedKind::Secret, args)),
        );
        for (kind, args) in entries {
            self.check_deadline()?;
            let generated = generators::generate(&self.loader, kind, args, options)?;
            generators::absorb(&mut accumulator.resources, generated)
                .map_err(|message| self.fail(message))?;
        }
        for entry in &self.kustomization.generators {
            for config in builtin_configs::load_configs(&self.loader, entry)? {
                self.check_deadline()?;
                builtin_configs::run_generator(&self.loader, &config, accumulator)
                    .map_err(|error| self.wrap(error))?;
            }
        }
        Ok(())
    }

    fn wrap(&self, error: Error) -> Error {
        match error {
            Error::Build { message, .. } => self.fail(message),
            other => other,
        }
    }

    fn run_transformers(&self, accumulator: &mut Accumulator) -> Result<(), Error> {
        self.run_builtin_fields(accumulator)
            .map_err(|error| self.wrap(error))?;
        for entry in &self.kustomization.transformers {
            for config in builtin_configs::load_configs(&self.loader, entry)? {
                self.check_deadline()?;
                builtin_configs::run_transformer(&self.loader, &config, accumulator)
                    .map_err(|error| self.wrap(error))?;
            }
        }
        Ok(())
    }

    /// The kustomization's own transformer fields, in kustomize's order.
    fn run_builtin_fields(&self, accumulator: &mut Accumulator) -> Result<(), Error> {
        let k = &self.kustomization;
        let budget = self.loader.budget();
        let fail = |message: String| {
            self.check_deadline()
                .err()
                .unwrap_or_else(|| self.fail(message))
        };
        for entry in &k.patches_strategic_merge {
            self.check_deadline()?;
            let body = self.patch_body(entry, "")?;
            patches::apply_patch(&mut accumulator.resources, &body, None, budget).map_err(fail)?;
        }
        for patch in &k.patches {
            self.check_deadline()?;
            let body = self.patch_body(&patch.path, &patch.patch)?;
            patches::apply_patch(
                &mut accumulator.resources,
                &body,
                patch.target.as_ref(),
                budget,
            )
            .map_err(fail)?;
        }
        let config = &accumulator.config;
        let resources = &mut accumulator.resources;
        self.check_deadline()?;
        if !k.namespace.is_empty() {
            namespace::set_namespace(resources, &k.namespace, &config.namespace, false)
                .map_err(fail)?;
        }
        if !k.name_prefix.is_empty() {
            names::add_affix(
                resources,
                names::Affix::Prefix,
                &k.name_prefix,
                &config.name_prefix,
            )
            .map_err(fail)?;
        }
        if !k.name_suffix.is_empty() {
            names::add_affix(
                resources,
                names::Affix::Suffix,
                &k.name_suffix,
                &config.name_suffix,
            )
            .map_err(fail)?;
        }
        for label in &k.labels {
            self.check_deadline()?;
            let specs = label_specs(config, label);
            metadata_maps::add_pairs(resources, &strings(&label.pairs), &specs).map_err(fail)?;
        }
        self.check_deadline()?;
        metadata_maps::add_pairs(resources, &strings(&k.common_labels), &config.common_labels)
            .map_err(fail)?;
        self.check_deadline()?;
        metadata_maps::add_pairs(
            resources,
            &strings(&k.common_annotations),
            &config.common_annotations,
        )
        .map_err(fail)?;
        for patch in &k.patches_json6902 {
            self.check_deadline()?;
            let body = self.patch_body(&patch.path, &patch.patch)?;
            let target = patch.target.clone().unwrap_or_default();
            patches::apply_json6902(resources, &body, &target, budget).map_err(fail)?;
        }
        for replica in &k.replicas {
            self.check_deadline()?;
            replicas::set_replicas(resources, &replica.name, replica.count, &config.replicas)
                .map_err(fail)?;
        }
        for image in &k.images {
            self.check_deadline()?;
            images::set_images(resources, image, &config.images).map_err(fail)?;
        }
        if !k.replacements.is_empty() {
            self.check_deadline()?;
            let list = replacements::load(&self.loader, &k.replacements)?;
            replacements::apply(resources, &list, budget).map_err(fail)?;
        }
        Ok(())
    }

    /// Reads a patch from `path` (a file, or for `patchesStrategicMerge` possibly inline YAML)
    /// or takes the inline `text`.
    pub fn patch_body(&self, path: &str, text: &str) -> Result<PatchBody, Error> {
        let (file, content) = if !text.is_empty() {
            (self.file.clone(), text.to_string())
        } else if looks_inline(path) {
            (self.file.clone(), path.to_string())
        } else {
            self.loader.read(path)?
        };
        patches::parse_patch(&content, self.loader.budget()).map_err(|message| Error::Malformed {
            path: file,
            message,
        })
    }
}

/// Whether a `patchesStrategicMerge` entry is inline YAML rather than a file name.
fn looks_inline(entry: &str) -> bool {
    entry.contains('\n') || entry.trim_start().starts_with('{') || entry.contains(": ")
}

fn strings(pairs: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.clone(), scalar_string(value)))
        .collect()
}

/// The field specs of one `labels` entry, as kustomize's label configurator.
fn label_specs(config: &TransformerConfig, label: &super::kustomization::Label) -> Vec<FieldSpec> {
    let mut specs = label.fields.clone();
    merge_specs(&mut specs, &config.labels);
    if label.include_selectors {
        merge_specs(&mut specs, &config.common_labels);
    } else {
        if label.include_templates {
            merge_specs(&mut specs, &config.template_labels);
        }
        if label.include_volume_claim_templates {
            merge_specs(&mut specs, &config.volume_claim_template_labels);
        }
        merge_specs(&mut specs, &[FieldSpec::any_kind("metadata/labels", true)]);
    }
    specs
}
