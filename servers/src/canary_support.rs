//! Servers the canary suites control: a Prometheus exporter whose series values the test sets,
//! and a webhook receiver whose answer (200, 403, ...) per hook the test sets and whose calls it
//! counts; a second Prometheus that answers only Basic auth (its own `--web.config.file`); plus
//! the Gateway API HTTPRoute CRD in a reduced form (the real `spec` is kept as unknown fields, and
//! its lists are atomic for server-side apply, as in the real CRD).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;

use crate::HarnessError;
use crate::binaries::system_program;
use crate::ports::{free_port, http_get, wait_for};
use crate::process::{ManagedProcess, spawn};

/// Series (`name{labels}`) to their current value.
type Series = Arc<Mutex<BTreeMap<String, f64>>>;

/// An exporter serving `/metrics` on 127.0.0.1 with the values the test sets; stops on drop.
pub struct Exporter {
    /// `127.0.0.1:<port>`, the scrape target.
    pub address: String,
    series: Series,
    _server: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Starts the exporter with no series.
    ///
    /// Errors: no port could be bound.
    pub async fn start() -> Result<Self, HarnessError> {
        let series = Series::default();
        let app = Router::new()
            .route("/metrics", get(serve_metrics))
            .with_state(series.clone());
        let (address, server) = serve(app).await?;
        Ok(Self {
            address: address.to_string(),
            series,
            _server: server,
        })
    }

    /// Sets the series `name{labels}` (e.g. `errors{namespace="a"}`) to `value`.
    pub fn set(&self, series: &str, value: f64) {
        lock(&self.series).insert(series.to_owned(), value);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self._server.abort();
    }
}

async fn serve_metrics(State(series): State<Series>) -> String {
    lock(&series)
        .iter()
        .map(|(name, value)| format!("{name} {value}\n"))
        .collect()
}

/// The Debian Prometheus behind its own Basic auth (`basic_auth_users` in `--web.config.file`,
/// a bcrypt hash from `htpasswd`), scraping one target every second; stopped on drop.
pub struct GuardedPrometheus {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    _process: ManagedProcess,
    _dir: tempfile::TempDir,
}

impl GuardedPrometheus {
    /// Starts Prometheus scraping `target` (`host:port`), accepting only `username` and
    /// `password`, and waits until it listens (it answers 401 without credentials).
    ///
    /// Errors: `prometheus` or `htpasswd` is not installed, or it did not listen within 30 s.
    pub fn start(target: &str, username: &str, password: &str) -> Result<Self, HarnessError> {
        let io_error = |what: &str| {
            let what = what.to_owned();
            move |source| HarnessError::Io { what, source }
        };
        let dir = tempfile::tempdir().map_err(io_error("creating the Prometheus folder"))?;
        let htpasswd = std::process::Command::new(system_program("htpasswd", "apache2-utils")?)
            .args(["-nbB", username, password])
            .output()
            .map_err(io_error("running htpasswd"))?;
        let line = String::from_utf8_lossy(&htpasswd.stdout);
        let hash = line.trim().split_once(':').map_or("", |(_, hash)| hash);
        let files = [
            (
                "web.yml",
                format!("basic_auth_users:\n  {username}: '{hash}'\n"),
            ),
            (
                "prometheus.yml",
                format!(
                    "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [\"{target}\"]\n"
                ),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).map_err(io_error(name))?;
        }
        let port = free_port()?;
        let mut command = std::process::Command::new(system_program("prometheus", "prometheus")?);
        let path = |name: &str| dir.path().join(name).display().to_string();
        command.args([
            format!("--config.file={}", path("prometheus.yml")),
            format!("--web.config.file={}", path("web.yml")),
            format!("--storage.tsdb.path={}", path("data")),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]);
        let mut process = spawn("prometheus", command, &dir.path().join("prometheus.log"))?;
        let listening = || http_get(port, "/-/ready").is_some_and(|(status, _)| status == 401);
        wait_for(
            &mut process,
            "Prometheus 401 on /-/ready",
            Duration::from_secs(30),
            listening,
        )?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _dir: dir,
        })
    }
}

/// Answers and call counts per hook name.
#[derive(Default)]
struct Hooks {
    answers: BTreeMap<String, u16>,
    calls: BTreeMap<String, usize>,
    payloads: BTreeMap<String, serde_json::Value>,
}

/// A webhook receiver on 127.0.0.1: `POST /hooks/<name>` answers the status set for `<name>`
/// (200 by default); stops on drop.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    hooks: Arc<Mutex<Hooks>>,
    _server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts the receiver.
    ///
    /// Errors: no port could be bound.
    pub async fn start() -> Result<Self, HarnessError> {
        let hooks = Arc::new(Mutex::new(Hooks::default()));
        let app = Router::new()
            .route("/hooks/{name}", post(answer))
            .with_state(hooks.clone());
        let (address, server) = serve(app).await?;
        Ok(Self {
            url: format!("http://{address}"),
            hooks,
            _server: server,
        })
    }

    /// The URL of the hook `name`.
    pub fn hook_url(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.url)
    }

    /// Makes the hook `name` answer `status` from now on.
    pub fn answer(&self, name: &str, status: u16) {
        lock(&self.hooks).answers.insert(name.to_owned(), status);
    }

    /// How many times the hook `name` was called.
    pub fn calls(&self, name: &str) -> usize {
        lock(&self.hooks).calls.get(name).copied().unwrap_or(0)
    }

    /// The last JSON body the hook `name` received.
    pub fn last_payload(&self, name: &str) -> Option<serde_json::Value> {
        lock(&self.hooks).payloads.get(name).cloned()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self._server.abort();
    }
}

async fn answer(
    State(hooks): State<Arc<Mutex<Hooks>>>,
    Path(name): Path<String>,
    body: String,
) -> StatusCode {
    let mut hooks = lock(&hooks);
    *hooks.calls.entry(name.clone()).or_insert(0) += 1;
    if let Ok(payload) = serde_json::from_str(&body) {
        hooks.payloads.insert(name.clone(), payload);
    }
    let status = hooks.answers.get(&name).copied().unwrap_or(200);
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The `httproutes.gateway.networking.k8s.io` CRD, version `v1`, with `spec` and `status` kept
/// as unknown fields.
///
/// Errors: never in practice (the JSON is fixed); a serde error otherwise.
pub fn http_route_crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "httproutes.gateway.networking.k8s.io",
            "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/2466"}
        },
        "spec": {
            "group": "gateway.networking.k8s.io",
            "scope": "Namespaced",
            "names": {"plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute", "listKind": "HTTPRouteList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": open, "status": open}}},
                "subresources": {"status": {}}
            }]
        }
    }))
}

async fn serve(app: Router) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), HarnessError> {
    let io_error = |source| HarnessError::Io {
        what: "binding a test server".into(),
        source,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io_error)?;
    let address = listener.local_addr().map_err(io_error)?;
    let server = tokio::spawn(async move {
        let _stopped = axum::serve(listener, app).await;
    });
    Ok((address, server))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
