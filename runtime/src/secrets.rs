//! Reading a Secret's data from the API server, the one place Sluice does so for the Secrets its
//! kinds name by `secretRef`: a GitRepository's Git credentials (read by the GitRepository
//! source, the ImageUpdateAutomation and the Pipeline) and an automation's signing key. What the
//! keys mean is the reader's business (for Git, `sluice_git::GitAuth`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// The decoded data of Secret `namespace/name`: its `stringData` (set by a client, not yet folded
/// in by the API server, as in a cached or test object) overlaid by its `data`, key -> bytes.
///
/// Errors: the API error of the read (404 when the Secret does not exist).
pub async fn read_secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, kube::Error> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .string_data
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.into_bytes()))
        .collect();
    data.extend(
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, value.0)),
    );
    Ok(data)
}
