//! Fetching the tree of one ref into a throw-away bare repository, as Flux's source-controller
//! does for a GitRepository: a single connection lists the remote refs, the fetch is skipped
//! when the selected ref still points at the revision already stored, and otherwise only that
//! ref is fetched, shallow (depth 1) unless a commit is asked for. The result is the commit's
//! tree as files in memory, within [`TreeLimits`] (checked from the objects' headers before any
//! file is read), and the whole fetch stops at its [`Deadline`]. Blocking: call it from
//! `spawn_blocking`. URLs: `https://`, `http://`, `ssh://`, `git://`, `file://` (which ones a
//! controller accepts is its decision).
//!
//! Basic credentials go through gix's credential exchange rather than the preemptive header
//! [`crate::GitAuth::git_config`] gives the automation's fetch and push, so that gix refuses to
//! send a GitRepository's password over plain `http://`; bearer tokens and SSH use the header and
//! `ssh` command.

use std::num::NonZeroU32;
use std::path::Path;

use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};

use crate::auth::{AuthError, GitAuth};
use crate::deadline::{Deadline, Watchdog, bounded_config, bounded_connection};
use crate::fetch::{
    FetchError, bounded_transport, describe, open_repository, remote_refs, transport,
};
use crate::reference::{RefError, RefSelector, Resolved};

/// Why a tree could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The SSH key files could not be written or the identity decrypted.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The repository could not be opened, or the remote listed or fetched from.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The ref could not be selected among the remote refs.
    #[error(transparent)]
    Reference(#[from] RefError),
    /// The commit asked for is not in the fetched history.
    #[error("commit '{0}' not found")]
    CommitNotFound(String),
    /// The fetched tree holds more files or bytes than its [`TreeLimits`]; nothing was read.
    #[error("{0}")]
    TooLarge(String),
    /// The deadline passed while the tree was being read.
    #[error("reading the fetched tree: timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// A tree or file of the fetched commit could not be read.
    #[error("reading {what}: {message}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// gix's message.
        message: String,
    },
}

/// One regular file of the fetched tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Slash-separated path from the repository root.
    pub path: String,
    /// Whether the file is executable.
    pub executable: bool,
    /// The file's bytes.
    pub data: Vec<u8>,
}

/// The most a fetched tree may hold, since it is read into memory: its regular files (symlinks
/// and submodules are not counted), and the sum of their sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// The most files.
    pub max_files: usize,
    /// The most bytes, all files together.
    pub max_bytes: u64,
}

/// What a snapshot fetch found.
#[derive(Debug)]
pub enum Fetched {
    /// The remote ref still points at the stored revision; nothing was fetched.
    Unchanged(Resolved),
    /// A new revision and its files (symlinks and submodules left out, as Flux does).
    Tree(Resolved, Vec<TreeFile>),
}

/// What [`fetch_snapshot`] fetches, from where, and within which bounds.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotRequest<'a> {
    /// The remote URL.
    pub url: &'a str,
    /// The ref to fetch.
    pub selector: &'a RefSelector,
    /// The credentials.
    pub auth: &'a GitAuth,
    /// The revision already stored (Flux's revision string); nothing is fetched when the
    /// remote's is the same.
    pub stored_revision: Option<&'a str>,
    /// A fresh folder for the bare repository and the SSH key files.
    pub workdir: &'a Path,
    /// When everything must be over, reading the tree included.
    pub deadline: Deadline,
    /// The most the tree may hold.
    pub limits: TreeLimits,
}

/// Fetches `request.selector` from `request.url` into a new bare repository under
/// `request.workdir`, unless the revision the remote advertises equals
/// `request.stored_revision`, and reads its tree.
///
/// Errors: [`SnapshotError::Fetch`] with gix's message (authentication, connection, a password
/// refused over plain `http://`) or [`FetchError::TimedOut`], [`SnapshotError::Reference`] when
/// the ref is not advertised or no tag matches, [`SnapshotError::CommitNotFound`],
/// [`SnapshotError::TooLarge`], [`SnapshotError::TimedOut`], [`SnapshotError::Auth`],
/// [`SnapshotError::Read`].
pub fn fetch_snapshot(request: SnapshotRequest<'_>) -> Result<Fetched, SnapshotError> {
    let SnapshotRequest {
        url,
        selector,
        auth,
        stored_revision,
        workdir,
        deadline,
        limits,
    } = request;
    let config = match auth {
        GitAuth::Basic { .. } => Vec::new(),
        _ => auth.git_config(workdir)?,
    };
    let config = bounded_config(&config, url, deadline);
    let repo = open_repository(&workdir.join("repository.git"), &config)?;
    let remote = repo
        .remote_at(url)
        .and_then(|remote| {
            remote.with_refspecs(Some(selector.refspec().as_str()), Direction::Fetch)
        })
        .map_err(transport(url))?
        .with_fetch_tags(Tags::None);
    let watchdog = Watchdog::start(deadline);
    let bounded = bounded_transport(url, deadline);
    let connection = remote
        .connect(Direction::Fetch)
        .and_then(|connection| bounded_connection(connection, &repo, url, deadline))
        .map_err(&bounded)?;
    let prepare = with_credentials(connection, auth)
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(&bounded)?;
    let resolved = selector.resolve(&remote_refs(prepare.ref_map()))?;
    if stored_revision == Some(resolved.revision.as_str()) {
        return Ok(Fetched::Unchanged(resolved));
    }
    let shallow = if selector.shallow() {
        Shallow::DepthAtRemote(NonZeroU32::MIN)
    } else {
        Shallow::NoChange
    };
    prepare
        .with_shallow(shallow)
        .receive(gix::progress::Discard, watchdog.flag())
        .map_err(&bounded)?;
    let files = read_commit_tree(&repo, &resolved.commit, deadline, limits)?;
    Ok(Fetched::Tree(resolved, files))
}

/// `connection` answering gix's credential requests with the basic credentials of `auth`.
fn with_credentials<'remote, 'repo, T: gix::protocol::transport::client::blocking_io::Transport>(
    connection: gix::remote::Connection<'remote, 'static, 'repo, T>,
    auth: &GitAuth,
) -> gix::remote::Connection<'remote, 'static, 'repo, T> {
    let GitAuth::Basic { username, password } = auth else {
        return connection;
    };
    let (username, password) = (username.clone(), password.clone());
    connection.with_credentials(move |action| match action {
        gix::credentials::helper::Action::Get(context) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            }))
        }
        _ => Ok(None),
    })
}

/// Every regular file of `commit`'s tree, in tree order, read only when the whole tree is
/// within `limits` (known from the tree entries and the objects' headers), before `deadline`.
fn read_commit_tree(
    repo: &gix::Repository,
    commit: &str,
    deadline: Deadline,
    limits: TreeLimits,
) -> Result<Vec<TreeFile>, SnapshotError> {
    let not_found = || SnapshotError::CommitNotFound(commit.to_string());
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| not_found())?;
    let commit_object = repo
        .find_object(id)
        .map_err(|_| not_found())?
        .try_into_commit()
        .map_err(|_| not_found())?;
    let tree = commit_object.tree_id().map_err(read("the commit"))?;
    let mut listing = Listing {
        repo,
        deadline,
        limits,
        entries: Vec::new(),
        bytes: 0,
    };
    listing.walk(tree.detach(), "")?;
    listing
        .entries
        .into_iter()
        .map(|(path, executable, id)| {
            if deadline.has_passed() {
                return Err(SnapshotError::TimedOut(deadline.timeout()));
            }
            let blob = repo.find_blob(id).map_err(read("a file"))?;
            Ok(TreeFile {
                path,
                executable,
                data: blob.data.clone(),
            })
        })
        .collect()
}

/// The regular files of a tree, listed (path, executable, blob) and counted against the limits
/// before any is read.
struct Listing<'a> {
    repo: &'a gix::Repository,
    deadline: Deadline,
    limits: TreeLimits,
    entries: Vec<(String, bool, gix::ObjectId)>,
    bytes: u64,
}

impl Listing<'_> {
    fn walk(&mut self, tree: gix::ObjectId, prefix: &str) -> Result<(), SnapshotError> {
        if self.deadline.has_passed() {
            return Err(SnapshotError::TimedOut(self.deadline.timeout()));
        }
        let tree = self.repo.find_tree(tree).map_err(read("a tree"))?;
        for entry in tree.iter() {
            let entry = entry.map_err(read("a tree"))?;
            let path = format!("{prefix}{}", entry.filename());
            let mode = entry.mode();
            if mode.is_tree() {
                self.walk(entry.object_id(), &format!("{path}/"))?;
            } else if mode.is_blob() {
                self.add(path, mode.is_executable(), entry.object_id())?;
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        path: String,
        executable: bool,
        id: gix::ObjectId,
    ) -> Result<(), SnapshotError> {
        let TreeLimits {
            max_files,
            max_bytes,
        } = self.limits;
        if self.entries.len() >= max_files {
            return Err(SnapshotError::TooLarge(format!(
                "the repository holds more than {max_files} files"
            )));
        }
        let size = self
            .repo
            .find_header(id)
            .map_err(|error| SnapshotError::Read {
                what: "a file's header",
                message: error.to_string(),
            })?
            .size();
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > max_bytes {
            return Err(SnapshotError::TooLarge(format!(
                "the repository's files hold more than {max_bytes} bytes (reached at '{path}', {size} bytes)"
            )));
        }
        self.entries.push((path, executable, id));
        Ok(())
    }
}

/// Maps a gix error of reading `what` into [`SnapshotError::Read`].
fn read(what: &'static str) -> impl Fn(gix::Error) -> SnapshotError {
    move |error| SnapshotError::Read {
        what,
        message: describe(&error),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;

    const ROOMY: TreeLimits = TreeLimits {
        max_files: 100,
        max_bytes: 1 << 20,
    };

    fn request<'a>(
        url: &'a str,
        selector: &'a RefSelector,
        workdir: &'a Path,
        deadline: Deadline,
        limits: TreeLimits,
    ) -> SnapshotRequest<'a> {
        SnapshotRequest {
            url,
            selector,
            auth: &GitAuth::Anonymous,
            stored_revision: None,
            workdir,
            deadline,
            limits,
        }
    }

    /// A repository at `dir` whose `main` holds `files` (name, size in bytes).
    fn repository(dir: &Path, files: &[(&str, usize)]) -> String {
        let git = |args: &[&str]| {
            let output = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
                .arg(dir)
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        for (name, size) in files {
            std::fs::write(dir.join(name), vec![b'x'; *size]).unwrap();
        }
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "files"]);
        format!("file://{}", dir.display())
    }

    #[test]
    fn a_tree_past_its_limits_is_refused_before_it_is_read() {
        let origin = tempfile::tempdir().unwrap();
        let url = repository(origin.path(), &[("a.yaml", 600), ("b.yaml", 600)]);
        let main = RefSelector::Branch("main".into());
        let deadline = Deadline::after(Duration::from_secs(60));
        let work = tempfile::tempdir().unwrap();
        let fetched = fetch_snapshot(request(&url, &main, work.path(), deadline, ROOMY));
        assert!(matches!(fetched, Ok(Fetched::Tree(_, files)) if files.len() == 2));
        let few_bytes = TreeLimits {
            max_bytes: 1000,
            ..ROOMY
        };
        let work = tempfile::tempdir().unwrap();
        let refused = fetch_snapshot(request(&url, &main, work.path(), deadline, few_bytes));
        assert!(
            matches!(&refused, Err(SnapshotError::TooLarge(m)) if m.contains("1000 bytes") && m.contains("b.yaml")),
            "{refused:?}"
        );
        let one_file = TreeLimits {
            max_files: 1,
            ..ROOMY
        };
        let work = tempfile::tempdir().unwrap();
        let refused = fetch_snapshot(request(&url, &main, work.path(), deadline, one_file));
        assert!(
            matches!(&refused, Err(SnapshotError::TooLarge(m)) if m.contains("more than 1 files")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_server_that_never_answers_is_given_up_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _stalling = std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(60));
            drop(held);
        });
        let url = format!("http://127.0.0.1:{port}/fleet.git");
        let main = RefSelector::Branch("main".into());
        let work = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let deadline = Deadline::after(Duration::from_secs(2));
        let stopped = fetch_snapshot(request(&url, &main, work.path(), deadline, ROOMY));
        assert!(
            matches!(
                &stopped,
                Err(SnapshotError::Fetch(FetchError::TimedOut { after, .. })) if *after == Duration::from_secs(2)
            ),
            "{stopped:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
