//! `sluice controller image-automation`: reconciles every ImageUpdateAutomation.
//!
//! The work cache (one shallow clone per automation, kept between runs) lives under
//! `$SLUICE_WORK_CACHE`, `/tmp/sluice-automation` when unset.

use std::path::PathBuf;

use sluice_runtime::Runtime;

use crate::api::ImageUpdateAutomation;
use crate::reconcile::{AutomationState, reconcile};

/// The environment variable naming the work cache folder.
pub const WORK_CACHE_ENV: &str = "SLUICE_WORK_CACHE";

/// The work cache folder when [`WORK_CACHE_ENV`] is unset.
pub const DEFAULT_WORK_CACHE: &str = "/tmp/sluice-automation";

/// The work cache folder: `$SLUICE_WORK_CACHE`, else [`DEFAULT_WORK_CACHE`].
pub fn work_cache() -> PathBuf {
    std::env::var_os(WORK_CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_WORK_CACHE))
}

/// The controller's future: reconciles ImageUpdateAutomations with `state` until shutdown
/// (for tests and for [`run`]).
pub async fn run_automations(runtime: &Runtime, state: AutomationState) {
    runtime
        .run_controller::<ImageUpdateAutomation, _, _, _, _>(state, reconcile)
        .await;
}

/// Runs this controller until shutdown.
///
/// Errors: the process could not start (HTTP server, leader election).
pub async fn run(runtime: Runtime) -> anyhow::Result<()> {
    let state = AutomationState {
        work_cache: work_cache(),
    };
    runtime
        .run_process(axum::Router::new(), run_automations(&runtime, state))
        .await?;
    Ok(())
}
