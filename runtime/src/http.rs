//! The controller's HTTP server: `/metrics` (Prometheus text format), `/healthz` (the process
//! is alive), `/readyz` (every watch cache has synced), and the routes a controller adds (the
//! registry webhook, the artifact server).

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
        /// The `--metrics-addr` value.
        address: std::net::SocketAddr,
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
    pub async fn serve(&self, extra: Router) -> Result<(), HttpError> {
        let address = self.options.metrics_addr;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| HttpError::Bind { address, source })?;
        tracing::info!(%address, "serving /metrics, /healthz and /readyz");
        let routes = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .with_state(self.clone())
            .merge(extra);
        let shutdown = self.shutdown.clone().cancelled_owned();
        axum::serve(listener, routes)
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
