//! The primary's own copies of the ConfigMaps and Secrets the target's pod template references,
//! as Flagger's config tracker (docs/canary.md §2.2 step 5, §2.8): each is copied to `<name>-primary`
//! when the primary is created and before each promotion, and the primary's template refers to
//! the copies, so that editing a ConfigMap changes the canary, never the primary, until the
//! analysis promotes it.
//!
//! The watch cache holds only a digest of the data, so the sources are read from the API server,
//! at those two moments only.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::analysis::revision::{ConfigRef, referenced_configs};
use crate::api::Canary;
use crate::bootstrap::generated;

/// The name of the primary's copy of the ConfigMap or Secret `name`.
pub fn primary_name(name: &str) -> String {
    format!("{name}-primary")
}

/// Rewrites every reference of `pod_template` (a Deployment's `spec.template` as JSON) to a
/// ConfigMap or Secret in `copied` into a reference to its `-primary` copy: volumes
/// (`configMap.name`, `secret.secretName`), projected volume sources, `env[].valueFrom`
/// (`configMapKeyRef`, `secretKeyRef`) and `envFrom` (`configMapRef`, `secretRef`), of containers
/// and init containers. References to anything not in `copied` stay as they are.
pub fn rewrite_references(pod_template: &mut Value, copied: &BTreeSet<ConfigRef>) {
    let configs = |name: &str| ConfigRef::ConfigMap(name.to_owned());
    let secrets = |name: &str| ConfigRef::Secret(name.to_owned());
    let rename = |object: Option<&mut Value>, field: &str, kind: &dyn Fn(&str) -> ConfigRef| {
        let Some(object) = object else { return };
        let Some(name) = object.get(field).and_then(Value::as_str) else {
            return;
        };
        if copied.contains(&kind(name)) {
            object[field] = json!(primary_name(name));
        }
    };
    let Some(spec) = pod_template.get_mut("spec") else {
        return;
    };
    for volume in items(spec, "volumes") {
        rename(volume.get_mut("configMap"), "name", &configs);
        rename(volume.get_mut("secret"), "secretName", &secrets);
        let projected = volume.get_mut("projected");
        for source in projected.map(|p| items(p, "sources")).into_iter().flatten() {
            rename(source.get_mut("configMap"), "name", &configs);
            rename(source.get_mut("secret"), "name", &secrets);
        }
    }
    for list in ["containers", "initContainers"] {
        for container in items(spec, list) {
            for env in items(container, "env") {
                if let Some(source) = env.get_mut("valueFrom") {
                    rename(source.get_mut("configMapKeyRef"), "name", &configs);
                    rename(source.get_mut("secretKeyRef"), "name", &secrets);
                }
            }
            for env_from in items(container, "envFrom") {
                rename(env_from.get_mut("configMapRef"), "name", &configs);
                rename(env_from.get_mut("secretRef"), "name", &secrets);
            }
        }
    }
}

/// The items of the array `object[field]`, or nothing; never adds the field.
fn items<'a>(object: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    object
        .get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// The `-primary` copy of `source`, owned by `canary`, with its labels, data and binary data.
pub fn primary_config_map(canary: &Canary, source: &ConfigMap) -> Value {
    generated(
        canary,
        "v1",
        "ConfigMap",
        &primary_name(&source.name_any()),
        json!(source.labels()),
        &Default::default(),
        without_nulls(json!({"data": source.data, "binaryData": source.binary_data})),
    )
}

/// The `-primary` copy of `source`, owned by `canary`, with its labels, type and data.
pub fn primary_secret(canary: &Canary, source: &Secret) -> Value {
    generated(
        canary,
        "v1",
        "Secret",
        &primary_name(&source.name_any()),
        json!(source.labels()),
        &Default::default(),
        without_nulls(json!({"type": source.type_, "data": source.data})),
    )
}

/// `body` without its null fields (an absent `data` is not applied as null).
fn without_nulls(mut body: Value) -> Value {
    if let Value::Object(fields) = &mut body {
        fields.retain(|_, value| !value.is_null());
    }
    body
}

/// Why a copy could not be made.
#[derive(Debug, thiserror::Error)]
#[error("copying {what} to its -primary copy: {source}")]
pub struct CopyError {
    /// `ConfigMap <ns>/<name>` or `Secret <ns>/<name>`.
    pub what: String,
    /// The API error.
    #[source]
    pub source: kube::Error,
}

/// Copies every ConfigMap and Secret that `pod_template` references in `canary`'s namespace to
/// its `-primary` copy (server-side apply, field manager `field_manager`), and returns those
/// copied; a referenced object that does not exist is skipped (the primary then refers to it as
/// the target does).
///
/// Errors: a read other than "not found", or a refused write.
pub async fn copy_referenced(
    client: &Client,
    field_manager: &str,
    canary: &Canary,
    pod_template: &Value,
) -> Result<BTreeSet<ConfigRef>, CopyError> {
    let namespace = canary.namespace().unwrap_or_default();
    let params = kube::api::PatchParams::apply(field_manager).force();
    let mut copied = BTreeSet::new();
    for config in referenced_configs(pod_template) {
        let written = match &config {
            ConfigRef::ConfigMap(name) => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
                copy_one(&api, name, &params, |source| {
                    primary_config_map(canary, source)
                })
                .await
            }
            ConfigRef::Secret(name) => {
                let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
                copy_one(&api, name, &params, |source| primary_secret(canary, source)).await
            }
        };
        match written {
            Ok(true) => {
                copied.insert(config);
            }
            Ok(false) => {}
            Err(source) => {
                let (kind, name) = match &config {
                    ConfigRef::ConfigMap(name) => ("ConfigMap", name),
                    ConfigRef::Secret(name) => ("Secret", name),
                };
                let what = format!("{kind} {namespace}/{name}");
                return Err(CopyError { what, source });
            }
        }
    }
    Ok(copied)
}

/// Reads `name` and applies `copy(source)`; `Ok(false)` when `name` does not exist.
async fn copy_one<K>(
    api: &Api<K>,
    name: &str,
    params: &kube::api::PatchParams,
    copy: impl Fn(&K) -> Value,
) -> Result<bool, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Some(source) = api.get_opt(name).await? else {
        return Ok(false);
    };
    api.patch(
        &primary_name(name),
        params,
        &kube::api::Patch::Apply(copy(&source)),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        json!({"spec": {
            "volumes": [
                {"name": "config", "configMap": {"name": "app-config"}},
                {"name": "tls", "secret": {"secretName": "app-tls"}},
                {"name": "other", "configMap": {"name": "shared"}},
                {"name": "all", "projected": {"sources": [
                    {"configMap": {"name": "app-config"}},
                    {"secret": {"name": "app-tls"}},
                    {"serviceAccountToken": {"path": "token"}}
                ]}}
            ],
            "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "app-tls"}}]}],
            "containers": [{
                "name": "app",
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "app-tls", "key": "b"}}},
                    {"name": "C", "value": "plain"}
                ],
                "envFrom": [{"configMapRef": {"name": "app-config"}}, {"configMapRef": {"name": "shared"}}]
            }]
        }})
    }

    #[test]
    fn every_kind_of_reference_to_a_copied_config_points_at_its_copy() {
        let copied = BTreeSet::from([
            ConfigRef::ConfigMap("app-config".into()),
            ConfigRef::Secret("app-tls".into()),
        ]);
        let mut rewritten = template();
        rewrite_references(&mut rewritten, &copied);
        let spec = &rewritten["spec"];
        assert_eq!(
            spec["volumes"][0]["configMap"]["name"],
            "app-config-primary"
        );
        assert_eq!(
            spec["volumes"][1]["secret"]["secretName"],
            "app-tls-primary"
        );
        let sources = &spec["volumes"][3]["projected"]["sources"];
        assert_eq!(sources[0]["configMap"]["name"], "app-config-primary");
        assert_eq!(sources[1]["secret"]["name"], "app-tls-primary");
        assert_eq!(
            sources[2],
            json!({"serviceAccountToken": {"path": "token"}})
        );
        let container = &spec["containers"][0];
        assert_eq!(
            container["env"][0]["valueFrom"]["configMapKeyRef"],
            json!({"name": "app-config-primary", "key": "a"})
        );
        assert_eq!(
            container["env"][1]["valueFrom"]["secretKeyRef"]["name"],
            "app-tls-primary"
        );
        assert_eq!(container["env"][2], json!({"name": "C", "value": "plain"}));
        assert_eq!(
            container["envFrom"][0]["configMapRef"]["name"],
            "app-config-primary"
        );
        assert_eq!(
            spec["initContainers"][0]["envFrom"][0]["secretRef"]["name"],
            "app-tls-primary"
        );
    }

    #[test]
    fn references_to_configs_not_copied_are_left_alone() {
        let copied = BTreeSet::from([ConfigRef::Secret("app-config".into())]);
        let mut rewritten = template();
        rewrite_references(&mut rewritten, &copied);
        assert_eq!(
            rewritten,
            template(),
            "a Secret named like a ConfigMap is not it"
        );
    }

    #[test]
    fn a_copy_keeps_the_data_under_the_primary_name_and_is_owned_by_the_canary() {
        let mut canary = Canary::new("podinfo", Default::default());
        canary.metadata.namespace = Some("test".into());
        canary.metadata.uid = Some("uid-1".into());
        let source: Secret = serde_json::from_value(json!({
            "metadata": {"name": "app-tls", "namespace": "test", "labels": {"team": "web"}},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydA=="}
        }))
        .expect("secret");
        let copy = primary_secret(&canary, &source);
        assert_eq!(copy["metadata"]["name"], "app-tls-primary");
        assert_eq!(copy["metadata"]["labels"]["team"], "web");
        assert_eq!(copy["type"], "kubernetes.io/tls");
        assert_eq!(copy["data"]["tls.crt"], "Y2VydA==");
        assert_eq!(copy["metadata"]["ownerReferences"][0]["kind"], "Canary");
    }
}
