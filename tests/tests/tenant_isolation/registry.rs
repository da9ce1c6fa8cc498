//! Attacks on the registry surface (the image-reflector's webhooks and registry client) and on the
//! canary controller's outbound calls (webhooks, metric servers):
//!
//! - calling `/hooks/registry/...` without knowing a repository's token triggers nothing, and the
//!   right path scans exactly its own repository;
//! - a burst of hook calls is rate limited and debounced into at most a couple of scans;
//! - a registry that points the tag list (`Link` header or redirect) at another origin never
//!   gets the scan's credentials sent there;
//! - a registry listing tags (or pages) without end, or never answering, fails the scan with a
//!   clear condition and keeps the previous scan;
//! - a Canary webhook to the cloud metadata address, directly or through a redirect, is refused
//!   with the rule's reason, while a webhook to an allowed server still gates the analysis.
//!
//! The registries here are tiny axum servers of the test, on 127.0.0.1: they record the
//! `Authorization` header and count the tag list requests of each repository.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, CustomResourceExt};
use serde_json::{Value, json};
use sluice_canary::api::{Canary, CanaryPhase};
use sluice_canary::settings::Settings;
use sluice_image_reflector::api::{ImagePolicy, ImageRepository};
use sluice_image_reflector::controller::ReflectorArgs;
use sluice_runtime::conditions::{self, READY};
use sluice_runtime::{REQUESTED_AT_ANNOTATION, Runtime, RuntimeOptions};
use sluice_tests::canary_support::{WebhookReceiver, http_route_crd};
use sluice_tests::objects::create_from_json;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(90);
const TEST_LABEL: &str = "sluice.dev/test";
const USER: &str = "scanner";
const PASSWORD: &str = "registry-s3cret";

// ---------------------------------------------------------------------------------------------
// A registry of the test.

/// What one registry (or the other origin it points to) saw.
#[derive(Default)]
struct Seen {
    /// Tag list requests per repository path.
    tag_lists: Mutex<HashMap<String, usize>>,
    /// The `Authorization` header of each tag list request, with its repository.
    authorizations: Mutex<Vec<(String, Option<String>)>>,
    /// Makes `flood/app` list tags without end.
    flood: AtomicBool,
}

/// A registry on 127.0.0.1 answering `/v2/` anonymously and tag lists by repository:
/// `demo/*` two tags; `flood/app` one tag, or endless pages of 1000 once flooding;
/// `flood/pages` endless empty pages; `link/app` one tag and a `Link` to `other`; `redirect/app`
/// a redirect to `other`; `slow/app` no answer within the hour. With `last` set, `link/app` and
/// `redirect/app` answer `2.0.0`.
struct TestRegistry {
    address: String,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Routes {
    seen: Arc<Seen>,
    other: Option<String>,
}

impl TestRegistry {
    async fn start(other: Option<&TestRegistry>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let seen = Arc::new(Seen::default());
        let routes = Routes {
            seen: seen.clone(),
            other: other.map(|other| other.address.clone()),
        };
        let app = Router::new().fallback(serve).with_state(routes);
        let task = tokio::spawn(async move {
            let _stopped = axum::serve(listener, app).await;
        });
        Ok(TestRegistry {
            address,
            seen,
            task,
        })
    }

    fn tag_lists(&self, repository: &str) -> usize {
        lock(&self.seen.tag_lists)
            .get(repository)
            .copied()
            .unwrap_or(0)
    }

    fn authorizations(&self, repository: &str) -> Vec<Option<String>> {
        lock(&self.seen.authorizations)
            .iter()
            .filter(|(seen, _)| seen == repository)
            .map(|(_, authorization)| authorization.clone())
            .collect()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(
    State(routes): State<Routes>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path();
    if path == "/v2/" || path == "/v2" {
        return (StatusCode::OK, "{}").into_response();
    }
    let Some(repository) = path
        .strip_prefix("/v2/")
        .and_then(|rest| rest.strip_suffix("/tags/list"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    *lock(&routes.seen.tag_lists)
        .entry(repository.to_owned())
        .or_insert(0) += 1;
    lock(&routes.seen.authorizations).push((repository.to_owned(), authorization));
    let last = query.get("last");
    let page = |tags: Vec<String>, link: Option<String>| {
        let body = json!({"name": repository, "tags": tags}).to_string();
        let mut response = (StatusCode::OK, body).into_response();
        if let Some(link) = link.and_then(|link| link.parse().ok()) {
            response.headers_mut().insert("link", link);
        }
        response
    };
    let own =
        |after: &str| format!("</v2/{repository}/tags/list?n=1000&last={after}>; rel=\"next\"");
    match (repository, last, &routes.other) {
        ("flood/app", None, _) if !routes.seen.flood.load(Ordering::SeqCst) => {
            page(vec!["1.0.0".into()], None)
        }
        ("flood/app", last, _) => {
            let start: usize = last
                .and_then(|last| last.trim_start_matches('t').parse().ok())
                .map_or(0, |last: usize| last + 1);
            let tags: Vec<String> = (start..start + 1000).map(|n| format!("t{n:09}")).collect();
            let link = own(&format!("t{:09}", start + 999));
            page(tags, Some(link))
        }
        ("flood/pages", last, _) => {
            let next: usize = last
                .and_then(|last| last.trim_start_matches('p').parse().ok())
                .map_or(0, |last: usize| last + 1);
            page(Vec::new(), Some(own(&format!("p{next}"))))
        }
        ("link/app", None, Some(other)) => page(
            vec!["1.0.0".into()],
            Some(format!(
                "<http://{other}/v2/link/app/tags/list?n=1000&last=1.0.0>; rel=\"next\""
            )),
        ),
        ("redirect/app", None, Some(other)) => {
            let target = format!("http://{other}/v2/redirect/app/tags/list?n=1000&last=moved");
            (StatusCode::TEMPORARY_REDIRECT, [("location", target)]).into_response()
        }
        ("link/app" | "redirect/app", Some(_), _) => page(vec!["2.0.0".into()], None),
        ("slow/app", _, _) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        _ => page(vec!["1.0.0".into(), "1.1.0".into()], None),
    }
}

// ---------------------------------------------------------------------------------------------
// The image-reflector, in-process, sharded to one test's objects.

fn options(label: &str) -> anyhow::Result<RuntimeOptions> {
    Ok(RuntimeOptions {
        kubeconfig: None,
        concurrent: 4,
        watch_label_selector: Some(format!("{TEST_LABEL}={label}")),
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: format!("127.0.0.1:{}", sluice_tests::ports::free_port()?).parse()?,
        log_format: sluice_runtime::options::LogFormat::Text,
        log_level: "info".into(),
        no_cross_namespace_refs: false,
    })
}

/// One test's image-reflector: its HTTP address serves the hooks.
struct Reflector {
    runtime: Runtime,
    base: String,
    _storage: tempfile::TempDir,
}

impl Reflector {
    fn start(client: &Client, label: &str) -> anyhow::Result<Self> {
        let options = options(label)?;
        let base = format!("http://{}", options.metrics_addr);
        let runtime = Runtime::new("image-reflector", client.clone(), options);
        let storage = tempfile::tempdir()?;
        let args = ReflectorArgs {
            registry_qps: 1000.0,
            storage_path: storage.path().to_owned(),
            max_concurrent_scans: 4,
        };
        tokio::spawn(sluice_image_reflector::controller::run(
            runtime.clone(),
            args,
        ));
        Ok(Reflector {
            runtime,
            base,
            _storage: storage,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<StatusCode> {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        Ok(StatusCode::from_u16(answer.status().as_u16())?)
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.runtime.shutdown.cancel();
    }
}

/// The shared cluster and a client of it.
async fn cluster() -> anyhow::Result<(&'static LocalCluster, Client)> {
    let cluster = LocalCluster::shared().await?;
    Ok((cluster, cluster.client().await?))
}

/// A namespace `name` with the image CRDs (from the Rust types) installed.
async fn image_namespace(name: &str) -> anyhow::Result<Client> {
    let (_, client) = cluster().await?;
    for crd in [ImageRepository::crd(), ImagePolicy::crd()] {
        sluice_tests::crds::install(&client, &crd).await?;
    }
    create_namespace(&client, name).await?;
    Ok(client)
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&Default::default(), &namespace)
        .await?;
    Ok(())
}

async fn create_repository(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> anyhow::Result<()> {
    let object = json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageRepository",
        "metadata": {"name": name, "labels": {TEST_LABEL: namespace}},
        "spec": spec,
    });
    create_from_json::<ImageRepository>(client, namespace, object).await?;
    Ok(())
}

fn api_error(error: kube::Error) -> HarnessError {
    HarnessError::Start {
        what: "API request".into(),
        why: error.to_string(),
    }
}

/// Waits until the ImageRepository `name` satisfies `check`, and returns it.
async fn wait_for_repository(
    api: &Api<ImageRepository>,
    name: &str,
    what: &str,
    check: impl Fn(&ImageRepository) -> bool,
) -> anyhow::Result<ImageRepository> {
    wait_until(&format!("{name}: {what}"), TIMEOUT, || async {
        Ok(api
            .get_opt(name)
            .await
            .map_err(api_error)?
            .is_some_and(|repository| check(&repository)))
    })
    .await?;
    Ok(api.get(name).await?)
}

fn ready(
    repository: &ImageRepository,
) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    conditions::find(&repository.status.as_ref()?.reconcile.conditions, READY)
}

fn webhook_path(repository: &ImageRepository) -> Option<&str> {
    repository.status.as_ref()?.webhook_path.as_deref()
}

fn tag_count(repository: &ImageRepository) -> Option<i64> {
    Some(
        repository
            .status
            .as_ref()?
            .last_scan_result
            .as_ref()?
            .tag_count,
    )
}

async fn request_scan(api: &Api<ImageRepository>, name: &str) -> anyhow::Result<()> {
    let requested = format!("{:?}", std::time::SystemTime::now());
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: requested}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The registry hooks of one namespace: a token Secret and an ImageRepository `app` of the
/// registry's `demo/app` using it, another `other` of `demo/other` without hook, both scanned
/// once, and the published path of `app`.
async fn hooked_repositories(
    client: &Client,
    namespace: &str,
    registry: &TestRegistry,
    token: &str,
) -> anyhow::Result<String> {
    let secret = json!({"metadata": {"name": "hook-token"}, "stringData": {"token": token}});
    create_from_json::<Secret>(client, namespace, secret).await?;
    for (name, repository, hook) in [
        ("app", "demo/app", Some("hook-token")),
        ("other", "demo/other", None),
    ] {
        let mut spec = json!({"image": format!("{}/{repository}", registry.address),
                              "interval": "1h", "insecure": true});
        if let Some(secret) = hook {
            spec["webhookSecretRef"] = json!({"name": secret});
        }
        create_repository(client, namespace, name, spec).await?;
    }
    let api: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    wait_for_repository(&api, "other", "scanned", |r| tag_count(r) == Some(2)).await?;
    let app = wait_for_repository(&api, "app", "scanned with a hook", |r| {
        tag_count(r) == Some(2) && webhook_path(r).is_some()
    })
    .await?;
    let status = serde_json::to_string(&app.status)?;
    assert!(!status.contains(token), "the token shows in the status");
    assert!(webhook_path(&app).is_none_or(|path| path.len() == "/hooks/registry/".len() + 64));
    Ok(webhook_path(&app).unwrap_or_default().to_owned())
}

fn push_event(repository: &str) -> Value {
    json!({"events": [{"action": "push", "target": {"repository": repository, "tag": "1.2.0"}}]})
}

// ---------------------------------------------------------------------------------------------
// The attacks on the registry webhooks.

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_call_without_the_repositorys_token_triggers_no_scan() -> anyhow::Result<()> {
    let namespace = "attack-hook-path";
    let client = image_namespace(namespace).await?;
    let registry = TestRegistry::start(None).await?;
    let reflector = Reflector::start(&client, namespace)?;
    let path = hooked_repositories(&client, namespace, &registry, "t0ken-of-app").await?;
    let scans = |repository| registry.tag_lists(repository);
    let (app_before, other_before) = (scans("demo/app"), scans("demo/other"));

    let event = push_event("demo/app");
    let guessed = sluice_image_reflector::webhook::webhook_path("guess", "app", namespace);
    let other_namespace = sluice_image_reflector::webhook::webhook_path("t0ken-of-app", "app", "x");
    for wrong in [
        "/hooks/registry".to_owned(),
        "/hooks/registry/".to_owned(),
        format!("/hooks/registry/{}", "0".repeat(64)),
        guessed,
        other_namespace,
        format!("{path}/extra"),
    ] {
        let status = reflector.post(&wrong, &event).await?;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
            "{wrong}: {status}"
        );
    }
    // Scans are debounced by 1 s: wait well past it before asserting nothing happened.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(scans("demo/app"), app_before, "a wrong path scanned app");
    assert_eq!(
        scans("demo/other"),
        other_before,
        "a wrong path scanned other"
    );

    // The right path, with a push of another repository: accepted, nothing to scan.
    assert_eq!(
        reflector.post(&path, &push_event("demo/unrelated")).await?,
        StatusCode::ACCEPTED
    );
    // The right path with a push of app: exactly one scan of app, none of other.
    assert_eq!(reflector.post(&path, &event).await?, StatusCode::ACCEPTED);
    wait_until("the hook scanned app", TIMEOUT, || async {
        Ok(scans("demo/app") > app_before)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(scans("demo/app"), app_before + 1, "exactly one scan");
    assert_eq!(
        scans("demo/other"),
        other_before,
        "only the hook's repository"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_hook_calls_makes_at_most_a_couple_of_scans() -> anyhow::Result<()> {
    let namespace = "attack-hook-burst";
    let client = image_namespace(namespace).await?;
    let registry = TestRegistry::start(None).await?;
    let reflector = Reflector::start(&client, namespace)?;
    let path = hooked_repositories(&client, namespace, &registry, "burst-t0ken").await?;
    let before = registry.tag_lists("demo/app");

    let event = push_event("demo/app");
    let calls = (0..50).map(|_| reflector.post(&path, &event));
    let statuses = futures::future::join_all(calls).await;
    let statuses: Vec<StatusCode> = statuses.into_iter().collect::<Result<_, _>>()?;
    let limited = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let accepted = statuses
        .iter()
        .filter(|status| **status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(limited + accepted, 50, "{statuses:?}");
    assert!(limited > 0, "the burst was not rate limited: {statuses:?}");
    assert!(
        accepted > 0,
        "the legitimate calls were refused: {statuses:?}"
    );

    wait_until("the burst scanned app", TIMEOUT, || async {
        Ok(registry.tag_lists("demo/app") > before)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let scans = registry.tag_lists("demo/app") - before;
    assert!((1..=2).contains(&scans), "50 calls made {scans} scans");
    assert_eq!(
        registry.tag_lists("demo/other"),
        1,
        "the other repository was not scanned"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The attacks through the registry's answers.

#[tokio::test(flavor = "multi_thread")]
async fn a_link_or_redirect_to_another_port_never_receives_the_registry_credentials()
-> anyhow::Result<()> {
    let namespace = "attack-registry-link";
    let client = image_namespace(namespace).await?;
    let elsewhere = TestRegistry::start(None).await?;
    let registry = TestRegistry::start(Some(&elsewhere)).await?;
    let auth = base64_basic(USER, PASSWORD);
    let config = json!({"auths": {&registry.address: {"auth": auth}}}).to_string();
    let secret = json!({"metadata": {"name": "pull"}, "type": "kubernetes.io/dockerconfigjson",
                        "stringData": {".dockerconfigjson": config}});
    create_from_json::<Secret>(&client, namespace, secret).await?;
    for (name, repository) in [("link", "link/app"), ("redirect", "redirect/app")] {
        let spec = json!({"image": format!("{}/{repository}", registry.address), "interval": "1h",
                          "insecure": true, "secretRef": {"name": "pull"}});
        create_repository(&client, namespace, name, spec).await?;
    }
    let _reflector = Reflector::start(&client, namespace)?;
    let api: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);

    let link = wait_for_repository(&api, "link", "scanned", |r| tag_count(r).is_some()).await?;
    let redirect =
        wait_for_repository(&api, "redirect", "scanned", |r| tag_count(r).is_some()).await?;
    let basic = Some(format!("Basic {auth}"));
    assert_eq!(
        registry.authorizations("link/app"),
        std::slice::from_ref(&basic)
    );
    assert_eq!(registry.authorizations("redirect/app"), [basic]);
    for repository in ["link/app", "redirect/app"] {
        let sent = elsewhere.authorizations(repository);
        assert!(
            !sent.is_empty(),
            "{repository}: the other origin was not asked"
        );
        assert!(
            sent.iter().all(Option::is_none),
            "{repository}: the other origin received {sent:?}"
        );
    }
    // Followed anonymously: the listing still completes.
    assert_eq!(
        tag_count(&link),
        Some(2),
        "1.0.0 here, 2.0.0 on the linked page"
    );
    assert_eq!(tag_count(&redirect), Some(1), "2.0.0 after the redirect");
    Ok(())
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_or_stalled_tag_list_fails_clearly_and_keeps_the_previous_scan()
-> anyhow::Result<()> {
    let namespace = "attack-registry-flood";
    let client = image_namespace(namespace).await?;
    let registry = TestRegistry::start(None).await?;
    for (name, repository, timeout) in [
        ("flood", "flood/app", "60s"),
        ("pages", "flood/pages", "60s"),
        ("slow", "slow/app", "2s"),
        ("fine", "demo/app", "60s"),
    ] {
        let spec = json!({"image": format!("{}/{repository}", registry.address),
                          "interval": "1h", "timeout": timeout, "insecure": true});
        create_repository(&client, namespace, name, spec).await?;
    }
    let _reflector = Reflector::start(&client, namespace)?;
    let api: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    wait_for_repository(&api, "flood", "first scan", |r| tag_count(r) == Some(1)).await?;

    registry.seen.flood.store(true, Ordering::SeqCst);
    request_scan(&api, "flood").await?;
    let failing = |reason: &'static str| {
        move |repository: &ImageRepository| {
            ready(repository).is_some_and(|ready| ready.status == "False" && ready.reason == reason)
        }
    };
    let flood =
        wait_for_repository(&api, "flood", "TagListTooLong", failing("TagListTooLong")).await?;
    let message = ready(&flood)
        .map(|ready| ready.message.clone())
        .unwrap_or_default();
    assert!(message.contains("more than 100000 tags"), "{message}");
    assert_eq!(tag_count(&flood), Some(1), "the previous scan is kept");
    assert!(
        registry.tag_lists("flood/app") <= 1 + 101,
        "stopped at the cap"
    );

    let pages =
        wait_for_repository(&api, "pages", "TagListTooLong", failing("TagListTooLong")).await?;
    let message = ready(&pages)
        .map(|ready| ready.message.clone())
        .unwrap_or_default();
    assert!(message.contains("more than 1000 pages"), "{message}");
    assert!(registry.tag_lists("flood/pages") <= 1000);

    let slow = wait_for_repository(&api, "slow", "ScanTimeout", failing("ScanTimeout")).await?;
    let message = ready(&slow)
        .map(|ready| ready.message.clone())
        .unwrap_or_default();
    assert!(message.contains("timed out after 2s"), "{message}");

    let fine = wait_for_repository(&api, "fine", "scanned", |r| tag_count(r) == Some(2)).await?;
    assert_eq!(
        ready(&fine).map(|ready| ready.status.as_str()),
        Some("True")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The attack on the canary's outbound calls.

/// A server on 127.0.0.1 whose every request is redirected to the cloud metadata address.
async fn redirect_to_metadata() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = Router::new().fallback(|| async {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "http://169.254.169.254/latest/meta-data/iam/")],
        )
    });
    let task = tokio::spawn(async move {
        let _stopped = axum::serve(listener, app).await;
    });
    Ok((format!("http://{address}/hook"), task))
}

async fn create_target(client: &Client, namespace: &str, name: &str) -> anyhow::Result<()> {
    let deployment = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "podinfo:1"}]}}
        }
    });
    create_from_json::<Deployment>(client, namespace, deployment).await?;
    Ok(())
}

async fn create_gated_canary(
    client: &Client,
    namespace: &str,
    name: &str,
    hook_url: &str,
) -> anyhow::Result<()> {
    create_target(client, namespace, name).await?;
    let canary = json!({
        "apiVersion": "canary.sluice.dev/v1", "kind": "Canary",
        "metadata": {"name": name, "labels": {TEST_LABEL: namespace}},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898, "gatewayRefs": [{"name": "gateway", "namespace": "ingress"}],
                        "hosts": [format!("{name}.example.com")]},
            "analysis": {"interval": "1s", "threshold": 2, "maxWeight": 50, "stepWeight": 10,
                         "webhooks": [{"name": "approve", "type": "confirm-rollout", "url": hook_url,
                                       "timeout": "5s"}]}
        }
    });
    create_from_json::<Canary>(client, namespace, canary).await?;
    Ok(())
}

async fn set_image(
    client: &Client,
    namespace: &str,
    name: &str,
    image: &str,
) -> anyhow::Result<()> {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    Ok(())
}

/// Waits until the Canary `name` is in `phase` with a Ready message containing every `part`.
async fn wait_for_canary(
    api: &Api<Canary>,
    name: &str,
    phase: CanaryPhase,
    parts: &[&str],
) -> anyhow::Result<String> {
    let message = |canary: &Canary| {
        canary
            .status
            .as_ref()
            .and_then(|status| conditions::find(&status.reconcile.conditions, READY))
            .map(|ready| ready.message.clone())
            .unwrap_or_default()
    };
    wait_until(
        &format!("canary {name} {phase} {parts:?}"),
        TIMEOUT,
        || async {
            let canary = api.get(name).await.map_err(api_error)?;
            let in_phase = canary.status.as_ref().and_then(|status| status.phase) == Some(phase);
            let text = message(&canary);
            Ok(in_phase && parts.iter().all(|part| text.contains(part)))
        },
    )
    .await?;
    Ok(message(&api.get(name).await?))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canary_webhook_to_the_metadata_address_is_refused_while_an_allowed_one_still_gates()
-> anyhow::Result<()> {
    let namespace = "attack-canary-metadata";
    let (cluster, client) = cluster().await?;
    for crd in sluice_canary::api::crds() {
        sluice_tests::crds::install(&client, &crd).await?;
    }
    sluice_tests::crds::install(&client, &http_route_crd()?).await?;
    create_namespace(&client, namespace).await?;
    cluster
        .wait_for_service_account(namespace, "default")
        .await?;
    let receiver = WebhookReceiver::start().await?;
    receiver.answer("approve", 403);
    let (redirecting, _redirect_task) = redirect_to_metadata().await?;
    for (name, url) in [
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        ("redirected", redirecting),
        ("allowed", receiver.hook_url("approve")),
    ] {
        create_gated_canary(&client, namespace, name, &url).await?;
    }
    let runtime = Runtime::new("canary", client.clone(), options(namespace)?);
    let settings = Settings {
        min_interval: Duration::from_secs(1),
        ..Settings::default()
    };
    tokio::spawn(sluice_canary::controller::run(runtime.clone(), settings));
    let _stop = StopOnDrop(runtime);
    let api: Api<Canary> = Api::namespaced(client.clone(), namespace);
    for name in ["metadata", "redirected", "allowed"] {
        wait_for_canary(&api, name, CanaryPhase::Initialized, &[]).await?;
        set_image(&client, namespace, name, "podinfo:2").await?;
    }

    let refused = wait_for_canary(
        &api,
        "metadata",
        CanaryPhase::Waiting,
        &["refused", "169.254.169.254", "link-local"],
    )
    .await?;
    assert!(refused.contains("webhook approve"), "{refused}");
    let redirected = wait_for_canary(
        &api,
        "redirected",
        CanaryPhase::Waiting,
        &["169.254.169.254", "link-local"],
    )
    .await?;
    assert!(redirected.contains("webhook approve"), "{redirected}");

    // The allowed hook gates: closed, the canary waits; opened, it progresses.
    wait_for_canary(&api, "allowed", CanaryPhase::Waiting, &["webhook approve"]).await?;
    assert!(receiver.calls("approve") > 0);
    receiver.answer("approve", 200);
    wait_for_canary(&api, "allowed", CanaryPhase::Progressing, &[]).await?;
    let metadata = api.get("metadata").await?;
    assert_eq!(
        metadata.status.and_then(|status| status.phase),
        Some(CanaryPhase::Waiting),
        "the refused gate stays closed"
    );
    Ok(())
}

/// Stops a controller's runtime when the test ends, however it ends.
struct StopOnDrop(Runtime);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.shutdown.cancel();
    }
}
