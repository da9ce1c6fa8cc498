//! Delivery of events: controllers hand them to a [`Notifier`] (never blocking, never failing
//! their reconcile), and one dispatcher task sends each to the Providers of the Alerts it
//! matches: a commit status for Git-host Providers, a JSON POST for the generic webhook. Alerts
//! and Providers are read from watch caches; an identical status already posted for the same
//! commit and context is not posted again (as Flux's GitHub notifier skips duplicates).

use std::collections::HashMap;

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::alert::Alert;
use crate::api::provider::Provider;
use crate::forge::{CommitState, ForgeError};

use super::commit_status::commit_status;
use super::credentials::{CredentialsError, forge_client, forge_kind, timeout};
use super::event::Event;
use super::matching::alert_matches;
use sluice_runtime::references::CrossNamespace;

/// How many events may wait for delivery; beyond that [`Notifier::offer`] refuses new ones
/// (`POST /events` answers 503) and [`Notifier::publish`] drops them with a warning.
pub const QUEUE_CAPACITY: usize = 4096;

/// Where controllers publish events. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    sender: mpsc::Sender<Event>,
}

impl Notifier {
    /// A notifier and the receiving end the dispatcher reads.
    pub fn channel() -> (Notifier, mpsc::Receiver<Event>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        (Notifier { sender }, receiver)
    }

    /// Queues `event` for delivery without waiting.
    ///
    /// Errors: [`QueueError::Full`] when [`QUEUE_CAPACITY`] events already wait,
    /// [`QueueError::Closed`] when the dispatcher has stopped; the event is not queued.
    pub fn offer(&self, event: Event) -> Result<(), QueueError> {
        self.sender.try_send(event).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => QueueError::Full,
            mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
        })
    }

    /// Queues `event` for delivery, as [`Notifier::offer`]; drops it (with a warning) when it
    /// cannot be queued, so a controller's reconcile never waits or fails on notifications.
    pub fn publish(&self, event: Event) {
        if let Err(error) = self.offer(event) {
            tracing::warn!(%error, "event dropped");
        }
    }
}

/// Why [`Notifier::offer`] did not queue an event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// [`QUEUE_CAPACITY`] events already wait for delivery.
    #[error("the event queue is full ({QUEUE_CAPACITY} events wait for delivery)")]
    Full,
    /// The dispatcher has stopped (the process is shutting down).
    #[error("the event dispatcher has stopped")]
    Closed,
}

/// Errors delivering one event to one Provider (logged; delivery goes on with the next).
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error("posting to {address}: {message}")]
    Webhook { address: String, message: String },
}

/// Delivers the events of `receiver` until `shutdown`, reading Alerts and Providers of every
/// namespace with `client`; an Alert gets an event of another namespace only when `policy`
/// allows cross-namespace references.
pub async fn dispatch_events(
    client: Client,
    mut receiver: mpsc::Receiver<Event>,
    shutdown: CancellationToken,
    policy: CrossNamespace,
) {
    let alerts = watch_store::<Alert>(&client, &shutdown);
    let providers = watch_store::<Provider>(&client, &shutdown);
    let mut posted: HashMap<(String, String), (CommitState, String)> = HashMap::new();
    let webhook = reqwest::Client::new();
    loop {
        let event = tokio::select! {
            event = receiver.recv() => match event { Some(event) => event, None => return },
            () = shutdown.cancelled() => return,
        };
        for alert in alerts.state() {
            let namespace = alert.namespace().unwrap_or_default();
            let matches = alert_matches(&alert.spec, &namespace, &event, policy).unwrap_or(false);
            if alert.spec.suspend || !matches {
                continue;
            }
            let key = ObjectRef::new(&alert.spec.provider_ref.name).within(&namespace);
            let Some(provider) = providers
                .get(&key)
                .filter(|provider| !provider.spec.suspend)
            else {
                continue;
            };
            let mut event = event.clone();
            event.metadata.extend(alert.spec.event_metadata.clone());
            let delivered = deliver(&client, &provider, &event, &mut posted, &webhook).await;
            if let Err(error) = delivered {
                tracing::warn!(alert = %alert.name_any(), provider = %provider.name_any(), %error, "event not delivered");
            }
        }
    }
}

async fn deliver(
    client: &Client,
    provider: &Provider,
    event: &Event,
    posted: &mut HashMap<(String, String), (CommitState, String)>,
    webhook: &reqwest::Client,
) -> Result<(), DeliveryError> {
    let Some(kind) = forge_kind(provider.spec.provider_type) else {
        return post_webhook(webhook, provider, event).await;
    };
    let uid = provider.meta().uid.clone().unwrap_or_default();
    let Some((sha, status)) = commit_status(event, &uid) else {
        return Ok(());
    };
    let key = (sha.clone(), status.context.clone());
    let value = (status.state, status.description.clone());
    if posted.get(&key) == Some(&value) {
        return Ok(());
    }
    let forge = forge_client(client, provider, kind).await?;
    forge.set_commit_status(&sha, &status).await?;
    posted.insert(key, value);
    Ok(())
}

async fn post_webhook(
    webhook: &reqwest::Client,
    provider: &Provider,
    event: &Event,
) -> Result<(), DeliveryError> {
    let address = provider.spec.address.clone().unwrap_or_default();
    let failed = |message: String| DeliveryError::Webhook {
        address: address.clone(),
        message,
    };
    let response = webhook
        .post(&address)
        .timeout(timeout(provider)?)
        .header("Gotk-Component", &event.reporting_controller)
        .json(event)
        .send()
        .await
        .map_err(|error| failed(error.to_string()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(failed(response.status().to_string()))
    }
}

/// A watch cache of every `K`, kept up to date until `shutdown`.
fn watch_store<K>(client: &Client, shutdown: &CancellationToken) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .take_until(shutdown.clone().cancelled_owned())
        .for_each(|_| std::future::ready(()));
    tokio::spawn(stream);
    store
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{InvolvedObject, Severity};

    fn event() -> Event {
        Event {
            involved_object: InvolvedObject::default(),
            severity: Severity::Info,
            timestamp: String::new(),
            message: String::new(),
            reason: "ReconciliationSucceeded".into(),
            metadata: Default::default(),
            reporting_controller: String::new(),
        }
    }

    #[test]
    fn a_full_or_closed_queue_refuses_events_instead_of_losing_them_silently() {
        let (notifier, receiver) = Notifier::channel();
        for _ in 0..QUEUE_CAPACITY {
            assert_eq!(notifier.offer(event()), Ok(()));
        }
        assert_eq!(notifier.offer(event()), Err(QueueError::Full));
        drop(receiver);
        assert_eq!(notifier.offer(event()), Err(QueueError::Closed));
    }
}
