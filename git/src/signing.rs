//! Commit signatures, from the automation's `git.commit.signingKey` secret in Flux's formats:
//! `git.asc` (an ASCII-armoured OpenPGP secret key with exactly one key, `passphrase` optional)
//! signs with `gpg`; `identity` (an OpenSSH private key, `password` optional) signs with
//! `ssh-keygen -Y sign -n git`, as `git commit -S` does with `gpg.format=ssh`. Each signature runs
//! in a throw-away `GNUPGHOME` / key folder, removed afterwards.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::command::{CommandError, run};
use crate::ssh_key::{SshKeyError, write_private_key};

/// Why a commit could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The secret has neither `git.asc` nor `identity`.
    #[error("signing secret has neither 'git.asc' (GPG) nor 'identity' (SSH)")]
    NoKey,
    /// A textual value is not UTF-8.
    #[error("signing secret key '{0}' is not UTF-8 text")]
    NotText(&'static str),
    /// `git.asc` does not hold exactly one secret key (Flux requires one entity).
    #[error("'git.asc' must hold exactly one secret key, found {0}")]
    KeyCount(usize),
    /// A temporary folder could not be made.
    #[error("cannot create a temporary folder: {0}")]
    TempDir(std::io::Error),
    /// The SSH key could not be written or decrypted.
    #[error(transparent)]
    SshKey(#[from] SshKeyError),
    /// `gpg` or `ssh-keygen` failed (bad key, wrong passphrase, ...).
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// A key that signs commits.
#[derive(Clone, PartialEq, Eq)]
pub enum Signer {
    /// An OpenPGP key, signed with `gpg`.
    Gpg {
        /// The ASCII-armoured secret key.
        armored_key: String,
        /// Its passphrase.
        passphrase: Option<String>,
    },
    /// An SSH key, signed with `ssh-keygen -Y sign`.
    Ssh {
        /// The OpenSSH private key.
        identity: Vec<u8>,
        /// Its passphrase.
        password: Option<String>,
    },
}

impl std::fmt::Debug for Signer {
    /// Names the kind of key only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gpg { .. } => "Gpg",
            Self::Ssh { .. } => "Ssh",
        })
    }
}

impl Signer {
    /// Reads a signing key from a secret's `data`: `git.asc` (+ `passphrase`) is GPG, else
    /// `identity` (+ `password`) is SSH.
    ///
    /// Errors: [`SigningError::NoKey`] when neither is present, [`SigningError::NotText`] when a
    /// textual value is not UTF-8.
    pub fn from_secret(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, SigningError> {
        let text = |key: &'static str| {
            data.get(key)
                .map(|bytes| {
                    String::from_utf8(bytes.clone()).map_err(|_| SigningError::NotText(key))
                })
                .transpose()
        };
        if let Some(armored_key) = text("git.asc")? {
            return Ok(Self::Gpg {
                armored_key,
                passphrase: text("passphrase")?,
            });
        }
        match data.get("identity") {
            Some(identity) => Ok(Self::Ssh {
                identity: identity.clone(),
                password: text("password")?,
            }),
            None => Err(SigningError::NoKey),
        }
    }

    /// Signs `payload` (a commit object without its `gpgsig` header) and returns the armoured
    /// signature (`-----BEGIN PGP SIGNATURE-----` or `-----BEGIN SSH SIGNATURE-----`).
    ///
    /// Errors: any [`SigningError`] but `NoKey`.
    pub fn sign(&self, payload: &[u8]) -> Result<String, SigningError> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-sign-")
            .tempdir()
            .map_err(SigningError::TempDir)?;
        let signature = match self {
            Self::Gpg {
                armored_key,
                passphrase,
            } => sign_gpg(dir.path(), armored_key, passphrase.as_deref(), payload),
            Self::Ssh { identity, password } => {
                let key =
                    write_private_key(dir.path(), "signing-key", identity, password.as_deref())?;
                let mut command = Command::new("ssh-keygen");
                command
                    .args(["-q", "-Y", "sign", "-n", "git", "-f"])
                    .arg(key);
                Ok(run(command, "openssh-client", payload, None)?)
            }
        }?;
        Ok(String::from_utf8_lossy(&signature).into_owned())
    }
}

fn sign_gpg(
    home: &Path,
    armored_key: &str,
    passphrase: Option<&str>,
    payload: &[u8],
) -> Result<Vec<u8>, SigningError> {
    let gpg = |args: &[&str]| {
        let mut command = Command::new("gpg");
        command
            .arg("--homedir")
            .arg(home)
            .args(["--batch", "--no-tty", "--quiet"])
            .args(args);
        command
    };
    run(gpg(&["--import"]), "gnupg", armored_key.as_bytes(), None)?;
    let listing = run(
        gpg(&["--list-secret-keys", "--with-colons"]),
        "gnupg",
        b"",
        None,
    )?;
    let keys = String::from_utf8_lossy(&listing)
        .lines()
        .filter(|line| line.starts_with("sec:"))
        .count();
    if keys != 1 {
        return Err(SigningError::KeyCount(keys));
    }
    let passphrase_file = home.join("passphrase");
    std::fs::write(&passphrase_file, passphrase.unwrap_or_default())
        .map_err(SigningError::TempDir)?;
    let mut sign = gpg(&["--pinentry-mode", "loopback", "--armor", "--detach-sign"]);
    sign.arg("--passphrase-file").arg(&passphrase_file);
    let signed = run(sign, "gnupg", payload, None);
    let mut stop_agent = Command::new("gpgconf");
    stop_agent
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"]);
    let _ = run(stop_agent, "gnupg", b"", None);
    Ok(signed?)
}
