//! Sluice's image-reflector: scans container registries (ImageRepository) and picks the latest
//! tag by policy (ImagePolicy), as Flux's image-reflector-controller does.

pub mod api;
pub mod controller;
pub mod policy;
mod reconcile;
pub mod registry;
pub mod scan;
mod secret_watch;
pub mod store;
pub mod store_gc;
pub mod webhook;
