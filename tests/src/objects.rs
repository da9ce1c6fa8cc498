//! Creating namespaced objects from JSON, as the suites write their fixtures.

use kube::Client;
use kube::api::{Api, PostParams};

/// Creates the object `value` (JSON of kind `K`) in `namespace` and returns it as created.
///
/// Errors: `value` is not a `K`, or the API server refused it.
pub async fn create_from_json<K>(
    client: &Client,
    namespace: &str,
    value: serde_json::Value,
) -> anyhow::Result<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let object: K = serde_json::from_value(value)?;
    Ok(Api::<K>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await?)
}
