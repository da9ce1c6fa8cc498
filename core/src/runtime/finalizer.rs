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
/// false, by a merge patch of the whole `metadata.finalizers` list through `client` (the other
/// finalizers are kept as the cached `object` has them). No request when nothing changes.
///
/// Errors: the API server refused the patch.
pub async fn set_finalizer<K: Reconcilable>(
    client: &Client,
    object: &K,
    present: bool,
) -> Result<(), kube::Error> {
    if has_finalizer(object) == present {
        return Ok(());
    }
    let mut finalizers: Vec<String> = object
        .finalizers()
        .iter()
        .filter(|name| *name != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.to_owned());
    }
    let patch = json!({"metadata": {"finalizers": finalizers}});
    Api::<K>::namespaced(client.clone(), &object.namespace().unwrap_or_default())
        .patch(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ())
}
