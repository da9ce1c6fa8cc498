//! One tick of one Canary (Flagger's `advanceCanary`): read the target and everything else from
//! the watch caches, keep the generated objects in place, ask the state machine
//! ([`crate::analysis::decide`]) one observation at a time, carry out its actions, and return the
//! status to write. Only writes reach the API server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use sluice_runtime::references::AccessDenied;
use sluice_runtime::{Context, Reconcilable, ReconcileError, Reconciled};

use crate::actions::{ActionError, Executor};
use crate::analysis::phase::promoted_condition;
use crate::analysis::revision::{ConfigRef, Revision, hash_hex, referenced_configs};
use crate::analysis::{AnalysisState, Decision, Facts, Transition, decide};
use crate::api::{Canary, CanaryPhase, CanaryStatus};
use crate::caches::{DATA_DIGEST_ANNOTATION, cached};
use crate::metric_check::check_template_refs;
use crate::names::{Names, NamesError};
use crate::observe::{Observer, payload};
use crate::revert::{DeletionStep, deletion_step, set_finalizer};
use crate::router::RouterError;
use crate::shared::Shared;

/// The condition type Flagger sets, with the phase as reason.
pub const PROMOTED: &str = "Promoted";

/// Why a tick could not run.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// `targetRef.kind` is not a Deployment.
    #[error("targetRef kind {0:?} is not supported: only Deployment")]
    UnsupportedTarget(String),
    /// The target Deployment does not exist.
    #[error("target Deployment {0} not found")]
    TargetNotFound(String),
    /// The target has no usable selector label.
    #[error(transparent)]
    Names(#[from] NamesError),
    /// The router cannot be used or failed.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// A write failed.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// A `templateRef` names another namespace under `--no-cross-namespace-refs`.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
}

impl ReconcileError for CanaryError {
    fn reason(&self) -> String {
        match self {
            Self::UnsupportedTarget(_) => "UnsupportedTarget",
            Self::TargetNotFound(_) => "TargetNotFound",
            Self::Names(_) => "InvalidTarget",
            Self::Router(RouterError::UnsupportedProvider(_) | RouterError::NoGatewayRefs) => {
                "InvalidProvider"
            }
            Self::Router(_) => "RouteFailed",
            Self::Action(_) => "WriteFailed",
            Self::AccessDenied(_) => "AccessDenied",
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedTarget(_)
                | Self::AccessDenied(_)
                | Self::Router(RouterError::UnsupportedProvider(_) | RouterError::NoGatewayRefs)
        )
    }
}

impl Reconcilable for Canary {
    /// `analysis.interval` with Flagger's 10 s floor; the reconciler asks for its own requeue
    /// with the controller's floor (see `Settings::interval`).
    fn interval(&self) -> Duration {
        crate::settings::Settings::default().interval(self)
    }

    fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }
}

/// Runs one tick of `canary` and returns the status and the Ready outcome to write.
pub async fn reconcile(
    canary: Arc<Canary>,
    context: Arc<Context<Shared>>,
) -> Reconciled<CanaryError> {
    let interval = context.state.settings.interval(&canary);
    match tick(&canary, &context).await {
        Ok((status, message)) => {
            let uid = canary.uid().unwrap_or_default();
            context.state.remember_status(&uid, status.clone());
            let current = canary
                .status
                .as_ref()
                .map_or(&[][..], |s| &s.reconcile.conditions);
            let mut written = status.clone();
            written.reconcile.conditions = with_conditions(current, &status.reconcile.conditions);
            let mut reconciled = Reconciled::ready(message).with_status(&written);
            if status.tracked_configs.is_empty() {
                reconciled
                    .status
                    .insert("trackedConfigs".into(), serde_json::Value::Null);
            }
            reconciled.requeue_after = Some(interval);
            reconciled
        }
        Err(error) => {
            tracing::warn!(canary = %canary.name_any(), %error, "canary tick failed");
            Reconciled::failed(error)
        }
    }
}

/// `current` conditions (the runtime's `Ready` among them, which the remembered status lacks)
/// with each of `ours` replacing the one of its type, so that an unchanged tick writes nothing.
fn with_conditions(current: &[Condition], ours: &[Condition]) -> Vec<Condition> {
    let mut conditions = current.to_vec();
    for condition in ours {
        match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
            Some(existing) => *existing = condition.clone(),
            None => conditions.push(condition.clone()),
        }
    }
    conditions
}

/// Steps of one tick; returns the new status and the Ready message.
async fn tick(
    canary: &Canary,
    context: &Context<Shared>,
) -> Result<(CanaryStatus, String), CanaryError> {
    let shared = &context.state;
    let previous = shared
        .last_status(&canary.uid().unwrap_or_default())
        .or_else(|| canary.status.clone())
        .unwrap_or_default();
    match deletion_step(canary, previous.phase) {
        DeletionStep::None => {}
        DeletionStep::AddFinalizer => set_finalizer(&context.client, canary, true).await?,
        DeletionStep::RemoveFinalizer => {
            set_finalizer(&context.client, canary, false).await?;
            if canary.metadata.deletion_timestamp.is_some() {
                let message = ready_message(canary, &previous, &[]);
                return Ok((previous, message));
            }
        }
        DeletionStep::Gone => {
            let message = ready_message(canary, &previous, &[]);
            return Ok((previous, message));
        }
        DeletionStep::Revert => return revert_tick(canary, context, &previous).await,
    }
    check_template_refs(canary, context.cross_namespace())?;
    let target = cached_target(canary, shared)?;
    let namespace = canary.namespace().unwrap_or_default();
    let names = Names::of(canary, &target)?;
    let router = shared
        .routers
        .for_provider(shared.settings.provider(canary))?;
    let executor = Executor {
        context,
        canary,
        names: &names,
        target: &target,
        router,
    };
    executor.ensure_generated().await?;
    let revision = revision_of(&target, shared, &namespace);
    let initializing = matches!(previous.phase, None | Some(CanaryPhase::Initializing));
    let weight = match router.weights(&names) {
        Ok(weights) => weights.canary,
        Err(_) if initializing => 0,
        Err(error) => return Err(error.into()),
    };
    let state = AnalysisState::from_status(&previous, weight);
    let phase_name = state.phase.map_or("", CanaryPhase::as_str);
    let mut observer = Observer {
        canary,
        names: &names,
        shared,
        payload: payload(canary, phase_name, &checksum(&revision)),
        failures: Vec::new(),
        cross_namespace: context.cross_namespace(),
    };
    let mut facts = Facts {
        revision_changed: revision.differs_from(&previous),
        ..Facts::default()
    };
    let transition = loop {
        match decide(canary, &state, &facts) {
            Decision::Apply(transition) => break transition,
            Decision::Observe(fact) => observer.observe(fact, &mut facts).await,
        }
    };
    let next_phase = transition.state.phase.map_or("", CanaryPhase::as_str);
    let after = payload(canary, next_phase, &checksum(&revision));
    executor.carry_out(&transition.actions, &after).await?;
    let status = next_status(canary, &previous, &transition, &revision);
    let message = ready_message(canary, &status, &observer.failures);
    Ok((status, message))
}

/// The target Deployment from the cache.
///
/// Errors: the target is not a Deployment, or is not in the cache.
fn cached_target(canary: &Canary, shared: &Shared) -> Result<Arc<Deployment>, CanaryError> {
    if canary.spec.target_ref.kind != "Deployment" {
        return Err(CanaryError::UnsupportedTarget(
            canary.spec.target_ref.kind.clone(),
        ));
    }
    let namespace = canary.namespace().unwrap_or_default();
    cached(
        &shared.caches.deployments,
        &namespace,
        &canary.spec.target_ref.name,
    )
    .ok_or_else(|| {
        CanaryError::TargetNotFound(format!("{namespace}/{}", canary.spec.target_ref.name))
    })
}

/// A tick of a deleted Canary with `revertOnDeletion` (see [`crate::revert`]): Terminating while
/// the target comes back, Terminated once everything is reverted (or there is no target).
async fn revert_tick(
    canary: &Canary,
    context: &Context<Shared>,
    previous: &CanaryStatus,
) -> Result<(CanaryStatus, String), CanaryError> {
    let shared = &context.state;
    let reverted = match cached_target(canary, shared) {
        Err(CanaryError::TargetNotFound(_)) => true,
        Err(error) => return Err(error),
        Ok(target) => {
            let names = Names::of(canary, &target)?;
            let executor = Executor {
                context,
                canary,
                names: &names,
                target: &target,
                router: shared
                    .routers
                    .for_provider(shared.settings.provider(canary))?,
            };
            executor.revert().await?
        }
    };
    let phase = if reverted {
        CanaryPhase::Terminated
    } else {
        CanaryPhase::Terminating
    };
    let mut status = previous.clone();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    if status.phase != Some(phase) {
        status.last_transition_time = Some(now.clone());
    }
    status.phase = Some(phase);
    set_promoted(
        &mut status.reconcile.conditions,
        phase,
        canary.metadata.generation,
        now,
    );
    let message = ready_message(canary, &status, &[]);
    Ok((status, message))
}

/// The target's revision: its pod template and the digest of each referenced ConfigMap and
/// Secret in the cache (`missing` for one that does not exist).
fn revision_of(target: &Deployment, shared: &Shared, namespace: &str) -> Revision {
    let template = serde_json::to_value(&target.spec.template).unwrap_or_default();
    let configs = referenced_configs(&template)
        .into_iter()
        .map(|config| {
            let digest = match &config {
                ConfigRef::ConfigMap(name) => cached(&shared.caches.config_maps, namespace, name)
                    .and_then(|object| object.annotations().get(DATA_DIGEST_ANNOTATION).cloned()),
                ConfigRef::Secret(name) => cached(&shared.caches.secrets, namespace, name)
                    .and_then(|object| object.annotations().get(DATA_DIGEST_ANNOTATION).cloned()),
            };
            let data = BTreeMap::from([(
                "digest".to_owned(),
                digest.unwrap_or_else(|| "missing".to_owned()),
            )]);
            (config, data)
        })
        .collect();
    Revision::of(&template, &configs)
}

/// Flagger's webhook `checksum`: a hash of the revision's template hash and tracked configs.
fn checksum(revision: &Revision) -> String {
    hash_hex(&serde_json::json!({"spec": revision.spec, "configs": revision.configs}).to_string())
}

/// The status after `transition`: its state; the revision when it synced; `lastPromotedSpec` on
/// entering Initialized or Succeeded; the `Promoted` condition; the transition time on a change.
fn next_status(
    canary: &Canary,
    previous: &CanaryStatus,
    transition: &Transition,
    revision: &Revision,
) -> CanaryStatus {
    let state = transition.state;
    let mut status = previous.clone();
    if transition
        .actions
        .contains(&crate::analysis::Action::SyncRevision)
    {
        status.last_applied_spec = Some(revision.spec.clone());
        status.tracked_configs = revision.configs.clone();
    }
    let phase_changed = state.phase != previous.phase;
    if phase_changed
        && matches!(
            state.phase,
            Some(CanaryPhase::Initialized | CanaryPhase::Succeeded)
        )
    {
        status.last_promoted_spec = status.last_applied_spec.clone();
    }
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let counters = (state.canary_weight, state.failed_checks, state.iterations);
    if phase_changed
        || counters
            != (
                previous.canary_weight,
                previous.failed_checks,
                previous.iterations,
            )
    {
        status.last_transition_time = Some(now.clone());
    }
    status.phase = state.phase;
    status.canary_weight = state.canary_weight;
    status.failed_checks = state.failed_checks;
    status.iterations = state.iterations;
    if let Some(phase) = state.phase {
        set_promoted(
            &mut status.reconcile.conditions,
            phase,
            canary.metadata.generation,
            now,
        );
    }
    status
}

/// Sets the `Promoted` condition for `phase`, keeping its transition time while its status holds.
fn set_promoted(
    conditions: &mut Vec<Condition>,
    phase: CanaryPhase,
    generation: Option<i64>,
    now: Time,
) {
    let (status, message) = promoted_condition(phase);
    let existing = conditions
        .iter()
        .position(|condition| condition.type_ == PROMOTED);
    let last_transition_time = existing
        .map(|index| &conditions[index])
        .filter(|condition| condition.status == status)
        .map_or(now, |condition| condition.last_transition_time.clone());
    let condition = Condition {
        type_: PROMOTED.to_owned(),
        status: status.to_owned(),
        reason: phase.as_str().to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time,
    };
    match existing {
        Some(index) => conditions[index] = condition,
        None => conditions.push(condition),
    }
}

/// The Ready message: phase, weight, failed checks against the threshold, and this tick's
/// failures with their reasons.
fn ready_message(canary: &Canary, status: &CanaryStatus, failures: &[String]) -> String {
    let threshold = crate::analysis::CheckPolicy::of(canary.spec.effective_analysis()).threshold;
    let phase = status.phase.map_or("", CanaryPhase::as_str);
    let mut message = format!(
        "{phase}: canary weight {}, failed checks {}/{threshold}",
        status.canary_weight, status.failed_checks
    );
    if !failures.is_empty() {
        message.push_str("; ");
        message.push_str(&failures.join("; "));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promoted_keeps_its_transition_time_while_its_status_holds() {
        let earlier = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).expect("time"));
        let later = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).expect("time"));
        let mut conditions = Vec::new();
        set_promoted(
            &mut conditions,
            CanaryPhase::Progressing,
            Some(1),
            earlier.clone(),
        );
        set_promoted(
            &mut conditions,
            CanaryPhase::WaitingPromotion,
            Some(1),
            later.clone(),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            (
                conditions[0].reason.as_str(),
                &conditions[0].last_transition_time
            ),
            ("WaitingPromotion", &earlier)
        );
        set_promoted(
            &mut conditions,
            CanaryPhase::Succeeded,
            Some(1),
            later.clone(),
        );
        assert_eq!(
            (
                conditions[0].status.as_str(),
                &conditions[0].last_transition_time
            ),
            ("True", &later)
        );
    }

    #[test]
    fn the_runtime_conditions_are_kept_beside_ours() {
        let time = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).expect("time"));
        let condition = |type_: &str, status: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "r".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: time.clone(),
        };
        let current = [condition("Ready", "True"), condition(PROMOTED, "Unknown")];
        let merged = with_conditions(&current, &[condition(PROMOTED, "True")]);
        assert_eq!(
            merged,
            [condition("Ready", "True"), condition(PROMOTED, "True")]
        );
    }

    #[test]
    fn entering_succeeded_promotes_the_applied_revision() {
        let canary = Canary::new("podinfo", Default::default());
        let previous = CanaryStatus {
            phase: Some(CanaryPhase::Finalising),
            last_applied_spec: Some("new".into()),
            last_promoted_spec: Some("old".into()),
            ..Default::default()
        };
        let revision = Revision {
            spec: "new".into(),
            configs: BTreeMap::new(),
        };
        let transition = Transition::hold(AnalysisState::at(CanaryPhase::Succeeded));
        let status = next_status(&canary, &previous, &transition, &revision);
        assert_eq!(status.last_promoted_spec.as_deref(), Some("new"));
        assert_eq!(status.reconcile.conditions[0].status, "True");
    }
}
