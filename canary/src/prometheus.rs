//! The Prometheus client of the metric checks, on `prometheus-http-query`: one instant query per
//! metric per tick, with Flagger's 5 s timeout (docs/canary.md §1.7). The last sample of a vector (or a
//! scalar) is the value; an empty vector or NaN is no data; a matrix is an error. The server's
//! address must pass the controller's [`AddressPolicy`] (see [`crate::address`]), and its answer
//! is read up to [`ANSWER_LIMIT`]; Prometheus' error messages are cut to [`MESSAGE_CHARS`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Response as HttpResponse;
use prometheus_http_query::response::{Data, PromqlResult};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use crate::address::{AddressError, AddressPolicy};

/// Flagger's timeout of a metric query.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (4 MiB); a query returning more fails.
pub const ANSWER_LIMIT: usize = 4 << 20;
/// How much of Prometheus' own error message is kept.
pub const MESSAGE_CHARS: usize = 300;

/// Why a query gave no value.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The address is not a URL, or the address policy refuses it.
    #[error(transparent)]
    Refused(#[from] AddressError),
    /// The address is not a URL.
    #[error("invalid Prometheus address {address:?}: {source}")]
    Address {
        /// The address.
        address: String,
        /// The parse error.
        #[source]
        source: prometheus_http_query::Error,
    },
    /// A header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    Header(String),
    /// Prometheus could not be reached.
    #[error("querying {address}: {source}")]
    Query {
        /// The server queried.
        address: String,
        /// The client's error.
        #[source]
        source: prometheus_http_query::Error,
    },
    /// Prometheus refused the query (for example a PromQL syntax error), or its answer is not a
    /// query result or longer than [`ANSWER_LIMIT`].
    #[error("querying {address}: {reason}")]
    Answer {
        /// The server queried.
        address: String,
        /// What is wrong, with at most [`MESSAGE_CHARS`] of Prometheus' message.
        reason: String,
    },
    /// The query returned a range vector, not one value (Flagger's `ErrMultipleValuesReturned`).
    #[error("the query returned a range vector, expected an instant vector or scalar")]
    RangeVector,
}

/// A Prometheus client shared by every check; cheap to clone.
#[derive(Clone)]
pub struct Prometheus {
    http: reqwest::Client,
    addresses: Arc<AddressPolicy>,
}

/// A query API answer: `{"status": "success", "data": ...}` or
/// `{"status": "error", "errorType": ..., "error": ...}`.
#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Answer {
    Success {
        data: PromqlResult,
    },
    Error {
        #[serde(default, rename = "errorType")]
        error_type: String,
        #[serde(default)]
        error: String,
    },
}

impl Prometheus {
    /// A client whose requests time out after [`QUERY_TIMEOUT`] and refuse the addresses
    /// `addresses` forbids.
    ///
    /// Errors: [`PrometheusError::Client`] when the TLS setup fails.
    pub fn new(addresses: &Arc<AddressPolicy>) -> Result<Self, PrometheusError> {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let http = addresses
            .client_builder()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(PrometheusError::Client)?;
        Ok(Self {
            http,
            addresses: addresses.clone(),
        })
    }

    /// Runs the instant `query` on the server at `address` with the extra `headers` and the
    /// `authorization` header (from [`crate::credentials`]), and returns its value, or `None` for
    /// an empty result or NaN.
    ///
    /// Errors: a refused or invalid address, an invalid header, an unreachable server, a refused
    /// query (the error carries the start of Prometheus' message), an answer over
    /// [`ANSWER_LIMIT`], a range vector.
    pub async fn instant_value(
        &self,
        address: &str,
        headers: &BTreeMap<String, Vec<String>>,
        authorization: Option<HeaderValue>,
        query: &str,
    ) -> Result<Option<f64>, PrometheusError> {
        self.addresses.check_text(address)?;
        let client =
            prometheus_http_query::Client::from(self.http.clone(), address).map_err(|source| {
                PrometheusError::Address {
                    address: address.to_owned(),
                    source,
                }
            })?;
        let mut request = client.query(collapse_whitespace(query));
        for (name, values) in headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| PrometheusError::Header(name.clone()))?;
            for value in values {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| PrometheusError::Header(name.to_string()))?;
                request = request.header(name.clone(), value);
            }
        }
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let response = request
            .get_raw()
            .await
            .map_err(|source| PrometheusError::Query {
                address: address.to_owned(),
                source,
            })?;
        let failed = |reason: String| PrometheusError::Answer {
            address: address.to_owned(),
            reason,
        };
        let status = response.status();
        let body = HttpResponse::from(response).into_body();
        let body = axum::body::to_bytes(axum::body::Body::new(body), ANSWER_LIMIT)
            .await
            .map_err(|error| {
                failed(format!(
                    "reading the answer (at most {ANSWER_LIMIT} bytes): {}",
                    sluice_runtime::error_text::chain(&error)
                ))
            })?;
        match serde_json::from_slice::<Answer>(&body) {
            Ok(Answer::Success { data }) => value_of(data.data()),
            Ok(Answer::Error { error_type, error }) => {
                Err(failed(format!("{error_type}: {}", cut(&error))))
            }
            Err(error) => Err(failed(format!(
                "{status}, not a query result ({error}): {}",
                cut(&String::from_utf8_lossy(&body))
            ))),
        }
    }
}

/// The first [`MESSAGE_CHARS`] characters of `text`, trimmed.
fn cut(text: &str) -> String {
    text.trim().chars().take(MESSAGE_CHARS).collect()
}

/// The value of a query result: the last series' sample, or the scalar; `None` when empty or NaN.
fn value_of(data: &Data) -> Result<Option<f64>, PrometheusError> {
    let value = match data {
        Data::Vector(series) => series.last().map(|vector| vector.sample().value()),
        Data::Scalar(sample) => Some(sample.value()),
        Data::Matrix(_) => return Err(PrometheusError::RangeVector),
    };
    Ok(value.filter(|value| !value.is_nan()))
}

/// The query on one line with runs of whitespace collapsed, as Flagger sends it.
fn collapse_whitespace(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_results_or_prometheus_errors() {
        let success = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1700000000,"0.25"]}]}}"#;
        match serde_json::from_slice::<Answer>(success).unwrap() {
            Answer::Success { data } => assert_eq!(value_of(data.data()).unwrap(), Some(0.25)),
            Answer::Error { .. } => panic!("a success"),
        }
        let refused = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(matches!(
            serde_json::from_slice::<Answer>(refused).unwrap(),
            Answer::Error { error_type, error } if error_type == "bad_data" && error == "parse error"
        ));
        assert_eq!(cut(&"x".repeat(1000)).len(), MESSAGE_CHARS);
    }

    #[tokio::test]
    async fn a_metadata_address_is_refused() {
        let prometheus = Prometheus::new(&Arc::default()).unwrap();
        let error = prometheus
            .instant_value(
                "http://169.254.169.254",
                &BTreeMap::new(),
                None,
                "vector(1)",
            )
            .await
            .unwrap_err();
        assert!(matches!(error, PrometheusError::Refused(_)), "{error}");
    }

    #[test]
    fn queries_are_sent_on_one_line() {
        assert_eq!(
            collapse_whitespace("sum(\n  rate(x[1m])\n)  / 2"),
            "sum( rate(x[1m]) ) / 2"
        );
    }
}
