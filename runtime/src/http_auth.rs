//! Authentication of the endpoints Sluice's controllers serve to each other (the core
//! controller's `POST /events` and its artifacts): a caller sends `Authorization: Bearer
//! <token>`, the API server reviews the token (a TokenReview, `authentication.k8s.io/v1`, as
//! kube-rbac-proxy and controller-runtime's metrics authentication filter do), and the caller is
//! let in only when it is a ServiceAccount of the runtime namespace
//! (`system:serviceaccount:<--leader-election-namespace>:<name>`, i.e. one of Sluice's own
//! controllers), never a tenant's ServiceAccount or a user.
//!
//! Refusals: 401 without a bearer token or with one the API server does not authenticate, 403
//! for any other authenticated identity, 429 when one peer address asks for too many reviews of
//! tokens not seen before, 503 when the API server cannot review.
//!
//! The identity a review returns is cached for [`REVIEW_TTL`] by the SHA-256 of the token (the
//! token itself is never kept, logged or echoed), so a caller's steady traffic costs one
//! TokenReview a minute and a flood with one token costs one; tokens not cached cost one review
//! each, at most [`REVIEWS_PER_SECOND`] per second (burst [`REVIEW_BURST`]) per peer address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Client;
use kube::api::{Api, PostParams};
use mini_moka::sync::Cache;
use sha2::{Digest, Sha256};

/// How long the identity a TokenReview returned is trusted for the same token.
pub const REVIEW_TTL: Duration = Duration::from_secs(60);
/// TokenReviews per second one peer address may cause with tokens not cached.
pub const REVIEWS_PER_SECOND: u32 = 5;
/// How many such reviews one peer address may cause at once.
pub const REVIEW_BURST: u32 = 10;
/// How many token digests the review cache holds.
const CACHED_TOKENS: u64 = 10_000;
/// Above this many peers, the per-peer limiter forgets the ones whose bucket is full again.
const REMEMBERED_PEERS: usize = 10_000;
/// The username prefix of ServiceAccounts, as the API server authenticates them.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// A caller let in: a ServiceAccount of the runtime namespace. The middleware of
/// [`ServiceAccountAuth::protect`] inserts it in the request's extensions, so a handler can take
/// it with `Extension<Caller>` (e.g. to rate-limit per caller).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The authenticated username, `system:serviceaccount:<namespace>:<name>`.
    pub username: String,
}

/// Why a request was refused; its [`Refusal::status`] is the HTTP answer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization: Bearer <token>` header (401).
    #[error("no bearer token")]
    MissingToken,
    /// The API server did not authenticate the token (401).
    #[error("the token is not valid")]
    Unauthenticated,
    /// Authenticated, but not as a ServiceAccount of the runtime namespace (403).
    #[error("{username} is not a ServiceAccount of {namespace}")]
    Forbidden {
        /// Who the token authenticated as.
        username: String,
        /// The runtime namespace.
        namespace: String,
    },
    /// The peer asked for more than [`REVIEWS_PER_SECOND`] reviews of new tokens (429).
    #[error("too many token reviews from this address")]
    TooManyReviews,
    /// The TokenReview could not be made (503); the message is the API error.
    #[error("reviewing the token: {0}")]
    ReviewFailed(String),
}

impl Refusal {
    /// The HTTP status of the refusal: 401, 403, 429 or 503.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::MissingToken | Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden { .. } => StatusCode::FORBIDDEN,
            Refusal::TooManyReviews => StatusCode::TOO_MANY_REQUESTS,
            Refusal::ReviewFailed(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for Refusal {
    /// The status with a one-line reason; 401 carries `WWW-Authenticate: Bearer` (RFC 6750). The
    /// API error of a failed review is logged, not sent.
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Refusal::ReviewFailed(_) => "the token cannot be reviewed now".to_owned(),
            other => other.to_string(),
        };
        if status == StatusCode::UNAUTHORIZED {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

/// The token of the request's `Authorization: Bearer <token>` header (scheme case-insensitive,
/// as RFC 6750).
///
/// Errors: [`Refusal::MissingToken`] when there is no such header or the token is empty.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, Refusal> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(Refusal::MissingToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(Refusal::MissingToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Refusal::MissingToken);
    }
    Ok(token)
}

/// Lets in `username` (as a TokenReview authenticated it) when it is a ServiceAccount of
/// `namespace`: `system:serviceaccount:<namespace>:<name>` with a non-empty name.
///
/// Errors: [`Refusal::Forbidden`] for any other username.
pub fn admit(username: &str, namespace: &str) -> Result<Caller, Refusal> {
    let account = username
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.split_once(':'));
    match account {
        Some((account_namespace, name))
            if account_namespace == namespace && !name.is_empty() && !name.contains(':') =>
        {
            Ok(Caller {
                username: username.to_owned(),
            })
        }
        _ => Err(Refusal::Forbidden {
            username: username.to_owned(),
            namespace: namespace.to_owned(),
        }),
    }
}

/// Authenticates callers as ServiceAccounts of the runtime namespace through TokenReviews.
/// Cheap to clone; clones share the cache and the limiter.
#[derive(Clone)]
pub struct ServiceAccountAuth {
    inner: Arc<Inner>,
}

struct Inner {
    reviews: Api<TokenReview>,
    namespace: String,
    reviewed: Cache<[u8; 32], String>,
    peers: DefaultKeyedRateLimiter<IpAddr>,
}

impl ServiceAccountAuth {
    /// Lets in the ServiceAccounts of `namespace` (the runtime namespace,
    /// `--leader-election-namespace`), reviewing tokens with `client` (which needs `create` on
    /// `tokenreviews.authentication.k8s.io`).
    pub fn new(client: Client, namespace: &str) -> Self {
        let per_second = NonZeroU32::new(REVIEWS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(REVIEW_BURST).unwrap_or(NonZeroU32::MIN);
        ServiceAccountAuth {
            inner: Arc::new(Inner {
                reviews: Api::all(client),
                namespace: namespace.to_owned(),
                reviewed: Cache::builder()
                    .max_capacity(CACHED_TOKENS)
                    .time_to_live(REVIEW_TTL)
                    .build(),
                peers: DefaultKeyedRateLimiter::keyed(
                    Quota::per_second(per_second).allow_burst(burst),
                ),
            }),
        }
    }

    /// `router` with every one of its routes requiring a caller let in by
    /// [`ServiceAccountAuth::authenticate`]; a refused request gets the [`Refusal`]'s status and
    /// never reaches the handler (nor has its body read). Paths the router does not serve stay
    /// 404.
    pub fn protect<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.route_layer(axum::middleware::from_fn_with_state(self.clone(), require))
    }

    /// The caller of a request with `headers`, sent from `peer` (`None` when unknown: all such
    /// requests share one review budget).
    ///
    /// Errors: the [`Refusal`] to answer with.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Caller, Refusal> {
        let token = bearer_token(headers)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let username = match self.inner.reviewed.get(&digest) {
            Some(username) => username,
            None => {
                self.spend_review(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))?;
                let username = self.review(token).await?;
                self.inner.reviewed.insert(digest, username.clone());
                username
            }
        };
        admit(&username, &self.inner.namespace)
    }

    fn spend_review(&self, peer: IpAddr) -> Result<(), Refusal> {
        let peers = &self.inner.peers;
        if peers.len() > REMEMBERED_PEERS {
            peers.retain_recent();
        }
        peers.check_key(&peer).map_err(|_| Refusal::TooManyReviews)
    }

    /// The username the API server authenticates `token` as.
    async fn review(&self, token: &str) -> Result<String, Refusal> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let answer = self
            .inner
            .reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| Refusal::ReviewFailed(error.to_string()))?;
        let status = answer.status.unwrap_or_default();
        match (
            status.authenticated,
            status.user.and_then(|user| user.username),
        ) {
            (Some(true), Some(username)) => Ok(username),
            _ => Err(Refusal::Unauthenticated),
        }
    }
}

/// The middleware of [`ServiceAccountAuth::protect`].
async fn require(
    State(auth): State<ServiceAccountAuth>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    match auth.authenticate(request.headers(), peer).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => {
            let path = request.uri().path();
            if let Refusal::ReviewFailed(error) = &refusal {
                tracing::warn!(%path, %error, "TokenReview failed, request refused");
            } else {
                tracing::debug!(%path, ?peer, %refusal, "request refused");
            }
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_a_bearer_token_is_read() {
        assert_eq!(
            bearer_token(&with_authorization("Bearer abc.def")),
            Ok("abc.def")
        );
        assert_eq!(bearer_token(&with_authorization("bearer  abc ")), Ok("abc"));
        for refused in ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer", "abc"] {
            assert_eq!(
                bearer_token(&with_authorization(refused)),
                Err(Refusal::MissingToken),
                "{refused}"
            );
        }
        assert_eq!(bearer_token(&HeaderMap::new()), Err(Refusal::MissingToken));
    }

    #[test]
    fn only_service_accounts_of_the_runtime_namespace_are_let_in() {
        let namespace = "sluice-system";
        assert_eq!(
            admit(
                "system:serviceaccount:sluice-system:sluice-canary",
                namespace
            ),
            Ok(Caller {
                username: "system:serviceaccount:sluice-system:sluice-canary".into()
            })
        );
        for refused in [
            "system:serviceaccount:tenant-a:reconciler",
            "system:serviceaccount:sluice-system-evil:sluice-core",
            "system:serviceaccount:sluice-system:",
            "system:serviceaccount:sluice-system:a:b",
            "system:serviceaccount:sluice-system",
            "admin",
            "sluice-system:sluice-core",
            "system:node:sluice-system",
        ] {
            assert!(
                matches!(admit(refused, namespace), Err(Refusal::Forbidden { .. })),
                "{refused}"
            );
        }
    }

    #[test]
    fn refusals_answer_401_403_429_and_503() {
        assert_eq!(Refusal::MissingToken.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Refusal::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        let forbidden = Refusal::Forbidden {
            username: "u".into(),
            namespace: "n".into(),
        };
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Refusal::TooManyReviews.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let failed = Refusal::ReviewFailed("connection refused".into()).into_response();
        assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
        let unauthenticated = Refusal::Unauthenticated.into_response();
        assert_eq!(
            unauthenticated.headers()[header::WWW_AUTHENTICATE],
            "Bearer"
        );
    }
}
