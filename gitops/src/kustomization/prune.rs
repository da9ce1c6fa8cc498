//! Garbage collection of objects that left the build, as Flux prunes: only objects of the
//! previous inventory, in reverse apply order, and only when the live object still carries this
//! Kustomization's owner labels and is not annotated or labelled
//! `kustomize.sluice.dev/prune: disabled`. Deletes use background propagation through the
//! Kustomization's client, so the tenant's RBAC applies. Every object is tried; those that
//! could not be deleted are returned, so that the inventory keeps them and the next reconcile
//! tries again (Flux drops them from the inventory, and then never deletes them).

use kube::api::{DeleteParams, DynamicObject, PropagationPolicy};
use kube::{Api, Client};

use super::apply::api_message;
use super::build::Owner;
use super::clients::Clients;
use super::error::Error;
use super::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, PRUNE_ANNOTATION};
use crate::api::kustomization::ResourceInventory;
use crate::inventory::InventoryObject;

/// What a prune did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// `Kind/namespace/name` of each object deleted.
    pub deleted: Vec<String>,
    /// The objects that could not be deleted, each with [`Error::PruneFailed`]'s message
    /// naming it and the API server's answer; they stay in the inventory.
    pub kept: Vec<(InventoryObject, String)>,
}

impl Pruned {
    /// [`Error::PruneFailed`] naming every object kept, or `None` when none was.
    pub fn error(&self) -> Option<Error> {
        let messages: Vec<&str> = self.kept.iter().map(|(_, m)| m.as_str()).collect();
        (!messages.is_empty()).then(|| Error::PruneFailed(messages.join("; ")))
    }
}

impl Pruned {
    /// The inventory to record after applying `applied` and this prune: `applied`'s entries,
    /// then those of the objects that could not be deleted, so that the next reconcile finds
    /// them stale again and retries.
    pub fn inventory(&self, applied: &ResourceInventory) -> ResourceInventory {
        let kept = self
            .kept
            .iter()
            .map(|(object, _)| object.meta.to_entry(&object.version));
        ResourceInventory {
            entries: applied.entries.iter().cloned().chain(kept).collect(),
        }
    }
}

/// Deletes the `stale` objects (see the module doc), trying each, and returns what was deleted
/// and what could not be (an API refusal or failure, the kind's discovery failing for another
/// reason than the kind not being served any more). An object already gone, no longer this
/// Kustomization's, or of a kind no longer served counts as done.
pub async fn prune(
    clients: &Clients,
    client: &Client,
    stale: &[InventoryObject],
    owner: &Owner<'_>,
) -> Pruned {
    let mut pruned = Pruned::default();
    for object in stale {
        match prune_one(clients, client, object, owner).await {
            Ok(Some(description)) => pruned.deleted.push(description),
            Ok(None) => {}
            Err(message) => pruned.kept.push((object.clone(), message)),
        }
    }
    pruned
}

/// Deletes `object` when [`may_prune`] allows; returns its description when it was deleted,
/// `None` when there was nothing to delete, or the message of the failure.
async fn prune_one(
    clients: &Clients,
    client: &Client,
    object: &InventoryObject,
    owner: &Owner<'_>,
) -> Result<Option<String>, String> {
    let meta = &object.meta;
    let description = if meta.namespace.is_empty() {
        format!("{}/{}", meta.kind, meta.name)
    } else {
        format!("{}/{}/{}", meta.kind, meta.namespace, meta.name)
    };
    let failed = |e: &kube::Error| format!("{description} delete failed {}", api_message(e));
    let served = match clients.served_kind(&object.api_version(), &meta.kind).await {
        Ok(served) => served,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
        Err(error) => return Err(failed(&error)),
    };
    let api: Api<DynamicObject> = if served.namespaced {
        Api::namespaced_with(client.clone(), &meta.namespace, &served.resource)
    } else {
        Api::all_with(client.clone(), &served.resource)
    };
    let Some(live) = api.get_opt(&meta.name).await.map_err(|e| failed(&e))? else {
        return Ok(None);
    };
    if !may_prune(&live, owner) {
        return Ok(None);
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(&meta.name, &params).await {
        Ok(_) => Ok(Some(description)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(error) => Err(failed(&error)),
    }
}

/// Whether the live object is still this Kustomization's and pruning is not disabled on it.
fn may_prune(live: &DynamicObject, owner: &Owner<'_>) -> bool {
    let labels = live.metadata.labels.clone().unwrap_or_default();
    let annotations = live.metadata.annotations.clone().unwrap_or_default();
    let owned = labels.get(OWNER_NAME_LABEL).map(String::as_str) == Some(owner.name)
        && labels.get(OWNER_NAMESPACE_LABEL).map(String::as_str) == Some(owner.namespace);
    let disabled = [&labels, &annotations]
        .iter()
        .any(|map| map.get(PRUNE_ANNOTATION).map(String::as_str) == Some("disabled"));
    owned && !disabled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory;
    use serde_json::json;

    fn live(labels: serde_json::Value, annotations: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": labels, "annotations": annotations}}))
        .unwrap()
    }

    #[test]
    fn what_could_not_be_deleted_stays_in_the_inventory_and_is_stale_again() {
        let entry = |id: &str| crate::api::kustomization::ResourceRef {
            id: id.into(),
            v: "v1".into(),
        };
        let old = ResourceInventory {
            entries: vec![entry("apps_a__ConfigMap"), entry("apps_b__ConfigMap")],
        };
        let applied = ResourceInventory {
            entries: vec![entry("apps_a__ConfigMap")],
        };
        let stale = inventory::stale_objects(&old, &applied).unwrap();
        let failed = Pruned {
            deleted: Vec::new(),
            kept: vec![(
                stale[0].clone(),
                "ConfigMap/apps/b delete failed (Forbidden)".into(),
            )],
        };
        let recorded = failed.inventory(&applied);
        assert_eq!(recorded, old);
        assert_eq!(
            inventory::stale_objects(&recorded, &applied).unwrap(),
            stale
        );
        assert!(
            matches!(failed.error(), Some(Error::PruneFailed(m)) if m.contains("ConfigMap/apps/b"))
        );
        let done = Pruned::default();
        assert!(done.error().is_none());
        assert_eq!(done.inventory(&applied), applied);
    }

    #[test]
    fn only_owned_objects_without_the_opt_out_are_pruned() {
        let owner = Owner {
            name: "apps",
            namespace: "flux",
        };
        let owned = json!({OWNER_NAME_LABEL: "apps", OWNER_NAMESPACE_LABEL: "flux"});
        assert!(may_prune(&live(owned.clone(), json!({})), &owner));
        assert!(!may_prune(
            &live(owned, json!({PRUNE_ANNOTATION: "disabled"})),
            &owner
        ));
        let other = json!({OWNER_NAME_LABEL: "infra", OWNER_NAMESPACE_LABEL: "flux"});
        assert!(!may_prune(&live(other, json!({})), &owner));
    }
}
