//! A Provider's forge client, built from its spec and the `token` of its Secret (Flux's Provider
//! secret format), in the Provider's own namespace only.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};

use crate::api::provider::{Provider, ProviderType};
use crate::forge::{Forge, ForgeError, ForgeKind};
use sluice_runtime::duration::parse_go_duration;

/// How long one forge request may take when the Provider sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Errors building a Provider's client.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `spec.address` is missing.
    #[error("spec.address is required for a {0:?} provider")]
    NoAddress(ProviderType),
    /// `spec.timeout` is not a Go duration.
    #[error("spec.timeout: {0}")]
    Timeout(String),
    /// The Secret could not be read.
    #[error("reading Secret {name}: {source}")]
    Secret {
        /// The Secret's name.
        name: String,
        /// The API error (404 when it does not exist).
        #[source]
        source: kube::Error,
    },
    /// The Secret has no `token`, or no secretRef was given.
    #[error("no `token` in the provider's Secret {0:?}")]
    NoToken(Option<String>),
    /// The address names no repository.
    #[error(transparent)]
    Forge(#[from] ForgeError),
}

/// The forge a Git-host Provider names, or `None` for the generic webhook.
pub fn forge_kind(provider_type: ProviderType) -> Option<ForgeKind> {
    match provider_type {
        ProviderType::Github => Some(ForgeKind::GitHub),
        ProviderType::Gitlab => Some(ForgeKind::GitLab),
        ProviderType::Gitea => Some(ForgeKind::Gitea),
        ProviderType::Generic => None,
    }
}

/// The request timeout of `provider`.
///
/// Errors: `spec.timeout` is not a Go duration.
pub fn timeout(provider: &Provider) -> Result<Duration, CredentialsError> {
    provider
        .spec
        .timeout
        .as_deref()
        .map_or(Ok(DEFAULT_TIMEOUT), |text| {
            parse_go_duration(text).map_err(|error| CredentialsError::Timeout(error.to_string()))
        })
}

/// The forge client of a Git-host `provider` (`kind`), reading its token with `client`.
///
/// Errors: as [`CredentialsError`].
pub async fn forge_client(
    client: &Client,
    provider: &Provider,
    kind: ForgeKind,
) -> Result<Forge, CredentialsError> {
    let address = provider
        .spec
        .address
        .as_deref()
        .ok_or(CredentialsError::NoAddress(provider.spec.provider_type))?;
    let secret_name = provider
        .spec
        .secret_ref
        .as_ref()
        .map(|reference| reference.name.clone());
    let name = secret_name.clone().ok_or(CredentialsError::NoToken(None))?;
    let secrets: Api<Secret> =
        Api::namespaced(client.clone(), &provider.namespace().unwrap_or_default());
    let secret = secrets
        .get(&name)
        .await
        .map_err(|source| CredentialsError::Secret {
            name: name.clone(),
            source,
        })?;
    let token = secret
        .data
        .as_ref()
        .and_then(|data| data.get("token"))
        .map(|bytes| String::from_utf8_lossy(&bytes.0).trim().to_owned())
        .filter(|token| !token.is_empty())
        .ok_or(CredentialsError::NoToken(secret_name))?;
    Ok(Forge::new(kind, address, &token, timeout(provider)?)?)
}
