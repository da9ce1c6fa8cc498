//! Attacks on the endpoints Sluice's controllers serve and on the identity the core controller
//! acts with: the core controller's `POST /events` (which turns a Flux event into a commit
//! status, the promotion gate a Pipeline's `requiredStatuses` trusts) and its artifact server
//! answer only Sluice's own ServiceAccounts (a bearer token reviewed by the API server), a flood
//! of events is rate-limited per caller, deploy/ keeps that port to Sluice's namespace, and
//! deploy/'s RBAC lets the core controller impersonate ServiceAccounts only, never a user or a
//! group such as `system:masters`.
//!
//! Each test runs the core controller in this process with a runtime namespace of its own
//! (`<case>-sys`, standing for `sluice-system`): its ServiceAccounts are Sluice's.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_gitops::api::alert::Alert;
use sluice_gitops::api::provider::Provider;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_gitops::forge::{CommitState, Forge, ForgeKind};
use sluice_gitops::kustomization::apply::Applier;
use sluice_gitops::kustomization::clients::Clients;
use sluice_gitops::notification::{EVENTS_BURST, EVENTS_PER_SECOND, Event};
use sluice_runtime::conditions::{self, READY};
use sluice_runtime::http_auth::ServiceAccountAuth;
use sluice_tests::binaries::workspace_root;
use sluice_tests::cluster::service_account_token;
use sluice_tests::core_controller::{CoreController, TEST_LABEL, WorkingCopy, create_namespace};
use sluice_tests::git_server::GitServers;
use sluice_tests::gitea::Gitea;
use sluice_tests::objects::create_from_json as create;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The shared control plane and an admin client of it, with the crypto provider the HTTP
/// clients of this module use installed.
async fn cluster() -> anyhow::Result<(&'static LocalCluster, Client)> {
    sluice_runtime::logging::install_crypto_provider();
    let cluster = LocalCluster::shared().await?;
    Ok((cluster, cluster.client().await?))
}

/// A tenant's namespace `case` and Sluice's runtime namespace `<case>-sys`, with the tenant's
/// ServiceAccount `reconciler` (admin of its namespace, as tenant onboarding makes it) and the
/// given ServiceAccounts of Sluice; returns the runtime namespace.
async fn namespaces(
    client: &Client,
    case: &str,
    sluice_accounts: &[&str],
) -> anyhow::Result<String> {
    let system = format!("{case}-sys");
    create_namespace(client, case).await?;
    create_namespace(client, &system).await?;
    create::<ServiceAccount>(client, case, json!({"metadata": {"name": "reconciler"}})).await?;
    create::<RoleBinding>(
        client,
        case,
        json!({
            "metadata": {"name": "reconciler"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "reconciler", "namespace": case}],
        }),
    )
    .await?;
    for account in sluice_accounts {
        create::<ServiceAccount>(client, &system, json!({"metadata": {"name": account}})).await?;
    }
    Ok(system)
}

/// A token of the ServiceAccount `namespace/name`, as its pod would have.
async fn token(client: &Client, namespace: &str, name: &str) -> anyhow::Result<String> {
    Ok(service_account_token(client, namespace, name, 600).await?)
}

/// A Flux event about the Kustomization `namespace/name` that succeeded at `commit`, the JSON a
/// controller (or an attacker) posts to `/events`.
fn succeeded(namespace: &str, name: &str, commit: &str) -> Value {
    json!({
        "involvedObject": {"kind": "Kustomization", "namespace": namespace, "name": name,
                           "apiVersion": "kustomize.sluice.dev/v1"},
        "severity": "info",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": format!("Applied revision: main@sha1:{commit}"),
        "reason": "ReconciliationSucceeded",
        "metadata": {"revision": format!("main@sha1:{commit}")},
        "reportingController": "sluice-core",
    })
}

/// POSTs `event` to the controller's `/events`, with `Authorization: Bearer <token>` when given;
/// returns the status.
async fn post_event(
    http: &reqwest::Client,
    controller: &CoreController,
    token: Option<&str>,
    event: &Value,
) -> anyhow::Result<StatusCode> {
    let mut request = http
        .post(format!("http://{}/events", controller.address))
        .json(event);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.status())
}

/// GETs `url`, with `Authorization: Bearer <token>` when given.
async fn get(url: &str, token: Option<&str>) -> anyhow::Result<reqwest::Response> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?)
}

/// Commits `count` commits to `main` of Gitea's `repo` and pushes them; returns their hashes,
/// oldest first.
fn push_commits(gitea: &Gitea, repo: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let work = tempfile::tempdir()?;
    let git = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new("git")
            .args(["-c", "user.name=test", "-c", "user.email=test@sluice.dev"])
            .args(args)
            .current_dir(work.path())
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    git(&["init", "-q", "-b", "main", "."])?;
    let mut commits = Vec::new();
    for index in 0..count {
        std::fs::write(work.path().join("release.txt"), format!("{index}\n"))?;
        git(&["add", "."])?;
        git(&["commit", "-q", "-m", &format!("release {index}")])?;
        commits.push(git(&["rev-parse", "HEAD"])?);
    }
    git(&[
        "push",
        "-q",
        &gitea.clone_url_with_credentials(repo),
        "main",
    ])?;
    Ok(commits)
}

fn harness(what: &str) -> impl Fn(kube::Error) -> HarnessError + '_ {
    move |error| HarnessError::Start {
        what: what.into(),
        why: error.to_string(),
    }
}

#[tokio::test]
async fn an_event_without_a_sluice_token_cannot_forge_the_promotion_gates_commit_status()
-> anyhow::Result<()> {
    let case = "endpoints-forge";
    let (cluster, client) = cluster().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let system = namespaces(&client, case, &["sluice-canary"]).await?;

    let gitea = Gitea::start()?;
    gitea.create_repo("fleet").await?;
    let commits = push_commits(&gitea, "fleet", 2)?;
    let (forged, released) = (&commits[0], &commits[1]);
    gitea.wait_for_branch("fleet", "main").await?;
    create::<Secret>(
        &client,
        case,
        json!({"metadata": {"name": "gitea-token"}, "stringData": {"token": gitea.token}}),
    )
    .await?;
    let labels = json!({TEST_LABEL: case});
    create::<Provider>(
        &client,
        case,
        json!({"metadata": {"name": "gitea", "labels": labels},
               "spec": {"type": "gitea", "address": gitea.repo_url("fleet"), "secretRef": {"name": "gitea-token"}}}),
    )
    .await?;
    create::<Alert>(
        &client,
        case,
        json!({"metadata": {"name": "gitea", "labels": labels},
               "spec": {"providerRef": {"name": "gitea"},
                        "eventSources": [{"kind": "Kustomization", "name": "podinfo-prod"}]}}),
    )
    .await?;
    let controller = CoreController::start_in(cluster, case, &system, None, false).await?;
    let providers: Api<Provider> = Api::namespaced(client.clone(), case);
    wait_until("the gitea Provider Ready", TIMEOUT, || async {
        let provider = providers.get("gitea").await.map_err(harness("Provider"))?;
        let conditions = provider
            .status
            .map(|s| s.reconcile.conditions)
            .unwrap_or_default();
        Ok(conditions::find(&conditions, READY).is_some_and(|c| c.status == "True"))
    })
    .await?;

    // The attack: the event that would put a green status on any commit, with no token, a
    // made-up token, and the token of the tenant's own ServiceAccount.
    let http = reqwest::Client::new();
    let forgery = succeeded(case, "podinfo-prod", forged);
    let tenant = token(&client, case, "reconciler").await?;
    for (token, refused) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("not-a-token"), StatusCode::UNAUTHORIZED),
        (Some(tenant.as_str()), StatusCode::FORBIDDEN),
    ] {
        let status = post_event(&http, &controller, token, &forgery).await?;
        assert_eq!(status, refused, "an event posted with {token:?}");
    }

    // The legitimate use: a Sluice controller's ServiceAccount posts the released commit's
    // event, which becomes its status. Events are delivered in order, so once it is there, any
    // forged event would have been delivered too.
    let sluice = token(&client, &system, "sluice-canary").await?;
    let legitimate = succeeded(case, "podinfo-prod", released);
    assert_eq!(
        post_event(&http, &controller, Some(&sluice), &legitimate).await?,
        StatusCode::ACCEPTED
    );
    let forge = Forge::new(
        ForgeKind::Gitea,
        &gitea.repo_url("fleet"),
        &gitea.token,
        Duration::from_secs(10),
    )?;
    let uid = providers.get("gitea").await?.uid().unwrap_or_default();
    let context = format!(
        "kustomization/podinfo-prod/{}",
        uid.split('-').next().unwrap_or_default()
    );
    wait_until("the released commit's success status", TIMEOUT, || async {
        let statuses =
            forge
                .commit_statuses(released)
                .await
                .map_err(|error| HarnessError::Start {
                    what: "commit statuses".into(),
                    why: error.to_string(),
                })?;
        Ok(statuses
            .iter()
            .any(|s| s.context == context && s.state == CommitState::Success))
    })
    .await?;
    let on_forged = forge.commit_statuses(forged).await?;
    assert!(
        on_forged.is_empty(),
        "a forged event put a status on {forged}: {on_forged:?}"
    );
    controller.stop().await
}

#[tokio::test]
async fn a_flood_of_events_is_rate_limited_without_blocking_the_legitimate_caller()
-> anyhow::Result<()> {
    let case = "endpoints-flood";
    let (cluster, client) = cluster().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let system = namespaces(&client, case, &["sluice-canary", "flooder"]).await?;

    // A generic webhook receiver standing for a team's chat, reached through an Alert on the
    // Kustomization `legit` only.
    let received: Arc<Mutex<Vec<Event>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    let receiver = axum::Router::new().route(
        "/hook",
        post({
            let received = received.clone();
            move |axum::Json(event): axum::Json<Event>| async move {
                received
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(event);
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await });
    let labels = json!({TEST_LABEL: case});
    create::<Provider>(
        &client,
        case,
        json!({"metadata": {"name": "chat", "labels": labels},
               "spec": {"type": "generic", "address": hook}}),
    )
    .await?;
    create::<Alert>(
        &client,
        case,
        json!({"metadata": {"name": "chat", "labels": labels},
               "spec": {"providerRef": {"name": "chat"},
                        "eventSources": [{"kind": "Kustomization", "name": "legit"}]}}),
    )
    .await?;
    let controller = CoreController::start_in(cluster, case, &system, None, false).await?;
    let http = reqwest::Client::new();
    let legitimate = token(&client, &system, "sluice-canary").await?;
    let flooder = token(&client, &system, "flooder").await?;
    let delivered = |message: String| {
        let received = received.clone();
        async move {
            Ok(received
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
                .any(|event| event.message == message))
        }
    };
    let first = succeeded(case, "legit", "1111111111111111111111111111111111111111");
    assert_eq!(
        post_event(&http, &controller, Some(&legitimate), &first).await?,
        StatusCode::ACCEPTED
    );
    wait_until("the first legitimate event delivered", TIMEOUT, || {
        delivered(first["message"].as_str().unwrap_or_default().to_owned())
    })
    .await?;

    // One Sluice ServiceAccount floods: beyond its burst, it is refused with 429.
    let noise = succeeded(case, "noise", "2222222222222222222222222222222222222222");
    let started = Instant::now();
    let (mut accepted, mut limited) = (0_u32, 0_u32);
    for _ in 0..(EVENTS_BURST * 3) {
        match post_event(&http, &controller, Some(&flooder), &noise).await? {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => anyhow::bail!("a flooding event was answered {other}"),
        }
    }
    let allowed = EVENTS_BURST as f64 + EVENTS_PER_SECOND as f64 * started.elapsed().as_secs_f64();
    assert!(
        limited > 0,
        "{accepted} flooding events accepted, none refused"
    );
    assert!(
        f64::from(accepted) <= allowed + 1.0,
        "{accepted} flooding events accepted, more than the {allowed:.0} the rate allows"
    );

    // Made-up tokens, each a new TokenReview: the peer's review budget runs out (429), and the
    // API server is not flooded.
    let mut statuses = Vec::new();
    for index in 0..30 {
        let made_up = format!("made-up-token-{index}");
        statuses.push(post_event(&http, &controller, Some(&made_up), &noise).await?);
    }
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    // The legitimate caller is not blocked by either flood.
    let second = succeeded(case, "legit", "3333333333333333333333333333333333333333");
    assert_eq!(
        post_event(&http, &controller, Some(&legitimate), &second).await?,
        StatusCode::ACCEPTED
    );
    wait_until("the second legitimate event delivered", TIMEOUT, || {
        delivered(second["message"].as_str().unwrap_or_default().to_owned())
    })
    .await?;
    assert!(
        !received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .any(|event| event.involved_object.name == "noise"),
        "no Alert selects the flood's events"
    );
    server.abort();
    controller.stop().await
}

#[tokio::test]
async fn a_tenant_cannot_download_a_source_artifact_while_its_kustomization_still_applies()
-> anyhow::Result<()> {
    let case = "endpoints-artifacts";
    let (cluster, client) = cluster().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let system = namespaces(&client, case, &["sluice-core"]).await?;
    let servers = GitServers::start("git", "git")?;
    let bare = servers.create_repo("tenant.git")?;
    let copy = WorkingCopy::new(&bare)?;
    let head = copy.commit(
        &[(
            "app/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  secret-sauce: tenant-only\n",
        )],
        &[],
        "settings",
    )?;
    let labels = json!({TEST_LABEL: case});
    create::<GitRepository>(
        &client,
        case,
        json!({"metadata": {"name": "tenant", "labels": labels},
               "spec": {"url": servers.file_url("tenant.git"), "interval": "1h", "ref": {"branch": "main"}}}),
    )
    .await?;
    create::<Kustomization>(
        &client,
        case,
        json!({"metadata": {"name": "app", "labels": labels},
               "spec": {"interval": "1h", "path": "./app", "prune": true, "serviceAccountName": "reconciler",
                        "sourceRef": {"kind": "GitRepository", "name": "tenant"}}}),
    )
    .await?;
    let controller =
        CoreController::start_in(cluster, case, &system, Some("default"), true).await?;

    // The legitimate use: the Kustomization consumes the artifact and becomes Ready.
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), case);
    let revision = format!("main@sha1:{head}");
    wait_until(
        "the Kustomization Ready at the revision",
        TIMEOUT,
        || async {
            let ks = kustomizations
                .get("app")
                .await
                .map_err(harness("Kustomization"))?;
            let status = ks.status.unwrap_or_default();
            Ok(
                status.last_applied_revision.as_deref() == Some(revision.as_str())
                    && conditions::find(&status.reconcile.conditions, READY)
                        .is_some_and(|c| c.status == "True"),
            )
        },
    )
    .await?;
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), case)
            .get_opt("settings")
            .await?
            .is_some()
    );
    let artifact = Api::<GitRepository>::namespaced(client.clone(), case)
        .get("tenant")
        .await?
        .status
        .and_then(|status| status.artifact)
        .ok_or_else(|| anyhow::anyhow!("the GitRepository has no artifact"))?;

    // The attack: download it with no token, a made-up one, another tenant's own token.
    let tenant = token(&client, case, "reconciler").await?;
    for (token, refused) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("not-a-token"), StatusCode::UNAUTHORIZED),
        (Some(tenant.as_str()), StatusCode::FORBIDDEN),
    ] {
        let response = get(&artifact.url, token).await?;
        assert_eq!(response.status(), refused, "a download with {token:?}");
        let body = response.text().await?;
        assert!(!body.contains("secret-sauce"), "{body}");
    }

    // A Sluice controller gets it, verified by its digest, and cannot step out of the storage.
    let sluice = token(&client, &system, "sluice-core").await?;
    let response = get(&artifact.url, Some(&sluice)).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await?;
    assert_eq!(
        artifact.digest,
        Some(sluice_gitops::source::archive::digest(&bytes))
    );
    let escape = format!(
        "http://{}/gitrepository/{case}/tenant/..%2F..%2F..%2Fetc%2Fpasswd",
        controller.address
    );
    let status = get(&escape, Some(&sluice)).await?.status();
    assert!(
        [StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&status),
        "{status}"
    );
    controller.stop().await
}

/// deploy/'s multi-tenant overlay, built by Sluice's kustomize engine.
fn multi_tenant_install() -> anyhow::Result<Vec<Value>> {
    let root = workspace_root();
    Ok(sluice_kustomize::build(
        &root.join("deploy/overlays/multi-tenant"),
        Some(&root),
    )?)
}

/// The object of `kind` named `name` in `objects`.
fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> anyhow::Result<&'a Value> {
    objects
        .iter()
        .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .ok_or_else(|| anyhow::anyhow!("no {kind} {name} in deploy/"))
}

/// A config for `cluster` that authenticates with `token` only (as a pod does).
async fn config_with_token(cluster: &LocalCluster, token: &str) -> anyhow::Result<Config> {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig())?;
    let mut config =
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    config.auth_info = AuthInfo {
        token: Some(token.to_owned().into()),
        ..AuthInfo::default()
    };
    Ok(config)
}

#[tokio::test]
async fn the_core_controllers_rbac_cannot_impersonate_a_user_or_a_group() -> anyhow::Result<()> {
    let case = "endpoints-rbac";
    let (cluster, client) = cluster().await?;
    let system = namespaces(&client, case, &["sluice-core", "sluice-canary"]).await?;

    // deploy/'s ClusterRole of the core controller (multi-tenant: no cluster-admin binding),
    // under a name of this test's own, bound to a ServiceAccount standing for sluice-core.
    let objects = multi_tenant_install()?;
    assert!(
        find(&objects, "ClusterRoleBinding", "sluice-core-apply").is_err(),
        "the multi-tenant install binds the core controller to cluster-admin"
    );
    let mut role = find(&objects, "ClusterRole", "sluice-core")?.clone();
    role["metadata"] = json!({"name": case});
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(role)?)
        .await?;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": case},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": case},
        "subjects": [{"kind": "ServiceAccount", "name": "sluice-core", "namespace": system}],
    }))?;
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&PostParams::default(), &binding)
        .await?;
    let core_config =
        config_with_token(cluster, &token(&client, &system, "sluice-core").await?).await?;
    let core = Client::try_from(core_config.clone())?;

    // The legitimate use: a Kustomization of the tenant is applied as the tenant's
    // ServiceAccount, through the same clients and applier the controller uses. RBAC bindings
    // take a moment to reach the authorizer's cache.
    let clients = Clients::new(core.clone(), Some(core_config.clone()));
    let settings: Value = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": case}, "data": {"owner": "tenant"}});
    wait_until(
        "an apply as the tenant's ServiceAccount",
        TIMEOUT,
        || async {
            let applier = Applier {
                clients: &clients,
                client: clients
                    .acting_as(case, Some("reconciler"))
                    .map_err(|error| HarnessError::Start {
                        what: "impersonating client".into(),
                        why: error.to_string(),
                    })?,
                default_namespace: case.into(),
                force: false,
                deadline: Instant::now() + Duration::from_secs(30),
            };
            Ok(applier.apply_all(vec![settings.clone()]).await.is_ok())
        },
    )
    .await?;
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), case)
            .get_opt("settings")
            .await?
            .is_some()
    );

    // The attack: the same credentials claiming a user, or the tenant's account with the group
    // system:masters; the real API server refuses both.
    let claims: [Impersonation<'_>; 2] = [
        (Some("admin"), None, "users"),
        (
            Some(&format!("system:serviceaccount:{case}:reconciler")),
            Some(vec!["system:masters".to_owned()]),
            "groups",
        ),
    ];
    for (user, groups, resource) in claims {
        let mut config = core_config.clone();
        config.auth_info.impersonate = user.map(str::to_owned);
        config.auth_info.impersonate_groups = groups;
        let secrets: Api<Secret> = Api::namespaced(Client::try_from(config)?, "kube-system");
        match secrets.list(&ListParams::default()).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 403, "{status:?}");
                assert!(
                    status
                        .message
                        .contains(&format!("cannot impersonate resource \"{resource}\"")),
                    "{status:?}"
                );
            }
            other => anyhow::bail!("impersonating {user:?} was not refused: {other:?}"),
        }
    }

    // deploy/'s RBAC also lets the controller review tokens, which is how it tells Sluice's
    // callers from a tenant's.
    let auth = ServiceAccountAuth::new(core, &system);
    let headers = |token: &str| -> anyhow::Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse()?);
        Ok(headers)
    };
    let canary = token(&client, &system, "sluice-canary").await?;
    let caller = auth.authenticate(&headers(&canary)?, None).await?;
    assert_eq!(
        caller.username,
        format!("system:serviceaccount:{system}:sluice-canary")
    );
    let tenant = token(&client, case, "reconciler").await?;
    let refused = auth.authenticate(&headers(&tenant)?, None).await;
    assert!(
        matches!(refused, Err(ref refusal) if refusal.status() == StatusCode::FORBIDDEN),
        "{refused:?}"
    );

    let delete = DeleteParams::default();
    Api::<ClusterRoleBinding>::all(client.clone())
        .delete(case, &delete)
        .await?;
    Api::<ClusterRole>::all(client)
        .delete(case, &delete)
        .await?;
    Ok(())
}

#[test]
fn deploy_keeps_the_events_and_artifacts_port_to_sluices_namespace() -> anyhow::Result<()> {
    let objects = multi_tenant_install()?;
    let core = find(&objects, "Deployment", "sluice-core")?;
    let container = &core["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let flag = |name: &str| {
        args.iter()
            .find_map(|arg| arg.strip_prefix(&format!("--{name}=")))
            .map(str::to_owned)
    };
    let port_of = |address: Option<String>| {
        address.and_then(|a| {
            a.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<i64>().ok())
        })
    };
    let internal = port_of(flag("storage-addr"))
        .ok_or_else(|| anyhow::anyhow!("sluice-core has no --storage-addr: {args:?}"))?;
    assert_ne!(Some(internal), port_of(flag("metrics-addr")), "{args:?}");
    assert_eq!(
        port_of(flag("storage-adv-addr")),
        Some(internal),
        "{args:?}"
    );
    let service = find(&objects, "Service", "sluice-core")?;
    assert!(
        service["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|port| port["port"] == internal),
        "{service}"
    );

    // No NetworkPolicy rule lets another namespace (or anyone) reach the internal port; the
    // pods of Sluice's namespace may.
    let mut same_namespace = false;
    for policy in objects.iter().filter(|o| o["kind"] == "NetworkPolicy") {
        for rule in policy["spec"]["ingress"].as_array().into_iter().flatten() {
            let peers: Vec<&Value> = rule["from"].as_array().into_iter().flatten().collect();
            let only_own_namespace = !peers.is_empty()
                && peers.iter().all(|peer| {
                    peer.get("namespaceSelector").is_none() && peer.get("ipBlock").is_none()
                });
            let ports: Vec<&Value> = rule["ports"].as_array().into_iter().flatten().collect();
            let opens_internal = ports.is_empty()
                || ports
                    .iter()
                    .any(|port| port["port"] == internal || port["port"] == "internal");
            if only_own_namespace {
                same_namespace |= opens_internal;
            } else {
                assert!(
                    !opens_internal,
                    "{} opens port {internal} beyond sluice-system: {rule}",
                    policy["metadata"]["name"]
                );
            }
        }
    }
    assert!(
        same_namespace,
        "Sluice's own pods cannot reach port {internal}"
    );
    Ok(())
}

/// An impersonation attempt: the user claimed, the groups claimed, and the resource the API
/// server names when it refuses (`users` or `groups`).
type Impersonation<'a> = (Option<&'a str>, Option<Vec<String>>, &'a str);
