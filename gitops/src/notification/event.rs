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

    mod fuzz {
        use proptest::prelude::*;
        use serde_json::Value;

        use super::super::Event;

        /// Case count: 64 by default (the whole suite stays fast on two cores),
        /// `PROPTEST_CASES` for longer runs.
        fn config() -> ProptestConfig {
            match std::env::var_os("PROPTEST_CASES") {
                Some(_) => ProptestConfig::default(),
                None => ProptestConfig::with_cases(64),
            }
        }

        /// Keys of the event's shape, so that objects often match it partly.
        const KEYS: &[&str] = &[
            "involvedObject",
            "severity",
            "timestamp",
            "message",
            "reason",
            "metadata",
            "reportingController",
            "kind",
            "namespace",
            "name",
            "apiVersion",
            "labels",
            "revision",
            "commit_status",
        ];

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
                1 => any::<String>(),
            ]
        }

        /// Any JSON value, leaning to the event's keys and values.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                prop_oneof![
                    Just("info".to_owned()),
                    Just("error".to_owned()),
                    Just("main@sha1:0c9c2e41c5a0b9f3d1e2".to_owned()),
                    Just("pending".to_owned()),
                    any::<String>(),
                ]
                .prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map(key(), inner, 0..8)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        /// An object with every field of an event, each any JSON value.
        fn event_shaped() -> impl Strategy<Value = Value> {
            proptest::collection::vec(json(), 7).prop_map(|values| {
                Value::Object(
                    KEYS.iter()
                        .take(7)
                        .map(|key| key.to_string())
                        .zip(values)
                        .collect(),
                )
            })
        }

        /// A well-formed event whose texts, metadata and revision are arbitrary.
        fn valid_event() -> impl Strategy<Value = Value> {
            let text = || any::<String>();
            (
                (text(), text(), text()),
                proptest::sample::select(&["info", "error"][..]),
                (text(), text(), text()),
                proptest::collection::btree_map(key(), text(), 0..4),
                text(),
            )
                .prop_map(
                    |(
                        (kind, namespace, name),
                        severity,
                        (timestamp, message, reason),
                        mut metadata,
                        revision,
                    )| {
                        metadata.insert("revision".into(), revision);
                        serde_json::json!({
                            "involvedObject": {"kind": kind, "namespace": namespace, "name": name},
                            "severity": severity, "timestamp": timestamp, "message": message,
                            "reason": reason, "metadata": metadata,
                        })
                    },
                )
        }

        /// Parses `bytes` as `POST /events` does; what parses reads and round-trips.
        fn parse(bytes: &[u8]) {
            if let Ok(event) = serde_json::from_slice::<Event>(bytes) {
                let _commit = event.commit();
                let _pending = event.is_pending();
                let written = serde_json::to_vec(&event).expect("an event serializes");
                let reread: Event = serde_json::from_slice(&written).expect("and reads back");
                assert_eq!(reread, event);
            }
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn arbitrary_json_never_panics(
                value in prop_oneof![json(), event_shaped(), valid_event()]
            ) {
                parse(&serde_json::to_vec(&value).expect("a JSON value serializes"));
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                parse(&bytes);
            }
        }
    }

    #[test]
    fn serializes_in_fluxs_shape() {
        let json = serde_json::to_value(with_revision("main@sha1:abcdef1")).unwrap();
        assert!(json.get("involvedObject").is_some() && json.get("reportingController").is_some());
        assert_eq!(json["severity"], "info");
    }
}
