//! The requests a scan makes. oci-client answers the auth challenge (anonymous, basic, or a
//! bearer token from the realm the registry names) and looks up manifest digests; the tag list
//! pages are fetched with a reqwest client of the same settings, because oci-client 0.18's
//! `list_tags` exposes neither the `Link` header nor the status and `Retry-After` of a failure.

use std::sync::Arc;
use std::time::Duration;

use oci_client::RegistryOperation;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use reqwest::header::{ACCEPT, AUTHORIZATION, LINK, RETRY_AFTER};
use serde::Deserialize;
use sluice_runtime::error_text;

use super::pagination::{NextPage, PAGE_SIZE, next_page};
use super::retry::RetryPolicy;
use super::{Credentials, Error, ImageName, RegistryBudget};

/// At most this many pages are followed (a safety net against a registry looping).
const MAX_PAGES: usize = 10_000;

/// How to reach one registry: everything an ImageRepository's spec and Secrets say.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// Talk plain HTTP (`spec.insecure`).
    pub insecure: bool,
    /// The credentials (`secretRef` or the service account's `imagePullSecrets`).
    pub credentials: Credentials,
    /// A PEM CA bundle trusted besides the system roots (`certSecretRef`'s `ca.crt`).
    pub ca_pem: Option<Vec<u8>>,
    /// A PEM client certificate followed by its key (`certSecretRef`'s `tls.crt` + `tls.key`),
    /// used for the tag list requests.
    pub identity_pem: Option<Vec<u8>>,
    /// A proxy URL, with user info when it needs credentials (`proxySecretRef`).
    pub proxy: Option<String>,
    /// The timeout of one whole operation (`spec.timeout`).
    pub timeout: Duration,
}

/// Lists tags and looks up digests, within the shared per-host budget. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    budget: Arc<RegistryBudget>,
    retry: RetryPolicy,
    page_size: usize,
}

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// What one tag list request brought back.
struct Page {
    tags: Vec<String>,
    link: Option<String>,
}

impl RegistryClient {
    /// A client whose requests draw on `budget` and are retried by `retry`, asking for
    /// [`PAGE_SIZE`] tags per page.
    pub fn new(budget: Arc<RegistryBudget>, retry: RetryPolicy) -> Self {
        RegistryClient {
            budget,
            retry,
            page_size: PAGE_SIZE,
        }
    }

    /// The same client asking for `page_size` tags per page (`n`; at least 1).
    pub fn with_page_size(self, page_size: usize) -> Self {
        RegistryClient {
            page_size: page_size.max(1),
            ..self
        }
    }

    /// Every tag of `image`, in the registry's order, all pages followed.
    ///
    /// Errors: [`Error::Timeout`] after `connection.timeout`; [`Error::InvalidTransport`],
    /// [`Error::Unreachable`], [`Error::Unauthorized`], [`Error::Status`] (after retries) and
    /// [`Error::InvalidAnswer`] as they happen.
    pub async fn list_tags(
        &self,
        image: &ImageName,
        connection: &Connection,
    ) -> Result<Vec<String>, Error> {
        self.within_timeout(image, connection, self.list_all_pages(image, connection))
            .await
    }

    /// The digest (`sha256:...`) of the manifest (or index) `tag` of `image` points to.
    ///
    /// Errors: as [`RegistryClient::list_tags`].
    pub async fn manifest_digest(
        &self,
        image: &ImageName,
        tag: &str,
        connection: &Connection,
    ) -> Result<String, Error> {
        self.within_timeout(image, connection, self.fetch_digest(image, tag, connection))
            .await
    }

    async fn within_timeout<T>(
        &self,
        image: &ImageName,
        connection: &Connection,
        operation: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(connection.timeout, operation)
            .await
            .map_err(|_| Error::Timeout {
                image: image.canonical(),
                seconds: connection.timeout.as_secs(),
            })?
    }

    async fn list_all_pages(
        &self,
        image: &ImageName,
        connection: &Connection,
    ) -> Result<Vec<String>, Error> {
        let http = http_client(connection)?;
        let authorization = self.authorize(image, connection).await?;
        let base = format!("{}://{}", scheme(connection), image.registry);
        let first = format!(
            "{base}/v2/{}/tags/list?n={}",
            image.repository, self.page_size
        );
        let mut url = first.clone();
        let mut asked_after: Option<String> = None;
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .fetch_page(&http, &url, authorization.as_deref(), &image.registry)
                .await?;
            let last = page.tags.last().map(String::as_str);
            let next = next_page(
                page.link.as_deref(),
                page.tags.len(),
                last,
                self.page_size,
                asked_after.as_deref(),
            );
            tags.extend(page.tags);
            url = match next {
                NextPage::Link(target) if target.starts_with('/') => format!("{base}{target}"),
                NextPage::Link(target) => target,
                NextPage::After(last) => {
                    let next_url = format!("{first}&last={last}");
                    asked_after = Some(last);
                    next_url
                }
                NextPage::Done => break,
            };
        }
        Ok(tags)
    }

    /// One page, retried on 429 and 5xx.
    async fn fetch_page(
        &self,
        http: &reqwest::Client,
        url: &str,
        authorization: Option<&str>,
        registry: &str,
    ) -> Result<Page, Error> {
        let mut attempt = 1;
        loop {
            self.budget.acquire(registry).await;
            let mut request = http.get(url).header(ACCEPT, "application/json");
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request.send().await.map_err(|error| Error::Unreachable {
                registry: registry.to_owned(),
                reason: error_text::chain(&error),
            })?;
            let status = response.status().as_u16();
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
                    .map(str::to_owned)
            };
            let link = header(LINK);
            let retry_after = header(RETRY_AFTER);
            if status == 200 {
                return read_page(response, url, link).await;
            }
            if let Some(delay) = self.retry.delay(
                status,
                retry_after.as_deref(),
                attempt,
                jiff::Timestamp::now(),
            ) {
                tracing::debug!(url, status, ?delay, "retrying a tag list request");
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            let body: String = body.trim().chars().take(300).collect();
            return Err(match status {
                401 | 403 => Error::Unauthorized {
                    registry: registry.to_owned(),
                    reason: format!("{status} for {url}: {body}"),
                },
                _ => Error::Status {
                    url: url.to_owned(),
                    status,
                    body,
                },
            });
        }
    }

    /// The `Authorization` header value for `image`: a bearer token when the registry
    /// challenges for one, basic credentials when it asks for those, none when anonymous.
    async fn authorize(
        &self,
        image: &ImageName,
        connection: &Connection,
    ) -> Result<Option<String>, Error> {
        let oci = oci_client(image, connection)?;
        self.budget.acquire(&image.registry).await;
        let token = oci
            .auth(
                &image.with_tag("latest"),
                &connection.credentials.to_oci(),
                RegistryOperation::Pull,
            )
            .await
            .map_err(|error| oci_error(&image.registry, error))?;
        Ok(match (token, &connection.credentials) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Credentials::Basic { username, password }) => {
                Some(basic_authorization(username, password))
            }
            (None, Credentials::Anonymous) => None,
        })
    }

    async fn fetch_digest(
        &self,
        image: &ImageName,
        tag: &str,
        connection: &Connection,
    ) -> Result<String, Error> {
        let oci = oci_client(image, connection)?;
        let reference = image.with_tag(tag);
        let auth = connection.credentials.to_oci();
        let mut attempt = 1;
        loop {
            self.budget.acquire(&image.registry).await;
            match oci.fetch_manifest_digest(&reference, &auth).await {
                Ok(digest) => return Ok(digest),
                Err(oci_client::errors::OciDistributionError::ServerError { code, .. })
                    if self
                        .retry
                        .delay(code, None, attempt, jiff::Timestamp::now())
                        .is_some() =>
                {
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(oci_error(&image.registry, error)),
            }
        }
    }
}

async fn read_page(
    response: reqwest::Response,
    url: &str,
    link: Option<String>,
) -> Result<Page, Error> {
    let invalid = |reason: String| Error::InvalidAnswer {
        url: url.to_owned(),
        reason,
    };
    let body = response
        .bytes()
        .await
        .map_err(|error| invalid(error_text::chain(&error)))?;
    let page: TagPage =
        serde_json::from_slice(&body).map_err(|error| invalid(error.to_string()))?;
    Ok(Page {
        tags: page.tags.unwrap_or_default(),
        link,
    })
}

fn scheme(connection: &Connection) -> &'static str {
    if connection.insecure { "http" } else { "https" }
}

fn basic_authorization(username: &str, password: &str) -> String {
    use base64::Engine;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

fn transport_error(reason: impl std::fmt::Display) -> Error {
    Error::InvalidTransport {
        reason: reason.to_string(),
    }
}

/// The reqwest client of the tag list requests.
fn http_client(connection: &Connection) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!(
            "sluice-image-reflector/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(connection.timeout);
    if let Some(ca) = &connection.ca_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(ca).map_err(transport_error)?;
        builder = builder.tls_certs_merge(certificates);
    }
    if let Some(identity) = &connection.identity_pem {
        builder = builder.identity(reqwest::Identity::from_pem(identity).map_err(transport_error)?);
    }
    if let Some(proxy) = &connection.proxy {
        builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(transport_error)?);
    }
    builder.build().map_err(transport_error)
}

/// The oci-client of the auth exchange and digest lookups.
fn oci_client(image: &ImageName, connection: &Connection) -> Result<oci_client::Client, Error> {
    let config = ClientConfig {
        protocol: if connection.insecure {
            ClientProtocol::HttpsExcept(vec![image.registry.clone()])
        } else {
            ClientProtocol::Https
        },
        extra_root_certificates: connection
            .ca_pem
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        https_proxy: connection.proxy.clone(),
        http_proxy: connection.proxy.clone(),
        connect_timeout: Some(connection.timeout),
        ..ClientConfig::default()
    };
    oci_client::Client::try_from(config).map_err(transport_error)
}

fn oci_error(registry: &str, error: oci_client::errors::OciDistributionError) -> Error {
    use oci_client::errors::OciDistributionError as Oci;
    let reason = error.to_string();
    match error {
        Oci::RequestError(source) => Error::Unreachable {
            registry: registry.to_owned(),
            reason: error_text::chain(&source),
        },
        Oci::AuthenticationFailure(_) | Oci::UnauthorizedError { .. } => Error::Unauthorized {
            registry: registry.to_owned(),
            reason,
        },
        Oci::ServerError { code, url, message } => Error::Status {
            url,
            status: code,
            body: message,
        },
        _ => Error::InvalidAnswer {
            url: registry.to_owned(),
            reason,
        },
    }
}
