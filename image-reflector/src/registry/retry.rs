//! When to retry a registry request: HTTP 429 and 5xx, after the `Retry-After` the registry asks
//! for (seconds or an HTTP date), else after an exponential backoff.

use std::time::Duration;

/// How often and how long registry requests are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The delay after the first failure; doubled after each further failure.
    pub base_delay: Duration,
    /// The longest delay, also the cap of a `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 500 ms doubling, at most 30 s between two.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) got `status`
    /// with `retry_after` (the header's value), or `None` when the status is final (not 429 nor
    /// 5xx) or the attempts are used up. `now` is the current time, for HTTP dates.
    pub fn delay(
        &self,
        status: u16,
        retry_after: Option<&str>,
        attempt: u32,
        now: jiff::Timestamp,
    ) -> Option<Duration> {
        let retryable = status == 429 || (500..600).contains(&status);
        if !retryable || attempt >= self.max_attempts {
            return None;
        }
        let asked = retry_after.and_then(|value| parse_retry_after(value, now));
        Some(
            asked
                .unwrap_or_else(|| self.backoff(attempt))
                .min(self.max_delay),
        )
    }

    /// The exponential backoff after `attempt` failures (1-based): `base * 2^(attempt-1)`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A `Retry-After` value (RFC 9110): delay seconds or an HTTP date (past dates mean zero).
fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = now.duration_until(date);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2024-05-01T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_seconds_and_dates_are_honoured() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(429, Some("3"), 1, now()),
            Some(Duration::from_secs(3))
        );
        let date = "Wed, 01 May 2024 10:00:07 GMT";
        assert_eq!(
            policy.delay(503, Some(date), 1, now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            policy.delay(503, Some("3600"), 1, now()),
            Some(policy.max_delay)
        );
    }

    #[test]
    fn without_retry_after_the_delay_doubles() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(500, None, 1, now()),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            policy.delay(502, Some("soon"), 3, now()),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn final_statuses_and_spent_attempts_are_not_retried() {
        let policy = RetryPolicy::default();
        for status in [200, 401, 404] {
            assert_eq!(policy.delay(status, None, 1, now()), None);
        }
        assert_eq!(policy.delay(429, None, policy.max_attempts, now()), None);
    }
}
