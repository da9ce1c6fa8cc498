//! Talking to container registries: listing an image's tags (every page) and looking up a tag's
//! manifest digest, with anonymous, basic and bearer-token auth, retries of 429 and 5xx honouring
//! `Retry-After`, and a request budget per registry host.
//!
//! - [`image_name`]: `spec.image` -> registry host, repository, canonical name.
//! - [`credentials`]: credentials from a `kubernetes.io/dockerconfigjson` Secret.
//! - [`pagination`]: `Link` headers and `n`/`last`.
//! - [`retry`]: which failures are retried, after how long.
//! - [`budget`]: the per-host token bucket (`--registry-qps`).
//! - [`client`]: the requests themselves: auth, tag list pages, digests, and their caps.

pub mod budget;
pub mod client;
pub mod credentials;
pub mod image_name;
pub mod pagination;
pub mod retry;

pub use budget::RegistryBudget;
pub use client::{Connection, RegistryClient};
pub use credentials::Credentials;
pub use image_name::ImageName;

/// Why talking to a registry failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.image` is not a repository address without tag.
    #[error("invalid image '{image}': {reason}")]
    InvalidImage {
        /// The image as written.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The credentials Secret is malformed.
    #[error("invalid registry credentials: {reason}")]
    InvalidCredentials {
        /// What is wrong.
        reason: String,
    },
    /// A certificate, key or proxy setting could not be used.
    #[error("invalid TLS or proxy settings: {reason}")]
    InvalidTransport {
        /// What is wrong.
        reason: String,
    },
    /// `--registry-qps` is not a positive number.
    #[error(
        "invalid registry request budget {qps} (must be a positive number of requests per second)"
    )]
    InvalidBudget {
        /// The rate given.
        qps: f64,
    },
    /// The registry or its token server could not be reached.
    #[error("registry {registry} unreachable: {reason}")]
    Unreachable {
        /// The registry host.
        registry: String,
        /// The transport error.
        reason: String,
    },
    /// The registry refused the credentials (401, 403, or the token server refused).
    #[error("registry {registry} refused access: {reason}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The registry's answer.
        reason: String,
    },
    /// The registry answered with an unexpected status, after any retries.
    #[error("registry answered {status} for {url}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The registry's answer is not a tag list or digest.
    #[error("unexpected answer from {url}: {reason}")]
    InvalidAnswer {
        /// The request URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry lists more tags, or in more pages, than a scan keeps ([`client::MAX_TAGS`],
    /// [`client::MAX_PAGES`]); nothing of this scan is stored.
    #[error(
        "the tag list of {image} is longer than Sluice keeps (more than {limit} {unit}); \
         nothing of this scan was stored"
    )]
    TagListTooLong {
        /// The canonical image name.
        image: String,
        /// The limit passed.
        limit: usize,
        /// `tags` or `pages`.
        unit: &'static str,
    },
    /// The scan did not finish within `spec.timeout`.
    #[error("scanning {image} timed out after {seconds}s")]
    Timeout {
        /// The canonical image name.
        image: String,
        /// The timeout in seconds.
        seconds: u64,
    },
}

impl Error {
    /// Whether only a change of the spec can fix this error, so retrying is pointless: an
    /// invalid image reference or budget. (Bad Secrets are retried with backoff: Secrets are not
    /// watched, so a fixed Secret must be picked up by a retry.)
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Error::InvalidImage { .. } | Error::InvalidBudget { .. }
        )
    }

    /// A CamelCase condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidImage { .. } => "InvalidImage",
            Error::InvalidCredentials { .. } => "InvalidCredentials",
            Error::InvalidTransport { .. } => "InvalidTransportSettings",
            Error::InvalidBudget { .. } => "InvalidRegistryBudget",
            Error::Unreachable { .. } => "RegistryUnreachable",
            Error::Unauthorized { .. } => "AuthenticationFailed",
            Error::Status { .. } | Error::InvalidAnswer { .. } => "ReadOperationFailed",
            Error::TagListTooLong { .. } => "TagListTooLong",
            Error::Timeout { .. } => "ScanTimeout",
        }
    }
}
