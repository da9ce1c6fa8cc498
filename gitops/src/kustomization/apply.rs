//! Server-side apply of a build, as Flux's `ssa` manager: stage by stage
//! ([`stages`](super::stages)), field manager `sluice` with forced ownership, so fields changed
//! by hand (drift) are set back to the desired values on every reconcile; CRDs are waited for
//! until `Established` before the next stage; with `force`, an object whose immutable fields
//! changed is deleted and created again. Every call goes through the Kustomization's client (the
//! impersonated tenant when there is one), so the API server's RBAC decides.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client};
use serde_json::Value;

use super::FIELD_MANAGER;
use super::clients::{Clients, ServedKind};
use super::error::Error;
use super::stages::{self, identity, version};
use crate::api::kustomization::ResourceRef;

/// How many objects of one stage are applied at once (Flux's `--concurrent-ssa` default).
const CONCURRENT_APPLIES: usize = 4;
/// How often waits (CRD established, object gone) look again.
const POLL: Duration = Duration::from_millis(250);

/// What one apply did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The object was new.
    Created,
    /// The object existed and was changed (new revision or drift).
    Configured,
    /// The object already matched.
    Unchanged,
}

/// The result of applying a build.
#[derive(Debug, Default)]
pub struct ChangeSet {
    /// The inventory entries, in apply order.
    pub entries: Vec<ResourceRef>,
    /// `Kind/namespace/name` and what happened to it, in apply order.
    pub actions: Vec<(String, Action)>,
}

/// Applies objects for one Kustomization.
pub struct Applier<'a> {
    /// Discovery.
    pub clients: &'a Clients,
    /// The Kustomization's client (impersonating or the controller's).
    pub client: Client,
    /// Namespace given to namespaced objects that have none (the Kustomization's).
    pub default_namespace: String,
    /// `spec.force`: recreate objects whose immutable fields changed.
    pub force: bool,
    /// When the reconcile's `timeout` ends.
    pub deadline: Instant,
}

impl Applier<'_> {
    /// Applies `objects` in stages and returns the change set.
    ///
    /// Errors: [`Error::ReconciliationFailed`] naming the first object that could not be applied
    /// and the API server's answer (e.g. `forbidden` for the tenant's RBAC).
    pub async fn apply_all(&self, objects: Vec<Value>) -> Result<ChangeSet, Error> {
        let mut changes = ChangeSet::default();
        for stage in stages::stages(objects) {
            let applied: Vec<(ResourceRef, String, Action, Value)> = futures::stream::iter(stage)
                .map(|object| self.apply_one(object))
                .buffered(CONCURRENT_APPLIES)
                .try_collect()
                .await?;
            for (entry, name, action, live) in applied {
                if live["kind"] == "CustomResourceDefinition" {
                    self.wait_established(&live).await?;
                }
                changes.entries.push(entry);
                changes.actions.push((name, action));
            }
        }
        Ok(changes)
    }

    async fn apply_one(
        &self,
        mut object: Value,
    ) -> Result<(ResourceRef, String, Action, Value), Error> {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let served = self
            .clients
            .served_kind(&api_version, &kind)
            .await
            .map_err(|e| {
                failed(
                    &object,
                    &format!("no matches for kind {kind} in version {api_version}: {e}"),
                )
            })?;
        set_namespace(&mut object, &served, &self.default_namespace);
        let api = self.api(&served, &object);
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let before = api
            .get_opt(&name)
            .await
            .map_err(|e| failed(&object, &api_message(&e)))?;
        let live = match self.patch(&api, &name, &object).await {
            Err(kube::Error::Api(status))
                if self.force
                    && before.is_some()
                    && status.code == 422
                    && status.message.contains("immutable") =>
            {
                self.recreate(&api, &name, &object).await?
            }
            other => other.map_err(|e| failed(&object, &api_message(&e)))?,
        };
        let action = match &before {
            None => Action::Created,
            Some(old) if old.metadata.resource_version == live.metadata.resource_version => {
                Action::Unchanged
            }
            Some(_) => Action::Configured,
        };
        let identity = identity(&object);
        let description = describe(&object);
        let live = serde_json::to_value(&live).unwrap_or(Value::Null);
        Ok((
            identity.to_entry(&version(&object)),
            description,
            action,
            live,
        ))
    }

    fn api(&self, served: &ServedKind, object: &Value) -> Api<DynamicObject> {
        match object["metadata"]["namespace"].as_str() {
            Some(namespace) if served.namespaced => {
                Api::namespaced_with(self.client.clone(), namespace, &served.resource)
            }
            _ => Api::all_with(self.client.clone(), &served.resource),
        }
    }

    async fn patch(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        object: &Value,
    ) -> Result<DynamicObject, kube::Error> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(name, &params, &Patch::Apply(object)).await
    }

    /// Deletes the object (background propagation), waits until it is gone, applies it again.
    async fn recreate(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        object: &Value,
    ) -> Result<DynamicObject, Error> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        api.delete(name, &params)
            .await
            .map_err(|e| failed(object, &api_message(&e)))?;
        while api
            .get_opt(name)
            .await
            .map_err(|e| failed(object, &api_message(&e)))?
            .is_some()
        {
            if Instant::now() >= self.deadline {
                return Err(failed(
                    object,
                    "timed out waiting for the old object to be deleted",
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        self.patch(api, name, object)
            .await
            .map_err(|e| failed(object, &api_message(&e)))
    }

    async fn wait_established(&self, crd: &Value) -> Result<(), Error> {
        let served = self
            .clients
            .served_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .await
            .map_err(|e| failed(crd, &api_message(&e)))?;
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &served.resource);
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        loop {
            let live = api
                .get(name)
                .await
                .map_err(|e| failed(crd, &api_message(&e)))?;
            let established = live.data["status"]["conditions"]
                .as_array()
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if established {
                return Ok(());
            }
            if Instant::now() >= self.deadline {
                return Err(failed(crd, "timed out waiting to be established"));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Namespaced objects without a namespace get `default`; cluster-scoped ones lose theirs.
fn set_namespace(object: &mut Value, served: &ServedKind, default: &str) {
    let metadata = &mut object["metadata"];
    if !served.namespaced {
        if let Some(fields) = metadata.as_object_mut() {
            fields.remove("namespace");
        }
    } else if metadata["namespace"].as_str().is_none_or(str::is_empty) {
        metadata["namespace"] = Value::String(default.to_string());
    }
}

/// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
pub fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) if !namespace.is_empty() => format!("{kind}/{namespace}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

/// The API server's message with its reason, e.g. `(Forbidden) deployments.apps "x" is
/// forbidden: ...`.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("({}) {}", status.reason, status.message),
        other => other.to_string(),
    }
}

fn failed(object: &Value, message: &str) -> Error {
    Error::ReconciliationFailed(format!("{} apply failed {message}", describe(object)))
}
