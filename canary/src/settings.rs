//! The controller-wide settings of the canary controller, from the environment (Flagger's
//! `-metrics-server`, `-mesh-provider`), and each Canary's tick period.
//!
//! `SLUICE_CANARY_MIN_INTERVAL` lowers Flagger's 10 s floor on `analysis.interval`; it exists for
//! tests and demos (e.g. `1s`), production should leave it unset. `SLUICE_CANARY_DENY_CONTROL_PLANE`
//! tightens which addresses webhooks and metric servers may have ([`crate::address`]).

use std::time::Duration;

use sluice_runtime::duration::parse_go_duration;

use crate::address::AddressPolicy;
use crate::api::Canary;
use crate::router::DEFAULT_PROVIDER;

/// Flagger's default metrics server (`-metrics-server`).
pub const DEFAULT_METRICS_SERVER: &str = "http://prometheus:9090";
/// Flagger's floor on `analysis.interval`.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Flagger's `analysis.interval` when empty or unparsable.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Settings shared by every Canary.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Prometheus for built-in metrics and inline queries, unless `spec.metricsServer` is set.
    pub metrics_server: String,
    /// Router when `spec.provider` is absent.
    pub default_provider: String,
    /// The shortest tick period.
    pub min_interval: Duration,
    /// Which addresses webhooks and metric servers may not have.
    pub addresses: AddressPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            metrics_server: DEFAULT_METRICS_SERVER.to_owned(),
            default_provider: DEFAULT_PROVIDER.to_owned(),
            min_interval: DEFAULT_MIN_INTERVAL,
            addresses: AddressPolicy::default(),
        }
    }
}

impl Settings {
    /// The settings from `SLUICE_CANARY_METRICS_SERVER`, `SLUICE_CANARY_PROVIDER` and
    /// `SLUICE_CANARY_MIN_INTERVAL` (a Go duration), each defaulting as Flagger, and the address
    /// policy from [`AddressPolicy::from_env`].
    pub fn from_env() -> Self {
        let defaults = Self::default();
        Self {
            metrics_server: std::env::var("SLUICE_CANARY_METRICS_SERVER")
                .unwrap_or(defaults.metrics_server),
            default_provider: std::env::var("SLUICE_CANARY_PROVIDER")
                .unwrap_or(defaults.default_provider),
            min_interval: std::env::var("SLUICE_CANARY_MIN_INTERVAL")
                .ok()
                .and_then(|text| parse_go_duration(&text).ok())
                .unwrap_or(defaults.min_interval),
            addresses: AddressPolicy::from_env(),
        }
    }

    /// The tick period of `canary`: `analysis.interval` (60 s when empty or unparsable), at
    /// least [`Settings::min_interval`].
    pub fn interval(&self, canary: &Canary) -> Duration {
        interval_of(canary).max(self.min_interval)
    }

    /// The router of `canary`: `spec.provider`, else the default.
    pub fn provider<'a>(&'a self, canary: &'a Canary) -> &'a str {
        canary
            .spec
            .provider
            .as_deref()
            .unwrap_or(&self.default_provider)
    }
}

/// `analysis.interval` as written, 60 s when empty or unparsable.
pub fn interval_of(canary: &Canary) -> Duration {
    canary
        .spec
        .effective_analysis()
        .and_then(|analysis| analysis.interval.as_deref())
        .and_then(|text| parse_go_duration(text).ok())
        .filter(|interval| !interval.is_zero())
        .unwrap_or(DEFAULT_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::canary::{CanaryAnalysis, CanarySpec};

    fn canary(interval: Option<&str>) -> Canary {
        Canary::new(
            "podinfo",
            CanarySpec {
                analysis: Some(CanaryAnalysis {
                    interval: interval.map(str::to_owned),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
    }

    #[test]
    fn intervals_default_and_are_floored() {
        let settings = Settings::default();
        assert_eq!(settings.interval(&canary(None)), DEFAULT_INTERVAL);
        assert_eq!(
            settings.interval(&canary(Some("nonsense"))),
            DEFAULT_INTERVAL
        );
        assert_eq!(settings.interval(&canary(Some("2s"))), DEFAULT_MIN_INTERVAL);
        assert_eq!(
            settings.interval(&canary(Some("2m"))),
            Duration::from_secs(120)
        );
        let fast = Settings {
            min_interval: Duration::from_secs(1),
            ..Settings::default()
        };
        assert_eq!(fast.interval(&canary(Some("2s"))), Duration::from_secs(2));
    }
}
