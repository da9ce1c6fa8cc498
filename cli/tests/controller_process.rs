//! The `sluice` binary against the real local control plane: `sluice controller core` serves
//! its probes and metrics and reconciles, and `sluice reconcile` asks it for a reconcile that it
//! then handles, as `flux reconcile` does.

use std::process::{Child, Command};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use serde_json::json;
use sluice_gitops::api::provider::Provider;
use sluice_servers::ports::{free_port, http_get};
use sluice_servers::{LocalCluster, wait_until};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Kills the controller when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_controller_serves_probes_and_handles_a_reconcile_request() -> anyhow::Result<()> {
    let cluster = LocalCluster::shared().await?;
    let client = cluster.client().await?;
    sluice_servers::crds::install_sluice_crds(&client).await?;
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": "cli-test"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let provider: Provider = serde_json::from_value(json!({
        "metadata": {"name": "webhook"},
        "spec": {"type": "generic", "address": "http://127.0.0.1:9/events"},
    }))?;
    Api::<Provider>::namespaced(client.clone(), "cli-test")
        .create(&PostParams::default(), &provider)
        .await?;

    let port = free_port()?;
    let storage = tempfile::tempdir()?;
    let kubeconfig = cluster.kubeconfig().display().to_string();
    let _controller = Running(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "controller",
                "core",
                "--kubeconfig",
                &kubeconfig,
                "--log-format",
                "json",
            ])
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .arg(format!("--storage-path={}", storage.path().display()))
            .spawn()?,
    );
    wait_until("/readyz", TIMEOUT, || async move {
        Ok(http_get(port, "/readyz").is_some_and(|(status, _)| status == 200))
    })
    .await?;
    assert_eq!(
        http_get(port, "/healthz").map(|(status, _)| status),
        Some(200)
    );

    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "reconcile",
            "provider",
            "webhook",
            "-n",
            "cli-test",
            "--wait",
            "30",
            "--kubeconfig",
            &kubeconfig,
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("reconciled"), "{stdout}");

    let handled = Api::<Provider>::namespaced(client, "cli-test")
        .get("webhook")
        .await?;
    let status = handled.status.unwrap_or_default();
    assert!(status.reconcile.last_handled_reconcile_at.is_some());
    let (_, metrics) = http_get(port, "/metrics").unwrap_or_default();
    assert!(
        metrics.contains(
            "sluice_reconcile_duration_seconds_count{kind=\"Provider\",result=\"success\"}"
        ),
        "{metrics}"
    );
    Ok(())
}
