//! The Kustomization reconcile, in Flux's order: finalize a deleted Kustomization
//! ([`deletion`]) or make sure it has the finalizer, check references (lockdown), resolve the
//! source artifact, check `dependsOn`, download and build (nothing is applied unless the whole
//! build succeeded), apply in stages as the tenant, prune what left the inventory, wait for
//! health within `timeout`, and report `inventory`, `lastAttemptedRevision` and
//! `lastAppliedRevision`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, ResourceExt};
use serde::Serialize;

use super::apply::{Action, Applier};
use super::artifact::ArtifactCache;
use super::build::{self, Owner};
use super::clients::Clients;
use super::deletion;
use super::depends_on;
use super::error::Error;
use super::health_wait::{self, Target};
use super::prune;
use super::source_watch::SourceRevisions;
use super::tenancy;
use crate::api::git_repository::Artifact;
use crate::api::kustomization::{ResourceInventory, SubstituteKind};
use crate::api::{GitRepository, Kustomization};
use crate::inventory::{self, InventoryObject};
use crate::notification::event::{COMMIT_STATUS, REVISION};
use crate::notification::{Event, InvolvedObject, Notifier, Severity};
use sluice_kustomize::substitute::Variables;
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::finalizer;
use sluice_runtime::redact::Redactor;
use sluice_runtime::{Context, Reconcilable, ReconcileError, Reconciled};

/// The shortest `timeout` Flux derives from `interval`.
const MIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How soon a source or dependency that is not ready yet is looked at again (Flux's
/// `--requeue-dependency` default).
const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(30);

/// What the Kustomization reconciler keeps between reconciles.
pub struct KustomizationState {
    /// Clients (own and impersonating) and discovery.
    pub clients: Clients,
    /// Downloaded artifacts.
    pub artifacts: ArtifactCache,
    /// The latest revision of each source.
    pub revisions: SourceRevisions,
    /// `--default-service-account`.
    pub default_service_account: Option<String>,
    /// Folder for the unpacked artifacts of reconciles.
    pub workdir: PathBuf,
    /// Where the commit-status events of each applied revision go (`pending` when a new
    /// revision starts applying, then success or failure), when notifications run.
    pub notifier: Option<Notifier>,
}

impl Reconcilable for Kustomization {
    fn interval(&self) -> Duration {
        parse_go_duration(&self.spec.interval).unwrap_or(Duration::from_secs(600))
    }

    /// `spec.suspend`, except while being deleted: the finalizer must still be removed.
    fn suspended(&self) -> bool {
        self.spec.suspend && !finalizer::is_deleting(self)
    }

    /// `spec.retryInterval`, else `spec.interval` (Flux's `GetRetryInterval`).
    fn retry_interval(&self) -> Option<Duration> {
        let retry = self.spec.retry_interval.as_deref();
        Some(
            retry
                .and_then(|text| parse_go_duration(text).ok())
                .unwrap_or_else(|| self.interval()),
        )
    }
}

/// The status fields a reconcile sets besides the conditions.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Progress {
    #[serde(skip_serializing_if = "Option::is_none")]
    last_attempted_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_applied_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inventory: Option<ResourceInventory>,
}

/// Reconciles one Kustomization (see the module doc).
pub async fn reconcile(
    kustomization: Arc<Kustomization>,
    context: Arc<Context<KustomizationState>>,
) -> Reconciled<Error> {
    if finalizer::is_deleting(kustomization.as_ref()) {
        let finalized = deletion::finalize(&kustomization, &context.state).await;
        return reconciled(finalized, retry_interval(&kustomization));
    }
    let mut progress = Progress::default();
    let mut secrets = Redactor::default();
    let result = match finalizer::set_finalizer(&context.client, kustomization.as_ref(), true).await
    {
        Ok(()) => reconcile_revision(&kustomization, &context, &mut progress, &mut secrets).await,
        Err(e) => Err(Error::ReconciliationFailed(format!(
            "adding the finalizer: {e}"
        ))),
    };
    // Nothing a Secret holds reaches the conditions, the Events, the logs or commit statuses.
    let result = result.map_err(|error| error.redacted(&secrets));
    if let Err(error) = &result {
        tracing::info!(name = %kustomization.name_any(), namespace = ?kustomization.namespace(), %error, "reconcile failed");
    }
    if let Some(revision) = &progress.last_attempted_revision {
        let (severity, reason, message) = match &result {
            Ok(message) => (
                Severity::Info,
                "ReconciliationSucceeded".to_owned(),
                message.clone(),
            ),
            Err(error) => (Severity::Error, error.reason(), error.to_string()),
        };
        notify(
            &context.state,
            &kustomization,
            severity,
            &reason,
            &message,
            revision,
            false,
        );
    }
    reconciled(result, retry_interval(&kustomization)).with_status(&progress)
}

fn retry_interval(kustomization: &Kustomization) -> Duration {
    kustomization
        .retry_interval()
        .unwrap_or_else(|| kustomization.interval())
}

/// The reconcile's result for the runtime: a source or dependency that is not ready yet is
/// looked at again after [`REQUEUE_DEPENDENCY`] (as Flux's kustomize-controller) or the
/// shorter `retry_interval`, any other failure after the retry interval.
fn reconciled(result: Result<String, Error>, retry_interval: Duration) -> Reconciled<Error> {
    match result {
        Err(error @ (Error::SourceNotReady(_) | Error::DependencyNotReady(_))) => {
            Reconciled::failed_retrying_after(error, REQUEUE_DEPENDENCY.min(retry_interval))
        }
        other => Reconciled::from_result(other),
    }
}

/// Reconciles the source's current revision; `secrets` receives the values of the Secrets
/// read for postBuild substitution, which the caller redacts from the error.
async fn reconcile_revision(
    kustomization: &Kustomization,
    context: &Context<KustomizationState>,
    progress: &mut Progress,
    secrets: &mut Redactor,
) -> Result<String, Error> {
    let state = &context.state;
    let started = Instant::now();
    let deadline = started + timeout(kustomization)?;
    let references = tenancy::resolve_references(kustomization, context.cross_namespace())?;
    let namespace = kustomization.namespace().unwrap_or_default();
    let name = kustomization.name_any();
    let source_namespace = references.source.clone();
    let artifact = source_artifact(kustomization, &source_namespace, state).await?;
    check_dependencies(kustomization, &references, state, &artifact.revision).await?;
    progress.last_attempted_revision = Some(artifact.revision.clone());

    let owner = Owner {
        name: &name,
        namespace: &namespace,
    };
    let (variables, secret_values) = variables(kustomization, state).await?;
    *secrets = secret_values;
    let objects =
        build_artifact(kustomization, state, &artifact, variables, &owner, deadline).await?;
    let applied = kustomization
        .status
        .as_ref()
        .and_then(|status| status.last_applied_revision.as_deref());
    if applied != Some(artifact.revision.as_str()) {
        let message = format!("applying revision {}", artifact.revision);
        notify(
            state,
            kustomization,
            Severity::Info,
            "Progressing",
            &message,
            &artifact.revision,
            true,
        );
    }

    let account = tenancy::service_account(kustomization, state.default_service_account.as_deref());
    let client = state.clients.acting_as(&namespace, account.as_deref())?;
    let applier = Applier {
        clients: &state.clients,
        client: client.clone(),
        default_namespace: namespace.clone(),
        force: kustomization.spec.force,
        deadline,
    };
    let changes = applier.apply_all(objects).await?;
    let new_inventory = ResourceInventory {
        entries: changes.entries.clone(),
    };
    let old_inventory = kustomization
        .status
        .as_ref()
        .and_then(|s| s.inventory.clone())
        .unwrap_or_default();
    progress.inventory = Some(new_inventory.clone());
    log_changes(&name, &changes.actions);

    if kustomization.spec.prune {
        let stale = inventory::stale_objects(&old_inventory, &new_inventory)
            .map_err(|e| Error::PruneFailed(e.to_string()))?;
        let pruned = prune::prune(&state.clients, &client, &stale, &owner).await;
        if !pruned.deleted.is_empty() {
            tracing::info!(%name, deleted = ?pruned.deleted, "pruned");
        }
        if let Some(error) = pruned.error() {
            progress.inventory = Some(pruned.inventory(&new_inventory));
            return Err(error);
        }
    }

    let targets = health_targets(kustomization, &new_inventory)?;
    let source_name = kustomization.spec.source_ref.name.clone();
    let applying = artifact.revision.clone();
    health_wait::wait_healthy(&state.clients, &client, &targets, deadline, || {
        state
            .revisions
            .get(&source_namespace, &source_name)
            .filter(|latest| *latest != applying)
    })
    .await?;
    progress.last_applied_revision = Some(artifact.revision.clone());
    Ok(format!("Applied revision: {}", artifact.revision))
}

/// Publishes an event about `kustomization` at `revision` when notifications run; `pending`
/// marks the start of an apply (a `pending` commit status).
fn notify(
    state: &KustomizationState,
    kustomization: &Kustomization,
    severity: Severity,
    reason: &str,
    message: &str,
    revision: &str,
    pending: bool,
) {
    let Some(notifier) = &state.notifier else {
        return;
    };
    let mut metadata = BTreeMap::from([(REVISION.to_owned(), revision.to_owned())]);
    if pending {
        metadata.insert(COMMIT_STATUS.to_owned(), "pending".to_owned());
    }
    notifier.publish(Event {
        involved_object: InvolvedObject {
            kind: "Kustomization".into(),
            namespace: kustomization.namespace().unwrap_or_default(),
            name: kustomization.name_any(),
            api_version: "kustomize.sluice.dev/v1".into(),
            labels: kustomization.labels().clone(),
        },
        severity,
        timestamp: jiff::Timestamp::now().to_string(),
        message: message.to_owned(),
        reason: reason.to_owned(),
        metadata,
        reporting_controller: "sluice-core".into(),
    });
}

/// `spec.timeout`, or `interval` minus 30 s but at least 30 s (Flux's default).
fn timeout(kustomization: &Kustomization) -> Result<Duration, Error> {
    let parse = |text: &str| parse_go_duration(text).map_err(|e| Error::InvalidSpec(e.to_string()));
    let interval = parse(&kustomization.spec.interval)?;
    if let Some(retry) = &kustomization.spec.retry_interval {
        parse(retry)?;
    }
    match &kustomization.spec.timeout {
        Some(text) => parse(text),
        None => Ok(interval.saturating_sub(MIN_TIMEOUT).max(MIN_TIMEOUT)),
    }
}

/// The artifact of the source, which is in `namespace`.
async fn source_artifact(
    kustomization: &Kustomization,
    namespace: &str,
    state: &KustomizationState,
) -> Result<Artifact, Error> {
    let reference = &kustomization.spec.source_ref;
    let api: Api<GitRepository> = Api::namespaced(state.clients.own(), namespace);
    let repository = api
        .get_opt(&reference.name)
        .await
        .map_err(|e| {
            Error::SourceNotReady(format!(
                "failed to get source GitRepository/{namespace}/{}: {e}",
                reference.name
            ))
        })?
        .ok_or_else(|| {
            Error::SourceNotReady(format!(
                "Source 'GitRepository/{namespace}/{}' not found",
                reference.name
            ))
        })?;
    let artifact = repository.status.and_then(|s| s.artifact).ok_or_else(|| {
        Error::SourceNotReady(format!(
            "Source artifact of GitRepository/{namespace}/{} not found, retrying",
            reference.name
        ))
    })?;
    Ok(artifact)
}

/// Checks every `dependsOn` Kustomization (in the namespaces `references` resolved) is ready.
async fn check_dependencies(
    kustomization: &Kustomization,
    references: &tenancy::ReferenceNamespaces,
    state: &KustomizationState,
    revision: &str,
) -> Result<(), Error> {
    let source = &kustomization.spec.source_ref;
    let source_namespace = references.source.as_str();
    let dependencies = kustomization.spec.depends_on.iter();
    for (dependency, namespace) in dependencies.zip(&references.depends_on) {
        let not_ready = |why: &str| {
            Error::DependencyNotReady(format!(
                "dependency '{namespace}/{}' is not ready: {why}",
                dependency.name
            ))
        };
        let api: Api<Kustomization> = Api::namespaced(state.clients.own(), namespace);
        let found = api
            .get_opt(&dependency.name)
            .await
            .map_err(|e| not_ready(&e.to_string()))?;
        let found = found.ok_or_else(|| not_ready("not found"))?;
        let theirs = &found.spec.source_ref;
        let same_source = theirs.name == source.name
            && theirs.namespace.as_deref().unwrap_or(namespace.as_str()) == source_namespace;
        if let Some(why) = depends_on::not_ready_reason(&found, same_source.then_some(revision)) {
            return Err(not_ready(&why));
        }
    }
    Ok(())
}

/// Unpacks `artifact` and builds it on a blocking thread, which the build frees by itself
/// once `deadline` (the reconcile's) has passed.
async fn build_artifact(
    kustomization: &Kustomization,
    state: &KustomizationState,
    artifact: &Artifact,
    variables: Variables,
    owner: &Owner<'_>,
    deadline: Instant,
) -> Result<Vec<serde_json::Value>, Error> {
    tokio::fs::create_dir_all(&state.workdir)
        .await
        .map_err(|e| Error::ArtifactFailed(e.to_string()))?;
    let dir =
        tempfile::tempdir_in(&state.workdir).map_err(|e| Error::ArtifactFailed(e.to_string()))?;
    state.artifacts.unpack(artifact, dir.path()).await?;
    let spec = kustomization.spec.clone();
    let (name, namespace) = (owner.name.to_string(), owner.namespace.to_string());
    tokio::task::spawn_blocking(move || {
        let owner = Owner {
            name: &name,
            namespace: &namespace,
        };
        let built = build::build(dir.path(), &spec, &variables, &owner, deadline);
        drop(dir);
        built
    })
    .await
    .map_err(|e| Error::BuildFailed(e.to_string()))?
}

/// The postBuild variables: `substituteFrom` in order (later wins), then `substitute` (wins);
/// and a redactor of the values that came from Secrets.
async fn variables(
    kustomization: &Kustomization,
    state: &KustomizationState,
) -> Result<(Variables, Redactor), Error> {
    let Some(post_build) = &kustomization.spec.post_build else {
        return Ok((Variables::new(), Redactor::default()));
    };
    let mut secrets = Redactor::default();
    let namespace = kustomization.namespace().unwrap_or_default();
    let mut variables = Variables::new();
    for reference in &post_build.substitute_from {
        let failed = |why: String| {
            Error::BuildFailed(format!(
                "substitute from '{:?}/{}' error: {why}",
                reference.kind, reference.name
            ))
        };
        let data: Option<BTreeMap<String, String>> = match reference.kind {
            SubstituteKind::ConfigMap => {
                Api::<ConfigMap>::namespaced(state.clients.own(), &namespace)
                    .get_opt(&reference.name)
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .map(|c| c.data.unwrap_or_default())
            }
            SubstituteKind::Secret => Api::<Secret>::namespaced(state.clients.own(), &namespace)
                .get_opt(&reference.name)
                .await
                .map_err(|e| failed(e.to_string()))?
                .map(|s| {
                    s.data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                        .collect()
                }),
        };
        if let (SubstituteKind::Secret, Some(data)) = (&reference.kind, &data) {
            secrets.extend(data.values());
        }
        match data {
            Some(data) => variables.extend(data),
            None if reference.optional => {}
            None => return Err(failed("not found".into())),
        }
    }
    variables.extend(post_build.substitute.clone());
    Ok((variables, secrets))
}

/// Every applied object when `wait`, else `healthChecks` (apiVersion taken from the inventory
/// when not given).
fn health_targets(
    kustomization: &Kustomization,
    applied: &ResourceInventory,
) -> Result<Vec<Target>, Error> {
    let applied: Vec<InventoryObject> = applied
        .entries
        .iter()
        .map(InventoryObject::from_entry)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::HealthCheckFailed(e.to_string()))?;
    if kustomization.spec.wait {
        return Ok(applied
            .iter()
            .map(|o| Target {
                api_version: o.api_version(),
                kind: o.meta.kind.clone(),
                namespace: o.meta.namespace.clone(),
                name: o.meta.name.clone(),
            })
            .collect());
    }
    let own = kustomization.namespace().unwrap_or_default();
    kustomization
        .spec
        .health_checks
        .iter()
        .map(|check| {
            let namespace = check.namespace.clone().unwrap_or_else(|| own.clone());
            let api_version = check.api_version.clone().or_else(|| {
                applied
                    .iter()
                    .find(|o| o.meta.kind == check.kind && o.meta.name == check.name)
                    .map(InventoryObject::api_version)
            });
            let api_version = api_version.ok_or_else(|| {
                Error::HealthCheckFailed(format!(
                    "health check {}/{namespace}/{} has no apiVersion",
                    check.kind, check.name
                ))
            })?;
            Ok(Target {
                api_version,
                kind: check.kind.clone(),
                namespace,
                name: check.name.clone(),
            })
        })
        .collect()
}

fn log_changes(name: &str, actions: &[(String, Action)]) {
    for (object, action) in actions.iter().filter(|(_, a)| *a != Action::Unchanged) {
        tracing::info!(kustomization = %name, %object, ?action, "applied");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kustomization(retry_interval: Option<&str>) -> Kustomization {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux"},
            "spec": {"interval": "10m", "retryInterval": retry_interval, "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "fleet"}},
        }))
        .unwrap()
    }

    fn next(kustomization: &Kustomization, result: Result<String, Error>) -> Option<Duration> {
        reconciled(result, retry_interval(kustomization)).next_reconcile(
            kustomization.interval(),
            kustomization.retry_interval(),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn a_failure_is_retried_at_the_retry_interval_defaulting_to_the_interval() {
        let failed = || Err(Error::HealthCheckFailed("Deployment/flux/web".into()));
        let with_retry = kustomization(Some("2m"));
        assert_eq!(next(&with_retry, failed()), Some(Duration::from_secs(120)));
        let without = kustomization(None);
        assert_eq!(next(&without, failed()), Some(Duration::from_secs(600)));
        assert_eq!(
            next(&with_retry, Ok("applied".into())),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn sources_and_dependencies_not_ready_are_checked_again_soon_and_bad_specs_never() {
        let with_retry = kustomization(Some("2m"));
        let source = Err(Error::SourceNotReady("no artifact".into()));
        assert_eq!(next(&with_retry, source), Some(REQUEUE_DEPENDENCY));
        let dependency = Err(Error::DependencyNotReady("infra".into()));
        assert_eq!(next(&with_retry, dependency), Some(REQUEUE_DEPENDENCY));
        let invalid = Err(Error::InvalidSpec("interval".into()));
        assert_eq!(next(&with_retry, invalid), None);
        let quick = kustomization(Some("5s"));
        let source = Err(Error::SourceNotReady("no artifact".into()));
        assert_eq!(next(&quick, source), Some(Duration::from_secs(5)));
    }
}
