//! One tenant attacks the shared core controller while it holds many others (default 100;
//! `SLUICE_BENCH_TENANTS` to change), on the real local control plane with the controller in
//! this process: every tenant has its own namespace, GitRepository and Kustomization (a small
//! app); then the attacker commits, each in a repository and a Kustomization of its own, a YAML
//! alias bomb (407 bytes, eight levels of ten aliases), a 100,000-deep nesting, and a 200 MiB
//! file.
//!
//! Prints the process' peak memory (`VmHWM`; goal: under 256 MiB) and the other tenants'
//! reconcile latency (a `reconcile.sluice.dev/requestedAt` request until it is handled) before
//! and during the attack, as a ratio (goal: unchanged within noise), and how each attack ended.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_runtime::{REQUESTED_AT_ANNOTATION, Runtime, conditions};
use sluice_tests::LocalCluster;
use sluice_tests::core_controller::{
    WorkingCopy, create_namespace, in_process_flags, install_core_crds,
};
use sluice_tests::git_server::GitServers;

const APP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  greeting: hello\n";
const ATTACKER: &str = "attacker";
/// How many tenants' reconciles are timed per round, one after the other's request.
const SAMPLES: usize = 20;
/// How many creations are in flight at once.
const CREATORS: usize = 8;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench())
}

/// Peak resident memory of this process, in MiB (`VmHWM`).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The alias bomb: eight levels, each a list of ten aliases of the level below (10^8 nodes once
/// expanded, 407 bytes written).
fn alias_bomb() -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a0: &a0 \"lol\"\n",
    );
    for level in 1..=8 {
        let below = vec![format!("*a{}", level - 1); 10].join(",");
        text.push_str(&format!("  a{level}: &a{level} [{below}]\n"));
    }
    text
}

async fn bench() -> anyhow::Result<()> {
    let tenants: usize = std::env::var("SLUICE_BENCH_TENANTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100);
    let cluster = LocalCluster::start().await?;
    let client = cluster.client().await?;
    install_core_crds(&client).await?;
    let servers = GitServers::start("git", "git")?;
    let apps = WorkingCopy::new(&servers.create_repo("apps.git")?)?;
    apps.commit(&[("app/app.yaml", APP)], &[], "app")?;

    let port = sluice_tests::ports::free_port()?;
    let storage = tempfile::tempdir()?;
    let (options, flags) = in_process_flags(&cluster, port, storage.path(), 4, "error");
    let controller = Runtime::new("core", cluster.client().await?, options);
    let task = tokio::spawn(sluice_gitops::controller::run(
        controller.clone(),
        flags,
        None,
    ));

    let started = Instant::now();
    futures::stream::iter(0..tenants)
        .map(|index| {
            let client = client.clone();
            let url = servers.file_url("apps.git");
            async move { create_tenant(&client, &format!("tenant-{index}"), &url, "./app").await }
        })
        .buffer_unordered(CREATORS)
        .try_collect::<Vec<()>>()
        .await?;
    for index in 0..tenants {
        wait_ready(
            &client,
            &format!("tenant-{index}"),
            Duration::from_secs(900),
        )
        .await?;
    }
    println!(
        "tenant_attack: {tenants} tenants Ready in {:.1} s; peak memory {:.0} MiB",
        started.elapsed().as_secs_f64(),
        peak_mib()
    );
    let before = latencies(&client, tenants).await?;

    create_namespace(&client, ATTACKER).await?;
    // One repository per attack, so that each reaches the build on its own (a repository past
    // the artifact limits gets no artifact at all).
    let deep = format!("{}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let attacks = [
        ("bomb", alias_bomb()),
        ("deep", deep),
        ("huge", String::new()),
    ];
    let mut copies = Vec::new();
    for (name, text) in &attacks {
        let copy = WorkingCopy::new(&servers.create_repo(&format!("{name}.git"))?)?;
        if *name == "huge" {
            write_huge_manifest(&copy.path().join("huge/huge.yaml"), 200 << 20)?;
        }
        let files: Vec<(String, &str)> = match *name {
            "huge" => Vec::new(),
            _ => vec![(format!("{name}/{name}.yaml"), text.as_str())],
        };
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
        copy.commit(&files, &[], name)?;
        copies.push(copy);
    }
    let attack_started = Instant::now();
    for (name, _) in &attacks {
        let url = servers.file_url(&format!("{name}.git"));
        create_repository(&client, ATTACKER, name, &url).await?;
        create_kustomization(&client, ATTACKER, name, name, &format!("./{name}")).await?;
    }
    let during = latencies(&client, tenants).await?;
    let outcomes = attack_outcomes(&client, attack_started).await?;
    controller.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;

    let (before_median, during_median) = (median(&before), median(&during));
    println!(
        "other tenants' reconcile latency: median {before_median:.2} s before, {during_median:.2} s during the attack: {:.2}x (goal: unchanged within noise)",
        during_median / before_median.max(0.001)
    );
    println!(
        "peak memory of the process (controller and bench): {:.0} MiB (goal < 256 MiB)",
        peak_mib()
    );
    for (path, outcome) in outcomes {
        println!("attack {path}: {outcome}");
    }
    Ok(())
}

/// Creates namespace `namespace` with GitRepository `name` at `url`, every hour.
async fn create_repository(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    url: &str,
) -> anyhow::Result<()> {
    let repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "60m", "ref": {"branch": "main"}},
    }))?;
    Api::<GitRepository>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &repository)
        .await?;
    Ok(())
}

/// Creates Kustomization `name` of `path` in GitRepository `source`, every hour.
async fn create_kustomization(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    source: &str,
    path: &str,
) -> anyhow::Result<()> {
    let kustomization: Kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "60m", "prune": true, "path": path, "targetNamespace": namespace,
            "timeout": "1m", "sourceRef": {"kind": "GitRepository", "name": source}},
    }))?;
    Api::<Kustomization>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &kustomization)
        .await?;
    Ok(())
}

/// One tenant: its namespace, its GitRepository `app` of `url` and its Kustomization `app`.
async fn create_tenant(
    client: &kube::Client,
    namespace: &str,
    url: &str,
    path: &str,
) -> anyhow::Result<()> {
    create_namespace(client, namespace).await?;
    create_repository(client, namespace, "app", url).await?;
    create_kustomization(client, namespace, "app", "app", path).await
}

/// Waits until the Kustomization `app` of `namespace` is Ready at its generation.
async fn wait_ready(client: &kube::Client, namespace: &str, limit: Duration) -> anyhow::Result<()> {
    let api = Api::<Kustomization>::namespaced(client.clone(), namespace);
    let started = Instant::now();
    loop {
        let object = api.get("app").await?;
        let ready = object.status.as_ref().is_some_and(|status| {
            conditions::is_ready_at(&status.reconcile.conditions, object.metadata.generation)
        });
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{namespace}/app not Ready in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Seconds from a reconcile request on [`SAMPLES`] tenants' Kustomizations (spread over all of
/// them) until each is handled.
async fn latencies(client: &kube::Client, tenants: usize) -> anyhow::Result<Vec<f64>> {
    let mut seconds = Vec::new();
    for sample in 0..SAMPLES {
        let namespace = format!("tenant-{}", sample * tenants / SAMPLES);
        let api = Api::<Kustomization>::namespaced(client.clone(), &namespace);
        let token = format!("bench-{}", jiff::Timestamp::now().as_nanosecond());
        let started = Instant::now();
        let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}});
        api.patch("app", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        loop {
            let handled = api
                .get("app")
                .await?
                .status
                .and_then(|status| status.reconcile.last_handled_reconcile_at);
            if handled.as_deref() == Some(token.as_str()) {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(300),
                "{namespace}/app did not handle its reconcile request in 300 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

/// How each attack's Kustomization ended (its Ready condition, once it has one, and when).
async fn attack_outcomes(
    client: &kube::Client,
    started: Instant,
) -> anyhow::Result<Vec<(String, String)>> {
    let api = Api::<Kustomization>::namespaced(client.clone(), ATTACKER);
    let mut outcomes = Vec::new();
    for path in ["bomb", "deep", "huge"] {
        let outcome = loop {
            let status = api.get(path).await?.status;
            let ready = status.as_ref().and_then(|status| {
                conditions::find(&status.reconcile.conditions, conditions::READY)
            });
            if let Some(ready) = ready.filter(|ready| ready.status != "Unknown") {
                let message: String = ready.message.chars().take(160).collect();
                break format!(
                    "Ready={} {} after {:.1} s: {message}",
                    ready.status,
                    ready.reason,
                    started.elapsed().as_secs_f64()
                );
            }
            if started.elapsed() > Duration::from_secs(600) {
                break "no Ready condition after 600 s".to_owned();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let source = loop {
            let ready = Api::<GitRepository>::namespaced(client.clone(), ATTACKER)
                .get(path)
                .await?
                .status
                .and_then(|status| {
                    conditions::find(&status.reconcile.conditions, conditions::READY)
                        .filter(|ready| ready.status != "Unknown")
                        .map(|ready| {
                            let message: String = ready.message.chars().take(120).collect();
                            format!("source Ready={} {}: {message}", ready.status, ready.reason)
                        })
                });
            match ready {
                Some(ready) => break ready,
                None if started.elapsed() > Duration::from_secs(600) => {
                    break "source has no Ready condition after 600 s".to_owned();
                }
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        outcomes.push((path.to_owned(), format!("{source}; {outcome}")));
    }
    Ok(outcomes)
}

/// Writes a ConfigMap manifest of about `bytes` bytes to `path` in 1 MiB pieces, so that the
/// bench never holds it in memory (the peak it reports is the controller's).
fn write_huge_manifest(path: &std::path::Path, bytes: usize) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(path.parent().unwrap_or(path))?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  blob: \"")?;
    let piece = vec![b'a'; 1 << 20];
    for _ in 0..bytes / piece.len() {
        file.write_all(&piece)?;
    }
    file.write_all(b"\"\n")?;
    file.flush()?;
    Ok(())
}

/// The median of `values` (0 when empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}
