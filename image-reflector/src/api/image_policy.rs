//! `ImagePolicy` (`image.sluice.dev/v1`): which tag of an ImageRepository is the latest, by a
//! semver range or an alphabetical or numerical order, with the fields and meanings of Flux's
//! `image.toolkit.fluxcd.io/v1` ImagePolicy.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_runtime::ReconcileStatus;

/// The desired state of an ImagePolicy: the repository to read tags from and how to pick one.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[kube(
    group = "image.sluice.dev",
    version = "v1",
    kind = "ImagePolicy",
    namespaced,
    status = "ImagePolicyStatus",
    shortname = "imgpol",
    shortname = "imagepol",
    category = "all",
    category = "sluice",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".status.latestRef.name"}"#,
    printcolumn = r#"{"name":"Tag","type":"string","jsonPath":".status.latestRef.tag"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')",
        "message": "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"
    },
    {
        "rule": "has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'",
        "message": "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"
    }
]))]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags are considered (its `accessFrom` decides other namespaces).
    pub image_repository_ref: ImageRepositoryRef,
    /// How the latest tag is chosen: exactly one of `semver`, `alphabetical`, `numerical`.
    pub policy: ImagePolicyChoice,
    /// Which tags are considered, and what part of them the policy compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilterSpec>,
    /// Whether `status.latestRef.digest` is filled (default `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_reflection_policy: Option<DigestReflectionPolicy>,
    /// How often the digest is refreshed, as a Go duration; only with
    /// `digestReflectionPolicy: Always` (then required; Flux's code default is 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<String>,
    /// Stop evaluating the policy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// A reference to an ImageRepository; `namespace` defaults to the ImagePolicy's own.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
pub struct ImageRepositoryRef {
    /// The ImageRepository's name.
    pub name: String,
    /// The ImageRepository's namespace, when it is not the ImagePolicy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The rule that picks the latest tag; written as a map with exactly one key, as in Flux:
/// `{semver: {range: ">=1.0"}}`, `{alphabetical: {order: desc}}`, `{numerical: {}}`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ImagePolicyChoice {
    /// The highest version satisfying a Masterminds/semver v3 range.
    Semver(SemverPolicy),
    /// The last tag in byte-wise order (`asc`) or the first (`desc`).
    Alphabetical(OrderPolicy),
    /// The largest number (`asc`) or the smallest (`desc`); every tag must be a number.
    Numerical(OrderPolicy),
}

/// A semver policy's range, e.g. `>=1.0.0 <2.0.0`, `^1.x`, `1.2 - 1.4.5 || >=3`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
pub struct SemverPolicy {
    /// The range, with Masterminds/semver v3 syntax and meaning.
    pub range: String,
}

/// The order of an alphabetical or numerical policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
pub struct OrderPolicy {
    /// `asc` (default) picks the greatest, `desc` the least.
    #[serde(default)]
    pub order: SortOrder,
}

/// Which end of the order is the latest tag.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// The greatest value is the latest.
    #[default]
    Asc,
    /// The least value is the latest.
    Desc,
}

/// `filterTags`: tags not matching `pattern` are dropped; `extract` turns a matching tag into the
/// value the policy compares (the original tag is still what is reported).
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
pub struct TagFilterSpec {
    /// A regular expression searched in each tag (unanchored); empty matches every tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pattern: String,
    /// A template with `$1`, `${1}`, `$name`, `${name}` references to the pattern's groups;
    /// empty means the whole tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extract: String,
}

/// When the digest of the latest tag is looked up and written to `status.latestRef.digest`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, JsonSchema, PartialEq, Eq)]
pub enum DigestReflectionPolicy {
    /// Never: the digest stays empty.
    #[default]
    Never,
    /// When there is no digest yet or the tag changed.
    IfNotPresent,
    /// On every reconcile, every `interval`.
    Always,
}

/// What the controller last chose for an ImagePolicy, and why.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
    /// The chosen image: `name` is the ImageRepository's `spec.image` verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// The `latestRef` before the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
    /// Why this tag won: tags seen, tags the filter kept, and the rule that chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An image reference, as Flux's `ImageRef`: `name:tag`, or `name:tag@digest` when the digest is
/// known. Also the entries of ImageUpdateAutomation's `status.observedPolicies`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
pub struct ImageRef {
    /// The image name, without tag.
    pub name: String,
    /// The tag, as listed by the registry.
    pub tag: String,
    /// The manifest (or index) digest, e.g. `sha256:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl std::fmt::Display for ImageRef {
    /// Writes `name:tag` or `name:tag@digest`, as Flux's `ImageRef.String()`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        match &self.digest {
            Some(digest) if !digest.is_empty() => write!(f, "@{digest}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_a_map_with_one_key_as_in_flux() {
        let spec: ImagePolicySpec = serde_json::from_value(serde_json::json!({
            "imageRepositoryRef": {"name": "app"},
            "policy": {"alphabetical": {"order": "desc"}},
            "filterTags": {"pattern": "^main-(?P<ts>[0-9]+)", "extract": "$ts"}
        }))
        .unwrap();
        assert_eq!(
            spec.policy,
            ImagePolicyChoice::Alphabetical(OrderPolicy {
                order: SortOrder::Desc
            })
        );
        let written = serde_json::to_value(&spec.policy).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"alphabetical": {"order": "desc"}})
        );
    }

    #[test]
    fn the_schema_ties_interval_to_digest_reflection_always() {
        let schema = serde_json::to_value(schemars::schema_for!(ImagePolicySpec)).unwrap();
        let rules = schema["x-kubernetes-validations"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert!(
            rules
                .iter()
                .all(|rule| rule["rule"].as_str().unwrap().contains("'Always'"))
        );
    }

    #[test]
    fn numerical_order_defaults_to_asc() {
        let choice: ImagePolicyChoice =
            serde_json::from_value(serde_json::json!({"numerical": {}})).unwrap();
        assert_eq!(
            choice,
            ImagePolicyChoice::Numerical(OrderPolicy {
                order: SortOrder::Asc
            })
        );
    }

    #[test]
    fn two_policies_at_once_are_refused() {
        let two = serde_json::json!({"semver": {"range": "1.x"}, "numerical": {}});
        assert!(serde_json::from_value::<ImagePolicyChoice>(two).is_err());
    }

    #[test]
    fn an_image_ref_prints_its_digest_only_when_known() {
        let mut image = ImageRef {
            name: "ghcr.io/a/b".into(),
            tag: "1.0.0".into(),
            digest: None,
        };
        assert_eq!(image.to_string(), "ghcr.io/a/b:1.0.0");
        image.digest = Some("sha256:abc".into());
        assert_eq!(image.to_string(), "ghcr.io/a/b:1.0.0@sha256:abc");
    }
}
