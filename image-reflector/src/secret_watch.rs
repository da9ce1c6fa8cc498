//! Rescanning on Secret changes: when a Secret that ImageRepositories reference by `secretRef`,
//! `certSecretRef`, `proxySecretRef` or `webhookSecretRef` is created, changed or deleted, those
//! repositories scan again at once, so rotated credentials repair a `Ready=False` repository
//! without waiting for its backoff or interval, and a rotated webhook token moves the webhook
//! path at once. This is controller-runtime's `Watches(&Secret{}, mapper)` pattern;
//! Flux's image-reflector-controller watches ImageRepositories only and sees new credentials on
//! its next scan.
//!
//! Secrets are watched by metadata only (no Secret data is held), cluster-wide; a change maps
//! to the ImageRepositories of the Secret's namespace (those this process reconciles, by
//! `--watch-label-selector`) that name it, and each is asked to reconcile through the
//! requested-at annotation, which makes it scan now (see [`crate::scan::scan_due`]).

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::api::ImageRepository;
use crate::reconcile::request::request_scans;

/// A Secret that changed: its namespace and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedSecret {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Picks the changes out of a Secret watch: `Apply` and `Delete` events once the first listing
/// is done. The listings themselves (at start-up and after the watch lost its place) say what
/// exists, not what changed, so they trigger nothing.
#[derive(Debug, Default)]
pub struct Changes {
    listed: bool,
}

impl Changes {
    /// The Secret `event` reports changed, if any.
    pub fn on_event(&mut self, event: Event<PartialObjectMeta<Secret>>) -> Option<ChangedSecret> {
        match event {
            Event::Init | Event::InitApply(_) => None,
            Event::InitDone => {
                self.listed = true;
                None
            }
            Event::Apply(secret) | Event::Delete(secret) => self.listed.then(|| ChangedSecret {
                namespace: secret.namespace().unwrap_or_default(),
                name: secret.name_any(),
            }),
        }
    }
}

/// Watches Secrets through `client` and requests a scan of the ImageRepositories matching
/// `label_selector` that reference a changed one, until the watch stream ends (it does not:
/// errors are retried with backoff and logged).
pub async fn run(client: Client, label_selector: Option<String>) {
    let secrets: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
    let mut events = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut changes = Changes::default();
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(event) => changes.on_event(event),
            Err(error) => {
                tracing::warn!(%error, "watching Secrets");
                None
            }
        };
        if let Some(secret) = changed {
            rescan_referrers(&client, label_selector.as_deref(), &secret).await;
        }
    }
}

/// Requests a scan of the ImageRepositories that reference `secret`; a failure to list them is
/// logged (they still scan on their own schedule).
async fn rescan_referrers(client: &Client, label_selector: Option<&str>, secret: &ChangedSecret) {
    let api: Api<ImageRepository> = Api::namespaced(client.clone(), &secret.namespace);
    let mut params = ListParams::default();
    if let Some(selector) = label_selector {
        params = params.labels(selector);
    }
    let repositories = match api.list(&params).await {
        Ok(list) => list.items,
        Err(error) => {
            tracing::warn!(%error, namespace = %secret.namespace, "listing ImageRepositories");
            return;
        }
    };
    let referrers = repositories.into_iter().filter(|repository| {
        repository
            .spec
            .secret_names()
            .any(|name| name == secret.name)
    });
    let count = request_scans(client, referrers).await;
    if count > 0 {
        tracing::info!(
            namespace = %secret.namespace,
            secret = %secret.name,
            count,
            "Secret changed: rescanning the ImageRepositories that use it"
        );
    }
}

#[cfg(test)]
mod tests {
    use kube::core::{ObjectMeta, PartialObjectMetaExt};

    use super::*;

    fn secret(name: &str) -> PartialObjectMeta<Secret> {
        ObjectMeta {
            namespace: Some("team".into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        }
        .into_response_partial()
    }

    #[test]
    fn listings_are_not_changes_and_later_events_are() {
        let mut changes = Changes::default();
        assert_eq!(changes.on_event(Event::Apply(secret("early"))), None);
        assert_eq!(changes.on_event(Event::Init), None);
        assert_eq!(changes.on_event(Event::InitApply(secret("listed"))), None);
        assert_eq!(changes.on_event(Event::InitDone), None);
        let changed = |name: &str| {
            Some(ChangedSecret {
                namespace: "team".into(),
                name: name.into(),
            })
        };
        assert_eq!(
            changes.on_event(Event::Apply(secret("rotated"))),
            changed("rotated")
        );
        assert_eq!(
            changes.on_event(Event::Delete(secret("removed"))),
            changed("removed")
        );
        assert_eq!(changes.on_event(Event::Init), None);
        assert_eq!(
            changes.on_event(Event::InitApply(secret("relisted"))),
            None,
            "a relisting is not a change"
        );
    }
}
