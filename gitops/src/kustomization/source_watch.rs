//! Reacting to new source revisions: a watch on GitRepositories records each one's artifact
//! revision, and when it changes, asks every Kustomization built from it to reconcile now
//! (through the `reconcile.sluice.dev/requestedAt` annotation, as `sluice reconcile` does), so
//! a revision that fixes a failing one is applied at once. Health checks read the recorded
//! revisions to stop waiting on a superseded revision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::api::{GitRepository, Kustomization};
use sluice_runtime::REQUESTED_AT_ANNOTATION;
use sluice_runtime::references::CrossNamespace;

/// The latest artifact revision (if any) of each GitRepository, by (namespace, name).
type RevisionMap = HashMap<(String, String), Option<String>>;

/// The latest artifact revision of each GitRepository, by (namespace, name).
#[derive(Clone, Default)]
pub struct SourceRevisions(Arc<Mutex<RevisionMap>>);

impl SourceRevisions {
    /// The latest known revision of `namespace/name`, if any.
    pub fn get(&self, namespace: &str, name: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(namespace.to_string(), name.to_string()))
            .cloned()
            .flatten()
    }

    /// Records `revision`; returns whether it differs from an earlier record of the object (a
    /// first sighting is not a change).
    fn record(&self, namespace: String, name: String, revision: Option<String>) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.insert((namespace, name), revision.clone()) {
            Some(previous) => previous != revision,
            None => false,
        }
    }
}

/// Watches the GitRepositories matching `label_selector` (`--watch-label-selector`) until the
/// stream ends (process shutdown drops it), recording revisions into `revisions` and requesting
/// reconciles of the Kustomizations (matching the same selector) of a source whose revision
/// changed (only those `policy` lets follow it: under the lockdown, a Kustomization of another
/// namespace is never told a tenant's revision). Failures to annotate are logged: the
/// Kustomization's interval still holds.
pub async fn run(
    client: Client,
    revisions: SourceRevisions,
    label_selector: Option<String>,
    policy: CrossNamespace,
) {
    let repositories: Api<GitRepository> = Api::all(client.clone());
    let mut config = watcher::Config::default();
    if let Some(selector) = &label_selector {
        config = config.labels(selector);
    }
    let mut events = watcher(repositories, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = events.next().await {
        let Ok(repository) = event else { continue };
        let namespace = repository.namespace().unwrap_or_default();
        let name = repository.name_any();
        let revision = repository
            .status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .map(|a| a.revision.clone());
        if revisions.record(namespace.clone(), name.clone(), revision.clone()) {
            let revision = revision.unwrap_or_default();
            let found = request_reconciles(
                &client,
                &namespace,
                &name,
                &revision,
                label_selector.as_deref(),
                policy,
            );
            if let Err(error) = found.await {
                tracing::warn!(%namespace, %name, %error, "requesting reconciles after a new revision");
            }
        }
    }
}

async fn request_reconciles(
    client: &Client,
    namespace: &str,
    name: &str,
    revision: &str,
    label_selector: Option<&str>,
    policy: CrossNamespace,
) -> Result<(), kube::Error> {
    let all: Api<Kustomization> = Api::all(client.clone());
    let requested = format!("{}/{revision}", jiff::Timestamp::now());
    let mut params = ListParams::default();
    if let Some(selector) = label_selector {
        params = params.labels(selector);
    }
    for kustomization in all.list(&params).await? {
        if !follows(&kustomization, namespace, name, policy) {
            continue;
        }
        let own = kustomization.namespace().unwrap_or_default();
        let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: requested}}});
        Api::<Kustomization>::namespaced(client.clone(), &own)
            .patch(
                &kustomization.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    Ok(())
}

/// Whether `kustomization` builds from the GitRepository `namespace/name`, as `policy` lets it
/// reference that namespace (a refused reference follows nothing).
fn follows(
    kustomization: &Kustomization,
    namespace: &str,
    name: &str,
    policy: CrossNamespace,
) -> bool {
    let own = kustomization.namespace().unwrap_or_default();
    let source = &kustomization.spec.source_ref;
    source.name == name
        && source
            .resolve_namespace(&own, policy)
            .is_ok_and(|resolved| resolved == namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kustomization(source: serde_json::Value) -> Kustomization {
        serde_json::from_value(json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "attacker"},
            "spec": {"interval": "1m", "prune": true, "sourceRef": source},
        }))
        .unwrap()
    }

    #[test]
    fn a_refused_source_is_followed_only_without_the_lockdown() {
        let borrowed =
            kustomization(json!({"kind": "GitRepository", "name": "repo", "namespace": "victim"}));
        assert!(follows(
            &borrowed,
            "victim",
            "repo",
            CrossNamespace::Allowed
        ));
        assert!(!follows(
            &borrowed,
            "victim",
            "repo",
            CrossNamespace::Denied
        ));
        let own = kustomization(json!({"kind": "GitRepository", "name": "repo"}));
        assert!(follows(&own, "attacker", "repo", CrossNamespace::Denied));
        assert!(!follows(&own, "victim", "repo", CrossNamespace::Allowed));
        assert!(!follows(&own, "attacker", "other", CrossNamespace::Allowed));
    }
}
