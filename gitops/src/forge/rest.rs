//! The JSON-over-HTTP calls the Gitea and GitLab clients share, with their errors mapped to
//! [`ForgeError`]; no answer is read past [`MAX_ANSWER_BYTES`].

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ForgeError, MAX_ANSWER_BYTES};

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
        let text = read_capped(response).await.map_err(|error| match error {
            CappedRead::Failed(error) => unreachable(error),
            CappedRead::TooLarge => ForgeError::Api {
                forge: self.api.clone(),
                status: status.as_u16(),
                message: format!("{path}: the answer is larger than {MAX_ANSWER_BYTES} bytes"),
            },
        })?;
        match status {
            status if status.is_success() => Ok(text),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ForgeError::Unauthorized {
                forge: self.api.clone(),
                message: excerpt(&text),
            }),
            status => Err(ForgeError::Api {
                forge: self.api.clone(),
                status: status.as_u16(),
                message: excerpt(&text),
            }),
        }
    }
}

/// The longest part of an error answer kept in a [`ForgeError`], in characters: it ends up in a
/// Ready condition.
const ERROR_EXCERPT_CHARS: usize = 1024;

/// The first [`ERROR_EXCERPT_CHARS`] characters of `text`, with `…` when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(ERROR_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Why an answer's body was not read.
enum CappedRead {
    /// The connection failed or timed out.
    Failed(reqwest::Error),
    /// The body is longer than [`MAX_ANSWER_BYTES`]; the rest was not read.
    TooLarge,
}

/// The body of `response` as text (invalid UTF-8 replaced), read chunk by chunk and abandoned
/// as soon as it passes [`MAX_ANSWER_BYTES`] (or announces more).
async fn read_capped(mut response: reqwest::Response) -> Result<String, CappedRead> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(CappedRead::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedRead::Failed)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CappedRead::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_cut_to_an_excerpt() {
        assert_eq!(excerpt("not found"), "not found");
        let long = "é".repeat(ERROR_EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), ERROR_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
