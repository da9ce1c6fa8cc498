//! Asking for an immediate reconcile of an object by setting its
//! `reconcile.sluice.dev/requestedAt` annotation, as `sluice reconcile` and Flux's Receivers do.
//! The ImageRepository reconciler uses it to wake the ImagePolicies of a repository whose tags
//! changed, and the webhook to scan the repositories of a pushed image.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use sluice_core::runtime::REQUESTED_AT_ANNOTATION;

/// Sets the requested-at annotation of `name` (through `api`) to the current time.
///
/// Errors: the API refused the patch (e.g. the object is gone).
pub async fn request_reconcile<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let now = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: now}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}
