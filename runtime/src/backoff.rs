//! Exponential backoff with jitter for failed reconciles, per object.
//!
//! Crates such as `backon` drive a retry loop around one future; a controller instead returns a
//! requeue delay and learns of the next failure in a later reconcile, so what it needs is the
//! delay as a function of the object's consecutive failure count. That is this one function.

use std::time::Duration;

/// How failed reconciles are spaced: `base * 2^(failures-1)`, capped at `max`, then stretched or
/// shrunk by up to `jitter` of itself (0.0 to 1.0), as controller-runtime's default rate limiter
/// does without the jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay, whatever the number of failures.
    pub max: Duration,
    /// The fraction of the delay drawn at random either way, 0.0 to 1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s doubling to 5 min with 10% jitter.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.1,
        }
    }
}

impl Backoff {
    /// The delay before the retry that follows `failures` consecutive failures (1 for the first
    /// failure), given `unit`, a random number in `[0, 1)` that places the jitter.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(32);
        let raw = self
            .base
            .saturating_mul(1u32 << exponent.min(31))
            .min(self.max);
        let spread = self.jitter.clamp(0.0, 1.0) * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        raw.mul_f64(1.0 + spread).min(self.max)
    }

    /// [`Backoff::delay`] with the jitter drawn from the thread's random generator.
    pub fn delay_with_jitter(&self, failures: u32) -> Duration {
        self.delay(failures, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
        jitter: 0.0,
    };

    #[test]
    fn doubles_per_failure_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|n| NO_JITTER.delay(n, 0.5).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(NO_JITTER.delay(u32::MAX, 0.5), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let backoff = Backoff {
            jitter: 0.2,
            ..NO_JITTER
        };
        assert_eq!(backoff.delay(3, 0.0), Duration::from_secs_f64(3.2));
        assert_eq!(backoff.delay(3, 1.0), Duration::from_secs_f64(4.8));
        for _ in 0..100 {
            let d = backoff.delay_with_jitter(3).as_secs_f64();
            assert!((3.2..=4.8).contains(&d), "{d}");
        }
    }
}
