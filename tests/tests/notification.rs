//! Providers, Alerts and commit statuses on the real local control plane with a real Gitea:
//! a Kustomization's revision gets `pending` then `success` on its commit; a bad token or an
//! unreachable forge makes the Provider and its Alert not Ready, saying why.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde_json::json;
use sluice_gitops::api::alert::Alert;
use sluice_gitops::api::provider::Provider;
use sluice_gitops::forge::{CommitState, Forge, ForgeKind};
use sluice_gitops::notification::event::{COMMIT_STATUS, REVISION};
use sluice_gitops::notification::{self, Event, InvolvedObject, Notifier, Severity};
use sluice_runtime::conditions::{self, READY};
use sluice_runtime::{Runtime, RuntimeOptions};
use sluice_tests::gitea::Gitea;
use sluice_tests::objects::create_from_json as create;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(60);

fn options() -> RuntimeOptions {
    RuntimeOptions {
        kubeconfig: None,
        concurrent: 4,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: "127.0.0.1:0".parse().expect("a socket address"),
        log_format: sluice_runtime::options::LogFormat::Text,
        log_level: "info".into(),
        no_cross_namespace_refs: false,
    }
}

fn seed_commit(gitea: &Gitea, repo: &str, work: &Path) -> String {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
            .args(args)
            .current_dir(work)
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    git(&["init", "--quiet", "-b", "main", "."]);
    std::fs::write(work.join("kustomization.yaml"), "resources: []\n").expect("writable");
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "dev"]);
    git(&[
        "push",
        "--quiet",
        &gitea.clone_url_with_credentials(repo),
        "main",
    ]);
    git(&["rev-parse", "HEAD"])
}

async fn ready_condition<K>(
    api: &Api<K>,
    name: &str,
) -> Result<Option<(String, String, String)>, HarnessError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    let object = api.get(name).await.map_err(|e| HarnessError::Start {
        what: name.into(),
        why: e.to_string(),
    })?;
    let value = serde_json::to_value(&object).unwrap_or_default();
    let found: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> =
        serde_json::from_value(value["status"]["conditions"].clone()).unwrap_or_default();
    Ok(conditions::find(&found, READY)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone())))
}

fn kustomization_event(severity: Severity, reason: &str, revision: &str, pending: bool) -> Event {
    let mut metadata = BTreeMap::from([(REVISION.to_owned(), revision.to_owned())]);
    if pending {
        metadata.insert(COMMIT_STATUS.to_owned(), "pending".to_owned());
    }
    Event {
        involved_object: InvolvedObject {
            kind: "Kustomization".into(),
            namespace: "notify-test".into(),
            name: "apps-dev".into(),
            api_version: "kustomize.sluice.dev/v1".into(),
            labels: BTreeMap::new(),
        },
        severity,
        timestamp: "2026-11-23T00:00:00Z".into(),
        message: format!("revision {revision}"),
        reason: reason.into(),
        metadata,
        reporting_controller: "sluice-core".into(),
    }
}

#[tokio::test]
async fn commit_statuses_reach_gitea_and_bad_providers_say_why() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "notify-test"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;

    let gitea = Gitea::start()?;
    gitea.create_repo("fleet").await?;
    let work = tempfile::tempdir()?;
    let sha = seed_commit(&gitea, "fleet", work.path());
    gitea.wait_for_branch("fleet", "main").await?;

    let ns = "notify-test";
    for (name, token) in [
        ("gitea-token", gitea.token.as_str()),
        ("wrong-token", "not-a-token"),
    ] {
        create::<Secret>(
            &client,
            ns,
            json!({"metadata": {"name": name}, "stringData": {"token": token}}),
        )
        .await?;
    }
    let unreachable = format!(
        "http://127.0.0.1:{}/sluice/fleet",
        sluice_tests::ports::free_port()?
    );
    for (name, address, secret) in [
        ("gitea", gitea.repo_url("fleet"), "gitea-token"),
        ("wrong-token", gitea.repo_url("fleet"), "wrong-token"),
        ("unreachable", unreachable, "gitea-token"),
    ] {
        let spec = json!({"type": "gitea", "address": address, "secretRef": {"name": secret}, "timeout": "3s"});
        create::<Provider>(
            &client,
            ns,
            json!({"metadata": {"name": name}, "spec": spec}),
        )
        .await?;
        let sources = json!([{"kind": "Kustomization", "name": "apps-dev"}]);
        let alert = json!({"metadata": {"name": name}, "spec": {"providerRef": {"name": name}, "eventSources": sources}});
        create::<Alert>(&client, ns, alert).await?;
    }

    let runtime = Runtime::new("notification-test", client.clone(), options());
    let (notifier, events) = Notifier::channel();
    let controllers = tokio::spawn({
        let runtime = runtime.clone();
        async move { notification::run(&runtime, events).await }
    });

    let providers: Api<Provider> = Api::namespaced(client.clone(), ns);
    let alerts: Api<Alert> = Api::namespaced(client.clone(), ns);
    wait_until("the gitea Provider and Alert Ready", TIMEOUT, || async {
        let provider = ready_condition(&providers, "gitea").await?;
        let alert = ready_condition(&alerts, "gitea").await?;
        Ok(provider.is_some_and(|c| c.0 == "True") && alert.is_some_and(|c| c.0 == "True"))
    })
    .await?;
    for (name, reason) in [
        ("wrong-token", "TokenRejected"),
        ("unreachable", "ProviderUnreachable"),
    ] {
        wait_until(
            &format!("{name} not Ready with {reason}"),
            TIMEOUT,
            || async {
                let provider = ready_condition(&providers, name).await?;
                let alert = ready_condition(&alerts, name).await?;
                let provider_says = provider.is_some_and(|c| c.0 == "False" && c.1 == reason);
                let alert_says = alert.is_some_and(|c| {
                    c.0 == "False" && c.1 == "ProviderNotReady" && c.2.contains(reason)
                });
                Ok(provider_says && alert_says)
            },
        )
        .await?;
    }

    let revision = format!("main@sha1:{sha}");
    notifier.publish(kustomization_event(
        Severity::Info,
        "Progressing",
        &revision,
        true,
    ));
    let uid = providers.get("gitea").await?.uid().unwrap_or_default();
    let context = format!(
        "kustomization/apps-dev/{}",
        uid.split('-').next().unwrap_or_default()
    );
    let forge = Forge::new(
        ForgeKind::Gitea,
        &gitea.repo_url("fleet"),
        &gitea.token,
        Duration::from_secs(10),
    )?;
    let state_of = |wanted: CommitState| {
        let (forge, context, sha) = (&forge, context.clone(), sha.clone());
        async move {
            let statuses = forge
                .commit_statuses(&sha)
                .await
                .map_err(|e| HarnessError::Start {
                    what: "statuses".into(),
                    why: e.to_string(),
                })?;
            Ok(statuses
                .iter()
                .any(|status| status.context == context && status.state == wanted))
        }
    };
    wait_until("a pending status on the commit", TIMEOUT, || {
        state_of(CommitState::Pending)
    })
    .await?;
    notifier.publish(kustomization_event(
        Severity::Info,
        "ReconciliationSucceeded",
        &revision,
        false,
    ));
    wait_until("a success status on the commit", TIMEOUT, || {
        state_of(CommitState::Success)
    })
    .await?;

    runtime.shutdown.cancel();
    tokio::time::timeout(TIMEOUT, controllers).await??;
    Ok(())
}
