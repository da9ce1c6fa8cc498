//! The Alert reconciler: an Alert is Ready when its patterns compile, its event sources are ones
//! the lockdown lets it select, and its Provider is Ready; otherwise it says why, naming the
//! Provider's own reason (a bad token, an unreachable host).

use std::sync::Arc;
use std::time::Duration;

use kube::{Api, ResourceExt};

use crate::api::alert::Alert;
use crate::api::provider::Provider;
use sluice_runtime::conditions::{self, READY};
use sluice_runtime::references::AccessDenied;
use sluice_runtime::{Context, Reconcilable, ReconcileError, Reconciled};

use super::matching::{PatternError, check_event_sources, validate_patterns};

/// How often an Alert looks at its Provider again.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(60);

impl Reconcilable for Alert {
    fn interval(&self) -> Duration {
        CHECK_INTERVAL
    }
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

/// Why an Alert is not Ready.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// An inclusion or exclusion pattern does not compile.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// An event source names another namespace under `--no-cross-namespace-refs`.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// The Provider does not exist or could not be read.
    #[error("Provider {name}: {message}")]
    ProviderMissing {
        /// The Provider's name.
        name: String,
        /// Why.
        message: String,
    },
    /// The Provider is not Ready.
    #[error("Provider {name} is not ready ({reason}): {message}")]
    ProviderNotReady {
        /// The Provider's name.
        name: String,
        /// The Provider's Ready reason.
        reason: String,
        /// The Provider's Ready message.
        message: String,
    },
}

impl ReconcileError for AlertError {
    fn reason(&self) -> String {
        match self {
            AlertError::Pattern(_) => "InvalidPattern",
            AlertError::AccessDenied(_) => "AccessDenied",
            AlertError::ProviderMissing { .. } | AlertError::ProviderNotReady { .. } => {
                "ProviderNotReady"
            }
        }
        .to_owned()
    }

    fn is_stalled(&self) -> bool {
        matches!(self, AlertError::Pattern(_) | AlertError::AccessDenied(_))
    }
}

/// Checks `alert` and its Provider.
pub async fn reconcile(alert: Arc<Alert>, context: Arc<Context<()>>) -> Reconciled<AlertError> {
    Reconciled::from_result(check(&alert, &context).await)
}

async fn check(alert: &Alert, context: &Context<()>) -> Result<String, AlertError> {
    validate_patterns(&alert.spec)?;
    let namespace = alert.namespace().unwrap_or_default();
    check_event_sources(&alert.spec, &namespace, context.cross_namespace())?;
    let name = alert.spec.provider_ref.name.clone();
    let providers: Api<Provider> = Api::namespaced(context.client.clone(), &namespace);
    let missing = |message: String| AlertError::ProviderMissing {
        name: name.clone(),
        message,
    };
    let provider = providers
        .get_opt(&name)
        .await
        .map_err(|error| missing(error.to_string()))?
        .ok_or_else(|| missing("not found".into()))?;
    let status_conditions = provider
        .status
        .map(|status| status.reconcile.conditions)
        .unwrap_or_default();
    match conditions::find(&status_conditions, READY) {
        Some(ready) if ready.status == "True" => Ok(format!("events go to Provider {name}")),
        Some(ready) => Err(AlertError::ProviderNotReady {
            name,
            reason: ready.reason.clone(),
            message: ready.message.clone(),
        }),
        None => Err(AlertError::ProviderNotReady {
            name,
            reason: "Unknown".into(),
            message: "not checked yet".into(),
        }),
    }
}
