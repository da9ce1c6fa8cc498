//! The Git side of a promotion, with image automation's own parts: a stage's image is read from
//! its setter markers (Flux's `$imagepolicy` comments, or an unmarked kustomize `images:` entry),
//! and a promotion is an automation run whose only policy is the stage's marker set to the
//! promoted image, pushed to a promotion branch on top of the base branch (Flux's "push to a
//! separate branch" mode), so promotions edit files byte-preservingly, exactly as automations do.
//! Both functions block (call them from a blocking thread).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_git::{AuthError, Author, GitAuth, RefSelector};
use sluice_image_automation::git::automation_run::{
    MessageSpec, RunError, RunRequest, run_automation,
};
use sluice_image_automation::git::push_target::PushTarget;
use sluice_image_automation::setters::document::DocumentError;
use sluice_image_automation::setters::marker::SetterField;
use sluice_image_automation::setters::policy::{LatestImage, Policies, PolicyError, PolicyKey};
use sluice_image_automation::setters::rewrite::setter_targets;
use sluice_image_automation::setters::tree::holds_marker_token;
use walkdir::WalkDir;

/// Why a stage's image could not be read or a promotion could not be written; nothing was
/// pushed then.
#[derive(Debug, thiserror::Error)]
pub enum StageGitError {
    /// A marker location names a policy that is not `NAMESPACE:NAME`.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The stage's folder could not be walked.
    #[error("walking the stage's files: {0}")]
    Walk(#[from] walkdir::Error),
    /// A file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The file, from the repository root.
        file: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file holding markers is not UTF-8.
    #[error("{file}: not UTF-8")]
    NotText {
        /// The file, from the repository root.
        file: String,
    },
    /// A file holding markers is not YAML the setters can read.
    #[error("{file}: {source}")]
    Parse {
        /// The file, from the repository root.
        file: String,
        /// The setters' error.
        #[source]
        source: DocumentError,
    },
    /// Two markers of the same field hold different values.
    #[error("{file}: line {line}: marker {marker} holds '{value}' but another holds '{seen}'")]
    Disagree {
        /// The file of the second marker, from the repository root.
        file: String,
        /// Its line (1-based).
        line: usize,
        /// The marker, as written.
        marker: String,
        /// Its value.
        value: String,
        /// The value an earlier marker holds.
        seen: String,
    },
    /// The GitRepository's Secret cannot authenticate to the remote.
    #[error(transparent)]
    Credentials(#[from] AuthError),
    /// Fetching, committing or pushing failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The stage's path goes through a symbolic link of the artifact, which Sluice does not
    /// follow (it may point out of the artifact).
    #[error("{path}: a symbolic link; links in the artifact are not followed")]
    Symlink {
        /// The link, from the repository root.
        path: String,
    },
}

/// Where a stage's image is written in the repository (the Pipeline's `stages[].image`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageLocation {
    /// The setter markers of `policy` (`NAMESPACE:NAME`) in the YAML files under `path` (from
    /// the repository root; the root when `None`).
    Markers {
        /// The stage's folder.
        path: Option<String>,
        /// The markers' policy.
        policy: String,
    },
    /// The `images:` entry named `name` of the kustomization file `file` (from the root): its
    /// `newName`, `newTag` and `digest`.
    ImagesEntry {
        /// The kustomization file.
        file: String,
        /// The entry's `name`.
        name: String,
    },
}

/// One promotion commit to write and push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromotionWrite {
    /// A folder of the controller's own, reused between runs as a Git work cache.
    pub work_dir: PathBuf,
    /// The repository URL (the GitRepository's `spec.url`).
    pub url: String,
    /// How long the fetches and the push may take (the GitRepository's `spec.timeout`).
    pub timeout: Duration,
    /// The GitRepository's `secretRef` data (`username`/`password`, `bearerToken`, `identity`,
    /// `known_hosts`, as Flux's source-controller reads it), when it names one.
    pub credentials: Option<BTreeMap<String, Vec<u8>>>,
    /// The branch the pull request merges into; the commit's parent is its head.
    pub base_branch: String,
    /// The promotion branch to (force-)push, e.g. `sluice/promote/podinfo/qa`.
    pub head_branch: String,
    /// Where the stage's image is written.
    pub location: ImageLocation,
    /// The image to write, `NAME:TAG[@DIGEST]`.
    pub image: String,
    /// The commit message.
    pub message: String,
    /// Commit author name and email.
    pub author: (String, String),
}

/// What a promotion write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromotionWritten {
    /// A commit was pushed to the promotion branch (its SHA-1, hex).
    Pushed(String),
    /// The promotion branch already holds this change (the tree Sluice would write) at this
    /// commit (SHA-1, hex); nothing was pushed.
    AlreadyThere(String),
    /// Nothing at the location needed a change: the stage is on the image already.
    NothingToChange,
}

impl PromotionWritten {
    /// The commit the promotion branch holds the change at, unless there was nothing to change.
    pub fn commit(&self) -> Option<&str> {
        match self {
            PromotionWritten::Pushed(commit) | PromotionWritten::AlreadyThere(commit) => {
                Some(commit)
            }
            PromotionWritten::NothingToChange => None,
        }
    }
}

/// Reads the image written at `location` in the repository checked out at `root`:
/// `NAME:TAG[@DIGEST]` from a whole-image marker, or composed from the `:name`, `:tag` and
/// `:digest` markers (or an `images:` entry's `newName`, `newTag` and `digest`), just the tag
/// when no name is written.
///
/// Symbolic links are never followed: files that are links are skipped, and a location whose
/// path goes through a link is an error, so nothing outside `root` (the unpacked artifact, which
/// the tenant's repository or status may fill with links) is read. The location's path is
/// relative and inside the repository ([`crate::plan::image_location`]).
///
/// Returns `Ok(None)` when nothing is found there. Errors: a [`StageGitError`] naming the file
/// that cannot be read or parsed, whose markers disagree, or the link on the path.
pub fn stage_image(root: &Path, location: &ImageLocation) -> Result<Option<String>, StageGitError> {
    let target = Target::of(location)?;
    let mut parts = BTreeMap::new();
    let start = root.join(target.path.as_deref().unwrap_or(""));
    refuse_links(root, &start)?;
    let walk = WalkDir::new(start)
        .follow_links(false)
        .follow_root_links(false);
    for entry in walk.sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() {
            read_marked_values(entry.path(), root, &target, &mut parts)?;
        }
    }
    Ok(compose(&parts))
}

/// Writes `write.image` at `write.location`, on top of the head of `write.base_branch`, as one
/// commit pushed to `write.head_branch`.
///
/// Errors: [`StageGitError::Credentials`], [`StageGitError::Policy`], or
/// [`StageGitError::Run`] when fetching, committing or pushing failed.
pub fn promote(write: &PromotionWrite) -> Result<PromotionWritten, StageGitError> {
    let request = run_request(write)?;
    let outcome = run_automation(&request)?;
    let changed = outcome.update.changed_files().next().is_some();
    Ok(match (outcome.pushed, outcome.push_branch_head) {
        (Some(pushed), _) => PromotionWritten::Pushed(pushed.commit),
        (None, Some(head)) if changed => PromotionWritten::AlreadyThere(head),
        (None, _) => PromotionWritten::NothingToChange,
    })
}

/// Errors with [`StageGitError::Symlink`] when `path` (under `root`) or a folder on the way to
/// it is a symbolic link; a part that does not exist ends the check (the walk then finds
/// nothing there).
fn refuse_links(root: &Path, path: &Path) -> Result<(), StageGitError> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let mut current = root.to_path_buf();
    for component in relative.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(StageGitError::Symlink {
                    path: current
                        .strip_prefix(root)
                        .unwrap_or(&current)
                        .display()
                        .to_string(),
                });
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
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
    fn of(location: &ImageLocation) -> Result<Target, StageGitError> {
        Ok(match location {
            ImageLocation::Markers { path, policy } => Target {
                path: path.clone(),
                key: policy.parse()?,
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
) -> Result<(), StageGitError> {
    let shown = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let bytes = std::fs::read(file).map_err(|source| StageGitError::Read {
        file: shown.clone(),
        source,
    })?;
    if !holds_marker_token(&bytes) && target.policies.images_entries.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8(bytes).map_err(|_| StageGitError::NotText {
        file: shown.clone(),
    })?;
    let scalars =
        setter_targets(&text, &target.policies).map_err(|source| StageGitError::Parse {
            file: shown.clone(),
            source,
        })?;
    for scalar in scalars {
        let Ok(marker) = scalar.marker else { continue };
        if marker.policy != target.key {
            continue;
        }
        match parts.get(&marker.field) {
            Some(seen) if *seen != scalar.value => {
                return Err(StageGitError::Disagree {
                    file: shown,
                    line: scalar.line,
                    marker: marker.to_string(),
                    value: scalar.value,
                    seen: seen.clone(),
                });
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

fn run_request(write: &PromotionWrite) -> Result<RunRequest, StageGitError> {
    let target = Target::of(&write.location)?;
    let auth = match &write.credentials {
        Some(data) => GitAuth::from_secret(&write.url, data)?,
        None => GitAuth::Anonymous,
    };
    Ok(RunRequest {
        work_dir: write.work_dir.clone(),
        url: write.url.clone(),
        timeout: write.timeout,
        auth,
        checkout: RefSelector::Branch(write.base_branch.clone()),
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
        assert_eq!(
            stage_image(repo.path(), &markers(Some("overlays/dev"), "apps:podinfo")).unwrap(),
            Some("reg/podinfo:6.5.1".into())
        );
        assert_eq!(
            stage_image(repo.path(), &markers(Some("overlays/qa"), "apps:podinfo")).unwrap(),
            Some("6.5.0".into())
        );
        assert_eq!(
            stage_image(repo.path(), &markers(Some("overlays/qa"), "apps:other")).unwrap(),
            None
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
            stage_image(repo.path(), &entry("podinfo")).unwrap(),
            Some("reg/podinfo:6.5.0".into())
        );
        assert_eq!(stage_image(repo.path(), &entry("other")).unwrap(), None);
    }

    #[test]
    fn links_out_of_the_artifact_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        write_file(
            outside.path(),
            "secret/kustomization.yaml",
            "images:\n- name: podinfo\n  newTag: 9.9.9 # {\"$imagepolicy\": \"apps:podinfo:tag\"}\n",
        );
        let repo = tempfile::tempdir().unwrap();
        write_file(
            repo.path(),
            "apps/dev/kustomization.yaml",
            "images:\n- name: podinfo\n  newTag: 1.0.0 # {\"$imagepolicy\": \"apps:podinfo:tag\"}\n",
        );
        let link = |target: &Path, at: &str| {
            std::os::unix::fs::symlink(target, repo.path().join(at)).unwrap();
        };
        link(&outside.path().join("secret"), "apps/qa");
        link(outside.path(), "other");
        link(
            &outside.path().join("secret/kustomization.yaml"),
            "apps/dev/linked.yaml",
        );
        for path in ["apps/qa", "other/secret"] {
            let error = stage_image(repo.path(), &markers(Some(path), "apps:podinfo")).unwrap_err();
            assert!(
                matches!(&error, StageGitError::Symlink { .. }),
                "{path}: {error}"
            );
        }
        let entry = ImageLocation::ImagesEntry {
            file: "other/secret/kustomization.yaml".into(),
            name: "podinfo".into(),
        };
        assert!(matches!(
            stage_image(repo.path(), &entry),
            Err(StageGitError::Symlink { .. })
        ));
        assert_eq!(
            stage_image(repo.path(), &markers(Some("apps/dev"), "apps:podinfo")).unwrap(),
            Some("1.0.0".into()),
            "a linked file in the stage's folder is skipped"
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
        let error = stage_image(repo.path(), &markers(None, "apps:app")).unwrap_err();
        assert!(error.to_string().starts_with("b.yaml: line 1"), "{error}");
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
