//! Fetching one ref of a Git repository with gix into a throw-away bare repository: a single
//! connection lists the remote refs, the fetch is skipped when the selected ref still points at
//! the revision already stored, and otherwise only that ref is fetched, shallow (depth 1) unless
//! a commit is asked for. The result is the commit's tree as files in memory. Blocking: call it
//! from `spawn_blocking`. URLs: `https://`, `http://`, `ssh://`, `git://`, `file://` (gix
//! refuses to send credentials over plain `http://`).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::remote::Direction;

use super::credentials::GitAuth;
use super::reference::{self, RefSelector, RemoteRef, Resolved};

/// Errors of a fetch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Git operation (connect, handshake, fetch, object read) failed.
    #[error("{operation}: {message}")]
    Git {
        /// What was being done.
        operation: &'static str,
        /// gix's message.
        message: String,
    },
    /// The ref could not be selected among the remote refs.
    #[error(transparent)]
    Reference(#[from] reference::Error),
    /// The commit asked for by `spec.ref.commit` is not in the fetched history.
    #[error("commit '{0}' not found")]
    CommitNotFound(String),
    /// Writing the SSH key files failed.
    #[error("writing SSH key files: {0}")]
    Io(#[from] std::io::Error),
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

/// What a fetch found.
#[derive(Debug)]
pub enum Fetched {
    /// The remote ref still points at the stored revision; nothing was fetched.
    Unchanged(Resolved),
    /// A new revision and its files (symlinks and submodules left out, as Flux does).
    Tree(Resolved, Vec<TreeFile>),
}

/// Fetches `selector` from `url` into a new bare repository under `workdir`, unless the
/// revision the remote advertises equals `stored_revision`.
///
/// Errors: [`Error::Git`] naming the operation (with gix's message, e.g. authentication or
/// connection failures), [`Error::Reference`] when the ref is not advertised,
/// [`Error::CommitNotFound`]. `interrupt` aborts a running transfer.
pub fn fetch(
    url: &str,
    selector: &RefSelector,
    auth: &GitAuth,
    stored_revision: Option<&str>,
    workdir: &Path,
    interrupt: &AtomicBool,
) -> Result<Fetched, Error> {
    let repo = open_repository(workdir, auth)?;
    let remote = repo
        .remote_at(url)
        .map_err(git("parsing the URL"))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(Some(selector.refspec().as_str()), Direction::Fetch)
        .map_err(git("setting the refspec"))?;
    let connection = remote
        .connect(Direction::Fetch)
        .map_err(git("connecting"))?;
    let connection = with_credentials(connection, auth);
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(git("listing remote refs"))?;
    let resolved = selector.resolve(&remote_refs(prepare.ref_map()))?;
    if stored_revision == Some(resolved.revision.as_str()) {
        return Ok(Fetched::Unchanged(resolved));
    }
    let shallow = if selector.shallow() {
        gix::remote::fetch::Shallow::DepthAtRemote(
            1.try_into().unwrap_or(std::num::NonZeroU32::MIN),
        )
    } else {
        gix::remote::fetch::Shallow::NoChange
    };
    prepare
        .with_shallow(shallow)
        .receive(gix::progress::Discard, interrupt)
        .map_err(git("fetching"))?;
    let files = read_commit_tree(&repo, &resolved.commit)?;
    Ok(Fetched::Tree(resolved, files))
}

/// A bare repository under `workdir` configured for `auth` (SSH key and host keys, or a bearer
/// header); basic credentials are given per connection.
fn open_repository(workdir: &Path, auth: &GitAuth) -> Result<gix::Repository, Error> {
    let path = workdir.join("repository.git");
    gix::init_bare(&path).map_err(git("creating the repository"))?;
    let overrides = match auth {
        GitAuth::Ssh {
            identity,
            known_hosts,
        } => {
            let key = workdir.join("identity");
            let hosts = workdir.join("known_hosts");
            write_private(&key, identity)?;
            write_private(&hosts, known_hosts)?;
            vec![format!(
                "core.sshCommand=ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes",
                key.display(),
                hosts.display()
            )]
        }
        GitAuth::Bearer(token) => vec![format!("http.extraHeader=Authorization: Bearer {token}")],
        _ => Vec::new(),
    };
    gix::open_opts(
        &path,
        gix::open::Options::isolated().config_overrides(overrides),
    )
    .map_err(git("opening the repository"))
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    if !text.ends_with('\n') {
        std::io::Write::write_all(&mut file, b"\n")?;
    }
    Ok(())
}

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

/// The refs the remote advertised, tags peeled to their commits.
fn remote_refs(ref_map: &gix::remote::fetch::RefMap) -> Vec<RemoteRef> {
    use gix::protocol::handshake::Ref;
    ref_map
        .remote_refs
        .iter()
        .filter_map(|r| {
            let (name, commit) = match r {
                Ref::Peeled {
                    full_ref_name,
                    object,
                    ..
                }
                | Ref::Direct {
                    full_ref_name,
                    object,
                }
                | Ref::Symbolic {
                    full_ref_name,
                    object,
                    ..
                } => (full_ref_name, object),
                Ref::Unborn { .. } => return None,
            };
            Some(RemoteRef {
                name: name.to_string(),
                commit: commit.to_string(),
            })
        })
        .collect()
}

/// Every regular file of `commit`'s tree, in tree order.
fn read_commit_tree(repo: &gix::Repository, commit: &str) -> Result<Vec<TreeFile>, Error> {
    let not_found = || Error::CommitNotFound(commit.to_string());
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| not_found())?;
    let commit_object = repo
        .find_object(id)
        .map_err(|_| not_found())?
        .try_into_commit()
        .map_err(|_| not_found())?;
    let tree = commit_object.tree_id().map_err(git("reading the commit"))?;
    let mut files = Vec::new();
    collect_files(repo, tree.detach(), "", &mut files)?;
    Ok(files)
}

fn collect_files(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    prefix: &str,
    files: &mut Vec<TreeFile>,
) -> Result<(), Error> {
    let tree = repo.find_tree(tree).map_err(git("reading a tree"))?;
    for entry in tree.iter() {
        let entry = entry.map_err(git("decoding a tree"))?;
        let path = format!("{prefix}{}", entry.filename());
        let mode = entry.mode();
        if mode.is_tree() {
            collect_files(repo, entry.object_id(), &format!("{path}/"), files)?;
        } else if mode.is_blob() {
            let blob = repo
                .find_blob(entry.object_id())
                .map_err(git("reading a file"))?;
            files.push(TreeFile {
                path,
                executable: mode.is_executable(),
                data: blob.data.clone(),
            });
        }
    }
    Ok(())
}

/// Maps a gix error into [`Error::Git`] for `operation`, its message followed by those of the
/// errors that caused it (gix's top-level messages, e.g. "Transport handshake failed", do not
/// say why).
fn git<E: std::error::Error>(operation: &'static str) -> impl Fn(E) -> Error {
    move |error| {
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(inner) = cause {
            message.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        Error::Git { operation, message }
    }
}
