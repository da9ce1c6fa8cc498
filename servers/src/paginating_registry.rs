//! A fake: a small front for the real `docker-registry` (which ignores `n`/`last` and sends no
//! `Link`) that pages tag lists as the OCI distribution spec says — sorted tags, at most
//! `page_cap` per page, after `last`, with a `Link: <...>; rel="next"` header when more remain —
//! and proxies every other request unchanged. It counts tag list requests, and can answer the
//! first one `429 Too Many Requests` with `Retry-After: 1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::HarnessError;

/// How the front pages and misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct Paging {
    /// The most tags one page holds, whatever `n` asks.
    pub page_cap: usize,
    /// Send `Link` headers (else only honour `n`/`last`).
    pub link: bool,
    /// Answer the first tag list request with 429 and `Retry-After: 1`.
    pub throttle_first: bool,
}

/// A running front; stopped on drop.
pub struct PaginatingRegistry {
    /// `127.0.0.1:<port>`, the host part of image references through the front.
    pub address: String,
    state: Arc<Front>,
    task: tokio::task::JoinHandle<()>,
}

struct Front {
    upstream: String,
    paging: Paging,
    http: reqwest::Client,
    tag_lists: AtomicUsize,
}

impl PaginatingRegistry {
    /// Starts a front for the registry at `upstream` (`host:port`, plain HTTP).
    ///
    /// Errors: the listener could not be bound.
    pub async fn start(upstream: &str, paging: Paging) -> Result<PaginatingRegistry, HarnessError> {
        let io = |source| HarnessError::Io {
            what: "binding the paginating registry".into(),
            source,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io)?;
        let address = listener.local_addr().map_err(io)?.to_string();
        let state = Arc::new(Front {
            upstream: upstream.to_owned(),
            paging,
            http: reqwest::Client::new(),
            tag_lists: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(serve).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _stopped = axum::serve(listener, app).await;
        });
        Ok(PaginatingRegistry {
            address,
            state,
            task,
        })
    }

    /// How many tag list requests arrived so far (throttled ones included).
    pub fn tag_list_requests(&self) -> usize {
        self.state.tag_lists.load(Ordering::SeqCst)
    }
}

impl Drop for PaginatingRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(front): State<Arc<Front>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let path = uri.path();
    let upstream_path = if path.ends_with("/tags/list") {
        let seen = front.tag_lists.fetch_add(1, Ordering::SeqCst);
        if front.paging.throttle_first && seen == 0 {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response();
        }
        path.to_owned()
    } else {
        uri.path_and_query()
            .map_or(path, |pq| pq.as_str())
            .to_owned()
    };
    let mut request = front
        .http
        .request(method, format!("http://{}{upstream_path}", front.upstream));
    for (name, value) in &headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    if path.ends_with("/tags/list") && status == StatusCode::OK {
        return page(&front.paging, path, &query, &body);
    }
    let mut response = (status, body).into_response();
    for (name, value) in &answer_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// One page of the upstream's full tag list `body`.
fn page(paging: &Paging, path: &str, query: &[(String, String)], body: &Bytes) -> Response {
    let param = |key: &str| {
        query
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
    };
    let listing: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let mut tags: Vec<String> = listing["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tag| tag.as_str().map(str::to_owned))
        .collect();
    tags.sort();
    let size = param("n")
        .and_then(|n| n.parse().ok())
        .map_or(paging.page_cap, |n: usize| n.min(paging.page_cap));
    let after = param("last");
    let remaining: Vec<String> = tags
        .into_iter()
        .filter(|tag| after.as_ref().is_none_or(|last| tag > last))
        .collect();
    let shown = &remaining[..size.min(remaining.len())];
    let mut headers = HeaderMap::new();
    if paging.link
        && remaining.len() > shown.len()
        && let Some(last) = shown.last()
        && let Ok(value) = format!("<{path}?n={size}&last={last}>; rel=\"next\"").parse()
    {
        headers.insert("link", value);
    }
    let page = serde_json::json!({"name": listing["name"], "tags": shown});
    (headers, axum::Json(page)).into_response()
}
