//! Waiting for applied objects to become healthy ([`health::assess`](super::health::assess))
//! within the reconcile's timeout: polled through the Kustomization's client (only those not
//! healthy yet, with a short growing pause), failing fast on a
//! failed object, giving up when a newer source revision makes the wait pointless, and naming
//! every object that is not healthy and why when time runs out.

use std::time::{Duration, Instant};

use kube::api::DynamicObject;
use kube::{Api, Client};

use super::apply::api_message;
use super::clients::Clients;
use super::error::Error;
use super::health::{Health, assess};

/// The first pause before looking again at objects not healthy yet; it doubles up to
/// [`POLL_MAX`], so a Deployment that becomes ready within a second is seen soon and a slow
/// one costs few requests.
const POLL_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between two looks.
const POLL_MAX: Duration = Duration::from_secs(1);

/// An object to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// e.g. `apps/v1`.
    pub api_version: String,
    /// e.g. `Deployment`.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Waits until every target is [`Health::Current`], looking again only at the targets not
/// healthy yet, after pauses growing from [`POLL_FIRST`] to [`POLL_MAX`]. `superseded` is asked
/// at each poll and returns a newer source revision when there is one.
///
/// Errors: [`Error::HealthCheckFailed`] when an object failed (at once) or when `deadline`
/// passed (naming each object not yet healthy with its status);
/// [`Error::HealthCheckCanceled`] when `superseded` returned a revision.
pub async fn wait_healthy(
    clients: &Clients,
    client: &Client,
    targets: &[Target],
    deadline: Instant,
    superseded: impl Fn() -> Option<String>,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut waiting: Vec<&Target> = targets.iter().collect();
    let mut pause = POLL_FIRST;
    loop {
        let mut pending = Vec::new();
        let mut still = Vec::new();
        for target in waiting {
            match health_of(clients, client, target).await {
                Health::Current => {}
                Health::Failed(why) => {
                    return Err(Error::HealthCheckFailed(format!(
                        "health check failed: {target} status: 'Failed': {why}"
                    )));
                }
                Health::InProgress(why) => {
                    pending.push(format!("{target} status: 'InProgress': {why}"));
                    still.push(target);
                }
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        waiting = still;
        if let Some(revision) = superseded() {
            return Err(Error::HealthCheckCanceled(revision));
        }
        if Instant::now() >= deadline {
            return Err(Error::HealthCheckFailed(format!(
                "health check failed after {:?}: timeout waiting for: [{}]",
                started.elapsed(),
                pending.join(", ")
            )));
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

async fn health_of(clients: &Clients, client: &Client, target: &Target) -> Health {
    let served = match clients.served_kind(&target.api_version, &target.kind).await {
        Ok(served) => served,
        Err(error) => return Health::InProgress(api_message(&error)),
    };
    let api: Api<DynamicObject> = if served.namespaced {
        Api::namespaced_with(client.clone(), &target.namespace, &served.resource)
    } else {
        Api::all_with(client.clone(), &served.resource)
    };
    match api.get_opt(&target.name).await {
        Ok(Some(live)) => assess(&serde_json::to_value(&live).unwrap_or_default()),
        Ok(None) => Health::InProgress("not found".into()),
        Err(error) => Health::InProgress(api_message(&error)),
    }
}
