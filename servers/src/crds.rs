//! Installing CustomResourceDefinitions into a test cluster and waiting until they serve.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

use crate::binaries::workspace_root;
use crate::{HarnessError, wait_until};

/// Applies `crd` (server-side) and waits up to 60 s until it is Established.
///
/// Errors: the API refused it, or it was not Established in time.
pub async fn install(client: &Client, crd: &CustomResourceDefinition) -> Result<(), HarnessError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.name_any();
    let refused = |error: kube::Error| HarnessError::Start {
        what: format!("CRD {name}"),
        why: error.to_string(),
    };
    api.patch(
        &name,
        &PatchParams::apply("sluice-tests").force(),
        &Patch::Apply(crd),
    )
    .await
    .map_err(refused)?;
    wait_until(
        &format!("CRD {name} Established"),
        Duration::from_secs(60),
        || async {
            let crd = api.get(&name).await.map_err(refused)?;
            let conditions = crd
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default();
            Ok(conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        },
    )
    .await
}

/// The CRDs committed in `crds/`, as `sluice crds` wrote them.
///
/// Errors: a file cannot be read or parsed.
pub fn sluice_crds() -> Result<Vec<CustomResourceDefinition>, HarnessError> {
    let folder = workspace_root().join("crds");
    let io = |source| HarnessError::Io {
        what: "reading crds/".into(),
        source,
    };
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|ext| ext == "yaml")
            && !path.ends_with("kustomization.yaml")
        {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let crd = serde_yaml_ng::from_str(&text).map_err(|error| HarnessError::Start {
                what: path.display().to_string(),
                why: error.to_string(),
            })?;
            crds.push(crd);
        }
    }
    Ok(crds)
}

/// Installs every CRD of `crds/` and waits until each is Established.
///
/// Errors: as [`install`] and [`sluice_crds`].
pub async fn install_sluice_crds(client: &Client) -> Result<(), HarnessError> {
    for crd in sluice_crds()? {
        install(client, &crd).await?;
    }
    Ok(())
}
