//! The clients a Kustomization acts through: the controller's own, or one impersonating a
//! tenant's ServiceAccount (`system:serviceaccount:<namespace>:<name>`, with the groups the API
//! server gives it), cached per account so a reconcile does not build a new HTTP client as Flux
//! does; and the API discovery of each kind, cached per (apiVersion, kind).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Client, Config};

use super::error::Error;

/// A kind as the API server serves it.
#[derive(Clone, Debug)]
pub struct ServedKind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

/// Clients and discovery shared by every Kustomization reconcile.
pub struct Clients {
    own: Client,
    config: Option<Config>,
    impersonating: Mutex<HashMap<(String, String), Client>>,
    kinds: Mutex<HashMap<(String, String), ServedKind>>,
}

impl Clients {
    /// Clients built from the controller's `own` client and the `config` it was made from
    /// (needed to impersonate; without it every impersonation fails).
    pub fn new(own: Client, config: Option<Config>) -> Self {
        Clients {
            own,
            config,
            impersonating: Mutex::default(),
            kinds: Mutex::default(),
        }
    }

    /// The controller's own client.
    pub fn own(&self) -> Client {
        self.own.clone()
    }

    /// The client acting as `account` in `namespace`, or the controller's own when `None`.
    ///
    /// Errors: [`Error::ReconciliationFailed`] when no config is known or the client cannot be
    /// built.
    pub fn acting_as(&self, namespace: &str, account: Option<&str>) -> Result<Client, Error> {
        let Some(account) = account else {
            return Ok(self.own.clone());
        };
        let key = (namespace.to_string(), account.to_string());
        let mut cache = self.impersonating.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = cache.get(&key) {
            return Ok(client.clone());
        }
        let failed = |why: String| {
            Error::ReconciliationFailed(format!("impersonating {namespace}/{account}: {why}"))
        };
        let mut config = self
            .config
            .clone()
            .ok_or_else(|| failed("no client config to impersonate with".into()))?;
        // No Impersonate-Group: the API server gives an impersonated ServiceAccount its groups
        // (`system:serviceaccounts`, `system:serviceaccounts:<namespace>`,
        // `system:authenticated`) itself, so the controller needs `impersonate` on
        // serviceaccounts only, never on groups (which would let it claim `system:masters`).
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{account}"));
        let client = Client::try_from(config).map_err(|e| failed(e.to_string()))?;
        cache.insert(key, client.clone());
        Ok(client)
    }

    /// How the API server serves `kind` at `api_version` (`apps/v1`, `v1`), asked once and
    /// then cached; a kind that is not served yet (a CRD just applied) is asked again next time.
    ///
    /// Errors: the API error (e.g. 404 when no such group, version or kind is served).
    pub async fn served_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ServedKind, kube::Error> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(served) = self
            .kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(served.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.own, &gvk).await?;
        let served = ServedKind {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, served.clone());
        Ok(served)
    }
}
