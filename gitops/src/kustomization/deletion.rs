//! What happens when a Kustomization is deleted, as Flux's kustomize-controller finalizes one:
//! with `prune: true` and not suspended, every object of its inventory is deleted (reverse
//! apply order, through the tenant's client, only objects still carrying its owner labels and
//! not opted out of pruning, as [`prune`] decides), then the finalizer is removed so the
//! Kustomization goes away. A suspended or non-pruning Kustomization leaves its objects.

use kube::ResourceExt;

use super::build::Owner;
use super::error::Error;
use super::prune;
use super::reconciler::KustomizationState;
use super::tenancy;
use crate::api::Kustomization;
use crate::api::kustomization::ResourceInventory;
use crate::inventory;
use sluice_runtime::finalizer::{self, has_finalizer};

/// Whether deleting `kustomization` garbage-collects its inventory: `prune` set, not
/// suspended, and an inventory with entries (Flux's `finalize` condition).
pub fn collects_garbage(kustomization: &Kustomization) -> bool {
    let entries = kustomization
        .status
        .as_ref()
        .and_then(|status| status.inventory.as_ref())
        .is_some_and(|inventory| !inventory.entries.is_empty());
    kustomization.spec.prune && !kustomization.spec.suspend && entries
}

/// Finalizes a deleted `kustomization` (see the module doc); returns a message naming what was
/// deleted. Nothing is done without the finalizer.
///
/// Errors: [`Error::PruneFailed`] when an object could not be deleted (the finalizer stays and
/// the deletion is retried), [`Error::ReconciliationFailed`] when the finalizer could not be
/// removed or the tenant's client built.
pub async fn finalize(
    kustomization: &Kustomization,
    state: &KustomizationState,
) -> Result<String, Error> {
    if !has_finalizer(kustomization) {
        return Ok("deleted".into());
    }
    let mut deleted = Vec::new();
    if collects_garbage(kustomization) {
        let namespace = kustomization.namespace().unwrap_or_default();
        let name = kustomization.name_any();
        let account =
            tenancy::service_account(kustomization, state.default_service_account.as_deref());
        let client = state.clients.acting_as(&namespace, account.as_deref())?;
        let applied = kustomization
            .status
            .as_ref()
            .and_then(|status| status.inventory.clone())
            .unwrap_or_default();
        let all = inventory::stale_objects(&applied, &ResourceInventory::default())
            .map_err(|e| Error::PruneFailed(e.to_string()))?;
        let owner = Owner {
            name: &name,
            namespace: &namespace,
        };
        let pruned = prune::prune(&state.clients, &client, &all, &owner).await;
        if let Some(error) = pruned.error() {
            return Err(error);
        }
        deleted = pruned.deleted;
        tracing::info!(%name, %namespace, ?deleted, "garbage collected on deletion");
    }
    finalizer::set_finalizer(&state.clients.own(), kustomization, false)
        .await
        .map_err(|e| Error::ReconciliationFailed(format!("removing the finalizer: {e}")))?;
    Ok(format!("finalized, deleted {} objects", deleted.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kustomization(prune: bool, suspend: bool, entries: usize) -> Kustomization {
        let entries: Vec<_> = (0..entries)
            .map(|i| json!({"id": format!("apps_c{i}__ConfigMap"), "v": "v1"}))
            .collect();
        serde_json::from_value(json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux"},
            "spec": {"interval": "10m", "prune": prune, "suspend": suspend,
                "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
            "status": {"inventory": {"entries": entries}},
        }))
        .unwrap()
    }

    #[test]
    fn only_a_pruning_unsuspended_kustomization_with_an_inventory_collects_garbage() {
        assert!(collects_garbage(&kustomization(true, false, 2)));
        assert!(!collects_garbage(&kustomization(false, false, 2)));
        assert!(!collects_garbage(&kustomization(true, true, 2)));
        assert!(!collects_garbage(&kustomization(true, false, 0)));
    }
}
