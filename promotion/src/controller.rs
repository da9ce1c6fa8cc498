//! `sluice controller core`: the GitOps controllers of `sluice_gitops` with the Pipeline
//! controller layered beside them in the same process (sharing its notifier, so a stage's
//! canary result reaches the Alerts).

use futures::FutureExt;
use sluice_gitops::controller::{Layer, Layered};
use sluice_gitops::controller_flags::CoreFlags;
use sluice_gitops::kustomization::artifact::ArtifactCache;
use sluice_runtime::Runtime;

use crate::api::Pipeline;
use crate::reconciler::{PipelineState, reconcile};

/// Runs the GitOps controllers and the Pipeline controller until shutdown.
///
/// Errors: as `sluice_gitops::controller::run` (client config, HTTP server, leader election).
pub async fn run(runtime: Runtime, flags: CoreFlags) -> anyhow::Result<()> {
    sluice_gitops::controller::run(runtime, flags, Some(layer())).await
}

/// The Pipeline controller as a layer of the core process, what [`run`] layers on
/// `sluice_gitops::controller::run` (and what the suites give their own core controller).
pub fn layer() -> Layer {
    Box::new(|layered| pipelines(layered).boxed())
}

/// Reconciles Pipelines until shutdown.
async fn pipelines(layered: Layered) {
    let state = PipelineState {
        allow_file_sources: layered.flags.allow_file_sources,
        artifacts: ArtifactCache::new(layered.storage.clone()),
        images: Default::default(),
        workdir: layered.workdir,
        notifier: Some(layered.notifier),
    };
    layered
        .runtime
        .run_controller::<Pipeline, _, _, _, _>(state, reconcile)
        .await;
}
