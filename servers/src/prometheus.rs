//! The Debian Prometheus server on 127.0.0.1, scraping the targets a test names (for example a
//! small exporter the test controls) every second.

use std::process::Command;
use std::time::Duration;

use crate::HarnessError;
use crate::binaries::system_program;
use crate::ports::{free_port, http_get, wait_for};
use crate::process::{ManagedProcess, spawn};

/// A running Prometheus; stopped and its data deleted on drop.
pub struct Prometheus {
    /// `http://127.0.0.1:<port>`, the address a MetricTemplate's provider names.
    pub url: String,
    _process: ManagedProcess,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping each of `targets` (`host:port`) at 1 s and waits until it is
    /// ready.
    ///
    /// Errors: `prometheus` is not installed, or it was not ready within 30 s.
    pub fn start(targets: &[String]) -> Result<Prometheus, HarnessError> {
        let binary = system_program("prometheus", "prometheus")?;
        let dir = tempfile::Builder::new()
            .prefix("sluice-prometheus-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                what: "creating the Prometheus folder".into(),
                source,
            })?;
        let port = free_port()?;
        let quoted: Vec<String> = targets
            .iter()
            .map(|target| format!("\"{target}\""))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).map_err(|source| HarnessError::Io {
            what: "writing prometheus.yml".into(),
            source,
        })?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut process = spawn("prometheus", command, &dir.path().join("prometheus.log"))?;
        wait_for(
            &mut process,
            "Prometheus /-/ready",
            Duration::from_secs(30),
            || http_get(port, "/-/ready").is_some_and(|(status, _)| status == 200),
        )?;
        Ok(Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
            _dir: dir,
        })
    }
}
