//! Webhooks as Flagger calls them (docs/canary.md §1.5): a JSON `POST` of
//! `{"name","namespace","phase","checksum","metadata"}`; an answer with status ≤ 202 is a success;
//! anything else, a timeout or a transport error is a failure. Timeouts are bounded: the hook's
//! `timeout` (default 10 s, Flagger's) is clamped to [`MAX_TIMEOUT`], and `retries` to
//! [`MAX_RETRIES`], so one hook cannot hold a tick for long. The hook's address must pass the
//! controller's [`AddressPolicy`] (no link-local or metadata address, ever), checked before
//! the call, on each redirect and on each resolved address; a refused address fails the hook
//! with the rule's reason, without a request. Answer bodies are never read: only the status
//! goes into events and conditions.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use serde::Serialize;
use sluice_runtime::duration::parse_go_duration;
use sluice_runtime::error_text;

use crate::address::AddressPolicy;
use crate::analysis::{CheckOutcome, Gate};
use crate::api::canary::{CanaryWebhook, HookType};

/// Flagger's default hook timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest timeout a hook may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The most retries a hook may ask for.
pub const MAX_RETRIES: u32 = 5;

/// The JSON body of a hook call, as Flagger's `CanaryWebhookPayload`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Payload {
    /// The Canary's name.
    pub name: String,
    /// The Canary's namespace.
    pub namespace: String,
    /// The phase at the time of the call.
    pub phase: String,
    /// A hash of the revision under analysis (`lastAppliedSpec` and `trackedConfigs`).
    pub checksum: String,
    /// The hook's `metadata` (plus `eventMessage`, `eventType`, `timestamp` for event hooks).
    pub metadata: BTreeMap<String, String>,
}

/// The result of one hook call.
#[derive(Clone, Debug, PartialEq)]
pub struct HookResult {
    /// The hook's name.
    pub name: String,
    /// Answered ≤ 202.
    pub succeeded: bool,
    /// The status or error, for events and conditions.
    pub detail: String,
}

/// Calls hooks; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    addresses: Arc<AddressPolicy>,
}

impl Webhooks {
    /// A hook caller refusing the addresses `addresses` forbids.
    ///
    /// Errors: the HTTP client could not be built (TLS setup).
    pub fn new(addresses: &Arc<AddressPolicy>) -> Result<Self, reqwest::Error> {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            http: addresses.client_builder().build()?,
            addresses: addresses.clone(),
        })
    }

    /// Calls `hook` with `payload` (the hook's metadata merged in), retrying `retries` times; a
    /// URL the address policy refuses fails at once, with the rule's reason.
    pub async fn call(&self, hook: &CanaryWebhook, payload: &Payload) -> HookResult {
        let url = match self.addresses.check_text(&hook.url) {
            Ok(url) => url,
            Err(refused) => {
                return HookResult {
                    name: hook.name.clone(),
                    succeeded: false,
                    detail: refused.to_string(),
                };
            }
        };
        let mut payload = payload.clone();
        payload.metadata.extend(hook.metadata.clone());
        let attempts = hook.retries.unwrap_or(0).min(MAX_RETRIES) + 1;
        let mut detail = String::new();
        for _ in 0..attempts {
            let sent = self
                .http
                .post(url.clone())
                .timeout(timeout_of(hook))
                .json(&payload)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().as_u16() <= 202 => {
                    return HookResult {
                        name: hook.name.clone(),
                        succeeded: true,
                        detail: response.status().to_string(),
                    };
                }
                Ok(response) => detail = format!("{} answered {}", hook.url, response.status()),
                Err(error) => {
                    detail = format!("calling {}: {}", hook.url, error_text::chain(&error))
                }
            }
        }
        HookResult {
            name: hook.name.clone(),
            succeeded: false,
            detail,
        }
    }

    /// Calls the hooks of type `hook_type` (an absent type is `rollout`) in order, stopping at the
    /// first failure, and returns the results.
    pub async fn call_all(
        &self,
        hooks: &[CanaryWebhook],
        hook_type: HookType,
        payload: &Payload,
    ) -> Vec<HookResult> {
        let mut results = Vec::new();
        for hook in of_type(hooks, hook_type) {
            let result = self.call(hook, payload).await;
            let failed = !result.succeeded;
            results.push(result);
            if failed {
                break;
            }
        }
        results
    }
}

/// The hooks of `hook_type`, in order; a hook without type is a `rollout` hook.
pub fn of_type(
    hooks: &[CanaryWebhook],
    hook_type: HookType,
) -> impl Iterator<Item = &CanaryWebhook> {
    hooks
        .iter()
        .filter(move |hook| hook.hook_type.unwrap_or(HookType::Rollout) == hook_type)
}

/// A gate is open when every hook called succeeded (or none exists).
pub fn gate(results: &[HookResult]) -> Gate {
    if results.iter().all(|result| result.succeeded) {
        Gate::Open
    } else {
        Gate::Closed
    }
}

/// A check passes when every hook called succeeded (or none exists).
pub fn outcome(results: &[HookResult]) -> CheckOutcome {
    match gate(results) {
        Gate::Open => CheckOutcome::Pass,
        Gate::Closed => CheckOutcome::Fail,
    }
}

/// The first failure's detail, naming the hook.
pub fn failure(results: &[HookResult]) -> Option<String> {
    results
        .iter()
        .find(|result| !result.succeeded)
        .map(|result| format!("webhook {}: {}", result.name, result.detail))
}

/// The hook's timeout: its `timeout` parsed as a Go duration (Flagger takes any string shorter
/// than 2 characters, or one that does not parse, as 10 s), at most [`MAX_TIMEOUT`].
pub fn timeout_of(hook: &CanaryWebhook) -> Duration {
    hook.timeout
        .as_deref()
        .filter(|text| text.len() >= 2)
        .and_then(|text| parse_go_duration(text).ok())
        .filter(|timeout| !timeout.is_zero())
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(MAX_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(hook_type: Option<HookType>, timeout: Option<&str>) -> CanaryWebhook {
        CanaryWebhook {
            hook_type,
            name: "gate".into(),
            url: "http://127.0.0.1:1/".into(),
            timeout: timeout.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn timeouts_default_to_ten_seconds_and_are_bounded() {
        assert_eq!(timeout_of(&hook(None, None)), DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(&hook(None, Some("5s"))), Duration::from_secs(5));
        assert_eq!(timeout_of(&hook(None, Some("s"))), DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(&hook(None, Some("1h"))), MAX_TIMEOUT);
    }

    #[test]
    fn typeless_hooks_are_rollout_hooks() {
        let hooks = [
            hook(None, None),
            hook(Some(HookType::PreRollout), None),
            hook(Some(HookType::Rollout), None),
        ];
        assert_eq!(of_type(&hooks, HookType::Rollout).count(), 2);
        assert_eq!(of_type(&hooks, HookType::ConfirmPromotion).count(), 0);
    }

    #[test]
    fn a_gate_closes_on_any_failure() {
        let ok = HookResult {
            name: "a".into(),
            succeeded: true,
            detail: "200 OK".into(),
        };
        let refused = HookResult {
            name: "b".into(),
            succeeded: false,
            detail: "403".into(),
        };
        assert_eq!(gate(&[]), Gate::Open);
        assert_eq!(gate(std::slice::from_ref(&ok)), Gate::Open);
        assert_eq!(gate(&[ok.clone(), refused.clone()]), Gate::Closed);
        assert_eq!(failure(&[ok, refused]).as_deref(), Some("webhook b: 403"));
    }

    fn payload() -> Payload {
        Payload {
            name: "podinfo".into(),
            namespace: "test".into(),
            phase: "Progressing".into(),
            checksum: "x".into(),
            metadata: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn a_metadata_address_is_refused_without_a_request() {
        let webhooks = Webhooks::new(&Arc::default()).expect("client");
        let mut metadata = hook(None, Some("30s"));
        metadata.url = "http://169.254.169.254/latest/meta-data/".into();
        let started = std::time::Instant::now();
        let result = webhooks.call(&metadata, &payload()).await;
        assert!(!result.succeeded);
        assert!(
            result.detail.contains("refused") && result.detail.contains("link-local"),
            "{}",
            result.detail
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no request made"
        );
    }

    #[tokio::test]
    async fn an_unreachable_hook_fails_with_the_reason() {
        let webhooks = Webhooks::new(&Arc::default()).expect("client");
        let result = webhooks.call(&hook(None, Some("1s")), &payload()).await;
        assert!(!result.succeeded);
        assert!(result.detail.contains("127.0.0.1:1"), "{}", result.detail);
    }
}
