//! `sluice controller core`: GitRepository, Kustomization, Provider and Alert, with the event
//! dispatcher that turns Kustomization events into commit statuses, and Pipeline when given the
//! Git side of promotions ([`StageGit`], from image automation).

use std::sync::Arc;

use clap::Parser;
use kube::Config;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::mpsc;

use crate::api::{GitRepository, Kustomization, Pipeline};
use crate::controller_flags::CoreFlags;
use crate::kustomization::artifact::ArtifactCache;
use crate::kustomization::clients::Clients;
use crate::kustomization::reconciler::KustomizationState;
use crate::kustomization::source_watch::{self, SourceRevisions};
use crate::notification::{self, Event, Notifier};
use crate::promotion::reconciler::PipelineState;
use crate::promotion::stage_git::StageGit;
use crate::runtime::Runtime;
use crate::source::reconciler::SourceState;
use crate::source::storage::Storage;

/// The core flags alone, to read their defaults (and environment) when the caller passes none.
#[derive(Parser)]
struct DefaultFlags {
    #[command(flatten)]
    flags: CoreFlags,
}

/// Runs the core controllers until shutdown with the [`CoreFlags`] defaults (and their
/// environment variables); see [`run_with_flags`].
///
/// Errors: as [`run_with_flags`].
pub async fn run(runtime: Runtime) -> anyhow::Result<()> {
    let flags = DefaultFlags::try_parse_from(["core"])?.flags;
    run_with_flags(runtime, flags).await
}

/// Runs the core controllers until shutdown: serves artifacts on the runtime's HTTP server,
/// reconciles GitRepositories and Kustomizations, and re-reconciles Kustomizations when their
/// source has a new revision. Pipelines are not reconciled (see [`run_with_promotions`]).
///
/// Errors: the client config cannot be read, or the process could not start (HTTP server,
/// leader election).
pub async fn run_with_flags(runtime: Runtime, flags: CoreFlags) -> anyhow::Result<()> {
    run_core(runtime, flags, None).await
}

/// As [`run_with_flags`], and also reconciles Pipelines, writing promotions with `git` (what
/// `sluice controller core` does).
///
/// Errors: as [`run_with_flags`].
pub async fn run_with_promotions(
    runtime: Runtime,
    flags: CoreFlags,
    git: Arc<dyn StageGit>,
) -> anyhow::Result<()> {
    run_core(runtime, flags, Some(git)).await
}

async fn run_core(
    runtime: Runtime,
    flags: CoreFlags,
    git: Option<Arc<dyn StageGit>>,
) -> anyhow::Result<()> {
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
    let pipelines = git.map(|git| PipelineState {
        git,
        artifacts: ArtifactCache::default(),
        images: Default::default(),
        workdir: scratch.join("promotion"),
        no_cross_namespace_refs: flags.no_cross_namespace_refs,
        notifier: Some(notifier.clone()),
    });
    runtime
        .run_process(
            storage.router().merge(notification::routes(notifier)),
            controllers(
                &runtime,
                sources,
                kustomizations,
                pipelines,
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
    pipelines: Option<PipelineState>,
    revisions: SourceRevisions,
    events: mpsc::Receiver<Event>,
) {
    let promotions = async {
        if let Some(state) = pipelines {
            runtime
                .run_controller::<Pipeline, _, _, _, _>(
                    state,
                    crate::promotion::reconciler::reconcile,
                )
                .await;
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
        promotions,
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
