//! The Provider reconciler: a Git-host Provider is Ready when its forge answers and accepts its
//! token (checked by reading the repository), so a bad token or an unreachable host shows on the
//! Provider, and through it on its Alerts, before any status is lost. A generic Provider is Ready
//! when its address is an http(s) URL.

use std::sync::Arc;
use std::time::Duration;

use crate::api::provider::Provider;
use crate::forge::ForgeError;
use sluice_runtime::{Context, Reconcilable, ReconcileError, Reconciled};

use super::credentials::{CredentialsError, forge_client, forge_kind};

/// How often a Provider's forge is checked again while it works.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(300);

impl Reconcilable for Provider {
    fn interval(&self) -> Duration {
        CHECK_INTERVAL
    }
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

/// Why a Provider is not Ready.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The spec or its Secret is unusable.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The generic webhook's address is not an http(s) URL.
    #[error("spec.address {0:?} is not an http(s) URL")]
    WebhookAddress(String),
}

impl ReconcileError for ProviderError {
    fn reason(&self) -> String {
        match self {
            ProviderError::Credentials(CredentialsError::Forge(ForgeError::Unauthorized {
                ..
            })) => "TokenRejected",
            ProviderError::Credentials(CredentialsError::Forge(ForgeError::Unreachable {
                ..
            })) => "ProviderUnreachable",
            ProviderError::Credentials(CredentialsError::Forge(_)) => "ProviderRefused",
            ProviderError::Credentials(
                CredentialsError::Secret { .. } | CredentialsError::NoToken(_),
            ) => "SecretInvalid",
            ProviderError::Credentials(_) | ProviderError::WebhookAddress(_) => "InvalidProvider",
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        matches!(
            self,
            ProviderError::WebhookAddress(_)
                | ProviderError::Credentials(
                    CredentialsError::NoAddress(_)
                        | CredentialsError::Timeout(_)
                        | CredentialsError::Forge(ForgeError::Repository(_))
                )
        )
    }
}

/// Checks `provider` and reports the result.
pub async fn reconcile(
    provider: Arc<Provider>,
    context: Arc<Context<()>>,
) -> Reconciled<ProviderError> {
    Reconciled::from_result(check(&provider, &context).await)
}

async fn check(provider: &Provider, context: &Context<()>) -> Result<String, ProviderError> {
    let Some(kind) = forge_kind(provider.spec.provider_type) else {
        let address = provider.spec.address.clone().unwrap_or_default();
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(ProviderError::WebhookAddress(address));
        }
        return Ok(format!("events are posted to {address}"));
    };
    let forge = forge_client(&context.client, provider, kind).await?;
    forge.check().await.map_err(CredentialsError::from)?;
    Ok(format!(
        "{kind:?} answers for {}",
        provider.spec.address.as_deref().unwrap_or_default()
    ))
}
