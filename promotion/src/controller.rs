//! `sluice controller core`: the GitOps controllers of `sluice_gitops` with the Pipeline
//! controller layered beside them in the same process (sharing its notifier, so a stage's
//! canary result reaches the Alerts).

use futures::FutureExt;
use sluice_gitops::controller::Layered;
use sluice_gitops::controller_flags::CoreFlags;
use sluice_gitops::kustomization::artifact::ArtifactCache;
use sluice_runtime::Runtime;

use crate::api::Pipeline;
use crate::reconciler::{PipelineState, reconcile};

/// Runs the GitOps controllers and the Pipeline controller until shutdown.
///
/// Errors: as `sluice_gitops::controller::run` (client config, HTTP server, leader election).
pub async fn run(runtime: Runtime, flags: CoreFlags) -> anyhow::Result<()> {
    sluice_gitops::controller::run(
        runtime,
        flags,
        Some(Box::new(|layered| pipelines(layered).boxed())),
    )
    .await
}

/// Reconciles Pipelines until shutdown.
async fn pipelines(layered: Layered) {
    let state = PipelineState {
        artifacts: ArtifactCache::default(),
        images: Default::default(),
        workdir: layered.workdir,
        no_cross_namespace_refs: layered.flags.no_cross_namespace_refs,
        notifier: Some(layered.notifier),
    };
    layered
        .runtime
        .run_controller::<Pipeline, _, _, _, _>(state, reconcile)
        .await;
}
