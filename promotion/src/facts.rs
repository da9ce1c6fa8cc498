//! Pure readings of what a Pipeline observes: a stage's Kustomization health at the source's
//! revision, whether a canary promoted the stage's image, and whether the commit statuses a stage
//! requires are green.

use std::collections::BTreeMap;

use sluice_gitops::api::kustomization::Kustomization;
use sluice_gitops::forge::{CommitState, CommitStatus};
use sluice_gitops::notification::event::{COMMIT_STATUS, REVISION};
use sluice_gitops::notification::{Event, InvolvedObject, Severity};
use sluice_runtime::conditions::READY;
use sluice_runtime::references::{AccessDenied, CrossNamespace, resolve_namespace};

use super::plan::Health;
use crate::api::PipelineSpec;

/// The health of `kustomization` at `revision` (the source artifact's, e.g. `main@sha1:<hash>`),
/// as the promotion needs it: `Healthy` when `Ready=True` with `lastAppliedRevision ==
/// revision` (Flux's "ready at the latest revision", which dependsOn also uses); `Failed` with the
/// Ready message when `Ready=False` after an attempt at `revision`; `Progressing` otherwise
/// (not yet applied, applying, waiting for health checks).
pub fn kustomization_health(kustomization: &Kustomization, revision: &str) -> Health {
    let Some(status) = &kustomization.status else {
        return Health::Progressing;
    };
    let ready = status
        .reconcile
        .conditions
        .iter()
        .find(|c| c.type_ == READY);
    match ready.map(|c| (c.status.as_str(), c.message.clone())) {
        Some(("True", _)) if status.last_applied_revision.as_deref() == Some(revision) => {
            Health::Healthy
        }
        Some(("False", message)) if status.last_attempted_revision.as_deref() == Some(revision) => {
            Health::Failed(message)
        }
        _ => Health::Progressing,
    }
}

/// The namespace of `spec`'s GitRepository, once every reference of a Pipeline in
/// `pipeline_namespace` passed the shared rule of `sluice_runtime::references`: `sourceRef`, and
/// the namespace each stage's `image.policy` marker (`NAMESPACE:NAME`) names. The stages'
/// `kustomizationRef`, `canaryRef` and the `providerRef` name no namespace (always the
/// Pipeline's own). A marker without `:` is left to [`crate::plan::image_location`] to report.
///
/// Errors: [`AccessDenied`] for the first reference to another namespace under the lockdown.
pub fn resolve_references(
    pipeline_namespace: &str,
    spec: &PipelineSpec,
    policy: CrossNamespace,
) -> Result<String, AccessDenied> {
    let source = spec
        .source_ref
        .resolve_namespace(pipeline_namespace, policy)?;
    for stage in &spec.stages {
        let marker = stage
            .image
            .policy
            .as_deref()
            .and_then(|m| m.split_once(':'));
        if let Some((namespace, name)) = marker {
            resolve_namespace(
                pipeline_namespace,
                "ImagePolicy",
                name,
                Some(namespace),
                policy,
            )?;
        }
    }
    Ok(source)
}

/// The commit SHA-1 of a Flux revision (`main@sha1:<hash>` or a bare hash).
pub fn revision_sha(revision: &str) -> &str {
    revision
        .rsplit_once("sha1:")
        .map_or(revision, |(_, sha)| sha)
}

/// Whether the commit statuses a stage requires are all `success`.
///
/// Each entry of `required` names a status context exactly or as a prefix ending at a `/`
/// (`ci/test` matches `ci/test/1a2b3c4d`, Flux's key with the Provider id); each must be present
/// among `promotion`, the statuses of the commit Sluice pushed (the pull request's head, what
/// gets merged), and every status it matches must be `success`: statuses of the base revision do
/// not count for it. With nothing required, the statuses of the source stage's Kustomization
/// (`kustomization/<name>/…`) among `base`, the statuses of the revision that stage applied,
/// must not be anything but `success` (none at all counts as green: no Alert posts them).
pub fn statuses_green(
    required: &[String],
    source_kustomization: &str,
    base: &[CommitStatus],
    promotion: &[CommitStatus],
) -> bool {
    let all_success =
        |found: &[&CommitStatus]| found.iter().all(|s| s.state == CommitState::Success);
    if required.is_empty() {
        return all_success(&matching(
            base,
            &format!("kustomization/{source_kustomization}"),
        ));
    }
    required.iter().all(|key| {
        let found = matching(promotion, key);
        !found.is_empty() && all_success(&found)
    })
}

/// The statuses of `statuses` whose context is `key` or starts with `key/`.
fn matching<'a>(statuses: &'a [CommitStatus], key: &str) -> Vec<&'a CommitStatus> {
    statuses
        .iter()
        .filter(|status| {
            status.context == key
                || status
                    .context
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .collect()
}

/// Whether a canary promoted `image` (`NAME:TAG[@DIGEST]`, or just a tag) to its primary, given
/// the container images of the `<target>-primary` Deployment's pod template: one of them is
/// `image`, or has its tag. A Canary still `Succeeded` from its previous run has a primary on the
/// old image, so this keeps the promotion from moving on too early.
pub fn primary_runs(image: &str, primary_images: &[String]) -> bool {
    primary_images
        .iter()
        .any(|running| running == image || tag_of(running) == tag_of(image))
}

/// The event that reports a stage's canary result on the commit of `revision`, for Alerts that
/// select Canaries: `Succeeded` is a success, `Failed` a failure, anything else (the analysis
/// of this revision still under way) pending. Through a Git-host Provider it becomes the
/// commit status `canary/<name>/<provider id>`, beside the Kustomization's.
pub fn canary_event(canary: InvolvedObject, phase: &str, revision: &str) -> Event {
    let (severity, reason) = match phase {
        "Succeeded" => (Severity::Info, "Succeeded"),
        "Failed" => (Severity::Error, "Failed"),
        _ => (Severity::Info, "Progressing"),
    };
    let mut metadata = BTreeMap::from([(REVISION.to_owned(), revision.to_owned())]);
    if reason == "Progressing" {
        metadata.insert(COMMIT_STATUS.to_owned(), "pending".to_owned());
    }
    Event {
        involved_object: canary,
        severity,
        timestamp: jiff::Timestamp::now().to_string(),
        message: format!("canary analysis: {phase}"),
        reason: reason.to_owned(),
        metadata,
        reporting_controller: "sluice-core".to_owned(),
    }
}

/// Whether two stage images are the same: equal, or equal tags when either is a bare tag (a
/// stage marked with `:tag` markers only names no image name).
pub fn same_image(one: &str, other: &str) -> bool {
    let bare = |image: &str| !image.contains([':', '/', '@']);
    one == other || ((bare(one) || bare(other)) && tag_of(one) == tag_of(other))
}

/// The tag of `NAME:TAG[@DIGEST]` (a registry port stays in the name), or the text itself when it
/// has no tag (a bare tag).
fn tag_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let path_start = without_digest.rfind('/').map_or(0, |slash| slash + 1);
    without_digest[path_start..]
        .rsplit_once(':')
        .map_or(without_digest, |(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use sluice_gitops::api::kustomization::{KustomizationSpec, KustomizationStatus};
    use sluice_runtime::ReconcileStatus;

    fn kustomization(ready: &str, applied: &str, attempted: &str) -> Kustomization {
        let mut object = Kustomization::new("apps-dev", KustomizationSpec::default());
        object.status = Some(KustomizationStatus {
            reconcile: ReconcileStatus {
                conditions: vec![Condition {
                    type_: READY.into(),
                    status: ready.into(),
                    reason: "Any".into(),
                    message: "Deployment podinfo not ready".into(),
                    observed_generation: None,
                    last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
                }],
                ..ReconcileStatus::default()
            },
            last_applied_revision: Some(applied.into()),
            last_attempted_revision: Some(attempted.into()),
            ..KustomizationStatus::default()
        });
        object
    }

    #[test]
    fn health_counts_only_the_revision_asked_for() {
        assert_eq!(
            kustomization_health(
                &kustomization("True", "main@sha1:b", "main@sha1:b"),
                "main@sha1:b"
            ),
            Health::Healthy
        );
        assert_eq!(
            kustomization_health(
                &kustomization("True", "main@sha1:a", "main@sha1:a"),
                "main@sha1:b"
            ),
            Health::Progressing,
            "ready, but on the previous revision"
        );
        assert_eq!(
            kustomization_health(
                &kustomization("False", "main@sha1:a", "main@sha1:b"),
                "main@sha1:b"
            ),
            Health::Failed("Deployment podinfo not ready".into())
        );
        assert_eq!(
            kustomization_health(
                &kustomization("Unknown", "main@sha1:a", "main@sha1:b"),
                "main@sha1:b"
            ),
            Health::Progressing
        );
        assert_eq!(
            kustomization_health(&Kustomization::new("x", KustomizationSpec::default()), "r"),
            Health::Progressing
        );
    }

    #[test]
    fn a_canary_result_becomes_its_own_commit_status() {
        let canary = InvolvedObject {
            kind: "Canary".into(),
            namespace: "apps".into(),
            name: "podinfo".into(),
            ..InvolvedObject::default()
        };
        let uid = "1a2b3c4d-0000";
        let status = |phase: &str| {
            let event = canary_event(canary.clone(), phase, "main@sha1:0123456789abcdef");
            sluice_gitops::notification::commit_status::commit_status(&event, uid)
                .expect("a commit")
        };
        let (sha, succeeded) = status("Succeeded");
        assert_eq!(sha, "0123456789abcdef");
        assert_eq!(succeeded.context, "canary/podinfo/1a2b3c4d");
        assert_eq!(succeeded.state, CommitState::Success);
        assert_eq!(status("Failed").1.state, CommitState::Failure);
        assert_eq!(status("Progressing").1.state, CommitState::Pending);
    }

    #[test]
    fn revisions_give_their_sha() {
        assert_eq!(revision_sha("main@sha1:abc123"), "abc123");
        assert_eq!(revision_sha("abc123"), "abc123");
    }

    fn status(context: &str, state: CommitState) -> CommitStatus {
        CommitStatus {
            context: context.into(),
            state,
            description: String::new(),
            target_url: None,
        }
    }

    #[test]
    fn required_statuses_match_by_context_or_prefix_on_the_pushed_commit() {
        let statuses = [
            status("ci/test/1a2b3c4d", CommitState::Success),
            status("ci/lint", CommitState::Pending),
        ];
        assert!(statuses_green(
            &["ci/test".into()],
            "apps-dev",
            &[],
            &statuses
        ));
        assert!(!statuses_green(
            &["ci/lint".into()],
            "apps-dev",
            &[],
            &statuses
        ));
        assert!(
            !statuses_green(&["ci/build".into()], "apps-dev", &[], &statuses),
            "absent"
        );
        assert!(
            !statuses_green(&["ci/te".into()], "apps-dev", &[], &statuses),
            "a prefix ends at a slash"
        );
    }

    #[test]
    fn required_statuses_green_on_the_base_only_do_not_count() {
        let base = [status("ci/test", CommitState::Success)];
        let pushed = [status("ci/test", CommitState::Failure)];
        assert!(!statuses_green(&["ci/test".into()], "apps-dev", &base, &[]));
        assert!(!statuses_green(
            &["ci/test".into()],
            "apps-dev",
            &base,
            &pushed
        ));
        assert!(statuses_green(&["ci/test".into()], "apps-dev", &[], &base));
    }

    #[test]
    fn by_default_the_source_stage_statuses_must_not_be_anything_but_success() {
        assert!(statuses_green(&[], "apps-dev", &[], &[]));
        assert!(statuses_green(
            &[],
            "apps-dev",
            &[status(
                "kustomization/apps-dev/1a2b3c4d",
                CommitState::Success
            )],
            &[]
        ));
        assert!(!statuses_green(
            &[],
            "apps-dev",
            &[status(
                "kustomization/apps-dev/1a2b3c4d",
                CommitState::Pending
            )],
            &[]
        ));
    }

    #[test]
    fn a_primary_runs_an_image_by_reference_or_tag() {
        let primary = ["registry:5000/podinfo:6.5.1".to_owned()];
        assert!(primary_runs("registry:5000/podinfo:6.5.1", &primary));
        assert!(primary_runs("6.5.1", &primary));
        assert!(!primary_runs("registry:5000/podinfo:6.5.0", &primary));
        assert!(!primary_runs("6.5.0", &primary));
    }

    #[test]
    fn a_bare_tag_is_the_same_image_as_a_reference_with_that_tag() {
        assert!(same_image("reg:5000/podinfo:6.5.1", "6.5.1"));
        assert!(same_image("6.5.1", "reg:5000/podinfo:6.5.1"));
        assert!(same_image("reg/podinfo:6.5.1", "reg/podinfo:6.5.1"));
        assert!(!same_image("reg/podinfo:6.5.1", "reg/other:6.5.1"));
        assert!(!same_image("reg/podinfo:6.5.1", "6.5.0"));
    }

    fn pipeline(source_namespace: Option<&str>, policy: &str) -> PipelineSpec {
        serde_json::from_value(serde_json::json!({
            "sourceRef": {"kind": "GitRepository", "name": "podinfo", "namespace": source_namespace},
            "providerRef": {"name": "gitea"},
            "stages": [{"name": "dev", "kustomizationRef": {"name": "podinfo-dev"},
                "image": {"policy": policy}}],
        }))
        .unwrap()
    }

    #[test]
    fn references_to_another_namespace_are_refused_only_under_the_lockdown() {
        let own = pipeline(None, "attacker:podinfo");
        for policy in [CrossNamespace::Allowed, CrossNamespace::Denied] {
            assert_eq!(
                resolve_references("attacker", &own, policy),
                Ok("attacker".to_owned())
            );
        }
        let borrowed = pipeline(Some("podinfo"), "attacker:podinfo");
        assert_eq!(
            resolve_references("attacker", &borrowed, CrossNamespace::Allowed),
            Ok("podinfo".to_owned())
        );
        assert_eq!(
            resolve_references("attacker", &borrowed, CrossNamespace::Denied)
                .unwrap_err()
                .to_string(),
            "cannot access GitRepository/podinfo/podinfo, cross-namespace references have been blocked"
        );
        let marker = pipeline(None, "podinfo:podinfo");
        assert!(resolve_references("attacker", &marker, CrossNamespace::Allowed).is_ok());
        let denied = resolve_references("attacker", &marker, CrossNamespace::Denied).unwrap_err();
        assert_eq!(
            (denied.kind.as_str(), denied.namespace.as_str()),
            ("ImagePolicy", "podinfo")
        );
    }
}
