//! The Prometheus client of the metric checks, on `prometheus-http-query`: one instant query per
//! metric per tick, with Flagger's 5 s timeout (docs/canary.md §1.7). The last sample of a vector (or a
//! scalar) is the value; an empty vector or NaN is no data; a matrix is an error.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_http_query::response::Data;
use reqwest::header::{AUTHORIZATION, HeaderValue};

/// Flagger's timeout of a metric query.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a query gave no value.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
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
    /// Prometheus refused the query (for example a PromQL syntax error) or could not be reached.
    #[error("querying {address}: {source}")]
    Query {
        /// The server queried.
        address: String,
        /// The client's error, with Prometheus' own message when it answered.
        #[source]
        source: prometheus_http_query::Error,
    },
    /// The query returned a range vector, not one value (Flagger's `ErrMultipleValuesReturned`).
    #[error("the query returned a range vector, expected an instant vector or scalar")]
    RangeVector,
}

/// A Prometheus client shared by every check; cheap to clone.
#[derive(Clone)]
pub struct Prometheus {
    http: reqwest::Client,
}

impl Prometheus {
    /// A client whose requests time out after [`QUERY_TIMEOUT`].
    ///
    /// Errors: [`PrometheusError::Client`] when the TLS setup fails.
    pub fn new() -> Result<Self, PrometheusError> {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(PrometheusError::Client)?;
        Ok(Self { http })
    }

    /// Runs the instant `query` on the server at `address` with the extra `headers` and the
    /// `authorization` header (from [`crate::credentials`]), and returns its value, or `None` for
    /// an empty result or NaN.
    ///
    /// Errors: an invalid address or header, an unreachable server, a refused query (the error
    /// carries Prometheus' message), a range vector.
    pub async fn instant_value(
        &self,
        address: &str,
        headers: &BTreeMap<String, Vec<String>>,
        authorization: Option<HeaderValue>,
        query: &str,
    ) -> Result<Option<f64>, PrometheusError> {
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
            .get()
            .await
            .map_err(|source| PrometheusError::Query {
                address: address.to_owned(),
                source,
            })?;
        value_of(response.data())
    }
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
    fn queries_are_sent_on_one_line() {
        assert_eq!(
            collapse_whitespace("sum(\n  rate(x[1m])\n)  / 2"),
            "sum( rate(x[1m]) ) / 2"
        );
    }
}
