//! Building the Kubernetes client a controller or a user command talks through.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Errors of [`client`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file could not be read or parsed.
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file named by `--kubeconfig`.
        path: String,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster config was found.
    #[error("no Kubernetes config found (pass --kubeconfig or run in a cluster): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// The client could not be built from the config (e.g. bad TLS material).
    #[error("building the Kubernetes client: {0}")]
    Build(#[from] kube::Error),
}

/// A client for the cluster of the kubeconfig at `kubeconfig` (its current context), or, when
/// `None`, of `$KUBECONFIG`, `~/.kube/config` or the in-cluster service account, in kube's order.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ClientError> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig_error = |source| ClientError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let file = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(kubeconfig_error)?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}
