//! 500 Canaries on one canary controller, on the real local control plane: counts the API
//! requests the controller's client sends (a counting tower layer), per tick per Canary, while
//! the Canaries are idle (Initialized) and while they progress (a new revision each, a metric
//! check per tick against a real Prometheus), and the process' peak memory. The peer is Flagger's
//! cost model (docs/canary.md §4, derived): 14 GETs per idle tick per Canary, reads that Sluice serves
//! from its watch caches.
//!
//! Run: `cargo bench -p sluice-canary --bench many_canaries` (`CANARIES=N` to change the count).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use sluice_canary::api::{Canary, CanaryPhase, MetricTemplate};
use sluice_canary::settings::Settings;
use sluice_runtime::{Runtime, RuntimeOptions};
use sluice_servers::canary_support::{Exporter, http_route_crd};
use sluice_servers::prometheus::Prometheus;
use sluice_servers::{LocalCluster, wait_until};

const NAMESPACE: &str = "bench";
/// Flagger's API GETs per idle tick per Canary (docs/canary.md §4, derived from `scheduler.go`).
const FLAGGER_GETS_PER_TICK: f64 = 14.0;
const INTERVAL: &str = "10s";

/// Requests sent by the controller's client, by kind.
#[derive(Default)]
struct Counts {
    reads: AtomicU64,
    watches: AtomicU64,
    writes: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> [u64; 3] {
        [&self.reads, &self.watches, &self.writes].map(|c| c.load(Ordering::Relaxed))
    }
}

#[derive(Clone)]
struct CountLayer(Arc<Counts>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = Counting<S>;
    fn layer(&self, inner: S) -> Counting<S> {
        Counting(inner, self.0.clone())
    }
}

#[derive(Clone)]
struct Counting<S>(S, Arc<Counts>);

impl<S, B> tower::Service<http::Request<B>> for Counting<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.contains("watch=true"));
        let counter = match (request.method() == http::Method::GET, watch) {
            (true, true) => &self.1.watches,
            (true, false) => &self.1.reads,
            (false, _) => &self.1.writes,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.0.call(request)
    }
}

fn peak_rss_kib() -> u64 {
    status_field("VmHWM:")
}

fn rss_kib() -> u64 {
    status_field("VmRSS:")
}

fn status_field(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Successful Canary reconciles so far, from the runtime's metrics.
fn ticks(runtime: &Runtime) -> u64 {
    runtime
        .metrics
        .render()
        .lines()
        .filter(|line| {
            line.starts_with("sluice_reconcile_duration_seconds_count")
                && line.contains("kind=\"Canary\"")
        })
        .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn install(client: &Client, crd: &CustomResourceDefinition) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(
        &crd.name_any(),
        &PatchParams::apply("bench").force(),
        &Patch::Apply(crd),
    )
    .await?;
    let name = crd.name_any();
    wait_until(
        &format!("{name} established"),
        Duration::from_secs(60),
        || async {
            let crd = api.get(&name).await.map_err(harness_error)?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            Ok(conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        },
    )
    .await?;
    Ok(())
}

fn harness_error(error: kube::Error) -> sluice_servers::HarnessError {
    sluice_servers::HarnessError::Start {
        what: "bench API call".into(),
        why: error.to_string(),
    }
}

/// Requests the bench itself keeps in flight while it creates or patches objects.
const CLIENT_CONCURRENCY: usize = 16;
/// Pods each kwok node accepts: the harness' nodes take 110 each (330 in all), fewer than the
/// 500 targets plus 500 primaries of the bootstrap, which then never completes (a primary pod
/// finds no node while the target pods, scaled to zero only once their primary is ready, hold
/// every slot).
const PODS_PER_NODE: &str = "1000";

/// Raises the pod capacity of every kwok node to [`PODS_PER_NODE`] (kwok keeps a node's
/// capacity as set).
async fn widen_nodes(client: &Client) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let capacity = json!({"status": {
        "capacity": {"pods": PODS_PER_NODE}, "allocatable": {"pods": PODS_PER_NODE}
    }});
    for node in nodes.list(&ListParams::default()).await? {
        nodes
            .patch_status(
                &node.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&capacity),
            )
            .await?;
    }
    Ok(())
}

/// Runs `request` for every index below `count`, [`CLIENT_CONCURRENCY`] at a time.
async fn for_each_index<F, Fut>(count: usize, request: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(request)
        .buffer_unordered(CLIENT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn create_objects(client: &Client, count: usize, prometheus: &str) -> anyhow::Result<()> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let template: MetricTemplate = serde_json::from_value(json!({
        "apiVersion": "canary.sluice.dev/v1", "kind": "MetricTemplate",
        "metadata": {"name": "error-rate"},
        "spec": {"provider": {"type": "prometheus", "address": prometheus}, "query": "max(bench_errors)"}
    }))?;
    let params = PostParams::default();
    Api::<MetricTemplate>::namespaced(client.clone(), NAMESPACE)
        .create(&params, &template)
        .await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let canaries: Api<Canary> = Api::namespaced(client.clone(), NAMESPACE);
    for_each_index(count, |index| {
        let (deployments, canaries, params) = (&deployments, &canaries, &params);
        async move {
            let name = format!("app-{index}");
            let deployment: Deployment = serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
                }
            }))?;
            deployments.create(params, &deployment).await?;
            // Headless Services: the harness' apiserver allocates ClusterIPs from a /24 (253
            // addresses), fewer than the 1,500 Services of 500 Canaries ("failed to allocate a
            // service").
            let canary: Canary = serde_json::from_value(json!({
                "apiVersion": "canary.sluice.dev/v1", "kind": "Canary",
                "metadata": {"name": name},
                "spec": {
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "service": {"port": 80, "headless": true, "gatewayRefs": [{"name": "gateway"}]},
                    "analysis": {"interval": INTERVAL, "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                        "metrics": [{"name": "error-rate", "templateRef": {"name": "error-rate"}, "thresholdRange": {"max": 1}}]}
                }
            }))?;
            canaries.create(params, &canary).await?;
            Ok(())
        }
    })
    .await
}

async fn count_in_phase(
    client: &Client,
    phases: &[CanaryPhase],
) -> Result<usize, sluice_servers::HarnessError> {
    let list = Api::<Canary>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .map_err(harness_error)?;
    Ok(list
        .items
        .iter()
        .filter(|canary| {
            canary
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(|p| phases.contains(&p))
        })
        .count())
}

/// Requests per tick per Canary over `window`: `[reads, writes]`.
async fn measure(runtime: &Runtime, counts: &Counts, window: Duration) -> (f64, f64, u64) {
    let before = counts.snapshot();
    let ticks_before = ticks(runtime);
    tokio::time::sleep(window).await;
    let after = counts.snapshot();
    let ticks = (ticks(runtime) - ticks_before).max(1);
    let per_tick = |index: usize| (after[index] - before[index]) as f64 / ticks as f64;
    (per_tick(0), per_tick(2), ticks)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("CANARIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let cluster = LocalCluster::start().await?;
    let admin = cluster.client().await?;
    for crd in sluice_canary::api::crds() {
        install(&admin, &crd).await?;
    }
    install(&admin, &http_route_crd()?).await?;
    let exporter = Exporter::start().await?;
    exporter.set("bench_errors", 0.0);
    let prometheus = Prometheus::start(std::slice::from_ref(&exporter.address))?;
    widen_nodes(&admin).await?;
    let setup = Instant::now();
    create_objects(&admin, count, &prometheus.url).await?;
    let created = setup.elapsed();
    cluster
        .wait_for_service_account(NAMESPACE, "default")
        .await?;

    let counts = Arc::new(Counts::default());
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(cluster.kubeconfig())?,
        &Default::default(),
    )
    .await?;
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&CountLayer(counts.clone()))
        .build();
    let rss_before = rss_kib();
    let options = RuntimeOptions {
        kubeconfig: None,
        concurrent: 8,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: "127.0.0.1:0".parse()?,
        log_format: sluice_runtime::options::LogFormat::Text,
        log_level: "warn".into(),
        no_cross_namespace_refs: false,
    };
    let runtime = Runtime::new("canary", client, options);
    let settings = Settings {
        metrics_server: prometheus.url.clone(),
        ..Settings::default()
    };
    tokio::spawn(sluice_canary::controller::run(runtime.clone(), settings));

    let started = Instant::now();
    wait_until(
        "every Canary Initialized",
        Duration::from_secs(900),
        || async { Ok(count_in_phase(&admin, &[CanaryPhase::Initialized]).await? == count) },
    )
    .await?;
    let bootstrap = started.elapsed();
    let (idle_reads, idle_writes, idle_ticks) =
        measure(&runtime, &counts, Duration::from_secs(30)).await;

    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), NAMESPACE);
    for_each_index(count, |index| {
        let deployments = &deployments;
        async move {
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
            deployments
                .patch(
                    &format!("app-{index}"),
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await?;
            Ok(())
        }
    })
    .await?;
    wait_until(
        "most Canaries Progressing",
        Duration::from_secs(300),
        || async {
            Ok(count_in_phase(&admin, &[CanaryPhase::Progressing]).await? * 10 >= count * 9)
        },
    )
    .await?;
    let (busy_reads, busy_writes, busy_ticks) =
        measure(&runtime, &counts, Duration::from_secs(30)).await;
    let [_, watches, _] = counts.snapshot();
    let peak = peak_rss_kib();

    println!(
        "canaries: {count}, analysis interval {INTERVAL}; {count} Deployments and Canaries created in {created:.0?}; bootstrap to Initialized in {bootstrap:.0?}"
    );
    println!(
        "idle (Initialized), {idle_ticks} ticks: API reads per tick per canary {idle_reads:.3} (Flagger model {FLAGGER_GETS_PER_TICK}: ratio {:.3}), writes {idle_writes:.3}",
        idle_reads / FLAGGER_GETS_PER_TICK
    );
    println!(
        "progressing, {busy_ticks} ticks: API reads per tick per canary {busy_reads:.3} (ratio to Flagger's idle model {:.3}), writes {busy_writes:.3}",
        busy_reads / FLAGGER_GETS_PER_TICK
    );
    println!("watch requests in total: {watches}");
    println!(
        "memory: process peak RSS {} MiB; RSS before the controller {} MiB; controller share {:.1} KiB per canary",
        peak / 1024,
        rss_before / 1024,
        peak.saturating_sub(rss_before) as f64 / count as f64
    );
    runtime.shutdown.cancel();
    Ok(())
}
