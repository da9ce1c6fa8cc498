//! `local-cluster`: starts the real local control plane of the test suites, prints its
//! kubeconfig path, and keeps it running until Ctrl-C. For poking at the cluster by hand with
//! `kubectl --kubeconfig <path>`.

#[tokio::main]
async fn main() -> Result<(), sluice_servers::HarnessError> {
    let cluster = sluice_servers::LocalCluster::start().await?;
    println!("kubeconfig: {}", cluster.kubeconfig().display());
    println!("API server: {}", cluster.server());
    println!("logs: {}", cluster.dir().display());
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}
