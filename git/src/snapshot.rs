//! Fetching the tree of one ref into a throw-away bare repository, as Flux's source-controller
//! does for a GitRepository: a single connection lists the remote refs, the fetch is skipped
//! when the selected ref still points at the revision already stored, and otherwise only that
//! ref is fetched, shallow (depth 1) unless a commit is asked for. The result is the commit's
//! tree as files in memory. Blocking: call it from `spawn_blocking`. URLs: `https://`,
//! `http://`, `ssh://`, `git://`, `file://`.
//!
//! Basic credentials go through gix's credential exchange rather than the preemptive header
//! [`crate::GitAuth::git_config`] gives the automation's fetch and push, so that gix refuses to
//! send a GitRepository's password over plain `http://`; bearer tokens and SSH use the header and
//! `ssh` command.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};

use crate::auth::{AuthError, GitAuth};
use crate::fetch::{FetchError, describe, open_repository, remote_refs, transport};
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

/// What a snapshot fetch found.
#[derive(Debug)]
pub enum Fetched {
    /// The remote ref still points at the stored revision; nothing was fetched.
    Unchanged(Resolved),
    /// A new revision and its files (symlinks and submodules left out, as Flux does).
    Tree(Resolved, Vec<TreeFile>),
}

/// Fetches `selector` from `url` with `auth` into a new bare repository under `workdir` (which
/// also receives the SSH key files), unless the revision the remote advertises equals
/// `stored_revision`. `interrupt` aborts a running transfer.
///
/// Errors: [`SnapshotError::Fetch`] with gix's message (authentication, connection, a password
/// refused over plain `http://`), [`SnapshotError::Reference`] when the ref is not advertised or
/// no tag matches, [`SnapshotError::CommitNotFound`], [`SnapshotError::Auth`],
/// [`SnapshotError::Read`].
pub fn fetch_snapshot(
    url: &str,
    selector: &RefSelector,
    auth: &GitAuth,
    stored_revision: Option<&str>,
    workdir: &Path,
    interrupt: &AtomicBool,
) -> Result<Fetched, SnapshotError> {
    let config = match auth {
        GitAuth::Basic { .. } => Vec::new(),
        _ => auth.git_config(workdir)?,
    };
    let repo = open_repository(&workdir.join("repository.git"), &config)?;
    let remote = repo
        .remote_at(url)
        .and_then(|remote| {
            remote.with_refspecs(Some(selector.refspec().as_str()), Direction::Fetch)
        })
        .map_err(transport(url))?
        .with_fetch_tags(Tags::None);
    let connection = remote.connect(Direction::Fetch).map_err(transport(url))?;
    let prepare = with_credentials(connection, auth)
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(transport(url))?;
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
        .receive(gix::progress::Discard, interrupt)
        .map_err(transport(url))?;
    let files = read_commit_tree(&repo, &resolved.commit)?;
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

/// Every regular file of `commit`'s tree, in tree order.
fn read_commit_tree(repo: &gix::Repository, commit: &str) -> Result<Vec<TreeFile>, SnapshotError> {
    let not_found = || SnapshotError::CommitNotFound(commit.to_string());
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| not_found())?;
    let commit_object = repo
        .find_object(id)
        .map_err(|_| not_found())?
        .try_into_commit()
        .map_err(|_| not_found())?;
    let tree = commit_object.tree_id().map_err(read("the commit"))?;
    let mut files = Vec::new();
    collect_files(repo, tree.detach(), "", &mut files)?;
    Ok(files)
}

fn collect_files(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    prefix: &str,
    files: &mut Vec<TreeFile>,
) -> Result<(), SnapshotError> {
    let tree = repo.find_tree(tree).map_err(read("a tree"))?;
    for entry in tree.iter() {
        let entry = entry.map_err(read("a tree"))?;
        let path = format!("{prefix}{}", entry.filename());
        let mode = entry.mode();
        if mode.is_tree() {
            collect_files(repo, entry.object_id(), &format!("{path}/"), files)?;
        } else if mode.is_blob() {
            let blob = repo.find_blob(entry.object_id()).map_err(read("a file"))?;
            files.push(TreeFile {
                path,
                executable: mode.is_executable(),
                data: blob.data.clone(),
            });
        }
    }
    Ok(())
}

/// Maps a gix error of reading `what` into [`SnapshotError::Read`].
fn read(what: &'static str) -> impl Fn(gix::Error) -> SnapshotError {
    move |error| SnapshotError::Read {
        what,
        message: describe(&error),
    }
}
