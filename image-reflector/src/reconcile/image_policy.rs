//! The ImagePolicy reconciler: reads the stored tags of its ImageRepository (another namespace's
//! only when `--no-cross-namespace-refs` is off and the repository's `accessFrom` admits the
//! policy's namespace, as Flux's), chooses the latest tag with
//! [`crate::policy::select_latest`] (never backwards against the previous choice while it still
//! qualifies), reflects the digest as `digestReflectionPolicy` says, and reports why it won.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, ResourceExt};
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::references::{AccessDenied, resolve_namespace};
use sluice_runtime::{Context, Reconcilable, ReconcileError, Reconciled};

use super::{Shared, connection};
use crate::api::image_policy::{DigestReflectionPolicy, ImagePolicyStatus, ImageRef};
use crate::api::image_repository::AccessFrom;
use crate::api::{ImagePolicy, ImageRepository};
use crate::policy::{self, Policy, TagFilter, select_latest};
use crate::registry::{self, ImageName};
use crate::store::{self, object_key};

/// How often a policy is evaluated again without news from its repository (Flux's default
/// digest interval); the repository wakes its policies whenever its tags change.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// Why an ImagePolicy could not choose a tag.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy, filter or tags do not allow a choice.
    #[error(transparent)]
    Policy(#[from] policy::Error),
    /// The ImageRepository does not exist or has no stored scan yet.
    #[error("ImageRepository {namespace}/{name} {why}")]
    RepositoryNotReady {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// `not found` or `has not been scanned yet`.
        why: &'static str,
    },
    /// `imageRepositoryRef` names another namespace under `--no-cross-namespace-refs`: nothing of
    /// it is read.
    #[error(transparent)]
    CrossNamespace(#[from] AccessDenied),
    /// The repository's `accessFrom` does not admit the policy's namespace.
    #[error("ImageRepository {repository} does not grant access to namespace '{namespace}'")]
    AccessDenied {
        /// `namespace/name` of the repository.
        repository: String,
        /// The policy's namespace.
        namespace: String,
    },
    /// The API server failed.
    #[error("reading {what}: {source}")]
    Api {
        /// What was read.
        what: String,
        /// The API error.
        source: kube::Error,
    },
    /// Looking up the digest failed.
    #[error("reflecting the digest: {0}")]
    Digest(#[from] registry::Error),
    /// Looking up the digest needed credentials that could not be read.
    #[error(transparent)]
    Connection(#[from] connection::Error),
    /// The tag store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl ReconcileError for Error {
    fn reason(&self) -> String {
        match self {
            Error::Policy(policy::Error::InvalidRange { .. }) => "InvalidSemverRange",
            Error::Policy(
                policy::Error::InvalidPattern { .. } | policy::Error::InvalidExtract { .. },
            ) => "InvalidFilterTags",
            Error::Policy(_) => "PolicyEvaluationFailed",
            Error::RepositoryNotReady { .. } => "DependencyNotReady",
            Error::CrossNamespace(_) | Error::AccessDenied { .. } => "AccessDenied",
            Error::Api { .. } => "ApiError",
            Error::Digest(error) => error.reason(),
            Error::Connection(_) => "InvalidSecret",
            Error::Store(_) => "StorageOperationFailed",
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        match self {
            Error::Policy(error) => error.is_terminal(),
            Error::Digest(error) => error.is_terminal(),
            Error::CrossNamespace(_) => true,
            _ => false,
        }
    }
}

impl Reconcilable for ImagePolicy {
    fn interval(&self) -> Duration {
        self.spec
            .interval
            .as_deref()
            .and_then(|interval| parse_go_duration(interval).ok())
            .unwrap_or(DEFAULT_INTERVAL)
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

/// Reconciles one ImagePolicy (see the module doc).
pub async fn reconcile(
    policy: Arc<ImagePolicy>,
    context: Arc<Context<Arc<Shared>>>,
) -> Reconciled<Error> {
    match choose(&policy, &context).await {
        Ok((status, message)) => Reconciled::ready(message).with_status(&status),
        Err(error) => Reconciled::failed(error),
    }
}

async fn choose(
    policy: &ImagePolicy,
    context: &Context<Arc<Shared>>,
) -> Result<(ImagePolicyStatus, String), Error> {
    let rule = Policy::from_spec(&policy.spec.policy)?;
    let filter_spec = policy.spec.filter_tags.clone().unwrap_or_default();
    let filter = TagFilter::new(&filter_spec.pattern, &filter_spec.extract)?;
    let namespace = policy.namespace().unwrap_or_default();
    let repository = repository_of(policy, &namespace, context).await?;
    let repository_namespace = repository.namespace().unwrap_or_default();
    let key = object_key(&repository_namespace, &repository.name_any());
    let stored = context
        .state
        .store
        .get(&key)
        .await?
        .ok_or_else(|| Error::RepositoryNotReady {
            namespace: repository_namespace.clone(),
            name: repository.name_any(),
            why: "has not been scanned yet",
        })?;
    let current = policy.status.clone().unwrap_or_default();
    let image = repository.spec.image.clone();
    let previous = current
        .latest_ref
        .as_ref()
        .filter(|latest| latest.name == image);
    let selection = select_latest(
        stored.tags.iter().map(String::as_str),
        &rule,
        &filter,
        previous.map(|latest| latest.tag.as_str()),
    )?;
    let digest = reflect_digest(policy, &repository, previous, &selection.tag, context).await?;
    let latest = ImageRef {
        name: image,
        tag: selection.tag.clone(),
        digest,
    };
    let changed = current
        .latest_ref
        .as_ref()
        .is_none_or(|old| old.name != latest.name || old.tag != latest.tag);
    let message = match (&current.latest_ref, changed) {
        (Some(old), true) => format!(
            "latest image tag for {} updated from {} to {}",
            latest.name, old.tag, latest.tag
        ),
        _ => format!(
            "latest image tag for {} resolved to {}",
            latest.name, latest.tag
        ),
    };
    let status = ImagePolicyStatus {
        observed_previous_ref: if changed {
            current.latest_ref.clone()
        } else {
            current.observed_previous_ref.clone()
        },
        latest_ref: Some(latest),
        message: Some(selection.message()),
        ..ImagePolicyStatus::default()
    };
    Ok((status, message))
}

/// The ImageRepository the policy references, if the policy's namespace may use it: the
/// lockdown is checked before anything is read, then another namespace's `accessFrom`.
async fn repository_of(
    policy: &ImagePolicy,
    namespace: &str,
    context: &Context<Arc<Shared>>,
) -> Result<ImageRepository, Error> {
    let reference = &policy.spec.image_repository_ref;
    let repository_namespace = resolve_namespace(
        namespace,
        "ImageRepository",
        &reference.name,
        reference.namespace.as_deref(),
        context.cross_namespace(),
    )?;
    let api: Api<ImageRepository> = Api::namespaced(context.client.clone(), &repository_namespace);
    let what = format!("ImageRepository {repository_namespace}/{}", reference.name);
    let repository = api
        .get_opt(&reference.name)
        .await
        .map_err(|source| Error::Api { what, source })?
        .ok_or_else(|| Error::RepositoryNotReady {
            namespace: repository_namespace.clone(),
            name: reference.name.clone(),
            why: "not found",
        })?;
    if repository_namespace != namespace {
        let namespaces: Api<Namespace> = Api::all(context.client.clone());
        let labels = namespaces
            .get(namespace)
            .await
            .map_err(|source| Error::Api {
                what: format!("Namespace {namespace}"),
                source,
            })?
            .labels()
            .clone();
        if !access_allowed(repository.spec.access_from.as_ref(), &labels) {
            return Err(Error::AccessDenied {
                repository: format!("{repository_namespace}/{}", reference.name),
                namespace: namespace.to_owned(),
            });
        }
    }
    Ok(repository)
}

/// Whether a namespace with `labels` may use a repository in another namespace: only when its
/// `accessFrom` has a selector whose `matchLabels` all match (an empty one matches all), as
/// Flux's ACL.
pub fn access_allowed(access_from: Option<&AccessFrom>, labels: &BTreeMap<String, String>) -> bool {
    access_from.is_some_and(|access| {
        access.namespace_selectors.iter().any(|selector| {
            selector
                .match_labels
                .iter()
                .flatten()
                .all(|(key, value)| labels.get(key) == Some(value))
        })
    })
}

/// The digest to report for `tag`: none with `Never`; the previous one with `IfNotPresent`
/// when the tag did not change; looked up otherwise.
async fn reflect_digest(
    policy: &ImagePolicy,
    repository: &ImageRepository,
    previous: Option<&ImageRef>,
    tag: &str,
    context: &Context<Arc<Shared>>,
) -> Result<Option<String>, Error> {
    let reflection = policy.spec.digest_reflection_policy.unwrap_or_default();
    let known = previous
        .filter(|previous| previous.tag == tag)
        .and_then(|previous| previous.digest.clone());
    match (reflection, known) {
        (DigestReflectionPolicy::Never, _) => Ok(None),
        (DigestReflectionPolicy::IfNotPresent, Some(digest)) => Ok(Some(digest)),
        _ => {
            let image = ImageName::parse(&repository.spec.image)?;
            let timeout = repository
                .spec
                .timeout
                .as_deref()
                .and_then(|timeout| parse_go_duration(timeout).ok())
                .unwrap_or(Duration::from_secs(60));
            let namespace = repository.namespace().unwrap_or_default();
            let connection = connection::resolve(
                &context.client,
                &namespace,
                &repository.spec,
                &image,
                timeout,
            )
            .await?;
            Ok(Some(
                context
                    .state
                    .registry
                    .manifest_digest(&image, tag, &connection)
                    .await?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::image_repository::NamespaceSelector;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn a_locked_down_reference_stalls_and_an_unadmitted_one_is_retried() {
        let locked = Error::from(AccessDenied {
            kind: "ImageRepository".into(),
            namespace: "victim".into(),
            name: "app".into(),
        });
        assert_eq!(locked.reason(), "AccessDenied");
        assert!(locked.is_stalled());
        assert_eq!(
            locked.to_string(),
            "cannot access ImageRepository/victim/app, cross-namespace references have been blocked"
        );
        let unadmitted = Error::AccessDenied {
            repository: "victim/app".into(),
            namespace: "attacker".into(),
        };
        assert_eq!(unadmitted.reason(), "AccessDenied");
        assert!(
            !unadmitted.is_stalled(),
            "the repository's accessFrom may change"
        );
    }

    #[test]
    fn other_namespaces_need_a_matching_selector() {
        let team = AccessFrom {
            namespace_selectors: vec![NamespaceSelector {
                match_labels: Some(labels(&[("team", "a")])),
            }],
        };
        assert!(access_allowed(
            Some(&team),
            &labels(&[("team", "a"), ("x", "y")])
        ));
        assert!(!access_allowed(Some(&team), &labels(&[("team", "b")])));
        assert!(!access_allowed(None, &labels(&[("team", "a")])));
        let everyone = AccessFrom {
            namespace_selectors: vec![NamespaceSelector {
                match_labels: Some(BTreeMap::new()),
            }],
        };
        assert!(access_allowed(Some(&everyone), &BTreeMap::new()));
    }
}
