//! A loopback OpenSSH server (Debian `openssh-server`) for Git over `ssh://`: a throw-away host
//! key, one client key pair allowed to log in as the current user, on a free 127.0.0.1 port;
//! stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::HarnessError;
use crate::binaries::system_program;
use crate::ports::{free_port, wait_for};
use crate::process::{ManagedProcess, spawn};

/// A running `sshd`.
pub struct Sshd {
    port: u16,
    user: String,
    _process: ManagedProcess,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Generates a host key and a client key pair (ed25519, no passphrase) and starts `sshd`
    /// accepting the client key for the current user.
    ///
    /// Errors: `sshd` or `ssh-keygen` is missing, or the server did not start.
    pub fn start() -> Result<Sshd, HarnessError> {
        let sshd = system_program("sshd", "openssh-server")?;
        let dir = tempfile::Builder::new()
            .prefix("sluice-sshd-")
            .tempdir()
            .map_err(io("creating the sshd folder"))?;
        generate_key(&dir.path().join("hostkey"))?;
        generate_key(&dir.path().join("client"))?;
        std::fs::copy(
            dir.path().join("client.pub"),
            dir.path().join("authorized_keys"),
        )
        .map_err(io("writing authorized_keys"))?;
        if crate::process::is_root() {
            // sshd's privilege separation folder; it refuses to start without it.
            std::fs::create_dir_all("/run/sshd").map_err(io("creating /run/sshd"))?;
        }
        let port = free_port()?;
        let config = dir.path().join("sshd_config");
        std::fs::write(&config, sshd_config(dir.path(), port))
            .map_err(io("writing sshd_config"))?;
        let mut command = Command::new(sshd);
        command.args(["-D", "-e", "-f"]).arg(&config);
        let mut process = spawn("sshd", command, &dir.path().join("sshd.log"))?;
        wait_for(&mut process, "sshd", Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".into());
        Ok(Sshd {
            port,
            user,
            _process: process,
            dir,
        })
    }

    /// `ssh://<user>@127.0.0.1:<port><absolute path>`.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The client's private key (OpenSSH format), as a Flux secret's `identity`.
    ///
    /// Errors: the key file cannot be read.
    pub fn client_identity(&self) -> Result<Vec<u8>, HarnessError> {
        std::fs::read(self.dir.path().join("client")).map_err(io("reading the client key"))
    }

    /// A `known_hosts` line for this server, as a Flux secret's `known_hosts`.
    ///
    /// Errors: the host key cannot be read.
    pub fn known_hosts(&self) -> Result<String, HarnessError> {
        let public = std::fs::read_to_string(self.dir.path().join("hostkey.pub"))
            .map_err(io("reading the host key"))?;
        let mut fields = public.split_whitespace();
        let (kind, key) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        Ok(format!("[127.0.0.1]:{} {kind} {key}\n", self.port))
    }

    /// The folder holding the keys and the log.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

fn sshd_config(dir: &Path, port: u16) -> String {
    let dir = dir.display();
    format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/hostkey\n\
         AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n\
         UsePAM no\nPidFile {dir}/sshd.pid\nAcceptEnv GIT_PROTOCOL\n"
    )
}

/// Writes an ed25519 key pair without passphrase to `path` and `path.pub`.
///
/// Errors: `ssh-keygen` is missing or failed.
pub fn generate_key(path: &Path) -> Result<(), HarnessError> {
    let keygen = system_program("ssh-keygen", "openssh-client")?;
    let output = Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "sluice-test", "-f"])
        .arg(path)
        .output()
        .map_err(io("running ssh-keygen"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Start {
            what: "ssh-keygen".into(),
            why: String::from_utf8_lossy(&output.stderr).into(),
        })
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> HarnessError {
    move |source| HarnessError::Io {
        what: what.into(),
        source,
    }
}
