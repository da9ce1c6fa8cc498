//! Applies the setters to a commit's tree straight from the object database: no work tree is
//! written or read back. The tree under `update.path` is walked as Flux's screening reader walks
//! a checkout (hidden entries, symbolic links and submodules skipped), and the candidate blobs
//! are read on every core, each screened for the `"$imagepolicy"` token before any parsing.

use std::path::{Component, Path, PathBuf};

use gix::ObjectId;
use gix::objs::FindExt;

use crate::setters::policy::Policies;
use crate::setters::tree::{Candidate, TreeUpdate, is_hidden};

/// Why a tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeReadError {
    /// `update.path` names nothing in the checked-out tree.
    #[error("update path '{0}' does not exist in the checkout")]
    PathNotFound(String),
    /// A tree or blob could not be read.
    #[error("reading {what}: {message}")]
    Object {
        /// The object, with its path.
        what: String,
        /// gix's message.
        message: String,
    },
}

/// A candidate file: its path from the update root, its kind and its blob.
type CandidateBlob = (PathBuf, Candidate, ObjectId);

/// Applies the setters to the files of `tree` (a tree id) under `update_path` (relative, `""`
/// for the root), as [`crate::setters::tree::update_tree`] does on a directory; paths in the
/// result are relative to `update_path`. When `update_path` is a file, that file alone is read
/// (its path in the result is empty).
///
/// Errors: [`TreeReadError::PathNotFound`] when `update_path` is absent from `tree`,
/// [`TreeReadError::Object`] when an object is missing.
pub fn update_git_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    update_path: &Path,
    policies: &Policies,
) -> Result<TreeUpdate, TreeReadError> {
    let mut candidates = Vec::new();
    match root_entry(repo, tree, update_path)? {
        (root, mode) if mode.is_tree() => {
            collect_candidates(repo, root, &PathBuf::new(), &mut candidates)?
        }
        (blob, mode) if mode.is_blob() => {
            let name = update_path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            if let Some(kind) = Candidate::of_file_name(&name) {
                candidates.push((PathBuf::new(), kind, blob));
            }
        }
        _ => {}
    }
    apply_in_parallel(repo, &candidates, policies)
}

/// The object `update_path` (`.` components ignored) names in `tree`, with its mode.
fn root_entry(
    repo: &gix::Repository,
    tree: ObjectId,
    update_path: &Path,
) -> Result<(ObjectId, gix::objs::tree::EntryMode), TreeReadError> {
    let object = |error: gix::Error| TreeReadError::Object {
        what: format!("tree {tree}"),
        message: format!("{error:#}"),
    };
    let names: Vec<String> = update_path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Ok((tree, gix::objs::tree::EntryKind::Tree.into()));
    }
    let entry = repo
        .find_tree(tree)
        .and_then(|root| root.lookup_entry(names.iter().map(String::as_str)))
        .map_err(object)?
        .ok_or_else(|| TreeReadError::PathNotFound(update_path.display().to_string()))?;
    Ok((entry.object_id(), entry.mode()))
}

/// Adds the candidate blobs of `tree`, at `prefix` from the update root, to `candidates`.
fn collect_candidates(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &Path,
    candidates: &mut Vec<CandidateBlob>,
) -> Result<(), TreeReadError> {
    let object = |error: gix::Error| TreeReadError::Object {
        what: format!("tree {tree} at '{}'", prefix.display()),
        message: format!("{error:#}"),
    };
    let tree = repo.find_tree(tree).map_err(object)?;
    for entry in tree.decode().map_err(object)?.entries {
        let name = entry.filename.to_string();
        if is_hidden(&name) {
            continue;
        }
        if entry.mode.is_tree() {
            collect_candidates(repo, entry.oid.to_owned(), &prefix.join(&name), candidates)?;
        } else if entry.mode.is_blob()
            && let Some(kind) = Candidate::of_file_name(&name)
        {
            candidates.push((prefix.join(&name), kind, entry.oid.to_owned()));
        }
    }
    Ok(())
}

/// Reads and updates `candidates` on every available core, one slice per thread.
fn apply_in_parallel(
    repo: &gix::Repository,
    candidates: &[CandidateBlob],
    policies: &Policies,
) -> Result<TreeUpdate, TreeReadError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = candidates.len().div_ceil(threads).max(1);
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = candidates
            .chunks(chunk)
            .map(|slice| {
                let objects = repo.objects.clone();
                scope.spawn(move || apply_to_blobs(&objects, slice, policies))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });
    let mut update = TreeUpdate::default();
    for part in parts {
        let part = part?;
        update.files.extend(part.files);
        update.problems.extend(part.problems);
    }
    Ok(update)
}

fn apply_to_blobs(
    objects: &gix::OdbHandle,
    candidates: &[CandidateBlob],
    policies: &Policies,
) -> Result<TreeUpdate, TreeReadError> {
    let mut update = TreeUpdate::default();
    let mut buffer = Vec::new();
    for (path, kind, id) in candidates {
        let blob = objects
            .find_blob(id, &mut buffer)
            .map_err(|error| TreeReadError::Object {
                what: format!("blob {id} of {}", path.display()),
                message: format!("{error:#}"),
            })?;
        update.apply_to_file(path.clone(), *kind, blob.data, policies);
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setters::policy::PolicyKey;
    use gix::objs::tree::EntryKind;

    const MARKED: &str = "image: app:1 # {\"$imagepolicy\": \"ns:app\"}\n";

    fn policies() -> Policies {
        Policies {
            automation_namespace: None,
            latest: [(
                "ns:app".parse::<PolicyKey>().unwrap(),
                Some("app:2".parse().unwrap()),
            )]
            .into(),
            images_entries: Default::default(),
        }
    }

    /// A bare repository holding one tree of `entries` (path, kind), each file `MARKED`.
    fn repository(entries: &[(&str, EntryKind)]) -> (tempfile::TempDir, gix::Repository, ObjectId) {
        let dir = tempfile::tempdir().unwrap();
        let repo = gix::init_bare(dir.path()).unwrap();
        let empty = repo
            .write_object(gix::objs::Tree::empty())
            .unwrap()
            .detach();
        let blob = repo.write_blob(MARKED).unwrap().detach();
        let mut editor = repo.edit_tree(empty).unwrap();
        for (path, kind) in entries {
            editor.upsert(*path, *kind, blob).unwrap();
        }
        let tree = editor.write().unwrap().detach();
        (dir, repo, tree)
    }

    fn paths(update: &TreeUpdate) -> Vec<String> {
        update
            .changed_files()
            .map(|(path, _)| path.display().to_string())
            .collect()
    }

    #[test]
    fn screens_the_tree_under_the_update_path_like_a_checkout() {
        let (_dir, repo, tree) = repository(&[
            ("apps/a.yaml", EntryKind::Blob),
            ("apps/sub/run", EntryKind::BlobExecutable),
            ("apps/.hidden/b.yaml", EntryKind::Blob),
            ("apps/notes.txt", EntryKind::Blob),
            ("apps/link.yaml", EntryKind::Link),
            ("other/c.yaml", EntryKind::Blob),
        ]);
        let update = update_git_tree(&repo, tree, Path::new("./apps"), &policies()).unwrap();
        assert_eq!(paths(&update), ["a.yaml", "sub/run"]);
        assert_eq!(
            update.files[Path::new("a.yaml")].text,
            MARKED.replace("app:1", "app:2")
        );
        let whole = update_git_tree(&repo, tree, Path::new(""), &policies()).unwrap();
        assert_eq!(
            paths(&whole),
            ["apps/a.yaml", "apps/sub/run", "other/c.yaml"]
        );
    }

    #[test]
    fn a_file_update_path_reads_that_file_and_an_absent_one_is_an_error() {
        let (_dir, repo, tree) = repository(&[("apps/a.yaml", EntryKind::Blob)]);
        let file = update_git_tree(&repo, tree, Path::new("apps/a.yaml"), &policies()).unwrap();
        assert_eq!(paths(&file), [""]);
        assert!(matches!(
            update_git_tree(&repo, tree, Path::new("absent"), &policies()),
            Err(TreeReadError::PathNotFound(path)) if path == "absent"
        ));
    }
}
