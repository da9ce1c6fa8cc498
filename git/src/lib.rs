//! Sluice's one Git layer, as Flux's `fluxcd/pkg/git` serves both its source-controller and its
//! image-automation-controller: the GitRepository source and the ImageUpdateAutomation (and the
//! Pipeline, through the automation's run) take their Git code from here. It knows nothing of
//! Kubernetes: credentials come in as a Secret's data, refs as plain [`RefSelector`]s, and the
//! controllers convert their API types into them.
//!
//! - Credentials ([`GitAuth`]): a Secret's data in Flux's keys, turned into the Git
//!   configuration (`http.extraHeader`, `core.sshCommand`) both gix and the `git` CLI read.
//! - Ref selection ([`RefSelector`]): branch, tag, semver range (Masterminds' dialect, through
//!   `sluice-semver`), ref name or commit, by Flux's precedence, and Flux's revision strings.
//! - Fetching with gix: [`open_repository`], [`fetch_wants`] and [`list_tags`] for a cache
//!   repository fetched incrementally, [`fetch_snapshot`] for the tree of one ref.
//! - Committing with gix ([`write_commit`]), signed with GPG or SSH ([`Signer`]).
//! - Pushing with the `git` CLI ([`push`]).
//! - Deadlines ([`Deadline`]): every fetch and push stops at one, its transfer interrupted, its
//!   HTTP requests timed out, its `ssh` and `git` processes killed, so no thread outlives it.
//!
//! gix fetches and commits: it is in-process, needs no work tree (trees are read from and
//! written to the object database), and its shallow, incremental fetches are what make runs on
//! a warm cache cheap. The `git` CLI pushes because gix cannot push yet (it implements no
//! `send-pack`); the CLI gets the same credentials as configuration through the environment, so
//! no secret appears on a command line. Everything here blocks: call it from a blocking thread.

mod auth;
mod command;
mod commit;
mod deadline;
mod fetch;
mod push;
mod reference;
mod signing;
mod snapshot;
mod ssh_key;

pub use auth::{AuthError, GitAuth};
pub use command::CommandError;
pub use commit::{Author, CommitError, CommitRequest, FileContent, write_commit};
pub use deadline::{Deadline, bounded_config};
pub use fetch::{FetchError, Want, fetch_wants, list_tags, open_repository};
pub use push::{PushError, PushOutcome, PushRequest, RefUpdate, push};
pub use reference::{DEFAULT_BRANCH, RefError, RefSelector, RemoteRef, Resolved};
pub use signing::{Signer, SigningError};
pub use snapshot::{Fetched, SnapshotError, SnapshotRequest, TreeFile, TreeLimits, fetch_snapshot};
pub use ssh_key::SshKeyError;
