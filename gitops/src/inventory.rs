//! A Kustomization's inventory: the ids of the objects it applied, and which of them to prune.
//!
//! Ids are Flux's (cli-utils `ObjMetadata.String()`): `<namespace>_<name>_<group>_<kind>`, with
//! empty segments for cluster-scoped objects and the core group (`default_podinfo__Service`,
//! `_apps__Namespace`), and `:` in RBAC names written as `__`
//! (`_system__controller__ClusterRole` style names). The version is kept beside the id
//! ([`ResourceRef::v`]) and is not part of identity: an apiVersion bump does not prune.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;

use crate::api::kustomization::{ResourceInventory, ResourceRef};

const FIELD_SEPARATOR: char = '_';
const COLON_TRANSCODED: &str = "__";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RBAC_KINDS: [&str; 4] = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

/// Kinds applied first, in this order (fluxcd/pkg `ssa` sort order); pruning runs it backwards.
const KINDS_FIRST: [&str; 19] = [
    "CustomResourceDefinition",
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "PriorityClass",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds applied last, in this order.
const KINDS_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Why an inventory id cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The id has fewer than four `_`-separated fields.
    #[error("unable to parse stored object metadata: {0}")]
    MissingFields(String),
    /// The name field still holds a single `_` after `__` was decoded.
    #[error("too many fields within: {0}")]
    TooManyFields(String),
}

/// The identity of an applied object: namespace, name, API group and kind (cli-utils'
/// `ObjMetadata`). `namespace` is empty for cluster-scoped objects, `group` for the core group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjMetadata {
    /// Namespace, empty when cluster-scoped.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl ObjMetadata {
    /// Reads an inventory id such as `default_podinfo_apps_Deployment`. The namespace ends at
    /// the first `_`, kind and group start after the last two, and `__` in the name is a `:`.
    /// Returns [`Error::MissingFields`] or [`Error::TooManyFields`] as cli-utils does.
    pub fn parse(id: &str) -> Result<Self, Error> {
        let missing = || Error::MissingFields(id.to_string());
        let (namespace, rest) = id.split_once(FIELD_SEPARATOR).ok_or_else(missing)?;
        let (rest, kind) = rest.rsplit_once(FIELD_SEPARATOR).ok_or_else(missing)?;
        let (name, group) = rest.rsplit_once(FIELD_SEPARATOR).ok_or_else(missing)?;
        let name = name.replace(COLON_TRANSCODED, ":");
        if name.contains(FIELD_SEPARATOR) {
            return Err(Error::TooManyFields(rest.to_string()));
        }
        Ok(Self {
            namespace: namespace.to_string(),
            name,
            group: group.to_string(),
            kind: kind.to_string(),
        })
    }

    /// Whether this is a Role, ClusterRole, RoleBinding or ClusterRoleBinding, whose names may
    /// hold `:`.
    fn is_rbac(&self) -> bool {
        self.group == RBAC_GROUP && RBAC_KINDS.contains(&self.kind.as_str())
    }

    /// The inventory entry for this object applied at API `version` (e.g. `v1`).
    pub fn to_entry(&self, version: &str) -> ResourceRef {
        ResourceRef {
            id: self.to_string(),
            v: version.to_string(),
        }
    }
}

impl fmt::Display for ObjMetadata {
    /// Writes the inventory id, `<namespace>_<name>_<group>_<kind>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.is_rbac() {
            self.name.replace(':', COLON_TRANSCODED)
        } else {
            self.name.clone()
        };
        let sep = FIELD_SEPARATOR;
        write!(
            f,
            "{}{sep}{name}{sep}{}{sep}{}",
            self.namespace, self.group, self.kind
        )
    }
}

/// An inventory entry read back: the object's identity and the API version it was applied at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryObject {
    /// Identity of the object.
    pub meta: ObjMetadata,
    /// API version, e.g. `v1`.
    pub version: String,
}

impl InventoryObject {
    /// Reads an entry; fails with the [`Error`] of [`ObjMetadata::parse`].
    pub fn from_entry(entry: &ResourceRef) -> Result<Self, Error> {
        Ok(Self {
            meta: ObjMetadata::parse(&entry.id)?,
            version: entry.v.clone(),
        })
    }

    /// The object's `apiVersion`: `<group>/<version>`, or `<version>` for the core group.
    pub fn api_version(&self) -> String {
        if self.meta.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.meta.group, self.version)
        }
    }
}

/// The objects of `old` that are not in `new` (compared on namespace, name, group and kind,
/// not version), in the order Flux deletes them: the reverse of its apply order, so webhook
/// configurations go first, then other kinds, then workloads, Services, configuration and RBAC,
/// and Namespaces and CustomResourceDefinitions last. Fails with [`Error`] on an unreadable id
/// in either inventory.
pub fn stale_objects(
    old: &ResourceInventory,
    new: &ResourceInventory,
) -> Result<Vec<InventoryObject>, Error> {
    let kept: HashSet<ObjMetadata> = new
        .entries
        .iter()
        .map(|entry| ObjMetadata::parse(&entry.id))
        .collect::<Result<_, _>>()?;
    let mut stale: Vec<InventoryObject> = old
        .entries
        .iter()
        .map(InventoryObject::from_entry)
        .filter(|object| !matches!(object, Ok(o) if kept.contains(&o.meta)))
        .collect::<Result<_, _>>()?;
    stale.sort_by(|a, b| apply_order(&b.meta, &a.meta));
    Ok(stale)
}

/// Flux's apply order (fluxcd/pkg `ssa.SortableMetas`): by kind rank (listed kinds first, then
/// unlisted ones, then webhook configurations), then group, kind, namespace and name.
pub fn apply_order(a: &ObjMetadata, b: &ObjMetadata) -> Ordering {
    kind_rank(&a.kind)
        .cmp(&kind_rank(&b.kind))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.namespace.cmp(&b.namespace))
        .then_with(|| a.name.cmp(&b.name))
}

/// Negative for [`KINDS_FIRST`], zero for unlisted kinds, positive for [`KINDS_LAST`].
fn kind_rank(kind: &str) -> i64 {
    let position = |list: &[&str]| list.iter().position(|k| *k == kind);
    if let Some(index) = position(&KINDS_FIRST) {
        return index as i64 - KINDS_FIRST.len() as i64;
    }
    position(&KINDS_LAST).map_or(0, |index| index as i64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(namespace: &str, name: &str, group: &str, kind: &str) -> ObjMetadata {
        ObjMetadata {
            namespace: namespace.into(),
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
        }
    }

    fn inventory(entries: &[(&str, &str)]) -> ResourceInventory {
        ResourceInventory {
            entries: entries
                .iter()
                .map(|(id, v)| ResourceRef {
                    id: id.to_string(),
                    v: v.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn formats_flux_ids_with_empty_segments() {
        assert_eq!(
            meta("default", "podinfo", "", "Service").to_string(),
            "default_podinfo__Service"
        );
        assert_eq!(
            meta("default", "podinfo", "apps", "Deployment").to_string(),
            "default_podinfo_apps_Deployment"
        );
        assert_eq!(
            meta("", "apps", "", "Namespace").to_string(),
            "_apps__Namespace"
        );
    }

    #[test]
    fn rbac_names_carry_colons_as_double_underscores() {
        let role = meta("", "system:flux:reader", RBAC_GROUP, "ClusterRole");
        let id = role.to_string();
        assert_eq!(
            id,
            "_system__flux__reader_rbac.authorization.k8s.io_ClusterRole"
        );
        assert_eq!(ObjMetadata::parse(&id), Ok(role));
    }

    #[test]
    fn parse_reads_back_what_format_writes() {
        for object in [
            meta("default", "podinfo", "", "Service"),
            meta(
                "",
                "podinfo",
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
            ),
            meta("apps", "dev-team", "source.sluice.dev", "GitRepository"),
        ] {
            assert_eq!(ObjMetadata::parse(&object.to_string()), Ok(object));
        }
    }

    #[test]
    fn parse_rejects_malformed_ids() {
        assert!(matches!(
            ObjMetadata::parse("default-podinfo"),
            Err(Error::MissingFields(_))
        ));
        assert!(matches!(
            ObjMetadata::parse("default_podinfo"),
            Err(Error::MissingFields(_))
        ));
        assert!(matches!(
            ObjMetadata::parse("default_pod_info_apps_Deployment"),
            Err(Error::TooManyFields(_))
        ));
    }

    #[test]
    fn api_version_joins_group_and_version() {
        let entry = ResourceRef {
            id: "default_podinfo_apps_Deployment".into(),
            v: "v1".into(),
        };
        let object = InventoryObject::from_entry(&entry).expect("entry");
        assert_eq!(object.api_version(), "apps/v1");
        let core =
            InventoryObject::from_entry(&meta("default", "x", "", "ConfigMap").to_entry("v1"));
        assert_eq!(core.expect("entry").api_version(), "v1");
    }

    #[test]
    fn stale_objects_ignore_version_changes() {
        let old = inventory(&[
            (
                "default_podinfo_autoscaling_HorizontalPodAutoscaler",
                "v2beta2",
            ),
            ("default_podinfo_apps_Deployment", "v1"),
        ]);
        let new = inventory(&[
            ("default_podinfo_autoscaling_HorizontalPodAutoscaler", "v2"),
            ("default_podinfo_apps_Deployment", "v1"),
        ]);
        assert_eq!(stale_objects(&old, &new), Ok(vec![]));
    }

    #[test]
    fn stale_objects_come_in_reverse_apply_order() {
        let old = inventory(&[
            (
                "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition",
                "v1",
            ),
            ("_team__Namespace", "v1"),
            ("team_app__ConfigMap", "v1"),
            ("team_app_apps_Deployment", "v1"),
            ("team_app_example.com_Widget", "v1"),
            (
                "_hook_admissionregistration.k8s.io_ValidatingWebhookConfiguration",
                "v1",
            ),
            ("team_kept__Service", "v1"),
        ]);
        let new = inventory(&[("team_kept__Service", "v1")]);
        let kinds: Vec<String> = stale_objects(&old, &new)
            .expect("diff")
            .into_iter()
            .map(|o| o.meta.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "ValidatingWebhookConfiguration",
                "Widget",
                "Deployment",
                "ConfigMap",
                "Namespace",
                "CustomResourceDefinition"
            ]
        );
    }

    #[test]
    fn stale_objects_keep_the_applied_version() {
        let old = inventory(&[("default_podinfo_apps_Deployment", "v1")]);
        let stale = stale_objects(&old, &inventory(&[])).expect("diff");
        assert_eq!(stale[0].api_version(), "apps/v1");
    }

    #[test]
    fn stale_objects_fail_on_unreadable_ids() {
        let old = inventory(&[("garbage", "v1")]);
        assert!(stale_objects(&old, &inventory(&[])).is_err());
        assert!(stale_objects(&inventory(&[]), &old).is_err());
    }
}
