//! The JSON-over-HTTP calls the Gitea and GitLab clients share, with their errors mapped to
//! [`ForgeError`].

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ForgeError;

/// An authenticated client of one forge's REST API.
pub(super) struct RestClient {
    http: reqwest::Client,
    api: String,
    auth: (&'static str, String),
}

impl RestClient {
    /// A client of the API at `api` (e.g. `https://host/api/v1`) sending `auth` as a header.
    pub(super) fn new(
        api: String,
        auth: (&'static str, String),
        timeout: Duration,
    ) -> Result<Self, ForgeError> {
        sluice_runtime::logging::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| ForgeError::Unreachable {
                forge: api.clone(),
                message: error.to_string(),
            })?;
        Ok(RestClient { http, api, auth })
    }

    /// Reads `path` and decodes the answer as `T`; errors as [`RestClient::call`].
    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ForgeError> {
        self.call(Method::GET, path, None).await
    }

    /// Sends `body` (if any) to `path` and ignores the answer's body; errors as
    /// [`RestClient::call`].
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), ForgeError> {
        self.answer(method, path, body).await.map(|_| ())
    }

    /// Sends `body` (if any) to `path` and decodes the answer as `T` (an empty answer as JSON
    /// `null`). Errors: [`ForgeError::Unreachable`] when the request or the answer fails,
    /// [`ForgeError::Unauthorized`] on 401 and 403, [`ForgeError::Api`] on another error status
    /// or an answer that is not a `T`.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ForgeError> {
        let text = self.answer(method, path, body).await?;
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(text).map_err(|error| ForgeError::Api {
            forge: self.api.clone(),
            status: 200,
            message: format!("unexpected answer to {path}: {error}"),
        })
    }

    /// Sends `body` (if any) to `path` and returns the answer's text.
    async fn answer(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, ForgeError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header(self.auth.0, &self.auth.1);
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |error: reqwest::Error| ForgeError::Unreachable {
            forge: self.api.clone(),
            message: error.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        match status {
            status if status.is_success() => Ok(text),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ForgeError::Unauthorized {
                forge: self.api.clone(),
                message: text,
            }),
            status => Err(ForgeError::Api {
                forge: self.api.clone(),
                status: status.as_u16(),
                message: text,
            }),
        }
    }
}
