//! The commit message of an automation run: `spec.git.commit.messageTemplate` rendered as a Go
//! `text/template` (with the `gtmpl` crate) over Flux's template data:
//!
//! - `.AutomationObject`: `namespace/name` of the automation (a string here; Go's
//!   `NamespacedName` also has `.Namespace` and `.Name`, which gtmpl cannot give a string);
//! - `.Changed.FileChanges`: file path → object key → list of changes;
//! - `.Changed.Objects`: object key → list of changes, merged across files;
//! - `.Changed.Changes`: list of changes, duplicates collapsed; each change has `.OldValue`,
//!   `.NewValue` and `.Setter`;
//! - `.Values`: `spec.git.commit.messageTemplateValues`.
//!
//! Differences with Flux forced by gtmpl: map keys can only be strings, so an object key is the
//! text `Kind/namespace/name` (empty parts left out) instead of a struct with `.Kind`, `.Name`,
//! ...; ranging over a map follows hash order, not Go's sorted key order (`.Changed.Changes` is
//! ordered: by file, object, then position in the file); Sprig functions are not available, only
//! Go's builtins (`printf`, `len`, `index`, `eq`, ...).

use std::collections::{BTreeMap, HashMap};

use gtmpl::error::ExecError;
use gtmpl::{Context, Template, Value};

use crate::setters::result::{Change, ObjectChanges, UpdateResult};

/// Flux's default commit message, used when `messageTemplate` is absent.
pub const DEFAULT_MESSAGE_TEMPLATE: &str = "Update from image update automation";

const MESSAGE_TEMPLATE_DOCS: &str =
    "https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template";

/// Why a commit message could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitMessageError {
    /// The template reads `.Updated`, removed from Flux's template data (Stalled
    /// `RemovedTemplateField`).
    #[error(
        "template uses removed '.Updated' field. Please use '.Changed' instead. See: {MESSAGE_TEMPLATE_DOCS}"
    )]
    RemovedUpdatedField,
    /// The template reads `.Changed.ImageResult`, removed from Flux's template data.
    #[error(
        "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: {MESSAGE_TEMPLATE_DOCS}"
    )]
    RemovedImageResultField,
    /// The template is not valid Go template syntax.
    #[error("cannot parse commit message template: {0}")]
    Parse(String),
    /// Rendering failed (unknown field or function, bad argument, ...).
    #[error("cannot render commit message template: {0}")]
    Render(String),
}

impl CommitMessageError {
    /// Whether the error comes from a field Flux removed (condition reason `RemovedTemplateField`).
    pub fn is_removed_field(&self) -> bool {
        matches!(
            self,
            Self::RemovedUpdatedField | Self::RemovedImageResultField
        )
    }
}

/// What a commit message template can read, as Flux's `TemplateData`.
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    /// Namespace of the automation.
    pub automation_namespace: &'a str,
    /// Name of the automation.
    pub automation_name: &'a str,
    /// The changes of the run.
    pub changed: &'a UpdateResult,
    /// `messageTemplateValues`.
    pub values: &'a BTreeMap<String, String>,
}

/// Renders `template` (the default message when `None`) over `data`.
///
/// Errors with `RemovedUpdatedField` / `RemovedImageResultField` when the template reads a field
/// Flux removed, `Parse` on invalid syntax and `Render` on any other failure.
pub fn render_commit_message(
    template: Option<&str>,
    data: &TemplateData<'_>,
) -> Result<String, CommitMessageError> {
    let mut parsed = Template::default();
    parsed
        .parse(template.unwrap_or(DEFAULT_MESSAGE_TEMPLATE))
        .map_err(|error| CommitMessageError::Parse(error.to_string()))?;
    parsed
        .render(&Context::from(template_value(data)))
        .map_err(render_error)
}

fn render_error(error: ExecError) -> CommitMessageError {
    match &error {
        ExecError::NoFiledFor(field, Value::Object(receiver)) => {
            match (
                field.as_str(),
                receiver.contains_key("AutomationObject"),
                receiver.contains_key("FileChanges"),
            ) {
                ("Updated", true, _) => CommitMessageError::RemovedUpdatedField,
                ("ImageResult", _, true) => CommitMessageError::RemovedImageResultField,
                _ => CommitMessageError::Render(error.to_string()),
            }
        }
        _ => CommitMessageError::Render(error.to_string()),
    }
}

fn template_value(data: &TemplateData<'_>) -> Value {
    let changed = object([
        (
            "FileChanges",
            map(data
                .changed
                .file_changes
                .iter()
                .map(|(path, objects)| (path.clone(), object_changes_value(objects)))),
        ),
        ("Objects", object_changes_value(&data.changed.objects())),
        ("Changes", changes_value(&data.changed.changes())),
    ]);
    object([
        (
            "AutomationObject",
            Value::from(format!(
                "{}/{}",
                data.automation_namespace, data.automation_name
            )),
        ),
        ("Changed", changed),
        (
            "Values",
            map(data
                .values
                .iter()
                .map(|(key, value)| (key.clone(), Value::from(value.as_str())))),
        ),
    ])
}

fn object_changes_value(objects: &ObjectChanges) -> Value {
    map(objects
        .iter()
        .map(|(object, changes)| (object.to_string(), changes_value(changes))))
}

fn changes_value(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|change| {
                object([
                    ("OldValue", Value::from(change.old_value.as_str())),
                    ("NewValue", Value::from(change.new_value.as_str())),
                    ("Setter", Value::from(change.setter.as_str())),
                ])
            })
            .collect(),
    )
}

/// A struct: reading a missing field is an error, as in Go.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// A map: reading a missing key gives no value, as in Go.
fn map(entries: impl Iterator<Item = (String, Value)>) -> Value {
    Value::Map(entries.collect::<HashMap<_, _>>())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::setters::policy::Policies;
    use crate::setters::rewrite::apply_setters;
    use crate::setters::tree::TreeUpdate;

    fn result() -> UpdateResult {
        let policies = Policies {
            automation_namespace: None,
            latest: [(
                "flux-system:app".parse().unwrap(),
                Some("ghcr.io/org/app:2.0.0".parse().unwrap()),
            )]
            .into(),
            images_entries: Default::default(),
        };
        let text = "kind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  image: ghcr.io/org/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n  tag: 1.0.0 # {\"$imagepolicy\": \"flux-system:app:tag\"}\n";
        let files = [(
            PathBuf::from("apps/web.yaml"),
            apply_setters(text, &policies).unwrap(),
        )]
        .into();
        UpdateResult::from_tree(&TreeUpdate {
            files,
            problems: BTreeMap::new(),
        })
    }

    fn render(
        template: Option<&str>,
        values: &[(&str, &str)],
    ) -> Result<String, CommitMessageError> {
        let changed = result();
        let values = values
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        let data = TemplateData {
            automation_namespace: "flux-system",
            automation_name: "auto",
            changed: &changed,
            values: &values,
        };
        render_commit_message(template, &data)
    }

    #[test]
    fn default_message_is_fluxs() {
        assert_eq!(
            render(None, &[]).unwrap(),
            "Update from image update automation"
        );
    }

    #[test]
    fn renders_fluxs_documented_template_data() {
        let template = "[{{ .Values.env }}] {{ .AutomationObject }}\n\
            {{ range $file, $objects := .Changed.FileChanges -}}\n- {{ $file }}\n{{ end -}}\
            {{ range $object, $changes := .Changed.Objects -}}\n{{ $object }}: {{ len $changes }}\n{{ end -}}\
            {{ range .Changed.Changes -}}\n{{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}";
        let expected = "[prod] flux-system/auto\n- apps/web.yaml\nDeployment/apps/web: 2\n\
            flux-system:app: ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:2.0.0\nflux-system:app:tag: 1.0.0 -> 2.0.0\n";
        assert_eq!(
            render(Some(template), &[("env", "prod")]).unwrap(),
            expected
        );
    }

    #[test]
    fn removed_fields_are_terminal_errors_with_fluxs_message() {
        let updated = render(Some("{{ range .Updated.Images }}{{ . }}{{ end }}"), &[]).unwrap_err();
        assert_eq!(updated, CommitMessageError::RemovedUpdatedField);
        assert!(updated.is_removed_field());
        assert!(
            updated.to_string().starts_with(
                "template uses removed '.Updated' field. Please use '.Changed' instead."
            )
        );
        let image_result = render(Some("{{ .Changed.ImageResult }}"), &[]).unwrap_err();
        assert_eq!(image_result, CommitMessageError::RemovedImageResultField);
    }

    #[test]
    fn other_failures_are_parse_or_render_errors() {
        assert!(matches!(
            render(Some("{{ if }"), &[]),
            Err(CommitMessageError::Parse(_))
        ));
        let unknown = render(Some("{{ .Nope }}"), &[]).unwrap_err();
        assert!(matches!(unknown, CommitMessageError::Render(_)));
        assert!(!unknown.is_removed_field());
        assert_eq!(
            render(Some("{{ .Values.missing }}"), &[]).unwrap(),
            "<no value>"
        );
    }
}
