//! The canary analysis as a pure state machine: Flagger's phases, weights, gates and failed-check
//! counting (docs/canary.md §2), with no access to the API server. The controller observes, calls
//! [`decide`], and carries out the [`Transition`]; `sluice canary plan` replays it offline.

pub mod check;
mod context;
mod ending;
pub mod facts;
pub mod phase;
pub mod replay;
pub mod revision;
pub mod step;
mod strategy;
pub mod tick;
pub mod transition;

pub use check::{CheckOutcome, CheckPolicy, Verdict};
pub use facts::{Fact, Facts, Gate, Readiness};
pub use phase::AnalysisState;
pub use tick::{Decision, decide};
pub use transition::{Action, Event, Severity, Transition};
