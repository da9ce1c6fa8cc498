//! The finalizer of Sluice's kinds, `finalizers.sluice.dev` (Flux's `finalizers.fluxcd.io`):
//! added by the first reconcile so that a deletion waits for the controller's clean-up
//! (garbage collection of a Kustomization's inventory, a GitRepository's artifacts), removed
//! once the clean-up is done.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::Reconcilable;

/// The finalizer name.
pub const FINALIZER: &str = "finalizers.sluice.dev";

/// Whether `object` is being deleted (it has a `deletionTimestamp`).
pub fn is_deleting<K: ResourceExt>(object: &K) -> bool {
    object.meta().deletion_timestamp.is_some()
}

/// Whether `object` carries [`FINALIZER`].
pub fn has_finalizer<K: ResourceExt>(object: &K) -> bool {
    object.finalizers().iter().any(|name| name == FINALIZER)
}

/// Adds [`FINALIZER`] to `object` when missing, or removes it when present and `present` is
/// false; see [`set_named_finalizer`].
///
/// Errors: the API server refused the patch.
pub async fn set_finalizer<K: Reconcilable>(
    client: &Client,
    object: &K,
    present: bool,
) -> Result<(), kube::Error> {
    set_named_finalizer(client, object, FINALIZER, present, false).await
}

/// Adds the finalizer `name` to `object` when missing, or removes it when present and `present`
/// is false, by a merge patch of the whole `metadata.finalizers` list through `client` (the other
/// finalizers are kept as the cached `object` has them). With `if_unchanged`, the cached
/// `resourceVersion` is a precondition, so that a finalizer added meanwhile by someone else is
/// never dropped (the conflict fails the call; the caller retries on its next tick). No
/// request when nothing changes.
///
/// Errors: the API server refused the patch (409 on a concurrent change with `if_unchanged`).
pub async fn set_named_finalizer<K: Reconcilable>(
    client: &Client,
    object: &K,
    name: &str,
    present: bool,
    if_unchanged: bool,
) -> Result<(), kube::Error> {
    if object.finalizers().iter().any(|held| held == name) == present {
        return Ok(());
    }
    let mut finalizers: Vec<String> = object
        .finalizers()
        .iter()
        .filter(|held| *held != name)
        .cloned()
        .collect();
    if present {
        finalizers.push(name.to_owned());
    }
    let mut patch = json!({"metadata": {"finalizers": finalizers}});
    if if_unchanged {
        patch["metadata"]["resourceVersion"] = json!(object.resource_version());
    }
    Api::<K>::namespaced(client.clone(), &object.namespace().unwrap_or_default())
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ())
}
