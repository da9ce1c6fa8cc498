//! Objects the unit tests of several modules build alike.

use crate::api::Canary;
use crate::api::canary::{CanaryAnalysis, CanaryService, CanarySpec, ObjectReference};

/// The Canary `test/podinfo` (uid `uid`) of the Deployment `podinfo`, its Services on port 9898;
/// a test sets the rest of the spec it needs.
pub fn podinfo_canary() -> Canary {
    let mut canary = Canary::new(
        "podinfo",
        CanarySpec {
            target_ref: ObjectReference {
                kind: "Deployment".into(),
                name: "podinfo".into(),
                ..Default::default()
            },
            service: CanaryService {
                port: 9898,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    canary.metadata.namespace = Some("test".into());
    canary.metadata.uid = Some("uid".into());
    canary
}

/// [`podinfo_canary`] with `analysis`.
pub fn analysed_canary(analysis: CanaryAnalysis) -> Canary {
    let mut canary = podinfo_canary();
    canary.spec.analysis = Some(analysis);
    canary
}

/// A progressive analysis: `step_weight` more percent per passing tick up to `max_weight`,
/// rolled back after `threshold` failed checks.
pub fn linear(step_weight: u32, max_weight: u32, threshold: i32) -> CanaryAnalysis {
    CanaryAnalysis {
        step_weight: Some(step_weight),
        max_weight: Some(max_weight),
        threshold: Some(threshold),
        ..Default::default()
    }
}
