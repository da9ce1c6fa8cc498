//! Leader election on a coordination.k8s.io Lease, through the `kube-lease-manager` crate: only
//! the replica holding the Lease reconciles; one that loses it shuts down so that Kubernetes
//! restarts it as a follower, as controller-runtime does.

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};

use super::Runtime;

impl Runtime {
    /// Returns at once without `--leader-elect`; otherwise waits until this replica holds the
    /// Lease `sluice-<name>` in `--leader-election-namespace`, and cancels [`Runtime::shutdown`]
    /// when it loses it.
    ///
    /// Errors: the Lease could not be created or read (RBAC, namespace missing).
    pub async fn acquire_leadership(&self) -> Result<(), LeaseManagerError> {
        if !self.options.leader_elect {
            return Ok(());
        }
        let identity = std::env::var("POD_NAME")
            .unwrap_or_else(|_| format!("sluice-{}-{}", self.name, std::process::id()));
        let manager =
            LeaseManagerBuilder::new(self.client.clone(), format!("sluice-{}", self.name))
                .with_namespace(&self.options.leader_election_namespace)
                .with_identity(identity)
                .with_duration(self.options.leader_election_lease_seconds)
                .with_field_manager(format!("sluice-{}", self.name))
                .build()
                .await?;
        let (mut leading, _task) = manager.watch().await;
        tracing::info!(lease = %format!("sluice-{}", self.name), "waiting for leadership");
        while !*leading.borrow_and_update() {
            if leading.changed().await.is_err() {
                return Err(LeaseManagerError::InconsistentState(
                    "lease manager stopped".into(),
                ));
            }
        }
        tracing::info!("acquired leadership");
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            while leading.changed().await.is_ok() {
                if !*leading.borrow() {
                    break;
                }
            }
            tracing::warn!("lost leadership, shutting down");
            shutdown.cancel();
        });
        Ok(())
    }
}
