//! Registry credentials from a `kubernetes.io/dockerconfigjson` Secret's `.dockerconfigjson`,
//! matched to a registry host as Kubernetes' credential provider and Flux's `authn` keychain do.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;

use super::Error;

/// How requests to a registry authenticate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials; a token server may still grant anonymous pull tokens.
    #[default]
    Anonymous,
    /// A user name and password (sent as HTTP basic auth, or to the token server).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
}

/// The credentials `config` (the bytes of `.dockerconfigjson`) holds for `registry` (a host with
/// optional port, e.g. `ghcr.io`); entries are matched on their host, ignoring any scheme and
/// path (`https://index.docker.io/v1/` matches Docker Hub). `None` when no entry matches.
///
/// Errors: [`Error::InvalidCredentials`] when the JSON or an entry's `auth` (base64 of
/// `user:password`) is malformed.
pub fn from_docker_config(config: &[u8], registry: &str) -> Result<Option<Credentials>, Error> {
    let invalid = |reason: String| Error::InvalidCredentials { reason };
    let config: DockerConfig = serde_json::from_slice(config)
        .map_err(|error| invalid(format!(".dockerconfigjson: {error}")))?;
    let wanted = normalize_host(registry);
    let Some(entry) = config
        .auths
        .iter()
        .find(|(key, _)| normalize_host(key) == wanted)
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|error| invalid(format!("auth of {registry}: {error}")))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| invalid(format!("auth of {registry} is not UTF-8")))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| invalid(format!("auth of {registry} is not user:password")))?;
    Ok(Some(Credentials::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

/// A registry key reduced to its host: scheme and path dropped, Docker Hub aliases unified.
fn normalize_host(key: &str) -> String {
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(username: &str, password: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    #[test]
    fn auth_is_base64_of_user_and_password() {
        let config = br#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYTpzcw=="}}}"#;
        assert_eq!(
            from_docker_config(config, "127.0.0.1:5000").unwrap(),
            basic("user", "pa:ss")
        );
        assert_eq!(from_docker_config(config, "127.0.0.1:5001").unwrap(), None);
    }

    #[test]
    fn docker_hub_keys_with_scheme_and_path_match() {
        let config =
            br#"{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}}}"#;
        assert_eq!(
            from_docker_config(config, "index.docker.io").unwrap(),
            basic("u", "p")
        );
    }

    #[test]
    fn malformed_configs_are_errors() {
        for config in [
            &b"{"[..],
            br#"{"auths":{"h":{"auth":"!!"}}}"#,
            br#"{"auths":{"h":{"auth":"bm9jb2xvbg=="}}}"#,
        ] {
            assert!(matches!(
                from_docker_config(config, "h"),
                Err(Error::InvalidCredentials { .. })
            ));
        }
    }
}
