//! Which Alerts an event goes to, as Flux's notification-controller matches them: the event's
//! object is one of the Alert's `eventSources` (kind, name or `*`, namespace defaulting to the
//! Alert's, `matchLabels` with `*`), its severity passes `eventSeverity` (`info` takes all,
//! `error` only errors), its message matches one `inclusionList` regex if any is given and no
//! `exclusionList` regex.

use regex::Regex;

use crate::api::alert::{AlertSpec, EventSeverity};

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

/// Whether `event` goes to the Alert with `spec` in namespace `alert_namespace`.
///
/// Errors: an inclusion or exclusion pattern does not compile ([`validate_patterns`] finds
/// these up front, so the Alert's reconciler reports them).
pub fn alert_matches(
    spec: &AlertSpec,
    alert_namespace: &str,
    event: &Event,
) -> Result<bool, PatternError> {
    let object = &event.involved_object;
    let source_matches = spec.event_sources.iter().any(|source| {
        let namespace = source.namespace.as_deref().unwrap_or(alert_namespace);
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
        assert!(alert_matches(&by_name, "team-a", &event("apps", Severity::Info, "ok")).unwrap());
        assert!(!alert_matches(&by_name, "team-b", &event("apps", Severity::Info, "ok")).unwrap());
        assert!(!alert_matches(&by_name, "team-a", &event("infra", Severity::Info, "ok")).unwrap());
        let by_labels = alert(vec![source("Kustomization", "*", Some(&[("env", "dev")]))]);
        assert!(alert_matches(&by_labels, "team-a", &event("any", Severity::Info, "ok")).unwrap());
        let other_labels = alert(vec![source("Kustomization", "*", Some(&[("env", "prod")]))]);
        assert!(
            !alert_matches(&other_labels, "team-a", &event("any", Severity::Info, "ok")).unwrap()
        );
    }

    #[test]
    fn severity_and_message_lists_filter() {
        let mut spec = alert(vec![source("Kustomization", "*", None)]);
        spec.event_severity = Some(EventSeverity::Error);
        assert!(!alert_matches(&spec, "team-a", &event("apps", Severity::Info, "ok")).unwrap());
        assert!(alert_matches(&spec, "team-a", &event("apps", Severity::Error, "failed")).unwrap());
        spec.event_severity = None;
        spec.inclusion_list = vec![".*succeeded.*".into()];
        spec.exclusion_list = vec!["^skip".into()];
        assert!(
            alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "upgrade succeeded")
            )
            .unwrap()
        );
        assert!(
            !alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "upgrade failed")
            )
            .unwrap()
        );
        assert!(
            !alert_matches(
                &spec,
                "team-a",
                &event("apps", Severity::Info, "skip: succeeded")
            )
            .unwrap()
        );
        spec.exclusion_list = vec!["(".into()];
        assert!(validate_patterns(&spec).is_err());
    }
}
