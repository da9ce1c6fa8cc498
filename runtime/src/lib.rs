//! The controller runtime every Sluice controller shares, written once: Flux-style conditions,
//! Events, requeue at `spec.interval`, backoff with jitter, `spec.suspend`, the
//! `reconcile.sluice.dev/requestedAt` annotation, `--concurrent` workers, leader election on a
//! Lease, `--watch-label-selector` sharding, `/metrics`, `/healthz`, `/readyz`, graceful
//! shutdown and structured logs.
//!
//! A controller process makes one [`Runtime`] with [`Runtime::start`], then runs one
//! [`Runtime::run_controller`] per kind it reconciles, concurrently, until shutdown.

mod backoff;
pub mod client;
pub mod conditions;
mod controller;
pub mod duration;
pub mod error_text;
pub mod finalizer;
mod http;
pub mod http_auth;
mod leader;
pub mod logging;
mod metrics;
pub mod options;
mod process;
mod reconcile;
pub mod redact;
pub mod references;
pub mod secrets;
mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;
use tokio_util::sync::CancellationToken;

pub use controller::{Context, Reconcilable};
pub use options::RuntimeOptions;
pub use reconcile::{ReconcileError, Reconciled};
pub use status::ReconcileStatus;

/// The annotation that asks for an immediate reconcile; its value (any string, usually an
/// RFC 3339 time) is copied to `status.lastHandledReconcileAt` once handled, as Flux's
/// `reconcile.fluxcd.io/requestedAt`.
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.sluice.dev/requestedAt";

/// The shared services of one controller process. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    /// The controller's name, e.g. `core`; the status field manager is `sluice-<name>`.
    pub name: String,
    /// The client every controller of the process uses.
    pub client: Client,
    /// The process' flags.
    pub options: RuntimeOptions,
    /// The process' metrics, served on `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Cancelled when the process shuts down (SIGTERM, SIGINT, lost leadership).
    pub shutdown: CancellationToken,
    reporter: Reporter,
    caches_syncing: Arc<AtomicUsize>,
}

impl Runtime {
    /// A runtime for the controller `name` with `client`; shuts down on SIGTERM or SIGINT.
    pub fn new(name: &str, client: Client, options: RuntimeOptions) -> Self {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        Runtime {
            name: name.to_owned(),
            client,
            options,
            metrics: Arc::default(),
            shutdown,
            reporter: Reporter {
                controller: format!("sluice-{name}"),
                instance: std::env::var("POD_NAME").ok(),
            },
            caches_syncing: Arc::default(),
        }
    }

    /// Whether every controller's watch cache has synced (what `/readyz` reports).
    pub fn caches_synced(&self) -> bool {
        self.caches_syncing.load(Ordering::SeqCst) == 0
    }

    fn track_readiness<K>(&self, store: Store<K>)
    where
        K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let syncing = self.caches_syncing.clone();
        syncing.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            // kube-runtime's store readiness keeps a single waker, and the controller waits on
            // the same store, so this waiter may never be woken: look again every 200 ms.
            loop {
                let ready =
                    tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready());
                match ready.await {
                    Ok(Ok(())) => {
                        syncing.fetch_sub(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(Err(_writer_dropped)) => return,
                    Err(_not_yet) => continue,
                }
            }
        });
    }
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
        _ = shutdown.cancelled() => return,
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
