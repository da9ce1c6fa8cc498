//! The flags every Sluice controller takes, as Flux's controllers name them where they have one.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::references::CrossNamespace;

/// Runtime flags shared by `sluice controller <name>`.
#[derive(clap::Args, Clone, Debug)]
pub struct RuntimeOptions {
    /// Path to a kubeconfig; without it, the in-cluster config or `$KUBECONFIG` is used.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// How many objects of one kind are reconciled at once (Flux: `--concurrent`).
    #[arg(long, default_value_t = 4)]
    pub concurrent: u16,
    /// Reconcile only objects whose labels match this selector, to shard one kind across
    /// several controller replicas (Flux: `--watch-label-selector`).
    #[arg(long)]
    pub watch_label_selector: Option<String>,
    /// Run only while holding the controller's coordination.k8s.io Lease.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "sluice-system")]
    pub leader_election_namespace: String,
    /// Lease duration for leader election, in seconds.
    #[arg(long, default_value_t = 15)]
    pub leader_election_lease_seconds: u64,
    /// Address of the HTTP server for `/metrics`, `/healthz`, `/readyz` and the controller's
    /// own endpoints.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `info` or `sluice=debug`.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Refuse every reference to an object in another namespace (Kustomization `sourceRef` and
    /// `dependsOn`, ImageUpdateAutomation `sourceRef`, ImagePolicy `imageRepositoryRef`, Alert
    /// `eventSources`, Canary `templateRef`, Pipeline references), as Flux's
    /// `--no-cross-namespace-refs` (see [`crate::references`]).
    #[arg(long)]
    pub no_cross_namespace_refs: bool,
}

impl RuntimeOptions {
    /// The cross-namespace policy `--no-cross-namespace-refs` sets.
    pub fn cross_namespace(&self) -> CrossNamespace {
        CrossNamespace::from_flag(self.no_cross_namespace_refs)
    }
}

/// The two log formats of `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, as Flux's `--log-encoding=json`.
    Json,
}
