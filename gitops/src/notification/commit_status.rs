//! Which commit status an event makes, as Flux's notification-controller commit-status
//! providers decide (`internal/notifier`), with Sluice's two changes: an apply that starts posts
//! `pending` (Flux never does), and every failure is posted (Flux's filter drops some).

use crate::forge::{CommitState, CommitStatus};

use super::event::{Event, Severity};

/// The status to post for `event` through the Provider whose UID is `provider_uid`, with the
/// commit it belongs on; `None` when the event names no commit.
///
/// The context is Flux's key, `<kind>/<name>/<first UID segment of the Provider>`, lower-cased
/// (e.g. `kustomization/apps-dev/0c9c2e41`). The description is the reason split into words
/// and lower-cased, then the message, cut to 140 characters (GitHub's limit).
pub fn commit_status(event: &Event, provider_uid: &str) -> Option<(String, CommitStatus)> {
    let sha = event.commit()?.to_owned();
    let uid_segment = provider_uid.split('-').next().unwrap_or(provider_uid);
    let object = &event.involved_object;
    let context = format!("{}/{}/{}", object.kind, object.name, uid_segment).to_lowercase();
    let state = match (event.severity, event.is_pending()) {
        (Severity::Error, _) => CommitState::Failure,
        (Severity::Info, true) => CommitState::Pending,
        (Severity::Info, false) => CommitState::Success,
    };
    let mut description = split_camel_case(&event.reason);
    if !event.message.is_empty() {
        description = format!("{description}: {}", event.message);
    }
    let description = description.chars().take(140).collect();
    Some((
        sha,
        CommitStatus {
            context,
            state,
            description,
            target_url: None,
        },
    ))
}

/// `ReconciliationSucceeded` -> `reconciliation succeeded`.
fn split_camel_case(reason: &str) -> String {
    let mut words = String::new();
    for (index, character) in reason.chars().enumerate() {
        if character.is_uppercase() && index > 0 {
            words.push(' ');
        }
        words.extend(character.to_lowercase());
    }
    words
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::notification::event::{COMMIT_STATUS, InvolvedObject, REVISION};

    fn event(severity: Severity, reason: &str, pending: bool) -> Event {
        let mut metadata =
            BTreeMap::from([(REVISION.to_owned(), "main@sha1:0123456789abcdef".to_owned())]);
        if pending {
            metadata.insert(COMMIT_STATUS.to_owned(), "pending".to_owned());
        }
        Event {
            involved_object: InvolvedObject {
                kind: "Kustomization".into(),
                name: "Apps-Dev".into(),
                ..Default::default()
            },
            severity,
            timestamp: String::new(),
            message: "applied revision main@sha1:0123456".into(),
            reason: reason.into(),
            metadata,
            reporting_controller: "sluice-core".into(),
        }
    }

    #[test]
    fn context_is_fluxs_key_and_state_follows_severity_and_phase() {
        let uid = "0c9c2e41-1111-2222-3333-444455556666";
        let (sha, success) = commit_status(
            &event(Severity::Info, "ReconciliationSucceeded", false),
            uid,
        )
        .unwrap();
        assert_eq!(sha, "0123456789abcdef");
        assert_eq!(success.context, "kustomization/apps-dev/0c9c2e41");
        assert_eq!(success.state, CommitState::Success);
        assert!(
            success
                .description
                .starts_with("reconciliation succeeded: applied")
        );
        let (_, pending) = commit_status(&event(Severity::Info, "Progressing", true), uid).unwrap();
        assert_eq!(pending.state, CommitState::Pending);
        let (_, failure) =
            commit_status(&event(Severity::Error, "HealthCheckFailed", false), uid).unwrap();
        assert_eq!(failure.state, CommitState::Failure);
    }

    #[test]
    fn no_commit_no_status() {
        let mut without = event(Severity::Info, "ReconciliationSucceeded", false);
        without.metadata.clear();
        assert!(commit_status(&without, "uid").is_none());
    }
}
