//! The real local servers the demo runs, each started by the test harness `sluice-tests` (the
//! one place that knows how to build and start them): the control plane with kwok nodes, the
//! OCI registry, an exporter of the sample app's request success rate and the Prometheus that
//! scrapes it, and Gitea. They stop when [`Servers`] drops, and die with the supervisor.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};
use sluice_servers::LocalCluster;
use sluice_servers::canary_support::Exporter;
use sluice_servers::gitea::Gitea;
use sluice_servers::prometheus::Prometheus;
use sluice_servers::registry::{Registry, RegistryAuth};

use super::progress::Progress;

/// The image repository of the sample app in the demo's registry.
pub const IMAGE: &str = "podinfo";

/// The running servers; fields drop in order, so the control plane stops last.
pub struct Servers {
    /// Gitea.
    pub gitea: Gitea,
    /// Prometheus.
    pub prometheus: Prometheus,
    /// The exporter Prometheus scrapes.
    pub exporter: Exporter,
    /// The anonymous OCI registry.
    pub registry: Registry,
    /// The control plane.
    pub cluster: LocalCluster,
}

impl Servers {
    /// Starts every server, one progress step each.
    ///
    /// Errors: a server is missing (the message says how to install it) or does not start.
    pub async fn start(progress: &Progress) -> anyhow::Result<Servers> {
        let cluster = progress
            .step("starting the control plane (etcd, kube-apiserver, controller-manager, scheduler, 3 kwok nodes)", async {
                let cluster = LocalCluster::start().await?;
                let server = cluster.server().to_owned();
                Ok((cluster, format!("API server at {server}")))
            })
            .await?;
        let registry = progress
            .step("starting the OCI registry", async {
                let registry = Registry::start(RegistryAuth::Anonymous)?;
                let address = registry.address.clone();
                Ok((registry, format!("registry at {address}")))
            })
            .await?;
        let (exporter, prometheus) = progress
            .step("starting Prometheus and the exporter it scrapes", async {
                let exporter = Exporter::start().await?;
                let prometheus = Prometheus::start(std::slice::from_ref(&exporter.address))?;
                let url = prometheus.url.clone();
                Ok(((exporter, prometheus), format!("Prometheus at {url}")))
            })
            .await?;
        let gitea = progress
            .step("starting Gitea", async {
                let gitea = Gitea::start()?;
                let url = gitea.url.clone();
                Ok((gitea, format!("Gitea at {url}")))
            })
            .await?;
        Ok(Servers {
            cluster,
            registry,
            exporter,
            prometheus,
            gitea,
        })
    }

    /// `registry/podinfo`, the image name the tenant's overlays and ImageRepository use.
    pub fn image_name(&self) -> String {
        format!("{}/{IMAGE}", self.registry.address)
    }

    /// Pushes a small image tagged `tag` (one layer, built in `work`) to [`Servers::image_name`]
    /// with skopeo, as a CI pipeline would push a release.
    ///
    /// Errors: the layout cannot be written, or skopeo is missing or failed.
    pub fn push_image(&self, work: &Path, tag: &str) -> anyhow::Result<()> {
        let layout = work.join(format!("podinfo-{tag}"));
        let created = jiff::Timestamp::now().to_string();
        sluice_servers::oci_layout::add_image(&layout, tag, &created)?;
        let skopeo = sluice_servers::binaries::system_program("skopeo", "skopeo")?;
        let source = format!("oci:{}:{tag}", layout.display());
        let target = format!("docker://{}:{tag}", self.image_name());
        let output = Command::new(skopeo)
            .args(["copy", "--dest-tls-verify=false", &source, &target])
            .output()
            .context("running skopeo")?;
        ensure!(
            output.status.success(),
            "skopeo copy {target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
}
