//! Registry webhooks: `POST /hooks/registry/<digest>` scans one ImageRepository at once.
//!
//! An ImageRepository opts in with `spec.webhookSecretRef`, a Secret holding a `token`; its hook
//! path is `/hooks/registry/` and the hex SHA-256 of `token + name + namespace` ([`webhook_path`]),
//! as Flux's Receiver derives `status.webhookPath`, published in the repository's
//! `status.webhookPath`. The path is the credential: only that path triggers that repository,
//! and no other. The reconciler registers each repository's path in [`Hooks`], an in-memory
//! index (the tag store's collection removes deleted repositories), so a call costs one hash
//! lookup, never a listing; an unknown path answers 404 before its body is read.
//!
//! A known path is rate limited (governor, [`HOOK_RATE_PER_SECOND`] with a burst of
//! [`HOOK_BURST`]; more answers 429) and debounced: the first accepted call schedules a scan
//! [`DEBOUNCE`] later, and the calls until then join it, so a burst of pushes makes one scan. The
//! body is a Docker distribution notification envelope (a registry's `notifications`
//! endpoint): it triggers when one of its `push` events names this repository's path (the host
//! is not compared: registries name themselves as their clients reach them); an empty body
//! triggers too, as Flux's `generic` Receiver does for any call.
//!
//! Only the leader's controllers register paths: with several replicas, the other replicas
//! answer 404.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use governor::{DefaultKeyedRateLimiter, Quota};
use kube::{Api, Client};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::ImageRepository;
use crate::reconcile::request::request_reconcile;
use crate::store::{Stale, object_key};

/// The prefix of every hook path; the route is `/hooks/registry/{digest}`.
pub const PATH_PREFIX: &str = "/hooks/registry/";
/// Calls to one hook within this delay of the first make one scan.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// Calls per second one hook path accepts on average.
pub const HOOK_RATE_PER_SECOND: u32 = 2;
/// Calls one hook path accepts at once before the rate applies.
pub const HOOK_BURST: u32 = 10;
/// The largest notification body read (1 MiB); a longer one answers 413.
pub const BODY_LIMIT: usize = 1 << 20;

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
    target: Pushed,
}

/// The `target` of a notification event.
#[derive(Default, Deserialize)]
struct Pushed {
    #[serde(default)]
    repository: String,
}

/// The hook path of the ImageRepository `namespace/name` whose `webhookSecretRef` holds `token`:
/// [`PATH_PREFIX`] and the lowercase hex SHA-256 of `token + name + namespace`, as Flux's
/// Receiver `GetWebhookPath` (with `/hooks/registry/` for Flux's `/hook/`).
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{token}{name}{namespace}").as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{PATH_PREFIX}{hex}")
}

/// Whether a call with `body` asks for a scan of `repository` (a path in its registry, e.g.
/// `demo/app`): an empty body does (a generic trigger); an envelope does when one of its events
/// is a `push` to `repository`; pulls and pushes of other repositories do not.
///
/// Errors: [`Error::InvalidEnvelope`] when a non-empty `body` is not an envelope of events.
pub fn triggers(body: &[u8], repository: &str) -> Result<bool, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    let envelope: Envelope = serde_json::from_slice(body)?;
    Ok(envelope
        .events
        .iter()
        .any(|event| event.action == "push" && event.target.repository == repository))
}

/// One registered hook: what a call to its path scans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// The hook path, as [`webhook_path`] derives it.
    pub path: String,
    /// The repository's path in its registry (`ImageName::repository`), matched against the
    /// notification's push events.
    pub repository: String,
}

/// The ImageRepository a hook path scans.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    namespace: String,
    name: String,
    repository: String,
}

#[derive(Default)]
struct Index {
    /// Hook path -> the repository it scans.
    by_path: HashMap<String, Target>,
    /// `namespace/name` -> its hook path and when it was registered (milliseconds since the
    /// Unix epoch).
    by_key: HashMap<String, (String, i64)>,
}

impl Index {
    fn remove_key(&mut self, key: &str) {
        if let Some((path, _)) = self.by_key.remove(key) {
            self.by_path.remove(&path);
        }
    }
}

/// The registered hooks, their rate limits and the scans they scheduled; one per process.
pub struct Hooks {
    index: Mutex<Index>,
    limiter: DefaultKeyedRateLimiter<String>,
    scheduled: Mutex<HashSet<String>>,
}

impl Default for Hooks {
    /// No hooks yet; [`DEBOUNCE`], [`HOOK_RATE_PER_SECOND`] and [`HOOK_BURST`].
    fn default() -> Self {
        let positive = |count| NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
        let quota =
            Quota::per_second(positive(HOOK_RATE_PER_SECOND)).allow_burst(positive(HOOK_BURST));
        Hooks {
            index: Mutex::default(),
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            scheduled: Mutex::default(),
        }
    }
}

impl Hooks {
    /// Records that the ImageRepository `namespace/name` has `hook` (or none, which removes its
    /// previous one), at `now_ms` (milliseconds since the Unix epoch).
    pub fn register(&self, namespace: &str, name: &str, hook: Option<Hook>, now_ms: i64) {
        let key = object_key(namespace, name);
        let mut index = lock(&self.index);
        index.remove_key(&key);
        if let Some(hook) = hook {
            let target = Target {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                repository: hook.repository,
            };
            // A path names one object (the digest covers its name and namespace): a stale owner
            // of the same path is replaced.
            if let Some(previous) = index.by_path.insert(hook.path.clone(), target) {
                index
                    .by_key
                    .remove(&object_key(&previous.namespace, &previous.name));
            }
            index.by_key.insert(key, (hook.path, now_ms));
        }
    }

    /// Removes the hooks of deleted ImageRepositories, as the tag store's collection says
    /// ([`crate::store_gc`]): those of `stale` registered before `before_ms`.
    pub fn collect(&self, stale: &Stale, before_ms: i64) {
        let mut index = lock(&self.index);
        let gone: Vec<String> = index
            .by_key
            .iter()
            .filter(|(key, (_, registered))| {
                *registered < before_ms
                    && match stale {
                        Stale::Key(stale) => *key == stale,
                        Stale::AllBut(live) => !live.contains(*key),
                    }
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            index.remove_key(&key);
        }
        drop(index);
        self.limiter.retain_recent();
    }

    fn lookup(&self, path: &str) -> Option<Target> {
        lock(&self.index).by_path.get(path).cloned()
    }

    /// Whether a scan of `key` must be scheduled now (none is pending); marks it pending.
    fn schedule(&self, key: &str) -> bool {
        lock(&self.scheduled).insert(key.to_owned())
    }

    fn unschedule(&self, key: &str) {
        lock(&self.scheduled).remove(key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone)]
struct Receiver {
    client: Client,
    hooks: Arc<Hooks>,
}

/// The router of `POST /hooks/registry/{digest}`, scanning through `client` the repositories
/// `hooks` registers.
pub fn router(client: Client, hooks: Arc<Hooks>) -> Router {
    Router::new()
        .route("/hooks/registry/{digest}", post(receive))
        .with_state(Receiver { client, hooks })
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(digest): Path<String>,
    body: Body,
) -> (StatusCode, String) {
    let path = format!("{PATH_PREFIX}{digest}");
    let Some(target) = receiver.hooks.lookup(&path) else {
        return (StatusCode::NOT_FOUND, "no such hook".into());
    };
    if receiver.hooks.limiter.check_key(&path).is_err() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!("more than {HOOK_RATE_PER_SECOND} calls per second to this hook"),
        );
    }
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("reading the body (at most {BODY_LIMIT} bytes): {error}"),
            );
        }
    };
    match triggers(&body, &target.repository) {
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
        Ok(false) => {
            return (
                StatusCode::ACCEPTED,
                format!("no push of {} in this notification", target.repository),
            );
        }
        Ok(true) => {}
    }
    let key = object_key(&target.namespace, &target.name);
    if !receiver.hooks.schedule(&key) {
        return (StatusCode::ACCEPTED, "a scan is already scheduled".into());
    }
    tokio::spawn(async move {
        tokio::time::sleep(DEBOUNCE).await;
        receiver.hooks.unschedule(&key);
        let api: Api<ImageRepository> = Api::namespaced(receiver.client, &target.namespace);
        if let Err(error) = request_reconcile(&api, &target.name).await {
            tracing::warn!(%error, repository = %key, "requesting a scan from a webhook failed");
        }
    });
    (StatusCode::ACCEPTED, "scan scheduled".into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn hook(path: &str) -> Option<Hook> {
        Some(Hook {
            path: path.into(),
            repository: "demo/app".into(),
        })
    }

    #[test]
    fn the_path_is_fluxs_receiver_digest() {
        // Flux: sha256sum(token + name + namespace), here of "s3cretappteam".
        assert_eq!(
            webhook_path("s3cret", "app", "team"),
            "/hooks/registry/c91d18e35d6a1c2877a18f1975467c4ffa3ee83b905a5741e6ebc04595e867cf"
        );
        assert_ne!(
            webhook_path("s3cret", "app", "team"),
            webhook_path("s3cret", "app", "other")
        );
        assert_eq!(webhook_path("t", "n", "ns").len(), PATH_PREFIX.len() + 64);
    }

    #[test]
    fn pushes_of_the_repository_and_empty_bodies_trigger() {
        let body = br#"{"events": [
            {"action": "pull", "target": {"repository": "demo/app"}},
            {"action": "push", "target": {"repository": "demo/app", "tag": "1.0.0"},
             "request": {"host": "127.0.0.1:5000"}}
        ]}"#;
        assert!(triggers(body, "demo/app").unwrap());
        assert!(!triggers(body, "demo/other").unwrap());
        let pulls = br#"{"events": [{"action": "pull", "target": {"repository": "demo/app"}}]}"#;
        assert!(!triggers(pulls, "demo/app").unwrap());
        assert!(triggers(b"", "demo/app").unwrap());
        assert!(triggers(b" \n", "demo/app").unwrap());
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_refused() {
        assert!(triggers(b"not json", "demo/app").is_err());
        assert!(triggers(br#"{"events": 3}"#, "demo/app").is_err());
    }

    #[test]
    fn a_path_finds_its_repository_until_it_moves_or_goes() {
        let hooks = Hooks::default();
        hooks.register("team", "app", hook("/hooks/registry/one"), 100);
        assert_eq!(
            hooks
                .lookup("/hooks/registry/one")
                .map(|target| target.name),
            Some("app".into())
        );
        assert_eq!(hooks.lookup("/hooks/registry/two"), None);
        hooks.register("team", "app", hook("/hooks/registry/two"), 200);
        assert_eq!(hooks.lookup("/hooks/registry/one"), None, "rotated away");
        assert!(hooks.lookup("/hooks/registry/two").is_some());
        hooks.register("team", "app", None, 300);
        assert_eq!(hooks.lookup("/hooks/registry/two"), None, "opted out");
    }

    #[test]
    fn collection_removes_deleted_repositories_registered_before_it() {
        let hooks = Hooks::default();
        hooks.register("team", "gone", hook("/hooks/registry/gone"), 100);
        hooks.register("team", "live", hook("/hooks/registry/live"), 100);
        hooks.register("team", "recreated", hook("/hooks/registry/new"), 300);
        let live = HashSet::from(["team/live".to_owned()]);
        hooks.collect(&Stale::AllBut(live), 200);
        assert_eq!(hooks.lookup("/hooks/registry/gone"), None);
        assert!(hooks.lookup("/hooks/registry/live").is_some());
        assert!(
            hooks.lookup("/hooks/registry/new").is_some(),
            "registered after the listing began"
        );
        hooks.collect(&Stale::Key("team/live".into()), 200);
        assert_eq!(hooks.lookup("/hooks/registry/live"), None);
    }

    #[test]
    fn one_scan_is_scheduled_until_it_starts() {
        let hooks = Hooks::default();
        assert!(hooks.schedule("team/app"));
        assert!(!hooks.schedule("team/app"), "joins the pending scan");
        assert!(hooks.schedule("team/other"));
        hooks.unschedule("team/app");
        assert!(hooks.schedule("team/app"));
    }

    #[test]
    fn a_burst_beyond_the_quota_is_limited() {
        let hooks = Hooks::default();
        let path = "/hooks/registry/one".to_owned();
        let accepted = (0..50)
            .filter(|_| hooks.limiter.check_key(&path).is_ok())
            .count();
        assert_eq!(accepted, HOOK_BURST as usize);
    }
}
