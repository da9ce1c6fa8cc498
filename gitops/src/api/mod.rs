//! The GitOps kinds `sluice controller core` reconciles, one file per kind, with Flux's field names and
//! shapes under Sluice's API groups, so a Flux object moves over by changing its `apiVersion`:
//!
//! | Flux | Sluice |
//! |---|---|
//! | `source.toolkit.fluxcd.io/v1` GitRepository | `source.sluice.dev/v1` [`GitRepository`] |
//! | `kustomize.toolkit.fluxcd.io/v1` Kustomization | `kustomize.sluice.dev/v1` [`Kustomization`] |
//! | `notification.toolkit.fluxcd.io/v1beta3` Provider, Alert | `notification.sluice.dev/v1` [`Provider`], [`Alert`] |
//!
//! Durations stay Go duration strings in the types; `sluice_runtime::duration` reads them. The
//! `promotion.sluice.dev` Pipeline is `sluice_promotion`'s.

pub mod alert;
pub mod git_repository;
pub mod kustomization;
pub mod provider;
pub mod references;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use alert::Alert;
pub use git_repository::GitRepository;
pub use kustomization::Kustomization;
pub use provider::Provider;

/// The CustomResourceDefinitions of every kind in this module, as `sluice crds` writes them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        GitRepository::crd(),
        Kustomization::crd(),
        Provider::crd(),
        Alert::crd(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Reads every document of a file under `testdata/` (Flux-shaped objects written for these
    /// tests), with Flux's API groups mapped to Sluice's.
    fn fixture_documents(text: &str) -> Vec<serde_json::Value> {
        let text = text.replace(".toolkit.fluxcd.io/", ".sluice.dev/");
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| serde_json::Value::deserialize(doc).expect("yaml document"))
            .collect()
    }

    #[test]
    fn crds_use_sluice_groups_and_flux_short_names() {
        let names: Vec<(String, String, Vec<String>)> = crds()
            .into_iter()
            .map(|crd| {
                let short = crd.spec.names.short_names.clone().unwrap_or_default();
                (crd.spec.group, crd.spec.names.kind, short)
            })
            .collect();
        assert!(names.contains(&(
            "source.sluice.dev".into(),
            "GitRepository".into(),
            vec!["gitrepo".into()]
        )));
        assert!(names.contains(&(
            "kustomize.sluice.dev".into(),
            "Kustomization".into(),
            vec!["ks".into()]
        )));
        assert!(
            names
                .iter()
                .any(|(g, k, _)| g == "notification.sluice.dev" && k == "Provider")
        );
        assert!(
            names
                .iter()
                .any(|(g, k, _)| g == "notification.sluice.dev" && k == "Alert")
        );
    }

    #[test]
    fn every_crd_prints_ready_and_status_and_serves_status() {
        for crd in crds() {
            let version = &crd.spec.versions[0];
            assert_eq!(version.name, "v1");
            let columns: Vec<String> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.clone())
                .collect();
            for wanted in ["Age", "Ready", "Status"] {
                assert!(
                    columns.iter().any(|c| c == wanted),
                    "{} lacks {wanted}",
                    crd.spec.names.kind
                );
            }
            let status = version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref());
            assert!(
                status.is_some(),
                "{} has no status subresource",
                crd.spec.names.kind
            );
        }
    }

    #[test]
    fn flux_multi_tenancy_objects_parse_after_changing_api_version() {
        let docs = fixture_documents(include_str!("testdata/tenant-sync.yaml"));
        let repo: GitRepository = serde_json::from_value(docs[0].clone()).expect("GitRepository");
        let branch = repo
            .spec
            .reference
            .as_ref()
            .and_then(|r| r.branch.as_deref());
        assert_eq!(branch, Some("team-a"));
        assert_eq!(repo.spec.interval, "1m");
        let ks: Kustomization = serde_json::from_value(docs[1].clone()).expect("Kustomization");
        assert_eq!(ks.spec.source_ref.name, "team-a");
        assert_eq!(ks.spec.service_account_name.as_deref(), Some("team-a"));
        assert!(ks.spec.prune);
    }

    #[test]
    fn flux_kustomization_round_trips_without_inventing_fields() {
        let docs = fixture_documents(include_str!("testdata/infrastructure.yaml"));
        for doc in docs {
            let ks: Kustomization = serde_json::from_value(doc.clone()).expect("Kustomization");
            let back = serde_json::to_value(&ks).expect("serialize");
            assert_eq!(back["spec"], doc["spec"]);
        }
    }
}
