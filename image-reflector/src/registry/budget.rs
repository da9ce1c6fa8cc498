//! The per-registry request budget (`--registry-qps`): one token bucket per registry host,
//! shared by every ImageRepository on that host, so many objects on one registry cannot exceed
//! its rate limits together.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};

use super::Error;

/// Token buckets keyed by registry host.
pub struct RegistryBudget {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl RegistryBudget {
    /// Buckets refilled at `qps` requests per second each, holding up to `max(1, qps)` requests
    /// (the burst a fresh host gets).
    ///
    /// Errors: [`Error::InvalidBudget`] when `qps` is not a positive finite number.
    pub fn new(qps: f64) -> Result<Self, Error> {
        let invalid = || Error::InvalidBudget { qps };
        if !qps.is_finite() || qps <= 0.0 {
            return Err(invalid());
        }
        let period = Duration::from_secs_f64(1.0 / qps);
        let burst =
            NonZeroU32::new(qps.ceil().min(f64::from(u32::MAX)) as u32).ok_or_else(invalid)?;
        let quota = Quota::with_period(period)
            .ok_or_else(invalid)?
            .allow_burst(burst);
        Ok(RegistryBudget {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        })
    }

    /// Waits until `registry` (a host with optional port) may get one more request.
    pub async fn acquire(&self, registry: &str) {
        self.limiter.until_key_ready(&registry.to_owned()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_needs_a_positive_rate() {
        for qps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RegistryBudget::new(qps).is_err(), "{qps}");
        }
    }

    #[tokio::test]
    async fn hosts_have_buckets_of_their_own() {
        let budget = RegistryBudget::new(2.0).unwrap();
        budget.acquire("a.io").await;
        budget.acquire("a.io").await;
        let key = |host: &str| host.to_owned();
        assert!(
            budget.limiter.check_key(&key("a.io")).is_err(),
            "a.io spent its burst"
        );
        assert!(
            budget.limiter.check_key(&key("b.io")).is_ok(),
            "b.io did not"
        );
    }
}
