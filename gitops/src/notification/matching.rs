//! Which Alerts an event goes to, as Flux's notification-controller matches them: the event's
//! object is one of the Alert's `eventSources` (kind, name or `*`, namespace defaulting to the
//! Alert's, `matchLabels` with `*`), its severity passes `eventSeverity` (`info` takes all,
//! `error` only errors), its message matches one `inclusionList` regex if any is given and no
//! `exclusionList` regex. Under `--no-cross-namespace-refs` a source in another namespace
//! matches nothing (the shared rule of `sluice_runtime::references`).

use regex::Regex;
use sluice_runtime::references::{AccessDenied, CrossNamespace, resolve_namespace};

use crate::api::alert::{AlertSpec, EventSeverity};
use crate::api::references::CrossNamespaceObjectReference;

use super::event::{Event, Severity};

/// Errors of [`alert_matches`]: a list entry is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?} in the Alert: {source}")]
pub struct PatternError {
    /// The pattern.
    pub pattern: String,
    /// Why the regex crate refused it.
    #[source]
    pub source: regex::Error,
}

/// The namespace of the event source `source` of an Alert in `alert_namespace` (its own when
/// absent), if `policy` lets the Alert select it.
///
/// Errors: [`AccessDenied`] when the lockdown is on and the source names another namespace.
pub fn source_namespace(
    source: &CrossNamespaceObjectReference,
    alert_namespace: &str,
    policy: CrossNamespace,
) -> Result<String, AccessDenied> {
    resolve_namespace(
        alert_namespace,
        &source.kind,
        &source.name,
        source.namespace.as_deref(),
        policy,
    )
}

/// Checks that every event source of the Alert with `spec` in `alert_namespace` is one `policy`
/// lets it select, as the Alert's reconciler reports it.
///
/// Errors: [`AccessDenied`] naming the first source in another namespace under the lockdown.
pub fn check_event_sources(
    spec: &AlertSpec,
    alert_namespace: &str,
    policy: CrossNamespace,
) -> Result<(), AccessDenied> {
    spec.event_sources
        .iter()
        .try_for_each(|source| source_namespace(source, alert_namespace, policy).map(drop))
}

/// Whether `event` goes to the Alert with `spec` in namespace `alert_namespace`; a source
/// `policy` refuses matches nothing.
///
/// Errors: an inclusion or exclusion pattern does not compile ([`validate_patterns`] finds
/// these up front, so the Alert's reconciler reports them).
pub fn alert_matches(
    spec: &AlertSpec,
    alert_namespace: &str,
    event: &Event,
    policy: CrossNamespace,
) -> Result<bool, PatternError> {
    let object = &event.involved_object;
    let source_matches = spec.event_sources.iter().any(|source| {
        let Ok(namespace) = source_namespace(source, alert_namespace, policy) else {
            return false;
        };
        let labels_match = source.match_labels.as_ref().is_none_or(|wanted| {
            wanted
                .iter()
                .all(|(key, value)| object.labels.get(key) == Some(value))
        });
        source.kind.eq_ignore_ascii_case(&object.kind)
            && namespace == object.namespace
            && (source.name == "*" || source.name == object.name)
            && (source.name != "*" || labels_match)
    });
    let severity_passes =
        spec.event_severity != Some(EventSeverity::Error) || event.severity == Severity::Error;
    if !source_matches || !severity_passes {
        return Ok(false);
    }
    let included =
        spec.inclusion_list.is_empty() || any_matches(&spec.inclusion_list, &event.message)?;
    Ok(included && !any_matches(&spec.exclusion_list, &event.message)?)
}

/// Compiles every inclusion and exclusion pattern of `spec`.
///
/// Errors: the first pattern that does not compile.
pub fn validate_patterns(spec: &AlertSpec) -> Result<(), PatternError> {
    for pattern in spec.inclusion_list.iter().chain(&spec.exclusion_list) {
        compile(pattern)?;
    }
    Ok(())
}

fn compile(pattern: &str) -> Result<Regex, PatternError> {
    Regex::new(pattern).map_err(|source| PatternError {
        pattern: pattern.to_owned(),
        source,
    })
}

fn any_matches(patterns: &[String], message: &str) -> Result<bool, PatternError> {
    for pattern in patterns {
        if compile(pattern)?.is_match(message) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::references::{CrossNamespaceObjectReference, LocalObjectReference};
    use crate::notification::event::InvolvedObject;

    fn source(
        kind: &str,
        name: &str,
        labels: Option<&[(&str, &str)]>,
    ) -> CrossNamespaceObjectReference {
        CrossNamespaceObjectReference {
            api_version: None,
            kind: kind.into(),
            name: name.into(),
            namespace: None,
            match_labels: labels.map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
        }
    }

    fn alert(sources: Vec<CrossNamespaceObjectReference>) -> AlertSpec {
        AlertSpec {
            provider_ref: LocalObjectReference {
                name: "gitea".into(),
            },
            event_sources: sources,
            ..Default::default()
        }
    }

    fn event(name: &str, severity: Severity, message: &str) -> Event {
        Event {
            involved_object: InvolvedObject {
                kind: "Kustomization".into(),
                namespace: "team-a".into(),
                name: name.into(),
                api_version: String::new(),
                labels: BTreeMap::from([("env".to_owned(), "dev".to_owned())]),
            },
            severity,
            timestamp: String::new(),
            message: message.into(),
            reason: "ReconciliationSucceeded".into(),
            metadata: BTreeMap::new(),
            reporting_controller: String::new(),
        }
    }

    #[test]
    fn sources_match_by_kind_name_namespace_and_labels() {
        let by_name = alert(vec![source("Kustomization", "apps", None)]);
        assert!(
            alert_matches(
                &by_name,
                "team-a",
                &event("apps", Severity::Info, "ok"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        assert!(
            !alert_matches(
                &by_name,
                "team-b",
                &event("apps", Severity::Info, "ok"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        assert!(
            !alert_matches(
                &by_name,
                "team-a",
                &event("infra", Severity::Info, "ok"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        let by_labels = alert(vec![source("Kustomization", "*", Some(&[("env", "dev")]))]);
        assert!(
            alert_matches(
                &by_labels,
                "team-a",
                &event("any", Severity::Info, "ok"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        let other_labels = alert(vec![source("Kustomization", "*", Some(&[("env", "prod")]))]);
        assert!(
            !alert_matches(
                &other_labels,
                "team-a",
                &event("any", Severity::Info, "ok"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
    }

    #[test]
    fn another_namespace_is_selected_only_without_the_lockdown() {
        let mut other = source("Kustomization", "apps", None);
        other.namespace = Some("team-a".into());
        let spying = alert(vec![other]);
        let event = event("apps", Severity::Info, "Applied revision: main@sha1:a");
        assert!(alert_matches(&spying, "team-b", &event, CrossNamespace::Allowed).unwrap());
        assert!(!alert_matches(&spying, "team-b", &event, CrossNamespace::Denied).unwrap());
        assert!(check_event_sources(&spying, "team-b", CrossNamespace::Allowed).is_ok());
        assert_eq!(
            check_event_sources(&spying, "team-b", CrossNamespace::Denied)
                .unwrap_err()
                .to_string(),
            "cannot access Kustomization/team-a/apps, cross-namespace references have been blocked"
        );
        let own = alert(vec![source("Kustomization", "*", None)]);
        assert!(check_event_sources(&own, "team-a", CrossNamespace::Denied).is_ok());
        assert!(alert_matches(&own, "team-a", &event, CrossNamespace::Denied).unwrap());
    }

    #[test]
    fn severity_and_message_lists_filter() {
        let mut spec = alert(vec![source("Kustomization", "*", None)]);
        spec.event_severity = Some(EventSeverity::Error);
        assert!(
            !alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "ok"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        assert!(
            alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Error, "failed"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        spec.event_severity = None;
        spec.inclusion_list = vec![".*succeeded.*".into()];
        spec.exclusion_list = vec!["^skip".into()];
        assert!(
            alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "upgrade succeeded"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        assert!(
            !alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "upgrade failed"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        assert!(
            !alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "skip: succeeded"),
                CrossNamespace::Allowed
            )
            .unwrap()
        );
        spec.exclusion_list = vec!["(".into()];
        assert!(validate_patterns(&spec).is_err());
    }
}
