//! `revertOnDeletion` (Flagger's finalizer, docs/canary.md §2.10): a Canary with it carries the
//! finalizer [`FINALIZER`]; once deleted, its ticks (phase Terminating) scale the target back to
//! the primary's replicas, wait until the target is ready (the primary keeps serving meanwhile),
//! point the apex Service at the target and the router's objects at the apex Service, leave both
//! unowned so that they outlive the Canary, set phase Terminated, and then remove the finalizer.
//! The primary, the `-primary`/`-canary` Services and the config copies are then garbage
//! collected through their owner references. Turning `revertOnDeletion` off removes the finalizer.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sluice_runtime::finalizer::set_named_finalizer;

use crate::actions::{ActionError, Executor};
use crate::api::{Canary, CanaryPhase};
use crate::caches::cached;
use crate::readiness::{DEFAULT_READY_THRESHOLD, readiness};

/// The finalizer of a Canary with `revertOnDeletion` (Flagger's is `finalizer.flagger.app`).
pub const FINALIZER: &str = "finalizer.canary.sluice.dev";

/// What a tick does about deletion, before anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionStep {
    /// Not deleted, finalizer as it should be: the analysis tick runs.
    None,
    /// Not deleted, `revertOnDeletion` on, no finalizer yet: add it, then run the analysis tick.
    AddFinalizer,
    /// `revertOnDeletion` turned off (then run the analysis tick), or the revert is done
    /// (phase Terminated): remove the finalizer.
    RemoveFinalizer,
    /// Deleted with the finalizer and not reverted yet: revert.
    Revert,
    /// Deleted without the finalizer: nothing to do, the object is going away.
    Gone,
}

/// The deletion step of `canary`, whose last decided phase is `phase`.
pub fn deletion_step(canary: &Canary, phase: Option<CanaryPhase>) -> DeletionStep {
    let has_finalizer = canary.finalizers().iter().any(|name| name == FINALIZER);
    let wanted = canary.spec.revert_on_deletion == Some(true);
    match (canary.metadata.deletion_timestamp.is_some(), has_finalizer) {
        (true, false) => DeletionStep::Gone,
        (true, true) if phase == Some(CanaryPhase::Terminated) => DeletionStep::RemoveFinalizer,
        (true, true) => DeletionStep::Revert,
        (false, false) if wanted => DeletionStep::AddFinalizer,
        (false, true) if !wanted => DeletionStep::RemoveFinalizer,
        (false, _) => DeletionStep::None,
    }
}

/// Adds or removes [`FINALIZER`] on `canary`, through the runtime's finalizer helper (a merge
/// patch of the whole list with the cached `resourceVersion` as a precondition: a concurrent
/// change fails with a conflict and the next tick retries).
///
/// Errors: the API server refused the patch.
pub async fn set_finalizer(
    client: &Client,
    canary: &Canary,
    present: bool,
) -> Result<(), ActionError> {
    set_named_finalizer(client, canary, FINALIZER, present, true)
        .await
        .map_err(|source| ActionError::Write {
            what: format!("Canary {} finalizer", canary.name_any()),
            source,
        })
}

impl Executor<'_> {
    /// One revert tick: scales the target to the primary's replicas; once the cache shows it
    /// ready, points the apex Service at the target and reverts the router. Returns true when
    /// everything is reverted.
    ///
    /// Errors: a refused write.
    pub async fn revert(&self) -> Result<bool, ActionError> {
        self.scale_target(self.scaled_up_replicas()).await?;
        if !self.target_ready() {
            return Ok(false);
        }
        let names = self.names;
        let patch = json!({
            "metadata": {"ownerReferences": null},
            "spec": {"selector": {&names.label: names.label_value}},
        });
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(
            self.context.client.clone(),
            &names.namespace,
        )
        .patch(
            &names.service,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|source| ActionError::Write {
            what: format!("Service {}/{} revert", names.namespace, names.service),
            source,
        })?;
        self.router.revert(names).await?;
        Ok(true)
    }

    /// True when the cached target shows the controller's last write, rolled out and available.
    fn target_ready(&self) -> bool {
        let shared = &self.context.state;
        let (namespace, name) = (&self.names.namespace, &self.names.target);
        cached(&shared.caches.deployments, namespace, name).is_some_and(|target| {
            !shared.is_stale(namespace, name, target.metadata.generation)
                && readiness(&target, DEFAULT_READY_THRESHOLD) == crate::analysis::Readiness::Ready
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(revert: Option<bool>, finalizer: bool, deleted: bool) -> Canary {
        let mut canary = Canary::new("podinfo", Default::default());
        canary.spec.revert_on_deletion = revert;
        if finalizer {
            canary.metadata.finalizers = Some(vec!["other".into(), FINALIZER.into()]);
        }
        if deleted {
            canary.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ));
        }
        canary
    }

    #[test]
    fn the_finalizer_follows_revert_on_deletion() {
        let steps = [
            (canary(Some(true), false, false), DeletionStep::AddFinalizer),
            (canary(Some(true), true, false), DeletionStep::None),
            (
                canary(Some(false), true, false),
                DeletionStep::RemoveFinalizer,
            ),
            (canary(None, true, false), DeletionStep::RemoveFinalizer),
            (canary(None, false, false), DeletionStep::None),
        ];
        for (canary, step) in steps {
            assert_eq!(
                deletion_step(&canary, Some(CanaryPhase::Succeeded)),
                step,
                "{:?}",
                canary.spec.revert_on_deletion
            );
        }
    }

    #[test]
    fn a_deleted_canary_reverts_then_lets_go() {
        let deleted = canary(Some(true), true, true);
        assert_eq!(
            deletion_step(&deleted, Some(CanaryPhase::Progressing)),
            DeletionStep::Revert
        );
        assert_eq!(
            deletion_step(&deleted, Some(CanaryPhase::Terminating)),
            DeletionStep::Revert
        );
        assert_eq!(
            deletion_step(&deleted, Some(CanaryPhase::Terminated)),
            DeletionStep::RemoveFinalizer
        );
        assert_eq!(
            deletion_step(&canary(Some(true), false, true), None),
            DeletionStep::Gone
        );
    }
}
