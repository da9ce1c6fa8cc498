//! The revision of a canary target: a hash of its pod template plus a hash of the data of each
//! ConfigMap and Secret it references, as Flagger's `lastAppliedSpec` and `trackedConfigs`
//! (docs/canary.md §2.3). Flagger hashes a `spew` dump with FNV-32a; Sluice hashes canonical JSON (keys
//! sorted at every level) with SHA-256, so the result does not depend on key order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::api::canary::CanaryStatus;

/// Hex digits kept from a SHA-256 digest (Flagger keeps 16 for tracked configs).
const HASH_HEX_DIGITS: usize = 16;

/// A ConfigMap or Secret referenced by a pod template.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigRef {
    /// A ConfigMap, by name.
    ConfigMap(String),
    /// A Secret, by name.
    Secret(String),
}

impl ConfigRef {
    /// The `trackedConfigs` key: `configmap/<name>` or `secret/<name>`.
    pub fn key(&self) -> String {
        match self {
            Self::ConfigMap(name) => format!("configmap/{name}"),
            Self::Secret(name) => format!("secret/{name}"),
        }
    }
}

/// The revision of a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// Hash of the pod template (`spec.template`), for `lastAppliedSpec`/`lastPromotedSpec`.
    pub spec: String,
    /// `trackedConfigs`: `configmap/<name>` or `secret/<name>` → hash of its data.
    pub configs: BTreeMap<String, String>,
}

impl Revision {
    /// Hashes `pod_template` (the Deployment's `spec.template` as JSON) and the `data` of each
    /// referenced ConfigMap/Secret (decoded or not, as long as the caller is consistent). Both
    /// hashes are 16 hex digits of SHA-256 over canonical JSON, stable across key order.
    pub fn of(
        pod_template: &Value,
        configs: &BTreeMap<ConfigRef, BTreeMap<String, String>>,
    ) -> Self {
        let configs = configs
            .iter()
            .map(|(config, data)| {
                (
                    config.key(),
                    hash_hex(&canonical_json(&serde_json::json!(data))),
                )
            })
            .collect();
        Self {
            spec: hash_hex(&canonical_json(pod_template)),
            configs,
        }
    }

    /// True when this revision should start (or restart) an analysis, as Flagger's
    /// `HasTargetChanged || HaveDependenciesChanged`: no `lastAppliedSpec` yet; or a template hash
    /// equal to neither `lastAppliedSpec` nor `lastPromotedSpec` (so reverting the target to the
    /// primary's spec starts nothing); or tracked configs that differ from `trackedConfigs`.
    pub fn differs_from(&self, status: &CanaryStatus) -> bool {
        let Some(applied) = status.last_applied_spec.as_deref() else {
            return true;
        };
        let template_changed = self.spec != applied
            && status.last_promoted_spec.as_deref() != Some(self.spec.as_str());
        template_changed || self.configs != status.tracked_configs
    }
}

/// The ConfigMaps and Secrets a pod template references: volumes (including projected sources),
/// `env[].valueFrom.configMapKeyRef`/`secretKeyRef` and `envFrom`, of containers and init
/// containers (Flagger's config tracker). `pod_template` is the Deployment's `spec.template`.
pub fn referenced_configs(pod_template: &Value) -> BTreeSet<ConfigRef> {
    let spec = &pod_template["spec"];
    let mut refs = BTreeSet::new();
    for volume in as_array(&spec["volumes"]) {
        add_source(&mut refs, volume, "configMap", "name");
        add_source(&mut refs, volume, "secret", "secretName");
        for source in as_array(&volume["projected"]["sources"]) {
            add_source(&mut refs, source, "configMap", "name");
            add_source(&mut refs, source, "secret", "name");
        }
    }
    let containers = as_array(&spec["containers"]).chain(as_array(&spec["initContainers"]));
    for container in containers {
        for env in as_array(&container["env"]) {
            add_source(&mut refs, &env["valueFrom"], "configMapKeyRef", "name");
            add_source(&mut refs, &env["valueFrom"], "secretKeyRef", "name");
        }
        for env_from in as_array(&container["envFrom"]) {
            add_source(&mut refs, env_from, "configMapRef", "name");
            add_source(&mut refs, env_from, "secretRef", "name");
        }
    }
    refs
}

/// Adds `object[field][name_field]` as a ConfigMap (fields starting with `configMap`) or Secret.
fn add_source(refs: &mut BTreeSet<ConfigRef>, object: &Value, field: &str, name_field: &str) {
    let Some(name) = object[field][name_field].as_str() else {
        return;
    };
    refs.insert(if field.starts_with("configMap") {
        ConfigRef::ConfigMap(name.to_owned())
    } else {
        ConfigRef::Secret(name.to_owned())
    });
}

/// The items of a JSON array, or nothing for any other value.
fn as_array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// `value` serialized with the keys of every object sorted, whatever the map type behind
/// `serde_json::Map` (it keeps insertion order when the `preserve_order` feature is on).
fn canonical_json(value: &Value) -> String {
    sorted(value).to_string()
}

/// A copy of `value` whose objects have their keys inserted in sorted order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), sorted(&map[key])))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The first 16 hex digits of the SHA-256 of `text`: the short hash of revisions, configs,
/// applied objects and webhook checksums.
pub fn hash_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    hex[..HASH_HEX_DIGITS].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "podinfo"}, "annotations": {"a": "1", "b": "2"}},
            "spec": {
                "containers": [{
                    "name": "app", "image": image,
                    "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "x"}}}],
                    "envFrom": [{"configMapRef": {"name": "env"}}]
                }],
                "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-secret"}}]}],
                "volumes": [
                    {"name": "c", "configMap": {"name": "settings"}},
                    {"name": "s", "secret": {"secretName": "tls"}},
                    {"name": "p", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-s"}}]}}
                ]
            }
        })
    }

    fn no_configs() -> BTreeMap<ConfigRef, BTreeMap<String, String>> {
        BTreeMap::new()
    }

    #[test]
    fn hash_is_stable_across_key_order() {
        let reordered: Value = serde_json::from_str(
            r#"{"spec": {"volumes": [{"configMap": {"name": "settings"}, "name": "c"}, {"secret": {"secretName": "tls"}, "name": "s"}, {"projected": {"sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-s"}}]}, "name": "p"}],
                "initContainers": [{"envFrom": [{"secretRef": {"name": "init-secret"}}], "name": "init"}],
                "containers": [{"envFrom": [{"configMapRef": {"name": "env"}}], "env": [{"valueFrom": {"secretKeyRef": {"key": "x", "name": "creds"}}, "name": "X"}], "image": "podinfo:1", "name": "app"}]},
              "metadata": {"annotations": {"b": "2", "a": "1"}, "labels": {"app": "podinfo"}}}"#,
        )
        .expect("valid JSON");
        assert_eq!(
            Revision::of(&reordered, &no_configs()),
            Revision::of(&template("podinfo:1"), &no_configs())
        );
    }

    #[test]
    fn hash_changes_with_the_template() {
        let one = Revision::of(&template("podinfo:1"), &no_configs());
        let two = Revision::of(&template("podinfo:2"), &no_configs());
        assert_ne!(one.spec, two.spec);
        assert_eq!(one.spec.len(), 16);
        assert!(one.spec.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn config_data_is_tracked_by_kind_and_name() {
        let data = |value: &str| BTreeMap::from([("key".to_owned(), value.to_owned())]);
        let configs = BTreeMap::from([
            (ConfigRef::ConfigMap("env".into()), data("a")),
            (ConfigRef::Secret("creds".into()), data("a")),
        ]);
        let revision = Revision::of(&template("podinfo:1"), &configs);
        assert_eq!(
            revision.configs.keys().collect::<Vec<_>>(),
            ["configmap/env", "secret/creds"]
        );
        let changed = BTreeMap::from([
            (ConfigRef::ConfigMap("env".into()), data("b")),
            (ConfigRef::Secret("creds".into()), data("a")),
        ]);
        let other = Revision::of(&template("podinfo:1"), &changed);
        assert_eq!(other.spec, revision.spec);
        assert_ne!(
            other.configs["configmap/env"],
            revision.configs["configmap/env"]
        );
        assert_eq!(
            other.configs["secret/creds"],
            revision.configs["secret/creds"]
        );
    }

    #[test]
    fn referenced_configs_finds_every_source() {
        let names: Vec<String> = referenced_configs(&template("podinfo:1"))
            .iter()
            .map(ConfigRef::key)
            .collect();
        assert_eq!(
            names,
            [
                "configmap/env",
                "configmap/proj-cm",
                "configmap/settings",
                "secret/creds",
                "secret/init-secret",
                "secret/proj-s",
                "secret/tls"
            ]
        );
        assert!(referenced_configs(&json!({"spec": {"containers": [{"name": "a"}]}})).is_empty());
    }

    #[test]
    fn differs_from_follows_flagger_rules() {
        let current = Revision::of(&template("podinfo:2"), &no_configs());
        let previous = Revision::of(&template("podinfo:1"), &no_configs());
        let status = |applied: Option<&str>, promoted: Option<&str>| CanaryStatus {
            last_applied_spec: applied.map(str::to_owned),
            last_promoted_spec: promoted.map(str::to_owned),
            ..Default::default()
        };
        assert!(current.differs_from(&status(None, None)), "never synced");
        assert!(
            current.differs_from(&status(Some(&previous.spec), Some(&previous.spec))),
            "new template"
        );
        assert!(
            !current.differs_from(&status(Some(&current.spec), Some(&previous.spec))),
            "already applied"
        );
        assert!(
            !current.differs_from(&status(Some(&previous.spec), Some(&current.spec))),
            "back to the primary's spec"
        );
        let mut tracked = status(Some(&current.spec), None);
        tracked
            .tracked_configs
            .insert("configmap/env".into(), "0000000000000000".into());
        assert!(current.differs_from(&tracked), "config set changed");
    }
}
