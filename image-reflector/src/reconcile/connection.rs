//! How to reach an ImageRepository's registry, from its spec and the Secrets it names:
//! `secretRef` (a `kubernetes.io/dockerconfigjson` Secret) or else the `imagePullSecrets` of
//! `serviceAccountName`, `certSecretRef` (`ca.crt`, `tls.crt` + `tls.key`), `proxySecretRef`
//! (`address`, `username`, `password`), `insecure` and `timeout`, as Flux reads them; and the
//! `token` of `webhookSecretRef`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::{Api, Client};

use crate::api::ImageRepositorySpec;
use crate::registry::credentials::from_docker_config;
use crate::registry::{Connection, Credentials, ImageName};

/// The Secret type `secretRef` and `imagePullSecrets` must have.
const DOCKER_CONFIG_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The key of a dockerconfigjson Secret.
const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// Why the connection settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Secret or service account the spec names does not exist or cannot be read.
    #[error("reading {what} {namespace}/{name}: {source}")]
    Read {
        /// `Secret` or `ServiceAccount`.
        what: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        source: Box<kube::Error>,
    },
    /// A Secret lacks a key or has the wrong type or content.
    #[error("Secret {namespace}/{name}: {reason}")]
    InvalidSecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads the connection settings of `spec` (in `namespace`) for `image` through `client`.
/// `timeout` is the resolved `spec.timeout`.
///
/// Errors: [`Error::Read`] for a missing or unreadable Secret or service account,
/// [`Error::InvalidSecret`] for a Secret of the wrong type, without the expected keys, or with
/// malformed credentials.
pub async fn resolve(
    client: &Client,
    namespace: &str,
    spec: &ImageRepositorySpec,
    image: &ImageName,
    timeout: Duration,
) -> Result<Connection, Error> {
    let secrets = Secrets {
        api: Api::namespaced(client.clone(), namespace),
        namespace,
    };
    let credentials = match (&spec.secret_ref, &spec.service_account_name) {
        (Some(reference), _) => secrets.credentials(&reference.name, image).await?,
        (None, Some(account)) => {
            service_account_credentials(client, &secrets, account, image).await?
        }
        (None, None) => None,
    };
    let mut connection = Connection {
        insecure: spec.insecure,
        credentials: credentials.unwrap_or_default(),
        timeout,
        ..Connection::default()
    };
    if let Some(reference) = &spec.cert_secret_ref {
        let secret = secrets.get(&reference.name).await?;
        connection.ca_pem = secret_value(&secret, "ca.crt");
        if let (Some(mut certificate), Some(key)) = (
            secret_value(&secret, "tls.crt"),
            secret_value(&secret, "tls.key"),
        ) {
            certificate.push(b'\n');
            certificate.extend(key);
            connection.identity_pem = Some(certificate);
        }
    }
    if let Some(reference) = &spec.proxy_secret_ref {
        let secret = secrets.get(&reference.name).await?;
        connection.proxy = Some(secrets.proxy_url(&reference.name, &secret)?);
    }
    Ok(connection)
}

/// The key of the `webhookSecretRef` Secret, as Flux's Receiver Secret.
const WEBHOOK_TOKEN_KEY: &str = "token";

/// The `token` of the Secret `name` in `namespace` (an ImageRepository's `webhookSecretRef`),
/// as Flux's Receiver reads its Secret.
///
/// Errors: [`Error::Read`] for a missing or unreadable Secret, [`Error::InvalidSecret`] when it
/// has no `token`, or an empty or non-UTF-8 one (the message never shows the value).
pub async fn webhook_token(client: &Client, namespace: &str, name: &str) -> Result<String, Error> {
    let secrets = Secrets {
        api: Api::namespaced(client.clone(), namespace),
        namespace,
    };
    let secret = secrets.get(name).await?;
    let token = secret_value(&secret, WEBHOOK_TOKEN_KEY)
        .ok_or_else(|| secrets.invalid(name, format!("no {WEBHOOK_TOKEN_KEY} key")))?;
    match String::from_utf8(token) {
        Ok(token) if !token.trim().is_empty() => Ok(token),
        _ => Err(secrets.invalid(
            name,
            format!("the {WEBHOOK_TOKEN_KEY} must be non-empty UTF-8 text"),
        )),
    }
}

struct Secrets<'a> {
    api: Api<Secret>,
    namespace: &'a str,
}

impl Secrets<'_> {
    async fn get(&self, name: &str) -> Result<Secret, Error> {
        self.api.get(name).await.map_err(|source| Error::Read {
            what: "Secret",
            namespace: self.namespace.to_owned(),
            name: name.to_owned(),
            source: Box::new(source),
        })
    }

    fn invalid(&self, name: &str, reason: String) -> Error {
        Error::InvalidSecret {
            namespace: self.namespace.to_owned(),
            name: name.to_owned(),
            reason,
        }
    }

    /// The credentials the dockerconfigjson Secret `name` holds for `image`'s registry.
    async fn credentials(
        &self,
        name: &str,
        image: &ImageName,
    ) -> Result<Option<Credentials>, Error> {
        let secret = self.get(name).await?;
        if secret.type_.as_deref() != Some(DOCKER_CONFIG_TYPE) {
            return Err(self.invalid(name, format!("the type must be {DOCKER_CONFIG_TYPE}")));
        }
        let config = secret_value(&secret, DOCKER_CONFIG_KEY)
            .ok_or_else(|| self.invalid(name, format!("no {DOCKER_CONFIG_KEY} key")))?;
        from_docker_config(&config, &image.registry)
            .map_err(|error| self.invalid(name, error.to_string()))
    }

    /// `address` with `username` and `password` as user info.
    fn proxy_url(&self, name: &str, secret: &Secret) -> Result<String, Error> {
        let text = |key| {
            secret_value(secret, key).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        let address = text("address").ok_or_else(|| self.invalid(name, "no address key".into()))?;
        let mut url = reqwest::Url::parse(&address)
            .map_err(|error| self.invalid(name, format!("address: {error}")))?;
        if let Some(username) = text("username") {
            let with_user = url
                .set_username(&username)
                .and_then(|()| url.set_password(text("password").as_deref()));
            with_user
                .map_err(|()| self.invalid(name, "the address cannot carry credentials".into()))?;
        }
        Ok(url.to_string())
    }
}

/// The first credentials for `image` among the `imagePullSecrets` of `account`.
async fn service_account_credentials(
    client: &Client,
    secrets: &Secrets<'_>,
    account: &str,
    image: &ImageName,
) -> Result<Option<Credentials>, Error> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), secrets.namespace);
    let account = accounts.get(account).await.map_err(|source| Error::Read {
        what: "ServiceAccount",
        namespace: secrets.namespace.to_owned(),
        name: account.to_owned(),
        source: Box::new(source),
    })?;
    for reference in account.image_pull_secrets.unwrap_or_default() {
        if let Some(credentials) = secrets.credentials(&reference.name, image).await? {
            return Ok(Some(credentials));
        }
    }
    Ok(None)
}

fn secret_value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|bytes| bytes.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|text| text.clone().into_bytes())
        })
}
