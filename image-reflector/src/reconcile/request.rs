//! Asking for an immediate reconcile of an object by setting its
//! `reconcile.sluice.dev/requestedAt` annotation, as `sluice reconcile` and Flux's Receivers do.
//! The ImageRepository reconciler uses it to wake the ImagePolicies of a repository whose tags
//! changed, the webhook to scan the repositories of a pushed image, and the Secret watch those
//! of a changed Secret.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use sluice_runtime::REQUESTED_AT_ANNOTATION;

use crate::api::ImageRepository;

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

/// Requests a reconcile, through `client`, of each of `repositories` that is not suspended,
/// which makes it scan now; returns how many were asked. A refused request is logged.
pub async fn request_scans(
    client: &Client,
    repositories: impl IntoIterator<Item = ImageRepository>,
) -> usize {
    let mut count = 0;
    for repository in repositories {
        if repository.spec.suspend {
            continue;
        }
        let api: Api<ImageRepository> =
            Api::namespaced(client.clone(), &repository.namespace().unwrap_or_default());
        match request_reconcile(&api, &repository.name_any()).await {
            Ok(()) => count += 1,
            Err(error) => {
                tracing::warn!(%error, name = %repository.name_any(), "requesting a scan failed")
            }
        }
    }
    count
}
