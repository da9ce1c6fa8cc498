//! The requests a scan makes, on one reqwest client built from the connection's settings:
//!
//! - the auth handshake of the distribution spec: `GET /v2/`; a `Bearer` challenge (parsed by
//!   `http-auth`, as oci-client does) sends the credentials to the token server it names (its
//!   `realm`, on any host, as Docker and go-containerregistry do) for a `repository:<path>:pull`
//!   token; otherwise basic credentials go to the registry directly, or none;
//! - the tag list pages (`n`/`last`, or the `Link` header), each retried on 429 and 5xx;
//! - a tag's manifest digest: `HEAD` the manifest for `Docker-Content-Digest`, else `GET` it and
//!   hash it.
//!
//! Credentials only go to the registry's own origin (scheme, host and port): a `Link` to another
//! origin is followed without them, as go-containerregistry (Flux's registry library) does, its
//! transport adding `Authorization` only to requests for the registry it authenticated with;
//! reqwest drops `Authorization` when a redirect leaves the origin.
//!
//! Caps, so that a registry a tenant controls cannot exhaust the controller: a scan follows at
//! most [`MAX_PAGES`] pages and keeps at most [`MAX_TAGS`] tags of at most [`MAX_TAG_LENGTH`]
//! characters (Flux has no limit; more fails the scan with `TagListTooLong` and keeps the
//! previous scan); bodies are read up to [`TAG_PAGE_BODY_LIMIT`], [`TOKEN_BODY_LIMIT`],
//! [`MANIFEST_BODY_LIMIT`] and [`ERROR_BODY_LIMIT`]; and every operation stops at the
//! connection's timeout (`spec.timeout`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, LINK, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sluice_runtime::error_text;

use super::pagination::{NextPage, PAGE_SIZE, next_page};
use super::retry::RetryPolicy;
use super::{Credentials, Error, ImageName, RegistryBudget};

/// At most this many tag list pages are followed per scan.
pub const MAX_PAGES: usize = 1_000;
/// At most this many tags are kept per repository (before the exclusion list); a registry
/// listing more fails the scan.
pub const MAX_TAGS: usize = 100_000;
/// The longest tag, in bytes, as the OCI distribution spec's tag grammar allows.
pub const MAX_TAG_LENGTH: usize = 128;
/// The largest tag list page read (16 MiB: [`MAX_TAGS`] tags of [`MAX_TAG_LENGTH`] characters,
/// for registries that ignore `n`).
pub const TAG_PAGE_BODY_LIMIT: usize = 16 << 20;
/// The largest token server answer read (1 MiB).
pub const TOKEN_BODY_LIMIT: usize = 1 << 20;
/// The largest manifest read (4 MiB, the distribution registry's own limit).
pub const MANIFEST_BODY_LIMIT: usize = 4 << 20;
/// The most of an error answer read (4 KiB); its first 300 characters are reported.
pub const ERROR_BODY_LIMIT: usize = 4 << 10;

/// The manifest media types asked for, as oci-client's `MIME_TYPES_DISTRIBUTION_MANIFEST`.
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// How to reach one registry: everything an ImageRepository's spec and Secrets say.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// Talk plain HTTP (`spec.insecure`).
    pub insecure: bool,
    /// The credentials (`secretRef` or the service account's `imagePullSecrets`).
    pub credentials: Credentials,
    /// A PEM CA bundle trusted besides the system roots (`certSecretRef`'s `ca.crt`).
    pub ca_pem: Option<Vec<u8>>,
    /// A PEM client certificate followed by its key (`certSecretRef`'s `tls.crt` + `tls.key`).
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

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// One operation's view of a registry: its client, its origin and what to send there.
struct Session<'a> {
    http: reqwest::Client,
    image: &'a ImageName,
    /// `scheme://host[:port]` of the registry.
    base: Url,
    /// The `Authorization` value for the registry's origin, if any.
    authorization: Option<String>,
}

impl Session<'_> {
    /// The `Authorization` to send with a request to `url`: only to the registry's origin.
    fn authorization_for(&self, url: &Url) -> Option<&str> {
        (url.origin() == self.base.origin())
            .then_some(self.authorization.as_deref())
            .flatten()
    }
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
    /// Errors: [`Error::Timeout`] after `connection.timeout`; [`Error::TagListTooLong`] beyond
    /// [`MAX_PAGES`] or [`MAX_TAGS`]; [`Error::InvalidTransport`], [`Error::Unreachable`],
    /// [`Error::Unauthorized`], [`Error::Status`] (after retries) and [`Error::InvalidAnswer`]
    /// (including a body over its limit or a tag over [`MAX_TAG_LENGTH`]) as they happen.
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

    /// Builds the client and authenticates (see the module doc).
    async fn session<'a>(
        &self,
        image: &'a ImageName,
        connection: &Connection,
    ) -> Result<Session<'a>, Error> {
        let http = http_client(connection)?;
        let scheme = if connection.insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{}/", image.registry)).map_err(|error| {
            Error::InvalidImage {
                image: image.canonical(),
                reason: error.to_string(),
            }
        })?;
        let mut session = Session {
            http,
            image,
            base,
            authorization: None,
        };
        session.authorization = self.authorize(&session, &connection.credentials).await?;
        Ok(session)
    }

    /// The `Authorization` value for the registry: a bearer token when it challenges for one,
    /// the basic credentials otherwise, none when anonymous.
    async fn authorize(
        &self,
        session: &Session<'_>,
        credentials: &Credentials,
    ) -> Result<Option<String>, Error> {
        let basic = match credentials {
            Credentials::Basic { username, password } => {
                Some(basic_authorization(username, password))
            }
            Credentials::Anonymous => None,
        };
        let ping = join(&session.base, "v2/", session.image)?;
        self.budget.acquire(&session.image.registry).await;
        let answer = session
            .http
            .get(ping)
            .send()
            .await
            .map_err(|error| self.unreachable(session, &error))?;
        let challenge = answer
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(bearer_challenge);
        let Some((realm, service)) = challenge else {
            return Ok(basic);
        };
        let mut token_url = Url::parse(&realm).map_err(|error| Error::InvalidAnswer {
            url: session.base.to_string(),
            reason: format!("the token realm {realm:?} is not a URL: {error}"),
        })?;
        token_url.query_pairs_mut().append_pair(
            "scope",
            &format!("repository:{}:pull", session.image.repository),
        );
        if let Some(service) = service {
            token_url.query_pairs_mut().append_pair("service", &service);
        }
        let answer = self
            .send(session, Method::GET, &token_url, basic.as_deref(), None)
            .await?;
        let body = read_body(answer, &token_url, TOKEN_BODY_LIMIT).await?;
        let token: TokenAnswer =
            serde_json::from_slice(&body).map_err(|error| Error::InvalidAnswer {
                url: token_url.to_string(),
                reason: format!("not a token answer: {error}"),
            })?;
        token
            .token
            .or(token.access_token)
            .filter(|token| !token.is_empty())
            .map(|token| Some(format!("Bearer {token}")))
            .ok_or_else(|| Error::InvalidAnswer {
                url: token_url.to_string(),
                reason: "the token server answered no token".into(),
            })
    }

    async fn list_all_pages(
        &self,
        image: &ImageName,
        connection: &Connection,
    ) -> Result<Vec<String>, Error> {
        let session = self.session(image, connection).await?;
        let mut first = join(
            &session.base,
            &format!("v2/{}/tags/list", image.repository),
            image,
        )?;
        first
            .query_pairs_mut()
            .append_pair("n", &self.page_size.to_string());
        let mut url = first.clone();
        let mut asked_after: Option<String> = None;
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self
                .send(
                    &session,
                    Method::GET,
                    &url,
                    session.authorization_for(&url),
                    Some("application/json"),
                )
                .await?;
            let link = header_text(answer.headers(), LINK);
            let page = read_page(answer, &url).await?;
            let next = next_page(
                link.as_deref(),
                page.len(),
                page.last().map(String::as_str),
                self.page_size,
                asked_after.as_deref(),
            );
            tags.extend(page);
            if tags.len() > MAX_TAGS {
                return Err(too_long(image, MAX_TAGS, "tags"));
            }
            url = match next {
                NextPage::Link(target) => {
                    url.join(&target).map_err(|error| Error::InvalidAnswer {
                        url: url.to_string(),
                        reason: format!("the Link target {target:?} is not a URL: {error}"),
                    })?
                }
                NextPage::After(last) => {
                    let mut next = first.clone();
                    next.query_pairs_mut().append_pair("last", &last);
                    asked_after = Some(last);
                    next
                }
                NextPage::Done => return Ok(tags),
            };
        }
        Err(too_long(image, MAX_PAGES, "pages"))
    }

    async fn fetch_digest(
        &self,
        image: &ImageName,
        tag: &str,
        connection: &Connection,
    ) -> Result<String, Error> {
        let session = self.session(image, connection).await?;
        let url = join(
            &session.base,
            &format!("v2/{}/manifests/{tag}", image.repository),
            image,
        )?;
        let authorization = session.authorization_for(&url);
        let answer = self
            .send(
                &session,
                Method::HEAD,
                &url,
                authorization,
                Some(MANIFEST_TYPES),
            )
            .await?;
        if let Some(digest) = header_text(answer.headers(), "docker-content-digest") {
            return Ok(digest);
        }
        let answer = self
            .send(
                &session,
                Method::GET,
                &url,
                authorization,
                Some(MANIFEST_TYPES),
            )
            .await?;
        let manifest = read_body(answer, &url, MANIFEST_BODY_LIMIT).await?;
        let hex: String = Sha256::digest(&manifest)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(format!("sha256:{hex}"))
    }

    /// One request, retried on 429 and 5xx; returns a successful (2xx) answer.
    ///
    /// Errors: [`Error::Unreachable`] for a transport error, [`Error::Unauthorized`] for 401
    /// and 403, [`Error::Status`] for any other status, with the start of the body.
    async fn send(
        &self,
        session: &Session<'_>,
        method: Method,
        url: &Url,
        authorization: Option<&str>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        let registry = &session.image.registry;
        let mut attempt = 1;
        loop {
            self.budget.acquire(registry).await;
            let mut request = session.http.request(method.clone(), url.clone());
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            if let Some(value) = accept {
                request = request.header(ACCEPT, value);
            }
            let answer = request
                .send()
                .await
                .map_err(|error| self.unreachable(session, &error))?;
            let status = answer.status().as_u16();
            if answer.status().is_success() {
                return Ok(answer);
            }
            let retry_after = header_text(answer.headers(), RETRY_AFTER);
            if let Some(delay) = self.retry.delay(
                status,
                retry_after.as_deref(),
                attempt,
                jiff::Timestamp::now(),
            ) {
                tracing::debug!(%url, status, ?delay, "retrying a registry request");
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            let body = read_body(answer, url, ERROR_BODY_LIMIT)
                .await
                .unwrap_or_default();
            let body: String = String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(300)
                .collect();
            return Err(match status {
                401 | 403 => Error::Unauthorized {
                    registry: registry.to_owned(),
                    reason: format!("{status} for {url}: {body}"),
                },
                _ => Error::Status {
                    url: url.to_string(),
                    status,
                    body,
                },
            });
        }
    }

    fn unreachable(&self, session: &Session<'_>, error: &reqwest::Error) -> Error {
        Error::Unreachable {
            registry: session.image.registry.clone(),
            reason: error_text::chain(error),
        }
    }
}

/// `path` under the registry's `base`.
fn join(base: &Url, path: &str, image: &ImageName) -> Result<Url, Error> {
    base.join(path).map_err(|error| Error::InvalidImage {
        image: image.canonical(),
        reason: error.to_string(),
    })
}

fn too_long(image: &ImageName, limit: usize, unit: &'static str) -> Error {
    Error::TagListTooLong {
        image: image.canonical(),
        limit,
        unit,
    }
}

fn header_text(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The `realm` and `service` of a `Bearer` challenge in a `WWW-Authenticate` value.
fn bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    let challenges = http_auth::parse_challenges(header).ok()?;
    challenges
        .iter()
        .filter(|challenge| challenge.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|challenge| {
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.to_unescaped())
            };
            Some((param("realm")?, param("service")))
        })
}

/// Reads at most `limit` bytes of `answer`'s body.
///
/// Errors: [`Error::InvalidAnswer`] when the body is longer or cannot be read.
async fn read_body(answer: reqwest::Response, url: &Url, limit: usize) -> Result<Vec<u8>, Error> {
    let body = axum::body::Body::new(axum::http::Response::from(answer).into_body());
    axum::body::to_bytes(body, limit)
        .await
        .map(Vec::from)
        .map_err(|error| Error::InvalidAnswer {
            url: url.to_string(),
            reason: format!(
                "reading the answer (at most {limit} bytes): {}",
                error_text::chain(&error)
            ),
        })
}

/// The tags of one page.
async fn read_page(answer: reqwest::Response, url: &Url) -> Result<Vec<String>, Error> {
    let body = read_body(answer, url, TAG_PAGE_BODY_LIMIT).await?;
    let invalid = |reason: String| Error::InvalidAnswer {
        url: url.to_string(),
        reason,
    };
    let page: TagPage =
        serde_json::from_slice(&body).map_err(|error| invalid(error.to_string()))?;
    let tags = page.tags.unwrap_or_default();
    if let Some(tag) = tags.iter().find(|tag| tag.len() > MAX_TAG_LENGTH) {
        let start: String = tag.chars().take(40).collect();
        return Err(invalid(format!(
            "the tag '{start}...' is longer than {MAX_TAG_LENGTH} characters"
        )));
    }
    Ok(tags)
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

/// The reqwest client of one operation.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_name_their_realm_and_service() {
        let header = r#"Bearer realm="https://auth.r.io/token",service="r.io",scope="x""#;
        assert_eq!(
            bearer_challenge(header),
            Some(("https://auth.r.io/token".into(), Some("r.io".into())))
        );
        assert_eq!(bearer_challenge(r#"Basic realm="r.io""#), None);
        assert_eq!(bearer_challenge(r#"Bearer service="r.io""#), None);
    }

    #[test]
    fn credentials_go_to_the_registry_origin_only() {
        sluice_runtime::logging::install_crypto_provider();
        let image = ImageName::parse("127.0.0.1:5000/demo/app").unwrap();
        let session = Session {
            http: reqwest::Client::new(),
            image: &image,
            base: Url::parse("http://127.0.0.1:5000/").unwrap(),
            authorization: Some("Basic x".into()),
        };
        let url = |text: &str| Url::parse(text).unwrap();
        assert_eq!(
            session.authorization_for(&url("http://127.0.0.1:5000/v2/demo/app/tags/list")),
            Some("Basic x")
        );
        for other in [
            "http://127.0.0.1:5001/v2/demo/app/tags/list",
            "https://127.0.0.1:5000/v2/demo/app/tags/list",
            "http://localhost:5000/v2/demo/app/tags/list",
        ] {
            assert_eq!(session.authorization_for(&url(other)), None, "{other}");
        }
    }
}
