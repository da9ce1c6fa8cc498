//! The foundation suite: Sluice's CRDs on a real API server, the shared controller runtime
//! reconciling a real object, a Deployment made Available by kwok, and real RBAC.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_runtime::conditions::{self, READY, STALLED};
use sluice_runtime::{
    Context, REQUESTED_AT_ANNOTATION, Reconcilable, ReconcileError, Reconciled, Runtime,
    RuntimeOptions,
};
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Every kind the issue names, in `crds/`.
const KINDS: [&str; 10] = [
    "GitRepository",
    "Kustomization",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "Canary",
    "MetricTemplate",
    "Provider",
    "Alert",
    "Pipeline",
];

async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

#[tokio::test]
async fn every_crd_in_crds_is_established() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    let crds = sluice_tests::crds::sluice_crds()?;
    let kinds: Vec<&str> = crds
        .iter()
        .map(|crd| crd.spec.names.kind.as_str())
        .collect();
    for kind in KINDS {
        assert!(
            kinds.contains(&kind),
            "crds/ lacks {kind}: run `cargo run -p sluice -- crds`"
        );
    }
    for crd in &crds {
        sluice_tests::crds::install(&client, crd).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_deployment_becomes_available_on_kwok_nodes() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    namespace(&client, "deploy-test").await?;
    cluster
        .wait_for_service_account("deploy-test", "default")
        .await?;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "podinfo"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "podinfo"}},
            "template": {
                "metadata": {"labels": {"app": "podinfo"}},
                "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/stefanprodan/podinfo:6.5.0"}]},
            },
        },
    }))?;
    let api: Api<Deployment> = Api::namespaced(client, "deploy-test");
    api.create(&PostParams::default(), &deployment).await?;
    wait_until("Deployment Available", TIMEOUT, || async {
        let deployment = api.get("podinfo").await.map_err(|e| HarnessError::Start {
            what: "get".into(),
            why: e.to_string(),
        })?;
        let status = deployment.status.unwrap_or_default();
        let available = status.conditions.unwrap_or_default().iter().any(|c| {
            c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
        });
        Ok(available && status.ready_replicas == Some(2))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_service_account_cannot_write_outside_its_namespace() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let admin = cluster.client().await?;
    for name in ["tenant-a", "tenant-b"] {
        namespace(&admin, name).await?;
    }
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reconciler"}}))?;
    Api::<ServiceAccount>::namespaced(admin.clone(), "tenant-a")
        .create(&PostParams::default(), &account)
        .await?;
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "configmap-writer"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]}],
    }))?;
    Api::<Role>::namespaced(admin.clone(), "tenant-a")
        .create(&PostParams::default(), &role)
        .await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "reconciler"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "reconciler", "namespace": "tenant-a"}],
    }))?;
    Api::<RoleBinding>::namespaced(admin.clone(), "tenant-a")
        .create(&PostParams::default(), &binding)
        .await?;

    let tenant = cluster
        .client_as_service_account("tenant-a", "reconciler")
        .await?;
    let config_map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "settings"}}))?;
    Api::<ConfigMap>::namespaced(tenant.clone(), "tenant-a")
        .create(&PostParams::default(), &config_map)
        .await?;
    let denied = Api::<ConfigMap>::namespaced(tenant, "tenant-b")
        .create(&PostParams::default(), &config_map)
        .await;
    match denied {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
    let in_b = Api::<ConfigMap>::namespaced(admin, "tenant-b")
        .get_opt("settings")
        .await?;
    assert!(in_b.is_none(), "nothing may be created in tenant-b");
    Ok(())
}

/// A kind of this test only, so the runtime is exercised on a real object of its own.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "test.sluice.dev",
    version = "v1",
    kind = "Probe",
    namespaced,
    status = "ProbeStatus"
)]
struct ProbeSpec {
    interval_seconds: u64,
    #[serde(default)]
    suspend: bool,
    #[serde(default)]
    invalid: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ProbeStatus {
    #[serde(default)]
    conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    observed_generation: Option<i64>,
    last_handled_reconcile_at: Option<String>,
    probed_at_generation: Option<i64>,
}

impl Reconcilable for Probe {
    fn interval(&self) -> Duration {
        Duration::from_secs(self.spec.interval_seconds)
    }
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the probe is marked invalid")]
struct InvalidProbe;

impl ReconcileError for InvalidProbe {
    fn reason(&self) -> String {
        "InvalidProbe".into()
    }
    fn is_stalled(&self) -> bool {
        true
    }
}

async fn reconcile_probe(
    probe: Arc<Probe>,
    _context: Arc<Context<()>>,
) -> Reconciled<InvalidProbe> {
    if probe.spec.invalid {
        return Reconciled::failed(InvalidProbe);
    }
    let status = json!({"probedAtGeneration": probe.metadata.generation});
    Reconciled::ready("probed").with_status(&status)
}

async fn probe_status(api: &Api<Probe>) -> Result<ProbeStatus, HarnessError> {
    let probe = api.get("first").await.map_err(|e| HarnessError::Start {
        what: "get probe".into(),
        why: e.to_string(),
    })?;
    Ok(probe.status.unwrap_or_default())
}

#[tokio::test]
async fn the_runtime_sets_ready_with_observed_generation_and_emits_an_event() -> anyhow::Result<()>
{
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_tests::crds::install(&client, &Probe::crd()).await?;
    namespace(&client, "runtime-test").await?;
    let options = RuntimeOptions {
        kubeconfig: None,
        concurrent: 2,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: "127.0.0.1:0".parse()?,
        log_format: sluice_runtime::options::LogFormat::Text,
        log_level: "info".into(),
        no_cross_namespace_refs: false,
    };
    let runtime = Runtime::new("probe", client.clone(), options);
    let controller = tokio::spawn({
        let runtime = runtime.clone();
        async move {
            runtime
                .run_controller::<Probe, _, _, _, _>((), reconcile_probe)
                .await
        }
    });

    let api: Api<Probe> = Api::namespaced(client.clone(), "runtime-test");
    let probe = Probe::new(
        "first",
        ProbeSpec {
            interval_seconds: 600,
            suspend: false,
            invalid: false,
        },
    );
    api.create(&PostParams::default(), &probe).await?;
    wait_until("Ready=True at generation 1", TIMEOUT, || async {
        let status = probe_status(&api).await?;
        Ok(conditions::is_ready_at(&status.conditions, Some(1))
            && status.probed_at_generation == Some(1))
    })
    .await?;
    assert_eq!(probe_status(&api).await?.observed_generation, Some(1));

    let events: Api<Event> = Api::namespaced(client.clone(), "runtime-test");
    wait_until("a Succeeded event about the probe", TIMEOUT, || async {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| HarnessError::Start {
                what: "events".into(),
                why: e.to_string(),
            })?;
        Ok(list.items.iter().any(|event| {
            event.reason.as_deref() == Some(conditions::SUCCEEDED)
                && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("first")
        }))
    })
    .await?;

    // A reconcile request is handled although the spec did not change.
    let requested =
        json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: "2026-11-23T00:00:00Z"}}});
    api.patch("first", &PatchParams::default(), &Patch::Merge(&requested))
        .await?;
    wait_until("lastHandledReconcileAt", TIMEOUT, || async {
        Ok(probe_status(&api)
            .await?
            .last_handled_reconcile_at
            .as_deref()
            == Some("2026-11-23T00:00:00Z"))
    })
    .await?;

    // An error only a spec change can fix stalls the object.
    let invalid = json!({"spec": {"invalid": true}});
    api.patch("first", &PatchParams::default(), &Patch::Merge(&invalid))
        .await?;
    wait_until("Stalled=True at generation 2", TIMEOUT, || async {
        let status = probe_status(&api).await?;
        let stalled = conditions::find(&status.conditions, STALLED)
            .is_some_and(|c| c.status == "True" && c.reason == "InvalidProbe");
        let ready = conditions::find(&status.conditions, READY)
            .is_some_and(|c| c.status == "False" && c.observed_generation == Some(2));
        Ok(stalled && ready)
    })
    .await?;

    runtime.shutdown.cancel();
    tokio::time::timeout(TIMEOUT, controller).await??;
    Ok(())
}
