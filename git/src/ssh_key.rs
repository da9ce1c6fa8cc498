//! Private SSH keys (and the host keys trusted with them) written to disk for `ssh` and
//! `ssh-keygen`, which only read keys from files: mode 0600, decrypted with `ssh-keygen -p` when a
//! passphrase is given (neither program can take a passphrase without a terminal).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a private key could not be made usable.
#[derive(Debug, thiserror::Error)]
pub enum SshKeyError {
    /// The key file could not be written.
    #[error("cannot write the SSH key: {source}")]
    Write {
        /// The OS error.
        source: std::io::Error,
    },
    /// `ssh-keygen` could not be run.
    #[error("cannot run ssh-keygen (Debian package openssh-client): {0}")]
    Spawn(std::io::Error),
    /// `ssh-keygen -p` refused the key or the passphrase.
    #[error("cannot decrypt the SSH key: {0}")]
    Decrypt(String),
}

/// Writes `key` to `dir/name` with mode 0600, decrypting it in place with `passphrase` if given,
/// and returns the file's path.
///
/// Errors: [`SshKeyError::Write`] on a file error, [`SshKeyError::Spawn`] when `ssh-keygen` is
/// missing, [`SshKeyError::Decrypt`] on a wrong passphrase or a key that is not a private key.
pub(crate) fn write_private_key(
    dir: &Path,
    name: &str,
    key: &[u8],
    passphrase: Option<&str>,
) -> Result<PathBuf, SshKeyError> {
    let path = dir.join(name);
    let mut text = key.to_vec();
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    std::fs::write(&path, text).map_err(|source| SshKeyError::Write { source })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|source| SshKeyError::Write { source })?;
    if let Some(passphrase) = passphrase {
        let output = Command::new("ssh-keygen")
            .args(["-q", "-p", "-N", "", "-P", passphrase, "-f"])
            .arg(&path)
            .output()
            .map_err(SshKeyError::Spawn)?;
        if !output.status.success() {
            return Err(SshKeyError::Decrypt(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
    }
    Ok(path)
}
