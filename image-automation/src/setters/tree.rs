//! Applies the setters to every YAML file under a directory, as Flux's screening reader and
//! writer: only files that may hold markers are read, only changed files are written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::marker::MARKER_TOKEN;
use super::policy::Policies;
use super::rewrite::{FileRewrite, RewriteError, apply_setters};

/// Why a directory could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The directory (or one under it) could not be listed.
    #[error("cannot list {path}: {source}")]
    Walk {
        /// The path being listed.
        path: PathBuf,
        /// The cause.
        source: walkdir::Error,
    },
    /// A changed file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why one file holding the marker token was left untouched.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// The file could not be read (or is not UTF-8).
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// The file is not YAML, or an edit did not verify.
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
}

/// The outcome of applying the setters to a directory; paths are relative to it.
#[derive(Debug, Default)]
pub struct TreeUpdate {
    /// Every file that holds at least one marker, with its new text and marker outcomes.
    pub files: BTreeMap<PathBuf, FileRewrite>,
    /// Files holding the marker token that were left untouched, with the reason.
    pub problems: BTreeMap<PathBuf, FileProblem>,
}

impl TreeUpdate {
    /// The files whose text changed, in path order.
    pub fn changed_files(&self) -> impl Iterator<Item = (&PathBuf, &FileRewrite)> {
        self.files.iter().filter(|(_, rewrite)| rewrite.changed())
    }

    /// Applies the setters to one candidate file, `relative` to the update root, holding `bytes`
    /// (from a directory or a Git blob): a file without the `"$imagepolicy"` token or without a
    /// marker is not recorded; a rewritten file goes to `files`; a file that is not UTF-8 or not
    /// YAML goes to `problems`, unless it is a [`Candidate::MaybeYaml`] that does not parse.
    pub fn apply_to_file(
        &mut self,
        relative: PathBuf,
        kind: Candidate,
        bytes: &[u8],
        policies: &Policies,
    ) {
        match rewrite_file(bytes, policies) {
            Ok(Some(rewrite)) => _ = self.files.insert(relative, rewrite),
            Ok(None) => {}
            Err(FileProblem::Rewrite(RewriteError::Document(_)))
                if kind == Candidate::MaybeYaml => {}
            Err(problem) => _ = self.problems.insert(relative, problem),
        }
    }
}

/// Computes the setters' edits for every candidate file under `root`, writing nothing.
///
/// Candidates are, outside hidden directories and files (`.git`, ...), the regular files whose
/// name [`Candidate::of_file_name`] accepts and that contain the `"$imagepolicy"` token;
/// symbolic links are not followed. See [`TreeUpdate::apply_to_file`] for what is recorded; a
/// candidate that cannot be read is a problem. Errors with `TreeError::Walk` when `root` cannot
/// be listed.
pub fn update_tree(root: &Path, policies: &Policies) -> Result<TreeUpdate, TreeError> {
    let mut update = TreeUpdate::default();
    let entries = WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !is_hidden(&entry.file_name().to_string_lossy())
        });
    for entry in entries {
        let entry = entry.map_err(|source| TreeError::Walk {
            path: root.to_owned(),
            source,
        })?;
        let kind = entry
            .file_type()
            .is_file()
            .then(|| Candidate::of_file_name(&entry.file_name().to_string_lossy()))
            .flatten();
        let Some(kind) = kind else {
            continue;
        };
        let relative = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_owned();
        match fs::read(entry.path()) {
            Ok(bytes) => update.apply_to_file(relative, kind, &bytes, policies),
            Err(error) => _ = update.problems.insert(relative, FileProblem::Read(error)),
        }
    }
    Ok(update)
}

/// Writes the changed files of `update` under `root` and returns their relative paths.
///
/// Errors with `TreeError::Write` on the first file that cannot be written.
pub fn write_tree_update(root: &Path, update: &TreeUpdate) -> Result<Vec<PathBuf>, TreeError> {
    update
        .changed_files()
        .map(|(relative, rewrite)| {
            let path = root.join(relative);
            fs::write(&path, &rewrite.text).map_err(|source| TreeError::Write { path, source })?;
            Ok(relative.clone())
        })
        .collect()
}

/// How sure we are that a file is YAML, from its name, as Flux's screening reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// `*.yaml`, `*.yml`, `Kustomization`.
    Yaml,
    /// Any other file without extension (Flux reads only `Kustomization` among those; Sluice
    /// reads any that parses as YAML).
    MaybeYaml,
}

impl Candidate {
    /// The kind of a regular file named `name`, or `None` when the setters skip it (another
    /// extension).
    pub fn of_file_name(name: &str) -> Option<Self> {
        match Path::new(name)
            .extension()
            .and_then(|extension| extension.to_str())
        {
            Some("yaml" | "yml") => Some(Self::Yaml),
            Some(_) => None,
            None if name == "Kustomization" => Some(Self::Yaml),
            None => Some(Self::MaybeYaml),
        }
    }
}

/// Whether a file or folder named `name` is hidden (`.git`, ...): the setters skip it and all
/// it holds.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Whether `bytes` contain the `"$imagepolicy"` token, the screen before any parsing.
pub fn holds_marker_token(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, MARKER_TOKEN.as_bytes()).is_some()
}

/// The rewrite of one file, or `None` when it does not contain the marker token or no marker.
fn rewrite_file(bytes: &[u8], policies: &Policies) -> Result<Option<FileRewrite>, FileProblem> {
    if !holds_marker_token(bytes) && policies.images_entries.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|error| {
        FileProblem::Read(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    })?;
    let rewrite = apply_setters(text, policies)?;
    Ok((!rewrite.markers.is_empty()).then_some(rewrite))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setters::policy::{LatestImage, PolicyKey};

    const MARKED: &str = "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n";

    fn policies() -> Policies {
        let latest: LatestImage = "app:2".parse().unwrap();
        Policies {
            automation_namespace: None,
            latest: [("ns:app".parse::<PolicyKey>().unwrap(), Some(latest))].into(),
            images_entries: Default::default(),
        }
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        root
    }

    #[test]
    fn screens_files_like_flux_and_writes_only_changed_ones() {
        let root = tree(&[
            ("a.yaml", MARKED),
            ("sub/b.yml", MARKED),
            ("Kustomization", MARKED),
            ("values", MARKED),
            ("notes.txt", MARKED),
            (".git/c.yaml", MARKED),
            ("plain.yaml", "image: app:1\n"),
            ("script", "#!/bin/sh\necho '\"$imagepolicy\"' [\n"),
        ]);
        let update = update_tree(root.path(), &policies()).unwrap();
        let written = write_tree_update(root.path(), &update).unwrap();
        let expected: Vec<PathBuf> = ["Kustomization", "a.yaml", "sub/b.yml", "values"]
            .map(PathBuf::from)
            .into();
        assert_eq!(written, expected);
        assert!(update.problems.is_empty(), "{:?}", update.problems);
        assert_eq!(
            fs::read_to_string(root.path().join("sub/b.yml")).unwrap(),
            MARKED.replace("app:1", "app:2")
        );
        assert_eq!(
            fs::read_to_string(root.path().join("notes.txt")).unwrap(),
            MARKED
        );
        assert_eq!(
            fs::read_to_string(root.path().join(".git/c.yaml")).unwrap(),
            MARKED
        );
    }

    #[test]
    fn unparseable_yaml_files_are_problems_and_untouched() {
        let broken = format!("{MARKED}bad: [\n");
        let root = tree(&[("broken.yaml", &broken), ("ok.yaml", MARKED)]);
        let update = update_tree(root.path(), &policies()).unwrap();
        write_tree_update(root.path(), &update).unwrap();
        assert!(matches!(
            update.problems.get(Path::new("broken.yaml")),
            Some(FileProblem::Rewrite(_))
        ));
        assert_eq!(
            fs::read_to_string(root.path().join("broken.yaml")).unwrap(),
            broken
        );
        assert_eq!(update.changed_files().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            update_tree(&root.path().join("absent"), &policies()),
            Err(TreeError::Walk { .. })
        ));
    }
}
