//! The flags of `sluice controller core` besides the shared [`RuntimeOptions`](sluice_runtime::RuntimeOptions)
//! (which holds the lockdown's `--no-cross-namespace-refs`, taken by every controller): artifact
//! storage (Flux source-controller's `--storage-path`, `--storage-adv-addr`), Flux
//! kustomize-controller's `--default-service-account`, and Sluice's `--allow-file-sources`.

use std::path::PathBuf;

/// Flags of the core controller; flatten into the `controller core` command with
/// `#[command(flatten)]`.
#[derive(clap::Args, Clone, Debug)]
pub struct CoreFlags {
    /// Folder holding the GitRepository artifacts.
    #[arg(long, env = "STORAGE_PATH", default_value = "/data")]
    pub storage_path: PathBuf,
    /// Address of a second HTTP server, for the artifacts and `POST /events` only (Flux
    /// source-controller's `--storage-addr`), so that a NetworkPolicy can keep that port to
    /// Sluice's namespace while `/metrics` stays open to Prometheus; without it they are served
    /// on `--metrics-addr`. Either way only Sluice's ServiceAccounts are let in.
    #[arg(long, env = "STORAGE_ADDR")]
    pub storage_addr: Option<std::net::SocketAddr>,
    /// `host:port` consumers download artifacts from. Defaults to
    /// `sluice-core.<RUNTIME_NAMESPACE>.svc.cluster.local.:<port>`, the port of `--storage-addr`,
    /// else of `--metrics-addr`.
    #[arg(long, env = "STORAGE_ADV_ADDR")]
    pub storage_adv_addr: Option<String>,
    /// ServiceAccount (in the Kustomization's namespace) impersonated when a Kustomization names
    /// none, e.g. `default`; without it such Kustomizations run with the controller's identity.
    #[arg(long)]
    pub default_service_account: Option<String>,
    /// Fetch GitRepositories with `file://` URLs, which read the controller's own disk (for
    /// tests and local demos; never in a cluster shared by tenants, and never set by `deploy/`).
    /// Without it they are refused with `URLInvalid` (see `sluice_gitops::source::policy`).
    #[arg(long)]
    pub allow_file_sources: bool,
}

impl CoreFlags {
    /// The artifact address to advertise: `--storage-adv-addr`, or the in-cluster Service
    /// address in `runtime_namespace` on the port artifacts are served on (`--storage-addr`'s,
    /// else `metrics_addr`'s).
    pub fn advertised_address(
        &self,
        runtime_namespace: &str,
        metrics_addr: std::net::SocketAddr,
    ) -> String {
        let port = self.storage_addr.unwrap_or(metrics_addr).port();
        self.storage_adv_addr
            .clone()
            .unwrap_or_else(|| format!("sluice-core.{runtime_namespace}.svc.cluster.local.:{port}"))
    }
}
