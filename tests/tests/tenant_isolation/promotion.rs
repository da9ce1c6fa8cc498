//! Attacks on promotions: what a Pipeline merges must be what Sluice pushed.
//!
//! Each test runs the core controller with the Pipeline controller in this process (sharded to
//! its own objects), a real Gitea holding the tenant's repository (a `dev` overlay already on
//! `1.1.0`, `qa` on `1.0.0`), and a Pipeline `app` promoting dev to qa through the pull request
//! from `sluice/promote/app/qa`. The attacks: a commit pushed to that branch after Sluice's push,
//! statuses green on the base but not on the promotion commit, a pull request from a fork with
//! the promotion branch's name, a stage path leaving the repository, and a Provider naming a
//! forge that answers without end or not at all. Next to each, the legitimate promotion still
//! merges.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use reqwest::Method;
use serde_json::{Value, json};
use sluice_gitops::api::provider::Provider;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_promotion::api::{Pipeline, PullRequestState, StageStatus};
use sluice_runtime::conditions::{self, READY};
use sluice_tests::core_controller::{CoreController, TEST_LABEL, create_namespace};
use sluice_tests::gitea::{Gitea, GiteaUser, PASSWORD, USER};
use sluice_tests::objects::create_from_json;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const REPO: &str = "fleet";
const BRANCH: &str = "sluice/promote/app/qa";
const IMAGE: &str = "registry.example/app";
const TIMEOUT: Duration = Duration::from_secs(150);

/// One tenant's promotion setup; [`Promotion::stop`] stops its controller.
struct Promotion {
    gitea: Gitea,
    client: Client,
    namespace: String,
    controller: CoreController,
}

fn harness(what: &str) -> impl Fn(String) -> HarnessError + '_ {
    move |why| HarnessError::Start {
        what: what.into(),
        why,
    }
}

/// Runs git in `dir` and returns its trimmed output.
fn git(dir: &Path, args: &[&str]) -> Result<String, HarnessError> {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=mallory",
            "-c",
            "user.email=mallory@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| HarnessError::Io {
            what: "running git".into(),
            source,
        })?;
    if !output.status.success() {
        return Err(harness("git")(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `qa`'s overlay naming `tag`, marked with the setter of `namespace:app`.
fn overlay(namespace: &str, tag: &str) -> String {
    format!(
        "resources:\n- ../base\nimages:\n- name: {IMAGE}\n  newTag: {tag} # {{\"$imagepolicy\": \"{namespace}:app:tag\"}}\n"
    )
}

impl Promotion {
    /// Starts Gitea with the tenant's repository, the core controller with Pipelines, and the
    /// tenant's objects in namespace `namespace` (its Kustomizations deploy to
    /// `<namespace>-dev` and `<namespace>-qa`), all but the Pipeline.
    async fn start(namespace: &str) -> anyhow::Result<Promotion> {
        sluice_runtime::logging::install_crypto_provider();
        let cluster = LocalCluster::shared().await?;
        let client = cluster.client().await?;
        sluice_tests::crds::install_sluice_crds(&client).await?;
        let gitea = Gitea::start()?;
        gitea.create_repo(REPO).await?;
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app\n  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      containers:\n      - name: app\n        image: {IMAGE}:1.0.0\n"
        );
        gitea.seed(
            REPO,
            &[
                ("base/deployment.yaml".into(), deployment),
                (
                    "base/kustomization.yaml".into(),
                    "resources:\n- deployment.yaml\n".into(),
                ),
                ("dev/kustomization.yaml".into(), overlay(namespace, "1.1.0")),
                ("qa/kustomization.yaml".into(), overlay(namespace, "1.0.0")),
            ],
        )?;
        gitea.wait_for_branch(REPO, "main").await?;
        let controller = CoreController::start_layered(
            cluster,
            namespace,
            "default",
            (None, false),
            Some(sluice_promotion::controller::layer()),
        )
        .await?;
        for name in [
            namespace.to_owned(),
            format!("{namespace}-dev"),
            format!("{namespace}-qa"),
        ] {
            create_namespace(&client, &name).await?;
        }
        let labels = json!({TEST_LABEL: namespace});
        let credentials = json!({"username": USER, "password": PASSWORD, "token": gitea.token});
        create_from_json::<Secret>(
            &client,
            namespace,
            json!({"metadata": {"name": "gitea"}, "stringData": credentials}),
        )
        .await?;
        create_from_json::<GitRepository>(
            &client,
            namespace,
            json!({
                "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
                "metadata": {"name": REPO, "labels": labels},
                "spec": {"url": format!("{}/{USER}/{REPO}.git", gitea.url), "interval": "3s",
                         "secretRef": {"name": "gitea"}, "ref": {"branch": "main"}},
            }),
        )
        .await?;
        for stage in ["dev", "qa"] {
            create_from_json::<Kustomization>(
                &client,
                namespace,
                json!({
                    "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
                    "metadata": {"name": stage, "labels": labels},
                    "spec": {"sourceRef": {"kind": "GitRepository", "name": REPO},
                             "path": format!("./{stage}"), "interval": "1m", "prune": true,
                             "targetNamespace": format!("{namespace}-{stage}")},
                }),
            )
            .await?;
        }
        create_from_json::<Provider>(
            &client,
            namespace,
            json!({
                "apiVersion": "notification.sluice.dev/v1", "kind": "Provider",
                "metadata": {"name": "gitea", "labels": labels},
                "spec": {"type": "gitea", "address": gitea.repo_url(REPO),
                         "secretRef": {"name": "gitea"}, "timeout": "10s"},
            }),
        )
        .await?;
        Ok(Promotion {
            gitea,
            client,
            namespace: namespace.to_owned(),
            controller,
        })
    }

    /// Creates Pipeline `name` promoting dev to qa (both `approval: auto`), qa requiring
    /// `required` statuses and read from folder `qa_path`, through Provider `gitea`.
    async fn pipeline(&self, name: &str, qa_path: &str, required: &[&str]) -> anyhow::Result<()> {
        self.pipeline_through(name, "gitea", qa_path, required)
            .await
    }

    /// [`Promotion::pipeline`] through Provider `provider`.
    async fn pipeline_through(
        &self,
        name: &str,
        provider: &str,
        qa_path: &str,
        required: &[&str],
    ) -> anyhow::Result<()> {
        let policy = format!("{}:app", self.namespace);
        create_from_json::<Pipeline>(&self.client, &self.namespace, json!({
            "apiVersion": "promotion.sluice.dev/v1", "kind": "Pipeline",
            "metadata": {"name": name, "labels": {TEST_LABEL: self.namespace}},
            "spec": {"sourceRef": {"name": REPO}, "providerRef": {"name": provider}, "interval": "5s",
                     "stages": [
                        {"name": "dev", "kustomizationRef": {"name": "dev"}, "path": "dev",
                         "image": {"policy": policy}, "approval": "auto"},
                        {"name": "qa", "kustomizationRef": {"name": "qa"}, "path": qa_path,
                         "image": {"policy": policy}, "approval": "auto",
                         "requiredStatuses": required}]},
        }))
        .await?;
        Ok(())
    }

    /// Pipeline `name`'s status of stage qa.
    async fn qa(&self, name: &str) -> Result<StageStatus, HarnessError> {
        let pipeline = Api::<Pipeline>::namespaced(self.client.clone(), &self.namespace)
            .get(name)
            .await
            .map_err(|error| harness("Pipeline")(error.to_string()))?;
        Ok(pipeline
            .status
            .and_then(|status| status.stages.get(1).cloned())
            .unwrap_or_default())
    }

    /// Pipeline `name`'s Ready condition: (status, reason, message).
    async fn ready(&self, name: &str) -> Result<Option<(String, String, String)>, HarnessError> {
        let pipeline = Api::<Pipeline>::namespaced(self.client.clone(), &self.namespace)
            .get(name)
            .await
            .map_err(|error| harness("Pipeline")(error.to_string()))?;
        let found = pipeline.status.unwrap_or_default().reconcile.conditions;
        Ok(conditions::find(&found, READY)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone())))
    }

    /// Waits until Pipeline `app` has a pull request into qa open, and returns its number and
    /// the commit Sluice pushed for it.
    async fn open_pull_request(&self) -> anyhow::Result<(u64, String)> {
        let opened = || async {
            let qa = self.qa("app").await?;
            Ok::<_, HarnessError>(
                qa.pull_request
                    .filter(|pull| pull.state == PullRequestState::Open)
                    .and_then(|pull| Some((pull.number, pull.pushed_commit?))),
            )
        };
        wait_until("a pull request into qa", TIMEOUT, || async {
            Ok(opened().await?.is_some())
        })
        .await?;
        Ok(opened().await?.expect("waited for it"))
    }

    /// Pull request `number` of the tenant's repository, as Gitea has it.
    async fn pull(&self, number: u64) -> Result<Value, HarnessError> {
        self.gitea
            .api(
                Method::GET,
                &format!("repos/{USER}/{REPO}/pulls/{number}"),
                None,
            )
            .await
    }

    /// Waits until Pipeline `app` says it merged its pull request into qa, and returns the
    /// pull request's number.
    async fn wait_promoted(&self) -> Result<u64, HarnessError> {
        let merged = || async {
            let qa = self.qa("app").await?;
            Ok::<_, HarnessError>(
                qa.pull_request
                    .filter(|pull| pull.state == PullRequestState::Merged)
                    .map(|pull| pull.number),
            )
        };
        wait_until("qa promoted", TIMEOUT, || async {
            Ok(merged().await?.is_some())
        })
        .await?;
        Ok(merged().await?.unwrap_or_default())
    }

    /// Waits until Gitea says pull request `number` is merged (it moves the base branch first).
    async fn wait_merged(&self, number: u64) -> Result<(), HarnessError> {
        wait_until(
            &format!("pull request #{number} merged"),
            TIMEOUT,
            || async { Ok(self.pull(number).await?["merged"] == true) },
        )
        .await
    }

    /// The commit `branch` of the tenant's repository is at.
    async fn head_of(&self, branch: &str) -> Result<String, HarnessError> {
        let path = format!(
            "repos/{USER}/{REPO}/branches/{}",
            branch.replace('/', "%2F")
        );
        let found = self.gitea.api(Method::GET, &path, None).await?;
        Ok(found["commit"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Whether file `path` exists on `branch` of the tenant's repository.
    async fn has_file(&self, path: &str, branch: &str) -> Result<bool, HarnessError> {
        let path = format!(
            "repos/{USER}/{REPO}/contents/{path}?ref={}",
            branch.replace('/', "%2F")
        );
        Ok(!self.gitea.api(Method::GET, &path, None).await?.is_null())
    }

    /// Posts commit status `context` = `state` on `sha`, as the tenant's CI would.
    async fn set_status(&self, sha: &str, context: &str, state: &str) -> anyhow::Result<()> {
        let status = json!({"context": context, "state": state, "description": "ci"});
        self.gitea
            .api(
                Method::POST,
                &format!("repos/{USER}/{REPO}/statuses/{sha}"),
                Some(&status),
            )
            .await?;
        Ok(())
    }

    /// Whether qa's overlay on `main` names `tag`.
    async fn main_has_qa_on(&self, tag: &str) -> Result<bool, HarnessError> {
        let path = format!("repos/{USER}/{REPO}/raw/qa/kustomization.yaml?ref=main");
        let url = format!("{}/api/v1/{path}", self.gitea.url);
        let text = reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("token {}", self.gitea.token))
            .send()
            .await
            .map_err(|error| harness("raw file")(error.to_string()))?
            .text()
            .await
            .map_err(|error| harness("raw file")(error.to_string()))?;
        Ok(text.contains(&format!("newTag: {tag} ")))
    }

    /// The notes of the Events about Pipeline `name` with reason `reason`.
    async fn events(&self, name: &str, reason: &str) -> Result<Vec<String>, HarnessError> {
        let events = Api::<Event>::namespaced(self.client.clone(), &self.namespace)
            .list(&Default::default())
            .await
            .map_err(|error| harness("Events")(error.to_string()))?;
        Ok(events
            .items
            .into_iter()
            .filter(|event| {
                event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    && event.reason.as_deref() == Some(reason)
            })
            .filter_map(|event| event.note)
            .collect())
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.controller.stop().await
    }
}

/// Clones `clone_url`, commits `qa/backdoor.yaml` (a ConfigMap the qa overlay now lists) on top
/// of `branch` (created from `main` when `from_main`), pushes it back, and returns the commit.
fn push_backdoor(clone_url: &str, branch: &str, from_main: bool) -> anyhow::Result<String> {
    let work = tempfile::tempdir()?;
    let dir = work.path();
    git(dir, &["clone", "-q", clone_url, "."])?;
    if from_main {
        git(dir, &["checkout", "-q", "-b", branch])?;
    } else {
        git(dir, &["checkout", "-q", branch])?;
    }
    std::fs::write(
        dir.join("qa/backdoor.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: backdoor\ndata:\n  owned: \"true\"\n",
    )?;
    let overlay = std::fs::read_to_string(dir.join("qa/kustomization.yaml"))?;
    let overlay = overlay
        .replace("- ../base\n", "- ../base\n- backdoor.yaml\n")
        .replace("newTag: 1.0.0", "newTag: 1.1.0");
    std::fs::write(dir.join("qa/kustomization.yaml"), overlay)?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", "Promote qa to 1.1.0"])?;
    git(dir, &["push", "-q", "origin", branch])?;
    Ok(git(dir, &["rev-parse", "HEAD"])?)
}

#[tokio::test]
async fn a_commit_pushed_to_the_promotion_branch_after_sluice_is_not_merged() -> anyhow::Result<()>
{
    let tenant = Promotion::start("ti-promo-moved").await?;
    tenant.pipeline("app", "qa", &["ci/test"]).await?;
    let (number, pushed) = tenant.open_pull_request().await?;
    assert_eq!(tenant.head_of(BRANCH).await?, pushed);

    // Someone with push access to the branch adds a commit, and CI passes on it.
    let moved = push_backdoor(
        &tenant.gitea.clone_url_with_credentials(REPO),
        BRANCH,
        false,
    )?;
    tenant.set_status(&moved, "ci/test", "success").await?;

    wait_until(
        "the Pipeline to refuse the moved branch and push its commit again",
        TIMEOUT,
        || async {
            let said = tenant.events("app", "PromotionBranchMoved").await?;
            let restored = tenant
                .qa("app")
                .await?
                .pull_request
                .and_then(|p| p.pushed_commit);
            let head = tenant.head_of(BRANCH).await?;
            Ok(said.iter().any(|note| note.contains(&moved))
                && restored.as_deref() == Some(head.as_str())
                && head != moved)
        },
    )
    .await?;
    let pull = tenant.pull(number).await?;
    assert_eq!(
        pull["merged"], false,
        "the moved branch is not merged: {pull}"
    );
    assert!(
        !tenant.has_file("qa/backdoor.yaml", BRANCH).await?,
        "Sluice's commit replaced the one pushed after it"
    );
    assert!(!tenant.has_file("qa/backdoor.yaml", "main").await?);

    // CI passes on Sluice's commit: the legitimate promotion merges, without the backdoor.
    let restored = tenant.head_of(BRANCH).await?;
    tenant.set_status(&restored, "ci/test", "success").await?;
    tenant.wait_merged(number).await?;
    assert!(tenant.main_has_qa_on("1.1.0").await?);
    assert!(!tenant.has_file("qa/backdoor.yaml", "main").await?);
    tenant.stop().await
}

#[tokio::test]
async fn statuses_green_on_the_base_but_not_on_the_pushed_commit_do_not_merge() -> anyhow::Result<()>
{
    let tenant = Promotion::start("ti-promo-statuses").await?;
    tenant.pipeline("app", "qa", &["ci/test"]).await?;
    let (number, pushed) = tenant.open_pull_request().await?;

    // CI is green on main (the base), pending on the promotion commit.
    let base = tenant.head_of("main").await?;
    tenant.set_status(&base, "ci/test", "success").await?;
    tenant.set_status(&pushed, "ci/test", "pending").await?;
    // Three of the Pipeline's intervals: it looks at least twice.
    let watch = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < watch {
        assert_eq!(
            tenant.pull(number).await?["merged"],
            false,
            "merged on the base's statuses"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let waiting = tenant.qa("app").await?.waiting_for.unwrap_or_default();
    assert!(
        waiting.contains(&format!("required statuses of pull request #{number}")),
        "{waiting}"
    );

    // Green on the promotion commit: it merges.
    tenant.set_status(&pushed, "ci/test", "success").await?;
    tenant.wait_merged(number).await?;
    assert!(tenant.main_has_qa_on("1.1.0").await?);
    tenant.stop().await
}

#[tokio::test]
async fn a_pull_request_from_a_fork_with_the_promotion_branch_name_is_not_adopted()
-> anyhow::Result<()> {
    let tenant = Promotion::start("ti-promo-fork").await?;
    // Mallory forks the repository, pushes the promotion branch's name there, and opens a pull
    // request from it before Sluice opens its own.
    let mallory: GiteaUser = tenant.gitea.create_user("mallory").await?;
    let fork = tenant
        .gitea
        .api_as(
            &mallory.token,
            Method::POST,
            &format!("repos/{USER}/{REPO}/forks"),
            Some(&json!({})),
        )
        .await?;
    assert_eq!(fork["full_name"], format!("mallory/{REPO}"), "{fork}");
    push_backdoor(
        &mallory.clone_url_with_credentials("mallory", REPO),
        BRANCH,
        true,
    )?;
    let forked = tenant
        .gitea
        .api_as(
            &mallory.token,
            Method::POST,
            &format!("repos/{USER}/{REPO}/pulls"),
            Some(&json!({"head": format!("mallory:{BRANCH}"), "base": "main",
                         "title": "from the fork"})),
        )
        .await?;
    let forked_number = forked["number"].as_u64().expect("the fork's pull request");

    tenant.pipeline("app", "qa", &[]).await?;
    let ours = tenant.wait_promoted().await?;
    assert_ne!(ours, forked_number, "the fork's pull request adopted");
    assert!(tenant.main_has_qa_on("1.1.0").await?);
    let forked = tenant.pull(forked_number).await?;
    assert_eq!(forked["merged"], false, "{forked}");
    assert_eq!(forked["state"], "open");
    assert_eq!(forked["title"], "from the fork", "not rewritten by Sluice");
    assert!(!tenant.has_file("qa/backdoor.yaml", "main").await?);
    tenant.stop().await
}

#[tokio::test]
async fn a_stage_path_outside_the_repository_is_refused() -> anyhow::Result<()> {
    let tenant = Promotion::start("ti-promo-path").await?;
    tenant.pipeline("escape", "../other-tenant", &[]).await?;
    tenant.pipeline("app", "qa", &[]).await?;
    wait_until("the escaping Pipeline refused", TIMEOUT, || async {
        Ok(tenant
            .ready("escape")
            .await?
            .is_some_and(|(status, reason, message)| {
                status == "False" && reason == "InvalidStage" && message.contains("../other-tenant")
            }))
    })
    .await?;
    // The legitimate Pipeline next to it promotes.
    tenant.wait_promoted().await?;
    assert!(tenant.main_has_qa_on("1.1.0").await?);
    let escape = Api::<Pipeline>::namespaced(tenant.client.clone(), &tenant.namespace)
        .get("escape")
        .await?;
    let status = escape.status.unwrap_or_default();
    assert!(
        conditions::find(&status.reconcile.conditions, "Stalled")
            .is_some_and(|c| c.status == "True"),
        "an invalid stage is stalled: {:?}",
        status.reconcile.conditions
    );
    let pulls = tenant
        .gitea
        .api(
            Method::GET,
            &format!("repos/{USER}/{REPO}/pulls?state=all"),
            None,
        )
        .await?;
    assert!(
        pulls
            .as_array()
            .into_iter()
            .flatten()
            .all(|pull| pull["head"]["ref"] != "sluice/promote/escape/qa"),
        "nothing pushed for the refused Pipeline: {pulls}"
    );
    tenant.stop().await
}

/// Serves, on 127.0.0.1, a forge a tenant's Provider may name: an endless `200` answer to every
/// call about the owner `endless`'s repositories, and no answer at all to the others. Returns
/// its origin.
async fn hostile_forge() -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(|uri: http::Uri| async move {
        if !uri.path().contains("endless") {
            std::future::pending::<()>().await;
        }
        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        axum::body::Body::from_stream(futures::stream::repeat_with(move || {
            Ok::<_, std::io::Error>(chunk.clone())
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{address}"))
}

#[tokio::test]
async fn a_provider_naming_a_forge_that_answers_without_end_or_never_is_given_up()
-> anyhow::Result<()> {
    let tenant = Promotion::start("ti-promo-forge").await?;
    let origin = hostile_forge().await?;
    for (name, owner) in [("endless", "endless"), ("silent", "silent")] {
        create_from_json::<Provider>(
            &tenant.client,
            &tenant.namespace,
            json!({
                "apiVersion": "notification.sluice.dev/v1", "kind": "Provider",
                "metadata": {"name": name, "labels": {TEST_LABEL: tenant.namespace}},
                "spec": {"type": "gitea", "address": format!("{origin}/{owner}/{REPO}"),
                         "secretRef": {"name": "gitea"}, "timeout": "2s"},
            }),
        )
        .await?;
        tenant.pipeline_through(name, name, "qa", &[]).await?;
    }
    tenant.pipeline("app", "qa", &[]).await?;
    for (name, why) in [
        ("endless", "larger than 1048576 bytes"),
        ("silent", "no answer within 2s"),
    ] {
        let pipelines = Api::<Pipeline>::namespaced(tenant.client.clone(), &tenant.namespace);
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let ready = tenant.ready(name).await?;
            let given_up = ready.as_ref().is_some_and(|(status, reason, message)| {
                status == "False" && reason == "ProviderFailed" && message.contains(why)
            });
            if given_up {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "Pipeline {name} not given up in {TIMEOUT:?}: Ready is {ready:?}"
            );
            // Early failures (the source still fetching on a loaded machine) back off for
            // minutes: ask for a reconcile rather than wait for the backoff.
            let requested = json!({"metadata": {"annotations": {
                sluice_runtime::REQUESTED_AT_ANNOTATION: format!("{:?}", std::time::Instant::now())
            }}});
            pipelines
                .patch(name, &PatchParams::default(), &Patch::Merge(&requested))
                .await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }
    // The same controller still promotes through the real forge.
    tenant.wait_promoted().await?;
    assert!(tenant.main_has_qa_on("1.1.0").await?);
    tenant.stop().await
}

/// A stage `branch` (a field Sluice does not implement yet) is refused at admission by the real
/// API server with a message, rather than accepted and ignored; the same Pipeline without it
/// is admitted.
#[tokio::test]
async fn a_stage_branch_is_refused_at_admission_not_ignored() -> anyhow::Result<()> {
    sluice_runtime::logging::install_crypto_provider();
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let namespace = "promotion-stage-branch";
    create_namespace(&client, namespace).await?;
    let pipeline = |stage: Value| {
        json!({
            "apiVersion": "promotion.sluice.dev/v1", "kind": "Pipeline",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"sourceRef": {"name": "app"}, "providerRef": {"name": "gitea"},
                "stages": [stage]},
        })
    };
    let stage = json!({"name": "dev", "kustomizationRef": {"name": "dev"},
        "path": "./dev", "image": {"policy": "app:app"}});
    let mut with_branch = stage.clone();
    with_branch["branch"] = json!("dev");
    let refused = create_from_json::<Pipeline>(&client, namespace, pipeline(with_branch))
        .await
        .expect_err("a stage branch must be refused");
    assert!(
        refused
            .to_string()
            .contains("stages[].branch is not supported yet"),
        "{refused}"
    );
    create_from_json::<Pipeline>(&client, namespace, pipeline(stage)).await?;
    Ok(())
}
