//! What every Canary's tick shares: the watch caches, the routers, the Prometheus and webhook
//! clients, the metric providers' credentials, the settings, and two memories that make a lagging
//! cache harmless: the status each Canary's last tick decided, and the generation of each
//! Deployment the controller wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::Client;

use crate::api::CanaryStatus;
use crate::caches::Caches;
use crate::credentials::SecretCredentials;
use crate::prometheus::{Prometheus, PrometheusError};
use crate::router::Routers;
use crate::settings::Settings;
use crate::webhook::Webhooks;

/// Why the shared services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The Prometheus client could not be built.
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    /// The webhook client could not be built.
    #[error("building the webhook client: {0}")]
    Webhooks(#[from] reqwest::Error),
}

/// The state of the canary controller.
pub struct Shared {
    /// The watch caches.
    pub caches: Caches,
    /// The routers.
    pub routers: Routers,
    /// The Prometheus client.
    pub prometheus: Prometheus,
    /// The webhook client.
    pub webhooks: Webhooks,
    /// The credentials of metric providers' `secretRef`s.
    pub credentials: SecretCredentials,
    /// The settings.
    pub settings: Settings,
    statuses: Mutex<HashMap<String, CanaryStatus>>,
    generations: Mutex<HashMap<String, i64>>,
}

impl Shared {
    /// Starts the caches on `client` and builds the clients.
    ///
    /// Errors: [`SharedError`] when an HTTP client cannot be built.
    pub fn start(client: &Client, settings: Settings) -> Result<Self, SharedError> {
        let caches = Caches::start(client);
        let addresses = Arc::new(settings.addresses.clone());
        Ok(Self {
            routers: Routers::new(client, &caches),
            caches,
            prometheus: Prometheus::new(&addresses)?,
            webhooks: Webhooks::new(&addresses)?,
            credentials: SecretCredentials::new(client.clone()),
            settings,
            statuses: Mutex::default(),
            generations: Mutex::default(),
        })
    }

    /// The status the last tick of the Canary `uid` decided, if this process ran one.
    pub fn last_status(&self, uid: &str) -> Option<CanaryStatus> {
        lock(&self.statuses).get(uid).cloned()
    }

    /// Remembers the status a tick of the Canary `uid` decided.
    pub fn remember_status(&self, uid: &str, status: CanaryStatus) {
        lock(&self.statuses).insert(uid.to_owned(), status);
    }

    /// Remembers that the Deployment `namespace/name` was written at `generation`.
    pub fn remember_generation(&self, namespace: &str, name: &str, generation: Option<i64>) {
        if let Some(generation) = generation {
            lock(&self.generations).insert(format!("{namespace}/{name}"), generation);
        }
    }

    /// True when the cached `generation` of `namespace/name` is older than the one written.
    pub fn is_stale(&self, namespace: &str, name: &str, generation: Option<i64>) -> bool {
        lock(&self.generations)
            .get(&format!("{namespace}/{name}"))
            .is_some_and(|written| generation.unwrap_or(0) < *written)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
