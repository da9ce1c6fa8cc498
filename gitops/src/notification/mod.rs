//! Notifications: Providers (where events go: a Git host's commit statuses or a generic
//! webhook), Alerts (which events go there), and the delivery of the events Sluice's
//! controllers emit, as Flux's notification-controller, with Sluice's commit-status changes
//! (`pending` when an apply starts, every failure posted). Events come from controllers of this
//! process through a [`Notifier`], and from other Sluice processes as Flux event JSON on
//! `POST /events`, authenticated as one of Sluice's ServiceAccounts and rate-limited per caller
//! ([`routes`]). No Sluice process posts there today: the canary results a Pipeline reports are
//! read from the Canaries by the Pipeline controller, in this process.

pub mod alert;
pub mod commit_status;
pub mod credentials;
pub mod dispatch;
pub mod event;
pub mod matching;
pub mod provider;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::sync::mpsc;

pub use dispatch::{Notifier, QueueError};
pub use event::{Event, InvolvedObject, Severity};

use crate::api::alert::Alert;
use crate::api::provider::Provider;
use sluice_runtime::Runtime;
use sluice_runtime::http_auth::{Caller, ServiceAccountAuth};

/// Events one caller may post to `POST /events` per second, once its burst is spent.
pub const EVENTS_PER_SECOND: u32 = 20;
/// Events one caller may post to `POST /events` at once.
pub const EVENTS_BURST: u32 = 100;

/// The route other Sluice processes post events to: `POST /events` with a Flux event JSON body.
/// Only Sluice's own ServiceAccounts are let in (`auth`: 401 without a valid token, 403 for any
/// other identity), each at most [`EVENTS_PER_SECOND`] events per second after a burst of
/// [`EVENTS_BURST`] (429 beyond); an event is answered 202 once queued, 503 when the queue is
/// full or closed (never dropped silently), 400 when the body is not an event.
pub fn routes(notifier: Notifier, auth: &ServiceAccountAuth) -> Router {
    let per_second = NonZeroU32::new(EVENTS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(EVENTS_BURST).unwrap_or(NonZeroU32::MIN);
    let endpoint = EventsEndpoint {
        notifier,
        callers: Arc::new(DefaultKeyedRateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        )),
    };
    auth.protect(
        Router::new()
            .route("/events", post(receive))
            .with_state(endpoint),
    )
}

/// The state of `POST /events`: where events go, and each caller's token bucket.
#[derive(Clone)]
struct EventsEndpoint {
    notifier: Notifier,
    callers: Arc<DefaultKeyedRateLimiter<String>>,
}

async fn receive(
    State(endpoint): State<EventsEndpoint>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let retry_later = |status: StatusCode, message: String| {
        (status, [(header::RETRY_AFTER, "1")], message).into_response()
    };
    if endpoint.callers.check_key(&caller.username).is_err() {
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} posts more than {EVENTS_PER_SECOND} events per second",
                caller.username
            ),
        );
    }
    let event = match Json::<Event>::from_bytes(&body) {
        Ok(Json(event)) => event,
        Err(rejection) => return rejection.into_response(),
    };
    match endpoint.notifier.offer(event) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => retry_later(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

/// Runs the Provider and Alert controllers and the event dispatcher reading `events`, until
/// the runtime shuts down.
pub async fn run(runtime: &Runtime, events: mpsc::Receiver<Event>) {
    tokio::join!(
        runtime.run_controller::<Provider, _, _, _, _>((), provider::reconcile),
        runtime.run_controller::<Alert, _, _, _, _>((), alert::reconcile),
        dispatch::dispatch_events(
            runtime.client.clone(),
            events,
            runtime.shutdown.clone(),
            runtime.options.cross_namespace(),
        ),
    );
}
