//! Attacks on references across namespaces, with every controller under Flux's lockdown
//! (`--no-cross-namespace-refs`, as deploy/overlays/multi-tenant sets it on all four): a tenant
//! names another tenant's GitRepository, Kustomization, ImageRepository, MetricTemplate or
//! event source, and must get `Ready=False`/`Stalled=True` with reason `AccessDenied` and Flux's
//! message, while nothing of the other namespace is read (the controller's client records every
//! request it sends) or shown. Next to each attack, the same tenant's own references still work.
//!
//! Each test runs the controllers it attacks in this process, parsed from the flags deploy/
//! passes (`sluice controller NAME --no-cross-namespace-refs`), sharded to the test's objects by
//! [`TEST_LABEL`], in namespaces of its own.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use sluice_canary::api::{Canary, CanaryPhase, MetricTemplate};
use sluice_canary::settings::Settings;
use sluice_gitops::api::alert::Alert;
use sluice_gitops::api::provider::Provider;
use sluice_gitops::api::{GitRepository, Kustomization};
use sluice_image_automation::api::ImageUpdateAutomation;
use sluice_image_reflector::api::{ImagePolicy, ImageRepository};
use sluice_promotion::api::Pipeline;
use sluice_runtime::conditions::{READY, STALLED};
use sluice_runtime::{REQUESTED_AT_ANNOTATION, Runtime, RuntimeOptions};
use sluice_tests::canary_support::{WebhookReceiver, http_route_crd};
use sluice_tests::core_controller::{TEST_LABEL, WorkingCopy, create_namespace};
use sluice_tests::git_server::GitServers;
use sluice_tests::objects::create_from_json as create;
use sluice_tests::oci_layout;
use sluice_tests::ports::free_port;
use sluice_tests::registry::{Registry, RegistryAuth};
use sluice_tests::sshd::Sshd;
use sluice_tests::{HarnessError, LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(90);
/// The HTTP account of the harness' Git servers (tenants here fetch and push over SSH).
const GIT_USER: &str = "tenant";
/// Its password.
const GIT_PASSWORD: &str = "tenant-secret";
/// How long a test keeps watching for something that must not happen once the legitimate
/// counterpart has happened.
const GRACE: Duration = Duration::from_secs(3);
/// How long a canary test watches for an analysis that must not start (ticks are 1 s).
const ANALYSIS_WINDOW: Duration = Duration::from_secs(10);

// ---- Controllers in this process, with a client that records every request ----------------

/// Every request a controller's client sent, as `METHOD path`.
#[derive(Clone, Default)]
struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    fn sent(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The requests that named `namespace`: an object in it, or the Namespace itself.
    fn touching(&self, namespace: &str) -> Vec<String> {
        let inside = format!("/namespaces/{namespace}/");
        let itself = format!("/namespaces/{namespace}");
        self.sent()
            .into_iter()
            .filter(|request| {
                let path = request.split(' ').nth(1).unwrap_or_default();
                path.contains(&inside) || path.ends_with(&itself)
            })
            .collect()
    }

    /// The GETs of `path` (an object's path, e.g. `/api/v1/namespaces/a/secrets/b`).
    fn gets_of(&self, path: &str) -> Vec<String> {
        let wanted = format!("GET {path}");
        self.sent()
            .into_iter()
            .filter(|request| *request == wanted)
            .collect()
    }
}

impl<S> tower::Layer<S> for Requests {
    type Service = Recording<S>;
    fn layer(&self, inner: S) -> Recording<S> {
        Recording(inner, self.clone())
    }
}

#[derive(Clone)]
struct Recording<S>(S, Requests);

impl<S, B> tower::Service<http::Request<B>> for Recording<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let line = format!("{} {}", request.method(), request.uri().path());
        (self.1)
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
        self.0.call(request)
    }
}

/// `sluice controller NAME`'s command line: the shared runtime flags and the controller's own.
#[derive(Parser)]
struct Command<T: clap::Args> {
    #[command(flatten)]
    options: RuntimeOptions,
    #[command(flatten)]
    own: T,
}

/// The flags of a controller that has none of its own (the canary controller's settings come
/// from the environment).
#[derive(clap::Args)]
struct NoFlags {}

/// A controller run in this process for the objects labelled [`TEST_LABEL`]`=case`; stopped
/// when dropped.
struct Controller {
    runtime: Runtime,
    requests: Requests,
    _scratch: tempfile::TempDir,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.runtime.shutdown.cancel();
    }
}

impl Controller {
    /// Starts `name` with its process entry `run`, parsed from the command line deploy/ gives
    /// it (`--no-cross-namespace-refs` when `lockdown`, plus `own_args` of a scratch folder and
    /// the HTTP port), and with a client that records every request.
    async fn start<T, F, Fut>(
        cluster: &LocalCluster,
        (name, case, lockdown): (&str, &str, bool),
        own_args: impl FnOnce(&Path, u16) -> Vec<String>,
        run: F,
    ) -> anyhow::Result<Controller>
    where
        T: clap::Args + clap::FromArgMatches,
        F: FnOnce(Runtime, T) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let scratch = tempfile::tempdir()?;
        let port = free_port()?;
        let mut args = vec![
            "sluice".to_owned(),
            format!("--kubeconfig={}", cluster.kubeconfig().display()),
            format!("--watch-label-selector={TEST_LABEL}={case}"),
            format!("--metrics-addr=127.0.0.1:{port}"),
            "--leader-election-namespace=default".to_owned(),
        ];
        if lockdown {
            args.push("--no-cross-namespace-refs".to_owned());
        }
        args.extend(own_args(scratch.path(), port));
        let command = Command::<T>::try_parse_from(args)?;
        let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig())?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        let requests = Requests::default();
        let client = ClientBuilder::try_from(config)?
            .with_layer(&requests)
            .build();
        let runtime = Runtime::new(name, client, command.options);
        let running = run(runtime.clone(), command.own);
        let controller = name.to_owned();
        tokio::spawn(async move {
            if let Err(error) = running.await {
                tracing::error!(%controller, %error, "the controller ended");
            }
        });
        Ok(Controller {
            runtime,
            requests,
            _scratch: scratch,
        })
    }

    /// `sluice controller core` (GitRepository, Kustomization, Provider, Alert, Pipeline).
    async fn core(cluster: &LocalCluster, case: &str) -> anyhow::Result<Controller> {
        let own_args = |scratch: &Path, port| {
            vec![
                format!("--storage-path={}", scratch.display()),
                format!("--storage-adv-addr=127.0.0.1:{port}"),
            ]
        };
        Controller::start(
            cluster,
            ("core", case, true),
            own_args,
            sluice_promotion::controller::run,
        )
        .await
    }

    /// `sluice controller image-automation`.
    async fn image_automation(cluster: &LocalCluster, case: &str) -> anyhow::Result<Controller> {
        Controller::start(
            cluster,
            ("image-automation", case, true),
            |_, _| Vec::new(),
            sluice_image_automation::controller::run,
        )
        .await
    }

    /// `sluice controller image-reflector`, with or without the lockdown.
    async fn image_reflector(
        cluster: &LocalCluster,
        case: &str,
        lockdown: bool,
    ) -> anyhow::Result<Controller> {
        Controller::start(
            cluster,
            ("image-reflector", case, lockdown),
            |scratch, _| vec![format!("--storage-path={}", scratch.display())],
            sluice_image_reflector::controller::run,
        )
        .await
    }

    /// `sluice controller canary`, its analysis floor at 1 s (as the dev overlay sets it).
    async fn canary(cluster: &LocalCluster, case: &str) -> anyhow::Result<Controller> {
        let settings = Settings {
            min_interval: Duration::from_secs(1),
            ..Settings::default()
        };
        Controller::start(
            cluster,
            ("canary", case, true),
            |_, _| Vec::new(),
            |runtime, NoFlags {}| sluice_canary::controller::run(runtime, settings),
        )
        .await
    }
}

// ---- Fixtures and conditions ----------------------------------------------------------------

/// The shared cluster with Sluice's CRDs, a client, and the namespaces `names` created.
async fn cluster_with(names: &[&str]) -> anyhow::Result<(&'static LocalCluster, Client)> {
    sluice_runtime::logging::install_crypto_provider();
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_tests::crds::install_sluice_crds(&client).await?;
    for name in names {
        create_namespace(&client, name).await?;
    }
    Ok((cluster, client))
}

fn labelled(case: &str) -> Value {
    json!({TEST_LABEL: case})
}

fn api_error(error: kube::Error) -> HarnessError {
    HarnessError::Start {
        what: "API request".into(),
        why: error.to_string(),
    }
}

fn api<K>(client: &Client, namespace: &str) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(client.clone(), namespace)
}

/// The object `name` as JSON.
async fn object_of<K>(api: &Api<K>, name: &str) -> Result<Value, HarnessError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object = api.get(name).await.map_err(api_error)?;
    serde_json::to_value(object).map_err(|error| HarnessError::Start {
        what: name.into(),
        why: error.to_string(),
    })
}

/// The condition `type_` of an object's JSON.
fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == type_)
}

/// Waits until the object `name` holds `check`; returns it. On a timeout the error shows its
/// status.
async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let waited = wait_until(&format!("{name} {what}"), TIMEOUT, || async {
        Ok(check(&object_of(api, name).await?))
    })
    .await;
    let object = object_of(api, name).await?;
    match waited {
        Ok(()) => Ok(object),
        Err(error) => anyhow::bail!("{error}; its status: {}", object["status"]),
    }
}

/// Waits until `name` is refused for its reference to `denied` (`Kind/namespace/name`): `Ready`
/// False with reason `AccessDenied` and Flux's message, and `Stalled` True (not retried until its
/// spec changes); returns the object.
async fn wait_refused<K>(api: &Api<K>, name: &str, denied: &str) -> anyhow::Result<Value>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let message = format!("cannot access {denied}, cross-namespace references have been blocked");
    wait_for(api, name, &format!("refused: {message}"), |object| {
        let refused = condition(object, READY).is_some_and(|ready| {
            ready["status"] == "False"
                && ready["reason"] == "AccessDenied"
                && ready["message"] == message.as_str()
        });
        refused && condition(object, STALLED).is_some_and(|c| c["status"] == "True")
    })
    .await
}

/// Waits until `name` is `Ready=True`; returns the object.
async fn wait_ready<K>(api: &Api<K>, name: &str) -> anyhow::Result<Value>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for(api, name, "Ready", |object| {
        condition(object, READY).is_some_and(|ready| ready["status"] == "True")
    })
    .await
}

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  owner: tenant\n")
}

/// Git over SSH: the harness' `sshd` serving the bare repositories of its Git servers, so that a
/// tenant's GitRepository authenticates with the deploy key and host key in its Secret.
struct GitHost {
    servers: GitServers,
    sshd: Sshd,
}

impl GitHost {
    fn start() -> anyhow::Result<GitHost> {
        Ok(GitHost {
            servers: GitServers::start(GIT_USER, GIT_PASSWORD)?,
            sshd: Sshd::start()?,
        })
    }

    /// The bare repository `<name>.git`.
    fn bare(&self, name: &str) -> PathBuf {
        self.servers.repos().join(format!("{name}.git"))
    }

    /// Creates `<name>.git` with `files` in one commit on `main`; returns the working copy that
    /// pushes to it and the commit.
    fn repository(
        &self,
        name: &str,
        files: &[(&str, &str)],
    ) -> anyhow::Result<(WorkingCopy, String)> {
        let copy = WorkingCopy::new(&self.servers.create_repo(&format!("{name}.git"))?)?;
        let commit = copy.commit(files, &[], "seed")?;
        Ok((copy, commit))
    }

    /// `<name>.git` holding one ConfigMap `<name>-settings` under `apps/`.
    fn settings(&self, name: &str) -> anyhow::Result<WorkingCopy> {
        let settings = config_map(&format!("{name}-settings"));
        Ok(self
            .repository(name, &[("apps/settings.yaml", &settings)])?
            .0)
    }

    /// The GitRepository `podinfo` of `namespace` on `<repository>.git`, with the tenant's deploy
    /// key in its Secret `git-auth`; labelled for `case` when given (else no controller of the
    /// test reconciles it).
    async fn source(
        &self,
        client: &Client,
        namespace: &str,
        repository: &str,
        case: Option<&str>,
    ) -> anyhow::Result<()> {
        let identity = String::from_utf8(self.sshd.client_identity()?)?;
        create::<Secret>(
            client,
            namespace,
            json!({"metadata": {"name": "git-auth"},
                "stringData": {"identity": identity, "known_hosts": self.sshd.known_hosts()?}}),
        )
        .await?;
        create::<GitRepository>(
            client,
            namespace,
            json!({
                "apiVersion": "source.sluice.dev/v1", "kind": "GitRepository",
                "metadata": {"name": "podinfo", "labels": case.map_or(json!({}), labelled)},
                "spec": {"url": self.sshd.url(&self.bare(repository)), "interval": "1h",
                    "ref": {"branch": "main"}, "secretRef": {"name": "git-auth"}},
            }),
        )
        .await?;
        Ok(())
    }
}

// ---- ImageUpdateAutomation --------------------------------------------------------------------

/// A Deployment whose image carries the setter marker of the ImagePolicy `<namespace>:podinfo`.
fn marked_deployment(policy_namespace: &str) -> String {
    let marker = format!(r#"{{"$imagepolicy": "{policy_namespace}:podinfo"}}"#);
    [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: podinfo",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
        "        - name: podinfo",
        &format!("          image: ghcr.io/org/podinfo:1.0.0 # {marker}"),
        "",
    ]
    .join("\n")
}

/// The ImagePolicy `podinfo` of `namespace`, its `status.latestRef` at `tag`.
async fn image_policy(client: &Client, namespace: &str, tag: &str) -> anyhow::Result<()> {
    create::<ImagePolicy>(
        client,
        namespace,
        json!({
            "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy",
            "metadata": {"name": "podinfo"},
            "spec": {"imageRepositoryRef": {"name": "podinfo"},
                "policy": {"semver": {"range": ">=1.0.0"}}},
        }),
    )
    .await?;
    let status = json!({"status": {"latestRef": {"name": "ghcr.io/org/podinfo", "tag": tag}}});
    api::<ImagePolicy>(client, namespace)
        .patch_status("podinfo", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

fn automation(name: &str, case: &str, source: Value) -> Value {
    json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": name, "labels": labelled(case)},
        "spec": {"sourceRef": source, "interval": "2s", "git": {"commit": {
            "author": {"name": "Sluice", "email": "sluice@example.com"},
            "messageTemplate": "podinfo: {{ range .Changed.Changes }}{{ .NewValue }}{{ end }}"}}},
    })
}

#[tokio::test]
async fn an_image_update_automation_cannot_borrow_another_tenants_repository_and_credentials()
-> anyhow::Result<()> {
    let (victim, attacker) = ("lockdown-iua-victim", "lockdown-iua-attacker");
    let (cluster, client) = cluster_with(&[victim, attacker]).await?;
    let git = GitHost::start()?;
    let deployment = marked_deployment(victim);
    let (_, seeded) = git.repository("podinfo", &[("deploy/podinfo.yaml", &deployment)])?;
    let bare = git.bare("podinfo");

    // The victim: its repository behind credentials, its policy at 1.2.0, its automation.
    git.source(&client, victim, "podinfo", None).await?;
    image_policy(&client, victim, "1.2.0").await?;
    let own_source = json!({"kind": "GitRepository", "name": "podinfo"});
    create::<ImageUpdateAutomation>(&client, victim, automation("podinfo", victim, own_source))
        .await?;

    // The attacker names the victim's GitRepository (and so its credentials) from its own
    // namespace, with a policy of its own.
    image_policy(&client, attacker, "6.6.6").await?;
    let borrowed = json!({"kind": "GitRepository", "name": "podinfo", "namespace": victim});
    create::<ImageUpdateAutomation>(&client, attacker, automation("steal", attacker, borrowed))
        .await?;

    let attacking = Controller::image_automation(cluster, attacker).await?;
    let _serving = Controller::image_automation(cluster, victim).await?;

    let attacked = api::<ImageUpdateAutomation>(&client, attacker);
    let denied = format!("GitRepository/{victim}/podinfo");
    wait_refused(&attacked, "steal", &denied).await?;

    // The victim's own automation, under the same lockdown, still pushes.
    let own = api::<ImageUpdateAutomation>(&client, victim);
    let pushed = wait_for(&own, "podinfo", "pushed", |object| {
        object["status"]["lastPushCommit"].is_string()
    })
    .await?["status"]["lastPushCommit"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let in_bare = |args: &[&str]| -> anyhow::Result<String> {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(&bare)
            .args(args)
            .output()?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    assert_eq!(in_bare(&["rev-parse", "main"])?, pushed);
    let file = in_bare(&["show", "main:deploy/podinfo.yaml"])?;
    assert!(file.contains("ghcr.io/org/podinfo:1.2.0"), "{file}");
    assert!(!file.contains("6.6.6"), "{file}");
    assert_eq!(in_bare(&["rev-parse", "main~1"])?, seeded);

    // Nothing of the victim is shown in the attacker's status, nor was anything of the victim's
    // namespace read by the controller serving the attacker.
    tokio::time::sleep(GRACE).await;
    let status = object_of(&attacked, "steal").await?["status"].clone();
    for field in [
        "observedSourceRevision",
        "markers",
        "lastPushCommit",
        "lastPushTime",
    ] {
        assert!(status.get(field).is_none(), "{field} shown: {status}");
    }
    let shown = status.to_string();
    for secret in [
        seeded.as_str(),
        pushed.as_str(),
        "deploy/podinfo.yaml",
        "1.0.0",
    ] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert_eq!(attacking.requests.touching(victim), Vec::<String>::new());
    Ok(())
}

// ---- Kustomization ------------------------------------------------------------------------------

/// A Kustomization of `./apps` labelled for `case`, with the spec fields of `extra` added.
fn kustomization(name: &str, case: &str, extra: Value) -> Value {
    let mut object = json!({
        "apiVersion": "kustomize.sluice.dev/v1", "kind": "Kustomization",
        "metadata": {"name": name, "labels": labelled(case)},
        "spec": {"interval": "1h", "prune": true, "path": "./apps",
            "sourceRef": {"kind": "GitRepository", "name": "podinfo"}},
    });
    if let (Some(spec), Value::Object(extra)) = (object["spec"].as_object_mut(), extra) {
        spec.extend(extra);
    }
    object
}

/// The artifact revision of the GitRepository `podinfo` in `namespace`, once it is `revision`'s.
async fn wait_artifact(client: &Client, namespace: &str, commit: &str) -> anyhow::Result<()> {
    let sources = api::<GitRepository>(client, namespace);
    wait_for(&sources, "podinfo", &format!("at {commit}"), |source| {
        source["status"]["artifact"]["revision"]
            .as_str()
            .is_some_and(|revision| revision.ends_with(commit))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_kustomization_cannot_build_from_or_depend_on_another_tenants_objects()
-> anyhow::Result<()> {
    let (victim, attacker) = ("lockdown-ks-victim", "lockdown-ks-attacker");
    let case = "lockdown-ks";
    let (cluster, client) = cluster_with(&[victim, attacker]).await?;
    let git = GitHost::start()?;
    let settings = config_map("victim-settings");
    let (victims, first) = git.repository("victim", &[("apps/settings.yaml", &settings)])?;
    git.settings("attacker")?;
    git.source(&client, victim, "victim", Some(case)).await?;
    let base = kustomization("base", "not-reconciled-here", json!({}));
    create::<Kustomization>(&client, victim, base).await?;
    git.source(&client, attacker, "attacker", Some(case))
        .await?;
    create::<Kustomization>(&client, attacker, kustomization("own", case, json!({}))).await?;
    let borrowed =
        json!({"sourceRef": {"kind": "GitRepository", "name": "podinfo", "namespace": victim}});
    create::<Kustomization>(&client, attacker, kustomization("borrowed", case, borrowed)).await?;
    let depending = json!({"dependsOn": [{"name": "base", "namespace": victim}]});
    create::<Kustomization>(
        &client,
        attacker,
        kustomization("dependent", case, depending),
    )
    .await?;
    let core = Controller::core(cluster, case).await?;

    let attacked = api::<Kustomization>(&client, attacker);
    wait_ready(&api::<GitRepository>(&client, attacker), "podinfo").await?;
    let own = wait_ready(&attacked, "own").await?;
    assert!(own["status"]["lastAppliedRevision"].is_string(), "{own}");
    let configs = api::<ConfigMap>(&client, attacker);
    assert!(configs.get_opt("attacker-settings").await?.is_some());

    let refused = wait_refused(
        &attacked,
        "borrowed",
        &format!("GitRepository/{victim}/podinfo"),
    )
    .await?;
    wait_refused(
        &attacked,
        "dependent",
        &format!("Kustomization/{victim}/base"),
    )
    .await?;
    for field in ["lastAttemptedRevision", "lastAppliedRevision", "inventory"] {
        assert!(refused["status"].get(field).is_none(), "{field}: {refused}");
    }
    assert!(configs.get_opt("victim-settings").await?.is_none());
    let victim_source =
        format!("/apis/source.sluice.dev/v1/namespaces/{victim}/gitrepositories/podinfo");
    let victim_base =
        format!("/apis/kustomize.sluice.dev/v1/namespaces/{victim}/kustomizations/base");
    assert_eq!(core.requests.gets_of(&victim_source), Vec::<String>::new());
    assert_eq!(core.requests.gets_of(&victim_base), Vec::<String>::new());

    // The victim's source moves on: the refused Kustomization is not told its revisions
    // (the source watch asks Kustomizations built from a source to reconcile, with the revision
    // in the request annotation).
    wait_artifact(&client, victim, &first).await?;
    let sources = api::<GitRepository>(&client, victim);
    let second = victims.commit(&[("apps/more.yaml", &config_map("more"))], &[], "victim 2")?;
    let again = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: "again"}}});
    sources
        .patch("podinfo", &PatchParams::default(), &Patch::Merge(&again))
        .await?;
    wait_artifact(&client, victim, &second).await?;
    tokio::time::sleep(GRACE).await;
    let borrowed = object_of(&attacked, "borrowed").await?.to_string();
    for commit in [&first, &second] {
        assert!(
            !borrowed.contains(commit.as_str()),
            "{commit} shown: {borrowed}"
        );
    }
    Ok(())
}

// ---- Alert --------------------------------------------------------------------------------------

/// A generic Provider posting to `url` and an Alert on `sources`, both `name`, for `case`.
async fn alert(
    client: &Client,
    namespace: &str,
    case: &str,
    name: &str,
    url: &str,
    sources: Value,
) -> anyhow::Result<()> {
    create::<Provider>(
        client,
        namespace,
        json!({
            "metadata": {"name": name, "labels": labelled(case)},
            "spec": {"type": "generic", "address": url},
        }),
    )
    .await?;
    create::<Alert>(
        client,
        namespace,
        json!({
            "metadata": {"name": name, "labels": labelled(case)},
            "spec": {"providerRef": {"name": name}, "eventSources": sources},
        }),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_alert_cannot_receive_another_tenants_kustomization_events() -> anyhow::Result<()> {
    let (victim, attacker) = ("lockdown-alert-victim", "lockdown-alert-attacker");
    let case = "lockdown-alert";
    let (cluster, client) = cluster_with(&[victim, attacker]).await?;
    let hooks = WebhookReceiver::start().await?;
    let git = GitHost::start()?;
    git.settings("victim")?;
    git.source(&client, victim, "victim", Some(case)).await?;
    let every = json!([{"kind": "Kustomization", "name": "*"}]);
    alert(
        &client,
        victim,
        case,
        "own",
        &hooks.hook_url("victim"),
        every,
    )
    .await?;
    let spying = json!([{"kind": "Kustomization", "name": "apps", "namespace": victim}]);
    alert(
        &client,
        attacker,
        case,
        "spy",
        &hooks.hook_url("spy"),
        spying,
    )
    .await?;
    let _core = Controller::core(cluster, case).await?;

    wait_ready(&api::<Alert>(&client, victim), "own").await?;
    wait_refused(
        &api::<Alert>(&client, attacker),
        "spy",
        &format!("Kustomization/{victim}/apps"),
    )
    .await?;
    create::<Kustomization>(&client, victim, kustomization("apps", case, json!({}))).await?;
    wait_until("the victim's Alert got the apply", TIMEOUT, || async {
        let revision = hooks
            .last_payload("victim")
            .map(|event| event["metadata"]["revision"].clone());
        Ok(revision.is_some_and(|revision| revision.is_string()))
    })
    .await?;
    tokio::time::sleep(GRACE).await;
    assert_eq!(hooks.calls("spy"), 0, "{:?}", hooks.last_payload("spy"));
    Ok(())
}

// ---- Canary -------------------------------------------------------------------------------------

fn metric_template(address: &str, secret: Option<&str>) -> Value {
    let mut provider = json!({"type": "prometheus", "address": address});
    if let Some(secret) = secret {
        provider["secretRef"] = json!({"name": secret});
    }
    json!({
        "apiVersion": "canary.sluice.dev/v1", "kind": "MetricTemplate",
        "metadata": {"name": "error-rate"},
        "spec": {"provider": provider, "query": "max(errors{namespace=\"{{ namespace }}\"})"},
    })
}

fn canary(name: &str, case: &str, template: Value) -> Value {
    json!({
        "apiVersion": "canary.sluice.dev/v1", "kind": "Canary",
        "metadata": {"name": name, "labels": labelled(case)},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898, "gatewayRefs": [{"name": "gateway", "namespace": "ingress"}],
                "hosts": [format!("{name}.example.com")]},
            "analysis": {"interval": "1s", "threshold": 2, "maxWeight": 50, "stepWeight": 25,
                "metrics": [{"name": "error-rate", "templateRef": template,
                    "thresholdRange": {"max": 1}, "interval": "30s"}]},
        },
    })
}

fn deployment(name: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "podinfo:1"}]}}},
    })
}

#[tokio::test]
async fn a_canary_cannot_query_with_another_tenants_metric_template_and_secret()
-> anyhow::Result<()> {
    let (victim, attacker) = ("lockdown-canary-victim", "lockdown-canary-attacker");
    let case = "lockdown-canary";
    let (cluster, client) = cluster_with(&[victim, attacker]).await?;
    sluice_tests::crds::install(&client, &http_route_crd()?).await?;
    cluster
        .wait_for_service_account(attacker, "default")
        .await?;
    let prometheus = format!("http://127.0.0.1:{}", free_port()?);
    create::<Secret>(
        &client,
        victim,
        json!({"metadata": {"name": "prom-auth"},
        "stringData": {"token": "victim-token"}}),
    )
    .await?;
    create::<MetricTemplate>(
        &client,
        victim,
        metric_template(&prometheus, Some("prom-auth")),
    )
    .await?;
    create::<MetricTemplate>(&client, attacker, metric_template(&prometheus, None)).await?;
    for name in ["own", "borrowed"] {
        create::<Deployment>(&client, attacker, deployment(name)).await?;
    }
    create::<Canary>(
        &client,
        attacker,
        canary("own", case, json!({"name": "error-rate"})),
    )
    .await?;
    let borrowed = json!({"name": "error-rate", "namespace": victim});
    create::<Canary>(&client, attacker, canary("borrowed", case, borrowed)).await?;
    let controller = Controller::canary(cluster, case).await?;

    let canaries = api::<Canary>(&client, attacker);
    wait_for(&canaries, "own", "Initialized", |own| {
        own["status"]["phase"] == json!(CanaryPhase::Initialized)
    })
    .await?;
    let deployments = api::<Deployment>(&client, attacker);
    assert!(deployments.get_opt("own-primary").await?.is_some());
    wait_refused(
        &canaries,
        "borrowed",
        &format!("MetricTemplate/{victim}/error-rate"),
    )
    .await?;
    assert!(deployments.get_opt("borrowed-primary").await?.is_none());

    // A new revision of its target changes nothing: the refused Canary, stalled, waits for its
    // own spec to change, and never reaches a metric check (nor the template's Secret).
    let podinfo_2 = json!([{"name": "app", "image": "podinfo:2"}]);
    let revision = json!({"spec": {"template": {"spec": {"containers": podinfo_2}}}});
    deployments
        .patch(
            "borrowed",
            &PatchParams::default(),
            &Patch::Strategic(&revision),
        )
        .await?;
    tokio::time::sleep(ANALYSIS_WINDOW).await;
    let secret = format!("/api/v1/namespaces/{victim}/secrets/prom-auth");
    assert_eq!(controller.requests.gets_of(&secret), Vec::<String>::new());
    assert_eq!(controller.requests.touching(victim), Vec::<String>::new());
    let borrowed = object_of(&canaries, "borrowed").await?;
    assert!(borrowed["status"].get("phase").is_none(), "{borrowed}");
    Ok(())
}

// ---- ImagePolicy --------------------------------------------------------------------------------

/// Pushes `tags` of one image to `registry/repository` with skopeo.
fn push(registry: &str, repository: &str, tags: &[&str]) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let layout = work.path().join("layout");
    for (day, tag) in tags.iter().enumerate() {
        oci_layout::add_image(&layout, tag, &format!("2024-01-{:02}T00:00:00Z", day + 1))?;
    }
    for tag in tags {
        let output = std::process::Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{registry}/{repository}:{tag}"))
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn image_repository(image: &str, case: &str, access_from: Value) -> Value {
    json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImageRepository",
        "metadata": {"name": "podinfo", "labels": labelled(case)},
        "spec": {"image": image, "interval": "1m", "insecure": true, "accessFrom": access_from},
    })
}

fn policy_of(case: &str, repository: Value) -> Value {
    json!({
        "apiVersion": "image.sluice.dev/v1", "kind": "ImagePolicy",
        "metadata": {"name": "podinfo", "labels": labelled(case)},
        "spec": {"imageRepositoryRef": repository, "policy": {"semver": {"range": ">=1.0.0"}}},
    })
}

#[tokio::test]
async fn an_image_policy_cannot_use_another_tenants_image_repository_under_the_lockdown()
-> anyhow::Result<()> {
    let victim = "lockdown-img-victim";
    let (attacker, granted, stranger) = (
        "lockdown-img-attacker",
        "lockdown-img-granted",
        "lockdown-img-stranger",
    );
    let (cluster, client) = cluster_with(&[victim, attacker, granted, stranger]).await?;
    let access = json!({"metadata": {"labels": {"image-access": "granted"}}});
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for admitted in [attacker, granted] {
        namespaces
            .patch(admitted, &PatchParams::default(), &Patch::Merge(&access))
            .await?;
    }
    let registry = Registry::start(RegistryAuth::Anonymous)?;
    push(&registry.address, "lockdown/podinfo", &["1.0.0", "1.1.0"])?;
    let image = format!("{}/lockdown/podinfo", registry.address);
    let (open, locked) = ("lockdown-img-open", "lockdown-img-locked");
    let admit = json!({"namespaceSelectors": [{"matchLabels": {"image-access": "granted"}}]});
    create::<ImageRepository>(&client, victim, image_repository(&image, open, admit)).await?;
    let victims = json!({"name": "podinfo", "namespace": victim});
    for namespace in [granted, stranger] {
        create::<ImagePolicy>(&client, namespace, policy_of(open, victims.clone())).await?;
    }
    create::<ImageRepository>(
        &client,
        attacker,
        image_repository(&image, locked, Value::Null),
    )
    .await?;
    let mut own = policy_of(locked, json!({"name": "podinfo"}));
    own["metadata"]["name"] = json!("own");
    create::<ImagePolicy>(&client, attacker, own).await?;
    create::<ImagePolicy>(&client, attacker, policy_of(locked, victims)).await?;
    let _without_lockdown = Controller::image_reflector(cluster, open, false).await?;
    let with_lockdown = Controller::image_reflector(cluster, locked, true).await?;

    // Without the lockdown, the repository's accessFrom decides.
    let admitted = wait_ready(&api::<ImagePolicy>(&client, granted), "podinfo").await?;
    assert_eq!(
        admitted["status"]["latestRef"]["tag"], "1.1.0",
        "{admitted}"
    );
    let strangers = api::<ImagePolicy>(&client, stranger);
    wait_for(&strangers, "podinfo", "refused by accessFrom", |policy| {
        condition(policy, READY).is_some_and(|ready| {
            ready["reason"] == "AccessDenied"
                && ready["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("does not grant access"))
        })
    })
    .await?;

    // Under the lockdown, another namespace is refused even though accessFrom admits it, and
    // the tenant's own repository still works.
    let attacked = api::<ImagePolicy>(&client, attacker);
    let refused = wait_refused(
        &attacked,
        "podinfo",
        &format!("ImageRepository/{victim}/podinfo"),
    )
    .await?;
    assert!(refused["status"].get("latestRef").is_none(), "{refused}");
    let own = wait_ready(&attacked, "own").await?;
    assert_eq!(own["status"]["latestRef"]["tag"], "1.1.0", "{own}");
    assert_eq!(
        with_lockdown.requests.touching(victim),
        Vec::<String>::new()
    );
    Ok(())
}

// ---- Pipeline -----------------------------------------------------------------------------------

fn pipeline(name: &str, case: &str, source: Value, policy: &str) -> Value {
    json!({
        "apiVersion": "promotion.sluice.dev/v1", "kind": "Pipeline",
        "metadata": {"name": name, "labels": labelled(case)},
        "spec": {"sourceRef": source, "providerRef": {"name": "gitea"}, "interval": "5s",
            "stages": [{"name": "dev", "kustomizationRef": {"name": "dev"},
                "image": {"policy": policy}, "path": "./apps"}]},
    })
}

#[tokio::test]
async fn a_pipeline_cannot_promote_through_another_tenants_repository() -> anyhow::Result<()> {
    let (victim, attacker) = ("lockdown-pipe-victim", "lockdown-pipe-attacker");
    let case = "lockdown-pipe";
    let (cluster, client) = cluster_with(&[victim, attacker]).await?;
    let git = GitHost::start()?;
    git.settings("victim")?;
    git.settings("attacker")?;
    git.source(&client, victim, "victim", None).await?;
    git.source(&client, attacker, "attacker", Some(case))
        .await?;
    let own_source = json!({"kind": "GitRepository", "name": "podinfo"});
    let own_marker = format!("{attacker}:podinfo");
    let borrowed = json!({"kind": "GitRepository", "name": "podinfo", "namespace": victim});
    create::<Pipeline>(
        &client,
        attacker,
        pipeline("borrowed", case, borrowed, &own_marker),
    )
    .await?;
    let victim_marker = format!("{victim}:podinfo");
    let marker = pipeline("marker", case, own_source.clone(), &victim_marker);
    create::<Pipeline>(&client, attacker, marker).await?;
    create::<Pipeline>(
        &client,
        attacker,
        pipeline("own", case, own_source, &own_marker),
    )
    .await?;
    let core = Controller::core(cluster, case).await?;

    let pipelines = api::<Pipeline>(&client, attacker);
    wait_refused(
        &pipelines,
        "borrowed",
        &format!("GitRepository/{victim}/podinfo"),
    )
    .await?;
    wait_refused(
        &pipelines,
        "marker",
        &format!("ImagePolicy/{victim}/podinfo"),
    )
    .await?;
    // The tenant's own Pipeline reads its own source and goes on to its Provider (which this
    // test does not create): refused for that, never for its references.
    wait_for(&pipelines, "own", "past its source", |own| {
        condition(own, READY).is_some_and(|ready| ready["reason"] == "ProviderFailed")
    })
    .await?;
    assert_eq!(core.requests.touching(victim), Vec::<String>::new());
    Ok(())
}
