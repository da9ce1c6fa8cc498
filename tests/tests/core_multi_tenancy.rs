//! Soft multi-tenancy with real RBAC: the core controller runs with Flux's lockdown flags
//! (`--default-service-account`, `--no-cross-namespace-refs`), so every apply impersonates the
//! tenant's ServiceAccount and the API server decides what it may do.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_runtime::conditions::{self, READY, STALLED};
use sluice_tests::core_controller::{
    CoreController, TEST_LABEL, WorkingCopy, create_namespace, install_core_crds,
};
use sluice_tests::git_server::GitServers;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(90);
const CASE: &str = "tenancy";

fn config_map(name: &str, namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|ns| format!("  namespace: {ns}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{namespace}data:\n  owner: tenant-a\n"
    )
}

/// A tenant as the onboarding example makes one: a namespace, a ServiceAccount with a
/// namespaced RoleBinding to `admin`, and a GitRepository.
async fn onboard(client: &Client, tenant: &str, url: &str) -> anyhow::Result<()> {
    create_namespace(client, tenant).await?;
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reconciler"}}))?;
    Api::<ServiceAccount>::namespaced(client.clone(), tenant)
        .create(&PostParams::default(), &account)
        .await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "reconciler"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "reconciler", "namespace": tenant}],
    }))?;
    Api::<RoleBinding>::namespaced(client.clone(), tenant)
        .create(&PostParams::default(), &binding)
        .await?;
    let repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": "tenant", "namespace": tenant, "labels": {TEST_LABEL: CASE}},
        "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}},
    }))?;
    Api::<GitRepository>::namespaced(client.clone(), tenant)
        .create(&PostParams::default(), &repository)
        .await?;
    Ok(())
}

async fn kustomization(
    client: &Client,
    name: &str,
    path: &str,
    source: Value,
) -> anyhow::Result<()> {
    let object: Kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "tenant-a", "labels": {TEST_LABEL: CASE}},
        "spec": {"interval": "1h", "prune": true, "path": path, "sourceRef": source, "serviceAccountName": "reconciler"},
    }))?;
    Api::<Kustomization>::namespaced(client.clone(), "tenant-a")
        .create(&PostParams::default(), &object)
        .await?;
    Ok(())
}

async fn wait_condition(
    api: &Api<Kustomization>,
    name: &str,
    type_: &str,
    status: &str,
    message: &str,
) -> anyhow::Result<String> {
    let what = format!("{name} {type_}={status} '{message}'");
    wait_until(&what, TIMEOUT, || async {
        let ks = api.get(name).await.map_err(|e| HarnessError::Start {
            what: "get".into(),
            why: e.to_string(),
        })?;
        let conditions = ks
            .status
            .map(|s| s.reconcile.conditions)
            .unwrap_or_default();
        Ok(conditions::find(&conditions, type_)
            .is_some_and(|c| c.status == status && c.message.contains(message)))
    })
    .await?;
    let ks = api.get(name).await?;
    let conditions = ks
        .status
        .map(|s| s.reconcile.conditions)
        .unwrap_or_default();
    Ok(conditions::find(&conditions, READY)
        .map(|c| c.reason.clone())
        .unwrap_or_default())
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_tenant_or_the_cluster() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_core_crds(&client).await?;
    let servers = GitServers::start("git", "git")?;
    let bare = servers.create_repo("tenant.git")?;
    let copy = WorkingCopy::new(&bare)?;
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tenant-a-extra\n";
    copy.commit(
        &[
            ("own/settings.yaml", &config_map("settings", None)),
            (
                "other/intrusion.yaml",
                &config_map("intrusion", Some("tenant-b")),
            ),
            ("cluster/namespace.yaml", namespace),
        ],
        &[],
        "tenant manifests",
    )?;
    onboard(&client, "tenant-a", &servers.file_url("tenant.git")).await?;
    onboard(&client, "tenant-b", &servers.file_url("tenant.git")).await?;
    let controller = CoreController::start(cluster, CASE, Some("default"), true).await?;
    let own_source = json!({"kind": "GitRepository", "name": "tenant"});
    kustomization(&client, "own", "./own", own_source.clone()).await?;
    kustomization(&client, "other", "./other", own_source.clone()).await?;
    kustomization(&client, "cluster", "./cluster", own_source).await?;
    kustomization(
        &client,
        "borrowed",
        "./own",
        json!({"kind": "GitRepository", "name": "tenant", "namespace": "tenant-b"}),
    )
    .await?;

    let api: Api<Kustomization> = Api::namespaced(client.clone(), "tenant-a");
    wait_condition(&api, "own", READY, "True", "Applied revision").await?;
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), "tenant-a")
            .get_opt("settings")
            .await?
            .is_some()
    );

    let reason = wait_condition(&api, "other", READY, "False", "forbidden").await?;
    assert_eq!(reason, "ReconciliationFailed");
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), "tenant-b")
            .get_opt("intrusion")
            .await?
            .is_none()
    );

    wait_condition(&api, "cluster", READY, "False", "forbidden").await?;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt("tenant-a-extra")
            .await?
            .is_none()
    );

    let reason = wait_condition(
        &api,
        "borrowed",
        STALLED,
        "True",
        "cross-namespace references have been blocked",
    )
    .await?;
    assert_eq!(reason, "AccessDenied");
    controller.stop().await
}
