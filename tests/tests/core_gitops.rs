//! The core GitOps suite: GitRepository sources fetched from real Git servers (file://, which the
//! in-process controller allows, and smart HTTP) and Kustomizations reconciled into the real local control plane by Sluice's core
//! controller running in this process.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_runtime::REQUESTED_AT_ANNOTATION;
use sluice_runtime::conditions::{self, READY};
use sluice_tests::core_controller::{
    CoreController, TEST_LABEL, WorkingCopy, create_namespace, install_core_crds,
};
use sluice_tests::git_server::GitServers;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(90);

fn harness(what: &str) -> impl Fn(kube::Error) -> HarnessError + '_ {
    move |e| HarnessError::Start {
        what: what.into(),
        why: e.to_string(),
    }
}

/// GET of an artifact `url` as a Sluice controller (with its ServiceAccount's `token`).
async fn download(url: &str, token: &str) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

async fn git_repository(
    client: &Client,
    namespace: &str,
    case: &str,
    url: &str,
) -> anyhow::Result<()> {
    git_repository_with_secret(client, namespace, case, url, None).await
}

/// The GitRepository `fleet`, reading credentials from the Secret `secret` when given.
async fn git_repository_with_secret(
    client: &Client,
    namespace: &str,
    case: &str,
    url: &str,
    secret: Option<&str>,
) -> anyhow::Result<()> {
    let secret_ref = secret.map(|name| json!({"name": name}));
    let repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": namespace, "labels": {TEST_LABEL: case}},
        "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}, "secretRef": secret_ref},
    }))?;
    Api::<GitRepository>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &repository)
        .await?;
    Ok(())
}

async fn kustomization(
    client: &Client,
    namespace: &str,
    case: &str,
    name: &str,
    spec: Value,
) -> anyhow::Result<()> {
    let mut full = json!({"interval": "1h", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "fleet"}});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().cloned().unwrap_or_default());
    let object: Kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace, "labels": {TEST_LABEL: case}},
        "spec": full,
    }))?;
    Api::<Kustomization>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await?;
    Ok(())
}

/// Waits until the Kustomization's Ready condition has `status` and its message contains
/// `message`; returns the Kustomization.
async fn wait_ready(
    api: &Api<Kustomization>,
    name: &str,
    status: &str,
    message: &str,
) -> anyhow::Result<Kustomization> {
    wait_condition(api, name, status, message, |k: &Kustomization| {
        k.status
            .clone()
            .map(|s| s.reconcile.conditions)
            .unwrap_or_default()
    })
    .await
}

/// Waits until the object `name` of `api` has a Ready condition (read by `conditions`) with
/// `status` and `message` in its message; returns the object.
async fn wait_condition<K>(
    api: &Api<K>,
    name: &str,
    status: &str,
    message: &str,
    conditions: impl Fn(&K) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
) -> anyhow::Result<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let what = format!("{name} Ready={status} with '{message}'");
    let waited = wait_until(&what, TIMEOUT, || async {
        let object = api.get(name).await.map_err(harness("get"))?;
        Ok(conditions::find(&conditions(&object), READY)
            .is_some_and(|c| c.status == status && c.message.contains(message)))
    })
    .await;
    let last = api.get(name).await?;
    waited.map_err(|e| anyhow::anyhow!("{e}; last: {:?}", conditions(&last)))?;
    Ok(last)
}

async fn setup(case: &str) -> anyhow::Result<(Client, CoreController, GitServers, WorkingCopy)> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_core_crds(&client).await?;
    create_namespace(&client, case).await?;
    let servers = GitServers::start("git", "git")?;
    let bare = servers.create_repo("fleet.git")?;
    let copy = WorkingCopy::new(&bare)?;
    let controller = CoreController::start(cluster, case, None, false).await?;
    Ok((client, controller, servers, copy))
}

#[tokio::test]
async fn a_revision_is_applied_then_pruned_and_drift_is_corrected() -> anyhow::Result<()> {
    let case = "gitops-apply";
    let (client, controller, servers, copy) = setup(case).await?;
    let first = copy.commit(
        &[
            ("app/a.yaml", &config_map("a", "1")),
            ("app/b.yaml", &config_map("b", "1")),
            (".github/ci.yaml", "not: shipped"),
        ],
        &[],
        "two config maps",
    )?;
    git_repository(&client, case, case, &servers.file_url("fleet.git")).await?;
    kustomization(
        &client,
        case,
        case,
        "app",
        json!({"path": "./app", "targetNamespace": case}),
    )
    .await?;

    let api: Api<Kustomization> = Api::namespaced(client.clone(), case);
    let revision = format!("main@sha1:{first}");
    let ks = wait_ready(
        &api,
        "app",
        "True",
        &format!("Applied revision: {revision}"),
    )
    .await?;
    let status = ks.status.unwrap_or_default();
    assert_eq!(
        status.last_applied_revision.as_deref(),
        Some(revision.as_str())
    );
    let ids: Vec<String> = status
        .inventory
        .unwrap_or_default()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        [
            format!("{case}_a__ConfigMap"),
            format!("{case}_b__ConfigMap")
        ]
    );

    // The artifact: Flux's revision, a digest of the bytes served over HTTP, without CI files.
    let repository = Api::<GitRepository>::namespaced(client.clone(), case)
        .get("fleet")
        .await?;
    let artifact = repository
        .status
        .and_then(|s| s.artifact)
        .expect("artifact");
    assert_eq!(artifact.revision, revision);
    assert!(artifact.url.starts_with(&format!(
        "http://{}/gitrepository/{case}/fleet/",
        controller.address
    )));
    let token = controller
        .caller_token(LocalCluster::shared().await?)
        .await?;
    let bytes = download(&artifact.url, &token).await?.bytes().await?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        artifact.digest.as_deref(),
        Some(format!("sha256:{digest}").as_str())
    );
    assert_eq!(artifact.size, Some(bytes.len() as i64));
    let unpacked = tempfile::tempdir()?;
    sluice_gitops::source::archive::unpack(&bytes, unpacked.path())?;
    assert!(unpacked.path().join("app/a.yaml").is_file());
    assert!(!unpacked.path().join(".github").exists());

    // A commit that removes b prunes it; the new revision is picked up without waiting for the
    // 1h interval.
    let second = copy.commit(&[], &["app/b.yaml"], "remove b")?;
    request_reconcile(&client, case, "fleet").await?;
    wait_ready(&api, "app", "True", &format!("main@sha1:{second}")).await?;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), case);
    wait_until("b pruned", TIMEOUT, || async {
        Ok(config_maps
            .get_opt("b")
            .await
            .map_err(harness("get b"))?
            .is_none())
    })
    .await?;
    assert!(config_maps.get_opt("a").await?.is_some());

    // Drift made by hand is set back on the next reconcile.
    let drift = json!({"data": {"value": "changed by hand"}});
    config_maps
        .patch("a", &PatchParams::default(), &Patch::Merge(&drift))
        .await?;
    let ks_api = api.clone();
    let requested = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: "drift"}}});
    ks_api
        .patch("app", &PatchParams::default(), &Patch::Merge(&requested))
        .await?;
    wait_until("drift corrected", TIMEOUT, || async {
        let a = config_maps.get("a").await.map_err(harness("get a"))?;
        Ok(a.data.unwrap_or_default().get("value").map(String::as_str) == Some("1"))
    })
    .await?;
    controller.stop().await
}

/// Asks the GitRepository to reconcile now (as `sluice reconcile source git` does).
async fn request_reconcile(client: &Client, namespace: &str, name: &str) -> anyhow::Result<()> {
    let requested = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: format!("{:?}", std::time::SystemTime::now())}}});
    Api::<GitRepository>::namespaced(client.clone(), namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(&requested))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_broken_build_applies_nothing_and_says_why() -> anyhow::Result<()> {
    let case = "gitops-broken";
    let (client, controller, servers, copy) = setup(case).await?;
    let kustomization_file = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml, missing.yaml]\n";
    copy.commit(
        &[
            ("app/a.yaml", &config_map("a", "1")),
            ("app/kustomization.yaml", kustomization_file),
        ],
        &[],
        "broken",
    )?;
    git_repository(&client, case, case, &servers.file_url("fleet.git")).await?;
    kustomization(
        &client,
        case,
        case,
        "app",
        json!({"path": "./app", "targetNamespace": case}),
    )
    .await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), case);
    let ks = wait_ready(&api, "app", "False", "missing.yaml").await?;
    let ready = conditions::find(&ks.status.as_ref().unwrap().reconcile.conditions, READY)
        .cloned()
        .unwrap();
    assert_eq!(ready.reason, "BuildFailed");
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), case)
            .get_opt("a")
            .await?
            .is_none()
    );
    controller.stop().await
}

#[tokio::test]
async fn depends_on_orders_two_kustomizations() -> anyhow::Result<()> {
    let case = "gitops-depends";
    let (client, controller, servers, copy) = setup(case).await?;
    let head = copy.commit(
        &[
            ("infra/a.yaml", &config_map("infra", "1")),
            ("apps/b.yaml", &config_map("app", "1")),
        ],
        &[],
        "two layers",
    )?;
    git_repository(&client, case, case, &servers.file_url("fleet.git")).await?;
    kustomization(
        &client,
        case,
        case,
        "apps",
        json!({"path": "./apps", "targetNamespace": case, "dependsOn": [{"name": "infra"}]}),
    )
    .await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), case);
    let waiting = wait_ready(&api, "apps", "False", "dependency").await?;
    let ready = conditions::find(
        &waiting.status.as_ref().unwrap().reconcile.conditions,
        READY,
    )
    .cloned()
    .unwrap();
    assert_eq!(ready.reason, "DependencyNotReady");
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), case)
            .get_opt("app")
            .await?
            .is_none()
    );
    kustomization(
        &client,
        case,
        case,
        "infra",
        json!({"path": "./infra", "targetNamespace": case}),
    )
    .await?;
    let revision = format!("main@sha1:{head}");
    wait_ready(&api, "infra", "True", &revision).await?;
    wait_ready(&api, "apps", "True", &revision).await?;
    controller.stop().await
}

fn deployment(name: &str, node_selector: Option<&str>) -> String {
    let selector = node_selector
        .map(|s| format!("      nodeSelector:\n        pool: {s}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n{selector}      containers:\n      - name: app\n        image: ghcr.io/stefanprodan/podinfo:6.5.0\n"
    )
}

#[tokio::test]
async fn health_checks_wait_for_ready_deployments_and_name_the_one_that_is_not()
-> anyhow::Result<()> {
    let case = "gitops-health";
    let (client, controller, servers, copy) = setup(case).await?;
    LocalCluster::shared()
        .await?
        .wait_for_service_account(case, "default")
        .await?;
    copy.commit(
        &[
            ("good/web.yaml", &deployment("web", None)),
            ("bad/stuck.yaml", &deployment("stuck", Some("nowhere"))),
        ],
        &[],
        "two deployments",
    )?;
    git_repository(&client, case, case, &servers.file_url("fleet.git")).await?;
    let check = |name: &str| json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "namespace": case}]);
    kustomization(
        &client,
        case,
        case,
        "good",
        json!({"path": "./good", "targetNamespace": case, "healthChecks": check("web")}),
    )
    .await?;
    kustomization(
        &client,
        case,
        case,
        "bad",
        json!({"path": "./bad", "targetNamespace": case, "wait": true, "timeout": "8s"}),
    )
    .await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), case);
    wait_ready(&api, "good", "True", "Applied revision").await?;
    let web = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), case)
        .get("web")
        .await?;
    assert_eq!(web.status.and_then(|s| s.ready_replicas), Some(1));
    let bad = wait_ready(&api, "bad", "False", &format!("Deployment/{case}/stuck")).await?;
    let ready = conditions::find(&bad.status.as_ref().unwrap().reconcile.conditions, READY)
        .cloned()
        .unwrap();
    assert_eq!(ready.reason, "HealthCheckFailed");
    assert!(
        ready.message.contains("Available: 0/1"),
        "{}",
        ready.message
    );

    // With a long timeout, a fixing revision is applied at once instead of after the timeout.
    let patch = json!({"spec": {"timeout": "10m"}});
    api.patch("bad", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let fixed = copy.commit(
        &[("bad/stuck.yaml", &deployment("stuck", None))],
        &[],
        "schedulable",
    )?;
    request_reconcile(&client, case, "fleet").await?;
    wait_ready(&api, "bad", "True", &format!("main@sha1:{fixed}")).await?;
    controller.stop().await
}

/// Waits until the GitRepository `fleet` has Ready=`status` with `message` in its message;
/// returns it.
async fn wait_source(
    client: &Client,
    namespace: &str,
    status: &str,
    message: &str,
) -> anyhow::Result<GitRepository> {
    let api: Api<GitRepository> = Api::namespaced(client.clone(), namespace);
    wait_condition(&api, "fleet", status, message, |r: &GitRepository| {
        r.status
            .clone()
            .map(|s| s.reconcile.conditions)
            .unwrap_or_default()
    })
    .await
}

/// Waits until `api` has no object `name`.
async fn wait_gone<K>(api: &Api<K>, name: &str) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_until(&format!("{name} deleted"), TIMEOUT, || async {
        Ok(api.get_opt(name).await.map_err(harness("get"))?.is_none())
    })
    .await?;
    Ok(())
}

async fn create_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    data: Value,
) -> anyhow::Result<()> {
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))?;
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

#[tokio::test]
async fn deletion_collects_the_inventory_unless_suspended_and_removes_artifacts()
-> anyhow::Result<()> {
    let case = "gitops-finalize";
    let (client, controller, servers, copy) = setup(case).await?;
    let head = copy.commit(
        &[
            ("pruned/a.yaml", &config_map("a", "1")),
            ("kept/k.yaml", &config_map("k", "1")),
        ],
        &[],
        "two apps",
    )?;
    git_repository(&client, case, case, &servers.file_url("fleet.git")).await?;
    for name in ["pruned", "kept"] {
        let path = format!("./{name}");
        kustomization(
            &client,
            case,
            case,
            name,
            json!({"path": path, "targetNamespace": case}),
        )
        .await?;
    }
    let api: Api<Kustomization> = Api::namespaced(client.clone(), case);
    let revision = format!("main@sha1:{head}");
    for name in ["pruned", "kept"] {
        let ready = wait_ready(&api, name, "True", &revision).await?;
        assert_eq!(
            ready.metadata.finalizers,
            Some(vec!["finalizers.sluice.dev".to_string()])
        );
    }
    let suspend = json!({"spec": {"suspend": true}});
    api.patch("kept", &PatchParams::default(), &Patch::Merge(&suspend))
        .await?;
    let repositories: Api<GitRepository> = Api::namespaced(client.clone(), case);
    let artifact = repositories
        .get("fleet")
        .await?
        .status
        .and_then(|s| s.artifact)
        .expect("artifact");
    let token = controller
        .caller_token(LocalCluster::shared().await?)
        .await?;
    assert_eq!(download(&artifact.url, &token).await?.status(), 200);

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), case);
    api.delete("pruned", &Default::default()).await?;
    api.delete("kept", &Default::default()).await?;
    wait_gone(&api, "pruned").await?;
    wait_gone(&api, "kept").await?;
    assert!(
        config_maps.get_opt("a").await?.is_none(),
        "a was not pruned"
    );
    assert!(
        config_maps.get_opt("k").await?.is_some(),
        "k of the suspended one was pruned"
    );

    repositories.delete("fleet", &Default::default()).await?;
    wait_gone(&repositories, "fleet").await?;
    assert_eq!(download(&artifact.url, &token).await?.status(), 404);
    controller.stop().await
}

/// gix (and so Sluice) never sends a password in clear text: over plain `http://` the
/// credentials of the Secret are refused with a condition that says so, and nothing is stored.
#[tokio::test]
async fn a_source_over_plain_http_refuses_to_send_basic_credentials() -> anyhow::Result<()> {
    let case = "gitops-http-auth";
    let (client, controller, servers, copy) = setup(case).await?;
    copy.commit(&[("app/a.yaml", &config_map("a", "1"))], &[], "one")?;
    let data = json!({"username": "git", "password": "git"});
    create_secret(&client, case, "basic", data).await?;
    let url = servers.http_url("fleet.git");
    git_repository_with_secret(&client, case, case, &url, Some("basic")).await?;
    let refused = wait_source(&client, case, "False", "clear text").await?;
    let status = refused.status.unwrap_or_default();
    let ready = conditions::find(&status.reconcile.conditions, READY)
        .cloned()
        .unwrap();
    assert_eq!(ready.reason, "GitOperationFailed", "{}", ready.message);
    assert!(status.artifact.is_none());
    controller.stop().await
}

#[tokio::test]
async fn a_source_over_ssh_uses_the_identity_and_known_hosts_of_its_secret() -> anyhow::Result<()> {
    let case = "gitops-ssh-auth";
    let (client, controller, servers, copy) = setup(case).await?;
    let head = copy.commit(&[("app/a.yaml", &config_map("a", "1"))], &[], "one")?;
    let sshd = sluice_tests::sshd::Sshd::start()?;
    let identity = String::from_utf8(sshd.client_identity()?)?;
    let data = json!({"identity": identity, "known_hosts": sshd.known_hosts()?});
    create_secret(&client, case, "ssh", data).await?;
    let url = sshd.url(&servers.repos().join("fleet.git"));
    git_repository_with_secret(&client, case, case, &url, Some("ssh")).await?;
    wait_source(&client, case, "True", &format!("main@sha1:{head}")).await?;
    kustomization(
        &client,
        case,
        case,
        "app",
        json!({"path": "./app", "targetNamespace": case}),
    )
    .await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), case);
    wait_ready(&api, "app", "True", &format!("main@sha1:{head}")).await?;
    controller.stop().await
}
