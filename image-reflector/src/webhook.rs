//! `POST /hooks/registry`: Docker distribution notification events (the `notifications`
//! endpoints of a registry's config) trigger an immediate scan of every ImageRepository of the
//! pushed image, without a separate Receiver object as Flux needs.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Deserialize;

use crate::api::ImageRepository;
use crate::reconcile::request;
use crate::registry::ImageName;

/// The route this module serves.
pub const PATH: &str = "/hooks/registry";

/// Why a notification could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not a distribution notification envelope.
    #[error("not a registry notification: {0}")]
    InvalidEnvelope(#[from] serde_json::Error),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Default, Deserialize)]
struct Target {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    url: String,
}

#[derive(Default, Deserialize)]
struct Request {
    #[serde(default)]
    host: String,
}

/// The canonical names of the images pushed in a notification `body` (events with action
/// `push`); the host is the request's `host`, else the host of the target URL.
///
/// Errors: [`Error::InvalidEnvelope`] when `body` is not an envelope of events.
pub fn pushed_images(body: &[u8]) -> Result<BTreeSet<String>, Error> {
    let envelope: Envelope = serde_json::from_slice(body)?;
    Ok(envelope
        .events
        .iter()
        .filter(|event| event.action == "push" && !event.target.repository.is_empty())
        .filter_map(|event| {
            let host = if event.request.host.is_empty() {
                url_host(&event.target.url)?
            } else {
                event.request.host.as_str()
            };
            ImageName::parse(&format!("{host}/{}", event.target.repository))
                .ok()
                .map(|image| image.canonical())
        })
        .collect())
}

fn url_host(url: &str) -> Option<&str> {
    url.split_once("://")?.1.split('/').next()
}

/// The router of [`PATH`], acting through `client`.
pub fn router(client: Client) -> Router {
    Router::new().route(PATH, post(receive)).with_state(client)
}

async fn receive(State(client): State<Client>, body: axum::body::Bytes) -> (StatusCode, String) {
    let images = match pushed_images(&body) {
        Ok(images) => images,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
    };
    if images.is_empty() {
        return (StatusCode::ACCEPTED, "no push events".into());
    }
    match request_scans(&client, &images).await {
        Ok(count) => (
            StatusCode::ACCEPTED,
            format!("scanning {count} ImageRepositories"),
        ),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

/// Requests a scan of every ImageRepository whose canonical image is in `images`; returns how
/// many were asked.
async fn request_scans(client: &Client, images: &BTreeSet<String>) -> Result<usize, kube::Error> {
    let repositories = Api::<ImageRepository>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let pushed = repositories.into_iter().filter(|repository| {
        ImageName::parse(&repository.spec.image)
            .is_ok_and(|image| images.contains(&image.canonical()))
    });
    Ok(request::request_scans(client, pushed).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_events_name_their_images() {
        let body = br#"{"events": [
            {"action": "push", "target": {"repository": "demo/app", "tag": "1.0.0",
             "url": "http://127.0.0.1:5000/v2/demo/app/manifests/sha256:abc"},
             "request": {"host": "127.0.0.1:5000"}},
            {"action": "pull", "target": {"repository": "demo/other"}, "request": {"host": "r.io"}},
            {"action": "push", "target": {"repository": "library/alpine",
             "url": "https://docker.io/v2/library/alpine/manifests/sha256:def"}}
        ]}"#;
        let images: Vec<_> = pushed_images(body).unwrap().into_iter().collect();
        assert_eq!(
            images,
            ["127.0.0.1:5000/demo/app", "index.docker.io/library/alpine"]
        );
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_refused() {
        assert!(pushed_images(b"not json").is_err());
        assert!(pushed_images(br#"{"events": 3}"#).is_err());
    }
}
