//! The real servers the demo and the end-to-end suites run on 127.0.0.1: a Kubernetes control
//! plane with kwok nodes ([`LocalCluster`]), the Debian OCI registry, Prometheus, Git over
//! `git daemon`, smart HTTP and SSH, and Gitea, each on free ports in a temporary folder, stopped
//! when dropped (and killed by the kernel if the process that started them dies first).
//! A missing program is a [`HarnessError::Missing`] that says how to get it, never a skip.

pub mod binaries;
pub mod canary_support;
pub mod certs;
pub mod cluster;
pub mod crds;
pub mod git_server;
pub mod gitea;
pub mod oci_layout;
pub mod paginating_registry;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod registry;
pub mod sshd;
pub mod token_server;

use std::time::Duration;

pub use cluster::LocalCluster;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program the suite needs is not installed; `how` says how to get it.
    #[error("{program} is missing: {how}")]
    Missing {
        /// The program's name.
        program: String,
        /// How to install or build it.
        how: String,
    },
    /// A server did not start.
    #[error("starting {what}: {why}")]
    Start {
        /// The server.
        what: String,
        /// Why, with the tail of its log where there is one.
        why: String,
    },
    /// Waiting for a condition timed out.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Polls `check` every 200 ms until it returns `Ok(true)`, for at most `timeout`.
///
/// Errors: [`HarnessError::Timeout`] naming `what`, or the first error `check` returns.
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<(), HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, HarnessError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(HarnessError::Timeout { what: what.into() });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
