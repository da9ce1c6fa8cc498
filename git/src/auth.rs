//! Git credentials read from a Secret's data in Flux's keys, by the URL's transport as Flux's
//! `git.NewAuthOptions` reads them: `ssh://` URLs take `identity` and `known_hosts` (and
//! `password`, the identity's passphrase); other URLs take `bearerToken`, else `username` (and
//! `password`), else nothing. Turned into the Git configuration that gix and the `git` CLI both
//! understand: an `http.extraHeader` for HTTP(S), a `core.sshCommand` for SSH.
//!
//! One reader for the GitRepository source and the ImageUpdateAutomation, which each had one;
//! where they differed, the better (Flux's) behaviour was kept:
//! - the passphrase of an SSH identity is read and the key decrypted (the source ignored it);
//! - the `core.sshCommand` quotes the key paths and passes `-F /dev/null`, so no
//!   `~/.ssh/config` applies (the source did neither);
//! - the transport is the URL's (the source took `identity` whatever the URL);
//! - a Secret without any of the keys means anonymous (the source refused it);
//! - `username` without `password` is basic authentication with an empty password (the
//!   automation refused it), `password` without `username` is refused (the automation ignored it).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;

use crate::ssh_key::{SshKeyError, write_private_key};

/// Why a Secret cannot authenticate to the remote.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A key the URL's transport needs is absent from the Secret.
    #[error("secret has no '{key}' key, needed for {transport} authentication")]
    MissingKey {
        /// The missing key.
        key: &'static str,
        /// `basic` or `ssh`.
        transport: &'static str,
    },
    /// A value is not UTF-8 text.
    #[error("secret key '{0}' is not UTF-8 text")]
    NotText(String),
    /// The SSH identity or host keys could not be written, or the identity not decrypted.
    #[error(transparent)]
    SshKey(#[from] SshKeyError),
}

/// How to authenticate to a Git remote.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum GitAuth {
    /// No credentials.
    #[default]
    Anonymous,
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// HTTP `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// SSH public key authentication with a pinned host key.
    Ssh {
        /// The private key, OpenSSH or PEM format.
        identity: Vec<u8>,
        /// `known_hosts` lines the server's host key must match.
        known_hosts: Vec<u8>,
        /// Passphrase of the private key, if encrypted.
        password: Option<String>,
    },
}

impl std::fmt::Debug for GitAuth {
    /// Names the kind of credential only, never a secret value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Anonymous => "Anonymous",
            Self::Basic { .. } => "Basic",
            Self::Bearer { .. } => "Bearer",
            Self::Ssh { .. } => "Ssh",
        })
    }
}

impl GitAuth {
    /// Reads the credentials for `url` from a Secret's `data` (key -> bytes), as Flux does (see
    /// the module doc): `ssh://` URLs need `identity` and `known_hosts` (`password` decrypts
    /// the identity); other URLs use `bearerToken` if present, else `username` and `password`,
    /// else nothing.
    ///
    /// Errors: [`AuthError::MissingKey`] when an SSH key is missing or `password` comes without
    /// `username`, [`AuthError::NotText`] when a textual value is not UTF-8.
    pub fn from_secret(url: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Self, AuthError> {
        if url.starts_with("ssh://") {
            let required = |key: &'static str| {
                data.get(key).cloned().ok_or(AuthError::MissingKey {
                    key,
                    transport: "ssh",
                })
            };
            return Ok(Self::Ssh {
                identity: required("identity")?,
                known_hosts: required("known_hosts")?,
                password: text(data, "password")?,
            });
        }
        if let Some(token) = text(data, "bearerToken")? {
            return Ok(Self::Bearer { token });
        }
        match (text(data, "username")?, text(data, "password")?) {
            (Some(username), password) => Ok(Self::Basic {
                username,
                password: password.unwrap_or_default(),
            }),
            (None, Some(_)) => Err(AuthError::MissingKey {
                key: "username",
                transport: "basic",
            }),
            (None, None) => Ok(Self::Anonymous),
        }
    }

    /// The Git configuration entries (`key=value`) that make gix and `git` authenticate: an
    /// `Authorization` header for basic and bearer credentials, for SSH an `ssh` command with
    /// the identity and host keys written (mode 0600, the identity decrypted) into `key_dir`,
    /// which must outlive their use, and `IdentitiesOnly`, `BatchMode`,
    /// `StrictHostKeyChecking=yes` and `-F /dev/null`.
    ///
    /// Errors: [`AuthError::SshKey`] when the files cannot be written or the identity decrypted.
    pub fn git_config(&self, key_dir: &Path) -> Result<Vec<String>, AuthError> {
        let header = |value: String| vec![format!("http.extraHeader=Authorization: {value}")];
        match self {
            Self::Anonymous => Ok(Vec::new()),
            Self::Basic { username, password } => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Ok(header(format!("Basic {encoded}")))
            }
            Self::Bearer { token } => Ok(header(format!("Bearer {token}"))),
            Self::Ssh {
                identity,
                known_hosts,
                password,
            } => {
                let key = write_private_key(key_dir, "identity", identity, password.as_deref())?;
                let hosts = write_private_key(key_dir, "known_hosts", known_hosts, None)?;
                Ok(vec![format!(
                    "core.sshCommand=ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes \
                     -o StrictHostKeyChecking=yes -o UserKnownHostsFile='{}' -F /dev/null",
                    key.display(),
                    hosts.display()
                )])
            }
        }
    }
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Result<Option<String>, AuthError> {
    data.get(key)
        .map(|bytes| {
            String::from_utf8(bytes.clone()).map_err(|_| AuthError::NotText(key.to_owned()))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn http_secrets_prefer_the_bearer_token_then_basic_auth() {
        let both = secret(&[
            ("bearerToken", "t0ken"),
            ("username", "u"),
            ("password", "p"),
        ]);
        let url = "http://127.0.0.1/repo.git";
        assert_eq!(
            GitAuth::from_secret(url, &both).unwrap(),
            GitAuth::Bearer {
                token: "t0ken".into()
            }
        );
        let basic = GitAuth::from_secret(url, &secret(&[("username", "u"), ("password", "p")]));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            basic.unwrap().git_config(dir.path()).unwrap(),
            ["http.extraHeader=Authorization: Basic dTpw"]
        );
        assert_eq!(
            GitAuth::from_secret(url, &secret(&[])).unwrap(),
            GitAuth::Anonymous
        );
    }

    #[test]
    fn reads_each_kind_of_secret() {
        let no_password = GitAuth::from_secret("https://h/r", &secret(&[("username", "u")]));
        assert_eq!(
            no_password.unwrap(),
            GitAuth::Basic {
                username: "u".into(),
                password: String::new()
            }
        );
        let ssh = secret(&[("identity", "k"), ("known_hosts", "h"), ("password", "p")]);
        assert_eq!(
            GitAuth::from_secret("ssh://git@h/r", &ssh).unwrap(),
            GitAuth::Ssh {
                identity: b"k".to_vec(),
                known_hosts: b"h".to_vec(),
                password: Some("p".into())
            }
        );
        let identity_over_https = GitAuth::from_secret("https://h/r", &ssh);
        assert!(matches!(
            identity_over_https,
            Err(AuthError::MissingKey {
                key: "username",
                ..
            })
        ));
    }

    #[test]
    fn missing_keys_are_named() {
        let no_username = GitAuth::from_secret("https://h/r", &secret(&[("password", "p")]));
        assert!(matches!(
            no_username,
            Err(AuthError::MissingKey {
                key: "username",
                ..
            })
        ));
        let no_hosts = GitAuth::from_secret("ssh://git@h/r", &secret(&[("identity", "k")]));
        assert!(matches!(
            no_hosts,
            Err(AuthError::MissingKey {
                key: "known_hosts",
                ..
            })
        ));
    }

    #[test]
    fn the_ssh_command_quotes_its_paths_and_reads_no_ssh_config() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("with space");
        std::fs::create_dir(&keys).unwrap();
        let auth = GitAuth::Ssh {
            identity: b"key".to_vec(),
            known_hosts: b"h ssh-ed25519 AAAA".to_vec(),
            password: None,
        };
        let config = auth.git_config(&keys).unwrap();
        let identity = keys.join("identity");
        let hosts = keys.join("known_hosts");
        assert_eq!(
            config,
            [format!(
                "core.sshCommand=ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes \
                 -o StrictHostKeyChecking=yes -o UserKnownHostsFile='{}' -F /dev/null",
                identity.display(),
                hosts.display()
            )]
        );
        assert_eq!(std::fs::read(&hosts).unwrap(), b"h ssh-ed25519 AAAA\n");
        let mode = std::fs::metadata(&identity).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn debug_output_hides_secret_values() {
        let bearer = GitAuth::Bearer {
            token: "s3cret".into(),
        };
        assert!(!format!("{bearer:?}").contains("s3cret"));
        let basic = GitAuth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{basic:?}").contains("hunter2"));
    }
}
