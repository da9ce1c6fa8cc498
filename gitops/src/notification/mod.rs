//! Notifications: Providers (where events go: a Git host's commit statuses or a generic
//! webhook), Alerts (which events go there), and the delivery of the events Sluice's
//! controllers emit, as Flux's notification-controller, with Sluice's commit-status changes
//! (`pending` when an apply starts, every failure posted). Events come from controllers of this
//! process through a [`Notifier`], and from other processes (the canary controller) as Flux
//! event JSON on `POST /events`.

pub mod alert;
pub mod commit_status;
pub mod credentials;
pub mod dispatch;
pub mod event;
pub mod matching;
pub mod provider;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::sync::mpsc;

pub use dispatch::Notifier;
pub use event::{Event, InvolvedObject, Severity};

use crate::api::alert::Alert;
use crate::api::provider::Provider;
use sluice_runtime::Runtime;

/// The route other processes post events to: `POST /events` with a Flux event JSON body.
pub fn routes(notifier: Notifier) -> Router {
    Router::new()
        .route("/events", post(receive))
        .with_state(notifier)
}

async fn receive(
    State(notifier): State<Notifier>,
    axum::Json(event): axum::Json<Event>,
) -> StatusCode {
    notifier.publish(event);
    StatusCode::ACCEPTED
}

/// Runs the Provider and Alert controllers and the event dispatcher reading `events`, until
/// the runtime shuts down.
pub async fn run(runtime: &Runtime, events: mpsc::Receiver<Event>) {
    tokio::join!(
        runtime.run_controller::<Provider, _, _, _, _>((), provider::reconcile),
        runtime.run_controller::<Alert, _, _, _, _>((), alert::reconcile),
        dispatch::dispatch_events(runtime.client.clone(), events, runtime.shutdown.clone()),
    );
}
