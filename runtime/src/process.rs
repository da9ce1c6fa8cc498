//! The life of a controller process: serve HTTP, wait for leadership, run the controllers until
//! shutdown, as every `sluice controller NAME` does.

use std::net::SocketAddr;

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
        self.run_process_with(routes, None, controllers).await
    }

    /// [`Runtime::run_process`], also serving `second` (an address and its routes) on a server
    /// of its own ([`Runtime::serve_on`]) for as long as the process runs.
    ///
    /// Errors: either HTTP server failed, or the Lease could not be acquired.
    pub async fn run_process_with(
        &self,
        routes: Router,
        second: Option<(SocketAddr, Router)>,
        controllers: impl Future<Output = ()>,
    ) -> Result<(), ProcessError> {
        let servers = tokio::spawn({
            let runtime = self.clone();
            async move {
                let second = async {
                    match second {
                        Some((address, routes)) => runtime.serve_on(address, routes).await,
                        None => Ok(()),
                    }
                };
                tokio::try_join!(runtime.serve(routes), second).map(|_| ())
            }
        });
        self.acquire_leadership().await?;
        tokio::select! {
            () = controllers => {}
            served = servers => {
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
