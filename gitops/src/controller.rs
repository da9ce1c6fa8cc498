//! The GitOps controllers' process: GitRepository, Kustomization, Provider and Alert, with the
//! event dispatcher that turns Kustomization events into commit statuses, and a [`Layer`] run
//! beside them (`sluice_promotion` layers the Pipeline controller there).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use axum::Router;
use futures::future::BoxFuture;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Config, Resource, ResourceExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::{GitRepository, Kustomization};
use crate::controller_flags::CoreFlags;
use crate::kustomization::artifact::ArtifactCache;
use crate::kustomization::clients::Clients;
use crate::kustomization::reconciler::KustomizationState;
use crate::kustomization::source_watch::{self, SourceRevisions};
use crate::notification::{self, Event, Notifier};
use crate::source::reconciler::SourceState;
use crate::source::storage::Storage;
use sluice_runtime::Runtime;
use sluice_runtime::http_auth::ServiceAccountAuth;

/// What the core process lends to a controller layered on it (`sluice_promotion`'s Pipeline
/// controller): the runtime, the flags, the notifier its events go out through (to the Alerts),
/// and a scratch folder of its own.
pub struct Layered {
    /// The process' runtime.
    pub runtime: Runtime,
    /// The process' flags.
    pub flags: CoreFlags,
    /// Sends events to the notification dispatcher, as the Kustomization reconciler does.
    pub notifier: Notifier,
    /// The process' artifact storage, which an [`ArtifactCache`] reads the process' own
    /// artifacts from.
    pub storage: Storage,
    /// A folder for the layered controller's work caches, inside the process' private scratch
    /// folder (see [`private_scratch`]) and removed with it.
    pub workdir: PathBuf,
}

/// A controller run in the core process beside the GitOps controllers, until shutdown.
pub type Layer = Box<dyn FnOnce(Layered) -> BoxFuture<'static, ()> + Send>;

/// Runs the GitOps controllers until shutdown: serves artifacts and `POST /events` to Sluice's
/// own ServiceAccounts (on `--storage-addr`, else on the runtime's HTTP server), reconciles
/// GitRepositories, Kustomizations, Providers and Alerts, re-reconciles Kustomizations when
/// their source has a new revision, and runs `layer` (the Pipeline controller, in
/// `sluice controller core`) beside them.
///
/// Work caches (fetches, builds, the layer's) live in a folder of the process' own under the
/// temporary folder ([`private_scratch`]), removed when the process ends.
///
/// Errors: the client config cannot be read, the scratch folder cannot be made, or the process
/// could not start (HTTP server, leader election).
pub async fn run(runtime: Runtime, flags: CoreFlags, layer: Option<Layer>) -> anyhow::Result<()> {
    let config = client_config(&runtime).await?;
    let advertised = flags.advertised_address(
        &runtime.options.leader_election_namespace,
        runtime.options.metrics_addr,
    );
    let storage = Storage::new(flags.storage_path.clone(), &advertised);
    let scratch_dir = private_scratch(&std::env::temp_dir(), "sluice-core-")?;
    let scratch = scratch_dir.path();
    let revisions = SourceRevisions::default();
    let (notifier, events) = Notifier::channel();
    let sources = SourceState {
        storage: storage.clone(),
        workdir: scratch.join("git"),
        allow_file_sources: flags.allow_file_sources,
    };
    let kustomizations = KustomizationState {
        clients: Clients::new(runtime.client.clone(), Some(config)),
        artifacts: ArtifactCache::new(storage.clone()),
        revisions: revisions.clone(),
        default_service_account: flags.default_service_account.clone(),
        workdir: scratch.join("builds"),
        notifier: Some(notifier.clone()),
    };
    let layered = layer.map(|layer| {
        layer(Layered {
            runtime: runtime.clone(),
            flags: flags.clone(),
            notifier: notifier.clone(),
            storage: storage.clone(),
            workdir: scratch.join("layered"),
        })
    });
    let auth = ServiceAccountAuth::new(
        runtime.client.clone(),
        &runtime.options.leader_election_namespace,
    );
    let internal = storage
        .router(&auth)
        .merge(notification::routes(notifier, &auth));
    let (on_metrics_port, second) = match flags.storage_addr {
        Some(address) => (Router::new(), Some((address, internal))),
        None => (internal, None),
    };
    runtime
        .run_process_with(
            on_metrics_port,
            second,
            controllers(
                &runtime,
                sources,
                kustomizations,
                layered,
                revisions,
                events,
            ),
        )
        .await?;
    drop(scratch_dir);
    Ok(())
}

/// A new folder under `parent` named `prefix` and random characters, readable only by this
/// process' user (mode 0700), removed when the returned handle is dropped: where a controller
/// keeps its work caches, so that no other user of the machine, and no tenant guessing a
/// process id, can read or plant files there.
///
/// Errors: the folder cannot be created.
pub fn private_scratch(parent: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(parent)?;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
}

/// The name of `object`'s own folder in a work cache: 32 hex digits of the SHA-256 of its UID,
/// namespace and name, so that a name a tenant chooses does not choose the folder, and an object
/// deleted and created again under the same name does not find the old one's cache.
pub fn object_folder<K: Resource>(object: &K) -> String {
    let identity = format!(
        "{}/{}/{}",
        object.meta().uid.as_deref().unwrap_or_default(),
        object.namespace().unwrap_or_default(),
        object.name_any()
    );
    Sha256::digest(identity.as_bytes())
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Every controller of the process, run until shutdown.
async fn controllers(
    runtime: &Runtime,
    sources: SourceState,
    kustomizations: KustomizationState,
    layered: Option<BoxFuture<'static, ()>>,
    revisions: SourceRevisions,
    events: mpsc::Receiver<Event>,
) {
    let layered = async {
        if let Some(layered) = layered {
            layered.await;
        }
    };
    let watch_sources = async {
        tokio::select! {
            () = source_watch::run(
                runtime.client.clone(),
                revisions,
                runtime.options.watch_label_selector.clone(),
                runtime.options.cross_namespace(),
            ) => {}
            () = runtime.shutdown.cancelled() => {}
        }
    };
    tokio::join!(
        runtime.run_controller::<GitRepository, _, _, _, _>(
            sources,
            crate::source::reconciler::reconcile
        ),
        runtime.run_controller::<Kustomization, _, _, _, _>(
            kustomizations,
            crate::kustomization::reconciler::reconcile
        ),
        watch_sources,
        notification::run(runtime, events),
        layered,
    );
}

/// The config the runtime's client was made from (`--kubeconfig`, else kube's inference), which
/// impersonating clients are derived from.
async fn client_config(runtime: &Runtime) -> anyhow::Result<Config> {
    Ok(match &runtime.options.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    })
}
