//! Traffic routers: how a Canary's traffic is split between `<svc>-primary` and `<svc>-canary`.
//! A [`Router`] creates its route objects at 100/0, reads the live weights from the watch cache
//! (Flagger reads them from the router object each tick, never from the status), and writes new
//! weights only when they differ. Two routers exist: [`gateway_api::GatewayApiRouter`] (an
//! HTTPRoute, only the `backendRefs` weights change) and [`blue_green::BlueGreenRouter`]
//! (Flagger's `kubernetes` provider: the apex Service selector switches). Istio or SMI would be
//! further implementations of the same trait.

pub mod blue_green;
pub mod gateway_api;
mod written;

use futures::future::BoxFuture;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::Canary;
use crate::caches::Caches;
use crate::names::Names;

/// The provider used when neither the Canary nor the controller names one.
pub const DEFAULT_PROVIDER: &str = "gatewayapi:v1";

/// A traffic split, in percent of the requests; the two sum to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights {
    /// Share of `<svc>-primary`.
    pub primary: u32,
    /// Share of `<svc>-canary`.
    pub canary: u32,
}

/// Why a router could not read or write the routes.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// `spec.provider` names a router Sluice does not have.
    #[error("provider {0:?} is not supported: use gatewayapi:v1 or kubernetes")]
    UnsupportedProvider(String),
    /// The route object is not in the watch cache (yet).
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// Kind of the route object.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The HTTPRoute cache has not synced: the Gateway API CRDs are probably not installed.
    #[error("the HTTPRoute watch cache has not synced: are the Gateway API CRDs installed?")]
    RoutesNotSynced,
    /// The Gateway API provider needs `service.gatewayRefs` (as Flagger).
    #[error("GatewayRefs must be specified for the Gateway API provider")]
    NoGatewayRefs,
    /// The route has no rule sending traffic to both `<svc>-primary` and `<svc>-canary`.
    #[error("HTTPRoute {0} has no rule with backendRefs to both {1} and {2}")]
    BackendsMissing(String, String, String),
    /// The apex Service selects neither the primary's nor the canary's pods.
    #[error("Service {0} selects neither the primary nor the canary")]
    UnknownSelector(String),
    /// The API server refused a write.
    #[error("writing {what}: {source}")]
    Write {
        /// What was written.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// A traffic router for one provider.
pub trait Router: Send + Sync {
    /// Creates the route objects of `canary` when missing, at primary 100 / canary 0; an existing
    /// object keeps its weights and everything the user set.
    fn reconcile<'a>(
        &'a self,
        canary: &'a Canary,
        names: &'a Names,
    ) -> BoxFuture<'a, Result<(), RouterError>>;

    /// The live weights, read from the watch cache.
    fn weights(&self, names: &Names) -> Result<Weights, RouterError>;

    /// Routes `weights`, writing only when they differ from the cached ones.
    fn set_weights<'a>(
        &'a self,
        names: &'a Names,
        weights: Weights,
    ) -> BoxFuture<'a, Result<(), RouterError>>;

    /// `revertOnDeletion` (Flagger's `Finalize`, docs/canary.md §2.10): leaves the route objects
    /// sending all traffic to the apex Service `<svc>` (which then selects the target) and no
    /// longer owned by the Canary, so that they survive its deletion.
    fn revert<'a>(&'a self, names: &'a Names) -> BoxFuture<'a, Result<(), RouterError>>;
}

/// One router per provider, long-lived so that each remembers what it wrote.
pub struct Routers {
    gateway_api: gateway_api::GatewayApiRouter,
    blue_green: blue_green::BlueGreenRouter,
}

impl Routers {
    /// The routers, writing with `client` and reading from `caches`.
    pub fn new(client: &Client, caches: &Caches) -> Self {
        Self {
            gateway_api: gateway_api::GatewayApiRouter::new(client.clone(), caches.clone()),
            blue_green: blue_green::BlueGreenRouter::new(client.clone(), caches.clone()),
        }
    }

    /// The router for `provider` (`spec.provider`, else the controller's default): `gatewayapi`
    /// or `gatewayapi:v1` for HTTPRoutes, `kubernetes` for Blue/Green by Service selector.
    ///
    /// Errors: [`RouterError::UnsupportedProvider`].
    pub fn for_provider(&self, provider: &str) -> Result<&dyn Router, RouterError> {
        match provider {
            "gatewayapi" | "gatewayapi:v1" => Ok(&self.gateway_api),
            "kubernetes" => Ok(&self.blue_green),
            other => Err(RouterError::UnsupportedProvider(other.to_owned())),
        }
    }
}

/// The split that sends `canary` percent to the canary.
pub fn split(canary: u32) -> Weights {
    let canary = canary.min(100);
    Weights {
        primary: 100 - canary,
        canary,
    }
}

/// Patches the router object named as the apex Service (`names.service`, in
/// `names.namespace`) through `api` with `patch`; a refusal is [`RouterError::Write`] of
/// `"<kind> <namespace>/<service> <change>"`, e.g. `HTTPRoute test/podinfo weights`.
async fn patch_apex_object<K>(
    api: Api<K>,
    names: &Names,
    params: &PatchParams,
    patch: &Patch<Value>,
    kind: &str,
    change: &str,
) -> Result<(), RouterError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(&names.service, params, patch)
        .await
        .map(|_| ())
        .map_err(|source| RouterError::Write {
            what: format!("{kind} {}/{} {change}", names.namespace, names.service),
            source,
        })
}
