//! Opening a bare repository and fetching into it with gix. [`open_repository`] is the one way
//! both controllers open one (isolated from the system and user Git configuration, credentials
//! as per-handle configuration); [`fetch_wants`] fetches remote refs (or commits) at depth 1 into
//! local refs of Sluice's own (`refs/sluice/...`), so a warm cache only receives the objects that
//! changed since the last run; [`list_tags`] lists the tags a semver range chooses among.
//!
//! gix's errors are reported with their causes, as the GitRepository source reported them (e.g.
//! "Transport handshake failed: ... Will not send credentials in clear text over http"); the
//! automation's used to stop at the top message.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use gix::ObjectId;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};

use crate::deadline::{Deadline, Watchdog, bounded_connection};
use crate::reference::RemoteRef;

/// Why opening or fetching failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The repository could not be created or opened.
    #[error("cannot open the repository {path}: {message}")]
    Open {
        /// Its folder.
        path: String,
        /// gix's message.
        message: String,
    },
    /// Connecting, negotiating or receiving the pack failed (includes authentication failures).
    #[error("fetching from {url}: {message}")]
    Transport {
        /// The remote URL, without credentials.
        url: String,
        /// gix's message, with its causes.
        message: String,
    },
    /// The remote did not finish answering before the deadline; the transfer was stopped.
    #[error("fetching from {url}: timed out after {after:?}")]
    TimedOut {
        /// The remote URL, without credentials.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// A fetched reference does not lead to a commit.
    #[error("{reference} does not point to a commit: {message}")]
    NotACommit {
        /// The local reference.
        reference: String,
        /// gix's message.
        message: String,
    },
}

/// One thing to fetch: `source` (a full remote reference name or a commit SHA) into the local
/// reference `target` (e.g. `refs/sluice/checkout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// Remote reference name or SHA.
    pub source: String,
    /// Local reference name.
    pub target: String,
}

/// Opens the bare repository `dir`, creating it when `dir/HEAD` is absent. `config` entries
/// (`key=value`, e.g. [`crate::GitAuth::git_config`]) apply to this handle only; the system and
/// user Git configuration is not read.
///
/// Reference logs are off and the repository's own identity is `sluice`. Installs rustls' `ring`
/// provider as the process default when none is, for gix's HTTP(S) transport.
///
/// Errors: [`FetchError::Open`].
pub fn open_repository(dir: &Path, config: &[String]) -> Result<gix::Repository, FetchError> {
    sluice_runtime::logging::install_crypto_provider();
    let overrides = config.iter().map(String::as_str).chain([
        "core.logAllRefUpdates=false",
        "user.name=sluice",
        "user.email=sluice@localhost",
    ]);
    let options = gix::open::Options::isolated().config_overrides(overrides);
    let opened = if dir.join("HEAD").is_file() {
        gix::open_opts(dir, options)
    } else {
        gix::ThreadSafeRepository::init_opts(
            dir,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            options,
        )
        .map(Into::into)
    };
    opened.map_err(|error| FetchError::Open {
        path: dir.display().to_string(),
        message: describe(&error),
    })
}

/// Fetches every `want` from `url` at depth 1 in one connection, without tags, stopping at
/// `deadline` (see [`crate::deadline`]; SSH is bounded by the repository's configuration, see
/// [`crate::bounded_config`]).
///
/// Returns, per want and in order, the commit its target now points to (annotated tags peeled),
/// or `None` when the remote has no such reference.
///
/// Errors: [`FetchError::Transport`] when the remote cannot be reached, refuses the credentials
/// or the transfer fails; [`FetchError::TimedOut`] past the deadline; [`FetchError::NotACommit`]
/// when a reference leads to a tree or blob.
pub fn fetch_wants(
    repo: &gix::Repository,
    url: &str,
    wants: &[Want],
    deadline: Deadline,
) -> Result<Vec<Option<ObjectId>>, FetchError> {
    let refspecs: Vec<String> = wants
        .iter()
        .map(|want| format!("+{}:{}", want.source, want.target))
        .collect();
    let remote = repo
        .remote_at(url)
        .and_then(|remote| {
            remote.with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
        })
        .map_err(transport(url))?
        .with_fetch_tags(Tags::None);
    let watchdog = Watchdog::start(deadline);
    let outcome = remote
        .connect(Direction::Fetch)
        .and_then(|connection| bounded_connection(connection, repo, url, deadline))
        .and_then(|connection| connection.prepare_fetch(gix::progress::Discard, Default::default()))
        .and_then(|prepared| {
            prepared
                .with_shallow(Shallow::DepthAtRemote(NonZeroU32::MIN))
                .receive(gix::progress::Discard, watchdog.flag())
        })
        .map_err(bounded_transport(url, deadline))?;
    let matched: Vec<usize> = outcome
        .ref_map
        .mappings
        .iter()
        .filter_map(|mapping| match mapping.spec_index {
            gix::protocol::fetch::refmap::SpecIndex::ExplicitInRemote(index) => Some(index),
            gix::protocol::fetch::refmap::SpecIndex::Implicit(_) => None,
        })
        .collect();
    wants
        .iter()
        .enumerate()
        .map(|(index, want)| {
            matched
                .contains(&index)
                .then(|| peeled_commit(repo, &want.target))
                .transpose()
        })
        .collect()
}

/// The tags `url` advertises (full names, peeled to their commits), for a semver checkout,
/// listed before `deadline`.
///
/// Errors: [`FetchError::Transport`] when the remote cannot be listed, [`FetchError::TimedOut`]
/// past the deadline.
pub fn list_tags(
    repo: &gix::Repository,
    url: &str,
    deadline: Deadline,
) -> Result<Vec<RemoteRef>, FetchError> {
    let bounded = bounded_transport(url, deadline);
    let remote = repo
        .remote_at(url)
        .and_then(|remote| {
            remote.with_refspecs(["refs/tags/*:refs/sluice/tags/*"], Direction::Fetch)
        })
        .map_err(&bounded)?
        .with_fetch_tags(Tags::None);
    let (ref_map, _) = remote
        .connect(Direction::Fetch)
        .and_then(|connection| bounded_connection(connection, repo, url, deadline))
        .and_then(|connection| connection.ref_map(gix::progress::Discard, Default::default()))
        .map_err(&bounded)?;
    Ok(remote_refs(&ref_map)
        .into_iter()
        .filter(|reference| reference.name.starts_with("refs/tags/"))
        .collect())
}

/// The commit the local reference `name` leads to.
///
/// Errors: [`FetchError::NotACommit`] when it is absent or leads elsewhere.
pub(crate) fn peeled_commit(repo: &gix::Repository, name: &str) -> Result<ObjectId, FetchError> {
    repo.find_reference(name)
        .and_then(|mut reference| reference.peel_to_commit())
        .map(|commit| commit.id)
        .map_err(|error| FetchError::NotACommit {
            reference: name.to_owned(),
            message: describe(&error),
        })
}

/// The refs the remote advertised, tags peeled to their commits; unborn ones left out.
pub(crate) fn remote_refs(ref_map: &gix::remote::fetch::RefMap) -> Vec<RemoteRef> {
    use gix::protocol::handshake::Ref;
    ref_map
        .remote_refs
        .iter()
        .filter_map(|reference| {
            let (name, commit) = match reference {
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

/// Maps a gix error of talking to `url` into [`FetchError::Transport`].
pub(crate) fn transport(url: &str) -> impl Fn(gix::Error) -> FetchError + '_ {
    move |error| FetchError::Transport {
        url: url.to_owned(),
        message: describe(&error),
    }
}

/// Maps a gix error of talking to `url` into [`FetchError::TimedOut`] once `deadline` has
/// passed (the error is then the interruption's or the timeout's), else as [`transport`].
pub(crate) fn bounded_transport(
    url: &str,
    deadline: Deadline,
) -> impl Fn(gix::Error) -> FetchError + '_ {
    move |error| {
        if deadline.has_passed() {
            FetchError::TimedOut {
                url: url.to_owned(),
                after: deadline.timeout(),
            }
        } else {
            transport(url)(error)
        }
    }
}

/// A gix error's message followed by those of the errors that caused it (gix's top-level
/// messages, e.g. "Transport handshake failed", do not say why; its alternate form `{:#}` prints
/// the top one alone).
pub(crate) fn describe(error: &gix::Error) -> String {
    sluice_runtime::error_text::chain(error)
}
