//! The objects a Canary generates, as pure functions of the Canary and the cached target (Flagger's
//! bootstrap, docs/canary.md §2.2): the `<target>-primary` Deployment (the target's pod template with
//! the selector label set to `<value>-primary`), the ClusterIP Services `<svc>`, `<svc>-primary`
//! and `<svc>-canary`, and the `<hpa>-primary` copy of the autoscaler. Each carries an owner
//! reference to the Canary, Flux's "do not reconcile" annotations, and [`APPLIED_HASH_ANNOTATION`],
//! so that a tick applies an object only when what it would apply changed.
//!
//! The primary refers to the `-primary` copies of the target's ConfigMaps and Secrets (see
//! [`crate::primary_configs`]).
//!
//! Not done (Flagger does): `portDiscovery`, `-include-label-prefix` filtering, anti-affinity selector rewriting.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use std::collections::BTreeSet;

use crate::analysis::revision::{ConfigRef, hash_hex};
use crate::api::Canary;
use crate::api::canary::CustomMetadata;
use crate::names::Names;
use crate::primary_configs::rewrite_references;

/// The annotation holding the hash of the generated object as last applied.
pub const APPLIED_HASH_ANNOTATION: &str = "canary.sluice.dev/applied-hash";

/// Annotations that keep Flux from fighting the controller over generated objects (docs/canary.md §2.2).
const FLUX_ANNOTATIONS: [(&str, &str); 2] = [
    ("kustomize.toolkit.fluxcd.io/reconcile", "disabled"),
    ("helm.toolkit.fluxcd.io/driftDetection", "disabled"),
];

/// The `<target>-primary` Deployment: `target`'s pod template, strategy and rollout settings,
/// with `replicas` replicas, the selector label `<label>: <value>-primary` on its selector
/// and pods, and the references to the `copied` configs pointing at their `-primary` copies.
/// Returned as the JSON to server-side apply.
pub fn primary_deployment(
    canary: &Canary,
    names: &Names,
    target: &Deployment,
    replicas: i32,
    copied: &BTreeSet<ConfigRef>,
) -> Value {
    let spec = &target.spec;
    let mut template = serde_json::to_value(&spec.template).unwrap_or_else(|_| json!({}));
    rewrite_references(&mut template, copied);
    template["metadata"]["labels"][&names.label] = json!(names.primary_label_value);
    let mut deployment_spec = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {&names.label: &names.primary_label_value}},
        "template": template,
    });
    let copied = [
        ("strategy", serde_json::to_value(&spec.strategy).ok()),
        ("minReadySeconds", spec.min_ready_seconds.map(Value::from)),
        (
            "progressDeadlineSeconds",
            spec.progress_deadline_seconds.map(Value::from),
        ),
        (
            "revisionHistoryLimit",
            spec.revision_history_limit.map(Value::from),
        ),
    ];
    for (field, value) in copied {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            deployment_spec[field] = value;
        }
    }
    generated(
        canary,
        "apps/v1",
        "Deployment",
        &names.primary,
        json!({&names.label: &names.primary_label_value}),
        &Default::default(),
        json!({"spec": deployment_spec}),
    )
}

/// A ClusterIP Service `name` selecting pods labelled `<label>: <selector_value>`, with the port
/// of `service` (`portName` default `http`, `targetPort` default `port`) and `metadata`'s labels
/// and annotations.
pub fn service(
    canary: &Canary,
    names: &Names,
    name: &str,
    selector_value: &str,
    metadata: Option<&CustomMetadata>,
) -> Value {
    let service = &canary.spec.service;
    let mut port = json!({
        "name": service.port_name.as_deref().unwrap_or("http"),
        "port": service.port,
        "protocol": "TCP",
        "targetPort": service.target_port.clone().map_or_else(|| json!(service.port), |p| json!(p)),
    });
    if let Some(app_protocol) = &service.app_protocol {
        port["appProtocol"] = json!(app_protocol);
    }
    let mut spec = json!({
        "type": "ClusterIP",
        "selector": {&names.label: selector_value},
        "ports": [port],
    });
    if service.headless == Some(true) {
        spec["clusterIP"] = json!("None");
    }
    if let Some(distribution) = &service.traffic_distribution {
        spec["trafficDistribution"] = json!(distribution);
    }
    generated(
        canary,
        "v1",
        "Service",
        name,
        json!({&names.label: selector_value}),
        &metadata.cloned().unwrap_or_default(),
        json!({"spec": spec}),
    )
}

/// The `<hpa>-primary` copy of `autoscaler`, scaling `<target>-primary`, with `minReplicas` and
/// `maxReplicas` overridden by `autoscalerRef.primaryScalerReplicas`.
pub fn primary_autoscaler(
    canary: &Canary,
    names: &Names,
    autoscaler: &HorizontalPodAutoscaler,
) -> Value {
    let mut spec = serde_json::to_value(&autoscaler.spec).unwrap_or_else(|_| json!({}));
    spec["scaleTargetRef"]["name"] = json!(names.primary);
    let overrides = canary
        .spec
        .autoscaler_ref
        .as_ref()
        .and_then(|reference| reference.primary_scaler_replicas.as_ref());
    if let Some(overrides) = overrides {
        if let Some(min) = overrides.min_replicas {
            spec["minReplicas"] = json!(min);
        }
        if let Some(max) = overrides.max_replicas {
            spec["maxReplicas"] = json!(max);
        }
    }
    generated(
        canary,
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        &format!("{}-primary", autoscaler.name_any()),
        json!({}),
        &Default::default(),
        json!({"spec": spec}),
    )
}

/// True when `desired` (from this module) differs from what was last applied to `cached`, or
/// there is no cached object.
pub fn needs_apply<K: Resource>(cached: Option<&K>, desired: &Value) -> bool {
    let last = cached.and_then(|object| object.annotations().get(APPLIED_HASH_ANNOTATION));
    last.map(String::as_str) != desired["metadata"]["annotations"][APPLIED_HASH_ANNOTATION].as_str()
}

/// An object `name` in the Canary's namespace, owned by the Canary, with `labels`, the Flux
/// annotations, `metadata`'s labels and annotations, the `body` fields, and the hash of it all.
pub(crate) fn generated(
    canary: &Canary,
    api_version: &str,
    kind: &str,
    name: &str,
    labels: Value,
    metadata: &CustomMetadata,
    body: Value,
) -> Value {
    let mut labels = labels;
    for (key, value) in &metadata.labels {
        labels[key] = json!(value);
    }
    let mut annotations = json!(metadata.annotations);
    for (key, value) in FLUX_ANNOTATIONS {
        annotations[key] = json!(value);
    }
    let mut object = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": canary.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [canary.controller_owner_ref(&())],
        },
    });
    if let (Value::Object(object), Value::Object(body)) = (&mut object, body) {
        object.extend(body);
    }
    let hash = hash_hex(&object.to_string());
    object["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] = json!(hash);
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::podinfo_canary as canary;

    fn target() -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "replicas": 3,
                "progressDeadlineSeconds": 60,
                "selector": {"matchLabels": {"app": "podinfo"}},
                "template": {
                    "metadata": {"labels": {"app": "podinfo", "team": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "podinfo:1"}]}
                }
            }
        }))
        .expect("deployment")
    }

    #[test]
    fn the_primary_copies_the_template_under_the_primary_label() {
        let names = Names::of(&canary(), &target()).expect("names");
        let primary = primary_deployment(&canary(), &names, &target(), 2, &BTreeSet::new());
        assert_eq!(primary["metadata"]["name"], "podinfo-primary");
        assert_eq!(primary["spec"]["replicas"], 2);
        assert_eq!(primary["spec"]["progressDeadlineSeconds"], 60);
        assert_eq!(
            primary["spec"]["selector"]["matchLabels"]["app"],
            "podinfo-primary"
        );
        let labels = &primary["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            (labels["app"].as_str(), labels["team"].as_str()),
            (Some("podinfo-primary"), Some("web"))
        );
        assert_eq!(
            primary["spec"]["template"]["spec"]["containers"][0]["image"],
            "podinfo:1"
        );
        assert_eq!(primary["metadata"]["ownerReferences"][0]["kind"], "Canary");
    }

    #[test]
    fn services_select_their_workload_with_the_port() {
        let names = Names::of(&canary(), &target()).expect("names");
        let service = service(&canary(), &names, "podinfo-canary", "podinfo", None);
        assert_eq!(service["spec"]["selector"]["app"], "podinfo");
        assert_eq!(service["spec"]["ports"][0]["name"], "http");
        assert_eq!(service["spec"]["ports"][0]["targetPort"], 9898);
    }

    #[test]
    fn an_object_is_applied_only_when_it_changed() {
        let names = Names::of(&canary(), &target()).expect("names");
        let desired = service(&canary(), &names, "podinfo", "podinfo-primary", None);
        let applied: k8s_openapi::api::core::v1::Service =
            serde_json::from_value(desired.clone()).expect("service");
        assert!(needs_apply::<k8s_openapi::api::core::v1::Service>(
            None, &desired
        ));
        assert!(!needs_apply(Some(&applied), &desired));
        let changed = service(&canary(), &names, "podinfo", "other", None);
        assert!(needs_apply(Some(&applied), &changed));
    }
}
