//! Credentials for the tenant's Git remote, read from the GitRepository's secret in Flux's
//! formats (`username`/`password`, `bearerToken`, `identity`/`known_hosts`[/`password`]), and
//! turned into the Git configuration that gix and the `git` CLI both understand: an
//! `http.extraHeader` for HTTP(S), a `core.sshCommand` for SSH.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;

use super::ssh_key::{SshKeyError, write_private_key};

/// Why a secret cannot authenticate to the remote.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A key the URL's transport needs is absent from the secret.
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
    /// The SSH identity could not be written or decrypted.
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
    /// Reads the credentials for `url` from a secret's `data` (key → bytes), as Flux's
    /// source-controller does: `ssh://` URLs need `identity` and `known_hosts` (`password`
    /// decrypts the identity); other URLs use `bearerToken` if present, else `username` and
    /// `password`, else nothing.
    ///
    /// Errors: [`AuthError::MissingKey`] when SSH keys or the basic-auth password are missing,
    /// [`AuthError::NotText`] when a textual value is not UTF-8.
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
        match text(data, "username")? {
            Some(username) => Ok(Self::Basic {
                username,
                password: text(data, "password")?.ok_or(AuthError::MissingKey {
                    key: "password",
                    transport: "basic",
                })?,
            }),
            None => Ok(Self::Anonymous),
        }
    }

    /// The Git configuration entries (`key=value`) that make gix and `git` authenticate; SSH
    /// key files are written (mode 0600) into `key_dir`, which must outlive their use.
    ///
    /// Errors: [`AuthError::SshKey`] when the identity cannot be written or decrypted.
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
                let hosts = key_dir.join("known_hosts");
                std::fs::write(&hosts, known_hosts)
                    .map_err(|source| SshKeyError::Write { source })?;
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
    fn missing_keys_are_named() {
        let no_password = GitAuth::from_secret("https://h/r", &secret(&[("username", "u")]));
        assert!(matches!(
            no_password,
            Err(AuthError::MissingKey {
                key: "password",
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
    fn debug_output_hides_secret_values() {
        let auth = GitAuth::Bearer {
            token: "s3cret".into(),
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
