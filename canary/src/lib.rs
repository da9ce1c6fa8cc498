//! Sluice's canary controller: progressive delivery (Canary, MetricTemplate) that shifts traffic
//! step by step, gated on Prometheus metrics and webhooks, as Flagger does.
//!
//! - [`api`]: the `Canary` and `MetricTemplate` kinds.
//! - [`analysis`]: the analysis state machine, revision hashing and the offline replay.
//! - [`metrics`]: query rendering, threshold evaluation and the built-in queries.

pub mod analysis;
pub mod api;
pub mod controller;
pub mod metrics;
