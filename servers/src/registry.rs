//! The Debian `docker-registry` (CNCF distribution 2.8) on 127.0.0.1, anonymous, with htpasswd
//! basic auth, or with bearer tokens from a token server the test runs. Note: distribution 2.8
//! ignores `n`/`last` on tag lists and sends no `Link` header.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::HarnessError;
use crate::binaries::system_program;
use crate::ports::{free_port, http_get, wait_for};
use crate::process::{ManagedProcess, spawn};

/// How the registry authenticates pulls and pushes.
#[derive(Clone, Debug)]
pub enum RegistryAuth {
    /// Anyone may pull and push.
    Anonymous,
    /// HTTP basic auth against one user.
    Htpasswd {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Bearer tokens (JWT) issued by the token server at `realm`, signed by the key whose
    /// certificate is `root_cert` (PEM file).
    Token {
        /// The token endpoint URL.
        realm: String,
        /// The `service` the tokens name.
        service: String,
        /// The `iss` of the tokens.
        issuer: String,
        /// The certificate that verifies the tokens' signature.
        root_cert: PathBuf,
    },
}

/// A running registry; stopped and its storage deleted on drop.
pub struct Registry {
    /// `127.0.0.1:<port>`, the host part of image references.
    pub address: String,
    _process: ManagedProcess,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with `auth` and waits until `/v2/` answers.
    ///
    /// Errors: `docker-registry` (or `htpasswd` for basic auth) is not installed, or it did not
    /// start within 30 s.
    pub fn start(auth: RegistryAuth) -> Result<Registry, HarnessError> {
        let binary = system_program("docker-registry", "docker-registry")?;
        let dir = tempfile::Builder::new()
            .prefix("sluice-registry-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                what: "creating the registry folder".into(),
                source,
            })?;
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let auth_section = auth_config(&auth, &dir)?;
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n{auth_section}",
            root = dir.path().join("data").display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|source| HarnessError::Io {
            what: "writing the registry config".into(),
            source,
        })?;
        let mut command = Command::new(binary);
        command.arg("serve").arg(&config_path);
        let mut process = spawn("docker-registry", command, &dir.path().join("registry.log"))?;
        wait_for(
            &mut process,
            "registry /v2/",
            Duration::from_secs(30),
            || http_get(port, "/v2/").is_some_and(|(status, _)| status == 200 || status == 401),
        )?;
        Ok(Registry {
            address,
            _process: process,
            _dir: dir,
        })
    }
}

impl Registry {
    /// The folder of the registry's filesystem storage (`docker/registry/v2/...` below it), for
    /// tests and benchmarks that create many tags faster than pushing them.
    pub fn storage_root(&self) -> PathBuf {
        self._dir.path().join("data")
    }
}

fn auth_config(auth: &RegistryAuth, dir: &tempfile::TempDir) -> Result<String, HarnessError> {
    Ok(match auth {
        RegistryAuth::Anonymous => String::new(),
        RegistryAuth::Htpasswd { user, password } => {
            let htpasswd = system_program("htpasswd", "apache2-utils")?;
            let output = Command::new(htpasswd)
                .args(["-Bbn", user, password])
                .output()
                .map_err(|source| HarnessError::Io {
                    what: "running htpasswd".into(),
                    source,
                })?;
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, output.stdout).map_err(|source| HarnessError::Io {
                what: "writing htpasswd".into(),
                source,
            })?;
            format!(
                "auth:\n  htpasswd:\n    realm: sluice-test\n    path: {}\n",
                path.display()
            )
        }
        RegistryAuth::Token {
            realm,
            service,
            issuer,
            root_cert,
        } => format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            root_cert.display()
        ),
    })
}
