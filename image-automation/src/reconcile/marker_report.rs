//! The marker report of `status.markers`: every setter marker found by the last run, the ones
//! applied (scalar rewritten or already current) and the ones ignored with the reason — what
//! Flux leaves silent (reference section 5, "Silent markers").

use crate::api::image_update_automation::{MarkerReport, MarkerStatus};
use crate::setters::rewrite::MarkerOutcome;
use crate::setters::tree::TreeUpdate;

/// The report of `update`, files in path order (`/`-separated, relative to `update.path`),
/// markers in source order.
pub fn marker_report(update: &TreeUpdate) -> MarkerReport {
    let mut report = MarkerReport::default();
    for (path, rewrite) in &update.files {
        let file = path.to_string_lossy().replace('\\', "/");
        for marker in &rewrite.markers {
            let status = MarkerStatus {
                file: file.clone(),
                line: u32::try_from(marker.line).unwrap_or(u32::MAX),
                setter: marker.setter.clone(),
                reason: None,
            };
            report.found.push(status.clone());
            match &marker.outcome {
                MarkerOutcome::Ignored(reason) => report.ignored.push(MarkerStatus {
                    reason: Some(reason.to_string()),
                    ..status
                }),
                MarkerOutcome::Changed { .. } | MarkerOutcome::UpToDate => {
                    report.applied.push(status)
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::setters::policy::Policies;
    use crate::setters::rewrite::apply_setters;

    #[test]
    fn applied_and_ignored_markers_are_reported_with_their_reason() {
        let policies = Policies {
            automation_namespace: Some("ns".into()),
            latest: [
                ("ns:app".parse().unwrap(), Some("app:2".parse().unwrap())),
                ("ns:pending".parse().unwrap(), None),
            ]
            .into(),
            images_entries: Default::default(),
        };
        let text = "a: app:1 # {\"$imagepolicy\": \"ns:app\"}\n\
                    b: x:1 # {\"$imagepolicy\": \"ns:pending\"}\n\
                    c: y:1 # {\"$imagepolicy\": \"other:app\"}\n";
        let update = TreeUpdate {
            files: [(
                PathBuf::from("apps/a.yaml"),
                apply_setters(text, &policies).unwrap(),
            )]
            .into(),
            problems: Default::default(),
        };
        let report = marker_report(&update);
        assert_eq!(report.found.len(), 3);
        assert_eq!(report.applied.len(), 1);
        assert_eq!(report.applied[0].setter, "ns:app");
        assert_eq!(report.applied[0].file, "apps/a.yaml");
        assert_eq!(report.applied[0].line, 1);
        let reasons: Vec<&str> = report
            .ignored
            .iter()
            .filter_map(|marker| marker.reason.as_deref())
            .collect();
        assert_eq!(reasons.len(), 2);
        assert!(reasons[0].contains("no latest image"), "{reasons:?}");
        assert!(reasons[1].contains("namespace 'other'"), "{reasons:?}");
    }
}
