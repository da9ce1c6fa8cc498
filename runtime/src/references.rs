//! The one rule for references across namespaces, shared by every controller and every kind that
//! names another object (Kustomization `sourceRef` and `dependsOn`, ImageUpdateAutomation
//! `sourceRef`, ImagePolicy `imageRepositoryRef`, Alert `eventSources`, Canary `templateRef`,
//! Pipeline references), as Flux's multi-tenancy lockdown words it: with
//! `--no-cross-namespace-refs` a reference to another namespace is refused with
//! "cannot access Kind/namespace/name, cross-namespace references have been blocked", and
//! nothing of the other namespace is read. Without it, Flux's semantics: a reference may name
//! any namespace, and an absent namespace means the referrer's own. Pure.

/// Whether references may leave the referrer's namespace (`--no-cross-namespace-refs` unset or
/// set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrossNamespace {
    /// Flux's default: any namespace may be named.
    #[default]
    Allowed,
    /// The lockdown: only the referrer's own namespace.
    Denied,
}

impl CrossNamespace {
    /// The policy `--no-cross-namespace-refs` (`true`: denied) stands for.
    pub fn from_flag(no_cross_namespace_refs: bool) -> Self {
        if no_cross_namespace_refs {
            CrossNamespace::Denied
        } else {
            CrossNamespace::Allowed
        }
    }
}

/// A reference refused by the lockdown; its message is Flux's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot access {kind}/{namespace}/{name}, cross-namespace references have been blocked")]
pub struct AccessDenied {
    /// The referenced kind, e.g. `GitRepository`.
    pub kind: String,
    /// The namespace the reference names.
    pub namespace: String,
    /// The referenced object's name.
    pub name: String,
}

/// The namespace a reference from `referrer_namespace` to `kind` `name` in `namespace` (absent:
/// the referrer's own) points at, if `policy` lets it.
///
/// Errors: [`AccessDenied`] when `policy` is [`CrossNamespace::Denied`] and the reference names
/// another namespace.
pub fn resolve_namespace(
    referrer_namespace: &str,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    policy: CrossNamespace,
) -> Result<String, AccessDenied> {
    match namespace.filter(|namespace| !namespace.is_empty()) {
        None => Ok(referrer_namespace.to_owned()),
        Some(namespace) if namespace == referrer_namespace => Ok(namespace.to_owned()),
        Some(namespace) if policy == CrossNamespace::Allowed => Ok(namespace.to_owned()),
        Some(namespace) => Err(AccessDenied {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_and_absent_namespaces_always_resolve() {
        for policy in [CrossNamespace::Allowed, CrossNamespace::Denied] {
            assert_eq!(
                resolve_namespace("team-a", "GitRepository", "repo", None, policy),
                Ok("team-a".to_owned())
            );
            assert_eq!(
                resolve_namespace("team-a", "GitRepository", "repo", Some(""), policy),
                Ok("team-a".to_owned())
            );
            assert_eq!(
                resolve_namespace("team-a", "GitRepository", "repo", Some("team-a"), policy),
                Ok("team-a".to_owned())
            );
        }
    }

    #[test]
    fn another_namespace_is_refused_only_under_lockdown() {
        assert_eq!(
            resolve_namespace(
                "attacker",
                "GitRepository",
                "podinfo",
                Some("podinfo"),
                CrossNamespace::from_flag(false)
            ),
            Ok("podinfo".to_owned())
        );
        let denied = resolve_namespace(
            "attacker",
            "GitRepository",
            "podinfo",
            Some("podinfo"),
            CrossNamespace::from_flag(true),
        )
        .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "cannot access GitRepository/podinfo/podinfo, cross-namespace references have been blocked"
        );
    }
}
