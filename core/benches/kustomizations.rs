//! Reconciles N Kustomizations (default 1,000; `SLUICE_BENCH_KUSTOMIZATIONS` to change), each a
//! small app (Deployment with 0 replicas, ServiceAccount, headless Service, ConfigMap) built from one
//! GitRepository with `wait: true`, on the real local control plane, with the core controller
//! in this process (`--concurrent 20`, as Flux's benchmark runs kustomize-controller). Prints the
//! time until all are Ready and the process' peak memory, as ratios against Flux's published
//! figure for the same case (flux-benchmark, Flux v2.9.0: 1,000 in 4 min 13 s at 223 MiB).

use std::time::{Duration, Instant};

use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use sluice_core::api::{GitRepository, Kustomization};
use sluice_core::controller_flags::CoreFlags;
use sluice_core::runtime::conditions;
use sluice_core::runtime::options::LogFormat;
use sluice_core::runtime::{Runtime, RuntimeOptions};
use sluice_tests::LocalCluster;
use sluice_tests::core_controller::{WorkingCopy, create_namespace, install_core_crds};
use sluice_tests::git_server::GitServers;

const FLUX_SECONDS: f64 = 253.0;
const FLUX_MIB: f64 = 223.0;
const NAMESPACE: &str = "bench";

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
    let cluster = LocalCluster::start().await?;
    let client = cluster.client().await?;
    install_core_crds(&client).await?;
    create_namespace(&client, NAMESPACE).await?;
    let servers = GitServers::start("git", "git")?;
    let copy = WorkingCopy::new(&servers.create_repo("apps.git")?)?;
    copy.commit(&[("app/app.yaml", APP)], &[], "app")?;

    let port = sluice_tests::ports::free_port()?;
    let storage = tempfile::tempdir()?;
    let options = RuntimeOptions {
        kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
        concurrent: 20,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: format!("127.0.0.1:{port}").parse()?,
        log_format: LogFormat::Text,
        log_level: "warn".into(),
    };
    let flags = CoreFlags {
        storage_path: storage.path().to_path_buf(),
        storage_adv_addr: Some(format!("127.0.0.1:{port}")),
        default_service_account: None,
        no_cross_namespace_refs: false,
    };
    let (baseline, _) = memory_mib();
    let controller = Runtime::new("core", cluster.client().await?, options);
    let task = tokio::spawn(sluice_core::controller::run_with_flags(
        controller.clone(),
        flags,
    ));

    let repositories: Api<GitRepository> = Api::namespaced(client.clone(), NAMESPACE);
    let repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": "apps", "namespace": NAMESPACE},
        "spec": {"url": servers.git_url("apps.git"), "interval": "60m", "ref": {"branch": "main"}},
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
    let started = Instant::now();
    for index in 0..count {
        let object: Kustomization = serde_json::from_value(json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
            "metadata": {"name": format!("app-{index}"), "namespace": NAMESPACE},
            "spec": {"interval": "60m", "prune": true, "wait": true, "timeout": "5m", "path": "./app",
                "namePrefix": format!("app-{index}-"), "targetNamespace": NAMESPACE,
                "sourceRef": {"kind": "GitRepository", "name": "apps"}},
        }))?;
        kustomizations
            .create(&PostParams::default(), &object)
            .await?;
    }
    let created = started.elapsed();
    let mut ready = 0;
    while ready < count {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let list = kustomizations.list(&ListParams::default()).await?;
        ready = list
            .items
            .iter()
            .filter(|k| {
                k.status
                    .as_ref()
                    .is_some_and(|s| conditions::is_ready_at(&s.conditions, k.metadata.generation))
            })
            .count();
        if started.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("only {ready}/{count} Ready after 30 minutes");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (peak, rss) = memory_mib();
    controller.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;

    let scaled_flux = FLUX_SECONDS * count as f64 / 1000.0;
    println!(
        "kustomizations: {count} Ready in {elapsed:.1} s (created in {:.1} s): {:.1}/s",
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
    Ok(())
}
