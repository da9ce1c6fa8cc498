//! `sluice install`: installs Sluice from `deploy/` the way a user installs it: the overlay is
//! built by Sluice's own kustomize engine (as `kustomize build`), applied in stages (CRDs and
//! Namespaces first, then the rest, server-side apply) by the applier the Kustomization
//! controller uses, and every controller Deployment is awaited until `Available`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::Api;
use sluice_gitops::kustomization::apply::Applier;
use sluice_gitops::kustomization::clients::Clients;

/// The namespace `deploy/base` installs the controllers in.
pub const NAMESPACE: &str = "sluice-system";

/// Arguments of `sluice install`.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// Path to a kubeconfig; default as kubectl.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The kustomize overlay to install (`deploy/overlays/multi-tenant`, `deploy/overlays/dev`
    /// or `deploy/base`).
    #[arg(long, default_value = "deploy/overlays/multi-tenant")]
    path: PathBuf,
    /// The folder no file outside of which the build may read (the checkout holding `deploy/`
    /// and `crds/`).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// How long to wait for the objects to apply and every Deployment to be Available, in
    /// seconds.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
}

/// Builds, applies and waits, printing each applied object and each Available Deployment.
///
/// Errors: the overlay does not build, the API server refuses an object, or a Deployment is not
/// Available within `--timeout`.
pub async fn run(args: InstallArgs) -> anyhow::Result<()> {
    sluice_runtime::logging::install_crypto_provider();
    let client = sluice_runtime::client::client(args.kubeconfig.as_deref()).await?;
    let timeout = Duration::from_secs(args.timeout);
    let deployments = install(&client, &args.path, &args.root, timeout).await?;
    for name in deployments {
        println!("deployment {NAMESPACE}/{name} Available");
    }
    Ok(())
}

/// Builds the overlay `path` (reading nothing outside `root`), applies it through `client`, and
/// waits at most `timeout` until every Deployment it holds is Available; returns their names.
///
/// Errors: as [`run`].
pub async fn install(
    client: &Client,
    path: &Path,
    root: &Path,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let path = path
        .canonicalize()
        .with_context(|| format!("overlay {}", path.display()))?;
    let root = root
        .canonicalize()
        .with_context(|| format!("root {}", root.display()))?;
    let objects = sluice_kustomize::build(&path, Some(&root))
        .with_context(|| format!("building {}", path.display()))?;
    let names = deployment_names(&objects);
    apply(client, objects, NAMESPACE, timeout)
        .await
        .with_context(|| format!("applying {}", path.display()))?;
    wait_available(client, &names, timeout).await?;
    Ok(names)
}

/// Applies built `objects` through `client` in stages (CRDs and Namespaces first) with
/// server-side apply, as the Kustomization controller does; namespaced objects without a
/// namespace go to `namespace`. Returns how many objects were applied.
///
/// Errors: the API server refused an object (the error names it), or `timeout` passed.
pub async fn apply(
    client: &Client,
    objects: Vec<serde_json::Value>,
    namespace: &str,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let count = objects.len();
    let clients = Clients::new(client.clone(), None);
    let applier = Applier {
        clients: &clients,
        client: client.clone(),
        default_namespace: namespace.into(),
        force: false,
        deadline: Instant::now() + timeout,
    };
    applier.apply_all(objects).await?;
    Ok(count)
}

/// The names of the Deployments among built `objects`.
fn deployment_names(objects: &[serde_json::Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|object| object["kind"] == "Deployment")
        .filter_map(|object| object["metadata"]["name"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Waits until each Deployment of `names` in [`NAMESPACE`] has condition `Available=True`.
///
/// Errors: one is not Available within `timeout` (the error names them), or the API failed.
async fn wait_available(
    client: &Client,
    names: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + timeout;
    loop {
        let mut waiting = Vec::new();
        for name in names {
            if !is_available(api.get_opt(name).await?.as_ref()) {
                waiting.push(name.as_str());
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("not Available after {timeout:?}: {}", waiting.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the Deployment has the condition `Available=True` (kube-controller-manager's).
fn is_available(deployment: Option<&Deployment>) -> bool {
    deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_overlay_names_every_controller_deployment() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let objects =
            sluice_kustomize::build(&root.join("deploy/overlays/dev"), Some(&root)).unwrap();
        let mut names = deployment_names(&objects);
        names.sort();
        assert_eq!(
            names,
            [
                "sluice-canary",
                "sluice-core",
                "sluice-image-automation",
                "sluice-image-reflector"
            ]
        );
    }
}
