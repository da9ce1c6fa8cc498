//! The kinds this controller reconciles, one file per kind, with Flux's field names and shapes
//! under the `image.sluice.dev/v1` group.

pub mod image_policy;
pub mod image_repository;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use image_policy::{ImagePolicy, ImagePolicySpec, ImagePolicyStatus};
pub use image_repository::{ImageRepository, ImageRepositorySpec, ImageRepositoryStatus};

/// The CustomResourceDefinitions of every kind in this module, as `sluice crds` writes them:
/// ImageRepository, then ImagePolicy.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![ImageRepository::crd(), ImagePolicy::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_are_namespaced_in_the_image_group() {
        let crds = crds();
        let names: Vec<_> = crds
            .iter()
            .map(|crd| crd.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "imagerepositories.image.sluice.dev",
                "imagepolicies.image.sluice.dev"
            ]
        );
        assert!(crds.iter().all(|crd| crd.spec.scope == "Namespaced"));
    }

    #[test]
    fn the_policy_schema_offers_the_three_policies() {
        let crd = serde_json::to_value(ImagePolicy::crd()).unwrap();
        let policy = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["policy"];
        for key in ["semver", "alphabetical", "numerical"] {
            assert!(
                policy["properties"].get(key).is_some(),
                "{key} missing in {policy}"
            );
        }
    }
}
