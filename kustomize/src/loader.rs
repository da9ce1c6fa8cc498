//! File access for one kustomization directory, kept inside the directories the build may read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::KUSTOMIZATION_FILES;
use super::error::Error;
use super::limits::{Budget, MAX_FILE_BYTES};

/// Reads the files of one kustomization directory.
///
/// As kustomize's `LoadRestrictionsRootOnly`: files must be in or below the kustomization's own
/// directory; other kustomization directories (bases, components) may be anywhere, but never
/// outside `boundary` (the directory the whole build was asked for, or wider, when set), and never
/// one that is already being built (a cycle).
///
/// Every load first checks the build's deadline, and refuses a file larger than
/// [`MAX_FILE_BYTES`] or that is not a regular file (a FIFO would block the thread).
#[derive(Clone, Debug)]
pub struct Loader {
    root: PathBuf,
    boundary: Option<PathBuf>,
    ancestors: Vec<PathBuf>,
    budget: Arc<Budget>,
}

/// What a path in `resources` names.
pub enum Entry {
    /// A file of resources, with its path and content.
    File(PathBuf, String),
    /// A kustomization directory.
    Directory(PathBuf),
}

impl Loader {
    /// A loader for the kustomization in `dir`; `boundary` bounds every later load when set;
    /// `budget` is the build's (deadline, alias allowance), shared with every child loader.
    /// Errors when `dir` is not a readable directory.
    pub fn new(dir: &Path, boundary: Option<&Path>, budget: Arc<Budget>) -> Result<Self, Error> {
        let root = canonical(dir)?;
        let boundary = boundary.map(canonical).transpose()?;
        let loader = Self {
            root,
            boundary,
            ancestors: Vec::new(),
            budget,
        };
        loader.check_boundary(&loader.root)?;
        Ok(loader)
    }

    /// The directory of this kustomization (absolute, symlinks resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The build's budget: its deadline and what remains of its alias allowance.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// A loader for the kustomization directory `dir` (relative to this one), refusing cycles.
    pub fn child(&self, dir: &Path) -> Result<Self, Error> {
        let mut ancestors = self.ancestors.clone();
        ancestors.push(self.root.clone());
        if ancestors.contains(&dir.to_path_buf()) {
            return Err(Error::Cycle(dir.to_path_buf()));
        }
        self.check_boundary(dir)?;
        Ok(Self {
            root: dir.to_path_buf(),
            boundary: self.boundary.clone(),
            ancestors,
            budget: Arc::clone(&self.budget),
        })
    }

    /// The text of the file at `relative` (to this kustomization), which must be in or below it.
    /// Errors with [`Error::Deadline`] once the build's deadline has passed, [`Error::Limit`]
    /// for a file over [`MAX_FILE_BYTES`] or not a regular file, [`Error::Io`] when unreadable.
    pub fn read(&self, relative: &str) -> Result<(PathBuf, String), Error> {
        refuse_remote(&self.root, relative)?;
        let joined = self.root.join(relative);
        self.budget.check(&joined)?;
        let path = canonical(&joined)?;
        if !path.starts_with(&self.root) {
            return Err(Error::OutsideRoot {
                path,
                root: self.root.clone(),
            });
        }
        let text = read_bounded(&path)?;
        Ok((path, text))
    }

    /// Resolves an entry of `resources` or `components`: a file (read) or a directory.
    pub fn entry(&self, relative: &str) -> Result<Entry, Error> {
        refuse_remote(&self.root, relative)?;
        self.budget.check(&self.root.join(relative))?;
        let path = canonical(&self.root.join(relative))?;
        if path.is_dir() {
            return Ok(Entry::Directory(path));
        }
        let (path, text) = self.read(relative)?;
        Ok(Entry::File(path, text))
    }

    /// Reads this directory's kustomization file: its path and text.
    pub fn kustomization_file(&self) -> Result<(PathBuf, String), Error> {
        let found: Vec<&str> = KUSTOMIZATION_FILES
            .into_iter()
            .filter(|name| self.root.join(name).is_file())
            .collect();
        match found.as_slice() {
            [] => Err(Error::MissingKustomization(self.root.clone())),
            [name] => self.read(name),
            _ => Err(Error::MultipleKustomizations(self.root.clone())),
        }
    }

    fn check_boundary(&self, path: &Path) -> Result<(), Error> {
        match &self.boundary {
            Some(boundary) if !path.starts_with(boundary) => Err(Error::OutsideRoot {
                path: path.to_path_buf(),
                root: boundary.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// The text of the file at `path`, refused ([`Error::Limit`]) when over [`MAX_FILE_BYTES`] (read
/// at most one byte past it, should the file grow) or neither a regular file nor a directory
/// (reading a directory fails with [`Error::Io`], as before).
fn read_bounded(path: &Path) -> Result<String, Error> {
    let io = |cause| Error::Io {
        path: path.to_path_buf(),
        cause,
    };
    let limit = |message: String| Error::Limit {
        path: path.to_path_buf(),
        message,
    };
    let too_large = || {
        limit(format!(
            "file larger than {MAX_FILE_BYTES} bytes; refused by sluice_kustomize::limits::MAX_FILE_BYTES"
        ))
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() && !metadata.is_dir() {
        return Err(limit("not a regular file".to_string()));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

fn canonical(path: &Path) -> Result<PathBuf, Error> {
    path.canonicalize().map_err(|cause| Error::Io {
        path: path.to_path_buf(),
        cause,
    })
}

/// Whether `path` is a remote base or file (URL, git or registry address), which Sluice refuses.
fn is_remote(path: &str) -> bool {
    path.contains("://")
        || path.starts_with("git@")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|host| path.starts_with(host))
}

fn refuse_remote(root: &Path, path: &str) -> Result<(), Error> {
    if is_remote(path) && !root.join(path).exists() {
        return Err(Error::Unsupported {
            path: root.to_path_buf(),
            message: format!(
                "remote resource '{path}' is not supported: vendor it into the source"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Arc<Budget> {
        Arc::new(Budget::new(None))
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sluice-kustomize-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn refuses_files_outside_the_kustomization() {
        let dir = scratch_dir("outside");
        std::fs::create_dir(dir.join("overlay")).unwrap();
        std::fs::write(dir.join("secret.yaml"), "a: 1").unwrap();
        let loader = Loader::new(&dir.join("overlay"), None, budget()).unwrap();
        assert!(matches!(
            loader.read("../secret.yaml"),
            Err(Error::OutsideRoot { .. })
        ));
    }

    #[test]
    fn refuses_remote_bases() {
        let dir = scratch_dir("remote");
        let loader = Loader::new(&dir, None, budget()).unwrap();
        assert!(matches!(
            loader.entry("https://github.com/org/repo//base"),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn refuses_cycles() {
        let dir = scratch_dir("cycle");
        let loader = Loader::new(&dir, None, budget()).unwrap();
        let child = loader.child(&dir.join("x")).unwrap();
        assert!(matches!(child.child(loader.root()), Err(Error::Cycle(_))));
    }
}
