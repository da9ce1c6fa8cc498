//! `sluice controller core`: GitRepository, Kustomization, Provider, Alert and Pipeline.

use crate::runtime::Runtime;

/// Runs the core controllers until shutdown.
///
/// Errors: the process could not start (HTTP server, leader election).
pub async fn run(runtime: Runtime) -> anyhow::Result<()> {
    anyhow::bail!(
        "the core controller is not built yet (runtime {})",
        runtime.name
    )
}
