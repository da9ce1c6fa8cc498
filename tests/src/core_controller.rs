//! Support for the core suites: Sluice's core controller (GitRepository + Kustomization) run in
//! the test process on 127.0.0.1, sharded to one test's objects by a label, and a Git working
//! copy that commits and pushes to a bare repository of [`GitServers`](crate::git_server).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use sluice_gitops::controller::Layer;
use sluice_gitops::controller_flags::CoreFlags;
use sluice_runtime::options::LogFormat;
use sluice_runtime::{Runtime, RuntimeOptions};

use crate::binaries::system_program;
use crate::cluster::service_account_token;
use crate::ports::free_port;
use crate::{HarnessError, LocalCluster, wait_until};

/// The label that shards the controller of one test to that test's objects.
pub const TEST_LABEL: &str = "test.sluice.dev/case";

/// A running core controller; stopped when dropped.
pub struct CoreController {
    /// The controller's runtime.
    pub runtime: Runtime,
    /// `host:port` of its HTTP server: `/metrics`, artifacts and `POST /events`.
    pub address: String,
    runtime_namespace: String,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _storage: tempfile::TempDir,
}

impl CoreController {
    /// Starts the core controller against `cluster` for objects labelled [`TEST_LABEL`]`=case`,
    /// with the lockdown flags given and `default` as its runtime namespace.
    ///
    /// Errors: no free port, the kubeconfig cannot be read.
    pub async fn start(
        cluster: &LocalCluster,
        case: &str,
        default_service_account: Option<&str>,
        no_cross_namespace_refs: bool,
    ) -> Result<CoreController, HarnessError> {
        Self::start_in(
            cluster,
            case,
            "default",
            default_service_account,
            no_cross_namespace_refs,
        )
        .await
    }

    /// [`CoreController::start`] with `runtime_namespace` as the runtime namespace
    /// (`--leader-election-namespace`): the namespace whose ServiceAccounts may fetch its
    /// artifacts and post to its `/events`, both served on [`CoreController::address`].
    ///
    /// Errors: no free port, the kubeconfig cannot be read.
    pub async fn start_in(
        cluster: &LocalCluster,
        case: &str,
        runtime_namespace: &str,
        default_service_account: Option<&str>,
        no_cross_namespace_refs: bool,
    ) -> Result<CoreController, HarnessError> {
        let lockdown = (default_service_account, no_cross_namespace_refs);
        Self::start_layered(cluster, case, runtime_namespace, lockdown, None).await
    }

    /// [`CoreController::start_in`] with `layer` run beside the GitOps controllers, as
    /// `sluice controller core` runs the Pipeline controller (`sluice_promotion::controller::
    /// layer()`); `lockdown` is `--default-service-account` and `--no-cross-namespace-refs`.
    ///
    /// Errors: no free port, the kubeconfig cannot be read.
    pub async fn start_layered(
        cluster: &LocalCluster,
        case: &str,
        runtime_namespace: &str,
        (default_service_account, no_cross_namespace_refs): (Option<&str>, bool),
        layer: Option<Layer>,
    ) -> Result<CoreController, HarnessError> {
        let port = free_port()?;
        let storage = tempfile::tempdir().map_err(|source| HarnessError::Io {
            what: "artifact storage".into(),
            source,
        })?;
        let options = RuntimeOptions {
            kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
            concurrent: 4,
            watch_label_selector: Some(format!("{TEST_LABEL}={case}")),
            leader_elect: false,
            leader_election_namespace: runtime_namespace.into(),
            leader_election_lease_seconds: 15,
            metrics_addr: format!("127.0.0.1:{port}")
                .parse()
                .map_err(|e| HarnessError::Start {
                    what: "metrics address".into(),
                    why: format!("{e}"),
                })?,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            no_cross_namespace_refs,
        };
        let address = format!("127.0.0.1:{port}");
        let flags = CoreFlags {
            storage_path: storage.path().to_path_buf(),
            storage_addr: None,
            storage_adv_addr: Some(address.clone()),
            default_service_account: default_service_account.map(str::to_string),
            // The suites' repositories are local folders (`GitServers::file_url`).
            allow_file_sources: true,
        };
        let runtime = Runtime::new("core", cluster.client().await?, options);
        let task = tokio::spawn(sluice_gitops::controller::run(
            runtime.clone(),
            flags,
            layer,
        ));
        Ok(CoreController {
            runtime,
            address,
            runtime_namespace: runtime_namespace.to_owned(),
            task,
            _storage: storage,
        })
    }

    /// A token the controller lets in on its artifacts and `POST /events`, as a Sluice
    /// controller presents: of the ServiceAccount `default` of its runtime namespace, valid for
    /// ten minutes.
    ///
    /// Errors: the ServiceAccount did not appear, or the TokenRequest was refused.
    pub async fn caller_token(&self, cluster: &LocalCluster) -> Result<String, HarnessError> {
        cluster
            .wait_for_service_account(&self.runtime_namespace, "default")
            .await?;
        service_account_token(
            &cluster.client().await?,
            &self.runtime_namespace,
            "default",
            600,
        )
        .await
    }

    /// Stops the controller and waits for it to end.
    ///
    /// Errors: the controller ended with an error.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.runtime.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task).await???;
        Ok(())
    }
}

/// The flags of a core controller run in this process against `cluster`, as the benchmarks
/// run it: its HTTP server and artifacts on `127.0.0.1:port`, artifacts stored under `storage`,
/// `file://` sources allowed (the local repositories of [`crate::git_server`]), no lockdown, no
/// label selector, `concurrent` workers, logs filtered at `log_level` (e.g. `warn`).
pub fn in_process_flags(
    cluster: &LocalCluster,
    port: u16,
    storage: &Path,
    concurrent: u16,
    log_level: &str,
) -> (RuntimeOptions, CoreFlags) {
    let options = RuntimeOptions {
        kubeconfig: Some(cluster.kubeconfig().to_path_buf()),
        concurrent,
        watch_label_selector: None,
        leader_elect: false,
        leader_election_namespace: "default".into(),
        leader_election_lease_seconds: 15,
        metrics_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        log_format: LogFormat::Text,
        log_level: log_level.into(),
        no_cross_namespace_refs: false,
    };
    let flags = CoreFlags {
        storage_path: storage.to_path_buf(),
        storage_addr: None,
        storage_adv_addr: Some(format!("127.0.0.1:{port}")),
        default_service_account: None,
        allow_file_sources: true,
    };
    (options, flags)
}

/// Installs the GitRepository and Kustomization CRDs (as `sluice crds` writes them) and waits
/// until they are served.
///
/// Errors: the API server refused them or they were not established within 60 s.
pub async fn install_core_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in sluice_gitops::api::crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("sluice-tests").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        wait_until(
            &format!("CRD {name} Established"),
            Duration::from_secs(60),
            || async {
                let crd = api.get(&name).await.map_err(|e| HarnessError::Start {
                    what: name.clone(),
                    why: e.to_string(),
                })?;
                let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
                Ok(conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True"))
            },
        )
        .await?;
    }
    Ok(())
}

/// Creates the namespace `name`.
///
/// Errors: the API server refused it.
pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    Ok(())
}

/// A working copy of a bare repository: write files, commit, push to `main`.
pub struct WorkingCopy {
    dir: tempfile::TempDir,
}

impl WorkingCopy {
    /// An empty working copy whose `origin` is the bare repository at `bare`.
    ///
    /// Errors: git is missing or failed.
    pub fn new(bare: &Path) -> Result<WorkingCopy, HarnessError> {
        let dir = tempfile::tempdir().map_err(|source| HarnessError::Io {
            what: "working copy".into(),
            source,
        })?;
        let copy = WorkingCopy { dir };
        copy.git(&["init", "-q", "-b", "main"])?;
        copy.git(&["remote", "add", "origin", &bare.display().to_string()])?;
        Ok(copy)
    }

    /// The working copy's folder, to write files [`WorkingCopy::commit`] then commits (e.g. a
    /// file too large to hold in memory).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `files` (`path`, `content`), deletes `removed`, commits everything and pushes to
    /// `main`; returns the new commit's hash.
    ///
    /// Errors: a file cannot be written, or git failed.
    pub fn commit(
        &self,
        files: &[(&str, &str)],
        removed: &[&str],
        message: &str,
    ) -> Result<String, HarnessError> {
        for (path, content) in files {
            let target: PathBuf = self.dir.path().join(path);
            let write = |what: &str, result: std::io::Result<()>| {
                result.map_err(|source| HarnessError::Io {
                    what: what.into(),
                    source,
                })
            };
            write(
                "creating a folder",
                std::fs::create_dir_all(target.parent().unwrap_or(self.dir.path())),
            )?;
            write("writing a file", std::fs::write(&target, content))?;
        }
        for path in removed {
            let _ = std::fs::remove_file(self.dir.path().join(path));
        }
        self.git(&["add", "-A"])?;
        self.git(&[
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@sluice.dev",
            "commit",
            "-q",
            "-m",
            message,
        ])?;
        self.git(&["push", "-q", "-f", "origin", "main"])?;
        self.git(&["rev-parse", "HEAD"])
    }

    fn git(&self, args: &[&str]) -> Result<String, HarnessError> {
        let output = Command::new(system_program("git", "git")?)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|source| HarnessError::Io {
                what: "running git".into(),
                source,
            })?;
        if !output.status.success() {
            return Err(HarnessError::Start {
                what: format!("git {args:?}"),
                why: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}
