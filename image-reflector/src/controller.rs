//! `sluice controller image-reflector`: the ImageRepository and ImagePolicy controllers in one
//! process, sharing the tag store, the registry budget and the webhook.
//!
//! Besides the shared runtime flags it takes [`ReflectorArgs`]; until `sluice controller`
//! flattens them, [`run`] reads them from the environment: `SLUICE_REGISTRY_QPS` (default 10),
//! `SLUICE_STORAGE_PATH` (default `/data`) and `SLUICE_MAX_CONCURRENT_SCANS` (default 4).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use sluice_runtime::Runtime;
use tokio::sync::Semaphore;

use crate::api::{ImagePolicy, ImageRepository};
use crate::reconcile::{Shared, image_policy, image_repository};
use crate::registry::retry::RetryPolicy;
use crate::registry::{RegistryBudget, RegistryClient};
use crate::store::TagStore;
use crate::webhook::Hooks;
use crate::{secret_watch, store_gc, webhook};

/// The image-reflector's own flags.
#[derive(clap::Args, Clone, Debug)]
pub struct ReflectorArgs {
    /// Requests per second allowed to each registry host, shared by all ImageRepositories on it.
    #[arg(long, env = "SLUICE_REGISTRY_QPS", default_value_t = 10.0)]
    pub registry_qps: f64,
    /// The folder of the tag store.
    #[arg(long, env = "SLUICE_STORAGE_PATH", default_value = "/data")]
    pub storage_path: PathBuf,
    /// How many registry scans run at once, across all ImageRepositories.
    #[arg(long, env = "SLUICE_MAX_CONCURRENT_SCANS", default_value_t = 4)]
    pub max_concurrent_scans: usize,
}

#[derive(Parser)]
struct FromEnvironment {
    #[command(flatten)]
    args: ReflectorArgs,
}

impl ReflectorArgs {
    /// The flags from the environment variables (and defaults) alone.
    ///
    /// Errors: a variable does not parse.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(FromEnvironment::try_parse_from(["image-reflector"])?.args)
    }
}

/// Runs the ImageRepository and ImagePolicy controllers, the tag store's garbage collection
/// ([`crate::store_gc`]), the Secret watch ([`crate::secret_watch`]) and the registry webhooks
/// (`POST /hooks/registry/<digest>`, [`crate::webhook`]) until shutdown.
///
/// Errors: the tag store cannot be opened, `--registry-qps` is invalid, or the process could
/// not start (HTTP server, leader election).
pub async fn run(runtime: Runtime, args: ReflectorArgs) -> anyhow::Result<()> {
    let store = TagStore::open(&args.storage_path)?;
    let budget = Arc::new(RegistryBudget::new(args.registry_qps)?);
    let hooks = Arc::new(Hooks::default());
    let shared = Arc::new(Shared {
        store: store.clone(),
        registry: RegistryClient::new(budget, RetryPolicy::default()),
        scans: Arc::new(Semaphore::new(args.max_concurrent_scans.max(1))),
        hooks: hooks.clone(),
    });
    let client = runtime.client.clone();
    let selector = runtime.options.watch_label_selector.clone();
    let gc_hooks = hooks.clone();
    // The watches never end by themselves: they stop with the process.
    let watches = async {
        let watches = futures::future::join(
            store_gc::run(client.clone(), selector.clone(), store, gc_hooks),
            secret_watch::run(client, selector),
        );
        tokio::select! {
            _ = watches => {}
            () = runtime.shutdown.cancelled() => {}
        }
    };
    let controllers = async {
        tokio::join!(
            watches,
            runtime.run_controller::<ImageRepository, _, _, _, _>(
                shared.clone(),
                image_repository::reconcile
            ),
            runtime
                .run_controller::<ImagePolicy, _, _, _, _>(shared.clone(), image_policy::reconcile),
        );
    };
    runtime
        .run_process(webhook::router(runtime.client.clone(), hooks), controllers)
        .await?;
    Ok(())
}
