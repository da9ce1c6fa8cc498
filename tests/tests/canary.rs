//! The canary suite: Sluice's canary controller on the real local control plane (kwok makes the
//! pods Ready), a real Prometheus scraping an exporter whose values each test sets, and real HTTP
//! webhooks whose answers each test flips. Each test runs its own controller, sharded to its own
//! Canaries by `--watch-label-selector`, in a namespace of its own; analysis intervals are 1-2 s
//! (`Settings::min_interval` lowered to 1 s, as `SLUICE_CANARY_MIN_INTERVAL` does).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use sluice_canary::api::{Canary, CanaryPhase, CanaryStatus, MetricTemplate};
use sluice_canary::caches::http_route_resource;
use sluice_canary::credentials::Credentials;
use sluice_canary::revert::FINALIZER;
use sluice_canary::settings::Settings;
use sluice_runtime::conditions::{self, READY};
use sluice_runtime::{Runtime, RuntimeOptions};
use sluice_tests::canary_support::{Exporter, GuardedPrometheus, WebhookReceiver, http_route_crd};
use sluice_tests::prometheus::Prometheus;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(90);
const TEST_LABEL: &str = "sluice.dev/test";

/// One test's world: a namespace, the exporter and the Prometheus scraping it, a webhook
/// receiver, and a controller reconciling only this test's Canaries.
struct Harness {
    client: Client,
    namespace: String,
    exporter: Exporter,
    prometheus: Prometheus,
    hooks: WebhookReceiver,
    runtime: Runtime,
}

impl Harness {
    async fn start(namespace: &str) -> anyhow::Result<Self> {
        let cluster = LocalCluster::shared().await?;
        let client = cluster.client().await?;
        for crd in sluice_canary::api::crds() {
            install_crd(&client, &crd).await?;
        }
        install_crd(&client, &http_route_crd()?).await?;
        let object: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &object)
            .await?;
        cluster
            .wait_for_service_account(namespace, "default")
            .await?;
        let exporter = Exporter::start().await?;
        let prometheus = Prometheus::start(std::slice::from_ref(&exporter.address))?;
        let hooks = WebhookReceiver::start().await?;
        let runtime = Runtime::new("canary", client.clone(), options(namespace)?);
        let settings = Settings {
            metrics_server: prometheus.url.clone(),
            min_interval: Duration::from_secs(1),
            ..Settings::default()
        };
        tokio::spawn(sluice_canary::controller::run(runtime.clone(), settings));
        Ok(Self {
            client,
            namespace: namespace.to_owned(),
            exporter,
            prometheus,
            hooks,
            runtime,
        })
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn routes(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &http_route_resource())
    }

    /// Sets the error rate the `error-rate` template reads for `target`.
    fn set_error_rate(&self, target: &str, value: f64) {
        let series = format!(
            "canary_errors{{namespace=\"{}\",target=\"{target}\"}}",
            self.namespace
        );
        self.exporter.set(&series, value);
    }

    /// Waits until Prometheus has scraped the error rate of `target`, so that a check never
    /// meets an empty result because Prometheus started a moment ago.
    async fn wait_for_scrape(&self, target: &str) -> anyhow::Result<()> {
        let port: u16 = self
            .prometheus
            .url
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .parse()?;
        let path = format!("/api/v1/query?query=canary_errors%7Btarget%3D%22{target}%22%7D");
        let namespace = format!("\"namespace\":\"{}\"", self.namespace);
        wait_until("Prometheus scraped the exporter", TIMEOUT, || async {
            Ok(sluice_tests::ports::http_get(port, &path)
                .is_some_and(|(_, body)| body.contains(&namespace)))
        })
        .await?;
        Ok(())
    }

    /// Creates the target Deployment `name` (selector `app: <name>`) running `image`.
    async fn create_target(&self, name: &str, image: &str) -> anyhow::Result<()> {
        let pod = json!({"containers": [{"name": "app", "image": image}]});
        self.create_target_with(name, pod).await
    }

    /// Creates the target Deployment `name` (selector `app: <name>`) with the pod spec `pod`.
    async fn create_target_with(&self, name: &str, pod: Value) -> anyhow::Result<()> {
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "progressDeadlineSeconds": 60,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod}
            }
        }))?;
        self.api::<Deployment>()
            .create(&PostParams::default(), &deployment)
            .await?;
        Ok(())
    }

    /// Creates the MetricTemplate `name` querying `query` on `address` (this test's Prometheus
    /// when `None`).
    async fn create_template(
        &self,
        name: &str,
        address: Option<&str>,
        query: &str,
    ) -> anyhow::Result<()> {
        let template: MetricTemplate = serde_json::from_value(json!({
            "apiVersion": "canary.sluice.dev/v1", "kind": "MetricTemplate",
            "metadata": {"name": name},
            "spec": {
                "provider": {"type": "prometheus", "address": address.unwrap_or(&self.prometheus.url)},
                "query": query
            }
        }))?;
        self.api::<MetricTemplate>()
            .create(&PostParams::default(), &template)
            .await?;
        Ok(())
    }

    /// Creates the Secret `secret` holding `string_data` and makes the MetricTemplate `template`
    /// authenticate with it (`spec.provider.secretRef`).
    async fn authenticate_template(
        &self,
        template: &str,
        secret: &str,
        string_data: Value,
    ) -> anyhow::Result<()> {
        let object: Secret = serde_json::from_value(
            json!({"metadata": {"name": secret}, "stringData": string_data}),
        )?;
        self.api::<Secret>()
            .create(&PostParams::default(), &object)
            .await?;
        let secret_ref = json!({"spec": {"provider": {"secretRef": {"name": secret}}}});
        self.api::<MetricTemplate>()
            .patch(
                template,
                &PatchParams::default(),
                &Patch::Merge(&secret_ref),
            )
            .await?;
        Ok(())
    }

    /// Creates a Canary `name` for the Deployment `target` with `analysis`, labelled for this
    /// test's controller.
    async fn create_canary(&self, name: &str, target: &str, analysis: Value) -> anyhow::Result<()> {
        self.create_canary_with(name, target, json!({"analysis": analysis}))
            .await
    }

    /// Creates a Canary `name` for the Deployment `target` with the `spec` fields added,
    /// labelled for this test's controller.
    async fn create_canary_with(
        &self,
        name: &str,
        target: &str,
        spec: Value,
    ) -> anyhow::Result<()> {
        let mut object = json!({
            "apiVersion": "canary.sluice.dev/v1", "kind": "Canary",
            "metadata": {"name": name, "labels": {TEST_LABEL: &self.namespace}},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "service": {"port": 9898, "gatewayRefs": [{"name": "gateway", "namespace": "ingress"}], "hosts": ["app.example.com"]}
            }
        });
        if let (Some(fields), Value::Object(extra)) = (object["spec"].as_object_mut(), spec) {
            fields.extend(extra);
        }
        let canary: Canary = serde_json::from_value(object)?;
        self.api::<Canary>()
            .create(&PostParams::default(), &canary)
            .await?;
        Ok(())
    }

    async fn set_image(&self, target: &str, image: &str) -> anyhow::Result<()> {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
        self.api::<Deployment>()
            .patch(target, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;
        Ok(())
    }

    async fn status(&self, name: &str) -> Result<CanaryStatus, HarnessError> {
        let canary = self.api::<Canary>().get(name).await.map_err(api_error)?;
        Ok(canary.status.unwrap_or_default())
    }

    async fn wait_for_phase(&self, name: &str, phase: CanaryPhase) -> anyhow::Result<CanaryStatus> {
        wait_until(&format!("canary {name} {phase}"), TIMEOUT, || async {
            Ok(self.status(name).await?.phase == Some(phase))
        })
        .await?;
        Ok(self.status(name).await?)
    }

    /// Waits until the Ready condition of `name` mentions every one of `parts`.
    async fn wait_for_ready_message(&self, name: &str, parts: &[&str]) -> anyhow::Result<()> {
        wait_until(
            &format!("canary {name} Ready mentioning {parts:?}"),
            TIMEOUT,
            || async {
                let status = self.status(name).await?;
                let message = conditions::find(&status.reconcile.conditions, READY)
                    .map(|ready| ready.message.clone())
                    .unwrap_or_default();
                Ok(parts.iter().all(|part| message.contains(part)))
            },
        )
        .await?;
        Ok(())
    }

    /// The HTTPRoute `<name>` as JSON.
    async fn route(&self, name: &str) -> Result<Value, HarnessError> {
        let route = self.routes().get(name).await.map_err(api_error)?;
        serde_json::to_value(route).map_err(|e| HarnessError::Start {
            what: "route json".into(),
            why: e.to_string(),
        })
    }

    async fn primary_image(&self, target: &str) -> anyhow::Result<String> {
        let primary = self
            .api::<Deployment>()
            .get(&format!("{target}-primary"))
            .await?;
        Ok(primary.spec.template.spec.unwrap_or_default().containers[0]
            .image
            .clone()
            .unwrap_or_default())
    }

    async fn replicas(&self, name: &str) -> anyhow::Result<Option<i32>> {
        Ok(self.api::<Deployment>().get(name).await?.spec.replicas)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.runtime.shutdown.cancel();
    }
}

fn options(namespace: &str) -> anyhow::Result<RuntimeOptions> {
    Ok(RuntimeOptions {
        kubeconfig: None,
        concurrent: 4,
        watch_label_selector: Some(format!("{TEST_LABEL}={namespace}")),
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: "127.0.0.1:0".parse()?,
        log_format: sluice_runtime::options::LogFormat::Text,
        log_level: "info".into(),
        no_cross_namespace_refs: false,
    })
}

fn api_error(error: kube::Error) -> HarnessError {
    HarnessError::Start {
        what: "API request".into(),
        why: error.to_string(),
    }
}

async fn install_crd(client: &Client, crd: &CustomResourceDefinition) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("sluice-tests").force();
    api.patch(&crd.name_any(), &params, &Patch::Apply(crd))
        .await?;
    let name = crd.name_any();
    wait_until(&format!("CRD {name} Established"), TIMEOUT, || async {
        let crd = api.get(&name).await.map_err(api_error)?;
        let established = crd
            .status
            .and_then(|status| status.conditions)
            .unwrap_or_default();
        Ok(established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True"))
    })
    .await?;
    Ok(())
}

/// The `(primary, canary)` weights of the first rule of an HTTPRoute.
fn weights(route: &Value) -> (u64, u64) {
    let backends = &route["spec"]["rules"][0]["backendRefs"];
    (
        backends[0]["weight"].as_u64().unwrap_or(1),
        backends[1]["weight"].as_u64().unwrap_or(1),
    )
}

/// The `error-rate` template: the exporter's gauge for the Canary's namespace and target.
const ERROR_RATE_QUERY: &str =
    r#"max(canary_errors{namespace="{{ namespace }}", target="{{ target }}"})"#;

/// An analysis of 1 s ticks walking 10, 20, ... 50 on the `error-rate` metric (max 1), with
/// `webhooks` added.
fn analysis(interval: &str, threshold: u32, webhooks: Value) -> Value {
    json!({
        "interval": interval,
        "threshold": threshold,
        "maxWeight": 50,
        "stepWeight": 10,
        "metrics": [{"name": "error-rate", "templateRef": {"name": "error-rate"}, "thresholdRange": {"max": 1}, "interval": "30s"}],
        "webhooks": webhooks
    })
}

/// Creates the template, the target `podinfo` at `podinfo:1` with a healthy error rate, and the
/// Canary, and waits for Initialized.
async fn initialized(harness: &Harness, analysis: Value) -> anyhow::Result<()> {
    let pod = json!({"containers": [{"name": "app", "image": "podinfo:1"}]});
    initialized_with(harness, pod, json!({"analysis": analysis})).await
}

/// Creates the template, the target `podinfo` with the pod spec `pod` and a healthy error rate,
/// and the Canary with the `spec` fields, and waits for Initialized.
async fn initialized_with(harness: &Harness, pod: Value, spec: Value) -> anyhow::Result<()> {
    harness
        .create_template("error-rate", None, ERROR_RATE_QUERY)
        .await?;
    harness.set_error_rate("podinfo", 0.0);
    harness.create_target_with("podinfo", pod).await?;
    harness
        .create_canary_with("podinfo", "podinfo", spec)
        .await?;
    harness
        .wait_for_phase("podinfo", CanaryPhase::Initialized)
        .await?;
    harness.wait_for_scrape("podinfo").await?;
    Ok(())
}

#[tokio::test]
async fn a_healthy_canary_walks_to_max_weight_and_is_promoted_keeping_user_filters()
-> anyhow::Result<()> {
    let harness = Harness::start("canary-healthy").await?;
    let hooks = json!([
        {"name": "load-test", "type": "rollout", "url": harness.hooks.hook_url("load-test"), "timeout": "5s"},
        {"name": "events", "type": "event", "url": harness.hooks.hook_url("events")}
    ]);
    initialized(&harness, analysis("1s", 2, hooks)).await?;
    assert_eq!(harness.primary_image("podinfo").await?, "podinfo:1");
    assert_eq!(
        harness.replicas("podinfo").await?,
        Some(0),
        "the target idles at 0"
    );
    for service in ["podinfo", "podinfo-primary", "podinfo-canary"] {
        harness.api::<Service>().get(service).await?;
    }
    let route = harness.route("podinfo").await?;
    assert_eq!(weights(&route), (100, 0));

    let filter = json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-team", "value": "web"}]}});
    let mut rules = route["spec"]["rules"].clone();
    rules[0]["filters"] = json!([filter]);
    let add_filter = json!({"spec": {"rules": rules}});
    harness
        .routes()
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(&add_filter),
        )
        .await?;

    harness.set_image("podinfo", "podinfo:2").await?;
    let seen = std::sync::Mutex::new(Vec::<u64>::new());
    wait_until("the canary Succeeded", TIMEOUT, || async {
        let route = harness.route("podinfo").await?;
        assert_eq!(
            route["spec"]["rules"][0]["filters"][0], filter,
            "the user's filter survives"
        );
        let (primary, canary) = weights(&route);
        assert_eq!(primary + canary, 100);
        {
            let mut seen = seen.lock().expect("weights");
            if seen.last() != Some(&canary) {
                seen.push(canary);
            }
        }
        Ok(harness.status("podinfo").await?.phase == Some(CanaryPhase::Succeeded))
    })
    .await?;
    assert_eq!(
        *seen.lock().expect("weights"),
        [0, 10, 20, 30, 40, 50, 0],
        "weights seen on the HTTPRoute"
    );
    assert_eq!(harness.primary_image("podinfo").await?, "podinfo:2");
    assert_eq!(harness.replicas("podinfo").await?, Some(0));
    let status = harness.status("podinfo").await?;
    assert_eq!(status.last_promoted_spec, status.last_applied_spec);
    let promoted =
        conditions::find(&status.reconcile.conditions, "Promoted").expect("Promoted condition");
    assert_eq!(
        (promoted.status.as_str(), promoted.reason.as_str()),
        ("True", "Succeeded")
    );
    assert!(
        harness.hooks.calls("load-test") >= 5,
        "the rollout hook runs every analysis tick"
    );
    let payload = harness.hooks.last_payload("load-test").expect("a payload");
    assert_eq!(
        (payload["name"].as_str(), payload["namespace"].as_str()),
        (Some("podinfo"), Some("canary-healthy"))
    );
    assert!(payload["checksum"].as_str().is_some_and(|c| !c.is_empty()));
    let event = harness
        .hooks
        .last_payload("events")
        .expect("an event payload");
    assert!(event["metadata"]["eventMessage"].as_str().is_some());
    Ok(())
}

#[tokio::test]
async fn a_failing_canary_rolls_back_after_threshold_failed_checks() -> anyhow::Result<()> {
    let harness = Harness::start("canary-failing").await?;
    initialized(&harness, analysis("1s", 3, json!([]))).await?;
    harness.set_error_rate("podinfo", 5.0);
    harness.set_image("podinfo", "podinfo:2").await?;
    harness
        .wait_for_ready_message(
            "podinfo",
            &["failed checks 2/3", "metric error-rate value 5"],
        )
        .await?;
    let status = harness
        .wait_for_phase("podinfo", CanaryPhase::Failed)
        .await?;
    let promoted =
        conditions::find(&status.reconcile.conditions, "Promoted").expect("Promoted condition");
    assert_eq!(
        (promoted.status.as_str(), promoted.reason.as_str()),
        ("False", "Failed")
    );
    assert_eq!(weights(&harness.route("podinfo").await?), (100, 0));
    assert_eq!(
        harness.primary_image("podinfo").await?,
        "podinfo:1",
        "the primary keeps serving"
    );
    wait_until("the target scaled to zero", TIMEOUT, || async {
        Ok(harness
            .api::<Deployment>()
            .get("podinfo")
            .await
            .map_err(api_error)?
            .spec
            .replicas
            == Some(0))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_closed_confirm_promotion_gate_holds_the_canary_until_opened() -> anyhow::Result<()> {
    let harness = Harness::start("canary-gate").await?;
    let hooks = json!([{"name": "approve", "type": "confirm-promotion", "url": harness.hooks.hook_url("approve")}]);
    harness.hooks.answer("approve", 403);
    initialized(&harness, analysis("1s", 2, hooks)).await?;
    harness.set_image("podinfo", "podinfo:2").await?;
    harness
        .wait_for_phase("podinfo", CanaryPhase::WaitingPromotion)
        .await?;
    let calls = harness.hooks.calls("approve");
    wait_until("three more refusals", TIMEOUT, || async {
        Ok(harness.hooks.calls("approve") >= calls + 3)
    })
    .await?;
    assert_eq!(
        harness.status("podinfo").await?.phase,
        Some(CanaryPhase::WaitingPromotion)
    );
    assert_eq!(
        weights(&harness.route("podinfo").await?),
        (50, 50),
        "the weight holds at maxWeight"
    );
    assert_eq!(harness.primary_image("podinfo").await?, "podinfo:1");
    harness.hooks.answer("approve", 200);
    harness
        .wait_for_phase("podinfo", CanaryPhase::Succeeded)
        .await?;
    assert_eq!(harness.primary_image("podinfo").await?, "podinfo:2");
    Ok(())
}

#[tokio::test]
async fn a_new_revision_mid_analysis_restarts_it() -> anyhow::Result<()> {
    let harness = Harness::start("canary-restart").await?;
    initialized(&harness, analysis("2s", 2, json!([]))).await?;
    harness.set_image("podinfo", "podinfo:2").await?;
    wait_until("canary weight 20", TIMEOUT, || async {
        Ok(weights(&harness.route("podinfo").await?).1 == 20)
    })
    .await?;
    let first_run = harness.status("podinfo").await?.last_applied_spec;
    harness.set_image("podinfo", "podinfo:3").await?;
    wait_until("a restarted run at weight 0", TIMEOUT, || async {
        let status = harness.status("podinfo").await?;
        let restarted =
            status.last_applied_spec != first_run && status.phase == Some(CanaryPhase::Progressing);
        Ok(restarted && weights(&harness.route("podinfo").await?).1 == 0)
    })
    .await?;
    harness
        .wait_for_phase("podinfo", CanaryPhase::Succeeded)
        .await?;
    assert_eq!(harness.primary_image("podinfo").await?, "podinfo:3");
    Ok(())
}

#[tokio::test]
async fn bad_input_gives_a_clear_reason_and_the_primary_keeps_serving() -> anyhow::Result<()> {
    let harness = Harness::start("canary-bad-input").await?;
    harness
        .create_canary("ghost", "ghost-target", analysis("1s", 2, json!([])))
        .await?;
    harness
        .create_template("invalid-promql", None, "sum(rate(canary_errors[1m]")
        .await?;
    harness
        .create_template("unreachable", Some("http://127.0.0.1:1"), ERROR_RATE_QUERY)
        .await?;
    harness
        .create_template("no-credentials", None, ERROR_RATE_QUERY)
        .await?;
    harness
        .authenticate_template("no-credentials", "prom-auth", json!({"username": "admin"}))
        .await?;
    let cases = [
        ("invalid-promql", json!([]), "parse error"),
        ("unreachable", json!([]), "127.0.0.1:1"),
        (
            "no-credentials",
            json!([]),
            "Secret canary-bad-input/prom-auth: it holds neither token nor username and password",
        ),
        (
            "silent",
            json!([{"name": "load-test", "url": "http://127.0.0.1:1/hook", "timeout": "1s"}]),
            "webhook load-test: calling http://127.0.0.1:1/hook",
        ),
    ];
    for (target, hooks, _) in &cases {
        harness.create_target(target, "podinfo:1").await?;
        harness.set_error_rate(target, 0.0);
        let mut analysis = analysis("1s", 2, hooks.clone());
        let template = if *target == "silent" {
            "error-rate"
        } else {
            target
        };
        analysis["metrics"][0]["templateRef"]["name"] = json!(template);
        harness.create_canary(target, target, analysis).await?;
    }
    harness
        .create_template("error-rate", None, ERROR_RATE_QUERY)
        .await?;
    harness
        .wait_for_ready_message("ghost", &["ghost-target", "not found"])
        .await?;
    let ghost = harness.status("ghost").await?;
    let ready = conditions::find(&ghost.reconcile.conditions, READY).expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "TargetNotFound")
    );

    harness.wait_for_scrape("silent").await?;
    for (target, _, _) in &cases {
        harness
            .wait_for_phase(target, CanaryPhase::Initialized)
            .await?;
        harness.set_image(target, "podinfo:2").await?;
    }
    let reasons = cases.iter().map(|(target, _, reason)| {
        harness.wait_for_ready_message(target, std::slice::from_ref(reason))
    });
    for waited in futures::future::join_all(reasons).await {
        waited?;
    }
    for (target, _, _) in &cases {
        harness.wait_for_phase(target, CanaryPhase::Failed).await?;
        assert_eq!(weights(&harness.route(target).await?), (100, 0), "{target}");
        assert_eq!(
            harness.primary_image(target).await?,
            "podinfo:1",
            "{target}: the primary keeps serving"
        );
    }
    Ok(())
}

/// The data of the ConfigMap `name`.
async fn config_data(harness: &Harness, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let config = harness.api::<ConfigMap>().get(name).await?;
    Ok(config.data.unwrap_or_default())
}

#[tokio::test]
async fn the_primary_runs_on_copies_of_its_configs_refreshed_on_promotion() -> anyhow::Result<()> {
    let harness = Harness::start("canary-configs").await?;
    let config: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "podinfo-config"}, "data": {"color": "blue"}}),
    )?;
    harness
        .api::<ConfigMap>()
        .create(&PostParams::default(), &config)
        .await?;
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "podinfo-token"}, "stringData": {"token": "t1"}}),
    )?;
    harness
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await?;
    let pod = json!({
        "containers": [{
            "name": "app", "image": "podinfo:1",
            "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "podinfo-config", "key": "color"}}}],
            "envFrom": [{"secretRef": {"name": "podinfo-token"}}]
        }],
        "volumes": [{"name": "config", "configMap": {"name": "podinfo-config"}}]
    });
    let spec = json!({"analysis": analysis("1s", 2, json!([]))});
    initialized_with(&harness, pod, spec).await?;
    assert_eq!(
        config_data(&harness, "podinfo-config-primary").await?["color"],
        "blue"
    );
    let token = harness.api::<Secret>().get("podinfo-token-primary").await?;
    assert_eq!(
        token
            .data
            .unwrap_or_default()
            .get("token")
            .map(|v| v.0.clone()),
        Some(b"t1".to_vec())
    );
    let references = |deployment: Deployment| -> anyhow::Result<[Value; 3]> {
        let pod = serde_json::to_value(deployment.spec.template.spec)?;
        let container = &pod["containers"][0];
        Ok([
            container["env"][0]["valueFrom"]["configMapKeyRef"]["name"].clone(),
            container["envFrom"][0]["secretRef"]["name"].clone(),
            pod["volumes"][0]["configMap"]["name"].clone(),
        ])
    };
    let primary = harness.api::<Deployment>().get("podinfo-primary").await?;
    assert_eq!(
        references(primary)?,
        [
            "podinfo-config-primary",
            "podinfo-token-primary",
            "podinfo-config-primary"
        ]
    );
    let target = harness.api::<Deployment>().get("podinfo").await?;
    assert_eq!(
        references(target)?,
        ["podinfo-config", "podinfo-token", "podinfo-config"],
        "the target keeps its own references"
    );

    let green = json!({"data": {"color": "green"}});
    harness
        .api::<ConfigMap>()
        .patch(
            "podinfo-config",
            &PatchParams::default(),
            &Patch::Merge(&green),
        )
        .await?;
    harness
        .wait_for_phase("podinfo", CanaryPhase::Progressing)
        .await?;
    assert_eq!(
        config_data(&harness, "podinfo-config-primary").await?["color"],
        "blue",
        "the primary keeps the promoted config during the analysis"
    );
    harness
        .wait_for_phase("podinfo", CanaryPhase::Succeeded)
        .await?;
    assert_eq!(
        config_data(&harness, "podinfo-config-primary").await?["color"],
        "green"
    );
    Ok(())
}

#[tokio::test]
async fn a_deleted_canary_with_revert_on_deletion_gives_the_traffic_back_to_the_target()
-> anyhow::Result<()> {
    let harness = Harness::start("canary-revert").await?;
    let pod = json!({"containers": [{"name": "app", "image": "podinfo:1"}]});
    let spec = json!({"revertOnDeletion": true, "analysis": analysis("1s", 2, json!([]))});
    initialized_with(&harness, pod, spec).await?;
    let canary = harness.api::<Canary>().get("podinfo").await?;
    assert!(
        canary.finalizers().iter().any(|f| f == FINALIZER),
        "finalizers: {:?}",
        canary.finalizers()
    );
    assert_eq!(harness.replicas("podinfo").await?, Some(0));

    harness
        .api::<Canary>()
        .delete("podinfo", &DeleteParams::default())
        .await?;
    wait_until("the Canary is gone", TIMEOUT, || async {
        let canary = harness.api::<Canary>().get_opt("podinfo").await;
        Ok(canary.map_err(api_error)?.is_none())
    })
    .await?;
    let target = harness.api::<Deployment>().get("podinfo").await?;
    assert_eq!(
        target.spec.replicas,
        Some(1),
        "the target has its replicas back"
    );
    let available = target.status.and_then(|status| status.available_replicas);
    assert_eq!(
        available,
        Some(1),
        "and is ready before it gets the traffic"
    );
    wait_until("the primary is garbage collected", TIMEOUT, || async {
        let primary = harness.api::<Deployment>().get_opt("podinfo-primary").await;
        Ok(primary.map_err(api_error)?.is_none())
    })
    .await?;
    let apex = harness.api::<Service>().get("podinfo").await?;
    assert_eq!(
        apex.spec.and_then(|spec| spec.selector).unwrap_or_default()["app"],
        "podinfo",
        "the apex Service selects the target"
    );
    assert!(
        apex.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    let route = harness.route("podinfo").await?;
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"],
        json!([{"group": "", "kind": "Service", "name": "podinfo", "port": 9898, "weight": 100}]),
        "the route sends everything to the apex Service"
    );
    assert!(route["metadata"]["ownerReferences"].is_null());
    Ok(())
}

#[tokio::test]
async fn metric_checks_authenticate_to_a_prometheus_behind_basic_auth() -> anyhow::Result<()> {
    let harness = Harness::start("canary-basic-auth").await?;
    let guarded = GuardedPrometheus::start(&harness.exporter.address, "sluice", "s3cret")?;
    let client = sluice_canary::prometheus::Prometheus::new(&Default::default())?;
    let basic = Credentials::Basic {
        username: "sluice".into(),
        password: "s3cret".into(),
    };
    let header = basic.authorization().map_err(anyhow::Error::msg)?;
    let no_headers = BTreeMap::new();
    let query = |authorization: Option<_>| {
        client.instant_value(&guarded.url, &no_headers, authorization, "vector(1)")
    };
    wait_until("the guarded Prometheus answers", TIMEOUT, || async {
        Ok(query(Some(header.clone())).await.is_ok())
    })
    .await?;
    assert!(
        query(None).await.is_err(),
        "without credentials Prometheus refuses the query (401)"
    );

    harness
        .create_template("error-rate", Some(&guarded.url), ERROR_RATE_QUERY)
        .await?;
    let login = json!({"username": "sluice", "password": "s3cret"});
    harness
        .authenticate_template("error-rate", "prom-basic", login)
        .await?;
    harness.set_error_rate("podinfo", 0.0);
    harness.create_target("podinfo", "podinfo:1").await?;
    harness
        .create_canary("podinfo", "podinfo", analysis("1s", 2, json!([])))
        .await?;
    harness
        .wait_for_phase("podinfo", CanaryPhase::Initialized)
        .await?;
    let scraped = r#"canary_errors{target="podinfo"}"#;
    wait_until(
        "the guarded Prometheus scraped the exporter",
        TIMEOUT,
        || async {
            let value = client
                .instant_value(
                    &guarded.url,
                    &BTreeMap::new(),
                    Some(header.clone()),
                    scraped,
                )
                .await;
            Ok(matches!(value, Ok(Some(_))))
        },
    )
    .await?;
    harness.set_image("podinfo", "podinfo:2").await?;
    let status = harness
        .wait_for_phase("podinfo", CanaryPhase::Succeeded)
        .await?;
    assert_eq!(status.failed_checks, 0, "every check was answered");
    Ok(())
}
