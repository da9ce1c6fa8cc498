//! `sluice reconcile KIND NAME`: asks the controller to reconcile an object now, as
//! `flux reconcile` does, by setting the `reconcile.sluice.dev/requestedAt` annotation, then
//! (with `--wait`) waits until `status.lastHandledReconcileAt` shows it was handled.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::json;
use sluice_runtime::REQUESTED_AT_ANNOTATION;

use crate::crds::all_crds;

/// Arguments of `sluice reconcile`.
#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// The kind, by name, plural or short name, any case (e.g. `GitRepository`, `ks`).
    kind: String,
    /// The object's name.
    name: String,
    /// The object's namespace.
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// Path to a kubeconfig; default as kubectl.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Wait until the controller has handled the request, at most this many seconds.
    #[arg(long)]
    wait: Option<u64>,
}

/// Sets the annotation to the current time (RFC 3339) and optionally waits for it to be handled.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    sluice_runtime::logging::install_crypto_provider();
    let resource = api_resource(&args.kind)?;
    let client = sluice_runtime::client::client(args.kubeconfig.as_deref()).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client, &args.namespace, &resource);
    let requested = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: requested}}});
    api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| {
            format!(
                "annotating {} {}/{}",
                resource.kind, args.namespace, args.name
            )
        })?;
    println!(
        "requested reconcile of {} {}/{}",
        resource.kind, args.namespace, args.name
    );
    if let Some(seconds) = args.wait {
        wait_until_handled(&api, &args.name, &requested, Duration::from_secs(seconds)).await?;
        println!("reconciled");
    }
    Ok(())
}

async fn wait_until_handled(
    api: &Api<DynamicObject>,
    name: &str,
    requested: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let object = api.get(name).await?;
        if object.data["status"]["lastHandledReconcileAt"].as_str() == Some(requested) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the controller did not handle the request within {}s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The API resource of the Sluice kind named `kind` (kind, plural, singular or short name).
fn api_resource(kind: &str) -> anyhow::Result<ApiResource> {
    let wanted = kind.to_lowercase();
    let crd = all_crds()
        .into_iter()
        .find(|crd| {
            let names = &crd.spec.names;
            names.kind.to_lowercase() == wanted
                || names.plural == wanted
                || names.singular.as_deref() == Some(wanted.as_str())
                || names
                    .short_names
                    .iter()
                    .flatten()
                    .any(|short| *short == wanted)
        })
        .with_context(|| format!("no Sluice kind is named {kind}"))?;
    let version = &crd.spec.versions[0].name;
    Ok(ApiResource {
        group: crd.spec.group.clone(),
        version: version.clone(),
        api_version: format!("{}/{version}", crd.spec.group),
        kind: crd.spec.names.kind.clone(),
        plural: crd.spec.names.plural.clone(),
    })
}
