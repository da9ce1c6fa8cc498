//! The flags of `sluice controller core` besides the shared [`RuntimeOptions`](sluice_runtime::RuntimeOptions):
//! artifact storage (Flux source-controller's `--storage-path`, `--storage-adv-addr`) and the
//! multi-tenancy lockdown (Flux kustomize-controller's `--default-service-account`,
//! `--no-cross-namespace-refs`).

use std::path::PathBuf;

/// Flags of the core controller; flatten into the `controller core` command with
/// `#[command(flatten)]`.
#[derive(clap::Args, Clone, Debug)]
pub struct CoreFlags {
    /// Folder holding the GitRepository artifacts.
    #[arg(long, env = "STORAGE_PATH", default_value = "/data")]
    pub storage_path: PathBuf,
    /// `host:port` consumers download artifacts from; the artifact server is the `--metrics-addr`
    /// HTTP server. Defaults to `sluice-core.<RUNTIME_NAMESPACE>.svc.cluster.local.:8080`.
    #[arg(long, env = "STORAGE_ADV_ADDR")]
    pub storage_adv_addr: Option<String>,
    /// ServiceAccount (in the Kustomization's namespace) impersonated when a Kustomization names
    /// none, e.g. `default`; without it such Kustomizations run with the controller's identity.
    #[arg(long)]
    pub default_service_account: Option<String>,
    /// Refuse a Kustomization's `sourceRef` or `dependsOn` in another namespace.
    #[arg(long)]
    pub no_cross_namespace_refs: bool,
}

impl CoreFlags {
    /// The artifact address to advertise: `--storage-adv-addr`, or the in-cluster Service
    /// address in `runtime_namespace`.
    pub fn advertised_address(&self, runtime_namespace: &str) -> String {
        self.storage_adv_addr
            .clone()
            .unwrap_or_else(|| format!("sluice-core.{runtime_namespace}.svc.cluster.local.:8080"))
    }
}
