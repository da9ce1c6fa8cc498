//! The `kubernetes` provider (Blue/Green without a mesh): all traffic goes through the apex
//! Service `<svc>`, whose selector switches between the primary's pods (`<value>-primary`,
//! weight 0) and the canary's (`<value>`, weight 100). Test traffic reaches the canary through
//! `<svc>-canary` meanwhile. Only the selector is written, by a merge patch, when it changes.

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::written::Written;
use super::{Router, RouterError, Weights, patch_apex_object, split};
use crate::api::Canary;
use crate::caches::{Caches, cached};
use crate::names::Names;

/// The Blue/Green router over the watch cache of Services.
pub struct BlueGreenRouter {
    client: Client,
    caches: Caches,
    written: Written,
}

impl BlueGreenRouter {
    /// A router writing with `client` and reading from `caches`.
    pub fn new(client: Client, caches: Caches) -> Self {
        Self {
            client,
            caches,
            written: Written::default(),
        }
    }
}

impl Router for BlueGreenRouter {
    /// The apex Service is created by the bootstrap (selecting the primary); nothing else exists.
    fn reconcile<'a>(
        &'a self,
        _canary: &'a Canary,
        _names: &'a Names,
    ) -> BoxFuture<'a, Result<(), RouterError>> {
        Box::pin(async { Ok(()) })
    }

    fn weights(&self, names: &Names) -> Result<Weights, RouterError> {
        let service =
            cached(&self.caches.services, &names.namespace, &names.service).ok_or_else(|| {
                RouterError::NotFound {
                    kind: "Service",
                    namespace: names.namespace.clone(),
                    name: names.service.clone(),
                }
            })?;
        let key = format!("{}/{}", names.namespace, names.service);
        if let Some(written) = self
            .written
            .if_stale(&key, service.metadata.resource_version.as_deref())
        {
            return Ok(written);
        }
        weights_of_selector(service.as_ref(), names)
    }

    fn set_weights<'a>(
        &'a self,
        names: &'a Names,
        weights: Weights,
    ) -> BoxFuture<'a, Result<(), RouterError>> {
        Box::pin(async move {
            let selected = selected_split(weights);
            if self.weights(names)? == selected {
                return Ok(());
            }
            let key = format!("{}/{}", names.namespace, names.service);
            let version = cached(&self.caches.services, &names.namespace, &names.service)
                .and_then(|service| service.metadata.resource_version.clone())
                .unwrap_or_default();
            let value = if weights.canary > 0 {
                &names.label_value
            } else {
                &names.primary_label_value
            };
            let patch = json!({"spec": {"selector": {&names.label: value}}});
            patch_apex_object(
                Api::<Service>::namespaced(self.client.clone(), &names.namespace),
                names,
                &PatchParams::default(),
                &Patch::Merge(patch),
                "Service",
                "selector",
            )
            .await?;
            self.written.record(key, version, selected);
            Ok(())
        })
    }

    /// The apex Service is the only route object; the caller reverts it for every provider.
    fn revert<'a>(&'a self, _names: &'a Names) -> BoxFuture<'a, Result<(), RouterError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A selector sends everything to one side: any canary share selects the canary.
fn selected_split(weights: Weights) -> Weights {
    split(if weights.canary > 0 { 100 } else { 0 })
}

/// 100/0 when `service` selects the primary's pods, 0/100 when it selects the canary's.
fn weights_of_selector(service: &Service, names: &Names) -> Result<Weights, RouterError> {
    let selected = service
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.as_ref())
        .and_then(|selector| selector.get(&names.label));
    match selected {
        Some(value) if *value == names.primary_label_value => Ok(split(0)),
        Some(value) if *value == names.label_value => Ok(split(100)),
        _ => Err(RouterError::UnknownSelector(format!(
            "{}/{}",
            names.namespace, names.service
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let canary: Canary = serde_json::from_value(json!({
            "apiVersion": "canary.sluice.dev/v1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {"targetRef": {"kind": "Deployment", "name": "podinfo"}, "service": {"port": 80}}
        }))
        .expect("canary");
        let target = serde_json::from_value(json!({
            "metadata": {"name": "podinfo"},
            "spec": {"selector": {"matchLabels": {"app": "podinfo"}}, "template": {}}
        }))
        .expect("deployment");
        Names::of(&canary, &target).expect("names")
    }

    fn selecting(value: &str) -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": "podinfo"}, "spec": {"selector": {"app": value}}}),
        )
        .expect("service")
    }

    #[test]
    fn the_selector_tells_the_weights() {
        assert_eq!(
            weights_of_selector(&selecting("podinfo-primary"), &names()).ok(),
            Some(split(0))
        );
        assert_eq!(
            weights_of_selector(&selecting("podinfo"), &names()).ok(),
            Some(split(100))
        );
        assert!(weights_of_selector(&selecting("other"), &names()).is_err());
    }

    #[test]
    fn any_canary_share_selects_the_canary() {
        assert_eq!(selected_split(split(10)), split(100));
        assert_eq!(selected_split(split(0)), split(0));
    }
}
