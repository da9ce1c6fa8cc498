//! The reconcile loop every Sluice controller runs, in the shape of kube-rs' `controller-rs`:
//! a kube-runtime `Controller` fed by a watch filtered to spec changes and reconcile requests,
//! with suspend, requeue at `spec.interval`, exponential backoff with jitter on errors, no retry
//! of stalled objects, status written by server-side apply, Events and metrics.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::runtime::{PredicateConfig, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::backoff::Backoff;
use super::conditions::{self, READY};
use super::reconcile::{ReconcileError, Reconciled, conditions_outcome, merge_status};
use super::references::CrossNamespace;
use super::{REQUESTED_AT_ANNOTATION, Runtime};

/// A kind a Sluice controller reconciles: what the runtime needs to know of it besides its
/// Kubernetes metadata.
pub trait Reconcilable:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// `spec.interval`: how long after a successful reconcile to reconcile again.
    fn interval(&self) -> Duration;
    /// `spec.suspend`: a suspended object is not reconciled (Flux semantics).
    fn suspended(&self) -> bool;
    /// `spec.retryInterval`: how long after a failed reconcile to try again, as Flux's
    /// kustomize-controller requeues at `GetRetryInterval()`. `None` (the default) keeps the
    /// runtime's exponential backoff.
    fn retry_interval(&self) -> Option<Duration> {
        None
    }
}

/// What a reconciler receives besides the object: the client, the controller's own `state`,
/// and the process' runtime services.
pub struct Context<S> {
    /// A client with the controller's own identity.
    pub client: Client,
    /// The controller's own state (caches, stores, settings).
    pub state: S,
    recorder: Recorder,
    runtime: Runtime,
    failures: Mutex<HashMap<(String, String), u32>>,
    field_manager: String,
    backoff: Backoff,
}

/// Errors of the runtime itself (the reconcilers' errors become conditions, not these).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Writing the object's status failed; the reconcile is retried with backoff.
    #[error("writing the status of {object}: {source}")]
    StatusWrite {
        /// `namespace/name` of the object.
        object: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl Runtime {
    /// Runs the controller of kind `K` until shutdown: watches `K` (all namespaces, filtered by
    /// `--watch-label-selector`), and reconciles each object with `reconciler` at most
    /// `--concurrent` at a time. Returns when the process shuts down.
    pub async fn run_controller<K, S, R, Fut, E>(&self, state: S, reconciler: R)
    where
        K: Reconcilable,
        S: Send + Sync + 'static,
        R: Fn(Arc<K>, Arc<Context<S>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reconciled<E>> + Send + 'static,
        E: ReconcileError,
    {
        let kind = K::kind(&()).into_owned();
        let api = Api::<K>::all(self.client.clone());
        let mut watch_config = watcher::Config::default().any_semantic();
        if let Some(selector) = &self.options.watch_label_selector {
            watch_config = watch_config.labels(selector);
        }
        let (reader, writer) = reflector::store();
        let stream = watcher(api, watch_config)
            .default_backoff()
            // managedFields are never read by a reconciler: not kept in the cache (memory).
            .modify(|object: &mut K| object.meta_mut().managed_fields = None)
            .reflect(writer)
            .applied_objects()
            .predicate_filter(spec_or_request_changed::<K>, PredicateConfig::default());
        self.track_readiness(reader.clone());
        let context = Arc::new(Context {
            client: self.client.clone(),
            state,
            recorder: Recorder::new(self.client.clone(), self.reporter.clone()),
            runtime: self.clone(),
            failures: Mutex::new(HashMap::new()),
            field_manager: format!("sluice-{}", self.name),
            backoff: Backoff::default(),
        });
        let reconciler = Arc::new(reconciler);
        let shutdown = self.shutdown.clone().cancelled_owned();
        Controller::for_stream(stream, reader)
            .with_config(ControllerConfig::default().concurrency(self.options.concurrent))
            .graceful_shutdown_on(shutdown)
            .run(
                move |object, context| {
                    let reconciler = reconciler.clone();
                    async move { reconcile_object(object, context, reconciler.as_ref()).await }
                },
                error_policy,
                context,
            )
            .for_each(|result| {
                if let Err(error) = result {
                    tracing::debug!(%kind, %error, "reconcile loop");
                }
                std::future::ready(())
            })
            .await;
    }
}

/// Hash of what makes an object worth reconciling now: its generation (spec changes), the
/// requested-at annotation (`sluice reconcile`) and the start of its deletion (finalizers);
/// status and label updates are filtered out.
fn spec_or_request_changed<K: Resource>(object: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    object.meta().generation.hash(&mut hasher);
    object
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
        .hash(&mut hasher);
    object.meta().uid.hash(&mut hasher);
    object.meta().deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

async fn reconcile_object<K, S, R, Fut, E>(
    object: Arc<K>,
    context: Arc<Context<S>>,
    reconciler: &R,
) -> Result<Action, RuntimeError>
where
    K: Reconcilable,
    R: Fn(Arc<K>, Arc<Context<S>>) -> Fut,
    Fut: Future<Output = Reconciled<E>>,
    E: ReconcileError,
{
    let kind = K::kind(&());
    let metrics = &context.runtime.metrics;
    if object.suspended() {
        tracing::info!(%kind, name = %object.name_any(), "suspended, not reconciling");
        metrics.observe(&kind, "suspended", Duration::ZERO);
        return Ok(Action::await_change());
    }
    let _in_flight = metrics.start(&kind);
    let started = Instant::now();
    let reconciled = reconciler(object.clone(), context.clone()).await;
    let failures = context.count_failure(object.as_ref(), reconciled.outcome.is_err());
    let outcome = conditions_outcome(&reconciled.outcome);
    let action = match reconciled.next_reconcile(
        object.interval(),
        object.retry_interval(),
        context.backoff.delay_with_jitter(failures),
    ) {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    };
    let result = match &reconciled.outcome {
        Ok(_) => "success",
        Err(error) => {
            metrics.count_error(&kind, &error.reason());
            if error.is_stalled() {
                "stalled"
            } else {
                "retry"
            }
        }
    };
    metrics.observe(&kind, result, started.elapsed());
    write_status(object.as_ref(), &context, reconciled.status, &outcome).await?;
    Ok(action)
}

fn error_policy<K: Reconcilable, S>(
    object: Arc<K>,
    error: &RuntimeError,
    context: Arc<Context<S>>,
) -> Action {
    tracing::warn!(kind = %K::kind(&()), name = %object.name_any(), %error, "reconcile failed");
    let failures = context.count_failure(object.as_ref(), true);
    Action::requeue(context.backoff.delay_with_jitter(failures))
}

impl<S> Context<S> {
    /// Whether this process lets references leave the referrer's namespace
    /// (`--no-cross-namespace-refs`), for [`crate::references::resolve_namespace`].
    pub fn cross_namespace(&self) -> CrossNamespace {
        self.runtime.options.cross_namespace()
    }

    /// Updates the object's consecutive failure count and returns it.
    fn count_failure<K: Resource>(&self, object: &K, failed: bool) -> u32 {
        let key = (object.namespace().unwrap_or_default(), object.name_any());
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failed {
            let count = failures.entry(key).or_insert(0);
            *count += 1;
            *count
        } else {
            failures.remove(&key);
            0
        }
    }

    /// Publishes an Event about `object`; a failure to publish is logged, never fatal.
    pub async fn publish_event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        warning: bool,
        reason: &str,
        note: &str,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note.chars().take(1024).collect()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(%error, reason, "publishing an event failed");
        }
    }
}

/// Writes the status of `object`: its current status, `fields` merged in, the conditions that
/// tell `outcome`, `observedGeneration` and `lastHandledReconcileAt`; then publishes an Event when
/// the `Ready` condition changed.
async fn write_status<K: Reconcilable, S>(
    object: &K,
    context: &Context<S>,
    fields: Map<String, Value>,
    outcome: &conditions::Outcome,
) -> Result<(), RuntimeError> {
    let current = current_status(object);
    let mut status = current.clone();
    let before = ready_condition(&status);
    merge_status(&mut status, fields);
    let mut conditions: Vec<Condition> = status
        .get("conditions")
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    conditions::apply_outcome(&mut conditions, outcome, object.meta().generation, &now);
    status.insert("conditions".into(), json!(conditions));
    if let Some(generation) = object.meta().generation {
        status.insert("observedGeneration".into(), json!(generation));
    }
    if let Some(requested) = object.annotations().get(REQUESTED_AT_ANNOTATION) {
        status.insert("lastHandledReconcileAt".into(), json!(requested));
    }
    let after = ready_condition(&status);
    if status == current {
        // Nothing changed: no write (conditions keep their transition times while unchanged).
        return Ok(());
    }
    patch_status(object, context, status).await?;
    if let Some(ready) = after.filter(|after| Some(after) != before.as_ref()) {
        let warning = ready.status == "False";
        context
            .publish_event(object, warning, &ready.reason, &ready.message)
            .await;
    }
    Ok(())
}

async fn patch_status<K: Reconcilable, S>(
    object: &K,
    context: &Context<S>,
    status: Map<String, Value>,
) -> Result<(), RuntimeError> {
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(context.client.clone(), &namespace);
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(&context.field_manager).force();
    match api
        .patch_status(&object.name_any(), &params, &Patch::Apply(&patch))
        .await
    {
        // Deleted while reconciling (e.g. its finalizer was just removed): nothing to write.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other.map(|_| ()),
    }
    .map_err(|source| RuntimeError::StatusWrite {
        object: format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        ),
        source,
    })
}

fn current_status<K: Serialize>(object: &K) -> Map<String, Value> {
    match serde_json::to_value(object) {
        Ok(Value::Object(mut fields)) => match fields.remove("status") {
            Some(Value::Object(status)) => status,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// The `Ready` condition of a status, compared without its transition time.
fn ready_condition(status: &Map<String, Value>) -> Option<ReadySummary> {
    let conditions: Vec<Condition> =
        serde_json::from_value(status.get("conditions")?.clone()).ok()?;
    conditions::find(&conditions, READY).map(|ready| ReadySummary {
        status: ready.status.clone(),
        reason: ready.reason.clone(),
        message: ready.message.clone(),
    })
}

#[derive(PartialEq)]
struct ReadySummary {
    status: String,
    reason: String,
    message: String,
}
