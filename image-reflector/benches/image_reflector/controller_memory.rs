//! Figure 3: the resident memory of a running image-reflector controller holding 1,000
//! ImageRepositories of 1,000 tags each (goal: under 100 MiB).
//!
//! On the real local control plane (`LocalCluster`), the bench creates the ImageRepositories
//! (interval 1h) and one semver ImagePolicy each, and writes each repository's scan into a tag
//! store as the controller would have, a moment ago: a restarted controller does not rescan
//! what is fresher than its interval, so the controller starts from that store. The controller
//! is this bench binary run again as a separate process (`run`, the code of
//! `sluice controller image-reflector`, with its watches, caches and store); the figure is its
//! peak resident set (`VmHWM` of `/proc/<pid>/status`) once every repository is Ready and
//! every policy has chosen its tag.
//!
//! `BENCH_REPOSITORIES` and `BENCH_TAGS` (default 1,000 each) scale the setup down.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, CustomResourceExt};
use serde_json::json;
use sluice_image_reflector::api::{ImagePolicy, ImageRepository};
use sluice_image_reflector::controller::{ReflectorArgs, run};
use sluice_image_reflector::scan::{Exclusions, revision};
use sluice_image_reflector::store::{DATABASE_FILE, StoredScan, TagStore, object_key};
use sluice_runtime::options::LogFormat;
use sluice_runtime::{Runtime, RuntimeOptions, client, logging};
use sluice_servers::process::{ManagedProcess, log_tail, spawn};
use sluice_servers::{LocalCluster, crds};

use crate::bench_tag;

/// Set in the environment of the bench binary when it runs as the controller.
pub const CONTROLLER_ROLE: &str = "SLUICE_BENCH_CONTROLLER";
const NAMESPACE: &str = "bench";
const GOAL_MIB: f64 = 100.0;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(900);

fn env_count(name: &str) -> anyhow::Result<usize> {
    std::env::var(name).map_or(Ok(1000), |value| Ok(value.parse()?))
}

/// Runs the controller until SIGTERM: the cluster from `KUBECONFIG`, the store from
/// `SLUICE_STORAGE_PATH`, `/metrics` on `SLUICE_BENCH_METRICS_ADDR`.
pub async fn run_controller() -> anyhow::Result<()> {
    logging::install_crypto_provider();
    logging::init(LogFormat::Text, "warn");
    let kubeconfig = std::env::var_os("KUBECONFIG").map(Into::into);
    let options = RuntimeOptions {
        kubeconfig,
        concurrent: 4,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: std::env::var("SLUICE_BENCH_METRICS_ADDR")?.parse()?,
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        no_cross_namespace_refs: false,
    };
    let client = client::client(options.kubeconfig.as_deref()).await?;
    let runtime = Runtime::new("image-reflector", client, options);
    run(runtime, ReflectorArgs::from_env()?).await
}

/// Measures and prints figure 3 (see the module doc).
pub async fn measure() -> anyhow::Result<()> {
    let (repositories, tags) = (env_count("BENCH_REPOSITORIES")?, env_count("BENCH_TAGS")?);
    let started = Instant::now();
    let cluster = LocalCluster::start().await?;
    let client = cluster.client().await?;
    for crd in [ImageRepository::crd(), ImagePolicy::crd()] {
        crds::install(&client, &crd).await?;
    }
    let namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    create_objects(&client, repositories).await?;
    let work = tempfile::tempdir()?;
    let storage = work.path().join("store");
    store_fresh_scans(&storage, repositories, tags).await?;
    let setup = started.elapsed();

    let started = Instant::now();
    let mut controller = spawn_controller(cluster.kubeconfig(), &storage, work.path())?;
    let fresh = wait_until_settled(&client, &mut controller, repositories).await?;
    let settled = started.elapsed();
    let (peak, resident) = (
        status_kib(controller.id(), "VmHWM:")?,
        status_kib(controller.id(), "VmRSS:")?,
    );
    let peak_mib = peak as f64 / 1024.0;
    println!(
        "controller holding {repositories} ImageRepositories x {tags} tags (+ {repositories} ImagePolicies): peak RSS {peak_mib:.1} MiB, {:.2} of the {GOAL_MIB} MiB goal ({}); RSS when settled {:.1} MiB; tag store on disk {:.1} MiB; {fresh} of {repositories} served from the store without a rescan; setup {:.0} s, controller settled in {:.1} s",
        peak_mib / GOAL_MIB,
        if peak_mib < GOAL_MIB { "met" } else { "missed" },
        resident as f64 / 1024.0,
        std::fs::metadata(storage.join(DATABASE_FILE))?.len() as f64 / 1048576.0,
        setup.as_secs_f64(),
        settled.as_secs_f64(),
    );
    Ok(())
}

/// Creates `count` ImageRepositories (interval 1h) and one semver ImagePolicy for each.
async fn create_objects(client: &Client, count: usize) -> anyhow::Result<()> {
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), NAMESPACE);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), NAMESPACE);
    futures::stream::iter(0..count)
        .map(|index| {
            let (repositories, policies) = (repositories.clone(), policies.clone());
            async move {
                let repository: ImageRepository = serde_json::from_value(json!({
                    "apiVersion": "image.sluice.dev/v1", "kind": "ImageRepository",
                    "metadata": {"name": app(index)},
                    "spec": {"image": image(index), "interval": "1h"},
                }))?;
                repositories
                    .create(&PostParams::default(), &repository)
                    .await?;
                let policy: ImagePolicy = serde_json::from_value(json!({
                    "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy",
                    "metadata": {"name": app(index)},
                    "spec": {"imageRepositoryRef": {"name": app(index)},
                             "policy": {"semver": {"range": ">=0.1.0"}}},
                }))?;
                policies.create(&PostParams::default(), &policy).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await
}

fn app(index: usize) -> String {
    format!("app-{index}")
}

fn image(index: usize) -> String {
    format!("registry.bench.example/team/app-{index}")
}

/// Writes, for each repository, the scan the controller would have stored a moment ago.
async fn store_fresh_scans(storage: &Path, count: usize, tags: usize) -> anyhow::Result<()> {
    let store = TagStore::open(storage)?;
    let exclusions = Exclusions::new(&[r"^.*\.sig$".to_owned()])?;
    for index in 0..count {
        let kept = exclusions.keep((0..tags).map(|tag| bench_tag(index * 7 + tag)).collect());
        let scan = StoredScan {
            image: image(index),
            exclusion_list: vec![r"^.*\.sig$".to_owned()],
            scanned_at_ms: jiff::Timestamp::now().as_millisecond(),
            revision: revision(&kept),
            tags: kept,
        };
        store
            .put(&object_key(NAMESPACE, &app(index)), &scan)
            .await?;
    }
    Ok(())
}

fn spawn_controller(
    kubeconfig: &Path,
    storage: &Path,
    work: &Path,
) -> anyhow::Result<ManagedProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .env(CONTROLLER_ROLE, "1")
        .env("KUBECONFIG", kubeconfig)
        .env("SLUICE_STORAGE_PATH", storage)
        .env(
            "SLUICE_BENCH_METRICS_ADDR",
            format!("127.0.0.1:{}", sluice_servers::ports::free_port()?),
        );
    Ok(spawn(
        "image-reflector controller",
        command,
        &work.join("controller.log"),
    )?)
}

/// Waits until every ImageRepository and ImagePolicy has a `Ready` condition; returns how many
/// repositories were served from the store (their Ready message says so).
///
/// Errors: an object is not Ready (with its message), the controller exited, or the objects
/// did not settle within [`SETTLE_TIMEOUT`].
async fn wait_until_settled(
    client: &Client,
    controller: &mut ManagedProcess,
    count: usize,
) -> anyhow::Result<usize> {
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), NAMESPACE);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        controller.check_running()?;
        let repository_ready: Vec<Condition> = repositories
            .list(&ListParams::default())
            .await?
            .into_iter()
            .filter_map(|repository| ready(repository.status?.reconcile.conditions))
            .collect();
        let policy_ready: Vec<Condition> = policies
            .list(&ListParams::default())
            .await?
            .into_iter()
            .filter_map(|policy| ready(policy.status?.reconcile.conditions))
            .collect();
        if repository_ready.len() == count && policy_ready.len() == count {
            let all = repository_ready.iter().chain(&policy_ready);
            if let Some(failed) = all.clone().find(|ready| ready.status != "True") {
                anyhow::bail!("not Ready: {}: {}", failed.reason, failed.message);
            }
            return Ok(repository_ready
                .iter()
                .filter(|ready| ready.message.starts_with("stored scan"))
                .count());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "after {SETTLE_TIMEOUT:?}: {} of {count} ImageRepositories and {} ImagePolicies reconciled; controller log:\n{}",
            repository_ready.len(),
            policy_ready.len(),
            log_tail(controller.log())
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The `Ready` condition among `conditions`.
fn ready(conditions: Vec<Condition>) -> Option<Condition> {
    conditions
        .into_iter()
        .find(|condition| condition.type_ == "Ready")
}

/// A `kB` field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))?;
    Ok(line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}
