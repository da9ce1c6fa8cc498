//! Reads what a run needs from the API server — the GitRepository (URL, secret, ref, as Flux's
//! automation does; never its status), the credentials and signing Secrets, the selected
//! ImagePolicies' `status.latestRef` — and returns it as a plain [`RunRequest`].

use std::collections::BTreeMap;
use std::path::Path;

use kube::api::{Api, ListParams};
use kube::core::Selector;
use kube::{Client, ResourceExt};
use sluice_gitops::api::git_repository::GitRepository;
use sluice_gitops::source::credentials::read_secret_data;
use sluice_image_reflector::api::image_policy::ImagePolicy;

use super::error::AutomationError;
use crate::api::image_update_automation::{ImageRef, ImageUpdateAutomation};
use crate::git::auth::GitAuth;
use crate::git::automation_run::{MessageSpec, RunError, RunRequest};
use crate::git::checkout_ref::CheckoutRef;
use crate::git::commit::Author;
use crate::git::push_target::push_target;
use crate::git::signing::Signer;
use crate::setters::policy::{LatestImage, Policies, PolicyKey};

/// A run request and the policies it considered.
#[derive(Debug)]
pub struct Inputs {
    /// The run.
    pub request: RunRequest,
    /// Policy name → latest image, for `status.observedPolicies`.
    pub observed_policies: BTreeMap<String, ImageRef>,
}

/// Gathers the inputs of `automation`'s run; its work folder is
/// `work_cache/<namespace>/<name>`.
///
/// Errors: `InvalidSourceConfiguration` (no `spec.git`, no push branch), `SourceManager` (the
/// GitRepository or a Secret cannot be read), `InvalidPolicySelector`, `Policies`, or
/// `Run(Auth)` when the credentials are unusable.
pub async fn gather_inputs(
    client: &Client,
    automation: &ImageUpdateAutomation,
    work_cache: &Path,
) -> Result<Inputs, AutomationError> {
    let namespace = automation.namespace().unwrap_or_default();
    let name = automation.name_any();
    let spec = &automation.spec;
    let git = spec.git.clone().ok_or_else(|| {
        AutomationError::InvalidSourceConfiguration("spec.git is required".into())
    })?;
    let source_namespace = spec
        .source_ref
        .namespace
        .clone()
        .unwrap_or(namespace.clone());
    let repository = Api::<GitRepository>::namespaced(client.clone(), &source_namespace)
        .get(&spec.source_ref.name)
        .await
        .map_err(|error| AutomationError::SourceManager {
            what: format!("GitRepository {source_namespace}/{}", spec.source_ref.name),
            message: error.to_string(),
        })?;
    let url = repository.spec.url.clone();
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
    let checkout = CheckoutRef::from_ref(
        git.checkout
            .as_ref()
            .map(|checkout| checkout.reference.clone())
            .or_else(|| repository.spec.reference.clone())
            .as_ref(),
    );
    let push = push_target(&checkout, git.push.as_ref())
        .map_err(|error| AutomationError::InvalidSourceConfiguration(error.to_string()))?;
    let (policies, observed_policies) = selected_policies(client, automation, &namespace).await?;
    let request = RunRequest {
        work_dir: work_cache.join(&namespace).join(&name),
        url,
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
            observed.insert(
                key.name.clone(),
                ImageRef {
                    name: latest.name.clone(),
                    tag: latest.tag.clone(),
                    digest: latest.digest.clone(),
                },
            );
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
