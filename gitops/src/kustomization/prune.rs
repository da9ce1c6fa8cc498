//! Garbage collection of objects that left the build, as Flux prunes: only objects of the
//! previous inventory, in reverse apply order, and only when the live object still carries this
//! Kustomization's owner labels and is not annotated or labelled
//! `kustomize.sluice.dev/prune: disabled`. Deletes use background propagation through the
//! Kustomization's client, so the tenant's RBAC applies.

use kube::api::{DeleteParams, DynamicObject, PropagationPolicy};
use kube::{Api, Client};

use super::apply::api_message;
use super::build::Owner;
use super::clients::Clients;
use super::error::Error;
use super::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, PRUNE_ANNOTATION};
use crate::inventory::InventoryObject;

/// Deletes the `stale` objects (see the module doc) and returns `Kind/namespace/name` of each
/// object deleted.
///
/// Errors: [`Error::PruneFailed`] naming the object the API server refused to delete.
pub async fn prune(
    clients: &Clients,
    client: &Client,
    stale: &[InventoryObject],
    owner: &Owner<'_>,
) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    for object in stale {
        let meta = &object.meta;
        let description = if meta.namespace.is_empty() {
            format!("{}/{}", meta.kind, meta.name)
        } else {
            format!("{}/{}/{}", meta.kind, meta.namespace, meta.name)
        };
        let failed = |e: &kube::Error| {
            Error::PruneFailed(format!("{description} delete failed {}", api_message(e)))
        };
        let Ok(served) = clients.served_kind(&object.api_version(), &meta.kind).await else {
            continue;
        };
        let api: Api<DynamicObject> = if served.namespaced {
            Api::namespaced_with(client.clone(), &meta.namespace, &served.resource)
        } else {
            Api::all_with(client.clone(), &served.resource)
        };
        let Some(live) = api.get_opt(&meta.name).await.map_err(|e| failed(&e))? else {
            continue;
        };
        if !may_prune(&live, owner) {
            continue;
        }
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        api.delete(&meta.name, &params)
            .await
            .map_err(|e| failed(&e))?;
        deleted.push(description);
    }
    Ok(deleted)
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
    use serde_json::json;

    fn live(labels: serde_json::Value, annotations: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": labels, "annotations": annotations}}))
        .unwrap()
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
