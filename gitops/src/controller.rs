//! The GitOps controllers' process: GitRepository, Kustomization, Provider and Alert, with the
//! event dispatcher that turns Kustomization events into commit statuses, and a [`Layer`] run
//! beside them (`sluice_promotion` layers the Pipeline controller there).

use std::path::PathBuf;

use futures::future::BoxFuture;
use kube::Config;
use kube::config::{KubeConfigOptions, Kubeconfig};
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
    /// A folder for the layered controller's work caches, removed with the process' scratch.
    pub workdir: PathBuf,
}

/// A controller run in the core process beside the GitOps controllers, until shutdown.
pub type Layer = Box<dyn FnOnce(Layered) -> BoxFuture<'static, ()> + Send>;

/// Runs the GitOps controllers until shutdown: serves artifacts on the runtime's HTTP server,
/// reconciles GitRepositories, Kustomizations, Providers and Alerts, re-reconciles
/// Kustomizations when their source has a new revision, and runs `layer` (the Pipeline
/// controller, in `sluice controller core`) beside them.
///
/// Errors: the client config cannot be read, or the process could not start (HTTP server,
/// leader election).
pub async fn run(runtime: Runtime, flags: CoreFlags, layer: Option<Layer>) -> anyhow::Result<()> {
    let config = client_config(&runtime).await?;
    let advertised = flags.advertised_address(&runtime.options.leader_election_namespace);
    let storage = Storage::new(flags.storage_path.clone(), &advertised);
    let scratch = std::env::temp_dir().join(format!("sluice-core-{}", std::process::id()));
    let revisions = SourceRevisions::default();
    let (notifier, events) = Notifier::channel();
    let sources = SourceState {
        storage: storage.clone(),
        workdir: scratch.join("git"),
    };
    let kustomizations = KustomizationState {
        clients: Clients::new(runtime.client.clone(), Some(config)),
        artifacts: ArtifactCache::default(),
        revisions: revisions.clone(),
        default_service_account: flags.default_service_account.clone(),
        no_cross_namespace_refs: flags.no_cross_namespace_refs,
        workdir: scratch.join("builds"),
        notifier: Some(notifier.clone()),
    };
    let layered = layer.map(|layer| {
        layer(Layered {
            runtime: runtime.clone(),
            flags: flags.clone(),
            notifier: notifier.clone(),
            workdir: scratch.join("layered"),
        })
    });
    runtime
        .run_process(
            storage.router().merge(notification::routes(notifier)),
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
    Ok(())
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
