//! Reads what a run needs from the API server — the GitRepository (URL, secret, ref, timeout,
//! as Flux's automation does; never its status), the credentials and signing Secrets, the
//! selected ImagePolicies' `status.latestRef` — and returns it as a plain [`RunRequest`]. The
//! GitRepository's URL is checked as the GitRepository source checks it
//! ([`sluice_gitops::source::policy`]).

use std::collections::BTreeMap;

use kube::api::{Api, ListParams};
use kube::core::Selector;
use kube::{Client, ResourceExt};
use sluice_git::{Author, GitAuth, RefSelector, Signer};
use sluice_gitops::api::git_repository::{GitRepository, GitRepositoryRef};
use sluice_gitops::controller::object_folder;
use sluice_gitops::source::policy;
use sluice_image_reflector::api::image_policy::{ImagePolicy, ImageRef};
use sluice_runtime::references::CrossNamespace;
use sluice_runtime::secrets::read_secret_data;

use super::AutomationState;
use super::error::AutomationError;
use crate::api::image_update_automation::{GitCheckoutSpec, ImageUpdateAutomation};
use crate::git::automation_run::{MessageSpec, RunError, RunRequest};
use crate::git::push_target::push_target;
use crate::setters::policy::{LatestImage, Policies, PolicyKey};

/// A run request and the policies it considered.
#[derive(Debug)]
pub struct Inputs {
    /// The run.
    pub request: RunRequest,
    /// Policy name → latest image, for `status.observedPolicies`.
    pub observed_policies: BTreeMap<String, ImageRef>,
}

/// Gathers the inputs of `automation`'s run; its work folder is the automation's
/// [`object_folder`] in `state.work_cache`, its timeout the GitRepository's `spec.timeout`
/// (Flux's 60 s when absent, as Flux's automation takes it). The GitRepository is looked for where `sourceRef` points,
/// as `policy` (`--no-cross-namespace-refs`) lets it: a refused reference reads nothing.
///
/// Errors: `AccessDenied` (the GitRepository is in another namespace under the lockdown),
/// `InvalidSourceConfiguration` (no `spec.git`, no push branch), `SourceManager` (the
/// GitRepository or a Secret cannot be read, the GitRepository's URL is refused by
/// [`policy::check_url`] or its timeout is not a duration), `InvalidPolicySelector`,
/// `Policies`, or `Run(Auth)` when the credentials are unusable.
pub async fn gather_inputs(
    client: &Client,
    automation: &ImageUpdateAutomation,
    state: &AutomationState,
    cross_namespace: CrossNamespace,
) -> Result<Inputs, AutomationError> {
    let namespace = automation.namespace().unwrap_or_default();
    let name = automation.name_any();
    let spec = &automation.spec;
    let git = spec.git.clone().ok_or_else(|| {
        AutomationError::InvalidSourceConfiguration("spec.git is required".into())
    })?;
    let source_namespace = spec
        .source_ref
        .resolve_namespace(&namespace, cross_namespace)?;
    let repository = Api::<GitRepository>::namespaced(client.clone(), &source_namespace)
        .get(&spec.source_ref.name)
        .await
        .map_err(|error| AutomationError::SourceManager {
            what: format!("GitRepository {source_namespace}/{}", spec.source_ref.name),
            message: error.to_string(),
        })?;
    let url = repository.spec.url.clone();
    let source = || format!("GitRepository {source_namespace}/{}", spec.source_ref.name);
    policy::check_url(&url, state.allow_file_sources).map_err(|error| {
        AutomationError::SourceManager {
            what: source(),
            message: error.to_string(),
        }
    })?;
    let timeout = policy::git_timeout(repository.spec.timeout.as_deref()).map_err(|message| {
        AutomationError::SourceManager {
            what: source(),
            message: format!("spec.timeout: {message}"),
        }
    })?;
    let auth = match &repository.spec.secret_ref {
        Some(secret) => {
            let data = secret_data(client, &source_namespace, &secret.name).await?;
            GitAuth::from_secret(&url, &data).map_err(RunError::from)?
        }
        None => GitAuth::Anonymous,
    };
    let signer = match &git.commit.signing_key {
        Some(key) => {
            let data = secret_data(client, &namespace, &key.secret_ref.name).await?;
            Some(
                Signer::from_secret(&data).map_err(|error| AutomationError::SourceManager {
                    what: format!("signing key secret {namespace}/{}", key.secret_ref.name),
                    message: error.to_string(),
                })?,
            )
        }
        None => None,
    };
    let checkout = checkout_selector(git.checkout.as_ref(), repository.spec.reference.as_ref());
    let push = push_target(&checkout, git.push.as_ref())
        .map_err(|error| AutomationError::InvalidSourceConfiguration(error.to_string()))?;
    let (policies, observed_policies) = selected_policies(client, automation, &namespace).await?;
    let request = RunRequest {
        work_dir: state.work_cache.join(object_folder(automation)),
        url,
        timeout,
        auth,
        checkout,
        push,
        update_path: spec.update.as_ref().and_then(|update| update.path.clone()),
        policies,
        author: Author {
            name: git.commit.author.name.clone().unwrap_or_default(),
            email: git.commit.author.email.clone(),
        },
        message: MessageSpec {
            automation_namespace: namespace,
            automation_name: name,
            template: git.commit.message_template.clone(),
            values: git
                .commit
                .message_template_values
                .clone()
                .unwrap_or_default(),
        },
        signer,
    };
    Ok(Inputs {
        request,
        observed_policies,
    })
}

/// What a run checks out: the automation's `git.checkout.ref`, else the GitRepository's
/// `spec.ref`, read as the GitRepository source reads it (through the one conversion of
/// `sluice_gitops`); branch `master` when neither is given, as Flux's.
fn checkout_selector(
    checkout: Option<&GitCheckoutSpec>,
    repository_ref: Option<&GitRepositoryRef>,
) -> RefSelector {
    checkout
        .map(|checkout| &checkout.reference)
        .or(repository_ref)
        .map(RefSelector::from)
        .unwrap_or_default()
}

async fn secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, AutomationError> {
    read_secret_data(client, namespace, name)
        .await
        .map_err(|error| AutomationError::SourceManager {
            what: format!("Secret {namespace}/{name}"),
            message: error.to_string(),
        })
}

/// The ImagePolicies of `namespace` selected by `policySelector`, as the setters' policies and
/// as `observedPolicies`.
async fn selected_policies(
    client: &Client,
    automation: &ImageUpdateAutomation,
    namespace: &str,
) -> Result<(Policies, BTreeMap<String, ImageRef>), AutomationError> {
    let mut params = ListParams::default();
    if let Some(selector) = automation.spec.policy_selector.clone() {
        let selector = Selector::try_from(selector)
            .map_err(|error| AutomationError::InvalidPolicySelector(error.to_string()))?;
        params = params.labels_from(&selector);
    }
    let listed = Api::<ImagePolicy>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(AutomationError::Policies)?;
    let mut policies = Policies {
        automation_namespace: Some(namespace.to_owned()),
        latest: BTreeMap::new(),
        images_entries: Default::default(),
    };
    let mut observed = BTreeMap::new();
    for policy in listed {
        let latest = policy.status.and_then(|status| status.latest_ref);
        let key = PolicyKey {
            namespace: namespace.to_owned(),
            name: policy.metadata.name.clone().unwrap_or_default(),
        };
        if let Some(latest) = &latest {
            observed.insert(key.name.clone(), latest.clone());
        }
        let image = latest.map(|latest| LatestImage {
            name: latest.name,
            tag: latest.tag,
            digest: latest.digest,
        });
        policies.latest.insert(key, image);
    }
    Ok((policies, observed))
}

#[cfg(test)]
mod tests {
    use sluice_git::RemoteRef;

    use super::*;

    fn semver(range: &str) -> GitRepositoryRef {
        GitRepositoryRef {
            semver: Some(range.into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_automation_checkout_wins_over_the_repository_ref() {
        let main = GitRepositoryRef {
            branch: Some("main".into()),
            ..Default::default()
        };
        let tag = GitCheckoutSpec {
            reference: GitRepositoryRef {
                tag: Some("v1".into()),
                ..Default::default()
            },
        };
        assert_eq!(
            checkout_selector(Some(&tag), Some(&main)),
            RefSelector::Tag("v1".into())
        );
        assert_eq!(
            checkout_selector(None, Some(&main)),
            RefSelector::Branch("main".into())
        );
        assert_eq!(
            checkout_selector(None, None),
            RefSelector::Branch("master".into())
        );
    }

    /// The same Masterminds range selects the same tag through the GitRepository path (its
    /// `spec.ref` converted by `sluice_gitops`, resolved against the advertised refs) and
    /// through the ImageUpdateAutomation path (`git.checkout.ref` converted here, pinned to a
    /// tag as the run does before fetching it); they used to read two dialects.
    #[test]
    fn a_semver_range_selects_the_same_tag_for_the_source_and_the_automation() {
        let remote: Vec<RemoteRef> = ["v1.2.0", "1.9.0", "2.0.0", "3.1.0", "3.2.0-rc.1"]
            .iter()
            .enumerate()
            .map(|(index, tag)| RemoteRef {
                name: format!("refs/tags/{tag}"),
                commit: format!("c{index}"),
            })
            .collect();
        for (range, tag) in [(">=1.0.0 <2.0.0 || 3.x", "3.1.0"), ("~1", "1.9.0")] {
            let source = RefSelector::from(&semver(range)).resolve(&remote).unwrap();
            let checkout = GitCheckoutSpec {
                reference: semver(range),
            };
            let automation = checkout_selector(Some(&checkout), None)
                .pinned(&remote)
                .unwrap();
            assert_eq!(automation, RefSelector::Tag(tag.into()), "{range}");
            assert_eq!(automation.revision(&source.commit), source.revision);
            assert!(source.revision.starts_with(&format!("{tag}@sha1:")));
        }
    }
}
