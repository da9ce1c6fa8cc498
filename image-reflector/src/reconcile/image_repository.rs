//! The ImageRepository reconciler: scans the image's tags when due (see
//! [`crate::scan::scan_due`]), stores them, reports `lastScanResult`, and wakes the
//! ImagePolicies of the repository when its tags changed. Before that it registers the
//! repository's registry webhook path ([`crate::webhook`]) and publishes it in `webhookPath`.

use std::sync::Arc;
use std::time::Duration;

use kube::api::ListParams;
use kube::{Api, ResourceExt};
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::{Context, REQUESTED_AT_ANNOTATION, Reconcilable, ReconcileError, Reconciled};

use super::request::request_reconcile;
use super::{Shared, connection};
use crate::api::image_repository::{ImageRepositoryStatus, RegistryProvider};
use crate::api::{ImagePolicy, ImageRepository};
use crate::registry::{self, ImageName};
use crate::scan::{self, Exclusions, ScanDue, Stored, scan_due, scan_result};
use crate::store::{self, StoredScan, object_key};
use crate::webhook::{Hook, webhook_path};

/// The interval used when `spec.interval` does not parse (the reconcile then stalls anyway).
const FALLBACK_INTERVAL: Duration = Duration::from_secs(300);
/// The shortest scan timeout, as Flux's.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Why an ImageRepository could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.provider` is `aws`, `azure` or `gcp`.
    #[error(
        "provider '{0}' is not supported yet; use 'generic' with secretRef or serviceAccountName"
    )]
    ProviderNotSupported(String),
    /// `spec.interval` or `spec.timeout` is not a Go duration.
    #[error("invalid {field}: {source}")]
    InvalidDuration {
        /// `interval` or `timeout`.
        field: &'static str,
        /// The parse error.
        source: sluice_runtime::duration::DurationError,
    },
    /// `spec.exclusionList` has an invalid regex.
    #[error(transparent)]
    Exclusion(#[from] scan::Error),
    /// The registry could not be scanned.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// A Secret or service account could not be used.
    #[error(transparent)]
    Connection(#[from] connection::Error),
    /// The tag store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl ReconcileError for Error {
    fn reason(&self) -> String {
        match self {
            Error::ProviderNotSupported(_) => "ProviderNotSupported",
            Error::InvalidDuration { .. } => "InvalidDuration",
            Error::Exclusion(_) => "InvalidExclusionList",
            Error::Registry(error) => error.reason(),
            Error::Connection(connection::Error::Read { .. }) => "SecretNotFound",
            Error::Connection(connection::Error::InvalidSecret { .. }) => "InvalidSecret",
            Error::Store(_) => "StorageOperationFailed",
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        match self {
            Error::ProviderNotSupported(_)
            | Error::InvalidDuration { .. }
            | Error::Exclusion(_) => true,
            Error::Registry(error) => error.is_terminal(),
            Error::Connection(_) | Error::Store(_) => false,
        }
    }
}

impl Reconcilable for ImageRepository {
    fn interval(&self) -> Duration {
        parse_go_duration(&self.spec.interval).unwrap_or(FALLBACK_INTERVAL)
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

/// Reconciles one ImageRepository (see the module doc): registers its webhook path (a bad
/// `webhookSecretRef` fails the reconcile before any scan), then scans when due. The status
/// publishes the registered path, or removes it.
pub async fn reconcile(
    repository: Arc<ImageRepository>,
    context: Arc<Context<Arc<Shared>>>,
) -> Reconciled<Error> {
    let registered = register_webhook(&repository, &context).await;
    let published = serde_json::json!({
        "webhookPath": registered.as_ref().ok().and_then(Option::as_deref),
    });
    let scanned = match registered {
        Ok(_) => scan_if_due(&repository, &context).await,
        Err(error) => Err(error),
    };
    match scanned {
        Ok(outcome) => {
            let mut reconciled = Reconciled::ready(outcome.message).with_status(&outcome.status);
            reconciled.requeue_after = outcome.requeue_after;
            reconciled.with_status(&published)
        }
        Err(error) => Reconciled::failed(error).with_status(&published),
    }
}

/// Registers the webhook path of `repository` (from its `webhookSecretRef`'s token) in the
/// process' hooks, or unregisters it when the field is unset or unusable; returns the path.
///
/// Errors: the image does not parse, or the Secret is missing or has no usable `token`.
async fn register_webhook(
    repository: &ImageRepository,
    context: &Context<Arc<Shared>>,
) -> Result<Option<String>, Error> {
    let namespace = repository.namespace().unwrap_or_default();
    let name = repository.name_any();
    let hook = match &repository.spec.webhook_secret_ref {
        None => Ok(None),
        Some(reference) => hook_of(repository, context, &reference.name)
            .await
            .map(Some),
    };
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let registered = hook.as_ref().ok().cloned().flatten();
    context
        .state
        .hooks
        .register(&namespace, &name, registered, now_ms);
    Ok(hook?.map(|hook| hook.path))
}

/// The hook of `repository`, whose `webhookSecretRef` names the Secret `secret`.
async fn hook_of(
    repository: &ImageRepository,
    context: &Context<Arc<Shared>>,
    secret: &str,
) -> Result<Hook, Error> {
    let namespace = repository.namespace().unwrap_or_default();
    let name = repository.name_any();
    let image = ImageName::parse(&repository.spec.image)?;
    let token = connection::webhook_token(&context.client, &namespace, secret).await?;
    Ok(Hook {
        path: webhook_path(&token, &name, &namespace),
        repository: image.repository,
    })
}

struct Outcome {
    status: ImageRepositoryStatus,
    message: String,
    requeue_after: Option<Duration>,
}

async fn scan_if_due(
    repository: &ImageRepository,
    context: &Context<Arc<Shared>>,
) -> Result<Outcome, Error> {
    let spec = &repository.spec;
    if spec.provider != RegistryProvider::Generic {
        let name = serde_json::to_value(spec.provider).ok();
        let name = name
            .as_ref()
            .and_then(|value| value.as_str())
            .unwrap_or("?");
        return Err(Error::ProviderNotSupported(name.to_owned()));
    }
    let image = ImageName::parse(&spec.image)?;
    let exclusions = Exclusions::new(&spec.exclusion_list)?;
    let interval = parse_go_duration(&spec.interval).map_err(|source| Error::InvalidDuration {
        field: "interval",
        source,
    })?;
    let timeout = match &spec.timeout {
        Some(timeout) => parse_go_duration(timeout).map_err(|source| Error::InvalidDuration {
            field: "timeout",
            source,
        })?,
        None => interval,
    }
    .max(MIN_TIMEOUT);
    let namespace = repository.namespace().unwrap_or_default();
    let key = object_key(&namespace, &repository.name_any());
    let canonical = image.canonical();
    let stored = context.state.store.get(&key).await?;
    let due = scan_due(
        stored.as_ref().map(|scan| Stored {
            image: &scan.image,
            exclusion_list: &scan.exclusion_list,
            scanned_at: timestamp(scan.scanned_at_ms),
        }),
        &canonical,
        &spec.exclusion_list,
        request_pending(repository),
        interval,
        jiff::Timestamp::now(),
    );
    let (scan, requeue_after, message) = match (due, stored) {
        (ScanDue::Later(remaining), Some(stored)) => {
            let message = format!(
                "stored scan of {} tags is fresh; next scan in {}s",
                stored.tags.len(),
                remaining.as_secs()
            );
            (stored, Some(remaining), message)
        }
        (_, previous) => {
            let connection =
                connection::resolve(&context.client, &namespace, spec, &image, timeout).await?;
            let scan = scan_now(
                context,
                &image,
                &connection,
                &exclusions,
                &spec.exclusion_list,
            )
            .await?;
            context.state.store.put(&key, &scan).await?;
            if previous.is_none_or(|previous| previous.revision != scan.revision) {
                wake_policies(context, &namespace, &repository.name_any()).await;
            }
            let message = format!("successful scan: found {} tags", scan.tags.len());
            (scan, None, message)
        }
    };
    let status = ImageRepositoryStatus {
        canonical_image_name: Some(canonical),
        last_scan_result: Some(scan_result(
            &scan.tags,
            &scan.revision,
            timestamp(scan.scanned_at_ms),
        )),
        observed_exclusion_list: spec.exclusion_list.clone(),
        ..ImageRepositoryStatus::default()
    };
    Ok(Outcome {
        status,
        message,
        requeue_after,
    })
}

/// Lists the tags (holding one of the bounded scan permits) and applies the exclusions.
async fn scan_now(
    context: &Context<Arc<Shared>>,
    image: &ImageName,
    connection: &registry::Connection,
    exclusions: &Exclusions,
    exclusion_list: &[String],
) -> Result<StoredScan, Error> {
    let tags = {
        let _permit = context.state.scans.acquire().await;
        context.state.registry.list_tags(image, connection).await?
    };
    let tags = exclusions.keep(tags);
    Ok(StoredScan {
        image: image.canonical(),
        exclusion_list: exclusion_list.to_vec(),
        scanned_at_ms: jiff::Timestamp::now().as_millisecond(),
        revision: scan::revision(&tags),
        tags,
    })
}

/// Whether the requested-at annotation has a value not yet handled.
fn request_pending(repository: &ImageRepository) -> bool {
    let handled = repository
        .status
        .as_ref()
        .and_then(|status| status.reconcile.last_handled_reconcile_at.as_deref());
    repository
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
        .is_some_and(|requested| Some(requested.as_str()) != handled)
}

/// Asks every ImagePolicy that references the repository `namespace/name` to reconcile; a
/// failure is logged (the policies still reconcile on their own interval).
async fn wake_policies(context: &Context<Arc<Shared>>, namespace: &str, name: &str) {
    let all: Api<ImagePolicy> = Api::all(context.client.clone());
    let policies = match all.list(&ListParams::default()).await {
        Ok(policies) => policies,
        Err(error) => {
            tracing::warn!(%error, namespace, name, "listing ImagePolicies to wake failed");
            return;
        }
    };
    for policy in policies {
        let policy_namespace = policy.namespace().unwrap_or_default();
        let reference = &policy.spec.image_repository_ref;
        let target = reference.namespace.as_deref().unwrap_or(&policy_namespace);
        if reference.name != name || target != namespace {
            continue;
        }
        let api: Api<ImagePolicy> = Api::namespaced(context.client.clone(), &policy_namespace);
        if let Err(error) = request_reconcile(&api, &policy.name_any()).await {
            tracing::warn!(%error, policy = %policy.name_any(), "waking an ImagePolicy failed");
        }
    }
}

fn timestamp(milliseconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(milliseconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}
