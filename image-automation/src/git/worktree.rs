//! The work tree of a cache repository, kept equal to one tree of the repository: moving it to
//! another tree writes only the files whose blob or mode changed and removes the files that are
//! gone, so a warm cache updates in proportion to the change, not to the repository's size.
//! The tree it holds is recorded in `.git/sluice-worktree`, removed while files are written: a
//! run interrupted mid-way leaves no record, and the next run rewrites the whole work tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::objs::tree::EntryMode;

const WORKTREE_RECORD: &str = "sluice-worktree";

/// Why the work tree could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// The repository has no work tree.
    #[error("the work cache repository has no work tree")]
    Bare,
    /// A tree or blob could not be read.
    #[error("reading {what}: {message}")]
    Object {
        /// The object.
        what: String,
        /// gix's message.
        message: String,
    },
    /// A file could not be written or removed.
    #[error("updating {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One file of a tree: its blob and mode.
type Files = BTreeMap<String, (ObjectId, EntryMode)>;

/// Makes the work tree of `repo` equal to `tree` (a tree id) and returns its folder.
///
/// Errors: [`WorktreeError::Bare`] for a bare repository, [`WorktreeError::Object`] when an
/// object is missing, [`WorktreeError::Io`] on a file error.
pub fn check_out_tree(repo: &gix::Repository, tree: ObjectId) -> Result<PathBuf, WorktreeError> {
    let dir = repo.workdir().ok_or(WorktreeError::Bare)?.to_owned();
    let record = repo.git_dir().join(WORKTREE_RECORD);
    let held = std::fs::read_to_string(&record)
        .ok()
        .and_then(|text| ObjectId::from_hex(text.trim().as_bytes()).ok());
    if held == Some(tree) {
        return Ok(dir);
    }
    remove_if_present(&record)?;
    let old = match held {
        Some(old) => files(repo, old)?,
        None => {
            clear_worktree(&dir)?;
            Files::new()
        }
    };
    let new = files(repo, tree)?;
    for (path, entry) in &new {
        if old.get(path) != Some(entry) {
            write_entry(repo, &dir.join(path), *entry)?;
        }
    }
    for path in old.keys().filter(|path| !new.contains_key(*path)) {
        remove_if_present(&dir.join(path))?;
    }
    std::fs::write(&record, tree.to_hex().to_string()).map_err(|source| WorktreeError::Io {
        path: record,
        source,
    })?;
    Ok(dir)
}

/// The files (blobs and symbolic links) of `tree`, by `/`-separated path; entries whose path
/// could escape the work tree (`..`, `.git`) are left out.
fn files(repo: &gix::Repository, tree: ObjectId) -> Result<Files, WorktreeError> {
    let object_error = |error: gix::Error| WorktreeError::Object {
        what: format!("tree {tree}"),
        message: format!("{error:#}"),
    };
    let entries = repo
        .find_tree(tree)
        .and_then(|tree| tree.traverse().breadthfirst.files())
        .map_err(object_error)?;
    Ok(entries
        .into_iter()
        .filter(|entry| entry.mode.is_blob_or_symlink())
        .map(|entry| (entry.filepath.to_string(), (entry.oid, entry.mode)))
        .filter(|(path, _)| is_safe(path))
        .collect())
}

fn is_safe(path: &str) -> bool {
    path.split('/')
        .all(|part| !part.is_empty() && part != ".." && part != "." && part != ".git")
}

fn write_entry(
    repo: &gix::Repository,
    path: &Path,
    (id, mode): (ObjectId, EntryMode),
) -> Result<(), WorktreeError> {
    let blob = repo.find_blob(id).map_err(|error| WorktreeError::Object {
        what: format!("blob {id} of {}", path.display()),
        message: format!("{error:#}"),
    })?;
    let io = |source| WorktreeError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    remove_if_present(path)?;
    if mode.is_link() {
        let target = String::from_utf8_lossy(&blob.data).into_owned();
        return std::os::unix::fs::symlink(target, path).map_err(io);
    }
    std::fs::write(path, &blob.data).map_err(io)?;
    if mode.is_executable() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), WorktreeError> {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    };
    removed.map_err(|source| WorktreeError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Removes everything in `dir` but `.git`.
fn clear_worktree(dir: &Path) -> Result<(), WorktreeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| WorktreeError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        if entry.file_name() != ".git" {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}
