//! `sluice controller canary`: one reconciler for every Canary, fed by the shared runtime (watch,
//! requeue at `analysis.interval`, conditions, events, leader election), with one set of watch
//! caches for all Canaries (see [`crate::caches`]).

use sluice_runtime::Runtime;

use crate::api::Canary;
use crate::reconcile::reconcile;
use crate::settings::Settings;
use crate::shared::Shared;

/// Runs this controller with `settings` until shutdown: starts the caches, waits until they have
/// synced, then reconciles Canaries.
///
/// Errors: the process could not start (HTTP server, leader election, HTTP clients, caches).
pub async fn run(runtime: Runtime, settings: Settings) -> anyhow::Result<()> {
    let shared = Shared::start(&runtime.client, settings)?;
    shared.caches.wait_until_ready().await?;
    let controllers = runtime.run_controller::<Canary, _, _, _, _>(shared, reconcile);
    runtime
        .run_process(axum::Router::new(), controllers)
        .await?;
    Ok(())
}
