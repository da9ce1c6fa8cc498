//! The life of a controller process: serve HTTP, wait for leadership, run the controllers until
//! shutdown, as every `sluice controller NAME` does.

use axum::Router;
use kube_lease_manager::LeaseManagerError;

use super::Runtime;
use super::http::HttpError;

/// Errors that end a controller process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The HTTP server could not start or stopped with an error.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Leader election failed.
    #[error("leader election: {0}")]
    Leadership(#[from] LeaseManagerError),
}

impl Runtime {
    /// Serves `/metrics`, `/healthz`, `/readyz` and `routes`, waits for leadership (with
    /// `--leader-elect`), then runs `controllers` (typically several
    /// [`Runtime::run_controller`] joined) until they end, which they do on shutdown.
    ///
    /// Errors: the HTTP server failed, or the Lease could not be acquired.
    pub async fn run_process(
        &self,
        routes: Router,
        controllers: impl Future<Output = ()>,
    ) -> Result<(), ProcessError> {
        let server = tokio::spawn({
            let runtime = self.clone();
            async move { runtime.serve(routes).await }
        });
        self.acquire_leadership().await?;
        tokio::select! {
            () = controllers => {}
            served = server => {
                self.shutdown.cancel();
                if let Ok(Err(error)) = served {
                    return Err(error.into());
                }
            }
        }
        self.shutdown.cancel();
        Ok(())
    }
}
