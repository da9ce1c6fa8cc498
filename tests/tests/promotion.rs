//! The promotion flow end to end, on the real local control plane with a real Gitea (built from
//! its Go module), the real registry and real Git, every controller in this process: a new image
//! tag is pushed; image-reflector sees it and image-automation commits it to the dev overlay;
//! dev is applied and its commit gets `pending` then `success`; the Pipeline opens a pull request
//! to qa and merges it by itself; qa is applied; a pull request to prod opens and waits for a
//! person. Then a change that breaks dev's health stops the promotion: a `failure` status on the
//! commit, the Pipeline not Ready, and no pull request to qa; and a change that breaks qa after
//! its promotion is reported on the pull request that brought it. All along, two Alerts whose
//! Providers are broken (a rejected token, an unreachable host) say why they are not Ready, and
//! hinder none of it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};
use sluice_gitops::api::alert::Alert;
use sluice_gitops::api::provider::Provider;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_gitops::controller_flags::CoreFlags;
use sluice_image_automation::api::ImageUpdateAutomation;
use sluice_image_automation::controller::run_automations;
use sluice_image_automation::reconcile::AutomationState;
use sluice_image_reflector::controller::{ReflectorArgs, run};
use sluice_promotion::api::{Pipeline, PullRequestState};
use sluice_runtime::conditions::{self, READY};
use sluice_runtime::options::LogFormat;
use sluice_runtime::{Runtime, RuntimeOptions};
use sluice_tests::core_controller::create_namespace;
use sluice_tests::gitea::{Gitea, PASSWORD, USER};
use sluice_tests::objects::create_from_json;
use sluice_tests::ports::free_port;
use sluice_tests::registry::{Registry, RegistryAuth};
use sluice_tests::{HarnessError, LocalCluster, oci_layout, wait_until};

const NS: &str = "promo";
const REPO: &str = "fleet";
const TIMEOUT: Duration = Duration::from_secs(150);

fn options(kubeconfig: &Path, metrics_port: u16) -> RuntimeOptions {
    RuntimeOptions {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        concurrent: 4,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: format!("127.0.0.1:{metrics_port}")
            .parse()
            .expect("an address"),
        log_format: LogFormat::Text,
        log_level: "info".into(),
        no_cross_namespace_refs: false,
    }
}

fn harness(what: &str) -> impl Fn(anyhow::Error) -> HarnessError + '_ {
    move |error| HarnessError::Start {
        what: what.into(),
        why: format!("{error:#}"),
    }
}

/// Runs git in `dir`, returning its trimmed output.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@sluice.dev"])
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Pushes `tag` of a fresh one-layer image to `registry/app` with skopeo.
fn push_image(registry: &str, tag: &str) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let layout = work.path().join("layout");
    oci_layout::add_image(&layout, tag, "2026-11-23T00:00:00Z")?;
    let output = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{registry}/app:{tag}"))
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The tenant repository: a base Deployment and dev, qa and prod overlays whose image tag is
/// marked with the setter of ImagePolicy `promo:app`.
fn repository_files(registry: &str) -> Vec<(String, String)> {
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app\n  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      containers:\n      - name: app\n        image: {registry}/app:1.0.0\n"
    );
    let mut files = vec![
        ("base/deployment.yaml".to_owned(), deployment),
        (
            "base/kustomization.yaml".to_owned(),
            "resources:\n- deployment.yaml\n".to_owned(),
        ),
    ];
    for stage in ["dev", "qa"] {
        files.push((
            format!("{stage}/kustomization.yaml"),
            format!(
                "resources:\n- ../base\nimages:\n- name: {registry}/app\n  newTag: 1.0.0 # {{\"$imagepolicy\": \"{NS}:app:tag\"}}\n"
            ),
        ));
    }
    // prod names its image by the kustomize images entry alone, without a marker.
    files.push((
        "prod/kustomization.yaml".to_owned(),
        format!("resources:\n- ../base\nimages:\n- name: {registry}/app\n  newTag: \"1.0.0\"\n"),
    ));
    files
}

/// Clones `main` of the Gitea repository into `dir`.
fn clone(gitea: &Gitea, dir: &Path) -> anyhow::Result<()> {
    git(
        dir,
        &["clone", "-q", &gitea.clone_url_with_credentials(REPO), "."],
    )?;
    Ok(())
}

/// The tenant's objects: credentials, source, one Kustomization per stage, the image scan and
/// policy, the automation of dev, the Provider and Alert for commit statuses, the Pipeline.
async fn tenant(client: &Client, gitea: &Gitea, registry: &str) -> anyhow::Result<()> {
    let entry = json!({"path": "prod/kustomization.yaml", "name": format!("{registry}/app")});
    for namespace in [NS, "promo-dev", "promo-qa", "promo-prod"] {
        create_namespace(client, namespace).await?;
    }
    let credentials = json!({"username": USER, "password": PASSWORD, "token": gitea.token});
    create_from_json::<Secret>(
        client,
        NS,
        json!({"metadata": {"name": "gitea"}, "stringData": credentials}),
    )
    .await?;
    create_from_json::<GitRepository>(client, NS, json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository", "metadata": {"name": "fleet"},
        "spec": {"url": format!("{}/{USER}/{REPO}.git", gitea.url), "interval": "3s",
                 "secretRef": {"name": "gitea"}, "ref": {"branch": "main"}},
    }))
    .await?;
    for stage in ["dev", "qa", "prod"] {
        create_from_json::<Kustomization>(client, NS, json!({
            "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization", "metadata": {"name": stage},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "path": format!("./{stage}"),
                     "interval": "1m", "prune": true, "wait": true, "timeout": "20s",
                     "targetNamespace": format!("promo-{stage}")},
        }))
        .await?;
    }
    create_from_json::<sluice_image_reflector::api::ImageRepository>(client, NS, json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageRepository", "metadata": {"name": "app"},
        "spec": {"image": format!("{registry}/app"), "interval": "3s", "insecure": true},
    }))
    .await?;
    create_from_json::<sluice_image_reflector::api::ImagePolicy>(client, NS, json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy", "metadata": {"name": "app"},
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}},
    }))
    .await?;
    create_from_json::<ImageUpdateAutomation>(client, NS, json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageUpdateAutomation", "metadata": {"name": "dev"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "interval": "3s",
                 "update": {"strategy": "Setters", "path": "./dev"},
                 "git": {"commit": {"author": {"name": "sluice", "email": "sluice@sluice.dev"}},
                         "push": {"branch": "main"}}},
    }))
    .await?;
    create_from_json::<Secret>(
        client,
        NS,
        json!({"metadata": {"name": "wrong-token"}, "stringData": {"token": "not-a-token"}}),
    )
    .await?;
    let unreachable = format!("http://127.0.0.1:{}/{USER}/{REPO}", free_port()?);
    // Two broken Providers beside the good one: their Alerts say why, nothing else is hindered.
    for (name, address, secret) in [
        ("gitea", gitea.repo_url(REPO), "gitea"),
        ("wrong-token", gitea.repo_url(REPO), "wrong-token"),
        ("unreachable", unreachable, "gitea"),
    ] {
        create_from_json::<Provider>(client, NS, json!({
            "apiVersion": "notification.sluice.dev/v1", "kind": "Provider", "metadata": {"name": name},
            "spec": {"type": "gitea", "address": address, "secretRef": {"name": secret}, "timeout": "3s"},
        }))
        .await?;
        create_from_json::<Alert>(client, NS, json!({
            "apiVersion": "notification.sluice.dev/v1", "kind": "Alert", "metadata": {"name": name},
            "spec": {"providerRef": {"name": name}, "eventSources": [{"kind": "Kustomization", "name": "*"}]},
        }))
        .await?;
    }
    let stage = |name: &str, approval: &str| {
        json!({"name": name, "kustomizationRef": {"name": name}, "path": name,
               "image": {"policy": format!("{NS}:app")}, "approval": approval})
    };
    create_from_json::<Pipeline>(client, NS, json!({
        "apiVersion": "promotion.sluice.dev/v1", "kind": "Pipeline", "metadata": {"name": "app"},
        "spec": {"sourceRef": {"name": "fleet"}, "providerRef": {"name": "gitea"}, "interval": "5s",
                 "stages": [stage("dev", "auto"), stage("qa", "auto"),
                            {"name": "prod", "kustomizationRef": {"name": "prod"}, "approval": "manual",
                             "image": {"kustomizeImage": entry}}]},
    }))
    .await?;
    Ok(())
}

/// Starts the core (with Pipelines), image-reflector and image-automation controllers.
async fn start_controllers(cluster: &LocalCluster, scratch: &Path) -> anyhow::Result<Vec<Runtime>> {
    let client = cluster.client().await?;
    let kubeconfig = cluster.kubeconfig();
    let core_port = free_port()?;
    let core = Runtime::new("core", client.clone(), options(kubeconfig, core_port));
    let flags = CoreFlags {
        storage_path: scratch.join("artifacts"),
        storage_addr: None,
        storage_adv_addr: Some(format!("127.0.0.1:{core_port}")),
        default_service_account: None,
        allow_file_sources: false,
    };
    tokio::spawn(sluice_promotion::controller::run(core.clone(), flags));
    let reflector = Runtime::new(
        "image-reflector",
        client.clone(),
        options(kubeconfig, free_port()?),
    );
    let args = ReflectorArgs {
        registry_qps: 50.0,
        storage_path: scratch.join("tags"),
        max_concurrent_scans: 2,
    };
    tokio::spawn(run(reflector.clone(), args));
    let automation = Runtime::new(
        "image-automation",
        client,
        options(kubeconfig, free_port()?),
    );
    let state = AutomationState {
        work_cache: scratch.join("work"),
        allow_file_sources: false,
    };
    tokio::spawn({
        let automation = automation.clone();
        async move { run_automations(&automation, state).await }
    });
    Ok(vec![core, reflector, automation])
}

/// The image of Deployment `app` in `namespace`, when it exists.
async fn deployed_image(client: &Client, namespace: &str) -> Result<Option<String>, HarnessError> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get_opt("app")
        .await
        .map_err(|error| harness("Deployment app")(error.into()))?;
    Ok(deployment
        .and_then(|d| d.spec.template.spec)
        .and_then(|pod| pod.containers.first().and_then(|c| c.image.clone())))
}

async fn wait_for_image(client: &Client, stage: &str, image: &str) -> anyhow::Result<()> {
    let namespace = format!("promo-{stage}");
    wait_until(&format!("{stage} to run {image}"), TIMEOUT, || async {
        Ok(deployed_image(client, &namespace).await?.as_deref() == Some(image))
    })
    .await?;
    Ok(())
}

/// A Gitea API GET of `repos/USER/REPO/<path>` as JSON (`null` on 404: Gitea learns of pushes
/// asynchronously).
async fn gitea_get(gitea: &Gitea, path: &str) -> Result<Value, HarnessError> {
    let path = format!("repos/{USER}/{REPO}/{path}");
    gitea.api(reqwest::Method::GET, &path, None).await
}

/// The text of `path` on branch `branch`.
async fn gitea_raw(gitea: &Gitea, path: &str, branch: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/repos/{USER}/{REPO}/raw/{path}?ref={}",
            gitea.url,
            branch.replace('/', "%2F")
        ))
        .header("Authorization", format!("token {}", gitea.token))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "raw {path}: {}",
        response.status()
    );
    Ok(response.text().await?)
}

/// The pull requests (any state) whose head branch is `head`.
async fn pulls_from(gitea: &Gitea, head: &str) -> Result<Vec<Value>, HarnessError> {
    let pulls = gitea_get(gitea, "pulls?state=all&limit=50").await?;
    Ok(pulls
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pull| pull["head"]["ref"] == head)
        .cloned()
        .collect())
}

/// The states every status of `commit` whose context starts with `prefix` went through.
async fn status_states(
    gitea: &Gitea,
    commit: &str,
    prefix: &str,
) -> Result<Vec<String>, HarnessError> {
    let statuses = gitea_get(gitea, &format!("commits/{commit}/statuses?limit=50")).await?;
    Ok(statuses
        .as_array()
        .into_iter()
        .flatten()
        .filter(|status| {
            status["context"]
                .as_str()
                .is_some_and(|c| c.starts_with(prefix))
        })
        .filter_map(|status| status["status"].as_str().map(str::to_owned))
        .collect())
}

/// The Ready condition (status, reason, message) of the `K` named `name`.
async fn ready_of<K>(
    client: &Client,
    name: &str,
) -> Result<Option<(String, String, String)>, HarnessError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let object = Api::<K>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .map_err(|error| harness(name)(error.into()))?;
    let value = serde_json::to_value(&object).unwrap_or_default();
    let found: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> =
        serde_json::from_value(value["status"]["conditions"].clone()).unwrap_or_default();
    Ok(conditions::find(&found, READY)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone())))
}

#[tokio::test]
async fn an_image_moves_dev_to_qa_by_itself_and_waits_for_a_person_before_prod()
-> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    let address = registry.address.clone();
    push_image(&address, "1.0.0")?;
    let gitea = Gitea::start()?;
    gitea.create_repo(REPO).await?;
    gitea.seed(REPO, &repository_files(&address))?;
    gitea.wait_for_branch(REPO, "main").await?;
    let scratch = tempfile::tempdir()?;
    let controllers = start_controllers(cluster, scratch.path()).await?;
    tenant(&client, &gitea, &address).await?;
    let old = format!("{address}/app:1.0.0");
    for stage in ["dev", "qa", "prod"] {
        wait_for_image(&client, stage, &old).await?;
    }
    wait_until(
        "the Pipeline Ready with nothing to promote",
        TIMEOUT,
        || async {
            Ok(ready_of::<Pipeline>(&client, "app")
                .await?
                .is_some_and(|c| c.0 == "True"))
        },
    )
    .await?;

    // A new tag: scanned, committed to dev by the automation, applied, statuses posted.
    push_image(&address, "1.1.0")?;
    let new = format!("{address}/app:1.1.0");
    wait_for_image(&client, "dev", &new).await?;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), NS);
    let commit = automations
        .get("dev")
        .await?
        .status
        .and_then(|status| status.last_push_commit)
        .expect("the automation pushed");
    wait_until(
        "pending then success on the dev commit",
        TIMEOUT,
        || async {
            let states = status_states(&gitea, &commit, "kustomization/dev/").await?;
            Ok(states.iter().any(|s| s == "pending") && states.iter().any(|s| s == "success"))
        },
    )
    .await?;

    // qa: a pull request, merged by the Pipeline, applied.
    wait_for_image(&client, "qa", &new).await?;
    let qa_pulls = pulls_from(&gitea, "sluice/promote/app/qa").await?;
    assert_eq!(qa_pulls.len(), 1, "one pull request into qa: {qa_pulls:?}");
    assert_eq!(qa_pulls[0]["merged"], true, "merged by the Pipeline");
    assert!(
        qa_pulls[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains("revision"),
        "the body lists the evidence: {}",
        qa_pulls[0]["body"]
    );

    // prod: a pull request that waits for a person.
    wait_until(
        "a pull request into prod waiting for approval",
        TIMEOUT,
        || async {
            let pipeline = Api::<Pipeline>::namespaced(client.clone(), NS)
                .get("app")
                .await
                .map_err(|error| harness("Pipeline")(error.into()))?;
            let status = pipeline.status.unwrap_or_default();
            let prod = status.stages.get(2).cloned().unwrap_or_default();
            Ok(prod
                .pull_request
                .is_some_and(|pull| pull.state == PullRequestState::Open)
                && prod
                    .waiting_for
                    .is_some_and(|why| why.contains("manual approval")))
        },
    )
    .await?;
    let prod_pulls = pulls_from(&gitea, "sluice/promote/app/prod").await?;
    assert_eq!(prod_pulls.len(), 1);
    assert_eq!(prod_pulls[0]["state"], "open");
    assert_eq!(prod_pulls[0]["title"], format!("Promote prod to 1.1.0"));
    let promoted = gitea_raw(&gitea, "prod/kustomization.yaml", "sluice/promote/app/prod").await?;
    assert_eq!(
        promoted,
        format!("resources:\n- ../base\nimages:\n- name: {address}/app\n  newTag: \"1.1.0\"\n"),
        "only the entry's tag changed, in its own quoting"
    );
    assert_eq!(
        deployed_image(&client, "promo-prod").await?.as_deref(),
        Some(old.as_str()),
        "prod is untouched until a person merges"
    );

    // A change that breaks dev: failure status, Pipeline not Ready, no pull request into qa.
    let work = tempfile::tempdir()?;
    clone(&gitea, work.path())?;
    let overlay = work.path().join("dev/kustomization.yaml");
    let mut text = std::fs::read_to_string(&overlay)?;
    text.push_str("patches:\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: app\n    spec:\n      template:\n        spec:\n          nodeSelector:\n            sluice.dev/nowhere: \"true\"\n");
    std::fs::write(&overlay, text)?;
    git(
        work.path(),
        &["commit", "-q", "-am", "dev: schedule nowhere"],
    )?;
    git(work.path(), &["push", "-q", "origin", "main"])?;
    push_image(&address, "1.2.0")?;
    wait_until("the Pipeline to stop on dev", TIMEOUT, || async {
        Ok(ready_of::<Pipeline>(&client, "app")
            .await?
            .is_some_and(|c| c.0 == "False" && c.1 == "StageFailed" && c.2.contains("dev")))
    })
    .await?;
    let head = Api::<Kustomization>::namespaced(client.clone(), NS)
        .get("dev")
        .await?
        .status
        .and_then(|status| status.last_attempted_revision)
        .expect("dev attempted a revision");
    let head = head.rsplit(':').next().unwrap_or_default().to_owned();
    wait_until(
        "a failure status on the failing commit",
        TIMEOUT,
        || async {
            Ok(status_states(&gitea, &head, "kustomization/dev/")
                .await?
                .iter()
                .any(|s| s == "failure"))
        },
    )
    .await?;
    let qa_pulls = pulls_from(&gitea, "sluice/promote/app/qa").await?;
    assert!(
        qa_pulls.iter().all(|pull| pull["state"] == "closed"),
        "no open pull request into qa: {qa_pulls:?}"
    );
    assert_eq!(
        deployed_image(&client, "promo-qa").await?.as_deref(),
        Some(new.as_str())
    );

    // Dev fixed, qa broken in one commit: dev's image goes to qa by a merged pull request, qa
    // fails with it, and the Pipeline says so on that pull request; prod's stays as it was.
    let work = tempfile::tempdir()?;
    clone(&gitea, work.path())?;
    let dev_overlay = work.path().join("dev/kustomization.yaml");
    let dev_text = std::fs::read_to_string(&dev_overlay)?;
    let (fixed, patch) = dev_text.split_once("patches:").expect("the patch is there");
    std::fs::write(&dev_overlay, fixed)?;
    let qa_overlay = work.path().join("qa/kustomization.yaml");
    let qa_text = std::fs::read_to_string(&qa_overlay)?;
    std::fs::write(&qa_overlay, format!("{qa_text}patches:{patch}"))?;
    git(
        work.path(),
        &["commit", "-q", "-am", "dev fixed, qa scheduled nowhere"],
    )?;
    git(work.path(), &["push", "-q", "origin", "main"])?;
    wait_until("the Pipeline to stop on qa", TIMEOUT, || async {
        Ok(ready_of::<Pipeline>(&client, "app")
            .await?
            .is_some_and(|c| c.0 == "False" && c.1 == "StageFailed" && c.2.contains("qa")))
    })
    .await?;
    let merged = pulls_from(&gitea, "sluice/promote/app/qa")
        .await?
        .into_iter()
        .find(|pull| pull["title"] == "Promote qa to 1.2.0" && pull["merged"] == true)
        .expect("a merged pull request moved qa to 1.2.0");
    let number = merged["number"].as_u64().unwrap_or_default();
    wait_until(
        "a failure comment on the pull request into qa",
        TIMEOUT,
        || async {
            let comments = gitea_get(&gitea, &format!("issues/{number}/comments")).await?;
            Ok(comments.as_array().into_iter().flatten().any(|comment| {
                comment["body"]
                    .as_str()
                    .is_some_and(|body| body.contains("stage **qa** failed"))
            }))
        },
    )
    .await?;
    let prod_pulls = pulls_from(&gitea, "sluice/promote/app/prod").await?;
    assert_eq!(prod_pulls.len(), 1);
    assert_eq!(
        prod_pulls[0]["title"], "Promote prod to 1.1.0",
        "prod waits as it was"
    );

    for (alert, reason) in [
        ("wrong-token", "TokenRejected"),
        ("unreachable", "ProviderUnreachable"),
    ] {
        let said = ready_of::<Alert>(&client, alert).await?;
        assert!(
            said.as_ref()
                .is_some_and(|c| c.0 == "False" && c.2.contains(reason)),
            "Alert {alert} not Ready with {reason}: {said:?}"
        );
    }

    for runtime in controllers {
        runtime.shutdown.cancel();
    }
    Ok(())
}
