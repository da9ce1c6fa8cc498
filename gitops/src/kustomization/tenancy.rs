//! Soft multi-tenancy decisions, as Flux's lockdown: which account a Kustomization acts as
//! (`spec.serviceAccountName`, else `--default-service-account`) and where its references point
//! (`--no-cross-namespace-refs`, through the shared rule of `sluice_runtime::references`). Pure.

use kube::ResourceExt;
use sluice_runtime::references::{AccessDenied, CrossNamespace, resolve_namespace};

use crate::api::Kustomization;

/// The ServiceAccount (in the Kustomization's namespace) to impersonate, or `None` for the
/// controller's own identity.
pub fn service_account(kustomization: &Kustomization, default: Option<&str>) -> Option<String> {
    kustomization
        .spec
        .service_account_name
        .clone()
        .or_else(|| default.map(str::to_string))
}

/// The namespaces a Kustomization's references point at, once the lockdown let them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceNamespaces {
    /// The namespace of `sourceRef`.
    pub source: String,
    /// The namespace of each `dependsOn` entry, in spec order.
    pub depends_on: Vec<String>,
}

/// Resolves `sourceRef` and every `dependsOn` of `kustomization` by the shared rule
/// ([`sluice_runtime::references::resolve_namespace`]): an absent namespace is the
/// Kustomization's own, another namespace is refused under the lockdown, as Flux's
/// kustomize-controller checks both before reading either.
///
/// Errors: [`AccessDenied`] naming the first refused reference (`GitRepository/ns/name` or
/// `Kustomization/ns/name`), in Flux's words.
pub fn resolve_references(
    kustomization: &Kustomization,
    policy: CrossNamespace,
) -> Result<ReferenceNamespaces, AccessDenied> {
    let own = kustomization.namespace().unwrap_or_default();
    let source = kustomization
        .spec
        .source_ref
        .resolve_namespace(&own, policy)?;
    let depends_on = kustomization
        .spec
        .depends_on
        .iter()
        .map(|dependency| {
            resolve_namespace(
                &own,
                "Kustomization",
                &dependency.name,
                dependency.namespace.as_deref(),
                policy,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(ReferenceNamespaces { source, depends_on })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kustomization(spec: serde_json::Value) -> Kustomization {
        serde_json::from_value(json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "tenant-a"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn cross_namespace_source_is_denied_only_when_locked_down() {
        let ks = kustomization(json!({"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "tenant-b"}}));
        assert_eq!(
            resolve_references(&ks, CrossNamespace::Allowed),
            Ok(ReferenceNamespaces {
                source: "tenant-b".into(),
                depends_on: vec![]
            })
        );
        let denied = resolve_references(&ks, CrossNamespace::Denied).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "cannot access GitRepository/tenant-b/repo, cross-namespace references have been blocked"
        );
    }

    #[test]
    fn cross_namespace_dependency_is_denied_only_when_locked_down() {
        let same = kustomization(json!({"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "tenant-a"},
            "dependsOn": [{"name": "base"}, {"name": "infra", "namespace": "tenant-b"}]}));
        assert_eq!(
            resolve_references(&same, CrossNamespace::Allowed),
            Ok(ReferenceNamespaces {
                source: "tenant-a".into(),
                depends_on: vec!["tenant-a".into(), "tenant-b".into()]
            })
        );
        let denied = resolve_references(&same, CrossNamespace::Denied).unwrap_err();
        assert_eq!(
            (
                denied.kind.as_str(),
                denied.namespace.as_str(),
                denied.name.as_str()
            ),
            ("Kustomization", "tenant-b", "infra")
        );
    }

    #[test]
    fn own_namespace_references_resolve_under_the_lockdown() {
        let own = kustomization(json!({"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "dependsOn": [{"name": "infra", "namespace": "tenant-a"}]}));
        assert_eq!(
            resolve_references(&own, CrossNamespace::Denied),
            Ok(ReferenceNamespaces {
                source: "tenant-a".into(),
                depends_on: vec!["tenant-a".into()]
            })
        );
    }

    #[test]
    fn own_account_wins_over_the_default() {
        let named = kustomization(
            json!({"interval": "1m", "prune": true, "serviceAccountName": "deployer",
            "sourceRef": {"kind": "GitRepository", "name": "repo"}}),
        );
        assert_eq!(
            service_account(&named, Some("default")).as_deref(),
            Some("deployer")
        );
        let unnamed = kustomization(json!({"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo"}}));
        assert_eq!(
            service_account(&unnamed, Some("default")).as_deref(),
            Some("default")
        );
        assert_eq!(service_account(&unnamed, None), None);
    }
}
