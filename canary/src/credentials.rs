//! Prometheus credentials from a MetricTemplate's `spec.provider.secretRef`, as Flagger's
//! Prometheus provider (docs/canary.md §1.7): the Secret's `token` is sent as `Authorization: Bearer`;
//! without a token, `username` and `password` are both required and sent as Basic auth.
//!
//! The watch cache keeps only a digest of each Secret's data, so the data is read from the API
//! server once per Secret and digest, then remembered: a tick sends no read while the Secret is
//! unchanged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use reqwest::header::HeaderValue;

use crate::caches::{Caches, DATA_DIGEST_ANNOTATION, cached};

/// How a provider's requests authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic base64(<username>:<password>)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    /// Never prints the secret part.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => formatter.write_str("Bearer(..)"),
            Self::Basic { username, .. } => write!(formatter, "Basic({username}, ..)"),
        }
    }
}

impl Credentials {
    /// The credentials in a Secret's `data`, as Flagger reads them: `token` wins; otherwise
    /// `username` and `password`.
    ///
    /// Errors: neither a token nor both a username and a password, with the keys found.
    pub fn from_secret_data(data: &BTreeMap<String, ByteString>) -> Result<Self, String> {
        let text = |key: &str| {
            data.get(key)
                .map(|value| String::from_utf8_lossy(&value.0).into_owned())
        };
        if let Some(token) = text("token") {
            return Ok(Self::Bearer(token));
        }
        match (text("username"), text("password")) {
            (Some(username), Some(password)) => Ok(Self::Basic { username, password }),
            _ => Err(format!(
                "it holds neither token nor username and password (keys: {})",
                data.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// The `Authorization` header value, marked sensitive so that it is never logged.
    ///
    /// Errors: the token or user name holds characters HTTP headers cannot carry.
    pub fn authorization(&self) -> Result<HeaderValue, String> {
        let text = match self {
            Self::Bearer(token) => format!("Bearer {token}"),
            Self::Basic { username, password } => {
                format!(
                    "Basic {}",
                    base64(format!("{username}:{password}").as_bytes())
                )
            }
        };
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| "the credentials are not valid in an HTTP header".to_owned())?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Standard base64 of `bytes`, by the encoder k8s-openapi uses for `ByteString` fields.
fn base64(bytes: &[u8]) -> String {
    match serde_json::to_value(ByteString(bytes.to_vec())) {
        Ok(serde_json::Value::String(encoded)) => encoded,
        _ => String::new(),
    }
}

/// What a Secret held when read: its data digest and the credentials (or why there are none).
type ReadAt = (String, Result<Credentials, String>);

/// The credentials of every referenced Secret, each remembered with the data digest it was read
/// at.
pub struct SecretCredentials {
    client: Client,
    read: Mutex<HashMap<String, ReadAt>>,
}

impl SecretCredentials {
    /// Reads Secrets with `client` when their digest in the cache changes.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            read: Mutex::default(),
        }
    }

    /// The credentials in the Secret `namespace/name`: remembered while its cached digest holds,
    /// else read from the API server.
    ///
    /// Errors: the Secret is not in the cache or cannot be read, or holds no usable credentials;
    /// each message names the Secret.
    pub async fn get(
        &self,
        caches: &Caches,
        namespace: &str,
        name: &str,
    ) -> Result<Credentials, String> {
        let what = format!("Secret {namespace}/{name}");
        let digest = cached(&caches.secrets, namespace, name)
            .and_then(|secret| secret.annotations().get(DATA_DIGEST_ANNOTATION).cloned())
            .ok_or_else(|| format!("{what} not found"))?;
        let key = format!("{namespace}/{name}");
        if let Some((read_at, credentials)) = lock(&self.read).get(&key)
            && *read_at == digest
        {
            return credentials.clone();
        }
        let secret = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(|error| format!("reading {what}: {error}"))?;
        let credentials = Credentials::from_secret_data(&secret.data.unwrap_or_default())
            .map_err(|reason| format!("{what}: {reason}"));
        lock(&self.read).insert(key, (digest, credentials.clone()));
        credentials
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), ByteString(value.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn a_token_wins_and_is_sent_as_bearer() {
        let credentials =
            Credentials::from_secret_data(&data(&[("token", "t0k"), ("username", "u")]))
                .expect("credentials");
        assert_eq!(credentials, Credentials::Bearer("t0k".into()));
        let header = credentials.authorization().expect("header");
        assert_eq!(header.to_str().ok(), Some("Bearer t0k"));
        assert!(header.is_sensitive());
    }

    #[test]
    fn username_and_password_are_sent_as_basic_auth() {
        let credentials =
            Credentials::from_secret_data(&data(&[("username", "admin"), ("password", "s3cret")]))
                .expect("credentials");
        // RFC 7617's encoding of "admin:s3cret".
        assert_eq!(
            credentials.authorization().expect("header").to_str().ok(),
            Some("Basic YWRtaW46czNjcmV0")
        );
        assert_eq!(format!("{credentials:?}"), "Basic(admin, ..)");
    }

    #[test]
    fn a_username_without_password_is_refused_with_the_keys_found() {
        let refused = Credentials::from_secret_data(&data(&[("username", "admin")]));
        assert_eq!(
            refused,
            Err("it holds neither token nor username and password (keys: username)".into())
        );
    }
}
