//! The watch caches every Canary's tick reads from, shared by all Canaries of the process: one
//! reflector per kind (Deployments, Services, HorizontalPodAutoscalers, ConfigMaps, Secrets,
//! MetricTemplates and Gateway API HTTPRoutes), cluster-wide. A tick never reads the API server
//! (Flagger issues about 14 GETs per canary per tick, docs/canary.md §4); it writes only what changes.
//!
//! To keep memory flat, `managedFields` are dropped from every cached object, and the `data` of
//! ConfigMaps and Secrets is replaced by a digest (annotation [`DATA_DIGEST_ANNOTATION`]): a
//! revision only needs to know whether the data changed, never its content.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::analysis::revision::hash_hex;
use crate::api::MetricTemplate;

/// The annotation a cached ConfigMap or Secret carries instead of its data: 16 hex digits of
/// SHA-256 over the JSON of `data` and `binaryData`.
pub const DATA_DIGEST_ANNOTATION: &str = "canary.sluice.dev/data-digest";

/// Why the caches are not usable.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A reflector stopped before its first list completed.
    #[error("the {kind} watch cache stopped before it synced")]
    Stopped {
        /// The kind of the cache.
        kind: &'static str,
    },
}

/// The Gateway API HTTPRoute kind (`gateway.networking.k8s.io/v1`), read as a dynamic object so
/// that every field the user set, standard or experimental, is kept as it is.
pub fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// The stores of the watch caches. Cheap to clone.
#[derive(Clone)]
pub struct Caches {
    /// Every Deployment (targets and primaries).
    pub deployments: Store<Deployment>,
    /// Every Service (apex, `-primary`, `-canary`).
    pub services: Store<Service>,
    /// Every HorizontalPodAutoscaler (`autoscalerRef` and its `-primary` copy).
    pub autoscalers: Store<HorizontalPodAutoscaler>,
    /// Every ConfigMap, data replaced by its digest.
    pub config_maps: Store<ConfigMap>,
    /// Every Secret, data replaced by its digest.
    pub secrets: Store<Secret>,
    /// Every MetricTemplate.
    pub metric_templates: Store<MetricTemplate>,
    /// Every HTTPRoute; never synced when the Gateway API CRDs are not installed.
    pub http_routes: Store<DynamicObject>,
}

impl Caches {
    /// Starts one reflector per kind on `client`, as background tasks that run until the process
    /// ends, and returns their stores (empty until each has listed once).
    pub fn start(client: &Client) -> Self {
        let routes = http_route_resource();
        let route_writer = Writer::new(routes.clone());
        let http_routes = route_writer.as_reader();
        spawn_reflector(
            Api::<DynamicObject>::all_with(client.clone(), &routes),
            route_writer,
            drop_managed_fields,
        );
        Caches {
            deployments: start_typed(client, drop_managed_fields),
            services: start_typed(client, drop_managed_fields),
            autoscalers: start_typed(client, drop_managed_fields),
            config_maps: start_typed(client, digest_config_map),
            secrets: start_typed(client, digest_secret),
            metric_templates: start_typed(client, drop_managed_fields),
            http_routes,
        }
    }

    /// Waits until every cache but the HTTPRoutes' (optional CRD) has listed once.
    ///
    /// Errors: [`CacheError::Stopped`] when a reflector ended first.
    pub async fn wait_until_ready(&self) -> Result<(), CacheError> {
        ready(&self.deployments, "Deployment").await?;
        ready(&self.services, "Service").await?;
        ready(&self.autoscalers, "HorizontalPodAutoscaler").await?;
        ready(&self.config_maps, "ConfigMap").await?;
        ready(&self.secrets, "Secret").await?;
        ready(&self.metric_templates, "MetricTemplate").await
    }

    /// True once the HTTPRoute cache has listed (the Gateway API CRDs exist).
    pub fn http_routes_synced(&self) -> bool {
        self.http_routes
            .wait_until_ready()
            .now_or_never()
            .is_some_and(|result| result.is_ok())
    }

    /// The HTTPRoute `name` in `namespace`, if cached.
    pub fn http_route(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        let key = ObjectRef::new_with(name, http_route_resource()).within(namespace);
        self.http_routes.get(&key)
    }
}

/// Looks up `name` in `namespace` in a typed store.
pub fn cached<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

async fn ready<K>(store: &Store<K>, kind: &'static str) -> Result<(), CacheError>
where
    K: Resource + Clone,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store
        .wait_until_ready()
        .await
        .map_err(|_| CacheError::Stopped { kind })
}

fn start_typed<K>(client: &Client, modify: fn(&mut K)) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    spawn_reflector(Api::<K>::all(client.clone()), writer, modify);
    store
}

fn spawn_reflector<K>(api: Api<K>, writer: Writer<K>, modify: fn(&mut K))
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
{
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(modify)
        .reflect(writer)
        .for_each(|event| {
            if let Err(error) = event {
                tracing::debug!(%error, "watch cache");
            }
            std::future::ready(())
        });
    tokio::spawn(stream);
}

fn drop_managed_fields<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

fn digest_config_map(config_map: &mut ConfigMap) {
    let digest = data_digest(&(&config_map.data, &config_map.binary_data));
    config_map.data = None;
    config_map.binary_data = None;
    set_digest(config_map, digest);
}

fn digest_secret(secret: &mut Secret) {
    let digest = data_digest(&(&secret.data, &secret.string_data));
    secret.data = None;
    secret.string_data = None;
    set_digest(secret, digest);
}

fn set_digest<K: Resource>(object: &mut K, digest: String) {
    drop_managed_fields(object);
    object
        .meta_mut()
        .annotations
        .get_or_insert_default()
        .insert(DATA_DIGEST_ANNOTATION.to_owned(), digest);
}

/// 16 hex digits of the SHA-256 of `data`'s JSON (maps serialize with sorted keys).
fn data_digest(data: &impl Serialize) -> String {
    hash_hex(&serde_json::to_string(data).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config_map(value: &str) -> ConfigMap {
        ConfigMap {
            data: Some(BTreeMap::from([("key".to_owned(), value.to_owned())])),
            ..Default::default()
        }
    }

    fn digest_of(mut config_map: ConfigMap) -> String {
        digest_config_map(&mut config_map);
        assert!(config_map.data.is_none(), "the data is dropped");
        config_map.metadata.annotations.unwrap_or_default()[DATA_DIGEST_ANNOTATION].clone()
    }

    #[test]
    fn the_digest_replaces_the_data_and_follows_it() {
        let first = digest_of(config_map("a"));
        assert_eq!(first.len(), 16);
        assert_eq!(first, digest_of(config_map("a")));
        assert_ne!(first, digest_of(config_map("b")));
    }
}
