//! Attacks on sources and Kustomizations: a tenant controls its GitRepository's URL and its
//! repository's content, and tries to read the controller's disk, exhaust its memory or its
//! threads, read Secret values through messages, or make objects escape pruning. The core
//! controller runs in this process with `deploy/`'s flags (no `--allow-file-sources`), its
//! sources served over smart HTTP with a bearer token (`GitServers::bearer_url`), as a tenant's
//! forge serves them.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::{Value, json};
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_gitops::controller_flags::CoreFlags;
use sluice_image_automation::api::ImageUpdateAutomation;
use sluice_image_automation::controller::AutomationFlags;
use sluice_runtime::conditions::{self, READY, STALLED};
use sluice_runtime::{REQUESTED_AT_ANNOTATION, Runtime, RuntimeOptions};
use sluice_tests::core_controller::{TEST_LABEL, WorkingCopy, create_namespace, install_core_crds};
use sluice_tests::git_server::GitServers;
use sluice_tests::ports::free_port;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(120);

/// The core controller as `deploy/` runs it (the flags of `deploy/base/controllers.yaml`, no
/// `--allow-file-sources`), sharded to one test's objects; stopped by [`Deployed::stop`].
struct Deployed {
    runtime: Runtime,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The core controller's `--storage-path`.
    storage: Option<tempfile::TempDir>,
}

/// `sluice controller core`'s flags.
#[derive(Parser)]
struct CoreCommand {
    #[command(flatten)]
    options: RuntimeOptions,
    #[command(flatten)]
    core: CoreFlags,
}

/// `sluice controller image-automation`'s flags.
#[derive(Parser)]
struct AutomationCommand {
    #[command(flatten)]
    options: RuntimeOptions,
    #[command(flatten)]
    automation: AutomationFlags,
}

impl Deployed {
    async fn start(cluster: &LocalCluster, case: &str) -> anyhow::Result<Deployed> {
        let storage = tempfile::tempdir()?;
        let address = format!("127.0.0.1:{}", free_port()?);
        let command = CoreCommand::try_parse_from([
            "core".to_owned(),
            format!("--kubeconfig={}", cluster.kubeconfig().display()),
            format!("--watch-label-selector={TEST_LABEL}={case}"),
            "--leader-election-namespace=default".to_owned(),
            format!("--metrics-addr={address}"),
            format!("--storage-path={}", storage.path().display()),
            format!("--storage-adv-addr={address}"),
        ])?;
        let runtime = Runtime::new("core", cluster.client().await?, command.options);
        let task = tokio::spawn(sluice_gitops::controller::run(
            runtime.clone(),
            command.core,
            None,
        ));
        Ok(Deployed {
            runtime,
            task,
            storage: Some(storage),
        })
    }

    /// The image-automation controller as `deploy/` runs it (no `--allow-file-sources`), sharded to
    /// one test's objects.
    async fn start_automation(cluster: &LocalCluster, case: &str) -> anyhow::Result<Deployed> {
        let metrics = format!("--metrics-addr=127.0.0.1:{}", free_port()?);
        let command = AutomationCommand::try_parse_from([
            "image-automation".to_owned(),
            format!("--kubeconfig={}", cluster.kubeconfig().display()),
            format!("--watch-label-selector={TEST_LABEL}={case}"),
            "--leader-election-namespace=default".to_owned(),
            metrics,
        ])?;
        let runtime = Runtime::new("image-automation", cluster.client().await?, command.options);
        let task = tokio::spawn(sluice_image_automation::controller::run(
            runtime.clone(),
            command.automation,
        ));
        Ok(Deployed {
            runtime,
            task,
            storage: None,
        })
    }

    /// Whether the controller stored any artifact for `namespace`.
    fn stored_any(&self, namespace: &str) -> bool {
        self.storage.as_ref().is_some_and(|storage| {
            storage
                .path()
                .join("gitrepository")
                .join(namespace)
                .exists()
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.runtime.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task).await???;
        Ok(())
    }
}

/// The shared control plane with the core CRDs, and a client of it.
async fn shared_cluster() -> anyhow::Result<(&'static LocalCluster, Client)> {
    sluice_runtime::logging::install_crypto_provider();
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    install_core_crds(&client).await?;
    Ok((cluster, client))
}

fn harness(what: &str) -> impl Fn(kube::Error) -> HarnessError + '_ {
    move |error| HarnessError::Start {
        what: what.into(),
        why: error.to_string(),
    }
}

fn config_map(name: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{data}\"\n"
    )
}

/// A repository `name` on `servers` with `files` committed to `main`; returns the working copy.
fn repository(
    servers: &GitServers,
    name: &str,
    files: &[(&str, &str)],
) -> anyhow::Result<WorkingCopy> {
    let copy = WorkingCopy::new(&servers.create_repo(name)?)?;
    copy.commit(files, &[], "tenant manifests")?;
    Ok(copy)
}

/// The namespace `namespace` with the Secret `git` holding the servers' bearer token.
async fn tenant(client: &Client, namespace: &str, servers: &GitServers) -> anyhow::Result<()> {
    create_namespace(client, namespace).await?;
    secret(
        client,
        namespace,
        "git",
        json!({"bearerToken": servers.bearer_token()}),
    )
    .await
}

async fn secret(client: &Client, namespace: &str, name: &str, data: Value) -> anyhow::Result<()> {
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))?;
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

/// The GitRepository `name` of `url` in `namespace`, `extra` merged into its spec.
fn git_repository(namespace: &str, case: &str, name: &str, url: &str, extra: Value) -> Value {
    let mut spec = json!({"url": url, "interval": "1h", "ref": {"branch": "main"}});
    merge(&mut spec, extra);
    json!({
        "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace, "labels": {TEST_LABEL: case}},
        "spec": spec,
    })
}

async fn create<K>(client: &Client, namespace: &str, object: Value) -> Result<K, kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
    Api::<K>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await
}

/// The Kustomization `name` of the GitRepository `source` at `path`, `extra` merged into its
/// spec.
async fn kustomization(
    client: &Client,
    namespace: &str,
    case: &str,
    (name, source, path): (&str, &str, &str),
    extra: Value,
) -> anyhow::Result<()> {
    let mut spec = json!({"interval": "1h", "prune": true, "path": path, "timeout": "60s",
        "sourceRef": {"kind": "GitRepository", "name": source}});
    merge(&mut spec, extra);
    let object = json!({
        "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace, "labels": {TEST_LABEL: case}},
        "spec": spec,
    });
    create::<Kustomization>(client, namespace, object).await?;
    Ok(())
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}

fn source_conditions(repository: &GitRepository) -> Vec<Condition> {
    repository
        .status
        .clone()
        .map(|status| status.reconcile.conditions)
        .unwrap_or_default()
}

fn kustomization_conditions(kustomization: &Kustomization) -> Vec<Condition> {
    kustomization
        .status
        .clone()
        .map(|status| status.reconcile.conditions)
        .unwrap_or_default()
}

/// Waits until `name`'s Ready condition has `status` and `reason`; returns the object and the
/// condition.
async fn wait_ready<K>(
    api: &Api<K>,
    name: &str,
    (status, reason): (&str, &str),
    conditions_of: fn(&K) -> Vec<Condition>,
) -> anyhow::Result<(K, Condition)>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let what = format!("{name} Ready={status} ({reason})");
    let waited = wait_until(&what, TIMEOUT, || async {
        let object = api.get(name).await.map_err(harness("get"))?;
        Ok(conditions::find(&conditions_of(&object), READY)
            .is_some_and(|ready| ready.status == status && ready.reason == reason))
    })
    .await;
    let object = api.get(name).await?;
    let conditions = conditions_of(&object);
    waited.map_err(|error| anyhow::anyhow!("{error}; last: {conditions:?}"))?;
    let ready = conditions::find(&conditions, READY)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no Ready condition"))?;
    Ok((object, ready))
}

/// The peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/self/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("malformed {line}"))?
        .parse()?)
}

/// "Billion laughs": `levels` levels of ten aliases of the level below, under a ConfigMap's
/// `data` (the 407-byte file of the attack has eight).
fn alias_bomb(levels: usize) -> String {
    let mut text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n".to_owned();
    text.push_str("  l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for level in 1..=levels {
        let aliases = vec![format!("*l{}", level - 1); 10].join(",");
        text.push_str(&format!("  l{level}: &l{level} [{aliases}]\n"));
    }
    text
}

/// A GitRepository URL must be one Flux accepts: `git://` and scp-like addresses are refused at
/// admission, and a `file://` URL (admitted, for controllers run with `--allow-file-sources`)
/// is refused by the controller as deployed: `file:///etc` or another tenant's repository
/// folder on the controller's machine is never fetched nor stored, while the other tenant's
/// own source still is.
#[tokio::test]
async fn a_file_url_cannot_make_the_controller_read_its_own_disk() -> anyhow::Result<()> {
    let case = "src-file";
    let (attacker, victim) = ("src-file-attacker", "src-file-victim");
    let (cluster, client) = shared_cluster().await?;
    let servers = GitServers::start("git", "git")?;
    repository(
        &servers,
        "victim.git",
        &[("app/a.yaml", &config_map("a", "private"))],
    )?;
    tenant(&client, attacker, &servers).await?;
    tenant(&client, victim, &servers).await?;
    let controller = Deployed::start(cluster, case).await?;

    let victim_folder = format!("file://{}", servers.repos().join("victim.git").display());
    for (name, url) in [
        ("etc", "file:///etc".to_owned()),
        ("neighbour", victim_folder),
    ] {
        let object = git_repository(attacker, case, name, &url, json!({}));
        create::<GitRepository>(&client, attacker, object).await?;
    }
    for refused in ["git://127.0.0.1/victim.git", "git@127.0.0.1:victim.git"] {
        let object = git_repository(attacker, case, "scheme", refused, json!({}));
        let error = create::<GitRepository>(&client, attacker, object)
            .await
            .expect_err("refused at admission");
        assert!(
            error
                .to_string()
                .contains("url must be an http://, https:// or ssh:// URL"),
            "{refused}: {error}"
        );
    }
    let own = git_repository(
        victim,
        case,
        "fleet",
        &servers.bearer_url("victim.git"),
        json!({"secretRef": {"name": "git"}}),
    );
    create::<GitRepository>(&client, victim, own).await?;

    let attackers: Api<GitRepository> = Api::namespaced(client.clone(), attacker);
    for name in ["etc", "neighbour"] {
        let (refused, ready) =
            wait_ready(&attackers, name, ("False", "URLInvalid"), source_conditions).await?;
        assert!(
            ready.message.contains("--allow-file-sources"),
            "{}",
            ready.message
        );
        let stalled = conditions::find(&source_conditions(&refused), STALLED).cloned();
        assert_eq!(stalled.map(|c| c.status), Some("True".to_owned()));
        assert!(refused.status.and_then(|s| s.artifact).is_none());
    }
    let victims: Api<GitRepository> = Api::namespaced(client.clone(), victim);
    let (fetched, _) = wait_ready(
        &victims,
        "fleet",
        ("True", conditions::SUCCEEDED),
        source_conditions,
    )
    .await?;
    assert!(fetched.status.and_then(|s| s.artifact).is_some());
    assert!(
        !controller.stored_any(attacker),
        "an attacker artifact was stored"
    );
    assert!(controller.stored_any(victim));
    controller.stop().await
}

/// The ImageUpdateAutomation fetches and pushes its GitRepository's URL itself: one whose
/// GitRepository names `file:///etc` is refused by the image-automation controller as deployed
/// (`SourceManagerFailed`, naming `--allow-file-sources`), while one whose GitRepository is
/// served over HTTP runs.
#[tokio::test]
async fn an_image_automation_cannot_read_the_controllers_disk_through_a_file_url()
-> anyhow::Result<()> {
    let case = "src-iua-file";
    let (attacker, victim) = ("src-iua-attacker", "src-iua-victim");
    let (cluster, client) = shared_cluster().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    let servers = GitServers::start("git", "git")?;
    repository(
        &servers,
        "victim.git",
        &[("app/a.yaml", &config_map("a", "1"))],
    )?;
    tenant(&client, attacker, &servers).await?;
    tenant(&client, victim, &servers).await?;
    let controller = Deployed::start_automation(cluster, case).await?;
    let bearer = json!({"secretRef": {"name": "git"}});
    for (namespace, url, auth) in [
        (attacker, "file:///etc".to_owned(), json!({})),
        (victim, servers.bearer_url("victim.git"), bearer),
    ] {
        let source = git_repository(namespace, case, "fleet", &url, auth);
        create::<GitRepository>(&client, namespace, source).await?;
        let automation = json!({
            "apiVersion": "image.sluice.dev/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "app", "namespace": namespace, "labels": {TEST_LABEL: case}},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "interval": "1h",
                "git": {"commit": {"author": {"name": "Sluice", "email": "sluice@example.com"}}}},
        });
        create::<ImageUpdateAutomation>(&client, namespace, automation).await?;
    }
    let conditions_of = |automation: &ImageUpdateAutomation| {
        automation
            .status
            .clone()
            .map(|status| status.reconcile.conditions)
            .unwrap_or_default()
    };
    let attackers: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), attacker);
    let (refused, ready) = wait_ready(
        &attackers,
        "app",
        ("False", "SourceManagerFailed"),
        conditions_of,
    )
    .await?;
    assert!(
        ready.message.contains("--allow-file-sources"),
        "{}",
        ready.message
    );
    let observed = refused.status.and_then(|s| s.observed_source_revision);
    assert!(observed.is_none(), "{observed:?}");
    let victims: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), victim);
    wait_ready(
        &victims,
        "app",
        ("True", conditions::SUCCEEDED),
        conditions_of,
    )
    .await?;
    controller.stop().await
}

/// Files built past the kustomize engine's limits: a 407-byte "billion laughs" (eight levels of
/// ten aliases, which grew the controller past 13 GiB), 5,000 levels of nesting (which
/// overflowed its stack), and a 12 MiB manifest fail their own Kustomization quickly with
/// `BuildFailed` naming the file, while another tenant's Kustomization in the same controller
/// becomes Ready, and this process (the controller's) stays under 1 GiB.
#[tokio::test]
async fn a_bomb_a_deep_nest_or_a_huge_manifest_fails_only_its_own_kustomization()
-> anyhow::Result<()> {
    let case = "src-bomb";
    let (attacker, victim) = ("src-bomb-attacker", "src-bomb-victim");
    let (cluster, client) = shared_cluster().await?;
    let servers = GitServers::start("git", "git")?;
    let bomb = alias_bomb(8);
    assert!(bomb.len() < 600, "{} bytes", bomb.len());
    let deep = format!("{}x\n", "- ".repeat(5_000));
    let huge = "# padding\n".repeat(12 * 1024 * 1024 / 10);
    repository(
        &servers,
        "attacker.git",
        &[
            ("bomb/lol.yaml", &bomb),
            ("deep/nest.yaml", &deep),
            ("huge/big.yaml", &huge),
        ],
    )?;
    repository(
        &servers,
        "victim.git",
        &[("app/a.yaml", &config_map("a", "fine"))],
    )?;
    tenant(&client, attacker, &servers).await?;
    tenant(&client, victim, &servers).await?;
    let controller = Deployed::start(cluster, case).await?;
    let auth = json!({"secretRef": {"name": "git"}});
    let source = git_repository(
        attacker,
        case,
        "fleet",
        &servers.bearer_url("attacker.git"),
        auth.clone(),
    );
    create::<GitRepository>(&client, attacker, source).await?;
    let source = git_repository(
        victim,
        case,
        "fleet",
        &servers.bearer_url("victim.git"),
        auth,
    );
    create::<GitRepository>(&client, victim, source).await?;
    let started = Instant::now();
    for path in ["bomb", "deep", "huge"] {
        kustomization(&client, attacker, case, (path, "fleet", path), json!({})).await?;
    }
    kustomization(&client, victim, case, ("app", "fleet", "app"), json!({})).await?;

    let attackers: Api<Kustomization> = Api::namespaced(client.clone(), attacker);
    for (name, file, limit) in [
        ("bomb", "lol.yaml", "MAX_ALIAS_NODES"),
        ("deep", "nest.yaml", "MAX_DEPTH"),
        ("huge", "big.yaml", "MAX_FILE_BYTES"),
    ] {
        let (_, ready) = wait_ready(
            &attackers,
            name,
            ("False", "BuildFailed"),
            kustomization_conditions,
        )
        .await?;
        assert!(
            ready.message.contains(file) && ready.message.contains(limit),
            "{name}: {}",
            ready.message
        );
    }
    let refused_in = started.elapsed();
    let victims: Api<Kustomization> = Api::namespaced(client.clone(), victim);
    wait_ready(
        &victims,
        "app",
        ("True", conditions::SUCCEEDED),
        kustomization_conditions,
    )
    .await?;
    let applied = Api::<ConfigMap>::namespaced(client.clone(), victim);
    assert!(applied.get_opt("a").await?.is_some());
    assert!(refused_in < Duration::from_secs(60), "{refused_in:?}");
    let peak = peak_rss_kib()?;
    assert!(peak < 1024 * 1024, "peak RSS {peak} KiB");
    controller.stop().await
}

/// A repository past the source size limit (one 200 MiB file) is refused by the GitRepository
/// with `ArtifactTooLarge` before its files are read, and no artifact is stored; once the file
/// is gone, the repository is fetched again.
#[tokio::test]
async fn a_repository_past_the_size_limit_gets_no_artifact() -> anyhow::Result<()> {
    let case = "src-large";
    let namespace = "src-large-attacker";
    let (cluster, client) = shared_cluster().await?;
    let servers = GitServers::start("git", "git")?;
    let bare = servers.create_repo("large.git")?;
    let work = tempfile::tempdir()?;
    let git = |args: &[&str]| git_in(work.path(), args);
    git(&["init", "-q", "-b", "main"])?;
    std::fs::create_dir_all(work.path().join("app"))?;
    std::fs::create_dir_all(work.path().join("data"))?;
    std::fs::write(work.path().join("app/a.yaml"), config_map("a", "1"))?;
    std::fs::File::create(work.path().join("data/blob.yaml"))?.set_len(200 * 1024 * 1024)?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "a manifest and 200 MiB"])?;
    let bare = bare.display().to_string();
    git(&["push", "-q", &bare, "main"])?;
    tenant(&client, namespace, &servers).await?;
    let controller = Deployed::start(cluster, case).await?;
    let source = git_repository(
        namespace,
        case,
        "fleet",
        &servers.bearer_url("large.git"),
        json!({"secretRef": {"name": "git"}}),
    );
    create::<GitRepository>(&client, namespace, source).await?;
    let repositories: Api<GitRepository> = Api::namespaced(client.clone(), namespace);
    let (refused, ready) = wait_ready(
        &repositories,
        "fleet",
        ("False", "ArtifactTooLarge"),
        source_conditions,
    )
    .await?;
    assert!(
        ready.message.contains("data/blob.yaml"),
        "{}",
        ready.message
    );
    assert!(refused.status.and_then(|s| s.artifact).is_none());
    assert!(!controller.stored_any(namespace));

    git(&["rm", "-q", "data/blob.yaml"])?;
    git(&["commit", "-q", "-m", "the blob leaves"])?;
    git(&["push", "-q", &bare, "main"])?;
    let head = git(&["rev-parse", "HEAD"])?;
    request_reconcile(&repositories, "fleet").await?;
    let (fetched, _) = wait_ready(
        &repositories,
        "fleet",
        ("True", conditions::SUCCEEDED),
        source_conditions,
    )
    .await?;
    let revision = fetched.status.and_then(|s| s.artifact).map(|a| a.revision);
    assert_eq!(revision, Some(format!("main@sha1:{head}")));
    controller.stop().await
}

/// Runs `git` in `dir` as the test's author; returns its trimmed standard output.
fn git_in(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new("git")
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

async fn request_reconcile<K>(api: &Api<K>, name: &str) -> anyhow::Result<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let now = format!("{:?}", Instant::now());
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: now}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// A Secret value substituted by postBuild `substituteFrom` into a field the API server
/// refuses (a label value with spaces) is quoted back by the API server; the Kustomization's
/// Ready condition and its Events show `*****` instead, never the value. The same Secret
/// substituted into a valid field is applied.
#[tokio::test]
async fn a_refused_apply_never_shows_a_substituted_secret() -> anyhow::Result<()> {
    let case = "src-redact";
    let namespace = "src-redact-tenant";
    let value = "s3cr3t value of the tenant";
    let (cluster, client) = shared_cluster().await?;
    let servers = GitServers::start("git", "git")?;
    let labelled = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n  labels:\n    stolen: ${TOKEN}\n";
    let stored =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  token: ${TOKEN}\n";
    repository(
        &servers,
        "tenant.git",
        &[("leak/cm.yaml", labelled), ("valid/cm.yaml", stored)],
    )?;
    tenant(&client, namespace, &servers).await?;
    secret(&client, namespace, "vars", json!({"TOKEN": value})).await?;
    let controller = Deployed::start(cluster, case).await?;
    let source = git_repository(
        namespace,
        case,
        "fleet",
        &servers.bearer_url("tenant.git"),
        json!({"secretRef": {"name": "git"}}),
    );
    create::<GitRepository>(&client, namespace, source).await?;
    let substitute = json!({"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "vars"}]}});
    for path in ["leak", "valid"] {
        kustomization(
            &client,
            namespace,
            case,
            (path, "fleet", path),
            substitute.clone(),
        )
        .await?;
    }
    let api: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
    let (_, ready) = wait_ready(
        &api,
        "leak",
        ("False", "ReconciliationFailed"),
        kustomization_conditions,
    )
    .await?;
    assert!(!ready.message.contains("s3cr3t"), "{}", ready.message);
    assert!(
        ready.message.contains("*****") && ready.message.contains("ConfigMap"),
        "{}",
        ready.message
    );
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let about_leak = ListParams::default().fields("involvedObject.name=leak");
    wait_until("an Event about leak", TIMEOUT, || async {
        let listed = events.list(&about_leak).await.map_err(harness("events"))?;
        Ok(listed.items.iter().any(|event| {
            event
                .message
                .as_deref()
                .is_some_and(|m| m.contains("*****"))
        }))
    })
    .await?;
    for event in events.list(&ListParams::default()).await?.items {
        let message = event.message.unwrap_or_default();
        assert!(!message.contains("s3cr3t"), "Event: {message}");
    }
    wait_ready(
        &api,
        "valid",
        ("True", conditions::SUCCEEDED),
        kustomization_conditions,
    )
    .await?;
    let kept = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get("kept")
        .await?;
    assert_eq!(
        kept.data
            .unwrap_or_default()
            .get("token")
            .map(String::as_str),
        Some(value)
    );
    controller.stop().await
}

/// A prune the tenant's RBAC refuses (its ServiceAccount may not delete ConfigMaps) fails the
/// reconcile with `PruneFailed` and keeps the object in the inventory; once the tenant may
/// delete, the next reconcile prunes it and the inventory lets it go.
#[tokio::test]
async fn a_failed_prune_keeps_the_object_in_the_inventory_until_it_is_pruned() -> anyhow::Result<()>
{
    let case = "src-prune";
    let namespace = "src-prune-tenant";
    let (cluster, client) = shared_cluster().await?;
    let servers = GitServers::start("git", "git")?;
    let copy = repository(
        &servers,
        "tenant.git",
        &[
            ("app/a.yaml", &config_map("a", "1")),
            ("app/b.yaml", &config_map("b", "1")),
        ],
    )?;
    tenant(&client, namespace, &servers).await?;
    let verbs = json!(["get", "list", "watch", "create", "update", "patch"]);
    reconciler_account(&client, namespace, verbs).await?;
    let controller = Deployed::start(cluster, case).await?;
    let source = git_repository(
        namespace,
        case,
        "fleet",
        &servers.bearer_url("tenant.git"),
        json!({"secretRef": {"name": "git"}}),
    );
    create::<GitRepository>(&client, namespace, source).await?;
    kustomization(
        &client,
        namespace,
        case,
        ("app", "fleet", "app"),
        json!({"serviceAccountName": "reconciler"}),
    )
    .await?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
    wait_ready(
        &api,
        "app",
        ("True", conditions::SUCCEEDED),
        kustomization_conditions,
    )
    .await?;

    copy.commit(&[], &["app/b.yaml"], "b leaves")?;
    let repositories: Api<GitRepository> = Api::namespaced(client.clone(), namespace);
    request_reconcile(&repositories, "fleet").await?;
    let (refused, ready) = wait_ready(
        &api,
        "app",
        ("False", "PruneFailed"),
        kustomization_conditions,
    )
    .await?;
    assert!(ready.message.contains("ConfigMap"), "{}", ready.message);
    let b_id = format!("{namespace}_b__ConfigMap");
    assert!(
        inventory(&refused).contains(&b_id),
        "{:?}",
        inventory(&refused)
    );
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    assert!(config_maps.get_opt("b").await?.is_some());

    let verbs = json!([
        "get", "list", "watch", "create", "update", "patch", "delete"
    ]);
    let rule = json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}]});
    Api::<Role>::namespaced(client.clone(), namespace)
        .patch("reconciler", &PatchParams::default(), &Patch::Merge(&rule))
        .await?;
    request_reconcile(&api, "app").await?;
    let (pruned, _) = wait_ready(
        &api,
        "app",
        ("True", conditions::SUCCEEDED),
        kustomization_conditions,
    )
    .await?;
    assert!(
        !inventory(&pruned).contains(&b_id),
        "{:?}",
        inventory(&pruned)
    );
    assert!(config_maps.get_opt("b").await?.is_none());
    assert!(config_maps.get_opt("a").await?.is_some());
    controller.stop().await
}

/// The ServiceAccount `reconciler` with a Role of `verbs` on ConfigMaps.
async fn reconciler_account(client: &Client, namespace: &str, verbs: Value) -> anyhow::Result<()> {
    let account = json!({"metadata": {"name": "reconciler"}});
    create::<ServiceAccount>(client, namespace, account).await?;
    let role = json!({"metadata": {"name": "reconciler"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}]});
    create::<Role>(client, namespace, role).await?;
    let binding = json!({"metadata": {"name": "reconciler"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reconciler"},
        "subjects": [{"kind": "ServiceAccount", "name": "reconciler", "namespace": namespace}]});
    create::<RoleBinding>(client, namespace, binding).await?;
    Ok(())
}

fn inventory(kustomization: &Kustomization) -> Vec<String> {
    kustomization
        .status
        .clone()
        .and_then(|status| status.inventory)
        .map(|inventory| {
            inventory
                .entries
                .into_iter()
                .map(|entry| entry.id)
                .collect()
        })
        .unwrap_or_default()
}

/// A Git server that accepts connections and never answers (a listener in this test) ties up
/// no reconcile beyond the GitRepository's `spec.timeout`: the fetch is stopped and reported
/// `GitOperationFailed` ("timed out after 3s"), and a GitRepository created after it is fetched
/// by the same controller.
#[tokio::test]
async fn a_git_server_that_never_answers_times_out_and_others_still_sync() -> anyhow::Result<()> {
    let case = "src-stall";
    let (attacker, victim) = ("src-stall-attacker", "src-stall-victim");
    let (cluster, client) = shared_cluster().await?;
    let servers = GitServers::start("git", "git")?;
    repository(
        &servers,
        "victim.git",
        &[("app/a.yaml", &config_map("a", "1"))],
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stalling = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    tenant(&client, attacker, &servers).await?;
    tenant(&client, victim, &servers).await?;
    let controller = Deployed::start(cluster, case).await?;

    let stalled_url = format!("http://127.0.0.1:{port}/fleet.git");
    let stalled = git_repository(
        attacker,
        case,
        "stalled",
        &stalled_url,
        json!({"timeout": "3s"}),
    );
    let started = Instant::now();
    create::<GitRepository>(&client, attacker, stalled).await?;
    let attackers: Api<GitRepository> = Api::namespaced(client.clone(), attacker);
    let (_, ready) = wait_ready(
        &attackers,
        "stalled",
        ("False", "GitOperationFailed"),
        source_conditions,
    )
    .await?;
    let given_up_in = started.elapsed();
    assert!(
        ready.message.contains("timed out after 3s"),
        "{}",
        ready.message
    );
    assert!(given_up_in < Duration::from_secs(30), "{given_up_in:?}");

    let own = git_repository(
        victim,
        case,
        "fleet",
        &servers.bearer_url("victim.git"),
        json!({"secretRef": {"name": "git"}}),
    );
    create::<GitRepository>(&client, victim, own).await?;
    let victims: Api<GitRepository> = Api::namespaced(client.clone(), victim);
    wait_ready(
        &victims,
        "fleet",
        ("True", conditions::SUCCEEDED),
        source_conditions,
    )
    .await?;
    stalling.abort();
    controller.stop().await
}
