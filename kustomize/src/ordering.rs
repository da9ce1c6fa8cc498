//! The order `kustomize build` prints resources in: its "legacy" kind order by default, or the
//! input order with `sortOptions: {order: fifo}` (kustomize's `SortOrderTransformer`).

use std::cmp::Ordering;

use serde::Deserialize;

use super::resource::{Gvk, ResId, Resource};

/// `sortOptions` of a kustomization.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SortOptions {
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// The kinds the legacy order puts first and last.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LegacySortOptions {
    pub order_first: Vec<String>,
    pub order_last: Vec<String>,
}

const DEFAULT_ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const DEFAULT_ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts `resources` as `kustomize build` prints them under `options` (legacy order when
/// unset; `fifo` keeps the input order).
pub fn sort(resources: &mut [Resource], options: Option<&SortOptions>) {
    if options.is_some_and(|options| options.order == "fifo") {
        return;
    }
    let legacy = options.and_then(|options| options.legacy_sort_options.clone());
    let (first, last): (Vec<String>, Vec<String>) = match legacy {
        Some(legacy) => (legacy.order_first, legacy.order_last),
        None => (
            DEFAULT_ORDER_FIRST
                .iter()
                .map(|kind| kind.to_string())
                .collect(),
            DEFAULT_ORDER_LAST
                .iter()
                .map(|kind| kind.to_string())
                .collect(),
        ),
    };
    let rank = |kind: &str| -> i64 {
        if let Some(index) = first.iter().position(|k| k == kind) {
            return index as i64 - first.len() as i64;
        }
        last.iter()
            .position(|k| k == kind)
            .map_or(0, |index| index as i64 + 1)
    };
    resources.sort_by(|a, b| {
        let (a, b) = (a.current_id(), b.current_id());
        if a.gvk != b.gvk {
            return compare_gvk(&a.gvk, &b.gvk, &rank);
        }
        id_sort_string(&a).cmp(&id_sort_string(&b))
    });
}

fn compare_gvk(a: &Gvk, b: &Gvk, rank: &dyn Fn(&str) -> i64) -> Ordering {
    let (rank_a, rank_b) = (rank(&a.kind), rank(&b.kind));
    if rank_a != rank_b {
        return rank_a.cmp(&rank_b);
    }
    if a.kind == "Namespace" && b.kind == "Namespace" && (a.group.is_empty() || b.group.is_empty())
    {
        return gvk_sort_string(b).cmp(&gvk_sort_string(a));
    }
    gvk_sort_string(a).cmp(&gvk_sort_string(b))
}

fn or(text: &str, empty: &str) -> String {
    if text.is_empty() {
        empty.to_string()
    } else {
        text.to_string()
    }
}

fn gvk_sort_string(gvk: &Gvk) -> String {
    format!(
        "{}_{}_{}",
        or(&gvk.group, "~G"),
        or(&gvk.version, "~V"),
        or(&gvk.kind, "~K")
    )
}

fn id_sort_string(id: &ResId) -> String {
    let gvk = format!(
        "{}.{}.{}",
        or(&id.gvk.kind, "[noKind]"),
        or(&id.gvk.version, "[noVer]"),
        or(&id.gvk.group, "[noGrp]")
    );
    format!("{gvk}|{}|{}", or(&id.namespace, "~X"), or(&id.name, "~N"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_order_puts_namespaces_first_and_webhooks_last() {
        let make = |api: &str, kind: &str, name: &str| {
            Resource::new(json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}))
        };
        let mut resources = vec![
            make(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "w",
            ),
            make("apps/v1", "Deployment", "b"),
            make("x.io/v1", "Widget", "w"),
            make("apps/v1", "Deployment", "a"),
            make("v1", "Namespace", "n"),
        ];
        sort(&mut resources, None);
        let names: Vec<&str> = resources.iter().map(|r| r.name()).collect();
        assert_eq!(names, vec!["n", "a", "b", "w", "w"]);
        assert_eq!(resources[4].kind(), "ValidatingWebhookConfiguration");
    }
}
