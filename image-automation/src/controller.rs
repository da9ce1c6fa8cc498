//! `sluice controller image-automation`: reconciles every ImageUpdateAutomation.
//!
//! The work cache (one shallow clone per automation, kept between runs) is a folder of the
//! process' own (random name, mode 0700, removed when the process ends) under
//! `$SLUICE_WORK_CACHE`, the temporary folder when unset; each automation's clone is in a
//! subfolder named by a hash of its UID, namespace and name
//! (`sluice_gitops::controller::object_folder`).

use std::path::PathBuf;

use sluice_gitops::controller::private_scratch;
use sluice_runtime::Runtime;

use crate::api::ImageUpdateAutomation;
use crate::reconcile::{AutomationState, reconcile};

/// The environment variable naming the folder the work cache is made in.
pub const WORK_CACHE_ENV: &str = "SLUICE_WORK_CACHE";

/// Flags of the image-automation controller besides the shared
/// [`RuntimeOptions`](sluice_runtime::RuntimeOptions); flatten into its command with
/// `#[command(flatten)]`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AutomationFlags {
    /// Fetch and push GitRepositories with `file://` URLs, which reach the controller's own disk
    /// (for tests and local demos; never in a cluster shared by tenants, and never set by
    /// `deploy/`), as the core controller's flag of the same name.
    #[arg(long)]
    pub allow_file_sources: bool,
}

/// The folder the work cache is made in: `$SLUICE_WORK_CACHE`, else the temporary folder.
pub fn work_cache_parent() -> PathBuf {
    std::env::var_os(WORK_CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// The controller's future: reconciles ImageUpdateAutomations with `state` until shutdown
/// (for tests and for [`run`]).
pub async fn run_automations(runtime: &Runtime, state: AutomationState) {
    runtime
        .run_controller::<ImageUpdateAutomation, _, _, _, _>(state, reconcile)
        .await;
}

/// Runs this controller with `flags` until shutdown.
///
/// Errors: the work cache cannot be made, or the process could not start (HTTP server, leader
/// election).
pub async fn run(runtime: Runtime, flags: AutomationFlags) -> anyhow::Result<()> {
    let work_cache = private_scratch(&work_cache_parent(), "sluice-automation-")?;
    let state = AutomationState {
        work_cache: work_cache.path().to_path_buf(),
        allow_file_sources: flags.allow_file_sources,
    };
    runtime
        .run_process(axum::Router::new(), run_automations(&runtime, state))
        .await?;
    drop(work_cache);
    Ok(())
}
