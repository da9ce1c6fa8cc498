//! The kinds this controller reconciles, one file per kind.

pub mod image_update_automation;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use image_update_automation::ImageUpdateAutomation;

/// The CustomResourceDefinitions of every kind in this module, as `sluice crds` writes them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![ImageUpdateAutomation::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_is_fluxs_kind_in_sluices_group() {
        let crds = crds();
        let [crd] = crds.as_slice() else {
            panic!("one CRD expected")
        };
        assert_eq!(crd.spec.group, "image.sluice.dev");
        assert_eq!(crd.spec.names.plural, "imageupdateautomations");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["iua", "imgupd", "imgauto"].map(String::from)[..])
        );
        let annotations = crd.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations
                .get("kustomize.toolkit.fluxcd.io/substitute")
                .map(String::as_str),
            Some("disabled")
        );
    }
}
