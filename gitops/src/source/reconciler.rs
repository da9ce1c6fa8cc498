//! The GitRepository reconciler: keep the finalizer (a deleted GitRepository's artifacts are
//! removed from storage, then the finalizer), refuse a URL the [`policy`] does not allow, read
//! the credentials Secret of the object's own namespace, fetch the ref within `spec.timeout`
//! (skipped when the remote head has not moved and the artifact is still on disk) and the
//! [`policy`]'s size limits, build the reproducible tarball, store it and report
//! `status.artifact` with Flux's revision, digest, size, time and URL.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde_json::json;

use super::archive;
use super::policy::{self, TREE_LIMITS};
use super::storage::Storage;
use crate::api::git_repository::{Artifact, GitRepository};
use sluice_git::{
    Deadline, Fetched, GitAuth, RefSelector, Resolved, SnapshotError, SnapshotRequest,
    fetch_snapshot,
};
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::finalizer;
use sluice_runtime::secrets::read_secret_data;
use sluice_runtime::{Context, Reconcilable, ReconcileError, Reconciled};

/// How long past twice its timeout a fetch is waited for before it is reported as timed out and
/// its thread left behind. The fetch stops by itself (see `sluice_git::Deadline`): at the
/// deadline, or for an HTTP request started just before it, at most one timeout later; this only
/// bounds the reconcile should a transport not honour it.
const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// What the GitRepository reconciler keeps between reconciles.
pub struct SourceState {
    /// Where artifacts are written and served from.
    pub storage: Storage,
    /// Folder for the temporary repositories of fetches (private to the process: mode 0700).
    pub workdir: PathBuf,
    /// `--allow-file-sources`: fetch `file://` URLs (see [`policy::check_url`]).
    pub allow_file_sources: bool,
}

/// Errors of a GitRepository reconcile; each maps to a Flux condition reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.interval` or `spec.timeout` is not a Go duration.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// `spec.url` is not one the controller fetches (Flux's `URLInvalid`).
    #[error(transparent)]
    UrlInvalid(#[from] policy::UrlError),
    /// The repository holds more than [`policy::TREE_LIMITS`]; no artifact was stored.
    #[error("the artifact would be too large: {0}")]
    ArtifactTooLarge(String),
    /// The `secretRef` Secret is missing or unusable.
    #[error("failed to get secret '{name}': {message}")]
    AuthenticationFailed {
        /// `namespace/name` of the Secret.
        name: String,
        /// Why.
        message: String,
    },
    /// The fetch failed or timed out.
    #[error("failed to checkout and determine revision: {0}")]
    GitOperationFailed(String),
    /// The tarball could not be built.
    #[error("failed to build the artifact: {0}")]
    BuildFailed(#[from] archive::Error),
    /// The tarball could not be written, or the artifacts of a deleted object removed.
    #[error("failed to store the artifact: {0}")]
    StorageOperationFailed(#[from] std::io::Error),
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizer: {0}")]
    Finalizer(kube::Error),
}

impl ReconcileError for Error {
    fn reason(&self) -> String {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::UrlInvalid(_) => "URLInvalid",
            Error::ArtifactTooLarge(_) => "ArtifactTooLarge",
            Error::AuthenticationFailed { .. } => "AuthenticationFailed",
            Error::GitOperationFailed(_) => "GitOperationFailed",
            Error::BuildFailed(_) => "BuildFailed",
            Error::StorageOperationFailed(_) | Error::Finalizer(_) => "StorageOperationFailed",
        }
        .into()
    }

    fn is_stalled(&self) -> bool {
        matches!(self, Error::InvalidSpec(_) | Error::UrlInvalid(_))
    }
}

impl Reconcilable for GitRepository {
    fn interval(&self) -> Duration {
        parse_go_duration(&self.spec.interval).unwrap_or(Duration::from_secs(60))
    }

    /// `spec.suspend`, except while being deleted: the artifacts must still be removed.
    fn suspended(&self) -> bool {
        self.spec.suspend && !finalizer::is_deleting(self)
    }
}

/// Reconciles one GitRepository (see the module doc).
pub async fn reconcile(
    repository: Arc<GitRepository>,
    context: Arc<Context<SourceState>>,
) -> Reconciled<Error> {
    if finalizer::is_deleting(repository.as_ref()) {
        return match finalize(&repository, &context).await {
            Ok(()) => Reconciled::ready("artifacts removed"),
            Err(error) => Reconciled::failed(error),
        };
    }
    let added = finalizer::set_finalizer(&context.client, repository.as_ref(), true).await;
    if let Err(error) = added {
        return Reconciled::failed(Error::Finalizer(error));
    }
    match reconcile_artifact(&repository, &context).await {
        Ok((artifact, message)) => {
            let status = json!({"artifact": artifact, "observedIgnore": repository.spec.ignore});
            Reconciled::ready(message).with_status(&status)
        }
        Err(error) => Reconciled::failed(error),
    }
}

/// Removes every artifact of a deleted GitRepository from storage, then its finalizer (Flux's
/// `reconcileDelete`).
async fn finalize(repository: &GitRepository, context: &Context<SourceState>) -> Result<(), Error> {
    if !finalizer::has_finalizer(repository) {
        return Ok(());
    }
    let namespace = repository.namespace().unwrap_or_default();
    context
        .state
        .storage
        .remove_object(&namespace, &repository.name_any())
        .await?;
    finalizer::set_finalizer(&context.client, repository, false)
        .await
        .map_err(Error::Finalizer)
}

async fn reconcile_artifact(
    repository: &GitRepository,
    context: &Context<SourceState>,
) -> Result<(Artifact, String), Error> {
    let timeout =
        policy::git_timeout(repository.spec.timeout.as_deref()).map_err(Error::InvalidSpec)?;
    parse_go_duration(&repository.spec.interval).map_err(|e| Error::InvalidSpec(e.to_string()))?;
    policy::check_url(&repository.spec.url, context.state.allow_file_sources)?;
    let auth = read_auth(repository, context).await?;
    let stored = stored_artifact(repository, &context.state.storage).await;
    let stored_revision = stored.as_ref().map(|a| a.revision.clone());
    let fetched = fetch(
        repository,
        auth,
        stored_revision,
        &context.state.workdir,
        timeout,
    )
    .await?;
    match (fetched, stored) {
        (Fetched::Unchanged(resolved), Some(artifact)) => Ok((artifact, stored_message(&resolved))),
        (Fetched::Unchanged(resolved), None) => Err(Error::GitOperationFailed(format!(
            "remote revision {} unchanged but no artifact is stored",
            resolved.revision
        ))),
        (Fetched::Tree(resolved, files), _) => {
            let built = archive::build(&files, repository.spec.ignore.as_deref())?;
            let storage = &context.state.storage;
            let path = Storage::artifact_path(
                &repository.namespace().unwrap_or_default(),
                &repository.name_any(),
                &resolved.commit,
            );
            storage.store(&path, &built.bytes).await?;
            let artifact = Artifact {
                url: storage.url(&path),
                path,
                revision: resolved.revision.clone(),
                digest: Some(built.digest),
                last_update_time: Time(jiff::Timestamp::now()),
                size: Some(built.bytes.len() as i64),
                metadata: BTreeMap::new(),
            };
            Ok((artifact, stored_message(&resolved)))
        }
    }
}

fn stored_message(resolved: &Resolved) -> String {
    format!("stored artifact for revision '{}'", resolved.revision)
}

/// The artifact in status when its file is still on disk and was built with the current
/// `spec.ignore`; otherwise `None` (the fetch then runs).
async fn stored_artifact(repository: &GitRepository, storage: &Storage) -> Option<Artifact> {
    let status = repository.status.as_ref()?;
    let artifact = status.artifact.clone()?;
    let same_ignore = status.observed_ignore == repository.spec.ignore;
    (same_ignore && storage.exists(&artifact.path).await).then_some(artifact)
}

/// The credentials of `spec.secretRef`, always read from the GitRepository's own namespace.
async fn read_auth(
    repository: &GitRepository,
    context: &Context<SourceState>,
) -> Result<GitAuth, Error> {
    let Some(reference) = &repository.spec.secret_ref else {
        return Ok(GitAuth::Anonymous);
    };
    let namespace = repository.namespace().unwrap_or_default();
    let failed = |message: String| Error::AuthenticationFailed {
        name: format!("{namespace}/{}", reference.name),
        message,
    };
    let data = read_secret_data(&context.client, &namespace, &reference.name)
        .await
        .map_err(|e| failed(e.to_string()))?;
    GitAuth::from_secret(&repository.spec.url, &data).map_err(|e| failed(e.to_string()))
}

/// Fetches on a blocking thread that stops by itself at the deadline (`timeout` from now).
async fn fetch(
    repository: &GitRepository,
    auth: GitAuth,
    stored_revision: Option<String>,
    workdir: &std::path::Path,
    timeout: Duration,
) -> Result<Fetched, Error> {
    let failed = |message: String| Error::GitOperationFailed(message);
    tokio::fs::create_dir_all(workdir).await?;
    let scratch = tempfile::tempdir_in(workdir)?;
    let url = repository.spec.url.clone();
    let selector = repository
        .spec
        .reference
        .as_ref()
        .map(RefSelector::from)
        .unwrap_or_default();
    let deadline = Deadline::after(timeout);
    let task = tokio::task::spawn_blocking(move || {
        fetch_snapshot(SnapshotRequest {
            url: &url,
            selector: &selector,
            auth: &auth,
            stored_revision: stored_revision.as_deref(),
            workdir: scratch.path(),
            deadline,
            limits: TREE_LIMITS,
        })
    });
    match tokio::time::timeout(timeout * 2 + ABANDON_GRACE, task).await {
        Ok(Ok(Err(SnapshotError::TooLarge(message)))) => Err(Error::ArtifactTooLarge(message)),
        Ok(Ok(result)) => result.map_err(|e| failed(e.to_string())),
        Ok(Err(join)) => Err(failed(join.to_string())),
        Err(_) => Err(failed(format!("timed out after {timeout:?}"))),
    }
}
