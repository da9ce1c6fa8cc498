//! The writes of a tick: the generated objects when they changed (bootstrap), and the state
//! machine's actions (routes, scaling, promotion, hooks, events). Every write is skipped when the
//! watch cache already shows its result, so an idle Canary writes nothing here.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_runtime::Context;

use crate::analysis::{Action, Event, Severity};
use crate::api::Canary;
use crate::api::canary::HookType;
use crate::bootstrap::{self, needs_apply};
use crate::caches::cached;
use crate::names::Names;
use crate::primary_configs::{self, CopyError};
use crate::router::{Router, RouterError, split};
use crate::shared::Shared;
use crate::webhook::{self, Payload};

/// The field manager of every write but the status.
pub const FIELD_MANAGER: &str = "sluice-canary";

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The API server refused a write.
    #[error("writing {what}: {source}")]
    Write {
        /// What was written.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The router failed.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// A ConfigMap or Secret could not be copied for the primary.
    #[error(transparent)]
    Copy(#[from] CopyError),
}

/// Carries out one tick's writes for one Canary.
pub struct Executor<'a> {
    /// The runtime context (client, events).
    pub context: &'a Context<Shared>,
    /// The Canary.
    pub canary: &'a Canary,
    /// Its objects' names.
    pub names: &'a Names,
    /// The cached target Deployment.
    pub target: &'a Deployment,
    /// The Canary's router.
    pub router: &'a dyn Router,
}

impl Executor<'_> {
    fn shared(&self) -> &Shared {
        &self.context.state
    }

    /// Applies the Services, the primary Deployment (created once; later only promotion changes
    /// it) and the primary autoscaler when they changed, then lets the router create its objects.
    ///
    /// Errors: a refused write.
    pub async fn ensure_generated(&self) -> Result<(), ActionError> {
        let (canary, names) = (self.canary, self.names);
        let caches = &self.shared().caches;
        let service = &canary.spec.service;
        let services = [
            (
                &names.primary_service,
                &names.primary_label_value,
                service.primary.as_ref(),
            ),
            (
                &names.canary_service,
                &names.label_value,
                service.canary.as_ref(),
            ),
        ];
        for (name, selector, metadata) in services {
            let desired = bootstrap::service(canary, names, name, selector, metadata);
            self.apply_if_changed::<Service>(name, &desired).await?;
        }
        if cached(&caches.services, &names.namespace, &names.service).is_none() {
            let apex = bootstrap::service(
                canary,
                names,
                &names.service,
                &names.primary_label_value,
                service.apex.as_ref(),
            );
            self.apply::<Service>(&names.service, &apex).await?;
        }
        if cached(&caches.deployments, &names.namespace, &names.primary).is_none() {
            let replicas = self.target.spec.replicas.filter(|r| *r > 0).unwrap_or(1);
            self.apply_primary(replicas).await?;
        }
        self.ensure_primary_autoscaler().await?;
        self.router.reconcile(canary, names).await?;
        Ok(())
    }

    async fn ensure_primary_autoscaler(&self) -> Result<(), ActionError> {
        let Some(reference) = &self.canary.spec.autoscaler_ref else {
            return Ok(());
        };
        let caches = &self.shared().caches;
        let Some(autoscaler) = cached(&caches.autoscalers, &self.names.namespace, &reference.name)
        else {
            return Ok(());
        };
        let desired = bootstrap::primary_autoscaler(self.canary, self.names, &autoscaler);
        let name = format!("{}-primary", reference.name);
        self.apply_if_changed::<HorizontalPodAutoscaler>(&name, &desired)
            .await
    }

    /// Carries out `actions` in order; `payload` is sent to post-rollout and event hooks.
    ///
    /// Errors: the first refused write (the remaining actions are not carried out).
    pub async fn carry_out(
        &self,
        actions: &[Action],
        payload: &Payload,
    ) -> Result<(), ActionError> {
        for action in actions {
            match action {
                Action::SetRoutes { canary, .. } => {
                    self.router.set_weights(self.names, split(*canary)).await?
                }
                Action::ScaleCanaryUp => self.scale_target(self.scaled_up_replicas()).await?,
                Action::ScaleCanaryToZero => self.scale_target(0).await?,
                Action::Promote => self.promote().await?,
                Action::RunPostRolloutHooks => self.run_hooks(HookType::PostRollout, payload).await,
                Action::Event(event) => self.publish(event, payload).await,
                Action::SyncRevision => {}
            }
        }
        Ok(())
    }

    /// Flagger's `ScaleFromZero` replicas: the target's if above 0; else, without an
    /// autoscaler, the primary's; else the autoscaler's `minReplicas` if above 1; else 1.
    pub(crate) fn scaled_up_replicas(&self) -> i32 {
        if let Some(replicas) = self.target.spec.replicas.filter(|r| *r > 0) {
            return replicas;
        }
        let caches = &self.shared().caches;
        match &self.canary.spec.autoscaler_ref {
            None => cached(
                &caches.deployments,
                &self.names.namespace,
                &self.names.primary,
            )
            .and_then(|primary| primary.spec.replicas)
            .unwrap_or(1),
            Some(reference) => cached(&caches.autoscalers, &self.names.namespace, &reference.name)
                .and_then(|autoscaler| autoscaler.spec.min_replicas)
                .filter(|min| *min > 1)
                .unwrap_or(1),
        }
    }

    /// Sets the target's replicas to `replicas` unless the cache shows them already.
    pub(crate) async fn scale_target(&self, replicas: i32) -> Result<(), ActionError> {
        if self.target.spec.replicas == Some(replicas) {
            return Ok(());
        }
        let patch = json!({"spec": {"replicas": replicas}});
        let written = self
            .deployments()
            .patch(
                &self.names.target,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|source| {
                write_error(
                    &format!("Deployment {} replicas", self.names.target),
                    source,
                )
            })?;
        self.shared().remember_generation(
            &self.names.namespace,
            &self.names.target,
            written.metadata.generation,
        );
        Ok(())
    }

    /// Copies the target's template (and configs) to the primary, keeping the primary's replicas.
    async fn promote(&self) -> Result<(), ActionError> {
        let caches = &self.shared().caches;
        let replicas = cached(
            &caches.deployments,
            &self.names.namespace,
            &self.names.primary,
        )
        .and_then(|primary| primary.spec.replicas)
        .unwrap_or(1);
        self.apply_primary(replicas).await
    }

    /// Refreshes the `-primary` copies of the target's configs, then applies the primary.
    async fn apply_primary(&self, replicas: i32) -> Result<(), ActionError> {
        let template = serde_json::to_value(&self.target.spec.template).unwrap_or_default();
        let copied = primary_configs::copy_referenced(
            &self.context.client,
            FIELD_MANAGER,
            self.canary,
            &template,
        )
        .await?;
        let desired =
            bootstrap::primary_deployment(self.canary, self.names, self.target, replicas, &copied);
        let written: Deployment = self.apply(&self.names.primary, &desired).await?;
        self.shared().remember_generation(
            &self.names.namespace,
            &self.names.primary,
            written.metadata.generation,
        );
        Ok(())
    }

    async fn run_hooks(&self, hook_type: HookType, payload: &Payload) {
        let hooks = self
            .canary
            .spec
            .effective_analysis()
            .map_or(&[][..], |a| a.webhooks.as_slice());
        for hook in webhook::of_type(hooks, hook_type) {
            let result = self.shared().webhooks.call(hook, payload).await;
            if !result.succeeded {
                tracing::warn!(hook = %hook.name, detail = %result.detail, "webhook failed");
            }
        }
    }

    /// Records `event` on the Canary and sends it to the `event` hooks.
    async fn publish(&self, event: &Event, payload: &Payload) {
        let warning = event.severity == Severity::Warning;
        self.context
            .publish_event(self.canary, warning, "Synced", &event.message)
            .await;
        let timestamp = k8s_openapi::jiff::Timestamp::now()
            .as_millisecond()
            .to_string();
        let mut payload = payload.clone();
        payload.metadata.extend(BTreeMap::from([
            ("eventMessage".to_owned(), event.message.clone()),
            (
                "eventType".to_owned(),
                if warning { "Warning" } else { "Normal" }.to_owned(),
            ),
            ("timestamp".to_owned(), timestamp),
        ]));
        self.run_hooks(HookType::Event, &payload).await;
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.context.client.clone(), &self.names.namespace)
    }

    async fn apply_if_changed<K>(&self, name: &str, desired: &Value) -> Result<(), ActionError>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + CachedKind,
    {
        let cached = K::lookup(self.shared(), &self.names.namespace, name);
        if needs_apply(cached.as_deref(), desired) {
            self.apply::<K>(name, desired).await?;
        }
        Ok(())
    }

    async fn apply<K>(&self, name: &str, desired: &Value) -> Result<K, ActionError>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.context.client.clone(), &self.names.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(name, &params, &Patch::Apply(desired))
            .await
            .map_err(|source| {
                write_error(
                    &format!("{} {}/{name}", K::kind(&()), self.names.namespace),
                    source,
                )
            })
    }
}

/// A kind whose objects the controller looks up in its caches before writing.
pub trait CachedKind: Sized {
    /// The cached object `namespace/name`.
    fn lookup(shared: &Shared, namespace: &str, name: &str) -> Option<std::sync::Arc<Self>>;
}

impl CachedKind for Service {
    fn lookup(shared: &Shared, namespace: &str, name: &str) -> Option<std::sync::Arc<Self>> {
        cached(&shared.caches.services, namespace, name)
    }
}

impl CachedKind for HorizontalPodAutoscaler {
    fn lookup(shared: &Shared, namespace: &str, name: &str) -> Option<std::sync::Arc<Self>> {
        cached(&shared.caches.autoscalers, namespace, name)
    }
}

fn write_error(what: &str, source: kube::Error) -> ActionError {
    ActionError::Write {
        what: what.to_owned(),
        source,
    }
}
