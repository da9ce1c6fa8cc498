//! `sluice demo supervise` (hidden): the detached process that starts and holds everything the
//! demo runs (every harness process dies with its parent, so something must outlive the front
//! command), writes the progress log and the summary, then waits for SIGTERM (`sluice demo
//! down`) or SIGINT and stops it all. On an error it writes a `failed` line and keeps what runs,
//! for inspection.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use kube::Client;
use sluice_servers::process::ManagedProcess;

use super::controllers::{self, Target};
use super::flow::{FIRST_TAG, Flow, NEW_TAG};
use super::progress::{Kind, Progress};
use super::servers::Servers;
use super::state::StateDir;
use super::summary::{Row, Summary};
use super::tenant;
use super::watch::Objects;

/// The overlay the demo installs.
pub const OVERLAY: &str = "deploy/overlays/dev";
/// The series the exporter serves as the canary's request success rate (percent).
const SUCCESS_RATE: &str =
    r#"podinfo_request_success_rate{namespace="podinfo",target="podinfo-qa"}"#;

/// What runs; fields drop in order: the controllers stop before the servers.
struct Running {
    _controllers: Vec<ManagedProcess>,
    _servers: Servers,
}

/// Runs the demo in `state`, then waits for a signal and stops everything.
///
/// Errors: the state folder cannot be written, or signals cannot be awaited.
pub async fn run(state: StateDir) -> anyhow::Result<()> {
    std::fs::write(state.pid_file(), std::process::id().to_string())
        .context("writing the pid file")?;
    sluice_runtime::logging::install_crypto_provider();
    let progress = Progress::create(&state.progress_log())?;
    let mut running = None;
    match demo(&state, &progress, &mut running).await {
        Ok(()) => progress.write(Kind::Ready, "the promotion ran; everything is left running"),
        Err(error) => progress.write(Kind::Failed, format!("{error:#}")),
    }
    wait_for_signal().await?;
    drop(running);
    let _ = std::fs::remove_file(state.pid_file());
    Ok(())
}

async fn demo(
    state: &StateDir,
    progress: &Progress,
    running: &mut Option<Running>,
) -> anyhow::Result<()> {
    let servers = Servers::start(progress).await?;
    std::fs::copy(servers.cluster.kubeconfig(), state.kubeconfig())
        .context("copying the kubeconfig")?;
    let client = servers.cluster.client().await?;
    let controllers = start_sluice(state, progress, &servers, &client).await;
    let running = running.insert(Running {
        _controllers: Vec::new(),
        _servers: servers,
    });
    running._controllers = controllers?;
    let servers = &running._servers;
    let seed = start_tenant(state, progress, servers, &client).await?;
    let objects = Objects {
        client,
        namespace: tenant::NAMESPACE.into(),
    };
    let flow = Flow::new(progress, servers, objects)?;
    progress
        .step("waiting for the tenant's first sync", async {
            Ok(((), flow.first_sync(&seed).await?))
        })
        .await?;
    let rows = promote(progress, &flow, &state.tmp()).await?;
    write_summary(state, servers, rows)
}

/// Pushes the new tag and follows it through every stage; returns the summary rows.
async fn promote(progress: &Progress, flow: &Flow<'_>, work: &Path) -> anyhow::Result<Vec<Row>> {
    let scan = format!("pushing podinfo:{NEW_TAG} and scanning for it");
    let mut rows = vec![
        row_step(progress, &scan, flow.scan(work), |row| {
            format!("ImagePolicy podinfo picked {}", row.image)
        })
        .await?,
    ];
    let sha = progress
        .step("waiting for image automation's commit", async {
            let (row, sha) = flow.commit().await?;
            let says = format!("commit {} on main", row.revision);
            rows.push(row);
            Ok((sha, says))
        })
        .await?;
    rows.push(
        row_step(
            progress,
            "waiting for dev to apply it and its commit status",
            flow.dev(&sha),
            |row| format!("dev runs {} (commit status success)", row.image),
        )
        .await?,
    );
    rows.push(
        row_step(
            progress,
            "waiting for the Pipeline's pull request to qa and its merge",
            flow.qa_pull_request(),
            |row| format!("pull request {} merged", row.revision),
        )
        .await?,
    );
    rows.push(
        row_step(
            progress,
            "waiting for qa to apply it and its canary to promote it",
            flow.qa_canary(),
            |row| format!("qa runs {} on its primary", row.image),
        )
        .await?,
    );
    rows.push(
        row_step(
            progress,
            "waiting for the Pipeline's pull request to prod",
            flow.prod_pull_request(),
            |row| format!("pull request {} open for a person to merge", row.revision),
        )
        .await?,
    );
    Ok(rows)
}

/// A progress step whose outcome is a summary row; `says` words its `done` line.
async fn row_step(
    progress: &Progress,
    name: &str,
    step: impl Future<Output = anyhow::Result<Row>>,
    says: impl Fn(&Row) -> String,
) -> anyhow::Result<Row> {
    progress
        .step(name, async {
            let row = step.await?;
            let text = says(&row);
            Ok((row, text))
        })
        .await
}

/// Installs `deploy/overlays/dev` and starts the four controllers as local processes.
async fn start_sluice(
    state: &StateDir,
    progress: &Progress,
    servers: &Servers,
    client: &Client,
) -> anyhow::Result<Vec<ManagedProcess>> {
    let root = sluice_servers::binaries::workspace_root();
    progress
        .step(
            &format!("installing Sluice from {OVERLAY} (CRDs, RBAC, multi-tenant lockdown)"),
            async {
                let names = crate::install::install(
                    client,
                    &root.join(OVERLAY),
                    &root,
                    Duration::from_secs(180),
                )
                .await?;
                Ok((
                    (),
                    format!(
                        "{} controller Deployments Available on kwok nodes",
                        names.len()
                    ),
                ))
            },
        )
        .await?;
    progress
        .step(
            "starting the controllers as local processes, each with its ServiceAccount's token",
            async {
                let processes = start_controllers(state, servers, client, &root).await?;
                Ok((
                    processes,
                    "core, image-reflector, image-automation and canary ready".to_owned(),
                ))
            },
        )
        .await
}

async fn start_controllers(
    state: &StateDir,
    servers: &Servers,
    client: &Client,
    root: &Path,
) -> anyhow::Result<Vec<ManagedProcess>> {
    let dir = state.controllers();
    std::fs::create_dir_all(&dir).context("creating the controllers folder")?;
    let ca = cluster_ca(servers.cluster.kubeconfig())?;
    let target = Target {
        client,
        server: servers.cluster.server(),
        ca: &ca,
        dir: &dir,
    };
    let objects = sluice_kustomize::build(&root.join(OVERLAY), Some(root))?;
    let mut processes = Vec::new();
    for deployment in objects
        .iter()
        .filter(|object| object["kind"] == "Deployment")
    {
        let (process, _address) = controllers::start(&target, deployment).await?;
        processes.push(process);
    }
    Ok(processes)
}

/// The CA certificate file named by the first cluster of the kubeconfig at `path`.
fn cluster_ca(path: &Path) -> anyhow::Result<std::path::PathBuf> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
    kubeconfig
        .clusters
        .first()
        .and_then(|cluster| cluster.cluster.as_ref())
        .and_then(|cluster| cluster.certificate_authority.clone())
        .map(Into::into)
        .context("the kubeconfig names no CA file")
}

/// Seeds the tenant repository, pushes the first image and applies the platform objects;
/// returns the seed commit.
async fn start_tenant(
    state: &StateDir,
    progress: &Progress,
    servers: &Servers,
    client: &Client,
) -> anyhow::Result<String> {
    let vars = tenant::variables(
        &servers.gitea,
        &servers.registry.address,
        &servers.prometheus.url,
    );
    let work = state.tenant_repository();
    let seed = progress
        .step(&format!("pushing {} to Gitea", tenant::EXAMPLE), async {
            servers.push_image(&state.tmp(), FIRST_TAG)?;
            let seed = tenant::seed_repository(&servers.gitea, &work, &vars).await?;
            let url = servers.gitea.repo_url(tenant::REPOSITORY);
            Ok((
                seed.clone(),
                format!(
                    "{url} at {}, podinfo:{FIRST_TAG} in the registry",
                    super::flow::short(&seed)
                ),
            ))
        })
        .await?;
    servers.exporter.set(SUCCESS_RATE, 99.9);
    progress
        .step("applying the tenant's platform objects (namespace, sources, stages, images, alerts, canary, pipeline)", async {
            sluice_servers::crds::install(client, &sluice_servers::canary_support::http_route_crd()?).await?;
            let count = tenant::apply_platform(client, &vars).await?;
            Ok(((), format!("{count} objects applied in namespace {}", tenant::NAMESPACE)))
        })
        .await?;
    Ok(seed)
}

fn write_summary(state: &StateDir, servers: &Servers, rows: Vec<Row>) -> anyhow::Result<()> {
    let summary = Summary {
        kubeconfig: state.kubeconfig().display().to_string(),
        gitea_url: servers.gitea.url.clone(),
        repository_url: servers.gitea.repo_url(tenant::REPOSITORY),
        tag: NEW_TAG.into(),
        rows,
    };
    std::fs::write(state.summary(), serde_json::to_string_pretty(&summary)?)
        .context("writing summary.json")
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
