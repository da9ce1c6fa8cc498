//! Git credentials read from a GitRepository's `secretRef` Secret, with Flux's keys:
//! `username`/`password` (HTTP basic), `bearerToken` (HTTP `Authorization: Bearer`),
//! `identity`/`known_hosts` (SSH). [`from_secret_data`] is pure; [`read_secret_data`] is the one
//! place Sluice reads a Secret's data from the API server for Git credentials.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// The decoded data of Secret `namespace/name`: its `stringData` (set by a client, not yet folded
/// in by the API server, as in a cached or test object) overlaid by its `data`, key -> bytes.
///
/// Errors: the API error of the read (404 when the Secret does not exist).
pub async fn read_secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, kube::Error> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await?;
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .string_data
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.into_bytes()))
        .collect();
    data.extend(
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (key, value.0)),
    );
    Ok(data)
}

/// Errors reading credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The Secret has none of the keys Flux reads.
    #[error("secret has no 'username'/'password', 'bearerToken' or 'identity' key")]
    NoCredentials,
    /// `identity` without `known_hosts` (Flux requires host keys for SSH).
    #[error("secret has 'identity' but no 'known_hosts'")]
    MissingKnownHosts,
    /// A key is not UTF-8 text.
    #[error("secret key '{0}' is not UTF-8 text")]
    NotText(String),
}

/// How to authenticate to the Git server.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum GitAuth {
    /// No credentials.
    #[default]
    Anonymous,
    /// HTTP basic.
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// HTTP `Authorization: Bearer <token>`.
    Bearer(String),
    /// SSH private key and the host keys to trust.
    Ssh {
        /// The private key (OpenSSH PEM).
        identity: String,
        /// `known_hosts` lines.
        known_hosts: String,
    },
}

impl std::fmt::Debug for GitAuth {
    /// Never prints secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            GitAuth::Anonymous => "Anonymous",
            GitAuth::Basic { .. } => "Basic",
            GitAuth::Bearer(_) => "Bearer",
            GitAuth::Ssh { .. } => "Ssh",
        };
        f.write_str(kind)
    }
}

/// Reads a Secret's `data` (already base64-decoded bytes) into [`GitAuth`]; SSH wins over
/// bearer, bearer over basic.
///
/// Errors: [`Error::NoCredentials`], [`Error::MissingKnownHosts`], [`Error::NotText`].
pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<GitAuth, Error> {
    let text = |key: &str| -> Result<Option<String>, Error> {
        data.get(key)
            .map(|bytes| String::from_utf8(bytes.clone()).map_err(|_| Error::NotText(key.into())))
            .transpose()
    };
    if let Some(identity) = text("identity")? {
        let known_hosts = text("known_hosts")?.ok_or(Error::MissingKnownHosts)?;
        return Ok(GitAuth::Ssh {
            identity,
            known_hosts,
        });
    }
    if let Some(token) = text("bearerToken")? {
        return Ok(GitAuth::Bearer(token));
    }
    match (text("username")?, text("password")?) {
        (Some(username), password) => Ok(GitAuth::Basic {
            username,
            password: password.unwrap_or_default(),
        }),
        _ => Err(Error::NoCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn reads_each_kind_of_secret() {
        let basic = from_secret_data(&data(&[("username", "u"), ("password", "p")]));
        assert_eq!(
            basic,
            Ok(GitAuth::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        let bearer = from_secret_data(&data(&[("bearerToken", "t"), ("username", "u")]));
        assert_eq!(bearer, Ok(GitAuth::Bearer("t".into())));
        let ssh = from_secret_data(&data(&[("identity", "k")]));
        assert_eq!(ssh, Err(Error::MissingKnownHosts));
        assert_eq!(from_secret_data(&data(&[])), Err(Error::NoCredentials));
    }

    #[test]
    fn debug_never_prints_the_password() {
        let auth = GitAuth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
