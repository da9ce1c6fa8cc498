//! The kinds this controller reconciles, one file per kind.

pub mod canary;
pub mod metric_template;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use canary::{Canary, CanaryPhase, CanarySpec, CanaryStatus};
pub use metric_template::{MetricTemplate, MetricTemplateSpec, MetricTemplateStatus};

/// The CustomResourceDefinitions of every kind in this module (`Canary`, `MetricTemplate`), as
/// `sluice crds` writes them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Canary::crd(), MetricTemplate::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_cover_both_kinds_in_our_group() {
        let names: Vec<String> = crds()
            .into_iter()
            .map(|crd| crd.metadata.name.unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "canaries.canary.sluice.dev",
                "metrictemplates.canary.sluice.dev"
            ]
        );
    }

    #[test]
    fn intervals_carry_flaggers_pattern() {
        let crd = serde_json::to_value(Canary::crd()).expect("serializes");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let analysis = &schema["properties"]["spec"]["properties"]["analysis"]["properties"];
        assert_eq!(analysis["interval"]["pattern"], "^[0-9]+(m|s)");
        let metric = &analysis["metrics"]["items"]["properties"];
        assert_eq!(metric["interval"]["pattern"], "^[0-9]+(m|s)");
    }
}
