//! The Gateway API router: an HTTPRoute `<svc>` whose `backendRefs` send traffic to
//! `<svc>-primary` and `<svc>-canary`. Flagger generates the HTTPRoute and rewrites its whole
//! spec at every step, dropping the user's filters and rules (flagger#1857, #1737). Sluice creates
//! it only when missing (parentRefs from `service.gatewayRefs`, hostnames from `service.hosts`, a
//! `PathPrefix /` rule) and afterwards changes nothing but the `weight` of those two backendRefs,
//! in every rule that has both, by a server-side apply of `spec.rules` as found in the watch cache
//! with the cached `resourceVersion` as a precondition: a user's edit made in between makes the
//! write fail (409) and the next tick retry on the fresh object, so no user change is lost.
//!
//! Not done: `service.match`, `timeout`, `rewrite`, `mirror` and session affinity on the generated
//! rule (Flagger sets them).

use futures::future::BoxFuture;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::written::Written;
use super::{Router, RouterError, Weights, patch_apex_object};
use crate::api::Canary;
use crate::caches::{Caches, http_route_resource};
use crate::names::Names;

/// The field manager of the weight writes.
pub const FIELD_MANAGER: &str = "sluice-canary";

/// Gateway API's default weight of a backendRef without `weight`.
const DEFAULT_BACKEND_WEIGHT: u64 = 1;

/// The Gateway API router over the watch cache of HTTPRoutes.
pub struct GatewayApiRouter {
    client: Client,
    caches: Caches,
    written: Written,
}

impl GatewayApiRouter {
    /// A router writing with `client` and reading from `caches`.
    pub fn new(client: Client, caches: Caches) -> Self {
        Self {
            client,
            caches,
            written: Written::default(),
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &http_route_resource())
    }

    fn cached_route(&self, names: &Names) -> Result<Value, RouterError> {
        if !self.caches.http_routes_synced() {
            return Err(RouterError::RoutesNotSynced);
        }
        let route = self
            .caches
            .http_route(&names.namespace, &names.service)
            .ok_or_else(|| RouterError::NotFound {
                kind: "HTTPRoute",
                namespace: names.namespace.clone(),
                name: names.service.clone(),
            })?;
        Ok(serde_json::to_value(route.as_ref()).unwrap_or_default())
    }
}

impl Router for GatewayApiRouter {
    fn reconcile<'a>(
        &'a self,
        canary: &'a Canary,
        names: &'a Names,
    ) -> BoxFuture<'a, Result<(), RouterError>> {
        Box::pin(async move {
            match self.cached_route(names) {
                Err(RouterError::NotFound { .. }) => {}
                other => return other.map(|_| ()),
            }
            let route: DynamicObject =
                serde_json::from_value(new_route(canary, names)?).map_err(|error| {
                    RouterError::Write {
                        what: format!("HTTPRoute {}", names.service),
                        source: kube::Error::SerdeError(error),
                    }
                })?;
            match self
                .api(&names.namespace)
                .create(&PostParams::default(), &route)
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                Err(source) => Err(RouterError::Write {
                    what: format!("HTTPRoute {}/{}", names.namespace, names.service),
                    source,
                }),
            }
        })
    }

    fn weights(&self, names: &Names) -> Result<Weights, RouterError> {
        let route = self.cached_route(names)?;
        let version = route["metadata"]["resourceVersion"].as_str();
        if let Some(written) = self.written.if_stale(&key(names), version) {
            return Ok(written);
        }
        route_weights(&route, names).ok_or_else(|| backends_missing(names))
    }

    fn set_weights<'a>(
        &'a self,
        names: &'a Names,
        weights: Weights,
    ) -> BoxFuture<'a, Result<(), RouterError>> {
        Box::pin(async move {
            let route = self.cached_route(names)?;
            if route_weights(&route, names).is_none() {
                return Err(backends_missing(names));
            }
            let version = route["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if self.written.if_stale(&key(names), Some(&version)) == Some(weights) {
                return Ok(());
            }
            let Some(rules) = reweighted_rules(&route, names, weights) else {
                return Ok(());
            };
            let patch = json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {
                    "name": names.service,
                    "namespace": names.namespace,
                    "resourceVersion": route["metadata"]["resourceVersion"],
                },
                "spec": {"rules": rules},
            });
            patch_apex_object(
                self.api(&names.namespace),
                names,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(patch),
                "HTTPRoute",
                "weights",
            )
            .await?;
            self.written.record(key(names), version, weights);
            Ok(())
        })
    }

    /// Rewrites the cached route's rules with [`reverted_rules`] and drops its owner references,
    /// by a merge patch with the cached `resourceVersion` as a precondition.
    fn revert<'a>(&'a self, names: &'a Names) -> BoxFuture<'a, Result<(), RouterError>> {
        Box::pin(async move {
            let route = match self.cached_route(names) {
                Err(RouterError::NotFound { .. }) => return Ok(()),
                other => other?,
            };
            let patch = json!({
                "metadata": {
                    "ownerReferences": null,
                    "resourceVersion": route["metadata"]["resourceVersion"],
                },
                "spec": {"rules": reverted_rules(&route, names)},
            });
            patch_apex_object(
                self.api(&names.namespace),
                names,
                &PatchParams::default(),
                &Patch::Merge(patch),
                "HTTPRoute",
                "revert",
            )
            .await
        })
    }
}

/// `route`'s `spec.rules` with, in every rule, the backendRefs to `<svc>-primary` and
/// `<svc>-canary` replaced by one backendRef to the apex Service `<svc>` (the primary's port and
/// fields), so that all of the rule's traffic goes where the apex Service points; every other
/// backendRef, match and filter stays.
pub fn reverted_rules(route: &Value, names: &Names) -> Value {
    let mut rules = route["spec"]["rules"].clone();
    for rule in rules.as_array_mut().into_iter().flatten() {
        let Some(backends) = rule["backendRefs"].as_array_mut() else {
            continue;
        };
        let generated = |backend: &Value| {
            is_service(backend, &names.primary_service)
                || is_service(backend, &names.canary_service)
        };
        let Some(position) = backends.iter().position(generated) else {
            continue;
        };
        let mut apex = backends[position].clone();
        apex["name"] = json!(names.service);
        apex["weight"] = json!(100);
        backends.retain(|backend| !generated(backend));
        backends.insert(position.min(backends.len()), apex);
    }
    rules
}

/// The key of the route in [`Written`].
fn key(names: &Names) -> String {
    format!("{}/{}", names.namespace, names.service)
}

fn backends_missing(names: &Names) -> RouterError {
    RouterError::BackendsMissing(
        format!("{}/{}", names.namespace, names.service),
        names.primary_service.clone(),
        names.canary_service.clone(),
    )
}

/// The HTTPRoute `<svc>` Flagger would generate, at primary 100 / canary 0: parentRefs from
/// `service.gatewayRefs`, hostnames from `service.hosts`, one rule matching `PathPrefix /` with
/// the two backendRefs on `service.port`, owned by the Canary, with the apex metadata.
///
/// Errors: [`RouterError::NoGatewayRefs`] when `service.gatewayRefs` is empty.
pub fn new_route(canary: &Canary, names: &Names) -> Result<Value, RouterError> {
    let service = &canary.spec.service;
    if service.gateway_refs.is_empty() {
        return Err(RouterError::NoGatewayRefs);
    }
    let backend = |name: &str, weight: u32| json!({"group": "", "kind": "Service", "name": name, "port": service.port, "weight": weight});
    let apex = service.apex.clone().unwrap_or_default();
    Ok(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": names.service,
            "namespace": names.namespace,
            "labels": apex.labels,
            "annotations": apex.annotations,
            "ownerReferences": [kube::Resource::controller_owner_ref(canary, &())],
        },
        "spec": {
            "parentRefs": service.gateway_refs,
            "hostnames": service.hosts,
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [backend(&names.primary_service, 100), backend(&names.canary_service, 0)],
            }],
        },
    }))
}

/// The weights of the first rule of `route` with backendRefs to both `<svc>-primary` and
/// `<svc>-canary` (a missing `weight` is Gateway API's default 1); `None` without such a rule.
pub fn route_weights(route: &Value, names: &Names) -> Option<Weights> {
    rules(route).find_map(|rule| {
        let primary = backend_weight(rule, &names.primary_service)?;
        let canary = backend_weight(rule, &names.canary_service)?;
        Some(Weights {
            primary: u32::try_from(primary).unwrap_or(u32::MAX),
            canary: u32::try_from(canary).unwrap_or(u32::MAX),
        })
    })
}

/// `route`'s `spec.rules` with `weights` set on the two backendRefs of every rule that has both,
/// everything else as it is; `None` when every such weight already holds.
pub fn reweighted_rules(route: &Value, names: &Names, weights: Weights) -> Option<Value> {
    let mut rules = route["spec"]["rules"].clone();
    let mut changed = false;
    for rule in rules.as_array_mut().into_iter().flatten() {
        if backend_weight(rule, &names.primary_service).is_none()
            || backend_weight(rule, &names.canary_service).is_none()
        {
            continue;
        }
        for backend in rule["backendRefs"].as_array_mut().into_iter().flatten() {
            let weight = if is_service(backend, &names.primary_service) {
                weights.primary
            } else if is_service(backend, &names.canary_service) {
                weights.canary
            } else {
                continue;
            };
            if backend["weight"].as_u64() != Some(u64::from(weight)) {
                backend["weight"] = json!(weight);
                changed = true;
            }
        }
    }
    changed.then_some(rules)
}

fn rules(route: &Value) -> impl Iterator<Item = &Value> {
    route["spec"]["rules"].as_array().into_iter().flatten()
}

/// The weight of the backendRef to Service `name` in `rule`, if it has one.
fn backend_weight(rule: &Value, name: &str) -> Option<u64> {
    rule["backendRefs"]
        .as_array()?
        .iter()
        .find(|backend| is_service(backend, name))
        .map(|backend| backend["weight"].as_u64().unwrap_or(DEFAULT_BACKEND_WEIGHT))
}

/// True when `backend` refers to the core Service `name` (group `""` and kind `Service` by default).
fn is_service(backend: &Value, name: &str) -> bool {
    backend["name"].as_str() == Some(name)
        && backend["kind"]
            .as_str()
            .is_none_or(|kind| kind == "Service")
        && backend["group"].as_str().is_none_or(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::ParentReference;
    use crate::test_fixtures::podinfo_canary;

    fn canary(gateway_refs: Vec<ParentReference>) -> Canary {
        let mut canary = podinfo_canary();
        canary.spec.service.gateway_refs = gateway_refs;
        canary.spec.service.hosts = vec!["www.example.com".into()];
        canary
    }

    fn names() -> Names {
        let target = serde_json::from_value(json!({
            "metadata": {"name": "podinfo"},
            "spec": {"selector": {"matchLabels": {"app": "podinfo"}}, "template": {}}
        }))
        .expect("deployment");
        Names::of(&canary(Vec::new()), &target).expect("names")
    }

    fn gateway() -> Vec<ParentReference> {
        vec![ParentReference {
            name: "gateway".into(),
            namespace: Some("ingress".into()),
            ..Default::default()
        }]
    }

    #[test]
    fn a_new_route_sends_everything_to_the_primary() {
        let route = new_route(&canary(gateway()), &names()).expect("route");
        assert_eq!(route["spec"]["parentRefs"][0]["namespace"], "ingress");
        assert_eq!(route["spec"]["hostnames"][0], "www.example.com");
        assert_eq!(
            route_weights(&route, &names()),
            Some(Weights {
                primary: 100,
                canary: 0
            })
        );
        assert!(matches!(
            new_route(&canary(Vec::new()), &names()),
            Err(RouterError::NoGatewayRefs)
        ));
    }

    #[test]
    fn reweighting_changes_only_the_two_weights() {
        let mut route = new_route(&canary(gateway()), &names()).expect("route");
        let filter = json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-team", "value": "web"}]}});
        route["spec"]["rules"][0]["filters"] = json!([filter]);
        route["spec"]["rules"]
            .as_array_mut()
            .expect("rules")
            .push(json!({"matches": [{"path": {"type": "Exact", "value": "/admin"}}], "backendRefs": [{"name": "admin", "port": 80}]}));
        let rules = reweighted_rules(
            &route,
            &names(),
            Weights {
                primary: 70,
                canary: 30,
            },
        )
        .expect("changed");
        let mut expected = route["spec"]["rules"].clone();
        expected[0]["backendRefs"][0]["weight"] = json!(70);
        expected[0]["backendRefs"][1]["weight"] = json!(30);
        assert_eq!(rules, expected);
        route["spec"]["rules"] = rules;
        assert_eq!(
            route_weights(&route, &names()),
            Some(Weights {
                primary: 70,
                canary: 30
            })
        );
        assert_eq!(
            reweighted_rules(
                &route,
                &names(),
                Weights {
                    primary: 70,
                    canary: 30
                }
            ),
            None
        );
    }

    #[test]
    fn a_reverted_route_sends_the_generated_backends_traffic_to_the_apex_service() {
        let mut route = new_route(&canary(gateway()), &names()).expect("route");
        let filter = json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-team", "value": "web"}]}});
        route["spec"]["rules"][0]["filters"] = json!([filter]);
        route["spec"]["rules"]
            .as_array_mut()
            .expect("rules")
            .push(json!({"backendRefs": [{"name": "admin", "port": 80}]}));
        let rules = reverted_rules(&route, &names());
        assert_eq!(
            rules[0]["backendRefs"],
            json!([{"group": "", "kind": "Service", "name": "podinfo", "port": 9898, "weight": 100}])
        );
        assert_eq!(rules[0]["filters"], json!([filter]));
        assert_eq!(rules[0]["matches"], route["spec"]["rules"][0]["matches"]);
        assert_eq!(rules[1], route["spec"]["rules"][1]);
    }

    #[test]
    fn missing_weights_count_as_one_and_foreign_backends_are_ignored() {
        let route = json!({"spec": {"rules": [
            {"backendRefs": [{"name": "podinfo-primary"}, {"name": "podinfo-canary", "kind": "ServiceImport", "group": "multicluster.x-k8s.io"}]},
            {"backendRefs": [{"name": "podinfo-primary"}, {"name": "podinfo-canary"}]}
        ]}});
        assert_eq!(
            route_weights(&route, &names()),
            Some(Weights {
                primary: 1,
                canary: 1
            })
        );
        let rules = reweighted_rules(
            &route,
            &names(),
            Weights {
                primary: 100,
                canary: 0,
            },
        )
        .expect("changed");
        assert!(
            rules[0]["backendRefs"][0].get("weight").is_none(),
            "the first rule has no canary Service"
        );
        assert_eq!(rules[1]["backendRefs"][1]["weight"], 0);
    }
}
