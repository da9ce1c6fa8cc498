//! Reconciles N Kustomizations (default 1,000; `SLUICE_BENCH_KUSTOMIZATIONS` to change), each a
//! small app (Deployment with 0 replicas, ServiceAccount, headless Service, ConfigMap) built from one
//! GitRepository with `wait: true`, on the real local control plane (kube-controller-manager's
//! client rate raised, see [`KCM_QPS`]), with the core controller
//! in this process (`--concurrent 20`, as Flux's benchmark runs kustomize-controller). Prints the
//! time until all are Ready and the process' peak memory, as ratios against Flux's published
//! figure for the same case (flux-benchmark, Flux v2.9.0: 1,000 in 4 min 13 s at 223 MiB).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_runtime::Runtime;
use sluice_runtime::conditions;
use sluice_tests::LocalCluster;
use sluice_tests::cluster::ClusterOptions;
use sluice_tests::core_controller::{
    WorkingCopy, create_namespace, in_process_flags, install_core_crds,
};
use sluice_tests::git_server::GitServers;

const FLUX_SECONDS: f64 = 253.0;
const FLUX_MIB: f64 = 223.0;
const NAMESPACE: &str = "bench";
/// kube-controller-manager's `--kube-api-qps` (burst twice that); `SLUICE_BENCH_KCM_QPS` to
/// change. Its default, 20, lets its deployment controller take in about 5 Deployments per
/// second, which then bounds the benchmark whatever the GitOps controller does.
const KCM_QPS: u32 = 200;
/// How many creations of Kustomizations are in flight at once, so that creating 1,000 one after
/// the other on a loaded machine does not bound the measured time.
const CREATORS: usize = 8;

const APP: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  greeting: hello\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  clusterIP: None\n  selector:\n    app: app\n  ports:\n  - port: 80\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: app\n  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      serviceAccountName: app\n      containers:\n      - name: app\n        image: ghcr.io/stefanprodan/podinfo:6.5.0\n";

/// Peak and current resident memory of this process, in MiB (`VmHWM`, `VmRSS`).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let count: usize = std::env::var("SLUICE_BENCH_KUSTOMIZATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let kcm_qps: u32 = std::env::var("SLUICE_BENCH_KCM_QPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(KCM_QPS);
    let options = ClusterOptions {
        controller_manager_qps: Some((kcm_qps, kcm_qps * 2)),
    };
    let cluster = LocalCluster::start_with(options).await?;
    let client = cluster.client().await?;
    install_core_crds(&client).await?;
    create_namespace(&client, NAMESPACE).await?;
    let servers = GitServers::start("git", "git")?;
    let copy = WorkingCopy::new(&servers.create_repo("apps.git")?)?;
    copy.commit(&[("app/app.yaml", APP)], &[], "app")?;

    let port = sluice_tests::ports::free_port()?;
    let storage = tempfile::tempdir()?;
    let (options, flags) = in_process_flags(&cluster, port, storage.path(), 20, "warn");
    let (baseline, _) = memory_mib();
    let controller = Runtime::new("core", cluster.client().await?, options);
    let task = tokio::spawn(sluice_gitops::controller::run(
        controller.clone(),
        flags,
        None,
    ));

    let repositories: Api<GitRepository> = Api::namespaced(client.clone(), NAMESPACE);
    let repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": "apps", "namespace": NAMESPACE},
        "spec": {"url": servers.file_url("apps.git"), "interval": "60m", "ref": {"branch": "main"}},
    }))?;
    repositories
        .create(&PostParams::default(), &repository)
        .await?;
    loop {
        let ready = repositories
            .get("apps")
            .await?
            .status
            .is_some_and(|s| s.artifact.is_some());
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), NAMESPACE);
    let requests_before = api_requests(&client).await?;
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|index| {
            let api = kustomizations.clone();
            async move {
                let object = app_kustomization(index)?;
                api.create(&PostParams::default(), &object).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CREATORS)
        .try_collect::<Vec<()>>()
        .await?;
    let created = started.elapsed();
    let mut ready = 0;
    while ready < count {
        tokio::time::sleep(Duration::from_secs(1)).await;
        ready = count_ready(&kustomizations).await?;
        if started.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("only {ready}/{count} Ready after 30 minutes");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (peak, rss) = memory_mib();
    let requests = api_requests(&client).await? - requests_before;
    let reconciles = reconcile_counts(&controller.metrics.render());
    let lag = controller_manager_lag(&client).await?;
    controller.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;

    let scaled_flux = FLUX_SECONDS * count as f64 / 1000.0;
    println!(
        "kustomizations: {count} Ready in {elapsed:.1} s (created in {:.1} s): {:.1}/s (kube-controller-manager --kube-api-qps {kcm_qps})",
        created.as_secs_f64(),
        count as f64 / elapsed
    );
    println!(
        "throughput vs Flux (1,000 in 253 s, scaled to {count}): {:.2}x (goal 4x)",
        scaled_flux / elapsed
    );
    println!(
        "peak memory of the process: {peak:.0} MiB (rss now {rss:.0} MiB, {baseline:.0} MiB before the controller started)"
    );
    println!(
        "memory vs Flux (223 MiB): {:.2}x (goal <= 0.25x)",
        peak / FLUX_MIB
    );
    println!(
        "where the time went: {:.1} API requests per Kustomization (all clients); Kustomization reconciles: {reconciles}; kube-controller-manager status lag per Deployment: {lag}",
        requests / count as f64
    );
    Ok(())
}

/// The Kustomization `app-<index>`: the app under its own name prefix, waited for.
fn app_kustomization(index: usize) -> anyhow::Result<Kustomization> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
        "metadata": {"name": format!("app-{index}"), "namespace": NAMESPACE},
        "spec": {"interval": "60m", "prune": true, "wait": true, "timeout": "5m", "path": "./app",
            "namePrefix": format!("app-{index}-"), "targetNamespace": NAMESPACE,
            "sourceRef": {"kind": "GitRepository", "name": "apps"}},
    }))?)
}

/// How many Kustomizations are Ready at their generation, listed 100 at a time (so that the
/// benchmark's own reads weigh little in the process' memory).
async fn count_ready(kustomizations: &Api<Kustomization>) -> anyhow::Result<usize> {
    let mut ready = 0;
    let mut params = ListParams::default().limit(100);
    loop {
        let page = kustomizations.list(&params).await?;
        ready += page
            .items
            .iter()
            .filter(|k| {
                k.status.as_ref().is_some_and(|s| {
                    conditions::is_ready_at(&s.reconcile.conditions, k.metadata.generation)
                })
            })
            .count();
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(ready),
        }
    }
}

/// The API server's `apiserver_request_total`, summed over every verb and resource.
async fn api_requests(client: &kube::Client) -> anyhow::Result<f64> {
    let request = kube::core::Request::new("").get("metrics", &Default::default())?;
    let text = client.request_text(request).await?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// `count` and mean seconds of the controller's Kustomization reconciles, by result.
fn reconcile_counts(metrics: &str) -> String {
    let value = |name: &str, result: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(name)
                    && l.contains("kind=\"Kustomization\"")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    ["success", "retry"]
        .iter()
        .filter_map(|result| {
            let count = value("sluice_reconcile_duration_seconds_count", result)?;
            let sum = value("sluice_reconcile_duration_seconds_sum", result)?;
            Some(format!(
                "{count} {result} (mean {:.2} s)",
                sum / count.max(1.0)
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Median and maximum seconds between a Deployment's creation and kube-controller-manager's
/// last status write to it (managedFields times, 1 s resolution).
async fn controller_manager_lag(client: &kube::Client) -> anyhow::Result<String> {
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), NAMESPACE);
    let mut lags: Vec<i64> = deployments
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter_map(|d| {
            let created = d.metadata.creation_timestamp.as_ref()?.0;
            let written = d
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter(|f| f.subresource.as_deref() == Some("status"))
                .filter_map(|f| f.time.as_ref().map(|t| t.0))
                .max()?;
            Some(written.as_second() - created.as_second())
        })
        .collect();
    lags.sort_unstable();
    Ok(match (lags.get(lags.len() / 2), lags.last()) {
        (Some(median), Some(max)) => format!("median {median} s, max {max} s"),
        _ => "none observed".into(),
    })
}
