//! The controller's HTTP server: `/metrics` (Prometheus text format), `/healthz` (the process
//! is alive), `/readyz` (every watch cache has synced) and the routes a controller adds (the
//! registry webhook); and the second server a controller may run ([`Runtime::serve_on`]) for
//! endpoints kept off the metrics port (the core controller's artifacts and `/events`).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::Runtime;

/// Errors of [`Runtime::serve`].
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listen address could not be bound.
    #[error("listening on {address}: {source}")]
    Bind {
        /// The address, e.g. the `--metrics-addr` value.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

impl Runtime {
    /// Serves the runtime's routes plus `extra` on `--metrics-addr` until shutdown.
    ///
    /// Errors: [`HttpError`] when the address cannot be bound or the server fails.
    pub async fn serve(&self, extra: Router) -> Result<(), HttpError> {
        let routes = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .with_state(self.clone())
            .merge(extra);
        tracing::info!(address = %self.options.metrics_addr, "serving /metrics, /healthz and /readyz");
        self.serve_on(self.options.metrics_addr, routes).await
    }

    /// Serves `routes` on `address` until shutdown, with each request's peer address available
    /// to handlers and middleware as `ConnectInfo<SocketAddr>` (what
    /// [`crate::http_auth::ServiceAccountAuth`] budgets reviews by).
    ///
    /// Errors: [`HttpError`] when `address` cannot be bound or the server fails.
    pub async fn serve_on(&self, address: SocketAddr, routes: Router) -> Result<(), HttpError> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| HttpError::Bind { address, source })?;
        let shutdown = self.shutdown.clone().cancelled_owned();
        axum::serve(
            listener,
            routes.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(HttpError::Serve)
    }
}

async fn metrics(State(runtime): State<Runtime>) -> String {
    runtime.metrics.render()
}

async fn readyz(State(runtime): State<Runtime>) -> (StatusCode, &'static str) {
    if runtime.caches_synced() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "watch caches not synced yet",
        )
    }
}
