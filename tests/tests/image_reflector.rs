//! The image-reflector suite: the registry client against the real Debian registry on loopback
//! (anonymous, htpasswd, bearer tokens from the test's token server, a paginating front), and
//! the controllers on the real local control plane.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde_json::json;
use sluice_image_reflector::api::{ImagePolicy, ImageRepository};
use sluice_image_reflector::controller::{ReflectorArgs, run};
use sluice_image_reflector::registry::retry::RetryPolicy;
use sluice_image_reflector::registry::{
    Connection, Credentials, Error as RegistryError, ImageName, RegistryBudget, RegistryClient,
};
use sluice_image_reflector::store::{StoredScan, TagStore, object_key};
use sluice_image_reflector::store_gc;
use sluice_runtime::options::LogFormat;
use sluice_runtime::{Runtime, RuntimeOptions};
use sluice_tests::oci_layout;
use sluice_tests::paginating_registry::{PaginatingRegistry, Paging};
use sluice_tests::registry::{Registry, RegistryAuth};
use sluice_tests::token_server::TokenServer;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const USER: &str = "reflector";
const PASSWORD: &str = "s3cret";

/// Pushes `tags` of a fresh OCI layout to `address/repository` with skopeo.
fn push(address: &str, repository: &str, tags: &[&str], creds: Option<&str>) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let layout = work.path().join("layout");
    for (day, tag) in tags.iter().enumerate() {
        oci_layout::add_image(&layout, tag, &format!("2024-01-{:02}T00:00:00Z", day + 1))?;
    }
    for tag in tags {
        skopeo_copy(
            &layout,
            tag,
            &format!("docker://{address}/{repository}:{tag}"),
            creds,
        )?;
    }
    Ok(())
}

fn skopeo_copy(layout: &Path, tag: &str, target: &str, creds: Option<&str>) -> anyhow::Result<()> {
    let source = format!("oci:{}:{tag}", layout.display());
    let mut command = Command::new("skopeo");
    command.args(["copy", "--dest-tls-verify=false", &source, target]);
    if let Some(creds) = creds {
        command.args(["--dest-creds", creds]);
    }
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "skopeo copy {target}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn client() -> RegistryClient {
    sluice_runtime::logging::install_crypto_provider();
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    RegistryClient::new(Arc::new(RegistryBudget::new(100.0).unwrap()), retry)
}

fn plain_http(credentials: Credentials) -> Connection {
    Connection {
        insecure: true,
        credentials,
        timeout: Duration::from_secs(30),
        ..Connection::default()
    }
}

fn basic() -> Credentials {
    Credentials::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    }
}

async fn sorted_tags(
    client: &RegistryClient,
    image: &str,
    connection: &Connection,
) -> Result<Vec<String>, RegistryError> {
    let mut tags = client
        .list_tags(&ImageName::parse(image)?, connection)
        .await?;
    tags.sort();
    Ok(tags)
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_and_htpasswd_registries_list_pushed_tags() -> anyhow::Result<()> {
    let open = Registry::start(RegistryAuth::Anonymous)?;
    push(
        &open.address,
        "demo/app",
        &["1.0.0", "1.1.0", "2.0.0-rc.1"],
        None,
    )?;
    let image = format!("{}/demo/app", open.address);
    let tags = sorted_tags(&client(), &image, &plain_http(Credentials::Anonymous)).await?;
    assert_eq!(tags, ["1.0.0", "1.1.0", "2.0.0-rc.1"]);

    let private = Registry::start(RegistryAuth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    })?;
    push(
        &private.address,
        "private/app",
        &["0.1.0"],
        Some(&format!("{USER}:{PASSWORD}")),
    )?;
    let image = format!("{}/private/app", private.address);
    let tags = sorted_tags(&client(), &image, &plain_http(basic())).await?;
    assert_eq!(tags, ["0.1.0"]);
    let denied = sorted_tags(&client(), &image, &plain_http(Credentials::Anonymous)).await;
    assert!(
        matches!(denied, Err(RegistryError::Unauthorized { .. })),
        "{denied:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_come_from_the_token_server() -> anyhow::Result<()> {
    let tokens = TokenServer::start(USER, PASSWORD, false).await?;
    let registry = Registry::start(tokens.registry_auth())?;
    push(
        &registry.address,
        "team/api",
        &["1.0.0", "1.2.0"],
        Some(&format!("{USER}:{PASSWORD}")),
    )?;
    let image = format!("{}/team/api", registry.address);
    let tags = sorted_tags(&client(), &image, &plain_http(basic())).await?;
    assert_eq!(tags, ["1.0.0", "1.2.0"]);
    let wrong = Credentials::Basic {
        username: USER.into(),
        password: "wrong".into(),
    };
    for credentials in [wrong, Credentials::Anonymous] {
        let denied = sorted_tags(&client(), &image, &plain_http(credentials)).await;
        assert!(
            matches!(denied, Err(RegistryError::Unauthorized { .. })),
            "{denied:?}"
        );
    }
    let digest = client()
        .manifest_digest(&ImageName::parse(&image)?, "1.2.0", &plain_http(basic()))
        .await?;
    assert!(digest.starts_with("sha256:"), "{digest}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_are_followed_by_link_and_by_n_and_last() -> anyhow::Result<()> {
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    let pushed = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"];
    push(&registry.address, "paged/app", &pushed, None)?;
    let link_front = PaginatingRegistry::start(
        &registry.address,
        Paging {
            page_cap: 2,
            link: true,
            throttle_first: true,
        },
    )
    .await?;
    let image = format!("{}/paged/app", link_front.address);
    let tags = sorted_tags(&client(), &image, &plain_http(Credentials::Anonymous)).await?;
    assert_eq!(tags, pushed);
    assert_eq!(
        link_front.tag_list_requests(),
        1 + 3,
        "one 429, then three pages"
    );

    let n_last_front = PaginatingRegistry::start(
        &registry.address,
        Paging {
            page_cap: 100,
            link: false,
            throttle_first: false,
        },
    )
    .await?;
    let image = format!("{}/paged/app", n_last_front.address);
    let paged = client().with_page_size(2);
    let tags = sorted_tags(&paged, &image, &plain_http(Credentials::Anonymous)).await?;
    assert_eq!(tags, pushed);
    assert_eq!(n_last_front.tag_list_requests(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_registry_is_reported_as_such() -> anyhow::Result<()> {
    let port = sluice_tests::ports::free_port()?;
    let image = format!("127.0.0.1:{port}/nothing/here");
    let result = sorted_tags(&client(), &image, &plain_http(Credentials::Anonymous)).await;
    assert!(
        matches!(result, Err(RegistryError::Unreachable { .. })),
        "{result:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The controllers on the real local control plane.

const TIMEOUT: Duration = Duration::from_secs(60);
const TEST_LABEL: &str = "sluice.dev/test";

/// A controller process of this test: only objects labelled `sluice.dev/test=<label>`.
struct Controller {
    runtime: Runtime,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    port: u16,
}

impl Controller {
    fn start(client: &Client, label: &str, storage: &Path) -> anyhow::Result<Controller> {
        sluice_runtime::logging::install_crypto_provider();
        let port = sluice_tests::ports::free_port()?;
        let options = RuntimeOptions {
            kubeconfig: None,
            concurrent: 4,
            watch_label_selector: Some(format!("{TEST_LABEL}={label}")),
            leader_elect: false,
            leader_election_namespace: "default".into(),
            leader_election_lease_seconds: 15,
            metrics_addr: format!("127.0.0.1:{port}").parse()?,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            no_cross_namespace_refs: false,
        };
        let runtime = Runtime::new("image-reflector", client.clone(), options);
        let args = ReflectorArgs {
            registry_qps: 50.0,
            storage_path: storage.to_owned(),
            max_concurrent_scans: 4,
        };
        let task = tokio::spawn(run(runtime.clone(), args));
        Ok(Controller {
            runtime,
            task,
            port,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.runtime.shutdown.cancel();
        self.task.await??;
        Ok(())
    }

    /// The sum of the samples of `metric` whose labels include every one of `labels`.
    fn metric(&self, metric: &str, labels: &[&str]) -> f64 {
        self.runtime
            .metrics
            .render()
            .lines()
            .filter(|line| line.starts_with(&format!("{metric}{{")))
            .filter(|line| labels.iter().all(|label| line.contains(label)))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

async fn install_crds_and_namespace(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in [ImageRepository::crd(), ImagePolicy::crd()] {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("sluice-tests").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        wait_until(&format!("CRD {name} Established"), TIMEOUT, || async {
            let crd = crds.get(&name).await.map_err(api_error)?;
            let conditions = crd
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default();
            Ok(conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        })
        .await?;
    }
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

fn api_error(error: kube::Error) -> HarnessError {
    HarnessError::Start {
        what: "API call".into(),
        why: error.to_string(),
    }
}

async fn create<K>(api: &Api<K>, object: serde_json::Value) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object)?;
    api.create(&PostParams::default(), &object).await?;
    Ok(())
}

fn repository(name: &str, label: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageRepository",
        "metadata": {"name": name, "labels": {TEST_LABEL: label}},
        "spec": spec,
    })
}

fn policy(name: &str, label: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy",
        "metadata": {"name": name, "labels": {TEST_LABEL: label}},
        "spec": spec,
    })
}

/// Waits until `check` holds for the object `name`.
async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> anyhow::Result<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_until(&format!("{name}: {what}"), TIMEOUT, || async {
        Ok(api
            .get_opt(name)
            .await
            .map_err(api_error)?
            .is_some_and(|object| check(&object)))
    })
    .await?;
    Ok(api.get(name).await?)
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|condition| condition.type_ == type_)
}

fn policy_tag(policy: &ImagePolicy) -> Option<&str> {
    policy
        .status
        .as_ref()?
        .latest_ref
        .as_ref()
        .map(|latest| latest.tag.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_follows_a_pushed_tag_as_soon_as_the_webhook_hears_of_it() -> anyhow::Result<()> {
    let (label, namespace) = ("follow", "reflector-follow");
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds_and_namespace(&client, namespace).await?;
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    push(&registry.address, "demo/app", &["1.0.0", "1.1.0"], None)?;
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), namespace);
    let image = format!("{}/demo/app", registry.address);
    let token: Secret = serde_json::from_value(
        json!({"metadata": {"name": "hook-token"}, "stringData": {"token": "t0ken"}}),
    )?;
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &token)
        .await?;
    let spec = json!({"image": image, "interval": "1h", "insecure": true,
                      "webhookSecretRef": {"name": "hook-token"}});
    create(&repositories, repository("app", label, spec)).await?;
    let spec =
        json!({"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}});
    create(&policies, policy("app", label, spec)).await?;
    let storage = tempfile::tempdir()?;
    let controller = Controller::start(&client, label, storage.path())?;

    wait_for(&policies, "app", "latest tag 1.1.0", |p| {
        policy_tag(p) == Some("1.1.0")
    })
    .await?;
    let scanned = repositories.get("app").await?.status.unwrap_or_default();
    assert_eq!(
        scanned.canonical_image_name.as_deref(),
        Some(image.as_str())
    );
    assert_eq!(scanned.last_scan_result.map(|scan| scan.tag_count), Some(2));
    let hook = scanned.webhook_path.expect("the webhook path is published");
    assert_eq!(
        hook,
        sluice_image_reflector::webhook::webhook_path("t0ken", "app", namespace)
    );

    push(&registry.address, "demo/app", &["1.2.0"], None)?;
    let event = json!({"events": [{
        "action": "push",
        "target": {"repository": "demo/app", "tag": "1.2.0",
                   "url": format!("http://{}/v2/demo/app/manifests/1.2.0", registry.address)},
        "request": {"host": registry.address},
    }]});
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}{hook}", controller.port))
        .json(&event)
        .send()
        .await?;
    assert_eq!(answer.status(), 202, "{:?}", answer.text().await);
    // The interval is 1h: only the webhook can make this scan happen.
    let followed = wait_for(&policies, "app", "latest tag 1.2.0", |p| {
        policy_tag(p) == Some("1.2.0")
    })
    .await?;
    let status = followed.status.unwrap_or_default();
    assert_eq!(
        status
            .observed_previous_ref
            .map(|previous| previous.tag)
            .as_deref(),
        Some("1.1.0")
    );
    assert!(status.message.unwrap_or_default().contains("'1.2.0'"));
    controller.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_stalls_once_and_an_unreachable_registry_backs_off() -> anyhow::Result<()> {
    let (label, namespace) = ("bad-input", "reflector-bad-input");
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds_and_namespace(&client, namespace).await?;
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    push(&registry.address, "demo/app", &["1.0.0"], None)?;
    let good = format!("{}/demo/app", registry.address);
    let unreachable = format!("127.0.0.1:{}/demo/app", sluice_tests::ports::free_port()?);
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), namespace);
    let repository_cases = [
        (
            "bad-image",
            json!({"image": format!("{good}:1.0.0"), "interval": "1m"}),
            "InvalidImage",
        ),
        (
            "bad-exclusion",
            json!({"image": good, "interval": "1m", "exclusionList": ["("]}),
            "InvalidExclusionList",
        ),
        (
            "aws",
            json!({"image": good, "interval": "1m", "provider": "aws"}),
            "ProviderNotSupported",
        ),
    ];
    for (name, spec, _) in &repository_cases {
        create(&repositories, repository(name, label, spec.clone())).await?;
    }
    create(
        &repositories,
        repository(
            "unreachable",
            label,
            json!({"image": unreachable, "interval": "1m", "insecure": true}),
        ),
    )
    .await?;
    let policy_cases = [
        (
            "bad-range",
            json!({"imageRepositoryRef": {"name": "missing"}, "policy": {"semver": {"range": "not a range"}}}),
            "InvalidSemverRange",
        ),
        (
            "bad-regex",
            json!({"imageRepositoryRef": {"name": "missing"}, "policy": {"alphabetical": {}}, "filterTags": {"pattern": "("}}),
            "InvalidFilterTags",
        ),
    ];
    for (name, spec, _) in &policy_cases {
        create(&policies, policy(name, label, spec.clone())).await?;
    }
    let storage = tempfile::tempdir()?;
    let controller = Controller::start(&client, label, storage.path())?;

    let stalled_with = |reason: &'static str| {
        move |conditions: &[Condition]| {
            condition(conditions, "Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == reason)
                && condition(conditions, "Ready")
                    .is_some_and(|c| c.status == "False" && c.reason == reason)
        }
    };
    for (name, _, reason) in repository_cases {
        let check = stalled_with(reason);
        wait_for(&repositories, name, reason, |r| {
            check(&r.status.clone().unwrap_or_default().reconcile.conditions)
        })
        .await?;
    }
    for (name, _, reason) in policy_cases {
        let check = stalled_with(reason);
        wait_for(&policies, name, reason, |p| {
            check(&p.status.clone().unwrap_or_default().reconcile.conditions)
        })
        .await?;
    }
    let unreachable = wait_for(&repositories, "unreachable", "RegistryUnreachable", |r| {
        let conditions = r.status.clone().unwrap_or_default().reconcile.conditions;
        condition(&conditions, "Ready")
            .is_some_and(|c| c.status == "False" && c.reason == "RegistryUnreachable")
    })
    .await?;
    let conditions = unreachable.status.unwrap_or_default().reconcile.conditions;
    assert!(
        condition(&conditions, "Stalled").is_none_or(|c| c.status != "True"),
        "{conditions:?}"
    );

    // No retry storm: within a few seconds the stalled objects are not reconciled again, and the
    // unreachable one is retried with growing delays (1 s, 2 s, 4 s...), a handful of times.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for reason in [
        "InvalidImage",
        "InvalidExclusionList",
        "ProviderNotSupported",
        "InvalidSemverRange",
        "InvalidFilterTags",
    ] {
        let failures = controller.metric(
            "sluice_reconcile_errors_total",
            &[&format!("reason=\"{reason}\"")],
        );
        assert_eq!(failures, 1.0, "{reason} was retried");
    }
    let retries = controller.metric(
        "sluice_reconcile_errors_total",
        &["reason=\"RegistryUnreachable\""],
    );
    assert!(
        (1.0..=5.0).contains(&retries),
        "{retries} retries of an unreachable registry"
    );
    controller.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_controller_does_not_rescan_fresh_repositories() -> anyhow::Result<()> {
    let (label, namespace) = ("restart", "reflector-restart");
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds_and_namespace(&client, namespace).await?;
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    push(&registry.address, "demo/app", &["1.0.0", "1.1.0"], None)?;
    let front = PaginatingRegistry::start(
        &registry.address,
        Paging {
            page_cap: 1000,
            link: true,
            throttle_first: false,
        },
    )
    .await?;
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    let image = format!("{}/demo/app", front.address);
    for name in ["first", "second"] {
        let spec = json!({"image": image, "interval": "1h", "insecure": true, "exclusionList": [format!("^{name}$")]});
        create(&repositories, repository(name, label, spec)).await?;
    }
    let storage = tempfile::tempdir()?;
    let controller = Controller::start(&client, label, storage.path())?;
    let scanned = |r: &ImageRepository| {
        r.status
            .as_ref()
            .and_then(|status| status.last_scan_result.as_ref())
            .is_some_and(|scan| scan.tag_count == 2)
    };
    let first = wait_for(&repositories, "first", "scanned", scanned).await?;
    wait_for(&repositories, "second", "scanned", scanned).await?;
    let requests = front.tag_list_requests();
    assert_eq!(requests, 2, "one scan per ImageRepository, on one image");
    controller.stop().await?;

    let restarted = Controller::start(&client, label, storage.path())?;
    let success = ["kind=\"ImageRepository\"", "result=\"success\""];
    wait_until(
        "both repositories reconciled after the restart",
        TIMEOUT,
        || async {
            Ok(restarted.metric("sluice_reconcile_duration_seconds_count", &success) >= 2.0)
        },
    )
    .await?;
    assert_eq!(front.tag_list_requests(), requests, "the restart rescanned");
    let again = repositories.get("first").await?;
    let scan_time = |r: &ImageRepository| {
        r.status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .and_then(|s| s.scan_time.clone())
    };
    assert_eq!(scan_time(&again), scan_time(&first));
    restarted.stop().await
}

/// A `kubernetes.io/dockerconfigjson` Secret for `registry` with `password`.
fn docker_config_secret(name: &str, registry: &str, password: &str) -> anyhow::Result<Secret> {
    let config = json!({"auths": {registry: {"username": USER, "password": password}}});
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config.to_string()},
    }))?)
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_credentials_secret_rescans_at_once() -> anyhow::Result<()> {
    let (label, namespace) = ("rotate", "reflector-rotate");
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds_and_namespace(&client, namespace).await?;
    let registry = Registry::start(RegistryAuth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    })?;
    push(
        &registry.address,
        "private/app",
        &["1.0.0"],
        Some(&format!("{USER}:{PASSWORD}")),
    )?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let stale = docker_config_secret("creds", &registry.address, "expired")?;
    secrets.create(&PostParams::default(), &stale).await?;
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    let image = format!("{}/private/app", registry.address);
    let spec =
        json!({"image": image, "interval": "1h", "insecure": true, "secretRef": {"name": "creds"}});
    create(&repositories, repository("app", label, spec)).await?;
    let storage = tempfile::tempdir()?;
    let controller = Controller::start(&client, label, storage.path())?;
    let failures = || {
        controller.metric(
            "sluice_reconcile_errors_total",
            &["reason=\"AuthenticationFailed\""],
        )
    };
    // Four failures in, the next retry is 8 s (± 10%) away.
    wait_until("four failed scans", TIMEOUT, || async {
        Ok(failures() >= 4.0)
    })
    .await?;
    let before = failures();

    let rotated = docker_config_secret("creds", &registry.address, PASSWORD)?;
    secrets
        .replace("creds", &PostParams::default(), &rotated)
        .await?;
    let ready = wait_until(
        "Ready within 3 s of the rotation",
        Duration::from_secs(3),
        || async {
            let status = repositories.get("app").await.map_err(api_error)?.status;
            let conditions = status.unwrap_or_default().reconcile.conditions;
            Ok(condition(&conditions, "Ready").is_some_and(|c| c.status == "True"))
        },
    );
    ready.await?;
    assert_eq!(
        failures(),
        before,
        "the scan came from the Secret watch, not a retry"
    );
    let scanned = repositories.get("app").await?.status.unwrap_or_default();
    assert_eq!(scanned.last_scan_result.map(|scan| scan.tag_count), Some(1));
    controller.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tag_store_drops_the_entries_of_deleted_repositories() -> anyhow::Result<()> {
    let (label, namespace) = ("collect", "reflector-collect");
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_crds_and_namespace(&client, namespace).await?;
    let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
    for name in ["kept", "deleted"] {
        let spec = json!({"image": format!("r.example/{name}"), "interval": "1h", "suspend": true});
        create(&repositories, repository(name, label, spec)).await?;
    }
    let folder = tempfile::tempdir()?;
    let store = TagStore::open(folder.path())?;
    let scan = StoredScan {
        image: "r.example/app".into(),
        exclusion_list: vec![],
        scanned_at_ms: minute_ago_ms()?,
        revision: "r".into(),
        tags: vec!["1.0.0".into()],
    };
    for name in ["kept", "deleted", "gone-before-start", "unlabelled"] {
        store.put(&object_key(namespace, name), &scan).await?;
    }
    // Another shard's object: not listed under this selector, so its entry is not ours to keep.
    let spec = json!({"image": "r.example/other", "interval": "1h", "suspend": true});
    create(&repositories, repository("unlabelled", "other-shard", spec)).await?;

    let selector = Some(format!("{TEST_LABEL}={label}"));
    let hooks = Arc::default();
    let collection = tokio::spawn(store_gc::run(
        client.clone(),
        selector,
        store.clone(),
        hooks,
    ));
    let stored = |name: &'static str| {
        let store = store.clone();
        async move { store.get(&object_key(namespace, name)).await }
    };
    wait_until("the start-up listing collected", TIMEOUT, || async {
        Ok(stored("gone-before-start")
            .await
            .map_err(store_error)?
            .is_none()
            && stored("unlabelled").await.map_err(store_error)?.is_none())
    })
    .await?;
    assert!(
        stored("deleted").await?.is_some(),
        "its object still exists"
    );

    repositories.delete("deleted", &Default::default()).await?;
    wait_until("the deleted object's entry removed", TIMEOUT, || async {
        Ok(stored("deleted").await.map_err(store_error)?.is_none())
    })
    .await?;
    assert_eq!(stored("kept").await?, Some(scan));
    collection.abort();
    Ok(())
}

/// Milliseconds since the Unix epoch, a minute ago.
fn minute_ago_ms() -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(i64::try_from(now.as_millis())? - 60_000)
}

fn store_error(error: sluice_image_reflector::store::Error) -> HarnessError {
    HarnessError::Start {
        what: "tag store".into(),
        why: error.to_string(),
    }
}
