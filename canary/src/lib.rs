//! Sluice's canary controller: progressive delivery (Canary, MetricTemplate) that shifts traffic
//! step by step, gated on Prometheus metrics and webhooks, as Flagger does.
//!
//! - [`api`]: the `Canary` and `MetricTemplate` kinds.
//! - [`analysis`]: the analysis state machine, revision hashing and the offline replay.
//! - [`metrics`]: query rendering, threshold evaluation and the built-in queries.
//! - [`controller`]: the controller process; [`reconcile`] is one tick of one Canary, which reads
//!   only the watch [`caches`], asks the state machine, and carries out its actions through
//!   [`bootstrap`], [`primary_configs`], [`router`], [`prometheus`] (with [`credentials`]) and
//!   [`webhook`]; [`revert`] is `revertOnDeletion`.

mod actions;
mod address;
pub mod analysis;
pub mod api;
mod bootstrap;
pub mod caches;
pub mod controller;
pub mod credentials;
mod metric_check;
mod metrics;
pub mod names;
mod observe;
mod primary_configs;
pub mod prometheus;
mod readiness;
mod reconcile;
pub mod revert;
mod router;
pub mod settings;
mod shared;
mod webhook;

#[cfg(test)]
mod test_fixtures;
