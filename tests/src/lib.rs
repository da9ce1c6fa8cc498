//! Test support for Sluice's end-to-end suites: the local servers of [`sluice_servers`]
//! (re-exported, so suites name them `sluice_tests::…`), plus what only tests need: the core
//! controller run in-process ([`core_controller`]) and objects created from JSON ([`objects`]).

pub use sluice_servers::*;

pub mod core_controller;
pub mod objects;
