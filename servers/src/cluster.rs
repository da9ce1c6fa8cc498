//! A real local Kubernetes control plane: etcd, kube-apiserver (RBAC, service accounts, real
//! TLS), kube-controller-manager, kube-scheduler, and kwok simulating the nodes so that pods of
//! a Deployment are scheduled and become Ready without a kubelet. All on free 127.0.0.1 ports,
//! in a temporary folder, stopped (no process left behind) when the [`LocalCluster`] drops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::binaries::go_tool;
use crate::certs::{ClusterCerts, generate};
use crate::ports::{free_port, http_get, wait_for};
use crate::process::{ManagedProcess, log_tail, spawn};
use crate::{HarnessError, wait_until};

/// How many kwok nodes [`LocalCluster::start`] registers.
pub const NODES: usize = 3;

/// Settings of a [`LocalCluster`] that differ from the components' defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterOptions {
    /// kube-controller-manager's `--kube-api-qps` and `--kube-api-burst` (requests per second
    /// and burst of each of its controllers' clients); `None` keeps its defaults, 20 and 30,
    /// which cap how many Deployments per second its deployment controller can take in.
    pub controller_manager_qps: Option<(u32, u32)>,
}

/// A running local control plane. Dropping it stops every process and deletes its folder.
pub struct LocalCluster {
    processes: Vec<ManagedProcess>,
    kubeconfig: PathBuf,
    certs: ClusterCerts,
    server: String,
    dir: tempfile::TempDir,
}

impl LocalCluster {
    /// Builds the Go components when needed (`tests/go/build.sh`), starts them, waits until the
    /// API server is ready, registers [`NODES`] kwok nodes and waits until they are Ready.
    ///
    /// Errors: a component is missing and cannot be built, does not start, or is not ready in
    /// time; the message carries the tail of its log.
    pub async fn start() -> Result<LocalCluster, HarnessError> {
        Self::start_with(ClusterOptions::default()).await
    }

    /// [`LocalCluster::start`] with `options`.
    ///
    /// Errors: as [`LocalCluster::start`].
    pub async fn start_with(options: ClusterOptions) -> Result<LocalCluster, HarnessError> {
        // Its clients speak TLS; rustls needs the process' one crypto provider chosen first.
        sluice_runtime::logging::install_crypto_provider();
        let apiserver_bin = go_tool("kubernetes", "kube-apiserver")?;
        let dir = tempfile::Builder::new()
            .prefix("sluice-cluster-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                what: "creating the cluster folder".into(),
                source,
            })?;
        let certs = generate(dir.path())?;
        let mut cluster = LocalCluster {
            processes: Vec::new(),
            kubeconfig: dir.path().join("kubeconfig"),
            certs,
            server: String::new(),
            dir,
        };
        let etcd_url = cluster.start_etcd()?;
        cluster.start_apiserver(&apiserver_bin, &etcd_url).await?;
        cluster.start_controllers(&options)?;
        cluster.start_kwok()?;
        cluster.register_nodes().await?;
        Ok(cluster)
    }

    /// The kubeconfig of the `admin` user (group `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The folder holding the cluster's certificates, data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new client as `admin`. Make one per test: a client belongs to the tokio runtime it was
    /// made on.
    ///
    /// Errors: the kubeconfig cannot be read.
    pub async fn client(&self) -> Result<Client, HarnessError> {
        Client::try_from(self.config().await?).map_err(kube_error("building a client"))
    }

    /// A new client that impersonates the ServiceAccount `namespace/name` (with its groups),
    /// as Sluice's multi-tenancy lockdown does, so RBAC decides what it may do.
    ///
    /// Errors: the kubeconfig cannot be read.
    pub async fn client_as_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Client, HarnessError> {
        let mut config = self.config().await?;
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{name}"));
        config.auth_info.impersonate_groups = Some(vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".into(),
        ]);
        Client::try_from(config).map_err(kube_error("building an impersonating client"))
    }

    /// Waits until kube-controller-manager has created the ServiceAccount `namespace/name`
    /// (`default` exists in every namespace; pods cannot be created before it).
    ///
    /// Errors: it did not appear within 60 s.
    pub async fn wait_for_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(), HarnessError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client().await?, namespace);
        wait_until(
            &format!("ServiceAccount {namespace}/{name}"),
            Duration::from_secs(60),
            || async { Ok(api.get_opt(name).await.ok().flatten().is_some()) },
        )
        .await
    }

    async fn config(&self) -> Result<Config, HarnessError> {
        let kubeconfig =
            Kubeconfig::read_from(&self.kubeconfig).map_err(|error| HarnessError::Start {
                what: "kubeconfig".into(),
                why: error.to_string(),
            })?;
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|error| HarnessError::Start {
                what: "kubeconfig".into(),
                why: error.to_string(),
            })
    }

    fn spawn(&mut self, name: &str, command: Command) -> Result<(), HarnessError> {
        let log = self.dir.path().join(format!("{name}.log"));
        self.processes.push(spawn(name, command, &log)?);
        Ok(())
    }

    fn last_process(&mut self) -> &mut ManagedProcess {
        self.processes
            .last_mut()
            .expect("a process was just started")
    }

    fn start_etcd(&mut self) -> Result<String, HarnessError> {
        let etcd = go_tool("etcd", "etcd")?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut command = Command::new(etcd);
        command
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("etcd").display()
            ))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        self.spawn("etcd", command)?;
        wait_for(
            self.last_process(),
            "etcd health",
            Duration::from_secs(30),
            || {
                http_get(client_port, "/health")
                    .is_some_and(|(_, body)| body.contains("\"health\":\"true\""))
            },
        )?;
        Ok(client_url)
    }

    async fn start_apiserver(&mut self, binary: &Path, etcd_url: &str) -> Result<(), HarnessError> {
        let port = free_port()?;
        self.server = format!("https://127.0.0.1:{port}");
        write_kubeconfig(&self.kubeconfig, &self.server, &self.certs)?;
        let certs = &self.certs;
        let mut command = Command::new(binary);
        command
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg("--endpoint-reconciler-type=none")
            .arg(format!("--secure-port={port}"))
            .arg(format!(
                "--cert-dir={}",
                self.dir.path().join("apiserver").display()
            ))
            .arg(format!("--tls-cert-file={}", certs.serving_cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                certs.serving_key.display()
            ))
            .arg(format!("--client-ca-file={}", certs.ca_cert.display()))
            .arg(format!(
                "--service-account-key-file={}",
                certs.service_account_public_key.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                certs.service_account_key.display()
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--authorization-mode=RBAC")
            .arg("--allow-privileged=true")
            .arg("--profiling=false")
            .arg("--v=1");
        self.spawn("kube-apiserver", command)?;
        let client = self.client().await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let ready = client
                .request_text(readyz_request("/readyz"))
                .await
                .is_ok_and(|body| body.trim() == "ok");
            if ready {
                return Ok(());
            }
            self.last_process().check_running()?;
            if std::time::Instant::now() > deadline {
                let log = log_tail(self.last_process().log());
                return Err(HarnessError::Timeout {
                    what: format!("kube-apiserver /readyz; log tail:\n{log}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn start_controllers(&mut self, options: &ClusterOptions) -> Result<(), HarnessError> {
        let kubeconfig = format!("--kubeconfig={}", self.kubeconfig.display());
        let mut manager = Command::new(go_tool("kubernetes", "kube-controller-manager")?);
        manager
            .arg(&kubeconfig)
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", free_port()?))
            .arg(format!(
                "--service-account-private-key-file={}",
                self.certs.service_account_key.display()
            ))
            .arg(format!("--root-ca-file={}", self.certs.ca_cert.display()))
            .arg(format!(
                "--cluster-signing-cert-file={}",
                self.certs.ca_cert.display()
            ))
            .arg(format!(
                "--cluster-signing-key-file={}",
                self.certs.ca_key.display()
            ))
            .arg("--use-service-account-credentials=false")
            .arg("--controllers=*,-node-ipam-controller")
            .arg("--v=1");
        if let Some((qps, burst)) = options.controller_manager_qps {
            manager
                .arg(format!("--kube-api-qps={qps}"))
                .arg(format!("--kube-api-burst={burst}"));
        }
        self.spawn("kube-controller-manager", manager)?;
        let mut scheduler = Command::new(go_tool("kubernetes", "kube-scheduler")?);
        scheduler
            .arg(&kubeconfig)
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", free_port()?))
            .arg("--v=1");
        self.spawn("kube-scheduler", scheduler)
    }

    fn start_kwok(&mut self) -> Result<(), HarnessError> {
        let binary = go_tool("kwok", "kwok")?;
        let stages = binary.with_file_name("kwok-config.yaml");
        let mut kwok = Command::new(binary);
        kwok.arg(format!("--config={}", stages.display()))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg("--manage-all-nodes=false")
            .arg("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake")
            .arg("--manage-nodes-with-label-selector=")
            .arg("--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom")
            .arg("--disregard-status-with-label-selector=")
            .arg("--cidr=10.0.1.0/24")
            .arg("--node-ip=10.0.1.1")
            .arg(format!("--server-address=127.0.0.1:{}", free_port()?));
        self.spawn("kwok", kwok)
    }

    async fn register_nodes(&mut self) -> Result<(), HarnessError> {
        let nodes: Api<Node> = Api::all(self.client().await?);
        for index in 0..NODES {
            let node: Node = serde_json::from_value(kwok_node(&format!("kwok-node-{index}")))
                .map_err(|error| HarnessError::Start {
                    what: "kwok node".into(),
                    why: error.to_string(),
                })?;
            nodes
                .create(&PostParams::default(), &node)
                .await
                .map_err(kube_error("registering a kwok node"))?;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let list = nodes
                .list(&Default::default())
                .await
                .map_err(kube_error("listing nodes"))?;
            if list.items.iter().filter(|node| node_ready(node)).count() == NODES {
                return Ok(());
            }
            self.processes
                .iter_mut()
                .try_for_each(ManagedProcess::check_running)?;
            if tokio::time::Instant::now() > deadline {
                return Err(HarnessError::Timeout {
                    what: "kwok nodes Ready".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for LocalCluster {
    /// Stops the processes in reverse start order (kwok first, etcd last).
    fn drop(&mut self) {
        while let Some(process) = self.processes.pop() {
            drop(process);
        }
    }
}

/// A token of the ServiceAccount `namespace/name`, valid for `expiration_seconds` for the API
/// server's own audience, from the TokenRequest API (as a pod's projected token), asked for
/// with `client`.
///
/// Errors: the ServiceAccount does not exist, the API server refused, or answered no token.
pub async fn service_account_token(
    client: &Client,
    namespace: &str,
    name: &str,
    expiration_seconds: i64,
) -> Result<String, HarnessError> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(expiration_seconds),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let what = format!("a token of ServiceAccount {namespace}/{name}");
    let answer = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|error| HarnessError::Start {
            what: what.clone(),
            why: error.to_string(),
        })?;
    answer
        .status
        .and_then(|status| status.token)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| HarnessError::Start {
            what,
            why: "the TokenRequest answer has no token".into(),
        })
}

fn write_kubeconfig(path: &Path, server: &str, certs: &ClusterCerts) -> Result<(), HarnessError> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n    namespace: default\ncurrent-context: local\n",
        ca = certs.ca_cert.display(),
        cert = certs.admin_cert.display(),
        key = certs.admin_key.display(),
    );
    std::fs::write(path, text).map_err(|source| HarnessError::Io {
        what: "writing the kubeconfig".into(),
        source,
    })
}

fn kwok_node(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name, "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux",
                "kubeletVersion": "fake", "kubeProxyVersion": "fake",
            },
        },
    })
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

fn readyz_request(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(Vec::new())
        .expect("a GET request with a static path is valid")
}

fn kube_error(what: &'static str) -> impl Fn(kube::Error) -> HarnessError {
    move |error| HarnessError::Start {
        what: what.into(),
        why: error.to_string(),
    }
}

static SHARED: tokio::sync::OnceCell<LocalCluster> = tokio::sync::OnceCell::const_new();
static SHARED_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

impl LocalCluster {
    /// The one cluster shared by every test of this test binary, started on first use. Its
    /// processes die with the test process (see [`crate::process`]) and its folder is removed at
    /// exit. Tests sharing it keep to namespaces of their own.
    ///
    /// Errors: as [`LocalCluster::start`].
    #[allow(unsafe_code)]
    pub async fn shared() -> Result<&'static LocalCluster, HarnessError> {
        SHARED
            .get_or_try_init(|| async {
                let cluster = LocalCluster::start().await?;
                *SHARED_DIR
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(cluster.dir().to_owned());
                // SAFETY: registers a plain extern "C" function with no captured state.
                unsafe {
                    libc::atexit(remove_shared_dir);
                }
                Ok(cluster)
            })
            .await
    }
}

extern "C" fn remove_shared_dir() {
    if let Some(dir) = SHARED_DIR.lock().ok().and_then(|mut dir| dir.take()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
