//! `sluice controller canary`.

use sluice_core::runtime::Runtime;

/// Runs this controller until shutdown.
///
/// Errors: the process could not start (HTTP server, leader election).
pub async fn run(runtime: Runtime) -> anyhow::Result<()> {
    anyhow::bail!(
        "the canary controller is not built yet (runtime {})",
        runtime.name
    )
}
