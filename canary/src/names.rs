//! The names of the objects a Canary generates, and the selector label they share, as Flagger
//! names them (docs/canary.md §1.2, §2.2): `<target>-primary`, Services `<svc>`, `<svc>-primary`,
//! `<svc>-canary` (`<svc>` is `service.name`, else the target).

use k8s_openapi::api::apps::v1::Deployment;

use crate::api::Canary;

/// The selector labels Flagger looks for in the target's `matchLabels`, in order
/// (its `-selector-labels` default).
pub const SELECTOR_LABELS: [&str; 3] = ["app", "name", "app.kubernetes.io/name"];

/// Why the names cannot be derived.
#[derive(Debug, thiserror::Error)]
pub enum NamesError {
    /// The target's `spec.selector.matchLabels` has none of [`SELECTOR_LABELS`].
    #[error(
        "Deployment {0} spec.selector.matchLabels must contain one of app, name or app.kubernetes.io/name"
    )]
    NoSelectorLabel(String),
}

/// The primary Deployment Flagger makes of target Deployment `target`: `<target>-primary`.
pub fn primary_name(target: &str) -> String {
    format!("{target}-primary")
}

/// Names of a Canary's objects in its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The Canary's namespace.
    pub namespace: String,
    /// The target Deployment (`targetRef.name`).
    pub target: String,
    /// `<target>-primary`.
    pub primary: String,
    /// The apex Service and HTTPRoute, `service.name` or the target.
    pub service: String,
    /// `<svc>-primary`.
    pub primary_service: String,
    /// `<svc>-canary`.
    pub canary_service: String,
    /// The selector label key, e.g. `app`.
    pub label: String,
    /// Its value on the target's pods, e.g. `podinfo`.
    pub label_value: String,
    /// Its value on the primary's pods, `<value>-primary`.
    pub primary_label_value: String,
}

impl Names {
    /// The names of `canary`'s objects, with the selector label read from `target`.
    ///
    /// Errors: [`NamesError::NoSelectorLabel`].
    pub fn of(canary: &Canary, target: &Deployment) -> Result<Self, NamesError> {
        let target_name = canary.spec.target_ref.name.clone();
        let match_labels = target.spec.selector.match_labels.as_ref();
        let (label, label_value) = SELECTOR_LABELS
            .iter()
            .find_map(|key| {
                match_labels
                    .and_then(|labels| labels.get(*key))
                    .map(|value| ((*key).to_owned(), value.clone()))
            })
            .ok_or_else(|| NamesError::NoSelectorLabel(target_name.clone()))?;
        let service = canary
            .spec
            .service
            .name
            .clone()
            .unwrap_or_else(|| target_name.clone());
        Ok(Names {
            namespace: canary.metadata.namespace.clone().unwrap_or_default(),
            primary: primary_name(&target_name),
            target: target_name,
            primary_service: format!("{service}-primary"),
            canary_service: format!("{service}-canary"),
            service,
            primary_label_value: format!("{label_value}-primary"),
            label,
            label_value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::podinfo_canary;

    fn target(labels: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "podinfo"},
            "spec": {"selector": {"matchLabels": labels}, "template": {}}
        }))
        .expect("deployment")
    }

    fn canary(service: Option<&str>) -> Canary {
        let mut canary = podinfo_canary();
        canary.spec.service.name = service.map(str::to_owned);
        canary
    }

    #[test]
    fn names_follow_flagger() {
        let names = Names::of(
            &canary(Some("web")),
            &target(serde_json::json!({"name": "x", "app": "podinfo"})),
        )
        .expect("names");
        assert_eq!(names.primary, "podinfo-primary");
        assert_eq!(
            [
                &names.service,
                &names.primary_service,
                &names.canary_service
            ],
            ["web", "web-primary", "web-canary"]
        );
        assert_eq!(
            (names.label.as_str(), names.primary_label_value.as_str()),
            ("app", "podinfo-primary")
        );
    }

    #[test]
    fn a_target_without_a_selector_label_is_an_error() {
        let error = Names::of(&canary(None), &target(serde_json::json!({"tier": "web"})));
        assert!(matches!(error, Err(NamesError::NoSelectorLabel(name)) if name == "podinfo"));
    }
}
