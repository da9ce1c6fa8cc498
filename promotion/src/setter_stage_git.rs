//! The Git side of core's Pipeline ([`crate::stage_git::StageGit`]) built
//! from image automation's own parts: a stage's image is read from its setter markers, and a
//! promotion is an automation run whose only policy is the stage's marker set to the promoted
//! image, pushed to a promotion branch on top of the base branch (Flux's "push to a separate
//! branch" mode), so promotions edit files byte-preservingly, exactly as automations do.

use std::collections::BTreeMap;
use std::path::Path;

use crate::stage_git::{ImageLocation, PromotionWrite, PromotionWritten, StageGit};
use walkdir::WalkDir;

use sluice_image_automation::git::auth::GitAuth;
use sluice_image_automation::git::automation_run::{MessageSpec, RunRequest, run_automation};
use sluice_image_automation::git::checkout_ref::CheckoutRef;
use sluice_image_automation::git::commit::Author;
use sluice_image_automation::git::push_target::PushTarget;
use sluice_image_automation::setters::marker::SetterField;
use sluice_image_automation::setters::policy::{LatestImage, Policies, PolicyKey};
use sluice_image_automation::setters::rewrite::setter_targets;
use sluice_image_automation::setters::tree::holds_marker_token;

/// [`StageGit`] with the setters and the automation run.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetterStageGit;

impl StageGit for SetterStageGit {
    fn stage_image(&self, root: &Path, location: &ImageLocation) -> Result<Option<String>, String> {
        let target = Target::of(location)?;
        let mut parts = BTreeMap::new();
        let walk = WalkDir::new(root.join(target.path.as_deref().unwrap_or("")));
        for entry in walk.sort_by_file_name() {
            let entry = entry.map_err(|error| error.to_string())?;
            if entry.file_type().is_file() {
                read_marked_values(entry.path(), root, &target, &mut parts)?;
            }
        }
        Ok(compose(&parts))
    }

    fn promote(&self, write: &PromotionWrite) -> Result<PromotionWritten, String> {
        let request = run_request(write)?;
        let outcome = run_automation(&request).map_err(|error| error.to_string())?;
        Ok(match outcome.pushed {
            Some(pushed) => PromotionWritten::Pushed(pushed.commit),
            None if outcome.update.changed_files().next().is_some() => {
                PromotionWritten::AlreadyThere
            }
            None => PromotionWritten::NothingToChange,
        })
    }
}

/// A location as the setters see it: the update path, the policy, and the `images:` entry that
/// stands for its markers (none for markers proper).
struct Target {
    path: Option<String>,
    key: PolicyKey,
    policies: Policies,
}

impl Target {
    /// Errors: a marker policy that is not `NAMESPACE:NAME`.
    fn of(location: &ImageLocation) -> Result<Target, String> {
        Ok(match location {
            ImageLocation::Markers { path, policy } => Target {
                path: path.clone(),
                key: policy.parse().map_err(|e| format!("{e}"))?,
                policies: Policies::default(),
            },
            ImageLocation::ImagesEntry { file, name } => {
                // Not a namespace name (it has a dot), so no real marker can name this policy.
                let key = PolicyKey {
                    namespace: "kustomize.images".into(),
                    name: name.clone(),
                };
                Target {
                    path: Some(file.clone()),
                    policies: Policies {
                        images_entries: BTreeMap::from([(name.clone(), key.clone())]),
                        ..Policies::default()
                    },
                    key,
                }
            }
        })
    }
}

/// Adds the values the target's markers (or `images:` entry) hold in `file` to `parts` (one
/// value per setter field).
///
/// Errors: the file cannot be read or parsed, or two markers of the same field disagree; the
/// message names the file.
fn read_marked_values(
    file: &Path,
    root: &Path,
    target: &Target,
    parts: &mut BTreeMap<SetterField, String>,
) -> Result<(), String> {
    let shown = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let bytes = std::fs::read(file).map_err(|error| format!("{shown}: {error}"))?;
    if !holds_marker_token(&bytes) && target.policies.images_entries.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8"))?;
    let scalars =
        setter_targets(&text, &target.policies).map_err(|error| format!("{shown}: {error}"))?;
    for scalar in scalars {
        let Ok(marker) = scalar.marker else { continue };
        if marker.policy != target.key {
            continue;
        }
        match parts.get(&marker.field) {
            Some(seen) if *seen != scalar.value => {
                return Err(format!(
                    "{shown}: line {}: marker {marker} holds '{}' but another holds '{seen}'",
                    scalar.line, scalar.value
                ));
            }
            _ => {
                parts.insert(marker.field, scalar.value);
            }
        }
    }
    Ok(())
}

/// The image the marker values name: the whole-image marker's value, else `NAME:TAG[@DIGEST]`
/// from the part markers, else the tag alone.
fn compose(parts: &BTreeMap<SetterField, String>) -> Option<String> {
    if let Some(image) = parts.get(&SetterField::Image) {
        return Some(image.clone());
    }
    let tag = parts.get(&SetterField::Tag)?;
    let named = match parts.get(&SetterField::Name) {
        Some(name) => format!("{name}:{tag}"),
        None => tag.clone(),
    };
    Some(
        match parts.get(&SetterField::Digest).filter(|d| !d.is_empty()) {
            Some(digest) => format!("{named}@{digest}"),
            None => named,
        },
    )
}

/// The image a promotion writes, as a policy's latest image. A bare tag (a stage marked with
/// `:tag` markers only) gets an empty name, which only `:name` markers would write.
fn latest_image(image: &str) -> LatestImage {
    image.parse().unwrap_or_else(|_| LatestImage {
        name: String::new(),
        tag: image.to_owned(),
        digest: None,
    })
}

fn run_request(write: &PromotionWrite) -> Result<RunRequest, String> {
    let target = Target::of(&write.location)?;
    let auth = match &write.credentials {
        Some(data) => GitAuth::from_secret(&write.url, data).map_err(|e| e.to_string())?,
        None => GitAuth::Anonymous,
    };
    Ok(RunRequest {
        work_dir: write.work_dir.clone(),
        url: write.url.clone(),
        auth,
        checkout: CheckoutRef::Branch(write.base_branch.clone()),
        push: PushTarget {
            branch: write.head_branch.clone(),
            separate_branch: true,
            refspec: None,
            options: BTreeMap::new(),
        },
        update_path: target.path,
        policies: Policies {
            latest: BTreeMap::from([(target.key, Some(latest_image(&write.image)))]),
            ..target.policies
        },
        author: Author {
            name: write.author.0.clone(),
            email: write.author.1.clone(),
        },
        message: MessageSpec {
            template: Some(literal_template(&write.message)),
            ..MessageSpec::default()
        },
        signer: None,
    })
}

/// A Go template that renders `text` verbatim (its `{{` escaped as a string action).
fn literal_template(text: &str) -> String {
    text.replace("{{", "{{\"{{\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_stage_image_is_read_from_its_markers_only() {
        let repo = tempfile::tempdir().unwrap();
        write_file(
            repo.path(),
            "overlays/dev/kustomization.yaml",
            "images:\n- name: podinfo\n  newName: reg/podinfo # {\"$imagepolicy\": \"apps:podinfo:name\"}\n  newTag: 6.5.1 # {\"$imagepolicy\": \"apps:podinfo:tag\"}\n",
        );
        write_file(
            repo.path(),
            "overlays/qa/kustomization.yaml",
            "images:\n- name: podinfo\n  newTag: 6.5.0 # {\"$imagepolicy\": \"apps:podinfo:tag\"}\n",
        );
        write_file(repo.path(), "overlays/qa/notes.txt", "no markers here\n");
        let git = SetterStageGit;
        assert_eq!(
            git.stage_image(repo.path(), &markers(Some("overlays/dev"), "apps:podinfo")),
            Ok(Some("reg/podinfo:6.5.1".into()))
        );
        assert_eq!(
            git.stage_image(repo.path(), &markers(Some("overlays/qa"), "apps:podinfo")),
            Ok(Some("6.5.0".into()))
        );
        assert_eq!(
            git.stage_image(repo.path(), &markers(Some("overlays/qa"), "apps:other")),
            Ok(None)
        );
    }

    fn markers(path: Option<&str>, policy: &str) -> ImageLocation {
        ImageLocation::Markers {
            path: path.map(str::to_owned),
            policy: policy.to_owned(),
        }
    }

    #[test]
    fn a_stage_image_is_read_from_a_kustomize_images_entry() {
        let repo = tempfile::tempdir().unwrap();
        write_file(
            repo.path(),
            "apps/prod/kustomization.yaml",
            "images:\n- name: podinfo\n  newName: reg/podinfo\n  newTag: \"6.5.0\"\n",
        );
        let entry = |name: &str| ImageLocation::ImagesEntry {
            file: "apps/prod/kustomization.yaml".into(),
            name: name.into(),
        };
        assert_eq!(
            SetterStageGit.stage_image(repo.path(), &entry("podinfo")),
            Ok(Some("reg/podinfo:6.5.0".into()))
        );
        assert_eq!(
            SetterStageGit.stage_image(repo.path(), &entry("other")),
            Ok(None)
        );
    }

    #[test]
    fn disagreeing_markers_are_an_error_naming_the_file() {
        let repo = tempfile::tempdir().unwrap();
        write_file(
            repo.path(),
            "a.yaml",
            "image: reg/app:1 # {\"$imagepolicy\": \"apps:app\"}\n",
        );
        write_file(
            repo.path(),
            "b.yaml",
            "image: reg/app:2 # {\"$imagepolicy\": \"apps:app\"}\n",
        );
        let error = SetterStageGit
            .stage_image(repo.path(), &markers(None, "apps:app"))
            .unwrap_err();
        assert!(error.contains("b.yaml"), "{error}");
    }

    #[test]
    fn promotion_images_parse_as_latest_images_or_bare_tags() {
        assert_eq!(
            latest_image("reg:5000/app:1.2@sha256:ab").digest.as_deref(),
            Some("sha256:ab")
        );
        let bare = latest_image("1.2.3");
        assert_eq!((bare.name.as_str(), bare.tag.as_str()), ("", "1.2.3"));
        assert_eq!(literal_template("a {{b}}"), "a {{\"{{\"}}b}}");
    }
}
