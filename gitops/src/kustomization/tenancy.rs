//! Soft multi-tenancy decisions, as Flux's lockdown: which account a Kustomization acts as
//! (`spec.serviceAccountName`, else `--default-service-account`) and whether its references may
//! leave its namespace (`--no-cross-namespace-refs`). Pure.

use kube::ResourceExt;

use super::error::Error;
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

/// Checks `sourceRef` and every `dependsOn` stay in the Kustomization's namespace when
/// `no_cross_namespace_refs` is set.
///
/// Errors: [`Error::AccessDenied`] naming the reference, as Flux words it.
pub fn check_references(
    kustomization: &Kustomization,
    no_cross_namespace_refs: bool,
) -> Result<(), Error> {
    if !no_cross_namespace_refs {
        return Ok(());
    }
    let own = kustomization.namespace().unwrap_or_default();
    let source = &kustomization.spec.source_ref;
    if let Some(namespace) = source.namespace.as_ref().filter(|ns| **ns != own) {
        return Err(Error::AccessDenied(format!(
            "cannot access GitRepository/{namespace}/{}, cross-namespace references have been blocked",
            source.name
        )));
    }
    for dependency in &kustomization.spec.depends_on {
        if let Some(namespace) = dependency.namespace.as_ref().filter(|ns| **ns != own) {
            return Err(Error::AccessDenied(format!(
                "cannot access Kustomization/{namespace}/{}, cross-namespace references have been blocked",
                dependency.name
            )));
        }
    }
    Ok(())
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
        assert!(check_references(&ks, false).is_ok());
        let denied = check_references(&ks, true).unwrap_err();
        assert!(
            denied.to_string().contains("GitRepository/tenant-b/repo"),
            "{denied}"
        );
        let same = kustomization(json!({"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "tenant-a"},
            "dependsOn": [{"name": "infra", "namespace": "tenant-b"}]}));
        assert!(
            check_references(&same, true)
                .unwrap_err()
                .to_string()
                .contains("Kustomization/tenant-b/infra")
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
