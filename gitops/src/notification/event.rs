//! The events Sluice's controllers emit about the objects they reconcile, in the JSON shape of
//! Flux's `event.toolkit.fluxcd.io` events (`involvedObject`, `severity`, `timestamp`,
//! `message`, `reason`, `metadata`, `reportingController`), so a generic webhook receiver
//! written for Flux reads them unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The metadata key of the revision an event is about (`main@sha1:<hash>`), as Flux's.
pub const REVISION: &str = "revision";
/// The metadata key that says an event opens an apply: its value `pending` makes a commit-status
/// provider post `pending` (Flux never does).
pub const COMMIT_STATUS: &str = "commit_status";

/// How bad an event is, as Flux's severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Progress and success.
    Info,
    /// Failure.
    Error,
}

/// The object an event is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvolvedObject {
    /// Its kind, e.g. `Kustomization`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its apiVersion, e.g. `kustomize.sluice.dev/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Its labels, for Alerts' `matchLabels` (not part of Flux's JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// What it is about.
    pub involved_object: InvolvedObject,
    /// `info` or `error`.
    pub severity: Severity,
    /// When, RFC 3339.
    pub timestamp: String,
    /// What happened, for people.
    pub message: String,
    /// Why, CamelCase (a condition reason such as `ReconciliationSucceeded`).
    pub reason: String,
    /// Extra facts: `revision`, `commit_status`, and what Alerts add with `eventMetadata`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The controller that emitted it, e.g. `sluice-core`.
    #[serde(default)]
    pub reporting_controller: String,
}

impl Event {
    /// The commit hash of the event's revision: the part after `sha1:` or `@` in
    /// `main@sha1:<hash>` (Flux's rule), or the revision itself when it is a bare hash.
    pub fn commit(&self) -> Option<&str> {
        let revision = self.metadata.get(REVISION)?;
        let hash = revision
            .rsplit_once(':')
            .map_or(revision.as_str(), |(_, hash)| hash);
        let hash = hash.rsplit_once('@').map_or(hash, |(_, hash)| hash);
        (hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit())).then_some(hash)
    }

    /// Whether the event opens an apply (`commit_status: pending`).
    pub fn is_pending(&self) -> bool {
        self.metadata
            .get(COMMIT_STATUS)
            .is_some_and(|value| value == "pending")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_revision(revision: &str) -> Event {
        Event {
            involved_object: InvolvedObject::default(),
            severity: Severity::Info,
            timestamp: String::new(),
            message: String::new(),
            reason: String::new(),
            metadata: BTreeMap::from([(REVISION.to_owned(), revision.to_owned())]),
            reporting_controller: String::new(),
        }
    }

    #[test]
    fn the_commit_is_read_from_flux_revisions() {
        let hash = "0c9c2e41c5a0b9f3d1e2a3b4c5d6e7f8a9b0c1d2";
        for revision in [
            format!("main@sha1:{hash}"),
            format!("sha1:{hash}"),
            hash.to_owned(),
            format!("v1.0@{hash}"),
        ] {
            assert_eq!(with_revision(&revision).commit(), Some(hash), "{revision}");
        }
        assert_eq!(with_revision("main").commit(), None);
    }

    #[test]
    fn serializes_in_fluxs_shape() {
        let json = serde_json::to_value(with_revision("main@sha1:abcdef1")).unwrap();
        assert!(json.get("involvedObject").is_some() && json.get("reportingController").is_some());
        assert_eq!(json["severity"], "info");
    }
}
