//! The pure parts of metric checks: rendering query templates with Flagger's variables
//! ([`template`]), judging a value against its threshold ([`threshold`]), and the built-in
//! `request-success-rate` and `request-duration` queries ([`builtin`]). The Prometheus HTTP client
//! lives elsewhere.

pub mod builtin;
pub mod template;
pub mod threshold;
